/*
 * check_hyper.c - unit tests of hyper.c, the agent's ctl and io codecs.
 *
 * Messages are built here byte by byte (raw_ctl(), raw_io()), apart from
 * the encoders under test. Covered: command names (every client command,
 * the agent-only codes, unknown and near-miss names); ctl round trips of
 * every code; ctl truncation at every offset, byte-by-byte feeding and
 * several messages per buffer; bad and oversized lengths, judged before
 * any allocation (proven under an address-space rlimit); NEXT encode and
 * decode; io peek at every truncation and at the 10240-byte agent limit;
 * io splitting at 4084, 4085, 8168, 8169 and 1 MiB, from memory and from
 * an evbuffer, with no message over 4096 bytes.
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

#include "hyper.h"
#include "unit_main.h"
#include "codec_test.h"

#define IO_CHUNK (HYPER_IO_SEND_MAX - HYPER_IO_HEADER_SIZE)

/* A ctl message as the wire carries it, with any @total field. */
static void raw_ctl(struct evbuffer *out, uint32_t code, uint32_t total,
		    const void *payload, size_t len)
{
	uint8_t h[8];

	put32(h, code);
	put32(h + 4, total);
	ck_assert_int_eq(evbuffer_add(out, h, sizeof(h)), 0);
	if (len)
		ck_assert_int_eq(evbuffer_add(out, payload, len), 0);
}

/* An io message as the wire carries it, with any @total field. */
static void raw_io(struct evbuffer *out, uint64_t seq, uint32_t total,
		   const void *data, size_t len)
{
	uint8_t h[12];

	put32(h, (uint32_t)(seq >> 32));
	put32(h + 4, (uint32_t)seq);
	put32(h + 8, total);
	ck_assert_int_eq(evbuffer_add(out, h, sizeof(h)), 0);
	if (len)
		ck_assert_int_eq(evbuffer_add(out, data, len), 0);
}

/* Decode a ctl message: result @want, a reason if invalid, @in intact. */
static void assert_ctl_fails(struct evbuffer *in, size_t max, int want)
{
	struct hyper_ctl_msg m = { 0 };
	const char *why = NULL;
	size_t len;
	uint8_t *snap = snapshot(in, &len);

	ck_assert_int_eq(hyper_ctl_decode(in, max, &m, &why), want);
	if (want == HYPER_E_INVALID)
		ck_assert(why && *why);
	ck_assert_ptr_null(m.payload);
	assert_bytes(in, snap, len);
	free(snap);
}

/* Decode one ctl message and compare it with what was sent. */
static void assert_ctl(struct evbuffer *in, uint32_t code, const void *payload,
		       size_t len)
{
	struct hyper_ctl_msg m = { 0 };

	ck_assert_int_eq(hyper_ctl_decode(in, HYPER_CTL_RECV_MAX, &m, NULL), 0);
	ck_assert_uint_eq(m.code, code);
	ck_assert_uint_eq(m.payload_len, len);
	if (len)	/* the bytes sent, then the extra NUL */
		ck_assert(!memcmp(m.payload, payload, len) && !m.payload[len]);
	else
		ck_assert_ptr_null(m.payload);
	hyper_ctl_msg_deinit(&m);
	ck_assert_ptr_null(m.payload);
}

/* Peek at an io message: result @want, outputs unset, @in intact. */
static void assert_io_fails(struct evbuffer *in, size_t max, int want)
{
	uint64_t seq = 77;
	size_t dlen = 77, len;
	const char *why = NULL;
	uint8_t *snap = snapshot(in, &len);

	ck_assert_int_eq(hyper_io_peek(in, max, &seq, &dlen, &why), want);
	if (want == HYPER_E_INVALID)
		ck_assert(why && *why);
	ck_assert(seq == 77 && dlen == 77);
	assert_bytes(in, snap, len);
	free(snap);
}

static const char *const client_names[] = {
	"version", "startpod", "destroypod", "execcmd", "winsize", "ping",
	"writefile", "readfile", "newcontainer", "killcontainer",
	"onlinecpumem", "setupinterface", "setuproute", "removecontainer",
};
static const int client_codes[] = {
	0, 1, 4, 6, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22,
};

/* The 14 client commands map both ways; agent-only, unknown and
 * near-miss names do not. */
START_TEST(test_command_names)
{
	static const char *const refused[] = {
		"ready", "ack", "error", "next", "processasyncevent", "unknown",
		"", "Version", "EXECCMD", "execcmd ", " execcmd", "execcm",
		"newcontainers", "kill", "exec\0cmd", "getpod", "stopcontainer",
	};

	ck_assert_int_eq(N_ELEM(client_names), N_ELEM(client_codes));
	for (int i = 0; i < N_ELEM(client_names); i++) {
		ck_assert_int_eq(hyper_command_from_name(client_names[i]), client_codes[i]);
		ck_assert_str_eq(hyper_code_name((uint32_t)client_codes[i]), client_names[i]);
	}
	for (int i = 0; i < N_ELEM(refused); i++)
		ck_assert_int_eq(hyper_command_from_name(refused[i]), -1);
	ck_assert_int_eq(hyper_command_from_name(NULL), -1);
}
END_TEST

/* Every code has its name; exactly 14 of them are client commands. */
START_TEST(test_code_names)
{
	int n_client = 0;

	ck_assert_str_eq(hyper_code_name(HYPER_READY), "ready");
	ck_assert_str_eq(hyper_code_name(HYPER_ACK), "ack");
	ck_assert_str_eq(hyper_code_name(HYPER_ERROR), "error");
	ck_assert_str_eq(hyper_code_name(HYPER_NEXT), "next");
	ck_assert_str_eq(hyper_code_name(HYPER_PROCESSASYNCEVENT), "processasyncevent");
	for (uint32_t c = 0; c < 64; c++) {
		const char *name = hyper_code_name(c);
		int code = hyper_command_from_name(name);

		if (c == 2 || c == 3 || c == 5 || c == 7 || c == 13 || c > 23)
			ck_assert_str_eq(name, "unknown");
		if (code >= 0) {
			ck_assert_int_eq(code, (int)c);
			n_client++;
		}
	}
	ck_assert_int_eq(n_client, 14);
	ck_assert_str_eq(hyper_code_name(UINT32_MAX), "unknown");
}
END_TEST

static const uint32_t all_codes[] = {
	0, 1, 4, 6, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
	2, 0xffffffff,	/* codes are not judged by the codec */
};

/* Every code round-trips, with a payload and empty; bytes are exact. */
START_TEST(test_ctl_roundtrip)
{
	uint32_t code = all_codes[_i];
	const char *json = "{\"container\":\"c1\",\"signal\":15}";
	uint8_t want[8];

	put32(want, code);
	put32(want + 4, (uint32_t)(8 + strlen(json)));
	ck_assert_int_eq(hyper_ctl_encode(b, code, json, strlen(json)), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 8 + strlen(json));
	ck_assert_int_eq(memcmp(evbuffer_pullup(b, 8), want, 8), 0);
	assert_ctl(b, code, json, strlen(json));
	ck_assert_int_eq(hyper_ctl_encode(b, code, NULL, 0), 0);
	put32(want + 4, 8);
	assert_bytes(b, want, 8);
	assert_ctl(b, code, NULL, 0);
}
END_TEST

/* Three messages: READY (empty), NEXT 1234, ERROR "oops!". */
static void three_msgs(struct evbuffer *out, size_t ends[3])
{
	raw_ctl(out, HYPER_READY, 8, NULL, 0);
	ends[0] = evbuffer_get_length(out);
	ck_assert_int_eq(hyper_ctl_encode_next(out, 1234), 0);
	ends[1] = evbuffer_get_length(out);
	raw_ctl(out, HYPER_ERROR, 8 + 5, "oops!", 5);
	ends[2] = evbuffer_get_length(out);
}

/* Decode message @k of three_msgs(). */
static void assert_nth(struct evbuffer *in, size_t k)
{
	if (k == 0)
		assert_ctl(in, HYPER_READY, NULL, 0);
	else if (k == 1)
		assert_ctl(in, HYPER_NEXT, "\0\0\x04\xd2", 4);
	else
		assert_ctl(in, HYPER_ERROR, "oops!", 5);
}

/* No whole message yet: more is awaited, nothing drained. */
static void assert_nothing_yet(struct evbuffer *in)
{
	assert_ctl_fails(in, HYPER_CTL_RECV_MAX, HYPER_E_INCOMPLETE);
}

static const struct three_stream three = {
	three_msgs, assert_nth, assert_nothing_yet,
};

/*
 * The three messages cut at every offset _i (0..33): those wholly before
 * the cut decode (several in one buffer), then more is awaited with
 * nothing drained; the rest of the bytes complete the others.
 */
START_TEST(test_ctl_truncated)
{
	assert_three_cut(&three, 33, (size_t)_i);
}
END_TEST

/* The three messages one byte at a time: each completes with its last. */
START_TEST(test_ctl_byte_by_byte)
{
	assert_three_byte_by_byte(&three);
}
END_TEST

/* Length fields 0..7 (below the header) are invalid. */
START_TEST(test_ctl_short_length)
{
	raw_ctl(b, HYPER_ACK, (uint32_t)_i, "payloadpayload", 14);
	assert_ctl_fails(b, HYPER_CTL_RECV_MAX, HYPER_E_INVALID);
	assert_ctl_fails(b, SIZE_MAX, HYPER_E_INVALID);
}
END_TEST

/* The maximum is inclusive, and judged with the header alone. */
START_TEST(test_ctl_max_length)
{
	size_t max = HYPER_CTL_CLASSIC_MAX;
	uint8_t *payload = calloc(1, max);

	raw_ctl(b, HYPER_ACK, (uint32_t)max + 1, NULL, 0);
	assert_ctl_fails(b, max, HYPER_E_INVALID);
	assert_ctl_fails(b, max + 1, HYPER_E_INCOMPLETE);
	raw_ctl(t, HYPER_ACK, (uint32_t)max, NULL, 0);
	assert_ctl_fails(t, max, HYPER_E_INCOMPLETE);
	evbuffer_add(t, payload, max - 8);
	assert_ctl(t, HYPER_ACK, payload, max - 8);
	free(payload);
}
END_TEST

/* 4 GiB lengths are refused, or with no maximum awaited, without
 * allocating: an early reservation would fail under the limit. */
START_TEST(test_huge_lengths_no_alloc)
{
	raw_ctl(b, HYPER_ACK, 0xffffffff, "abc", 3);
	raw_io(t, 3, 0xffffffff, "abc", 3);
	limit_address_space(256u << 20);
	assert_ctl_fails(b, HYPER_CTL_RECV_MAX, HYPER_E_INVALID);
	assert_ctl_fails(b, SIZE_MAX, HYPER_E_INCOMPLETE);
	assert_io_fails(t, HYPER_IO_RECV_MAX, HYPER_E_INVALID);
	assert_io_fails(t, SIZE_MAX, HYPER_E_INCOMPLETE);
}
END_TEST

/* NEXT's exact bytes and counts; anything but NEXT with 4 bytes has none. */
START_TEST(test_next)
{
	static const uint8_t want[] = { 0, 0, 0, 14, 0, 0, 0, 12, 1, 2, 3, 4 };
	static const uint32_t counts[] = { 0, 1, 4096, 0x01020304, UINT32_MAX };
	struct hyper_ctl_msg m = { 0 };
	uint32_t n;

	ck_assert_int_eq(hyper_ctl_encode_next(t, 0x01020304), 0);
	assert_bytes(t, want, sizeof(want));
	for (int i = 0; i < N_ELEM(counts); i++) {
		ck_assert_int_eq(hyper_ctl_encode_next(b, counts[i]), 0);
		ck_assert_int_eq(hyper_ctl_decode(b, HYPER_CTL_RECV_MAX, &m, NULL), 0);
		n = ~counts[i];
		ck_assert_int_eq(hyper_next_count(&m, &n), 0);
		ck_assert_uint_eq(n, counts[i]);
		hyper_ctl_msg_deinit(&m);
	}
	raw_ctl(b, HYPER_NEXT, 8, NULL, 0);
	raw_ctl(b, HYPER_NEXT, 11, "abc", 3);
	raw_ctl(b, HYPER_NEXT, 13, "abcde", 5);
	raw_ctl(b, HYPER_ACK, 12, "abcd", 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(hyper_ctl_decode(b, HYPER_CTL_RECV_MAX, &m, NULL), 0);
		n = 99;
		ck_assert_int_eq(hyper_next_count(&m, &n), HYPER_E_INVALID);
		ck_assert_uint_eq(n, 99);
		hyper_ctl_msg_deinit(&m);
	}
}
END_TEST

/* An io message truncated at every offset _i: peek waits, then sees it
 * without consuming anything. */
START_TEST(test_io_peek_truncated)
{
	uint64_t seq = 0;
	size_t dlen = 0, total;
	uint8_t *bytes;

	raw_io(t, 0x0102030405060708ull, 12 + 9, "some data", 9);
	bytes = snapshot(t, &total);
	evbuffer_add(b, bytes, (size_t)_i);
	assert_io_fails(b, HYPER_IO_RECV_MAX, HYPER_E_INCOMPLETE);
	evbuffer_add(b, bytes + _i, total - (size_t)_i);
	ck_assert_int_eq(hyper_io_peek(b, HYPER_IO_RECV_MAX, &seq, &dlen, NULL), 0);
	ck_assert_uint_eq(seq, 0x0102030405060708ull);
	ck_assert_uint_eq(dlen, 9);
	assert_bytes(b, bytes, total);	/* a peek */
	free(bytes);
}
END_TEST

/* Agent messages: 12..10240 accepted, 0..11 and over 10240 refused. */
START_TEST(test_io_peek_lengths)
{
	static const uint32_t bad[] = { 0, 1, 11, 10241, 65536, 0x80000000, 0xffffffff };
	uint8_t *data = calloc(1, HYPER_IO_RECV_MAX);
	uint64_t seq;
	size_t dlen;

	for (int i = 0; i < N_ELEM(bad); i++) {
		raw_io(b, 5, bad[i], data, 20);
		assert_io_fails(b, HYPER_IO_RECV_MAX, HYPER_E_INVALID);
		evbuffer_drain(b, evbuffer_get_length(b));
	}
	raw_io(b, 5, 12, NULL, 0);
	ck_assert_int_eq(hyper_io_peek(b, HYPER_IO_RECV_MAX, &seq, &dlen, NULL), 0);
	ck_assert(seq == 5 && dlen == 0);
	raw_io(t, UINT64_MAX, HYPER_IO_RECV_MAX, data, HYPER_IO_RECV_MAX - 12);
	ck_assert_int_eq(hyper_io_peek(t, HYPER_IO_RECV_MAX, &seq, &dlen, NULL), 0);
	ck_assert(seq == UINT64_MAX && dlen == HYPER_IO_RECV_MAX - 12);
	/* The same message is too big for a tighter bound. */
	assert_io_fails(t, HYPER_IO_SEND_MAX, HYPER_E_INVALID);
	free(data);
}
END_TEST

static const size_t split_lens[] = {
	0, 1, IO_CHUNK - 1, IO_CHUNK, IO_CHUNK + 1, 2 * IO_CHUNK,
	2 * IO_CHUNK + 1, 1024 * 1024,
};

/*
 * Parse @in as io messages of @seq: none over 4096 bytes, all but the
 * last exactly 4096, the data equal to @data. Drains @in.
 */
static void assert_split(struct evbuffer *in, uint64_t seq, const uint8_t *data,
			 size_t len)
{
	size_t want_msgs = len ? (len + IO_CHUNK - 1) / IO_CHUNK : 1;
	size_t off = 0, msgs = 0, dlen;
	uint64_t s;

	ck_assert_uint_eq(evbuffer_get_length(in), len + want_msgs * 12);
	while (evbuffer_get_length(in)) {
		ck_assert_int_eq(hyper_io_peek(in, HYPER_IO_SEND_MAX, &s, &dlen, NULL), 0);
		ck_assert_uint_eq(s, seq);
		ck_assert_uint_eq(dlen, ++msgs < want_msgs ? IO_CHUNK : len - off);
		evbuffer_drain(in, 12);
		if (dlen)
			ck_assert_int_eq(memcmp(evbuffer_pullup(in, (ev_ssize_t)dlen),
						data + off, dlen), 0);
		evbuffer_drain(in, dlen);
		off += dlen;
	}
	ck_assert_uint_eq(msgs, want_msgs);
	ck_assert_uint_eq(off, len);
}

/*
 * Split points 4084/4085, 8168/8169, 1 MiB...: from memory, and from an
 * evbuffer of many chains holding 7 bytes more, which must stay there.
 */
START_TEST(test_io_encode_split)
{
	size_t len = split_lens[_i];
	uint8_t *data = malloc(len + 8);
	struct evbuffer *src = evbuffer_new();

	for (size_t i = 0; i < len + 7; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 12));
	ck_assert_int_eq(hyper_io_encode(b, 3 + _i, data, len), 0);
	assert_split(b, 3 + _i, data, len);
	for (size_t off = 0; off < len + 7; off += 1000)
		evbuffer_add(src, data + off, len + 7 - off < 1000 ? len + 7 - off : 1000);
	ck_assert_int_eq(hyper_io_encode_buffer(t, UINT64_MAX - 1, src, len), 0);
	assert_bytes(src, data + len, 7);
	assert_split(t, UINT64_MAX - 1, data, len);
	evbuffer_free(src);
	free(data);
}
END_TEST

/* io's exact bytes; caller bugs, io or ctl, append and drain nothing. */
START_TEST(test_io_encode_bytes_and_invalid)
{
	static const uint8_t want[] = {
		0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 14, 'h', 'i',
		0x80, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 12,
	};

	ck_assert_int_eq(hyper_io_encode(b, 3, "hi", 2), 0);
	ck_assert_int_eq(hyper_io_encode(b, 0x8000000000000100ull, NULL, 0), 0);
	assert_bytes(b, want, sizeof(want));
	evbuffer_drain(b, sizeof(want));
	ck_assert_int_eq(hyper_io_encode(b, 3, NULL, 1), -EINVAL);
	evbuffer_add(t, "abc", 3);
	ck_assert_int_eq(hyper_io_encode_buffer(b, 3, t, 4), -EINVAL);
	assert_bytes(t, (const uint8_t *)"abc", 3);
	ck_assert_int_eq(hyper_ctl_encode(b, HYPER_PING, NULL, 1), -EINVAL);
#if SIZE_MAX > UINT32_MAX
	/* Never read: lengths are judged first. */
	ck_assert_int_eq(hyper_io_encode(b, 3, "x", SIZE_MAX - 1), -EMSGSIZE);
	ck_assert_int_eq(hyper_ctl_encode(b, HYPER_PING, "x", (size_t)UINT32_MAX - 7),
			 -EMSGSIZE);
#endif
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	/* An empty message from a buffer drains nothing. */
	ck_assert_int_eq(hyper_io_encode_buffer(b, 3, t, 0), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 12);
	ck_assert_uint_eq(evbuffer_get_length(t), 3);
}
END_TEST

/* Randomised invariant: arbitrary ctl bytes are never drained on
 * failure, and a success drains exactly the length field. */
START_TEST(test_ctl_random)
{
	uint64_t s = 0xabcdefull + (uint64_t)_i;

	for (int it = 0; it < 20000; it++) {
		struct hyper_ctl_msg m = { 0 };
		uint8_t in[48], *snap;
		size_t n = rng_next(&s) % sizeof(in), max = rng_next(&s) % 64, len;
		int r;

		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rng_next(&s);
		if (n >= 8 && rng_next(&s) % 4)
			in[4] = in[5] = in[6] = 0, in[7] %= 56;
		evbuffer_drain(b, evbuffer_get_length(b));
		evbuffer_add(b, in, n);
		snap = snapshot(b, &len);
		r = hyper_ctl_decode(b, max, &m, NULL);
		ck_assert(r == 0 || r == HYPER_E_INCOMPLETE || r == HYPER_E_INVALID);
		if (r)
			assert_bytes(b, snap, len);
		else	/* within @max, exactly the length field drained */
			ck_assert(m.payload_len + 8 <= max && m.payload_len + 8 == in[7] &&
				  evbuffer_get_length(b) == n - in[7]);
		hyper_ctl_msg_deinit(&m);
		free(snap);
	}
}
END_TEST

static Suite *hyper_suite(void)
{
	Suite *s = suite_create("hyper");
	TCase *tc = unit_tcase(s, "core", 60);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_command_names);
	tcase_add_test(tc, test_code_names);
	tcase_add_loop_test(tc, test_ctl_roundtrip, 0, N_ELEM(all_codes));
	tcase_add_loop_test(tc, test_ctl_truncated, 0, 34);
	tcase_add_test(tc, test_ctl_byte_by_byte);
	tcase_add_loop_test(tc, test_ctl_short_length, 0, 8);
	tcase_add_test(tc, test_ctl_max_length);
	tcase_add_test(tc, test_huge_lengths_no_alloc);
	tcase_add_test(tc, test_next);
	tcase_add_loop_test(tc, test_ctl_random, 0, 4);
	tcase_add_loop_test(tc, test_io_peek_truncated, 0, 21);
	tcase_add_test(tc, test_io_peek_lengths);
	tcase_add_loop_test(tc, test_io_encode_split, 0, N_ELEM(split_lens));
	tcase_add_test(tc, test_io_encode_bytes_and_invalid);
	return s;
}

int main(void)
{
	return run_suite(hyper_suite());
}
