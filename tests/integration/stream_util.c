/*
 * stream_util.c - non-blocking shims that stream a checked pattern
 * (stream_util.h).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "frame.h"
#include "harness.h"
#include "stream_util.h"
#include "tclient.h"

#define STREAM_CHUNK	(32u * 1024u)	/* stdin per frame */
#define STREAM_OUT_MAX	(256u * 1024u)	/* stdin frames buffered here */
#define STREAM_READ	(256 * 1024)

/* Byte @i of the pattern @seed: a cheap mix, different at every offset
 * and for every seed. */
static uint8_t stream_byte(uint32_t seed, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL ^ seed;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17));
}

void stream_init(struct stream *st, struct tclient *shim, uint32_t seed, uint64_t total)
{
	memset(st, 0, sizeof(*st));
	st->shim = shim;
	st->seed = seed;
	st->total = total;
	st->allowed = total;
	st->status = -1;
	st->out = evbuffer_new();
	ck_assert_ptr_nonnull(st->out);
	ck_assert(fcntl(shim->fd, F_SETFL, fcntl(shim->fd, F_GETFL) | O_NONBLOCK) == 0);
}

void stream_deinit(struct stream *st)
{
	if (st->out)
		evbuffer_free(st->out);
	st->out = NULL;
}

bool stream_done(const struct stream *st)
{
	return st->received == st->total && st->n_exited > 0;
}

/* Fill the stdin frames up to what is allowed. */
static void stream_fill(struct stream *st)
{
	uint8_t chunk[STREAM_CHUNK];

	while (st->sent < st->allowed && evbuffer_get_length(st->out) < STREAM_OUT_MAX) {
		size_t len = st->allowed - st->sent < STREAM_CHUNK ?
			     (size_t)(st->allowed - st->sent) : STREAM_CHUNK;

		for (size_t i = 0; i < len; i++)
			chunk[i] = stream_byte(st->seed, st->sent + i);
		ck_assert(frame_encode(st->out, FRAME_TYPE_STREAM, 0, FRAME_STREAM_STDIN,
				       chunk, len) == 0);
		st->sent += len;
	}
}

static void stream_frame(struct stream *st, const struct frame *f)
{
	if (f->type == FRAME_TYPE_STREAM && f->opcode == FRAME_STREAM_STDOUT) {
		ck_assert_msg(st->n_exited == 0, "stdout after ProcessExited");
		ck_assert_msg(st->received + f->payload_len <= st->total,
			      "stream %u: more bytes back than sent (%llu + %u)", st->seed,
			      (unsigned long long)st->received, f->payload_len);
		for (uint32_t i = 0; i < f->payload_len; i++)
			if (f->payload[i] != stream_byte(st->seed, st->received + i))
				ck_abort_msg("stream %u: byte %llu differs", st->seed,
					     (unsigned long long)(st->received + i));
		st->received += f->payload_len;
	} else if (f->type == FRAME_TYPE_STREAM && f->opcode == FRAME_STREAM_STDERR) {
		st->stderr_bytes += f->payload_len;
	} else if (f->type == FRAME_TYPE_NOTIFICATION &&
		   f->opcode == FRAME_NOTIFY_PROCESS_EXITED && f->payload_len == 1) {
		st->n_exited++;
		st->status = f->payload[0];
	} else {
		ck_abort_msg("stream %u: unexpected frame type %u opcode %u", st->seed,
			     f->type, f->opcode);
	}
}

static void stream_read(struct stream *st)
{
	struct frame f = FRAME_NULL;
	const char *why = NULL;
	int n = evbuffer_read(st->shim->in, st->shim->fd, STREAM_READ);
	int r;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	ck_assert_msg(n > 0, "stream %u: the shim connection %s after %llu bytes",
		      st->seed, n == 0 ? "closed" : strerror(errno),
		      (unsigned long long)st->received);
	while ((r = frame_decode(st->shim->in, FRAME_PAYLOAD_MAX, &f, &why)) == 0) {
		stream_frame(st, &f);
		frame_deinit(&f);
	}
	ck_assert_msg(r == FRAME_E_INCOMPLETE, "stream %u: bad frame: %s", st->seed,
		      why ? why : "?");
}

bool stream_pump(struct stream *st, size_t n, int extra_fd, int timeout_ms)
{
	struct pollfd p[9];
	bool extra = false;

	ck_assert(n < 8);
	for (size_t i = 0; i < n; i++) {
		stream_fill(&st[i]);
		p[i] = (struct pollfd){ .fd = st[i].shim->fd, .events = POLLIN |
			(evbuffer_get_length(st[i].out) ? POLLOUT : 0) };
	}
	p[n] = (struct pollfd){ .fd = extra_fd, .events = POLLIN };
	if (poll(p, n + 1, timeout_ms) <= 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i].revents & POLLOUT) {
			int w = evbuffer_write(st[i].out, st[i].shim->fd);

			ck_assert_msg(w >= 0 || errno == EAGAIN, "stream %u: write: %s",
				      st[i].seed, strerror(errno));
		}
		if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
			stream_read(&st[i]);
	}
	if (extra_fd >= 0 && (p[n].revents & POLLIN))
		extra = true;
	return extra;
}

void stream_run_until(struct stream *st, size_t n, uint64_t bytes, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		bool all = true;

		for (size_t i = 0; i < n; i++)
			all &= st[i].received >= bytes || stream_done(&st[i]);
		if (all)
			return;
		ck_assert_msg(harness_left_ms(deadline) > 0,
			      "streams stalled: %llu and %llu bytes back, want %llu",
			      (unsigned long long)st[0].received,
			      (unsigned long long)(n > 1 ? st[1].received : 0),
			      (unsigned long long)bytes);
		stream_pump(st, n, -1, harness_left_ms(deadline));
	}
}
