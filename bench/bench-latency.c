/*
 * bench-latency.c - Hyper round-trip latency: runtime -> master ->
 * helper -> agent (simvm) and back, with the agent command `ping`.
 *
 *  1. one connection, N sequential pings (each sent when the previous
 *     answer arrived);
 *  2. CONNS connections attached to the same VM (AttachVM), each with one
 *     ping in flight at all times, N pings each; the helper serialises
 *     them toward the agent, so this shows queueing and fairness.
 * Figures: mean/p50/p99/max in microseconds, and pings per second.
 * Exit 1 only when the setup breaks.
 *
 * Environment: BENCH_PINGS overrides N (default 2000).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "client.h"
#include "frame.h"
#include "rig.h"

#define CONNS	4
#define WARMUP	100

static const char ping_req[] = "{\"hyperName\":\"ping\",\"tokens\":[],\"data\":{}}";

/* One connection of the concurrent run. */
struct pinger {
	struct client c;
	double sent_at;
	unsigned left;		/* pings still to send */
	bool waiting;		/* one is in flight */
};

static void send_ping(struct pinger *p)
{
	if (client_queue(&p->c, FRAME_TYPE_COMMAND, FRAME_CMD_HYPER, ping_req,
			 sizeof(ping_req) - 1))
		rig_fail("out of memory");
	p->sent_at = rig_now();
	/* A small frame on an idle socket: written at once in practice. */
	if (evbuffer_write(p->c.out, p->c.fd) < 0 && errno != EAGAIN)
		rig_fail("write: %m");
	p->waiting = true;
	p->left--;
}

/* Decode what @p received; record the latency of each answer. */
static void on_input(struct pinger *p, double *us, size_t *n)
{
	for (;;) {
		struct frame f = FRAME_NULL;
		const char *why = NULL;
		int r = frame_decode(p->c.in, FRAME_PAYLOAD_MAX, &f, &why);

		if (r == FRAME_E_INCOMPLETE)
			return;
		if (r)
			rig_fail("bad frame from the proxy: %s", why ? why : strerror(-r));
		if (f.type != FRAME_TYPE_RESPONSE || f.opcode != FRAME_CMD_HYPER ||
		    (f.flags & FRAME_FLAG_ERROR) || !p->waiting)
			rig_fail("ping: unexpected answer %s %s%s",
				 frame_type_name(f.type),
				 frame_opcode_name(f.type, f.opcode),
				 f.flags & FRAME_FLAG_ERROR ? " (error)" : "");
		us[(*n)++] = (rig_now() - p->sent_at) * 1e6;
		p->waiting = false;
		frame_deinit(&f);
		if (p->left)
			send_ping(p);
	}
}

static void concurrent(struct rig *rig, unsigned n)
{
	struct pinger p[CONNS];
	struct pollfd pf[CONNS];
	double *us = calloc((size_t)n * CONNS, sizeof(*us)), t0, t1;
	size_t done = 0;
	int r;

	if (!us)
		rig_fail("out of memory");
	for (int i = 0; i < CONNS; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		if ((r = client_connect(&p[i].c, rig->sock)) ||
		    (r = client_call(&p[i].c, FRAME_CMD_ATTACH_VM,
				     "{\"containerId\":\"bench-latency\"}", NULL,
				     RIG_TIMEOUT_MS)))
			rig_fail("AttachVM: %s", strerror(-r));
		p[i].left = n;
		pf[i] = (struct pollfd){ .fd = p[i].c.fd, .events = POLLIN };
	}
	t0 = rig_now();
	for (int i = 0; i < CONNS; i++)
		send_ping(&p[i]);
	while (done < (size_t)n * CONNS) {
		int k;

		/* Ask for POLLOUT only while a request is partly written. */
		for (int i = 0; i < CONNS; i++)
			pf[i].events = evbuffer_get_length(p[i].c.out) ?
				       POLLIN | POLLOUT : POLLIN;
		k = poll(pf, CONNS, RIG_TIMEOUT_MS);
		if (k <= 0)
			rig_fail("no ping answer within %d ms", RIG_TIMEOUT_MS);
		for (int i = 0; i < CONNS; i++) {
			if ((pf[i].revents & POLLOUT) &&
			    evbuffer_write(p[i].c.out, p[i].c.fd) < 0 && errno != EAGAIN)
				rig_fail("write: %m");
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = evbuffer_read(p[i].c.in, p[i].c.fd, 65536);
			if (r == 0 || (r < 0 && errno != EAGAIN))
				rig_fail("connection %d closed by the proxy", i);
			on_input(&p[i], us, &done);
		}
	}
	t1 = rig_now();
	printf("ping, %d connections: %.0f pings/s\n", CONNS,
	       (double)done / (t1 - t0));
	rig_print_stats("ping, concurrent latency", us, done, "us");
	for (int i = 0; i < CONNS; i++)
		client_close(&p[i].c);
	free(us);
}

int main(void)
{
	const char *env = getenv("BENCH_PINGS");
	unsigned n = env ? (unsigned)strtoul(env, NULL, 10) : 2000;
	struct client rt = CLIENT_NULL;
	struct rig_vm vm;
	struct rig rig;
	double *us, t0, t1;
	int r;

	if (!n)
		n = 2000;
	us = calloc(n, sizeof(*us));
	if (!us)
		return 1;
	rig_init(&rig);
	rig_start_vm(&rig, &vm, NULL);
	rig_start_proxy(&rig, NULL);
	if ((r = client_connect(&rt, rig.sock)) ||
	    (r = client_register(&rt, "bench-latency", vm.ctl, vm.io, 0, NULL,
				 RIG_TIMEOUT_MS)))
		rig_fail("RegisterVM: %s", strerror(-r));

	for (int i = 0; i < WARMUP; i++)
		if ((r = client_hyper(&rt, "ping", "{}", NULL, RIG_TIMEOUT_MS)))
			rig_fail("ping: %s", strerror(-r));
	t0 = rig_now();
	for (unsigned i = 0; i < n; i++) {
		double s = rig_now();

		if ((r = client_call(&rt, FRAME_CMD_HYPER, ping_req, NULL,
				     RIG_TIMEOUT_MS)))
			rig_fail("ping: %s", strerror(-r));
		us[i] = (rig_now() - s) * 1e6;
	}
	t1 = rig_now();
	printf("ping, 1 connection: %.0f pings/s\n", n / (t1 - t0));
	rig_print_stats("ping, sequential latency", us, n, "us");
	fflush(stdout);

	concurrent(&rig, n);
	client_close(&rt);
	free(us);
	rig_fini(&rig);
	return 0;
}
