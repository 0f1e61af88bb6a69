/*
 * tclient.h - a blocking client of the proxy for integration tests:
 * raw bytes and frames out, one frame in at a time, every wait bounded
 * by poll() with a timeout. The "expect" functions assert (Check).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "frame.h"
#include "harness.h"

enum {
	TCLIENT_EOF = 1,	/* tclient_read_frame(): the proxy closed */
};

struct tclient {
	int fd;
	struct evbuffer *in;
	char name[32];		/* for messages: "runtime", "shim" */
};

/** tclient_connect() - connect to the harness's proxy socket (asserts). */
struct tclient *tclient_connect(struct harness *h, const char *name);

/** tclient_free() - close and free. Return: NULL. */
struct tclient *tclient_free(struct tclient *c);

/** tclient_send_bytes() - write all of @len bytes (bounded, asserts). */
void tclient_send_bytes(struct tclient *c, const void *data, size_t len);

/**
 * tclient_try_send_bytes() - the same, reporting failure instead.
 * Return: 0 or -errno (e.g. -EPIPE once the proxy closed).
 */
int tclient_try_send_bytes(struct tclient *c, const void *data, size_t len);

/** tclient_send_frame() - one frame with a 3-word header. */
void tclient_send_frame(struct tclient *c, uint8_t type, uint8_t flags,
			uint8_t opcode, const void *payload, size_t len);

/** tclient_send_command() - a command frame with JSON text @json (may be NULL). */
void tclient_send_command(struct tclient *c, uint8_t opcode, const char *json);

/** tclient_send_stdin() - a stdin stream frame. */
void tclient_send_stdin(struct tclient *c, const void *data, size_t len);

/**
 * tclient_read_frame() - the next frame, waiting at most @timeout_ms.
 * Return: 0 (caller owns f->payload: frame_deinit()), TCLIENT_EOF,
 * -ETIMEDOUT, -EPROTO (undecodable bytes), or -errno (e.g. -ECONNRESET).
 */
int tclient_read_frame(struct tclient *c, struct frame *f, int timeout_ms);

/** tclient_next_frame() - a frame within HARNESS_WAIT_MS (asserts). */
void tclient_next_frame(struct tclient *c, struct frame *f);

/**
 * tclient_expect_ok() - the next frame is a success response to @opcode
 * whose payload is empty or JSON. Return: the parsed payload (caller
 * puts it), or NULL when empty.
 */
struct json_object *tclient_expect_ok(struct tclient *c, uint8_t opcode);

/* The API version cc-proxy-simvm reports, as hyperstart 1.1.0 does. */
#define TCLIENT_AGENT_API_VERSION 4244

/**
 * tclient_expect_version() - the next frame is a success response to a
 * Hyper "version": exactly the agent's ACK payload, 4 bytes (its API
 * version, big-endian; not JSON). Return: that version.
 */
uint32_t tclient_expect_version(struct tclient *c);

/**
 * tclient_expect_error() - the next frame is an error response to
 * @opcode with payload {"msg": non-empty string}. Return: the msg, malloc'd.
 */
char *tclient_expect_error(struct tclient *c, uint8_t opcode);

/** tclient_call() - send command @opcode with @json, tclient_expect_ok(). */
struct json_object *tclient_call(struct tclient *c, uint8_t opcode, const char *json);

/** tclient_call_error() - send, then tclient_expect_error(). */
char *tclient_call_error(struct tclient *c, uint8_t opcode, const char *json);

/**
 * tclient_expect_eof() - the proxy closes this connection within
 * HARNESS_WAIT_MS, sending no frame first (a reset counts as closed).
 */
void tclient_expect_eof(struct tclient *c);

/**
 * tclient_register() - RegisterVM @id for @vm with @ntokens tokens and
 * check the answer's shape: {"io": {"URL": "unix://SOCKET", "tokens":
 * [@ntokens distinct 44-character base64url tokens ending in '=']}}.
 * Return: the answer (caller puts it).
 */
struct json_object *tclient_register(struct tclient *c, struct harness *h,
				     const char *id, const struct harness_vm *vm,
				     int ntokens);

/** tclient_check_io_answer() - the shape check of tclient_register(). */
void tclient_check_io_answer(struct harness *h, struct json_object *answer,
			     int ntokens);

/** tclient_attach() - a new connection attached to VM @id (AttachVM, no tokens). */
struct tclient *tclient_attach(struct harness *h, const char *id);

/**
 * tclient_register_json() - the text of a RegisterVM request for @vm as
 * @id with numIOStreams @ntokens (always present), malloc'd.
 */
char *tclient_register_json(const char *id, const struct harness_vm *vm, int ntokens);

/** tclient_connect_shim() - a new connection that claimed @tok (ConnectShim ok). */
struct tclient *tclient_connect_shim(struct harness *h, const char *tok);

/**
 * tclient_reconnect_shim() - a new connection @name that ConnectShim's
 * @tok, retried (each a round trip, bounded by HARNESS_WAIT_MS in all)
 * while the token is still claimed by a shim that dropped and its owner
 * has not released it yet.
 */
struct tclient *tclient_reconnect_shim(struct harness *h, const char *name,
				       const char *tok);

/** tclient_ping_ok() - Hyper ping on @c (attached) succeeds. */
void tclient_ping_ok(struct tclient *c);

/** tclient_expect_unknown_vm() - a new connection's AttachVM @id fails. */
void tclient_expect_unknown_vm(struct harness *h, const char *id);

/** tclient_token() - token @i of a RegisterVM/AttachVM answer. */
const char *tclient_token(struct json_object *answer, size_t i);

/* What a shim received for one process. */
struct tclient_output {
	struct evbuffer *out;	/* stdout stream payloads, in order */
	struct evbuffer *err;	/* stderr stream payloads */
	int status;		/* ProcessExited code, -1 before */
	unsigned n_exited;	/* ProcessExited notifications seen */
	unsigned n_after_exit;	/* stream frames after ProcessExited */
	unsigned n_other;	/* any other frame (a bug) */
	bool eof;		/* the proxy closed the connection */
};

void tclient_output_init(struct tclient_output *o);
void tclient_output_deinit(struct tclient_output *o);

/** tclient_output_dup() - a malloc'd NUL-terminated copy of @b's bytes. */
char *tclient_output_dup(struct evbuffer *b);

/**
 * tclient_collect() - read the shim connection @c until ProcessExited,
 * at most @timeout_ms in all, into @o. Asserts that it came.
 */
void tclient_collect(struct tclient *c, struct tclient_output *o, int timeout_ms);

/**
 * tclient_read_until() - read the shim connection @c into @o until its
 * stdout holds @needle (bounded by HARNESS_WAIT_MS; a ProcessExited, an
 * unexpected frame or EOF before that fails the test).
 */
void tclient_read_until(struct tclient *c, struct tclient_output *o, const char *needle);

/**
 * tclient_expect_closed() - the proxy closes the shim connection @c
 * within HARNESS_WAIT_MS (o->eof set); frames before that are collected
 * into @o. Fails on a timeout.
 */
void tclient_expect_closed(struct tclient *c, struct tclient_output *o);

/**
 * tclient_settle() - after ProcessExited: a round trip through the
 * session's owner (an invalid Signal, answered with an error) proves
 * that whatever it sent before has arrived; any frame received meanwhile
 * is counted in @o. An EOF instead of the answer is recorded in o->eof.
 */
void tclient_settle(struct tclient *c, struct tclient_output *o);
