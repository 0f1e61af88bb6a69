/*
 * ctl.h - cc-proxyctl, the operator's and runtime developer's client of
 * cc-proxy: what the subcommands share.
 *
 * Exit status: 0 success; 1 the proxy refused or failed (its message is
 * printed), or it could not be reached; 2 usage. `exec` exits with the
 * process's own status, or 125 when cc-proxyctl itself fails (as podman
 * and docker exec do), so the two never mix.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>
#include <event2/event.h>

#define CTL_EXIT_FAILURE	1
#define CTL_EXIT_USAGE		2
#define CTL_EXIT_EXEC_FAILURE	125

/* The default bound on every wait for the proxy, in seconds. The proxy
 * itself gives up after 30 s (its --wait-timeout default). */
#define CTL_DEFAULT_TIMEOUT	60

struct ctl {
	struct event_base *base;
	const char *socket_path;
	bool verbose;
	struct timeval timeout;
	bool has_timeout;	/* --timeout 0 waits forever */
	int status;		/* exit status, set by whoever ends the loop */
};

/* The options of one subcommand, after parsing. */
struct ctl_request {
	const char *container_id;
	const char *ctl_serial;		/* register */
	const char *io_serial;		/* register */
	const char *console;		/* register, optional */
	unsigned long tokens;		/* register, attach */
	const char *hyper_name;		/* hyper */
	const char *hyper_data;		/* hyper, optional JSON text */
};

/* The options of `exec`. */
struct ctl_exec {
	const char *container_id;	/* the VM */
	const char *container;		/* "container" of execcmd */
	bool tty;
	char **envs;			/* K=V, n_envs of them */
	size_t n_envs;
	const char *workdir;		/* optional */
	char **argv;			/* the command, argc >= 1 */
	int argc;
};

/* The options of `status` and `list`. */
/* The most VMs the proxy puts in one status reply (its STATUS_PAGE_MAX). */
#define CTL_STATUS_PAGE_MAX	500

struct ctl_status {
	const char *container_id;	/* status ID: that VM in detail */
	bool json;			/* --json: the whole report as JSON */
	bool list;			/* list: the VM table alone */
	unsigned long page_size;	/* --page-size: VMs per reply, 0 = the proxy's */
};

/** ctl_err() - print "cc-proxyctl: " and a formatted message on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** ctl_timeout() - the bound on waits, or NULL for none. */
const struct timeval *ctl_timeout(const struct ctl *ctl);

/**
 * cmd_register(), cmd_attach(), cmd_unregister(), cmd_hyper() - the simple
 * subcommands (cmd.c). Each runs the loop and returns the exit status.
 */
int cmd_register(struct ctl *ctl, const struct ctl_request *req);
int cmd_attach(struct ctl *ctl, const struct ctl_request *req);
int cmd_unregister(struct ctl *ctl, const struct ctl_request *req);
int cmd_hyper(struct ctl *ctl, const struct ctl_request *req);

/**
 * status_run() - `status` and `list` (status.c): ask the proxy what it is
 * doing and print it. Return: the exit status.
 */
int status_run(struct ctl *ctl, const struct ctl_status *opts);

/**
 * exec_run() - `exec` (exec.c): run a process in the VM, relaying its
 * standard streams and signals. Return: the process's exit status, or
 * CTL_EXIT_EXEC_FAILURE.
 */
int exec_run(struct ctl *ctl, const struct ctl_exec *x);
