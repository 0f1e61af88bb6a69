/*
 * fdpass.h - one message with at most one file descriptor over an
 * AF_UNIX socket (SCM_RIGHTS). Nothing else in the tree touches control
 * data.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* *fd from fdpass_recv() when a message arrived whole but its fd could
 * not be installed (the receiver is at RLIMIT_NOFILE). Negative, so code
 * that only asks "fd >= 0" sees no fd. */
#define FDPASS_FD_LOST	(-2)

/**
 * fdpass_send() - send @len bytes from @buf as one message, with @fd
 * attached when @fd >= 0. Uses MSG_NOSIGNAL | MSG_DONTWAIT.
 * Ownership: @fd stays the caller's in every case (the kernel duplicates
 * it into the message); close your copy after success if handing over.
 * Return: 0, -EAGAIN when the socket is full, or another -errno (a short
 * send is -EMSGSIZE).
 */
int fdpass_send(int sock, const void *buf, size_t len, int fd);

/**
 * fdpass_recv() - receive one message into @buf (@size bytes).
 * @fd: out, the attached fd (close-on-exec, received with
 *      MSG_CMSG_CLOEXEC), -1, or FDPASS_FD_LOST: the message is whole but
 *      the kernel could not install its fd (MSG_CTRUNC and no fd came).
 * Ownership: on success the caller owns *fd; on every error no received fd
 * stays open (*fd = -1).
 * Return: the message length (0 = peer closed), -EAGAIN, -EMSGSIZE when
 * the message or its control data was truncated (MSG_TRUNC, or MSG_CTRUNC
 * with some fds received),
 * -EBADMSG when more than one fd or a non-SCM_RIGHTS control message came,
 * or another -errno.
 */
ssize_t fdpass_recv(int sock, void *buf, size_t size, int *fd);

struct ucred;

/**
 * fdpass_recv_cred() - fdpass_recv() on a socket with SO_PASSCRED: one
 * SCM_CREDENTIALS header is accepted and copied to @cred (pid 0 when the
 * message carried none: it was queued before SO_PASSCRED was set). The
 * kernel fills it from the sending process; only a privileged sender
 * could claim another pid, and only with sendmsg.
 */
ssize_t fdpass_recv_cred(int sock, void *buf, size_t size, int *fd,
			 struct ucred *cred);
