/*
 * watchdog.h - the master's watchdog over its helpers: a helper whose
 * event loop stops turning (it no longer answers its channel) is found
 * and killed, so its VM is freed and its clients get their errors.
 */
#pragma once

struct vm;
struct ipc_view;

/**
 * watchdog_start() - from now on (READY), every --wait-timeout (at
 * least 2 s) send
 * @vm's helper an IPC_M_PING; if the previous one is still unanswered
 * by then, the helper is killed as unresponsive (audited). Failure to
 * allocate the timer is logged: the VM then runs without a watchdog.
 */
void watchdog_start(struct vm *vm);

/**
 * watchdog_on_pong() - IPC_H_PONG: it must answer the outstanding ping
 * (same id); anything else is a protocol violation.
 */
void watchdog_on_pong(struct vm *vm, const struct ipc_view *v);
