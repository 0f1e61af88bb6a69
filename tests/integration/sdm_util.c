/*
 * sdm_util.c - cc-proxy under the service manager test double
 * (sdm_util.h).
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sdm_util.h"

static void sdm_run(struct sdm *s, struct harness *h, int fdstore_max, bool old,
		    const char *const *extra, const char *const *envs)
{
	const char *argv[48];
	char max[16], sdm_bin[PATH_MAX], proxy_bin[PATH_MAX];
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	s->h = h;
	snprintf(s->dir, sizeof(s->dir), "%s/sdm", h->dir);
	snprintf(s->record, sizeof(s->record), "%s/record", s->dir);
	ck_assert(mkdir(s->dir, 0700) == 0);
	/* harness_bin() returns a static buffer: copies. */
	snprintf(sdm_bin, sizeof(sdm_bin), "%s", harness_bin(h, "tests/sdmanager/sdmanager"));
	snprintf(proxy_bin, sizeof(proxy_bin), "%s", harness_bin(h, "cc-proxy"));
	argv[n++] = sdm_bin;
	argv[n++] = "--dir";
	argv[n++] = s->dir;
	argv[n++] = "--listen";
	argv[n++] = h->sock;
	argv[n++] = "--restarts";
	argv[n++] = "100";
	if (fdstore_max >= 0) {
		snprintf(max, sizeof(max), "%d", fdstore_max);
		argv[n++] = "--fdstore-max";
		argv[n++] = max;
	}
	if (old)
		argv[n++] = "--no-fdstore-env";
	argv[n++] = "--";
	argv[n++] = proxy_bin;
	argv[n++] = "--wait-timeout";
	argv[n++] = HARNESS_PROXY_WAIT_TIMEOUT;
	argv[n++] = "-v";
	argv[n++] = "1";
	argv[n++] = "--helper-pool";
	argv[n++] = harness_pool_size();
	for (size_t i = 0; extra && extra[i] && n < ARRAY_LEN(argv) - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	s->pid = harness_spawn(argv, h->proxy_log, -1, -1, envs);
	s->pidfd = harness_pidfd_open(s->pid);
	/* The harness's cleanup kills it if the test fails. */
	h->proxy_pid = s->pid;
	h->proxy_pidfd = s->pidfd;
	ck_assert_msg(sdm_wait_count(s->record, "READY 0", 1, HARNESS_WAIT_MS),
		      "cc-proxy under sdmanager sent no READY=1");
}

void sdm_start(struct sdm *s, struct harness *h, int fdstore_max,
	       const char *const *extra, const char *const *envs)
{
	sdm_run(s, h, fdstore_max, false, extra, envs);
}

void sdm_start_old(struct sdm *s, struct harness *h, const char *const *extra,
		   const char *const *envs)
{
	sdm_run(s, h, -1, true, extra, envs);
}

pid_t sdm_master(const struct sdm *s, unsigned int run)
{
	FILE *f = fopen(s->record, "re");
	char line[512];
	unsigned int r;
	int pid = 0, p;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PID %u %d", &r, &p) == 2 && r == run)
			pid = p;
	fclose(f);
	ck_assert_msg(pid > 0, "no PID line for run %u", run);
	return pid;
}

size_t sdm_count(const char *path, const char *needle)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) >= 0)
		n += strstr(line, needle) != NULL;
	free(line);
	fclose(f);
	return n;
}

bool sdm_wait_count(const char *path, const char *needle, size_t n, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	char dir[PATH_MAX], ev[4096];
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	char *slash;
	bool ok;

	ck_assert(in >= 0);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	/* Watch first, then look: a write in between wakes us. */
	ck_assert(inotify_add_watch(in, dir, IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE) >= 0);
	while (!(ok = sdm_count(path, needle) >= n)) {
		struct pollfd p = { .fd = in, .events = POLLIN };

		if (poll(&p, 1, harness_left_ms(deadline)) <= 0)
			break;
		while (read(in, ev, sizeof(ev)) > 0)
			;
	}
	close(in);
	return ok;
}

long long sdm_stop(struct sdm *s)
{
	long long t0 = harness_now_ms();
	int status = 0;

	ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
	/* The helpers have HELPER_ORPHAN_GRACE_MS (5 s) once the store is
	 * flushed; sdmanager gives them 10 s. */
	ck_assert_msg(harness_wait_exit(s->pid, s->pidfd, 20000, &status),
		      "sdmanager did not stop");
	close(s->pidfd);
	s->h->proxy_pid = 0;
	s->h->proxy_pidfd = -1;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "sdmanager exited with status %d", status);
	ck_assert_uint_eq(sdm_count(s->record, "STOP\n"), 1);
	ck_assert_msg(sdm_count(s->record, "LEFT ") == 0,
		      "processes were left behind after the stop and had to be killed");
	harness_proxy_check_exit(s->h, 0);
	return harness_now_ms() - t0;
}

/* The children of @pid, appended to @out. */
static size_t sdm_children(pid_t pid, pid_t *out, size_t n, size_t max)
{
	char path[64], buf[8192];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	f = fopen(path, "re");
	if (!f)
		return n;
	if (fgets(buf, sizeof(buf), f))
		for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t && n < max;
		     t = strtok_r(NULL, " \n", &save))
			out[n++] = (pid_t)atoi(t);
	fclose(f);
	return n;
}

size_t sdm_tree(const struct sdm *s, pid_t *out, size_t max)
{
	size_t n = sdm_children(s->pid, out, 0, max);

	for (size_t i = 0; i < n; i++) {
		char path[64], stat[512], *rp;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)out[i]);
		f = fopen(path, "re");
		if (f && fgets(stat, sizeof(stat), f) && (rp = strrchr(stat, ')')))
			ck_assert_msg(rp[2] != 'Z', "zombie under sdmanager: %s", stat);
		if (f)
			fclose(f);
		n = sdm_children(out[i], out, n, max);
	}
	return n;
}

int sdm_nfds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}
