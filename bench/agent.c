/*
 * agent.c - the lean agent of the benchmarks (agent.h).
 *
 * Single-threaded, one epoll set, edge-triggered: every socket is added
 * once with EPOLLIN | EPOLLOUT | EPOLLET, reads drain until EAGAIN and
 * writes go on until EAGAIN, so no epoll_ctl is made per message.
 * Streaming writes straight out of a template of AGENT_BATCH full-size
 * io messages built once per execcmd (no copy per message). Inputs are
 * bounded (AGENT_IN_MAX); a peer that breaks the protocol is dropped.
 * It runs in a forked copy of the benchmark and ends with SIGTERM/SIGKILL
 * from the rig (or PR_SET_PDEATHSIG when the benchmark dies).
 */
#define _GNU_SOURCE 1
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>

#include "bytes.h"
#include "hyper.h"

#define AGENT_IO_DATA	(AGENT_IO_MSG - HYPER_IO_HEADER_SIZE)
#define AGENT_BATCH	25u			/* messages per template */
#define AGENT_IN_MAX	(1024u * 1024u)		/* bound on buffered input */
#define AGENT_OUT_MAX	(2 * AGENT_IO_MSG)	/* ctl answers, io tails */

enum { K_LCTL, K_LIO, K_CTL, K_IO };

struct obuf {
	uint8_t b[AGENT_OUT_MAX];
	size_t off, len;
};

struct avm {
	int lctl, lio, ctl, io;
	uint8_t *cin, *iin;	/* AGENT_IN_MAX each, once connected */
	size_t cin_len, iin_len;
	struct obuf cout, iout;
	/* stdout streaming */
	uint8_t *tmpl;		/* AGENT_BATCH messages for out_seq */
	size_t t_off, t_end;
	uint64_t out_seq, left;
	bool finish;		/* end of output and status still to queue */
	/* stdin counting */
	uint64_t in_seq, in_count;
	bool counting;
};

static struct avm *vms;
static int ep;

static void put(struct obuf *o, const void *p, size_t n)
{
	if (o->off == o->len)
		o->off = o->len = 0;
	if (n > sizeof(o->b) - o->len) {
		fprintf(stderr, "agent: output buffer full\n");
		_exit(1);
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
}

static void put_ctl(struct avm *v, uint32_t code, const void *p, size_t n)
{
	uint8_t h[HYPER_CTL_HEADER_SIZE];

	bytes_put_be32(h, code);
	bytes_put_be32(h + 4, (uint32_t)(n + sizeof(h)));
	put(&v->cout, h, sizeof(h));
	put(&v->cout, p, n);
}

static void put_io(struct avm *v, uint64_t seq, const void *p, size_t n)
{
	uint8_t h[HYPER_IO_HEADER_SIZE];

	bytes_put_be64(h, seq);
	bytes_put_be32(h + 8, (uint32_t)(n + sizeof(h)));
	put(&v->iout, h, sizeof(h));
	put(&v->iout, p, n);
}

/* Write @o to @fd until done or EAGAIN; false when the peer is gone. */
static bool drain(int fd, struct obuf *o)
{
	while (o->off < o->len) {
		ssize_t n = write(fd, o->b + o->off, o->len - o->off);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		o->off += (size_t)n;
	}
	return true;
}

static void drop(struct avm *v, int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	if (v->ctl < 0 && v->io < 0) {
		free(v->tmpl);
		v->tmpl = NULL;
		v->left = v->t_off = v->t_end = 0;
		v->finish = v->counting = false;
		v->cin_len = v->iin_len = 0;
		v->cout.off = v->cout.len = v->iout.off = v->iout.len = 0;
	}
}

/* The io output: template batches, then the queued tail. */
static void io_flush(struct avm *v)
{
	if (v->io < 0)
		return;
	for (;;) {
		if (v->t_off < v->t_end) {
			ssize_t n = write(v->io, v->tmpl + v->t_off, v->t_end - v->t_off);

			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR)
					drop(v, &v->io);
				return;
			}
			v->t_off += (size_t)n;
			continue;
		}
		if (v->left >= AGENT_IO_DATA) {
			uint64_t k = v->left / AGENT_IO_DATA;

			if (k > AGENT_BATCH)
				k = AGENT_BATCH;
			v->t_off = 0;
			v->t_end = (size_t)k * AGENT_IO_MSG;
			v->left -= k * AGENT_IO_DATA;
			continue;
		}
		if (v->finish) {
			static const uint8_t zeros[AGENT_IO_DATA], status;

			if (v->left)
				put_io(v, v->out_seq, zeros, (size_t)v->left);
			v->left = 0;
			put_io(v, v->out_seq, NULL, 0);
			put_io(v, v->out_seq, &status, 1);
			v->finish = false;
		}
		if (!drain(v->io, &v->iout))
			drop(v, &v->io);
		return;
	}
}

static void start_output(struct avm *v, uint64_t seq, uint64_t bytes)
{
	if (!v->tmpl && !(v->tmpl = calloc(AGENT_BATCH, AGENT_IO_MSG)))
		_exit(1);
	for (unsigned i = 0; i < AGENT_BATCH; i++) {
		bytes_put_be64(v->tmpl + (size_t)i * AGENT_IO_MSG, seq);
		bytes_put_be32(v->tmpl + (size_t)i * AGENT_IO_MSG + 8, AGENT_IO_MSG);
	}
	v->out_seq = seq;
	v->left = bytes;
	v->t_off = v->t_end = 0;
	v->finish = true;
}

/* execcmd: the work is in process.args, the seq in process.stdio. */
static void on_exec(struct avm *v, const char *json)
{
	struct json_object *o = json_tokener_parse(json), *p, *s, *a;
	const char *what = NULL;
	uint64_t seq = 0;

	if (o && json_object_object_get_ex(o, "process", &p) &&
	    json_object_object_get_ex(p, "stdio", &s) &&
	    json_object_object_get_ex(p, "args", &a) &&
	    json_object_array_length(a) >= 1) {
		seq = (uint64_t)json_object_get_int64(s);
		what = json_object_get_string(json_object_array_get_idx(a, 0));
	}
	put_ctl(v, HYPER_ACK, NULL, 0);
	if (what && !strcmp(what, "out") && json_object_array_length(a) >= 2) {
		start_output(v, seq, strtoull(json_object_get_string(
			json_object_array_get_idx(a, 1)), NULL, 10));
		/* Edge-triggered: no EPOLLOUT comes for a socket already
		 * writable, so the stream starts here. */
		io_flush(v);
	} else if (what && !strcmp(what, "in")) {
		v->in_seq = seq;
		v->in_count = 0;
		v->counting = true;
	}
	json_object_put(o);
}

/* Decode the ctl commands in v->cin; false on a broken message. */
static bool ctl_parse(struct avm *v)
{
	size_t pos = 0;

	while (v->cin_len - pos >= HYPER_CTL_HEADER_SIZE) {
		uint32_t code = bytes_get_be32(v->cin + pos);
		uint32_t len = bytes_get_be32(v->cin + pos + 4);

		if (len < HYPER_CTL_HEADER_SIZE || len > AGENT_IN_MAX - 1)
			return false;
		if (v->cin_len - pos < len)
			break;
		if (code == HYPER_EXECCMD) {
			char *text = strndup((char *)v->cin + pos + 8, len - 8);

			if (!text)
				_exit(1);
			on_exec(v, text);
			free(text);
		} else {
			put_ctl(v, HYPER_ACK, NULL, 0);
		}
		pos += len;
	}
	memmove(v->cin, v->cin + pos, v->cin_len - pos);
	v->cin_len -= pos;
	return true;
}

static void on_ctl(struct avm *v)
{
	for (;;) {
		ssize_t n = read(v->ctl, v->cin + v->cin_len, AGENT_IN_MAX - v->cin_len);
		uint8_t next[4];

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			drop(v, &v->ctl);
			return;
		}
		v->cin_len += (size_t)n;
		/* NEXT for every chunk read, before the answers it completes. */
		bytes_put_be32(next, (uint32_t)n);
		put_ctl(v, HYPER_NEXT, next, sizeof(next));
		if (!ctl_parse(v)) {
			drop(v, &v->ctl);
			return;
		}
	}
	if (!drain(v->ctl, &v->cout))
		drop(v, &v->ctl);
}

static void io_parse(struct avm *v)
{
	size_t pos = 0;

	while (v->iin_len - pos >= HYPER_IO_HEADER_SIZE) {
		uint64_t seq = bytes_get_be64(v->iin + pos);
		uint32_t len = bytes_get_be32(v->iin + pos + 8);

		if (len < HYPER_IO_HEADER_SIZE || len > AGENT_IN_MAX) {
			drop(v, &v->io);
			return;
		}
		if (v->iin_len - pos < len)
			break;
		if (v->counting && seq == v->in_seq) {
			if (len > HYPER_IO_HEADER_SIZE) {
				v->in_count += len - HYPER_IO_HEADER_SIZE;
			} else {
				char text[32];
				static const uint8_t status;
				int tn = snprintf(text, sizeof(text), "%llu\n",
						  (unsigned long long)v->in_count);

				put_io(v, seq, text, (size_t)tn);
				put_io(v, seq, NULL, 0);
				put_io(v, seq, &status, 1);
				v->counting = false;
			}
		}
		pos += len;
	}
	memmove(v->iin, v->iin + pos, v->iin_len - pos);
	v->iin_len -= pos;
}

static void on_io(struct avm *v)
{
	for (;;) {
		ssize_t n = read(v->io, v->iin + v->iin_len, AGENT_IN_MAX - v->iin_len);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			drop(v, &v->io);
			return;
		}
		v->iin_len += (size_t)n;
		io_parse(v);
		if (v->io < 0)
			return;
	}
	io_flush(v);
}

static void on_accept(struct avm *v, unsigned i, int kind)
{
	int lfd = kind == K_LCTL ? v->lctl : v->lio;
	int *slot = kind == K_LCTL ? &v->ctl : &v->io;
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP };

	if (fd < 0)
		return;
	if (*slot >= 0)
		drop(v, slot);		/* a new peer replaces the old one */
	if ((!v->cin && !(v->cin = malloc(AGENT_IN_MAX))) ||
	    (!v->iin && !(v->iin = malloc(AGENT_IN_MAX))))
		_exit(1);
	*slot = fd;
	e.data.u64 = (uint64_t)i << 2 | (kind == K_LCTL ? K_CTL : K_IO);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e))
		_exit(1);
	if (kind == K_LCTL) {
		put_ctl(v, HYPER_READY, NULL, 0);
		if (!drain(fd, &v->cout))
			drop(v, slot);
	}
}

static void agent_run(unsigned n)
{
	struct epoll_event evs[64];

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		_exit(1);
	for (unsigned i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN };

		e.data.u64 = (uint64_t)i << 2 | K_LCTL;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, vms[i].lctl, &e))
			_exit(1);
		e.data.u64 = (uint64_t)i << 2 | K_LIO;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, vms[i].lio, &e))
			_exit(1);
	}
	for (;;) {
		int k = epoll_wait(ep, evs, 64, -1);

		for (int j = 0; j < k; j++) {
			unsigned i = (unsigned)(evs[j].data.u64 >> 2);
			int kind = (int)(evs[j].data.u64 & 3);
			struct avm *v = &vms[i];

			if (kind == K_LCTL || kind == K_LIO) {
				on_accept(v, i, kind);
			} else if (kind == K_CTL && v->ctl >= 0) {
				if (evs[j].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					on_ctl(v);
				else if (!drain(v->ctl, &v->cout))
					drop(v, &v->ctl);
			} else if (kind == K_IO && v->io >= 0) {
				if (evs[j].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					on_io(v);
				else
					io_flush(v);
			}
		}
	}
}

void agent_paths(const struct rig *r, unsigned i, char ctl[108], char io[108])
{
	snprintf(ctl, 108, "%s/a%u.ctl", r->dir, i);
	snprintf(io, 108, "%s/a%u.io", r->dir, i);
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8))
		rig_fail("agent socket %s: %m", path);
	return fd;
}

void agent_start(struct rig *r, struct agent *a, unsigned first, unsigned n)
{
	pid_t parent = getpid();
	char ctl[108], io[108];

	if (n > AGENT_MAX_VMS)
		rig_fail("an agent serves at most %u VMs", AGENT_MAX_VMS);
	vms = calloc(n, sizeof(*vms));
	if (!vms)
		rig_fail("out of memory");
	for (unsigned i = 0; i < n; i++) {
		agent_paths(r, first + i, ctl, io);
		vms[i] = (struct avm){ .lctl = listen_on(ctl), .lio = listen_on(io),
				       .ctl = -1, .io = -1 };
	}
	fflush(NULL);
	a->pid = fork();
	if (a->pid < 0)
		rig_fail("fork: %m");
	if (a->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_NAME, "bench-agent");
		agent_run(n);
	}
	rig_track(a->pid);
	for (unsigned i = 0; i < n; i++) {
		close(vms[i].lctl);
		close(vms[i].lio);
	}
	free(vms);
	vms = NULL;
	a->n = n;
	a->first = first;
}
