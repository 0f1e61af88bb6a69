/*
 * bench-register.c - the cost of a VM's lifecycle in the proxy: N cycles
 * of RegisterVM + UnregisterVM. RegisterVM is answered once the master
 * has connected the VM's sockets, fork+exec'd the helper, the helper has
 * confined itself (seccomp, rlimits...) and read the agent's READY, so
 * its time is mostly the helper's spawn cost.
 *
 * The agent sends READY once, to its first client, so every cycle gets a
 * fresh simulated VM, started (and stopped) outside the timed part.
 * Figures: RegisterVM, UnregisterVM and the whole cycle, in ms.
 * Exit 1 only when the setup breaks.
 *
 * Environment: BENCH_CYCLES overrides N (default 50).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "frame.h"
#include "rig.h"

int main(void)
{
	const char *env = getenv("BENCH_CYCLES");
	unsigned n = env ? (unsigned)strtoul(env, NULL, 10) : 50;
	struct client rt = CLIENT_NULL;
	struct rig rig;
	double *reg, *unreg, *cycle, total = 0;
	char id[64], req[128];
	int r;

	if (!n)
		n = 50;
	reg = calloc(n, sizeof(*reg));
	unreg = calloc(n, sizeof(*unreg));
	cycle = calloc(n, sizeof(*cycle));
	if (!reg || !unreg || !cycle)
		return 1;
	rig_init(&rig);
	rig_start_proxy(&rig, NULL);
	if ((r = client_connect(&rt, rig.sock)))
		rig_fail("connect: %s", strerror(-r));

	for (unsigned i = 0; i < n; i++) {
		struct rig_vm vm;
		double t0, t1, t2;

		rig_start_vm(&rig, &vm, NULL);
		snprintf(id, sizeof(id), "bench-register-%u", i);
		snprintf(req, sizeof(req), "{\"containerId\":\"%s\"}", id);
		t0 = rig_now();
		if ((r = client_register(&rt, id, vm.ctl, vm.io, 0, NULL,
					 RIG_TIMEOUT_MS)))
			rig_fail("RegisterVM #%u: %s", i, strerror(-r));
		t1 = rig_now();
		if ((r = client_call(&rt, FRAME_CMD_UNREGISTER_VM, req, NULL,
				     RIG_TIMEOUT_MS)))
			rig_fail("UnregisterVM #%u: %s", i, strerror(-r));
		t2 = rig_now();
		reg[i] = (t1 - t0) * 1e3;
		unreg[i] = (t2 - t1) * 1e3;
		cycle[i] = (t2 - t0) * 1e3;
		/* The helper drains until the VM goes: stop it now. */
		rig_stop_vm(&rig, &vm);
	}
	for (unsigned i = 0; i < n; i++)
		total += cycle[i];
	rig_print_stats("RegisterVM", reg, n, "ms");
	rig_print_stats("UnregisterVM", unreg, n, "ms");
	rig_print_stats("RegisterVM+UnregisterVM cycle", cycle, n, "ms");
	printf("cycles: %.1f per second of proxy time\n", n / (total / 1e3));

	client_close(&rt);
	free(reg);
	free(unreg);
	free(cycle);
	rig_fini(&rig);
	return 0;
}
