/*
 * main.c - cc-proxy-simvm: a simulated hyperstart VM for tests and demos.
 *
 *   cc-proxy-simvm --ctl PATH --io PATH [--console PATH]
 *                  [--dialect legacy|hyperstart1] [--event-before-eof]
 *                  [--strict-keys] [--stdin-buffer BYTES]
 *                  [--ready-every-connection] [--notify-fd N] [-v N]
 *                  [--fail-on CMD]... [--crash-on CMD]... [--garbage-on CMD]...
 *                  [--delay-ms MS [--delay-on CMD]...] [--slow-stdin-ms MS]
 *                  [--record-ctl PATH]
 *
 * It listens on the ctl and io (and console) sockets as QEMU does for a
 * VM's serial ports, and plays the agent: see ctl.c, io.c, cmd.c, proc.c.
 * It serves until SIGTERM or SIGINT, which kill its processes and remove
 * its sockets. SIGUSR1 crashes the VM now (the io channel drops).
 *
 * Readiness: with --notify-fd N, once every socket listens, "READY\n" is
 * written to fd N and N is closed; a test waits on that, never sleeps.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "cleanup.h"
#include "hyper.h"
#include "log.h"
#include "numparse.h"
#include "simvm.h"

enum {
	OPT_CTL = 0x100, OPT_IO, OPT_CONSOLE, OPT_DIALECT, OPT_EVENT_BEFORE_EOF,
	OPT_STRICT_KEYS, OPT_STDIN_BUFFER, OPT_NOTIFY_FD, OPT_FAIL_ON,
	OPT_CRASH_ON, OPT_GARBAGE_ON, OPT_DELAY_MS, OPT_DELAY_ON,
	OPT_SLOW_STDIN_MS, OPT_READY_EVERY, OPT_RECORD_CTL,
};

static const struct option long_opts[] = {
	{ "ctl", required_argument, NULL, OPT_CTL },
	{ "io", required_argument, NULL, OPT_IO },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "dialect", required_argument, NULL, OPT_DIALECT },
	{ "event-before-eof", no_argument, NULL, OPT_EVENT_BEFORE_EOF },
	{ "strict-keys", no_argument, NULL, OPT_STRICT_KEYS },
	{ "stdin-buffer", required_argument, NULL, OPT_STDIN_BUFFER },
	{ "notify-fd", required_argument, NULL, OPT_NOTIFY_FD },
	{ "fail-on", required_argument, NULL, OPT_FAIL_ON },
	{ "crash-on", required_argument, NULL, OPT_CRASH_ON },
	{ "garbage-on", required_argument, NULL, OPT_GARBAGE_ON },
	{ "delay-ms", required_argument, NULL, OPT_DELAY_MS },
	{ "delay-on", required_argument, NULL, OPT_DELAY_ON },
	{ "slow-stdin-ms", required_argument, NULL, OPT_SLOW_STDIN_MS },
	{ "ready-every-connection", no_argument, NULL, OPT_READY_EVERY },
	{ "record-ctl", required_argument, NULL, OPT_RECORD_CTL },
	{ "verbose", required_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("usage: cc-proxy-simvm --ctl PATH --io PATH [--console PATH] [options]\n"
	      "A simulated hyperstart VM running real host processes.\n"
	      "  --dialect legacy|hyperstart1  exit status: 1-byte io message after the\n"
	      "                           empty one, or processasyncevent (default)\n"
	      "  --event-before-eof       hyperstart1: the event as soon as the process\n"
	      "                           exits, before the empty io message\n"
	      "  --strict-keys            unknown process/container keys are an ERROR\n"
	      "  --stdin-buffer BYTES     stdin kept per process beyond the pipe (512;\n"
	      "                           0: unlimited); the rest is dropped\n"
	      "  --ready-every-connection READY to every ctl peer (default: first only)\n"
	      "  --notify-fd N            write \"READY\\n\" to fd N once listening, close it\n"
	      "  --record-ctl PATH        append every ctl command received to PATH, one\n"
	      "                           line each: \"NAME LEN PAYLOAD\\n\" (LEN: the\n"
	      "                           payload's bytes, written as received)\n"
	      "  -v N                     log verbosity 0..3 (stderr)\n"
	      "fault injection (CMD: a command name such as execcmd, ping):\n"
	      "  --fail-on CMD            answer CMD with ERROR\n"
	      "  --crash-on CMD           on CMD, crash: the io channel drops, every\n"
	      "                           process dies, CMD is not answered\n"
	      "  --garbage-on CMD         bytes that are no ctl message instead of the\n"
	      "                           answer (CMD \"ready\": instead of READY)\n"
	      "  --delay-ms MS            answer (and carry out) commands MS ms late\n"
	      "  --delay-on CMD           only these commands are delayed\n"
	      "  --slow-stdin-ms MS       take one io message per MS ms\n"
	      "signals: SIGTERM/SIGINT exit cleanly; SIGUSR1 crashes the VM now\n", f);
}

/* A decimal unsigned value up to @max ("-1" and "1x" are refused). */
/* Add the bit of command @name to @mask. Return: 0 or -ENOENT (said). */
static int add_command(uint32_t *mask, const char *name, const char *opt)
{
	int code = hyper_command_from_name(name);

	if (code < 0 || code >= 32) {
		fprintf(stderr, "cc-proxy-simvm: %s: unknown command '%s'\n", opt, name);
		return -ENOENT;
	}
	*mask |= 1u << code;
	return 0;
}

/*
 * Fill @o from argv; @verbose gets the -v text. Command names of the
 * fault options are checked here, so a typo fails at once instead of
 * silently injecting nothing. Return: 0 or -EINVAL (reason on stderr).
 */
static int parse_opts(int argc, char **argv, struct simvm_opts *o, const char **verbose)
{
	unsigned long v;
	int c;

	*o = (struct simvm_opts){
		.stdin_buffer = SIMVM_STDIN_BUFFER_DEFAULT,
		.notify_fd = -1,
	};
	while ((c = getopt_long(argc, argv, "v:h", long_opts, NULL)) != -1) {
		int r = 0;

		switch (c) {
		case OPT_CTL: o->ctl_path = optarg; break;
		case OPT_IO: o->io_path = optarg; break;
		case OPT_CONSOLE: o->console_path = optarg; break;
		case OPT_DIALECT:
			if (!strcmp(optarg, "legacy"))
				o->dialect = SIMVM_DIALECT_LEGACY;
			else if (!strcmp(optarg, "hyperstart1"))
				o->dialect = SIMVM_DIALECT_HYPERSTART1;
			else
				r = -EINVAL;
			break;
		case OPT_EVENT_BEFORE_EOF: o->event_before_eof = true; break;
		case OPT_STRICT_KEYS: o->strict_keys = true; break;
		case OPT_READY_EVERY: o->ready_every_connection = true; break;
		case OPT_RECORD_CTL: o->record_ctl = optarg; break;
		case OPT_STDIN_BUFFER:
			r = numparse_ulong(optarg, 0, SIZE_MAX / 2, &v);
			o->stdin_buffer = v;
			break;
		case OPT_NOTIFY_FD:
			r = numparse_ulong(optarg, 0, INT_MAX, &v);
			o->notify_fd = (int)v;
			break;
		case OPT_FAIL_ON: r = add_command(&o->fail_mask, optarg, "--fail-on"); break;
		case OPT_CRASH_ON: r = add_command(&o->crash_mask, optarg, "--crash-on"); break;
		case OPT_GARBAGE_ON:
			if (!strcmp(optarg, "ready"))
				o->garbage_ready = true;
			else
				r = add_command(&o->garbage_mask, optarg, "--garbage-on");
			break;
		case OPT_DELAY_MS:
			r = numparse_ulong(optarg, 0, 3600 * 1000, &v);
			o->delay_ms = (unsigned)v;
			break;
		case OPT_DELAY_ON: r = add_command(&o->delay_mask, optarg, "--delay-on"); break;
		case OPT_SLOW_STDIN_MS:
			r = numparse_ulong(optarg, 0, 3600 * 1000, &v);
			o->slow_stdin_ms = (unsigned)v;
			break;
		case 'v': *verbose = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
		if (r == -EINVAL) {
			const char *name = "?";

			for (const struct option *l = long_opts; l->name; l++)
				if (l->val == c)
					name = l->name;
			fprintf(stderr, "cc-proxy-simvm: --%s: invalid value '%s'\n",
				name, optarg);
		}
		if (r < 0)
			return r;
	}
	if (optind < argc || !o->ctl_path || !o->io_path) {
		fputs("cc-proxy-simvm: --ctl and --io are required\n", stderr);
		return -EINVAL;
	}
	if (!o->delay_mask)
		o->delay_mask = UINT32_MAX;	/* --delay-ms alone: every command */
	if (o->notify_fd >= 0) {
		/* Checked now, so a wrong fd fails at once; CLOEXEC so no
		 * process inherits it before it is closed. */
		if (fcntl(o->notify_fd, F_SETFD, FD_CLOEXEC) < 0) {
			fprintf(stderr, "cc-proxy-simvm: --notify-fd %d: %s\n",
				o->notify_fd, strerror(errno));
			return -EBADF;
		}
	}
	return 0;
}

/* Children get dup2()ed fds 0-2: make sure none of ours lands there. */
static void ensure_std_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

/* Signals, delivered by the loop (libevent signal events). */
static void on_signal(evutil_socket_t sig, short what, void *ctx)
{
	struct simvm *vm = ctx;

	switch (sig) {
	case SIGCHLD:
		proc_reap(vm);
		break;
	case SIGUSR1:
		io_crash(vm, "SIGUSR1");
		break;
	default:
		log_info("signal %d: exiting", (int)sig);
		event_base_loopbreak(vm->base);
		break;
	}
}

static void console_on_connect(struct simvm_chan *c)
{
	evbuffer_add_printf(chan_output(c), "cc-proxy-simvm: console of the simulated VM\n");
}

static void console_on_read(struct simvm_chan *c)
{
	struct evbuffer *in = chan_input(c);

	evbuffer_drain(in, evbuffer_get_length(in));	/* a console takes no input */
}

/* A chan before listening: no fds yet, so shutdown is always safe. */
static void chan_setup(struct simvm *vm, struct simvm_chan *c, const char *name,
		       const char *path)
{
	*c = (struct simvm_chan){ .vm = vm, .name = name, .path = path, .listen_fd = -1 };
}

/* --notify-fd: the readiness line, then the fd is closed (EOF for a
 * reader that waits for more). */
static void notify_ready(int fd)
{
	static const char msg[] = "READY\n";
	ssize_t n;

	if (fd < 0)
		return;
	do
		n = write(fd, msg, sizeof(msg) - 1);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(msg) - 1)
		log_warn("--notify-fd %d: %s", fd, n < 0 ? strerror(errno) : "short write");
	close(fd);
}

int main(int argc, char **argv)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGUSR1 };
	struct event *sigev[ARRAY_SIZE(sigs)] = { 0 };
	const char *verbose = NULL;
	struct simvm vm = { 0 };
	int level = 0, rc = 1;

	ensure_std_fds();
	if (parse_opts(argc, argv, &vm.opt, &verbose) < 0) {
		fputs("Try 'cc-proxy-simvm --help'.\n", stderr);
		return 2;
	}
	if (log_level_resolve(verbose, &level) < 0) {
		fputs("cc-proxy-simvm: -v takes 0..3\n", stderr);
		return 2;
	}
	log_init("cc-proxy-simvm", level, LOG_TARGET_STDERR, -1);
	/* Writes to a vanished peer or process fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);

	LIST_INIT(&vm.containers);
	LIST_INIT(&vm.procs);
	chan_setup(&vm, &vm.ctl, "ctl", vm.opt.ctl_path);
	vm.ctl.on_connect = ctl_on_connect;
	vm.ctl.on_read = ctl_on_read;
	vm.ctl.on_close = ctl_on_close;
	chan_setup(&vm, &vm.io, "io", vm.opt.io_path);
	vm.io.on_connect = io_on_connect;
	vm.io.on_read = io_on_read;
	vm.io.on_drained = io_on_drained;
	vm.io.on_close = io_on_close;
	chan_setup(&vm, &vm.console, "console", vm.opt.console_path);
	vm.console.on_connect = console_on_connect;
	vm.console.on_read = console_on_read;
	vm.record_fd = -1;
	if (vm.opt.record_ctl) {
		/* Opened before READY, so a bad path fails the start-up;
		 * O_APPEND: each record is one write at the end. */
		vm.record_fd = open(vm.opt.record_ctl,
				    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (vm.record_fd < 0) {
			log_error("--record-ctl %s: %s", vm.opt.record_ctl, strerror(errno));
			goto out;
		}
	}
	vm.base = event_base_new();
	if (!vm.base || ctl_init(&vm) < 0 || io_init(&vm) < 0)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		sigev[i] = evsignal_new(vm.base, sigs[i], on_signal, &vm);
		if (!sigev[i] || evsignal_add(sigev[i], NULL) < 0)
			goto out;
	}
	if (chan_listen(&vm.ctl) < 0 || chan_listen(&vm.io) < 0 ||
	    (vm.opt.console_path && chan_listen(&vm.console) < 0))
		goto out;
	notify_ready(vm.opt.notify_fd);
	log_info("simulated VM up: dialect %s",
		 vm.opt.dialect == SIMVM_DIALECT_LEGACY ? "legacy" : "hyperstart1");
	event_base_dispatch(vm.base);
	rc = 0;
out:
	/* Processes first (they must not outlive the VM), then sockets
	 * (unlinked), then memory. */
	if (rc)
		log_error("cannot start the simulated VM");
	proc_kill_all(&vm, true);
	chan_shutdown(&vm.ctl);
	chan_shutdown(&vm.io);
	chan_shutdown(&vm.console);
	ctl_deinit(&vm);
	io_deinit(&vm);
	proc_free_all(&vm);
	cmd_forget_all(&vm);
	for (size_t i = 0; i < ARRAY_SIZE(sigev); i++)
		if (sigev[i])
			event_free(sigev[i]);
	if (vm.base)
		event_base_free(vm.base);
	if (vm.record_fd >= 0)
		close(vm.record_fd);
	return rc;
}
