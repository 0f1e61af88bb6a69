/*
 * adopt.h - a restarted or re-exec'd master takes its helpers back
 * (adopt.c; DESIGN.md "Restart and upgrade").
 */
#pragma once

#include <stdbool.h>

struct master;
struct vm;
struct ipc_view;

/** adopt_is_vm_name() - is @name (LISTEN_FDNAMES) a stored helper channel? */
bool adopt_is_vm_name(const char *name);

/**
 * adopt_passed_fd() - start adopting the helper behind @fd (consumed),
 * passed under @name: a VM in VM_ADOPTING, IPC_M_ADOPT sent, the answer
 * bounded by --wait-timeout. Failures are recorded and cost that fd only.
 */
void adopt_passed_fd(struct master *m, int fd, const char *name);

/** adopt_started() - every passed fd was taken: the restart record goes
 * out once the last helper is adopted or lost. */
void adopt_started(struct master *m);

/** adopt_on_message() - a message of a VM_ADOPTING helper (helper.c). */
void adopt_on_message(struct vm *vm, const struct ipc_view *v);

/** adopt_timeout() - the VM_ADOPTING helper did not answer in time. */
void adopt_timeout(struct vm *vm);

/**
 * adopt_refuse() - @vm's helper is not adopted (@why): recorded, removed
 * from the fd store, killed through its pidfd when known, else its
 * channel closed and the VM freed.
 */
void adopt_refuse(struct vm *vm, const char *why);
