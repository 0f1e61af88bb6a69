/*
 * token.c - I/O tokens (PROTOCOL.md part 1, "Tokens").
 *
 * A token is the only credential a shim presents to claim a process's
 * stdin/stdout, so it must be unguessable: 32 bytes straight from the
 * kernel's CSPRNG (getrandom(2), blocking only until the pool is first
 * initialised, never falling back to anything weaker), encoded as
 * base64url with padding: 44 characters, the last one '='. cc-shim
 * rejects any other shape, and so does token_is_valid(), which accepts
 * exactly the strings token_generate() can produce (including the two
 * zero bits that padding leaves in the 43rd character).
 *
 * The raw bytes are wiped from the stack once encoded. Logs get at most
 * token_prefix(), never a whole token.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "token.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

static const char token_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of base64url character @c, or -1. */
static int token_char_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t token_base64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = token_alphabet[v >> 18];
		out[o++] = token_alphabet[(v >> 12) & 63];
		out[o++] = token_alphabet[(v >> 6) & 63];
		out[o++] = token_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = token_alphabet[v >> 18];
		out[o++] = token_alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = token_alphabet[v >> 18];
		out[o++] = token_alphabet[(v >> 12) & 63];
		out[o++] = token_alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int token_generate(char out[TOKEN_STR_LEN + 1])
{
	unsigned char raw[TOKEN_RAW_LEN];
	size_t got = 0;

	/* Flags 0: the urandom pool, blocking only before it is seeded. A
	 * request this small is never cut short except by a signal, but a
	 * short read is handled anyway rather than assumed away. */
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			explicit_bzero(raw, sizeof(raw));
			out[0] = '\0';
			return -errno;
		}
		got += (size_t)n;
	}
	token_base64url_encode(raw, sizeof(raw), out);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

bool token_is_valid(const char *s)
{
	size_t i;

	if (!s)
		return false;
	/* 43 alphabet characters; stops at an early NUL, never reads past
	 * the 45th byte of @s. */
	for (i = 0; i < TOKEN_STR_LEN - 1; i++)
		if (token_char_value((unsigned char)s[i]) < 0)
			return false;
	if (s[TOKEN_STR_LEN - 1] != '=' || s[TOKEN_STR_LEN] != '\0')
		return false;
	/* 32 bytes end in a 2-byte group: its third character carries 4 data
	 * bits and 2 zero bits. Another value is not what we generated. */
	return (token_char_value((unsigned char)s[TOKEN_STR_LEN - 2]) & 3) == 0;
}

void token_prefix(const char *tok, char out[TOKEN_PREFIX_LEN + 1])
{
	size_t i = 0;

	if (tok)
		for (; i < TOKEN_PREFIX_LEN && tok[i]; i++)
			out[i] = tok[i];
	out[i] = '\0';
}
