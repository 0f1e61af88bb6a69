/*
 * ipc.c - the master <-> helper message format (the codec) and the
 * socketpair it travels on.
 *
 * Format (ipc.h): struct ipc_header | fixed struct | variable part. Every
 * type is described by ONE static table (ipc_types[]): direction, exact
 * fixed size, where the u32 length of the variable part sits in the fixed
 * struct (or none), the largest variable part, and whether an fd is
 * required or forbidden. Encoding and decoding are pure functions over
 * that table; all lengths are checked before anything is copied, so a
 * hostile helper costs the master only that helper (STYLE.md 1, 2).
 *
 * The transport over one socket is in ipc_channel.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "ipc.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define IPC_HDR_SIZE sizeof(struct ipc_header)
/* The variable part may fill the rest of a maximum-size message. */
#define IPC_VAR_REST(fixed) (IPC_MSG_MAX - IPC_HDR_SIZE - sizeof(fixed))
#define IPC_NO_VAR ((size_t)-1)

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
	IPC_T_NOVAR(IPC_M_ADOPT, IPC_DIR_TO_HELPER, ipc_adopt, IPC_FD_FORBIDDEN),
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
	/* A container id is at most 1024 bytes (payload.h). */
	IPC_T(IPC_H_ADOPTED, IPC_DIR_TO_MASTER, ipc_adopted, id_len, 1024, IPC_FD_FORBIDDEN),
	IPC_T(IPC_H_ADOPT_TOKENS, IPC_DIR_TO_MASTER, ipc_adopt_tokens, len,
	      IPC_ADOPT_CHUNK * sizeof(struct ipc_adopt_token), IPC_FD_FORBIDDEN),
	/* The helper pool. */
	IPC_T_NOVAR(IPC_M_POOL_FD, IPC_DIR_TO_HELPER, ipc_pool_fd, IPC_FD_REQUIRED),
	IPC_T(IPC_M_ASSIGN, IPC_DIR_TO_HELPER, ipc_assign, id_len, IPC_ASSIGN_ID_MAX,
	      IPC_FD_FORBIDDEN),
	IPC_T_NOVAR(IPC_H_IDLE, IPC_DIR_TO_MASTER, ipc_empty, IPC_FD_FORBIDDEN),
};

union ipc_fixed_any {
	struct ipc_hello a; struct ipc_hyper b; struct ipc_hyper_answer c;
	struct ipc_token d; struct ipc_shim e; struct ipc_empty f;
	struct ipc_shim_gone g; struct ipc_vm_lost h; struct ipc_stats i;
	struct ipc_adopt j; struct ipc_adopted k; struct ipc_adopt_tokens l;
	struct ipc_pool_fd m; struct ipc_assign n;
};
_Static_assert(sizeof(struct ipc_adopt_token) == 56, "ipc_adopt_token is packed by hand");
_Static_assert(IPC_ADOPT_CHUNK * sizeof(struct ipc_adopt_token) +
	       sizeof(struct ipc_adopt_tokens) + sizeof(struct ipc_header) <= IPC_MSG_MAX,
	       "one IPC_H_ADOPT_TOKENS fits in a message");
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

ssize_t ipc_encode_into(void *buf, size_t cap, uint32_t type, uint32_t id,
			bool has_fd, const void *fixed, size_t fixed_len,
			const void *var, size_t var_len)
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
