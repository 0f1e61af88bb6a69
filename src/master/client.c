/*
 * client.c - client connections of the master (client.h).
 *
 * Each connection is a bufferevent that owns its socket (CLOSE_ON_FREE,
 * so the fd is closed only after libevent has forgotten it); a shim's
 * handover sends a duplicate to the helper.
 * Input is bounded by a read high watermark of one whole frame; frames
 * are decoded one at a time and dispatched (command.c); while a command
 * waits, reading stops. Unanswered output above --max-output also
 * stops the decoding until the peer reads, so a client that never reads
 * costs only a bounded amount of memory. The quotas (connections per
 * uid, the sum of all buffers, the frame and idle timeouts) are
 * quota*.c's; this file calls them at accept, on every change, at free.
 *
 * What costs the connection (closed, no response, PROTOCOL.md part 1): an
 * untrusted header (FRAME_E_INVALID), a stream or notification opcode we
 * do not know, a frame in a direction a client never sends (responses,
 * stdout/stderr, ProcessExited), and stdin on a connection that is not a
 * shim's. An unknown command opcode only gets an error response.
 *
 * Frees happen only in this client's own callbacks; everything else
 * reaches a client through client_finish()/client_respond(), which only
 * queue output and activate resume_ev.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "audit.h"
#include "bevwrite.h"
#include "client.h"
#include "command.h"
#include "helper.h"
#include "quota.h"
#include "log.h"
#include "master.h"
#include "payload.h"
#include "registry.h"
#include "status.h"

static void client_free(struct client *c);

/* ---- output ---------------------------------------------------------- */

static void client_check_congestion(struct client *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > c->m->cfg.limits.output)
		c->out_congested = true;	/* cleared by the write callback */
	quota_buffered_check(c->m, c);	/* victims close from their resume_ev */
}

void client_respond(struct client *c, uint8_t opcode, bool error,
		    const void *payload, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int r;

	/* Written at once when nothing is queued (bevwrite.h): no epoll
	 * change and no trip through the loop per response. */
	bevwrite_begin(c->bev);
	r = frame_encode(out, FRAME_TYPE_RESPONSE, error ? FRAME_FLAG_ERROR : 0,
			 opcode, payload, len);
	bevwrite_flush(c->bev);
	if (r < 0) {
		/* Out of memory: a response is lost, so the answers the
		 * client sees are out of step. Close it from resume_ev. */
		log_submit(LOG_ERR, 0, NULL, CLIENT_FIELDS(c),
			   "cannot queue a response: closing the connection");
		c->broken = true;
		event_active(c->resume_ev, EV_TIMEOUT, 0);
		return;
	}
	log_submit(LOG_INFO, 1, NULL, CLIENT_FIELDS(c), "%s response to command %u (%s), %zu bytes",
		   error ? "error" : "ok", opcode, frame_opcode_name(FRAME_TYPE_COMMAND, opcode), len);
	client_check_congestion(c);
}

void client_respond_error(struct client *c, uint8_t opcode, const char *fmt, ...)
{
	char msg[1024];
	char *json;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_submit(LOG_INFO, 1, NULL, CLIENT_FIELDS(c), "command %u (%s) failed: %s",
		   opcode, frame_opcode_name(FRAME_TYPE_COMMAND, opcode), msg);
	json = payload_build_error(msg);
	if (json)
		client_respond(c, opcode, true, json, strlen(json));
	else
		client_respond(c, opcode, true, "{\"msg\":\"out of memory\"}", 23);
	free(json);
}

/* ---- reading and dispatch --------------------------------------------- */

/*
 * Read only while a command can be taken (STYLE.md section 4), or while
 * a Hyper command waits for its answer: then at most one frame more is
 * read ahead (the input's high watermark) and not decoded until the
 * answer is out. Turning reading off and on around each Hyper command,
 * with the EV_CLOSED watch in between, cost four epoll_ctl per command
 * (issue 10); reading on, the client leaving is seen as EOF.
 */
static bool client_reads_while(enum client_wait what)
{
	return what == CLIENT_IDLE || what == CLIENT_WAIT_HYPER;
}

static void client_update_reading(struct client *c)
{
	if (client_reads_while(c->wait) && !c->out_congested)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

void client_wait(struct client *c, enum client_wait what, uint8_t opcode,
		 struct vm *vm)
{
	c->wait = what;
	c->wait_opcode = opcode;
	c->wait_vm = vm;
	quota_client_update(c, false);
	if (client_reads_while(what) && !c->out_congested)
		return;	/* reading on: an EOF says the client left */
	bufferevent_disable(c->bev, EV_READ);
	/* Not reading, we would not see the client leave; a RegisterVM
	 * must know (nothing may stay registered for nobody). */
	if (c->closed_ev)
		event_add(c->closed_ev, NULL);
	if (what == CLIENT_WAIT_HANDOFF)
		event_active(c->resume_ev, EV_TIMEOUT, 0);	/* maybe flushed already */
}

static void client_clear_wait(struct client *c)
{
	if (c->closed_ev)
		event_del(c->closed_ev);
	c->wait = CLIENT_IDLE;
	c->wait_vm = NULL;
	c->wait_req = NULL;
	c->handoff = NULL;
}

void client_finish(struct client *c, bool error, const void *payload, size_t len)
{
	if (c->wait == CLIENT_IDLE)
		return;
	client_respond(c, c->wait_opcode, error, payload, len);
	client_clear_wait(c);
	event_active(c->resume_ev, EV_TIMEOUT, 0);
}

void client_finish_error(struct client *c, const char *msg)
{
	uint8_t opcode = c->wait_opcode;

	if (c->wait == CLIENT_IDLE)
		return;
	client_clear_wait(c);
	client_respond_error(c, opcode, "%s", msg);
	event_active(c->resume_ev, EV_TIMEOUT, 0);
}

/* A log stream: validated, then written into our log with its fields. */
static void client_on_log_stream(struct client *c, const struct frame *f)
{
	struct payload_log l = { 0 };
	char *err = NULL;
	int prio = LOG_INFO, verbosity = 1;

	if (payload_parse_log(f->payload, f->payload_len, &l, &err) != 0) {
		log_submit(LOG_WARNING, 0, NULL, CLIENT_FIELDS(c),
			   "invalid log stream rejected: %s", err ? err : "out of memory");
		free(err);
		return;
	}
	if (!strcmp(l.level, "debug"))
		prio = LOG_DEBUG, verbosity = 2;
	else if (!strcmp(l.level, "warn"))
		prio = LOG_WARNING, verbosity = 0;
	else if (!strcmp(l.level, "error"))
		prio = LOG_ERR, verbosity = 0;
	log_submit(prio, verbosity, NULL,
		   LOG_FIELDS({ "CC_SOURCE", l.source },
			      { "CC_CONTAINER_ID", l.container_id },
			      { "CC_CLIENT", c->id_str },
			      { "CC_CLIENT_PID", c->pid_str }),
		   "%s: %s", l.source, l.msg);
	payload_log_deinit(&l);
}

/* One decoded frame. Return: 0 go on, -1 close the connection. */
static int client_dispatch(struct client *c, const struct frame *f)
{
	const char *type = frame_type_name(f->type);

	if (f->type == FRAME_TYPE_COMMAND && f->opcode == FRAME_CMD_STATUS) {
		status_command(c, f);	/* admin, outside the client protocol */
		return 0;
	}
	if (!frame_opcode_known(f->type, f->opcode)) {
		if (f->type == FRAME_TYPE_COMMAND) {
			client_respond_error(c, f->opcode, "unknown command %u", f->opcode);
			return 0;
		}
		log_submit(LOG_WARNING, 0, NULL, CLIENT_FIELDS(c),
			   "unknown %s opcode %u: closing the connection", type, f->opcode);
		return -1;
	}
	switch (f->type) {
	case FRAME_TYPE_COMMAND:
		log_submit(LOG_INFO, 1, NULL, CLIENT_FIELDS(c), "command %s (%u bytes)",
			   frame_opcode_name(f->type, f->opcode), f->payload_len);
		command_dispatch(c, f);
		return 0;
	case FRAME_TYPE_STREAM:
		if (f->opcode == FRAME_STREAM_LOG) {
			client_on_log_stream(c, f);
			return 0;
		}
		/* stdin belongs to a shim, and shims live in their helper
		 * once connected; stdout/stderr only flow to clients. */
		log_submit(LOG_WARNING, 0, NULL, CLIENT_FIELDS(c),
			   "%s stream on a connection that is not a shim: closing it",
			   frame_opcode_name(f->type, f->opcode));
		return -1;
	default:
		log_submit(LOG_WARNING, 0, NULL, CLIENT_FIELDS(c),
			   "unexpected %s %s from a client: closing the connection", type,
			   frame_opcode_name(f->type, f->opcode));
		return -1;
	}
}

/* Decode and dispatch until a command waits or the input runs out.
 * Return: 0, or -1 when the connection must be closed. */
static int client_process(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	bool progress = false;

	while (c->wait == CLIENT_IDLE && !c->out_congested) {
		struct frame f = FRAME_NULL;
		const char *why = NULL;
		int r;

		if (c->broken)
			return -1;
		r = frame_decode(in, FRAME_PAYLOAD_MAX, &f, &why);
		if (r == FRAME_E_INCOMPLETE)
			break;
		if (r != 0) {
			log_submit(LOG_WARNING, 0, NULL, CLIENT_FIELDS(c),
				   "bad frame: %s: closing the connection",
				   r == FRAME_E_INVALID && why ? why : strerror(r < 0 ? -r : EPROTO));
			return -1;
		}
		progress = true;
		r = client_dispatch(c, &f);
		frame_deinit(&f);
		if (r < 0)
			return -1;
	}
	if (c->broken)
		return -1;
	client_update_reading(c);
	quota_client_update(c, progress);
	return 0;
}

/* ---- the shim handover --------------------------------------------- */

/* The output is flushed: hand the connection to the token's helper. */
static void client_handoff(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct vm_token *t = c->handoff;
	size_t n = evbuffer_get_length(in);
	uint8_t *leftover = NULL;
	int fd, r;

	/* The bytes already read past ConnectShim belong to the shim's
	 * session: they travel with the fd, in order. */
	if (n > HELPER_SHIM_LEFTOVER_MAX) {
		log_submit(LOG_WARNING, 0, NULL, CLIENT_FIELDS(c),
			   "shim sent %zu bytes before its ConnectShim answer: closing it", n);
		registry_token_unclaim(t);
		client_free(c);
		return;
	}
	if (n && !(leftover = malloc(n))) {
		registry_token_unclaim(t);
		client_free(c);
		return;
	}
	if (n)
		evbuffer_remove(in, leftover, n);

	/* The helper gets its own reference to the socket; ours goes
	 * with the bufferevent, which libevent closes only after it has
	 * forgotten the fd. ipc_channel_send() consumes the duplicate. */
	fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		log_submit(LOG_ERR, 0, NULL, CLIENT_FIELDS(c),
			   "cannot hand the shim over: %s", strerror(errno));
		registry_token_unclaim(t);
		free(leftover);
		client_free(c);
		return;
	}
	c->handoff = NULL;
	c->wait = CLIENT_IDLE;
	r = helper_send_shim(t, fd, leftover, n, c->pid, c->uid, c->gid);
	free(leftover);
	if (r < 0) {
		/* helper_send_shim() made the token claimable again. */
		log_submit(LOG_WARNING, 0, NULL, CLIENT_FIELDS(c),
			   "cannot hand the shim to the helper of VM %s: %s",
			   t->vm->container_id, strerror(-r));
	} else {
		log_submit(LOG_INFO, 1, NULL, CLIENT_FIELDS(c),
			   "connection handed to the helper of VM %s (%zu bytes ahead)",
			   t->vm->container_id, n);
	}
	client_free(c);
}

/* ---- callbacks ----------------------------------------------------- */

static void client_on_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	/* The input grew: over --max-buffered, the biggest holder pays. */
	quota_buffered_check(c->m, c);
	if (client_process(c) < 0)
		client_free(c);
}

/* Called with the output fully written (write low watermark 0). */
static void client_on_write(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->broken)
		return;		/* closed from resume_ev, never handed over */
	if (c->wait == CLIENT_WAIT_HANDOFF) {
		client_handoff(c);
		return;
	}
	if (c->out_congested) {
		c->out_congested = false;
		if (client_process(c) < 0)
			client_free(c);
	}
}

static void client_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & BEV_EVENT_EOF)
		log_submit(LOG_INFO, 1, NULL, CLIENT_FIELDS(c), "client disconnected");
	else if (what & BEV_EVENT_ERROR)
		log_submit(LOG_INFO, 1, NULL, CLIENT_FIELDS(c), "client connection failed: %s",
			   strerror(errno));
	client_free(c);
}

/* The peer closed (or shut down its side) while its command waited: as
 * with an EOF on reading, the client is gone. */
static void client_on_closed(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	log_submit(LOG_INFO, 1, NULL, CLIENT_FIELDS(c),
		   "client left while its %s was pending",
		   frame_opcode_name(FRAME_TYPE_COMMAND, c->wait_opcode));
	client_free(c);
}

static void client_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	if (c->broken) {
		client_free(c);
		return;
	}
	if (c->wait == CLIENT_WAIT_HANDOFF) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			client_handoff(c);
		return;	/* else client_on_write does it */
	}
	if (client_process(c) < 0)
		client_free(c);
}

/* ---- lifetime -------------------------------------------------------- */

int client_new(struct master *m, int fd)
{
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cred);
	struct quota_uid *lim_uid = NULL;
	struct client *c;
	char why[256];
	int r;

	/* The quotas go by the peer's uid: an unknown one counts as a
	 * single non-root uid of its own ((uid_t)-1). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		log_warn("SO_PEERCRED failed: %s", strerror(errno));
	r = quota_admit(m, cred.uid, &lim_uid, why, sizeof(why));
	if (r < 0) {
		quota_refuse(m, fd, why);	/* consumes fd */
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		quota_release(m, lim_uid);
		close(fd);
		return -ENOMEM;
	}
	c->m = m;
	c->fd = fd;
	c->lim_uid = lim_uid;
	c->id = ++m->next_client_id;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	snprintf(c->id_str, sizeof(c->id_str), "%llu", c->id);
	snprintf(c->pid_str, sizeof(c->pid_str), "%lld", (long long)c->pid);

	c->bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->resume_ev = event_new(m->base, -1, 0, client_on_resume, c);
	/* Early close detection needs a backend that has it (epoll does);
	 * without it, a departed client is noticed when reading resumes. */
	if (event_base_get_features(m->base) & EV_FEATURE_EARLY_CLOSE)
		c->closed_ev = event_new(m->base, fd, EV_CLOSED, client_on_closed, c);
	if (!c->bev || !c->resume_ev || quota_client_start(c) < 0) {
		quota_release(m, lim_uid);
		if (c->bev)
			bufferevent_free(c->bev);
		else
			close(fd);
		if (c->resume_ev)
			event_free(c->resume_ev);
		if (c->closed_ev)
			event_free(c->closed_ev);
		free(c);
		return -ENOMEM;
	}
	bufferevent_setcb(c->bev, client_on_read, client_on_write, client_on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CLIENT_IN_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	/* EV_WRITE only while output is left over (bevwrite.h). */
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&m->clients, c, entry);
	m->n_clients++;
	audit_client_connected(c->id, c->pid, c->uid, c->gid);
	quota_client_update(c, false);		/* the idle timer starts */
	return 0;
}

static void client_free(struct client *c)
{
	struct master *m = c->m;

	/* Whoever still points at us lets go. */
	switch (c->wait) {
	case CLIENT_WAIT_REGISTER:
		helper_registrar_gone(c->wait_vm);
		break;
	case CLIENT_WAIT_HYPER:
		if (c->wait_req)
			c->wait_req->client = NULL;	/* the answer is dropped */
		break;
	case CLIENT_WAIT_HANDOFF:
		if (c->handoff)
			registry_token_unclaim(c->handoff);	/* never handed over */
		break;
	case CLIENT_WAIT_STATUS:
		status_client_gone(c);
		break;
	case CLIENT_IDLE:
		break;
	}
	TAILQ_REMOVE(&m->clients, c, entry);
	m->n_clients--;
	quota_client_stop(c);		/* before the buffers go */
	quota_release(m, c->lim_uid);
	if (c->closed_ev)
		event_free(c->closed_ev);	/* before the socket goes */
	bufferevent_free(c->bev);	/* closes the socket */
	event_free(c->resume_ev);
	free(c->vm_gone_msg);
	free(c);
}

void client_free_all(struct master *m)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&m->clients)))
		client_free(c);
}

void client_attach(struct client *c, struct vm *vm)
{
	c->vm = vm;
	free(c->vm_gone_msg);
	c->vm_gone_msg = NULL;
	quota_client_update(c, false);		/* attached: no idle timeout */
}

void client_vm_gone(struct master *m, struct vm *vm, const char *msg)
{
	struct client *c;

	TAILQ_FOREACH(c, &m->clients, entry) {
		if (c->vm == vm) {
			c->vm = NULL;
			free(c->vm_gone_msg);
			c->vm_gone_msg = strdup(msg);	/* NULL: a generic error later */
			quota_client_update(c, false);	/* idle from now on */
		}
		if (c->wait != CLIENT_IDLE && c->wait_vm == vm)
			client_finish_error(c, msg);
	}
}
