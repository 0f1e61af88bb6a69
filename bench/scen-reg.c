/*
 * scen-reg.c - what a VM costs the proxy as the registry grows (scen.h).
 *
 * A fill registers VMs one after the other from one runtime connection,
 * each on its own lean-agent socket pair (AGENT_CHUNK VMs per agent
 * process, started before their first registration and outside the
 * timed part). RegisterVM is answered after the master has connected the
 * VM's sockets, fork+exec'd the helper, and the helper has confined
 * itself and seen the agent's READY, so its latency includes the whole
 * helper spawn. At each checkpoint (100, 1000, reg_max VMs) the report
 * gets the p50/p99 of the last REG_WINDOW registrations, and the PSS of
 * the master plus every helper (/proc/PID/smaps_rollup) divided by the
 * number of VMs, all idle. A run is one fill; the proxy is restarted
 * between runs. The 100 and 1000 checkpoints get `runs` fills; reg_max
 * gets one fill (its JSON says "runs":1), to keep make bench short.
 *
 * The master runs with its default helper pool, or with --helper-pool N
 * when BENCH_HELPER_POOL=N is set (0: every RegisterVM spawns its helper,
 * the cost before the pool). The PSS counts the idle helpers of the pool
 * too: they are part of what the VMs cost.
 *
 * The ramp (BENCH_RAMP_MAX, default 19000; 0 skips it) fills until a
 * RegisterVM fails or ramp_max is reached, then pings every VM registered
 * (AttachVM + Hyper ping) and reports the count reached, what failed, and
 * the RegisterVM p50/p99 of its last REG_WINDOW registrations.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "client.h"
#include "frame.h"
#include "report.h"
#include "scen.h"

#define AGENT_CHUNK	1000u
#define REG_WINDOW	100u

struct fill {
	struct rig rig;
	struct client rt;
	struct agent agents[64];
	unsigned n_agents, n;	/* VMs registered */
	double *ms;		/* RegisterVM latency of each */
	double started;
	char error[64];		/* why the fill stopped early */
};

static void fill_init(struct fill *f, unsigned max)
{
	int r;

	memset(f, 0, sizeof(*f));
	f->rt = CLIENT_NULL;
	f->ms = calloc(max, sizeof(*f->ms));
	if (!f->ms)
		rig_fail("out of memory");
	const char *pool = getenv("BENCH_HELPER_POOL");
	const char *extra[] = { "--helper-pool", pool, NULL };

	rig_init(&f->rig);
	rig_start_proxy(&f->rig, pool && *pool ? extra : NULL);
	if ((r = client_connect(&f->rt, f->rig.sock)))
		rig_fail("connect: %s", strerror(-r));
	f->started = rig_now();
}

/* Register one more VM; false (with f->error) when it fails. */
static bool fill_one(struct fill *f)
{
	char ctl[108], io[108], id[32];
	double t0;
	int r;

	if (f->n % AGENT_CHUNK == 0) {
		if (f->n_agents == sizeof(f->agents) / sizeof(f->agents[0]))
			rig_fail("too many agents");
		agent_start(&f->rig, &f->agents[f->n_agents++], f->n, AGENT_CHUNK);
	}
	agent_paths(&f->rig, f->n, ctl, io);
	snprintf(id, sizeof(id), "vm-%u", f->n);
	t0 = rig_now();
	r = client_register(&f->rt, id, ctl, io, 0, NULL, RIG_TIMEOUT_MS);
	if (r) {
		snprintf(f->error, sizeof(f->error), "RegisterVM #%u: %s",
			 f->n + 1, strerror(-r));
		return false;
	}
	f->ms[f->n++] = (rig_now() - t0) * 1e3;
	return true;
}

/* PSS of the master and all its children, in KiB; @helpers: how many. */
static double total_pss(struct fill *f, size_t *helpers)
{
	size_t max = f->n + 128, k;
	pid_t *pids = calloc(max, sizeof(*pids));
	double kib = (double)rig_pss_kib(f->rig.proxy);

	if (!pids)
		rig_fail("out of memory");
	*helpers = rig_children(f->rig.proxy, pids, max);	/* serving a VM */
	k = rig_children_all(f->rig.proxy, pids, max);	/* and the idle ones */
	for (size_t i = 0; i < k; i++) {
		long p = rig_pss_kib(pids[i]);

		if (p > 0)
			kib += (double)p;
	}
	free(pids);
	return kib;
}

static void checkpoint(struct fill *f, unsigned at, unsigned idx)
{
	static char names[3][32];
	unsigned w = at < REG_WINDOW ? at : REG_WINDOW;
	double win[REG_WINDOW], pss, p50, p99;
	struct report_metric *m50, *m99, *mp;
	size_t helpers;

	snprintf(names[idx], sizeof(names[idx]), "reg-%u", at);
	m50 = report_metric(names[idx], "RegisterVM p50", "ms");
	m99 = report_metric(names[idx], "RegisterVM p99", "ms");
	mp = report_metric(names[idx], "PSS per idle VM", "KiB");
	report_goal(m50, REPORT_VALUE_MAX, 0.5);
	report_goal(m99, REPORT_VALUE_MAX, 2);
	if (at >= 1000)
		report_goal(mp, REPORT_VALUE_MAX, 128);
	memcpy(win, f->ms + at - w, w * sizeof(*win));
	p50 = report_percentile(win, w, 50);
	p99 = report_percentile(win, w, 99);
	pss = total_pss(f, &helpers);
	if (helpers != at)
		rig_fail("%zu helpers under the master for %u VMs", helpers, at);
	report_proxy(m50, p50);
	report_proxy(m99, p99);
	report_proxy(mp, pss / at);
	snprintf(mp->note, sizeof(mp->note), "filling to %u VMs took %.1f s", at,
		 rig_now() - f->started);
	fprintf(stderr, "  %u VMs after %.1f s: RegisterVM p50 %.2f ms p99 %.2f ms, "
		"PSS %.0f KiB per VM\n", at, rig_now() - f->started, p50, p99, pss / at);
}

static void fill_fini(struct fill *f)
{
	double t0 = rig_now();

	client_close(&f->rt);
	rig_fini(&f->rig);
	fprintf(stderr, "  stopping %u VMs took %.1f s\n", f->n, rig_now() - t0);
	free(f->ms);
}

/* One fill to @max VMs, with checkpoints at those of @points below it. */
static void fill_to(unsigned max, const unsigned *points, unsigned n_points)
{
	struct fill f;
	unsigned p = 0;

	fill_init(&f, max);
	while (f.n < max) {
		if (!fill_one(&f))
			rig_fail("%s", f.error);
		for (; p < n_points && points[p] <= f.n; p++)
			if (points[p] == f.n)
				checkpoint(&f, f.n, p);
	}
	fill_fini(&f);
}

/*
 * RegisterVM one at a time, PACED_GAP_MS apart, as a runtime booting VMs
 * does (a VM takes far longer to boot than that): the latency of one
 * registration when the machine is not saturated by the fill itself,
 * e.g. when the helper pool has had time to refill. PACED_VMS of them
 * after PACED_WARM VMs are registered back to back.
 */
#define PACED_WARM	100u
#define PACED_VMS	200u
#define PACED_GAP_MS	20

static void paced(void)
{
	struct report_metric *m50 = report_metric("reg-paced", "RegisterVM p50", "ms");
	struct report_metric *m99 = report_metric("reg-paced", "RegisterVM p99", "ms");
	struct fill f;

	report_goal(m50, REPORT_VALUE_MAX, 0.5);
	report_goal(m99, REPORT_VALUE_MAX, 2);
	fill_init(&f, PACED_WARM + PACED_VMS);
	while (f.n < PACED_WARM + PACED_VMS) {
		if (f.n >= PACED_WARM)
			poll(NULL, 0, PACED_GAP_MS);
		if (!fill_one(&f))
			rig_fail("%s", f.error);
	}
	report_proxy(m50, report_percentile(f.ms + PACED_WARM, PACED_VMS, 50));
	report_proxy(m99, report_percentile(f.ms + PACED_WARM, PACED_VMS, 99));
	snprintf(m50->note, sizeof(m50->note), "%u RegisterVM %d ms apart, after %u VMs",
		 PACED_VMS, PACED_GAP_MS, PACED_WARM);
	fprintf(stderr, "  paced: RegisterVM p50 %.2f ms p99 %.2f ms\n", m50->proxy[0],
		m99->proxy[0]);
	fill_fini(&f);
}

void scen_register(const struct scen_opts *o)
{
	const unsigned points[] = { 100, 1000, o->reg_max };

	/* runs fills to 1000 VMs, then one to reg_max: a fill to 5000 takes
	 * about a minute here, three would not fit make bench's 10 minutes. */
	for (unsigned run = 0; run < o->runs; run++)
		fill_to(1000, points, 2);
	if (o->reg_max > 1000)
		fill_to(o->reg_max, points, 3);
	paced();
}

/* AttachVM + ping each registered VM; return how many answered. */
static unsigned ping_all(struct fill *f)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < f->n; i++) {
		char req[64];

		snprintf(req, sizeof(req), "{\"containerId\":\"vm-%u\"}", i);
		if (!client_call(&f->rt, FRAME_CMD_ATTACH_VM, req, NULL, RIG_TIMEOUT_MS) &&
		    !client_hyper(&f->rt, "ping", "{}", NULL, RIG_TIMEOUT_MS))
			ok++;
	}
	return ok;
}

void scen_ramp(const struct scen_opts *o)
{
	struct report_metric *reached = report_metric("ramp", "VMs registered", "VMs");
	struct report_metric *answered = report_metric("ramp", "VMs answering ping", "VMs");
	struct report_metric *m50 = report_metric("ramp", "RegisterVM p50 at the end", "ms");
	struct report_metric *m99 = report_metric("ramp", "RegisterVM p99 at the end", "ms");
	double win[REG_WINDOW];
	struct fill f;
	unsigned w;
	double t;

	report_goal(reached, REPORT_VALUE_MIN, 19000);
	report_goal(answered, REPORT_VALUE_MIN, 19000);
	fill_init(&f, o->ramp_max);
	while (f.n < o->ramp_max && fill_one(&f))
		if (f.n % 1000 == 0)
			fprintf(stderr, "  ramp: %u VMs after %.0f s\n", f.n,
				rig_now() - f.started);
	t = rig_now() - f.started;
	report_proxy(reached, f.n);
	w = f.n < REG_WINDOW ? f.n : REG_WINDOW;
	report_goal(m50, REPORT_VALUE_MAX, 0.5);
	report_goal(m99, REPORT_VALUE_MAX, 2);
	if (w) {
		memcpy(win, f.ms + f.n - w, w * sizeof(*win));
		report_proxy(m50, report_percentile(win, w, 50));
		report_proxy(m99, report_percentile(win, w, 99));
	}
	fprintf(stderr, "  ramp: %u VMs after %.0f s (%s); pinging them\n", f.n, t,
		f.error[0] ? f.error : "limit reached");
	if (f.error[0]) {
		/* A RegisterVM that failed may still be answered late: a new
		 * connection, so no stale answer is taken for a ping's. */
		int r;

		client_close(&f.rt);
		f.rt = CLIENT_NULL;
		if ((r = client_connect(&f.rt, f.rig.sock)))
			rig_fail("connect: %s", strerror(-r));
	}
	report_proxy(answered, ping_all(&f));
	snprintf(reached->note, sizeof(reached->note), "%s after %.0f s",
		 f.error[0] ? f.error : "limit reached", t);
	fill_fini(&f);
}
