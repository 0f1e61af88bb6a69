/*
 * iochan.h - the agent's io channel (PROTOCOL.md part 2, "io channel"):
 * agent -> proxy messages are demultiplexed onto the sessions by sequence
 * number; stdin queued on the sessions is pumped to the agent.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct helper;
struct iochan;

/**
 * iochan_new() - the io channel on @fd (consumed in every case), not yet
 * reading. Return: 0 or -errno.
 */
int iochan_new(struct iochan **out, struct helper *h, int fd);

/** iochan_free() - close the channel; takes NULL; returns NULL. */
struct iochan *iochan_free(struct iochan *io);

/** iochan_start() - start reading the agent's io. */
void iochan_start(struct iochan *io);

/**
 * iochan_resume() - no session is congested any more: go on with the
 * buffered messages and read again. Deferred to a fresh callback, so it
 * is safe to call from anywhere.
 */
void iochan_resume(struct iochan *io);

/**
 * iochan_pump() - move queued stdin of started sessions into the channel,
 * whole io messages, one per session per round, while the channel's
 * output is below HELPER_IO_OUT_HIGH.
 */
void iochan_pump(struct iochan *io);

/**
 * iochan_idle() - nothing toward the agent is waiting: stdin may be
 * written at once (iochan_send_stdin()) without overtaking queued io.
 */
bool iochan_idle(const struct iochan *io);

/**
 * iochan_send_stdin() - write the first @len bytes of @src (one stdin
 * frame's payload) as io messages on @seq of at most HYPER_IO_SEND_MAX
 * bytes, with one writev(2) straight from @src, when the channel is idle.
 * @len 0: one empty message (stdin closed).
 * @taken: out, the data bytes taken off @src (written, or the rest of a
 *         message cut by a short write, which is queued to go next);
 *         the caller queues the remaining @len - *@taken as usual.
 * Return: true when anything was written; false when nothing was (busy,
 * too scattered, the socket full, or the VM lost): queue all of it.
 */
bool iochan_send_stdin(struct iochan *io, uint64_t seq, struct evbuffer *src,
		       size_t len, size_t *taken);
