/*
 * agent.h - the agent's ctl channel (PROTOCOL.md part 2, "ctl channel"):
 * READY once, NEXT as flow control only, one command in flight, a FIFO of
 * the rest, processasyncevent routed to the sessions.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct helper;
struct agent;
struct agent_cmd;

/* Most commands waiting for their turn (Hyper requests and signals). */
#define AGENT_QUEUE_MAX	1024

/* No READY within this: one PING probes the agent (agent.c). */
#define AGENT_PROBE_MS	500

/*
 * The answer to one command: the agent's ACK (@error false, @text its
 * payload, maybe empty) or ERROR (@text its reason, maybe empty). @text
 * is NUL-terminated and valid only during the call. Called exactly once,
 * unless the command was cancelled.
 */
typedef void (*agent_answer_fn)(void *ctx, bool error, const char *text,
				size_t len);

/**
 * agent_new() - the ctl channel on @fd (consumed in every case), not yet
 * reading. Return: 0 or -errno.
 */
int agent_new(struct agent **out, struct helper *h, int fd);

/** agent_free() - close the channel, drop every command; takes NULL. */
struct agent *agent_free(struct agent *a);

/**
 * agent_start() - read the channel and wait (h->wait_timeout) for READY;
 * without it the VM is reported lost.
 */
void agent_start(struct agent *a);

/**
 * agent_submit() - queue command @code with payload @data (malloc'd,
 * @len bytes; NULL for none), consumed in every case. It is sent when it
 * reaches the head of the FIFO and the agent is ready.
 * @cmd: out, a handle for agent_cancel() (may be NULL if never cancelled)
 * Return: 0; -ENOBUFS when AGENT_QUEUE_MAX commands wait; -EMSGSIZE for
 * a payload too large for the ctl length field; -ENOMEM. Never calls back
 * from inside.
 */
int agent_submit(struct agent *a, uint32_t code, char *data, size_t len,
		 agent_answer_fn cb, void *ctx, struct agent_cmd **cmd);

/**
 * agent_cancel() - the owner of @cmd no longer wants the answer (it is
 * being freed). A command not yet sent is dropped; one in flight stays
 * (its answer must still be consumed) but its callback is not called.
 */
void agent_cancel(struct agent *a, struct agent_cmd *cmd);
