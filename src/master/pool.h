/*
 * pool.h - idle helpers spawned ahead of need (--helper-pool N).
 *
 * An idle helper is exec'd, confined (empty root, helper uid, no
 * capabilities, rlimits, no_new_privs; everything but seccomp) and has
 * its channel, but no VM. RegisterVM takes one (pool_take()), sends it the
 * VM's fds and identity (IPC_M_POOL_FD, IPC_M_ASSIGN: helper.c) and the
 * pool is refilled once that registration is answered (pool_refill()),
 * from the event loop at the lowest priority, so the spawn of the next
 * idle helper is not on any RegisterVM's path.
 * With the pool empty, RegisterVM spawns its helper directly, as with
 * --helper-pool 0.
 *
 * Idle helpers are not pinged (they serve nothing; one that stopped
 * answering would fail its first registration, within --wait-timeout),
 * never handed to anyone but one VM, and exit on channel EOF. One that
 * misbehaves (a message other than its one IPC_H_IDLE, no IDLE within
 * --wait-timeout, a broken channel) is killed and replaced; after
 * POOL_FAILURES_MAX lost (killed, or exited while idle) without one taken
 * in between, the pool pauses (POOL_BACKOFF_MS,
 * doubling up to POOL_BACKOFF_MAX_MS) and says so in the log: a helper
 * binary that cannot idle costs only the pool, never a VM.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct master;
struct ipc_channel;

/* Default of --helper-pool, and its bound. */
#define POOL_SIZE_DEFAULT	4u
#define POOL_SIZE_MAX		64u
/* Idle helpers failing in a row before the pool pauses, and how long. */
#define POOL_FAILURES_MAX	3u
#define POOL_BACKOFF_MS		1000u
#define POOL_BACKOFF_MAX_MS	60000u
/* The priorities of the master's event base: the pool's refill runs at
 * the last one, only when no other event is active. */
#define POOL_PRIORITIES		3
#define POOL_REFILL_PRIORITY	(POOL_PRIORITIES - 1)

/**
 * pool_new() - the pool of @m, sized m->cfg.pool_size (0: no pool, and
 * this does nothing); the first refill is scheduled. Return: 0 or -errno.
 */
int pool_new(struct master *m);

/**
 * pool_take() - an idle helper for a VM, if there is one: *@pid and
 * *@ch (its channel, hello exchanged, IPC_H_IDLE seen; the caller owns it
 * and sets its handlers) leave the pool. No refill is scheduled: the
 * caller calls pool_refill() once the registration is answered, so the
 * next spawn (and its exec, competing for the CPUs) does not delay it.
 * Return: true when one was taken.
 */
bool pool_take(struct master *m, pid_t *pid, struct ipc_channel **ch);

/**
 * pool_refill() - a registration is over (answered, or failed): refill
 * the pool from the event loop, at the lowest priority.
 */
void pool_refill(struct master *m);

/**
 * pool_reaped() - @pid exited with @status: if it was an idle helper,
 * forget it (and refill). Return: true when @pid was the pool's.
 */
bool pool_reaped(struct master *m, pid_t pid, int status);

/** pool_idle() - idle helpers ready to be taken now (status). */
unsigned int pool_idle(const struct master *m);

/** pool_alive() - helpers of the pool not yet reaped (starting, idle, dying). */
unsigned int pool_alive(const struct master *m);

/**
 * pool_stop() - the master stops: no more refills; every idle helper's
 * channel is closed (it exits on EOF) and, with @kill, it is SIGKILLed.
 */
void pool_stop(struct master *m, bool kill);

/** pool_free() - free the pool (after pool_stop(); helpers not reaped are left). */
void pool_free(struct master *m);
