/*
 * spawn.c - starting a helper (spawn.h).
 *
 * Everything the child needs is computed before clone(): argv, the
 * environment, and every source fd put into its reserved slot (a number
 * >= 8, above the layout of ipc.h, see spawn_init()), so the child's
 * dup2() calls can never overwrite a source that is still to be moved.
 * Signals are blocked across the clone, so no libevent signal handler
 * runs in the child before the dispositions are reset.
 *
 * clone(CLONE_VM | CLONE_VFORK | CLONE_FILES), the way posix_spawn
 * starts its child, not fork: the child borrows the master's memory and
 * fd table until execve, so no page table and no fd table is copied.
 * With fork both grow with the master's size, i.e. with the number of
 * VMs, and every RegisterVM paid them (issue 10). The master is suspended
 * only for the few system calls below. The child then only:
 *   1. takes a private fd table holding the fds below the slots' end
 *      (close_range(CLOSE_RANGE_UNSHARE): a copy of ~20 fds, not of all),
 *   2. resets every signal disposition to SIG_DFL,
 *   3. dup2()s the slots to 0..7 and closes the unused ones of 0..7,
 *   4. closes every fd >= 8 (close_range, or a loop),
 *   5. unblocks signals and execve()s the helper; if that fails, _exit(127).
 * It allocates nothing, writes no memory of the master's (only its own
 * stack, spawn_stack) and calls no library code that might take a lock
 * (STYLE.md section 1).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND_H 1
#endif
#endif

#include "master.h"
#include "payload.h"
#include "ratelimit.h"
#include "spawn.h"

#define SPAWN_HELPER_NAME	"cc-proxy-vmhelper"
#define SPAWN_EMPTY_PARENT	"/run/cc-proxy"
#define SPAWN_EMPTY_DEFAULT	SPAWN_EMPTY_PARENT "/empty"
#define SPAWN_JOURNAL_SOCKET	"/run/systemd/journal/socket"
#define SPAWN_FD_FIRST_FREE	(IPC_FD_JOURNAL + 1)	/* 8: above the layout */

/* Room for what replaces "--pool-slot PAD" in a pooled helper's argv:
 * "--container-id ID" and "--console-fd 6", ID at its longest. */
_Static_assert(SPAWN_POOL_PAD_LEN >= PAYLOAD_CONTAINER_ID_MAX + sizeof("--container-id") +
	       sizeof("--console-fd") + sizeof("6") + 2 - sizeof("--pool-slot"),
	       "the pool slot must hold the longest container id");

extern char **environ;

/* ---- start-up: what helpers are started with ------------------------- */

static int spawn_find_helper(struct master_config *cfg, const char *helper)
{
	char self[PATH_MAX], beside[PATH_MAX + sizeof(SPAWN_HELPER_NAME)];
	const char *libexec = CC_PROXY_LIBEXECDIR "/" SPAWN_HELPER_NAME;
	ssize_t n;
	char *slash;

	if (helper) {
		cfg->helper_path = realpath(helper, NULL);
		if (!cfg->helper_path || access(cfg->helper_path, X_OK) < 0) {
			log_error("--helper %s: %s", helper, strerror(errno));
			return -ENOENT;
		}
		return 0;
	}
	/* The build tree puts the helper beside the master; an installed
	 * master finds it in libexecdir. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			slash[1] = '\0';
			snprintf(beside, sizeof(beside), "%s%s", self, SPAWN_HELPER_NAME);
			if (access(beside, X_OK) == 0) {
				cfg->helper_path = strdup(beside);
				return cfg->helper_path ? 0 : -ENOMEM;
			}
		}
	}
	if (access(libexec, X_OK) < 0) {
		log_error("the helper binary is missing: no executable %s beside %s nor %s "
			  "(use --helper PATH)", SPAWN_HELPER_NAME, n > 0 ? self : "cc-proxy",
			  libexec);
		return -ENOENT;
	}
	cfg->helper_path = strdup(libexec);
	return cfg->helper_path ? 0 : -ENOMEM;
}

static int spawn_find_user(struct master_config *cfg, const char *user)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user ? user : CC_PROXY_HELPER_USER);
	if (!pw && !user)
		pw = getpwnam("nobody");
	if (!pw) {
		log_error("helper user %s does not exist (--helper-user)",
			  user ? user : CC_PROXY_HELPER_USER " nor nobody");
		return -ENOENT;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		/* The helper refuses root, and so do we: the whole point
		 * is that a compromised helper holds nothing. */
		log_error("helper user %s has uid or gid 0: refused", pw->pw_name);
		return -EPERM;
	}
	cfg->helper_user = strdup(pw->pw_name);
	cfg->helper_uid = pw->pw_uid;
	cfg->helper_gid = pw->pw_gid;
	return cfg->helper_user ? 0 : -ENOMEM;
}

/* The helpers' root: a directory with nothing in it that only root could
 * ever change, so a helper's "/" offers no file to open or exec. */
static int spawn_check_empty_dir(const char *dir)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = 0;

	if (lstat(dir, &st) < 0) {
		log_error("--empty-dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("--empty-dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		log_error("--empty-dir %s must be owned by root and writable by nobody else",
			  dir);
		return -EPERM;
	}
	/* The helper chroots while it is still uid 0 without
	 * CAP_DAC_READ_SEARCH: the owner's search bit must be there. */
	if (!(st.st_mode & S_IXUSR)) {
		log_error("--empty-dir %s is not searchable (mode %04o)", dir,
			  (unsigned)(st.st_mode & 07777));
		return -EACCES;
	}
	d = opendir(dir);
	if (!d) {
		log_error("--empty-dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			log_error("--empty-dir %s is not empty (it holds %s)", dir, de->d_name);
			r = -ENOTEMPTY;
			break;
		}
	closedir(d);
	return r;
}

static int spawn_make_empty_dir(struct master_config *cfg, const char *dir)
{
	struct stat st;

	if (!dir) {
		/* Several masters (tests) may race here: EEXIST is fine. */
		if (mkdir(SPAWN_EMPTY_PARENT, 0755) < 0 && errno != EEXIST) {
			log_error("cannot create %s: %s", SPAWN_EMPTY_PARENT, strerror(errno));
			return -errno;
		}
		if (mkdir(SPAWN_EMPTY_DEFAULT, 0555) < 0 && errno != EEXIST) {
			log_error("cannot create %s: %s", SPAWN_EMPTY_DEFAULT, strerror(errno));
			return -errno;
		}
		/* Ours: put the mode right if someone changed it. */
		if (lstat(SPAWN_EMPTY_DEFAULT, &st) == 0 && S_ISDIR(st.st_mode) &&
		    st.st_uid == 0 && (st.st_mode & 07777) != 0555)
			chmod(SPAWN_EMPTY_DEFAULT, 0555);
		dir = SPAWN_EMPTY_DEFAULT;
	}
	cfg->empty_dir = realpath(dir, NULL);
	if (!cfg->empty_dir) {
		log_error("--empty-dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	return spawn_check_empty_dir(cfg->empty_dir);
}

int spawn_prepare(struct master_config *cfg, const char *helper,
		  const char *user, const char *empty_dir)
{
	int r;

	r = spawn_find_helper(cfg, helper);
	if (r < 0)
		return r;
	cfg->as_root = geteuid() == 0;
	if (!cfg->as_root) {
		if (user || empty_dir)
			log_submit(LOG_NOTICE, 0, NULL, NULL,
				   "not running as root: --helper-user and --empty-dir are ignored");
		cfg->helper_uid = geteuid();
		cfg->helper_gid = getegid();
		return 0;
	}
	r = spawn_find_user(cfg, user);
	if (r == 0)
		r = spawn_make_empty_dir(cfg, empty_dir);
	return r;
}

/* ---- sockets ---------------------------------------------------------- */

int spawn_connect(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	*out = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Non-blocking, so the event loop never waits on a VM's socket: an
	 * AF_UNIX connect completes at once or fails, and EAGAIN means the
	 * listener's backlog is full, which we report instead of waiting. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

const char *spawn_connect_strerror(int r)
{
	return r == -EAGAIN ? "its listen backlog is full" : spawn_strerror(r);
}

/* One record a second at most per limit: a runtime retrying at a limit
 * must not flood the log, and the first refusal is the one that says it. */
static struct ratelimit spawn_limit_log[4] = {
	RATELIMIT_INIT(1, 1), RATELIMIT_INIT(1, 1), RATELIMIT_INIT(1, 1), RATELIMIT_INIT(1, 1),
};

const char *spawn_strerror(int r)
{
	static char text[256];
	struct rlimit rl = { 0, 0 };
	struct timespec ts;
	uint64_t now;
	int which;

	switch (r) {
	case -EAGAIN:
		getrlimit(RLIMIT_NPROC, &rl);
		snprintf(text, sizeof(text), "the process limit is reached (RLIMIT_NPROC "
			 "%llu, the unit's TasksMax=, kernel.pid_max, kernel.threads-max)",
			 (unsigned long long)rl.rlim_cur);
		which = 3;
		break;
	case -EMFILE:
		getrlimit(RLIMIT_NOFILE, &rl);
		snprintf(text, sizeof(text), "the proxy's open files limit is reached "
			 "(RLIMIT_NOFILE %llu: raise LimitNOFILE=)",
			 (unsigned long long)rl.rlim_cur);
		which = 0;
		break;
	case -ENFILE:
		snprintf(text, sizeof(text), "the system's open files limit is reached "
			 "(fs.file-max, fs.nr_open)");
		which = 1;
		break;
	case -ENOMEM:
		snprintf(text, sizeof(text), "out of memory (or a memory limit: the "
			 "unit's MemoryMax=, vm.max_map_count)");
		which = 2;
		break;
	default:
		return strerror(-r);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	if (ratelimit_allow(&spawn_limit_log[which], now))
		log_submit(LOG_ERR, 0, NULL, NULL, "a limit stops VM registration: %s", text);
	return text;
}

int spawn_journal_socket(int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = SPAWN_JOURNAL_SOCKET };
	int fd, r;

	*out = -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* ---- clone + exec ----------------------------------------------------- */

/*
 * Reserved fd slots, one per target of the layout, opened once at
 * start-up (spawn_init()) at the lowest numbers >= 8, before the master
 * holds any VM's fds. Before each spawn the sources are dup3()'d onto
 * them, and /dev/null again afterwards: between spawns every slot holds
 * /dev/null (2: our stderr), so the master keeps no extra reference to a
 * VM's socket. The child shares our fd table (CLONE_FILES) and unshares
 * only the fds below spawn_first_free (close_range(CLOSE_RANGE_UNSHARE)
 * copies just those): a master holding 20 000 fds makes the child copy
 * and close about 20 of them, not 20 000. With a private copy (fork, vfork,
 * posix_spawn) every one of them was duplicated and then closed again,
 * the cost that grew with each VM registered (issue 10; perf at 5000 VMs
 * showed 60 % of the master's time in filp_close and dup_fd).
 */
static int spawn_slot[SPAWN_FD_FIRST_FREE] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static int spawn_null = -1;		/* /dev/null, to reset the slots */
static unsigned int spawn_first_free;	/* above the highest slot */
/* The child's stack: it runs on its own (CLONE_VM shares our memory, and
 * our stack frames must survive it). CLONE_VFORK suspends us until it
 * execs, so one stack serves every spawn. */
static unsigned char spawn_stack[32 * 1024] __attribute__((aligned(16)));

int spawn_init(void)
{
	int hi = -1;

	spawn_null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (spawn_null < 0)
		return -errno;
	for (int t = 0; t < SPAWN_FD_FIRST_FREE; t++) {
		int src = t == IPC_FD_STDERR ? STDERR_FILENO : spawn_null;

		spawn_slot[t] = fcntl(src, F_DUPFD_CLOEXEC, SPAWN_FD_FIRST_FREE);
		if (spawn_slot[t] < 0)
			return -errno;
		if (spawn_slot[t] > hi)
			hi = spawn_slot[t];
	}
	spawn_first_free = (unsigned int)hi + 1;
	return 0;
}

void spawn_fini(void)
{
	for (int t = 0; t < SPAWN_FD_FIRST_FREE; t++)
		if (spawn_slot[t] >= 0) {
			close(spawn_slot[t]);
			spawn_slot[t] = -1;
		}
	if (spawn_null >= 0)
		close(spawn_null);
	spawn_null = -1;
}

/* The environment minus what is addressed to us alone: the socket
 * activation, readiness and fd store variables. */
static char **spawn_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];

		if (!strncmp(e, "LISTEN_", 7) || !strncmp(e, "NOTIFY_SOCKET=", 14) ||
		    !strncmp(e, "FDSTORE=", 8) ||
		    !strncmp(e, LOG_LEVEL_ENV "=", strlen(LOG_LEVEL_ENV) + 1))
			continue;
		env[k++] = (char *)e;
	}
	return env;
}

struct spawn_child_args {
	bool present[SPAWN_FD_FIRST_FREE];
	const char *path;
	char *const *argv;
	char *const *envp;
	sigset_t mask;
};

/* In the child: only async-signal-safe calls, no allocation. */
static int spawn_child(void *arg)
{
	const struct spawn_child_args *a = arg;
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	/* First, before touching any fd: our own table, holding only the
	 * fds below the slots' end (the master's table is shared until
	 * here). Without CLOSE_RANGE_UNSHARE (Linux < 5.9) the whole table
	 * is copied and everything above the layout closed below. */
	if (close_range(spawn_first_free, ~0U, CLOSE_RANGE_UNSHARE) < 0 &&
	    unshare(CLONE_FILES) < 0)
		_exit(126);
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);	/* EINVAL for KILL, STOP, reserved: fine */
	for (int t = 0; t < SPAWN_FD_FIRST_FREE; t++) {
		if (a->present[t]) {
			/* dup2 clears close-on-exec on the target. */
			if (dup2(spawn_slot[t], t) < 0)
				_exit(126);
		} else {
			close(t);	/* nothing of ours at an unused slot */
		}
	}
	if (close_range(SPAWN_FD_FIRST_FREE, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (long fd = SPAWN_FD_FIRST_FREE; fd < (max > 0 ? max : 65536); fd++)
			close((int)fd);
	}
	sigprocmask(SIG_SETMASK, &a->mask, NULL);
	execve(a->path, a->argv, a->envp);
	_exit(127);
}

/*
 * Valgrind runs no clone() that is neither a fork nor a thread: under it
 * (tests only) the child comes from vfork, with a private copy of the fd
 * table - the old cost, the same child code (the unshare is then a no-op).
 */
static bool spawn_plain_vfork(void)
{
#ifdef HAVE_VALGRIND_H
	return RUNNING_ON_VALGRIND;
#else
	return false;
#endif
}

/* vfork + spawn_child(), apart from spawn_helper(): nothing here changes
 * after vfork but the return value, so no local can be clobbered by the
 * child's use of the shared stack (-Wclobbered). */
static __attribute__((noinline)) pid_t spawn_vfork(struct spawn_child_args *a)
{
	pid_t pid = vfork();

	if (pid == 0)
		_exit(spawn_child(a));	/* never returns: execve or _exit */
	return pid;
}

/* Put @fds into the slots (or take them out again: @fds NULL). */
static int spawn_fill_slots(const struct spawn_fds *fds)
{
	for (int t = IPC_FD_CHANNEL; t < SPAWN_FD_FIRST_FREE; t++) {
		int src = fds && fds->fd[t] >= 0 ? fds->fd[t] : spawn_null;

		if (dup3(src, spawn_slot[t], O_CLOEXEC) < 0)
			return -errno;
	}
	return 0;
}

/* The padding a pooled helper's argv reserves for the VM's arguments
 * (vmhelper/pool.c rewrites argv in place once it has its VM). */
static const char *spawn_pool_pad(void)
{
	static char pad[SPAWN_POOL_PAD_LEN + 1];

	if (!pad[0])
		memset(pad, ' ', SPAWN_POOL_PAD_LEN);
	return pad;
}

int spawn_helper(const struct master_config *cfg, const char *container_id,
		 const struct spawn_fds *fds, pid_t *pid)
{
	char level[8], wait_ms[16], uid[16], gid[16];
	struct spawn_child_args a = { .path = cfg->helper_path };
	const char *argv[24];
	sigset_t all, old;
	char **envp = NULL;
	int r = 0;
	size_t n = 0;

	if (spawn_null < 0)
		return -EBADF;	/* spawn_init() was not called */
	snprintf(level, sizeof(level), "%d", cfg->log_level);
	snprintf(wait_ms, sizeof(wait_ms), "%u", cfg->wait_timeout_ms);
	argv[n++] = cfg->helper_path;
	if (container_id) {
		argv[n++] = "--container-id";
		argv[n++] = container_id;
	}
	argv[n++] = "-v";
	argv[n++] = level;
	argv[n++] = "--log-target";
	argv[n++] = fds->fd[IPC_FD_JOURNAL] >= 0 ? "journal" : "stderr";
	argv[n++] = "--wait-timeout-ms";
	argv[n++] = wait_ms;
	if (fds->fd[IPC_FD_CONSOLE] >= 0) {
		argv[n++] = "--console-fd";
		argv[n++] = "6";
	}
	if (fds->fd[IPC_FD_JOURNAL] >= 0) {
		argv[n++] = "--journal-fd";
		argv[n++] = "7";
	}
	if (cfg->as_root) {
		snprintf(uid, sizeof(uid), "%u", (unsigned)cfg->helper_uid);
		snprintf(gid, sizeof(gid), "%u", (unsigned)cfg->helper_gid);
		argv[n++] = "--uid";
		argv[n++] = uid;
		argv[n++] = "--gid";
		argv[n++] = gid;
		argv[n++] = "--chroot";
		argv[n++] = cfg->empty_dir;
	}
	if (!container_id) {
		/* Last, so that `ps` shows an idle helper without a wide gap. */
		argv[n++] = "--pool-slot";
		argv[n++] = spawn_pool_pad();
	}
	argv[n] = NULL;
	a.argv = (char *const *)argv;

	envp = spawn_env();
	if (!envp)
		return -ENOMEM;
	a.envp = envp;
	for (int t = 0; t < SPAWN_FD_FIRST_FREE; t++)
		a.present[t] = t <= IPC_FD_STDERR || fds->fd[t] >= 0;
	r = spawn_fill_slots(fds);
	if (r < 0)
		goto out;

	sigfillset(&all);
	sigemptyset(&a.mask);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (spawn_plain_vfork())
		*pid = spawn_vfork(&a);
	else
		*pid = clone(spawn_child, spawn_stack + sizeof(spawn_stack),
			     CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &a);
	if (*pid < 0)
		r = -errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	/* The slots hold /dev/null again: no VM socket stays open here.
	 * dup3 onto an open slot cannot fail for lack of fds. */
	(void)spawn_fill_slots(NULL);
	free(envp);
	return r;
}
