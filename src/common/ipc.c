/*
 * ipc.c - the master <-> helper message format and its transport.
 *
 * Format (ipc.h): struct ipc_header | fixed struct | variable part. Every
 * type is described by ONE static table (ipc_types[]): direction, exact
 * fixed size, where the u32 length of the variable part sits in the fixed
 * struct (or none), the largest variable part, and whether an fd is
 * required or forbidden. Encoding and decoding are pure functions over
 * that table; all lengths are checked before anything is copied, so a
 * hostile helper costs the master only that helper (STYLE.md 1, 2).
 *
 * Transport (struct ipc_channel): one SOCK_SEQPACKET socket, one recvmsg
 * per message into an IPC_MSG_MAX buffer (fdpass_recv; truncation is a
 * protocol violation, except an fd the kernel could not install because
 * we are at our fd limit: that message is delivered with fd_lost set), a
 * FIFO send queue bounded by IPC_QUEUE_MAX messages, IPC_QUEUE_BYTES_MAX
 * bytes and IPC_QUEUE_FDS_MAX fds, and
 * EV_WRITE asked for only while that queue is non-empty. The first message
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
/* The variable part may fill the rest of a maximum-size message. */
#define IPC_VAR_REST(fixed) (IPC_MSG_MAX - IPC_HDR_SIZE - sizeof(fixed))
#define IPC_NO_VAR ((size_t)-1)
#define IPC_READ_BURST 64	/* messages per read callback, then yield */

enum ipc_fd_rule { IPC_FD_FORBIDDEN = 0, IPC_FD_REQUIRED };

struct ipc_type_info {
	uint32_t type;
	enum ipc_dir dir;
	const char *name;
	size_t fixed_size;	/* exact */
	size_t var_len_off;	/* offset of the u32 length, or IPC_NO_VAR */
	size_t var_max;
	enum ipc_fd_rule fd;
};

#define IPC_T(t, d, s, field, max, f) \
	{ t, d, #t, sizeof(struct s), offsetof(struct s, field), max, f }
#define IPC_T_NOVAR(t, d, s, f) \
	{ t, d, #t, sizeof(struct s), IPC_NO_VAR, 0, f }

/* THE validation table: one row per message type. */
static const struct ipc_type_info ipc_types[] = {
	IPC_T_NOVAR(IPC_M_HELLO, IPC_DIR_TO_HELPER, ipc_hello, IPC_FD_FORBIDDEN),
	IPC_T(IPC_M_HYPER, IPC_DIR_TO_HELPER, ipc_hyper, data_len,
	      IPC_VAR_REST(struct ipc_hyper), IPC_FD_FORBIDDEN),
	/* A token is 44 characters; leave room, refuse anything absurd. */
	IPC_T(IPC_M_ADD_TOKEN, IPC_DIR_TO_HELPER, ipc_token, token_len,
	      256, IPC_FD_FORBIDDEN),
	IPC_T(IPC_M_SHIM, IPC_DIR_TO_HELPER, ipc_shim, leftover_len,
	      IPC_VAR_REST(struct ipc_shim), IPC_FD_REQUIRED),
	IPC_T_NOVAR(IPC_M_UNREGISTER, IPC_DIR_TO_HELPER, ipc_empty, IPC_FD_FORBIDDEN),
	IPC_T_NOVAR(IPC_M_SHUTDOWN, IPC_DIR_TO_HELPER, ipc_empty, IPC_FD_FORBIDDEN),
	IPC_T_NOVAR(IPC_M_STATS, IPC_DIR_TO_HELPER, ipc_empty, IPC_FD_FORBIDDEN),
	IPC_T_NOVAR(IPC_M_PING, IPC_DIR_TO_HELPER, ipc_empty, IPC_FD_FORBIDDEN),
	IPC_T_NOVAR(IPC_H_HELLO, IPC_DIR_TO_MASTER, ipc_hello, IPC_FD_FORBIDDEN),
	IPC_T(IPC_H_HYPER_ANSWER, IPC_DIR_TO_MASTER, ipc_hyper_answer, text_len,
	      IPC_VAR_REST(struct ipc_hyper_answer), IPC_FD_FORBIDDEN),
	IPC_T_NOVAR(IPC_H_SHIM_GONE, IPC_DIR_TO_MASTER, ipc_shim_gone, IPC_FD_FORBIDDEN),
	IPC_T(IPC_H_VM_LOST, IPC_DIR_TO_MASTER, ipc_vm_lost, reason_len,
	      4096, IPC_FD_FORBIDDEN),
	IPC_T_NOVAR(IPC_H_READY, IPC_DIR_TO_MASTER, ipc_empty, IPC_FD_FORBIDDEN),
	IPC_T(IPC_H_STATS, IPC_DIR_TO_MASTER, ipc_stats, error_len,
	      IPC_STATS_ERROR_MAX, IPC_FD_FORBIDDEN),
	IPC_T_NOVAR(IPC_H_PONG, IPC_DIR_TO_MASTER, ipc_empty, IPC_FD_FORBIDDEN),
};

union ipc_fixed_any {
	struct ipc_hello a; struct ipc_hyper b; struct ipc_hyper_answer c;
	struct ipc_token d; struct ipc_shim e; struct ipc_empty f;
	struct ipc_shim_gone g; struct ipc_vm_lost h; struct ipc_stats i;
};
_Static_assert(sizeof(union ipc_fixed_any) <= IPC_FIXED_MAX,
	       "IPC_FIXED_MAX must hold every fixed struct");

static const struct ipc_type_info *ipc_type_lookup(uint32_t type)
{
	for (size_t i = 0; i < sizeof(ipc_types) / sizeof(ipc_types[0]); i++)
		if (ipc_types[i].type == type)
			return &ipc_types[i];
	return NULL;
}

const char *ipc_type_name(uint32_t type)
{
	const struct ipc_type_info *t = ipc_type_lookup(type);

	return t ? t->name : "IPC_UNKNOWN";
}

static uint32_t ipc_read_u32(const void *p, size_t off)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)p + off, sizeof(v));
	return v;
}

/* Encode into @buf of @cap bytes; see ipc_encode(). */
static ssize_t ipc_encode_into(void *buf, size_t cap, uint32_t type,
			       uint32_t id, bool has_fd, const void *fixed,
			       size_t fixed_len, const void *var, size_t var_len)
{
	const struct ipc_type_info *t = ipc_type_lookup(type);
	struct ipc_header hdr;
	uint8_t *out = buf;
	size_t total;

	if (!t || fixed_len != t->fixed_size || !fixed)
		return -EINVAL;
	if (has_fd != (t->fd == IPC_FD_REQUIRED))
		return -EINVAL;
	if (t->var_len_off == IPC_NO_VAR) {
		if (var_len != 0)
			return -EINVAL;
	} else {
		if (ipc_read_u32(fixed, t->var_len_off) != var_len)
			return -EINVAL;
		if (var_len > t->var_max)
			return -EMSGSIZE;
	}
	if (var_len > 0 && !var)
		return -EINVAL;
	if (var_len > IPC_MSG_MAX || fixed_len > IPC_MSG_MAX - IPC_HDR_SIZE ||
	    var_len > IPC_MSG_MAX - IPC_HDR_SIZE - fixed_len)
		return -EMSGSIZE;
	total = IPC_HDR_SIZE + fixed_len + var_len;
	if (total > cap)
		return -EMSGSIZE;

	hdr = (struct ipc_header){ type, (uint32_t)(fixed_len + var_len), id,
				   has_fd ? IPC_F_FD : 0 };
	memcpy(out, &hdr, IPC_HDR_SIZE);
	memcpy(out + IPC_HDR_SIZE, fixed, fixed_len);
	if (var_len > 0)
		memcpy(out + IPC_HDR_SIZE + fixed_len, var, var_len);
	return (ssize_t)total;
}

ssize_t ipc_encode(void *buf, uint32_t type, uint32_t id, bool has_fd,
		   const void *fixed, size_t fixed_len, const void *var,
		   size_t var_len)
{
	return ipc_encode_into(buf, IPC_MSG_MAX, type, id, has_fd, fixed,
			       fixed_len, var, var_len);
}

int ipc_decode(const void *buf, size_t len, bool fd_attached,
	       enum ipc_dir dir, struct ipc_view *v, void *fixed_copy,
	       const char **why)
{
	const uint8_t *in = buf;
	const struct ipc_type_info *t;
	struct ipc_header hdr;
	size_t var_len;

#define IPC_REJECT(msg) do { *why = (msg); return IPC_E_INVALID; } while (0)
	if (len < IPC_HDR_SIZE)
		IPC_REJECT("message shorter than the header");
	if (len > IPC_MSG_MAX)
		IPC_REJECT("message longer than IPC_MSG_MAX");
	memcpy(&hdr, in, IPC_HDR_SIZE);
	if (hdr.len != len - IPC_HDR_SIZE)
		IPC_REJECT("header length does not match the message");
	t = ipc_type_lookup(hdr.type);
	if (!t)
		IPC_REJECT("unknown message type");
	if (t->dir != dir)
		IPC_REJECT("message type not allowed in this direction");
	if (hdr.flags & ~(uint32_t)IPC_F_FD)
		IPC_REJECT("unknown header flags");
	if (!!(hdr.flags & IPC_F_FD) != fd_attached)
		IPC_REJECT("fd flag does not match the attached fd");
	if (t->fd == IPC_FD_REQUIRED && !fd_attached)
		IPC_REJECT("required fd missing");
	if (t->fd == IPC_FD_FORBIDDEN && fd_attached)
		IPC_REJECT("unexpected fd");
	if (hdr.len < t->fixed_size)
		IPC_REJECT("fixed part too short");
	var_len = hdr.len - t->fixed_size;
	if (t->var_len_off == IPC_NO_VAR) {
		if (var_len != 0)
			IPC_REJECT("fixed part too long");
	} else {
		/* Read the length in place: nothing is copied before it is
		 * known to be right. */
		uint32_t declared = ipc_read_u32(in + IPC_HDR_SIZE, t->var_len_off);

		if (declared != var_len)
			IPC_REJECT("variable length does not match the message");
		if (var_len > t->var_max)
			IPC_REJECT("variable part too long");
	}
#undef IPC_REJECT

	memcpy(fixed_copy, in + IPC_HDR_SIZE, t->fixed_size);
	*v = (struct ipc_view){ .type = hdr.type, .id = hdr.id, .fixed = fixed_copy,
				.var = var_len ? in + IPC_HDR_SIZE + t->fixed_size : NULL,
				.var_len = var_len, .fd = -1 };
	*why = NULL;
	return 0;
}

/* Raise one buffer size; the kernel doubles the value and caps it at the
 * sysctl maximum, so check what it granted and try the privileged
 * variant when it is short. */
static int ipc_raise_buf(int fd, int opt, int force_opt, int want)
{
	int got = 0;
	socklen_t sl = sizeof(got);

	if (setsockopt(fd, SOL_SOCKET, opt, &want, sizeof(want)) < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, opt, &got, &sl) < 0)
		return -errno;
	if (got >= want)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, force_opt, &want, sizeof(want)) == 0)
		return 0;
	return -ENOBUFS;
}

int ipc_socketpair(int sv[2])
{
	/* A SEQPACKET message must fit in the sender's buffer with the
	 * skb overhead; twice the maximum message leaves ample room. */
	const int want = (int)(2 * IPC_MSG_MAX);
	int r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		r = ipc_raise_buf(sv[i], SO_SNDBUF, SO_SNDBUFFORCE, want);
		if (r == 0)
			r = ipc_raise_buf(sv[i], SO_RCVBUF, SO_RCVBUFFORCE, want);
		if (r < 0) {
			close(sv[0]);
			close(sv[1]);
			sv[0] = sv[1] = -1;
			return r;
		}
	}
	return 0;
}

/* ---- the channel ---------------------------------------------------- */

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
	ch->on_message(ch, &v, ch->ctx);
	return !ch->closed && !ch->free_pending;
}

static void ipc_channel_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_channel *ch = arg;

	ch->dispatching++;
	for (int i = 0; i < IPC_READ_BURST && !ch->closed; i++) {
		int rfd = -1;
		ssize_t n = fdpass_recv(ch->fd, ch->rbuf, IPC_MSG_MAX, &rfd);

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

int ipc_channel_new(struct ipc_channel **out, struct event_base *base,
		    int fd, enum ipc_dir incoming, ipc_on_message_fn on_message,
		    ipc_on_close_fn on_close, void *ctx)
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
