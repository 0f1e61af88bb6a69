/*
 * spawn.h - how a helper process comes to be: what it is started with
 * (resolved once at start-up), the VM sockets the master connects for
 * it, and vfork + exec with the fd layout of ipc.h.
 */
#pragma once

#include <sys/types.h>

#include "ipc.h"

struct master_config;

/* How many characters a pooled helper's "--pool-slot" argument holds:
 * the room for the VM's arguments, written over argv once it has a VM. */
#define SPAWN_POOL_PAD_LEN	1072

/* One source fd per target fd of ipc.h's layout, -1 when absent. */
struct spawn_fds {
	int fd[IPC_FD_JOURNAL + 1];
};

/**
 * spawn_prepare() - resolve what helpers are started with, logging a
 * clear error when something is wrong:
 *  @helper:    --helper, or NULL for cc-proxy-vmhelper beside our own
 *              binary if it is there, else LIBEXECDIR's
 *  @user:      --helper-user, or NULL for CC_PROXY_HELPER_USER if it
 *              exists, else "nobody" (root only; never uid 0)
 *  @empty_dir: --empty-dir, or NULL for /run/cc-proxy/empty (root only;
 *              created 0555; must be an empty directory nobody but root
 *              can write to)
 * Return: 0 or -errno.
 */
int spawn_prepare(struct master_config *cfg, const char *helper,
		  const char *user, const char *empty_dir);

/**
 * spawn_connect() - connect a non-blocking, close-on-exec AF_UNIX
 * stream socket to @path. Never blocks: a listener whose backlog is full
 * is an error (-EAGAIN), not a wait in the shared event loop.
 * Return: 0 (*out is the fd) or -errno.
 */
int spawn_connect(const char *path, int *out);

/** spawn_connect_strerror() - the text for spawn_connect()'s error @r. */
const char *spawn_connect_strerror(int r);

/**
 * spawn_strerror() - the text for an error @r of starting a VM's helper
 * (connect, socketpair, clone). A limit (EMFILE: our RLIMIT_NOFILE,
 * ENFILE, EAGAIN, ENOMEM) is named, with what raises it, and the first
 * refusal of each kind per second is logged ("a limit stops VM
 * registration: ..."). Return: static text, valid until the next call.
 */
const char *spawn_strerror(int r);

/**
 * spawn_journal_socket() - a datagram socket connected to journald's
 * native socket, for a helper's --journal-fd. Return: 0 or -errno.
 */
int spawn_journal_socket(int *out);

/**
 * spawn_init() - reserve the fd slots the spawns go through (at start-up,
 * before any VM: they must be low numbers). Return: 0 or -errno.
 */
int spawn_init(void);

/** spawn_fini() - close the slots. */
void spawn_fini(void);

/**
 * spawn_helper() - clone and exec the helper for @container_id, or an
 * idle pool helper (@container_id NULL: no VM yet, "--pool-slot PAD" on
 * argv; pool.c hands it a VM later).
 * @fds: the sources of fds 3..7 (0, 1: /dev/null and 2: our stderr are
 *       added here); the caller keeps and closes its copies.
 * Between clone and exec the child only moves fds, closes the rest,
 * resets signals and execs. Return: 0 (*pid) or -errno.
 */
int spawn_helper(const struct master_config *cfg, const char *container_id,
		 const struct spawn_fds *fds, pid_t *pid);
