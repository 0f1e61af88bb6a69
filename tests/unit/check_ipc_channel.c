/*
 * check_ipc_channel.c - unit tests of ipc.c, part 2: the channel (hello,
 * delivery with an fd, version mismatch, protocol violations, freeing
 * from callbacks, the bounded queue draining across EAGAIN). The codec
 * and the socketpair are in check_ipc.c.
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
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "fdpass.h"
#include "ipc.h"
#include "ipc_test.h"
#include "unit_main.h"
static uint8_t *xbuf(void)
{
	uint8_t *b = calloc(1, IPC_MSG_MAX + 64);

	ck_assert_ptr_nonnull(b);
	return b;
}

/* ---- channels -------------------------------------------------------- */

struct rec {
	struct ipc_channel *ch;
	int nmsg, nclose, err;
	uint32_t types[8], ids[8];
	char vars[8][64], fd_data[64], why[128];
	bool fd_cloexec, free_in_message, free_in_close;
	int nlost;		/* messages delivered with fd_lost */
	bool answer;		/* answer IPC_M_HYPER */
};

/* Per test (fork mode: a fresh process each): one loop, one socketpair. */
static struct event_base *base;
static int sv[2];
static struct rec r;

static void chan_setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(ipc_socketpair(sv), 0);
	memset(&r, 0, sizeof(r));
}

static void chan_teardown(void)
{
	event_base_free(base);
}

static void rec_on_message(struct ipc_channel *ch, const struct ipc_view *v, void *ctx)
{
	struct rec *rr = ctx;
	int i = rr->nmsg++;

	ck_assert_ptr_eq(ch, rr->ch);
	if (i < 8) {
		rr->types[i] = v->type;
		rr->ids[i] = v->id;
		snprintf(rr->vars[i], sizeof(rr->vars[i]), "%.*s", (int)v->var_len,
			 v->var ? (const char *)v->var : "");
	}
	if (v->fd_lost) {
		ck_assert_int_eq(v->fd, -1);
		rr->nlost++;
	}
	if (v->fd >= 0) {
		rr->fd_cloexec = fcntl(v->fd, F_GETFD) & FD_CLOEXEC;
		ck_assert_int_gt(read(v->fd, rr->fd_data, sizeof(rr->fd_data) - 1), 0);
		close(v->fd);
	}
	if (rr->answer && v->type == IPC_M_HYPER) {
		struct ipc_hyper_answer a = { 0, 2 };

		ck_assert_int_eq(ipc_channel_send(ch, IPC_H_HYPER_ANSWER, v->id, &a,
						  sizeof(a), "ok", 2, -1), 0);
	}
	if (rr->free_in_message)
		rr->ch = ipc_channel_free(ch);
}

static void rec_on_close(struct ipc_channel *ch, int err, const char *why, void *ctx)
{
	struct rec *rr = ctx;

	ck_assert_ptr_eq(ch, rr->ch);
	rr->nclose++;
	rr->err = err;
	snprintf(rr->why, sizeof(rr->why), "%s", why ? why : "(null)");
	if (rr->free_in_close)
		rr->ch = ipc_channel_free(ch);
}

static void chan_open(struct rec *rr, int side, enum ipc_dir incoming)
{
	ck_assert_int_eq(ipc_channel_new(&rr->ch, base, sv[side], incoming,
					 rec_on_message, rec_on_close, rr), 0);
}

/* Run the loop without blocking until @cond holds (bounded). */
#define SPIN_UNTIL(cond) do { \
		for (int _s = 0; _s < 20000 && !(cond); _s++) \
			event_base_loop(base, EVLOOP_NONBLOCK); \
		ck_assert_msg((cond), "timed out waiting for " #cond); \
	} while (0)

static void spin(int n)
{
	while (n-- > 0)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* A raw peer end: send an encoded message (no checks beyond encode). */
static void raw_send(int sock, uint32_t type, uint32_t id, const void *fixed,
		     size_t fixed_len, const void *var, size_t var_len, int fd)
{
	uint8_t *buf = xbuf();
	ssize_t n = ipc_encode(buf, type, id, fd >= 0, fixed, fixed_len, var, var_len);

	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(fdpass_send(sock, buf, (size_t)n, fd), 0);
	free(buf);
}

static void raw_hello(int sock, uint32_t type, uint32_t version)
{
	struct ipc_hello h = { version, (uint32_t)getpid() };

	raw_send(sock, type, 0, &h, sizeof(h), NULL, 0, -1);
}

static void assert_reader_gone(int wfd)
{
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	ck_assert_int_eq(write(wfd, "x", 1), -1);
	ck_assert_int_eq(errno, EPIPE);
}

static const struct ipc_empty empty = { 0 };
static const struct ipc_shim shim0 = { 3, 0, 1, 2, 3 };

START_TEST(test_channel_pair_exchange)
{
	struct rec h = { .answer = true };
	struct ipc_hyper hy = { 0, 17, 7 };
	struct ipc_token tk = { 3, 4, 0 };
	struct ipc_shim sh = { 3, 4, 55, 1, 2 };
	int p[2];

	chan_open(&r, 0, IPC_DIR_TO_MASTER);
	chan_open(&h, 1, IPC_DIR_TO_HELPER);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "through the fd", 14), 14);

	/* Queued before either hello went out: must still follow them. */
	ck_assert_int_eq(ipc_channel_send(r.ch, IPC_M_HYPER, 41, &hy, sizeof(hy),
					  "{\"a\":1}", 7, -1), 0);
	ck_assert_int_eq(ipc_channel_send(r.ch, IPC_M_ADD_TOKEN, 42, &tk, sizeof(tk),
					  "tokn", 4, -1), 0);
	ck_assert_int_eq(ipc_channel_send(r.ch, IPC_M_SHIM, 43, &sh, sizeof(sh),
					  "left", 4, p[0]), 0);
	p[0] = -1;	/* consumed */
	ck_assert_uint_eq(ipc_channel_queued(r.ch), 4);	/* hello + 3 */

	SPIN_UNTIL(h.nmsg == 3 && r.nmsg == 1);
	for (int i = 0; i < 3; i++) {
		static const uint32_t types[] = { IPC_M_HYPER, IPC_M_ADD_TOKEN, IPC_M_SHIM };
		static const char *const vars[] = { "{\"a\":1}", "tokn", "left" };

		ck_assert_uint_eq(h.types[i], types[i]);
		ck_assert_uint_eq(h.ids[i], 41 + (uint32_t)i);
		ck_assert_str_eq(h.vars[i], vars[i]);
	}
	ck_assert_str_eq(h.fd_data, "through the fd");
	ck_assert(h.fd_cloexec);
	ck_assert_uint_eq(r.types[0], IPC_H_HYPER_ANSWER);
	ck_assert_uint_eq(r.ids[0], 41);
	ck_assert_str_eq(r.vars[0], "ok");
	ck_assert_int_eq(r.nclose + h.nclose, 0);
	ck_assert_uint_eq(ipc_channel_queued(r.ch) + ipc_channel_queued(h.ch), 0);
	assert_reader_gone(p[1]);	/* the helper closed it, the master kept none */

	/* The hello is the channel's own. */
	ck_assert_int_eq(ipc_channel_send(r.ch, IPC_M_HELLO, 0, &hy, 8, NULL, 0, -1), -EINVAL);

	/* One side going away is EOF (err 0) for the other. */
	h.ch = ipc_channel_free(h.ch);
	ck_assert_ptr_null(h.ch);
	SPIN_UNTIL(r.nclose == 1);
	ck_assert_int_eq(r.err, 0);
	ipc_channel_free(r.ch);
	ck_assert_ptr_null(ipc_channel_free(NULL));
}
END_TEST

/* The channel's hello: first, right type, version and our pid. */
START_TEST(test_channel_sends_hello)
{
	uint8_t *buf = xbuf();
	union fixed_any copy;
	struct ipc_view v;
	const char *why;
	int rfd;
	ssize_t n;

	chan_open(&r, 1, IPC_DIR_TO_HELPER);
	spin(5);
	n = fdpass_recv(sv[0], buf, IPC_MSG_MAX, &rfd);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(ipc_decode(buf, (size_t)n, false, IPC_DIR_TO_MASTER, &v, &copy, &why), 0);
	ck_assert_uint_eq(v.type, IPC_H_HELLO);
	ck_assert_uint_eq(copy.hello.version, IPC_VERSION);
	ck_assert_uint_eq(copy.hello.pid, (uint32_t)getpid());

	/* A correct hello, then a message: delivered. */
	raw_hello(sv[0], IPC_M_HELLO, IPC_VERSION);
	raw_send(sv[0], IPC_M_SHUTDOWN, 9, &empty, sizeof(empty), NULL, 0, -1);
	SPIN_UNTIL(r.nmsg == 1);
	ck_assert_uint_eq(r.types[0], IPC_M_SHUTDOWN);
	ck_assert_uint_eq(r.ids[0], 9);
	ck_assert_int_eq(r.nclose, 0);
	ipc_channel_free(r.ch);
	/* freeing closed the socket */
	ck_assert_int_eq(fdpass_recv(sv[0], buf, IPC_MSG_MAX, &rfd), 0);
	free(buf);
}
END_TEST

/* Protocol violations close the channel once with IPC_E_INVALID:
 * 0 a message before the hello, 1 a second hello, 2 an fd on a type that
 * forbids one (the fd is closed), 3 the wrong direction, 4 truncation,
 * 5 another IPC_VERSION. Then sends are -EPIPE and their fd is closed. */
START_TEST(test_channel_violations)
{
	struct ipc_hyper hy = { 0, 6, 0 };
	uint8_t *buf = xbuf();
	int p[2] = { -1, -1 }, q[2];
	char want[128] = "";
	size_t n;

	chan_open(&r, 1, IPC_DIR_TO_HELPER);
	if (_i != 0 && _i != 5)
		raw_hello(sv[0], IPC_M_HELLO, IPC_VERSION);
	switch (_i) {
	case 0:
		raw_send(sv[0], IPC_M_SHUTDOWN, 0, &empty, sizeof(empty), NULL, 0, -1);
		strcpy(want, "first message is not a hello");
		break;
	case 1:
		raw_hello(sv[0], IPC_M_HELLO, IPC_VERSION);
		strcpy(want, "second hello");
		break;
	case 2:
		n = raw_msg(buf, IPC_M_HYPER, IPC_F_FD, &hy, sizeof(hy), NULL, 0);
		ck_assert_int_eq(pipe(p), 0);
		ck_assert_int_eq(fdpass_send(sv[0], buf, n, p[0]), 0);
		close(p[0]);
		strcpy(want, "unexpected fd");
		break;
	case 3:
		n = raw_msg(buf, IPC_H_READY, 0, &empty, sizeof(empty), NULL, 0);
		ck_assert_int_eq(fdpass_send(sv[0], buf, n, -1), 0);
		strcpy(want, "message type not allowed in this direction");
		break;
	case 4:
		ck_assert_int_eq(fdpass_send(sv[0], buf, IPC_MSG_MAX + 1, -1), 0);
		strcpy(want, "truncated message");
		break;
	case 5:
		raw_hello(sv[0], IPC_M_HELLO, IPC_VERSION + 1);
		snprintf(want, sizeof(want), "peer (pid %u) speaks ipc version %u, expected %u",
			 (unsigned)getpid(), IPC_VERSION + 1, IPC_VERSION);
		break;
	}
	SPIN_UNTIL(r.nclose == 1);
	ck_assert_int_eq(r.err, IPC_E_INVALID);
	ck_assert_str_eq(r.why, want);
	ck_assert_int_eq(r.nmsg, 0);
	if (p[1] >= 0)
		assert_reader_gone(p[1]);

	ck_assert_int_eq(pipe(q), 0);
	ck_assert_int_eq(ipc_channel_send(r.ch, IPC_M_SHIM, 1, &shim0, sizeof(shim0),
					  NULL, 0, q[0]), -EPIPE);
	assert_reader_gone(q[1]);
	spin(5);
	ck_assert_int_eq(r.nclose, 1);	/* once */
	ipc_channel_free(r.ch);
	free(buf);
}
END_TEST

/* The owner frees the channel in on_message while more messages wait:
 * no further callback, no use after free (run under ASan). */
START_TEST(test_channel_free_in_message)
{
	int ret;

	r.free_in_message = true;
	chan_open(&r, 1, IPC_DIR_TO_HELPER);
	raw_hello(sv[0], IPC_M_HELLO, IPC_VERSION);
	for (int i = 0; i < 3; i++)
		raw_send(sv[0], IPC_M_UNREGISTER, (uint32_t)i, &empty, sizeof(empty), NULL, 0, -1);
	SPIN_UNTIL(r.nmsg == 1);
	ck_assert_ptr_null(r.ch);
	spin(10);
	ck_assert_int_eq(r.nmsg, 1);
	ck_assert_int_eq(r.nclose, 0);
	/* its socket is closed (ECONNRESET: with messages unread) */
	ret = fdpass_send(sv[0], "x", 1, -1);
	ck_assert(ret == -EPIPE || ret == -ECONNRESET);
}
END_TEST

/* The peer sends, then goes before reading the channel's hello: the
 * write fails, yet what it sent is delivered, then EOF (err 0); the owner
 * frees the channel inside on_close. */
START_TEST(test_channel_free_in_close)
{
	r.free_in_close = true;
	chan_open(&r, 1, IPC_DIR_TO_HELPER);
	raw_hello(sv[0], IPC_M_HELLO, IPC_VERSION);
	raw_send(sv[0], IPC_M_SHUTDOWN, 3, &empty, sizeof(empty), NULL, 0, -1);
	close(sv[0]);
	SPIN_UNTIL(r.nclose == 1);
	ck_assert_int_eq(r.nmsg, 1);
	ck_assert_uint_eq(r.types[0], IPC_M_SHUTDOWN);
	ck_assert_int_eq(r.err, 0);
	ck_assert_ptr_null(r.ch);
	spin(10);
	ck_assert_int_eq(r.nclose, 1);
}
END_TEST

/* IPC_QUEUE_MAX messages at most (the hello counts), then -ENOBUFS with
 * the fd closed; the queue then drains in order across EAGAIN. */
START_TEST(test_channel_queue_bound)
{
	uint8_t *buf = xbuf();
	int p[2], rfd, accepted = 0, got = 0;
	size_t after_first;
	ssize_t n;

	chan_open(&r, 0, IPC_DIR_TO_MASTER);
	ck_assert_uint_eq(ipc_channel_queued(r.ch), 1);
	for (int i = 0; i < IPC_QUEUE_MAX + 10; i++) {
		int ret = ipc_channel_send(r.ch, IPC_M_UNREGISTER, (uint32_t)i, &empty,
					   sizeof(empty), NULL, 0, -1);

		ck_assert(ret == 0 || ret == -ENOBUFS);
		accepted += ret == 0;
	}
	ck_assert_int_eq(accepted, IPC_QUEUE_MAX - 1);
	ck_assert_uint_eq(ipc_channel_queued(r.ch), IPC_QUEUE_MAX);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(ipc_channel_send(r.ch, IPC_M_SHIM, 0, &shim0, sizeof(shim0),
					  NULL, 0, p[0]), -ENOBUFS);
	assert_reader_gone(p[1]);

	/* One pass of the loop fills the socket, not more. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	after_first = ipc_channel_queued(r.ch);
	ck_assert_uint_gt(after_first, 0);
	ck_assert_uint_lt(after_first, IPC_QUEUE_MAX);

	ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	for (int round = 0; round < 10000 && got < IPC_QUEUE_MAX; round++) {
		while ((n = fdpass_recv(sv[1], buf, IPC_MSG_MAX, &rfd)) > 0) {
			struct ipc_header h;

			memcpy(&h, buf, sizeof(h));
			/* the hello, then ids 0, 1, ... in order */
			ck_assert_uint_eq(h.type, got ? IPC_M_UNREGISTER : IPC_M_HELLO);
			if (got)
				ck_assert_uint_eq(h.id, (uint32_t)got - 1);
			got++;
		}
		ck_assert_int_eq(n, -EAGAIN);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	ck_assert_int_eq(got, IPC_QUEUE_MAX);
	ck_assert_uint_eq(ipc_channel_queued(r.ch), 0);
	ck_assert_int_eq(r.nclose, 0);
	/* room again */
	ck_assert_int_eq(ipc_channel_send(r.ch, IPC_M_UNREGISTER, 1, &empty, sizeof(empty),
					  NULL, 0, -1), 0);
	ipc_channel_free(r.ch);
	free(buf);
}
END_TEST

/* The queue is bounded by bytes and by fds too (ipc.h): a peer that does
 * not read holds at most IPC_QUEUE_BYTES_MAX bytes and IPC_QUEUE_FDS_MAX
 * fds of the sender, whatever the size of each message. */
START_TEST(test_channel_queue_bytes_fds)
{
	const size_t len = 150 * 1024;
	char *data = calloc(1, len);
	struct ipc_hyper hy = { .io_base = 0, .code = 1, .data_len = (uint32_t)len };
	size_t accepted = 0, hello;
	int p[2], ret;

	ck_assert_ptr_nonnull(data);
	chan_open(&r, 0, IPC_DIR_TO_MASTER);
	hello = ipc_channel_queued_bytes(r.ch);
	while ((ret = ipc_channel_send(r.ch, IPC_M_HYPER, 1, &hy, sizeof(hy), data, len,
				       -1)) == 0)
		accepted++;
	ck_assert_int_eq(ret, -ENOBUFS);
	ck_assert_uint_le(ipc_channel_queued_bytes(r.ch), IPC_QUEUE_BYTES_MAX);
	ck_assert_uint_eq(accepted, (IPC_QUEUE_BYTES_MAX - hello) /
			  (sizeof(struct ipc_header) + sizeof(hy) + len));
	ipc_channel_free(r.ch);
	r.ch = NULL;
	free(data);

	/* fds: IPC_M_SHIM with a pipe each, then -ENOBUFS and the fd closed */
	close(sv[1]);
	ck_assert_int_eq(ipc_socketpair(sv), 0);
	chan_open(&r, 0, IPC_DIR_TO_MASTER);
	accepted = 0;
	for (;;) {
		ck_assert_int_eq(pipe(p), 0);
		ret = ipc_channel_send(r.ch, IPC_M_SHIM, 0, &shim0, sizeof(shim0), NULL, 0, p[0]);
		if (ret < 0)
			break;
		close(p[1]);
		accepted++;
	}
	ck_assert_int_eq(ret, -ENOBUFS);
	assert_reader_gone(p[1]);
	ck_assert_uint_eq(accepted, IPC_QUEUE_FDS_MAX);
	ck_assert_uint_eq(ipc_channel_queued_fds(r.ch), IPC_QUEUE_FDS_MAX);
	ck_assert(!ipc_channel_room(r.ch, 1, 1, 1));
	ck_assert(ipc_channel_room(r.ch, 1, 1, 0));
	ipc_channel_free(r.ch);
}
END_TEST

/* At RLIMIT_NOFILE the kernel cannot install a passed fd and sets
 * MSG_CTRUNC. That is not the peer's fault: the message is delivered with
 * fd_lost (so the helper can refuse that one shim) and the channel goes
 * on, instead of failing as "truncated message". */
START_TEST(test_channel_fd_lost_at_limit)
{
	struct rlimit rl = { 64, 64 };
	int p[2], fill[64], nfill = 0, fd;

	chan_open(&r, 1, IPC_DIR_TO_HELPER);
	raw_hello(sv[0], IPC_M_HELLO, IPC_VERSION);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (nfill < 64 && (fd = dup(0)) >= 0)
		fill[nfill++] = fd;
	ck_assert_int_eq(errno, EMFILE);
	raw_send(sv[0], IPC_M_SHIM, 0, &shim0, sizeof(shim0), NULL, 0, p[0]);
	SPIN_UNTIL(r.nmsg == 1 || r.nclose == 1);
	ck_assert_msg(r.nclose == 0, "channel closed: %s", r.why);
	ck_assert_uint_eq(r.types[0], IPC_M_SHIM);
	ck_assert_int_eq(r.nlost, 1);
	/* The fd was never installed: the pipe's only reader is ours. */
	close(p[0]);
	assert_reader_gone(p[1]);
	while (nfill > 0)
		close(fill[--nfill]);
	/* The channel goes on; a later fd arrives normally. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "later", 5), 5);
	raw_send(sv[0], IPC_M_SHIM, 0, &shim0, sizeof(shim0), NULL, 0, p[0]);
	close(p[0]);
	SPIN_UNTIL(r.nmsg == 2 || r.nclose == 1);
	ck_assert_int_eq(r.nclose, 0);
	ck_assert_int_eq(r.nlost, 1);
	ck_assert_str_eq(r.fd_data, "later");
	ipc_channel_free(r.ch);
}
END_TEST

static Suite *ipc_channel_suite(void)
{
	Suite *s = suite_create("ipc_channel");
	TCase *tch = unit_tcase(s, "channel", 20);

	tcase_add_checked_fixture(tch, chan_setup, chan_teardown);
	tcase_add_test(tch, test_channel_pair_exchange);
	tcase_add_test(tch, test_channel_sends_hello);
	tcase_add_loop_test(tch, test_channel_violations, 0, 6);
	tcase_add_test(tch, test_channel_free_in_message);
	tcase_add_test(tch, test_channel_free_in_close);
	tcase_add_test(tch, test_channel_queue_bound);
	tcase_add_test(tch, test_channel_queue_bytes_fds);
	tcase_add_test(tch, test_channel_fd_lost_at_limit);
	return s;
}

int main(void)
{
	return run_suite(ipc_channel_suite());
}
