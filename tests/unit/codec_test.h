/*
 * codec_test.h - what check_frame.c and check_hyper.c share: the fixture
 * of two empty evbuffers `b` and `t`, a big-endian put32() to build wire
 * bytes by hand, snapshot() and assert_bytes() to prove that a failed
 * decode left its input alone, the "cut at every offset" and "one byte
 * at a time" walks over a stream of three messages, an address-space
 * limit to prove that a length is judged before any allocation, and a
 * xorshift generator for the randomised tests.
 *
 * Header-only, static: each unit test is one translation unit. Include
 * it after defining _GNU_SOURCE (MAP_ANONYMOUS).
 */
#pragma once

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <event2/buffer.h>

static struct evbuffer *b, *t;

static inline void setup(void)
{
	b = evbuffer_new();
	t = evbuffer_new();
}

static inline void teardown(void)
{
	evbuffer_free(b);
	evbuffer_free(t);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v & 0xff;
}

/* A copy of @in's bytes, to prove later that a failure left it alone. */
static inline uint8_t *snapshot(struct evbuffer *in, size_t *len)
{
	*len = evbuffer_get_length(in);
	uint8_t *p = malloc(*len + 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(evbuffer_copyout(in, p, *len), (ev_ssize_t)*len);
	return p;
}

/* @in holds exactly the @len bytes at @want. */
static inline void assert_bytes(struct evbuffer *in, const uint8_t *want,
				size_t len)
{
	ck_assert_uint_eq(evbuffer_get_length(in), len);
	if (len)	/* an empty evbuffer pulls up to NULL */
		ck_assert_int_eq(memcmp(evbuffer_pullup(in, -1), want, len), 0);
}

/*
 * A stream of three messages for the walks below: @build appends it to
 * its evbuffer and stores where each message ends; @nth decodes message
 * k and compares it with what was sent; @incomplete requires that no
 * whole message is there yet and that nothing was drained.
 */
struct three_stream {
	void (*build)(struct evbuffer *out, size_t ends[3]);
	void (*nth)(struct evbuffer *in, size_t k);
	void (*incomplete)(struct evbuffer *in);
};

/* The @m stream (built in `t`, @total bytes) cut at offset @cut into `b`:
 * the messages wholly before the cut decode (several in one buffer),
 * then more is awaited with nothing drained; the rest of the bytes
 * complete the others. */
static inline void assert_three_cut(const struct three_stream *m, size_t total,
				    size_t cut)
{
	size_t ends[3], len, k = 0;
	uint8_t *bytes;

	m->build(t, ends);
	bytes = snapshot(t, &len);
	ck_assert_uint_eq(len, total);
	evbuffer_add(b, bytes, cut);
	while (k < 3 && ends[k] <= cut)
		m->nth(b, k++);
	m->incomplete(b);
	evbuffer_add(b, bytes + cut, total - cut);
	while (k < 3)
		m->nth(b, k++);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);
	free(bytes);
}

/* The @m stream (built in `t`) fed into `b` one byte at a time: each
 * message completes with its last byte, and not before. */
static inline void assert_three_byte_by_byte(const struct three_stream *m)
{
	size_t ends[3], total, k = 0;
	uint8_t *bytes;

	m->build(t, ends);
	bytes = snapshot(t, &total);
	for (size_t i = 0; i < total; i++) {
		evbuffer_add(b, bytes + i, 1);
		if (i + 1 == ends[k])
			m->nth(b, k++);
		else
			m->incomplete(b);
	}
	ck_assert_uint_eq(k, 3);
	free(bytes);
}

/* Limit the address space to what is mapped now plus @extra bytes. */
static inline void limit_address_space(size_t extra)
{
	unsigned long pages = 0;
	struct rlimit rl;
	FILE *f;

	if (getenv("CK_FORK") && !strcmp(getenv("CK_FORK"), "no"))
		return;	/* it would outlive this test: only in a forked child */
	f = fopen("/proc/self/statm", "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	/* The limit works: 4 GiB cannot be mapped any more. */
	ck_assert_ptr_eq(mmap(NULL, 1ul << 32, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), MAP_FAILED);
}

/* xorshift64: a reproducible stream from the seed at @s. */
static inline uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}
