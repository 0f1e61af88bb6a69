/*
 * status_reply.c - the JSON reply of the status command (status.h).
 *
 *   {"proxy": {"version", "pid", "uptimeMs", "socketPath", "vms",
 *              "clients", "helpersPooled",
 *              "limits": {NAME: {"used", "max"}, ...}},
 *    "page": {"total", "next" (only when more VMs follow)},
 *    "vms": [{"containerId", "helperPid", "state", "uptimeMs",
 *             "tokensTotal", "tokensClaimed", "endReason",
 *             "answered", "noAnswer" | the helper's counters}]}
 *
 * Limits are one table, status_limits[]: a name, the bound, and how
 * close the proxy is to it now ("used": for a per-VM bound, the VM
 * closest to it). Adding a limit is one row (and a one-line accessor of
 * what it bounds); cc-proxyctl prints every limit it is given, so it
 * needs no change.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "helper.h"
#include "master.h"
#include "pool.h"
#include "registry.h"
#include "status.h"

/*
 * A bound the proxy enforces, and how close it is now: @used for a bound
 * on the whole proxy, else @per_vm for a bound on each VM, of which the
 * VM closest to it is shown.
 */
struct status_limit {
	const char *name;	/* the key under "limits" */
	uint64_t (*max)(const struct master *m);	/* fixed, or an option */
	uint64_t (*used)(const struct master *m);
	uint64_t (*per_vm)(const struct vm *vm);
};

/* The bounds: options in force (quota.h), or compiled in. */
static uint64_t status_max_clients(const struct master *m)
{
	return m->cfg.limits.clients;
}

static uint64_t status_max_vm_tokens(const struct master *m)
{
	return m->cfg.limits.tokens_per_vm;
}

static uint64_t status_max_vm_shims(const struct master *m)
{
	return m->cfg.limits.shims_per_vm;
}

static uint64_t status_max_queue(const struct master *m)
{
	return IPC_QUEUE_MAX;
}

static uint64_t status_max_queue_bytes(const struct master *m)
{
	return IPC_QUEUE_BYTES_MAX;
}

static uint64_t status_max_queue_fds(const struct master *m)
{
	return IPC_QUEUE_FDS_MAX;
}

static uint64_t status_clients(const struct master *m)
{
	return m->n_clients;
}

static uint64_t status_vm_tokens(const struct vm *vm)
{
	return vm->n_tokens;
}

static uint64_t status_vm_shims(const struct vm *vm)
{
	return vm->n_claimed;	/* handed, or being handed, to a shim */
}

static uint64_t status_vm_queue(const struct vm *vm)
{
	return vm->ch ? ipc_channel_queued(vm->ch) : 0;
}

static uint64_t status_vm_queue_bytes(const struct vm *vm)
{
	return vm->ch ? ipc_channel_queued_bytes(vm->ch) : 0;
}

static uint64_t status_vm_queue_fds(const struct vm *vm)
{
	return vm->ch ? ipc_channel_queued_fds(vm->ch) : 0;
}

/* THE limits table: one row per bound the proxy enforces. */
static const struct status_limit status_limits[] = {
	{ "clients", status_max_clients, status_clients, NULL },
	{ "tokensPerVm", status_max_vm_tokens, NULL, status_vm_tokens },
	{ "shimsPerVm", status_max_vm_shims, NULL, status_vm_shims },
	{ "helperQueue", status_max_queue, NULL, status_vm_queue },
	{ "helperQueueBytes", status_max_queue_bytes, NULL, status_vm_queue_bytes },
	{ "helperQueueFds", status_max_queue_fds, NULL, status_vm_queue_fds },
};

static uint64_t status_limit_used(const struct master *m, const struct status_limit *l)
{
	const struct vm *vm;
	uint64_t most = 0;

	if (l->used)
		return l->used(m);
	TAILQ_FOREACH(vm, &m->vms, entry)
		if (l->per_vm(vm) > most)
			most = l->per_vm(vm);
	return most;
}

/* Add @key: @val (consumed) to @o. Return: 0 or -ENOMEM. */
static int status_add(struct json_object *o, const char *key, struct json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add(o, key, val) < 0) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

static int status_add_u64(struct json_object *o, const char *key, uint64_t v)
{
	/* json-c has no unsigned 64-bit ints before 0.14; counters of a
	 * helper's lifetime stay far below 2^63. */
	return status_add(o, key, json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
}

static int status_add_str(struct json_object *o, const char *key, const char *s)
{
	if (!s)
		return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
	return status_add(o, key, json_object_new_string(s));
}

static struct json_object *status_limits_json(const struct master *m)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *l;
	int r = o ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(status_limits); i++) {
		l = json_object_new_object();
		r = status_add(o, status_limits[i].name, l);
		r = r ?: status_add_u64(l, "used", status_limit_used(m, &status_limits[i]));
		r = r ?: status_add_u64(l, "max", status_limits[i].max(m));
	}
	return r ? NULL : TAKE_PTR(o);
}

static struct json_object *status_proxy_json(struct master *m, uint64_t started_ms)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	const struct vm *vm;
	uint64_t n_vms = 0;
	int r = o ? 0 : -ENOMEM;

	TAILQ_FOREACH(vm, &m->vms, entry)
		n_vms++;
	r = r ?: status_add_str(o, "version", PACKAGE_VERSION);
	r = r ?: status_add_u64(o, "pid", (uint64_t)getpid());
	r = r ?: status_add_u64(o, "uptimeMs", registry_now_ms() - started_ms);
	r = r ?: status_add_str(o, "socketPath", m->cfg.socket_path);
	r = r ?: status_add_u64(o, "vms", n_vms);
	r = r ?: status_add_u64(o, "clients", m->n_clients);
	/* Idle helpers ready for the next RegisterVM (pool.c). */
	r = r ?: status_add_u64(o, "helpersPooled", pool_idle(m));
	r = r ?: status_add(o, "limits", status_limits_json(m));
	return r ? NULL : TAKE_PTR(o);
}

static const char *status_no_answer(enum status_answer a)
{
	switch (a) {
	case STATUS_NO_ANSWER:
		return "no answer";
	case STATUS_NOT_ASKED:
		return "not asked: no channel to its helper, or its queue is busy";
	case STATUS_GONE:
		return "its helper exited";
	default:
		return "no answer";
	}
}

/* The helper's counters (an answered entry). */
static int status_counters(struct json_object *o, const struct status_entry *e)
{
	const struct ipc_stats *s = &e->st;
	int r = 0;

	r = r ?: status_add_u64(o, "sessions", s->sessions);
	r = r ?: status_add_u64(o, "shims", s->shims);
	r = r ?: status_add_u64(o, "processes", s->processes);
	r = r ?: status_add_u64(o, "bytesToShims", s->bytes_to_shims);
	r = r ?: status_add_u64(o, "bytesFromShims", s->bytes_from_shims);
	r = r ?: status_add_u64(o, "bytesDiscardedNull", s->bytes_null);
	r = r ?: status_add_u64(o, "bytesDiscardedOrphaned", s->bytes_orphaned);
	r = r ?: status_add_u64(o, "hyperServed", s->hyper_served);
	r = r ?: status_add_u64(o, "hyperFailed", s->hyper_failed);
	r = r ?: status_add_str(o, "lastError", e->last_error[0] ? e->last_error : NULL);
	return r;
}

static struct json_object *status_vm_json(const struct status_entry *e)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	bool answered = e->answer == STATUS_ANSWERED;
	int r = o ? 0 : -ENOMEM;

	r = r ?: status_add_str(o, "containerId", e->container_id);
	r = r ?: status_add_u64(o, "helperPid", (uint64_t)(e->pid > 0 ? e->pid : 0));
	r = r ?: status_add_str(o, "state", e->state);
	r = r ?: status_add_u64(o, "uptimeMs", e->uptime_ms);
	r = r ?: status_add_u64(o, "tokensTotal", e->tokens);
	r = r ?: status_add_u64(o, "tokensClaimed", e->claimed);
	r = r ?: status_add_str(o, "endReason", e->end_reason);
	r = r ?: status_add(o, "answered", json_object_new_boolean(answered));
	if (answered)
		r = r ?: status_counters(o, e);
	else
		r = r ?: status_add_str(o, "noAnswer", status_no_answer(e->answer));
	return r ? NULL : TAKE_PTR(o);
}

/* {"total": N, "next": CURSOR}: "next" only when more VMs follow. */
static struct json_object *status_page_json(const struct status_page *pg)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	int r = o ? 0 : -ENOMEM;

	r = r ?: status_add_u64(o, "total", pg->total);
	if (pg->next)
		r = r ?: status_add_u64(o, "next", pg->next);
	return r ? NULL : TAKE_PTR(o);
}

char *status_reply_json(struct master *m, uint64_t started_ms,
			const struct status_page *pg,
			const struct status_entry *e, size_t n)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *vms = NULL, *vm;
	const char *text;
	int r = o ? 0 : -ENOMEM;

	r = r ?: status_add(o, "proxy", status_proxy_json(m, started_ms));
	r = r ?: status_add(o, "page", status_page_json(pg));
	r = r ?: status_add(o, "vms", vms = json_object_new_array());
	for (size_t i = 0; r == 0 && i < n; i++) {
		vm = status_vm_json(&e[i]);
		if (!vm || json_object_array_add(vms, vm) < 0) {
			json_object_put(vm);
			r = -ENOMEM;
		}
	}
	if (r)
		return NULL;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	return text ? strdup(text) : NULL;
}
