/*
 * check_fdpass.c - unit tests of fdpass.c: round trips, close-on-exec,
 * and that every failure path leaves no received fd open (counted in
 * /proc/self/fd, and proven by the pipe reader being gone: a write to the
 * pipe then fails with EPIPE).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdpass.h"
#include "unit_main.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/* Send raw @nfds fds in one SCM_RIGHTS header (or @ncmsg headers of one). */
static void send_raw_fds(int sock, const void *buf, size_t len, const int *fds,
			 int nfds, bool split)
{
	char control[CMSG_SPACE(sizeof(int) * 256) * 2] __attribute__((aligned(8)));
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = control };
	struct cmsghdr *c;

	memset(control, 0, sizeof(control));
	msg.msg_controllen = split ? CMSG_SPACE(sizeof(int)) * (size_t)nfds
				   : CMSG_SPACE(sizeof(int) * (size_t)nfds);
	c = CMSG_FIRSTHDR(&msg);
	if (split) {
		for (int i = 0; i < nfds; i++) {
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fds[i], sizeof(int));
			c = CMSG_NXTHDR(&msg, c);
		}
	} else {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	ck_assert_int_eq(sendmsg(sock, &msg, 0), (ssize_t)len);
}

/* The write end of a pipe whose every read end is closed fails with EPIPE. */
static void assert_reader_gone(int wfd)
{
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	ck_assert_int_eq(write(wfd, "x", 1), -1);
	ck_assert_int_eq(errno, EPIPE);
}

/* fdpass_recv() on @sock into the @len bytes at @buf fails with @want,
 * hands out no fd and leaves no new fd open. */
static void assert_recv_refused(int sock, void *buf, size_t len, int want)
{
	int rfd = 42, before = count_fds();

	ck_assert_int_eq(fdpass_recv(sock, buf, len, &rfd), want);
	ck_assert_int_eq(rfd, -1);
	ck_assert_int_eq(count_fds(), before);
}

START_TEST(test_roundtrip_fd)
{
	int sv[2], p[2], rfd = -1;
	char buf[64], data[16];
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "payload", 7), 7);

	ck_assert_int_eq(fdpass_send(sv[0], "hello", 5, p[0]), 0);
	close(p[0]);	/* the caller's copy stays its own */
	n = fdpass_recv(sv[1], buf, sizeof(buf), &rfd);
	ck_assert_int_eq(n, 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_int_ge(rfd, 0);
	ck_assert(fcntl(rfd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(read(rfd, data, sizeof(data)), 7);
	ck_assert_mem_eq(data, "payload", 7);
	close(rfd);
	assert_reader_gone(p[1]);
}
END_TEST

START_TEST(test_roundtrip_no_fd)
{
	int sv[2], rfd = 42;
	char buf[64];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(fdpass_send(sv[0], "abc", 3, -1), 0);
	ck_assert_int_eq(fdpass_recv(sv[1], buf, sizeof(buf), &rfd), 3);
	ck_assert_int_eq(rfd, -1);
	ck_assert_mem_eq(buf, "abc", 3);
}
END_TEST

/* Two fds, in one header (_i == 0) or in two headers (_i == 1). */
START_TEST(test_two_fds_rejected)
{
	int sv[2], p1[2], p2[2], fds[2];
	char buf[64];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(pipe(p1), 0);
	ck_assert_int_eq(pipe(p2), 0);
	fds[0] = p1[0];
	fds[1] = p2[0];
	send_raw_fds(sv[0], "two", 3, fds, 2, _i == 1);
	close(p1[0]);
	close(p2[0]);

	assert_recv_refused(sv[1], buf, sizeof(buf), -EBADMSG);
	assert_reader_gone(p1[1]);
	assert_reader_gone(p2[1]);
}
END_TEST

START_TEST(test_truncated_message)
{
	int sv[2], p[2];
	char big[100], small[10];

	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fdpass_send(sv[0], big, sizeof(big), p[0]), 0);
	close(p[0]);

	assert_recv_refused(sv[1], small, sizeof(small), -EMSGSIZE);
	assert_reader_gone(p[1]);
}
END_TEST

/* More fds than the control buffer holds: MSG_CTRUNC, nothing leaks. */
START_TEST(test_control_truncated)
{
	enum { N = 200 };
	int sv[2], p[2], fds[N];
	char buf[16];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(pipe(p), 0);
	for (int i = 0; i < N; i++)
		fds[i] = p[0];
	send_raw_fds(sv[0], "many", 4, fds, N, false);
	close(p[0]);

	assert_recv_refused(sv[1], buf, sizeof(buf), -EMSGSIZE);
	assert_reader_gone(p[1]);
}
END_TEST

/* A control message other than SCM_RIGHTS (credentials) is refused, and
 * the fd that came with it is closed. */
START_TEST(test_credentials_rejected)
{
	int sv[2], p[2], on = 1;
	char buf[16];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fdpass_send(sv[0], "cred", 4, p[0]), 0);
	close(p[0]);

	assert_recv_refused(sv[1], buf, sizeof(buf), -EBADMSG);
	assert_reader_gone(p[1]);
}
END_TEST

START_TEST(test_peer_closed_and_eagain)
{
	int sv[2], rfd = 42;
	char buf[16];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(fdpass_recv(sv[1], buf, sizeof(buf), &rfd), -EAGAIN);
	ck_assert_int_eq(rfd, -1);
	close(sv[0]);
	ck_assert_int_eq(fdpass_recv(sv[1], buf, sizeof(buf), &rfd), 0);
	ck_assert_int_eq(rfd, -1);
}
END_TEST

/* Sending never blocks: a full socket is -EAGAIN, a closed peer -EPIPE
 * (and no SIGPIPE: the default disposition would kill this test). */
START_TEST(test_send_full_and_closed)
{
	int sv[2], size = 4096, r = 0;
	char buf[1024] = { 0 };

	signal(SIGPIPE, SIG_DFL);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
	for (int i = 0; i < 100000 && r == 0; i++)
		r = fdpass_send(sv[0], buf, sizeof(buf), -1);
	ck_assert_int_eq(r, -EAGAIN);
	/* A peer that closed with nothing unread: -EPIPE. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	close(sv[1]);
	ck_assert_int_eq(fdpass_send(sv[0], buf, 1, -1), -EPIPE);
}
END_TEST

static Suite *fdpass_suite(void)
{
	Suite *s = suite_create("fdpass");
	TCase *tc = unit_tcase(s, "core", 10);

	tcase_add_test(tc, test_roundtrip_fd);
	tcase_add_test(tc, test_roundtrip_no_fd);
	tcase_add_loop_test(tc, test_two_fds_rejected, 0, 2);
	tcase_add_test(tc, test_truncated_message);
	tcase_add_test(tc, test_control_truncated);
	tcase_add_test(tc, test_credentials_rejected);
	tcase_add_test(tc, test_peer_closed_and_eagain);
	tcase_add_test(tc, test_send_full_and_closed);
	return s;
}

int main(void)
{
	return run_suite(fdpass_suite());
}
