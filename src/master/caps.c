/*
 * caps.c - the master's privileges (caps.h).
 *
 * What the master itself holds (effective and permitted): CAP_KILL only,
 * to SIGKILL helpers that run under another uid (a misbehaving or stuck
 * helper). It needs no other privilege to listen, to connect to the VM
 * sockets (which belong to root) or to create its directories in /run.
 *
 * What its bounding set holds: what a helper's demotion needs, and no
 * more (STYLE.md section 8):
 *   CAP_SETUID, CAP_SETGID  the helper switches to the helper user
 *   CAP_SYS_CHROOT          ... after chroot()ing into the empty directory
 *   CAP_SETPCAP             ... and clears its own bounding set
 * A process of uid 0 that execs a file without file capabilities gets
 * its bounding set (| inheritable, which is empty) as permitted and
 * effective sets, unless SECBIT_NOROOT says otherwise (capabilities(7),
 * "Capabilities and execution of programs by root"). So the helper is
 * handed these four at exec without the master ever holding them: a bug
 * in the master cannot use them, only a freshly exec'd helper can, and it
 * drops them all before it reads a byte from its VM.
 *
 * CAP_KILL stays in the bounding set as well: the master's re-exec on
 * SIGHUP (upgrade.c) is an exec by root like any other, and the new image
 * gets back only what the bounding set holds - without CAP_KILL it could
 * not signal helpers of another uid. A helper therefore also starts with
 * CAP_KILL, in the same window in which it holds CAP_SETUID (with which,
 * as root, it could become any uid and signal anything of it anyway), and
 * drops it with the rest.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cap-ng.h>

#include "caps.h"
#include "log.h"

/* The soft open-files limit the master asks for (clients + helpers). */

struct caps_entry {
	unsigned int cap;
	const char *name;
};

/* Effective and permitted in the master. */
static const struct caps_entry caps_master[] = {
	{ CAP_KILL, "CAP_KILL" },
};

/* The bounding set: what an exec'd helper starts with. */
static const struct caps_entry caps_helper[] = {
	{ CAP_SETUID, "CAP_SETUID" },
	{ CAP_SETGID, "CAP_SETGID" },
	{ CAP_SYS_CHROOT, "CAP_SYS_CHROOT" },
	{ CAP_SETPCAP, "CAP_SETPCAP" },
};

#define CAPS_N(a) (sizeof(a) / sizeof((a)[0]))

/* Add each of @caps to the libcap-ng state for @sets; names to @names. */
static int caps_select(const struct caps_entry *caps, size_t n, unsigned int sets,
		       char *names, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (capng_update(CAPNG_ADD, sets, caps[i].cap) < 0)
			return -EINVAL;
		if (i)
			strncat(names, " ", len - strlen(names) - 1);
		strncat(names, caps[i].name, len - strlen(names) - 1);
	}
	return 0;
}

int caps_drop(void)
{
	char own[64] = "", bound[128] = "";
	int r, bits;

	if (geteuid() != 0) {
		log_submit(LOG_NOTICE, 0, NULL, NULL,
			   "not running as root: no capabilities to drop, helpers keep our uid");
		return 0;
	}
	/* With SECBIT_NOROOT an exec'd helper would get no capabilities
	 * from the bounding set, and could not demote itself. */
	bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (bits >= 0 && (bits & SECBIT_NOROOT)) {
		log_error("SECBIT_NOROOT is set: helpers could not confine themselves");
		return -EPERM;
	}

	capng_clear(CAPNG_SELECT_BOTH);
	if (caps_select(caps_master, CAPS_N(caps_master), CAPNG_EFFECTIVE | CAPNG_PERMITTED,
			own, sizeof(own)) < 0 ||
	    caps_select(caps_helper, CAPS_N(caps_helper), CAPNG_BOUNDING_SET,
			bound, sizeof(bound)) < 0)
		return -EINVAL;
	strncat(bound, " ", sizeof(bound) - strlen(bound) - 1);
	if (caps_select(caps_master, CAPS_N(caps_master), CAPNG_BOUNDING_SET,
			bound + strlen(bound), sizeof(bound) - strlen(bound)) < 0)
		return -EINVAL;
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
	for (size_t i = 0; i < CAPS_N(caps_master); i++)
		if (!capng_have_capability(CAPNG_EFFECTIVE, caps_master[i].cap)) {
			log_error("capability %s is missing after the drop", caps_master[i].name);
			return -EPERM;
		}
	for (size_t i = 0; i < CAPS_N(caps_helper); i++)
		if (capng_have_capability(CAPNG_PERMITTED, caps_helper[i].cap) ||
		    !capng_have_capability(CAPNG_BOUNDING_SET, caps_helper[i].cap)) {
			log_error("capability %s: not where it belongs after the drop",
				  caps_helper[i].name);
			return -EPERM;
		}
	log_submit(LOG_NOTICE, 0, NULL,
		   LOG_FIELDS({ "CC_CAPABILITIES", own }, { "CC_BOUNDING_SET", bound }),
		   "capabilities reduced to %s (effective, permitted); bounding set %s, "
		   "for the helpers' demotion and our re-exec", own, bound);
	return 0;
}

void caps_limits(void)
{
	struct rlimit rl = { 0, 0 };

	/* A core file of the master would hold every live I/O token. */
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		log_warn("cannot disable core files: %s", strerror(errno));
	/* Each client and each VM is one fd: use every fd we are allowed
	 * (the soft limit up to the hard one; nothing here uses select(),
	 * so no FD_SETSIZE bound applies). Helpers inherit the limit until
	 * they set their own. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warn("cannot raise the open files limit: %s", strerror(errno));
			getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		log_submit(LOG_NOTICE, 0, NULL, NULL, "open files limit: unlimited");
	else
		log_submit(LOG_NOTICE, 0, NULL, NULL, "open files limit %llu: about %llu VMs "
			   "and connections together (RLIMIT_NOFILE, LimitNOFILE=)",
			   (unsigned long long)rl.rlim_cur,
			   (unsigned long long)(rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0));
}
