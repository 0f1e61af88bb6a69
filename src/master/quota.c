/*
 * quota.c - connection admission and the master's buffer bound
 * (quota.h).
 *
 * Connections: each peer uid (SO_PEERCRED) may hold --max-clients-per-uid
 * connections; all together may hold --max-clients, but only root may use
 * the last --root-reserve of them. So any number of idle connections of
 * one uid neither locks out another uid (its own quota is untouched) nor
 * root's runtime and shims (the reserve), and root cannot be starved by
 * everybody else together either. The count is per uid in a short list:
 * it has one entry per uid with a connection, so at most --max-clients.
 *
 * Buffers: each connection's input is bounded by one whole frame (the
 * read watermark in client.c) and its unread output by --max-output; the
 * sum over all connections by --max-buffered. When that sum is over, the
 * uid holding the most buffered bytes pays: its fullest connection is
 * closed, then the next, until the sum is under again. A peer that parks
 * bytes across many connections is therefore the one that loses them, and
 * a runtime sending one large command is not closed for another uid's
 * hoard. Reading never pauses for everybody.
 *
 * Refusal records are rate limited (one per second, with a count of what
 * was suppressed) so a peer cannot flood the journal by reconnecting.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "client.h"
#include "quota.h"
#include "log.h"
#include "master.h"
#include "registry.h"

void quota_config_default(struct quota_config *cfg)
{
	*cfg = (struct quota_config){
		.clients = QUOTA_CLIENTS_DEFAULT,
		.clients_per_uid = QUOTA_CLIENTS_PER_UID_DEFAULT,
		.root_reserve = QUOTA_ROOT_RESERVE_DEFAULT,
		.output = QUOTA_OUTPUT_DEFAULT,
		.buffered = QUOTA_BUFFERED_DEFAULT,
		.frame_timeout_ms = (uint32_t)(QUOTA_FRAME_TIMEOUT_DEFAULT * 1000),
		.idle_timeout_ms = (uint32_t)(QUOTA_IDLE_TIMEOUT_DEFAULT * 1000),
		.tokens_per_vm = QUOTA_TOKENS_PER_VM_DEFAULT,
		.shims_per_vm = QUOTA_SHIMS_PER_VM_DEFAULT,
	};
}

int quota_config_check(const struct quota_config *cfg)
{
	if (cfg->root_reserve >= cfg->clients) {
		log_error("--root-reserve %" PRIu32 " must be below --max-clients %" PRIu32
			  ": other users would have no connection at all",
			  cfg->root_reserve, cfg->clients);
		return -EINVAL;
	}
	if (cfg->shims_per_vm > IPC_HELPER_SHIMS_MAX) {
		log_error("--max-shims-per-vm %" PRIu32 " is more than a helper can hold (%u)",
			  cfg->shims_per_vm, IPC_HELPER_SHIMS_MAX);
		return -EINVAL;
	}
	return 0;
}

static struct quota_uid *quota_uid_find(struct master *m, uid_t uid)
{
	struct quota_uid *u;

	LIST_FOREACH(u, &m->lim.uids, entry)
		if (u->uid == uid)
			return u;
	return NULL;
}

/* One warning per second at most; the rest are counted and reported with
 * the next one that gets through. */
static void quota_log_refusal(struct master *m, uid_t uid, const char *why)
{
	static struct timeval last;
	static uint64_t suppressed;
	struct timeval now;
	char uid_str[24];

	m->lim.refused++;
	event_base_gettimeofday_cached(m->base, &now);
	if (last.tv_sec == now.tv_sec && (last.tv_sec || last.tv_usec)) {
		suppressed++;
		return;
	}
	last = now;
	snprintf(uid_str, sizeof(uid_str), "%lld", (long long)uid);
	log_submit(LOG_WARNING, 0, NULL, LOG_FIELDS({ "CC_PEER_UID", uid_str }),
		   "connection of uid %s refused: %s (%" PRIu64 " similar records suppressed)",
		   uid_str, why, suppressed);
	suppressed = 0;
}

int quota_admit(struct master *m, uid_t uid, struct quota_uid **out,
		 char *why, size_t len)
{
	const struct quota_config *cfg = &m->cfg.limits;
	struct quota_uid *u = quota_uid_find(m, uid);
	uint32_t total_max = uid == 0 ? cfg->clients : cfg->clients - cfg->root_reserve;

	if (u && u->n >= cfg->clients_per_uid) {
		snprintf(why, len, "too many connections of uid %lld: the limit is %" PRIu32
			 " (--max-clients-per-uid)", (long long)uid, cfg->clients_per_uid);
	} else if (m->n_clients >= total_max) {
		if (uid == 0)
			snprintf(why, len, "too many connections: the limit is %" PRIu32
				 " (--max-clients)", cfg->clients);
		else
			snprintf(why, len, "too many connections: the limit for users "
				 "other than root is %" PRIu32 " (--max-clients %" PRIu32
				 " minus --root-reserve %" PRIu32 ")", total_max,
				 cfg->clients, cfg->root_reserve);
	} else {
		if (!u) {
			u = calloc(1, sizeof(*u));
			if (!u) {
				snprintf(why, len, "out of memory");
				return -ENOMEM;
			}
			u->uid = uid;
			LIST_INSERT_HEAD(&m->lim.uids, u, entry);
		}
		u->n++;
		*out = u;
		return 0;
	}
	quota_log_refusal(m, uid, why);
	return -EUSERS;
}

void quota_release(struct master *m, struct quota_uid *u)
{
	if (!u)
		return;
	if (--u->n == 0) {
		LIST_REMOVE(u, entry);
		free(u);
	}
}

void quota_free_all(struct master *m)
{
	struct quota_uid *u;

	while ((u = LIST_FIRST(&m->lim.uids))) {
		LIST_REMOVE(u, entry);
		free(u);
	}
}

/* The uid holding the most buffered bytes, summed over its connections
 * (those already being closed no longer count: client_abort() took their
 * bytes out). */
static struct quota_uid *quota_biggest_uid(struct master *m)
{
	struct quota_uid *u, *best = NULL;

	LIST_FOREACH(u, &m->lim.uids, entry)
		if (!best || u->buffered > best->buffered)
			best = u;
	return best;
}

bool quota_buffered_check(struct master *m, struct client *c)
{
	bool self = false;

	while (m->lim.buffered > m->cfg.limits.buffered) {
		struct quota_uid *u = quota_biggest_uid(m);
		struct client *v, *victim = NULL;
		char why[256];

		if (!u)
			break;
		TAILQ_FOREACH(v, &m->clients, entry)
			if (v->lim_uid == u && !v->broken &&
			    (!victim || v->buffered > victim->buffered))
				victim = v;
		if (!victim || victim->buffered == 0)
			break;	/* nothing left to shed: cannot happen */
		snprintf(why, sizeof(why), "the proxy buffers %" PRIu64 " bytes, over its "
			 "limit of %" PRIu64 " (--max-buffered), and uid %lld holds the most "
			 "(this connection %" PRIu64 ")", m->lim.buffered,
			 m->cfg.limits.buffered, (long long)u->uid, victim->buffered);
		m->lim.shed++;
		quota_client_abort(victim, why);	/* takes its bytes out of the sum */
		self |= victim == c;
	}
	return self;
}

uint32_t quota_vm_shims(const struct vm *vm)
{
	return (uint32_t)vm->n_claimed;
}
