/*
 * spawn.c - starting a helper (spawn.h).
 *
 * Everything the child needs is computed before vfork(): argv, the
 * environment, and every source fd moved to a number >= 8 (above the
 * layout of ipc.h), so the child's dup2() calls can never overwrite a
 * source that is still to be moved. Signals are blocked across vfork, so
 * no libevent signal handler runs in the child before the dispositions
 * are reset.
 *
 * vfork, not fork: the child borrows the master's memory until execve, so
 * no page table is copied and the master takes no copy-on-write faults
 * afterwards. With fork both grow with the master's size, i.e. with the
 * number of VMs, and every RegisterVM paid them (issue 10). The master
 * is suspended only for the few system calls below. The child then only:
 *   1. resets every signal disposition to SIG_DFL,
 *   2. dup2()s the sources to 0..7 and closes the unused ones of 0..7,
 *   3. closes every fd >= 8 (close_range, or a loop),
 *   4. unblocks signals and execve()s the helper; if that fails, _exit(127).
 * It allocates nothing, writes no memory of the master's (only its own
 * locals, below the master's stack frame) and calls no library code that
 * might take a lock (STYLE.md section 1).
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "master.h"
#include "spawn.h"

#define SPAWN_HELPER_NAME	"cc-proxy-vmhelper"
#define SPAWN_EMPTY_PARENT	"/run/cc-proxy"
#define SPAWN_EMPTY_DEFAULT	SPAWN_EMPTY_PARENT "/empty"
#define SPAWN_JOURNAL_SOCKET	"/run/systemd/journal/socket"
#define SPAWN_FD_FIRST_FREE	(IPC_FD_JOURNAL + 1)	/* 8: above the layout */

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
	return r == -EAGAIN ? "its listen backlog is full" : strerror(-r);
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

/* ---- vfork + exec ----------------------------------------------------- */

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

/* In the child: only async-signal-safe calls, no allocation. */
static void __attribute__((noreturn))
spawn_child(const int high[SPAWN_FD_FIRST_FREE], const char *path,
	    char *const argv[], char *const envp[], const sigset_t *mask)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);	/* EINVAL for KILL, STOP, reserved: fine */
	for (int t = 0; t < SPAWN_FD_FIRST_FREE; t++) {
		if (high[t] >= 0) {
			/* dup2 clears close-on-exec on the target. */
			if (dup2(high[t], t) < 0)
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
	sigprocmask(SIG_SETMASK, mask, NULL);
	execve(path, argv, envp);
	_exit(127);
}

/*
 * vfork + spawn_child(), apart from spawn_helper(): nothing here changes
 * after vfork but the return value, so no local can be clobbered by the
 * child's use of the shared stack (-Wclobbered), whatever gets inlined.
 */
static __attribute__((noinline)) pid_t
spawn_vfork(const int high[SPAWN_FD_FIRST_FREE], const char *path,
	    char *const argv[], char *const envp[], const sigset_t *mask)
{
	pid_t pid = vfork();

	if (pid == 0)
		spawn_child(high, path, argv, envp, mask);
	return pid;
}

int spawn_helper(const struct master_config *cfg, const char *container_id,
		 const struct spawn_fds *fds, pid_t *pid)
{
	char level[8], wait_ms[16], uid[16], gid[16];
	int high[SPAWN_FD_FIRST_FREE];
	const char *argv[24];
	sigset_t all, old, empty;
	char **envp = NULL;
	int devnull = -1, r = 0;
	size_t n = 0;

	for (int t = 0; t < SPAWN_FD_FIRST_FREE; t++)
		high[t] = -1;

	snprintf(level, sizeof(level), "%d", cfg->log_level);
	snprintf(wait_ms, sizeof(wait_ms), "%u", cfg->wait_timeout_ms);
	argv[n++] = cfg->helper_path;
	argv[n++] = "--container-id";
	argv[n++] = container_id;
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
	argv[n] = NULL;

	envp = spawn_env();
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (!envp || devnull < 0) {
		r = envp ? -errno : -ENOMEM;
		goto out;
	}
	/* Every source above the layout, close-on-exec in this process. */
	for (int t = 0; t < SPAWN_FD_FIRST_FREE; t++) {
		int src = t <= IPC_FD_STDOUT ? devnull : t == IPC_FD_STDERR ? STDERR_FILENO :
			  fds->fd[t];

		if (src < 0)
			continue;
		high[t] = fcntl(src, F_DUPFD_CLOEXEC, SPAWN_FD_FIRST_FREE);
		if (high[t] < 0) {
			r = -errno;
			goto out;
		}
	}

	sigfillset(&all);
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &all, &old);
	*pid = spawn_vfork(high, cfg->helper_path, (char *const *)argv, envp, &empty);
	if (*pid < 0)
		r = -errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	for (int t = 0; t < SPAWN_FD_FIRST_FREE; t++)
		if (high[t] >= 0)
			close(high[t]);
	if (devnull >= 0)
		close(devnull);
	free(envp);
	return r;
}
