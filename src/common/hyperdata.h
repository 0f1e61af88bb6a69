/*
 * hyperdata.h - reading and editing, in place, the JSON text of the Hyper
 * `data` the runtime sends for newcontainer and execcmd (PROTOCOL.md,
 * "What the agent tolerates in command payloads").
 *
 * The text is edited, not re-serialised: every byte outside the values
 * that change stays as the client sent it (key order, spacing, escapes,
 * number spelling). A key that exists is replaced where it stands; a key
 * that is added goes first in `process`. Nothing else is added or dropped.
 * Built on a small JSON scanner that also finds raw value spans for
 * payload.c (the `data` member of a Hyper request).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	HYPERDATA_E_INVALID = 2,	/* not acceptable; *err says why (for the client) */
};

/**
 * hyperdata_value_span() - find the raw text of member @key of the
 * top-level JSON object in @json.
 * @off, @vlen: out, the byte range of the value (e.g. `{...}`, `"x"`, `12`)
 * Return: 0; -ENOENT when the object has no such key; HYPERDATA_E_INVALID
 * when @json is not one well-formed JSON object (trailing whitespace ok).
 */
int hyperdata_value_span(const char *json, size_t len, const char *key,
			 size_t *off, size_t *vlen);

struct hyperdata_info {
	bool terminal;		/* process.terminal is true */
	bool has_stdio;		/* process.stdio present (value in stdio) */
	bool has_stderr;
	uint64_t stdio;
	uint64_t stderr_seq;
	char *process_id;	/* process.id as sent, or NULL */
	char *container_id;	/* execcmd: "container"; newcontainer: "id"; or NULL */
};

/**
 * hyperdata_inspect() - validate the data of a newcontainer (@code 17) or
 * execcmd (6) and report what the proxy needs: it must be a JSON object
 * with a `process` object; stdio/stderr, when present, non-negative
 * integers; terminal, when present, a boolean; id, when present, a string.
 * Return: 0 (caller frees with hyperdata_info_deinit()), or
 * HYPERDATA_E_INVALID with *err a malloc'd client-facing reason, or -ENOMEM.
 */
int hyperdata_inspect(const char *json, size_t len, uint32_t code,
		      struct hyperdata_info *info, char **err);
void hyperdata_info_deinit(struct hyperdata_info *info);

struct hyperdata_edit {
	uint64_t stdio;		/* process.stdio := this */
	bool set_stderr;	/* process.stderr := stderr_seq (not for a token's terminal) */
	uint64_t stderr_seq;
	const char *process_id;	/* process.id := this when absent; NULL: leave */
};

/**
 * hyperdata_rewrite() - apply @edit to the text @json of a valid
 * newcontainer/execcmd data (see hyperdata_inspect()).
 * @out, @out_len: out, a malloc'd NUL-terminated copy with the edits
 * Return: 0, HYPERDATA_E_INVALID (*err malloc'd), or -ENOMEM.
 */
int hyperdata_rewrite(const char *json, size_t len,
		      const struct hyperdata_edit *edit, char **out,
		      size_t *out_len, char **err);
