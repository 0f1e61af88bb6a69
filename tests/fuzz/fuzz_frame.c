/*
 * fuzz_frame.c - libFuzzer harness for src/common/frame.c: frame_decode()
 * on an arbitrary client byte stream, delivered whole and again in pieces
 * split at points derived from the input (PROTOCOL.md: "a frame may
 * arrive in any number of pieces, even byte by byte, and several frames
 * may arrive in one read").
 *
 * Input: byte 0 picks the payload maximum, the rest is the stream.
 * Invariants checked besides "no crash, no leak, no UB":
 *  - frame_decode() returns 0, FRAME_E_INCOMPLETE, FRAME_E_INVALID (with
 *    a reason) or -ENOMEM, and drains nothing unless it returns 0;
 *  - a decoded frame is sane (type < 4, flags in the high nibble, payload
 *    within the maximum, NUL-terminated, NULL exactly when empty) and
 *    consumed at least its header and payload;
 *  - the sequence of outcomes is the same whole or in pieces;
 *  - re-encoding a frame and decoding it gives the same frame;
 *  - frame_encode_error() makes an error response whose JSON reads back.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "frame.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one frame_decode() call ended with. */
struct outcome {
	int r;
	uint8_t type, flags, opcode;
	uint32_t len;
	uint64_t sum;	/* FNV-1a of the payload */
};

struct run {
	uint32_t max;	/* the payload maximum decoded with */
	struct outcome *o;
	size_t n, cap;
	bool closed;	/* FRAME_E_INVALID: the connection is gone */
};

static bool same_outcome(const struct outcome *x, const struct outcome *y)
{
	return x->r == y->r && x->type == y->type && x->flags == y->flags &&
	       x->opcode == y->opcode && x->len == y->len && x->sum == y->sum;
}

/* The frame's own checks, and that it survives re-encoding unchanged. */
static void check_frame(const struct frame *f, uint32_t max)
{
	struct evbuffer *b = evbuffer_new();
	struct frame g = FRAME_NULL;
	const char *why = NULL;

	FUZZ_CHECK(f->type < FRAME_TYPE_COUNT);
	FUZZ_CHECK(!(f->flags & 0x0f));
	FUZZ_CHECK(f->payload_len <= max);
	FUZZ_CHECK(!f->payload == !f->payload_len);
	if (f->payload)
		FUZZ_CHECK(f->payload[f->payload_len] == '\0');
	FUZZ_CHECK(frame_type_name(f->type));
	FUZZ_CHECK(frame_opcode_name(f->type, f->opcode));
	(void)frame_opcode_known(f->type, f->opcode);

	FUZZ_CHECK(b);
	if (frame_encode(b, f->type, f->flags, f->opcode, f->payload,
			 f->payload_len) == 0) {
		FUZZ_CHECK(evbuffer_get_length(b) ==
			   FRAME_HEADER_SIZE + (size_t)f->payload_len);
		FUZZ_CHECK(frame_decode(b, max, &g, &why) == 0);
		FUZZ_CHECK(g.type == f->type && g.flags == f->flags &&
			   g.opcode == f->opcode && g.payload_len == f->payload_len);
		FUZZ_CHECK(!f->payload_len ||
			   !memcmp(g.payload, f->payload, f->payload_len));
		FUZZ_CHECK(evbuffer_get_length(b) == 0);
		frame_deinit(&g);
		FUZZ_CHECK(!g.payload && !g.payload_len);
	}
	evbuffer_free(b);
}

/* Decode everything @in holds now, appending outcomes to @arg, a run. */
static void drain(struct evbuffer *in, void *arg)
{
	struct run *run = arg;
	uint32_t max = run->max;

	while (!run->closed) {
		size_t before = evbuffer_get_length(in);
		struct frame f = FRAME_NULL;
		const char *why = NULL;
		int r = frame_decode(in, max, &f, &why);

		FUZZ_CHECK(r == 0 || r == FRAME_E_INCOMPLETE ||
			   r == FRAME_E_INVALID || r == -ENOMEM);
		if (r == -ENOMEM)
			abort();	/* cannot happen with inputs this small */
		if (r == FRAME_E_INCOMPLETE) {
			FUZZ_CHECK(evbuffer_get_length(in) == before);
			FUZZ_CHECK(!f.payload);
			return;
		}
		FUZZ_CHECK(run->n < run->cap);
		run->o[run->n] = (struct outcome){ .r = r };
		if (r == FRAME_E_INVALID) {
			FUZZ_CHECK(why && *why);
			FUZZ_CHECK(evbuffer_get_length(in) == before);
			FUZZ_CHECK(!f.payload);
			run->closed = true;
			run->n++;
			return;
		}
		FUZZ_CHECK(before - evbuffer_get_length(in) >=
			   FRAME_HEADER_SIZE + (size_t)f.payload_len);
		check_frame(&f, max);
		run->o[run->n++] = (struct outcome){
			.r = 0, .type = f.type, .flags = f.flags,
			.opcode = f.opcode, .len = f.payload_len,
			.sum = fuzz_fnv1a(f.payload, f.payload_len),
		};
		frame_deinit(&f);
	}
}

/* An error response with an arbitrary message reads back as such. */
static void check_error_response(const uint8_t *data, size_t size)
{
	struct evbuffer *b = evbuffer_new();
	struct frame f = FRAME_NULL;
	struct json_object *o, *msg;
	const char *why;
	char *s = malloc(size + 1);
	bool ok;

	FUZZ_CHECK(b && s);
	memcpy(s, data, size);
	s[size] = '\0';
	if (frame_encode_error(b, size ? data[0] : 0, s) == 0) {
		FUZZ_CHECK(frame_decode(b, UINT32_MAX, &f, &why) == 0);
		FUZZ_CHECK(f.type == FRAME_TYPE_RESPONSE);
		FUZZ_CHECK(f.flags == FRAME_FLAG_ERROR);
		FUZZ_CHECK(f.opcode == (size ? data[0] : 0));
		o = fuzz_json_parse((const char *)f.payload, f.payload_len, &ok);
		FUZZ_CHECK(ok && json_object_object_get_ex(o, "msg", &msg));
		FUZZ_CHECK(!strcmp(json_object_get_string(msg), s));
		json_object_put(o);
		frame_deinit(&f);
	}
	free(s);
	evbuffer_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run a = { 0 }, b = { 0 };
	uint32_t max;

	if (size < 1)
		return 0;
	/* Tiny maxima hit the "too long" path; the default most often. */
	max = data[0] < 64 ? data[0] : data[0] < 128 ? FRAME_PAYLOAD_MAX :
	      data[0] < 192 ? UINT32_MAX : FRAME_PAYLOAD_MAX;
	data++, size--;

	a.max = b.max = max;
	a.cap = b.cap = size / FRAME_HEADER_SIZE + 2;
	a.o = calloc(a.cap, sizeof(*a.o));
	b.o = calloc(b.cap, sizeof(*b.o));
	FUZZ_CHECK(a.o && b.o);

	fuzz_whole_and_pieces(data, size, drain, &a, &b);
	FUZZ_CHECK(a.n == b.n && a.closed == b.closed);
	for (size_t i = 0; i < a.n; i++)
		FUZZ_CHECK(same_outcome(&a.o[i], &b.o[i]));

	check_error_response(data, size < 256 ? size : 256);
	free(a.o);
	free(b.o);
	return 0;
}
