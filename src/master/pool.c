/*
 * pool.c - idle helpers spawned ahead of need (pool.h).
 *
 * Each idle helper is a struct pool_helper in pool->helpers from its
 * spawn until it is reaped (pool_reaped()) or taken (pool_take(): then
 * the VM owns pid and channel, and helper.c reaps it as any VM's). The
 * pool never holds more than its size of helpers that are alive and not
 * failed, so it costs at most --helper-pool processes; the list is that
 * short, and walking it is the only lookup here.
 *
 * Nothing an idle helper does reaches a VM: it has none. Any message but
 * its one IPC_H_IDLE, a malformed one, a channel that fails, or no IDLE
 * within --wait-timeout: it is SIGKILLed (our child, not yet reaped, so
 * the pid is still its own) and replaced by the next refill.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "master.h"
#include "pool.h"
#include "registry.h"
#include "spawn.h"

struct pool_helper {
	TAILQ_ENTRY(pool_helper) entry;
	struct pool *pool;
	pid_t pid;
	struct ipc_channel *ch;	/* NULL once failed or closed */
	struct event *timer;	/* the wait for IPC_H_IDLE */
	bool idle;		/* IPC_H_IDLE arrived: may be taken */
	bool failed;		/* killed or closing: waits to be reaped */
	bool killed;		/* we sent SIGKILL */
};
TAILQ_HEAD(pool_helper_list, pool_helper);

struct pool {
	struct master *m;
	unsigned int size;
	struct pool_helper_list helpers;
	unsigned int n_live;	/* spawned, not failed, not taken */
	unsigned int n_idle;	/* ... of which IPC_H_IDLE seen */
	unsigned int n_all;	/* in the list: live and failed, not reaped */
	unsigned int failures;	/* helpers lost since one was last taken */
	unsigned long long n_ready;	/* IPC_H_IDLE seen since start (logs, tests) */
	bool paused;		/* backoff_ev pending: no refill */
	unsigned int pause_ms;	/* the last pause; doubles while failures go on */
	struct event *refill_ev;	/* lowest priority: spawn one, again */
	struct event *backoff_ev;
	bool stopping;
};

static void pool_schedule(struct pool *p)
{
	if (!p->stopping && !p->paused && p->n_live < p->size)
		event_active(p->refill_ev, EV_TIMEOUT, 0);
}

/* The helper is of no use any more: no channel, SIGKILL, reaped later. */
static void pool_helper_fail(struct pool_helper *ph, const char *why)
{
	struct pool *p = ph->pool;

	if (ph->failed)
		return;
	ph->failed = true;
	ph->ch = ipc_channel_free(ph->ch);	/* safe inside its callbacks */
	evtimer_del(ph->timer);
	p->n_live--;
	if (ph->idle)
		p->n_idle--;
	p->failures++;
	log_submit(p->stopping ? LOG_INFO : LOG_WARNING, 0, NULL, NULL,
		   "idle helper %lld: %s: killed, the pool replaces it", (long long)ph->pid, why);
	/* Our child, not reaped: the pid cannot have been reused. */
	if (kill(ph->pid, SIGKILL) < 0 && errno != ESRCH)
		log_error("kill(%lld, SIGKILL): %s", (long long)ph->pid, strerror(errno));
	ph->killed = true;
}

static void pool_helper_free(struct pool_helper *ph)
{
	struct pool *p = ph->pool;

	TAILQ_REMOVE(&p->helpers, ph, entry);
	p->n_all--;
	ipc_channel_free(ph->ch);
	if (ph->timer)
		event_free(ph->timer);
	free(ph);
}

static void pool_on_message(struct ipc_channel *ch, const struct ipc_view *v, void *ctx)
{
	struct pool_helper *ph = ctx;

	if (v->fd >= 0)
		close(v->fd);	/* the table forbids it; never keep one */
	if (v->type != IPC_H_IDLE || ph->idle) {
		pool_helper_fail(ph, v->type == IPC_H_IDLE ? "a second IDLE" :
				 ipc_type_name(v->type));
		return;
	}
	ph->idle = true;
	evtimer_del(ph->timer);
	ph->pool->n_idle++;
	ph->pool->n_ready++;
	log_submit(LOG_INFO, 1, NULL, NULL, "idle helper %lld is ready (%u of %u, %llu so far)",
		   (long long)ph->pid, ph->pool->n_idle, ph->pool->size, ph->pool->n_ready);
}

static void pool_on_close(struct ipc_channel *ch, int err, const char *why, void *ctx)
{
	struct pool_helper *ph = ctx;

	pool_helper_fail(ph, err == 0 ? "it closed its channel" :
			 why ? why : strerror(-err));
}

static void pool_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pool_helper *ph = arg;

	pool_helper_fail(ph, "not ready within the wait timeout");
}

/* Spawn one idle helper. Return: 0 or -errno (logged). */
static int pool_spawn(struct pool *p)
{
	struct master *m = p->m;
	struct spawn_fds fds;
	struct pool_helper *ph;
	int sv[2] = { -1, -1 }, r;

	for (size_t i = 0; i < sizeof(fds.fd) / sizeof(fds.fd[0]); i++)
		fds.fd[i] = -1;
	ph = calloc(1, sizeof(*ph));
	if (!ph)
		return -ENOMEM;
	ph->pool = p;
	ph->timer = evtimer_new(m->base, pool_on_timer, ph);
	r = ph->timer ? ipc_socketpair(sv) : -ENOMEM;
	if (r < 0)
		goto fail;
	fds.fd[IPC_FD_CHANNEL] = sv[1];
	if (m->cfg.log_journal && spawn_journal_socket(&fds.fd[IPC_FD_JOURNAL]) < 0)
		fds.fd[IPC_FD_JOURNAL] = -1;	/* it logs to stderr, as helper.c's */
	r = spawn_helper(&m->cfg, NULL, &fds, &ph->pid);
	close(sv[1]);
	sv[1] = -1;
	if (fds.fd[IPC_FD_JOURNAL] >= 0)
		close(fds.fd[IPC_FD_JOURNAL]);
	if (r < 0)
		goto fail;
	/* From here on it is our child: it stays listed until reaped. */
	TAILQ_INSERT_TAIL(&p->helpers, ph, entry);
	p->n_all++;
	p->n_live++;
	r = ipc_channel_new(&ph->ch, m->base, sv[0], IPC_DIR_TO_MASTER,
			    pool_on_message, pool_on_close, ph);	/* consumes sv[0] */
	if (r < 0) {
		pool_helper_fail(ph, "cannot set up its channel");
		return r;
	}
	evtimer_add(ph->timer, &m->cfg.wait_timeout);
	return 0;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (ph->timer)
		event_free(ph->timer);
	free(ph);
	return r;
}

static void pool_on_backoff(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;

	log_submit(LOG_NOTICE, 0, NULL, NULL, "the helper pool tries again");
	p->paused = false;
	p->failures = POOL_FAILURES_MAX - 1;	/* one more failure pauses again */
	pool_schedule(p);
}

static void pool_pause(struct pool *p, unsigned int ms, const char *why)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	p->paused = true;
	p->pause_ms = ms;
	log_submit(LOG_WARNING, 0, NULL, NULL,
		   "the helper pool pauses for %u s: %s; registrations start their "
		   "helper directly meanwhile", ms / 1000, why);
	evtimer_add(p->backoff_ev, &tv);
}

/* Lowest priority: runs only when nothing else is active in the loop. */
static void pool_on_refill(evutil_socket_t fd, short what, void *arg)
{
	struct pool *p = arg;
	unsigned int next;
	int r;

	if (p->stopping || p->paused || p->n_live >= p->size)
		return;
	next = p->pause_ms ? p->pause_ms * 2 : POOL_BACKOFF_MS;
	if (p->failures >= POOL_FAILURES_MAX) {
		pool_pause(p, next < POOL_BACKOFF_MAX_MS ? next : POOL_BACKOFF_MAX_MS,
			   "its idle helpers failed to start");
		return;
	}
	r = pool_spawn(p);
	if (r < 0) {
		/* Out of fds or processes: the registrations will say so,
		 * with the limit (helper.c); the pool just waits. */
		pool_pause(p, POOL_BACKOFF_MS, strerror(-r));
		return;
	}
	pool_schedule(p);	/* one spawn per turn of the loop */
}

int pool_new(struct master *m)
{
	struct pool *p;

	if (m->cfg.pool_size == 0)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->m = m;
	p->size = m->cfg.pool_size;
	TAILQ_INIT(&p->helpers);
	p->refill_ev = event_new(m->base, -1, 0, pool_on_refill, p);
	p->backoff_ev = evtimer_new(m->base, pool_on_backoff, p);
	if (!p->refill_ev || !p->backoff_ev ||
	    event_priority_set(p->refill_ev, POOL_REFILL_PRIORITY) < 0) {
		if (p->refill_ev)
			event_free(p->refill_ev);
		if (p->backoff_ev)
			event_free(p->backoff_ev);
		free(p);
		return -ENOMEM;
	}
	m->pool = p;
	pool_schedule(p);
	return 0;
}

bool pool_take(struct master *m, pid_t *pid, struct ipc_channel **ch)
{
	struct pool *p = m->pool;
	struct pool_helper *ph;

	if (!p || p->n_idle == 0)
		return false;
	TAILQ_FOREACH(ph, &p->helpers, entry)
		if (ph->idle && !ph->failed)
			break;
	if (!ph)
		return false;
	*pid = ph->pid;
	*ch = ph->ch;
	ph->ch = NULL;
	p->n_idle--;
	p->n_live--;
	/* One served: the pool works. */
	p->failures = 0;
	p->pause_ms = 0;
	pool_helper_free(ph);
	/* No refill yet: pool_refill() once the registration is over. */
	return true;
}

bool pool_reaped(struct master *m, pid_t pid, int status)
{
	struct pool *p = m->pool;
	struct pool_helper *ph;
	char what[128];

	if (!p)
		return false;
	TAILQ_FOREACH(ph, &p->helpers, entry)
		if (ph->pid == pid)
			break;
	if (!ph)
		return false;
	if (!ph->failed) {
		/* It went by itself. Still ours until now: not counted. */
		ph->failed = true;
		p->n_live--;
		if (ph->idle)
			p->n_idle--;
		p->failures++;
	}
	if (WIFEXITED(status))
		snprintf(what, sizeof(what), "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(what, sizeof(what), "killed by signal %d", WTERMSIG(status));
	/* Not an audit record: no VM was ever served by it. */
	log_submit(ph->killed || p->stopping ? LOG_INFO : LOG_WARNING, ph->killed ? 1 : 0,
		   NULL, NULL, "idle helper %lld %s", (long long)pid, what);
	pool_helper_free(ph);
	pool_schedule(p);
	return true;
}

void pool_refill(struct master *m)
{
	if (m->pool)
		pool_schedule(m->pool);
}

unsigned int pool_idle(const struct master *m)
{
	return m->pool ? m->pool->n_idle : 0;
}

unsigned int pool_alive(const struct master *m)
{
	return m->pool ? m->pool->n_all : 0;
}

void pool_stop(struct master *m, bool kill_them)
{
	struct pool *p = m->pool;
	struct pool_helper *ph;

	if (!p)
		return;
	p->stopping = true;
	TAILQ_FOREACH(ph, &p->helpers, entry) {
		/* EOF on its channel: an idle helper exits at once. */
		ph->ch = ipc_channel_free(ph->ch);
		if (kill_them && kill(ph->pid, SIGKILL) < 0 && errno != ESRCH)
			log_error("kill(%lld, SIGKILL): %s", (long long)ph->pid, strerror(errno));
	}
}

void pool_free(struct master *m)
{
	struct pool *p = m->pool;
	struct pool_helper *ph;

	if (!p)
		return;
	while ((ph = TAILQ_FIRST(&p->helpers)))
		pool_helper_free(ph);
	event_free(p->refill_ev);
	event_free(p->backoff_ev);
	free(p);
	m->pool = NULL;
}
