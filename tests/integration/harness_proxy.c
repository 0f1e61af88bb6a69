/*
 * harness_proxy.c - cc-proxy under test: started directly (readiness by
 * sd_notify on a datagram socket of ours) or through
 * systemd-socket-activate (readiness: its "Listening on" line, its
 * stderr then copied to the log by a drain process); liveness checks;
 * the checked fixtures' common start and end (harness_setup(),
 * harness_teardown()); waiting for a line in its log, or in any file
 * (inotify).
 *
 * Every wait is bounded and also watches the proxy's pidfd, so a proxy
 * that dies fails the test at once, with its log.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tclient.h"

void harness_notify_open(struct harness *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (h->notify_fd >= 0)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert(fd >= 0);
	ck_assert(strlen(h->notify) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, h->notify);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "bind %s: %s", h->notify, strerror(errno));
	h->notify_fd = fd;
}

bool harness_wait_ready(struct harness *h, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	char buf[4096];

	while (!h->ready_seen) {
		struct pollfd pf[2] = {
			{ .fd = h->notify_fd, .events = POLLIN },
			{ .fd = h->proxy_pidfd, .events = POLLIN },
		};
		ssize_t n;
		int r = poll(pf, 2, harness_left_ms(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || !(pf[0].revents & POLLIN))
			return false;	/* timeout, or cc-proxy exited */
		n = recv(h->notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* One datagram holds newline-separated assignments. */
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
			if (!strcmp(l, "READY=1"))
				h->ready_seen = true;
	}
	return true;
}

/* Socket activation: systemd-socket-activate's first line is
 * "Listening on PATH as 3."; afterwards a drain process copies the rest
 * (cc-proxy's log) to the log file so the pipe never fills. */
static void harness_wait_listening(struct harness *h, int rd)
{
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;
	char line[512] = { 0 };
	size_t got = 0;

	while (!memchr(line, '\n', got) && got < sizeof(line) - 1) {
		struct pollfd pf = { .fd = rd, .events = POLLIN };
		ssize_t k;
		int r = poll(&pf, 1, harness_left_ms(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		k = read(rd, line + got, sizeof(line) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	ck_assert_msg(strstr(line, "Listening on"),
		      "systemd-socket-activate did not listen: \"%s\"", line);
	int log = open(h->proxy_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ck_assert(log >= 0);
	ck_assert(write(log, line, got) == (ssize_t)got);
	pid_t parent = getpid();
	h->drain_pid = fork();
	ck_assert(h->drain_pid >= 0);
	if (h->drain_pid == 0) {
		char buf[65536];
		ssize_t n;

		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(0);
		while ((n = read(rd, buf, sizeof(buf))) > 0)
			if (write(log, buf, (size_t)n) != n)
				break;
		_exit(0);
	}
	close(log);
}

const char *harness_pool_size(void)
{
	const char *n = getenv("CC_PROXY_TEST_POOL");

	return n && *n ? n : "0";
}

void harness_proxy_start(struct harness *h, const char *const *extra)
{
	static const char *const envs[] = {
		"JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
		"CC_PROXY_LOG_LEVEL", NULL, NULL,
	};
	const char *env[ARRAY_LEN(envs)];
	const char *argv[48];
	char notify_env[PATH_MAX + 16];
	char proxy[PATH_MAX];
	size_t n = 0;
	int p[2] = { -1, -1 };

	ck_assert_msg(h->proxy_pid == 0, "cc-proxy already running");
	harness_notify_open(h);
	h->ready_seen = false;
	memcpy(env, envs, sizeof(envs));
	snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", h->notify);
	env[ARRAY_LEN(envs) - 2] = notify_env;
	snprintf(proxy, sizeof(proxy), "%s", harness_bin(h, "cc-proxy"));
	if (h->mode == HARNESS_ACTIVATED) {
		argv[n++] = "/usr/bin/systemd-socket-activate";
		argv[n++] = "-l";
		argv[n++] = h->sock;
		/* It passes on only TERM, PATH, USER, HOME and what -E names. */
		argv[n++] = "-E";
		argv[n++] = notify_env;
		argv[n++] = proxy;
	} else {
		argv[n++] = proxy;
		argv[n++] = "--socket-path";
		argv[n++] = h->sock;
	}
	argv[n++] = "--wait-timeout";
	argv[n++] = HARNESS_PROXY_WAIT_TIMEOUT;
	argv[n++] = "-v";
	argv[n++] = "3";
	/* No idle helpers unless a test asks (the suites count the master's
	 * children and its pooled helpers exactly; check_pool asks for them,
	 * an extra --helper-pool overrides this). CC_PROXY_TEST_POOL=N runs
	 * every suite with a pool of N. */
	argv[n++] = "--helper-pool";
	argv[n++] = harness_pool_size();
	for (size_t i = 0; extra && extra[i] && n < ARRAY_LEN(argv) - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	harness_trace("starting cc-proxy");
	if (h->mode == HARNESS_ACTIVATED) {
		/* A previous instance's drain may be held open by its helpers;
		 * its socket file would make the bind fail. */
		if (h->drain_pid > 0) {
			int st;

			kill(h->drain_pid, SIGKILL);
			waitpid(h->drain_pid, &st, 0);
			h->drain_pid = 0;
		}
		unlink(h->sock);
		ck_assert(pipe2(p, O_CLOEXEC) == 0);
		h->proxy_pid = harness_spawn(argv, NULL, p[1], -1, env);
		close(p[1]);
		h->proxy_pidfd = harness_pidfd_open(h->proxy_pid);
		harness_wait_listening(h, p[0]);
		close(p[0]);
		harness_trace("cc-proxy: listening");
		return;
	}
	h->proxy_pid = harness_spawn(argv, h->proxy_log, -1, -1, env);
	h->proxy_pidfd = harness_pidfd_open(h->proxy_pid);
	if (harness_wait_ready(h, HARNESS_WAIT_MS)) {
		harness_trace("cc-proxy: ready");
	} else {
		int status = 0;
		bool dead = harness_wait_exit(h->proxy_pid, h->proxy_pidfd, 0, &status);

		harness_log_tail(h->proxy_log);
		if (dead)
			h->proxy_pid = 0;
		ck_abort_msg("cc-proxy did not send READY=1 within %d ms%s (status 0x%x)",
			     HARNESS_WAIT_MS, dead ? ": it exited" : "", status);
	}
}

/* Whether the file @path contains @needle. */
static bool harness_file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) >= 0)
		found = strstr(line, needle) != NULL;
	free(line);
	fclose(f);
	return found;
}

void harness_proxy_check_exit(struct harness *h, int status)
{
	static const char *const reports[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
		"runtime error:", "SUMMARY: UndefinedBehaviorSanitizer",
	};

	for (size_t i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
		if (harness_file_has(h->proxy_log, reports[i])) {
			harness_log_tail(h->proxy_log);
			ck_abort_msg("sanitizer report in cc-proxy's log: %s", reports[i]);
		}
	}
	/* systemd-socket-activate that never got a connection dies by the
	 * signal itself; only a proxy we exec'd ourselves must exit 0. */
	if (h->mode == HARNESS_DIRECT && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		harness_log_tail(h->proxy_log);
		ck_abort_msg("cc-proxy did not exit cleanly on SIGTERM (wait status 0x%x)", status);
	}
}

void harness_proxy_alive(struct harness *h)
{
	int status = 0;

	ck_assert_msg(h->proxy_pid > 0, "cc-proxy is not running");
	if (harness_wait_exit(h->proxy_pid, h->proxy_pidfd, 0, &status)) {
		h->proxy_pid = 0;
		harness_log_tail(h->proxy_log);
		if (WIFSIGNALED(status))
			ck_abort_msg("cc-proxy died by signal %d (%s)",
				     WTERMSIG(status), strsignal(WTERMSIG(status)));
		ck_abort_msg("cc-proxy exited with status %d", WEXITSTATUS(status));
	}
}

void harness_proxy_settle(struct harness *h)
{
	struct tclient *c;
	char *msg;

	harness_proxy_alive(h);
	c = tclient_connect(h, "settle");
	msg = tclient_call_error(c, FRAME_CMD_ATTACH_VM,
				 "{\"containerId\":\"cc-proxy-it-no-such-vm\"}");
	free(msg);
	tclient_free(c);
	harness_proxy_alive(h);
}

struct harness *harness_setup(const char *vm_name, enum harness_dialect dialect,
			      const char *const *extra, struct harness_vm **vm)
{
	struct harness *h = harness_new();

	if (vm_name)
		*vm = harness_vm_start(h, vm_name, dialect, extra);
	harness_proxy_start(h, NULL);
	return h;
}

struct harness *harness_teardown(struct harness *h)
{
	harness_proxy_settle(h);
	return harness_free(h);
}

bool harness_wait_file(const char *path, const char *needle, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	char dir[PATH_MAX], ev[4096];
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	char *slash;
	bool found;

	ck_assert(in >= 0);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	/* The directory, so that the file's creation wakes us too; watch
	 * first, then look, so a write in between is not missed. */
	ck_assert(inotify_add_watch(in, dir, IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE) >= 0);
	while (!(found = harness_file_has(path, needle))) {
		struct pollfd pf = { .fd = in, .events = POLLIN };

		if (poll(&pf, 1, harness_left_ms(deadline)) <= 0)
			break;
		while (read(in, ev, sizeof(ev)) > 0)
			;
	}
	close(in);
	return found;
}

bool harness_wait_log(struct harness *h, const char *needle, int timeout_ms)
{
	return harness_wait_file(h->proxy_log, needle, timeout_ms);
}
