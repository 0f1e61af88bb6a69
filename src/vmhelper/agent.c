/*
 * agent.c - the agent's ctl channel (fd 4).
 *
 * The agent sends READY once; until then nothing is sent to it (commands
 * wait in the FIFO) and, past the wait timeout, the VM is reported lost.
 * READY goes to the first connection of the ctl channel only: a VM
 * registered again (its earlier helper gone with a crashed master) never
 * sends it to us. So when READY has not come within AGENT_PROBE_MS, one
 * PING probes the agent: its ACK proves the agent answers on this
 * connection, and the helper is ready as if READY had come. An ERROR or
 * no answer leaves the wait as it was (READY may still come). The probe's
 * answer is consumed here, before any command can be in flight.
 * Commands go out one at a time: the head of the FIFO is sent when no
 * command is in flight, and the next ACK or ERROR answers it. NEXT is
 * flow control the agent sends for every chunk it reads: it is logged,
 * never taken for an answer. processasyncevent may come at any time and
 * is routed to the session of its (container, process).
 *
 * Invariants: at most one command in flight (a->inflight); a command's
 * callback runs at most once; a cancelled command in flight keeps its
 * place so that its answer is consumed, and is then freed silently.
 * Ownership: the agent owns every struct agent_cmd; callers hold handles
 * only until the callback runs or they cancel.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "agent.h"
#include "bevwrite.h"
#include "cleanup.h"
#include "helper.h"
#include "hyper.h"
#include "log.h"
#include "payload.h"
#include "session.h"

struct agent_cmd {
	TAILQ_ENTRY(agent_cmd) link;
	uint32_t code;
	char *data;		/* payload, freed once sent */
	size_t len;
	agent_answer_fn cb;	/* NULL once cancelled */
	void *ctx;
};

struct agent {
	struct helper *h;
	struct bufferevent *bev;
	struct event *ready_timer;
	struct event *probe_timer;
	bool ready;
	bool probe_inflight;	/* our PING, sent before READY, unanswered */
	struct agent_cmd *inflight;
	TAILQ_HEAD(, agent_cmd) queue;
	size_t queued;
};

static struct agent_cmd *agent_cmd_free(struct agent_cmd *c)
{
	if (c) {
		free(c->data);
		free(c);
	}
	return NULL;
}

/* Send the head of the FIFO when the agent is ready and idle. */
static void agent_kick(struct agent *a)
{
	struct agent_cmd *c;
	int r;

	while (a->ready && !a->inflight && !a->probe_inflight && !a->h->exiting &&
	       (c = TAILQ_FIRST(&a->queue))) {
		TAILQ_REMOVE(&a->queue, c, link);
		a->queued--;
		/* Written at once: no epoll change per command (bevwrite.h). */
		bevwrite_begin(a->bev);
		r = hyper_ctl_encode(bufferevent_get_output(a->bev), c->code,
				     c->data, c->len);
		bevwrite_flush(a->bev);
		if (r < 0) {
			/* Sizes were checked by agent_submit(): only memory
			 * can run out here, and a helper without memory
			 * cannot keep its promises. No callback runs from
			 * here, so that agent_submit() never calls back. */
			helper_log(LOG_ERR, 0, 0, "cannot send %s to the agent: %s",
				   hyper_code_name(c->code), strerror(-r));
			TAILQ_INSERT_HEAD(&a->queue, c, link);
			a->queued++;
			helper_exit(a->h, EXIT_FAILURE, false);
			return;
		}
		helper_log(LOG_INFO, 1, 0, "agent <- %s (%zu bytes)",
			   hyper_code_name(c->code), c->len);
		helper_hexdump(0, "proxy->agent ctl", c->data, c->len);
		free(c->data);
		c->data = NULL;
		a->inflight = c;
	}
}

int agent_submit(struct agent *a, uint32_t code, char *data, size_t len,
		 agent_answer_fn cb, void *ctx, struct agent_cmd **cmd)
{
	_cleanup_free_ char *owned = data;
	struct agent_cmd *c;

	if (cmd)
		*cmd = NULL;
	if (a->queued >= AGENT_QUEUE_MAX)
		return -ENOBUFS;
	if (len > UINT32_MAX - HYPER_CTL_HEADER_SIZE)
		return -EMSGSIZE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->code = code;
	c->data = TAKE_PTR(owned);
	c->len = c->data ? len : 0;
	c->cb = cb;
	c->ctx = ctx;
	TAILQ_INSERT_TAIL(&a->queue, c, link);
	a->queued++;
	if (cmd)
		*cmd = c;
	agent_kick(a);
	return 0;
}

void agent_cancel(struct agent *a, struct agent_cmd *cmd)
{
	if (!a || !cmd)
		return;
	if (cmd == a->inflight) {
		cmd->cb = NULL;	/* its answer is still consumed */
		return;
	}
	TAILQ_REMOVE(&a->queue, cmd, link);
	a->queued--;
	agent_cmd_free(cmd);
}

/* The agent is ready: READY came, or the probe's ACK. */
static void agent_set_ready(struct agent *a, const char *how)
{
	a->ready = true;
	evtimer_del(a->ready_timer);
	evtimer_del(a->probe_timer);
	helper_log(LOG_INFO, 1, 0, "agent is ready (%s)", how);
	helper_on_agent_ready(a->h);
	agent_kick(a);
}

/* The answer to the probe's PING (always the first answer we get). */
static void agent_on_probe_answer(struct agent *a, const struct hyper_ctl_msg *m)
{
	a->probe_inflight = false;
	if (a->ready) {
		agent_kick(a);	/* READY came meanwhile: commands may go */
		return;
	}
	if (m->code == HYPER_ERROR) {
		helper_log_guest(a->h, LOG_WARNING, 0, 0,
				 "agent answered the probe's ping with an error: waiting for READY");
		return;
	}
	agent_set_ready(a, "no READY, but it answers ping: a VM registered again");
}

static void agent_on_probe_timer(evutil_socket_t fd, short what, void *ctx)
{
	struct agent *a = ctx;
	int r;

	if (a->h->exiting || a->ready || a->probe_inflight)
		return;
	bevwrite_begin(a->bev);
	r = hyper_ctl_encode(bufferevent_get_output(a->bev), HYPER_PING, NULL, 0);
	bevwrite_flush(a->bev);
	if (r < 0) {
		helper_log(LOG_WARNING, 0, 0, "cannot send the probe's ping: %s", strerror(-r));
		return;
	}
	a->probe_inflight = true;
	helper_log(LOG_INFO, 1, 0, "no READY from the agent within %u ms: probing it with ping",
		   AGENT_PROBE_MS);
}

/* ACK or ERROR: the answer to the command in flight. */
static void agent_on_answer(struct agent *a, const struct hyper_ctl_msg *m)
{
	bool error = m->code == HYPER_ERROR;
	struct agent_cmd *c = a->inflight;
	const char *text = m->payload ? (const char *)m->payload : "";

	if (a->probe_inflight) {
		agent_on_probe_answer(a, m);
		return;
	}
	if (!c) {
		/* The agent answers nothing we sent: log it, keep going (the
		 * VM alone would suffer from a confused agent). */
		helper_log_guest(a->h, LOG_WARNING, 0, 0, "agent sent %s with no command in flight: ignored",
			   hyper_code_name(m->code));
		return;
	}
	a->inflight = NULL;
	helper_log(LOG_INFO, 1, 0, "agent -> %s for %s (%u bytes)",
		   hyper_code_name(m->code), hyper_code_name(c->code),
		   m->payload_len);
	if (c->cb)
		c->cb(c->ctx, error, text, m->payload_len);
	agent_cmd_free(c);
}

/* processasyncevent: a process's exit in the hyperstart 1.x dialect. */
static void agent_on_async_event(struct agent *a, const struct hyper_ctl_msg *m)
{
	struct payload_async_event ev = { 0 };
	_cleanup_free_ char *err = NULL;
	struct session *s;
	int r;

	r = payload_parse_async_event(m->payload, m->payload_len, &ev, &err);
	if (r != 0) {
		helper_log_guest(a->h, LOG_WARNING, 0, 0, "agent sent an unreadable processasyncevent: %s",
			   err ? err : strerror(-r));
		return;
	}
	if (!ev.event || strcmp(ev.event, "finished") != 0) {
		helper_log_guest(a->h, LOG_INFO, 1, 0, "agent event '%s' for process %s ignored",
			   ev.event ? ev.event : "", ev.process ? ev.process : "");
		goto out;
	}
	s = session_find_process(a->h, ev.container, ev.process);
	if (!s) {
		/* A process of the null session, or one we never started. */
		helper_log_guest(a->h, LOG_INFO, 1, 0, "exit of process %s in container %s (status %d): no session",
			   ev.process ? ev.process : "", ev.container ? ev.container : "",
			   ev.status);
		goto out;
	}
	session_exit_status(s, (uint8_t)ev.status, "processasyncevent");
out:
	payload_async_event_deinit(&ev);
}

static void agent_on_message(struct agent *a, const struct hyper_ctl_msg *m)
{
	uint32_t n;

	/* NEXT comes for every chunk the agent reads: too chatty to dump. */
	if (m->code != HYPER_NEXT)
		helper_hexdump(0, "agent->proxy ctl", m->payload, m->payload_len);
	switch (m->code) {
	case HYPER_READY:
		if (a->ready) {
			helper_log_guest(a->h, LOG_WARNING, 0, 0, "agent sent READY again: ignored");
			return;
		}
		agent_set_ready(a, "READY");
		return;
	case HYPER_NEXT:
		/* Flow control, never an answer. */
		if (hyper_next_count(m, &n) == 0)
			helper_log(LOG_DEBUG, 2, 0, "agent read %u bytes (next)", n);
		return;
	case HYPER_ACK:
	case HYPER_ERROR:
		agent_on_answer(a, m);
		if (!a->h->exiting)
			agent_kick(a);
		return;
	case HYPER_PROCESSASYNCEVENT:
		agent_on_async_event(a, m);
		return;
	default:
		helper_log_guest(a->h, LOG_WARNING, 0, 0, "unexpected %s (%u) from the agent: ignored",
			   hyper_code_name(m->code), m->code);
		return;
	}
}

static void agent_on_read(struct bufferevent *bev, void *ctx)
{
	struct agent *a = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct hyper_ctl_msg m = { 0 };
	const char *why = NULL;
	char reason[128];
	int r;

	/* The length is checked before anything is allocated; a message
	 * over HYPER_CTL_RECV_MAX (which fits one master message) is fatal
	 * for the channel, as its framing cannot be trusted any more. */
	while (!a->h->exiting) {
		r = hyper_ctl_decode(in, HYPER_CTL_RECV_MAX, &m, &why);
		if (r == HYPER_E_INCOMPLETE)
			return;
		if (r != 0) {
			/* The framing is lost: nothing more can be trusted. */
			snprintf(reason, sizeof(reason), "agent ctl channel: %s",
				 r == HYPER_E_INVALID && why ? why : strerror(-r));
			helper_vm_lost(a->h, reason);
			return;
		}
		agent_on_message(a, &m);
		hyper_ctl_msg_deinit(&m);
	}
}

static void agent_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct agent *a = ctx;
	char reason[128];

	if (a->h->exiting)
		return;
	if (what & BEV_EVENT_EOF)
		snprintf(reason, sizeof(reason), "agent ctl channel closed");
	else
		snprintf(reason, sizeof(reason), "agent ctl channel failed: %s",
			 strerror(EVUTIL_SOCKET_ERROR()));
	helper_vm_lost(a->h, reason);
}

static void agent_on_ready_timeout(evutil_socket_t fd, short what, void *ctx)
{
	struct agent *a = ctx;

	if (!a->h->exiting && !a->ready)
		helper_vm_lost(a->h, "agent sent no READY");
}

int agent_new(struct agent **out, struct helper *h, int fd)
{
	struct agent *a;

	a = calloc(1, sizeof(*a));
	if (!a) {
		close(fd);
		return -ENOMEM;
	}
	a->h = h;
	TAILQ_INIT(&a->queue);
	a->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!a->bev)
		close(fd);	/* else the bufferevent closes it */
	a->ready_timer = evtimer_new(h->base, agent_on_ready_timeout, a);
	a->probe_timer = evtimer_new(h->base, agent_on_probe_timer, a);
	if (!a->ready_timer || !a->probe_timer || !a->bev) {
		agent_free(a);
		return -ENOMEM;
	}
	bufferevent_setcb(a->bev, agent_on_read, NULL, agent_on_event, a);
	*out = a;
	return 0;
}

void agent_start(struct agent *a)
{
	/* READY is sent once, to the first client: the master connected us
	 * before anyone else, so it is ours to read (PROTOCOL.md). */
	const struct timeval probe = { AGENT_PROBE_MS / 1000, (AGENT_PROBE_MS % 1000) * 1000 };

	evtimer_add(a->ready_timer, &a->h->wait_timeout);
	/* Only when it comes well before the wait timeout. */
	if (a->h->wait_timeout_ms > 2 * AGENT_PROBE_MS)
		evtimer_add(a->probe_timer, &probe);
	bufferevent_enable(a->bev, EV_READ | EV_WRITE);
}

struct agent *agent_free(struct agent *a)
{
	struct agent_cmd *c;

	if (!a)
		return NULL;
	while ((c = TAILQ_FIRST(&a->queue))) {
		TAILQ_REMOVE(&a->queue, c, link);
		agent_cmd_free(c);
	}
	agent_cmd_free(a->inflight);
	if (a->ready_timer)
		event_free(a->ready_timer);
	if (a->probe_timer)
		event_free(a->probe_timer);
	if (a->bev)
		bufferevent_free(a->bev);
	free(a);
	return NULL;
}
