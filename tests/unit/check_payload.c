/*
 * check_payload.c - unit tests of payload.c: every command payload parsed
 * back into its struct (round trips, unknown members ignored), every
 * rejection with the exact client-facing message (invalid JSON, wrong
 * types, missing or empty fields, huge and negative numbers, trailing
 * bytes), every proper prefix of each payload refused, and the builders'
 * exact output. Inputs are copied into buffers of exactly their length
 * without a NUL, so AddressSanitizer catches any read past the end.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"
#include "json_test.h"
#include "unit_main.h"

/* The parsers, behind one signature so tables can drive them. */
enum kind { K_REGISTER, K_ATTACH, K_UNREGISTER, K_HYPER, K_CONNECT, K_SIGNAL,
	    K_LOG, K_ASYNC };

union any {
	struct payload_register_vm reg;
	struct payload_attach_vm att;
	struct payload_unregister_vm unreg;
	struct payload_hyper hyper;
	struct payload_connect_shim shim;
	struct payload_signal sig;
	struct payload_log log;
	struct payload_async_event ev;
};

static int parse(enum kind k, const char *s, size_t n, union any *u, char **err)
{
	char *buf = exact(s, n);
	int r = -1;

	switch (k) {
	case K_REGISTER: r = payload_parse_register_vm(buf, n, &u->reg, err); break;
	case K_ATTACH: r = payload_parse_attach_vm(buf, n, &u->att, err); break;
	case K_UNREGISTER: r = payload_parse_unregister_vm(buf, n, &u->unreg, err); break;
	case K_HYPER: r = payload_parse_hyper(buf, n, &u->hyper, err); break;
	case K_CONNECT: r = payload_parse_connect_shim(buf, n, &u->shim, err); break;
	case K_SIGNAL: r = payload_parse_signal(buf, n, &u->sig, err); break;
	case K_LOG: r = payload_parse_log(buf, n, &u->log, err); break;
	case K_ASYNC: r = payload_parse_async_event(buf, n, &u->ev, err); break;
	}
	free(buf);
	return r;
}

static void deinit(enum kind k, union any *u)
{
	switch (k) {
	case K_REGISTER: payload_register_vm_deinit(&u->reg); break;
	case K_ATTACH: payload_attach_vm_deinit(&u->att); break;
	case K_UNREGISTER: payload_unregister_vm_deinit(&u->unreg); break;
	case K_HYPER: payload_hyper_deinit(&u->hyper); break;
	case K_CONNECT: payload_connect_shim_deinit(&u->shim); break;
	case K_SIGNAL: break;
	case K_LOG: payload_log_deinit(&u->log); break;
	case K_ASYNC: payload_async_event_deinit(&u->ev); break;
	}
}

/* Parse a string that must succeed. */
static void ok(enum kind k, const char *s, union any *u)
{
	char *err = NULL;
	int r = parse(k, s, strlen(s), u, &err);

	ck_assert_msg(r == 0, "%s: r=%d err=%s", s, r, err ? err : "(none)");
	ck_assert_ptr_null(err);
}

/* ---- round trips ---- */

START_TEST(test_register_vm)
{
	union any u;

	ok(K_REGISTER, "{\"containerId\":\"c1\",\"ctlSerial\":\"/run/ctl\",\"ioSerial\":\"/run/io\","
	   "\"console\":\"/run/con\",\"numIOStreams\":1024,\"unknown\":{\"x\":[1]}}", &u);
	ck_assert_str_eq(u.reg.container_id, "c1");
	ck_assert_str_eq(u.reg.ctl_serial, "/run/ctl");
	ck_assert_str_eq(u.reg.io_serial, "/run/io");
	ck_assert_str_eq(u.reg.console, "/run/con");
	ck_assert_uint_eq(u.reg.num_io_streams, 1024);
	payload_register_vm_deinit(&u.reg);
	ck_assert_ptr_null(u.reg.container_id);
	/* optional members absent, null or empty */
	ok(K_REGISTER, " {\"containerId\":\"c\\u00e9\",\"ctlSerial\":\"a\",\"ioSerial\":\"b\","
	   "\"console\":null}\n", &u);
	ck_assert_str_eq(u.reg.container_id, "c\xc3\xa9");
	ck_assert_ptr_null(u.reg.console);
	ck_assert_uint_eq(u.reg.num_io_streams, 0);
	payload_register_vm_deinit(&u.reg);
	ok(K_REGISTER, "{\"containerId\":\"c\",\"ctlSerial\":\"a\",\"ioSerial\":\"b\","
	   "\"console\":\"\",\"numIOStreams\":null}", &u);
	ck_assert_ptr_null(u.reg.console);
	ck_assert_uint_eq(u.reg.num_io_streams, 0);
	payload_register_vm_deinit(&u.reg);
	/* the longest container id is accepted, one byte more is not */
	for (size_t n = PAYLOAD_CONTAINER_ID_MAX; n <= PAYLOAD_CONTAINER_ID_MAX + 1; n++) {
		char doc[PAYLOAD_CONTAINER_ID_MAX + 64], *err = NULL;
		int r;

		snprintf(doc, sizeof(doc), "{\"containerId\":\"%0*d\",\"ctlSerial\":\"a\",\"ioSerial\":\"b\"}",
			 (int)n, 7);
		r = payload_parse_register_vm(doc, strlen(doc), &u.reg, &err);
		if (n == PAYLOAD_CONTAINER_ID_MAX) {
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(strlen(u.reg.container_id), n);
		} else {
			ck_assert_int_eq(r, PAYLOAD_E_INVALID);
			ck_assert_str_eq(err, "RegisterVM: containerId longer than 1024 bytes");
		}
		payload_register_vm_deinit(&u.reg);
		free(err);
	}
}
END_TEST

START_TEST(test_attach_unregister_connect)
{
	union any u;

	ok(K_ATTACH, "{\"containerId\":\"c\",\"numIOStreams\":2}", &u);
	ck_assert_str_eq(u.att.container_id, "c");
	ck_assert_uint_eq(u.att.num_io_streams, 2);
	payload_attach_vm_deinit(&u.att);
	ok(K_ATTACH, "{\"containerId\":\"c\"}", &u);
	ck_assert_uint_eq(u.att.num_io_streams, 0);
	payload_attach_vm_deinit(&u.att);
	ok(K_UNREGISTER, "{\"containerId\":\"gone\",\"extra\":true}", &u);
	ck_assert_str_eq(u.unreg.container_id, "gone");
	payload_unregister_vm_deinit(&u.unreg);
	ok(K_CONNECT, "{\"token\":\"abc=\"}", &u);
	ck_assert_str_eq(u.shim.token, "abc=");
	payload_connect_shim_deinit(&u.shim);
}
END_TEST

START_TEST(test_hyper)
{
	union any u;
	static const char data[] = "{ \"id\" : \"c\",\"n\":12345678901234567890, \"f\":1.0e3,"
				   "\"s\":\"\\u00e9\\/\",\"process\":{\"args\":[ ]} }";
	char *p;

	ck_assert(asprintf(&p, "{\"hyperName\":\"newcontainer\",\"tokens\":[\"t1\"],"
			   "\"data\":%s,\"more\":1}", data) > 0);
	ok(K_HYPER, p, &u);
	free(p);
	ck_assert_str_eq(u.hyper.hyper_name, "newcontainer");
	ck_assert_uint_eq(u.hyper.n_tokens, 1);
	ck_assert_str_eq(u.hyper.tokens[0], "t1");
	/* the raw text, exactly as sent */
	ck_assert_str_eq(u.hyper.data, data);
	ck_assert_uint_eq(u.hyper.data_len, sizeof(data) - 1);
	payload_hyper_deinit(&u.hyper);
	ck_assert_ptr_null(u.hyper.tokens);

	ok(K_HYPER, "{\"hyperName\":\"ping\"}", &u);
	ck_assert_ptr_null(u.hyper.data);
	ck_assert_uint_eq(u.hyper.n_tokens, 0);
	ck_assert_ptr_null(u.hyper.tokens);
	payload_hyper_deinit(&u.hyper);

	ok(K_HYPER, "{\"tokens\":null,\"data\":null,\"hyperName\":\"ping\"}", &u);
	ck_assert_str_eq(u.hyper.data, "null");
	ck_assert_uint_eq(u.hyper.n_tokens, 0);
	payload_hyper_deinit(&u.hyper);

	ok(K_HYPER, "{\"hyperName\":\"x\",\"tokens\":[],\"data\":\"s\"}", &u);
	ck_assert_str_eq(u.hyper.data, "\"s\"");
	ck_assert_uint_eq(u.hyper.n_tokens, 0);
	payload_hyper_deinit(&u.hyper);

	/* exactly PAYLOAD_MAX_TOKENS is fine */
	ok(K_HYPER, "{\"hyperName\":\"x\",\"tokens\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\","
	   "\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\"]}", &u);
	ck_assert_uint_eq(u.hyper.n_tokens, PAYLOAD_MAX_TOKENS);
	ck_assert_str_eq(u.hyper.tokens[15], "16");
	payload_hyper_deinit(&u.hyper);
}
END_TEST

START_TEST(test_signal)
{
	union any u;

	ok(K_SIGNAL, "{\"signalNumber\":15}", &u);
	ck_assert_int_eq(u.sig.signal_number, 15);
	ck_assert_uint_eq(u.sig.columns, 0);
	ok(K_SIGNAL, "{\"signalNumber\":0,\"columns\":null,\"rows\":null}", &u);
	ck_assert_int_eq(u.sig.signal_number, 0);
	ok(K_SIGNAL, "{\"signalNumber\":30}", &u);
	ck_assert_int_eq(u.sig.signal_number, 30);
	ok(K_SIGNAL, "{\"rows\":24,\"signalNumber\":28,\"columns\":80}", &u);
	ck_assert_int_eq(u.sig.signal_number, 28);
	ck_assert_uint_eq(u.sig.columns, 80);
	ck_assert_uint_eq(u.sig.rows, 24);
	ok(K_SIGNAL, "{\"signalNumber\":28,\"columns\":65535,\"rows\":1}", &u);
	ck_assert_uint_eq(u.sig.columns, 65535);
}
END_TEST

START_TEST(test_log_and_event)
{
	union any u;

	ok(K_LOG, "{\"source\":\"shim\",\"containerId\":\"c\",\"level\":\"warn\",\"msg\":\"m\\n\"}", &u);
	ck_assert_str_eq(u.log.source, "shim");
	ck_assert_str_eq(u.log.container_id, "c");
	ck_assert_str_eq(u.log.level, "warn");
	ck_assert_str_eq(u.log.msg, "m\n");
	payload_log_deinit(&u.log);
	ok(K_LOG, "{\"source\":\"runtime\",\"level\":\"debug\",\"msg\":\"\",\"x\":1}", &u);
	ck_assert_ptr_null(u.log.container_id);
	ck_assert_str_eq(u.log.msg, "");
	payload_log_deinit(&u.log);
	for (int i = 0; i < 4; i++) {
		static const char *const lv[] = { "debug", "info", "warn", "error" };
		char *p;

		ck_assert(asprintf(&p, "{\"source\":\"shim\",\"level\":\"%s\",\"msg\":\"x\"}",
				   lv[i]) > 0);
		ok(K_LOG, p, &u);
		ck_assert_str_eq(u.log.level, lv[i]);
		payload_log_deinit(&u.log);
		free(p);
	}
	ok(K_ASYNC, "{\"container\":\"c\",\"process\":\"p\",\"event\":\"finished\",\"status\":-1}", &u);
	ck_assert_str_eq(u.ev.container, "c");
	ck_assert_str_eq(u.ev.process, "p");
	ck_assert_str_eq(u.ev.event, "finished");
	ck_assert_int_eq(u.ev.status, -1);
	payload_async_event_deinit(&u.ev);
	ok(K_ASYNC, "{\"container\":\"c\",\"process\":\"\",\"event\":\"finished\",\"status\":255}", &u);
	ck_assert_int_eq(u.ev.status, 255);
	payload_async_event_deinit(&u.ev);
}
END_TEST

/* ---- rejections, with the exact message ---- */

#define REG(x) "{\"containerId\":\"c\",\"ctlSerial\":\"a\",\"ioSerial\":\"b\"" x "}"

static const struct {
	enum kind k;
	const char *in;
	const char *msg;
} bad[] = {
	/* not one JSON object */
	{ K_REGISTER, "", "RegisterVM: payload must be a JSON object" },
	{ K_REGISTER, "  ", "RegisterVM: payload must be a JSON object" },
	{ K_REGISTER, "[1]", "RegisterVM: payload must be a JSON object" },
	{ K_REGISTER, "null", "RegisterVM: payload must be a JSON object" },
	{ K_ATTACH, "{\"containerId\":\"c\"", "AttachVM: invalid JSON: truncated" },
	{ K_ATTACH, "{\"containerId\" \"c\"}",
	  "AttachVM: invalid JSON: object property name separator ':' expected" },
	{ K_UNREGISTER, "{\"containerId\":\"c\"} x", "UnregisterVM: invalid JSON: unexpected character" },
	{ K_UNREGISTER, "{\"containerId\":\"c\"}{}", "UnregisterVM: invalid JSON: unexpected character" },
	/* json-c takes these; the strict scanner does not */
	{ K_CONNECT, "{'token':'t'}", "ConnectShim: invalid JSON: unexpected character" },
	{ K_CONNECT, "{\"token\":\"t\",}", "ConnectShim: invalid JSON: unexpected character" },
	{ K_SIGNAL, "{\"signalNumber\":1.}", "Signal: invalid JSON (strict RFC 8259 and UTF-8, "
	  "nothing after the object, nesting at most 64)" },
	{ K_CONNECT, "{\"token\":\"a\tb\"}", "ConnectShim: invalid JSON (strict RFC 8259 and UTF-8, "
	  "nothing after the object, nesting at most 64)" },
	{ K_SIGNAL, "{\"signalNumber\":NaN}", "Signal: invalid JSON (strict RFC 8259 and UTF-8, "
	  "nothing after the object, nesting at most 64)" },
	{ K_CONNECT, "{\"token\":\"\xc0\x80\"}", "ConnectShim: invalid JSON (strict RFC 8259 and "
	  "UTF-8, nothing after the object, nesting at most 64)" },
	/* missing, empty, wrong type */
	{ K_REGISTER, "{\"ctlSerial\":\"a\",\"ioSerial\":\"b\"}", "RegisterVM: missing containerId" },
	{ K_REGISTER, "{\"containerId\":\"a\\nb\",\"ctlSerial\":\"a\",\"ioSerial\":\"b\"}",
	  "RegisterVM: containerId holds a control character" },
	{ K_REGISTER, "{\"containerId\":null,\"ctlSerial\":\"a\",\"ioSerial\":\"b\"}",
	  "RegisterVM: missing containerId" },
	{ K_REGISTER, "{\"containerId\":\"c\",\"ioSerial\":\"b\"}", "RegisterVM: missing ctlSerial" },
	{ K_REGISTER, "{\"containerId\":\"c\",\"ctlSerial\":\"a\"}", "RegisterVM: missing ioSerial" },
	{ K_REGISTER, "{\"containerId\":\"\",\"ctlSerial\":\"a\",\"ioSerial\":\"b\"}",
	  "RegisterVM: containerId must not be empty" },
	{ K_REGISTER, "{\"containerId\":\"c\",\"ctlSerial\":\"\",\"ioSerial\":\"b\"}",
	  "RegisterVM: ctlSerial must not be empty" },
	{ K_REGISTER, "{\"containerId\":\"c\",\"ctlSerial\":\"a\",\"ioSerial\":\"\"}",
	  "RegisterVM: ioSerial must not be empty" },
	{ K_REGISTER, "{\"containerId\":1,\"ctlSerial\":\"a\",\"ioSerial\":\"b\"}",
	  "RegisterVM: containerId must be a string" },
	{ K_REGISTER, "{\"containerId\":\"c\",\"ctlSerial\":[],\"ioSerial\":\"b\"}",
	  "RegisterVM: ctlSerial must be a string" },
	{ K_REGISTER, "{\"containerId\":\"c\",\"ctlSerial\":\"a\",\"ioSerial\":{}}",
	  "RegisterVM: ioSerial must be a string" },
	{ K_REGISTER, REG(",\"console\":true"), "RegisterVM: console must be a string" },
	{ K_REGISTER, "{\"containerId\":\"a\\u0000b\",\"ctlSerial\":\"a\",\"ioSerial\":\"b\"}",
	  "RegisterVM: containerId must not hold \\u0000" },
	/* numbers */
	{ K_REGISTER, REG(",\"numIOStreams\":\"1\""), "RegisterVM: numIOStreams must be an integer" },
	{ K_REGISTER, REG(",\"numIOStreams\":1.0"), "RegisterVM: numIOStreams must be an integer" },
	{ K_REGISTER, REG(",\"numIOStreams\":1e3"), "RegisterVM: numIOStreams must be an integer" },
	{ K_REGISTER, REG(",\"numIOStreams\":-1"), "RegisterVM: numIOStreams -1 out of range 0..1024" },
	{ K_REGISTER, REG(",\"numIOStreams\":1025"), "RegisterVM: numIOStreams 1025 out of range 0..1024" },
	{ K_REGISTER, REG(",\"numIOStreams\":18446744073709551615"),
	  "RegisterVM: numIOStreams 18446744073709551615 out of range 0..1024" },
	{ K_REGISTER, REG(",\"numIOStreams\":99999999999999999999999"),
	  "RegisterVM: numIOStreams 18446744073709551615 out of range 0..1024" },
	{ K_ATTACH, "{\"containerId\":\"c\",\"numIOStreams\":-99999999999999999999}",
	  "AttachVM: numIOStreams -9223372036854775808 out of range 0..1024" },
	{ K_ATTACH, "{\"numIOStreams\":1}", "AttachVM: missing containerId" },
	{ K_UNREGISTER, "{}", "UnregisterVM: missing containerId" },
	{ K_CONNECT, "{\"token\":\"\"}", "ConnectShim: token must not be empty" },
	{ K_CONNECT, "{\"token\":5}", "ConnectShim: token must be a string" },
	/* Hyper */
	{ K_HYPER, "{\"data\":{}}", "Hyper: missing hyperName" },
	{ K_HYPER, "{\"hyperName\":\"\"}", "Hyper: hyperName must not be empty" },
	{ K_HYPER, "{\"hyperName\":[\"x\"]}", "Hyper: hyperName must be a string" },
	{ K_HYPER, "{\"hyperName\":\"x\",\"tokens\":\"t\"}", "Hyper: tokens must be an array of strings" },
	{ K_HYPER, "{\"hyperName\":\"x\",\"tokens\":{}}", "Hyper: tokens must be an array of strings" },
	{ K_HYPER, "{\"hyperName\":\"x\",\"tokens\":[\"a\",1]}", "Hyper: tokens[1] must be a string" },
	{ K_HYPER, "{\"hyperName\":\"x\",\"tokens\":[null]}", "Hyper: missing tokens[0]" },
	{ K_HYPER, "{\"hyperName\":\"x\",\"tokens\":[\"\"]}", "Hyper: tokens[0] must not be empty" },
	{ K_HYPER, "{\"hyperName\":\"x\",\"tokens\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\","
	  "\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}", "Hyper: 17 tokens, at most 16" },
	{ K_HYPER, "{\"hyperName\":\"x\",\"data\":{},\"data\":{}}", "Hyper: duplicate data" },
	/* Signal */
	{ K_SIGNAL, "{}", "Signal: missing signalNumber" },
	{ K_SIGNAL, "{\"signalNumber\":null}", "Signal: missing signalNumber" },
	{ K_SIGNAL, "{\"signalNumber\":\"9\"}", "Signal: signalNumber must be an integer" },
	{ K_SIGNAL, "{\"signalNumber\":9.0}", "Signal: signalNumber must be an integer" },
	{ K_SIGNAL, "{\"signalNumber\":31}", "Signal: signal 31 out of range 0..30" },
	{ K_SIGNAL, "{\"signalNumber\":-1}", "Signal: signal -1 out of range 0..30" },
	{ K_SIGNAL, "{\"signalNumber\":4294967311}", "Signal: signal 4294967311 out of range 0..30" },
	{ K_SIGNAL, "{\"signalNumber\":28}", "Signal: SIGWINCH (28) needs non-zero columns and rows" },
	{ K_SIGNAL, "{\"signalNumber\":28,\"columns\":80}",
	  "Signal: SIGWINCH (28) needs non-zero columns and rows" },
	{ K_SIGNAL, "{\"signalNumber\":28,\"columns\":80,\"rows\":0}",
	  "Signal: SIGWINCH (28) needs non-zero columns and rows" },
	{ K_SIGNAL, "{\"signalNumber\":28,\"columns\":80,\"rows\":-24}",
	  "Signal: rows -24 out of range 0..65535" },
	{ K_SIGNAL, "{\"signalNumber\":28,\"columns\":65536,\"rows\":1}",
	  "Signal: columns 65536 out of range 0..65535" },
	{ K_SIGNAL, "{\"signalNumber\":28,\"columns\":true,\"rows\":1}",
	  "Signal: columns must be an integer" },
	{ K_SIGNAL, "{\"signalNumber\":15,\"columns\":0}",
	  "Signal: columns and rows go only with SIGWINCH (28), not with signal 15" },
	{ K_SIGNAL, "{\"signalNumber\":9,\"rows\":24,\"columns\":80}",
	  "Signal: columns and rows go only with SIGWINCH (28), not with signal 9" },
	/* log */
	{ K_LOG, "{\"level\":\"info\",\"msg\":\"m\"}", "log: missing source" },
	{ K_LOG, "{\"source\":\"vm\",\"level\":\"info\",\"msg\":\"m\"}",
	  "log: source must be \"shim\" or \"runtime\"" },
	{ K_LOG, "{\"source\":\"Shim\",\"level\":\"info\",\"msg\":\"m\"}",
	  "log: source must be \"shim\" or \"runtime\"" },
	{ K_LOG, "{\"source\":\"shim\",\"level\":\"fatal\",\"msg\":\"m\"}",
	  "log: level must be debug, info, warn or error" },
	{ K_LOG, "{\"source\":\"shim\",\"level\":\"\",\"msg\":\"m\"}", "log: level must not be empty" },
	{ K_LOG, "{\"source\":\"shim\",\"level\":\"info\"}", "log: missing msg" },
	{ K_LOG, "{\"source\":\"shim\",\"level\":\"info\",\"msg\":1}", "log: msg must be a string" },
	{ K_LOG, "{\"source\":\"shim\",\"level\":\"info\",\"msg\":\"m\",\"containerId\":2}",
	  "log: containerId must be a string" },
	/* processasyncevent */
	{ K_ASYNC, "{\"process\":\"p\",\"event\":\"finished\",\"status\":0}",
	  "processasyncevent: missing container" },
	{ K_ASYNC, "{\"container\":\"c\",\"process\":\"p\",\"event\":\"finished\"}",
	  "processasyncevent: missing status" },
	{ K_ASYNC, "{\"container\":\"c\",\"process\":\"p\",\"event\":\"finished\",\"status\":2147483648}",
	  "processasyncevent: status 2147483648 out of range -2147483648..2147483647" },
	{ K_ASYNC, "{\"container\":\"c\",\"process\":1,\"event\":\"finished\",\"status\":0}",
	  "processasyncevent: process must be a string" },
};

START_TEST(test_rejected)
{
	union any u;
	char *err = NULL;
	int r;

	memset(&u, 0xa5, sizeof(u));	/* the parser must reset it */
	r = parse(bad[_i].k, bad[_i].in, strlen(bad[_i].in), &u, &err);
	ck_assert_msg(r == PAYLOAD_E_INVALID, "%s: r=%d", bad[_i].in, r);
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(err, bad[_i].msg);
	free(err);
	/* nothing is left behind: deinit of the failed struct is harmless and
	 * the pointers are NULL (ASan/LSan would see a leak or double free) */
	if (bad[_i].k == K_REGISTER)
		ck_assert_ptr_null(u.reg.container_id);
	if (bad[_i].k == K_HYPER)
		ck_assert(u.hyper.tokens == NULL && u.hyper.data == NULL);
	deinit(bad[_i].k, &u);
}
END_TEST

START_TEST(test_nul_and_length)
{
	static const char with_nul[] = "{\"containerId\":\"c\"}\0";
	static const char inner_nul[] = "{\"containerId\":\"c\0d\"}";
	union any u;
	char *err = NULL;

	/* the length is what counts: a NUL inside it is refused... */
	ck_assert_int_eq(parse(K_UNREGISTER, with_nul, sizeof(with_nul) - 1, &u, &err),
			 PAYLOAD_E_INVALID);
	ck_assert_ptr_nonnull(err);
	free(err);
	err = NULL;
	ck_assert_int_eq(parse(K_UNREGISTER, inner_nul, sizeof(inner_nul) - 1, &u, &err),
			 PAYLOAD_E_INVALID);
	free(err);
	err = NULL;
	/* ...and bytes beyond it are never looked at */
	ck_assert_int_eq(payload_parse_unregister_vm("{\"containerId\":\"c\"}garbage", 19,
						     &u.unreg, &err), 0);
	ck_assert_str_eq(u.unreg.container_id, "c");
	payload_unregister_vm_deinit(&u.unreg);
	/* no buffer at all, and a NULL err pointer */
	ck_assert_int_eq(payload_parse_unregister_vm(NULL, 0, &u.unreg, NULL), PAYLOAD_E_INVALID);
	ck_assert_int_eq(payload_parse_signal("{}", 2, &u.sig, NULL), PAYLOAD_E_INVALID);
}
END_TEST

/* {"hyperName":"x","data":[[...]]} with @n arrays, length in *len. */
static char *hyper_nested(int n, size_t *len)
{
	return nested_doc("{\"hyperName\":\"x\",\"data\":", n, len);
}

START_TEST(test_too_deep)
{
	size_t len;
	char *deep = hyper_nested(64, &len), *fine, *err = NULL;
	union any u;

	/* data at depth 2..65: one level past the scanner's 64 */
	ck_assert_int_eq(parse(K_HYPER, deep, len, &u, &err), PAYLOAD_E_INVALID);
	ck_assert_ptr_nonnull(err);
	ck_assert(strstr(err, "nesting at most 64") != NULL);
	free(err);
	free(deep);
	fine = hyper_nested(63, &len);
	ok(K_HYPER, fine, &u);
	ck_assert_uint_eq(u.hyper.data_len, 126);
	payload_hyper_deinit(&u.hyper);
	free(fine);
	/* far beyond json-c's own bound too: refused, no crash */
	deep = hyper_nested(5000, &len);
	ck_assert_int_eq(parse(K_HYPER, deep, len, &u, NULL), PAYLOAD_E_INVALID);
	free(deep);
}
END_TEST

/* ---- every proper prefix of every payload is refused ---- */

static const struct {
	enum kind k;
	const char *in;
} valid[] = {
	{ K_REGISTER, "{\"containerId\":\"c\",\"ctlSerial\":\"a\",\"ioSerial\":\"b\",\"numIOStreams\":12}" },
	{ K_ATTACH, "{\"containerId\":\"c\",\"numIOStreams\":1}" },
	{ K_UNREGISTER, "{\"containerId\":\"c\"}" },
	{ K_HYPER, "{\"hyperName\":\"execcmd\",\"tokens\":[\"t\"],\"data\":{\"process\":{\"a\":[1.5]}}}" },
	{ K_CONNECT, "{\"token\":\"\\u0074\"}" },
	{ K_SIGNAL, "{\"signalNumber\":28,\"columns\":80,\"rows\":24}" },
	{ K_LOG, "{\"source\":\"shim\",\"level\":\"info\",\"msg\":\"hello\"}" },
	{ K_ASYNC, "{\"container\":\"c\",\"process\":\"p\",\"event\":\"finished\",\"status\":3}" },
};

START_TEST(test_truncated_everywhere)
{
	for (size_t v = 0; v < sizeof(valid) / sizeof(valid[0]); v++) {
		size_t len = strlen(valid[v].in);
		union any u;
		char *err = NULL;

		ok(valid[v].k, valid[v].in, &u);
		deinit(valid[v].k, &u);
		if ((size_t)_i >= len)
			continue;
		ck_assert_msg(parse(valid[v].k, valid[v].in, (size_t)_i, &u, &err) ==
			      PAYLOAD_E_INVALID, "prefix %d of %s accepted", _i, valid[v].in);
		ck_assert_ptr_nonnull(err);
		free(err);
	}
}
END_TEST

/* ---- builders ---- */

START_TEST(test_builders)
{
	char *tokens[] = { "tok1=", "tok/2=" };
	char *s;

	s = payload_build_io_answer("unix:///run/cc/proxy.sock", NULL, 0);
	ck_assert_str_eq(s, "{\"io\":{\"URL\":\"unix:///run/cc/proxy.sock\",\"tokens\":[]}}");
	free(s);
	s = payload_build_io_answer("unix:///p", tokens, 2);
	ck_assert_str_eq(s, "{\"io\":{\"URL\":\"unix:///p\",\"tokens\":[\"tok1=\",\"tok/2=\"]}}");
	free(s);
	s = payload_build_error("bad \"x\"\n");
	ck_assert_str_eq(s, "{\"msg\":\"bad \\\"x\\\"\\n\"}");
	free(s);
	s = payload_build_winsize(3, 24, 80);
	ck_assert_str_eq(s, "{\"seq\":3,\"row\":24,\"column\":80}");
	free(s);
	s = payload_build_winsize(UINT64_MAX, 1, 65535);
	ck_assert_str_eq(s, "{\"seq\":18446744073709551615,\"row\":1,\"column\":65535}");
	free(s);
	s = payload_build_killcontainer("c\"1", 15);
	ck_assert_str_eq(s, "{\"container\":\"c\\\"1\",\"signal\":15}");
	free(s);
}
END_TEST

static Suite *payload_suite(void)
{
	Suite *s = suite_create("payload");
	TCase *tc = unit_tcase(s, "parse", 10);
	TCase *tb = unit_tcase(s, "build", 10);

	tcase_add_test(tc, test_register_vm);
	tcase_add_test(tc, test_attach_unregister_connect);
	tcase_add_test(tc, test_hyper);
	tcase_add_test(tc, test_signal);
	tcase_add_test(tc, test_log_and_event);
	tcase_add_loop_test(tc, test_rejected, 0, N_ELEM(bad));
	tcase_add_test(tc, test_nul_and_length);
	tcase_add_test(tc, test_too_deep);
	tcase_add_loop_test(tc, test_truncated_everywhere, 0, 100);

	tcase_add_test(tb, test_builders);
	return s;
}

int main(void)
{
	return run_suite(payload_suite());
}
