/*
 * fdpass.c - one message with at most one file descriptor over an AF_UNIX
 * socket. This is the only place in the tree that builds or parses
 * control data (STYLE.md section 3).
 *
 * Invariants:
 *  - Received fds are close-on-exec from the moment they exist
 *    (MSG_CMSG_CLOEXEC): a helper spawned concurrently never inherits one.
 *  - Every control message is walked. Whatever is not the single expected
 *    SCM_RIGHTS fd is closed before returning, and on any error no
 *    received fd stays open. A peer can make the kernel truncate control
 *    data (more fds than fit), which sets MSG_CTRUNC: that is an error, and
 *    the fds that did fit are closed too.
 *  - One MSG_CTRUNC is not the peer's doing: a receiver at RLIMIT_NOFILE
 *    gets the whole message but none of its fds (the kernel cannot
 *    install them). That case - MSG_CTRUNC, no fd at all, nothing else
 *    wrong - is returned as the message with *fd = FDPASS_FD_LOST, so the
 *    caller can refuse what the fd was for instead of failing the whole
 *    channel.
 *  - The receive control buffer has room for several fds on purpose: if it
 *    held exactly one, a second fd would be reported as MSG_CTRUNC instead
 *    of the more precise -EBADMSG. (The kernel drops fds that do not fit.)
 *
 * Ownership: fdpass_send() never takes the caller's fd; fdpass_recv()
 * hands the caller exactly one fd on success, none on failure.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "fdpass.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Room for this many fds (and a little more) in one receive. */
#define FDPASS_RECV_FDS 16

int fdpass_send(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}

	/* MSG_NOSIGNAL: a dead peer is -EPIPE, not a process-wide SIGPIPE.
	 * MSG_DONTWAIT: callers run inside the event loop. Without an fd
	 * this is a plain send() (sendto without an address): the confined
	 * helper, which never passes fds, may not call sendmsg at all. */
	do
		n = fd >= 0 ? sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)
			    : send(sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)n != len)
		return -EMSGSIZE;	/* only on stream sockets */
	return 0;
}

/* Close every fd carried by one SCM_RIGHTS control message, except the
 * first one when @keep is still free; returns how many were closed. */
static unsigned fdpass_take_rights(struct cmsghdr *cmsg, int *keep)
{
	size_t payload = cmsg->cmsg_len - CMSG_LEN(0);
	size_t nfds = payload / sizeof(int);
	const unsigned char *data = CMSG_DATA(cmsg);
	unsigned closed = 0;

	for (size_t i = 0; i < nfds; i++) {
		int rfd;

		memcpy(&rfd, data + i * sizeof(int), sizeof(int));
		if (rfd < 0)
			continue;
		if (*keep < 0) {
			*keep = rfd;
		} else {
			close(rfd);
			closed++;
		}
	}
	return closed;
}

ssize_t fdpass_recv(int sock, void *buf, size_t size, int *fd)
{
	return fdpass_recv_cred(sock, buf, size, fd, NULL);
}

ssize_t fdpass_recv_cred(int sock, void *buf, size_t size, int *fd,
			 struct ucred *cred)
{
	union {
		struct cmsghdr align;
		/* Several fds plus one credentials header, so that the common
		 * "too many fds" and "unexpected header" cases are seen as
		 * such rather than as truncation. */
		char buf[CMSG_SPACE(FDPASS_RECV_FDS * sizeof(int)) +
			 CMSG_SPACE(sizeof(struct ucred))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	bool bad = false, got_cred = false;
	int kept = -1;
	ssize_t n;

	*fd = -1;
	if (cred)
		memset(cred, 0, sizeof(*cred));
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;

	/* Walk every header, even after a problem, so that every fd the
	 * kernel installed is accounted for and closed when not kept. */
	for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg;
	     cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS) {
			if (fdpass_take_rights(cmsg, &kept) > 0)
				bad = true;	/* more than one fd */
		} else if (cred && !got_cred && cmsg->cmsg_level == SOL_SOCKET &&
			   cmsg->cmsg_type == SCM_CREDENTIALS &&
			   cmsg->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
			memcpy(cred, CMSG_DATA(cmsg), sizeof(*cred));
			got_cred = true;	/* asked for, once */
		} else {
			bad = true;	/* nothing else is expected */
		}
	}

	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == MSG_CTRUNC &&
	    kept < 0 && !bad && n > 0) {
		*fd = FDPASS_FD_LOST;
		return n;
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (kept >= 0)
			close(kept);
		return -EMSGSIZE;
	}
	if (bad) {
		if (kept >= 0)
			close(kept);
		return -EBADMSG;
	}
	if (n == 0 && kept >= 0) {
		/* An empty message cannot be told from end of file by the
		 * caller, so it cannot own an fd either. */
		close(kept);
		return 0;
	}
	*fd = kept;
	return n;
}
