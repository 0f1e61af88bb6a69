/*
 * fuzz_fdpass.c - libFuzzer harness for src/common/fdpass.c: fdpass_recv()
 * on what a hostile peer can put on an AF_UNIX socket, driven through a
 * real socketpair per input: messages with no fd, one, too many (up to
 * the kernel's 253 per header, in several SCM_RIGHTS headers), fds with
 * no data at all, credentials the receiver did not ask for, and receive
 * buffers too small for the data (MSG_TRUNC).
 *
 * Input: byte 0: bits 0-1 socket type (SEQPACKET, DGRAM, STREAM), bit 2
 * SO_PASSCRED on the receiver (every message then carries credentials);
 * byte 1: the receive buffer size. Then up to 8 records: flags (bit 0:
 * add SCM_CREDENTIALS), fd count, SCM_RIGHTS header count (1..4), data
 * length, data.
 * Invariants checked besides "no crash, no leak, no UB":
 *  - fdpass_recv() returns a length, 0, -EAGAIN, -EMSGSIZE, -EBADMSG (or
 *    -ECONNRESET / -EPIPE on a stream); *fd is -1 unless it returned a
 *    length > 0, and a kept fd is close-on-exec;
 *  - a message that carried more than one fd, or credentials, is never
 *    accepted; a truncated one is -EMSGSIZE (unless on a stream);
 *  - no fd leaks: after the sockets are closed, the fd numbers the
 *    kernel could have installed are all free again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdpass.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS	8
#define MAX_HDRS	4
#define SCM_MAX		253	/* the kernel's SCM_MAX_FD */
#define CHECK_FDS	(MAX_RECORDS * SCM_MAX + 8)

static int devnull = -1;

/* Send one record; return how many fds went with it (0 when it failed). */
static size_t send_record(int sock, uint8_t flags, size_t nfds, size_t nhdr,
			  const uint8_t *p, size_t len)
{
	static union {
		struct cmsghdr align;
		char buf[MAX_HDRS * CMSG_SPACE(SCM_MAX * sizeof(int)) +
			 CMSG_SPACE(sizeof(struct ucred))];
	} control;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	size_t left = nfds, space = 0;

	memset(&control, 0, sizeof(control));
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	c = CMSG_FIRSTHDR(&msg);
	for (size_t h = 0; h < nhdr && left > 0; h++) {
		size_t k = h + 1 == nhdr ? left : (left + nhdr - h - 1) / (nhdr - h);

		if (k > SCM_MAX)
			k = SCM_MAX;
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(k * sizeof(int));
		for (size_t i = 0; i < k; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(int), &devnull, sizeof(int));
		space += CMSG_SPACE(k * sizeof(int));
		left -= k;
		c = (struct cmsghdr *)((char *)c + CMSG_SPACE(k * sizeof(int)));
	}
	if (flags & 1) {
		struct ucred cred = { getpid(), getuid(), getgid() };

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(cred));
		memcpy(CMSG_DATA(c), &cred, sizeof(cred));
		space += CMSG_SPACE(sizeof(cred));
	}
	msg.msg_controllen = space;
	if (!space)
		msg.msg_control = NULL;
	if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return 0;
	return nfds - left;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { SOCK_SEQPACKET, SOCK_DGRAM, SOCK_STREAM, SOCK_SEQPACKET };
	static uint8_t rbuf[256];
	static bool was_open[CHECK_FDS];
	size_t pos = 2, rsize, total_fds = 0, max_fds = 0, nrec = 0;
	bool stream;
	int sv[2], lowest, type, one = 1;

	if (size < 2)
		return 0;
	if (devnull < 0)
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(devnull >= 0);
	type = types[data[0] & 3];
	stream = type == SOCK_STREAM;
	rsize = data[1];
	/* The lowest free fd number now: received fds land from here up.
	 * Numbers above it may be open already (inherited): remember which. */
	lowest = dup(devnull);
	FUZZ_CHECK(lowest >= 0);
	close(lowest);
	/* At most this many fds can be sent (a pre-pass over the records). */
	for (size_t p = 2, r = 0; r < MAX_RECORDS && p + 4 <= size; r++) {
		size_t len = data[p + 3];

		max_fds += data[p + 1] < SCM_MAX ? data[p + 1] : SCM_MAX;
		p += 4 + (len < size - p - 4 ? len : size - p - 4);
	}
	for (size_t f = 0; f < max_fds + 8; f++)
		was_open[f] = fcntl(lowest + (int)f, F_GETFD) >= 0;

	FUZZ_CHECK(socketpair(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
	if (data[0] & 4) {
		FUZZ_CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);
	}
	while (nrec < MAX_RECORDS && pos + 4 <= size) {
		uint8_t flags = data[pos], nfds = data[pos + 1];
		size_t nhdr = 1 + data[pos + 2] % MAX_HDRS, len = data[pos + 3];

		pos += 4;
		if (len > size - pos)
			len = size - pos;
		total_fds += send_record(sv[0], flags, nfds, nhdr, data + pos, len);
		pos += len;
		nrec++;
	}
	/* fds with no message at all: shut the sender, then read to EOF. */
	shutdown(sv[0], SHUT_WR);

	for (int i = 0; i < 2 * MAX_RECORDS + 2; i++) {
		int fd = 12345;
		ssize_t n = fdpass_recv(sv[1], rbuf, rsize, &fd);

		FUZZ_CHECK(n >= 0 || n == -EAGAIN || n == -EMSGSIZE || n == -EBADMSG ||
			   (stream && (n == -ECONNRESET || n == -EPIPE)));
		if (n <= 0) {
			FUZZ_CHECK(fd == -1);
		} else if (fd >= 0) {
			FUZZ_CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
			close(fd);
		}
		/* Credentials are never accepted with a message. */
		if (n > 0 && (data[0] & 4))
			FUZZ_CHECK(0);
		if (n == -EAGAIN)
			break;
	}
	close(sv[0]);
	close(sv[1]);
	/* Every fd the kernel may have installed is closed again. */
	FUZZ_CHECK(total_fds <= max_fds);
	for (size_t f = 0; f < max_fds + 8; f++)
		FUZZ_CHECK((fcntl(lowest + (int)f, F_GETFD) >= 0) == was_open[f]);
	return 0;
}
