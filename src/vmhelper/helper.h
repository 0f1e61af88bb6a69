/*
 * helper.h - the state of one cc-proxy-vmhelper: the one VM it serves,
 * its channel to the master, and the lifetime of the process.
 *
 * Everything lives in one struct helper owned by main.c's run(). The
 * modules hang off it:
 *   agent.c    the agent's ctl channel (fd 4): READY, the command FIFO
 *   iochan.c   the agent's io channel (fd 5): demultiplexing, stdin pump
 *   session.c  one per token: routing, exit status, output backlog
 *   shim.c     shim connections handed over by the master
 *   shimlog.c  a shim's log stream frames, as records
 *   request.c  Hyper requests from the master (IPC_M_HYPER)
 *   console.c  the VM console, logged at level 3 (fd 6, optional)
 *   stats.c    the counters `cc-proxyctl status` shows (IPC_M_STATS)
 * Single-threaded: every callback runs from the one event loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "ipc.h"
#include "ratelimit.h"
#include "stats.h"

/* Log records the guest can cause (an unsolicited ACK, READY again, an
 * unknown code, stray io): a burst of this many, then this many per
 * second; the rest are counted and reported by one record a second. */
/* The master gone (channel EOF, no IPC_M_SHUTDOWN): the bound on
 * delivering the shims' output before they get EOF and the helper ends. */
#define HELPER_ORPHAN_GRACE_MS		5000u

#define HELPER_GUEST_LOG_BURST		20u
#define HELPER_GUEST_LOG_PER_SEC	5u

struct event;
struct event_base;
struct ipc_channel;
struct agent;
struct iochan;
struct console;
struct session;
struct shim;
struct request;

/* Flow-control bounds (bytes). Nothing accepted is ever dropped: when a
 * bound is reached the source stops being read instead - for at most the
 * wait timeout without progress, after which the stalled session's further
 * output is discarded (session.c; DESIGN.md "Slow consumers"). */
#define HELPER_SHIM_OUT_HIGH	(256u * 1024u)	/* a shim's unsent output: stall io, stop
						 * reading its commands */
#define HELPER_SHIM_OUT_LOW	(64u * 1024u)	/* ... resume below this */
/* A shim's output past this is not a slow reader but a broken one: it is
 * disconnected. Pausing its commands at the high mark and the io channel's
 * read-ahead keep a live one far below. */
#define HELPER_SHIM_OUT_MAX	(4u * 1024u * 1024u)
#define HELPER_STDIN_HIGH	(64u * 1024u)	/* a session's queued stdin: stop reading its shim */
#define HELPER_STDIN_LOW	(16u * 1024u)	/* ... resume below this */
#define HELPER_IO_OUT_HIGH	(64u * 1024u)	/* unsent io toward the agent: stop pumping stdin */
#define HELPER_IO_OUT_LOW	(16u * 1024u)	/* ... pump again below this */
/* fds a helper holds besides its shims: its 8 fixed ones, libevent's
 * (epoll, signal pair) and room for refused shims while their error
 * response is flushed. */
#define HELPER_RESERVED_FDS	24u
/* Its RLIMIT_NOFILE: IPC_HELPER_SHIMS_MAX shims plus the reserve. A lower
 * inherited hard limit lowers the shim cap instead (helper_init()). */
#define HELPER_MAX_FDS		(IPC_HELPER_SHIMS_MAX + HELPER_RESERVED_FDS)

TAILQ_HEAD(session_list, session);
TAILQ_HEAD(shim_list, shim);
TAILQ_HEAD(request_list, request);

struct helper {
	struct event_base *base;	/* borrowed from run() */
	struct ipc_channel *ipc;	/* fd 3; NULL once closed */
	struct agent *agent;		/* fd 4 */
	struct iochan *io;		/* fd 5 */
	struct console *console;	/* fd 6 or NULL */
	struct session_list sessions;
	struct shim_list orphans;	/* shims without a session: rejected or closing */
	struct request_list requests;	/* IPC_M_HYPER not yet answered */
	const char *container_id;	/* borrowed from argv */
	uint32_t wait_timeout_ms;
	struct timeval wait_timeout;	/* the same, for evtimers */
	unsigned int n_congested;	/* sessions whose output is above the high mark */
	unsigned int n_shims;		/* struct shim alive: attached or orphan */
	unsigned int shims_max;		/* more are refused (shim_adopt()) */
	uint64_t next_process_n;	/* for generated process ids "cc-proxy-N" */
	bool unregistered;		/* IPC_M_UNREGISTER seen */
	bool exiting;			/* helper_exit() called: callbacks stand down */
	bool drain_on_exit;		/* flush shims before exiting */
	bool master_gone;		/* channel EOF without IPC_M_SHUTDOWN */
	int exit_status;
	struct event *exit_ev;		/* deferred teardown, then the drain poll */
	unsigned int exit_ticks;
	struct helper_stats stats;	/* for IPC_M_STATS (stats.h) */
	/* Records the guest can trigger, rate-limited (helper_log_guest()). */
	struct ratelimit guest_log;
	struct event *guest_log_ev;	/* reports what was suppressed */
};

/**
 * helper_init() - build the helper's channels on @base: the master channel
 * (fd 3, sends its hello), the agent's ctl (fd 4) and io (fd 5) and, when
 * @console_fd >= 0, the console. Nothing is read from the VM until
 * helper_start(). Called after the identity drop and before seccomp.
 * @nofile: the RLIMIT_NOFILE set (confine_limits()): the shim cap is
 *          IPC_HELPER_SHIMS_MAX, or less when the limit leaves less room
 * @ch:     a pooled helper's channel on fd 3 (vmhelper/pool.c), taken
 *          over on success; NULL: the channel is created here
 * Ownership: fds 4, 5 and @console_fd are consumed in every case, fd 3
 * too when @ch is NULL (else @ch stays the caller's on failure).
 * Return: 0 or -errno (the caller exits; helper_deinit() is still safe).
 */
int helper_init(struct helper *h, struct event_base *base,
		const char *container_id, uint32_t wait_timeout_ms,
		int console_fd, unsigned int nofile, struct ipc_channel *ch);

/**
 * helper_start() - once seccomp is on: start reading the VM (ctl, io,
 * console) and the READY timer.
 */
void helper_start(struct helper *h);

/** helper_deinit() - free everything helper_init() built. */
void helper_deinit(struct helper *h);

/**
 * helper_exit() - leave the event loop with @status. The teardown is
 * deferred to a fresh callback, so the caller may go on using its own
 * objects until it returns; every callback checks h->exiting first.
 * @drain: let shims receive what they are owed (bounded) before exiting.
 * The first call wins.
 */
void helper_exit(struct helper *h, int status, bool drain);

/**
 * helper_vm_lost() - the VM's channels closed or failed: report
 * IPC_H_VM_LOST with @reason, close the shims once flushed, exit.
 */
void helper_vm_lost(struct helper *h, const char *reason);

/** helper_on_agent_ready() - the agent said READY: report IPC_H_READY. */
void helper_on_agent_ready(struct helper *h);

/**
 * helper_send_answer() - IPC_H_HYPER_ANSWER for request @id: the agent's
 * ACK payload (@error false) or an error text.
 */
void helper_send_answer(struct helper *h, uint32_t id, bool error,
			const void *text, size_t len);

/** helper_send_shim_gone() - IPC_H_SHIM_GONE for @io_base. */
void helper_send_shim_gone(struct helper *h, uint64_t io_base, bool released);

/**
 * helper_congestion() - a session's output crossed a watermark: @delta is
 * +1 (above the high mark) or -1 (back below the low one). The io channel
 * is read only while no session is congested.
 */
void helper_congestion(struct helper *h, int delta);

/**
 * helper_log() - a record carrying this VM's container id and, when
 * @io_base is non-zero, the session's CC_IO_BASE. Formatting is skipped
 * when @verbosity is above the current level.
 */
void helper_log(int priority, int verbosity, uint64_t io_base,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * helper_log_guest() - helper_log() for a record the VM can cause at will:
 * rate-limited per helper (HELPER_GUEST_LOG_BURST, ..._PER_SEC), so a
 * guest cannot flood the host's log. What is suppressed is counted and
 * reported by one record at most once a second.
 */
void helper_log_guest(struct helper *h, int priority, int verbosity,
		      uint64_t io_base, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/** helper_hexdump() - log_hexdump() with the same fields (level 2). */
void helper_hexdump(uint64_t io_base, const char *what, const void *data,
		    size_t len);
