/*
 * lifecycle_util.h - what check_lifecycle.c needs beyond the harness
 * (harness.h, tclient.h, texec.h): looking at the master and its helpers
 * from the outside through /proc and ps(1), waiting for a process to end
 * (pidfd: an event, never a sleep; every wait bounded), the records of
 * simvm --record-ctl, and the master started under valgrind.
 *
 * Like the harness, every function asserts (Check) instead of returning
 * errors, unless its comment says otherwise. Symbols carry the prefix lu_.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"
#include "tclient.h"

/* ---- processes ---------------------------------------------------------- */

/**
 * lu_find_helper() - the child of @master whose argv holds
 * "--container-id @id" (asserts there is at most one).
 * Return: its pid, or 0 when there is none.
 */
pid_t lu_find_helper(pid_t master, const char *id);

/** lu_helper_of() - like lu_find_helper(), and asserts that it exists. */
pid_t lu_helper_of(pid_t master, const char *id);

/** lu_count_children() - how many processes have @master as parent. */
size_t lu_count_children(pid_t master);

/**
 * lu_ps_children() - the output of `ps -o pid,args --ppid @master`
 * (header line included), malloc'd. Return: NULL when ps(1) cannot be run.
 */
char *lu_ps_children(pid_t master);

/**
 * lu_pidfd() - pidfd_open(@pid) for any process (the helpers are the
 * master's children, not ours). Return: the fd, or -1 when it is gone.
 */
int lu_pidfd(pid_t pid);

/**
 * lu_wait_gone() - wait up to @timeout_ms until the process of @pidfd
 * has exited (a zombie counts: reaping is its parent's business).
 * Return: true when it exited.
 */
bool lu_wait_gone(int pidfd, int timeout_ms);

/** lu_cpu_ms() - user + system CPU time of @pid so far, in ms (/proc/PID/stat). */
long long lu_cpu_ms(pid_t pid);

/* ---- file descriptors --------------------------------------------------- */

#define LU_FDS_MAX 256

/* The open fds of a process and what each refers to ("socket:[N]", a path). */
struct lu_fds {
	size_t n;
	int fd[LU_FDS_MAX];
	char target[LU_FDS_MAX][96];
};

/** lu_fds_read() - @pid's fds from /proc/PID/fd, sorted by number. */
void lu_fds_read(pid_t pid, struct lu_fds *out);

/** lu_fds_equal() - same fd numbers with the same targets. */
bool lu_fds_equal(const struct lu_fds *a, const struct lu_fds *b);

/** lu_fds_has() - some fd of @s refers to @target. */
bool lu_fds_has(const struct lu_fds *s, const char *target);

/** lu_fds_print() - "@what: fd=target ..." on stderr, for failure reports. */
void lu_fds_print(const char *what, const struct lu_fds *s);

/* ---- files -------------------------------------------------------------- */

/**
 * lu_read_file() - the whole file @path, malloc'd and NUL-terminated
 * (*@len: its size, without the NUL). Return: NULL when it cannot be read.
 */
char *lu_read_file(const char *path, size_t *len);

/**
 * lu_record_of() - the payload of the @nth (from 0) command named @name
 * in the simvm --record-ctl file @path ("NAME LEN PAYLOAD\n" records),
 * malloc'd, its length in *@len. Asserts it is there.
 */
char *lu_record_of(const char *path, const char *name, int nth, size_t *len);

/**
 * lu_wait_helper_stopped() - wait (bounded) until the master's log says
 * it reaped the helper @pid of VM @id, then make a round trip on @c (an
 * AttachVM of an unknown id, answered with an error): the master has
 * finished that reap, so nothing of the VM is left in it.
 * Return: true when the log line says the helper exited by itself
 * ("exited with status @status"), false when it was killed.
 */
bool lu_wait_helper_stopped(struct harness *h, struct tclient *c, const char *id,
			    pid_t pid, int status);

/* ---- the master under valgrind ------------------------------------------ */

/**
 * lu_proxy_start_valgrind() - like harness_proxy_start() in HARNESS_DIRECT
 * mode, but cc-proxy runs under `valgrind --leak-check=full
 * --error-exitcode=99`, its report in @vg_log. The helpers it spawns run
 * natively (valgrind does not follow exec by default, and could not run
 * under their seccomp filter anyway). Sets h->proxy_pid/proxy_pidfd, so
 * the harness stops it like any cc-proxy. Return: false (nothing started)
 * when valgrind is not installed, or cc-proxy is built with sanitizers.
 */
bool lu_proxy_start_valgrind(struct harness *h, const char *vg_log);

/**
 * lu_proxy_stop_checked() - SIGTERM cc-proxy and assert that it exits
 * (bounded) as harness_proxy_check_exit() wants it (status 0, no
 * sanitizer report); with @vg_log (started by lu_proxy_start_valgrind()),
 * also that valgrind's report there shows no error and no definitely
 * lost block.
 */
void lu_proxy_stop_checked(struct harness *h, const char *vg_log);
