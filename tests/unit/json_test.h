/*
 * json_test.h - what check_hyperdata.c and check_payload.c share: inputs
 * copied into buffers of exactly their length, without a NUL after them,
 * so that AddressSanitizer catches any read past the end; and documents
 * nested as deep as a test needs, to reach the scanner's depth limit.
 */
#pragma once

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of @n bytes of @s with no NUL after them. */
static inline char *exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, s, n);
	return p;
}

/* @head, then @n arrays nested in one another, then the `}` that closes
 * @head's object; NUL-terminated, its length in *@len unless NULL. */
static inline char *nested_doc(const char *head, int n, size_t *len)
{
	size_t o = strlen(head);
	char *s = malloc(o + (size_t)n * 2 + 2);

	ck_assert_ptr_nonnull(s);
	memcpy(s, head, o);
	for (int i = 0; i < n; i++)
		s[o++] = '[';
	for (int i = 0; i < n; i++)
		s[o++] = ']';
	s[o++] = '}';
	s[o] = '\0';
	if (len)
		*len = o;
	return s;
}
