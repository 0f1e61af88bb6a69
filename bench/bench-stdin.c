/*
 * bench-stdin.c - stdin throughput through the proxy: a shim writes
 * 1, 4, 16 and 64 MiB into `wc -c` running in the simulated VM, then
 * closes stdin (an empty stdin stream); the figure is the time from the
 * first byte to ProcessExited, checked against the count wc prints.
 *
 * The simvm mimics hyperstart, which keeps only 512 bytes of stdin per
 * process and drops the rest; it is started with the option that lifts
 * that limit (--stdin-buffer 0), since this measures the proxy's
 * path (shim -> helper -> io channel, in messages of at most 4096 bytes),
 * not hyperstart's. Exit 1 only when the setup breaks.
 *
 * Environment: BENCH_STDIN_MAX_MIB caps the largest size (default 64).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "client.h"
#include "frame.h"
#include "rig.h"

/* cc-proxy-simvm's option that lifts the 512-byte stdin buffer. */
#define SIMVM_STDIN_UNLIMITED	"--stdin-buffer", "0"
/* What a shim sends per stdin frame (cc-shim reads its tty/pipe in
 * chunks of this order). */
#define STDIN_CHUNK		(32u * 1024u)
/* Written between two flushes: bounds our own buffering. */
#define STDIN_BATCH		(1024u * 1024u)

static const unsigned sizes_mib[] = { 1, 4, 16, 64 };
#define N_SIZES (sizeof(sizes_mib) / sizeof(sizes_mib[0]))

/* Frames after the stdin: stdout (wc's count) until ProcessExited. */
static void read_count(struct client *shim, char *out, size_t outsz,
		       int *status)
{
	size_t used = 0;

	for (;;) {
		struct frame f = FRAME_NULL;
		int r = client_recv(shim, &f, RIG_TIMEOUT_MS);

		if (r)
			rig_fail("shim: reading wc's output: %s", strerror(-r));
		if (f.type == FRAME_TYPE_NOTIFICATION &&
		    f.opcode == FRAME_NOTIFY_PROCESS_EXITED && f.payload_len == 1) {
			*status = f.payload[0];
			frame_deinit(&f);
			out[used] = '\0';
			return;
		}
		if (f.type != FRAME_TYPE_STREAM)
			rig_fail("shim: unexpected %s %s", frame_type_name(f.type),
				 frame_opcode_name(f.type, f.opcode));
		if (f.opcode == FRAME_STREAM_STDOUT) {
			size_t n = f.payload_len < outsz - 1 - used ?
				   f.payload_len : outsz - 1 - used;

			memcpy(out + used, f.payload, n);
			used += n;
		}
		frame_deinit(&f);
	}
}

/* One size on its own token; returns the seconds it took. */
static double one_size(struct rig *rig, struct client *rt, const char *token,
		       uint64_t bytes)
{
	static char chunk[STDIN_CHUNK];
	struct client shim = CLIENT_NULL;
	const char *data = "{\"container\":\"hyperstart\",\"process\":"
			   "{\"args\":[\"wc\",\"-c\"]}}";
	char out[128];
	uint64_t sent = 0;
	double t0, t1;
	int r, status = -1;

	if ((r = client_connect(&shim, rig->sock)) ||
	    (r = client_connect_shim(&shim, token, RIG_TIMEOUT_MS)))
		rig_fail("ConnectShim: %s", strerror(-r));
	if ((r = client_hyper(rt, "execcmd", data, token, RIG_TIMEOUT_MS)))
		rig_fail("Hyper execcmd wc: %s", strerror(-r));

	t0 = rig_now();
	while (sent < bytes) {
		uint64_t batch_end = sent + STDIN_BATCH;

		for (; sent < bytes && sent < batch_end; sent += STDIN_CHUNK) {
			size_t n = bytes - sent < STDIN_CHUNK ? bytes - sent : STDIN_CHUNK;

			if (client_queue(&shim, FRAME_TYPE_STREAM,
					 FRAME_STREAM_STDIN, chunk, n))
				rig_fail("out of memory");
		}
		if ((r = client_flush(&shim, RIG_TIMEOUT_MS)))
			rig_fail("shim: writing stdin: %s", strerror(-r));
	}
	/* An empty stdin stream closes the process's stdin. */
	if (client_queue(&shim, FRAME_TYPE_STREAM, FRAME_STREAM_STDIN, NULL, 0) ||
	    (r = client_flush(&shim, RIG_TIMEOUT_MS)))
		rig_fail("shim: closing stdin: %s", strerror(-r));
	read_count(&shim, out, sizeof(out), &status);
	t1 = rig_now();

	if (strtoull(out, NULL, 10) != bytes)
		rig_fail("wc -c counted \"%s\" of %llu bytes (exit %d)", out,
			 (unsigned long long)bytes, status);
	client_close(&shim);
	return t1 - t0;
}

int main(void)
{
	const char *const vm_args[] = { SIMVM_STDIN_UNLIMITED, NULL };
	const char *env = getenv("BENCH_STDIN_MAX_MIB");
	unsigned max_mib = env ? (unsigned)strtoul(env, NULL, 10) : 64;
	struct client rt = CLIENT_NULL;
	char *tokens[N_SIZES] = { 0 };
	struct rig_vm vm;
	struct rig rig;
	int r;

	rig_init(&rig);
	rig_start_vm(&rig, &vm, vm_args);
	rig_start_proxy(&rig, NULL);
	if ((r = client_connect(&rt, rig.sock)) ||
	    (r = client_register(&rt, "bench-stdin", vm.ctl, vm.io, N_SIZES,
				 tokens, RIG_TIMEOUT_MS)))
		rig_fail("RegisterVM: %s", strerror(-r));

	for (size_t i = 0; i < N_SIZES; i++) {
		uint64_t bytes = (uint64_t)sizes_mib[i] << 20;
		double s;

		if (max_mib && sizes_mib[i] > max_mib)
			break;
		s = one_size(&rig, &rt, tokens[i], bytes);
		printf("stdin %2u MiB into wc -c: %.3f s = %.1f MiB/s\n",
		       sizes_mib[i], s, sizes_mib[i] / s);
		fflush(stdout);
	}
	for (size_t i = 0; i < N_SIZES; i++)
		free(tokens[i]);
	client_close(&rt);
	rig_fini(&rig);
	return 0;
}
