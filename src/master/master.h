/*
 * master.h - the state of the cc-proxy master process: its resolved
 * configuration and the one struct master that every module hangs off.
 *
 * Modules (each with its own header, symbols prefixed by the file name):
 *   main.c      options, run()
 *   listener.c  the listening socket (socket activation or our own)
 *   client.c    client connections: framing, one command at a time
 *   command.c   the client commands (RegisterVM, Hyper, ConnectShim, ...)
 *   registry.c  VMs by container id, tokens -> VM + ioBase
 *   helper.c    one helper per VM: its channel, requests, reaping
 *   watchdog.c  pings to each helper; an unresponsive one is killed
 *   fdstore.c   helper channels kept in the service manager's fd store
 *   adopt.c     taking helpers back after a restart or an upgrade
 *   upgrade.c   SIGHUP: re-exec with the socket and the helper channels
 *   spawn.c     connecting a VM's sockets and clone + exec of a helper
 *   pool.c      idle helpers spawned ahead of need (--helper-pool)
 *   caps.c      capabilities and rlimits of the master
 *   quota.c    quotas: connections per uid, buffers, (quota_refuse.c)
 *               the answer to a refused connection
 *   audit.c     the lifecycle journal records (msgid.h)
 *   status.c    cc-proxyctl status: who may ask, asking the helpers
 *   status_reply.c  the status reply: figures, limits, JSON
 * Single-threaded: every callback runs from the one event loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <sys/types.h>

#include "quota.h"
#include "log.h"

struct event;
struct event_base;
struct listener;
struct client;
struct status;
struct vm;
struct registry_index;
struct pool;

/* How long a stopping master waits for its helpers before SIGKILL. */
#define MASTER_STOP_GRACE_MS	5000u

TAILQ_HEAD(client_list, client);
TAILQ_HEAD(vm_list, vm);

/* Everything the options decided, resolved once at start-up. */
struct master_config {
	char *socket_path;	/* absolute; the listening socket's path */
	char *url;		/* "unix://" + socket_path, for RegisterVM answers */
	char *helper_path;	/* the cc-proxy-vmhelper binary */
	bool as_root;		/* euid 0: helpers get --uid/--gid/--chroot */
	char *helper_user;	/* name, for logs */
	uid_t helper_uid;
	gid_t helper_gid;
	char *empty_dir;	/* --chroot for helpers (root only) */
	uint32_t wait_timeout_ms;	/* --wait-timeout, in ms (>= 1) */
	struct timeval wait_timeout;	/* the same, for evtimers */
	int log_level;
	bool log_journal;	/* records go to the journal (helpers too) */
	struct quota_config limits;	/* quotas (quota.h) */
	unsigned int pool_size;	/* --helper-pool: idle helpers kept (0: none) */
};

struct master {
	struct event_base *base;
	struct master_config cfg;
	struct listener *listener;
	struct client_list clients;
	size_t n_clients;
	struct quota_state lim;	/* counts against cfg.limits */
	uint64_t next_client_id;	/* for logs: "client 7" */
	struct vm_list vms;		/* every VM with a live helper */
	uint64_t last_vm_serial;	/* of the newest VM (registry_vm_new()) */
	struct registry_index *index;	/* registry.c's hash tables, while VMs exist */
	struct event *sig_chld;
	struct event *sig_term;
	struct event *sig_int;
	struct event *stop_timer;
	struct event *watchdog;		/* WATCHDOG=1 to systemd, or NULL */
	struct event *sig_hup;		/* SIGHUP: re-exec (upgrade.c) */
	bool stopping;			/* SIGTERM/SIGINT seen */
	bool fdstore;			/* a service manager keeps fds (fdstore.c) */
	char *exe_path;			/* our binary, resolved at start (upgrade) */
	char **argv;			/* our arguments, for the re-exec */
	/* Re-adoption after a restart (adopt.c): helpers handed back and
	 * not answered yet, and the tally for the restart record. */
	unsigned int adopt_pending;
	unsigned int adopt_total;
	unsigned int adopted;
	unsigned int adopt_lost;
	char adopt_why[1024];		/* reasons of the first ones lost */
	unsigned int stop_ticks;
	struct status *status;		/* cc-proxyctl status (status.c) */
	struct pool *pool;		/* idle helpers (pool.c), or NULL */
};

/**
 * master_stop_check() - while stopping: leave the loop once every helper
 * (idle ones too) has been reaped. Called by the reaper after each VM is freed.
 */
void master_stop_check(struct master *m);
