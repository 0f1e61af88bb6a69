/*
 * registry.c - VMs by container id, tokens -> VM + ioBase (registry.h).
 *
 * Lookups are hash tables, because every one of them runs inside the
 * event loop on behalf of a client or a helper: a host with thousands of
 * tokens must not make each new token cost a walk over all of them
 * (that was quadratic per AttachVM). Four indexes: token text (global),
 * (VM, ioBase), container id (VMs in the namespace only) and helper pid.
 *
 * The tables are chained (a LIST per bucket, nodes embedded in the
 * objects) and double when they hold more entries than buckets. Not
 * json-c's linkhash: it probes linearly and never reclaims deleted
 * slots until it grows, so steady token churn would turn a miss into a
 * walk of the whole table.
 *
 * Hashes are keyed with a random seed drawn when the index is created;
 * stored tokens are random anyway, and a client choosing lookup keys
 * learns at most which buckets are occupied. The final match of a token
 * is still compared in constant time, and every candidate of the bucket
 * is compared, so the time a ConnectShim takes says nothing about how
 * much of a guessed token was right.
 *
 * Ownership: m->vms owns the VMs, each VM owns its tokens and pending
 * requests. Freeing a VM frees them; the client side is told first by
 * helper.c (client_vm_gone()), so no client keeps a pointer into them.
 * The index exists while m->vms is not empty.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include <event2/event.h>

#include "master.h"
#include "registry.h"

uint64_t registry_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define REGISTRY_BUCKETS_MIN	64u

LIST_HEAD(registry_bucket, registry_hnode);

struct registry_hash {
	struct registry_bucket *b;
	size_t n_buckets;	/* a power of two */
	size_t count;
};

struct registry_index {
	uint64_t seed;
	struct registry_hash tokens;	/* vm_token.by_text */
	struct registry_hash io_bases;	/* vm_token.by_io_base */
	struct registry_hash ids;	/* vm.by_id */
	struct registry_hash pids;	/* vm.by_pid */
	unsigned long long token_compares;
};

/* ---- the hash tables ------------------------------------------------ */

/* FNV-1a over the seed and @len bytes, then a final mix (splitmix64). */
static uint64_t registry_hash_bytes(uint64_t seed, const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static uint64_t registry_hash_u64(uint64_t seed, uint64_t a, uint64_t b)
{
	uint64_t v[2] = { a, b };

	return registry_hash_bytes(seed, v, sizeof(v));
}

static int registry_hash_init(struct registry_hash *h)
{
	h->b = calloc(REGISTRY_BUCKETS_MIN, sizeof(*h->b));
	if (!h->b)
		return -ENOMEM;
	h->n_buckets = REGISTRY_BUCKETS_MIN;
	h->count = 0;
	return 0;
}

static struct registry_bucket *registry_bucket_of(struct registry_hash *h, uint64_t hash)
{
	return &h->b[hash & (h->n_buckets - 1)];
}

/* Double the buckets; on ENOMEM the table stays as it is (just slower). */
static void registry_hash_grow(struct registry_hash *h)
{
	size_t n = h->n_buckets * 2;
	struct registry_bucket *b = calloc(n, sizeof(*b));
	struct registry_hnode *e;

	if (!b)
		return;
	for (size_t i = 0; i < h->n_buckets; i++)
		while ((e = LIST_FIRST(&h->b[i]))) {
			LIST_REMOVE(e, link);
			LIST_INSERT_HEAD(&b[e->hash & (n - 1)], e, link);
		}
	free(h->b);
	h->b = b;
	h->n_buckets = n;
}

static void registry_hash_add(struct registry_hash *h, struct registry_hnode *e,
			      uint64_t hash)
{
	if (e->linked)
		return;
	if (h->count >= h->n_buckets)
		registry_hash_grow(h);
	e->hash = hash;
	e->linked = true;
	LIST_INSERT_HEAD(registry_bucket_of(h, hash), e, link);
	h->count++;
}

static void registry_hash_del(struct registry_hash *h, struct registry_hnode *e)
{
	if (!e->linked)
		return;
	LIST_REMOVE(e, link);
	e->linked = false;
	h->count--;
}

#define registry_container(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* The index of @m, created with the first VM. */
static struct registry_index *registry_index_get(struct master *m)
{
	struct registry_index *ix = m->index;

	if (ix)
		return ix;
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return NULL;
	if (getrandom(&ix->seed, sizeof(ix->seed), GRND_NONBLOCK) != sizeof(ix->seed))
		ix->seed = (uint64_t)(uintptr_t)ix ^ 0x9e3779b97f4a7c15ULL;
	if (registry_hash_init(&ix->tokens) < 0 || registry_hash_init(&ix->io_bases) < 0 ||
	    registry_hash_init(&ix->ids) < 0 || registry_hash_init(&ix->pids) < 0) {
		free(ix->tokens.b);
		free(ix->io_bases.b);
		free(ix->ids.b);
		free(ix->pids.b);
		free(ix);
		return NULL;
	}
	m->index = ix;
	return ix;
}

/* The last VM is gone: so is the index. */
static void registry_index_put(struct master *m)
{
	struct registry_index *ix = m->index;

	if (!ix || !TAILQ_EMPTY(&m->vms))
		return;
	free(ix->tokens.b);
	free(ix->io_bases.b);
	free(ix->ids.b);
	free(ix->pids.b);
	free(ix);
	m->index = NULL;
}

/* ---- VMs ------------------------------------------------------------- */

/* A VM named @name in @state, in m->vms with the next serial, outside the
 * namespace. Return: 0, or -ENOMEM. */
static int registry_vm_alloc(struct master *m, const char *name, enum vm_state state,
			     struct vm **out)
{
	struct registry_index *ix;
	struct vm *vm;

	*out = NULL;
	ix = registry_index_get(m);
	if (!ix)
		return -ENOMEM;
	vm = calloc(1, sizeof(*vm));
	if (!vm || !(vm->container_id = strdup(name))) {
		free(vm);
		registry_index_put(m);
		return -ENOMEM;
	}
	vm->m = m;
	vm->created_ms = registry_now_ms();
	vm->serial = ++m->last_vm_serial;
	vm->state = state;
	vm->pidfd = -1;
	vm->next_io_base = REGISTRY_IO_BASE_FIRST;
	TAILQ_INIT(&vm->tokens);
	TAILQ_INIT(&vm->requests);
	TAILQ_INSERT_TAIL(&m->vms, vm, entry);
	*out = vm;
	return 0;
}

/* registry_find() sees @vm under its container id from now on. */
static void registry_namespace_add(struct vm *vm)
{
	struct registry_index *ix = vm->m->index;

	vm->in_namespace = true;
	registry_hash_add(&ix->ids, &vm->by_id,
			  registry_hash_bytes(ix->seed, vm->container_id,
					      strlen(vm->container_id)));
}

int registry_vm_new(struct master *m, const char *container_id, struct vm **out)
{
	int r;

	*out = NULL;
	if (registry_find(m, container_id))
		return -EEXIST;
	r = registry_vm_alloc(m, container_id, VM_STARTING, out);
	if (r < 0)
		return r;
	(*out)->child = true;
	registry_namespace_add(*out);
	return 0;
}

int registry_vm_new_adopting(struct master *m, const char *label, struct vm **out)
{
	return registry_vm_alloc(m, label, VM_ADOPTING, out);
}

int registry_enter_namespace(struct vm *vm, const char *container_id)
{
	char *id;

	if (registry_find(vm->m, container_id))
		return -EEXIST;
	id = strdup(container_id);
	if (!id)
		return -ENOMEM;
	free(vm->container_id);
	vm->container_id = id;
	registry_namespace_add(vm);
	return 0;
}

void registry_vm_free(struct vm *vm)
{
	struct master *m;
	struct vm_token *t;
	struct vm_request *r;

	if (!vm)
		return;
	m = vm->m;
	while ((t = TAILQ_FIRST(&vm->tokens)))
		registry_token_free(t);
	while ((r = TAILQ_FIRST(&vm->requests))) {
		TAILQ_REMOVE(&vm->requests, r, entry);
		free(r);
	}
	if (vm->ping_timer)
		event_free(vm->ping_timer);
	registry_hash_del(&m->index->ids, &vm->by_id);
	registry_hash_del(&m->index->pids, &vm->by_pid);
	TAILQ_REMOVE(&m->vms, vm, entry);
	free(vm->end_reason);
	free(vm->store_name);
	free(vm->container_id);
	free(vm);
	registry_index_put(m);
}

struct vm *registry_find(struct master *m, const char *container_id)
{
	struct registry_index *ix = m->index;
	struct registry_hnode *e;
	uint64_t hash;

	if (!ix)
		return NULL;
	hash = registry_hash_bytes(ix->seed, container_id, strlen(container_id));
	LIST_FOREACH(e, registry_bucket_of(&ix->ids, hash), link) {
		struct vm *vm = registry_container(e, struct vm, by_id);

		if (e->hash == hash && !strcmp(vm->container_id, container_id))
			return vm;
	}
	return NULL;
}

struct vm *registry_find_pid(struct master *m, pid_t pid)
{
	struct registry_index *ix = m->index;
	struct registry_hnode *e;
	uint64_t hash;

	if (!ix || pid <= 0)
		return NULL;
	hash = registry_hash_u64(ix->seed, (uint64_t)pid, 0);
	LIST_FOREACH(e, registry_bucket_of(&ix->pids, hash), link) {
		struct vm *vm = registry_container(e, struct vm, by_pid);

		if (vm->pid == pid)
			return vm;
	}
	return NULL;
}

void registry_set_pid(struct vm *vm, pid_t pid)
{
	struct registry_index *ix = vm->m->index;

	registry_hash_del(&ix->pids, &vm->by_pid);
	vm->pid = pid;
	if (pid > 0)
		registry_hash_add(&ix->pids, &vm->by_pid,
				  registry_hash_u64(ix->seed, (uint64_t)pid, 0));
}

void registry_leave_namespace(struct vm *vm, const char *reason)
{
	registry_hash_del(&vm->m->index->ids, &vm->by_id);
	vm->in_namespace = false;
	vm->state = VM_ENDING;
	if (!vm->end_reason && reason)
		vm->end_reason = strdup(reason);	/* NULL on ENOMEM: a generic text is used */
}

/* ---- tokens ---------------------------------------------------------- */

/* Constant time for equal lengths: no early exit on the first difference. */
static bool registry_token_equal(struct registry_index *ix, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = 0;

	ix->token_compares++;
	if (la != lb)
		return false;	/* the length of a token is public */
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

struct vm_token *registry_token_find(struct master *m, const char *text)
{
	struct registry_index *ix = m->index;
	struct vm_token *found = NULL;
	struct registry_hnode *e;

	if (!ix)
		return NULL;
	/* Every candidate of the bucket is compared, the match kept: the
	 * walk does not stop where the token is. */
	LIST_FOREACH(e, registry_bucket_of(&ix->tokens,
					   registry_hash_bytes(ix->seed, text, strlen(text))), link) {
		struct vm_token *t = registry_container(e, struct vm_token, by_text);

		if (registry_token_equal(ix, t->token, text) && !found)
			found = t;
	}
	return found;
}

struct vm_token *registry_token_by_io_base(struct vm *vm, uint64_t io_base)
{
	struct registry_index *ix = vm->m->index;
	struct registry_hnode *e;
	uint64_t hash = registry_hash_u64(ix->seed, (uint64_t)(uintptr_t)vm, io_base);

	LIST_FOREACH(e, registry_bucket_of(&ix->io_bases, hash), link) {
		struct vm_token *t = registry_container(e, struct vm_token, by_io_base);

		if (t->vm == vm && t->io_base == io_base)
			return t;
	}
	return NULL;
}

/*
 * @t (its text set) becomes @vm's token for @io_base: FREE, or HANDED
 * (@handed: a shim holds it), in the VM's list and both indexes. Later
 * tokens get ioBases above it.
 */
static void registry_token_link(struct vm *vm, struct vm_token *t, uint64_t io_base,
				bool handed)
{
	struct registry_index *ix = vm->m->index;

	token_prefix(t->token, t->prefix);
	t->vm = vm;
	t->state = handed ? TOKEN_HANDED : TOKEN_FREE;
	vm->n_claimed += handed;
	t->io_base = io_base;
	/* ioBase (stdout, stdin) and ioBase + 1 (stderr) */
	if (io_base + 2 > vm->next_io_base)
		vm->next_io_base = io_base + 2;
	TAILQ_INSERT_TAIL(&vm->tokens, t, entry);
	vm->n_tokens++;
	registry_hash_add(&ix->tokens, &t->by_text,
			  registry_hash_bytes(ix->seed, t->token, TOKEN_STR_LEN));
	registry_hash_add(&ix->io_bases, &t->by_io_base,
			  registry_hash_u64(ix->seed, (uint64_t)(uintptr_t)vm, t->io_base));
}

int registry_token_new(struct vm *vm, struct vm_token **out)
{
	struct vm_token *t;
	int r;

	*out = NULL;
	if (vm->n_tokens >= vm->m->cfg.limits.tokens_per_vm)
		return -ENOSPC;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* 256 bits from the CSPRNG never collide in practice; the check
	 * costs one lookup and makes the invariant "a token names one
	 * session" hold by construction. */
	do {
		r = token_generate(t->token);
		if (r < 0) {
			free(t);
			return r;
		}
	} while (registry_token_find(vm->m, t->token));
	registry_token_link(vm, t, vm->next_io_base, false);
	*out = t;
	return 0;
}

int registry_token_adopt(struct vm *vm, const char *text, uint64_t io_base,
			 bool handed)
{
	struct vm_token *t;

	if (vm->n_tokens >= REGISTRY_VM_TOKENS_MAX)
		return -ENOSPC;
	if (registry_token_by_io_base(vm, io_base))
		return -EEXIST;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	memcpy(t->token, text, TOKEN_STR_LEN);
	registry_token_link(vm, t, io_base, handed);
	return 0;
}

void registry_token_free(struct vm_token *t)
{
	struct registry_index *ix;

	if (!t)
		return;
	ix = t->vm->m->index;
	registry_hash_del(&ix->tokens, &t->by_text);
	registry_hash_del(&ix->io_bases, &t->by_io_base);
	TAILQ_REMOVE(&t->vm->tokens, t, entry);
	t->vm->n_tokens--;
	t->vm->n_claimed -= t->state != TOKEN_FREE;
	/* The text is a secret: do not leave it in freed memory. */
	explicit_bzero(t->token, sizeof(t->token));
	free(t);
}

/* Every state change goes through here, so vm->n_claimed stays exact. */
static void registry_token_set_state(struct vm_token *t, enum vm_token_state s)
{
	t->vm->n_claimed -= t->state != TOKEN_FREE;
	t->vm->n_claimed += s != TOKEN_FREE;
	t->state = s;
}

int registry_token_claim(struct vm_token *t)
{
	if (t->state != TOKEN_FREE)
		return -EBUSY;
	registry_token_set_state(t, TOKEN_HANDING);
	return 0;
}

void registry_token_unclaim(struct vm_token *t)
{
	if (t->state == TOKEN_HANDING)
		registry_token_set_state(t, TOKEN_FREE);
}

void registry_token_handed(struct vm_token *t)
{
	if (t->state == TOKEN_HANDING)
		registry_token_set_state(t, TOKEN_HANDED);
}

int registry_token_shim_gone(struct vm_token *t, bool released)
{
	/* Only the helper's own shim can leave it: a token still in the
	 * master's hands (a client waits on it) or never claimed is not
	 * the helper's to give back. */
	if (t->state != TOKEN_HANDED)
		return -EPROTO;
	if (released)
		registry_token_free(t);		/* DisconnectShim: the token is void */
	else
		registry_token_set_state(t, TOKEN_FREE);	/* a restarted shim may reconnect */
	return 0;
}

unsigned long long registry_token_compares(const struct master *m)
{
	return m->index ? m->index->token_compares : 0;
}
