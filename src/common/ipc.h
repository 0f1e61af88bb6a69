/*
 * ipc.h - the master <-> helper protocol: one typed message format over a
 * SOCK_SEQPACKET socketpair, at most one fd per message (SCM_RIGHTS).
 * Bump IPC_VERSION whenever a type or struct here changes: the first
 * message each way is a hello carrying it, and a mismatch (a stale helper
 * binary) closes the channel cleanly.
 *
 * Message = struct ipc_header | fixed struct (per type) | variable part.
 * The length of the variable part is a field of the fixed struct and must
 * match exactly. All integers are host order (same machine, same build).
 *
 * Semantics:
 *  IPC_M_HYPER       forward agent command `code` with `data` (JSON text as
 *                    the client sent it, maybe empty). io_base != 0: the
 *                    token's session (wait for its shim, edit stdio/stderr);
 *                    io_base == 0: for newcontainer/execcmd the null
 *                    session. Answered by exactly one IPC_H_HYPER_ANSWER
 *                    with the same header id.
 *  IPC_M_ADD_TOKEN   a new session: token -> io_base (ioBase, ioBase + 1).
 *  IPC_M_SHIM        hand over a shim's connection (the fd) for io_base,
 *                    with the bytes the master read past ConnectShim. The
 *                    helper sends the ConnectShim response itself.
 *  IPC_M_UNREGISTER  the VM left the namespace: keep draining I/O; exit
 *                    when the VM's io channel closes.
 *  IPC_M_SHUTDOWN    the proxy stops: close everything, exit 0.
 *  IPC_M_STATS       cc-proxyctl status: answered by one IPC_H_STATS with
 *                    the same header id (not while the helper is exiting).
 *  IPC_M_PING        the master's watchdog: answer with IPC_H_PONG and the
 *                    same header id (a helper that does not answer within
 *                    the wait timeout is killed).
 *  IPC_H_HYPER_ANSWER  the agent's ACK payload (error = 0) or an error text
 *                    (agent ERROR payload, or the proxy's own reason).
 *  IPC_H_SHIM_GONE   the shim of io_base left. released = 1: DisconnectShim,
 *                    the token is void; 0: the connection dropped, the
 *                    token may be claimed again.
 *  IPC_H_READY       the agent sent READY on ctl: the VM is reachable (the
 *                    master answers RegisterVM only after this).
 *  IPC_H_VM_LOST     the VM's channels closed or failed (reason text);
 *                    the helper exits right after sending it.
 *  IPC_H_STATS       the helper's counters (struct ipc_stats) and its last
 *                    warning or error text; only in answer to IPC_M_STATS.
 *  IPC_H_PONG        the answer to IPC_M_PING, with its id; never unasked.
 *
 * Re-adoption (a restarted or re-exec'd master takes a running helper
 * back; DESIGN.md "Restart and upgrade"). The channel already had its
 * hello with the previous master, so none is exchanged again:
 *  IPC_M_ADOPT       {version, nonce}: a new master. Requests received
 *                    before it are orphaned (their answers dropped). The
 *                    helper answers with one IPC_H_ADOPTED carrying the
 *                    same nonce, then IPC_H_ADOPT_TOKENS until n_tokens
 *                    entries were sent. The master discards whatever
 *                    came before the IPC_H_ADOPTED (stale answers meant
 *                    for the dead master) and takes the sender's pid
 *                    from SCM_CREDENTIALS, never from the message.
 *  IPC_H_ADOPTED     {version, nonce, n_tokens, flags}, container id.
 *                    Its first field stays the version in every future
 *                    IPC_VERSION, so a mismatch is reported as such.
 *  IPC_H_ADOPT_TOKENS {nonce, len}, len bytes of struct ipc_adopt_token.
 *
 * The helper pool (master/pool.c, vmhelper/pool.c): an idle helper is
 * exec'd with fds 0-3 and 7 only, before its VM exists.
 *  IPC_H_IDLE        a pooled helper is confined (all but seccomp) and
 *                    waits for a VM; sent once, right after its hello.
 *                    The master hands out only helpers that sent it.
 *  IPC_M_POOL_FD     one of the VM's fds for a pooled helper (fd
 *                    required): `target` is its place in the layout below
 *                    (IPC_FD_CTL, IPC_FD_IO or IPC_FD_CONSOLE), each at
 *                    most once, all before IPC_M_ASSIGN.
 *  IPC_M_ASSIGN      the VM: its container id (variable part) and flags.
 *                    The helper names itself (argv, comm), installs its
 *                    seccomp filter and from then on is exactly a helper
 *                    started with --container-id: READY or VM_LOST next.
 *                    Anything else than these (and SHUTDOWN) before it
 *                    ends a pooled helper.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;

#define IPC_VERSION	5
/* Largest message, header included. The socketpair's buffers are sized
 * for it (ipc_socketpair()). */
#define IPC_MSG_MAX	(200u * 1024u)
/* The largest fixed struct fits in this (scratch for ipc_decode()). */
#define IPC_FIXED_MAX	128
/* The most shim connections one helper holds at once. The helper's
 * RLIMIT_NOFILE is sized from it (plus its fixed fds and some headroom);
 * it refuses a shim beyond it (or one whose fd it could not receive) with
 * IPC_H_SHIM_GONE released = 0, and the master caps its shims-per-VM
 * quota at it. */
#define IPC_HELPER_SHIMS_MAX	1000
/* Most messages queued for sending on one channel, and most bytes and
 * attached fds among them: a peer that stops reading holds at most this
 * much of the sender's memory and fds (the master then kills it). */
#define IPC_QUEUE_MAX	4096
#define IPC_QUEUE_BYTES_MAX	(4u * 1024u * 1024u)
#define IPC_QUEUE_FDS_MAX	64

/*
 * The helper's fd layout, set up by the master between fork and exec
 * (nothing else is open). Optional fds are announced on argv:
 *   --console-fd 6   the VM console socket (log level 3 only)
 *   --journal-fd 7   a connected journald datagram socket
 */
enum ipc_helper_fd {
	IPC_FD_STDIN = 0,	/* /dev/null */
	IPC_FD_STDOUT = 1,	/* /dev/null */
	IPC_FD_STDERR = 2,	/* the master's stderr: the stderr log target */
	IPC_FD_CHANNEL = 3,	/* SOCK_SEQPACKET to the master */
	IPC_FD_CTL = 4,		/* SOCK_STREAM, the agent's ctl serial */
	IPC_FD_IO = 5,		/* SOCK_STREAM, the agent's io serial */
	IPC_FD_CONSOLE = 6,	/* SOCK_STREAM, optional */
	IPC_FD_JOURNAL = 7,	/* SOCK_DGRAM, optional */
};

enum ipc_type {
	/* master -> helper */
	IPC_M_HELLO = 0x100,
	IPC_M_HYPER = 0x101,
	IPC_M_ADD_TOKEN = 0x102,
	IPC_M_SHIM = 0x103,
	IPC_M_UNREGISTER = 0x104,
	IPC_M_SHUTDOWN = 0x105,
	IPC_M_STATS = 0x106,
	IPC_M_PING = 0x107,
	IPC_M_ADOPT = 0x108,
	IPC_M_POOL_FD = 0x110,
	IPC_M_ASSIGN = 0x111,
	/* helper -> master */
	IPC_H_HELLO = 0x200,
	IPC_H_HYPER_ANSWER = 0x201,
	IPC_H_SHIM_GONE = 0x202,
	IPC_H_VM_LOST = 0x203,
	IPC_H_READY = 0x204,
	IPC_H_STATS = 0x205,
	IPC_H_PONG = 0x206,
	IPC_H_ADOPTED = 0x207,
	IPC_H_ADOPT_TOKENS = 0x208,
	IPC_H_IDLE = 0x210,
};

enum ipc_dir {
	IPC_DIR_TO_HELPER = 1,	/* types 0x1xx */
	IPC_DIR_TO_MASTER = 2,	/* types 0x2xx */
};

#define IPC_F_FD	0x1	/* an fd is attached */

struct ipc_header {
	uint32_t type;
	uint32_t len;		/* bytes after the header */
	uint32_t id;		/* request id, echoed by the answer */
	uint32_t flags;		/* IPC_F_* */
};

struct ipc_hello {		/* IPC_M_HELLO, IPC_H_HELLO; no variable part */
	uint32_t version;
	uint32_t pid;
};

struct ipc_hyper {		/* IPC_M_HYPER; variable part: data JSON */
	uint64_t io_base;
	uint32_t code;		/* enum hyper_code */
	uint32_t data_len;
};

struct ipc_hyper_answer {	/* IPC_H_HYPER_ANSWER; variable: ack payload or error text */
	uint32_t error;		/* 0: ACK, 1: error */
	uint32_t text_len;
};

struct ipc_token {		/* IPC_M_ADD_TOKEN; variable: the token text */
	uint64_t io_base;
	uint32_t token_len;
	uint32_t pad;
};

struct ipc_shim {		/* IPC_M_SHIM (fd required); variable: leftover bytes */
	uint64_t io_base;
	uint32_t leftover_len;
	int32_t pid;		/* the shim's SO_PEERCRED, for logs */
	uint32_t uid;
	uint32_t gid;
};

struct ipc_pool_fd {		/* IPC_M_POOL_FD (fd required); no variable part */
	uint32_t target;	/* IPC_FD_CTL, IPC_FD_IO or IPC_FD_CONSOLE */
	uint32_t pad;
};

struct ipc_assign {		/* IPC_M_ASSIGN; variable: the container id */
	uint32_t id_len;
	uint32_t flags;		/* IPC_ASSIGN_F_* */
};
#define IPC_ASSIGN_F_CONSOLE	0x1	/* a console fd was sent */
#define IPC_ASSIGN_ID_MAX	1024	/* = PAYLOAD_CONTAINER_ID_MAX */

struct ipc_empty {	/* IPC_M_UNREGISTER, _SHUTDOWN, _STATS, _PING, IPC_H_READY, _PONG, _IDLE */
	uint32_t pad;
};

struct ipc_shim_gone {		/* IPC_H_SHIM_GONE; no variable part */
	uint64_t io_base;
	uint32_t released;
	uint32_t pad;
};

struct ipc_vm_lost {		/* IPC_H_VM_LOST; variable: reason text */
	uint32_t reason_len;
	uint32_t pad;
};

/* IPC_H_STATS; variable: the last warning or error text (maybe empty).
 * Byte counts are payload bytes (no frame or io headers), since start. */
struct ipc_stats {
	uint64_t bytes_to_shims;	/* stdout/stderr accepted for a shim */
	uint64_t bytes_from_shims;	/* stdin written toward the agent */
	uint64_t bytes_null;		/* output of the null session, discarded */
	uint64_t bytes_orphaned;	/* output nobody could take, discarded */
	uint64_t hyper_served;		/* IPC_M_HYPER answered (ok or error) */
	uint64_t hyper_failed;		/* ... of which with an error */
	uint32_t sessions;		/* tokens the helper knows now */
	uint32_t shims;			/* shims connected now */
	uint32_t processes;		/* started and not yet exited */
	uint32_t flags;			/* IPC_STATS_F_* */
	uint32_t error_len;
	uint32_t pad;
};
#define IPC_STATS_F_UNREGISTERED 0x1	/* IPC_M_UNREGISTER seen: draining */
#define IPC_STATS_ERROR_MAX	256	/* longest error text */

struct ipc_adopt {		/* IPC_M_ADOPT; no variable part */
	uint32_t version;	/* IPC_VERSION of the master */
	uint32_t pad;
	uint64_t nonce;		/* echoed by every answer */
};

/* IPC_H_ADOPTED; variable: the container id (id_len bytes, no NUL). */
struct ipc_adopted {
	uint32_t version;	/* first, in every version (see above) */
	uint32_t id_len;
	uint64_t nonce;
	uint32_t n_tokens;	/* entries in the IPC_H_ADOPT_TOKENS that follow */
	uint32_t flags;		/* IPC_ADOPTED_F_* */
};
#define IPC_ADOPTED_F_UNREGISTERED	0x1	/* draining after UnregisterVM */
/* The most tokens one helper reports (its sessions are bounded by the
 * master's --max-tokens-per-vm, at most 16384). */
#define IPC_ADOPT_TOKENS_MAX	16384u

/* One session in IPC_H_ADOPT_TOKENS. */
struct ipc_adopt_token {
	uint64_t io_base;
	uint32_t flags;		/* IPC_ADOPT_TOKEN_F_* */
	char token[44];		/* TOKEN_STR_LEN characters, no NUL */
};
#define IPC_ADOPT_TOKEN_F_SHIM		0x1	/* a shim holds it (HANDED) */
#define IPC_ADOPT_TOKEN_F_RUNNING	0x2	/* its process runs */

/* IPC_H_ADOPT_TOKENS; variable: len / sizeof(struct ipc_adopt_token)
 * entries (a length that is not a multiple is a violation). */
struct ipc_adopt_tokens {
	uint64_t nonce;
	uint32_t len;		/* bytes of entries */
	uint32_t pad;
};
/* Entries per IPC_H_ADOPT_TOKENS message. */
#define IPC_ADOPT_CHUNK	1024u

enum {
	IPC_E_INVALID = 2,	/* a protocol violation by the peer */
};

/* A decoded, validated message: pointers into the receive buffer. */
struct ipc_view {
	uint32_t type;
	uint32_t id;
	const void *fixed;	/* the type's fixed struct (aligned copy) */
	const uint8_t *var;	/* variable part, var_len bytes (may be NULL) */
	size_t var_len;
	int fd;			/* the attached fd or -1; see ipc_channel */
	bool fd_lost;		/* an fd was attached but could not be received
				 * (this process is at RLIMIT_NOFILE); fd = -1 */
	pid_t sender_pid;	/* SCM_CREDENTIALS pid (the kernel's word), or
				 * 0: only on an adopting channel */
	uid_t sender_uid;
};

/** ipc_type_name() - for logs. */
const char *ipc_type_name(uint32_t type);

/**
 * ipc_encode() - build one message into @buf (IPC_MSG_MAX bytes): header,
 * the type's fixed struct @fixed (its size is the table's) and @var.
 * The fixed struct's length field must already equal @var_len.
 * Return: the message length, or -EMSGSIZE / -EINVAL (unknown type,
 * fixed length mismatch).
 */
ssize_t ipc_encode(void *buf, uint32_t type, uint32_t id, bool has_fd,
		   const void *fixed, size_t fixed_len, const void *var,
		   size_t var_len);

/** ipc_encode_into() - ipc_encode() into @buf of @cap bytes (-EMSGSIZE
 * when the message does not fit). */
ssize_t ipc_encode_into(void *buf, size_t cap, uint32_t type, uint32_t id,
			bool has_fd, const void *fixed, size_t fixed_len,
			const void *var, size_t var_len);

/**
 * ipc_decode() - validate one received message against the table: known
 * type in direction @dir, exact fixed size, variable length equal to the
 * fixed struct's field and within the type's maximum, fd present exactly
 * when the type requires one and the header says so.
 * @fd_attached: whether fdpass_recv() returned an fd
 * @fixed_copy: max_align_t-aligned scratch of IPC_FIXED_MAX bytes the
 *              fixed struct is copied into
 * Return: 0 (v filled, v->fd = -1: the caller keeps the fd), or
 * IPC_E_INVALID with *why set.
 */
int ipc_decode(const void *buf, size_t len, bool fd_attached,
	       enum ipc_dir dir, struct ipc_view *v, void *fixed_copy,
	       const char **why);

/**
 * ipc_socketpair() - a SOCK_SEQPACKET | SOCK_CLOEXEC pair with send and
 * receive buffers large enough for IPC_MSG_MAX. Return: 0 or -errno.
 */
int ipc_socketpair(int sv[2]);

/*
 * ipc_channel - the event-driven transport over one socket: a plain
 * libevent event, a bounded send queue, EV_WRITE asked for only while the
 * queue is non-empty. The channel sends its hello when created and
 * requires the peer's hello (same IPC_VERSION) as the first message.
 */
struct ipc_channel;

/*
 * Called for each valid message after the hello. @v->fd is the attached fd
 * (or -1): the callback owns it and must close it or hand it on.
 */
typedef void (*ipc_on_message_fn)(struct ipc_channel *ch,
				  const struct ipc_view *v, void *ctx);
/*
 * Called once when the channel fails: @err is 0 on EOF, -errno on a
 * system error, IPC_E_INVALID on a protocol violation (@why says which).
 * After it returns the channel sends and receives nothing more; the owner
 * frees it (it may do so inside the callback).
 */
typedef void (*ipc_on_close_fn)(struct ipc_channel *ch, int err,
				const char *why, void *ctx);

/**
 * ipc_channel_new() - start a channel on @fd (consumed in every case).
 * @incoming: the direction of the messages this side receives
 * Return: 0 or -errno.
 */
int ipc_channel_new(struct ipc_channel **out, struct event_base *base,
		    int fd, enum ipc_dir incoming, ipc_on_message_fn on_message,
		    ipc_on_close_fn on_close, void *ctx);

/** ipc_channel_free() - close and free; takes NULL; returns NULL. */
struct ipc_channel *ipc_channel_free(struct ipc_channel *ch);

/**
 * ipc_channel_send() - queue one message.
 * @fd: attached when >= 0, and consumed in every case (closed once sent,
 *      or right away on failure)
 * Return: 0, -ENOBUFS when the queue would exceed IPC_QUEUE_MAX messages,
 * IPC_QUEUE_BYTES_MAX bytes or IPC_QUEUE_FDS_MAX fds, -EMSGSIZE, -EPIPE
 * after the channel closed, -ENOMEM.
 */
int ipc_channel_send(struct ipc_channel *ch, uint32_t type, uint32_t id,
		     const void *fixed, size_t fixed_len, const void *var,
		     size_t var_len, int fd);

/**
 * ipc_channel_set_handlers() - from the next message on, deliver to
 * @on_message / @on_close with @ctx (a pooled helper's channel becomes
 * its VM's). Safe inside the channel's own callbacks.
 */
void ipc_channel_set_handlers(struct ipc_channel *ch, ipc_on_message_fn on_message,
			      ipc_on_close_fn on_close, void *ctx);

/** ipc_channel_queued() - messages waiting to be sent. */
size_t ipc_channel_queued(const struct ipc_channel *ch);

/**
 * ipc_channel_room() - would @n more messages of @bytes bytes in all
 * (headers included) with @fds attached fds fit in the send queue?
 */
bool ipc_channel_room(const struct ipc_channel *ch, size_t n, size_t bytes,
		      size_t fds);

/**
 * ipc_channel_adopt() - ipc_channel_new() for a channel whose hello was
 * exchanged with an earlier master (re-adoption): no hello is sent or
 * expected, SO_PASSCRED is set on @fd, and until ipc_channel_adopted()
 * every message before the first IPC_H_ADOPTED whose nonce is @nonce is
 * discarded (its fd closed; at most IPC_ADOPT_STALE_MAX of them, then the
 * channel fails). An IPC_H_ADOPTED of another version fails the channel
 * with a "speaks ipc version" reason. Delivered messages carry
 * v->sender_pid/uid from SCM_CREDENTIALS.
 */
int ipc_channel_adopt(struct ipc_channel **out, struct event_base *base,
		      int fd, uint64_t nonce, ipc_on_message_fn on_message,
		      ipc_on_close_fn on_close, void *ctx);
/* Stale messages a channel being adopted discards before failing: the
 * helper's send queue bound plus what the socket buffers hold. */
#define IPC_ADOPT_STALE_MAX	(IPC_QUEUE_MAX + 1024u)

/** ipc_channel_adopted() - adoption done: back to plain checking. */
void ipc_channel_adopted(struct ipc_channel *ch);

/** ipc_channel_fd() - the socket (for the fd store), or -1 once closed. */
int ipc_channel_fd(const struct ipc_channel *ch);

/** ipc_channel_queued_bytes(), _fds() - what the send queue holds. */
size_t ipc_channel_queued_bytes(const struct ipc_channel *ch);
size_t ipc_channel_queued_fds(const struct ipc_channel *ch);
