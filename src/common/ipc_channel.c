/*
 * ipc_channel.c - the event-driven transport of ipc.h messages.
 *
 * Transport (struct ipc_channel): one SOCK_SEQPACKET socket, one recvmsg
 * per message into an IPC_MSG_MAX buffer (fdpass_recv; truncation is a
 * protocol violation, except an fd the kernel could not install because
 * we are at our fd limit: that message is delivered with fd_lost set), a
 * FIFO send queue bounded by IPC_QUEUE_MAX messages, IPC_QUEUE_BYTES_MAX
 * bytes and IPC_QUEUE_FDS_MAX fds, and
 * EV_WRITE asked for only while that queue is non-empty. A message sent
 * while the queue is empty is written at once and never queued. The first message
 * each way is the hello; the channel queues its own at creation and
 * refuses anything but the peer's hello, with the same IPC_VERSION, first.
 *
 * Callbacks may free the channel: while a callback runs the channel is
 * marked "dispatching" and ipc_channel_free() only detaches it (closes the
 * socket, drops the queue); the memory goes when the dispatch unwinds, and
 * no member is touched in between. Once running, the channel does only
 * send (no fd attached), sendmsg (an fd attached: never in the helper),
 * recvmsg and libevent calls, as the confined helper requires.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/event.h>

#include "fdpass.h"

#define IPC_HDR_SIZE sizeof(struct ipc_header)
#define IPC_READ_BURST 64	/* messages per read callback, then yield */

struct ipc_qmsg {
	struct ipc_qmsg *next;
	int fd;			/* attached, owned, or -1 */
	size_t len;
	uint8_t data[];
};

struct ipc_channel {
	struct event *rev;	/* EV_READ | EV_PERSIST while open */
	struct event *wev;	/* EV_WRITE | EV_PERSIST while queue non-empty */
	int fd;
	enum ipc_dir incoming;
	ipc_on_message_fn on_message;
	ipc_on_close_fn on_close;
	void *ctx;
	struct ipc_qmsg *head;
	struct ipc_qmsg **tail;
	size_t queued;		/* messages */
	size_t queued_bytes;	/* their lengths */
	size_t queued_fds;	/* their attached fds */
	bool write_armed;
	bool write_dead;	/* the peer stopped reading: sends are -EPIPE */
	bool hello_seen;	/* the peer's hello arrived */
	bool passcred;		/* SO_PASSCRED: messages carry the sender's pid */
	bool adopting;		/* ipc_channel_adopt(): discarding stale messages */
	uint64_t adopt_nonce;
	size_t stale;		/* messages discarded while adopting */
	struct ucred cred;	/* of the message being handled */
	bool closed;		/* failed or detached: no more I/O, no callbacks */
	unsigned dispatching;	/* callbacks running on our stack */
	bool free_pending;	/* the owner freed it during a callback */
	char why[96];		/* reason text handed to on_close */
	uint8_t *rbuf;		/* IPC_MSG_MAX bytes */
};

static void ipc_queue_drop(struct ipc_channel *ch)
{
	struct ipc_qmsg *m;

	while ((m = ch->head)) {
		ch->head = m->next;
		if (m->fd >= 0)
			close(m->fd);
		free(m);
	}
	ch->tail = &ch->head;
	ch->queued = 0;
	ch->queued_bytes = 0;
	ch->queued_fds = 0;
}

/* Stop all I/O: events off, socket closed, queue (and its fds) dropped. */
static void ipc_channel_detach(struct ipc_channel *ch)
{
	ch->closed = true;
	if (ch->rev)
		event_del(ch->rev);
	if (ch->wev)
		event_del(ch->wev);
	ch->write_armed = false;
	if (ch->fd >= 0) {
		close(ch->fd);
		ch->fd = -1;
	}
	ipc_queue_drop(ch);
}

static void ipc_channel_destroy(struct ipc_channel *ch)
{
	ipc_channel_detach(ch);
	if (ch->rev)
		event_free(ch->rev);
	if (ch->wev)
		event_free(ch->wev);
	free(ch->rbuf);
	free(ch);
}

/* Fail once: detach, then tell the owner. The caller holds a dispatching
 * reference, so the owner may free the channel inside on_close. */
static void ipc_channel_fail(struct ipc_channel *ch, int err, const char *why)
{
	if (ch->closed)
		return;
	if (why != ch->why)
		snprintf(ch->why, sizeof(ch->why), "%s", why);
	ipc_channel_detach(ch);
	if (!ch->free_pending)
		ch->on_close(ch, err, ch->why, ch->ctx);
}

/*
 * While adopting: 1 = discard this message (a stale one meant for the
 * dead master), 0 = it is the IPC_H_ADOPTED answering our nonce (adopting
 * ends; it is decoded as usual), -1 = fail (why in ch->why). Only the
 * header and the first fields are looked at: a stale message need not
 * even be of our version.
 */
static int ipc_channel_adopt_filter(struct ipc_channel *ch, size_t n)
{
	struct ipc_header hdr;
	uint32_t version;
	uint64_t nonce;
	const size_t at = IPC_HDR_SIZE;

	if (n >= IPC_HDR_SIZE)
		memcpy(&hdr, ch->rbuf, sizeof(hdr));
	if (n < IPC_HDR_SIZE || hdr.type != IPC_H_ADOPTED) {
		if (++ch->stale > IPC_ADOPT_STALE_MAX) {
			snprintf(ch->why, sizeof(ch->why),
				 "more than %u messages before its adoption answer",
				 IPC_ADOPT_STALE_MAX);
			return -1;
		}
		return 1;
	}
	/* The version is the first field in every version of the struct. */
	if (n < at + sizeof(version)) {
		snprintf(ch->why, sizeof(ch->why), "truncated adoption answer");
		return -1;
	}
	memcpy(&version, ch->rbuf + at, sizeof(version));
	if (version != IPC_VERSION) {
		snprintf(ch->why, sizeof(ch->why),
			 "helper speaks ipc version %u, expected %u", version, IPC_VERSION);
		return -1;
	}
	if (n < at + offsetof(struct ipc_adopted, nonce) + sizeof(nonce)) {
		snprintf(ch->why, sizeof(ch->why), "truncated adoption answer");
		return -1;
	}
	memcpy(&nonce, ch->rbuf + at + offsetof(struct ipc_adopted, nonce), sizeof(nonce));
	if (nonce != ch->adopt_nonce)
		return ++ch->stale > IPC_ADOPT_STALE_MAX ? -1 : 1;	/* an earlier master's */
	ch->adopting = false;
	return 0;
}

/* Handle one received message; false when reading must stop. */
static bool ipc_channel_handle(struct ipc_channel *ch, ssize_t n, int rfd)
{
	union { max_align_t align; uint8_t buf[IPC_FIXED_MAX]; } fixed;
	struct ipc_view v;
	const char *why = NULL;

	/* A lost fd (FDPASS_FD_LOST: we are at RLIMIT_NOFILE) counts as
	 * attached for validation - the header must say so and the type
	 * must take one - and is then delivered as v.fd_lost, v.fd = -1. */
	bool lost = rfd == FDPASS_FD_LOST;

	if (ch->adopting) {
		int a = ipc_channel_adopt_filter(ch, (size_t)n);

		if (a != 0) {
			if (rfd >= 0)
				close(rfd);
			if (a < 0)
				ipc_channel_fail(ch, IPC_E_INVALID, ch->why);
			return a > 0;
		}
	}
	if (ipc_decode(ch->rbuf, (size_t)n, rfd >= 0 || lost, ch->incoming, &v,
		       fixed.buf, &why) != 0) {
		if (rfd >= 0)
			close(rfd);
		ipc_channel_fail(ch, IPC_E_INVALID, why);
		return false;
	}

	if (v.type == IPC_M_HELLO || v.type == IPC_H_HELLO) {
		const struct ipc_hello *h = v.fixed;

		if (ch->hello_seen) {
			ipc_channel_fail(ch, IPC_E_INVALID, "second hello");
			return false;
		}
		if (h->version != IPC_VERSION) {
			snprintf(ch->why, sizeof(ch->why),
				 "peer (pid %u) speaks ipc version %u, expected %u",
				 h->pid, h->version, IPC_VERSION);
			ipc_channel_fail(ch, IPC_E_INVALID, ch->why);
			return false;
		}
		ch->hello_seen = true;
		return true;
	}
	if (!ch->hello_seen) {
		if (rfd >= 0)
			close(rfd);
		ipc_channel_fail(ch, IPC_E_INVALID, "first message is not a hello");
		return false;
	}

	v.fd = lost ? -1 : rfd;	/* the callback owns it now */
	v.fd_lost = lost;
	v.sender_pid = ch->passcred ? ch->cred.pid : 0;
	v.sender_uid = ch->passcred ? ch->cred.uid : (uid_t)-1;
	ch->on_message(ch, &v, ch->ctx);
	return !ch->closed && !ch->free_pending;
}

static void ipc_channel_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_channel *ch = arg;

	ch->dispatching++;
	for (int i = 0; i < IPC_READ_BURST && !ch->closed; i++) {
		int rfd = -1;
		ssize_t n = ch->passcred ?
			fdpass_recv_cred(ch->fd, ch->rbuf, IPC_MSG_MAX, &rfd, &ch->cred) :
			fdpass_recv(ch->fd, ch->rbuf, IPC_MSG_MAX, &rfd);

		if (n == -EAGAIN)
			break;
		if (n == -EMSGSIZE || n == -EBADMSG) {
			ipc_channel_fail(ch, IPC_E_INVALID, n == -EMSGSIZE ?
					 "truncated message" : "unexpected control data");
			break;
		}
		if (n <= 0) {
			/* errno as a number: strerror() may want locale files,
			 * which a confined helper cannot open. */
			if (n < 0)
				snprintf(ch->why, sizeof(ch->why), "recvmsg failed: errno %d", (int)-n);
			ipc_channel_fail(ch, (int)n, n ? ch->why : "peer closed the channel");
			break;
		}
		if (!ipc_channel_handle(ch, n, rfd))
			break;
	}
	if (--ch->dispatching == 0 && ch->free_pending)
		ipc_channel_destroy(ch);
}

static void ipc_channel_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_channel *ch = arg;
	struct ipc_qmsg *m;

	ch->dispatching++;
	while (!ch->closed && (m = ch->head)) {
		int r = fdpass_send(ch->fd, m->data, m->len, m->fd);

		if (r == -EAGAIN)
			break;
		if (r == -EPIPE || r == -ECONNRESET) {
			/* The peer is gone, but what it sent before going
			 * (say IPC_H_VM_LOST) is still ours to read: stop
			 * writing and let the read side report the EOF. */
			ch->write_dead = true;
			ipc_queue_drop(ch);
			break;
		}
		if (r < 0) {
			snprintf(ch->why, sizeof(ch->why), "sendmsg failed: errno %d", -r);
			ipc_channel_fail(ch, r, ch->why);
			break;
		}
		/* Sent: the kernel holds its own reference to the fd. */
		ch->head = m->next;
		if (!ch->head)
			ch->tail = &ch->head;
		ch->queued--;
		ch->queued_bytes -= m->len;
		if (m->fd >= 0) {
			close(m->fd);
			ch->queued_fds--;
		}
		free(m);
	}
	if (!ch->closed && !ch->head && ch->write_armed) {
		event_del(ch->wev);
		ch->write_armed = false;
	}
	if (--ch->dispatching == 0 && ch->free_pending)
		ipc_channel_destroy(ch);
}

/* Queue one message; consumes @fd in every case. */
static int ipc_channel_queue(struct ipc_channel *ch, uint32_t type, uint32_t id,
			     const void *fixed, size_t fixed_len,
			     const void *var, size_t var_len, int fd)
{
	struct ipc_qmsg *m;
	size_t total;
	ssize_t n;

	if (ch->closed || ch->write_dead) {
		n = -EPIPE;
		goto fail;
	}
	if (fixed_len > IPC_MSG_MAX || var_len > IPC_MSG_MAX ||
	    IPC_HDR_SIZE + fixed_len + var_len > IPC_MSG_MAX) {
		n = -EMSGSIZE;
		goto fail;
	}
	total = IPC_HDR_SIZE + fixed_len + var_len;
	if (!ipc_channel_room(ch, 1, total, fd >= 0)) {
		n = -ENOBUFS;
		goto fail;
	}
	m = malloc(sizeof(*m) + total);
	if (!m) {
		n = -ENOMEM;
		goto fail;
	}
	n = ipc_encode_into(m->data, total, type, id, fd >= 0, fixed,
			    fixed_len, var, var_len);
	if (n >= 0 && !ch->head && !ch->write_armed &&
	    type != IPC_M_HELLO && type != IPC_H_HELLO) {
		/* Nothing queued before it: straight to the socket, and the
		 * write event is not touched (issue 10: two epoll_ctl and an
		 * epoll_wait per message before). Anything but success goes
		 * through the queue, whose write callback handles EAGAIN and
		 * reports errors from the loop, never from inside a send.
		 * The hello is always queued: the channel is created
		 * before the loop runs, and its owner's first messages
		 * follow the hello from the queue. */
		int r = fdpass_send(ch->fd, m->data, (size_t)n, fd);

		if (r >= 0) {
			if (fd >= 0)
				close(fd);	/* the kernel holds its own reference */
			free(m);
			return 0;
		}
	}
	if (n >= 0 && !ch->write_armed) {
		/* Not armed means the queue is empty: start writing. */
		if (event_add(ch->wev, NULL) < 0)
			n = -ENOMEM;
		else
			ch->write_armed = true;
	}
	if (n < 0) {
		free(m);
		goto fail;
	}
	m->len = (size_t)n;
	m->fd = fd;	/* owned by the queue now */
	m->next = NULL;
	*ch->tail = m;
	ch->tail = &m->next;
	ch->queued++;
	ch->queued_bytes += m->len;
	ch->queued_fds += fd >= 0;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return (int)n;
}

int ipc_channel_send(struct ipc_channel *ch, uint32_t type, uint32_t id,
		     const void *fixed, size_t fixed_len, const void *var,
		     size_t var_len, int fd)
{
	if (type == IPC_M_HELLO || type == IPC_H_HELLO) {	/* the channel's own */
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	return ipc_channel_queue(ch, type, id, fixed, fixed_len, var, var_len, fd);
}

static int ipc_channel_init(struct ipc_channel **out, struct event_base *base,
			    int fd, enum ipc_dir incoming, ipc_on_message_fn on_message,
			    ipc_on_close_fn on_close, void *ctx, const uint64_t *adopt_nonce)
{
	struct ipc_channel *ch;
	struct ipc_hello hello = { .version = IPC_VERSION, .pid = (uint32_t)getpid() };
	int flags, r;

	*out = NULL;
	if (incoming != IPC_DIR_TO_HELPER && incoming != IPC_DIR_TO_MASTER) {
		close(fd);
		return -EINVAL;
	}
	if (!(ch = calloc(1, sizeof(*ch)))) {
		close(fd);
		return -ENOMEM;
	}
	ch->fd = fd;	/* owned from here on: destroy closes it */
	ch->incoming = incoming;
	ch->on_message = on_message;
	ch->on_close = on_close;
	ch->ctx = ctx;
	ch->tail = &ch->head;

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	ch->rbuf = malloc(IPC_MSG_MAX);
	ch->rev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_channel_on_read, ch);
	ch->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, ipc_channel_on_write, ch);
	if (!ch->rbuf || !ch->rev || !ch->wev || event_add(ch->rev, NULL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	if (adopt_nonce) {
		/* The hellos were exchanged with an earlier master. The
		 * kernel attaches the sender's pid to what the helper sends
		 * from now on: that, not its word, says who it is. */
		int on = 1;

		if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0) {
			r = -errno;
			goto fail;
		}
		ch->passcred = true;
		ch->adopting = true;
		ch->adopt_nonce = *adopt_nonce;
		ch->hello_seen = true;
		*out = ch;
		return 0;
	}
	/* Our hello goes first: the queue is empty and FIFO. */
	r = ipc_channel_queue(ch, incoming == IPC_DIR_TO_HELPER ? IPC_H_HELLO : IPC_M_HELLO,
			      0, &hello, sizeof(hello), NULL, 0, -1);
	if (r < 0)
		goto fail;
	*out = ch;
	return 0;
fail:
	ipc_channel_destroy(ch);
	return r;
}

int ipc_channel_new(struct ipc_channel **out, struct event_base *base,
		    int fd, enum ipc_dir incoming, ipc_on_message_fn on_message,
		    ipc_on_close_fn on_close, void *ctx)
{
	return ipc_channel_init(out, base, fd, incoming, on_message, on_close, ctx, NULL);
}

int ipc_channel_adopt(struct ipc_channel **out, struct event_base *base,
		      int fd, uint64_t nonce, ipc_on_message_fn on_message,
		      ipc_on_close_fn on_close, void *ctx)
{
	return ipc_channel_init(out, base, fd, IPC_DIR_TO_MASTER, on_message, on_close,
				ctx, &nonce);
}

void ipc_channel_adopted(struct ipc_channel *ch)
{
	int off = 0;

	/* Messages already queued keep their credentials (accepted). */
	if (ch->passcred && !ch->closed)
		setsockopt(ch->fd, SOL_SOCKET, SO_PASSCRED, &off, sizeof(off));
	ch->adopting = false;
}

int ipc_channel_fd(const struct ipc_channel *ch)
{
	return ch && !ch->closed ? ch->fd : -1;
}

struct ipc_channel *ipc_channel_free(struct ipc_channel *ch)
{
	if (ch && ch->dispatching > 0) {
		/* Inside one of our callbacks: stop everything now, release
		 * the memory when the callback unwinds. */
		ch->free_pending = true;
		ipc_channel_detach(ch);
	} else if (ch) {
		ipc_channel_destroy(ch);
	}
	return NULL;
}

void ipc_channel_set_handlers(struct ipc_channel *ch, ipc_on_message_fn on_message,
			      ipc_on_close_fn on_close, void *ctx)
{
	ch->on_message = on_message;
	ch->on_close = on_close;
	ch->ctx = ctx;
}

size_t ipc_channel_queued(const struct ipc_channel *ch)
{
	return ch->queued;
}

bool ipc_channel_room(const struct ipc_channel *ch, size_t n, size_t bytes,
		      size_t fds)
{
	return n <= IPC_QUEUE_MAX - ch->queued &&
	       bytes <= IPC_QUEUE_BYTES_MAX - ch->queued_bytes &&
	       fds <= IPC_QUEUE_FDS_MAX - ch->queued_fds;
}

size_t ipc_channel_queued_bytes(const struct ipc_channel *ch)
{
	return ch->queued_bytes;
}

size_t ipc_channel_queued_fds(const struct ipc_channel *ch)
{
	return ch->queued_fds;
}
