/*
 * caps.c - the master's privileges (caps.h).
 *
 * Why these five capabilities, and nothing else:
 *   CAP_SETUID, CAP_SETGID  a root helper switches to the helper user
 *   CAP_SYS_CHROOT          ... after chroot()ing into the empty directory
 *   CAP_SETPCAP             ... and clears its bounding set
 *   CAP_KILL                the master SIGKILLs helpers that run under
 *                           another uid (a misbehaving or stuck helper)
 * A helper exec'd by root starts with the master's bounding set as its
 * permitted set, so the bounding set must hold exactly what the helper's
 * demotion needs (STYLE.md section 8) and the helper drops it all.
 * The master itself needs no privilege to listen, connect to the VM
 * sockets (which belong to root) or create its directories in /run.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cap-ng.h>

#include "caps.h"
#include "log.h"

/* The soft open-files limit the master asks for (clients + helpers). */
#define CAPS_NOFILE_MAX 65536

static const struct {
	unsigned int cap;
	const char *name;
} caps_kept[] = {
	{ CAP_SETUID, "CAP_SETUID" },
	{ CAP_SETGID, "CAP_SETGID" },
	{ CAP_SYS_CHROOT, "CAP_SYS_CHROOT" },
	{ CAP_SETPCAP, "CAP_SETPCAP" },
	{ CAP_KILL, "CAP_KILL" },
};

int caps_drop(void)
{
	char names[128] = "";
	int r;

	if (geteuid() != 0) {
		log_submit(LOG_NOTICE, 0, NULL, NULL,
			   "not running as root: no capabilities to drop, helpers keep our uid");
		return 0;
	}

	capng_clear(CAPNG_SELECT_BOTH);
	for (size_t i = 0; i < sizeof(caps_kept) / sizeof(caps_kept[0]); i++) {
		if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED |
				 CAPNG_BOUNDING_SET, caps_kept[i].cap) < 0)
			return -EINVAL;
		if (i)
			strcat(names, " ");
		strcat(names, caps_kept[i].name);
	}
	/* The bounding set first, while CAP_SETPCAP is surely effective
	 * (libcap-ng versions differ in the order SELECT_BOTH uses). */
	r = capng_apply(CAPNG_SELECT_BOUNDS);
	if (r < 0) {
		log_error("cannot reduce the capability bounding set (libcap-ng error %d)", r);
		return -EPERM;
	}
	r = capng_apply(CAPNG_SELECT_CAPS);
	if (r < 0) {
		log_error("cannot drop capabilities (libcap-ng error %d)", r);
		return -EPERM;
	}
	/* Nothing we exec should inherit capabilities by the ambient route. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		r = -errno;
		log_error("cannot clear ambient capabilities: %s", strerror(-r));
		return r;
	}

	/* Read back what the kernel holds now: the log must tell the truth. */
	capng_get_caps_process();
	for (size_t i = 0; i < sizeof(caps_kept) / sizeof(caps_kept[0]); i++)
		if (!capng_have_capability(CAPNG_EFFECTIVE, caps_kept[i].cap)) {
			log_error("capability %s is missing after the drop", caps_kept[i].name);
			return -EPERM;
		}
	log_submit(LOG_NOTICE, 0, NULL,
		   LOG_FIELDS({ "CC_CAPABILITIES", names }),
		   "capabilities reduced to %s (effective, permitted, bounding)", names);
	return 0;
}

void caps_limits(void)
{
	struct rlimit rl = { 0, 0 };

	/* A core file of the master would hold every live I/O token. */
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		log_warn("cannot disable core files: %s", strerror(errno));
	/* Each client is one fd: use the fds we are allowed, up to a
	 * bound (helpers inherit the limit until they set their own). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < CAPS_NOFILE_MAX &&
	    rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < CAPS_NOFILE_MAX ? rl.rlim_max : CAPS_NOFILE_MAX;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open files limit: %s", strerror(errno));
	}
}
