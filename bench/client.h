/*
 * client.h - a blocking client of the proxy's socket for the benchmarks:
 * frames are encoded and decoded with src/common/frame.h, the socket is
 * non-blocking underneath and every wait is a poll() with a timeout.
 *
 * Errors: functions return 0, or -errno (-ETIMEDOUT when the timeout
 * passed, -ECONNRESET when the proxy closed the connection, -EPROTO for
 * an untrusted frame or an unexpected answer). A benchmark treats any of
 * them as a setup failure (rig_fail()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "frame.h"

struct evbuffer;

struct client {
	int fd;
	struct evbuffer *in;	/* received, not yet decoded */
	struct evbuffer *out;	/* encoded, not yet written */
};

#define CLIENT_NULL ((struct client){ .fd = -1 })

/** client_connect() - connect to the AF_UNIX stream socket @path. */
int client_connect(struct client *c, const char *path);

/** client_close() - close and free (a CLIENT_NULL is fine). */
void client_close(struct client *c);

/**
 * client_queue() - append one frame to the output (nothing is written
 * until client_flush()). Return: 0 or -ENOMEM.
 */
int client_queue(struct client *c, uint8_t type, uint8_t opcode,
		 const void *payload, size_t len);

/**
 * client_flush() - write the whole output within @timeout_ms, reading
 * whatever arrives meanwhile into c->in (so that a peer that writes while
 * we write cannot deadlock us).
 */
int client_flush(struct client *c, int timeout_ms);

/**
 * client_recv() - the next frame, waiting up to @timeout_ms for it.
 * @f: out; the caller frees it with frame_deinit().
 */
int client_recv(struct client *c, struct frame *f, int timeout_ms);

/**
 * client_call() - send the command @opcode with the JSON text @json and
 * wait for its response (any stream or notification frames before it
 * are an -EPROTO). @answer: out, the parsed response payload (NULL when
 * empty), or NULL to ignore it. An error response returns -EREMOTEIO and
 * prints its message to stderr.
 */
int client_call(struct client *c, uint8_t opcode, const char *json,
		struct json_object **answer, int timeout_ms);

/**
 * client_register() - RegisterVM @id on the sockets @ctl/@io asking for
 * @n tokens; up to @n token strings (malloc'd) go to @tokens.
 */
int client_register(struct client *c, const char *id, const char *ctl,
		    const char *io, unsigned n, char **tokens, int timeout_ms);

/**
 * client_hyper() - a Hyper command @name with the JSON text @data (or
 * NULL) and one @token (or NULL); the answer is not kept.
 */
int client_hyper(struct client *c, const char *name, const char *data,
		 const char *token, int timeout_ms);

/** client_connect_shim() - ConnectShim with @token. */
int client_connect_shim(struct client *c, const char *token, int timeout_ms);
