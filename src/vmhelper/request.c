/*
 * request.c - Hyper requests from the master (IPC_M_HYPER).
 *
 * Every request is answered exactly once with IPC_H_HYPER_ANSWER and the
 * master's id: the agent's ACK payload, the agent's ERROR text, or the
 * proxy's own reason for refusing it.
 *
 * newcontainer / execcmd (PROTOCOL.md "What the agent tolerates"):
 *  - the data is checked (hyperdata_inspect) and edited in place
 *    (hyperdata_rewrite), never re-serialised;
 *  - with a token (io_base != 0) the client must not pre-fill stdio or
 *    stderr; the request waits (evtimer, the wait timeout) until the
 *    token's shim is connected so that no output is lost, while other
 *    commands go on; then process.stdio = ioBase and, without a terminal,
 *    process.stderr = ioBase + 1;
 *  - without a token the process writes to the null session: stdio 1
 *    and stderr 2, terminal or not, whatever the client wrote there;
 *  - either way a process.id is generated ("cc-proxy-N", unique in the
 *    VM) when the client gave none: hyperstart needs it to report the
 *    exit of concurrent processes;
 *  - the agent's ACK means "process started" for the session.
 * Other commands: the client's data text is forwarded as is, or nothing
 * when it sent none.
 *
 * Ownership: h->requests owns every request; a session points at the one
 * using its token (s->req) and the request back at it (r->s).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "agent.h"
#include "cleanup.h"
#include "helper.h"
#include "hyper.h"
#include "hyperdata.h"
#include "ipc.h"
#include "log.h"
#include "request.h"
#include "session.h"

struct request {
	TAILQ_ENTRY(request) link;	/* in h->requests */
	struct helper *h;
	uint32_t id;			/* the master's request id */
	uint32_t code;			/* enum hyper_code */
	uint64_t io_base;		/* 0: no token */
	struct session *s;		/* the token's session, or NULL */
	char *data;			/* NUL-terminated copy of the client's data, or NULL */
	size_t len;
	struct hyperdata_info info;	/* newcontainer/execcmd only */
	struct event *timer;		/* waiting for the shim */
	struct agent_cmd *cmd;		/* queued or in flight at the agent */
	bool orphaned;			/* from a master that is gone: no answer */
};

struct request *request_free(struct request *r)
{
	if (!r)
		return NULL;
	TAILQ_REMOVE(&r->h->requests, r, link);
	if (r->s)
		r->s->req = NULL;
	if (r->cmd)
		agent_cancel(r->h->agent, r->cmd);
	if (r->timer)
		event_free(r->timer);
	hyperdata_info_deinit(&r->info);
	free(r->data);
	free(r);
	return NULL;
}

void request_orphan_all(struct helper *h)
{
	struct request *r;

	TAILQ_FOREACH(r, &h->requests, link)
		r->orphaned = true;
}

/* Answer the master and forget the request. */
static void request_finish(struct request *r, bool error, const char *text,
			   size_t len)
{
	helper_log(error ? LOG_NOTICE : LOG_INFO, 1, r->io_base,
		   "Hyper %s (request %u): %s%.*s", hyper_code_name(r->code), r->id,
		   error ? "error: " : "ok", error ? (int)len : 0, text);
	/* A request of a dead master: its client got EOF, and the new
	 * master does not know the id (IPC_M_ADOPT). */
	if (!r->orphaned)
		helper_send_answer(r->h, r->id, error, text, len);
	r->h->stats.hyper_served++;
	r->h->stats.hyper_failed += error;
	request_free(r);
}

static void request_fail(struct request *r, const char *msg)
{
	request_finish(r, true, msg, strlen(msg));
}

static void request_on_answer(void *ctx, bool error, const char *text, size_t len)
{
	static const char no_reason[] = "the agent returned an error";
	struct request *r = ctx;
	struct session *s = r->s;

	r->cmd = NULL;
	if (s) {
		s->req = NULL;
		r->s = NULL;
	}
	if (error && len == 0)
		request_finish(r, true, no_reason, strlen(no_reason));
	else
		request_finish(r, error, text, len);
	/* The answer first, then what it unblocks (stdin, signals). */
	if (s && error)
		session_start_failed(s);
	else if (s)
		session_started(s);
}

/* Queue @data (consumed) at the agent; on failure answer with an error. */
static int request_submit(struct request *r, char *data, size_t len)
{
	char msg[96];
	int rc;

	rc = agent_submit(r->h->agent, r->code, data, len, request_on_answer, r,
			  &r->cmd);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "cannot queue %s for the agent: %s",
			 hyper_code_name(r->code),
			 rc == -ENOBUFS ? "too many commands waiting" : strerror(-rc));
		request_fail(r, msg);
	}
	return rc;
}

/* newcontainer/execcmd whose shim (if any) is connected: edit and send. */
static void request_send_process(struct request *r)
{
	struct helper *h = r->h;
	struct session *s = r->s;
	struct hyperdata_edit edit = { 0 };
	_cleanup_free_ char *err = NULL;
	char *out = NULL;
	size_t out_len = 0;
	char gen[32];
	int rc;

	if (!r->info.process_id) {
		do
			snprintf(gen, sizeof(gen), "cc-proxy-%llu",
				 (unsigned long long)++h->next_process_n);
		while (session_process_id_used(h, gen));
		edit.process_id = gen;
	}
	/* The null session (1, 2) without a token: even a client's own
	 * values are replaced, so no client can aim output at a session
	 * that is not its own. That holds for stderr of a terminal process
	 * too: the agent may still use a stderr seq it is given, so a
	 * tokenless one always gets 2. With a token, a terminal's stderr
	 * goes with stdio and is left out. */
	edit.stdio = s ? s->io_base : 1;
	edit.set_stderr = !s || !r->info.terminal;
	edit.stderr_seq = s ? s->io_base + 1 : 2;
	rc = hyperdata_rewrite(r->data, r->len, &edit, &out, &out_len, &err);
	if (rc != 0) {
		request_fail(r, rc == HYPERDATA_E_INVALID && err ? err : "out of memory");
		return;
	}
	if (s && session_set_process(s, r->info.container_id,
				     edit.process_id ? edit.process_id : r->info.process_id,
				     r->code == HYPER_EXECCMD, r->info.terminal) < 0) {
		free(out);
		request_fail(r, "out of memory");
		return;
	}
	helper_log(LOG_INFO, 1, r->io_base, "%s of process %s, stdio %llu",
		   hyper_code_name(r->code),
		   edit.process_id ? edit.process_id : r->info.process_id,
		   (unsigned long long)edit.stdio);
	if (request_submit(r, out, out_len) < 0 && s)
		session_start_failed(s);	/* r is gone; s is not */
}

void request_on_shim(struct request *r)
{
	evtimer_del(r->timer);
	request_send_process(r);
}

void request_detach(struct request *r)
{
	bool waiting = !r->cmd;

	r->s = NULL;
	if (waiting)
		request_fail(r, "the token was released before its shim connected");
}

static void request_on_timeout(evutil_socket_t fd, short what, void *ctx)
{
	struct request *r = ctx;
	char msg[128];

	if (r->h->exiting)
		return;
	snprintf(msg, sizeof(msg), "no shim connected for token %s... within %u ms",
		 r->s ? r->s->token_prefix : "", r->h->wait_timeout_ms);
	request_fail(r, msg);
}

static void request_process(struct request *r)
{
	_cleanup_free_ char *err = NULL;
	struct session *s;
	int rc;

	if (!r->data) {
		request_fail(r, "data with a process is required");
		return;
	}
	rc = hyperdata_inspect(r->data, r->len, r->code, &r->info, &err);
	if (rc != 0) {
		request_fail(r, rc == HYPERDATA_E_INVALID && err ? err : "out of memory");
		return;
	}
	if (!r->io_base) {
		request_send_process(r);
		return;
	}
	s = session_find(r->h, r->io_base);
	if (!s) {
		request_fail(r, "unknown token");
		return;
	}
	if (s->req || s->started || s->exit_sent) {
		request_fail(r, "the token is already used by another process");
		return;
	}
	if ((r->info.has_stdio && r->info.stdio) ||
	    (r->info.has_stderr && r->info.stderr_seq)) {
		request_fail(r, "process.stdio and process.stderr are set by the proxy when a token is given");
		return;
	}
	r->s = s;
	s->req = r;
	if (s->shim) {
		request_send_process(r);
		return;
	}
	helper_log(LOG_INFO, 1, r->io_base, "%s waits for the shim of token %s...",
		   hyper_code_name(r->code), s->token_prefix);
	evtimer_add(r->timer, &r->h->wait_timeout);
}

void request_handle(struct helper *h, uint32_t id, const struct ipc_hyper *m,
		    const uint8_t *data, size_t len)
{
	struct request *r;

	r = calloc(1, sizeof(*r));
	if (!r || !(r->timer = evtimer_new(h->base, request_on_timeout, r)) ||
	    (len && !(r->data = malloc(len + 1)))) {
		if (r && r->timer)
			event_free(r->timer);
		free(r);
		helper_send_answer(h, id, true, "out of memory", strlen("out of memory"));
		return;
	}
	r->h = h;
	r->id = id;
	r->code = m->code;
	r->io_base = m->io_base;
	if (len) {
		memcpy(r->data, data, len);
		r->data[len] = '\0';
		r->len = len;
	}
	TAILQ_INSERT_TAIL(&h->requests, r, link);
	helper_log(LOG_INFO, 1, r->io_base, "Hyper %s (request %u, %zu bytes of data)",
		   hyper_code_name(r->code), id, len);

	/* The master checks the name; check again that only a command a
	 * client may send reaches the agent (not ready, ack, next...). */
	if (hyper_command_from_name(hyper_code_name(r->code)) != (int)r->code) {
		request_fail(r, "not an agent command");
		return;
	}
	if (r->code == HYPER_NEWCONTAINER || r->code == HYPER_EXECCMD) {
		request_process(r);
		return;
	}
	if (r->io_base) {
		request_fail(r, "tokens are only accepted for newcontainer and execcmd");
		return;
	}
	request_submit(r, TAKE_PTR(r->data), r->len);
}
