/*
 * fuzz_payload.c - libFuzzer harness for src/common/payload.c: every
 * payload_parse_* on the same arbitrary bytes (the payload of a command
 * frame, not NUL-terminated), and the builders on arbitrary strings.
 *
 * Invariants checked besides "no crash, no leak, no UB":
 *  - a parser returns 0, PAYLOAD_E_INVALID with a message, or -ENOMEM;
 *  - what it accepts has the shape payload.h promises (required strings
 *    present and non-empty, counts within their maxima, the signal rules,
 *    the log enums, Hyper's `data` a verbatim slice of the input that is
 *    itself JSON);
 *  - a built answer is JSON that json-c reads back to the same values.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "fuzz_util.h"
#include "payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SIGWINCH_NUMBER 28

static bool nonempty(const char *s)
{
	return s && *s;
}

static bool one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

/* The common contract of a parser's result; true when it accepted. */
static bool accepted(int r, char **err)
{
	FUZZ_CHECK(r == 0 || r == PAYLOAD_E_INVALID || r == -ENOMEM);
	if (r == PAYLOAD_E_INVALID)
		FUZZ_CHECK(nonempty(*err));
	if (r == 0)
		FUZZ_CHECK(!*err);
	free(*err);
	*err = NULL;
	return r == 0;
}

static void fuzz_register(const char *buf, size_t len)
{
	struct payload_register_vm p;
	char *err = NULL;

	memset(&p, 0, sizeof(p));
	if (accepted(payload_parse_register_vm(buf, len, &p, &err), &err)) {
		FUZZ_CHECK(nonempty(p.container_id));
		FUZZ_CHECK(nonempty(p.ctl_serial));
		FUZZ_CHECK(nonempty(p.io_serial));
		FUZZ_CHECK(!p.console || *p.console);
		FUZZ_CHECK(p.num_io_streams <= PAYLOAD_MAX_IO_STREAMS);
	}
	payload_register_vm_deinit(&p);
}

static void fuzz_attach_unregister_connect(const char *buf, size_t len)
{
	struct payload_attach_vm a;
	struct payload_unregister_vm u;
	struct payload_connect_shim c;
	char *err = NULL;

	memset(&a, 0, sizeof(a));
	if (accepted(payload_parse_attach_vm(buf, len, &a, &err), &err)) {
		FUZZ_CHECK(nonempty(a.container_id));
		FUZZ_CHECK(a.num_io_streams <= PAYLOAD_MAX_IO_STREAMS);
	}
	payload_attach_vm_deinit(&a);

	memset(&u, 0, sizeof(u));
	if (accepted(payload_parse_unregister_vm(buf, len, &u, &err), &err))
		FUZZ_CHECK(nonempty(u.container_id));
	payload_unregister_vm_deinit(&u);

	memset(&c, 0, sizeof(c));
	if (accepted(payload_parse_connect_shim(buf, len, &c, &err), &err))
		FUZZ_CHECK(nonempty(c.token));
	payload_connect_shim_deinit(&c);
}

static void fuzz_hyper(const char *buf, size_t len)
{
	struct payload_hyper h;
	char *err = NULL;
	bool ok;

	memset(&h, 0, sizeof(h));
	if (accepted(payload_parse_hyper(buf, len, &h, &err), &err)) {
		FUZZ_CHECK(h.hyper_name);
		FUZZ_CHECK(h.n_tokens <= PAYLOAD_MAX_TOKENS);
		FUZZ_CHECK(!h.n_tokens || h.tokens);
		for (size_t i = 0; i < h.n_tokens; i++)
			FUZZ_CHECK(h.tokens[i]);
		if (h.data) {
			/* "exactly as sent": a slice of the input, JSON itself */
			FUZZ_CHECK(h.data[h.data_len] == '\0');
			FUZZ_CHECK(h.data_len > 0 && h.data_len <= len);
			FUZZ_CHECK(memmem(buf, len, h.data, h.data_len));
			json_object_put(fuzz_json_parse(h.data, h.data_len, &ok));
			FUZZ_CHECK(ok);
		}
	}
	payload_hyper_deinit(&h);
}

static void fuzz_signal(const char *buf, size_t len)
{
	struct payload_signal s;
	char *err = NULL;

	memset(&s, 0, sizeof(s));
	if (!accepted(payload_parse_signal(buf, len, &s, &err), &err))
		return;
	FUZZ_CHECK(s.signal_number >= 0 && s.signal_number <= 30);
	if (s.signal_number == SIGWINCH_NUMBER)
		FUZZ_CHECK(s.columns && s.rows);
	else
		FUZZ_CHECK(!s.columns && !s.rows);
}

static void fuzz_log(const char *buf, size_t len)
{
	static const char *const sources[] = { "shim", "runtime", NULL };
	static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
	struct payload_log l;
	char *err = NULL;

	memset(&l, 0, sizeof(l));
	if (accepted(payload_parse_log(buf, len, &l, &err), &err)) {
		FUZZ_CHECK(one_of(l.source, sources));
		FUZZ_CHECK(one_of(l.level, levels));
		FUZZ_CHECK(l.msg);
	}
	payload_log_deinit(&l);
}

static void fuzz_async_event(const char *buf, size_t len)
{
	struct payload_async_event e;
	char *err = NULL;

	memset(&e, 0, sizeof(e));
	accepted(payload_parse_async_event(buf, len, &e, &err), &err);
	payload_async_event_deinit(&e);
}

/* json-c's string member @key of @o, or NULL. */
static const char *member_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Builders on @s (NUL-terminated, any bytes): read back what they wrote. */
static void fuzz_builders(const char *s, uint8_t b)
{
	struct json_object *o, *io, *v, *toks;
	char *const tokens[2] = { (char *)s, "tok" };
	size_t n = b % 3;
	char *text;
	bool ok;

	text = payload_build_error(s);
	if (text) {
		o = fuzz_json_parse(text, strlen(text), &ok);
		FUZZ_CHECK(ok && member_str(o, "msg"));
		FUZZ_CHECK(!strcmp(member_str(o, "msg"), s));
		json_object_put(o);
		free(text);
	}

	text = payload_build_io_answer(s, tokens, n);
	if (text) {
		o = fuzz_json_parse(text, strlen(text), &ok);
		FUZZ_CHECK(ok && json_object_object_get_ex(o, "io", &io));
		FUZZ_CHECK(member_str(io, "URL") && !strcmp(member_str(io, "URL"), s));
		FUZZ_CHECK(json_object_object_get_ex(io, "tokens", &toks));
		FUZZ_CHECK(json_object_is_type(toks, json_type_array));
		FUZZ_CHECK(json_object_array_length(toks) == (n < 2 ? n : 2));
		for (size_t i = 0; i < json_object_array_length(toks); i++) {
			v = json_object_array_get_idx(toks, i);
			FUZZ_CHECK(!strcmp(json_object_get_string(v), tokens[i]));
		}
		json_object_put(o);
		free(text);
	}

	text = payload_build_killcontainer(s, b % 31);
	if (text) {
		o = fuzz_json_parse(text, strlen(text), &ok);
		FUZZ_CHECK(ok && member_str(o, "container"));
		FUZZ_CHECK(!strcmp(member_str(o, "container"), s));
		FUZZ_CHECK(json_object_object_get_ex(o, "signal", &v));
		FUZZ_CHECK(json_object_get_int(v) == b % 31);
		json_object_put(o);
		free(text);
	}

	text = payload_build_winsize(UINT64_MAX - b, b, 65535u * b);
	if (text) {
		o = fuzz_json_parse(text, strlen(text), &ok);
		FUZZ_CHECK(ok && json_object_object_get_ex(o, "seq", &v));
		FUZZ_CHECK(json_object_get_uint64(v) == UINT64_MAX - b);
		FUZZ_CHECK(json_object_object_get_ex(o, "row", &v));
		FUZZ_CHECK(json_object_get_int64(v) == b);
		FUZZ_CHECK(json_object_object_get_ex(o, "column", &v));
		FUZZ_CHECK(json_object_get_int64(v) == 65535 * (int64_t)b);
		json_object_put(o);
		free(text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan sees any read past the end. */
	char *buf = malloc(size ? size : 1), *str;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	fuzz_register(buf, size);
	fuzz_attach_unregister_connect(buf, size);
	fuzz_hyper(buf, size);
	fuzz_signal(buf, size);
	fuzz_log(buf, size);
	fuzz_async_event(buf, size);
	free(buf);

	/* The same bytes as a C string for the builders (cut at a NUL). */
	str = malloc(size + 1);
	if (!str)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	fuzz_builders(str, size ? data[0] : 0);
	free(str);
	return 0;
}
