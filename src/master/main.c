/*
 * main.c - cc-proxy, the master: options, start-up, the event loop, and a
 * clean stop (STYLE.md section 6: main() parses, run() returns the exit
 * status).
 *
 *   cc-proxy [-v N] [--socket-path PATH] [--helper PATH]
 *            [--helper-user USER] [--wait-timeout SECONDS]
 *            [--log-target auto|stderr|journal] [--empty-dir DIR]
 *            [--helper-pool N] [quota options, quota.h] [-h|--help] [--version]
 *
 * Start-up order: logging; fds 0-2 made safe; SIGPIPE ignored; what
 * helpers are started with (spawn_prepare); rlimits and capabilities
 * (only what helpers need, plus CAP_KILL); the event loop and its signal
 * events; the listening socket; then READY=1 to systemd. Any failure up
 * to there exits with status 1 and a clear message. Once serving, nothing
 * a peer or a helper does ends the process.
 *
 * Stop (SIGTERM, SIGINT): STOPPING=1, the listening socket goes (and its
 * file, if we created it), clients are closed, every helper is told
 * IPC_M_SHUTDOWN; the loop ends once all are reaped, or after
 * MASTER_STOP_GRACE_MS plus a SIGKILL round.
 *
 * Watchdog: when systemd asks for one (WatchdogSec=, so $WATCHDOG_USEC),
 * a timer of the event loop sends WATCHDOG=1 at half the interval; a
 * loop that hangs stops sending and systemd restarts the proxy.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "adopt.h"
#include "caps.h"
#include "client.h"
#include "fdstore.h"
#include "quota.h"
#include "helper.h"
#include "listener.h"
#include "log.h"
#include "numparse.h"
#include "master.h"
#include "pool.h"
#include "registry.h"
#include "spawn.h"
#include "status.h"
#include "upgrade.h"

#define MASTER_IDENT		"cc-proxy"
#define MASTER_WAIT_DEFAULT	30.0
#define MASTER_WAIT_MAX		86400.0	/* a day: anything longer is a typo */

struct options {
	const char *level_arg;		/* -v, or NULL */
	const char *socket_path;	/* NULL: the configured default */
	const char *helper;
	const char *helper_user;
	const char *empty_dir;
	double wait_timeout;
	enum log_target target;
	struct quota_config limits;
	unsigned int pool_size;
	bool fd_store;			/* --fd-store */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " MASTER_IDENT " [OPTION]...\n"
		"The Clear Containers proxy: serves the runtime and the shims on one socket and\n"
		"runs one confined helper (cc-proxy-vmhelper) per VM.\n"
		"\n"
		"  -v N                    log level 0..3 (default $" LOG_LEVEL_ENV ", else 0):\n"
		"                          1 interface events, 2 I/O dumps, 3 VM consoles\n"
		"      --socket-path PATH  listen on PATH unless socket-activated\n"
		"                          (default " CC_PROXY_SOCKET_PATH ")\n"
		"      --helper PATH       the helper binary (default: cc-proxy-vmhelper beside\n"
		"                          this binary, else " CC_PROXY_LIBEXECDIR "/cc-proxy-vmhelper)\n"
		"      --helper-user USER  user the helpers run as when started by root\n"
		"                          (default " CC_PROXY_HELPER_USER " if it exists, else nobody)\n"
		"      --wait-timeout S    seconds to wait for a VM's agent and for shims\n"
		"                          (default 30, fractions allowed)\n"
		"      --log-target T      auto, stderr or journal (default auto)\n"
		"      --empty-dir DIR     the helpers' empty root when started by root\n"
		"                          (default /run/cc-proxy/empty)\n"
		"      --helper-pool N     idle helpers kept started and confined, ready\n"
		"                          for the next RegisterVM (default 4, at most 64;\n"
		"                          0: each RegisterVM starts its own)\n"
		"      --fd-store          keep ready helpers' channels in the service\n"
		"                          manager's fd store even when $FDSTORE is unset\n"
		"                          (systemd before 254 does not set it)\n"
		"Quotas (see cc-proxy(8), LIMITS):\n"
		"      --max-clients N     connections at once (default 4096)\n"
		"      --max-clients-per-uid N\n"
		"                          connections of one peer uid (default 1024)\n"
		"      --root-reserve N    of --max-clients, only for root (default 64)\n"
		"      --max-output BYTES  unread responses per connection (default 4194304)\n"
		"      --max-buffered BYTES\n"
		"                          all connections' buffers together\n"
		"                          (default 268435456)\n"
		"      --frame-timeout S   close a connection holding an incomplete frame\n"
		"                          this long (default 30; 0: never)\n"
		"      --idle-timeout S    close a connection that is idle and not attached\n"
		"                          to a VM this long (default 60; 0: never)\n"
		"      --max-tokens-per-vm N\n"
		"                          I/O tokens one VM holds (default 1024, at most 16384)\n"
		"      --max-shims-per-vm N\n"
		"                          shims connected to one VM (default and most 1000)\n"
		"  -h, --help              show this help and exit\n"
		"      --version           show the version and exit\n");
}

/* The quota options: one table, one parser (quota.h has the bounds). */
enum limit_kind { LIMIT_COUNT, LIMIT_BYTES, LIMIT_SECONDS };

static const struct limit_opt {
	const char *name;
	enum limit_kind kind;
	unsigned long min, max;		/* counts and bytes */
	size_t off;			/* in struct quota_config */
} limit_opts[] = {
#define LIMIT_OFF(f) offsetof(struct quota_config, f)
	{ "max-clients", LIMIT_COUNT, 1, QUOTA_CLIENTS_MAX, LIMIT_OFF(clients) },
	{ "max-clients-per-uid", LIMIT_COUNT, 1, QUOTA_CLIENTS_MAX, LIMIT_OFF(clients_per_uid) },
	{ "root-reserve", LIMIT_COUNT, 0, QUOTA_CLIENTS_MAX, LIMIT_OFF(root_reserve) },
	{ "max-output", LIMIT_BYTES, 1, QUOTA_BYTES_MAX, LIMIT_OFF(output) },
	{ "max-buffered", LIMIT_BYTES, 1, QUOTA_BYTES_MAX, LIMIT_OFF(buffered) },
	{ "frame-timeout", LIMIT_SECONDS, 0, 0, LIMIT_OFF(frame_timeout_ms) },
	{ "idle-timeout", LIMIT_SECONDS, 0, 0, LIMIT_OFF(idle_timeout_ms) },
	{ "max-tokens-per-vm", LIMIT_COUNT, 1, QUOTA_TOKENS_PER_VM_MAX,
	  LIMIT_OFF(tokens_per_vm) },
	{ "max-shims-per-vm", LIMIT_COUNT, 1, IPC_HELPER_SHIMS_MAX, LIMIT_OFF(shims_per_vm) },
#undef LIMIT_OFF
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --@l->name @arg into @cfg; errors are logged. */
static int parse_limit(const struct limit_opt *l, const char *arg, struct quota_config *cfg)
{
	char *field = (char *)cfg + l->off;
	unsigned long v;
	double s;

	switch (l->kind) {
	case LIMIT_SECONDS:
		if (numparse_seconds(arg, QUOTA_TIMEOUT_MAX, &s) < 0) {
			log_error("invalid --%s '%s': a number of seconds, at most %.0f "
				  "(0: never)", l->name, arg, QUOTA_TIMEOUT_MAX);
			return -EINVAL;
		}
		/* Round up: never close earlier than asked. */
		uint32_t ms = (uint32_t)(s * 1000.0);

		if ((double)ms < s * 1000.0)
			ms++;
		memcpy(field, &ms, sizeof(ms));
		return 0;
	case LIMIT_BYTES:
	case LIMIT_COUNT:
		if (numparse_ulong(arg, l->min, l->max, &v) < 0) {
			log_error("invalid --%s '%s': a whole number from %lu to %lu",
				  l->name, arg, l->min, l->max);
			return -EINVAL;
		}
		if (l->kind == LIMIT_BYTES) {
			uint64_t b = v;

			memcpy(field, &b, sizeof(b));
		} else {
			uint32_t n = (uint32_t)v;

			memcpy(field, &n, sizeof(n));
		}
		return 0;
	}
	return -EINVAL;
}

/* A number of seconds in (0, MASTER_WAIT_MAX]. */
static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_VERSION = 256, OPT_SOCKET, OPT_HELPER, OPT_USER, OPT_WAIT,
	       OPT_TARGET, OPT_EMPTY, OPT_POOL, OPT_FDSTORE, OPT_LIMIT_FIRST };
	static const struct option base_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "socket-path", required_argument, NULL, OPT_SOCKET },
		{ "helper", required_argument, NULL, OPT_HELPER },
		{ "helper-user", required_argument, NULL, OPT_USER },
		{ "wait-timeout", required_argument, NULL, OPT_WAIT },
		{ "log-target", required_argument, NULL, OPT_TARGET },
		{ "empty-dir", required_argument, NULL, OPT_EMPTY },
		{ "helper-pool", required_argument, NULL, OPT_POOL },
		{ "fd-store", no_argument, NULL, OPT_FDSTORE },
	};
	struct option longopts[ARRAY_SIZE(base_opts) + ARRAY_SIZE(limit_opts) + 1];
	size_t n = 0;
	int c;

	/* The quota options come from their table. */
	for (size_t i = 0; i < ARRAY_SIZE(base_opts); i++)
		longopts[n++] = base_opts[i];
	for (size_t i = 0; i < ARRAY_SIZE(limit_opts); i++)
		longopts[n++] = (struct option){ limit_opts[i].name, required_argument, NULL,
						 OPT_LIMIT_FIRST + (int)i };
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };

	while ((c = getopt_long(argc, argv, "v:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			o->level_arg = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case OPT_VERSION:
			printf(MASTER_IDENT " " PACKAGE_VERSION "\n");
			exit(EXIT_SUCCESS);
		case OPT_SOCKET:
			if (!*optarg) {
				log_error("--socket-path must not be empty");
				return -EINVAL;
			}
			o->socket_path = optarg;
			break;
		case OPT_HELPER:
			o->helper = optarg;
			break;
		case OPT_USER:
			o->helper_user = optarg;
			break;
		case OPT_WAIT:
			if (numparse_seconds(optarg, MASTER_WAIT_MAX, &o->wait_timeout) < 0 ||
			    o->wait_timeout <= 0) {
				log_error("invalid --wait-timeout '%s': a number of seconds, "
					  "more than 0 and at most %.0f", optarg, MASTER_WAIT_MAX);
				return -EINVAL;
			}
			break;
		case OPT_TARGET:
			if (log_target_parse(optarg, &o->target) < 0) {
				log_error("invalid --log-target '%s': auto, stderr or journal",
					  optarg);
				return -EINVAL;
			}
			break;
		case OPT_EMPTY:
			o->empty_dir = optarg;
			break;
		case OPT_FDSTORE:
			o->fd_store = true;
			break;
		case OPT_POOL: {
			unsigned long v;

			if (numparse_ulong(optarg, 0, POOL_SIZE_MAX, &v) < 0) {
				log_error("invalid --helper-pool '%s': a whole number from 0 to %u",
					  optarg, POOL_SIZE_MAX);
				return -EINVAL;
			}
			o->pool_size = (unsigned int)v;
			break;
		}
		default:
			if (c >= OPT_LIMIT_FIRST &&
			    (size_t)(c - OPT_LIMIT_FIRST) < ARRAY_SIZE(limit_opts)) {
				if (parse_limit(&limit_opts[c - OPT_LIMIT_FIRST], optarg,
						&o->limits) < 0)
					return -EINVAL;
				break;
			}
			fprintf(stderr, "Try '" MASTER_IDENT " --help' for more information.\n");
			return -EINVAL;
		}
	}
	if (optind != argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return quota_config_check(&o->limits);
}

/* fds 0-2 must be open: whatever we open next must not become "stderr". */
static int ensure_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);

		if (n < 0)
			return -errno;
		if (n != fd) {	/* cannot happen: the lowest free fd is fd */
			close(n);
			return -EBADF;
		}
	}
	return 0;
}

/* ---- the loop --------------------------------------------------------- */

void master_stop_check(struct master *m)
{
	if (m->stopping && TAILQ_EMPTY(&m->vms) && pool_alive(m) == 0)
		event_base_loopbreak(m->base);
}

static void master_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	helper_reap(arg);
}

static void master_on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	const struct timeval second = { 1, 0 };
	struct master *m = arg;

	if (m->stop_ticks++ == 0) {
		helper_kill_all(m);
		pool_stop(m, true);
		evtimer_add(m->stop_timer, &second);
		return;
	}
	log_warn("stopping without waiting any longer for the helpers");
	event_base_loopbreak(m->base);
}

static void master_on_stop(evutil_socket_t sig, short what, void *arg)
{
	const struct timeval grace = { MASTER_STOP_GRACE_MS / 1000,
				       (MASTER_STOP_GRACE_MS % 1000) * 1000 };
	struct master *m = arg;

	if (m->stopping)
		return;
	m->stopping = true;
	sd_notify(0, "STOPPING=1");
	log_submit(LOG_NOTICE, 0, NULL, NULL, "stopping on %s", strsignal((int)sig));
	m->listener = listener_free(m->listener);
	client_free_all(m);
	fdstore_leave_helpers(m);
	helper_shutdown_all(m);
	pool_stop(m, false);	/* idle helpers exit on EOF */
	evtimer_add(m->stop_timer, &grace);
	master_stop_check(m);
}

static void master_on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;

	if (!m->stopping)
		upgrade_reexec(m);
}

static void master_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

/* WATCHDOG=1 at half of systemd's interval, from the loop itself: a loop
 * that hangs is exactly what the watchdog is for. */
static int master_watchdog(struct master *m)
{
	uint64_t usec = 0;
	struct timeval half;
	int r = sd_watchdog_enabled(0, &usec);

	if (r < 0)
		log_warn("ignoring the watchdog settings: %s", strerror(-r));
	if (r <= 0 || usec == 0)
		return 0;
	usec /= 2;
	half.tv_sec = (time_t)(usec / 1000000);
	half.tv_usec = (suseconds_t)(usec % 1000000);
	m->watchdog = event_new(m->base, -1, EV_PERSIST, master_on_watchdog, m);
	if (!m->watchdog || event_add(m->watchdog, &half) < 0)
		return -ENOMEM;
	log_info("watchdog: WATCHDOG=1 every %lld.%06ld s", (long long)half.tv_sec,
		 (long)half.tv_usec);
	sd_notify(0, "WATCHDOG=1");
	return 0;
}

static int master_events(struct master *m)
{
	m->sig_chld = evsignal_new(m->base, SIGCHLD, master_on_sigchld, m);
	m->sig_term = evsignal_new(m->base, SIGTERM, master_on_stop, m);
	m->sig_int = evsignal_new(m->base, SIGINT, master_on_stop, m);
	m->sig_hup = evsignal_new(m->base, SIGHUP, master_on_sighup, m);
	m->stop_timer = evtimer_new(m->base, master_on_stop_timer, m);
	if (!m->sig_chld || !m->sig_term || !m->sig_int || !m->stop_timer || !m->sig_hup ||
	    evsignal_add(m->sig_chld, NULL) < 0 || evsignal_add(m->sig_term, NULL) < 0 ||
	    evsignal_add(m->sig_int, NULL) < 0 || evsignal_add(m->sig_hup, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static void master_cleanup(struct master *m)
{
	struct vm *vm;

	m->listener = listener_free(m->listener);
	client_free_all(m);
	m->status = status_free(m->status);	/* after the clients: no query left */
	quota_refuse_free_all(m);
	quota_free_all(m);
	/* Helpers that would not go: killed, and reaped if they are gone
	 * already; the kernel reparents the rest. */
	helper_kill_all(m);
	pool_stop(m, true);
	helper_reap(m);
	while ((vm = TAILQ_FIRST(&m->vms)))
		helper_forget(vm);
	pool_free(m);
	spawn_fini();
	if (m->sig_chld)
		event_free(m->sig_chld);
	if (m->sig_term)
		event_free(m->sig_term);
	if (m->sig_int)
		event_free(m->sig_int);
	if (m->sig_hup)
		event_free(m->sig_hup);
	if (m->stop_timer)
		event_free(m->stop_timer);
	if (m->watchdog)
		event_free(m->watchdog);
	if (m->base)
		event_base_free(m->base);
	free(m->cfg.socket_path);
	free(m->cfg.url);
	free(m->cfg.helper_path);
	free(m->cfg.helper_user);
	free(m->cfg.empty_dir);
	free(m->exe_path);
}

/* Each connection takes an fd, and so does each VM (its channel) and the
 * loop itself: a soft NOFILE limit below --max-clients would make accept
 * fail (and pause) before the quotas could say why. */
static void master_check_nofile(const struct quota_config *q)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)q->clients + QUOTA_REFUSING_MAX + 64)
		log_warn("--max-clients %u needs more file descriptors than RLIMIT_NOFILE "
			 "(%llu) allows: raise LimitNOFILE= or lower --max-clients",
			 q->clients, (unsigned long long)rl.rlim_cur);
}

static int run(const struct options *o, int level, char **argv)
{
	struct master m = { 0 };
	double ms = o->wait_timeout * 1000.0;	/* <= 8.64e7: fits in u32 */
	int r;

	TAILQ_INIT(&m.clients);
	TAILQ_INIT(&m.vms);
	LIST_INIT(&m.lim.uids);
	LIST_INIT(&m.lim.refusals);
	m.cfg.limits = o->limits;
	m.cfg.pool_size = o->pool_size;
	m.cfg.log_level = level;
	m.cfg.log_journal = log_uses_journal();
	m.cfg.wait_timeout_ms = (uint32_t)ms;
	if ((double)m.cfg.wait_timeout_ms < ms || m.cfg.wait_timeout_ms == 0)
		m.cfg.wait_timeout_ms++;	/* round up: never wait less than asked */
	m.cfg.wait_timeout.tv_sec = m.cfg.wait_timeout_ms / 1000;
	m.cfg.wait_timeout.tv_usec = (m.cfg.wait_timeout_ms % 1000) * 1000;
	fdstore_init(&m, o->fd_store);
	upgrade_prepare(&m, argv);	/* failure: logged, SIGHUP refused */

	r = spawn_prepare(&m.cfg, o->helper, o->helper_user, o->empty_dir);
	if (r < 0)
		goto out;
	caps_limits();
	master_check_nofile(&m.cfg.limits);
	r = caps_drop();
	if (r < 0)
		goto out;
	/* The fd slots of every spawn: low numbers, so reserved first. */
	r = spawn_init();
	if (r < 0) {
		log_error("cannot reserve the fds helpers are started with: %s", strerror(-r));
		goto out;
	}
	m.base = event_base_new();
	/* Three priorities: everything at the middle one (the default), the
	 * pool's refill at the last, so it never delays a command. */
	if (m.base && event_base_priority_init(m.base, POOL_PRIORITIES) < 0) {
		event_base_free(m.base);
		m.base = NULL;
	}
	if (!m.base) {
		log_error("cannot create the event loop");
		r = -ENOMEM;
		goto out;
	}
	r = master_events(&m);
	if (r == 0)
		r = master_watchdog(&m);
	if (r < 0) {
		log_error("cannot set up signal handling");
		goto out;
	}
	r = listener_open(&m, o->socket_path ? o->socket_path : CC_PROXY_SOCKET_PATH,
			  &m.listener);
	if (r < 0)
		goto out;
	adopt_started(&m);	/* helpers handed back: their record once settled */
	r = status_new(&m);
	if (r < 0)
		goto out;
	r = pool_new(&m);
	if (r < 0) {
		log_error("cannot set up the helper pool: %s", strerror(-r));
		goto out;
	}
	if (o->socket_path && strcmp(o->socket_path, m.cfg.socket_path))
		log_submit(LOG_NOTICE, 0, NULL, NULL,
			   "socket-activated on %s: --socket-path %s is not used",
			   m.cfg.socket_path, o->socket_path);

	log_submit(LOG_NOTICE, 0, NULL,
		   LOG_FIELDS({ "CC_SOCKET_PATH", m.cfg.socket_path },
			      { "CC_HELPER", m.cfg.helper_path }),
		   "listening on %s (helper %s%s%s, log level %d)", m.cfg.socket_path,
		   m.cfg.helper_path, m.cfg.as_root ? ", as " : "",
		   m.cfg.as_root ? m.cfg.helper_user : "", level);
	sd_notifyf(0, "READY=1\nSTATUS=Listening on %s", m.cfg.socket_path);
	if (event_base_dispatch(m.base) < 0) {
		log_error("the event loop failed");
		r = -EIO;
	}
	log_submit(LOG_NOTICE, 0, NULL, NULL, "stopped");
out:
	master_cleanup(&m);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	struct options o = { .wait_timeout = MASTER_WAIT_DEFAULT, .target = LOG_TARGET_AUTO,
			     .pool_size = POOL_SIZE_DEFAULT };

	quota_config_default(&o.limits);
	struct sigaction ign = { .sa_handler = SIG_IGN };
	int level = 0;

	log_init(MASTER_IDENT, 0, LOG_TARGET_STDERR, -1);
	if (ensure_std_fds() < 0)
		return EXIT_FAILURE;
	if (parse_options(argc, argv, &o) < 0)
		return EXIT_FAILURE;
	if (log_level_resolve(o.level_arg, &level) < 0) {
		if (o.level_arg)
			log_error("invalid -v '%s': a log level 0..%d", o.level_arg, LOG_LEVEL_MAX);
		else
			log_error("invalid $" LOG_LEVEL_ENV " '%s': a log level 0..%d",
				  getenv(LOG_LEVEL_ENV), LOG_LEVEL_MAX);
		return EXIT_FAILURE;
	}
	/* Only the master links libsystemd: it sends its journal records
	 * (the helpers write native datagrams to the fd they are given). */
	log_set_journal_sendv(sd_journal_sendv);
	log_init(MASTER_IDENT, level, o.target, -1);
	/* The one raw signal setting (STYLE.md section 4): a client that
	 * hangs up must not kill the proxy; writes also use MSG_NOSIGNAL. */
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGPIPE, &ign, NULL) < 0) {
		log_error("cannot ignore SIGPIPE: %s", strerror(errno));
		return EXIT_FAILURE;
	}
	return run(&o, level, argv);
}
