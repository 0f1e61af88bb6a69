/*
 * shim.c - shim connections, served directly by the helper once the
 * master has handed them over (IPC_M_SHIM; DESIGN.md "Helper internals").
 *
 * From the shim (client protocol v2 frames): stdin streams, Signal,
 * DisconnectShim and log streams. Toward it: the ConnectShim response
 * (the helper sends it), responses, stdout/stderr streams and the one
 * ProcessExited notification (session.c queues those).
 *
 * Commands are served one at a time, in order: while a Signal waits for
 * the process to start or for the agent's answer, the shim is not read
 * and later frames stay buffered, so every command gets exactly one
 * response, in order. The shim is not read either while its session's
 * stdin queue is above HELPER_STDIN_HIGH (flow control toward the
 * agent, whose stdin buffer is tiny).
 *
 * Malformed input costs this connection only: an untrusted header or an
 * unexpected stream/notification closes it; an unknown command gets an
 * error response and the connection goes on.
 *
 * Lifetime: an attached shim is reachable from its session (s->shim);
 * one without a session (rejected, closing, dropped) is on h->orphans.
 * Inside callbacks a shim is never freed synchronously: it is marked
 * closing and freed from its own close event, so loops that handled it
 * never touch freed memory.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "agent.h"
#include "cleanup.h"
#include "frame.h"
#include "helper.h"
#include "hyper.h"
#include "ipc.h"
#include "log.h"
#include "payload.h"
#include "session.h"
#include "shim.h"
#include "shim_priv.h"
#include "shimlog.h"

/* Largest single read and write on a shim connection (shim_new()): a
 * read stays within HELPER_STDIN_HIGH of queued stdin, a write takes
 * what HELPER_SHIM_OUT_HIGH lets wait. */
#define SHIM_READ_MAX	(64u * 1024u)
#define SHIM_WRITE_MAX	(256u * 1024u)


struct evbuffer *shim_output(struct shim *sh)
{
	return bufferevent_get_output(sh->bev);
}

uint64_t shim_drained(const struct shim *sh)
{
	return sh->drained;
}

bool shim_direct_ok(const struct shim *sh)
{
	return !sh->closing && evbuffer_get_length(bufferevent_get_output(sh->bev)) == 0;
}

int shim_send(struct shim *sh, const void *p, size_t len)
{
	struct evbuffer *out = shim_output(sh);
	ssize_t n = 0;

	/* Straight to the socket when nothing is queued before it: most
	 * of a stream then never touches the output buffer. Errors are
	 * left to the bufferevent, which meets them on its next write. */
	if (!sh->closing && evbuffer_get_length(out) == 0) {
		n = write(bufferevent_getfd(sh->bev), p, len);
		if (n < 0)
			n = 0;
		sh->drained += (uint64_t)n;
	}
	if ((size_t)n < len)
		return evbuffer_add(out, (const uint8_t *)p + n, len - (size_t)n) < 0 ? -ENOMEM : 0;
	return 0;
}

/* Counts what leaves the output buffer: progress of a slow reader. */
static void shim_on_output_change(struct evbuffer *buf,
				  const struct evbuffer_cb_info *info, void *ctx)
{
	struct shim *sh = ctx;

	sh->drained += info->n_deleted;
}

struct shim *shim_free(struct shim *sh)
{
	if (!sh)
		return NULL;
	if (sh->s)
		session_detach_shim(sh->s);
	if (sh->orphan)
		TAILQ_REMOVE(&sh->h->orphans, sh, link);
	if (sh->sig_cmd)
		agent_cancel(sh->h->agent, sh->sig_cmd);
	if (sh->close_ev)
		event_free(sh->close_ev);
	if (sh->stdin_timer)
		event_free(sh->stdin_timer);
	if (sh->sig_timer)
		event_free(sh->sig_timer);
	if (sh->read_ev)
		event_free(sh->read_ev);
	if (sh->in)
		evbuffer_free(sh->in);
	if (sh->bev) {
		/* No callback may reach this shim once it is freed. */
		evbuffer_remove_cb(shim_output(sh), shim_on_output_change, sh);
		bufferevent_free(sh->bev);
	}
	sh->h->n_shims--;
	free(sh);
	return NULL;
}

/* Watch the socket for input or not (an epoll change: only on pauses). */
static void shim_set_reading(struct shim *sh, bool on)
{
	if (on == sh->reading)
		return;
	sh->reading = on;
	if (on)
		event_add(sh->read_ev, NULL);
	else
		event_del(sh->read_ev);
}

/* Leave the session (which keeps its state) and any command in progress. */
static void shim_detach(struct shim *sh)
{
	struct session *s = sh->s;

	if (sh->sig_cmd)
		agent_cancel(sh->h->agent, sh->sig_cmd);
	sh->sig_cmd = NULL;
	sh->sig_active = false;
	evtimer_del(sh->sig_timer);
	evtimer_del(sh->stdin_timer);
	if (s) {
		sh->s = NULL;
		session_detach_shim(s);
	}
	if (!sh->orphan) {
		TAILQ_INSERT_TAIL(&sh->h->orphans, sh, link);
		sh->orphan = true;
	}
}

void shim_close(struct shim *sh)
{
	shim_detach(sh);
	if (sh->closing)
		return;
	sh->closing = true;
	shim_set_reading(sh, false);
	if (evbuffer_get_length(shim_output(sh)) == 0) {
		event_active(sh->close_ev, EV_TIMEOUT, 0);
		return;
	}
	/* Flush, bounded: the write callback fires once all is written. */
	bufferevent_setwatermark(sh->bev, EV_WRITE, 0, 0);
	evtimer_add(sh->close_ev, &sh->h->wait_timeout);
}

/*
 * The connection is lost or must be reset: tell the master the token may
 * be claimed again (the session keeps its state for the next shim).
 */
static void shim_drop(struct shim *sh, int verbosity, const char *reason)
{
	size_t unsent = evbuffer_get_length(shim_output(sh));

	helper_log(verbosity ? LOG_INFO : LOG_WARNING, verbosity, sh->io_base,
		   "shim (pid %d) %s%s", (int)sh->pid, reason,
		   unsent ? "; its unsent output is lost" : "");
	if (sh->s && !sh->h->exiting)
		helper_send_shim_gone(sh->h, sh->io_base, false);
	shim_detach(sh);
	sh->closing = true;
	shim_set_reading(sh, false);
	bufferevent_disable(sh->bev, EV_WRITE);
	event_active(sh->close_ev, EV_TIMEOUT, 0);
}

/* A response (no payload) or an error response {"msg": @msg}. */
void shim_respond(struct shim *sh, uint8_t opcode, const char *msg)
{
	int r = msg ? frame_encode_error(shim_output(sh), opcode, msg)
		    : frame_encode_response(shim_output(sh), opcode, false, NULL);

	if (r < 0) {
		helper_log(LOG_ERR, 0, sh->io_base, "cannot queue a response: %s", strerror(-r));
		helper_exit(sh->h, EXIT_FAILURE, false);
	}
}

void shim_pause(struct shim *sh, unsigned int why)
{
	sh->paused |= why;
	shim_set_reading(sh, false);
}

void shim_unpause(struct shim *sh, unsigned int why)
{
	if (!(sh->paused & why))
		return;
	sh->paused &= ~why;
	if (sh->paused || sh->closing)
		return;
	shim_set_reading(sh, true);
	/* Frames may be buffered already: decode them from a fresh callback. */
	event_active(sh->read_ev, EV_READ, 0);
}

void shim_on_started(struct shim *sh)
{
	evtimer_del(sh->stdin_timer);
	if (sh->sig_active && !sh->sig_cmd)
		shim_signal_try(sh);
}

void shim_on_start_failed(struct shim *sh)
{
	if (sh->sig_active && !sh->sig_cmd)
		shim_signal_try(sh);
}

/* ---- streams and commands ------------------------------------------- */

/* A stdin frame whose @len payload bytes start @in (header drained). */
static void shim_on_stdin(struct shim *sh, struct evbuffer *in, size_t len)
{
	struct session *s = sh->s;

	if (session_stdin_buffer(s, in, len) < 0) {
		helper_log(LOG_ERR, 0, sh->io_base, "out of memory queueing stdin");
		helper_exit(sh->h, EXIT_FAILURE, false);
		return;
	}
	if (sh->h->exiting)
		return;
	if (!s->started && !evtimer_pending(sh->stdin_timer, NULL))
		evtimer_add(sh->stdin_timer, &sh->h->wait_timeout);
	if (session_stdin_full(s))
		shim_pause(sh, SHIM_PAUSE_STDIN);
}

void shim_on_stdin_drained(struct shim *sh)
{
	shim_unpause(sh, SHIM_PAUSE_STDIN);
}

static void shim_on_stdin_timeout(evutil_socket_t fd, short what, void *ctx)
{
	struct shim *sh = ctx;

	if (!sh->h->exiting && sh->s && !sh->s->started)
		shim_drop(sh, 0, "sent stdin but the process did not start in time: connection reset");
}

static void shim_on_disconnect(struct shim *sh)
{
	struct session *s = sh->s;

	helper_log(LOG_INFO, 1, sh->io_base, "shim (pid %d) disconnected: token released",
		   (int)sh->pid);
	shim_respond(sh, FRAME_CMD_DISCONNECT_SHIM, NULL);
	helper_send_shim_gone(sh->h, sh->io_base, true);
	shim_close(sh);		/* flush the response, then close */
	session_free(s);	/* the token is void */
}

static void shim_on_command(struct shim *sh, const struct frame *f)
{
	char msg[64];

	switch (f->opcode) {
	case FRAME_CMD_SIGNAL:
		shim_on_signal(sh, f);
		return;
	case FRAME_CMD_DISCONNECT_SHIM:
		shim_on_disconnect(sh);
		return;
	case FRAME_CMD_CONNECT_SHIM:
		shim_respond(sh, f->opcode, "this connection is already a shim");
		return;
	case FRAME_CMD_REGISTER_VM:
	case FRAME_CMD_UNREGISTER_VM:
	case FRAME_CMD_ATTACH_VM:
	case FRAME_CMD_HYPER:
		snprintf(msg, sizeof(msg), "%s is not accepted on a shim connection",
			 frame_opcode_name(f->type, f->opcode));
		shim_respond(sh, f->opcode, msg);
		return;
	default:
		snprintf(msg, sizeof(msg), "unknown command %u", f->opcode);
		shim_respond(sh, f->opcode, msg);
		return;
	}
}

static void shim_on_frame(struct shim *sh, const struct frame *f)
{
	char why[80];

	if (f->type == FRAME_TYPE_COMMAND) {
		shim_on_command(sh, f);
		return;
	}
	if (f->type == FRAME_TYPE_STREAM && f->opcode == FRAME_STREAM_LOG) {
		shimlog_submit(sh->h, sh->io_base, f);
		return;
	}
	/* stdout/stderr/ProcessExited/responses only flow toward a shim, and
	 * unknown opcodes leave the framing in doubt: close. */
	snprintf(why, sizeof(why), "sent an unexpected %s frame (opcode %u): closed",
		 frame_type_name(f->type), f->opcode);
	shim_drop(sh, 0, why);
}

/* Decode and serve frames until paused, closing or short of bytes. */
static void shim_process(struct shim *sh)
{
	struct evbuffer *in = sh->in;
	struct frame f = FRAME_NULL;
	struct frame_head hd;
	const char *why = NULL;
	char reason[128];
	int r;

	while (!sh->paused && !sh->closing && sh->s && !sh->h->exiting) {
		size_t out = evbuffer_get_length(shim_output(sh));

		/* Every command is answered into the output buffer: a shim
		 * that sends and never reads is not read either until it
		 * takes its answers (shim_on_write() resumes). Pausing keeps
		 * the output near the high mark; the hard bound is the
		 * backstop should anything else have pushed it past. */
		if (out > HELPER_SHIM_OUT_MAX) {
			shim_drop(sh, 0, "does not read its output: connection reset");
			return;
		}
		if (out > HELPER_SHIM_OUT_HIGH) {
			helper_log(LOG_INFO, 1, sh->io_base,
				   "shim (pid %d) does not read its output (%zu bytes): its commands wait",
				   (int)sh->pid, out);
			shim_pause(sh, SHIM_PAUSE_OUTPUT);
			return;
		}
		r = frame_peek(in, FRAME_PAYLOAD_MAX, &hd, &why);
		if (r == 0 && hd.type == FRAME_TYPE_STREAM &&
		    hd.opcode == FRAME_STREAM_STDIN) {
			/* stdin moves from the input buffer as it is: no
			 * malloc'd payload, copied once at most. */
			evbuffer_drain(in, hd.hdr_len);
			shim_on_stdin(sh, in, hd.payload_len);
			continue;
		}
		if (r == 0)
			r = frame_decode(in, FRAME_PAYLOAD_MAX, &f, &why);
		if (r == FRAME_E_INCOMPLETE)
			return;
		if (r != 0) {
			snprintf(reason, sizeof(reason), "sent an invalid frame (%s): closed",
				 r == FRAME_E_INVALID && why ? why : strerror(-r));
			shim_drop(sh, 0, reason);
			return;
		}
		shim_on_frame(sh, &f);
		frame_deinit(&f);
	}
}

/*
 * Input, read here rather than by the bufferevent: libevent 2.1's
 * evbuffer_read() takes at most 4096 bytes per call, after a FIONREAD,
 * whatever bufferevent_set_max_single_read() says, so a 64 KiB stdin
 * frame cost 16 reads, 16 ioctls and 16 epoll_waits. One read(2) of up
 * to SHIM_READ_MAX now; the input stays bounded by one frame plus one
 * read, as nothing is read while the shim is paused.
 */
static void shim_on_readable(evutil_socket_t fd, short what, void *ctx)
{
	struct shim *sh = ctx;
	struct evbuffer_iovec v;
	ssize_t n;

	if (sh->closing || sh->paused || sh->h->exiting)
		return;
	if (evbuffer_reserve_space(sh->in, SHIM_READ_MAX, &v, 1) != 1) {
		helper_log(LOG_ERR, 0, sh->io_base, "out of memory reading a shim");
		helper_exit(sh->h, EXIT_FAILURE, false);
		return;
	}
	n = read(fd, v.iov_base, v.iov_len);
	if (n == 0) {
		/* What came before the end is served first; a pause defers
		 * the end until the shim is read again. */
		shim_process(sh);
		if (!sh->closing && !sh->paused && !sh->h->exiting)
			shim_drop(sh, 1, "closed the connection");
		return;
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		shim_drop(sh, 1, "connection failed");
		return;
	}
	if (n > 0) {
		v.iov_len = (size_t)n;
		if (evbuffer_commit_space(sh->in, &v, 1) < 0) {
			helper_log(LOG_ERR, 0, sh->io_base, "out of memory reading a shim");
			helper_exit(sh->h, EXIT_FAILURE, false);
			return;
		}
	}
	shim_process(sh);
}

static void shim_on_write(struct bufferevent *bev, void *ctx)
{
	struct shim *sh = ctx;

	if (sh->closing) {
		if (evbuffer_get_length(shim_output(sh)) == 0)
			event_active(sh->close_ev, EV_TIMEOUT, 0);
		return;
	}
	/* Below the low watermark: the session may stop being congested,
	 * and commands are read again. */
	if (sh->s)
		session_flow_update(sh->s);
	if (!sh->closing)
		shim_unpause(sh, SHIM_PAUSE_OUTPUT);
}

static void shim_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct shim *sh = ctx;

	if (sh->closing) {
		event_active(sh->close_ev, EV_TIMEOUT, 0);
		return;
	}
	if (sh->h->exiting)
		return;
	if (what & BEV_EVENT_EOF)
		shim_drop(sh, 1, "closed the connection");
	else
		shim_drop(sh, 1, "connection failed");
}

static void shim_on_close(evutil_socket_t fd, short what, void *ctx)
{
	shim_free(ctx);
}

static struct shim *shim_new(struct helper *h, int fd, uint64_t io_base, pid_t pid)
{
	struct shim *sh = calloc(1, sizeof(*sh));

	if (!sh) {
		close(fd);
		return NULL;
	}
	sh->h = h;
	h->n_shims++;	/* shim_free() counts it out */
	sh->io_base = io_base;
	sh->pid = pid;
	sh->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!sh->bev)
		close(fd);
	sh->in = evbuffer_new();
	sh->read_ev = event_new(h->base, fd, EV_READ | EV_PERSIST, shim_on_readable, sh);
	sh->close_ev = event_new(h->base, -1, 0, shim_on_close, sh);
	sh->stdin_timer = evtimer_new(h->base, shim_on_stdin_timeout, sh);
	sh->sig_timer = evtimer_new(h->base, shim_on_signal_timeout, sh);
	if (!sh->bev || !sh->in || !sh->read_ev || !sh->close_ev ||
	    !sh->stdin_timer || !sh->sig_timer ||
	    !evbuffer_add_cb(shim_output(sh), shim_on_output_change, sh))
		return shim_free(sh);
	bufferevent_setcb(sh->bev, NULL, shim_on_write, shim_on_event, sh);
	/* Full-size writes of what had to be queued: libevent's default of
	 * 16 KiB cut a stdout stream into many small writev calls. */
	if (bufferevent_set_max_single_write(sh->bev, SHIM_WRITE_MAX) < 0)
		return shim_free(sh);
	return sh;
}

/* A shim refused before it is served: the token may be claimed again,
 * unless another shim holds it. */
static void shim_refused(struct helper *h, const struct ipc_shim *m,
			 struct session *s, const char *why)
{
	helper_log(LOG_WARNING, 0, m->io_base, "shim of pid %d refused: %s", (int)m->pid, why);
	if (s && !s->shim)
		helper_send_shim_gone(h, m->io_base, false);
}

void shim_adopt(struct helper *h, int fd, const struct ipc_shim *m,
		const uint8_t *leftover, size_t len)
{
	struct session *s = session_find(h, m->io_base);
	struct shim *sh;

	if (fd < 0) {
		/* The kernel could not install it: we are at RLIMIT_NOFILE
		 * (ipc_channel.c, fd_lost). The shim sees its connection close. */
		shim_refused(h, m, s, "its connection could not be received (the helper is at its fd limit)");
		return;
	}
	if (evutil_make_socket_nonblocking(fd) < 0) {
		close(fd);
		shim_refused(h, m, s, "cannot make its connection non-blocking");
		return;
	}
	sh = shim_new(h, fd, m->io_base, m->pid);	/* consumes fd */
	if (!sh) {
		shim_refused(h, m, s, "cannot serve it (out of memory)");
		return;
	}
	if (h->n_shims > h->shims_max) {
		/* This one is counted already: one too many. It gets an
		 * error and is closed; every other session goes on. */
		char why[96];

		snprintf(why, sizeof(why), "too many shims on this VM (at most %u)", h->shims_max);
		shim_refused(h, m, s, why);
		shim_respond(sh, FRAME_CMD_CONNECT_SHIM, why);
		shim_close(sh);
		bufferevent_enable(sh->bev, EV_WRITE);
		return;
	}
	if (!s || s->shim) {
		/* The master's registry and ours disagree: refuse, and leave
		 * the token to the shim that holds it, if any. */
		helper_log(LOG_WARNING, 0, m->io_base, "shim of pid %d refused: %s", (int)m->pid,
			   s ? "the token is held by another shim" : "unknown token");
		shim_respond(sh, FRAME_CMD_CONNECT_SHIM,
			     s ? "token already used by a connected shim" : "unknown token");
		shim_close(sh);
		bufferevent_enable(sh->bev, EV_WRITE);
		return;
	}
	helper_log(LOG_INFO, 1, m->io_base, "shim of pid %d uid %u connected (token %s...)",
		   (int)m->pid, m->uid, s->token_prefix);
	shim_respond(sh, FRAME_CMD_CONNECT_SHIM, NULL);
	sh->s = s;
	/* The write callback fires below the low mark: the session's flow
	 * control and SHIM_PAUSE_OUTPUT resume there. */
	bufferevent_setwatermark(sh->bev, EV_WRITE, HELPER_SHIM_OUT_LOW, 0);
	session_attach_shim(s, sh);
	/* What the shim sent right after ConnectShim comes first. */
	if (len && evbuffer_add(sh->in, leftover, len) < 0) {
		shim_drop(sh, 0, "could not be taken over (out of memory)");
		return;
	}
	bufferevent_enable(sh->bev, EV_WRITE);
	shim_set_reading(sh, true);
	if (len)
		event_active(sh->read_ev, EV_READ, 0);
}
