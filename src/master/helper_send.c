/*
 * helper_send.c - what the master asks of a VM's helper (helper.h): the
 * one send path with its bound, and each request built on it (a Hyper
 * command, a token, a shim's connection, UnregisterVM, the counters).
 *
 * helper_send() is the only way a message reaches a helper: a channel
 * whose queue is at its bound (ipc.h) means the helper stopped reading,
 * and it is killed rather than allowed to hold more of the master's
 * memory and fds (helper_fail(), helper.c).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "fdstore.h"
#include "helper.h"
#include "log.h"
#include "master.h"
#include "registry.h"
#include "token.h"

#define HELPER_FIELDS(vm) LOG_FIELDS({ "CC_CONTAINER_ID", (vm)->container_id })

int helper_send(struct vm *vm, uint32_t type, uint32_t id, const void *fixed,
		size_t fixed_len, const void *var, size_t var_len, int fd)
{
	char reason[192];
	int r;

	if (!vm->ch) {
		if (fd >= 0)
			close(fd);
		return -EPIPE;
	}
	r = ipc_channel_send(vm->ch, type, id, fixed, fixed_len, var, var_len, fd);
	if (r == -ENOBUFS) {
		/* The queue is at its bound (ipc.h): the helper has not
		 * read its channel for a while. Holding more of our memory
		 * and fds for it would let one VM starve the others. */
		snprintf(reason, sizeof(reason),
			 "unresponsive: it stopped reading its channel (%zu messages, "
			 "%zu bytes, %zu fds queued)", ipc_channel_queued(vm->ch),
			 ipc_channel_queued_bytes(vm->ch), ipc_channel_queued_fds(vm->ch));
		helper_fail(vm, reason);
	}
	return r;
}

int helper_send_hyper(struct vm *vm, struct client *c, uint32_t code,
		      uint64_t io_base, const char *data, size_t len,
		      struct vm_request **out)
{
	struct ipc_hyper h = { .io_base = io_base, .code = code, .data_len = (uint32_t)len };
	struct vm_request *req;
	int r;

	if (!vm->ch)
		return -EPIPE;
	if (len > HELPER_HYPER_DATA_MAX)
		return -EMSGSIZE;
	req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	if (++vm->next_req_id == 0)	/* 0 is "no request" in logs: skip it */
		vm->next_req_id = 1;
	req->id = vm->next_req_id;
	req->client = c;
	r = helper_send(vm, IPC_M_HYPER, req->id, &h, sizeof(h), data, len, -1);
	if (r < 0) {
		free(req);
		return r;
	}
	TAILQ_INSERT_TAIL(&vm->requests, req, entry);
	*out = req;
	return 0;
}

bool helper_queue_room(struct vm *vm, size_t n)
{
	const size_t each = sizeof(struct ipc_header) + sizeof(struct ipc_token) + TOKEN_STR_LEN;

	return vm->ch && n <= IPC_QUEUE_MAX && ipc_channel_room(vm->ch, n, n * each, 0);
}

int helper_send_token(struct vm_token *t)
{
	struct ipc_token msg = { .io_base = t->io_base, .token_len = TOKEN_STR_LEN };

	return helper_send(t->vm, IPC_M_ADD_TOKEN, 0, &msg, sizeof(msg), t->token,
			   TOKEN_STR_LEN, -1);
}

int helper_send_shim(struct vm_token *t, int fd, const void *leftover,
		     size_t len, pid_t pid, uid_t uid, gid_t gid)
{
	struct ipc_shim s = { .io_base = t->io_base, .leftover_len = (uint32_t)len,
			      .pid = pid, .uid = uid, .gid = gid };
	int r;

	if (!t->vm->ch) {
		close(fd);
		registry_token_unclaim(t);
		return -EPIPE;
	}
	r = helper_send(t->vm, IPC_M_SHIM, 0, &s, sizeof(s), leftover, len, fd);
	if (r < 0) {
		registry_token_unclaim(t);
		return r;
	}
	/* From now on the shim is the helper's: only it can give it back. */
	registry_token_handed(t);
	audit_shim_connected(t->vm->container_id, t->prefix, pid, uid, gid);
	return 0;
}

void helper_unregister(struct vm *vm, pid_t client_pid)
{
	struct ipc_empty e = { 0 };
	int r;

	audit_vm_unregistered(vm->container_id, vm->pid, client_pid);
	registry_leave_namespace(vm, "unregistered");
	fdstore_remove(vm);
	vm->unregistered = true;
	if (!vm->ch)
		return;
	r = helper_send(vm, IPC_M_UNREGISTER, 0, &e, sizeof(e), NULL, 0, -1);
	if (r < 0 && r != -ENOBUFS)
		log_submit(LOG_WARNING, 0, NULL, HELPER_FIELDS(vm),
			   "cannot tell the helper of VM %s it is unregistered: %s",
			   vm->container_id, strerror(-r));
}

int helper_send_stats(struct vm *vm, uint32_t *id)
{
	struct ipc_empty e = { 0 };
	int r;

	if (!vm->ch || vm->state == VM_ADOPTING)
		return -EPIPE;
	if (++vm->next_req_id == 0)	/* one id space with Hyper requests */
		vm->next_req_id = 1;
	r = ipc_channel_send(vm->ch, IPC_M_STATS, vm->next_req_id, &e, sizeof(e), NULL, 0, -1);
	if (r < 0)
		return r;
	vm->stats_pending++;
	*id = vm->next_req_id;
	return 0;
}
