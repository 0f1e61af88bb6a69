/*
 * stream_util.h - shims that stream without blocking, for tests that do
 * something else (kill or upgrade the master) while the bytes flow: each
 * stream sends a deterministic pattern as stdin to a process echoing it
 * (`head -c N`), and checks every byte of its stdout against the same
 * pattern, so a byte lost, duplicated or reordered in either direction
 * fails the test at its offset. Functions assert.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tclient;

struct stream {
	struct tclient *shim;	/* non-blocking once stream_init() ran */
	struct evbuffer *out;	/* stdin frames not written yet */
	uint32_t seed;		/* the pattern */
	uint64_t total;		/* bytes each way */
	uint64_t allowed;	/* stdin sent up to here for now (<= total) */
	uint64_t sent, received;
	uint64_t stderr_bytes;
	int status;		/* ProcessExited code, -1 before */
	unsigned int n_exited;
};

/** stream_init() - @total bytes each way on @shim, with pattern @seed. */
void stream_init(struct stream *st, struct tclient *shim, uint32_t seed, uint64_t total);

/** stream_deinit() - free the buffers (not the shim). */
void stream_deinit(struct stream *st);

/** stream_done() - every byte back and ProcessExited seen. */
bool stream_done(const struct stream *st);

/**
 * stream_pump() - one poll round over @n streams and @extra_fd (>= 0:
 * also watched for POLLIN), at most @timeout_ms: writes stdin, reads and
 * checks stdout. Return: true when @extra_fd became readable.
 */
bool stream_pump(struct stream *st, size_t n, int extra_fd, int timeout_ms);

/**
 * stream_run_until() - pump until every stream has @bytes back (or is
 * done), bounded by @timeout_ms.
 */
void stream_run_until(struct stream *st, size_t n, uint64_t bytes, int timeout_ms);
