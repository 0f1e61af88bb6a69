/*
 * lifecycle_util.c - /proc, ps(1) and pidfd helpers, the simvm record
 * file and the valgrind start of the master for check_lifecycle.c
 * (lifecycle_util.h).
 *
 * Reading another process's /proc entries races with its life: a process
 * may vanish between readdir() and open(). Such entries are skipped, never
 * an error. Waits poll() a pidfd (or, through the harness, an inotify
 * fd) with what is left of a deadline; none sleeps.
 *
 * Ownership: every fd opened here is close-on-exec and closed before
 * returning, except the ones handed over (lu_pidfd(), and the pidfd and
 * notify socket of lu_proxy_start_valgrind(), which the harness owns
 * from then on).
 *
 * What the harness and the test client already do (waiting for a line in
 * a file, the notify socket, shim connections, processes) is taken from
 * them: harness.h, tclient.h, texec.h.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifecycle_util.h"

/* ---- files (also /proc's) ---------------------------------------------- */

char *lu_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	ssize_t k = 0;

	ck_assert_ptr_nonnull(buf);
	while (fd >= 0 && (k = read(fd, buf + n, cap - n)) > 0)
		if ((n += (size_t)k) == cap) {
			buf = realloc(buf, (cap *= 2) + 1);
			ck_assert_ptr_nonnull(buf);
		}
	if (fd < 0 || k < 0) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;	/* gone, e.g. a process that exited */
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* ---- processes ---------------------------------------------------------- */

/* The parent of @pid from /proc/PID/stat, or -1 when it is gone. The
 * comm field may hold spaces and parentheses: parse after the last ')'. */
static pid_t lu_ppid(pid_t pid)
{
	char path[64], *s, *p;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	s = lu_read_file(path, NULL);
	if (!s)
		return -1;
	p = strrchr(s, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		ppid = -1;
	free(s);
	return ppid;
}

/* Call @fn for every child of @master; stop when it returns true. */
static void lu_each_child(pid_t master, bool (*fn)(pid_t pid, void *ctx), void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || lu_ppid((pid_t)pid) != master)
			continue;
		if (fn((pid_t)pid, ctx))
			break;
	}
	closedir(d);
}

/* Whether argv of @pid holds "--container-id" followed by @id. */
static bool lu_argv_names(pid_t pid, const char *id)
{
	char path[64], *argv;
	size_t len;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	argv = lu_read_file(path, &len);
	if (!argv)
		return false;
	for (size_t i = 0; i < len && !found; i += strlen(argv + i) + 1) {
		size_t next = i + strlen(argv + i) + 1;

		found = !strcmp(argv + i, "--container-id") && next < len &&
			!strcmp(argv + next, id);
	}
	free(argv);
	return found;
}

struct lu_find {
	const char *id;
	pid_t pid;
	unsigned n;
};

static bool lu_find_one(pid_t pid, void *ctx)
{
	struct lu_find *f = ctx;

	if (lu_argv_names(pid, f->id)) {
		f->pid = pid;
		f->n++;
	}
	return false;
}

pid_t lu_find_helper(pid_t master, const char *id)
{
	struct lu_find f = { .id = id };

	lu_each_child(master, lu_find_one, &f);
	ck_assert_msg(f.n <= 1, "%u helpers of cc-proxy (pid %d) name VM %s",
		      f.n, (int)master, id);
	return f.pid;
}

pid_t lu_helper_of(pid_t master, const char *id)
{
	pid_t pid = lu_find_helper(master, id);

	ck_assert_msg(pid > 0, "no helper of cc-proxy (pid %d) names VM %s",
		      (int)master, id);
	return pid;
}

static bool lu_count_one(pid_t pid, void *ctx)
{
	(void)pid;
	(*(size_t *)ctx)++;
	return false;
}

size_t lu_count_children(pid_t master)
{
	size_t n = 0;

	lu_each_child(master, lu_count_one, &n);
	return n;
}

char *lu_ps_children(pid_t master)
{
	char cmd[96], buf[4096];
	size_t n = 0, k;
	FILE *p;
	char *out;

	snprintf(cmd, sizeof(cmd), "ps -ww -o pid,args --ppid %d 2>/dev/null", (int)master);
	p = popen(cmd, "re");
	if (!p)
		return NULL;
	out = malloc(1);
	ck_assert_ptr_nonnull(out);
	while ((k = fread(buf, 1, sizeof(buf), p)) > 0) {
		out = realloc(out, n + k + 1);
		ck_assert_ptr_nonnull(out);
		memcpy(out + n, buf, k);
		n += k;
	}
	out[n] = '\0';
	/* ps exits 1 when no process matched; only 127 means it is missing. */
	if (WEXITSTATUS(pclose(p)) == 127 || !strstr(out, "PID")) {
		free(out);
		return NULL;
	}
	return out;
}

int lu_pidfd(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0) {
		ck_assert_msg(errno == ESRCH, "pidfd_open(%d): %s", (int)pid, strerror(errno));
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

bool lu_wait_gone(int pidfd, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int r;

	if (pidfd < 0)
		return true;
	do
		r = poll(&p, 1, harness_left_ms(deadline));
	while (r < 0 && errno == EINTR);
	return r > 0;
}

long long lu_cpu_ms(pid_t pid)
{
	char path[64], *s, *p;
	unsigned long long ut = 0, st = 0;
	long tck = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	s = lu_read_file(path, NULL);
	ck_assert_msg(s, "cannot read %s", path);
	p = strrchr(s, ')');
	/* After comm: state(3) ppid pgrp session tty_nr tpgid flags minflt
	 * cminflt majflt cmajflt, then utime(14) stime(15), in clock ticks. */
	ck_assert_msg(p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				  &ut, &st) == 2, "cannot parse %s", path);
	free(s);
	return (long long)((ut + st) * 1000 / (unsigned long long)(tck > 0 ? tck : 100));
}

/* ---- file descriptors --------------------------------------------------- */

static int lu_int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

void lu_fds_read(pid_t pid, struct lu_fds *out)
{
	char dir[64], path[128];
	int fds[LU_FDS_MAX];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	ck_assert_msg(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		ck_assert_msg(n < LU_FDS_MAX, "more than %d fds in %s", LU_FDS_MAX, dir);
		fds[n++] = atoi(e->d_name);
	}
	closedir(d);
	qsort(fds, n, sizeof(fds[0]), lu_int_cmp);
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		ssize_t k;

		snprintf(path, sizeof(path), "%s/%d", dir, fds[i]);
		k = readlink(path, out->target[out->n], sizeof(out->target[0]) - 1);
		if (k < 0)
			continue;	/* closed meanwhile */
		out->target[out->n][k] = '\0';
		out->fd[out->n++] = fds[i];
	}
}

bool lu_fds_equal(const struct lu_fds *a, const struct lu_fds *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->fd[i] != b->fd[i] || strcmp(a->target[i], b->target[i]))
			return false;
	return true;
}

bool lu_fds_has(const struct lu_fds *s, const char *target)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->target[i], target))
			return true;
	return false;
}

void lu_fds_print(const char *what, const struct lu_fds *s)
{
	fprintf(stderr, "%s (%zu fds):", what, s->n);
	for (size_t i = 0; i < s->n; i++)
		fprintf(stderr, " %d=%s", s->fd[i], s->target[i]);
	fputc('\n', stderr);
}

/* ---- files: records ----------------------------------------------------- */

char *lu_record_of(const char *path, const char *name, int nth, size_t *len)
{
	size_t size, pos = 0, nlen = strlen(name);
	char *all = lu_read_file(path, &size), *out = NULL;

	ck_assert_msg(all, "no record file %s", path);
	while (pos < size && !out) {
		char *sp = memchr(all + pos, ' ', size - pos), *end;
		unsigned long n;

		ck_assert_ptr_nonnull(sp);
		n = strtoul(sp + 1, &end, 10);
		ck_assert_msg(*end == ' ' && (size_t)(end + 1 - all) + n < size &&
			      end[1 + n] == '\n', "%s: a broken record at %zu", path, pos);
		if ((size_t)(sp - all) - pos == nlen && !memcmp(all + pos, name, nlen) &&
		    nth-- == 0) {
			out = strndup(end + 1, n);
			*len = n;
		}
		pos = (size_t)(end + 1 - all) + n + 1;
	}
	free(all);
	ck_assert_msg(out, "no %s in %s", name, path);
	return out;
}

bool lu_wait_helper_stopped(struct harness *h, struct tclient *c, const char *id,
			    pid_t pid, int status)
{
	char needle[128], exited[160];

	snprintf(needle, sizeof(needle), "helper of VM %s (pid %d)", id, (int)pid);
	snprintf(exited, sizeof(exited), "%s exited with status %d", needle, status);
	ck_assert_msg(harness_wait_log(h, needle, HARNESS_WAIT_MS),
		      "cc-proxy did not log the end of \"%s\" within %d ms",
		      needle, HARNESS_WAIT_MS);
	/* The master wrote that line inside its reap callback; the answer
	 * to a command sent now comes after that callback has finished. */
	free(tclient_call_error(c, FRAME_CMD_ATTACH_VM,
				"{\"containerId\":\"cc-proxy-it-lifecycle-none\"}"));
	return harness_wait_log(h, exited, 0);
}

/* ---- the master under valgrind ------------------------------------------ */

/* cc-proxy --wait-timeout under valgrind: the master runs many times
 * slower, and on a busy machine the harness's 2 s for an agent's READY
 * ran out (no test here waits for that timeout to fire). */
#define LU_VALGRIND_WAIT_TIMEOUT "10"

bool lu_proxy_start_valgrind(struct harness *h, const char *vg_log)
{
	static const char *const valgrind = "/usr/bin/valgrind";
	char proxy[PATH_MAX], helper[PATH_MAX], logopt[PATH_MAX + 16];
	char notify_env[PATH_MAX + 16];
	const char *const envs[] = {
		"JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
		"CC_PROXY_LOG_LEVEL", notify_env, NULL,
	};
	const char *const argv[] = {
		valgrind, "--leak-check=full", "--error-exitcode=99",
		"--errors-for-leak-kinds=definite", logopt,
		/* The helper cannot run under valgrind: its seccomp filter
		 * kills valgrind's own system calls. Without
		 * --trace-children, valgrind execs it natively. */
		"--trace-children=no",
		proxy, "--socket-path", h->sock, "--helper", helper,
		"--wait-timeout", LU_VALGRIND_WAIT_TIMEOUT, "-v", "3",
		"--helper-pool", harness_pool_size(), NULL,
	};

#ifdef CC_PROXY_SANITIZERS
	/* AddressSanitizer's runtime and valgrind exclude each other; such
	 * a build checks the master with ASan instead. */
	return false;
#endif
	if (access(valgrind, X_OK) < 0)
		return false;
	ck_assert_msg(h->proxy_pid == 0, "cc-proxy already running");
	snprintf(proxy, sizeof(proxy), "%s", harness_bin(h, "cc-proxy"));
	snprintf(helper, sizeof(helper), "%s", harness_bin(h, "cc-proxy-vmhelper"));
	snprintf(logopt, sizeof(logopt), "--log-file=%s", vg_log);
	snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", h->notify);
	/* The readiness socket harness_wait_ready() listens on. */
	harness_notify_open(h);
	h->ready_seen = false;
	h->proxy_pid = harness_spawn(argv, h->proxy_log, -1, -1, envs);
	h->proxy_pidfd = harness_pidfd_open(h->proxy_pid);
	/* valgrind's start-up is slow: a wider bound than the harness's. */
	if (!harness_wait_ready(h, 4 * HARNESS_WAIT_MS)) {
		harness_dump_logs(h);
		ck_abort_msg("cc-proxy under valgrind sent no READY=1 within %d ms",
			     4 * HARNESS_WAIT_MS);
	}
	return true;
}

void lu_proxy_stop_checked(struct harness *h, const char *vg_log)
{
	int status = 0;
	char *report;

	ck_assert_int_eq(kill(h->proxy_pid, SIGTERM), 0);
	ck_assert_msg(harness_wait_exit(h->proxy_pid, h->proxy_pidfd, 3 * HARNESS_WAIT_MS,
					&status), "cc-proxy did not exit after SIGTERM");
	h->proxy_pid = 0;
	if (vg_log) {
		report = lu_read_file(vg_log, NULL);
		ck_assert_msg(report, "no valgrind report in %s", vg_log);
		if (status || strstr(report, "definitely lost in"))
			fprintf(stderr, "----- %s\n%s-----\n", vg_log, report);
		ck_assert_msg(!WIFEXITED(status) || WEXITSTATUS(status) != 99,
			      "valgrind found errors in cc-proxy");
		ck_assert_msg(!strstr(report, "definitely lost in"), "cc-proxy leaks memory");
		ck_assert_msg(strstr(report, "ERROR SUMMARY: 0 errors"), "valgrind: errors");
		free(report);
	}
	/* Exit status 0, no sanitizer report (a sanitizer build). */
	harness_proxy_check_exit(h, status);
}
