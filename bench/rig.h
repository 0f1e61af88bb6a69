/*
 * rig.h - the test rig of the benchmarks: a private temp directory, the
 * real cc-proxy master and simulated VMs (cc-proxy-simvm) started in it,
 * synchronised on their readiness events (never on sleeps), killed at the
 * end; CPU time and clock readings; latency statistics.
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

struct rig_vm {
	pid_t pid;		/* the simvm, or 0 */
	char ctl[108];		/* its ctl and io socket paths (sun_path) */
	char io[108];
	char log[4096];		/* its stderr */
};

struct rig {
	char dir[64];		/* the private temp directory */
	char bindir[4096];	/* where cc-proxy* are (the build tree) */
	char sock[108];		/* the master's socket */
	char proxy_log[4096];
	pid_t proxy;		/* the master, or 0 */
	unsigned n_vms;		/* VMs started so far, for unique names */
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
 * rig_start_vm() - start `cc-proxy-simvm --ctl P --io P --notify-fd N`
 * plus @extra (e.g. "--dialect", "legacy"), and wait for "READY\n" on the
 * notify pipe. Exits on failure.
 */
void rig_start_vm(struct rig *r, struct rig_vm *vm, const char *const *extra);

/** rig_stop_vm() - SIGTERM, then SIGKILL after a grace period; reap. */
void rig_stop_vm(struct rig *r, struct rig_vm *vm);

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
 * master spawned for a VM), or 0. Scans /proc.
 */
pid_t rig_child_of(pid_t parent);

/**
 * rig_print_stats() - sort @v (n samples, in @unit) in place and print
 * "label: n=N mean=… p50=… p99=… max=… unit".
 */
void rig_print_stats(const char *label, double *v, size_t n, const char *unit);
