/*
 * helper.h - the master's side of one VM's helper: starting it, the IPC
 * channel (ipc.h), Hyper requests in flight, and its end.
 *
 * End of a helper, whatever the cause (VM lost, start failure, protocol
 * violation, unregistered VM closing, shutdown): the VM leaves the
 * namespace at once; the process is reaped by the SIGCHLD handler
 * (helper_reap()), which answers every waiting client with an error,
 * detaches the clients, writes the "helper stopped" record and frees the
 * VM. A helper that misbehaves is SIGKILLed; one that closes its channel
 * but does not exit is SIGKILLed after HELPER_EXIT_GRACE_MS.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"

struct master;
struct client;
struct vm;
struct vm_token;
struct vm_request;
struct payload_register_vm;

/* The most bytes read past ConnectShim that travel with a shim's fd. */
#define HELPER_SHIM_LEFTOVER_MAX \
	(IPC_MSG_MAX - sizeof(struct ipc_header) - sizeof(struct ipc_shim))
/* The largest Hyper data an IPC_M_HYPER can carry. */
#define HELPER_HYPER_DATA_MAX \
	(IPC_MSG_MAX - sizeof(struct ipc_header) - sizeof(struct ipc_hyper))
/* How long a helper that closed its channel may take to exit. */
#define HELPER_EXIT_GRACE_MS	10000u

/**
 * helper_start() - connect @p's VM sockets, spawn the helper for @vm
 * (VM_STARTING) and wait for its READY (bounded by --wait-timeout).
 * On failure @err (@len bytes) says why, for the client, and @vm is
 * consumed: freed when no process was started, else left to the reaper.
 * Return: 0 or -errno.
 */
int helper_start(struct vm *vm, const struct payload_register_vm *p,
		 char *err, size_t len);

/**
 * helper_send_hyper() - forward an agent command: IPC_M_HYPER with a new
 * request id, answered later through client_finish() on @c.
 * @data, @len: the client's "data" JSON text (may be NULL/0)
 * Return: 0 (*out is the request), -EMSGSIZE, -EPIPE (helper gone), ...
 */
int helper_send_hyper(struct vm *vm, struct client *c, uint32_t code,
		      uint64_t io_base, const char *data, size_t len,
		      struct vm_request **out);

/**
 * helper_send() - queue one message to @vm's helper (ipc_channel_send()).
 * A full queue means the helper stopped reading: it is killed
 * (helper_fail()) and -ENOBUFS returned; vm->ch is NULL afterwards.
 * @fd: consumed in every case.
 * Return: 0, -EPIPE (no channel), -ENOBUFS, or another -errno.
 */
int helper_send(struct vm *vm, uint32_t type, uint32_t id, const void *fixed,
		size_t fixed_len, const void *var, size_t var_len, int fd);

/**
 * helper_fail() - @vm's helper cannot be trusted or reached any more:
 * close its channel, end the VM (it leaves the namespace, a pending
 * RegisterVM fails) and SIGKILL the helper with @reason (audited).
 * Safe inside the channel's callbacks.
 */
void helper_fail(struct vm *vm, const char *reason);

/** helper_violation() - helper_fail() for a protocol violation @why. */
void helper_violation(struct vm *vm, const char *why);

/** helper_send_token() - IPC_M_ADD_TOKEN for @t. Return: 0 or -errno. */
int helper_send_token(struct vm_token *t);

/** helper_queue_room() - can @n more messages be queued to @vm's helper? */
bool helper_queue_room(struct vm *vm, size_t n);

/**
 * helper_send_shim() - hand a shim's connection to @t's helper; @t is
 * TOKEN_HANDING and becomes TOKEN_HANDED on success, TOKEN_FREE on failure.
 * @fd: consumed in every case. @leftover: bytes read past ConnectShim
 * (copied). Writes the "shim connected" record on success.
 * Return: 0 or -errno.
 */
int helper_send_shim(struct vm_token *t, int fd, const void *leftover,
		     size_t len, pid_t pid, uid_t uid, gid_t gid);

/**
 * helper_unregister() - UnregisterVM: the id leaves the namespace now,
 * the helper drains until the VM's io channel closes.
 */
void helper_unregister(struct vm *vm, pid_t client_pid);

/**
 * helper_send_stats() - ask @vm's helper for its counters (IPC_M_STATS);
 * the answer goes to status_on_stats() with the same *@id.
 * Return: 0, -EPIPE (helper gone), -ENOBUFS (its queue is full), ...
 */
int helper_send_stats(struct vm *vm, uint32_t *id);

/** helper_registrar_gone() - the client of a pending RegisterVM left. */
void helper_registrar_gone(struct vm *vm);

/** helper_reap() - SIGCHLD: reap every exited helper and free its VM. */
void helper_reap(struct master *m);

/** helper_shutdown_all() - the master stops: IPC_M_SHUTDOWN to all. */
void helper_shutdown_all(struct master *m);

/** helper_kill_all() - SIGKILL every helper not yet reaped. */
void helper_kill_all(struct master *m);

/**
 * helper_forget() - free @vm now, without waiting for its helper: our
 * end of its channel closed, its timers and pidfd gone. For a VM whose
 * helper was never known (a refused adoption), one left to the fd store,
 * or at the very end.
 */
void helper_forget(struct vm *vm);

/**
 * helper_channel_adopt() - @vm's channel on a handed-over @fd (consumed):
 * ipc_channel_adopt() with @nonce, the adoption bounded by --wait-timeout.
 * Return: 0 or -errno.
 */
int helper_channel_adopt(struct vm *vm, int fd, uint64_t nonce);

/**
 * helper_exited() - @vm's helper is gone with wait status @status (or
 * AUDIT_STATUS_UNKNOWN): record it, answer its clients, free the VM.
 */
void helper_exited(struct vm *vm, int status);

/* helper_pidwatch.c: adopted helpers, watched through vm->pidfd. */

/** helper_watch_pidfd() - end @vm when its vm->pidfd becomes readable. */
int helper_watch_pidfd(struct vm *vm);

/** helper_pidwatch_kill() - SIGKILL through vm->pidfd. */
void helper_pidwatch_kill(struct vm *vm);

/** helper_pidwatch_close() - stop watching; close vm->pidfd. */
void helper_pidwatch_close(struct vm *vm);
