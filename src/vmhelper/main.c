/*
 * main.c - cc-proxy-vmhelper: one per VM, started by the master only
 * (fork + exec, fd layout in ipc.h):
 *
 *   cc-proxy-vmhelper --container-id ID [-v N] [--log-target T]
 *       [--wait-timeout-ms MS] [--console-fd 6] [--journal-fd 7]
 *       [--uid N --gid N] [--chroot DIR]
 *   cc-proxy-vmhelper --pool-slot PAD [the same but --container-id and
 *       --console-fd]: an idle helper of the pool (pool.h), without a VM
 *       yet; it gets one over its channel and then takes steps 2 and 7.
 *
 * The order below is STYLE.md section 8 and must not change:
 *   2. name the process, check every inherited fd (type and family);
 *   3-4. empty root, uid/gid, no capabilities (confine_identity);
 *   5. rlimits;  6. no_new_privs, then the event loop and all its events;
 *   7. seccomp - only then is anything read from the VM.
 * Any failure before the loop runs ends the process with status 1: a
 * half-confined helper must not go on.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "confine.h"
#include "helper.h"
#include "ipc.h"
#include "log.h"
#include "numparse.h"
#include "pool.h"
#include "sandbox.h"

#define HELPER_IDENT		"cc-proxy-vmhelper"
#define HELPER_WAIT_DEFAULT_MS	30000u

struct options {
	const char *container_id;
	const char *level_arg;		/* -v, or NULL */
	enum log_target target;
	uint32_t wait_timeout_ms;
	int console_fd;			/* -1 when not announced */
	int journal_fd;
	struct confine_opts confine;
	bool have_uid, have_gid;
	bool pooled;			/* --pool-slot: no VM yet */
	char **argv;			/* rewritten when a pooled helper gets its VM */
	int argc;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " HELPER_IDENT " --container-id ID [-v N] [--log-target auto|stderr|journal]\n"
		"       [--wait-timeout-ms MS] [--console-fd 6] [--journal-fd 7]\n"
		"       [--uid N --gid N] [--chroot DIR]\n"
		"   or: " HELPER_IDENT " --pool-slot PAD [the options but --container-id, --console-fd]\n"
		"The per-VM helper of cc-proxy. It is started by cc-proxy only, with the\n"
		"fd layout of ipc.h: 3 master channel, 4 agent ctl, 5 agent io.\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_CID = 256, OPT_TARGET, OPT_WAIT, OPT_CONSOLE, OPT_JOURNAL,
	       OPT_UID, OPT_GID, OPT_CHROOT, OPT_POOL };
	static const struct option longopts[] = {
		{ "container-id", required_argument, NULL, OPT_CID },
		{ "log-target", required_argument, NULL, OPT_TARGET },
		{ "wait-timeout-ms", required_argument, NULL, OPT_WAIT },
		{ "console-fd", required_argument, NULL, OPT_CONSOLE },
		{ "journal-fd", required_argument, NULL, OPT_JOURNAL },
		{ "uid", required_argument, NULL, OPT_UID },
		{ "gid", required_argument, NULL, OPT_GID },
		{ "chroot", required_argument, NULL, OPT_CHROOT },
		{ "pool-slot", required_argument, NULL, OPT_POOL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "v:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CID:
			o->container_id = optarg;
			break;
		case 'v':
			o->level_arg = optarg;
			break;
		case OPT_TARGET:
			if (log_target_parse(optarg, &o->target) < 0)
				goto bad;
			break;
		case OPT_WAIT:
			if (numparse_ulong(optarg, 1, UINT32_MAX, &v) < 0)
				goto bad;
			o->wait_timeout_ms = (uint32_t)v;
			break;
		case OPT_CONSOLE:
			/* The layout is fixed (ipc.h); announcing it says
			 * "present". Any other number is a master bug. */
			if (numparse_ulong(optarg, IPC_FD_CONSOLE, IPC_FD_CONSOLE, &v) < 0)
				goto bad;
			o->console_fd = IPC_FD_CONSOLE;
			break;
		case OPT_JOURNAL:
			if (numparse_ulong(optarg, IPC_FD_JOURNAL, IPC_FD_JOURNAL, &v) < 0)
				goto bad;
			o->journal_fd = IPC_FD_JOURNAL;
			break;
		case OPT_UID:
			if (numparse_ulong(optarg, 0, UINT32_MAX - 1, &v) < 0)
				goto bad;
			o->confine.uid = (uid_t)v;
			o->have_uid = true;
			break;
		case OPT_GID:
			if (numparse_ulong(optarg, 0, UINT32_MAX - 1, &v) < 0)
				goto bad;
			o->confine.gid = (gid_t)v;
			o->have_gid = true;
			break;
		case OPT_CHROOT:
			o->confine.chroot_dir = optarg;
			break;
		case OPT_POOL:
			/* Its value is room for the VM's arguments (pool.c). */
			o->pooled = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	/* A pooled helper learns its VM later and has no console yet. */
	if (optind != argc || (o->pooled ? o->container_id || o->console_fd >= 0 :
			       !o->container_id || !*o->container_id)) {
		usage(stderr);
		return -EINVAL;
	}
	if (o->have_uid != o->have_gid) {
		log_error("--uid and --gid go together");
		return -EINVAL;
	}
	o->confine.change_id = o->have_uid;
	return 0;
bad:
	log_error("invalid value for option %s: '%s'", argv[optind - 1], optarg);
	return -EINVAL;
}

static int check_fds(const struct options *o)
{
	if (confine_check_fd(IPC_FD_CHANNEL, SOCK_SEQPACKET, "master channel") < 0)
		return -EBADF;
	/* A pooled helper gets the VM's sockets later (pool.c checks them).
	 * Until then their places hold /dev/null (fd 0): whatever it opens
	 * meanwhile (the loop's epoll fd) must not take them. */
	if (o->pooled) {
		for (int fd = IPC_FD_CTL; fd <= IPC_FD_CONSOLE; fd++)
			if (dup2(IPC_FD_STDIN, fd) < 0)
				return -EBADF;
	} else if (confine_check_fd(IPC_FD_CTL, SOCK_STREAM, "agent ctl") < 0 ||
		   confine_check_fd(IPC_FD_IO, SOCK_STREAM, "agent io") < 0) {
		return -EBADF;
	}
	if (o->console_fd >= 0 && confine_check_fd(o->console_fd, SOCK_STREAM, "console") < 0)
		return -EBADF;
	if (o->journal_fd >= 0 && confine_check_fd(o->journal_fd, SOCK_DGRAM, "journal") < 0)
		return -EBADF;
	return 0;
}

/*
 * Warm up what would otherwise make a first system call after seccomp:
 * json-c seeds its string hash on first use (getrandom or /dev/urandom),
 * and the time zone is read once. Both are done here, before the filter.
 */
static void prepare_for_seccomp(void)
{
	struct json_object *o = json_tokener_parse("{\"warm-up\":0}");

	if (o)
		json_object_put(o);
	tzset();
}

/* A loop that only ever uses epoll: the allowlist has no poll/select. */
static struct event_base *new_event_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base = NULL;

	if (!cfg)
		return NULL;
	if (event_config_avoid_method(cfg, "select") == 0 &&
	    event_config_avoid_method(cfg, "poll") == 0 &&
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV) == 0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/*
 * An idle helper: wait for the VM (pool.c does steps 2 and 7 when it
 * comes), then serve it as run() does. @base is consumed.
 */
static int run_pooled(const struct options *o, struct helper *h,
		      struct event_base *base, unsigned int nofile)
{
	static struct pool_wait p;	/* 8 KiB of BPF: not on the stack */
	int r, status;

	p.base = base;
	p.h = h;
	p.argv = o->argv;
	p.argc = o->argc;
	p.wait_timeout_ms = o->wait_timeout_ms;
	p.nofile = nofile;
	r = pool_wait_start(&p);
	if (r < 0) {
		log_error("cannot wait in the pool: %s", strerror(-r));
		pool_wait_fini(&p);
		event_base_free(base);
		return EXIT_FAILURE;
	}
	if (event_base_dispatch(base) < 0) {
		log_error("event loop failed");
		h->exit_status = p.exit_status = EXIT_FAILURE;
	}
	status = p.assigned ? h->exit_status : p.exit_status;
	pool_wait_fini(&p);
	if (p.assigned)
		helper_deinit(h);
	event_base_free(base);
	return status;
}

static int run(const struct options *o)
{
	static struct sandbox_prog prog;	/* 8 KiB: not on the stack */
	struct helper h = { 0 };
	struct event_base *base;
	struct sigaction sa = { .sa_handler = SIG_IGN };
	unsigned int nofile = 0;
	int r;

	/* 2. Named for audit (ps, top, journal), fds checked. A pooled
	 * helper is named when it gets its VM. */
	if (!o->pooled)
		confine_set_name(o->container_id);
	if (check_fds(o) < 0)
		return EXIT_FAILURE;
	if (o->journal_fd >= 0) {
		int level = log_get_level();

		log_init(HELPER_IDENT, level, o->target, o->journal_fd);
	}

	/* 3-6. Identity, limits, no new privileges. */
	r = confine_identity(&o->confine);
	if (r == 0)
		r = confine_limits(HELPER_MAX_FDS, &nofile);
	if (r == 0)
		r = confine_no_new_privs();
	if (r < 0) {
		log_error("confinement failed: %s", strerror(-r));
		return EXIT_FAILURE;
	}
	/* The one raw signal setting: a shim hanging up must not kill us
	 * (bufferevents write with writev, which raises SIGPIPE). */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) < 0) {
		log_error("cannot ignore SIGPIPE: %s", strerror(errno));
		return EXIT_FAILURE;
	}
	prepare_for_seccomp();

	/* 6. The loop and every event it will ever need. */
	base = new_event_base();
	if (!base) {
		log_error("cannot create an epoll event loop");
		return EXIT_FAILURE;
	}
	if (o->pooled)
		return run_pooled(o, &h, base, nofile);
	r = helper_init(&h, base, o->container_id, o->wait_timeout_ms, o->console_fd,
			nofile, NULL);
	if (r < 0) {
		log_error("cannot set up the helper: %s", strerror(-r));
		goto out;
	}

	/* 7. seccomp last; only then read from the VM. Compiled first and
	 * loaded apart, so that what libseccomp's compile freed is given back
	 * in between (a helper's private memory is what each VM costs):
	 * malloc_trim() may set up glibc's allocator, which asks getrandom()
	 * for its tcache key - not allowed once the filter is on. */
	r = sandbox_prepare(&prog);
	if (r == 0) {
		malloc_trim(0);
		r = sandbox_load(&prog);
	}
	if (r < 0) {
		log_error("cannot install the seccomp filter: %s", strerror(-r));
		goto out;
	}
	helper_log(LOG_INFO, 1, 0, "helper ready: confined, waiting for the agent (timeout %u ms)",
		   o->wait_timeout_ms);
	helper_start(&h);
	if (event_base_dispatch(base) < 0) {
		log_error("event loop failed");
		h.exit_status = EXIT_FAILURE;
	}
	r = 0;
out:
	helper_deinit(&h);
	event_base_free(base);
	return r < 0 ? EXIT_FAILURE : h.exit_status;
}

#ifdef CC_PROXY_SANITIZERS
/*
 * Sanitizer builds only (configure --enable-sanitizers): LeakSanitizer's
 * exit-time scan stops the world with clone + ptrace and reads
 * /proc/self/maps - exactly what the chroot, RLIMIT_NPROC and the seccomp
 * allowlist forbid - so a confined helper would die by SIGSYS at exit.
 * Leak checking stays on in the master and in every unit test; the helper
 * keeps AddressSanitizer's and UBSan's error checks.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

int main(int argc, char **argv)
{
	struct options o = {
		.target = LOG_TARGET_AUTO,
		.wait_timeout_ms = HELPER_WAIT_DEFAULT_MS,
		.console_fd = -1,
		.journal_fd = -1,
	};
	int level = 0;

	/* stderr until the options say otherwise; never libsystemd here. */
	log_init(HELPER_IDENT, 0, LOG_TARGET_STDERR, -1);
	o.argv = argv;
	o.argc = argc;
	if (parse_options(argc, argv, &o) < 0)
		return EXIT_FAILURE;
	if (log_level_resolve(o.level_arg, &level) < 0) {
		log_error("invalid log level '%s' (0..3)", o.level_arg ? o.level_arg : "");
		return EXIT_FAILURE;
	}
	/* stderr for now: the journal only through the socket the master
	 * passed (fd 7), once run() has checked it. Never through
	 * libsystemd, which opens a socket - seccomp would kill us. */
	log_init(HELPER_IDENT, level, LOG_TARGET_STDERR, -1);
	return run(&o);
}
