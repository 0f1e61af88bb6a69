/*
 * iochan.h - the agent's io channel (PROTOCOL.md part 2, "io channel"):
 * agent -> proxy messages are demultiplexed onto the sessions by sequence
 * number; stdin queued on the sessions is pumped to the agent.
 */
#pragma once

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
