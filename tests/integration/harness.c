/*
 * harness.c - the private directory of one integration test, its child
 * processes and the simulated VMs (see harness.h for the synchronisation
 * rules; cc-proxy itself is started by harness_proxy.c).
 *
 * Ownership: the harness owns every child it starts (simulated VMs,
 * cc-proxy or systemd-socket-activate, the log drain) and every fd it
 * opens; all fds are close-on-exec and children close everything above
 * fd 3 before exec, so no child holds a test's client socket.
 * One harness at a time per process (Check forks a process per test).
 * A test that fails ends at once (Check exits its process; neither the
 * checked teardown nor atexit handlers run): its daemons die with it
 * (PR_SET_PDEATHSIG), and its directory, inside the suite's root, is
 * reported and removed by harness_suite_teardown() in the runner.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

long long harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_left_ms(long long deadline)
{
	long long left = deadline - harness_now_ms();

	return left < 0 ? 0 : (int)left;
}

void harness_trace(const char *fmt, ...)
{
	static long long t0;
	va_list ap;

	if (!getenv("CC_PROXY_IT_TRACE"))
		return;
	if (!t0)
		t0 = harness_now_ms();
	fprintf(stderr, "[%d +%lld ms] ", (int)getpid(), harness_now_ms() - t0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *harness_path(const struct harness *h, const char *name)
{
	static char buf[4][PATH_MAX];
	static unsigned next;
	char *b = buf[next++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", h->dir, name);
	return b;
}

const char *harness_bin(const struct harness *h, const char *name)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", h->builddir, name);
	return buf;
}

int harness_pidfd_open(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	ck_assert_msg(fd >= 0, "pidfd_open(%d): %s", (int)pid, strerror(errno));
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

long harness_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	ck_assert_msg(kib >= 0, "%s has no VmRSS", path);
	return kib;
}

void harness_no_asan_quarantine(void)
{
#ifdef CC_PROXY_SANITIZERS
	const char *o = getenv("ASAN_OPTIONS");
	char env[1024];

	snprintf(env, sizeof(env), "%s%squarantine_size_mb=0", o ? o : "",
		 o && *o ? ":" : "");
	ck_assert(setenv("ASAN_OPTIONS", env, 1) == 0);
#endif
}

bool harness_wait_exit(pid_t pid, int pidfd, int timeout_ms, int *status)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int r;

	if (pid <= 0)
		return true;
	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r <= 0)
		return false;
	return waitpid(pid, status, 0) == pid;
}

void harness_log_tail(const char *path)
{
	char buf[4096];
	ssize_t n;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > (off_t)sizeof(buf) ? size - (off_t)sizeof(buf) : 0, SEEK_SET);
	fprintf(stderr, "----- %s (last %zu bytes)\n", path,
		(size_t)(size > (off_t)sizeof(buf) ? (off_t)sizeof(buf) : size));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	fputs("-----\n", stderr);
	close(fd);
}

void harness_dump_logs(const struct harness *h)
{
	harness_log_tail(h->proxy_log);
	for (size_t i = 0; i < h->n_vms; i++)
		harness_log_tail(h->vms[i].log);
}

/* Kill (SIGKILL) and reap a child, bounded. */
static void harness_kill(pid_t *pid, int *pidfd, int sig, int *out_status)
{
	int status = 0;

	if (*pid > 0) {
		kill(*pid, sig);
		if (!harness_wait_exit(*pid, *pidfd, HARNESS_WAIT_MS, &status)) {
			kill(*pid, SIGKILL);
			harness_wait_exit(*pid, *pidfd, HARNESS_WAIT_MS, &status);
		}
		*pid = 0;
	}
	if (*pidfd >= 0)
		close(*pidfd);
	*pidfd = -1;
	if (out_status)
		*out_status = status;
}

static void harness_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX * 2];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			harness_rmdir(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Everything goes; the directory too, unless $CC_PROXY_IT_KEEP is set. */
static void harness_release(struct harness *h)
{
	bool had_proxy = h->proxy_pid > 0;
	int st, proxy_status = 0;

	harness_trace("release: stopping cc-proxy");
	harness_kill(&h->proxy_pid, &h->proxy_pidfd, SIGTERM, &proxy_status);
	harness_trace("release: stopping VMs");
	for (size_t i = 0; i < h->n_vms; i++)
		harness_kill(&h->vms[i].pid, &h->vms[i].pidfd, SIGKILL, NULL);
	harness_trace("release: done");
	if (h->drain_pid > 0) {
		/* The drain ends at EOF, i.e. once cc-proxy is gone: let it
		 * copy the proxy's last words (a sanitizer report) first. */
		int fd = harness_pidfd_open(h->drain_pid);

		if (!harness_wait_exit(h->drain_pid, fd, HARNESS_WAIT_MS, &st)) {
			kill(h->drain_pid, SIGKILL);
			waitpid(h->drain_pid, &st, 0);
		}
		close(fd);
		h->drain_pid = 0;
	}
	if (had_proxy)
		harness_proxy_check_exit(h, proxy_status);
	if (h->notify_fd >= 0)
		close(h->notify_fd);
	h->notify_fd = -1;
	if (h->dir[0] && !getenv("CC_PROXY_IT_KEEP"))
		harness_rmdir(h->dir);
}

#define HARNESS_ROOT_ENV "CC_PROXY_IT_ROOT"

void harness_suite_setup(void)
{
	static char root[64];

	snprintf(root, sizeof(root), "/tmp/cc-proxy-it.XXXXXX");
	ck_assert_msg(mkdtemp(root), "mkdtemp: %s", strerror(errno));
	chmod(root, 0755);
	setenv(HARNESS_ROOT_ENV, root, 1);
}

void harness_suite_teardown(void)
{
	const char *root = getenv(HARNESS_ROOT_ENV);
	struct dirent *e;
	DIR *d;

	if (!root || !(d = opendir(root)))
		return;
	/* A test that passed removed its directory; one that failed could
	 * not (Check ends its process at the failed assertion). */
	while ((e = readdir(d))) {
		char dir[PATH_MAX / 2], p[PATH_MAX];
		DIR *sub;
		struct dirent *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%.255s", root, e->d_name);
		fprintf(stderr, "===== logs of a failed test (%s) =====\n", dir);
		if ((sub = opendir(dir))) {
			while ((f = readdir(sub)))
				if (strstr(f->d_name, ".log")) {
					snprintf(p, sizeof(p), "%s/%.255s", dir, f->d_name);
					harness_log_tail(p);
				}
			closedir(sub);
		}
	}
	closedir(d);
	if (getenv("CC_PROXY_IT_KEEP"))
		fprintf(stderr, "keeping %s\n", root);
	else
		harness_rmdir(root);
}

Suite *harness_suite_new(const char *name)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s%s", name,
		 getenv("CC_PROXY_IT_ACTIVATION") ? " (socket-activated)" : "");
	return suite_create(buf);
}

TCase *harness_tcase_add(Suite *s, const char *name, void (*setup)(void),
			 void (*teardown)(void), int timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, harness_suite_setup, harness_suite_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

int harness_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

struct harness *harness_new(void)
{
	const char *b = getenv("CC_PROXY_BUILDDIR");
	const char *mode = getenv("CC_PROXY_IT_ACTIVATION");
	const char *root = getenv(HARNESS_ROOT_ENV);
	struct harness *h = calloc(1, sizeof(*h));

	ck_assert_ptr_nonnull(h);
	ck_assert_msg(b && *b, "CC_PROXY_BUILDDIR is not set: run through make check");
	snprintf(h->builddir, sizeof(h->builddir), "%s", b);
	h->mode = mode && !strcmp(mode, "socket") ? HARNESS_ACTIVATED : HARNESS_DIRECT;
	h->notify_fd = -1;
	h->proxy_pidfd = -1;
	snprintf(h->dir, sizeof(h->dir), "%s/t.XXXXXX", root ? root : "/tmp");
	ck_assert_msg(mkdtemp(h->dir), "mkdtemp: %s", strerror(errno));
	/* Helpers may run under another uid; they need nothing in here,
	 * but the simulated VMs' logs are read by whoever debugs. */
	chmod(h->dir, 0755);
	snprintf(h->sock, sizeof(h->sock), "%s/proxy.sock", h->dir);
	snprintf(h->notify, sizeof(h->notify), "%s/notify.sock", h->dir);
	snprintf(h->proxy_log, sizeof(h->proxy_log), "%s/proxy.log", h->dir);
	/* Writes to a closed peer must fail with EPIPE, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	return h;
}

struct harness *harness_free(struct harness *h)
{
	if (!h)
		return NULL;
	harness_release(h);
	free(h);
	return NULL;
}

pid_t harness_spawn(const char *const *argv, const char *log, int err_fd,
			   int pass_fd, const char *const *envs)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid > 0)
		return pid;
	/* Child: only async-signal-safe-ish work until exec. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	/* fd 3 first, so that the files opened below cannot land on it;
	 * dup2() onto itself would keep close-on-exec, hence the fcntl. */
	if (pass_fd >= 0 && (pass_fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(pass_fd, 3)) < 0)
		_exit(127);
	int null = open("/dev/null", O_RDONLY);
	int out = err_fd >= 0 ? err_fd :
		open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (null < 0 || out < 0)
		_exit(127);
	if (dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	/* Nothing of the test's leaks in: no client sockets, no Check pipes. */
	syscall(SYS_close_range, pass_fd >= 0 ? 4 : 3, ~0u, 0);
	for (size_t i = 0; envs && envs[i]; i++) {
		if (strchr(envs[i], '='))
			putenv((char *)envs[i]);
		else
			unsetenv(envs[i]);
	}
	signal(SIGPIPE, SIG_DFL);
	execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

struct harness_vm *harness_vm_start(struct harness *h, const char *name,
				    enum harness_dialect dialect,
				    const char *const *extra)
{
	const char *argv[40];
	struct harness_vm *vm;
	size_t n = 0;
	int p[2], status;
	char buf[16] = { 0 };
	ssize_t got = 0;
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;

	char dir[sizeof(h->dir)], base[sizeof(vm->name)];

	/* Local copies: the paths below are built inside *h. */
	memcpy(dir, h->dir, sizeof(dir));
	snprintf(base, sizeof(base), "%s", name);
	ck_assert_msg(h->n_vms < HARNESS_MAX_VMS, "too many VMs");
	vm = &h->vms[h->n_vms++];
	memset(vm, 0, sizeof(*vm));
	vm->pidfd = -1;
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	snprintf(vm->ctl, sizeof(vm->ctl), "%s/%s.ctl", dir, base);
	snprintf(vm->io, sizeof(vm->io), "%s/%s.io", dir, base);
	snprintf(vm->console, sizeof(vm->console), "%s/%s.console", dir, base);
	snprintf(vm->log, sizeof(vm->log), "%s/simvm-%s.log", dir, base);
	/* A VM restarted under the same name gets fresh sockets. */
	unlink(vm->ctl);
	unlink(vm->io);
	unlink(vm->console);

	harness_trace("starting VM %s", base);
	ck_assert(pipe2(p, O_CLOEXEC) == 0);
	argv[n++] = strdup(harness_bin(h, "cc-proxy-simvm"));
	argv[n++] = "--ctl";
	argv[n++] = vm->ctl;
	argv[n++] = "--io";
	argv[n++] = vm->io;
	argv[n++] = "--console";
	argv[n++] = vm->console;
	argv[n++] = "--dialect";
	argv[n++] = dialect == HARNESS_LEGACY ? "legacy" : "hyperstart1";
	argv[n++] = "--notify-fd";
	argv[n++] = "3";
	for (size_t i = 0; extra && extra[i] && n < ARRAY_LEN(argv) - 1; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	vm->pid = harness_spawn(argv, vm->log, -1, p[1], NULL);
	free((char *)argv[0]);
	close(p[1]);
	vm->pidfd = harness_pidfd_open(vm->pid);

	/* "READY\n" once it listens; EOF or the pidfd mean it died. */
	while (got < 6) {
		struct pollfd pf[2] = {
			{ .fd = p[0], .events = POLLIN },
			{ .fd = vm->pidfd, .events = POLLIN },
		};
		int r = poll(pf, 2, harness_left_ms(deadline));
		ssize_t k;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (!(pf[0].revents & (POLLIN | POLLHUP)))
			break;		/* exited without a word */
		k = read(p[0], buf + got, sizeof(buf) - 1 - (size_t)got);
		if (k <= 0)
			break;
		got += k;
	}
	close(p[0]);
	harness_trace("VM %s: \"%.5s\"", base, buf);
	if (strncmp(buf, "READY\n", 6) != 0) {
		harness_log_tail(vm->log);
		if (harness_wait_exit(vm->pid, vm->pidfd, 0, &status))
			vm->pid = 0;
		ck_abort_msg("simulated VM %s did not become ready (said \"%s\")",
			     name, buf);
	}
	return vm;
}

void harness_vm_stop(struct harness *h, struct harness_vm *vm)
{
	harness_kill(&vm->pid, &vm->pidfd, SIGKILL, NULL);
}
