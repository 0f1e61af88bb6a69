/*
 * pool.h - a helper started ahead of its VM (cc-proxy --helper-pool):
 * `cc-proxy-vmhelper ... --pool-slot PAD`, with fds 0-3 (and 7) only.
 *
 * main.c confines it as any helper (STYLE.md section 8, steps 3-6) and
 * builds its event loop; then it is idle: it sends IPC_H_IDLE and waits
 * on its channel. The master sends the VM's fds (IPC_M_POOL_FD: ctl, io,
 * console) and then IPC_M_ASSIGN with the container id. On that message
 * the helper, inside the channel's callback:
 *   - moves the fds to their places in the layout (4, 5, 6) and checks
 *     each is an AF_UNIX stream socket,
 *   - names itself: comm "ccvm-<id>", and argv rewritten in place to what
 *     a helper started for the VM has ("--container-id ID" where
 *     "--pool-slot PAD" reserved the room), so ps, pgrep and the journal
 *     see no difference,
 *   - builds the helper (helper_init(), taking the channel over),
 *   - loads its seccomp filter (compiled while idle: sandbox_prepare()),
 *   - and starts reading the VM (helper_start()).
 * Any failure on the way ends the process: a half-assigned helper must
 * not go on. Anything else from the master while idle (but SHUTDOWN, or
 * EOF: the pool is closed) ends it too.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ipc.h"
#include "sandbox.h"

struct event_base;
struct helper;
struct ipc_channel;

struct pool_wait {
	struct event_base *base;
	struct helper *h;		/* built on assignment */
	struct ipc_channel *ch;		/* fd 3 until assigned; then h's */
	char **argv;			/* our argv, rewritten on assignment */
	int argc;
	uint32_t wait_timeout_ms;
	unsigned int nofile;		/* RLIMIT_NOFILE set (confine_limits()) */
	int fd[IPC_FD_CONSOLE + 1];	/* received VM fds by target, or -1 */
	bool assigned;			/* the helper serves a VM now */
	int exit_status;		/* while idle: how the process ends */
	char container_id[IPC_ASSIGN_ID_MAX + 1];
	struct sandbox_prog prog;	/* compiled while idle */
};

/**
 * pool_wait_start() - compile the seccomp filter, open the channel (fd 3)
 * and say IPC_H_IDLE; the assignment then happens from the event loop.
 * @p: zeroed by the caller except base, h, argv, argc, wait_timeout_ms
 *     and nofile.
 * Return: 0 or -errno (the caller exits).
 */
int pool_wait_start(struct pool_wait *p);

/** pool_wait_fini() - close what an unassigned helper still holds. */
void pool_wait_fini(struct pool_wait *p);
