/*
 * scen-ping.c - the agent command round trip (scen.h).
 *
 *  1 client:  sequential pings, p50 and p99 per run. Proxy: Hyper "ping"
 *             from a runtime connection, through master and helper to the
 *             agent and back. Direct: PING on a lean agent's ctl socket.
 *  8 clients: 8 VMs, one connection each, one ping in flight per
 *             connection at all times: aggregate pings per second.
 * Requests are pre-encoded and answers parsed in place on both sides
 * (struct pinger), so the client costs the same in both. CPU time of the
 * master and the helpers is per ping, in microseconds.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>

#include "agent.h"
#include "bytes.h"
#include "frame.h"
#include "hyper.h"
#include "lean.h"
#include "report.h"
#include "scen.h"

#define CLIENTS	8
#define WARMUP	200

struct pinger {
	int fd;
	bool proxy;		/* frames from the proxy, else agent ctl */
	uint8_t buf[4096];
	size_t have;
	double sent_at;
};

static uint8_t proxy_req[128];
static size_t proxy_req_len;

static void pinger_send(struct pinger *p)
{
	static const uint8_t ping[HYPER_CTL_HEADER_SIZE] = { 0, 0, 0, HYPER_PING,
							      0, 0, 0, 8 };
	const uint8_t *m = p->proxy ? proxy_req : ping;
	size_t n = p->proxy ? proxy_req_len : sizeof(ping);

	p->sent_at = rig_now();
	/* A small request on a socket with nothing queued: it goes at once. */
	if (write(p->fd, m, n) != (ssize_t)n)
		rig_fail("ping: short write: %m");
}

/* Read what is there; return the number of answers completed. */
static unsigned pinger_read(struct pinger *p)
{
	unsigned done = 0;
	ssize_t r = read(p->fd, p->buf + p->have, sizeof(p->buf) - p->have);

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		rig_fail("ping: %s", r ? strerror(errno) : "connection closed");
	}
	p->have += (size_t)r;
	for (;;) {
		size_t len;

		if (p->proxy) {
			if (p->have < FRAME_HEADER_SIZE)
				break;
			len = (size_t)p->buf[2] * 4 + bytes_get_be32(p->buf + 8);
			if ((p->buf[6] & 0x0f) != FRAME_TYPE_RESPONSE || (p->buf[6] & FRAME_FLAG_ERROR))
				rig_fail("ping: not a successful response");
		} else {
			if (p->have < HYPER_CTL_HEADER_SIZE)
				break;
			len = bytes_get_be32(p->buf + 4);
		}
		if (len > sizeof(p->buf) || len < 8)
			rig_fail("ping: answer of %zu bytes", len);
		if (p->have < len)
			break;
		if (p->proxy || bytes_get_be32(p->buf) == HYPER_ACK)
			done++;
		memmove(p->buf, p->buf + len, p->have - len);
		p->have -= len;
	}
	return done;
}

static void wait_answer(struct pinger *p)
{
	struct pollfd pf = { .fd = p->fd, .events = POLLIN };

	while (!pinger_read(p))
		if (poll(&pf, 1, RIG_TIMEOUT_MS) <= 0)
			rig_fail("ping: no answer within %d ms", RIG_TIMEOUT_MS);
}

/* @n sequential pings on @p: p50 and p99 in microseconds. */
static void sequential(struct pinger *p, unsigned n, double *p50, double *p99)
{
	double *us = calloc(n, sizeof(*us));

	if (!us)
		rig_fail("out of memory");
	for (unsigned i = 0; i < n + WARMUP; i++) {
		pinger_send(p);
		wait_answer(p);
		if (i >= WARMUP)
			us[i - WARMUP] = (rig_now() - p->sent_at) * 1e6;
	}
	*p50 = report_percentile(us, n, 50);
	*p99 = report_percentile(us, n, 99);
	free(us);
}

/* CLIENTS pingers, one ping in flight each, @n each: pings per second. */
static double concurrent(struct pinger *p, unsigned n)
{
	struct pollfd pf[CLIENTS];
	unsigned left[CLIENTS], done = 0;
	double t0 = rig_now();

	for (int i = 0; i < CLIENTS; i++) {
		pf[i] = (struct pollfd){ .fd = p[i].fd, .events = POLLIN };
		left[i] = n - 1;
		pinger_send(&p[i]);
	}
	while (done < n * CLIENTS) {
		if (poll(pf, CLIENTS, RIG_TIMEOUT_MS) <= 0)
			rig_fail("ping: no answer within %d ms", RIG_TIMEOUT_MS);
		for (int i = 0; i < CLIENTS; i++) {
			unsigned k;

			if (!pf[i].revents)
				continue;
			k = pinger_read(&p[i]);
			done += k;
			if (k && left[i]) {
				left[i]--;
				pinger_send(&p[i]);
			}
		}
	}
	return done / (rig_now() - t0);
}

static double cpu_sum(const pid_t *pids, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += rig_cpu_exact(pids[i]);
	return s;
}

void scen_ping(const struct scen_opts *o)
{
	struct report_metric *m50 = report_metric("ping-1", "p50", "us");
	struct report_metric *m99 = report_metric("ping-1", "p99", "us");
	struct report_metric *agg = report_metric("ping-8", "8 clients on 8 VMs", "pings/s");
	struct client rt[1 + CLIENTS];
	struct pinger px[1 + CLIENTS], dx[1 + CLIENTS];
	struct evbuffer *enc = evbuffer_new();
	static const char req[] = "{\"hyperName\":\"ping\",\"tokens\":[],\"data\":{}}";
	pid_t helpers[1 + CLIENTS];
	struct direct d[1 + CLIENTS];
	struct agent a;
	struct rig rig;
	int r;

	report_goal(m50, REPORT_RATIO_MAX, 4);
	report_goal(m99, REPORT_RATIO_MAX, 6);
	report_goal(agg, REPORT_RATIO_MIN, 0.6);
	if (!enc || frame_encode(enc, FRAME_TYPE_COMMAND, 0, FRAME_CMD_HYPER, req,
				 sizeof(req) - 1))
		rig_fail("out of memory");
	proxy_req_len = evbuffer_remove(enc, proxy_req, sizeof(proxy_req));
	evbuffer_free(enc);

	rig_init(&rig);
	/* VMs 0..8 through the proxy, 9..17 direct. */
	agent_start(&rig, &a, 0, 2 * (1 + CLIENTS));
	rig_start_proxy(&rig, NULL);
	for (int i = 0; i < 1 + CLIENTS; i++) {
		char ctl[108], io[108], id[32];

		agent_paths(&rig, (unsigned)i, ctl, io);
		snprintf(id, sizeof(id), "bench-ping-%d", i);
		if ((r = client_connect(&rt[i], rig.sock)) ||
		    (r = client_register(&rt[i], id, ctl, io, 0, NULL, RIG_TIMEOUT_MS)))
			rig_fail("RegisterVM %s: %s", id, strerror(-r));
		px[i] = (struct pinger){ .fd = rt[i].fd, .proxy = true };
		agent_paths(&rig, (unsigned)(1 + CLIENTS + i), ctl, io);
		direct_open(&d[i], ctl, io);
		dx[i] = (struct pinger){ .fd = d[i].ctl };
	}
	if (rig_children(rig.proxy, helpers, 1 + CLIENTS) != 1 + CLIENTS)
		rig_fail("not %d helpers under the master", 1 + CLIENTS);

	for (unsigned run = 0; run < o->runs; run++) {
		double d50, d99, p50, p99, m0, h0, dr, pr;

		sequential(&dx[0], o->pings, &d50, &d99);
		m0 = rig_cpu_exact(rig.proxy);
		h0 = cpu_sum(helpers, 1 + CLIENTS);
		sequential(&px[0], o->pings, &p50, &p99);
		m0 = rig_cpu_exact(rig.proxy) - m0;
		h0 = cpu_sum(helpers, 1 + CLIENTS) - h0;
		report_direct(m50, d50);
		report_proxy(m50, p50);
		report_direct(m99, d99);
		report_proxy(m99, p99);
		report_cpu(m50, "us/ping", m0 * 1e6 / (o->pings + WARMUP),
			   h0 * 1e6 / (o->pings + WARMUP));

		dr = concurrent(&dx[1], o->pings);
		m0 = rig_cpu_exact(rig.proxy);
		h0 = cpu_sum(helpers, 1 + CLIENTS);
		pr = concurrent(&px[1], o->pings);
		m0 = rig_cpu_exact(rig.proxy) - m0;
		h0 = cpu_sum(helpers, 1 + CLIENTS) - h0;
		report_direct(agg, dr);
		report_proxy(agg, pr);
		report_cpu(agg, "us/ping", m0 * 1e6 / (o->pings * CLIENTS),
			   h0 * 1e6 / (o->pings * CLIENTS));
		fprintf(stderr, "  ping run %u: 1 client p50 %.0f/%.0f us, p99 %.0f/%.0f us "
			"(direct/proxy); 8 clients %.0f/%.0f pings/s\n", run + 1,
			d50, p50, d99, p99, dr, pr);
	}
	for (int i = 0; i < 1 + CLIENTS; i++) {
		client_close(&rt[i]);
		direct_close(&d[i]);
	}
	rig_fini(&rig);
}
