/*
 * watchdog.c - pings to each helper (watchdog.h).
 *
 * One persistent evtimer per VM, period --wait-timeout but at least
 * WATCHDOG_PERIOD_MIN_MS, armed when the agent is ready. The floor keeps a
 * short --wait-timeout (tests use 0.5 s) from killing a helper that is
 * merely slow - under a sanitizer, on a loaded host - rather than stuck. Each tick: if the last IPC_M_PING has no IPC_H_PONG
 * yet, the helper had a whole period to answer and did not - its loop is
 * stuck or it stopped reading - so it is killed (helper_fail()); else a
 * new ping goes out. A hung helper is thus found within two periods. The
 * helper answers pings from its event loop (src/vmhelper/helper.c), the
 * same loop that serves its VM, so an answer means the VM is served.
 *
 * A pong is checked like every other helper message: only the answer to
 * the ping in flight, with its id, is accepted.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>

#include <event2/event.h>

#include "helper.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "registry.h"
#include "watchdog.h"

#define WATCHDOG_PERIOD_MIN_MS	2000u

/* The period, in ms: --wait-timeout, at least WATCHDOG_PERIOD_MIN_MS. */
static uint32_t watchdog_period_ms(const struct vm *vm)
{
	uint32_t ms = vm->m->cfg.wait_timeout_ms;

	return ms < WATCHDOG_PERIOD_MIN_MS ? WATCHDOG_PERIOD_MIN_MS : ms;
}

static void watchdog_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;
	struct ipc_empty e = { 0 };
	char reason[128];

	if (!vm->ch || vm->killed) {
		event_del(vm->ping_timer);	/* nothing left to watch */
		return;
	}
	if (vm->ping_out) {
		snprintf(reason, sizeof(reason),
			 "unresponsive: no answer to a ping within %.3g s",
			 watchdog_period_ms(vm) / 1000.0);
		event_del(vm->ping_timer);
		helper_fail(vm, reason);
		return;
	}
	if (++vm->ping_id == 0)
		vm->ping_id = 1;
	/* A full queue kills the helper inside helper_send(). */
	if (helper_send(vm, IPC_M_PING, vm->ping_id, &e, sizeof(e), NULL, 0, -1) == 0)
		vm->ping_out = true;
}

void watchdog_start(struct vm *vm)
{
	uint32_t ms = watchdog_period_ms(vm);
	const struct timeval period = { ms / 1000, (ms % 1000) * 1000 };

	if (vm->ping_timer)
		return;
	vm->ping_timer = event_new(vm->m->base, -1, EV_PERSIST, watchdog_on_tick, vm);
	if (!vm->ping_timer || event_add(vm->ping_timer, &period) < 0)
		log_submit(LOG_ERR, 0, NULL, LOG_FIELDS({ "CC_CONTAINER_ID", vm->container_id }),
			   "VM %s: cannot start the watchdog of its helper", vm->container_id);
}

void watchdog_on_pong(struct vm *vm, const struct ipc_view *v)
{
	if (!vm->ping_out || v->id != vm->ping_id) {
		helper_violation(vm, "a PONG that answers no ping");
		return;
	}
	vm->ping_out = false;
}
