/*
 * check_hyperdata.c - unit tests of hyperdata.c: the strict scanner, the
 * value spans, inspect, and the in-place rewrite (every output compared
 * whole, byte for byte). Inputs are handed over in buffers of exactly
 * their length, without a NUL, so that a read past the end shows up
 * under AddressSanitizer. Loop tests cut a document at every offset and
 * mutate every byte; a crash fails only that iteration (fork mode).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperdata.h"
#include "json_test.h"
#include "unit_main.h"

static const struct hyperdata_edit EDIT_FULL = {
	.stdio = 3, .set_stderr = true, .stderr_seq = 4, .process_id = "p1",
};

/* Rewrite @in with @e; return the output (malloc'd) or NULL with *r set. */
static char *rewrite(const char *in, const struct hyperdata_edit *e, int *r)
{
	char *buf = exact(in, strlen(in)), *out = NULL, *err = NULL;
	size_t out_len = 0;

	*r = hyperdata_rewrite(buf, strlen(in), e, &out, &out_len, &err);
	free(buf);
	if (*r == 0) {
		ck_assert_ptr_null(err);
		ck_assert_ptr_nonnull(out);
		ck_assert_uint_eq(strlen(out), out_len);
	} else {
		ck_assert_ptr_null(out);
		ck_assert_ptr_nonnull(err);
		ck_assert_uint_gt(strlen(err), 6);
		free(err);
	}
	return out;
}

static void expect_rewrite(const char *in, const struct hyperdata_edit *e,
			   const char *want)
{
	int r;
	char *out = rewrite(in, e, &r);

	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(out, want);
	free(out);
}

/* ---- rewrite: placement and preservation ---- */

START_TEST(test_added_keys_first)
{
	expect_rewrite("{\"process\":{\"args\":[\"sh\"]}}", &EDIT_FULL,
		       "{\"process\":{\"stdio\":3,\"stderr\":4,\"id\":\"p1\",\"args\":[\"sh\"]}}");
}
END_TEST

START_TEST(test_empty_process)
{
	expect_rewrite("{\"process\":{}}", &EDIT_FULL,
		       "{\"process\":{\"stdio\":3,\"stderr\":4,\"id\":\"p1\"}}");
	expect_rewrite("{ \"process\" : { \n } }", &EDIT_FULL,
		       "{ \"process\" : {\"stdio\":3,\"stderr\":4,\"id\":\"p1\" \n } }");
	/* Only one key added into an empty object: no comma at all. */
	expect_rewrite("{\"process\":{}}",
		       &(struct hyperdata_edit){ .stdio = 9 },
		       "{\"process\":{\"stdio\":9}}");
}
END_TEST

START_TEST(test_replaced_where_it_stands)
{
	expect_rewrite("{\"container\":\"c\",\"process\":{\"user\":\"u\",\"stdio\":0,"
		       "\"terminal\":false,\"stderr\":0,\"args\":[\"a\"],\"id\":\"x\"}}",
		       &(struct hyperdata_edit){ 5, true, 6, "p1" },
		       "{\"container\":\"c\",\"process\":{\"user\":\"u\",\"stdio\":5,"
		       "\"terminal\":false,\"stderr\":6,\"args\":[\"a\"],\"id\":\"x\"}}");
	/* stderr before stdio, odd spacing kept around the new values */
	expect_rewrite("{\"process\":{\"stderr\": 0 ,\"stdio\":\t0}}",
		       &(struct hyperdata_edit){ 7, true, 8, NULL },
		       "{\"process\":{\"stderr\": 8 ,\"stdio\":\t7}}");
	/* one present, one added */
	expect_rewrite("{\"process\":{\"a\":1,\"stderr\":0}}",
		       &(struct hyperdata_edit){ 7, true, 8, NULL },
		       "{\"process\":{\"stdio\":7,\"a\":1,\"stderr\":8}}");
}
END_TEST

START_TEST(test_terminal_no_stderr)
{
	struct hyperdata_edit e = { .stdio = 3, .set_stderr = false, .process_id = "p" };

	expect_rewrite("{\"process\":{\"terminal\":true,\"args\":[]}}", &e,
		       "{\"process\":{\"stdio\":3,\"id\":\"p\",\"terminal\":true,\"args\":[]}}");
	/* an existing stderr is left exactly as it was */
	expect_rewrite("{\"process\":{\"terminal\":true,\"stderr\":0}}", &e,
		       "{\"process\":{\"stdio\":3,\"id\":\"p\",\"terminal\":true,\"stderr\":0}}");
}
END_TEST

START_TEST(test_id_present_or_not_asked)
{
	expect_rewrite("{\"process\":{\"id\":\"mine\"}}", &EDIT_FULL,
		       "{\"process\":{\"stdio\":3,\"stderr\":4,\"id\":\"mine\"}}");
	expect_rewrite("{\"process\":{\"x\":1}}",
		       &(struct hyperdata_edit){ 1, true, 2, NULL },
		       "{\"process\":{\"stdio\":1,\"stderr\":2,\"x\":1}}");
	/* the id is escaped as a JSON string */
	expect_rewrite("{\"process\":{}}",
		       &(struct hyperdata_edit){ 1, false, 0, "a\"b\\c\n" },
		       "{\"process\":{\"stdio\":1,\"id\":\"a\\\"b\\\\c\\n\"}}");
	/* the largest sequence numbers are written exactly */
	expect_rewrite("{\"process\":{\"stdio\":0}}",
		       &(struct hyperdata_edit){ UINT64_MAX, true, UINT64_MAX - 1, NULL },
		       "{\"process\":{\"stderr\":18446744073709551614,"
		       "\"stdio\":18446744073709551615}}");
}
END_TEST

/* Everything but the insertion stays as sent: escapes, unicode, number
 * spellings, unknown and duplicate keys, nesting, outer whitespace. */
#define PRE " \n{\"id\":\"c1\" ,\"s\":\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"," \
	"\"raw\":\"\xc3\xa9\xf0\x9f\x98\x80\",\"big\":12345678901234567890,\"f\":1.0e3," \
	"\"neg\":-0.0E-0,\"dup\":1,\"dup\":2,\n \"process\" :\t{"
#define POST "\n   \"User\":\"root\",\"unknownKey\":{\"deep\":[[[{\"x\":null}]]]}," \
	"\"Args\":[\"sh\",\"-c\",\"echo \\\"hi\\\"\"],\"n\":[0,-1,2.50,1E+2,3e-0]," \
	"\"\xc3\xa9\":\"\xc3\xbc\",\"Workdir\":\"/\"},\"trailer\":[true,false,null,{},[]]}\r\n"
#define INSERT "\"stdio\":3,\"stderr\":4,\"id\":\"p1\","

START_TEST(test_preserved_byte_for_byte)
{
	expect_rewrite(PRE POST, &EDIT_FULL, PRE INSERT POST);
}
END_TEST

START_TEST(test_rewrite_idempotent)
{
	int r;
	char *once = rewrite(PRE POST, &EDIT_FULL, &r);
	char *twice = rewrite(once, &EDIT_FULL, &r);

	ck_assert_str_eq(once, twice);
	free(once);
	free(twice);
}
END_TEST

/* ---- depth ---- */

/* {"process":{},"a":[[...]]} with @n arrays: depth n + 1. */
static char *nested(int n)
{
	return nested_doc("{\"process\":{},\"a\":", n, NULL);
}

START_TEST(test_depth_limit)
{
	char *ok = nested(63), *deep = nested(64), *huge = nested(100000);
	char *out;
	int r;

	out = rewrite(ok, &EDIT_FULL, &r);
	ck_assert_int_eq(r, 0);
	ck_assert(strstr(out, "{\"stdio\":3,\"stderr\":4,\"id\":\"p1\"}") != NULL);
	free(out);
	ck_assert_ptr_null(rewrite(deep, &EDIT_FULL, &r));
	ck_assert_int_eq(r, HYPERDATA_E_INVALID);
	/* far too deep: refused without exhausting the stack */
	ck_assert_ptr_null(rewrite(huge, &EDIT_FULL, &r));
	ck_assert_int_eq(r, HYPERDATA_E_INVALID);
	free(ok);
	free(deep);
	free(huge);
}
END_TEST

/* ---- strictness ---- */

static const char *const invalid_docs[] = {
	"", " ", "[]", "\"s\"", "1", "null",
	"{\"process\":{}", "{\"process\":{}}}", "{\"process\":{}} x", "{\"process\":{}}{}",
	"{'process':{}}", "{\"process\":{},}", "{\"process\":{\"a\":[1,]}}",
	"{,\"process\":{}}", "{\"process\" {}}", "{\"process\":{} \"a\":1}",
	"{\"process\":{\"a\":NaN}}", "{\"process\":{\"a\":01}}", "{\"process\":{\"a\":1.}}",
	"{\"process\":{\"a\":.5}}", "{\"process\":{\"a\":+1}}", "{\"process\":{\"a\":-}}",
	"{\"process\":{\"a\":1e}}", "{\"process\":{\"a\":0x1}}", "{\"process\":{\"a\":tru}}",
	"{\"process\":{\"a\":True}}", "{\"process\":{\"a\":nul}}",
	"{\"process\":{\"a\":\"x\ty\"}}", "{\"process\":{\"a\":\"\\x\"}}",
	"{\"process\":{\"a\":\"\\u12\"}}", "{\"process\":{\"a\":\"\\u12G4\"}}",
	"{\"process\":{\"a\":\"\xc0\x80\"}}", "{\"process\":{\"a\":\"\xed\xa0\x80\"}}",
	"{\"process\":{\"a\":\"\xf5\x80\x80\x80\"}}", "{\"process\":{\"a\":\"\xe2\x82\"}}",
	"{\"process\":{\"a\":\"\x80\"}}", "{\"process\":{\"a\":\"\xf4\x90\x80\x80\"}}",
	"/**/{\"process\":{}}", "{\"process\":{}}//", "{\"process\":{}}\f",
	"{\"process\":{1:2}}", "{\"process\":{\"a\"}}", "{\"process\":{\"a\":}}",
};

START_TEST(test_invalid_rejected)
{
	const char *doc = invalid_docs[_i];
	char *buf = exact(doc, strlen(doc));
	size_t off, vlen;
	int r;

	ck_assert_int_eq(hyperdata_value_span(buf, strlen(doc), "process", &off, &vlen),
			 HYPERDATA_E_INVALID);
	ck_assert_ptr_null(rewrite(doc, &EDIT_FULL, &r));
	ck_assert_int_eq(r, HYPERDATA_E_INVALID);
	free(buf);
}
END_TEST

START_TEST(test_nul_byte_rejected)
{
	static const char doc[] = "{\"process\":{\"a\":\"x\0y\"}}";
	static const char tail[] = "{\"process\":{}}\0";
	size_t off, vlen;

	ck_assert_int_eq(hyperdata_value_span(doc, sizeof(doc) - 1, "process", &off, &vlen),
			 HYPERDATA_E_INVALID);
	ck_assert_int_eq(hyperdata_value_span(tail, sizeof(tail) - 1, "process", &off, &vlen),
			 HYPERDATA_E_INVALID);
	ck_assert_int_eq(hyperdata_value_span(tail, sizeof(tail) - 2, "process", &off, &vlen), 0);
	ck_assert_int_eq(hyperdata_value_span(NULL, 0, "process", &off, &vlen),
			 HYPERDATA_E_INVALID);
}
END_TEST

/* ---- value spans ---- */

START_TEST(test_value_span)
{
	static const char doc[] = " {\"hyperName\":\"x\", \"d\\u0061ta\" : {\"a\": [1, 2]} ,"
				  "\"n\":1.0e3,\"nested\":{\"deep\":1}} ";
	char *buf = exact(doc, sizeof(doc) - 1);
	size_t off = 99, vlen = 99;

	ck_assert_int_eq(hyperdata_value_span(buf, sizeof(doc) - 1, "data", &off, &vlen), 0);
	ck_assert_int_eq((int)vlen, (int)strlen("{\"a\": [1, 2]}"));
	ck_assert(memcmp(buf + off, "{\"a\": [1, 2]}", vlen) == 0);
	ck_assert_int_eq(hyperdata_value_span(buf, sizeof(doc) - 1, "n", &off, &vlen), 0);
	ck_assert(vlen == 5 && memcmp(buf + off, "1.0e3", 5) == 0);
	ck_assert_int_eq(hyperdata_value_span(buf, sizeof(doc) - 1, "deep", &off, &vlen),
			 -ENOENT);
	ck_assert_int_eq(hyperdata_value_span(buf, sizeof(doc) - 1, "dat", &off, &vlen),
			 -ENOENT);
	free(buf);
	/* a duplicated key is refused: readers disagree on which copy counts */
	ck_assert_int_eq(hyperdata_value_span("{\"a\":1,\"a\":2}", 13, "a", &off, &vlen),
			 HYPERDATA_E_INVALID);
	ck_assert_int_eq(hyperdata_value_span("{\"a\":1,\"a\":2}", 13, "b", &off, &vlen),
			 -ENOENT);
}
END_TEST

/* ---- inspect ---- */

START_TEST(test_inspect_fields)
{
	static const char doc[] = "{\"container\":\"c\\u00e9\",\"process\":{\"terminal\":true,"
				  "\"stdio\":0,\"stderr\":18446744073709551615,\"id\":\"p\\\"1\"}}";
	struct hyperdata_info info;
	char *buf = exact(doc, sizeof(doc) - 1), *err = NULL;

	ck_assert_int_eq(hyperdata_inspect(buf, sizeof(doc) - 1, 6, &info, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert(info.terminal && info.has_stdio && info.has_stderr);
	ck_assert_uint_eq(info.stdio, 0);
	ck_assert(info.stderr_seq == UINT64_MAX);
	ck_assert_str_eq(info.process_id, "p\"1");
	ck_assert_str_eq(info.container_id, "c\xc3\xa9");
	hyperdata_info_deinit(&info);
	ck_assert_ptr_null(info.process_id);
	/* newcontainer reads "id", not "container" */
	ck_assert_int_eq(hyperdata_inspect(buf, sizeof(doc) - 1, 17, &info, &err), 0);
	ck_assert_ptr_null(info.container_id);
	hyperdata_info_deinit(&info);
	free(buf);
	ck_assert_int_eq(hyperdata_inspect("{\"id\":\"nc\",\"process\":{\"terminal\":false}}",
					   40, 17, &info, &err), 0);
	ck_assert_str_eq(info.container_id, "nc");
	ck_assert(!info.terminal && !info.has_stdio && !info.has_stderr);
	ck_assert_ptr_null(info.process_id);
	hyperdata_info_deinit(&info);
	/* a command that has no process data: a caller bug */
	ck_assert_int_eq(hyperdata_inspect("{\"process\":{}}", 14, 18, &info, &err), -EINVAL);
	ck_assert_ptr_null(err);
	hyperdata_info_deinit(NULL);
}
END_TEST

static const struct {
	uint32_t code;
	const char *doc;
	const char *msg;	/* the whole client-facing message */
} inspect_errors[] = {
	{ 6, "[]", "execcmd: data is not a valid JSON object (strict RFC 8259, nesting depth at most 64)" },
	{ 6, "{\"container\":\"c\"}", "execcmd: data has no \"process\"" },
	{ 17, "{\"process\":[]}", "newcontainer: process must be a JSON object" },
	{ 17, "{\"process\":null}", "newcontainer: process must be a JSON object" },
	{ 6, "{\"process\":{\"stdio\":-1}}", "execcmd: process.stdio must be a non-negative integer" },
	{ 6, "{\"process\":{\"stdio\":1.0}}", "execcmd: process.stdio must be a non-negative integer" },
	{ 6, "{\"process\":{\"stdio\":1e2}}", "execcmd: process.stdio must be a non-negative integer" },
	{ 6, "{\"process\":{\"stdio\":\"3\"}}", "execcmd: process.stdio must be a non-negative integer" },
	{ 6, "{\"process\":{\"stderr\":null}}", "execcmd: process.stderr must be a non-negative integer" },
	{ 6, "{\"process\":{\"stderr\":18446744073709551616}}", "execcmd: process.stderr is out of range" },
	{ 6, "{\"process\":{\"terminal\":\"yes\"}}", "execcmd: process.terminal must be true or false" },
	{ 6, "{\"process\":{\"terminal\":null}}", "execcmd: process.terminal must be true or false" },
	{ 6, "{\"process\":{\"terminal\":1}}", "execcmd: process.terminal must be true or false" },
	{ 6, "{\"process\":{\"id\":5}}", "execcmd: process.id must be a string" },
	{ 6, "{\"process\":{\"id\":\"\"}}", "execcmd: process.id must not be empty" },
	{ 6, "{\"process\":{\"id\":\"a\\u0000b\"}}", "execcmd: process.id must not hold \\u0000" },
	{ 6, "{\"container\":7,\"process\":{}}", "execcmd: container must be a string" },
	{ 6, "{\"container\":\"\",\"process\":{}}", "execcmd: container must not be empty" },
	{ 17, "{\"id\":[],\"process\":{}}", "newcontainer: id must be a string" },
	{ 6, "{\"process\":{\"stdio\":0,\"stdio\":5}}", "execcmd: duplicate key process.stdio" },
	{ 6, "{\"process\":{},\"process\":{}}", "execcmd: duplicate key process" },
	{ 6, "{\"process\":{\"st\\u0064io\":5}}", "execcmd: key process.stdio must be written without escapes" },
	{ 17, "{\"\\u0070rocess\":{}}", "newcontainer: key process must be written without escapes" },
	/* json-c ends a key at U+0000: these are second copies to it (found by fuzz_hyperdata). */
	{ 6, "{\"container\":\"c\",\"process\":{\"args\":[\"a\"]},\"process\\u0000\":{\"stdio\":5}}",
	  "execcmd: duplicate key process" },
	{ 17, "{\"process\":{\"stdio\\u0000x\":5,\"args\":[]}}",
	  "newcontainer: key process.stdio must be written without escapes" },
};

START_TEST(test_inspect_errors)
{
	const char *doc = inspect_errors[_i].doc;
	char *buf = exact(doc, strlen(doc)), *err = NULL;
	struct hyperdata_info info;

	ck_assert_int_eq(hyperdata_inspect(buf, strlen(doc), inspect_errors[_i].code,
					   &info, &err), HYPERDATA_E_INVALID);
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(err, inspect_errors[_i].msg);
	ck_assert_ptr_null(info.process_id);
	ck_assert_ptr_null(info.container_id);
	free(err);
	free(buf);
}
END_TEST

/* ---- truncation and mutation loops ---- */

#define LOOP_DOC "{\"container\":\"c\",\"process\":{\"terminal\":false,\"stdio\":0," \
	"\"args\":[\"a\\u00e9\",1.5e-3,-2,null,true,{\"k\":[]}],\"id\":\"x\"}}"

START_TEST(test_truncated_everywhere)
{
	size_t n = (size_t)_i;	/* every proper prefix of LOOP_DOC */
	char *buf = exact(LOOP_DOC, n), *err = NULL, *out = NULL;
	struct hyperdata_info info;
	size_t off, vlen, out_len;

	ck_assert_int_eq(hyperdata_value_span(buf, n, "process", &off, &vlen),
			 HYPERDATA_E_INVALID);
	ck_assert_int_eq(hyperdata_inspect(buf, n, 6, &info, &err), HYPERDATA_E_INVALID);
	ck_assert_ptr_nonnull(err);
	free(err);
	err = NULL;
	ck_assert_int_eq(hyperdata_rewrite(buf, n, &EDIT_FULL, &out, &out_len, &err),
			 HYPERDATA_E_INVALID);
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(err);
	free(err);
	free(buf);
}
END_TEST

/*
 * Replace byte _i of LOOP_DOC with each of a set of troublesome bytes.
 * Invariants: no crash; the scanner never accepts what json-c refuses
 * (json-c is the more lenient); inspect and rewrite agree; an accepted
 * rewrite is valid JSON with stdio 3, and rewriting it again changes
 * nothing.
 */
START_TEST(test_mutated_everywhere)
{
	static const char bytes[] = "{}[]\",:\\0-e.a \t\x01\x7f\x80\xc3\xff";
	size_t n = sizeof(LOOP_DOC) - 1;

	for (size_t b = 0; b < sizeof(bytes); b++) {	/* includes the NUL */
		char *buf = exact(LOOP_DOC, n), *err = NULL, *out = NULL, *again;
		struct hyperdata_info info;
		size_t off, vlen, out_len;
		int ri, rw, r;

		buf[_i] = bytes[b];
		if (hyperdata_value_span(buf, n, "process", &off, &vlen) == 0) {
			struct json_tokener *tok = json_tokener_new_ex(128);
			struct json_object *o = json_tokener_parse_ex(tok, buf, (int)n);

			ck_assert_msg(o != NULL, "json-c refuses what the scanner took: %.*s",
				      (int)n, buf);
			json_object_put(o);
			json_tokener_free(tok);
		}
		ri = hyperdata_inspect(buf, n, 6, &info, &err);
		ck_assert(ri == 0 || ri == HYPERDATA_E_INVALID);
		hyperdata_info_deinit(&info);
		free(err);
		err = NULL;
		rw = hyperdata_rewrite(buf, n, &EDIT_FULL, &out, &out_len, &err);
		ck_assert(rw == 0 || rw == HYPERDATA_E_INVALID);
		if (ri == 0)
			ck_assert_int_eq(rw, 0);
		free(err);
		if (rw == 0) {
			if (ri == 0) {
				ck_assert_int_eq(hyperdata_inspect(out, out_len, 6, &info,
								   NULL), 0);
				ck_assert(info.has_stdio && info.stdio == 3);
				ck_assert(info.has_stderr && info.stderr_seq == 4);
				ck_assert_ptr_nonnull(info.process_id);
				hyperdata_info_deinit(&info);
			}
			ck_assert_int_eq(hyperdata_value_span(out, out_len, "process", &off,
							      &vlen), 0);
			again = rewrite(out, &EDIT_FULL, &r);
			ck_assert_int_eq(r, 0);
			ck_assert_str_eq(again, out);
			free(again);
			free(out);
		}
		free(buf);
	}
}
END_TEST

static Suite *hyperdata_suite(void)
{
	Suite *s = suite_create("hyperdata");
	TCase *tc = unit_tcase(s, "rewrite", 10);
	TCase *tv = unit_tcase(s, "validate", 10);
	TCase *tl = unit_tcase(s, "loops", 30);

	tcase_add_test(tc, test_added_keys_first);
	tcase_add_test(tc, test_empty_process);
	tcase_add_test(tc, test_replaced_where_it_stands);
	tcase_add_test(tc, test_terminal_no_stderr);
	tcase_add_test(tc, test_id_present_or_not_asked);
	tcase_add_test(tc, test_preserved_byte_for_byte);
	tcase_add_test(tc, test_rewrite_idempotent);
	tcase_add_test(tc, test_depth_limit);

	tcase_add_loop_test(tv, test_invalid_rejected, 0, N_ELEM(invalid_docs));
	tcase_add_test(tv, test_nul_byte_rejected);
	tcase_add_test(tv, test_value_span);
	tcase_add_test(tv, test_inspect_fields);
	tcase_add_loop_test(tv, test_inspect_errors, 0, N_ELEM(inspect_errors));

	tcase_add_loop_test(tl, test_truncated_everywhere, 0, (int)sizeof(LOOP_DOC) - 1);
	tcase_add_loop_test(tl, test_mutated_everywhere, 0, (int)sizeof(LOOP_DOC) - 1);
	return s;
}

int main(void)
{
	return run_suite(hyperdata_suite());
}
