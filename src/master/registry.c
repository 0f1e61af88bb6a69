/*
 * registry.c - VMs by container id, tokens -> VM + ioBase (registry.h).
 *
 * Lists, not hash tables: a host runs tens of VMs and each VM a few
 * tokens, and every lookup is driven by one client command. Token lookups
 * compare every candidate in constant time, so the time a ConnectShim
 * takes says nothing about how much of a guessed token was right.
 *
 * Ownership: m->vms owns the VMs, each VM owns its tokens and pending
 * requests. Freeing a VM frees them; the client side is told first by
 * helper.c (client_vm_gone()), so no client keeps a pointer into them.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "master.h"
#include "registry.h"

uint64_t registry_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int registry_vm_new(struct master *m, const char *container_id, struct vm **out)
{
	struct vm *vm;

	*out = NULL;
	if (registry_find(m, container_id))
		return -EEXIST;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->container_id = strdup(container_id);
	if (!vm->container_id) {
		free(vm);
		return -ENOMEM;
	}
	vm->m = m;
	vm->created_ms = registry_now_ms();
	vm->state = VM_STARTING;
	vm->in_namespace = true;
	vm->next_io_base = REGISTRY_IO_BASE_FIRST;
	TAILQ_INIT(&vm->tokens);
	TAILQ_INIT(&vm->requests);
	TAILQ_INSERT_TAIL(&m->vms, vm, entry);
	*out = vm;
	return 0;
}

void registry_vm_free(struct vm *vm)
{
	struct vm_token *t;
	struct vm_request *r;

	if (!vm)
		return;
	while ((t = TAILQ_FIRST(&vm->tokens)))
		registry_token_free(t);
	while ((r = TAILQ_FIRST(&vm->requests))) {
		TAILQ_REMOVE(&vm->requests, r, entry);
		free(r);
	}
	TAILQ_REMOVE(&vm->m->vms, vm, entry);
	free(vm->end_reason);
	free(vm->container_id);
	free(vm);
}

struct vm *registry_find(struct master *m, const char *container_id)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry)
		if (vm->in_namespace && !strcmp(vm->container_id, container_id))
			return vm;
	return NULL;
}

struct vm *registry_find_pid(struct master *m, pid_t pid)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry)
		if (vm->pid == pid)
			return vm;
	return NULL;
}

void registry_leave_namespace(struct vm *vm, const char *reason)
{
	vm->in_namespace = false;
	vm->state = VM_ENDING;
	if (!vm->end_reason && reason)
		vm->end_reason = strdup(reason);	/* NULL on ENOMEM: a generic text is used */
}

/* Constant time for equal lengths: no early exit on the first difference. */
static bool registry_token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = 0;

	if (la != lb)
		return false;	/* the length of a token is public */
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

int registry_token_new(struct vm *vm, struct vm_token **out)
{
	struct vm_token *t;
	int r;

	*out = NULL;
	if (vm->n_tokens >= REGISTRY_VM_TOKENS_MAX)
		return -ENOSPC;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* 256 bits from the CSPRNG never collide in practice; the check
	 * costs little and makes the invariant "a token names one session"
	 * hold by construction. */
	do {
		r = token_generate(t->token);
		if (r < 0) {
			free(t);
			return r;
		}
	} while (registry_token_find(vm->m, t->token));
	token_prefix(t->token, t->prefix);
	t->vm = vm;
	t->io_base = vm->next_io_base;
	vm->next_io_base += 2;	/* ioBase (stdout, stdin) and ioBase + 1 (stderr) */
	TAILQ_INSERT_TAIL(&vm->tokens, t, entry);
	vm->n_tokens++;
	*out = t;
	return 0;
}

void registry_token_free(struct vm_token *t)
{
	if (!t)
		return;
	TAILQ_REMOVE(&t->vm->tokens, t, entry);
	t->vm->n_tokens--;
	/* The text is a secret: do not leave it in freed memory. */
	explicit_bzero(t->token, sizeof(t->token));
	free(t);
}

struct vm_token *registry_token_find(struct master *m, const char *text)
{
	struct vm_token *found = NULL, *t;
	struct vm *vm;

	/* Walk everything, keep the match: the walk's length does not
	 * depend on where (or whether) the token is. */
	TAILQ_FOREACH(vm, &m->vms, entry)
		TAILQ_FOREACH(t, &vm->tokens, entry)
			if (registry_token_equal(t->token, text) && !found)
				found = t;
	return found;
}

struct vm_token *registry_token_by_io_base(struct vm *vm, uint64_t io_base)
{
	struct vm_token *t;

	TAILQ_FOREACH(t, &vm->tokens, entry)
		if (t->io_base == io_base)
			return t;
	return NULL;
}
