/*
 * confine.c - the helper's demotion: empty root, no identity, no
 * capabilities, tight rlimits, no new privileges (STYLE.md §8).
 *
 * Order matters and is fixed by main.c: chroot needs CAP_SYS_CHROOT, so it
 * comes before the capabilities go; the uid change and the capability drop
 * are one libcap-ng step so no window exists in which we hold a non-root
 * uid with capabilities; rlimits and no_new_privs come last because they
 * need no privilege. seccomp (sandbox.c) follows once the event loop is
 * built. Every function returns -errno on failure and the caller exits:
 * a half-confined helper must not go on.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cap-ng.h>

#include "confine.h"
#include "log.h"

/* Heap bound of a helper: generous for its bounded buffers (sessions,
 * shims, agent queue), small enough that a runaway helper cannot take the
 * host's memory. */
#define CONFINE_DATA_MAX (512ul * 1024 * 1024)

static int confine_drop_caps_only(void)
{
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH) < 0)
		return -EPERM;
	/* Ambient capabilities would survive nothing we exec (we exec
	 * nothing), but clear them so /proc shows an empty set. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	return 0;
}

int confine_identity(const struct confine_opts *o)
{
	int r;

	if (geteuid() != 0) {
		/* Without root we cannot chroot or change uid; we are already
		 * an unprivileged user, and the rlimits, no_new_privs and
		 * seccomp steps still apply. */
		log_submit(LOG_NOTICE, 0, NULL, NULL,
			   "not running as root: chroot and uid change skipped");
		return confine_drop_caps_only();
	}
	if (!o->change_id || o->uid == 0) {
		/* A root helper would defeat the design: refuse. */
		log_error("refusing to run as root: the master passed no unprivileged --uid/--gid");
		return -EPERM;
	}
	if (!o->chroot_dir) {
		log_error("refusing to run as root without --chroot");
		return -EINVAL;
	}

	/* Empty root: after this no host path is reachable. chdir first so
	 * the cwd cannot be left outside the new root. */
	if (chdir(o->chroot_dir) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		r = -errno;
		log_error("cannot chroot to %s: %s", o->chroot_dir, strerror(-r));
		return r;
	}

	/* One step: clear every capability set we keep, change gid and uid,
	 * drop supplementary groups and clear the bounding set (needs
	 * CAP_SETPCAP, which the master kept for this). */
	capng_clear(CAPNG_SELECT_BOTH);
	r = capng_change_id((int)o->uid, (int)o->gid,
			    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (r < 0) {
		log_error("cannot drop to uid %u gid %u (libcap-ng error %d)",
			  (unsigned)o->uid, (unsigned)o->gid, r);
		return -EPERM;
	}
	r = confine_drop_caps_only();
	if (r < 0)
		return r;

	/* Check that root cannot be regained (OpenSSH's
	 * permanently_set_uid does the same). */
	if (setuid(0) == 0 || setgid(0) == 0 || geteuid() == 0 ||
	    getegid() == 0) {
		log_error("privileges could be regained after the drop");
		return -EPERM;
	}
	return 0;
}

static int confine_setrlimit(int resource, rlim_t value, const char *what)
{
	struct rlimit rl = { .rlim_cur = value, .rlim_max = value };

	if (setrlimit(resource, &rl) < 0) {
		int r = -errno;
		log_error("cannot set %s limit: %s", what, strerror(-r));
		return r;
	}
	return 0;
}

int confine_limits(unsigned int max_fds, unsigned int *nofile)
{
	struct rlimit cur;
	struct stat st;
	int r;

	/* No new processes: the helper never forks (seccomp forbids it as
	 * well; this is the second fence). */
	r = confine_setrlimit(RLIMIT_NPROC, 0, "process");
	if (r < 0)
		return r;
	/* No core files: a crash must not write VM data to disk. */
	r = confine_setrlimit(RLIMIT_CORE, 0, "core size");
	if (r < 0)
		return r;
	/* The fds the helper holds: its fixed ones, one per shim, and
	 * libevent's. NOFILE cannot be 0 (OpenSSH's comment): poll and
	 * epoll refuse, and received fds need room. A lower hard limit
	 * inherited from the master is kept (it cannot be raised without
	 * privilege, and lower is tighter): the caller sizes its shim cap
	 * from what was set. */
	if (getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
	    cur.rlim_max < max_fds)
		max_fds = (unsigned int)cur.rlim_max;
	r = confine_setrlimit(RLIMIT_NOFILE, max_fds, "open files");
	if (r < 0)
		return r;
	*nofile = max_fds;
	/* No file writes. A regular file as stderr (a log file) is the one
	 * exception: the limit would kill us with SIGXFSZ on the first log
	 * line, so it is left alone then. */
	if (fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode))
		log_submit(LOG_INFO, 1, NULL, NULL,
			   "stderr is a regular file: file size limit not set");
	else if ((r = confine_setrlimit(RLIMIT_FSIZE, 0, "file size")) < 0)
		return r;
#ifndef CC_PROXY_SANITIZERS
	/* Bounded memory. Sanitizer runtimes reserve terabytes of shadow
	 * memory, so the bound is left out of those builds only. */
	r = confine_setrlimit(RLIMIT_DATA, CONFINE_DATA_MAX, "data size");
	if (r < 0)
		return r;
#endif
	return 0;
}

int confine_no_new_privs(void)
{
	/* Nothing exec'd (nothing can be) gains privileges, and it allows
	 * an unprivileged process to load a seccomp filter. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

void confine_set_name(const char *container_id)
{
	char comm[16];

	/* comm is 15 characters: "ccvm-" plus the start of the id, so
	 * `ps -o comm` and top show which VM a helper serves; the full id
	 * is on argv (--container-id). */
	snprintf(comm, sizeof(comm), "ccvm-%s", container_id);
	(void)prctl(PR_SET_NAME, comm, 0, 0, 0);
}

int confine_check_fd(int fd, int type, const char *what)
{
	int val = 0;
	socklen_t len = sizeof(val);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &val, &len) < 0) {
		log_error("fd %d (%s) is not a socket: %s", fd, what, strerror(errno));
		return -EBADF;
	}
	if (val != type) {
		log_error("fd %d (%s) is a socket of type %d, want %d", fd, what, val, type);
		return -EBADF;
	}
	len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &val, &len) < 0 || val != AF_UNIX) {
		log_error("fd %d (%s) is not an AF_UNIX socket", fd, what);
		return -EBADF;
	}
	return 0;
}
