/*
 * check_frame.c - unit tests of frame.c, the client protocol v2 codec.
 *
 * Frames are built here byte by byte (raw_frame()), independently of
 * frame_encode(), so the decoder is checked against the wire layout of
 * PROTOCOL.md and not against its own encoder. Covered: exact encoded
 * bytes; round trips of every type and opcode; truncation at every byte
 * offset; bytes fed one at a time; several frames per buffer; bad
 * version, header length and type, judged as soon as the field arrives;
 * header lengths 3..255 words; payload lengths up to 2^32 - 1, with the
 * limit applied before any allocation (proven under an address-space
 * rlimit); JSON escaping of error messages; randomised streams and
 * garbage. Every failure result is checked to leave the input untouched.
 *
 * Each test gets two empty evbuffers, `b` and `t`, from the fixture.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "frame.h"
#include "unit_main.h"
#include "codec_test.h"

/* Append a frame exactly as the wire carries it (reserved bytes 0);
 * extra header words are filled with @fill. */
static void raw_frame(struct evbuffer *out, uint16_t version, uint8_t hlen,
		      uint8_t type_flags, uint8_t opcode, uint32_t len_field,
		      const void *payload, size_t len, uint8_t fill)
{
	uint8_t h[1020];

	memset(h, fill, sizeof(h));
	put32(h, (uint32_t)version << 16 | (uint32_t)hlen << 8);
	put32(h + 4, (uint32_t)type_flags << 8 | opcode);
	put32(h + 8, len_field);
	ck_assert_int_eq(evbuffer_add(out, h, hlen >= 3 ? hlen * 4u : 12), 0);
	if (len)
		ck_assert_int_eq(evbuffer_add(out, payload, len), 0);
}

/* Decode and require result @want, no payload and the input intact. */
static void assert_fails(struct evbuffer *in, uint32_t max, int want)
{
	struct frame f = FRAME_NULL;
	const char *why = NULL;
	size_t len;
	uint8_t *snap = snapshot(in, &len);

	ck_assert_int_eq(frame_decode(in, max, &f, &why), want);
	if (want == FRAME_E_INVALID)	/* a reason for the log */
		ck_assert(why && *why);
	ck_assert_ptr_null(f.payload);
	assert_bytes(in, snap, len);
	free(snap);
}

#define assert_invalid(in, max) assert_fails(in, max, FRAME_E_INVALID)
#define assert_incomplete(in, max) assert_fails(in, max, FRAME_E_INCOMPLETE)

/* Decode one frame and compare every field with what was sent. */
static void assert_frame(struct evbuffer *in, uint8_t type, uint8_t flags,
			 uint8_t opcode, const void *payload, size_t len)
{
	struct frame f = FRAME_NULL;

	ck_assert_int_eq(frame_decode(in, FRAME_PAYLOAD_MAX, &f, NULL), 0);
	ck_assert(f.type == type && f.flags == flags && f.opcode == opcode);
	ck_assert_uint_eq(f.payload_len, len);
	if (len)	/* the bytes sent, then the extra NUL */
		ck_assert(!memcmp(f.payload, payload, len) && !f.payload[len]);
	else
		ck_assert_ptr_null(f.payload);
	frame_deinit(&f);
	ck_assert_ptr_null(f.payload);
}

/* The exact bytes of a command with payload and of an empty error response. */
START_TEST(test_encode_bytes)
{
	static const uint8_t cmd[] = { 0, 2, 3, 0, 0, 0, 0x00, 3, 0, 0, 0, 2, '{', '}' };
	static const uint8_t err[] = { 0, 2, 3, 0, 0, 0, 0x11, 6, 0, 0, 0, 0 };

	ck_assert_int_eq(frame_encode(b, FRAME_TYPE_COMMAND, 0, FRAME_CMD_HYPER, "{}", 2), 0);
	assert_bytes(b, cmd, sizeof(cmd));
	ck_assert_int_eq(frame_encode(t, FRAME_TYPE_RESPONSE, FRAME_FLAG_ERROR,
				      FRAME_CMD_SIGNAL, NULL, 0), 0);
	assert_bytes(t, err, sizeof(err));
}
END_TEST

/* Every opcode of type _i, with and without flags, through encode and decode. */
START_TEST(test_roundtrip_all)
{
	uint8_t payload[300];

	for (unsigned op = 0; op < 256; op++) {
		uint8_t flags = op & 1 ? FRAME_FLAG_ERROR : (op & 2 ? 0xf0 : 0);
		size_t len = (op * 37) % sizeof(payload);

		for (size_t i = 0; i < len; i++)
			payload[i] = (uint8_t)(op + i);
		ck_assert_int_eq(frame_encode(b, (uint8_t)_i, flags, (uint8_t)op,
					      payload, len), 0);
		ck_assert_uint_eq(evbuffer_get_length(b), FRAME_HEADER_SIZE + len);
		assert_frame(b, (uint8_t)_i, flags, (uint8_t)op, payload, len);
		ck_assert_uint_eq(evbuffer_get_length(b), 0);
	}
}
END_TEST

static uint8_t big[300];

/* Three frames: a bare command; a notification with a 5-word header and
 * one byte; an error response with 300 bytes. Their ends go to @ends. */
static void three_frames(struct evbuffer *out, size_t ends[3])
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	raw_frame(out, 2, 3, FRAME_TYPE_COMMAND, FRAME_CMD_UNREGISTER_VM, 0, NULL, 0, 0);
	ends[0] = evbuffer_get_length(out);
	raw_frame(out, 2, 5, FRAME_TYPE_NOTIFICATION, 0, 1, "\x2a", 1, 0x55);
	ends[1] = evbuffer_get_length(out);
	raw_frame(out, 2, 3, FRAME_TYPE_RESPONSE | FRAME_FLAG_ERROR, 3,
		  sizeof(big), big, sizeof(big), 0);
	ends[2] = evbuffer_get_length(out);
}

/* Decode frame @k of three_frames(). */
static void assert_nth(struct evbuffer *in, size_t k)
{
	if (k == 0)
		assert_frame(in, FRAME_TYPE_COMMAND, 0, FRAME_CMD_UNREGISTER_VM, NULL, 0);
	else if (k == 1)
		assert_frame(in, FRAME_TYPE_NOTIFICATION, 0, 0, "\x2a", 1);
	else
		assert_frame(in, FRAME_TYPE_RESPONSE, FRAME_FLAG_ERROR, 3, big, sizeof(big));
}

/* No whole message yet: more is awaited, nothing drained. */
static void assert_nothing_yet(struct evbuffer *in)
{
	assert_incomplete(in, FRAME_PAYLOAD_MAX);
}

static const struct three_stream three = {
	three_frames, assert_nth, assert_nothing_yet,
};

/*
 * The three frames cut at every offset _i (0..345): the frames wholly
 * before the cut decode (several in one buffer), then more is awaited
 * with nothing drained; the rest of the bytes complete the others.
 */
START_TEST(test_truncated)
{
	assert_three_cut(&three, 345, (size_t)_i);
}
END_TEST

/* The three frames fed one byte at a time: each completes with its last
 * byte, and not before. */
START_TEST(test_byte_by_byte)
{
	assert_three_byte_by_byte(&three);
}
END_TEST

/* Untrusted headers, and how many bytes it takes to see it. */
static const struct {
	uint16_t version;
	uint8_t hlen, type_flags;
	size_t judged_at;
} bad_headers[] = {
	{ 0, 3, 0, 2 }, { 1, 3, 0, 2 }, { 3, 3, 0, 2 }, { 0x0102, 3, 0, 2 },
	{ 0x0200, 3, 0, 2 }, { 0xffff, 3, 0, 2 }, { 2, 0, 0, 3 }, { 2, 1, 0, 3 },
	{ 2, 2, 0, 3 }, { 2, 3, 4, 7 }, { 2, 3, 5, 7 }, { 2, 3, 7, 7 },
	{ 2, 3, 8, 7 }, { 2, 3, 15, 7 }, { 2, 3, 0x14, 7 }, { 2, 3, 0xff, 7 },
};

/*
 * Bad version, header length < 3 words, type >= 4 (with or without
 * flags): refused with the whole frame, and as soon as the field is in;
 * one byte earlier, more is awaited.
 */
START_TEST(test_bad_header)
{
	size_t at = bad_headers[_i].judged_at;

	raw_frame(b, bad_headers[_i].version, bad_headers[_i].hlen,
		  bad_headers[_i].type_flags, 0, 2, "{}", 2, 0);
	assert_invalid(b, FRAME_PAYLOAD_MAX);
	assert_invalid(b, UINT32_MAX);
	evbuffer_add(t, evbuffer_pullup(b, -1), at - 1);
	assert_incomplete(t, FRAME_PAYLOAD_MAX);
	evbuffer_add(t, evbuffer_pullup(b, -1) + at - 1, 1);
	assert_invalid(t, FRAME_PAYLOAD_MAX);
}
END_TEST

/* Header length _i words (3..255): the extra bytes, which look like a
 * frame header themselves, are skipped; the next frame decodes. */
START_TEST(test_header_len)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "payload-%d", _i);

	raw_frame(b, 2, (uint8_t)_i, FRAME_TYPE_COMMAND, FRAME_CMD_ATTACH_VM,
		  (uint32_t)n, text, (size_t)n, 0x02);
	raw_frame(b, 2, 3, FRAME_TYPE_STREAM, FRAME_STREAM_LOG, 1, "x", 1, 0);
	assert_frame(b, FRAME_TYPE_COMMAND, 0, FRAME_CMD_ATTACH_VM, text, (size_t)n);
	ck_assert_uint_eq(evbuffer_get_length(b), 13);
	assert_frame(b, FRAME_TYPE_STREAM, 0, FRAME_STREAM_LOG, "x", 1);
}
END_TEST

/* Reserved bytes are ignored, flags are the high nibble, the payload is
 * binary (NULs inside count) with one NUL after it; a NULL @why is fine. */
START_TEST(test_reserved_and_binary)
{
	static const uint8_t h[] = { 0, 2, 3, 0xff, 0xff, 0xff, 0xf2, 1, 0, 0, 0, 5 };
	struct frame f = FRAME_NULL;

	evbuffer_add(b, h, sizeof(h));
	evbuffer_add(b, "a\0b\0c", 5);
	assert_frame(b, FRAME_TYPE_STREAM, 0xf0, FRAME_STREAM_STDOUT, "a\0b\0c", 5);
	frame_deinit(&f);	/* an empty frame, or none, is harmless */
	frame_deinit(NULL);
	raw_frame(b, 7, 3, 0, 0, 0, NULL, 0, 0);
	ck_assert_int_eq(frame_decode(b, FRAME_PAYLOAD_MAX, &f, NULL), FRAME_E_INVALID);
}
END_TEST

static const uint32_t lengths[] = {
	0, 1, FRAME_PAYLOAD_MAX - 1, FRAME_PAYLOAD_MAX, FRAME_PAYLOAD_MAX + 1,
	0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
};

/*
 * Each length against the default maximum (inclusive): refused with only
 * the header buffered when too long, else awaited and then decoded.
 * Under an address-space limit that makes a 4 GiB mapping fail, so a
 * decoder that reserved the payload early would return -ENOMEM (or die):
 * a 4 GiB length is refused, or with no maximum awaited, without
 * allocating.
 */
START_TEST(test_payload_lengths)
{
	uint32_t len = lengths[_i];
	uint8_t *payload;

	raw_frame(b, 2, 3, FRAME_TYPE_STREAM, FRAME_STREAM_STDIN, len, NULL, 0, 0);
	limit_address_space(256u << 20);
	if (len > FRAME_PAYLOAD_MAX) {
		assert_invalid(b, FRAME_PAYLOAD_MAX);
		assert_invalid(b, len - 1);
		assert_incomplete(b, UINT32_MAX);
		return;
	}
	if (len)
		assert_incomplete(b, FRAME_PAYLOAD_MAX);
	payload = malloc(len + 1);
	ck_assert_ptr_nonnull(payload);
	for (uint32_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	evbuffer_add(b, payload, len);
	if (len)
		assert_invalid(b, len - 1);
	assert_frame(b, FRAME_TYPE_STREAM, 0, FRAME_STREAM_STDIN, payload, len);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	free(payload);
}
END_TEST

static const char *const error_msgs[] = {
	"unknown command 9",
	"quote \" backslash \\ slash / newline \n tab \t cr \r",
	"control \x01\x02\x1f del \x7f",
	"utf-8 \xc3\xa9t\xc3\xa9 \xe2\x82\xac",
	"",
	"}\"]{\"msg\": \"forged",
};

/* The error payload is JSON with exactly {"msg": <the message>}. */
START_TEST(test_encode_error_escaping)
{
	struct frame f = FRAME_NULL;
	struct json_object *o, *m;

	ck_assert_int_eq(frame_encode_error(b, FRAME_CMD_HYPER, error_msgs[_i]), 0);
	ck_assert_int_eq(frame_decode(b, FRAME_PAYLOAD_MAX, &f, NULL), 0);
	ck_assert(f.type == FRAME_TYPE_RESPONSE && f.opcode == FRAME_CMD_HYPER);
	ck_assert_uint_eq(f.flags, FRAME_FLAG_ERROR);
	for (uint32_t i = 0; i < f.payload_len; i++)
		ck_assert_uint_ge(f.payload[i], 0x20);	/* no raw control chars */
	o = json_tokener_parse((const char *)f.payload);
	ck_assert_int_eq(json_object_get_type(o), json_type_object);
	ck_assert_int_eq(json_object_object_length(o), 1);
	ck_assert(json_object_object_get_ex(o, "msg", &m));
	ck_assert_str_eq(json_object_get_string(m), error_msgs[_i]);
	if (_i == 0)
		ck_assert_str_eq((char *)f.payload, "{\"msg\":\"unknown command 9\"}");
	json_object_put(o);
	frame_deinit(&f);
}
END_TEST

/* Responses carry the JSON text as given, none for NULL; a NULL error
 * message is an empty one. */
START_TEST(test_encode_response)
{
	const char *json = "{\"io\":{\"URL\":\"unix:///p\",\"tokens\":[]}}";

	ck_assert_int_eq(frame_encode_response(b, FRAME_CMD_REGISTER_VM, false, json), 0);
	assert_frame(b, FRAME_TYPE_RESPONSE, 0, FRAME_CMD_REGISTER_VM, json, strlen(json));
	ck_assert_int_eq(frame_encode_response(b, FRAME_CMD_SIGNAL, false, NULL), 0);
	assert_frame(b, FRAME_TYPE_RESPONSE, 0, FRAME_CMD_SIGNAL, NULL, 0);
	ck_assert_int_eq(frame_encode_response(b, FRAME_CMD_HYPER, true, "{}"), 0);
	assert_frame(b, FRAME_TYPE_RESPONSE, FRAME_FLAG_ERROR, FRAME_CMD_HYPER, "{}", 2);
	ck_assert_int_eq(frame_encode_error(b, 0, NULL), 0);
	assert_frame(b, FRAME_TYPE_RESPONSE, FRAME_FLAG_ERROR, 0, "{\"msg\":\"\"}", 10);
}
END_TEST

/* Caller bugs are refused and append nothing. */
START_TEST(test_encode_invalid_args)
{
	for (unsigned type = FRAME_TYPE_COUNT; type < 256; type++)
		ck_assert_int_eq(frame_encode(b, (uint8_t)type, 0, 0, NULL, 0), -EINVAL);
	for (unsigned fl = 1; fl < 16; fl++)
		ck_assert_int_eq(frame_encode(b, 0, (uint8_t)fl, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(frame_encode(b, 0, 0, 0, NULL, 1), -EINVAL);
#if SIZE_MAX > UINT32_MAX
	/* Never read: the length is judged first. */
	ck_assert_int_eq(frame_encode(b, 0, 0, 0, "x", (size_t)UINT32_MAX + 1), -EMSGSIZE);
#endif
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
}
END_TEST

#define CMDS "RegisterVM", "UnregisterVM", "AttachVM", "Hyper", "ConnectShim", \
	"DisconnectShim", "Signal"

/* Every type and opcode: known exactly when named here, else "unknown". */
START_TEST(test_names_and_known)
{
	static const char *const types[FRAME_TYPE_COUNT] = {
		"command", "response", "stream", "notification",
	};
	static const char *const ops[FRAME_TYPE_COUNT][8] = {
		{ CMDS }, { CMDS }, { "stdin", "stdout", "stderr", "log" },
		{ "ProcessExited" },
	};

	for (unsigned ty = 0; ty < 256; ty++) {
		ck_assert_str_eq(frame_type_name((uint8_t)ty),
				 ty < FRAME_TYPE_COUNT ? types[ty] : "unknown");
		for (unsigned op = 0; op < 256; op++) {
			const char *want = ty < FRAME_TYPE_COUNT && op < 8 ? ops[ty][op] : NULL;

			const char *name = want ? want : "unknown";

			ck_assert_int_eq(frame_opcode_known((uint8_t)ty, (uint8_t)op), !!want);
			/* The admin command is not v2's, but logs name it. */
			if (ty <= FRAME_TYPE_RESPONSE && op == FRAME_CMD_STATUS)
				name = "Status";
			ck_assert_str_eq(frame_opcode_name((uint8_t)ty, (uint8_t)op), name);
		}
	}
}
END_TEST

/* Frame @k of random stream @seed, regenerated identically on demand:
 * header fields in @f, header length in *@hlen, payload in @p. */
static void random_frame(int seed, int k, struct frame *f, uint8_t *hlen,
			 uint8_t p[2000])
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(seed + 1) + (uint64_t)k;
	uint64_t r = rng_next(&s);

	f->type = r % FRAME_TYPE_COUNT;
	f->flags = (uint8_t)((r >> 8) & 0xf0);
	f->opcode = (uint8_t)(r >> 16);
	f->payload_len = (uint32_t)((r >> 24) % (r & 0x100 ? 2000 : 8));
	*hlen = (uint8_t)(3 + (r >> 40) % 8);
	for (uint32_t j = 0; j < f->payload_len; j++)
		p[j] = (uint8_t)rng_next(&s);
}

/*
 * Randomised invariant (seed _i): 200 random valid frames come out
 * identical and in order, fed one byte at a time (seeds 0, 1) or in
 * random pieces of 1..600 bytes.
 */
START_TEST(test_random_stream)
{
	enum { N = 200 };
	uint64_t s = 12345 + (uint64_t)_i;
	struct frame w, f = FRAME_NULL;
	uint8_t hlen, p[2000], *bytes;
	size_t total, off = 0;
	int done = 0, r;

	for (int k = 0; k < N; k++) {
		random_frame(_i, k, &w, &hlen, p);
		raw_frame(t, 2, hlen, w.type | w.flags, w.opcode, w.payload_len,
			  p, w.payload_len, (uint8_t)k);
	}
	bytes = snapshot(t, &total);
	while (off < total) {
		size_t n = _i < 2 ? 1 : 1 + rng_next(&s) % 600;

		n = n < total - off ? n : total - off;
		evbuffer_add(b, bytes + off, n);
		off += n;
		while ((r = frame_decode(b, FRAME_PAYLOAD_MAX, &f, NULL)) == 0) {
			ck_assert_int_lt(done, N);
			random_frame(_i, done++, &w, &hlen, p);
			ck_assert(f.type == w.type && f.flags == w.flags &&
				  f.opcode == w.opcode);
			ck_assert_uint_eq(f.payload_len, w.payload_len);
			ck_assert(!f.payload_len || !memcmp(f.payload, p, f.payload_len));
			frame_deinit(&f);
		}
		ck_assert_int_eq(r, FRAME_E_INCOMPLETE);
	}
	ck_assert_int_eq(done, N);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	free(bytes);
}
END_TEST

/*
 * Randomised invariant: on arbitrary short inputs (mostly with a valid
 * version) the result is one of the three, a failure leaves the input
 * alone, and a success drains exactly 4 * hlen + length.
 */
START_TEST(test_random_garbage)
{
	uint64_t s = 0x1234567ull + (uint64_t)_i;

	for (int it = 0; it < 20000; it++) {
		uint8_t in[64], *snap;
		size_t n = rng_next(&s) % sizeof(in), len;
		uint32_t max = (uint32_t)(rng_next(&s) % 64);
		struct frame f = FRAME_NULL;
		int r;

		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rng_next(&s);
		if (n > 2 && rng_next(&s) % 4) {
			in[0] = 0, in[1] = 2, in[2] = 3 + in[2] % 4;
			if (n > 11)
				in[8] = in[9] = in[10] = 0, in[11] %= 70;
		}
		evbuffer_drain(b, evbuffer_get_length(b));
		evbuffer_add(b, in, n);
		snap = snapshot(b, &len);
		r = frame_decode(b, max, &f, NULL);
		ck_assert(r == 0 || r == FRAME_E_INCOMPLETE || r == FRAME_E_INVALID);
		if (r)
			assert_bytes(b, snap, len);
		else	/* drained 4 * hlen + length, payload as sent */
			ck_assert(f.payload_len <= max &&
				  evbuffer_get_length(b) == n - in[2] * 4u - f.payload_len &&
				  (!f.payload_len || !memcmp(f.payload, in + in[2] * 4,
							     f.payload_len)));
		frame_deinit(&f);
		free(snap);
	}
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = unit_tcase(s, "core", 60);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_encode_bytes);
	tcase_add_loop_test(tc, test_roundtrip_all, 0, FRAME_TYPE_COUNT);
	tcase_add_loop_test(tc, test_truncated, 0, 346);
	tcase_add_test(tc, test_byte_by_byte);
	tcase_add_loop_test(tc, test_bad_header, 0, N_ELEM(bad_headers));
	tcase_add_loop_test(tc, test_header_len, 3, 256);
	tcase_add_test(tc, test_reserved_and_binary);
	tcase_add_loop_test(tc, test_payload_lengths, 0, N_ELEM(lengths));
	tcase_add_loop_test(tc, test_encode_error_escaping, 0, N_ELEM(error_msgs));
	tcase_add_test(tc, test_encode_response);
	tcase_add_test(tc, test_encode_invalid_args);
	tcase_add_test(tc, test_names_and_known);
	tcase_add_loop_test(tc, test_random_stream, 0, 6);
	tcase_add_loop_test(tc, test_random_garbage, 0, 4);
	return s;
}

int main(void)
{
	return run_suite(frame_suite());
}
