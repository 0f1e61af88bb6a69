/*
 * session.h - one I/O session per token: sequence numbers (ioBase for
 * stdout and stdin, ioBase + 1 for stderr), the shim holding it, the
 * process started with it, and the exit status in both dialects.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "token.h"

struct event;
struct evbuffer;
struct helper;
struct shim;
struct request;

struct session {
	TAILQ_ENTRY(session) link;	/* in h->sessions */
	struct helper *h;
	uint64_t io_base;
	char token_prefix[TOKEN_PREFIX_LEN + 1];	/* for logs only */
	/* The whole token, only to report it to a master that adopts this
	 * helper after a restart (adopt.c); never logged. */
	char token[TOKEN_STR_LEN + 1];
	struct shim *shim;		/* the connected shim, or NULL */
	struct request *req;		/* the newcontainer/execcmd using it, until answered */
	/* The process, recorded when its command is sent to the agent. */
	char *container_id;		/* newcontainer: data.id; execcmd: data.container */
	char *process_id;		/* given or generated, unique in the VM */
	bool is_exec;			/* started by execcmd: no killcontainer */
	bool terminal;
	bool started;			/* the agent ACKed the command */
	bool output_done;		/* the empty io message on ioBase came */
	bool status_known;
	uint8_t status;
	bool exit_sent;			/* ProcessExited queued: nothing follows */
	/* Frames waiting for a (re)connecting shim, and stdin waiting for the
	 * process or for room on the io channel (encoded io messages). */
	struct evbuffer *backlog;
	struct evbuffer *stdin_q;
	bool congested;			/* counted in h->n_congested */
	/* Congested without progress (no shim, or one that takes nothing),
	 * a session stalls the VM only the wait timeout; then its further
	 * output is discarded (counted) until a shim connects or drains. */
	struct event *stall_timer;
	uint64_t stall_mark;		/* shim_drained() when the timer started */
	bool discarding;
	uint64_t discarded;		/* bytes, for the log */
};

/**
 * session_new() - register the session of @io_base (IPC_M_ADD_TOKEN).
 * @token: the token text, of which only a prefix is kept, for logs
 * Return: 0, -EEXIST for a known @io_base, -EINVAL for @io_base < 3, -ENOMEM.
 */
int session_new(struct helper *h, uint64_t io_base, const char *token,
		size_t token_len);

/**
 * session_free() - unlink and free. A connected shim is detached (not
 * closed: the caller decides), a request using it goes on without it.
 * Takes NULL; returns NULL.
 */
struct session *session_free(struct session *s);

/** session_find() - the session of @io_base, or NULL. */
struct session *session_find(struct helper *h, uint64_t io_base);

/**
 * session_find_seq() - the session owning io sequence number @seq;
 * *is_stderr tells which of its two numbers it is.
 */
struct session *session_find_seq(struct helper *h, uint64_t seq,
				 bool *is_stderr);

/** session_find_process() - the session of a (container, process) pair. */
struct session *session_find_process(struct helper *h, const char *container,
				     const char *process);

/** session_process_id_used() - whether a session's process has id @id. */
bool session_process_id_used(struct helper *h, const char *id);

/**
 * session_set_process() - record the process about to be started with
 * this session (copies the strings). Return: 0 or -ENOMEM.
 */
int session_set_process(struct session *s, const char *container_id,
			const char *process_id, bool is_exec, bool terminal);

/** session_started() - the agent ACKed the process: release stdin, signals. */
void session_started(struct session *s);

/** session_start_failed() - the agent refused the process. */
void session_start_failed(struct session *s);

/** session_output() - agent output (@opcode stdout/stderr) toward the shim. */
void session_output(struct session *s, uint8_t opcode, const void *data,
		    size_t len);

/**
 * session_output_inplace() - agent output (@opcode stdout/stderr) of @len
 * bytes that lies after a FRAME_HEADER_SIZE header at @msg: when it can
 * go straight to the connected shim, count it, write the frame header
 * over @msg and return true; the caller then sends the frame with
 * session_send_frames(), before anything else reaches this shim. False:
 * use session_output() (no shim, discarding, after the exit, or the
 * shim's output queued).
 */
bool session_output_inplace(struct session *s, uint8_t opcode, uint8_t *msg,
			    size_t len);

/**
 * session_send_frames() - whole frames built by session_output_inplace()
 * (@len bytes at @p), to the shim: written at once as far as it takes
 * them, the rest copied into its output; then the watermarks.
 */
void session_send_frames(struct session *s, const uint8_t *p, size_t len);

/** session_output_finished() - the empty io message on ioBase. */
void session_output_finished(struct session *s);

/**
 * session_exit_status() - the process's exit status, from the 1-byte io
 * message (legacy) or processasyncevent (@dialect names which, for logs).
 * ProcessExited goes out once the output is finished too.
 */
void session_exit_status(struct session *s, uint8_t status,
			 const char *dialect);

/**
 * session_exit_now() - ProcessExited(@status) right away (a SIGKILL or
 * SIGTERM for a process never started), unless one was sent already.
 */
void session_exit_now(struct session *s, uint8_t status);

/**
 * session_attach_shim() - @sh holds the session from now on: the backlog
 * goes to it (after the ConnectShim response the caller queued), and a
 * Hyper request waiting for the shim proceeds.
 */
void session_attach_shim(struct session *s, struct shim *sh);

/** session_detach_shim() - the shim left; output waits in the backlog. */
void session_detach_shim(struct session *s);

/** session_flow_update() - re-check the output watermarks (after writes). */
void session_flow_update(struct session *s);

/**
 * session_stdin() - queue stdin from the shim as io messages on ioBase
 * (split at HYPER_IO_SEND_MAX, never merged; @len 0 closes stdin), and
 * pump it if the process runs. Return: 0 or -ENOMEM.
 */
int session_stdin(struct session *s, const void *data, size_t len);

/**
 * session_stdin_buffer() - session_stdin() for the first @len bytes of
 * @src (drained): written to the agent at once when nothing waits
 * (iochan_send_stdin()), else queued, copied once. Return: 0 or -ENOMEM.
 */
int session_stdin_buffer(struct session *s, struct evbuffer *src, size_t len);

/** session_stdin_full() - queued stdin is above HELPER_STDIN_HIGH. */
bool session_stdin_full(const struct session *s);

/**
 * session_stdin_take() - move the next queued io message to @out.
 * Return: true when one was moved.
 */
bool session_stdin_take(struct session *s, struct evbuffer *out);
