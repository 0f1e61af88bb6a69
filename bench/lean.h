/*
 * lean.h - the benchmarks' lean data paths, so that the benchmark itself
 * is never what limits a figure:
 *  - a direct client of a lean agent's ctl and io sockets (the baselines:
 *    the same traffic with no proxy in between);
 *  - stream consumers that parse proxy frames or hyperstart io messages
 *    in place in one large read buffer, without copying payloads;
 *  - a stdin producer that writes pre-encoded messages.
 * Every wait is a poll() bounded by RIG_TIMEOUT_MS; any failure is a
 * setup failure (rig_fail()).
 */
#pragma once

#include <stdint.h>

#include "client.h"

/* Stdin frames a shim sends (cc-shim reads its input in such chunks). */
#define LEAN_STDIN_FRAME	(64u * 1024u)
/* Stdin io messages the helper sends: at most HYPER_IO_SEND_MAX in all. */
#define LEAN_STDIN_MSG		4096u

struct direct {
	int ctl, io;
};

/** direct_open() - connect to a lean agent's @ctl and @io, wait for READY. */
void direct_open(struct direct *d, const char *ctl, const char *io);
void direct_close(struct direct *d);

/** direct_ping() - one PING on ctl, wait for its ACK (NEXT skipped). */
void direct_ping(struct direct *d);

/** direct_send_ping() / direct_read_acks(): the pipelined form; the
 * latter reads what is there and returns how many ACKs it held. */
void direct_send_ping(struct direct *d);
unsigned direct_read_acks(struct direct *d);

/**
 * direct_exec() - execcmd with process.stdio = @seq and args @args_json
 * (a JSON array), wait for its ACK.
 */
void direct_exec(struct direct *d, uint64_t seq, const char *args_json);

/**
 * direct_read_stdout() - read io messages until the end of output on
 * @seq and the status byte. Return: the output bytes.
 */
uint64_t direct_read_stdout(struct direct *d, uint64_t seq);

/**
 * direct_write_stdin() - @bytes of stdin on @seq in LEAN_STDIN_MSG
 * messages, then the empty message. Return: the count the agent printed.
 */
uint64_t direct_write_stdin(struct direct *d, uint64_t seq, uint64_t bytes);

/**
 * shim_read_stdout() - read frames on the shim connection @c until
 * ProcessExited. Return: the stdout bytes.
 */
uint64_t shim_read_stdout(struct client *c);

/**
 * shim_write_stdin() - @bytes of stdin in LEAN_STDIN_FRAME frames, then
 * the empty stdin frame; read until ProcessExited. Return: the count
 * the agent printed on stdout.
 */
uint64_t shim_write_stdin(struct client *c, uint64_t bytes);
