/*
 * fuzz_util.h - what the libFuzzer harnesses of tests/fuzz share: an
 * invariant check that aborts with a message (libFuzzer then saves the
 * input), a small deterministic generator of split points derived from
 * the input, a driver that feeds a stream to a decoder whole and again
 * in pieces, an FNV-1a digest to compare what was decoded, and a json-c
 * parse that accepts exactly one value.
 *
 * Header-only, static functions: each harness is one translation unit
 * compiled with the parsers it exercises (mk/fuzz.am).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <json-c/json.h>

/* A broken invariant is a finding: say which, then abort so libFuzzer
 * reports it with a stack and keeps the input as an artifact. */
#define FUZZ_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: invariant failed: %s\n", \
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

/* xorshift64*: split points that depend only on the input, so a crash
 * found with one split replays exactly. */
struct fuzz_rng {
	uint64_t s;
};

static inline void fuzz_rng_seed(struct fuzz_rng *r, const uint8_t *p, size_t n)
{
	r->s = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++)
		r->s = (r->s ^ p[i]) * 0x100000001b3ull;
	if (!r->s)
		r->s = 1;
}

static inline uint64_t fuzz_rng_next(struct fuzz_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

/*
 * The length of the next piece of a stream with @left bytes to go:
 * mostly tiny (1..3 bytes, the "byte by byte" case of PROTOCOL.md), some
 * up to 64 bytes, some all the rest (several frames in one read).
 */
static inline size_t fuzz_piece_len(struct fuzz_rng *r, size_t left)
{
	uint64_t v = fuzz_rng_next(r);
	size_t n;

	switch (v & 3) {
	case 0: n = 1 + (v >> 8) % 3; break;
	case 1: n = 1 + (v >> 8) % 64; break;
	case 2: n = 1 + (v >> 8) % 16; break;
	default: n = left; break;
	}
	return n < left ? n : left;
}

/*
 * Feed the @size bytes at @data to @drain twice: whole, into one evbuffer
 * with @whole_arg; then in pieces of fuzz_piece_len() (split points
 * derived from @data) into another with @pieces_arg, calling @drain after
 * each piece and once more at the end. @drain decodes what it can; the
 * caller compares what the two runs recorded. Both must leave the same
 * number of bytes undecoded.
 */
static inline void fuzz_whole_and_pieces(const uint8_t *data, size_t size,
					 void (*drain)(struct evbuffer *, void *),
					 void *whole_arg, void *pieces_arg)
{
	struct evbuffer *whole = evbuffer_new(), *pieces = evbuffer_new();
	struct fuzz_rng rng;

	FUZZ_CHECK(whole && pieces);
	FUZZ_CHECK(evbuffer_add(whole, data, size) == 0);
	drain(whole, whole_arg);

	fuzz_rng_seed(&rng, data, size);
	for (size_t pos = 0; pos < size;) {
		size_t n = fuzz_piece_len(&rng, size - pos);

		FUZZ_CHECK(evbuffer_add(pieces, data + pos, n) == 0);
		pos += n;
		drain(pieces, pieces_arg);
	}
	drain(pieces, pieces_arg);
	FUZZ_CHECK(evbuffer_get_length(whole) == evbuffer_get_length(pieces));
	evbuffer_free(whole);
	evbuffer_free(pieces);
}

/* FNV-1a of @n bytes at @p: a digest of a decoded payload. */
static inline uint64_t fuzz_fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/*
 * Parse @len bytes of @text as exactly one JSON value (whitespace after
 * it allowed) with json-c, nesting allowed deeper than json-c's default
 * of 32 (the proxy's scanner accepts 64). Return: the object (caller
 * puts it), or NULL with *ok false when json-c rejects the text. A valid
 * JSON `null` returns NULL with *ok true.
 */
static inline struct json_object *fuzz_json_parse(const char *text, size_t len,
						  bool *ok)
{
	struct json_tokener *tok = json_tokener_new_ex(256);
	struct json_object *o;
	size_t end = len;
	bool fed_nul = false;

	*ok = false;
	if (!tok || len > (size_t)INT32_MAX) {
		json_tokener_free(tok);
		return NULL;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	/* A top-level number could go on: a NUL tells json-c it ended. */
	if (!o && json_tokener_get_error(tok) == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1);
		fed_nul = true;
	}
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tok);
		return NULL;
	}
	if (!fed_nul)
		end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (end < len && strchr(" \t\r\n", text[end]) && text[end])
		end++;
	if (end != len) {
		json_object_put(o);
		return NULL;
	}
	*ok = true;
	return o;
}
