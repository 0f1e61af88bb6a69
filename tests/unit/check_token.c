/*
 * check_token.c - unit tests of token.c: the base64url encoder against
 * RFC 4648 vectors and the URL-safe alphabet, the shape of generated
 * tokens (44 characters, '=' last, canonical), their uniqueness, the
 * validity check on every kind of near miss, and the log prefix.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"
#include "unit_main.h"

#define URL_ALPHABET \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* RFC 4648 section 10, plus the two characters base64url changes. */
START_TEST(test_base64url_vectors)
{
	static const struct { const char *in; size_t len; const char *out; } v[] = {
		{ "", 0, "" },
		{ "f", 1, "Zg==" },
		{ "fo", 2, "Zm8=" },
		{ "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg==" },
		{ "fooba", 5, "Zm9vYmE=" },
		{ "foobar", 6, "Zm9vYmFy" },
		{ "\xfb\xff", 2, "-_8=" },	/* standard base64: "+/8=" */
		{ "\xff\xff\xff", 3, "____" },
		{ "\0\0\0\0", 4, "AAAAAA==" },
	};
	char out[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(out, 'X', sizeof(out));
		ck_assert_uint_eq(token_base64url_encode((const unsigned char *)v[i].in,
							 v[i].len, out), strlen(v[i].out));
		ck_assert_str_eq(out, v[i].out);
	}
}
END_TEST

/* 32 bytes of 0x00 and of 0xff: the extremes of the alphabet, valid. */
START_TEST(test_base64url_token_size)
{
	unsigned char raw[TOKEN_RAW_LEN];
	char out[TOKEN_STR_LEN + 1];

	memset(raw, 0, sizeof(raw));
	ck_assert_uint_eq(token_base64url_encode(raw, sizeof(raw), out), TOKEN_STR_LEN);
	ck_assert_str_eq(out, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	ck_assert(token_is_valid(out));
	memset(raw, 0xff, sizeof(raw));
	ck_assert_uint_eq(token_base64url_encode(raw, sizeof(raw), out), TOKEN_STR_LEN);
	ck_assert_str_eq(out, "__________________________________________8=");
	ck_assert(token_is_valid(out));
}
END_TEST

START_TEST(test_generate_shape)
{
	char tok[TOKEN_STR_LEN + 2];

	memset(tok, 'X', sizeof(tok));
	ck_assert_int_eq(token_generate(tok), 0);
	ck_assert_uint_eq(strlen(tok), TOKEN_STR_LEN);
	ck_assert_int_eq(tok[TOKEN_STR_LEN - 1], '=');
	ck_assert_uint_eq(strspn(tok, URL_ALPHABET), TOKEN_STR_LEN - 1);
	ck_assert(token_is_valid(tok));
}
END_TEST

static int cmp_tok(const void *a, const void *b)
{
	return memcmp(a, b, TOKEN_STR_LEN + 1);
}

/*
 * 4096 tokens: all valid and all distinct; every character position
 * takes many values (a stuck byte of the source would show), and the
 * 43rd only the 16 values with two zero bits.
 */
START_TEST(test_generate_many)
{
	enum { N = 4096 };
	char (*t)[TOKEN_STR_LEN + 1] = calloc(N, sizeof(*t));
	bool seen[TOKEN_STR_LEN][256] = { { false } };

	ck_assert_ptr_nonnull(t);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(token_generate(t[i]), 0);
		ck_assert(token_is_valid(t[i]));
		for (int j = 0; j < TOKEN_STR_LEN; j++)
			seen[j][(unsigned char)t[i][j]] = true;
	}
	qsort(t, N, sizeof(*t), cmp_tok);
	for (int i = 1; i < N; i++)
		ck_assert_int_ne(cmp_tok(t[i - 1], t[i]), 0);
	for (int j = 0; j < TOKEN_STR_LEN - 1; j++) {
		int values = 0;

		for (int c = 0; c < 256; c++)
			values += seen[j][c];
		ck_assert_int_eq(values, j == TOKEN_STR_LEN - 2 ? 16 : 64);
	}
	free(t);
}
END_TEST

static const char good[] = "abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78w=";

START_TEST(test_valid_known)
{
	ck_assert_uint_eq(strlen(good), TOKEN_STR_LEN);
	ck_assert(token_is_valid(good));
	ck_assert(token_is_valid("-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_0="));
}
END_TEST

START_TEST(test_invalid_shapes)
{
	static const char *const bad[] = {
		"",
		"=",
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78=",		/* 43 */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78ww=",	/* 45 */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78ww",		/* no '=' */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78w==",	/* 45, "==" */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_7w==",		/* 31 bytes */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123+/78w=",		/* std base64 */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78w= ",
		" bcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78w=",
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78x=",		/* x: low bits set */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78B=",		/* B = 1 */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78_=",		/* _ = 63 */
		"abcdefghijklmnopqrstuvwxyzABCDEFGH0123-_78w=\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!token_is_valid(bad[i]), "accepted \"%s\"", bad[i]);
	ck_assert(!token_is_valid(NULL));
}
END_TEST

/* Position _i of a good token replaced by characters outside the alphabet
 * (and, before the end, by '='; at the end, by an alphabet character). */
START_TEST(test_invalid_each_position)
{
	static const char replace[] = "=+/.~ !\"\\\x01\x7f\x80\xc3\xff";
	char t[TOKEN_STR_LEN + 1];

	for (size_t k = 0; k < sizeof(replace) - 1; k++) {
		memcpy(t, good, sizeof(t));
		if (_i == TOKEN_STR_LEN - 1 && replace[k] == '=')
			continue;
		t[_i] = replace[k];
		ck_assert_msg(!token_is_valid(t), "accepted 0x%02x at %d",
			      (unsigned char)replace[k], _i);
	}
	memcpy(t, good, sizeof(t));
	t[_i] = '\0';	/* cut short at every position */
	ck_assert(!token_is_valid(t));
	if (_i == TOKEN_STR_LEN - 1) {
		t[_i] = 'A';
		ck_assert(!token_is_valid(t));
	}
}
END_TEST

START_TEST(test_prefix)
{
	char out[TOKEN_PREFIX_LEN + 1];

	memset(out, 'X', sizeof(out));
	token_prefix(good, out);
	ck_assert_str_eq(out, "abcdefgh");
	token_prefix("abc", out);
	ck_assert_str_eq(out, "abc");
	token_prefix("", out);
	ck_assert_str_eq(out, "");
	token_prefix(NULL, out);
	ck_assert_str_eq(out, "");
}
END_TEST

static Suite *token_suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc = unit_tcase(s, "core", 10);

	tcase_add_test(tc, test_base64url_vectors);
	tcase_add_test(tc, test_base64url_token_size);
	tcase_add_test(tc, test_generate_shape);
	tcase_add_test(tc, test_generate_many);
	tcase_add_test(tc, test_valid_known);
	tcase_add_test(tc, test_invalid_shapes);
	tcase_add_loop_test(tc, test_invalid_each_position, 0, TOKEN_STR_LEN);
	tcase_add_test(tc, test_prefix);
	return s;
}

int main(void)
{
	return run_suite(token_suite());
}
