/*
 * helper.c - the helper as a whole: its channels, the master's messages
 * (one handler table, after ipc.c's validation table), what it reports to
 * the master, and how it ends.
 *
 * Ending: helper_exit() only marks the helper as exiting and activates
 * exit_ev; the teardown runs from that fresh callback, so no module ever
 * sees its own objects freed under it. Every callback checks h->exiting
 * first. The teardown closes the VM's channels, answers nothing more,
 * then waits (bounded) until the master channel's queue is sent - so
 * IPC_H_VM_LOST reaches the master - and, when draining, until the shims
 * have their output; then the loop breaks and run() frees the rest.
 *
 * The master is trusted more than the VM but is still checked: ipc.c
 * validates every message against its table; here an unexpected content
 * (unknown session, duplicate token) is logged and refused, and only
 * this helper's own invariants end it.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>

#include "adopt.h"
#include "agent.h"
#include "console.h"
#include "helper.h"
#include "iochan.h"
#include "ipc.h"
#include "log.h"
#include "request.h"
#include "session.h"
#include "shim.h"
#include "stats.h"

/* How long an exiting helper waits for its last messages to go out. */
#define HELPER_EXIT_POLL_MS	10
#define HELPER_EXIT_DRAIN_MS	2000

/* For helper_log(): the one VM this process serves. */
static const char *helper_cid = "";

void helper_log(int priority, int verbosity, uint64_t io_base,
		const char *fmt, ...)
{
	char msg[2048];
	char seq[24];
	va_list ap;

	/* Notices and worse are also the VM's "last error" (stats.c). */
	if (verbosity > log_get_level() && priority > LOG_NOTICE)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (priority <= LOG_NOTICE)
		stats_note_error(msg);
	if (verbosity > log_get_level())
		return;
	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)io_base);
	log_submit(priority, verbosity, NULL,
		   LOG_FIELDS({ "CC_CONTAINER_ID", helper_cid },
			      { "CC_IO_BASE", io_base ? seq : NULL }),
		   "%s", msg);
}

static uint64_t helper_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void helper_log_guest(struct helper *h, int priority, int verbosity,
		      uint64_t io_base, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (verbosity > log_get_level())
		return;
	if (!ratelimit_allow(&h->guest_log, helper_now_ms())) {
		/* One report per second at most, whatever the flood. */
		const struct timeval second = { 1, 0 };

		if (h->guest_log_ev && !evtimer_pending(h->guest_log_ev, NULL))
			evtimer_add(h->guest_log_ev, &second);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	helper_log(priority, verbosity, io_base, "%s", msg);
}

static void helper_on_guest_log_timer(evutil_socket_t fd, short what, void *ctx)
{
	struct helper *h = ctx;
	uint64_t n = ratelimit_take_suppressed(&h->guest_log);

	if (n)
		helper_log(LOG_WARNING, 0, 0,
			   "%llu log records caused by the VM were suppressed "
			   "(more than %u at once or %u per second)",
			   (unsigned long long)n, HELPER_GUEST_LOG_BURST, HELPER_GUEST_LOG_PER_SEC);
}

void helper_hexdump(uint64_t io_base, const char *what, const void *data,
		    size_t len)
{
	char seq[24];

	if (log_get_level() < 2)
		return;
	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)io_base);
	log_hexdump(LOG_FIELDS({ "CC_CONTAINER_ID", helper_cid },
			       { "CC_IO_BASE", io_base ? seq : NULL }),
		    what, data, len);
}

/* ---- to the master --------------------------------------------------- */

static void helper_send(struct helper *h, uint32_t type, uint32_t id,
			const void *fixed, size_t fixed_len, const void *var,
			size_t var_len)
{
	int r;

	if (!h->ipc)
		return;
	r = ipc_channel_send(h->ipc, type, id, fixed, fixed_len, var, var_len, -1);
	if (r == 0 || r == -EPIPE)	/* -EPIPE: on_close is on its way */
		return;
	/* A promise to the master cannot be kept (its queue is full, or a
	 * message would not fit): a helper that loses answers is broken. */
	helper_log(LOG_ERR, 0, 0, "cannot send %s to the master: %s",
		   ipc_type_name(type), strerror(-r));
	helper_exit(h, EXIT_FAILURE, false);
}

void helper_send_answer(struct helper *h, uint32_t id, bool error,
			const void *text, size_t len)
{
	struct ipc_hyper_answer a = { .error = error, .text_len = (uint32_t)len };

	helper_send(h, IPC_H_HYPER_ANSWER, id, &a, sizeof(a), text, len);
}

void helper_send_shim_gone(struct helper *h, uint64_t io_base, bool released)
{
	struct ipc_shim_gone g = { .io_base = io_base, .released = released };

	helper_send(h, IPC_H_SHIM_GONE, 0, &g, sizeof(g), NULL, 0);
}

void helper_on_agent_ready(struct helper *h)
{
	struct ipc_empty e = { 0 };

	helper_send(h, IPC_H_READY, 0, &e, sizeof(e), NULL, 0);
}

void helper_vm_lost(struct helper *h, const char *reason)
{
	struct ipc_vm_lost l = { .reason_len = (uint32_t)strlen(reason) };

	if (h->exiting)
		return;
	helper_log(h->unregistered ? LOG_INFO : LOG_WARNING, 0, 0, "VM lost: %s", reason);
	helper_send(h, IPC_H_VM_LOST, 0, &l, sizeof(l), reason, l.reason_len);
	/* Not this helper's failure: the reason went to the master. */
	helper_exit(h, EXIT_SUCCESS, true);
}

void helper_congestion(struct helper *h, int delta)
{
	/* A counter, not a scan: the io loop checks it before every
	 * message. The io channel resumes when the last session drains. */
	h->n_congested += delta;
	if (h->n_congested == 0)
		iochan_resume(h->io);
}

/* ---- from the master ------------------------------------------------- */

static void helper_on_hyper(struct helper *h, const struct ipc_view *v)
{
	request_handle(h, v->id, v->fixed, v->var, v->var_len);
}

static void helper_on_add_token(struct helper *h, const struct ipc_view *v)
{
	const struct ipc_token *t = v->fixed;
	int r;

	r = session_new(h, t->io_base, (const char *)v->var, v->var_len);
	if (r < 0)
		helper_log(LOG_ERR, 0, t->io_base, "token refused: %s",
			   r == -EEXIST ? "its sequence numbers are taken" :
			   r == -EINVAL ? "invalid ioBase" : strerror(-r));
	else
		helper_log(LOG_INFO, 1, t->io_base, "session added");
}

static void helper_on_shim(struct helper *h, const struct ipc_view *v)
{
	shim_adopt(h, v->fd, v->fixed, v->var, v->var_len);
}

static void helper_on_unregister(struct helper *h, const struct ipc_view *v)
{
	h->unregistered = true;
	helper_log(LOG_INFO, 1, 0, "VM unregistered: draining until its io channel closes");
}

static void helper_on_stats(struct helper *h, const struct ipc_view *v)
{
	struct ipc_stats st;
	const char *err;

	stats_fill(h, &st, &err);
	helper_send(h, IPC_H_STATS, v->id, &st, sizeof(st), err, st.error_len);
}

static void helper_on_shutdown(struct helper *h, const struct ipc_view *v)
{
	helper_log(LOG_INFO, 1, 0, "shutdown requested by the master");
	helper_exit(h, EXIT_SUCCESS, false);
}

/* The master's watchdog: answering proves this loop still turns. */
static void helper_on_ping(struct helper *h, const struct ipc_view *v)
{
	struct ipc_empty e = { 0 };

	helper_send(h, IPC_H_PONG, v->id, &e, sizeof(e), NULL, 0);
}

/* A new master (restart, upgrade) takes us back: adopt.c. */
static void helper_on_adopt(struct helper *h, const struct ipc_view *v)
{
	adopt_answer(h, v->id, v->fixed);
}

/* Master -> helper types (ipc.c has checked sizes, direction and fds). */
static const struct {
	uint32_t type;
	bool takes_fd;
	void (*fn)(struct helper *h, const struct ipc_view *v);
} helper_handlers[] = {
	{ IPC_M_HYPER, false, helper_on_hyper },
	{ IPC_M_ADD_TOKEN, false, helper_on_add_token },
	{ IPC_M_SHIM, true, helper_on_shim },
	{ IPC_M_UNREGISTER, false, helper_on_unregister },
	{ IPC_M_SHUTDOWN, false, helper_on_shutdown },
	{ IPC_M_STATS, false, helper_on_stats },
	{ IPC_M_PING, false, helper_on_ping },
	{ IPC_M_ADOPT, false, helper_on_adopt },
};

static void helper_on_ipc_message(struct ipc_channel *ch,
				  const struct ipc_view *v, void *ctx)
{
	struct helper *h = ctx;

	for (size_t i = 0; i < sizeof(helper_handlers) / sizeof(helper_handlers[0]); i++) {
		if (helper_handlers[i].type != v->type)
			continue;
		/* An exiting helper starts nothing new; a shim handed over
		 * now is closed (the master learns of the exit anyway). */
		if (h->exiting)
			break;
		/* An fd lost at our fd limit: the handler refuses what it
		 * was for (shim_adopt() with fd -1). */
		if (helper_handlers[i].takes_fd && v->fd < 0 && !v->fd_lost) {
			helper_log(LOG_ERR, 0, 0, "%s without its fd: ignored", ipc_type_name(v->type));
			return;
		}
		/* The callback owns v->fd (ipc.h): a handler that takes
		 * one consumes it, any other fd is closed here. */
		helper_handlers[i].fn(h, v);
		if (!helper_handlers[i].takes_fd && v->fd >= 0)
			close(v->fd);
		return;
	}
	if (!h->exiting)
		helper_log(LOG_WARNING, 0, 0, "unexpected %s from the master: ignored",
			   ipc_type_name(v->type));
	if (v->fd >= 0)
		close(v->fd);
}

static void helper_on_ipc_close(struct ipc_channel *ch, int err, const char *why,
				void *ctx)
{
	struct helper *h = ctx;

	h->ipc = ipc_channel_free(ch);
	if (h->exiting)
		return;
	if (err == 0) {
		/* EOF without IPC_M_SHUTDOWN: the master crashed or was
		 * killed. Nobody is left to answer for this VM: what the shims
		 * have been sent already reaches them (bounded), then they get
		 * EOF and the helper ends - never an orphan for good. */
		helper_log(LOG_WARNING, 0, 0, "the master is gone: delivering what the shims "
			   "hold (at most %u ms), then exiting", HELPER_ORPHAN_GRACE_MS);
		h->master_gone = true;
		helper_exit(h, EXIT_SUCCESS, true);
		return;
	}
	helper_log(LOG_ERR, 0, 0, "master channel failed: %s",
		   err == IPC_E_INVALID && why ? why : strerror(-err));
	helper_exit(h, EXIT_FAILURE, false);
}

/* ---- lifetime -------------------------------------------------------- */

/*
 * Close the VM side and everything that serves it; keep shims flushing.
 * Order matters: requests and shims hold handles on agent commands and
 * cancel them when freed, so they go before the agent; sessions detach
 * their shims (which then flush as orphans) before the io channel goes.
 */
static void helper_teardown(struct helper *h)
{
	struct request *r;
	struct session *s;
	struct shim *sh;

	while ((r = TAILQ_FIRST(&h->requests)))
		request_free(r);
	while ((s = TAILQ_FIRST(&h->sessions)))
		session_free(s);	/* attached shims: flush, then close */
	if (!h->drain_on_exit)
		while ((sh = TAILQ_FIRST(&h->orphans)))
			shim_free(sh);
	h->agent = agent_free(h->agent);
	h->io = iochan_free(h->io);
	h->console = console_free(h->console);
}

static void helper_on_exit(evutil_socket_t fd, short what, void *ctx)
{
	struct helper *h = ctx;
	const struct timeval poll = { 0, HELPER_EXIT_POLL_MS * 1000 };
	unsigned int limit = HELPER_EXIT_DRAIN_MS;

	/* First tick: tear down. Later ticks: poll until the master has
	 * our last messages and the shims their output, or time is up. */
	if (h->exit_ticks++ == 0)
		helper_teardown(h);
	if (h->wait_timeout_ms < limit)
		limit = h->wait_timeout_ms;
	if (h->master_gone)
		limit = HELPER_ORPHAN_GRACE_MS;
	if ((!h->ipc || ipc_channel_queued(h->ipc) == 0) &&
	    TAILQ_EMPTY(&h->orphans)) {
		event_base_loopbreak(h->base);
		return;
	}
	if ((h->exit_ticks - 1) * HELPER_EXIT_POLL_MS >= limit) {
		if (h->master_gone)
			helper_log(LOG_WARNING, 0, 0, "the master is gone and the shims did not "
				   "take their output within %u ms: exiting", limit);
		else
			helper_log(LOG_WARNING, 0, 0, "exiting with %zu messages to the master unsent",
				   h->ipc ? ipc_channel_queued(h->ipc) : 0);
		event_base_loopbreak(h->base);
		return;
	}
	evtimer_add(h->exit_ev, &poll);
}

void helper_exit(struct helper *h, int status, bool drain)
{
	if (h->exiting)
		return;
	h->exiting = true;
	h->exit_status = status;
	h->drain_on_exit = drain;
	event_active(h->exit_ev, EV_TIMEOUT, 0);
}

int helper_init(struct helper *h, struct event_base *base,
		const char *container_id, uint32_t wait_timeout_ms,
		int console_fd, unsigned int nofile, struct ipc_channel *ch)
{
	int r;

	h->base = base;
	h->container_id = container_id;
	helper_cid = container_id;
	h->wait_timeout_ms = wait_timeout_ms;
	h->wait_timeout.tv_sec = wait_timeout_ms / 1000;
	h->wait_timeout.tv_usec = (wait_timeout_ms % 1000) * 1000;
	TAILQ_INIT(&h->sessions);
	TAILQ_INIT(&h->orphans);
	TAILQ_INIT(&h->requests);
	h->guest_log = (struct ratelimit)RATELIMIT_INIT(HELPER_GUEST_LOG_BURST,
							HELPER_GUEST_LOG_PER_SEC);

	/* Every shim holds one fd; the reserve covers the rest. */
	h->shims_max = nofile > HELPER_RESERVED_FDS ? nofile - HELPER_RESERVED_FDS : 0;
	if (h->shims_max > IPC_HELPER_SHIMS_MAX)
		h->shims_max = IPC_HELPER_SHIMS_MAX;
	if (h->shims_max < IPC_HELPER_SHIMS_MAX)
		helper_log(LOG_WARNING, 0, 0, "fd limit %u: at most %u shims (not %u)",
			   nofile, h->shims_max, IPC_HELPER_SHIMS_MAX);

	/* Each constructor consumes its fd; on failure the fds of the
	 * steps not reached are closed here. The master channel comes last:
	 * its hello tells the master we are built (confined, loop ready). */
	h->exit_ev = event_new(base, -1, 0, helper_on_exit, h);
	h->guest_log_ev = evtimer_new(base, helper_on_guest_log_timer, h);
	if (!h->exit_ev || !h->guest_log_ev) {
		close(IPC_FD_CTL);
		r = -ENOMEM;
		goto fail_io;
	}
	r = agent_new(&h->agent, h, IPC_FD_CTL);
	if (r < 0)
		goto fail_io;
	r = iochan_new(&h->io, h, IPC_FD_IO);
	if (r < 0)
		goto fail_console;
	if (console_fd >= 0) {
		r = console_new(&h->console, h, console_fd);
		console_fd = -1;
		if (r < 0)
			goto fail_channel;
	}
	if (ch) {
		/* A pooled helper: the channel is up (hellos exchanged). */
		h->ipc = ch;
		ipc_channel_set_handlers(ch, helper_on_ipc_message, helper_on_ipc_close, h);
		return 0;
	}
	return ipc_channel_new(&h->ipc, base, IPC_FD_CHANNEL, IPC_DIR_TO_HELPER,
			       helper_on_ipc_message, helper_on_ipc_close, h);
fail_io:
	close(IPC_FD_IO);
fail_console:
	if (console_fd >= 0)
		close(console_fd);
fail_channel:
	if (!ch)
		close(IPC_FD_CHANNEL);	/* else the caller's to free */
	return r;
}

void helper_start(struct helper *h)
{
	agent_start(h->agent);
	iochan_start(h->io);
	console_start(h->console);
}

void helper_deinit(struct helper *h)
{
	struct shim *sh;

	h->exiting = true;
	h->drain_on_exit = false;
	helper_teardown(h);
	while ((sh = TAILQ_FIRST(&h->orphans)))
		shim_free(sh);
	h->ipc = ipc_channel_free(h->ipc);
	if (h->exit_ev)
		event_free(h->exit_ev);
	h->exit_ev = NULL;
	if (h->guest_log_ev) {
		/* What was suppressed last still gets its record. */
		helper_on_guest_log_timer(-1, 0, h);
		event_free(h->guest_log_ev);
	}
	h->guest_log_ev = NULL;
}
