/*
 * quota.h - the master's quotas: connections per peer uid and in all
 * (with a reserve for root), bytes buffered per connection and in all,
 * idle and incomplete-frame timeouts, tokens and shims per VM. Every
 * limit has a default, an option of cc-proxy (main.c) and an entry in
 * cc-proxy(8); every refusal names its limit, to the peer when the
 * protocol lets us and always in a log record.
 *
 * Accounting lives here (quota.c, connection admission; quota_refuse.c,
 * the answer to a refused connection); client.c calls in at accept, at
 * free, and whenever a connection's buffers change.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "ipc.h"

struct master;
struct client;
struct vm;
struct event;

/* Defaults of the options (cc-proxy(8), LIMITS). */
#define QUOTA_CLIENTS_DEFAULT		4096u
#define QUOTA_CLIENTS_PER_UID_DEFAULT	1024u
#define QUOTA_ROOT_RESERVE_DEFAULT	64u
#define QUOTA_OUTPUT_DEFAULT		(4u * 1024u * 1024u)
#define QUOTA_BUFFERED_DEFAULT		(256u * 1024u * 1024u)
#define QUOTA_FRAME_TIMEOUT_DEFAULT	30.0	/* seconds */
#define QUOTA_IDLE_TIMEOUT_DEFAULT	60.0	/* seconds */
#define QUOTA_TOKENS_PER_VM_DEFAULT	1024u
#define QUOTA_SHIMS_PER_VM_DEFAULT	IPC_HELPER_SHIMS_MAX

/* Upper bounds of the options: above these a value is a typo. */
#define QUOTA_CLIENTS_MAX		65536u
#define QUOTA_TOKENS_PER_VM_MAX	16384u	/* REGISTRY_VM_TOKENS_MAX */
#define QUOTA_BYTES_MAX		(1ull << 40)
#define QUOTA_TIMEOUT_MAX		86400.0

/* Connections being told why they were refused, at most, at once; and
 * how long each may take to send the command it gets the answer to. */
#define QUOTA_REFUSING_MAX		16u
#define QUOTA_REFUSING_MS		1000u

/* What the options decided (master_config.limits). */
struct quota_config {
	uint32_t clients;		/* --max-clients */
	uint32_t clients_per_uid;	/* --max-clients-per-uid */
	uint32_t root_reserve;		/* --root-reserve */
	uint64_t output;		/* --max-output: unread responses per connection */
	uint64_t buffered;		/* --max-buffered: all connections' buffers */
	uint32_t frame_timeout_ms;	/* --frame-timeout; 0: off */
	uint32_t idle_timeout_ms;	/* --idle-timeout; 0: off */
	uint32_t tokens_per_vm;		/* --max-tokens-per-vm */
	uint32_t shims_per_vm;		/* --max-shims-per-vm */
};

/* Connections of one peer uid (quota.c keeps a list of those with any). */
struct quota_uid {
	LIST_ENTRY(quota_uid) entry;
	uid_t uid;
	uint32_t n;		/* its connections */
	uint64_t buffered;	/* bytes in their buffers */
};
LIST_HEAD(quota_uid_list, quota_uid);

struct quota_refusal;
LIST_HEAD(quota_refusal_list, quota_refusal);

/* The master's counters (struct master.lim). */
struct quota_state {
	struct quota_uid_list uids;
	struct quota_refusal_list refusals;	/* quota_refuse.c */
	uint64_t buffered;		/* bytes in every client's two buffers */
	uint32_t refusing;		/* connections being answered a refusal */
	uint64_t refused;		/* since start, for the log */
	uint64_t shed;			/* closed for --max-buffered */
};

/** quota_config_default() - every limit at its default. */
void quota_config_default(struct quota_config *cfg);

/**
 * quota_config_check() - the options fit together (the reserve below the
 * total, shims within what a helper holds). Errors are logged.
 * Return: 0 or -EINVAL.
 */
int quota_config_check(const struct quota_config *cfg);

/**
 * quota_admit() - may a connection of peer @uid be served now? On yes
 * it is counted in *@out, the uid's entry (quota_release() undoes it;
 * the connection adds its buffered bytes there). On no, @why (of @len
 * bytes) says which limit, by its option, and a log record was written.
 * Return: 0 admitted, -EUSERS refused, -ENOMEM.
 */
int quota_admit(struct master *m, uid_t uid, struct quota_uid **out,
		 char *why, size_t len);

/** quota_release() - a connection counted in @u is gone (takes NULL). */
void quota_release(struct master *m, struct quota_uid *u);

/** quota_free_all() - forget every count (the master is ending). */
void quota_free_all(struct master *m);

/**
 * quota_refuse() - answer the refused connection @fd (consumed): the
 * first command it sends gets an error response saying @why, then it is
 * closed; after QUOTA_REFUSING_MS, or when QUOTA_REFUSING_MAX others
 * are pending already, it is closed at once (quota_refuse.c).
 */
void quota_refuse(struct master *m, int fd, const char *why);

/** quota_refuse_free_all() - close every connection being refused. */
void quota_refuse_free_all(struct master *m);

/**
 * quota_buffered_check() - after @m->lim.buffered grew: while it is over
 * --max-buffered, the connection holding the most bytes is closed (it
 * pays, nobody else). Return: true when @c itself was chosen (the caller,
 * in @c's own callback, frees it); others are closed from their own
 * deferred event.
 */
bool quota_buffered_check(struct master *m, struct client *c);

/* ---- per connection (quota_client.c) ---- */

/**
 * quota_client_start() - count @c's buffered bytes from now on and give
 * it its timer (quota_client_update() arms it). Return: 0 or -ENOMEM.
 */
int quota_client_start(struct client *c);

/** quota_client_stop() - the reverse, before @c's buffers go. */
void quota_client_stop(struct client *c);

/**
 * quota_client_update() - after @c's state changed: arm the timer that
 * fits (an incomplete frame: --frame-timeout; idle and not attached:
 * --idle-timeout; else none). A timer already measuring the same thing
 * keeps running, so a frame that trickles in cannot extend its time;
 * @progress (a frame was decoded) restarts the frame timer.
 */
void quota_client_update(struct client *c, bool progress);

/**
 * quota_client_abort() - close @c for breaking a limit, @why naming it:
 * a log record; when @c has a command frame pending and nothing unsent,
 * an error response to that command (best effort); then @c is closed from
 * its own deferred event. Its buffered bytes stop counting at once.
 */
void quota_client_abort(struct client *c, const char *why);

/**
 * quota_vm_shims() - how many shims @vm holds: tokens claimed by a shim
 * that was handed over or is being handed (released again on
 * IPC_H_SHIM_GONE). Compared with --max-shims-per-vm by ConnectShim.
 */
uint32_t quota_vm_shims(const struct vm *vm);
