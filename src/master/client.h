/*
 * client.h - one client connection of the master (a runtime or a shim
 * before its handover): framing, one command at a time, responses.
 *
 * A client is in exactly one wait state. While it waits (a RegisterVM for
 * READY, a Hyper for the helper's answer, a ConnectShim for its output to
 * flush) reading stops and later frames stay buffered, so responses go
 * out in order and exactly one per command (PROTOCOL.md part 1).
 *
 * Ownership: m->clients owns every client; a client is freed only from
 * its own callbacks (read, event, write, resume), never by another
 * module. Other modules hold `struct client *` only in the places that
 * client_free() clears: vm->registrar and vm_request->client.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "frame.h"

struct master;
struct vm;
struct vm_request;
struct vm_token;
struct bufferevent;
struct event;
struct quota_uid;
struct evbuffer_cb_entry;

/* Input is read up to one whole frame: the longest header (255 words)
 * plus the largest payload. Beyond that reading pauses (watermark). */
#define CLIENT_IN_HIGH		(255u * 4u + FRAME_PAYLOAD_MAX)
/* Unsent responses above --max-output (quota.h): stop taking commands
 * until they drain. */

/* What the client's timer measures (quota.h: --frame-timeout,
 * --idle-timeout). */
enum client_timer {
	CLIENT_TIMER_NONE,	/* a command in flight, or attached and idle */
	CLIENT_TIMER_FRAME,	/* input waiting: an incomplete frame */
	CLIENT_TIMER_IDLE,	/* nothing to do and not attached */
};

enum client_wait {
	CLIENT_IDLE,		/* ready for the next command */
	CLIENT_WAIT_REGISTER,	/* RegisterVM: wait_vm's IPC_H_READY */
	CLIENT_WAIT_HYPER,	/* Hyper: wait_req's answer */
	CLIENT_WAIT_HANDOFF,	/* ConnectShim: output to flush, then handover */
	CLIENT_WAIT_STATUS,	/* Status: the helpers' counters (status.c) */
};

struct client {
	TAILQ_ENTRY(client) entry;	/* m->clients */
	struct master *m;
	unsigned long long id;	/* for logs */
	int fd;			/* the socket; owned by bev (CLOSE_ON_FREE) */
	struct bufferevent *bev;
	struct event *resume_ev;	/* deferred: next command, or the handover */
	struct event *closed_ev;	/* EV_CLOSED while a command waits */
	pid_t pid;		/* SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	char id_str[24];	/* log field values */
	char pid_str[24];

	enum client_wait wait;
	uint8_t wait_opcode;	/* the command being answered */
	struct vm *wait_vm;	/* REGISTER, HYPER, HANDOFF */
	struct vm_request *wait_req;	/* HYPER */
	struct vm_token *handoff;	/* HANDOFF: the claimed token */
	bool out_congested;	/* output above --max-output */
	bool broken;		/* a response was lost: close from resume_ev */

	/* quotas (quota.c) */
	struct quota_uid *lim_uid;	/* our uid's count */
	uint64_t buffered;	/* bytes in our two buffers, while counted */
	bool uncounted;		/* being closed: bytes no longer counted */
	struct evbuffer_cb_entry *in_cb, *out_cb;	/* count buffered bytes */
	struct event *timer;	/* --frame-timeout / --idle-timeout */
	enum client_timer timer_kind;

	struct vm *vm;		/* attached (RegisterVM/AttachVM) or NULL */
	char *vm_gone_msg;	/* why the attached VM went away, or NULL */
};

/**
 * client_new() - serve a freshly accepted connection @fd (consumed in
 * every case). Writes the "client connected" audit record.
 * Return: 0 or -errno.
 */
int client_new(struct master *m, int fd);

/** client_free_all() - close every client (the master is stopping). */
void client_free_all(struct master *m);

/**
 * client_respond() - queue a response to command @opcode: @len bytes of
 * @payload (JSON text; NULL/0 for none), with the error flag if @error.
 */
void client_respond(struct client *c, uint8_t opcode, bool error,
		    const void *payload, size_t len);

/** client_respond_error() - an error response {"msg": formatted text}. */
void client_respond_error(struct client *c, uint8_t opcode, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** client_wait() - the command just dispatched is answered later. */
void client_wait(struct client *c, enum client_wait what, uint8_t opcode,
		 struct vm *vm);

/**
 * client_finish() - answer the command @c waits for (see client_respond)
 * and take the next one. Safe from any callback: processing resumes
 * from the client's own deferred event.
 */
void client_finish(struct client *c, bool error, const void *payload, size_t len);

/** client_finish_error() - the same with {"msg": @msg}. */
void client_finish_error(struct client *c, const char *msg);

/** client_attach() - attach @c to @vm (Hyper goes there from now on). */
void client_attach(struct client *c, struct vm *vm);

/**
 * client_vm_gone() - @vm is about to be freed: every client waiting on it
 * gets an error response with @msg, every client attached to it is
 * detached (its later Hyper commands fail with @msg), and no client keeps
 * a pointer into it.
 */
void client_vm_gone(struct master *m, struct vm *vm, const char *msg);

/* Log fields naming a client. */
#define CLIENT_FIELDS(c) LOG_FIELDS({ "CC_CLIENT", (c)->id_str }, \
				    { "CC_CLIENT_PID", (c)->pid_str })
