/*
 * fuzz_hyperdata.c - libFuzzer harness for src/common/hyperdata.c: the
 * strict JSON scanner and the in-place edit of newcontainer/execcmd data.
 *
 * Input: byte 0 chooses the command and the edit (see edit_from()), the
 * rest is the data text, not NUL-terminated (the parser must never read
 * past its length). Beyond "no crash, no leak, no UB", it checks:
 *  - results are 0, HYPERDATA_E_INVALID with a message, or -ENOMEM;
 *  - hyperdata_value_span() agrees with hyperdata_inspect() on `process`;
 *  - for data that inspects clean, the rewrite succeeds and
 *    . is NUL-terminated with no NUL inside, and json-c parses it whenever
 *      json-c parses the input;
 *    . re-inspecting it shows the requested stdio/stderr, the process id
 *      (the client's if it gave one, else ours, decoded back exactly), and
 *      the same terminal flag and container id;
 *    . as a json-c tree it equals the input's tree with exactly those
 *      members set, and the added members come first in `process`, in the
 *      order stdio, stderr, id (PROTOCOL.md: nothing else added/dropped).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "fuzz_util.h"
#include "hyper.h"
#include "hyperdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Process ids the proxy might set: plain, and ones needing escapes. */
static const char *const ids[4] = {
	"cc-proxy-1",
	"q\"b\\s/\x01\x1f\x7f",
	"\xc3\xa9t\xc3\xa9 \xe2\x82\xac",
	NULL,
};

/* Byte 0: bit 0 command, bit 1 set stderr, bits 2-3 id, bits 4-5 seqs. */
static void edit_from(uint8_t b, uint32_t *code, struct hyperdata_edit *e)
{
	static const uint64_t seqs[4] = { 3, 0, 1000001, UINT64_MAX - 1 };

	*code = b & 1 ? HYPER_EXECCMD : HYPER_NEWCONTAINER;
	memset(e, 0, sizeof(*e));
	e->stdio = seqs[(b >> 4) & 3];
	e->set_stderr = b & 2;
	e->stderr_seq = e->stdio + 1;
	e->process_id = ids[(b >> 2) & 3];
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* json-c's value for the JSON text of an unsigned integer. */
static struct json_object *uint_json(uint64_t v)
{
	char buf[32];
	bool ok;
	struct json_object *o;

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	o = fuzz_json_parse(buf, strlen(buf), &ok);
	FUZZ_CHECK(ok && o);
	return o;
}

/*
 * The tree of the input with the edit applied the json-c way, compared
 * with the tree of the rewritten text; and the added keys lead `process`.
 */
static void check_tree(const char *in, size_t in_len, const char *out,
		       size_t out_len, const struct hyperdata_edit *e,
		       const struct hyperdata_info *before)
{
	struct json_object *want, *got, *wp, *gp;
	bool ok_in, ok_out;
	const char *added[3];
	size_t n_added = 0, i = 0;

	want = fuzz_json_parse(in, in_len, &ok_in);
	got = fuzz_json_parse(out, out_len, &ok_out);
	if (!ok_in) {
		/* json-c refuses the input (e.g. a number it cannot hold):
		 * the rewrite may not be any better, nothing to compare. */
		json_object_put(got);
		return;
	}
	FUZZ_CHECK(ok_out);
	FUZZ_CHECK(json_object_object_get_ex(want, "process", &wp));
	FUZZ_CHECK(json_object_object_get_ex(got, "process", &gp));
	if (!before->has_stdio)
		added[n_added++] = "stdio";
	if (e->set_stderr && !before->has_stderr)
		added[n_added++] = "stderr";
	if (e->process_id && !before->process_id)
		added[n_added++] = "id";
	json_object_object_foreach(gp, key, val) {
		(void)val;
		if (i == n_added)
			break;
		FUZZ_CHECK(!strcmp(key, added[i]));
		i++;
	}
	FUZZ_CHECK(i == n_added);

	json_object_object_add(wp, "stdio", uint_json(e->stdio));
	if (e->set_stderr)
		json_object_object_add(wp, "stderr", uint_json(e->stderr_seq));
	if (e->process_id && !before->process_id)
		json_object_object_add(wp, "id", json_object_new_string(e->process_id));
	FUZZ_CHECK(json_object_equal(want, got));
	json_object_put(want);
	json_object_put(got);
}

/* The rewrite of data that inspected clean (@before). */
static void check_rewrite(const char *in, size_t len, uint32_t code,
			  const struct hyperdata_edit *e,
			  const struct hyperdata_info *before)
{
	struct hyperdata_info after;
	char *out = NULL, *err = NULL;
	size_t out_len = 0;
	int r;

	r = hyperdata_rewrite(in, len, e, &out, &out_len, &err);
	if (r == -ENOMEM)
		return;
	FUZZ_CHECK(r == 0 && out && !err);
	FUZZ_CHECK(out[out_len] == '\0' && strlen(out) == out_len);

	r = hyperdata_inspect(out, out_len, code, &after, &err);
	FUZZ_CHECK(r == 0 && !err);
	FUZZ_CHECK(after.has_stdio && after.stdio == e->stdio);
	if (e->set_stderr)
		FUZZ_CHECK(after.has_stderr && after.stderr_seq == e->stderr_seq);
	else
		FUZZ_CHECK(after.has_stderr == before->has_stderr &&
			   after.stderr_seq == before->stderr_seq);
	FUZZ_CHECK(after.terminal == before->terminal);
	FUZZ_CHECK(same_str(after.container_id, before->container_id));
	FUZZ_CHECK(same_str(after.process_id,
			    before->process_id ? before->process_id : e->process_id));

	check_tree(in, len, out, out_len, e, before);
	hyperdata_info_deinit(&after);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hyperdata_edit edit;
	struct hyperdata_info info;
	char *json, *err = NULL, *out = NULL;
	size_t len, off = 0, vlen = 0, out_len;
	uint32_t code;
	int r, rs;

	if (size < 1)
		return 0;
	edit_from(data[0], &code, &edit);
	len = size - 1;
	/* An exact-size copy, so ASan sees any read past the end. */
	json = malloc(len ? len : 1);
	if (!json)
		return 0;
	memcpy(json, data + 1, len);

	rs = hyperdata_value_span(json, len, "process", &off, &vlen);
	FUZZ_CHECK(rs == 0 || rs == -ENOENT || rs == HYPERDATA_E_INVALID);
	if (rs == 0)
		FUZZ_CHECK(off < len && vlen <= len - off && vlen > 0);

	r = hyperdata_inspect(json, len, code, &info, &err);
	FUZZ_CHECK(r == 0 || r == HYPERDATA_E_INVALID || r == -ENOMEM);
	if (r == HYPERDATA_E_INVALID)
		FUZZ_CHECK(err && *err);
	if (r == 0) {
		FUZZ_CHECK(!err);
		FUZZ_CHECK(rs == 0 && json[off] == '{');
		check_rewrite(json, len, code, &edit, &info);
		hyperdata_info_deinit(&info);
	} else {
		/* Invalid data: the rewrite must fail cleanly or, when only
		 * the container key was wrong (not read by the rewrite),
		 * succeed with a well-formed text. */
		int rr = hyperdata_rewrite(json, len, &edit, &out, &out_len,
					   NULL);

		FUZZ_CHECK(rr == 0 || rr == HYPERDATA_E_INVALID || rr == -ENOMEM);
		if (rr == 0)
			FUZZ_CHECK(out && strlen(out) == out_len);
		else
			FUZZ_CHECK(!out);
		free(out);
	}
	free(err);
	free(json);
	return 0;
}
