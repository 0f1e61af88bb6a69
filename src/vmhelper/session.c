/*
 * session.c - I/O sessions, one per token (IPC_M_ADD_TOKEN).
 *
 * A session owns two io sequence numbers: ioBase (stdout, and stdin
 * toward the agent; with a terminal all output comes here) and
 * ioBase + 1 (stderr). It outlives its shim connections: when a shim
 * drops, output waits in the backlog for the next one, and stdin already
 * accepted stays queued.
 *
 * ProcessExited is sent exactly once, after all output: when the output
 * is finished (the empty io message on ioBase) AND the status is known
 * (a 1-byte io message after it, or processasyncevent, which may come
 * first and is then held). A SIGKILL/SIGTERM for a process never started
 * sends ProcessExited(0) instead (session_exit_now()).
 *
 * Flow control: a session is "congested" while the frames waiting for its
 * shim (in the shim's output buffer, or in the backlog when no shim is
 * connected) exceed HELPER_SHIM_OUT_HIGH, until they drain below
 * HELPER_SHIM_OUT_LOW. While any session is congested the io channel is
 * not read (helper_congestion()), so the VM's output stalls but nothing
 * accepted is dropped.
 *
 * One session must not stall the whole VM forever, whether its shim
 * dropped and never comes back or is connected and stopped reading: a
 * session stays congested at most the wait timeout without progress (its
 * shim taking none of its output: shim_drained()). After that it stops
 * counting as congested and its further stdout/stderr is discarded
 * (counted, logged) until a shim connects or the connected one drains to
 * the low mark; what was accepted already, and ProcessExited, still wait
 * for the shim. A shim that reads, however slowly, never loses output.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "frame.h"
#include "helper.h"
#include "hyper.h"
#include "iochan.h"
#include "log.h"
#include "request.h"
#include "session.h"
#include "shim.h"

/* Where frames for the shim go right now. */
static struct evbuffer *session_out(struct session *s)
{
	return s->shim ? shim_output(s->shim) : s->backlog;
}

/* Progress as the stall timer sees it: what the shim took so far. */
static uint64_t session_progress(const struct session *s)
{
	return s->shim ? shim_drained(s->shim) : 0;
}

static void session_on_stall_timeout(evutil_socket_t fd, short what, void *ctx)
{
	struct session *s = ctx;

	if (s->h->exiting || !s->congested)
		return;
	if (s->shim && shim_drained(s->shim) != s->stall_mark) {
		/* A slow reader, not a stopped one: wait again. */
		s->stall_mark = shim_drained(s->shim);
		evtimer_add(s->stall_timer, &s->h->wait_timeout);
		return;
	}
	if (s->shim)
		helper_log(LOG_WARNING, 0, s->io_base,
			   "the shim took none of %zu bytes of output within %u ms: "
			   "discarding more output until it reads",
			   evbuffer_get_length(session_out(s)), s->h->wait_timeout_ms);
	else
		helper_log(LOG_WARNING, 0, s->io_base,
			   "no shim took %zu bytes of output within %u ms: "
			   "discarding more output until one connects",
			   evbuffer_get_length(s->backlog), s->h->wait_timeout_ms);
	s->discarding = true;
	session_flow_update(s);
}

/* Discarding ends: say how much was lost. */
static void session_stop_discarding(struct session *s, const char *why)
{
	if (!s->discarding)
		return;
	helper_log(LOG_WARNING, 0, s->io_base, "%llu bytes of output were discarded %s",
		   (unsigned long long)s->discarded, why);
	s->discarding = false;
	s->discarded = 0;
}

int session_new(struct helper *h, uint64_t io_base, const char *token,
		size_t token_len)
{
	struct session *s;
	bool unused;
	size_t i;

	/* 1 and 2 are the null session's; the pair must be free. */
	if (io_base < 3 || io_base == UINT64_MAX)
		return -EINVAL;
	if (session_find_seq(h, io_base, &unused) ||
	    session_find_seq(h, io_base + 1, &unused))
		return -EEXIST;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->h = h;
	s->io_base = io_base;
	s->backlog = evbuffer_new();
	s->stdin_q = evbuffer_new();
	s->stall_timer = evtimer_new(h->base, session_on_stall_timeout, s);
	if (!s->backlog || !s->stdin_q || !s->stall_timer) {
		if (s->backlog)
			evbuffer_free(s->backlog);
		if (s->stdin_q)
			evbuffer_free(s->stdin_q);
		if (s->stall_timer)
			event_free(s->stall_timer);
		free(s);
		return -ENOMEM;
	}
	/* Logs show a prefix of the token, never all of it. */
	for (i = 0; i < TOKEN_PREFIX_LEN && i < token_len && token[i]; i++)
		s->token_prefix[i] = (token[i] > ' ' && token[i] < 0x7f) ? token[i] : '?';
	s->token_prefix[i] = '\0';
	if (token_len == TOKEN_STR_LEN)
		memcpy(s->token, token, TOKEN_STR_LEN);
	TAILQ_INSERT_TAIL(&h->sessions, s, link);
	return 0;
}

struct session *session_free(struct session *s)
{
	if (!s)
		return NULL;
	TAILQ_REMOVE(&s->h->sessions, s, link);
	if (s->shim)
		shim_close(s->shim);	/* detaches itself */
	if (s->req)
		request_detach(s->req);
	if (s->congested)
		helper_congestion(s->h, -1);
	evbuffer_free(s->backlog);
	evbuffer_free(s->stdin_q);
	event_free(s->stall_timer);
	free(s->container_id);
	free(s->process_id);
	explicit_bzero(s->token, sizeof(s->token));	/* a secret */
	free(s);
	return NULL;
}

struct session *session_find(struct helper *h, uint64_t io_base)
{
	struct session *s;

	TAILQ_FOREACH(s, &h->sessions, link)
		if (s->io_base == io_base)
			return s;
	return NULL;
}

struct session *session_find_seq(struct helper *h, uint64_t seq, bool *is_stderr)
{
	struct session *s;

	TAILQ_FOREACH(s, &h->sessions, link) {
		if (s->io_base == seq || s->io_base + 1 == seq) {
			*is_stderr = s->io_base != seq;
			return s;
		}
	}
	return NULL;
}

struct session *session_find_process(struct helper *h, const char *container,
				     const char *process)
{
	struct session *s;

	if (!container || !process)
		return NULL;
	TAILQ_FOREACH(s, &h->sessions, link)
		if (s->container_id && s->process_id &&
		    !strcmp(s->container_id, container) &&
		    !strcmp(s->process_id, process))
			return s;
	return NULL;
}

bool session_process_id_used(struct helper *h, const char *id)
{
	struct session *s;

	TAILQ_FOREACH(s, &h->sessions, link)
		if (s->process_id && !strcmp(s->process_id, id))
			return true;
	return false;
}

int session_set_process(struct session *s, const char *container_id,
			const char *process_id, bool is_exec, bool terminal)
{
	char *c = container_id ? strdup(container_id) : NULL;
	char *p = process_id ? strdup(process_id) : NULL;

	if ((container_id && !c) || (process_id && !p)) {
		free(c);
		free(p);
		return -ENOMEM;
	}
	free(s->container_id);
	free(s->process_id);
	s->container_id = c;
	s->process_id = p;
	s->is_exec = is_exec;
	s->terminal = terminal;
	return 0;
}

void session_started(struct session *s)
{
	s->started = true;
	helper_log(LOG_INFO, 1, s->io_base, "process %s started (token %s...)",
		   s->process_id ? s->process_id : "", s->token_prefix);
	/* stdin that waited for the process goes first. */
	iochan_pump(s->h->io);
	if (s->shim)
		shim_on_started(s->shim);
}

void session_start_failed(struct session *s)
{
	/* No process: no exit will ever be reported for these ids. */
	free(s->container_id);
	free(s->process_id);
	s->container_id = s->process_id = NULL;
	if (s->shim)
		shim_on_start_failed(s->shim);
}

void session_flow_update(struct session *s)
{
	size_t len = evbuffer_get_length(session_out(s));

	if (s->discarding && s->shim && len <= HELPER_SHIM_OUT_LOW)
		session_stop_discarding(s, "while the shim did not read");
	if (s->discarding)
		len = 0;	/* given up waiting: nothing to stall for */
	if (!s->congested && len > HELPER_SHIM_OUT_HIGH) {
		s->congested = true;
		helper_log(LOG_INFO, 1, s->io_base, "%zu bytes wait for the shim: io paused", len);
		helper_congestion(s->h, +1);
	} else if (s->congested && len <= HELPER_SHIM_OUT_LOW) {
		s->congested = false;
		helper_congestion(s->h, -1);
	}
	/* The stall bound runs while congested; a shim coming or going
	 * (attach, detach) starts it afresh. */
	if (!s->congested)
		evtimer_del(s->stall_timer);
	else if (!evtimer_pending(s->stall_timer, NULL)) {
		s->stall_mark = session_progress(s);
		evtimer_add(s->stall_timer, &s->h->wait_timeout);
	}
}

/* Append one frame for the shim; a helper out of memory cannot go on. */
static void session_emit(struct session *s, uint8_t type, uint8_t opcode,
			 const void *data, size_t len)
{
	int r = frame_encode(session_out(s), type, 0, opcode, data, len);

	if (r < 0) {
		helper_log(LOG_ERR, 0, s->io_base, "cannot queue output: %s", strerror(-r));
		helper_exit(s->h, EXIT_FAILURE, false);
		return;
	}
	session_flow_update(s);
}

void session_output(struct session *s, uint8_t opcode, const void *data,
		    size_t len)
{
	if (s->exit_sent) {
		/* ProcessExited is the last frame a shim gets. */
		helper_log_guest(s->h, LOG_WARNING, 0, s->io_base,
				 "%zu bytes of output after the exit: dropped", len);
		s->h->stats.bytes_orphaned += len;
		return;
	}
	if (s->discarding) {
		s->discarded += len;
		s->h->stats.bytes_orphaned += len;
		return;
	}
	s->h->stats.bytes_to_shims += len;
	helper_hexdump(s->io_base, opcode == FRAME_STREAM_STDOUT ?
		       "agent->shim stdout" : "agent->shim stderr", data, len);
	session_emit(s, FRAME_TYPE_STREAM, opcode, data, len);
}

bool session_output_inplace(struct session *s, uint8_t opcode, uint8_t *msg,
			    size_t len)
{
	if (!s->shim || s->exit_sent || s->discarding || !shim_direct_ok(s->shim))
		return false;
	s->h->stats.bytes_to_shims += len;
	helper_hexdump(s->io_base, opcode == FRAME_STREAM_STDOUT ?
		       "agent->shim stdout" : "agent->shim stderr",
		       msg + FRAME_HEADER_SIZE, len);
	frame_header_put(msg, FRAME_TYPE_STREAM, 0, opcode, (uint32_t)len);
	return true;
}

void session_send_frames(struct session *s, const uint8_t *p, size_t len)
{
	if (shim_send(s->shim, p, len) < 0) {
		helper_log(LOG_ERR, 0, s->io_base, "cannot queue output: out of memory");
		helper_exit(s->h, EXIT_FAILURE, false);
		return;
	}
	session_flow_update(s);
}

static void session_send_exit(struct session *s)
{
	s->exit_sent = true;
	if (s->started)	/* else shim.c said why (a signal, nothing started) */
		helper_log(LOG_INFO, 1, s->io_base, "process %s exited with status %u",
			   s->process_id ? s->process_id : "", s->status);
	session_emit(s, FRAME_TYPE_NOTIFICATION, FRAME_NOTIFY_PROCESS_EXITED,
		     &s->status, 1);
}

static void session_maybe_exit(struct session *s)
{
	if (s->output_done && s->status_known && !s->exit_sent)
		session_send_exit(s);
}

void session_output_finished(struct session *s)
{
	if (s->output_done) {
		helper_log_guest(s->h, LOG_INFO, 1, s->io_base, "output finished twice: ignored");
		return;
	}
	s->output_done = true;
	helper_log(LOG_INFO, 1, s->io_base, "output of process %s finished",
		   s->process_id ? s->process_id : "");
	session_maybe_exit(s);
}

void session_exit_status(struct session *s, uint8_t status, const char *dialect)
{
	if (s->status_known || s->exit_sent) {
		helper_log_guest(s->h, LOG_WARNING, 0, s->io_base, "second exit status (%u, %s) ignored",
			   status, dialect);
		return;
	}
	s->status_known = true;
	s->status = status;
	helper_log(LOG_INFO, 1, s->io_base, "exit status %u (%s)%s", status, dialect,
		   s->output_done ? "" : ", held until the output is finished");
	session_maybe_exit(s);
}

void session_exit_now(struct session *s, uint8_t status)
{
	if (s->exit_sent)
		return;
	s->output_done = true;
	s->status_known = true;
	s->status = status;
	session_send_exit(s);
}

void session_attach_shim(struct session *s, struct shim *sh)
{
	size_t n = evbuffer_get_length(s->backlog);

	s->shim = sh;
	evtimer_del(s->stall_timer);
	session_stop_discarding(s, "while no shim was connected");
	if (n)
		helper_log(LOG_INFO, 1, s->io_base, "%zu bytes of output waited for the shim", n);
	evbuffer_add_buffer(shim_output(sh), s->backlog);
	session_flow_update(s);
	if (s->req)
		request_on_shim(s->req);
}

void session_detach_shim(struct session *s)
{
	s->shim = NULL;
	evtimer_del(s->stall_timer);
	session_flow_update(s);
}

int session_stdin_buffer(struct session *s, struct evbuffer *src, size_t len)
{
	size_t taken = 0;

	if (log_get_level() >= 2 && len) {
		const uint8_t *p = evbuffer_pullup(src, (ev_ssize_t)len);

		if (!p)
			return -ENOMEM;
		helper_hexdump(s->io_base, "shim->agent stdin", p, len);
	}
	/* Nothing of this session waits and the channel is idle: one
	 * writev straight from the shim's input (iochan.c). */
	if (s->started && evbuffer_get_length(s->stdin_q) == 0 &&
	    iochan_send_stdin(s->h->io, s->io_base, src, len, &taken)) {
		if (s->h->exiting || taken == len)
			return 0;
		len -= taken;
	}
	/* The rest as whole io messages in the queue, as session_stdin(). */
	if ((len ? hyper_io_encode_buffer(s->stdin_q, s->io_base, src, len)
		 : hyper_io_encode(s->stdin_q, s->io_base, NULL, 0)) < 0)
		return -ENOMEM;
	if (s->started)
		iochan_pump(s->h->io);
	return 0;
}

int session_stdin(struct session *s, const void *data, size_t len)
{
	int r;

	helper_hexdump(s->io_base, "shim->agent stdin", data, len);
	/* One shim frame becomes one io message, or several when it is too
	 * big: never merged, so never bigger than the shim sent it. */
	r = hyper_io_encode(s->stdin_q, s->io_base, data, len);
	if (r < 0)
		return r;
	if (s->started)
		iochan_pump(s->h->io);
	return 0;
}

bool session_stdin_full(const struct session *s)
{
	return evbuffer_get_length(s->stdin_q) > HELPER_STDIN_HIGH;
}

bool session_stdin_take(struct session *s, struct evbuffer *out)
{
	uint8_t hdr[HYPER_IO_HEADER_SIZE];
	uint32_t total;

	if (evbuffer_copyout(s->stdin_q, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return false;
	/* Our own encoding: u64 seq, then the u32 big-endian total length. */
	total = (uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16 |
		(uint32_t)hdr[10] << 8 | hdr[11];
	if (evbuffer_remove_buffer(s->stdin_q, out, total) != (int)total)
		abort();	/* broken invariant: the queue holds whole messages */
	s->h->stats.bytes_from_shims += total - HYPER_IO_HEADER_SIZE;
	if (s->shim && evbuffer_get_length(s->stdin_q) <= HELPER_STDIN_LOW)
		shim_on_stdin_drained(s->shim);
	return true;
}
