/*
 * sdm_util.h - cc-proxy run by the service manager test double
 * (tests/sdmanager/sdmanager) in integration tests: start, the record it
 * keeps, waiting for lines of the record and the proxy's log (inotify,
 * bounded), the processes it reaps, and a clean stop. Functions assert.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

struct sdm {
	struct harness *h;
	char dir[PATH_MAX];	/* its --dir */
	char record[PATH_MAX + 16];	/* DIR/record */
	pid_t pid;		/* sdmanager (also h->proxy_pid, for the harness's cleanup) */
	int pidfd;
	unsigned int runs;	/* master starts seen so far (START lines) */
};

/**
 * sdm_start() - sdmanager --dir DIR/sdm --listen h->sock --restarts 100
 * [--fdstore-max @fdstore_max unless < 0] -- cc-proxy --wait-timeout 2
 * -v 1 @extra..., stderr to h->proxy_log, @envs as harness_spawn(); waits
 * for READY 0.
 */
void sdm_start(struct sdm *s, struct harness *h, int fdstore_max,
	       const char *const *extra, const char *const *envs);

/**
 * sdm_start_old() - sdm_start() playing systemd before 254: the store is
 * kept, but $FDSTORE is not set (sdmanager --no-fdstore-env).
 */
void sdm_start_old(struct sdm *s, struct harness *h, const char *const *extra,
		   const char *const *envs);

/** sdm_master() - the pid of the master of run @run (its PID line). */
pid_t sdm_master(const struct sdm *s, unsigned int run);

/** sdm_count() - lines of the file @path holding @needle. */
size_t sdm_count(const char *path, const char *needle);

/**
 * sdm_wait_count() - wait (inotify, bounded by @timeout_ms) until the
 * file @path has at least @n lines holding @needle. Return: true if so.
 */
bool sdm_wait_count(const char *path, const char *needle, size_t n, int timeout_ms);

/**
 * sdm_stop() - SIGTERM sdmanager (a stop: the master exits, the store is
 * flushed, the helpers left behind must exit) and wait for it; asserts
 * its exit status 0, STOP in the record, no LEFT line (nothing had to be
 * killed), and no sanitizer report in the log.
 * Return: milliseconds from SIGTERM to sdmanager's exit.
 */
long long sdm_stop(struct sdm *s);

/**
 * sdm_tree() - the processes under sdmanager (its children and theirs),
 * at most @max pids into @out; asserts that none is a zombie.
 * Return: how many.
 */
size_t sdm_tree(const struct sdm *s, pid_t *out, size_t max);

/** sdm_nfds() - how many fds @pid has open (/proc/PID/fd). */
int sdm_nfds(pid_t pid);
