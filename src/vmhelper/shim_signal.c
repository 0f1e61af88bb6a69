/*
 * shim_signal.c - a shim's Signal command (shim_priv.h): killcontainer
 * (or winsize for SIGWINCH) relayed to the agent once the process runs.
 *
 * While a Signal is served the shim is not read (SHIM_PAUSE_COMMAND), so
 * it gets exactly one response, in order. A Signal for a process not yet
 * started waits for it, at most the wait timeout; SIGKILL or SIGTERM for
 * one that never will start (no command on its way) ends the session
 * with ProcessExited(0), as the runtime expects. Only SIGWINCH reaches a
 * process started by execcmd (the agent kills containers, not processes).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <event2/event.h>

#include "agent.h"
#include "cleanup.h"
#include "frame.h"
#include "helper.h"
#include "hyper.h"
#include "log.h"
#include "payload.h"
#include "session.h"
#include "shim.h"
#include "shim_priv.h"

static void shim_signal_done(struct shim *sh, const char *error)
{
	shim_respond(sh, FRAME_CMD_SIGNAL, error);
	sh->sig_active = false;
	sh->sig_cmd = NULL;
	evtimer_del(sh->sig_timer);
	shim_unpause(sh, SHIM_PAUSE_COMMAND);
}

static void shim_on_signal_answer(void *ctx, bool error, const char *text, size_t len)
{
	struct shim *sh = ctx;

	sh->sig_cmd = NULL;
	if (error)
		shim_signal_done(sh, len ? text : "the agent returned an error");
	else
		shim_signal_done(sh, NULL);
}

/* Send the Signal to the agent if the process runs; else wait or answer. */
void shim_signal_try(struct shim *sh)
{
	struct session *s = sh->s;
	int signo = sh->sig.signal_number;
	uint32_t code = HYPER_KILLCONTAINER;
	char *payload;
	int r;

	if (!s->started) {
		if (!s->req && (signo == SIGKILL || signo == SIGTERM)) {
			/* Nothing runs and nothing is on its way: let the
			 * shim exit, as the runtime expects. */
			helper_log(LOG_INFO, 1, s->io_base,
				   "signal %d for a process never started: ProcessExited(0)", signo);
			shim_signal_done(sh, NULL);
			session_exit_now(s, 0);
			return;
		}
		if (!evtimer_pending(sh->sig_timer, NULL))
			evtimer_add(sh->sig_timer, &sh->h->wait_timeout);
		return;
	}
	evtimer_del(sh->sig_timer);
	if (signo == SIGWINCH) {
		code = HYPER_WINSIZE;
		payload = payload_build_winsize(s->io_base, sh->sig.rows, sh->sig.columns);
	} else if (s->is_exec || !s->container_id) {
		shim_signal_done(sh, "only SIGWINCH can be sent to a process started by execcmd");
		return;
	} else {
		payload = payload_build_killcontainer(s->container_id, signo);
	}
	if (!payload) {
		shim_signal_done(sh, "out of memory");
		return;
	}
	r = agent_submit(sh->h->agent, code, payload, strlen(payload),
			 shim_on_signal_answer, sh, &sh->sig_cmd);
	if (r < 0)
		shim_signal_done(sh, r == -ENOBUFS ? "too many commands wait for the agent"
				 : "cannot queue the signal");
}

void shim_on_signal_timeout(evutil_socket_t fd, short what, void *ctx)
{
	struct shim *sh = ctx;

	if (!sh->h->exiting && sh->sig_active && !sh->sig_cmd)
		shim_signal_done(sh, "the process was not started in time");
}

void shim_on_signal(struct shim *sh, const struct frame *f)
{
	_cleanup_free_ char *err = NULL;
	int r;

	r = payload_parse_signal(f->payload, f->payload_len, &sh->sig, &err);
	if (r != 0) {
		shim_respond(sh, FRAME_CMD_SIGNAL, err ? err : "invalid Signal");
		return;
	}
	helper_log(LOG_INFO, 1, sh->io_base, "Signal %d from the shim", sh->sig.signal_number);
	sh->sig_active = true;
	shim_pause(sh, SHIM_PAUSE_COMMAND);
	shim_signal_try(sh);
}
