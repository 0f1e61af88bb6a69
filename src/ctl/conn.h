/*
 * conn.h - one connection of cc-proxyctl to the proxy socket, on the
 * program's single libevent loop (client protocol v2, PROTOCOL.md part 1).
 *
 * A connection sends command and stream frames and delivers what the
 * proxy sends back: each response to the callback of the command it
 * answers (commands are answered in order, so the callbacks form a FIFO),
 * streams and notifications to the owner's ops. A command that gets no
 * answer within the timeout, or whose connection ends first, gets a local
 * failure instead, exactly once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <event2/event.h>

struct conn;

/* What a command came to. */
struct conn_answer {
	bool ok;		/* a response without the error flag */
	bool local;		/* no response: timeout or connection lost */
	const char *text;	/* ok: the payload ("" when empty); otherwise
				 * the proxy's "msg" or the local reason */
	size_t len;		/* of text */
};

typedef void (*conn_answer_fn)(struct conn *c, const struct conn_answer *a,
			       void *ctx);

/* Callbacks for everything that is not a response. Any may be NULL.
 * None of them may free the connection. */
struct conn_ops {
	/* A stream frame (stdout, stderr) from the proxy. */
	void (*on_stream)(struct conn *c, uint8_t opcode, const uint8_t *data,
			  size_t len, void *ctx);
	/* A notification frame (ProcessExited) from the proxy. */
	void (*on_notification)(struct conn *c, uint8_t opcode,
				const uint8_t *data, size_t len, void *ctx);
	/* The connection ended (@why says how); pending commands have
	 * already been failed. Nothing is delivered after this. */
	void (*on_close)(struct conn *c, const char *why, void *ctx);
	/* The output buffer drained to CONN_OUTPUT_LOW after being above. */
	void (*on_drained)(struct conn *c, void *ctx);
};

/* Output flow control: writers pause above HIGH, resume at LOW. */
#define CONN_OUTPUT_HIGH	(256u * 1024u)
#define CONN_OUTPUT_LOW		(64u * 1024u)

/**
 * conn_open() - connect to the proxy socket @path.
 * @out:     the new connection, owned by the caller (conn_free())
 * @name:    a short label for -v traces ("runtime", "shim")
 * @timeout: how long a command may wait for its answer; NULL: forever
 * @verbose: trace every frame on stderr
 * @ops, @ctx: callbacks (copied) and their context
 * @err:     on failure, a malloc'd message for the user
 *
 * Return: 0, or -errno with *err set (a missing socket or a refused
 * connection says whether cc-proxy is running).
 */
int conn_open(struct conn **out, struct event_base *base, const char *path,
	      const char *name, const struct timeval *timeout, bool verbose,
	      const struct conn_ops *ops, void *ctx, char **err);

/** conn_free() - close and free; pending commands are dropped silently. */
struct conn *conn_free(struct conn *c);

/**
 * conn_command() - send command @opcode with the JSON text @json (NULL:
 * no payload); @fn is called once with its answer.
 * Return: 0 or -ENOMEM / -EPIPE (connection already closed).
 */
int conn_command(struct conn *c, uint8_t opcode, const char *json,
		 conn_answer_fn fn, void *ctx);

/** conn_stream() - send a stream frame. Return: 0, -ENOMEM or -EPIPE. */
int conn_stream(struct conn *c, uint8_t opcode, const void *data, size_t len);

/** conn_output_len() - bytes not yet written to the socket. */
size_t conn_output_len(const struct conn *c);

/** conn_is_open() - false once the connection has ended. */
bool conn_is_open(const struct conn *c);

/** conn_pending() - commands still waiting for their answer. */
size_t conn_pending(const struct conn *c);
