/*
 * client.c - the direct simvm client of client.h.
 *
 * Every wait is bounded (poll with a timeout, a deadline per wait), and
 * synchronisation is by events: the notify pipe for startup, answers and
 * io round trips afterwards. The VM runs with PR_SET_PDEATHSIG, so a test
 * process that dies takes it along; vc_stop() ends it normally.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "client.h"
#include "hyper.h"

/* What the agent may send at most (PROTOCOL.md part 2). */
#define VC_CTL_MAX 10240u

double vc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int vc_dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "connect %s: %s", path, strerror(errno));
	return fd;
}

void vc_connect(struct vc *v)
{
	v->ctl = vc_dial(v->ctl_path);
	v->io = vc_dial(v->io_path);
	v->ctl_eof = v->io_eof = false;
}

static void vc_reset_buf(struct evbuffer **b)
{
	if (*b)
		evbuffer_free(*b);
	*b = evbuffer_new();
	ck_assert_ptr_nonnull(*b);
}

void vc_disconnect(struct vc *v)
{
	if (v->ctl >= 0)
		close(v->ctl);
	if (v->io >= 0)
		close(v->io);
	v->ctl = v->io = -1;
	vc_reset_buf(&v->cin);
	vc_reset_buf(&v->iin);
}

void vc_start(struct vc *v, const char *const *opts)
{
	const char *bdir = getenv("CC_PROXY_BUILDDIR");
	const char *argv[64];
	char bin[512], ready[16] = { 0 };
	struct pollfd pfd;
	int pipefd[2], n = 0;
	ssize_t got;

	memset(v, 0, sizeof(*v));
	v->ctl = v->io = -1;
	snprintf(v->dir, sizeof(v->dir), "%s/simvm-test.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(v->dir));
	snprintf(v->ctl_path, sizeof(v->ctl_path), "%s/ctl.sock", v->dir);
	snprintf(v->io_path, sizeof(v->io_path), "%s/io.sock", v->dir);
	snprintf(bin, sizeof(bin), "%s/cc-proxy-simvm", bdir ? bdir : ".");
	argv[n++] = bin;
	argv[n++] = "--ctl";
	argv[n++] = v->ctl_path;
	argv[n++] = "--io";
	argv[n++] = v->io_path;
	argv[n++] = "--notify-fd";
	argv[n++] = "3";
	argv[n++] = "-v";
	argv[n++] = "1";
	for (int i = 0; opts && opts[i]; i++) {
		ck_assert_int_lt(n, 62);
		argv[n++] = opts[i];
	}
	argv[n] = NULL;

	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	v->pid = fork();
	ck_assert_int_ge(v->pid, 0);
	if (v->pid == 0) {
		/* Never outlive the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(pipefd[1], 3) < 0)
			_exit(126);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	ck_assert_msg(poll(&pfd, 1, 10000) == 1, "simvm did not get ready");
	got = read(pipefd[0], ready, sizeof(ready) - 1);
	close(pipefd[0]);
	ck_assert_msg(got == 6 && !strcmp(ready, "READY\n"), "simvm said '%s'", ready);

	vc_reset_buf(&v->cin);
	vc_reset_buf(&v->iin);
	vc_connect(v);
}

void vc_new_peer(struct vc *v)
{
	for (int i = 0; i < v->nans; i++)
		free(v->ans[i].data);
	v->nans = v->ncmd = 0;
	v->ctl_sent = v->next_sum = 0;
	v->ready = 0;
	vc_disconnect(v);
	vc_connect(v);
}

void vc_stop(struct vc *v)
{
	int st = 0;
	pid_t r = 0;

	vc_disconnect(v);
	evbuffer_free(v->cin);
	evbuffer_free(v->iin);
	v->cin = v->iin = NULL;
	ck_assert_int_eq(kill(v->pid, SIGTERM), 0);
	for (int i = 0; i < 500 && (r = waitpid(v->pid, &st, WNOHANG)) == 0; i++)
		poll(NULL, 0, 10);
	if (r == 0) {
		kill(v->pid, SIGKILL);
		waitpid(v->pid, &st, 0);
		ck_abort_msg("simvm did not exit on SIGTERM");
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "simvm exit status 0x%x", st);
	ck_assert_msg(access(v->ctl_path, F_OK) < 0, "ctl socket left behind");
	ck_assert_msg(access(v->io_path, F_OK) < 0, "io socket left behind");
	rmdir(v->dir);
	for (int i = 0; i < v->nans; i++)
		free(v->ans[i].data);
	for (int i = 0; i < v->nev; i++)
		free(v->ev[i].data);
	for (int i = 0; i < v->nio; i++)
		free(v->io_msgs[i].data);
}

static void vc_parse_ctl(struct vc *v)
{
	for (;;) {
		struct hyper_ctl_msg m;
		const char *why = NULL;
		struct vc_ctl_msg *slot;
		uint32_t n;
		int r = hyper_ctl_decode(v->cin, VC_CTL_MAX, &m, &why);

		if (r == HYPER_E_INCOMPLETE)
			return;
		if (r == HYPER_E_INVALID) {
			v->garbage = true;
			evbuffer_drain(v->cin, evbuffer_get_length(v->cin));
			return;
		}
		ck_assert_int_eq(r, 0);
		switch (m.code) {
		case HYPER_READY:
			v->ready++;
			hyper_ctl_msg_deinit(&m);
			continue;
		case HYPER_NEXT:
			ck_assert_int_eq(hyper_next_count(&m, &n), 0);
			v->next_sum += n;
			/* A NEXT never counts bytes that were not sent. */
			ck_assert_uint_le(v->next_sum, v->ctl_sent);
			hyper_ctl_msg_deinit(&m);
			continue;
		case HYPER_ACK:
		case HYPER_ERROR:
			ck_assert_int_lt(v->nans, VC_MAX_MSGS);
			slot = &v->ans[v->nans++];
			break;
		case HYPER_PROCESSASYNCEVENT:
			ck_assert_int_lt(v->nev, VC_MAX_MSGS);
			slot = &v->ev[v->nev++];
			break;
		default:
			ck_abort_msg("unexpected ctl message %u", m.code);
			return;
		}
		slot->code = m.code;
		slot->len = m.payload_len;
		slot->data = m.payload ? (char *)m.payload : strdup("");
		slot->next_before = v->next_sum;
		slot->at = vc_now();
	}
}

static void vc_parse_io(struct vc *v)
{
	for (;;) {
		const char *why = NULL;
		uint64_t seq;
		size_t len;
		struct vc_io_msg *m;
		int r = hyper_io_peek(v->iin, HYPER_IO_SEND_MAX, &seq, &len, &why);

		if (r == HYPER_E_INCOMPLETE)
			return;
		/* The agent's messages are never over 4096 bytes. */
		ck_assert_msg(r == 0, "bad io message: %s", why ? why : "?");
		ck_assert_int_lt(v->nio, VC_MAX_MSGS);
		m = &v->io_msgs[v->nio++];
		m->seq = seq;
		m->len = len;
		m->data = calloc(1, len + 1);
		ck_assert_ptr_nonnull(m->data);
		evbuffer_drain(v->iin, HYPER_IO_HEADER_SIZE);
		ck_assert_int_eq(evbuffer_remove(v->iin, m->data, len), (int)len);
		m->at = vc_now();
	}
}

/* Read what @fd has into @b; false at end of file. */
static bool vc_read(int fd, struct evbuffer *b)
{
	int n = evbuffer_read(b, fd, 65536);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	return n > 0;
}

void vc_pump(struct vc *v, int ms)
{
	struct pollfd pfd[2] = {
		{ .fd = v->io_eof ? -1 : v->io, .events = POLLIN },
		{ .fd = v->ctl_eof ? -1 : v->ctl, .events = POLLIN },
	};

	if (poll(pfd, 2, ms) <= 0)
		return;
	/* io first: in one round, the end of output before the event. */
	if (pfd[0].revents && !vc_read(v->io, v->iin))
		v->io_eof = true;
	vc_parse_io(v);
	if (pfd[1].revents && !vc_read(v->ctl, v->cin))
		v->ctl_eof = true;
	vc_parse_ctl(v);
}

bool vc_wait(struct vc *v, bool (*pred)(struct vc *, const void *),
	     const void *arg, int ms)
{
	double end = vc_now() + ms / 1000.0;

	while (!pred(v, arg)) {
		if (vc_now() >= end)
			return false;
		vc_pump(v, 20);
	}
	return true;
}

static void vc_write(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = send(fd, c, len, MSG_NOSIGNAL);

		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		c += n;
		len -= (size_t)n;
	}
}

int vc_send_many(struct vc *v, int n, const uint32_t *codes,
		 const char *const *jsons, size_t piece)
{
	struct evbuffer *b = evbuffer_new();
	const char *c;
	size_t len, base = v->ctl_sent;
	int first = v->ncmd;

	ck_assert_ptr_nonnull(b);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(hyper_ctl_encode(b, codes[i], jsons[i],
						  jsons[i] ? strlen(jsons[i]) : 0), 0);
		ck_assert_int_lt(v->ncmd, VC_MAX_MSGS);
		v->cmd_end[v->ncmd++] = base + evbuffer_get_length(b);
	}
	len = evbuffer_get_length(b);
	c = (const char *)evbuffer_pullup(b, -1);
	for (size_t off = 0; off < len; off += piece) {
		size_t k = len - off < piece ? len - off : piece;

		vc_write(v->ctl, c + off, k);
		v->ctl_sent += k;
		/* Let the VM read each piece on its own. */
		if (piece < len)
			vc_pump(v, 1);
	}
	evbuffer_free(b);
	return first;
}

int vc_send(struct vc *v, uint32_t code, const char *json)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(hyper_ctl_encode(b, code, json, json ? strlen(json) : 0), 0);
	len = evbuffer_get_length(b);
	vc_write(v->ctl, evbuffer_pullup(b, -1), len);
	evbuffer_free(b);
	v->ctl_sent += len;
	ck_assert_int_lt(v->ncmd, VC_MAX_MSGS);
	v->cmd_end[v->ncmd] = v->ctl_sent;
	return v->ncmd++;
}

static bool has_answer(struct vc *v, const void *arg)
{
	return v->nans > *(const int *)arg;
}

const struct vc_ctl_msg *vc_answer(struct vc *v, int idx)
{
	const struct vc_ctl_msg *a;

	ck_assert_msg(vc_wait(v, has_answer, &idx, 10000), "no answer to command %d", idx);
	a = &v->ans[idx];
	/* Every byte of the command was NEXTed before its answer. */
	ck_assert_msg(a->next_before >= v->cmd_end[idx],
		      "answer %d after NEXT for %llu bytes, command ends at %llu", idx,
		      (unsigned long long)a->next_before,
		      (unsigned long long)v->cmd_end[idx]);
	return a;
}

const struct vc_ctl_msg *vc_ack(struct vc *v, uint32_t code, const char *json)
{
	const struct vc_ctl_msg *a = vc_answer(v, vc_send(v, code, json));

	ck_assert_msg(a->code == HYPER_ACK, "%s: ERROR %s", hyper_code_name(code), a->data);
	return a;
}

const struct vc_ctl_msg *vc_error(struct vc *v, uint32_t code, const char *json)
{
	const struct vc_ctl_msg *a = vc_answer(v, vc_send(v, code, json));

	ck_assert_msg(a->code == HYPER_ERROR, "%s: not an ERROR", hyper_code_name(code));
	ck_assert_uint_gt(a->len, 0);
	return a;
}

void vc_io_send(struct vc *v, uint64_t seq, const void *data, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(hyper_io_encode(b, seq, data, len), 0);
	vc_write(v->io, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_free(b);
}

int vc_io_empty(struct vc *v, uint64_t seq)
{
	for (int i = 0; i < v->nio; i++)
		if (v->io_msgs[i].seq == seq && v->io_msgs[i].len == 0)
			return i;
	return -1;
}

char *vc_io_data(struct vc *v, uint64_t seq)
{
	int end = vc_io_empty(v, seq);
	size_t total = 0;
	char *s;

	if (end < 0)
		end = v->nio;
	for (int i = 0; i < end; i++)
		if (v->io_msgs[i].seq == seq)
			total += v->io_msgs[i].len;
	s = calloc(1, total + 1);
	ck_assert_ptr_nonnull(s);
	total = 0;
	for (int i = 0; i < end; i++)
		if (v->io_msgs[i].seq == seq) {
			memcpy(s + total, v->io_msgs[i].data, v->io_msgs[i].len);
			total += v->io_msgs[i].len;
		}
	return s;
}

static bool has_eof(struct vc *v, const void *arg)
{
	return vc_io_empty(v, *(const uint64_t *)arg) >= 0;
}

void vc_wait_eof(struct vc *v, uint64_t seq)
{
	ck_assert_msg(vc_wait(v, has_eof, &seq, 10000), "no end of output on seq %llu",
		      (unsigned long long)seq);
}

void vc_io_sync(struct vc *v)
{
	static uint64_t seq = 1000000;

	vc_io_send(v, ++seq, "?", 1);
	vc_wait_eof(v, seq);
}

struct ev_key {
	const char *container, *process;
	int found;
};

static bool has_event(struct vc *v, const void *arg)
{
	struct ev_key *k = (struct ev_key *)arg;

	for (int i = 0; i < v->nev; i++) {
		struct json_object *o = json_tokener_parse(v->ev[i].data), *c, *p, *e, *s;
		bool match;

		ck_assert_ptr_nonnull(o);
		ck_assert(json_object_object_get_ex(o, "container", &c));
		ck_assert(json_object_object_get_ex(o, "process", &p));
		ck_assert(json_object_object_get_ex(o, "event", &e));
		ck_assert(json_object_object_get_ex(o, "status", &s));
		ck_assert_str_eq(json_object_get_string(e), "finished");
		match = !strcmp(json_object_get_string(c), k->container) &&
			!strcmp(json_object_get_string(p), k->process);
		if (match)
			k->found = json_object_get_int(s);
		json_object_put(o);
		if (match)
			return true;
	}
	return false;
}

int vc_wait_event(struct vc *v, const char *container, const char *process)
{
	struct ev_key k = { container, process, -1 };

	ck_assert_msg(vc_wait(v, has_event, &k, 10000), "no event for %s/%s",
		      container, process);
	return k.found;
}
