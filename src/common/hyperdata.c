/*
 * hyperdata.c - a strict JSON scanner over raw text, and the in-place edit
 * of newcontainer/execcmd `data` built on it (hyperdata.h; PROTOCOL.md,
 * "What the agent tolerates in command payloads").
 *
 * Not json-c: re-serialising would reorder keys and respell numbers
 * (12345678901234567890, 1.0e3) and escapes. The text is scanned, the
 * spans of the few values we touch are located, and the output is the
 * input with those spans replaced, plus the added keys first in process.
 *
 * The scanner is RFC 8259 strict: no comments, single quotes, NaN,
 * trailing commas, leading zeros, bare control characters or invalid
 * UTF-8 (no overlong forms, no encoded surrogates). Nesting is limited to
 * HYPERDATA_MAX_DEPTH containers, which bounds the recursion. It never
 * reads past @len: the input need not be NUL-terminated, and a NUL byte
 * anywhere makes it invalid. While validating, it records where the
 * values of wanted keys of one chosen ("watched") object are.
 *
 * Keys the proxy manages ("process", "container"/"id"; in process
 * "stdio", "stderr", "terminal", "id") are compared after decoding
 * escapes, as json-c sees them, and rejected when they appear twice
 * (readers disagree on which copy wins: the copy we did not rewrite could
 * carry a client-chosen seq) or are spelled with escapes ("st\u0064io":
 * hyperstart compares raw key text and would miss our value). Every
 * other key is left alone, duplicates included.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "hyperdata.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hyper.h"

/* The deepest nesting of objects/arrays accepted (the top object is 1). */
#define HYPERDATA_MAX_DEPTH	64
#define BAD			HYPERDATA_E_INVALID

/* Where a key's value is, and how the key was written. */
struct span {
	unsigned count;		/* times the key appeared */
	bool escaped;		/* the key text holds a backslash */
	size_t off, len;	/* the value text */
};

struct scan {
	const char *s;
	size_t len, pos;
	unsigned depth;		/* containers open around pos */
	/* For the object whose '{' is at @watch: count its members and
	 * record in spans[k] where the value of key names[k] is. */
	size_t watch, members;
	const char *const *names;
	size_t n_names;
	struct span *spans;
};

/* The byte at pos, or -1 at the end of the input. */
static int peek(const struct scan *sc)
{
	return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

static bool eat(struct scan *sc, int c)
{
	if (peek(sc) != c)
		return false;
	sc->pos++;
	return true;
}

static void skip_ws(struct scan *sc)
{
	while (eat(sc, ' ') || eat(sc, '\t') || eat(sc, '\n') || eat(sc, '\r'))
		;
}

/* Consume [0-9]*; return how many. */
static size_t digits(struct scan *sc)
{
	size_t n = 0;

	for (; peek(sc) >= '0' && peek(sc) <= '9'; n++)
		sc->pos++;
	return n;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * UTF-8 well-formedness, the table of RFC 3629 section 4: the lead byte
 * gives the length and the range of the second byte (which excludes
 * overlong forms, UTF-16 surrogates and code points above U+10FFFF).
 */
static const struct { unsigned char lead_lo, lead_hi, n, lo, hi; } utf8_table[] = {
	{ 0xc2, 0xdf, 2, 0x80, 0xbf }, { 0xe0, 0xe0, 3, 0xa0, 0xbf },
	{ 0xe1, 0xec, 3, 0x80, 0xbf }, { 0xed, 0xed, 3, 0x80, 0x9f },
	{ 0xee, 0xef, 3, 0x80, 0xbf }, { 0xf0, 0xf0, 4, 0x90, 0xbf },
	{ 0xf1, 0xf3, 4, 0x80, 0xbf }, { 0xf4, 0xf4, 4, 0x80, 0x8f },
};

/* One well-formed multi-byte UTF-8 sequence at pos. */
static int scan_utf8(struct scan *sc)
{
	const unsigned char *p = (const unsigned char *)sc->s + sc->pos;

	for (size_t t = 0; t < ARRAY_SIZE(utf8_table); t++) {
		size_t n = utf8_table[t].n;

		if (p[0] < utf8_table[t].lead_lo || p[0] > utf8_table[t].lead_hi)
			continue;
		if (sc->len - sc->pos < n || p[1] < utf8_table[t].lo ||
		    p[1] > utf8_table[t].hi)
			return BAD;
		for (size_t i = 2; i < n; i++)
			if (p[i] < 0x80 || p[i] > 0xbf)
				return BAD;
		sc->pos += n;
		return 0;
	}
	return BAD;
}

/* The string at pos (its opening quote). *escaped: it holds a backslash. */
static int scan_string(struct scan *sc, bool *escaped)
{
	int c;

	*escaped = false;
	sc->pos++;
	while ((c = peek(sc)) != '"') {
		if (c < 0x20)
			return BAD;	/* the end, NUL, or a control character */
		if (c >= 0x80) {
			if (scan_utf8(sc))
				return BAD;
			continue;
		}
		sc->pos++;
		if (c != '\\')
			continue;
		*escaped = true;
		c = peek(sc);
		sc->pos++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, sc->pos++)
				if (hexval(peek(sc)) < 0)
					return BAD;
		} else if (c <= 0 || !strchr("\"\\/bfnrt", c)) {
			return BAD;
		}
	}
	sc->pos++;
	return 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(struct scan *sc)
{
	eat(sc, '-');
	if (!eat(sc, '0') && !digits(sc))
		return BAD;
	if (eat(sc, '.') && !digits(sc))
		return BAD;
	if (eat(sc, 'e') || eat(sc, 'E')) {
		if (!eat(sc, '+'))
			eat(sc, '-');
		if (!digits(sc))
			return BAD;
	}
	return 0;
}

static int scan_literal(struct scan *sc, const char *lit)
{
	size_t n = strlen(lit);

	if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, lit, n))
		return BAD;
	sc->pos += n;
	return 0;
}

/* The escape at raw[*i], just past its backslash, as one UTF-16 unit. */
static uint32_t unescape_unit(const char *raw, size_t *i)
{
	static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
	char c = raw[(*i)++];
	const char *p = strchr(from, c);
	uint32_t u = 0;

	if (c != 'u')
		return (unsigned char)(p ? to[p - from] : c);	/* else " \ / */
	for (int k = 0; k < 4; k++)
		u = u << 4 | (uint32_t)hexval(raw[(*i)++]);
	return u;
}

/* Does the raw (validated) key text equal the ASCII @name once decoded?
 * A decoded U+0000 ends the key, as for json-c (C-string keys): to it
 * "stdio\u0000x" is "stdio", so here it counts as a second, escaped one. */
static bool key_equals(const char *raw, size_t n, const char *name)
{
	size_t i = 0, k = 0;

	while (i < n) {
		uint32_t c = (unsigned char)raw[i++];

		if (c == '\\')
			c = unescape_unit(raw, &i);
		if (c == 0)
			return name[k] == '\0';
		if (name[k] == '\0' || c != (unsigned char)name[k++])
			return false;
	}
	return name[k] == '\0';
}

/* A member of the watched object ends at pos: note it if it is wanted. */
static void note_member(struct scan *sc, size_t key_off, size_t key_len,
			bool escaped, size_t val_off)
{
	sc->members++;
	for (size_t k = 0; k < sc->n_names; k++) {
		struct span *sp = &sc->spans[k];

		if (!key_equals(sc->s + key_off, key_len, sc->names[k]))
			continue;
		sp->count++;
		sp->escaped |= escaped;
		sp->off = val_off;
		sp->len = sc->pos - val_off;
	}
}

/*
 * Any value at pos. Each object or array costs one level of recursion,
 * bounded by HYPERDATA_MAX_DEPTH: "[[[[..." cannot exhaust the stack.
 */
static int scan_value(struct scan *sc)
{
	int c = peek(sc), close = c == '{' ? '}' : ']';
	size_t start = sc->pos, key_off = 0, key_len = 0, val_off;
	bool esc = false;

	switch (c) {
	case '"': return scan_string(sc, &esc);
	case 't': return scan_literal(sc, "true");
	case 'f': return scan_literal(sc, "false");
	case 'n': return scan_literal(sc, "null");
	case '{': case '[': break;
	default: return scan_number(sc);
	}
	if (++sc->depth > HYPERDATA_MAX_DEPTH)
		return BAD;
	sc->pos++;
	skip_ws(sc);
	if (!eat(sc, close)) {
		do {
			skip_ws(sc);
			if (c == '{') {
				key_off = sc->pos + 1;
				if (peek(sc) != '"' || scan_string(sc, &esc))
					return BAD;
				key_len = sc->pos - 1 - key_off;
				skip_ws(sc);
				if (!eat(sc, ':'))
					return BAD;
				skip_ws(sc);
			}
			val_off = sc->pos;
			if (scan_value(sc))
				return BAD;
			if (c == '{' && start == sc->watch)
				note_member(sc, key_off, key_len, esc, val_off);
			skip_ws(sc);
		} while (eat(sc, ','));
		if (!eat(sc, close))
			return BAD;
	}
	sc->depth--;
	return 0;
}

/*
 * Scan the object at @off (nesting level @depth + 1), or with @off ==
 * SIZE_MAX the whole text, which must be one object with only whitespace
 * around it. The values of its members named in @names go to @spans.
 * Return: 0 or BAD; *obj_off, *members: where the object is, its size.
 */
static int scan_object(const char *json, size_t len, size_t off, unsigned depth,
		       const char *const *names, size_t n, struct span *spans,
		       size_t *obj_off, size_t *members)
{
	struct scan sc = { .s = json, .len = json ? len : 0, .depth = depth,
			   .names = names, .n_names = n, .spans = spans };

	memset(spans, 0, n * sizeof(*spans));
	if (off == SIZE_MAX)
		skip_ws(&sc);
	else
		sc.pos = off;
	sc.watch = *obj_off = sc.pos;
	if (peek(&sc) != '{' || scan_value(&sc))
		return BAD;
	*members = sc.members;
	skip_ws(&sc);
	return off != SIZE_MAX || sc.pos == len ? 0 : BAD;
}

/** hyperdata_value_span() - see hyperdata.h; a duplicated @key is invalid. */
int hyperdata_value_span(const char *json, size_t len, const char *key,
			 size_t *off, size_t *vlen)
{
	const char *names[1] = { key };
	size_t top, members;
	struct span sp;

	if (scan_object(json, len, SIZE_MAX, 0, names, 1, &sp, &top, &members))
		return BAD;
	if (sp.count == 0)
		return -ENOENT;
	if (sp.count > 1)
		return BAD;
	*off = sp.off;
	*vlen = sp.len;
	return 0;
}

/* Set *err (when @err) to a malloc'd message; return BAD, or -ENOMEM. */
__attribute__((format(printf, 2, 3)))
static int fail(char **err, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (!err)
		return BAD;
	va_start(ap, fmt);
	r = vasprintf(err, fmt, ap);
	va_end(ap);
	if (r < 0)
		*err = NULL;
	return r < 0 ? -ENOMEM : BAD;
}

enum { P_STDIO, P_STDERR, P_TERMINAL, P_ID, P_N };
static const char *const process_keys[P_N] = { "stdio", "stderr", "terminal", "id" };

/* What analyse() found in valid data. */
struct analysis {
	size_t proc_off;		/* the '{' of process */
	size_t proc_members;
	struct span container;		/* the top-level container key */
	struct span proc[P_N];
	uint64_t seq[2];		/* values of stdio and stderr */
};

/* A sequence number: digits only (no sign, fraction, exponent), < 2^64. */
static int parse_seq(const char *s, size_t n, uint64_t *v, const char *prefix,
		     const char *key, char **err)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9)
			return fail(err, "%s: process.%s must be a non-negative "
				    "integer", prefix, key);
		if (*v > (UINT64_MAX - d) / 10)
			return fail(err, "%s: process.%s is out of range", prefix, key);
		*v = *v * 10 + d;
	}
	return 0;
}

/* Reject a managed key that is duplicated or spelled with escapes. */
static int check_keys(const struct span *sp, const char *const *names,
		      size_t n, const char *where, const char *prefix, char **err)
{
	for (size_t k = 0; k < n; k++) {
		if (sp[k].count > 1)
			return fail(err, "%s: duplicate key %s%s", prefix, where, names[k]);
		if (sp[k].escaped)
			return fail(err, "%s: key %s%s must be written without escapes",
				    prefix, where, names[k]);
	}
	return 0;
}

/*
 * Validate @json as newcontainer/execcmd data and locate what the proxy
 * reads or edits. @container_key: "container", "id", or NULL (not read).
 * Messages start with @prefix (the command name).
 */
static int analyse(const char *json, size_t len, const char *prefix,
		   const char *container_key, struct analysis *a, char **err)
{
	const char *top_keys[2] = { "process", container_key };
	size_t n_top = container_key ? 2 : 1, top_off, members;
	struct span top[2];
	int r;

	memset(a, 0, sizeof(*a));
	if (scan_object(json, len, SIZE_MAX, 0, top_keys, n_top, top, &top_off,
			&members))
		return fail(err, "%s: data is not a valid JSON object (strict "
			    "RFC 8259, nesting depth at most %d)", prefix,
			    HYPERDATA_MAX_DEPTH);
	if ((r = check_keys(top, top_keys, n_top, "", prefix, err)))
		return r;
	if (top[0].count == 0)
		return fail(err, "%s: data has no \"process\"", prefix);
	if (json[top[0].off] != '{')
		return fail(err, "%s: process must be a JSON object", prefix);
	if (container_key && top[1].count && json[top[1].off] != '"')
		return fail(err, "%s: %s must be a string", prefix, container_key);
	if (container_key)
		a->container = top[1];
	/* Already validated: this second pass over process only locates. */
	scan_object(json, len, top[0].off, 1, process_keys, P_N, a->proc,
		    &a->proc_off, &a->proc_members);
	if ((r = check_keys(a->proc, process_keys, P_N, "process.", prefix, err)))
		return r;
	for (int k = P_STDIO; k <= P_STDERR; k++)
		if (a->proc[k].count &&
		    (r = parse_seq(json + a->proc[k].off, a->proc[k].len,
				   &a->seq[k], prefix, process_keys[k], err)))
			return r;
	if (a->proc[P_TERMINAL].count && json[a->proc[P_TERMINAL].off] != 't' &&
	    json[a->proc[P_TERMINAL].off] != 'f')
		return fail(err, "%s: process.terminal must be true or false", prefix);
	if (a->proc[P_ID].count && json[a->proc[P_ID].off] != '"')
		return fail(err, "%s: process.id must be a string", prefix);
	return 0;
}

/*
 * Decode the (validated) string value at @sp with json-c into a malloc'd
 * *out: non-empty and without \u0000, which would cut a C string short.
 */
static int read_id(const char *json, const struct span *sp, const char *prefix,
		   const char *what, char **out, char **err)
{
	_cleanup_json_ struct json_object *o = NULL;
	struct json_tokener *tok;
	const char *s;

	if (sp->len > INT_MAX)
		return fail(err, "%s: %s is too long", prefix, what);
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, json + sp->off, (int)sp->len);
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_string))
		return -ENOMEM;	/* valid JSON: only allocation can fail */
	s = json_object_get_string(o);
	if (*s == '\0')
		return fail(err, "%s: %s must not be empty", prefix, what);
	if (strlen(s) != (size_t)json_object_get_string_len(o))
		return fail(err, "%s: %s must not hold \\u0000", prefix, what);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/**
 * hyperdata_inspect() - see hyperdata.h. Strings are decoded; an empty
 * process.id or container id is rejected too. Return: also -EINVAL when
 * @code is neither execcmd nor newcontainer (a caller bug).
 */
int hyperdata_inspect(const char *json, size_t len, uint32_t code,
		      struct hyperdata_info *info, char **err)
{
	const char *prefix = code == HYPER_EXECCMD ? "execcmd" : "newcontainer";
	const char *ckey = code == HYPER_EXECCMD ? "container" : "id";
	struct analysis a;
	int r;

	memset(info, 0, sizeof(*info));
	if (err)
		*err = NULL;
	if (code != HYPER_EXECCMD && code != HYPER_NEWCONTAINER)
		return -EINVAL;
	r = analyse(json, len, prefix, ckey, &a, err);
	if (r)
		return r;
	info->has_stdio = a.proc[P_STDIO].count;
	info->stdio = a.seq[P_STDIO];
	info->has_stderr = a.proc[P_STDERR].count;
	info->stderr_seq = a.seq[P_STDERR];
	info->terminal = a.proc[P_TERMINAL].count && json[a.proc[P_TERMINAL].off] == 't';
	if (a.proc[P_ID].count)
		r = read_id(json, &a.proc[P_ID], prefix, "process.id",
			    &info->process_id, err);
	if (!r && a.container.count)
		r = read_id(json, &a.container, prefix, ckey, &info->container_id, err);
	if (r)
		hyperdata_info_deinit(info);
	return r;
}

/** hyperdata_info_deinit() - free the strings of @info and zero it (NULL ok). */
void hyperdata_info_deinit(struct hyperdata_info *info)
{
	if (!info)
		return;
	free(info->process_id);
	free(info->container_id);
	memset(info, 0, sizeof(*info));
}

/**
 * hyperdata_rewrite() - see hyperdata.h. Added keys are written compactly,
 * in the order stdio, stderr, id, right after process's '{'.
 */
int hyperdata_rewrite(const char *json, size_t len,
		      const struct hyperdata_edit *edit, char **out,
		      size_t *out_len, char **err)
{
	_cleanup_json_ struct json_object *id = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t buf_len = 0, pos;
	const char *sep = "", *id_text = NULL;
	struct analysis a;
	FILE *f;
	int r, first;

	*out = NULL;
	*out_len = 0;
	if (err)
		*err = NULL;
	r = analyse(json, len, "data", NULL, &a, err);
	if (r)
		return r;
	/* json-c escapes the id (the proxy's own, UTF-8) as a JSON string. */
	if (edit->process_id && !a.proc[P_ID].count &&
	    (!(id = json_object_new_string(edit->process_id)) ||
	     !(id_text = json_object_to_json_string_ext(id, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE))))
		return -ENOMEM;
	f = open_memstream(&buf, &buf_len);
	if (!f)
		return -ENOMEM;
	pos = a.proc_off + 1;
	fwrite(json, 1, pos, f);
	/* Added keys go first, so the agent reads them before any key it
	 * might not know (it stops parsing process there). */
	if (!a.proc[P_STDIO].count) {
		fprintf(f, "\"stdio\":%" PRIu64, edit->stdio);
		sep = ",";
	}
	if (edit->set_stderr && !a.proc[P_STDERR].count) {
		fprintf(f, "%s\"stderr\":%" PRIu64, sep, edit->stderr_seq);
		sep = ",";
	}
	if (id_text) {
		fprintf(f, "%s\"id\":%s", sep, id_text);
		sep = ",";
	}
	if (*sep && a.proc_members)
		fputc(',', f);
	/* Existing keys stay where they are: only their value text changes. */
	first = a.proc[P_STDERR].off < a.proc[P_STDIO].off;	/* in text order */
	for (int i = 0; i < 2; i++) {
		int k = i ^ first;	/* P_STDIO or P_STDERR */
		const struct span *sp = &a.proc[k];

		if (!sp->count || (k == P_STDERR && !edit->set_stderr))
			continue;
		fwrite(json + pos, 1, sp->off - pos, f);
		fprintf(f, "%" PRIu64, k == P_STDIO ? edit->stdio : edit->stderr_seq);
		pos = sp->off + sp->len;
	}
	fwrite(json + pos, 1, len - pos, f);
	if (ferror(f) | fclose(f))
		return -ENOMEM;
	*out_len = buf_len;
	*out = TAKE_PTR(buf);
	return 0;
}
