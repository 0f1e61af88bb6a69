/*
 * fuzz_hyper.c - libFuzzer harness for src/common/hyper.c: the agent's
 * ctl and io message codecs on arbitrary byte streams (what a hostile VM
 * can send), delivered whole and again in pieces split at points derived
 * from the input; plus the encoders on arbitrary data.
 *
 * Input: byte 0 picks the length maxima, byte 1 the seq for the
 * encoders, the rest is the stream (read once as ctl, once as io).
 * Invariants checked besides "no crash, no leak, no UB":
 *  - decoders return 0, *_E_INCOMPLETE, *_E_INVALID (with a reason) or
 *    -ENOMEM, and consume nothing unless they return 0;
 *  - a ctl message is within the maximum, NUL-terminated, NULL exactly
 *    when empty, survives re-encoding; NEXT's count exists iff it carries
 *    4 bytes; an io message's total is within the maximum;
 *  - the outcomes are the same whole or in pieces;
 *  - hyper_io_encode() never makes a message over HYPER_IO_SEND_MAX, makes
 *    no empty message except the single one for zero bytes, and keeps the
 *    data and its order; hyper_io_encode_buffer() makes the same bytes
 *    from a many-chained source and drains exactly what it used;
 *  - hyper_command_from_name() and hyper_code_name() agree.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "fuzz_util.h"
#include "hyper.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	int r;
	uint64_t id;	/* ctl: code; io: seq */
	size_t len;
	uint64_t sum;	/* FNV-1a of the payload */
};

struct run {
	size_t max;	/* the length maximum decoded with */
	struct outcome *o;
	size_t n, cap;
	bool lost;	/* *_E_INVALID: the channel is gone */
};

static bool same_outcome(const struct outcome *x, const struct outcome *y)
{
	return x->r == y->r && x->id == y->id && x->len == y->len &&
	       x->sum == y->sum;
}

static void record(struct run *run, int r, uint64_t id, const uint8_t *p,
		   size_t len)
{
	FUZZ_CHECK(run->n < run->cap);
	run->o[run->n++] = (struct outcome){ .r = r, .id = id, .len = len,
					     .sum = p ? fuzz_fnv1a(p, len) : 0 };
}

/* A decoded ctl message: its checks and its re-encoding. */
static void check_ctl(const struct hyper_ctl_msg *m, size_t max)
{
	struct evbuffer *b = evbuffer_new();
	struct hyper_ctl_msg g = { 0 };
	const char *why;
	uint32_t n;
	int r;

	FUZZ_CHECK(HYPER_CTL_HEADER_SIZE + (size_t)m->payload_len <= max);
	FUZZ_CHECK(!m->payload == !m->payload_len);
	if (m->payload)
		FUZZ_CHECK(m->payload[m->payload_len] == '\0');
	FUZZ_CHECK(hyper_code_name(m->code));
	r = hyper_next_count(m, &n);
	FUZZ_CHECK(r == 0 || r == HYPER_E_INVALID);
	if (m->code == HYPER_NEXT)
		FUZZ_CHECK((r == 0) == (m->payload_len == 4));

	FUZZ_CHECK(b);
	if (hyper_ctl_encode(b, m->code, m->payload, m->payload_len) == 0) {
		FUZZ_CHECK(hyper_ctl_decode(b, max, &g, &why) == 0);
		FUZZ_CHECK(g.code == m->code && g.payload_len == m->payload_len);
		FUZZ_CHECK(!g.payload_len ||
			   !memcmp(g.payload, m->payload, g.payload_len));
		FUZZ_CHECK(evbuffer_get_length(b) == 0);
		hyper_ctl_msg_deinit(&g);
	}
	evbuffer_free(b);
}

static void drain_ctl(struct evbuffer *in, void *arg)
{
	struct run *run = arg;
	size_t max = run->max;

	while (!run->lost) {
		size_t before = evbuffer_get_length(in);
		struct hyper_ctl_msg m = { 0 };
		const char *why = NULL;
		int r = hyper_ctl_decode(in, max, &m, &why);

		FUZZ_CHECK(r == 0 || r == HYPER_E_INCOMPLETE ||
			   r == HYPER_E_INVALID);
		if (r) {
			FUZZ_CHECK(evbuffer_get_length(in) == before && !m.payload);
			if (r == HYPER_E_INCOMPLETE)
				return;
			FUZZ_CHECK(why && *why);
			run->lost = true;
			record(run, r, 0, NULL, 0);
			return;
		}
		FUZZ_CHECK(before - evbuffer_get_length(in) ==
			   HYPER_CTL_HEADER_SIZE + (size_t)m.payload_len);
		check_ctl(&m, max);
		record(run, 0, m.code, m.payload, m.payload_len);
		hyper_ctl_msg_deinit(&m);
	}
}

static void drain_io(struct evbuffer *in, void *arg)
{
	struct run *run = arg;
	size_t max = run->max;

	while (!run->lost) {
		size_t before = evbuffer_get_length(in), dlen = 0;
		uint64_t seq = 0;
		const char *why = NULL;
		uint8_t *buf;
		int r = hyper_io_peek(in, max, &seq, &dlen, &why);

		FUZZ_CHECK(r == 0 || r == HYPER_E_INCOMPLETE ||
			   r == HYPER_E_INVALID);
		FUZZ_CHECK(evbuffer_get_length(in) == before);
		if (r == HYPER_E_INCOMPLETE)
			return;
		if (r == HYPER_E_INVALID) {
			FUZZ_CHECK(why && *why);
			run->lost = true;
			record(run, r, 0, NULL, 0);
			return;
		}
		FUZZ_CHECK(HYPER_IO_HEADER_SIZE + dlen <= max);
		FUZZ_CHECK(before >= HYPER_IO_HEADER_SIZE + dlen);
		buf = malloc(dlen + 1);
		FUZZ_CHECK(buf);
		FUZZ_CHECK(evbuffer_drain(in, HYPER_IO_HEADER_SIZE) == 0);
		FUZZ_CHECK(evbuffer_remove(in, buf, dlen) == (int)dlen);
		record(run, 0, seq, buf, dlen);
		free(buf);
	}
}

/* Feed @data to @fn whole, then in pieces; the outcomes must agree. */
static void differential(const uint8_t *data, size_t size, size_t max,
			 void (*fn)(struct evbuffer *, void *), size_t min_msg)
{
	struct run a = { 0 }, b = { 0 };

	a.max = b.max = max;
	a.cap = b.cap = size / min_msg + 2;
	a.o = calloc(a.cap, sizeof(*a.o));
	b.o = calloc(b.cap, sizeof(*b.o));
	FUZZ_CHECK(a.o && b.o);
	fuzz_whole_and_pieces(data, size, fn, &a, &b);
	FUZZ_CHECK(a.n == b.n && a.lost == b.lost);
	for (size_t i = 0; i < a.n; i++)
		FUZZ_CHECK(same_outcome(&a.o[i], &b.o[i]));
	free(a.o);
	free(b.o);
}

/* Walk the io messages in @b: limits, seq, and the data they carry. */
static void check_encoded(struct evbuffer *b, uint64_t seq,
			  const uint8_t *data, size_t len)
{
	size_t off = 0, msgs = 0, dlen;
	uint64_t s;
	const char *why;
	uint8_t *buf = malloc(HYPER_IO_SEND_MAX);

	FUZZ_CHECK(buf);
	while (evbuffer_get_length(b)) {
		FUZZ_CHECK(hyper_io_peek(b, HYPER_IO_SEND_MAX, &s, &dlen, &why) == 0);
		FUZZ_CHECK(s == seq);
		FUZZ_CHECK(dlen > 0 || len == 0);
		FUZZ_CHECK(off + dlen <= len);
		evbuffer_drain(b, HYPER_IO_HEADER_SIZE);
		FUZZ_CHECK(evbuffer_remove(b, buf, dlen) == (int)dlen);
		FUZZ_CHECK(!dlen || !memcmp(buf, data + off, dlen));
		off += dlen;
		msgs++;
	}
	FUZZ_CHECK(off == len);
	FUZZ_CHECK(len > 0 || msgs == 1);
	free(buf);
}

static void check_encoders(const uint8_t *data, size_t len, uint64_t seq,
			   const struct fuzz_rng *seed)
{
	struct evbuffer *x = evbuffer_new(), *y = evbuffer_new();
	struct evbuffer *src = evbuffer_new();
	struct fuzz_rng rng = *seed;
	size_t xl;

	FUZZ_CHECK(x && y && src);
	/* The source in many chains, with a tail the encoder must leave. */
	for (size_t pos = 0; pos < len;) {
		size_t n = fuzz_piece_len(&rng, len - pos);

		FUZZ_CHECK(evbuffer_add_reference(src, data + pos, n, NULL, NULL) == 0);
		pos += n;
	}
	FUZZ_CHECK(evbuffer_add(src, "tail", 4) == 0);
	FUZZ_CHECK(hyper_io_encode(x, seq, data, len) == 0);
	FUZZ_CHECK(hyper_io_encode_buffer(y, seq, src, len) == 0);
	FUZZ_CHECK(evbuffer_get_length(src) == 4);
	xl = evbuffer_get_length(x);
	FUZZ_CHECK(xl == evbuffer_get_length(y));
	FUZZ_CHECK(!memcmp(evbuffer_pullup(x, -1), evbuffer_pullup(y, -1), xl));
	check_encoded(x, seq, data, len);
	evbuffer_free(x);
	evbuffer_free(y);
	evbuffer_free(src);
}

static void check_names(const uint8_t *data, size_t size)
{
	char name[24];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	int code;

	memcpy(name, data, n);
	name[n] = '\0';
	code = hyper_command_from_name(name);
	if (code < 0)
		return;
	FUZZ_CHECK(!strcmp(hyper_code_name((uint32_t)code), name));
	FUZZ_CHECK(code != HYPER_READY && code != HYPER_ACK &&
		   code != HYPER_ERROR && code != HYPER_NEXT &&
		   code != HYPER_PROCESSASYNCEVENT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t seqs[4] = { 3, 0, 1ull << 32, UINT64_MAX };
	struct fuzz_rng rng;
	size_t ctl_max, io_max;
	uint64_t seq;

	if (size < 2)
		return 0;
	/* Small maxima reach the "too long" paths; else the real ones. */
	ctl_max = data[0] & 1 ? HYPER_CTL_RECV_MAX : 8u + (unsigned)(data[0] >> 2);
	io_max = data[0] & 2 ? HYPER_IO_RECV_MAX : 12u + (unsigned)(data[0] >> 2);
	seq = seqs[data[1] & 3] ^ (data[1] >> 2);
	data += 2, size -= 2;

	differential(data, size, ctl_max, drain_ctl, HYPER_CTL_HEADER_SIZE);
	differential(data, size, io_max, drain_io, HYPER_IO_HEADER_SIZE);
	fuzz_rng_seed(&rng, data, size);
	check_encoders(data, size, seq, &rng);
	check_names(data, size);
	return 0;
}
