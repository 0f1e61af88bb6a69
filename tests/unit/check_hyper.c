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
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hyper.h"

#define IO_CHUNK (HYPER_IO_SEND_MAX - HYPER_IO_HEADER_SIZE)

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v & 0xff;
}

/* A ctl message as the wire carries it, with any @total field. */
static void raw_ctl(struct evbuffer *b, uint32_t code, uint32_t total,
		    const void *payload, size_t len)
{
	uint8_t h[8];

	put32(h, code);
	put32(h + 4, total);
	ck_assert_int_eq(evbuffer_add(b, h, sizeof(h)), 0);
	if (len)
		ck_assert_int_eq(evbuffer_add(b, payload, len), 0);
}

static void raw_io(struct evbuffer *b, uint64_t seq, uint32_t total,
		   const void *data, size_t len)
{
	uint8_t h[12];

	put32(h, (uint32_t)(seq >> 32));
	put32(h + 4, (uint32_t)seq);
	put32(h + 8, total);
	ck_assert_int_eq(evbuffer_add(b, h, sizeof(h)), 0);
	if (len)
		ck_assert_int_eq(evbuffer_add(b, data, len), 0);
}

static uint8_t *snapshot(struct evbuffer *b, size_t *len)
{
	*len = evbuffer_get_length(b);
	uint8_t *p = malloc(*len + 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(evbuffer_copyout(b, p, *len), (ev_ssize_t)*len);
	return p;
}

static void assert_untouched(struct evbuffer *b, const uint8_t *snap, size_t len)
{
	ck_assert_uint_eq(evbuffer_get_length(b), len);
	if (len)	/* an empty evbuffer pulls up to NULL */
		ck_assert_int_eq(memcmp(evbuffer_pullup(b, -1), snap, len), 0);
}

/* Decode a ctl message and require result @want with @b left intact. */
static void assert_ctl_fails(struct evbuffer *b, size_t max, int want)
{
	struct hyper_ctl_msg m = { 0 };
	const char *why = NULL;
	size_t len;
	uint8_t *snap = snapshot(b, &len);

	ck_assert_int_eq(hyper_ctl_decode(b, max, &m, &why), want);
	if (want == HYPER_E_INVALID) {
		ck_assert_ptr_nonnull(why);
		ck_assert_uint_gt(strlen(why), 0);
	}
	ck_assert_ptr_null(m.payload);
	assert_untouched(b, snap, len);
	free(snap);
}

static void assert_ctl(struct evbuffer *b, uint32_t code, const void *payload,
		       size_t len)
{
	struct hyper_ctl_msg m = { 0 };
	const char *why = NULL;

	ck_assert_int_eq(hyper_ctl_decode(b, HYPER_CTL_RECV_MAX, &m, &why), 0);
	ck_assert_uint_eq(m.code, code);
	ck_assert_uint_eq(m.payload_len, len);
	if (len) {
		ck_assert_ptr_nonnull(m.payload);
		ck_assert_int_eq(memcmp(m.payload, payload, len), 0);
		ck_assert_uint_eq(m.payload[len], 0);
	} else {
		ck_assert_ptr_null(m.payload);
	}
	hyper_ctl_msg_deinit(&m);
	ck_assert_ptr_null(m.payload);
}

static void assert_io_fails(struct evbuffer *b, size_t max, int want)
{
	uint64_t seq = 77;
	size_t dlen = 77, len;
	const char *why = NULL;
	uint8_t *snap = snapshot(b, &len);

	ck_assert_int_eq(hyper_io_peek(b, max, &seq, &dlen, &why), want);
	if (want == HYPER_E_INVALID)
		ck_assert_ptr_nonnull(why);
	assert_untouched(b, snap, len);
	free(snap);
}

static void limit_address_space(size_t extra)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	struct rlimit rl;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
}

static const char *const client_names[] = {
	"version", "startpod", "destroypod", "execcmd", "winsize", "ping",
	"writefile", "readfile", "newcontainer", "killcontainer",
	"onlinecpumem", "setupinterface", "setuproute", "removecontainer",
};
static const int client_codes[] = {
	0, 1, 4, 6, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22,
};

START_TEST(test_command_names)
{
	static const char *const refused[] = {
		"ready", "ack", "error", "next", "processasyncevent", "unknown",
		"", "Version", "EXECCMD", "execcmd ", " execcmd", "execcm",
		"newcontainers", "kill", "exec\0cmd", "getpod", "stopcontainer",
	};

	ck_assert_uint_eq(sizeof(client_names) / sizeof(client_names[0]),
			  sizeof(client_codes) / sizeof(client_codes[0]));
	for (size_t i = 0; i < sizeof(client_names) / sizeof(client_names[0]); i++) {
		ck_assert_int_eq(hyper_command_from_name(client_names[i]), client_codes[i]);
		ck_assert_str_eq(hyper_code_name((uint32_t)client_codes[i]), client_names[i]);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		ck_assert_int_eq(hyper_command_from_name(refused[i]), -1);
	ck_assert_int_eq(hyper_command_from_name(NULL), -1);
}
END_TEST

/* Exactly the 14 client commands map to a code, among all codes. */
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
	struct evbuffer *b = evbuffer_new();
	uint32_t code = all_codes[_i];
	const char *json = "{\"container\":\"c1\",\"signal\":15}";
	uint8_t want[8];

	ck_assert_int_eq(hyper_ctl_encode(b, code, json, strlen(json)), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 8 + strlen(json));
	put32(want, code);
	put32(want + 4, (uint32_t)(8 + strlen(json)));
	ck_assert_int_eq(memcmp(evbuffer_pullup(b, 8), want, 8), 0);
	assert_ctl(b, code, json, strlen(json));
	ck_assert_int_eq(hyper_ctl_encode(b, code, NULL, 0), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 8);
	assert_ctl(b, code, NULL, 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

/* A 20-byte message truncated at every offset _i, then completed. */
START_TEST(test_ctl_truncated)
{
	struct evbuffer *b = evbuffer_new();
	uint8_t bytes[20];

	put32(bytes, HYPER_ACK);
	put32(bytes + 4, 20);
	memcpy(bytes + 8, "{\"ok\":true}\n", 12);
	evbuffer_add(b, bytes, (size_t)_i);
	assert_ctl_fails(b, HYPER_CTL_RECV_MAX, HYPER_E_INCOMPLETE);
	evbuffer_add(b, bytes + _i, sizeof(bytes) - (size_t)_i);
	assert_ctl(b, HYPER_ACK, "{\"ok\":true}\n", 12);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_ctl_byte_by_byte)
{
	struct evbuffer *all = evbuffer_new(), *b = evbuffer_new();
	size_t total, ends[3], done = 0;
	uint8_t *bytes;

	raw_ctl(all, HYPER_READY, 8, NULL, 0);
	ends[0] = evbuffer_get_length(all);
	ck_assert_int_eq(hyper_ctl_encode_next(all, 1234), 0);
	ends[1] = evbuffer_get_length(all);
	raw_ctl(all, HYPER_ERROR, 8 + 5, "oops!", 5);
	ends[2] = evbuffer_get_length(all);
	bytes = snapshot(all, &total);
	for (size_t i = 0; i < total; i++) {
		evbuffer_add(b, bytes + i, 1);
		if (i + 1 != ends[done]) {
			assert_ctl_fails(b, HYPER_CTL_RECV_MAX, HYPER_E_INCOMPLETE);
			continue;
		}
		if (done == 0)
			assert_ctl(b, HYPER_READY, NULL, 0);
		else if (done == 1)
			assert_ctl(b, HYPER_NEXT, "\0\0\x04\xd2", 4);
		else
			assert_ctl(b, HYPER_ERROR, "oops!", 5);
		done++;
	}
	ck_assert_uint_eq(done, 3);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	free(bytes);
	evbuffer_free(all);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_ctl_several)
{
	struct evbuffer *b = evbuffer_new();

	for (uint32_t i = 0; i < 10; i++)
		ck_assert_int_eq(hyper_ctl_encode(b, HYPER_ACK, "0123456789", i), 0);
	raw_ctl(b, HYPER_ACK, 100, "part", 4);
	for (uint32_t i = 0; i < 10; i++)
		assert_ctl(b, HYPER_ACK, "0123456789", i);
	assert_ctl_fails(b, HYPER_CTL_RECV_MAX, HYPER_E_INCOMPLETE);
	ck_assert_uint_eq(evbuffer_get_length(b), 12);
	evbuffer_free(b);
}
END_TEST

/* Length fields 0..7 (below the header) are invalid. */
START_TEST(test_ctl_short_length)
{
	struct evbuffer *b = evbuffer_new();

	raw_ctl(b, HYPER_ACK, (uint32_t)_i, "payloadpayload", 14);
	assert_ctl_fails(b, HYPER_CTL_RECV_MAX, HYPER_E_INVALID);
	evbuffer_free(b);
}
END_TEST

/* The maximum is inclusive, judged with the header alone. */
START_TEST(test_ctl_max_length)
{
	struct evbuffer *b = evbuffer_new();
	size_t max = HYPER_CTL_CLASSIC_MAX;
	uint8_t *payload = calloc(1, max);

	raw_ctl(b, HYPER_ACK, (uint32_t)max + 1, NULL, 0);
	assert_ctl_fails(b, max, HYPER_E_INVALID);
	assert_ctl_fails(b, max + 1, HYPER_E_INCOMPLETE);
	evbuffer_drain(b, 8);
	raw_ctl(b, HYPER_ACK, (uint32_t)max, NULL, 0);
	assert_ctl_fails(b, max, HYPER_E_INCOMPLETE);
	evbuffer_add(b, payload, max - 8);
	{
		struct hyper_ctl_msg m = { 0 };

		ck_assert_int_eq(hyper_ctl_decode(b, max, &m, NULL), 0);
		ck_assert_uint_eq(m.payload_len, max - 8);
		hyper_ctl_msg_deinit(&m);
	}
	/* The default bound refuses a 4 GiB claim. */
	raw_ctl(b, HYPER_ACK, 0xffffffff, NULL, 0);
	assert_ctl_fails(b, HYPER_CTL_RECV_MAX, HYPER_E_INVALID);
	free(payload);
	evbuffer_free(b);
}
END_TEST

/* Lengths are judged, and an unlimited one awaited, without allocating:
 * under a limit that makes a 4 GiB mapping fail. */
START_TEST(test_huge_lengths_no_alloc)
{
	struct evbuffer *ctl = evbuffer_new(), *io = evbuffer_new();

	raw_ctl(ctl, HYPER_ACK, 0xffffffff, "abc", 3);
	raw_io(io, 3, 0xffffffff, "abc", 3);
	limit_address_space(256u << 20);
	ck_assert_ptr_eq(mmap(NULL, 1ul << 32, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), MAP_FAILED);
	assert_ctl_fails(ctl, HYPER_CTL_RECV_MAX, HYPER_E_INVALID);
	assert_ctl_fails(ctl, SIZE_MAX, HYPER_E_INCOMPLETE);
	assert_io_fails(io, HYPER_IO_RECV_MAX, HYPER_E_INVALID);
	assert_io_fails(io, SIZE_MAX, HYPER_E_INCOMPLETE);
	evbuffer_free(ctl);
	evbuffer_free(io);
}
END_TEST

START_TEST(test_ctl_encode_invalid)
{
	struct evbuffer *b = evbuffer_new();

	ck_assert_int_eq(hyper_ctl_encode(b, HYPER_PING, NULL, 1), -EINVAL);
#if SIZE_MAX > UINT32_MAX
	/* Never read: the length is judged first. */
	ck_assert_int_eq(hyper_ctl_encode(b, HYPER_PING, "x", (size_t)UINT32_MAX - 7),
			 -EMSGSIZE);
#endif
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_next)
{
	static const uint8_t want[] = { 0, 0, 0, 14, 0, 0, 0, 12, 1, 2, 3, 4 };
	static const uint32_t counts[] = { 0, 1, 4096, 0x01020304, UINT32_MAX };
	struct evbuffer *b = evbuffer_new();
	struct hyper_ctl_msg m = { 0 };
	uint32_t n = 0;

	ck_assert_int_eq(hyper_ctl_encode_next(b, 0x01020304), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), sizeof(want));
	ck_assert_int_eq(memcmp(evbuffer_pullup(b, -1), want, sizeof(want)), 0);
	evbuffer_drain(b, sizeof(want));
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		ck_assert_int_eq(hyper_ctl_encode_next(b, counts[i]), 0);
		ck_assert_int_eq(hyper_ctl_decode(b, HYPER_CTL_RECV_MAX, &m, NULL), 0);
		ck_assert_uint_eq(m.code, HYPER_NEXT);
		n = ~counts[i];
		ck_assert_int_eq(hyper_next_count(&m, &n), 0);
		ck_assert_uint_eq(n, counts[i]);
		hyper_ctl_msg_deinit(&m);
	}
	/* A NEXT with 0, 3 or 5 payload bytes, or a non-NEXT with 4. */
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
	evbuffer_free(b);
}
END_TEST

/* An io message truncated at every offset _i: peek waits, then sees it
 * without consuming anything. */
START_TEST(test_io_peek_truncated)
{
	struct evbuffer *full = evbuffer_new(), *b = evbuffer_new();
	uint64_t seq = 0;
	size_t dlen = 0, total;
	uint8_t *bytes;

	raw_io(full, 0x0102030405060708ull, 12 + 9, "some data", 9);
	bytes = snapshot(full, &total);
	evbuffer_add(b, bytes, (size_t)_i);
	assert_io_fails(b, HYPER_IO_RECV_MAX, HYPER_E_INCOMPLETE);
	evbuffer_add(b, bytes + _i, total - (size_t)_i);
	ck_assert_int_eq(hyper_io_peek(b, HYPER_IO_RECV_MAX, &seq, &dlen, NULL), 0);
	ck_assert_uint_eq(seq, 0x0102030405060708ull);
	ck_assert_uint_eq(dlen, 9);
	ck_assert_uint_eq(evbuffer_get_length(b), total);	/* a peek */
	free(bytes);
	evbuffer_free(full);
	evbuffer_free(b);
}
END_TEST

/* Agent messages: 12..10240 accepted, 0..11 and over 10240 refused. */
START_TEST(test_io_peek_lengths)
{
	static const uint32_t bad[] = { 0, 1, 11, 10241, 65536, 0x80000000, 0xffffffff };
	struct evbuffer *b = evbuffer_new();
	uint8_t *data = calloc(1, HYPER_IO_RECV_MAX);
	uint64_t seq;
	size_t dlen;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_io(b, 5, bad[i], data, 20);
		assert_io_fails(b, HYPER_IO_RECV_MAX, HYPER_E_INVALID);
		evbuffer_drain(b, evbuffer_get_length(b));
	}
	raw_io(b, 5, 12, NULL, 0);
	ck_assert_int_eq(hyper_io_peek(b, HYPER_IO_RECV_MAX, &seq, &dlen, NULL), 0);
	ck_assert_uint_eq(dlen, 0);
	evbuffer_drain(b, 12);
	raw_io(b, UINT64_MAX, HYPER_IO_RECV_MAX, data, HYPER_IO_RECV_MAX - 12);
	ck_assert_int_eq(hyper_io_peek(b, HYPER_IO_RECV_MAX, &seq, &dlen, NULL), 0);
	ck_assert_uint_eq(seq, UINT64_MAX);
	ck_assert_uint_eq(dlen, HYPER_IO_RECV_MAX - 12);
	/* The same message is too big for a tighter bound. */
	assert_io_fails(b, HYPER_IO_SEND_MAX, HYPER_E_INVALID);
	free(data);
	evbuffer_free(b);
}
END_TEST

static const size_t split_lens[] = {
	0, 1, IO_CHUNK - 1, IO_CHUNK, IO_CHUNK + 1, 2 * IO_CHUNK,
	2 * IO_CHUNK + 1, 1024 * 1024,
};

/*
 * Parse @b as io messages of @seq: none over 4096 bytes, all but the
 * last exactly 4096, the data equal to @data. Drains @b.
 */
static void assert_split(struct evbuffer *b, uint64_t seq, const uint8_t *data,
			 size_t len)
{
	size_t want_msgs = len ? (len + IO_CHUNK - 1) / IO_CHUNK : 1;
	size_t off = 0, msgs = 0;
	uint64_t s;
	size_t dlen;

	ck_assert_uint_eq(evbuffer_get_length(b), len + want_msgs * 12);
	while (evbuffer_get_length(b)) {
		ck_assert_int_eq(hyper_io_peek(b, HYPER_IO_SEND_MAX, &s, &dlen, NULL), 0);
		ck_assert_uint_eq(s, seq);
		msgs++;
		if (msgs < want_msgs)
			ck_assert_uint_eq(dlen, IO_CHUNK);
		else
			ck_assert_uint_eq(dlen, len - off);
		evbuffer_drain(b, 12);
		if (dlen)
			ck_assert_int_eq(memcmp(evbuffer_pullup(b, (ev_ssize_t)dlen),
						data + off, dlen), 0);
		evbuffer_drain(b, dlen);
		off += dlen;
	}
	ck_assert_uint_eq(msgs, want_msgs);
	ck_assert_uint_eq(off, len);
}

static uint8_t *pattern(size_t len)
{
	uint8_t *p = malloc(len + 1);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 12));
	return p;
}

START_TEST(test_io_encode_split)
{
	size_t len = split_lens[_i];
	uint8_t *data = pattern(len);
	struct evbuffer *b = evbuffer_new();

	ck_assert_int_eq(hyper_io_encode(b, 3 + _i, data, len), 0);
	assert_split(b, 3 + _i, data, len);
	free(data);
	evbuffer_free(b);
}
END_TEST

/* The same from an evbuffer: exactly @len bytes drained from a source
 * that holds more (spread over several chains). */
START_TEST(test_io_encode_buffer_split)
{
	size_t len = split_lens[_i];
	uint8_t *data = pattern(len + 7);
	struct evbuffer *b = evbuffer_new(), *src = evbuffer_new();

	for (size_t off = 0; off < len + 7; off += 1000)
		evbuffer_add(src, data + off, len + 7 - off < 1000 ? len + 7 - off : 1000);
	ck_assert_int_eq(hyper_io_encode_buffer(b, UINT64_MAX - 1, src, len), 0);
	ck_assert_uint_eq(evbuffer_get_length(src), 7);
	ck_assert_int_eq(memcmp(evbuffer_pullup(src, -1), data + len, 7), 0);
	assert_split(b, UINT64_MAX - 1, data, len);
	free(data);
	evbuffer_free(src);
	evbuffer_free(b);
}
END_TEST

START_TEST(test_io_encode_bytes_and_invalid)
{
	static const uint8_t want[] = {
		0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 14, 'h', 'i',
		0x80, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 12,
	};
	struct evbuffer *b = evbuffer_new(), *src = evbuffer_new();

	ck_assert_int_eq(hyper_io_encode(b, 3, "hi", 2), 0);
	ck_assert_int_eq(hyper_io_encode(b, 0x8000000000000100ull, NULL, 0), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), sizeof(want));
	ck_assert_int_eq(memcmp(evbuffer_pullup(b, -1), want, sizeof(want)), 0);
	evbuffer_drain(b, sizeof(want));
	/* Caller bugs: nothing appended, nothing drained. */
	ck_assert_int_eq(hyper_io_encode(b, 3, NULL, 1), -EINVAL);
	evbuffer_add(src, "abc", 3);
	ck_assert_int_eq(hyper_io_encode_buffer(b, 3, src, 4), -EINVAL);
	ck_assert_uint_eq(evbuffer_get_length(src), 3);
#if SIZE_MAX > UINT32_MAX
	ck_assert_int_eq(hyper_io_encode(b, 3, "x", SIZE_MAX - 1), -EMSGSIZE);
#endif
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	/* An empty message from a buffer drains nothing. */
	ck_assert_int_eq(hyper_io_encode_buffer(b, 3, src, 0), 0);
	ck_assert_uint_eq(evbuffer_get_length(b), 12);
	ck_assert_uint_eq(evbuffer_get_length(src), 3);
	evbuffer_free(src);
	evbuffer_free(b);
}
END_TEST

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Randomised invariant: arbitrary ctl bytes never drain on failure, and
 * a success drains exactly the length field. */
START_TEST(test_ctl_random)
{
	uint64_t s = 0xabcdefull + (uint64_t)_i;

	for (int it = 0; it < 20000; it++) {
		struct evbuffer *b = evbuffer_new();
		struct hyper_ctl_msg m = { 0 };
		uint8_t in[48];
		size_t n = rng_next(&s) % sizeof(in), max = rng_next(&s) % 64, len;
		uint8_t *snap;
		int r;

		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)rng_next(&s);
		if (n >= 8 && rng_next(&s) % 4)
			in[4] = in[5] = in[6] = 0, in[7] %= 56;
		evbuffer_add(b, in, n);
		snap = snapshot(b, &len);
		r = hyper_ctl_decode(b, max, &m, NULL);
		if (r == 0) {
			ck_assert_uint_le(m.payload_len + 8, max);
			ck_assert_uint_eq(evbuffer_get_length(b), n - 8 - m.payload_len);
			ck_assert_uint_eq(m.payload_len + 8, in[7]);
		} else {
			ck_assert(r == HYPER_E_INCOMPLETE || r == HYPER_E_INVALID);
			assert_untouched(b, snap, len);
		}
		hyper_ctl_msg_deinit(&m);
		free(snap);
		evbuffer_free(b);
	}
}
END_TEST

static Suite *hyper_suite(void)
{
	Suite *s = suite_create("hyper");
	TCase *tn = tcase_create("names");
	TCase *tc = tcase_create("ctl");
	TCase *ti = tcase_create("io");

	tcase_set_timeout(tn, 10);
	tcase_add_test(tn, test_command_names);
	tcase_add_test(tn, test_code_names);
	suite_add_tcase(s, tn);

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_ctl_roundtrip, 0, (int)(sizeof(all_codes) / sizeof(all_codes[0])));
	tcase_add_loop_test(tc, test_ctl_truncated, 0, 20);
	tcase_add_test(tc, test_ctl_byte_by_byte);
	tcase_add_test(tc, test_ctl_several);
	tcase_add_loop_test(tc, test_ctl_short_length, 0, 8);
	tcase_add_test(tc, test_ctl_max_length);
	tcase_add_test(tc, test_huge_lengths_no_alloc);
	tcase_add_test(tc, test_ctl_encode_invalid);
	tcase_add_test(tc, test_next);
	tcase_add_loop_test(tc, test_ctl_random, 0, 4);
	suite_add_tcase(s, tc);

	tcase_set_timeout(ti, 30);
	tcase_add_loop_test(ti, test_io_peek_truncated, 0, 21);
	tcase_add_test(ti, test_io_peek_lengths);
	tcase_add_loop_test(ti, test_io_encode_split, 0, (int)(sizeof(split_lens) / sizeof(split_lens[0])));
	tcase_add_loop_test(ti, test_io_encode_buffer_split, 0, (int)(sizeof(split_lens) / sizeof(split_lens[0])));
	tcase_add_test(ti, test_io_encode_bytes_and_invalid);
	suite_add_tcase(s, ti);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hyper_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
