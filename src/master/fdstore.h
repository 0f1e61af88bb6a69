/*
 * fdstore.h - the service manager's file descriptor store (sd_notify(3)
 * FDSTORE=1): the master's end of each ready helper's channel is kept
 * there, so the helper outlives a restart of the master (fdstore.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct master;
struct vm;

/* The prefix of every stored helper channel's FDNAME=. */
#define FDSTORE_VM_PREFIX	"vm-"
/* FDNAME= is at most this long (sd_pid_notify_with_fds(3)). */
#define FDSTORE_NAME_MAX	255

/**
 * fdstore_init() - is there a store? NOTIFY_SOCKET, and $FDSTORE > 0 or
 * @asked (--fd-store: a manager that keeps one without setting $FDSTORE).
 */
void fdstore_init(struct master *m, bool asked);

/**
 * fdstore_name() - the FDNAME= of the helper channel of @container_id:
 * "vm-ID" when that is a valid name (at most 255 printable ASCII
 * characters, no ':'), else "vm-#" and a 64-bit hash of the id in hex.
 */
void fdstore_name(const char *container_id, char out[FDSTORE_NAME_MAX + 1]);

/**
 * fdstore_add() - FDSTORE=1 with @vm's channel under its name (a service
 * manager keeps one copy of an fd stored twice). Nothing without a
 * service manager. Failures are logged: the VM then does not survive a
 * restart of the master, and runs on.
 */
void fdstore_add(struct vm *vm);

/** fdstore_remove() - FDSTOREREMOVE=1 for @vm's name, if it was stored. */
void fdstore_remove(struct vm *vm);

/** fdstore_remove_name() - FDSTOREREMOVE=1 for @name (a refused fd). */
void fdstore_remove_name(struct master *m, const char *name);

/**
 * fdstore_leave_helpers() - SIGTERM with a store: every stored, running
 * helper is left to it (our end closed, the VM forgotten); the others are
 * the caller's to shut down. A restart adopts them, a stop (the store
 * flushed) ends them.
 */
void fdstore_leave_helpers(struct master *m);
