/*
 * registry.h - the master's VMs and I/O tokens.
 *
 * A struct vm exists from RegisterVM until its helper is reaped; it is in
 * m->vms for all that time. Only while `in_namespace` does its container
 * id name it (registry_find()): UnregisterVM, VM_LOST and a failed start
 * take it out at once, so the id can be registered again while the old
 * helper drains. Each token belongs to one VM and owns ioBase and
 * ioBase + 1 of it; it dies with the VM, or when its shim released it.
 *
 * A token has one owner at a time, and one state machine says which:
 *
 *   FREE --ConnectShim--> HANDING --IPC_M_SHIM sent--> HANDED
 *     ^                      |                           |
 *     +---client left / -----+                           |
 *     |   handover failed                                |
 *     +------------- IPC_H_SHIM_GONE released=0 ---------+
 *                    IPC_H_SHIM_GONE released=1 ---------+--> freed
 *
 * While HANDING the master owns the shim's connection (a client waits in
 * client.c with a pointer to the token); only HANDED is the helper's, so
 * a helper can only give back (SHIM_GONE) what it was given. Every
 * lookup (token text, container id, helper pid, ioBase) is a hash table
 * lookup: the event loop never walks every token.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "token.h"

struct master;
struct client;
struct event;
struct ipc_channel;
struct adopt_state;

/* The most tokens one VM may hold: bounds the registry's memory. The
 * limit in force is --max-tokens-per-vm (quota.h), at most this. */
#define REGISTRY_VM_TOKENS_MAX	16384u
/* ioBase of the first token; 1 and 2 are the null session's. */
#define REGISTRY_IO_BASE_FIRST	3u

enum vm_state {
	VM_STARTING,	/* helper spawned, waiting for IPC_H_READY */
	VM_RUNNING,	/* READY seen, RegisterVM answered */
	VM_ENDING,	/* start failed, VM lost, or unregistered: draining */
	VM_ADOPTING,	/* a helper handed back after a restart, not answered yet
			 * (adopt.c): not in the namespace, no tokens */
};

/* A node of one of the registry's hash tables (registry.c). */
struct registry_hnode {
	LIST_ENTRY(registry_hnode) link;
	uint64_t hash;
	bool linked;
};

enum vm_token_state {
	TOKEN_FREE,	/* claimable by a ConnectShim */
	TOKEN_HANDING,	/* a client waits for its handover; the master holds the fd */
	TOKEN_HANDED,	/* IPC_M_SHIM went out: the helper holds the shim */
};

struct vm_token {
	TAILQ_ENTRY(vm_token) entry;
	struct registry_hnode by_text;	/* index: token text */
	struct registry_hnode by_io_base;	/* index: (VM, ioBase) */
	struct vm *vm;
	uint64_t io_base;
	enum vm_token_state state;	/* see the diagram above */
	char token[TOKEN_STR_LEN + 1];
	char prefix[TOKEN_PREFIX_LEN + 1];	/* what logs may show */
};
TAILQ_HEAD(vm_token_list, vm_token);

/* One IPC_M_HYPER waiting for its IPC_H_HYPER_ANSWER. */
struct vm_request {
	TAILQ_ENTRY(vm_request) entry;
	uint32_t id;
	struct client *client;	/* NULL once the client left: answer dropped */
};
TAILQ_HEAD(vm_request_list, vm_request);

struct vm {
	TAILQ_ENTRY(vm) entry;	/* m->vms */
	struct registry_hnode by_id;	/* index: container id, while in_namespace */
	struct registry_hnode by_pid;	/* index: helper pid, while pid > 0 */
	struct master *m;
	char *container_id;
	enum vm_state state;
	bool in_namespace;	/* registry_find() sees it */
	bool ready_seen;	/* IPC_H_READY arrived (once only) */
	bool lost;		/* IPC_H_VM_LOST arrived */
	bool killed;		/* we sent SIGKILL */
	char *end_reason;	/* why it is ending (malloc'd), for errors */
	bool unregistered;	/* ending by UnregisterVM: draining its output */
	uint64_t created_ms;	/* CLOCK_MONOTONIC at RegisterVM, for status */
	uint64_t serial;	/* 1, 2, ...: m->vms is in this order (status paging) */
	uint32_t stats_pending;	/* IPC_M_STATS not answered yet (status.c) */

	/* tokens */
	struct vm_token_list tokens;
	size_t n_tokens;
	size_t n_claimed;	/* tokens not TOKEN_FREE: a shim holds or is being handed them */
	uint64_t next_io_base;

	/* the helper */
	pid_t pid;		/* > 0 until reaped; set with registry_set_pid() */
	uid_t helper_uid;
	struct ipc_channel *ch;	/* NULL once closed */
	uint32_t next_req_id;
	struct vm_request_list requests;
	struct event *timer;	/* READY timeout, then the exit grace */
	struct event *ping_timer;	/* the watchdog (watchdog.c), once READY */
	uint32_t ping_id;	/* id of the last IPC_M_PING */
	bool ping_out;		/* ... and its IPC_H_PONG has not come yet */

	/* restart and upgrade (adopt.c, fdstore.c) */
	int pidfd;		/* adopted helpers: watched instead of SIGCHLD, or -1 */
	struct event *pidfd_ev;
	bool child;		/* our child (spawned, or adopted across our exec) */
	char *store_name;	/* FDNAME= in the service manager's fd store, or NULL */
	struct adopt_state *adopt;	/* while VM_ADOPTING */

	/* RegisterVM in progress (VM_STARTING) */
	struct client *registrar;	/* NULL once it left */
	uint32_t reg_streams;
};

/** registry_now_ms() - CLOCK_MONOTONIC in milliseconds (ages, uptimes). */
uint64_t registry_now_ms(void);

/**
 * registry_vm_new() - a VM named @container_id in state VM_STARTING, put
 * in the namespace and in m->vms. No helper yet (pid 0).
 * Return: 0, -EEXIST when the id is already in the namespace, -ENOMEM.
 */
int registry_vm_new(struct master *m, const char *container_id, struct vm **out);

/**
 * registry_vm_free() - remove @vm from m->vms and the namespace and free
 * its tokens, requests, watchdog timer and itself. The caller has closed the channel,
 * stopped the timer's event and told the clients (helper.c does this).
 */
void registry_vm_free(struct vm *vm);

/**
 * registry_vm_new_adopting() - a VM in state VM_ADOPTING, in m->vms but
 * not in the namespace, named @label until its helper says who it is.
 * Return: 0 or -ENOMEM.
 */
int registry_vm_new_adopting(struct master *m, const char *label, struct vm **out);

/**
 * registry_enter_namespace() - an adopted VM's helper named it
 * @container_id: rename it and put it in the namespace.
 * Return: 0, -EEXIST when the id is taken, -ENOMEM.
 */
int registry_enter_namespace(struct vm *vm, const char *container_id);

/**
 * registry_token_adopt() - a token an adopted helper reported: @text
 * (valid, unknown to every VM: the caller checked) on @io_base, HANDED
 * when a shim holds it, else FREE. The VM's next ioBase goes past it.
 * Return: 0, -ENOSPC above REGISTRY_VM_TOKENS_MAX, -EEXIST when @io_base
 * is taken in @vm, -ENOMEM.
 */
int registry_token_adopt(struct vm *vm, const char *text, uint64_t io_base,
			 bool handed);

/** registry_find() - the VM named @container_id in the namespace, or NULL. */
struct vm *registry_find(struct master *m, const char *container_id);

/** registry_find_pid() - the VM whose helper is @pid, or NULL. */
struct vm *registry_find_pid(struct master *m, pid_t pid);

/** registry_set_pid() - @vm's helper is @pid now (0: reaped). */
void registry_set_pid(struct vm *vm, pid_t pid);

/**
 * registry_leave_namespace() - the id of @vm is free again (idempotent).
 * Records @reason as the VM's end reason when it has none yet.
 */
void registry_leave_namespace(struct vm *vm, const char *reason);

/**
 * registry_token_new() - a fresh token for @vm with the next ioBase.
 * Return: 0, -ENOSPC at --max-tokens-per-vm, -ENOMEM, or the -errno
 * of token_generate().
 */
int registry_token_new(struct vm *vm, struct vm_token **out);

/** registry_token_free() - forget one token. */
void registry_token_free(struct vm_token *t);

/**
 * registry_token_find() - the token whose text is @text, in any VM, or
 * NULL. A hash table lookup; each candidate of the bucket is compared in
 * constant time.
 */
struct vm_token *registry_token_find(struct master *m, const char *text);

/** registry_token_by_io_base() - @vm's token owning @io_base, or NULL. */
struct vm_token *registry_token_by_io_base(struct vm *vm, uint64_t io_base);

/**
 * registry_token_claim() - ConnectShim: FREE -> HANDING.
 * Return: 0, or -EBUSY when a shim holds it or is being handed it.
 */
int registry_token_claim(struct vm_token *t);

/** registry_token_unclaim() - HANDING -> FREE: the handover did not happen. */
void registry_token_unclaim(struct vm_token *t);

/** registry_token_handed() - HANDING -> HANDED: IPC_M_SHIM is queued. */
void registry_token_handed(struct vm_token *t);

/**
 * registry_token_shim_gone() - IPC_H_SHIM_GONE: HANDED -> FREE, or the
 * token is freed when @released.
 * Return: 0, or -EPROTO when the helper does not hold the token's shim
 * (a protocol violation: the token is left as it was).
 */
int registry_token_shim_gone(struct vm_token *t, bool released);

/**
 * registry_token_compares() - how many token texts lookups have compared
 * so far (tests: the cost of a lookup must not grow with the tokens held).
 */
unsigned long long registry_token_compares(const struct master *m);
