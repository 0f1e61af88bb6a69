/*
 * confine.h - the helper's demotion, in STYLE.md §8 order. main.c calls:
 *   confine_identity()    3-4: empty root, uid/gid, no capabilities (root only)
 *   confine_limits()      5:   rlimits
 *   confine_no_new_privs() 6:  PR_SET_NO_NEW_PRIVS
 *   (build the event loop and its events)
 *   sandbox_install()       7: seccomp allowlist (sandbox.h)
 * Any failure ends the helper: a half-confined helper must not go on.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct confine_opts {
	bool change_id;		/* set when the master passed --uid/--gid */
	uid_t uid;
	gid_t gid;
	const char *chroot_dir;	/* empty directory to chroot into, or NULL */
};

/**
 * confine_identity() - when running as root: chroot to the empty
 * directory, drop every capability (all sets and the bounding set) and
 * switch to uid/gid without supplementary groups, then verify root cannot
 * be regained. When not root: log once that these steps are skipped and
 * still clear every capability we might hold.
 * Return: 0 or -errno (the caller exits).
 */
int confine_identity(const struct confine_opts *o);

/**
 * confine_limits() - no new processes, no file writes, no core files, and
 * RLIMIT_NOFILE of @max_fds (room for the fds the helper will hold), or
 * of the inherited hard limit when that is lower; *@nofile is the limit set.
 * Return: 0 or -errno.
 */
int confine_limits(unsigned int max_fds, unsigned int *nofile);

/** confine_no_new_privs() - PR_SET_NO_NEW_PRIVS. Return: 0 or -errno. */
int confine_no_new_privs(void);

/** confine_set_name() - argv-visible name and comm "ccvm-<id>" (15 chars). */
void confine_set_name(const char *container_id);

/**
 * confine_check_fd() - @fd must be an AF_UNIX socket of @type (@what names
 * it in the error); anything else means the master did not set us up (or
 * someone else ran us): the caller refuses to start. Return: 0 or -EBADF.
 */
int confine_check_fd(int fd, int type, const char *what);
