/*
 * rig.h - the test rig of the benchmarks: a private temp directory, the
 * real cc-proxy master started in it, synchronised on its readiness
 * (never on sleeps), lean agents (agent.h); everything started is
 * killed at the end; CPU time, memory and clock readings.
 *
 * A benchmark never fails because of speed: a rig_* function that cannot
 * set things up reports why (with the tail of the daemons' logs) and
 * exits with status 1 after killing whatever it started.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bound on every wait for a daemon (readiness, answers, exit). */
#define RIG_TIMEOUT_MS	30000

struct rig {
	char dir[64];		/* the private temp directory */
	char bindir[4096];	/* where cc-proxy* are (the build tree) */
	char sock[108];		/* the master's socket */
	char proxy_log[4096];
	pid_t proxy;		/* the master, or 0 */
};

/**
 * rig_init() - make the temp directory and find the binaries: in
 * $CC_PROXY_BUILDDIR when set, else in the current directory (make bench
 * runs from the build tree). Exits on failure.
 */
void rig_init(struct rig *r);

/**
 * rig_start_proxy() - start `cc-proxy --socket-path DIR/proxy.sock` plus
 * @extra (NULL-terminated, may be NULL), with NOTIFY_SOCKET pointing at a
 * datagram socket of ours, and wait for its "READY=1". Exits on failure.
 */
void rig_start_proxy(struct rig *r, const char *const *extra);

/**
 * rig_track() - have the rig stop @pid (a child of ours, e.g. a lean
 * agent) in rig_fini() and rig_fail().
 */
void rig_track(pid_t pid);

/**
 * rig_children() - up to @max processes whose parent is @parent, into
 * @pids (one scan of /proc), leaving out idle helpers of the master's
 * pool (cc-proxy --helper-pool): the helpers serving a VM. Return: how many.
 */
size_t rig_children(pid_t parent, pid_t *pids, size_t max);

/** rig_children_all() - rig_children() with the idle helpers too. */
size_t rig_children_all(pid_t parent, pid_t *pids, size_t max);

/**
 * rig_pss_kib() - the proportional set size of @pid in KiB
 * (/proc/PID/smaps_rollup), or -1 when unreadable.
 */
long rig_pss_kib(pid_t pid);

/** rig_fini() - stop the master, remove the temp directory. */
void rig_fini(struct rig *r);

/**
 * rig_fail() - print "setup: <message>" and the tails of the daemons'
 * logs, stop everything started, exit(1).
 */
__attribute__((noreturn, format(printf, 1, 2)))
void rig_fail(const char *fmt, ...);

/** rig_now() - CLOCK_MONOTONIC in seconds. */
double rig_now(void);

/**
 * rig_cpu() - utime + stime of @pid in seconds (/proc/PID/stat, in clock
 * ticks: 10 ms granularity), or -1 when it is gone.
 */
double rig_cpu(pid_t pid);

/**
 * rig_cpu_exact() - the CPU time of @pid's main thread in seconds from
 * /proc/PID/schedstat (nanoseconds, user + system), or -1 when it is gone
 * or the kernel lacks schedstats.
 */
double rig_cpu_exact(pid_t pid);

/**
 * rig_child_of() - a process whose parent is @parent (the helper the
 * master spawned for a VM, never an idle one of its pool), or 0. Scans /proc.
 */
pid_t rig_child_of(pid_t parent);
