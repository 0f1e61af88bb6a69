/*
 * main.c - cc-proxyctl: option parsing and dispatch to the subcommands.
 *
 *   cc-proxyctl [-s PATH] [-v] [--timeout SECONDS] COMMAND ...
 *
 * main() parses the global options and the subcommand's, then run()
 * builds the one event loop and returns the exit status (ctl.h).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "ctl.h"
#include "numparse.h"

#define SOCKET_ENV "CC_PROXY_SOCKET"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cc-proxyctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"A client of cc-proxy, for operators and runtime developers.\n"
"\n"
"Options:\n"
"  -s, --socket PATH      the proxy socket (default $" SOCKET_ENV ", else\n"
"                         " CC_PROXY_SOCKET_PATH ")\n"
"      --timeout SECONDS  bound on every wait for the proxy (default %d;\n"
"                         0: wait forever)\n"
"  -v, --verbose          trace every frame on stderr\n"
"  -h, --help             this text\n"
"      --version          the version\n"
"\n"
"Commands:\n"
"  register ID --ctl PATH --io PATH [--console PATH] [--tokens N]\n"
"                         register a VM; prints the answer (JSON)\n"
"  attach ID [--tokens N] attach to a registered VM; prints the answer\n"
"  unregister ID          remove a VM from the proxy\n"
"  hyper ID NAME [JSON]   send the agent command NAME with data JSON to VM\n"
"                         ID; prints the agent's answer\n"
"  exec ID [OPTIONS] [--] CMD [ARG]...\n"
"                         run CMD in VM ID, relaying stdin, stdout, stderr\n"
"                         and signals; exits with CMD's status (125 if\n"
"                         cc-proxyctl fails). At the end of the local stdin\n"
"                         the process's stdin is closed (no terminal only).\n"
"      --container CID    the container to run in (default \"hyperstart\")\n"
"  -t, --tty              a terminal: raw local terminal, window size sent\n"
"  -T, --no-tty           no terminal (the default)\n"
"  -e, --env KEY=VALUE    an environment variable (repeatable)\n"
"  -w, --workdir DIR      the working directory\n"
"  status [--json] [ID]   what the proxy is doing: its totals and limits and\n"
"                         one line per VM; with ID, every figure of that VM\n"
"                         (root and the proxy socket's owner only)\n"
"  list [--json]          the one-line-per-VM table alone\n"
"      --json             the proxy's report as JSON, one line\n"
"      --page-size N      VMs per reply from the proxy (1-%d, default %d);\n"
"                         the tool asks again until it has them all\n"
"\n"
"Exit status: 0 success, 1 failure, 2 usage.\n", CTL_DEFAULT_TIMEOUT,
	CTL_STATUS_PAGE_MAX, CTL_STATUS_PAGE_MAX);
}

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("cc-proxyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const struct timeval *ctl_timeout(const struct ctl *ctl)
{
	return ctl->has_timeout ? &ctl->timeout : NULL;
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("cc-proxyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see cc-proxyctl --help)\n", stderr);
	return CTL_EXIT_USAGE;
}

/* getopt's complaint ('?' or ':') about argv[optind - 1]. */
static int bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return usage_error("%s needs an argument", arg);
	if (optopt)
		return usage_error("unknown option -%c", optopt);
	return usage_error("unknown option %s", arg);
}

static int parse_timeout(const char *s, struct ctl *ctl)
{
	double v;

	if (numparse_seconds(s, 86400 * 365, &v) < 0)
		return -EINVAL;
	ctl->has_timeout = v > 0;
	ctl->timeout.tv_sec = (time_t)v;
	ctl->timeout.tv_usec = (suseconds_t)((v - (double)(time_t)v) * 1e6);
	return 0;
}

enum { OPT_CTL = 0x100, OPT_IO, OPT_CONSOLE, OPT_TOKENS, OPT_CONTAINER,
       OPT_TIMEOUT, OPT_VERSION, OPT_JSON, OPT_PAGE_SIZE };

/* register / attach / unregister / hyper: ID first, then options. */
static int parse_request(int argc, char **argv, struct ctl_request *req)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, OPT_CTL },
		{ "io", required_argument, NULL, OPT_IO },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "tokens", required_argument, NULL, OPT_TOKENS },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = argv[0];
	bool reg = !strcmp(cmd, "register");
	bool att = !strcmp(cmd, "attach");
	int c, npos;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if ((c == OPT_CTL || c == OPT_IO || c == OPT_CONSOLE) && !reg)
			return usage_error("%s takes no such option", cmd);
		if (c == OPT_TOKENS && !reg && !att)
			return usage_error("%s takes no --tokens", cmd);
		switch (c) {
		case OPT_CTL: req->ctl_serial = optarg; break;
		case OPT_IO: req->io_serial = optarg; break;
		case OPT_CONSOLE: req->console = optarg; break;
		case OPT_TOKENS:
			if (numparse_ulong(optarg, 0, 1024, &req->tokens) < 0)
				return usage_error("--tokens: not a count 0..1024: %s", optarg);
			break;
		default:
			return bad_option(c, argv);
		}
	}
	npos = argc - optind;
	if (npos < 1)
		return usage_error("%s: missing the VM's container id", cmd);
	req->container_id = argv[optind];
	if (!strcmp(cmd, "hyper")) {
		if (npos < 2 || npos > 3)
			return usage_error("%s: usage: hyper ID NAME [JSON]", cmd);
		req->hyper_name = argv[optind + 1];
		req->hyper_data = npos == 3 ? argv[optind + 2] : NULL;
	} else if (npos > 1) {
		return usage_error("unexpected argument %s", argv[optind + 1]);
	}
	if (reg && (!req->ctl_serial || !req->io_serial))
		return usage_error("%s: --ctl and --io are required", cmd);
	return 0;
}

/* exec: ID, options, then the command (with or without "--"). */
static int parse_exec(int argc, char **argv, struct ctl_exec *x)
{
	static const struct option opts[] = {
		{ "container", required_argument, NULL, OPT_CONTAINER },
		{ "tty", no_argument, NULL, 't' },
		{ "no-tty", no_argument, NULL, 'T' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	x->container = "hyperstart";
	x->envs = calloc((size_t)argc, sizeof(*x->envs));
	if (!x->envs)
		return CTL_EXIT_FAILURE;
	optind = 0;
	opterr = 0;
	for (;;) {
		/* "+": the first operand ends the options, so a command's own
		 * options are never taken for ours. */
		c = getopt_long(argc, argv, "+:tTe:w:", opts, NULL);
		if (c == -1) {
			bool dashes = optind > 0 && !strcmp(argv[optind - 1], "--");

			if (x->container_id || optind >= argc)
				break;
			x->container_id = argv[optind++];
			if (dashes)
				break;
			continue;
		}
		switch (c) {
		case OPT_CONTAINER: x->container = optarg; break;
		case 't': x->tty = true; break;
		case 'T': x->tty = false; break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return usage_error("-e wants KEY=VALUE, not %s", optarg);
			x->envs[x->n_envs++] = optarg;
			break;
		case 'w': x->workdir = optarg; break;
		default:
			return bad_option(c, argv);
		}
	}
	if (!x->container_id)
		return usage_error("exec: missing the VM's container id");
	if (optind >= argc)
		return usage_error("exec: missing the command to run");
	x->argv = argv + optind;
	x->argc = argc - optind;
	return 0;
}

/* status [--json] [ID], list [--json]. */
static int parse_status(int argc, char **argv, struct ctl_status *s)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	s->list = !strcmp(argv[0], "list");
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == OPT_JSON)
			s->json = true;
		else if (c != OPT_PAGE_SIZE)
			return bad_option(c, argv);
		else if (numparse_ulong(optarg, 1, CTL_STATUS_PAGE_MAX, &s->page_size) < 0)
			return usage_error("--page-size must be a number from 1 to %d",
					   CTL_STATUS_PAGE_MAX);
	}
	if (optind < argc && !s->list)
		s->container_id = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument %s", argv[optind]);
	if (s->container_id && !*s->container_id)
		return usage_error("status: empty container id");
	return 0;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_request req = { 0 };
	struct ctl_exec x = { 0 };
	struct ctl_status st = { 0 };
	const char *cmd = argv[0];
	int r;

	/* Writes to a closed peer return EPIPE instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	ctl->base = event_base_new();
	if (!ctl->base) {
		ctl_err("cannot create the event loop");
		return CTL_EXIT_FAILURE;
	}
	if (!strcmp(cmd, "exec")) {
		r = parse_exec(argc, argv, &x);
		if (r == 0)
			r = exec_run(ctl, &x);
		free(x.envs);
	} else if (!strcmp(cmd, "register") || !strcmp(cmd, "attach") ||
		   !strcmp(cmd, "unregister") || !strcmp(cmd, "hyper")) {
		r = parse_request(argc, argv, &req);
		if (r == 0) {
			if (!strcmp(cmd, "register"))
				r = cmd_register(ctl, &req);
			else if (!strcmp(cmd, "attach"))
				r = cmd_attach(ctl, &req);
			else if (!strcmp(cmd, "unregister"))
				r = cmd_unregister(ctl, &req);
			else
				r = cmd_hyper(ctl, &req);
		}
	} else if (!strcmp(cmd, "status") || !strcmp(cmd, "list")) {
		r = parse_status(argc, argv, &st);
		if (r == 0)
			r = status_run(ctl, &st);
	} else {
		r = usage_error("unknown command %s", cmd);
	}
	event_base_free(ctl->base);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = {
		.socket_path = CC_PROXY_SOCKET_PATH,
		.timeout = { .tv_sec = CTL_DEFAULT_TIMEOUT },
		.has_timeout = true,
	};
	const char *env = getenv(SOCKET_ENV);
	int c;

	if (env && *env)
		ctl.socket_path = env;
	opterr = 0;
	/* "+": global options stop at the subcommand. */
	while ((c = getopt_long(argc, argv, "+:s:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': ctl.socket_path = optarg; break;
		case 'v': ctl.verbose = true; break;
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &ctl) < 0)
				return usage_error("--timeout: not a number of seconds: %s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("cc-proxyctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			return bad_option(c, argv);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (!*ctl.socket_path)
		return usage_error("empty socket path");
	return run(&ctl, argc - optind, argv + optind);
}
