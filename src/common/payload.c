/*
 * payload.c - the JSON payloads of client commands, the log stream and
 * the agent's processasyncevent, parsed and built with json-c (payload.h).
 *
 * Every payload comes from a peer, so parsing is strict and never trusts
 * a NUL terminator: json_tokener_parse_ex() gets the length, and the
 * bytes after the object may only be whitespace. json-c alone is lenient
 * (it takes tabs inside strings, single quotes, NaN, "1."), so the text
 * must also pass the strict scanner of hyperdata.c (RFC 8259, UTF-8,
 * nesting <= 64). The Hyper "data" member is returned as the raw text the
 * client sent, located by that scanner, never re-serialised.
 *
 * Field rules, the same for every command:
 *  - unknown members are ignored (the original proxy's decoder did that);
 *  - a member whose value is null counts as absent;
 *  - strings holding \u0000 are refused (they would be cut short in C);
 *  - integers must be JSON integers (1.0 and 1e0 are refused) within the
 *    stated range. json-c clamps integers beyond 64 bits to the nearest
 *    bound, which every range here also rejects.
 *
 * Error messages are "<Command>: <what is wrong>", fit for {"msg": ...}.
 * Output structs are zeroed on entry and freed again on failure, so a
 * caller may always call *_deinit().
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "payload.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hyperdata.h"

/* json-c's own nesting bound: above the strict scanner's 64, so the
 * scanner is the one that decides (and the Hyper data gets its 64). */
#define PAYLOAD_JSON_DEPTH	128
#define SIGWINCH_NUMBER		28
#define SIGNAL_MAX		30

/* How a string member is wanted. */
enum want {
	OPTIONAL,	/* absent, null or "": NULL */
	REQUIRED,	/* present; "" allowed */
	NONEMPTY,	/* present and not "" */
};

/* Set *err (when @err) to a malloc'd message; return PAYLOAD_E_INVALID or -ENOMEM. */
__attribute__((format(printf, 2, 3)))
static int fail(char **err, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!err)
		return PAYLOAD_E_INVALID;
	va_start(ap, fmt);
	r = vasprintf(err, fmt, ap);
	va_end(ap);
	if (r < 0)
		*err = NULL;
	return r < 0 ? -ENOMEM : PAYLOAD_E_INVALID;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Parse @buf (@len bytes, not NUL-terminated) as exactly one JSON object,
 * with only whitespace around it. *out: the object, owned by the caller.
 */
static int parse_object(const void *buf, size_t len, const char *cmd,
			struct json_object **out, char **err)
{
	const char *s = buf;
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	size_t i = 0, off, vlen;

	*out = NULL;
	if (err)
		*err = NULL;
	if (!s)
		len = 0;
	if (len > INT_MAX)
		return fail(err, "%s: payload too large", cmd);
	while (i < len && is_ws(s[i]))
		i++;
	if (i == len || s[i] != '{')
		return fail(err, "%s: payload must be a JSON object", cmd);
	tok = json_tokener_new_ex(PAYLOAD_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	/* Strict mode also refuses bytes after the object (but not a NUL). */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*out = json_tokener_parse_ex(tok, s, (int)len);
	jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!*out && jerr == json_tokener_continue)
		return fail(err, "%s: invalid JSON: truncated", cmd);
	if (!*out)
		return fail(err, "%s: invalid JSON: %s", cmd, json_tokener_error_desc(jerr));
	/*
	 * The strict scanner has the last word, trailing bytes included. Any
	 * key serves, only validity matters; the one refusal that is not about
	 * validity, a duplicated key, here means two "" keys.
	 */
	if (hyperdata_value_span(s, len, "", &off, &vlen) == HYPERDATA_E_INVALID)
		return fail(err, "%s: invalid JSON (strict RFC 8259 and UTF-8, "
			    "nothing after the object, nesting at most 64)", cmd);
	return 0;
}

/* The member @key of @o, or NULL when it is absent or null. */
static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

/* A malloc'd copy of the JSON string @v, or an error naming @what. */
static int copy_string(struct json_object *v, const char *cmd, const char *what,
		       enum want want, char **out, char **err)
{
	const char *s;

	*out = NULL;
	if (!v)
		return want == OPTIONAL ? 0 : fail(err, "%s: missing %s", cmd, what);
	if (!json_object_is_type(v, json_type_string))
		return fail(err, "%s: %s must be a string", cmd, what);
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return fail(err, "%s: %s must not hold \\u0000", cmd, what);
	if (*s == '\0' && want == NONEMPTY)
		return fail(err, "%s: %s must not be empty", cmd, what);
	if (*s == '\0' && want == OPTIONAL)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int get_string(struct json_object *o, const char *cmd, const char *key,
		      enum want want, char **out, char **err)
{
	return copy_string(member(o, key), cmd, key, want, out, err);
}

/*
 * The integer member @key in [@min, @max]. Absent (or null): *present is
 * false and *out untouched, an error only when @required. @label names
 * the value in the range message ("signal 31 out of range 0..30").
 */
static int get_int(struct json_object *o, const char *cmd, const char *key,
		   const char *label, bool required, int64_t min, int64_t max,
		   int64_t *out, bool *present, char **err)
{
	struct json_object *v = member(o, key);
	int64_t x;

	if (present)
		*present = v != NULL;
	if (!v)
		return required ? fail(err, "%s: missing %s", cmd, key) : 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(err, "%s: %s must be an integer", cmd, key);
	x = json_object_get_int64(v);	/* a uint64 above INT64_MAX clamps */
	if (x < min || x > max)
		return fail(err, "%s: %s %s out of range %" PRId64 "..%" PRId64,
			    cmd, label, json_object_to_json_string(v), min, max);
	*out = x;
	return 0;
}

/*
 * A container id names a helper: it goes on the helper's argv (where a
 * single argument is limited to 128 KiB), into its comm and into every
 * log record. Runtimes use short printable ids (64 hex digits for OCI
 * runtimes), so anything longer than PAYLOAD_CONTAINER_ID_MAX or holding
 * a control character is refused at registration.
 */
static int check_container_id(const char *cmd, const char *id, char **err)
{
	if (strlen(id) > PAYLOAD_CONTAINER_ID_MAX)
		return fail(err, "%s: containerId longer than %d bytes", cmd,
			    PAYLOAD_CONTAINER_ID_MAX);
	for (const unsigned char *c = (const unsigned char *)id; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return fail(err, "%s: containerId holds a control character", cmd);
	return 0;
}

/**
 * payload_parse_register_vm() - RegisterVM {"containerId", "ctlSerial",
 * "ioSerial", "console"?, "numIOStreams"?}.
 * Return: 0, PAYLOAD_E_INVALID (*err malloc'd), or -ENOMEM. On failure
 * @out holds nothing (deinit is still safe).
 */
int payload_parse_register_vm(const void *buf, size_t len,
			      struct payload_register_vm *out, char **err)
{
	static const char cmd[] = "RegisterVM";
	_cleanup_json_ struct json_object *o = NULL;
	int64_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = parse_object(buf, len, cmd, &o, err)) ||
	    (r = get_string(o, cmd, "containerId", NONEMPTY, &out->container_id, err)) ||
	    (r = check_container_id(cmd, out->container_id, err)) ||
	    (r = get_string(o, cmd, "ctlSerial", NONEMPTY, &out->ctl_serial, err)) ||
	    (r = get_string(o, cmd, "ioSerial", NONEMPTY, &out->io_serial, err)) ||
	    (r = get_string(o, cmd, "console", OPTIONAL, &out->console, err)) ||
	    (r = get_int(o, cmd, "numIOStreams", "numIOStreams", false, 0,
			 PAYLOAD_MAX_IO_STREAMS, &n, NULL, err)))
		payload_register_vm_deinit(out);
	else
		out->num_io_streams = (uint32_t)n;
	return r;
}

/** payload_parse_attach_vm() - AttachVM {"containerId", "numIOStreams"?}. */
int payload_parse_attach_vm(const void *buf, size_t len,
			    struct payload_attach_vm *out, char **err)
{
	static const char cmd[] = "AttachVM";
	_cleanup_json_ struct json_object *o = NULL;
	int64_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = parse_object(buf, len, cmd, &o, err)) ||
	    (r = get_string(o, cmd, "containerId", NONEMPTY, &out->container_id, err)) ||
	    (r = get_int(o, cmd, "numIOStreams", "numIOStreams", false, 0,
			 PAYLOAD_MAX_IO_STREAMS, &n, NULL, err)))
		payload_attach_vm_deinit(out);
	else
		out->num_io_streams = (uint32_t)n;
	return r;
}

/** payload_parse_unregister_vm() - UnregisterVM {"containerId"}. */
int payload_parse_unregister_vm(const void *buf, size_t len,
				struct payload_unregister_vm *out, char **err)
{
	static const char cmd[] = "UnregisterVM";
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = parse_object(buf, len, cmd, &o, err)) ||
	    (r = get_string(o, cmd, "containerId", NONEMPTY, &out->container_id, err)))
		payload_unregister_vm_deinit(out);
	return r;
}

/* Hyper "tokens": null or absent = none; else at most PAYLOAD_MAX_TOKENS
 * non-empty strings (counted before anything is allocated). */
static int get_tokens(struct json_object *o, struct payload_hyper *out, char **err)
{
	struct json_object *v = member(o, "tokens");
	size_t n;
	int r;

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return fail(err, "Hyper: tokens must be an array of strings");
	n = json_object_array_length(v);
	if (n > PAYLOAD_MAX_TOKENS)
		return fail(err, "Hyper: %zu tokens, at most %d", n, PAYLOAD_MAX_TOKENS);
	if (n == 0)
		return 0;
	out->tokens = calloc(n, sizeof(*out->tokens));
	if (!out->tokens)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, out->n_tokens++) {
		char what[32];

		snprintf(what, sizeof(what), "tokens[%zu]", i);
		r = copy_string(json_object_array_get_idx(v, i), "Hyper", what,
				NONEMPTY, &out->tokens[i], err);
		if (r)
			return r;
	}
	return 0;
}

/**
 * payload_parse_hyper() - Hyper {"hyperName", "tokens"?, "data"?}. @out->data
 * is a NUL-terminated copy of the raw "data" text exactly as sent (any
 * JSON value, "null" included), or NULL when absent. A second "data" is
 * refused: json-c and the raw scanner would pick different copies.
 */
int payload_parse_hyper(const void *buf, size_t len, struct payload_hyper *out,
			char **err)
{
	static const char cmd[] = "Hyper";
	_cleanup_json_ struct json_object *o = NULL;
	size_t off = 0, vlen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = parse_object(buf, len, cmd, &o, err)) ||
	    (r = get_string(o, cmd, "hyperName", NONEMPTY, &out->hyper_name, err)) ||
	    (r = get_tokens(o, out, err)))
		goto fail;
	r = hyperdata_value_span(buf, len, "data", &off, &vlen);
	if (r == -ENOENT)
		return 0;
	if (r) {
		r = fail(err, "Hyper: duplicate data");
		goto fail;
	}
	out->data = malloc(vlen + 1);
	if (!out->data) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(out->data, (const char *)buf + off, vlen);
	out->data[vlen] = '\0';
	out->data_len = vlen;
	return 0;
fail:
	payload_hyper_deinit(out);
	return r;
}

/** payload_parse_connect_shim() - ConnectShim {"token"}. */
int payload_parse_connect_shim(const void *buf, size_t len,
			       struct payload_connect_shim *out, char **err)
{
	static const char cmd[] = "ConnectShim";
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = parse_object(buf, len, cmd, &o, err)) ||
	    (r = get_string(o, cmd, "token", NONEMPTY, &out->token, err)))
		payload_connect_shim_deinit(out);
	return r;
}

/**
 * payload_parse_signal() - Signal {"signalNumber", "columns"?, "rows"?}.
 * SIGWINCH (28) needs both columns and rows, each 1..65535 (the range of
 * struct winsize). Any other signal must carry neither: a columns or rows
 * member that is present, even 0, is refused (null counts as absent).
 * The original proxy treated 0 as absent; being strict here catches a
 * client that believes its resize or its signal did something it did not.
 */
int payload_parse_signal(const void *buf, size_t len, struct payload_signal *out,
			 char **err)
{
	static const char cmd[] = "Signal";
	_cleanup_json_ struct json_object *o = NULL;
	int64_t sig = 0, cols = 0, rows = 0;
	bool has_cols, has_rows;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = parse_object(buf, len, cmd, &o, err)) ||
	    (r = get_int(o, cmd, "signalNumber", "signal", true, 0, SIGNAL_MAX,
			 &sig, NULL, err)) ||
	    (r = get_int(o, cmd, "columns", "columns", false, 0, UINT16_MAX,
			 &cols, &has_cols, err)) ||
	    (r = get_int(o, cmd, "rows", "rows", false, 0, UINT16_MAX, &rows,
			 &has_rows, err)))
		return r;
	if (sig == SIGWINCH_NUMBER && (cols == 0 || rows == 0))
		return fail(err, "Signal: SIGWINCH (28) needs non-zero columns and rows");
	if (sig != SIGWINCH_NUMBER && (has_cols || has_rows))
		return fail(err, "Signal: columns and rows go only with SIGWINCH (28), "
			    "not with signal %" PRId64, sig);
	out->signal_number = (int)sig;
	out->columns = (uint32_t)cols;
	out->rows = (uint32_t)rows;
	return 0;
}

/* Is @s one of the NULL-terminated @set? */
static bool one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

/**
 * payload_parse_log() - a log stream {"source": "shim"|"runtime",
 * "containerId"?, "level": "debug"|"info"|"warn"|"error", "msg"}. Any
 * other source or level is refused; msg may be empty; unknown members
 * are ignored as for commands.
 */
int payload_parse_log(const void *buf, size_t len, struct payload_log *out,
		      char **err)
{
	static const char cmd[] = "log";
	static const char *const sources[] = { "shim", "runtime", NULL };
	static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
	_cleanup_json_ struct json_object *o = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = parse_object(buf, len, cmd, &o, err)) ||
	    (r = get_string(o, cmd, "source", NONEMPTY, &out->source, err)) ||
	    (r = get_string(o, cmd, "level", NONEMPTY, &out->level, err)) ||
	    (r = get_string(o, cmd, "msg", REQUIRED, &out->msg, err)) ||
	    (r = get_string(o, cmd, "containerId", OPTIONAL, &out->container_id, err)))
		goto fail;
	if (!one_of(out->source, sources))
		r = fail(err, "log: source must be \"shim\" or \"runtime\"");
	else if (!one_of(out->level, levels))
		r = fail(err, "log: level must be debug, info, warn or error");
	if (!r)
		return 0;
fail:
	payload_log_deinit(out);
	return r;
}

/**
 * payload_parse_async_event() - the agent's processasyncevent
 * {"container", "process", "event", "status"}: three strings (container
 * and event non-empty) and an integer status within int.
 */
int payload_parse_async_event(const void *buf, size_t len,
			      struct payload_async_event *out, char **err)
{
	static const char cmd[] = "processasyncevent";
	_cleanup_json_ struct json_object *o = NULL;
	int64_t status = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = parse_object(buf, len, cmd, &o, err)) ||
	    (r = get_string(o, cmd, "container", NONEMPTY, &out->container, err)) ||
	    (r = get_string(o, cmd, "process", REQUIRED, &out->process, err)) ||
	    (r = get_string(o, cmd, "event", NONEMPTY, &out->event, err)) ||
	    (r = get_int(o, cmd, "status", "status", true, INT_MIN, INT_MAX,
			 &status, NULL, err)))
		payload_async_event_deinit(out);
	else
		out->status = (int)status;
	return r;
}

/* The *_deinit() functions free what the parser stored and zero the struct. */
void payload_register_vm_deinit(struct payload_register_vm *p)
{
	free(p->container_id);
	free(p->ctl_serial);
	free(p->io_serial);
	free(p->console);
	memset(p, 0, sizeof(*p));
}

void payload_attach_vm_deinit(struct payload_attach_vm *p)
{
	free(p->container_id);
	memset(p, 0, sizeof(*p));
}

void payload_unregister_vm_deinit(struct payload_unregister_vm *p)
{
	free(p->container_id);
	memset(p, 0, sizeof(*p));
}

void payload_hyper_deinit(struct payload_hyper *p)
{
	for (size_t i = 0; i < p->n_tokens; i++)
		free(p->tokens[i]);
	free(p->tokens);
	free(p->hyper_name);
	free(p->data);
	memset(p, 0, sizeof(*p));
}

void payload_connect_shim_deinit(struct payload_connect_shim *p)
{
	free(p->token);
	memset(p, 0, sizeof(*p));
}

void payload_log_deinit(struct payload_log *p)
{
	free(p->source);
	free(p->container_id);
	free(p->level);
	free(p->msg);
	memset(p, 0, sizeof(*p));
}

void payload_async_event_deinit(struct payload_async_event *p)
{
	free(p->container);
	free(p->process);
	free(p->event);
	memset(p, 0, sizeof(*p));
}

/* Add @val (taken, even on failure) to @obj under @key. */
static bool add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (!obj || !val || json_object_object_add(obj, key, val) < 0) {
		json_object_put(val);
		return false;
	}
	return true;
}

/* Compact text of @o, malloc'd; "/" is not escaped (a URL stays legible). */
static char *to_text(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);

	return s ? strdup(s) : NULL;
}

/** payload_build_io_answer() - see payload.h; a NULL @url is written as "". */
char *payload_build_io_answer(const char *url, char *const *tokens, size_t n)
{
	_cleanup_json_ struct json_object *root = json_object_new_object();
	struct json_object *io = json_object_new_object();
	struct json_object *arr = json_object_new_array();

	if (!add(root, "io", io)) {
		json_object_put(arr);
		return NULL;
	}
	/* "tokens" is an array even when empty: [] never null. */
	if (!add(io, "URL", json_object_new_string(url ? url : ""))) {
		json_object_put(arr);
		return NULL;
	}
	if (!add(io, "tokens", arr))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_new_string(tokens[i]);

		if (!t || json_object_array_add(arr, t) < 0) {
			json_object_put(t);
			return NULL;
		}
	}
	return to_text(root);
}

/** payload_build_error() - {"msg": @msg} (NULL: ""), malloc'd; NULL on ENOMEM. */
char *payload_build_error(const char *msg)
{
	_cleanup_json_ struct json_object *root = json_object_new_object();

	if (!add(root, "msg", json_object_new_string(msg ? msg : "")))
		return NULL;
	return to_text(root);
}

/** payload_build_winsize() - {"seq":N,"row":R,"column":C}, malloc'd; NULL on ENOMEM. */
char *payload_build_winsize(uint64_t seq, uint32_t rows, uint32_t columns)
{
	char *s;

	if (asprintf(&s, "{\"seq\":%" PRIu64 ",\"row\":%" PRIu32 ",\"column\":%" PRIu32 "}",
		     seq, rows, columns) < 0)
		return NULL;
	return s;
}

/** payload_build_killcontainer() - {"container":ID,"signal":N}; NULL on ENOMEM. */
char *payload_build_killcontainer(const char *container_id, int signal)
{
	_cleanup_json_ struct json_object *root = json_object_new_object();

	if (!add(root, "container", json_object_new_string(container_id ? container_id : "")) ||
	    !add(root, "signal", json_object_new_int(signal)))
		return NULL;
	return to_text(root);
}
