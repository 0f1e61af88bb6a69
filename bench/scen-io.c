/*
 * scen-io.c - stdout and stdin throughput (scen.h).
 *
 * One lean agent serves two VMs: VM 0 is registered with the proxy (one
 * token per run), VM 1 is driven directly by the benchmark. Each run
 * moves the same number of bytes in full-size messages both ways: for
 * stdout the agent writes HYPER_IO_RECV_MAX-byte io messages, read by a
 * shim (proxy) or by us from the io socket (direct); for stdin a shim
 * writes LEAN_STDIN_FRAME-byte frames that the helper turns into
 * HYPER_IO_SEND_MAX-byte io messages, and the direct run writes those
 * same messages itself. Time runs from the execcmd to the exit status.
 * CPU time of the master and of the helper is per GiB moved.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "lean.h"
#include "report.h"
#include "scen.h"

#define GIB	(1024.0 * 1024.0 * 1024.0)

struct io_ctx {
	struct rig *rig;
	struct client rt;
	char *tokens[REPORT_RUNS_MAX * 2];
	unsigned next_token;
	pid_t helper;
	char dctl[108], dio[108];
};

static double run_direct(struct io_ctx *x, bool out, uint64_t bytes)
{
	struct direct d;
	char args[64];
	uint64_t got;
	double t0, t1;

	direct_open(&d, x->dctl, x->dio);
	snprintf(args, sizeof(args), out ? "[\"out\",\"%" PRIu64 "\"]" : "[\"in\"]",
		 bytes);
	t0 = rig_now();
	direct_exec(&d, 1, args);
	got = out ? direct_read_stdout(&d, 1) : direct_write_stdin(&d, 1, bytes);
	t1 = rig_now();
	direct_close(&d);
	if (got != bytes)
		rig_fail("direct %s: %" PRIu64 " bytes, expected %" PRIu64,
			 out ? "stdout" : "stdin", got, bytes);
	return (double)bytes / (1024.0 * 1024.0) / (t1 - t0);
}

static double run_proxy(struct io_ctx *x, bool out, uint64_t bytes,
			double *master_cpu, double *helper_cpu)
{
	struct client shim = CLIENT_NULL;
	const char *token = x->tokens[x->next_token++];
	char data[256];
	double t0, t1, m0, h0;
	uint64_t got;
	int r;

	if ((r = client_connect(&shim, x->rig->sock)) ||
	    (r = client_connect_shim(&shim, token, RIG_TIMEOUT_MS)))
		rig_fail("ConnectShim: %s", strerror(-r));
	snprintf(data, sizeof(data),
		 out ? "{\"container\":\"c\",\"process\":{\"id\":\"p%u\",\"args\":"
		       "[\"out\",\"%" PRIu64 "\"]}}" :
		       "{\"container\":\"c\",\"process\":{\"id\":\"p%u\",\"args\":[\"in\"]}}",
		 x->next_token, bytes);
	m0 = rig_cpu_exact(x->rig->proxy);
	h0 = rig_cpu_exact(x->helper);
	t0 = rig_now();
	if ((r = client_hyper(&x->rt, "execcmd", data, token, RIG_TIMEOUT_MS)))
		rig_fail("Hyper execcmd: %s", strerror(-r));
	got = out ? shim_read_stdout(&shim) : shim_write_stdin(&shim, bytes);
	t1 = rig_now();
	*master_cpu = rig_cpu_exact(x->rig->proxy) - m0;
	*helper_cpu = rig_cpu_exact(x->helper) - h0;
	client_close(&shim);
	if (got != bytes)
		rig_fail("proxy %s: %" PRIu64 " bytes, expected %" PRIu64,
			 out ? "stdout" : "stdin", got, bytes);
	return (double)bytes / (1024.0 * 1024.0) / (t1 - t0);
}

static void measure(struct io_ctx *x, bool out, uint64_t bytes, unsigned runs)
{
	const char *s = out ? "stdout" : "stdin";
	struct report_metric *tp = report_metric(s, "throughput", "MiB/s");
	struct report_metric *cpu = report_metric(s, "CPU per GiB", "CPU-s");

	report_goal(tp, REPORT_RATIO_MIN, 0.5);
	report_goal(cpu, REPORT_VALUE_MAX, 1.0);
	for (unsigned i = 0; i < runs; i++) {
		double mc, hc, p, d = run_direct(x, out, bytes);

		p = run_proxy(x, out, bytes, &mc, &hc);
		report_direct(tp, d);
		report_proxy(tp, p);
		report_cpu(tp, "s/GiB", mc * GIB / (double)bytes, hc * GIB / (double)bytes);
		/* The target is on the proxy's total: master + helper. */
		report_proxy(cpu, (mc + hc) * GIB / (double)bytes);
		report_cpu(cpu, "s/GiB", mc * GIB / (double)bytes, hc * GIB / (double)bytes);
		fprintf(stderr, "  %s run %u: direct %.0f MiB/s, proxy %.0f MiB/s\n",
			s, i + 1, d, p);
	}
}

void scen_io(const struct scen_opts *o)
{
	struct io_ctx x = { .rt = CLIENT_NULL };
	struct agent a;
	struct rig rig;
	char ctl[108], io[108];
	int r;

	rig_init(&rig);
	x.rig = &rig;
	agent_start(&rig, &a, 0, 2);
	agent_paths(&rig, 1, x.dctl, x.dio);
	rig_start_proxy(&rig, NULL);
	agent_paths(&rig, 0, ctl, io);
	if ((r = client_connect(&x.rt, rig.sock)) ||
	    (r = client_register(&x.rt, "bench-io", ctl, io, 2 * o->runs, x.tokens,
				 RIG_TIMEOUT_MS)))
		rig_fail("RegisterVM: %s", strerror(-r));
	x.helper = rig_child_of(rig.proxy);
	if (!x.helper)
		rig_fail("no helper under the master");
	measure(&x, true, o->io_bytes, o->runs);
	measure(&x, false, o->io_bytes, o->runs);
	client_close(&x.rt);
	for (unsigned i = 0; i < 2 * o->runs; i++)
		free(x.tokens[i]);
	rig_fini(&rig);
}
