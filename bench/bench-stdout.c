/*
 * bench-stdout.c - stdout streaming throughput through the proxy, and
 * what it costs the master and the VM's helper in CPU time.
 *
 * A runtime connection registers a simulated VM with one token, a second
 * connection becomes that token's shim, and the runtime runs
 *   sh -c 'head -c 200MiB /dev/zero'
 * in the VM with execcmd; the shim reads stdout streams until
 * ProcessExited. The master hands the shim's connection to the helper,
 * so it must stay off the data path: the target is under 0.1 s
 * of master CPU time for the 200 MiB. The figures are printed, never
 * judged (exit 1 only when the setup breaks).
 *
 * Environment: BENCH_STDOUT_MIB overrides the 200 MiB.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "client.h"
#include "frame.h"
#include "rig.h"

#define TARGET_MASTER_CPU_S	0.1

struct totals {
	uint64_t out, err;	/* stdout / stderr bytes */
	uint64_t frames;
	int status;		/* the ProcessExited code */
};

/* Read the shim's frames until ProcessExited. */
static void read_streams(struct client *shim, struct totals *t)
{
	for (;;) {
		struct frame f = FRAME_NULL;
		int r = client_recv(shim, &f, RIG_TIMEOUT_MS);

		if (r)
			rig_fail("shim: reading streams: %s", strerror(-r));
		t->frames++;
		if (f.type == FRAME_TYPE_STREAM && f.opcode == FRAME_STREAM_STDOUT) {
			t->out += f.payload_len;
		} else if (f.type == FRAME_TYPE_STREAM &&
			   f.opcode == FRAME_STREAM_STDERR) {
			t->err += f.payload_len;
		} else if (f.type == FRAME_TYPE_NOTIFICATION &&
			   f.opcode == FRAME_NOTIFY_PROCESS_EXITED &&
			   f.payload_len == 1) {
			t->status = f.payload[0];
			frame_deinit(&f);
			return;
		} else {
			rig_fail("shim: unexpected %s %s", frame_type_name(f.type),
				 frame_opcode_name(f.type, f.opcode));
		}
		frame_deinit(&f);
	}
}

/* CPU time of a process now: stat ticks and schedstat nanoseconds. */
struct cpu {
	double ticks, exact;
};

static struct cpu cpu_now(pid_t pid)
{
	return (struct cpu){ rig_cpu(pid), rig_cpu_exact(pid) };
}

/* "NAME CPU time: A s before, B s after: B-A s (exact: …)". */
static double print_cpu(const char *name, pid_t pid, struct cpu a, struct cpu b)
{
	if (a.ticks < 0 || b.ticks < 0) {
		printf("%s CPU time: process %d not readable\n", name, (int)pid);
		return -1;
	}
	printf("%s CPU time (utime+stime): %.3f s before, %.3f s after: %.3f s",
	       name, a.ticks, b.ticks, b.ticks - a.ticks);
	if (a.exact >= 0 && b.exact >= 0)
		printf(" (schedstat: %.4f s)", b.exact - a.exact);
	printf("\n");
	return a.exact >= 0 && b.exact >= 0 ? b.exact - a.exact : b.ticks - a.ticks;
}

int main(void)
{
	const char *env = getenv("BENCH_STDOUT_MIB");
	unsigned long mib = env ? strtoul(env, NULL, 10) : 200;
	struct client rt = CLIENT_NULL, shim = CLIENT_NULL;
	struct cpu m0, m1, h0, h1, v0, v1;
	struct totals t = { 0 };
	struct rig_vm vm;
	struct rig rig;
	char *token = NULL, data[256];
	double t0, t1, mb, master, helper_s;
	pid_t helper;
	int r;

	if (!mib)
		mib = 200;
	rig_init(&rig);
	rig_start_vm(&rig, &vm, NULL);
	rig_start_proxy(&rig, NULL);

	if ((r = client_connect(&rt, rig.sock)) ||
	    (r = client_register(&rt, "bench-stdout", vm.ctl, vm.io, 1, &token,
				 RIG_TIMEOUT_MS)))
		rig_fail("RegisterVM: %s", strerror(-r));
	/* Answered after the helper's READY: it is the master's child now. */
	helper = rig_child_of(rig.proxy);
	if (!helper)
		rig_fail("no helper process under the master (pid %d)", (int)rig.proxy);
	if ((r = client_connect(&shim, rig.sock)) ||
	    (r = client_connect_shim(&shim, token, RIG_TIMEOUT_MS)))
		rig_fail("ConnectShim: %s", strerror(-r));

	snprintf(data, sizeof(data),
		 "{\"container\":\"hyperstart\",\"process\":{\"args\":"
		 "[\"sh\",\"-c\",\"head -c %lu /dev/zero\"]}}", mib << 20);
	m0 = cpu_now(rig.proxy);
	h0 = cpu_now(helper);
	v0 = cpu_now(vm.pid);
	t0 = rig_now();
	if ((r = client_hyper(&rt, "execcmd", data, token, RIG_TIMEOUT_MS)))
		rig_fail("Hyper execcmd: %s", strerror(-r));
	read_streams(&shim, &t);
	t1 = rig_now();
	m1 = cpu_now(rig.proxy);
	h1 = cpu_now(helper);
	v1 = cpu_now(vm.pid);

	if (t.out != (uint64_t)mib << 20)
		rig_fail("got %llu stdout bytes, expected %lu",
			 (unsigned long long)t.out, mib << 20);
	mb = (double)t.out / (1024.0 * 1024.0);
	printf("stdout streaming: %.0f MiB in %.3f s = %.1f MiB/s "
	       "(%llu frames of %.0f bytes on average, exit status %d)\n", mb,
	       t1 - t0, mb / (t1 - t0), (unsigned long long)t.frames,
	       (double)t.out / (double)(t.frames ? t.frames : 1), t.status);
	master = print_cpu("master", rig.proxy, m0, m1);
	if (master >= 0)
		printf("  target: master CPU under %.1f s for 200 MiB "
		       "(%.4f s per 200 MiB here): %s\n", TARGET_MASTER_CPU_S,
		       master * 200.0 / mb,
		       master * 200.0 / mb < TARGET_MASTER_CPU_S ? "met" : "NOT met");
	helper_s = print_cpu("helper", helper, h0, h1);
	if (helper_s >= 0)
		printf("  helper: %.2f ms of CPU per MiB\n", helper_s * 1000.0 / mb);
	print_cpu("simvm (the agent itself, for scale)", vm.pid, v0, v1);

	client_close(&shim);
	client_close(&rt);
	free(token);
	rig_fini(&rig);
	return 0;
}
