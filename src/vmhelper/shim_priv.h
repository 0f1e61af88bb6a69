/*
 * shim_priv.h - a shim connection's state, shared by shim.c (the
 * connection: reading, frames, output, lifetime) and shim_signal.c (the
 * Signal command). Nothing outside these two files includes it: the
 * rest of the helper sees struct shim through shim.h only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <event2/util.h>

#include "payload.h"

struct frame;

enum {
	SHIM_PAUSE_COMMAND = 1 << 0,	/* a Signal waits for its answer */
	SHIM_PAUSE_STDIN = 1 << 1,	/* the session's stdin queue is full */
	SHIM_PAUSE_OUTPUT = 1 << 2,	/* its output is above HELPER_SHIM_OUT_HIGH */
};

struct shim {
	TAILQ_ENTRY(shim) link;		/* in h->orphans while orphan */
	struct helper *h;
	struct session *s;		/* NULL once detached */
	struct bufferevent *bev;	/* output only */
	struct event *read_ev;		/* persistent; added while reading */
	struct evbuffer *in;		/* frames from the shim, not served yet */
	bool reading;
	uint64_t io_base;		/* for logs, also once detached */
	pid_t pid;			/* SO_PEERCRED, for logs */
	unsigned int paused;		/* SHIM_PAUSE_* */
	bool closing;			/* no more input; freed once flushed */
	bool orphan;
	struct event *close_ev;		/* frees the shim (now, or at the flush bound) */
	struct event *stdin_timer;	/* stdin waits for the process to start */
	/* The Signal being served. */
	bool sig_active;
	struct payload_signal sig;
	struct event *sig_timer;	/* waiting for the process to start */
	struct agent_cmd *sig_cmd;	/* at the agent */
	uint64_t drained;		/* bytes the shim has taken from its output */
};

/* shim.c */
/** shim_respond() - a response to @opcode: ok when @msg is NULL, else an
 * error with @msg. */
void shim_respond(struct shim *sh, uint8_t opcode, const char *msg);
/** shim_pause() / shim_unpause() - stop or resume reading the shim for
 * the reason @why (SHIM_PAUSE_*); it is read when no reason is left. */
void shim_pause(struct shim *sh, unsigned int why);
void shim_unpause(struct shim *sh, unsigned int why);

/* shim_signal.c */
/** shim_on_signal() - serve a Signal frame: parse, pause, send or wait. */
void shim_on_signal(struct shim *sh, const struct frame *f);
/** shim_signal_try() - the Signal waiting for its process: send it now
 * if the process runs, answer if it never will, else keep waiting. */
void shim_signal_try(struct shim *sh);
/** shim_on_signal_timeout() - sh->sig_timer: the process did not start
 * within the wait timeout. */
void shim_on_signal_timeout(evutil_socket_t fd, short what, void *ctx);
