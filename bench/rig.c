/*
 * rig.c - starting and stopping the daemons a benchmark measures, in a
 * private temp directory (rig.h).
 *
 * Synchronisation is on events only: the master's sd_notify("READY=1")
 * on a datagram socket we bind (NOTIFY_SOCKET); lean agents listen
 * before they are forked (agent.c). Every wait is bounded (RIG_TIMEOUT_MS). Children
 * get PR_SET_PDEATHSIG(SIGKILL), so a benchmark that crashes leaves no
 * daemon behind, and their output goes to log files in the temp dir,
 * shown when the setup fails.
 */
#define _GNU_SOURCE 1
#include "rig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Everything started, so that rig_fail() can stop it from anywhere. */
#define RIG_MAX_CHILDREN 256
static struct {
	pid_t pid;
	const char *log;
} children[RIG_MAX_CHILDREN];
static struct rig *current;

double rig_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void track(pid_t pid, const char *log)
{
	for (size_t i = 0; i < RIG_MAX_CHILDREN; i++)
		if (!children[i].pid) {
			children[i].pid = pid;
			children[i].log = log;
			return;
		}
	rig_fail("more than %d daemons", RIG_MAX_CHILDREN);
}

void rig_track(pid_t pid)
{
	track(pid, NULL);
}

static void untrack(pid_t pid)
{
	for (size_t i = 0; i < RIG_MAX_CHILDREN; i++)
		if (children[i].pid == pid)
			children[i].pid = 0;
}

/* Reap @pid within @ms: a pidfd tells when it exits; true if reaped. */
static bool reap(pid_t pid, int ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	double end = rig_now() + ms / 1000.0;

	for (;;) {
		pid_t w = waitpid(pid, NULL, WNOHANG);

		if (w == pid || (w < 0 && errno == ECHILD))
			break;
		if (rig_now() >= end) {
			if (fd >= 0)
				close(fd);
			return false;
		}
		if (fd >= 0)
			poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1,
			     (int)((end - rig_now()) * 1000) + 1);
		else
			poll(NULL, 0, 5);	/* no pidfd: poll the status */
	}
	if (fd >= 0)
		close(fd);
	return true;
}

/* SIGTERM, a grace period, SIGKILL; always reaped. */
static void stop_pid(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if (!reap(pid, 5000)) {
		kill(pid, SIGKILL);
		reap(pid, RIG_TIMEOUT_MS);
	}
	untrack(pid);
}

static void print_tail(const char *path)
{
	char buf[2048];
	FILE *f = fopen(path, "r");
	long size;
	size_t n;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0,
	      SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "--- tail of %s\n%s%s", path, buf,
		n && buf[n - 1] != '\n' ? "\n" : "");
}

static int rm_entry(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

void rig_fini(struct rig *r)
{
	/* Newest first: the VMs before the master, so that their helpers
	 * see the VMs go and exit before the master waits for them. */
	for (size_t i = RIG_MAX_CHILDREN; i-- > 0;)
		stop_pid(children[i].pid);
	r->proxy = 0;
	if (r->dir[0] && !getenv("BENCH_KEEP"))
		nftw(r->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	r->dir[0] = '\0';
	current = NULL;
}

void rig_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "setup: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (size_t i = 0; i < RIG_MAX_CHILDREN; i++)
		if (children[i].pid && children[i].log)
			print_tail(children[i].log);
	if (current)
		rig_fini(current);
	exit(1);
}

void rig_init(struct rig *r)
{
	const char *tmp = getenv("TMPDIR"), *bd = getenv("CC_PROXY_BUILDDIR");
	char path[4200];

	memset(r, 0, sizeof(*r));
	/* Our writes to a dead daemon fail with EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	/* The socket paths must fit sun_path: a short temp dir. */
	if (!tmp || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(r->dir, sizeof(r->dir), "%s/ccb-XXXXXX", tmp);
	if (!mkdtemp(r->dir))
		rig_fail("mkdtemp %s: %m", r->dir);
	current = r;
	if (!realpath(bd ? bd : ".", r->bindir))
		rig_fail("build tree %s: %m", bd ? bd : ".");
	snprintf(r->sock, sizeof(r->sock), "%s/proxy.sock", r->dir);
	snprintf(r->proxy_log, sizeof(r->proxy_log), "%s/proxy.log", r->dir);
	for (const char *const *b = (const char *const[]){ "cc-proxy",
	     "cc-proxy-vmhelper", NULL }; *b; b++) {
		snprintf(path, sizeof(path), "%s/%s", r->bindir, *b);
		if (access(path, X_OK))
			rig_fail("%s: %m (build it first: make bench does)", path);
	}
}

/*
 * fork + exec @argv with stdout/stderr to @log, stdin from /dev/null,
 * @keep_fd (or -1) inherited, @env_add ("K=V" or NULL) in the environment.
 */
static pid_t spawn(const char *const *argv, const char *log, int keep_fd,
		   const char *env_add)
{
	pid_t parent = getpid(), pid;
	int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (out < 0 || in < 0)
		rig_fail("open %s: %m", log);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		rig_fail("fork: %m");
	if (pid == 0) {
		/* Die with the benchmark, even if it is killed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);	/* ignored dispositions survive exec */
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0);
		if (env_add)
			putenv((char *)env_add);
		execv(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %m\n", argv[0]);
		_exit(127);
	}
	close(out);
	close(in);
	track(pid, log);
	return pid;
}

void rig_start_proxy(struct rig *r, const char *const *extra)
{
	char bin[4200], env[sizeof("NOTIFY_SOCKET=") + 108], buf[4096];
	const char *argv[32] = { bin, "--socket-path", r->sock };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = 3;
	double end;
	int fd;

	snprintf(bin, sizeof(bin), "%s/cc-proxy", r->bindir);
	for (; extra && *extra && n < 31; extra++)
		argv[n++] = *extra;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify.sock", r->dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		rig_fail("notify socket %s: %m", sa.sun_path);
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", sa.sun_path);
	r->proxy = spawn(argv, r->proxy_log, -1, env);

	/* Wait for READY=1; a master that exits first is a setup failure. */
	end = rig_now() + RIG_TIMEOUT_MS / 1000.0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t len;

		if (waitpid(r->proxy, NULL, WNOHANG) == r->proxy) {
			untrack(r->proxy);
			r->proxy = 0;
			rig_fail("cc-proxy exited before READY=1");
		}
		if (rig_now() > end)
			rig_fail("cc-proxy sent no READY=1 within %d ms", RIG_TIMEOUT_MS);
		if (poll(&p, 1, 100) <= 0)
			continue;
		len = recv(fd, buf, sizeof(buf) - 1, 0);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		if (!strncmp(buf, "READY=1", 7) || strstr(buf, "\nREADY=1"))
			break;
	}
	close(fd);
}

double rig_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields resume after the
	 * last ')'. utime and stime are fields 14 and 15 (proc(5)). */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double rig_cpu_exact(pid_t pid)
{
	char path[64];
	unsigned long long ns;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%llu", &ns);
	fclose(f);
	return n == 1 ? (double)ns / 1e9 : -1;
}

/* Whether @pid is an idle helper of the master's pool (cc-proxy
 * --helper-pool): its argv holds "--pool-slot" until it gets a VM. */
static bool rig_is_idle_helper(const char *pid)
{
	char path[300], buf[8192];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = '\0';
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1)
		if (!strcmp(buf + i, "--pool-slot"))
			return true;
	return false;
}

/* The children of @parent; idle pool helpers only when @idle_too. */
static size_t rig_children_of(pid_t parent, pid_t *pids, size_t max, bool idle_too)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d && n < max && (e = readdir(d))) {
		char path[300], buf[512], *p;
		int ppid;
		int fd;
		ssize_t len;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		p = strrchr(buf, ')');
		if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == parent &&
		    (idle_too || !rig_is_idle_helper(e->d_name)))
			pids[n++] = (pid_t)atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

size_t rig_children(pid_t parent, pid_t *pids, size_t max)
{
	return rig_children_of(parent, pids, max, false);
}

size_t rig_children_all(pid_t parent, pid_t *pids, size_t max)
{
	return rig_children_of(parent, pids, max, true);
}

long rig_pss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pss: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

pid_t rig_child_of(pid_t parent)
{
	pid_t pid = 0;

	return rig_children_of(parent, &pid, 1, false) ? pid : 0;
}
