/*
 * token.h - I/O tokens: 32 bytes from the kernel's CSPRNG (getrandom),
 * base64url with padding, 44 characters ending in '=' (cc-shim checks
 * the shape).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_RAW_LEN	32
#define TOKEN_STR_LEN	44
#define TOKEN_PREFIX_LEN 8	/* what logs show, never more */

/** token_generate() - a fresh token in @out. Return: 0 or -errno. */
int token_generate(char out[TOKEN_STR_LEN + 1]);

/** token_is_valid() - true when @s has the shape of a token. */
bool token_is_valid(const char *s);

/** token_prefix() - the first TOKEN_PREFIX_LEN characters of @tok, for logs. */
void token_prefix(const char *tok, char out[TOKEN_PREFIX_LEN + 1]);

/**
 * token_base64url_encode() - encode @len bytes with padding into @out
 * (room for 4 * ceil(len / 3) + 1 bytes). Return: characters written.
 */
size_t token_base64url_encode(const unsigned char *in, size_t len, char *out);
