/*
 * status.c - `cc-proxyctl status [--json] [ID]` and `list [--json]`:
 * what the proxy is doing, asked with the admin command FRAME_CMD_STATUS
 * (only root and the owner of the proxy socket get an answer).
 *
 *   status       the proxy's totals and limits, then one line per VM
 *   status ID    every figure of the VM(s) named ID, one per line
 *   list         the one-line-per-VM table alone
 *   --json       the proxy's report, one line (for scripts)
 *
 * The proxy answers at most 500 VMs per command; a reply with
 * "page": {"next": CURSOR} is followed by the command again with
 * {"after": CURSOR}, until a reply has no "next". The replies' VMs are
 * joined into the first reply's object ("page" dropped), which is then
 * printed as if it had come in one piece. At most STATUS_PAGES_MAX
 * replies, and each cursor must be greater than the last, so a proxy
 * that does not advance cannot keep the tool running.
 *
 * The reply is JSON (docs/DESIGN.md "Status"); this file only lays it
 * out. Byte counts in the table are rounded (K = KiB); `status ID` and
 * --json give them exactly. Text from the proxy is printed with control
 * characters replaced, so a container id cannot drive the terminal.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "cleanup.h"
#include "conn.h"
#include "ctl.h"
#include "frame.h"

#define STATUS_COLS	12

static const char *const status_heads[STATUS_COLS] = {
	"ID", "HELPER", "STATE", "UPTIME", "TOKENS", "SHIMS", "PROCS",
	"TO-SHIMS", "FROM-SHIMS", "DISCARDED", "HYPER", "LAST-ERROR",
};

/* Replies of one status: 500 VMs each by default, so far above any
 * host's VMs even at --page-size 1 for a few. */
#define STATUS_PAGES_MAX	100000

struct status_cmd {
	struct ctl *ctl;
	const struct ctl_status *opts;
	struct json_object *report;	/* the first reply, VMs of all so far */
	uint64_t after;			/* cursor of the last request */
	unsigned pages;			/* replies so far */
};

/* Integer @key of @o, or -1 when absent or not a number. */
static int64_t status_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/* String @key of @o, or NULL. */
static const char *status_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool status_answered(struct json_object *vm)
{
	struct json_object *v;

	return json_object_object_get_ex(vm, "answered", &v) && json_object_get_boolean(v);
}

/* @s with control characters as '?', in @buf of @len bytes. */
static const char *status_clean(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s && s[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

/* "45s", "5m02s", "2h03m", "3d04h". */
static void status_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms < 0 ? 0 : ms / 1000;

	if (ms < 0)
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

/* Bytes rounded: "512", "1.5K", "200.0M" (binary units). */
static void status_bytes(int64_t n, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double v = (double)n;
	int u = -1;

	if (n < 0) {
		snprintf(buf, len, "-");
		return;
	}
	while (v >= 1024.0 && u < (int)sizeof(units) - 2) {
		v /= 1024.0;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRId64, n);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
}

/* One table row for @vm into @cells (STATUS_COLS buffers of 256 bytes). */
static void status_row(struct json_object *vm, char cells[][256])
{
	bool ok = status_answered(vm);
	const char *err = ok ? status_str(vm, "lastError") : status_str(vm, "noAnswer");
	int64_t null = status_int(vm, "bytesDiscardedNull");
	int64_t orphan = status_int(vm, "bytesDiscardedOrphaned");

	if (!err)
		err = status_str(vm, "endReason");
	status_clean(status_str(vm, "containerId"), cells[0], 256);
	snprintf(cells[1], 256, "%" PRId64, status_int(vm, "helperPid"));
	status_clean(status_str(vm, "state"), cells[2], 256);
	status_duration(status_int(vm, "uptimeMs"), cells[3], 256);
	snprintf(cells[4], 256, "%" PRId64 "/%" PRId64, status_int(vm, "tokensTotal"),
		 status_int(vm, "tokensClaimed"));
	for (int i = 5; i < 11; i++)
		snprintf(cells[i], 256, "-");
	if (ok) {
		snprintf(cells[5], 256, "%" PRId64, status_int(vm, "shims"));
		snprintf(cells[6], 256, "%" PRId64, status_int(vm, "processes"));
		status_bytes(status_int(vm, "bytesToShims"), cells[7], 256);
		status_bytes(status_int(vm, "bytesFromShims"), cells[8], 256);
		status_bytes(null < 0 || orphan < 0 ? -1 : null + orphan, cells[9], 256);
		snprintf(cells[10], 256, "%" PRId64, status_int(vm, "hyperServed"));
	}
	status_clean(err ? err : "-", cells[11], 256);
}

/* The VM table: columns as wide as their widest cell. */
static void status_table(struct json_object *vms)
{
	size_t n = json_object_array_length(vms);
	char (*cells)[STATUS_COLS][256] = calloc(n + 1, sizeof(*cells));
	size_t width[STATUS_COLS] = { 0 };

	if (!cells) {
		ctl_err("out of memory");
		return;
	}
	for (int c = 0; c < STATUS_COLS; c++)
		snprintf(cells[0][c], 256, "%s", status_heads[c]);
	for (size_t i = 0; i < n; i++)
		status_row(json_object_array_get_idx(vms, i), cells[i + 1]);
	for (size_t i = 0; i <= n; i++)
		for (int c = 0; c < STATUS_COLS; c++)
			if (strlen(cells[i][c]) > width[c])
				width[c] = strlen(cells[i][c]);
	for (size_t i = 0; i <= n; i++)
		for (int c = 0; c < STATUS_COLS; c++)
			printf(c + 1 < STATUS_COLS ? "%-*s  " : "%-.*s\n",
			       c + 1 < STATUS_COLS ? (int)width[c] : 255, cells[i][c]);
	free(cells);
}

/* The proxy's totals and limits, three lines. */
static void status_proxy(struct json_object *p)
{
	struct json_object *limits;
	char up[32], buf[256];
	const char *sep = "";

	status_duration(status_int(p, "uptimeMs"), up, sizeof(up));
	printf("cc-proxy %s, pid %" PRId64 ", up %s",
	       status_clean(status_str(p, "version"), buf, sizeof(buf)), status_int(p, "pid"), up);
	printf(", socket %s\n", status_clean(status_str(p, "socketPath"), buf, sizeof(buf)));
	printf("VMs %" PRId64 ", clients %" PRId64 ", pooled helpers %" PRId64 "\n",
	       status_int(p, "vms"), status_int(p, "clients"), status_int(p, "helpersPooled"));
	if (!json_object_object_get_ex(p, "limits", &limits) ||
	    !json_object_is_type(limits, json_type_object))
		return;
	printf("limits:");
	json_object_object_foreach(limits, name, l) {
		int64_t used = status_int(l, "used"), max = status_int(l, "max");

		printf("%s %s %" PRId64 "/%" PRId64, sep, status_clean(name, buf, sizeof(buf)),
		       used, max);
		if (max > 0 && used >= 0)
			printf(" (%" PRId64 "%%)", used * 100 / max);
		sep = ",";
	}
	printf("\n");
}

/* `status ID`: every figure of one VM, one per line. */
static void status_detail(struct json_object *vm)
{
	static const struct { const char *key, *label; bool bytes; } rows[] = {
		{ "helperPid", "helper pid", false },
		{ "tokensTotal", "tokens", false },
		{ "tokensClaimed", "tokens claimed", false },
		{ "sessions", "sessions", false },
		{ "shims", "shims connected", false },
		{ "processes", "processes running", false },
		{ "bytesToShims", "bytes agent->shims", true },
		{ "bytesFromShims", "bytes shims->agent", true },
		{ "bytesDiscardedNull", "bytes discarded (null session)", true },
		{ "bytesDiscardedOrphaned", "bytes discarded (orphaned)", true },
		{ "hyperServed", "hyper commands served", false },
		{ "hyperFailed", "hyper commands failed", false },
	};
	char buf[512], up[32];
	int64_t v;

	printf("VM %s\n", status_clean(status_str(vm, "containerId"), buf, sizeof(buf)));
	printf("  %-32s %s\n", "state", status_clean(status_str(vm, "state"), buf, sizeof(buf)));
	status_duration(status_int(vm, "uptimeMs"), up, sizeof(up));
	printf("  %-32s %s (%" PRId64 " ms)\n", "uptime", up, status_int(vm, "uptimeMs"));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		v = status_int(vm, rows[i].key);
		if (v < 0)
			continue;	/* the helper did not answer */
		status_bytes(v, up, sizeof(up));
		if (rows[i].bytes && v >= 1024)
			printf("  %-32s %" PRId64 " (%s)\n", rows[i].label, v, up);
		else
			printf("  %-32s %" PRId64 "\n", rows[i].label, v);
	}
	if (!status_answered(vm))
		printf("  %-32s %s\n", "helper counters",
		       status_clean(status_str(vm, "noAnswer"), buf, sizeof(buf)));
	printf("  %-32s %s\n", "last error", status_str(vm, "lastError") ?
	       status_clean(status_str(vm, "lastError"), buf, sizeof(buf)) : "-");
	printf("  %-32s %s\n", "end reason", status_str(vm, "endReason") ?
	       status_clean(status_str(vm, "endReason"), buf, sizeof(buf)) : "-");
}

/* Lay out the whole report @o; 0, or CTL_EXIT_FAILURE when it is not one. */
static int status_print(const struct status_cmd *sc, struct json_object *o)
{
	struct json_object *proxy, *vms;

	if (!json_object_object_get_ex(o, "proxy", &proxy) ||
	    !json_object_object_get_ex(o, "vms", &vms) ||
	    !json_object_is_type(vms, json_type_array)) {
		ctl_err("status: the proxy's reply is not a status report");
		return CTL_EXIT_FAILURE;
	}
	if (sc->opts->json) {
		const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE);

		return text && printf("%s\n", text) >= 0 ? 0 : CTL_EXIT_FAILURE;
	}
	if (sc->opts->container_id) {
		for (size_t i = 0; i < json_object_array_length(vms); i++) {
			if (i)
				printf("\n");
			status_detail(json_object_array_get_idx(vms, i));
		}
		return 0;
	}
	if (!sc->opts->list) {
		status_proxy(proxy);
		printf("\n");
	}
	status_table(vms);
	return 0;
}

/* The request for the page after @after (0: the first). NULL: out of memory. */
static char *status_request(const struct ctl_status *opts, uint64_t after)
{
	_cleanup_json_ struct json_object *req = json_object_new_object();
	const char *json;

	if (!req || (opts->container_id &&
		     json_object_object_add(req, "containerId",
					    json_object_new_string(opts->container_id)) < 0) ||
	    (after && json_object_object_add(req, "after",
					     json_object_new_int64((int64_t)after)) < 0) ||
	    (opts->page_size && json_object_object_add(req, "limit",
					json_object_new_int64((int64_t)opts->page_size)) < 0) ||
	    !(json = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN)))
		return NULL;
	return strdup(json);
}

/*
 * Join reply @o into the report. Return: 1 with *next set when another
 * page is to be asked for, 0 when the report is complete, or -1 (reported).
 */
static int status_join(struct status_cmd *sc, struct json_object *o, uint64_t *next)
{
	struct json_object *page, *vms, *all, *v;
	int64_t cursor = 0;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "vms", &vms) ||
	    !json_object_is_type(vms, json_type_array)) {
		ctl_err("status: the proxy's reply is not a status report");
		return -1;
	}
	if (json_object_object_get_ex(o, "page", &page) &&
	    json_object_object_get_ex(page, "next", &v)) {
		cursor = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
		if (cursor <= 0 || (uint64_t)cursor <= sc->after) {
			ctl_err("status: the proxy's reply has a bad page cursor");
			return -1;
		}
	}
	if (!sc->report) {
		sc->report = json_object_get(o);
	} else {
		json_object_object_get_ex(sc->report, "vms", &all);
		for (size_t i = 0; i < json_object_array_length(vms); i++)
			if (json_object_array_add(all, json_object_get(
					json_object_array_get_idx(vms, i))) < 0) {
				ctl_err("out of memory");
				return -1;
			}
	}
	if (cursor == 0) {
		json_object_object_del(sc->report, "page");
		return 0;
	}
	if (++sc->pages >= STATUS_PAGES_MAX) {
		ctl_err("status: more than %d replies; giving up", STATUS_PAGES_MAX);
		return -1;
	}
	*next = (uint64_t)cursor;
	return 1;
}

static void status_on_answer(struct conn *c, const struct conn_answer *a, void *ctx)
{
	struct status_cmd *sc = ctx;
	_cleanup_json_ struct json_object *o = NULL;
	_cleanup_free_ char *req = NULL;
	uint64_t next;
	int r;

	sc->ctl->status = CTL_EXIT_FAILURE;
	if (!a->ok && a->local) {
		ctl_err("status: %.*s", (int)a->len, a->text);
	} else if (!a->ok) {
		ctl_err("status: error from cc-proxy: %.*s", (int)a->len, a->text);
	} else if (!(o = json_tokener_parse(a->text))) {
		ctl_err("status: the proxy's reply is not a status report");
	} else if ((r = status_join(sc, o, &next)) == 0) {
		sc->ctl->status = status_print(sc, sc->report);
	} else if (r > 0) {
		sc->after = next;
		if (!(req = status_request(sc->opts, next)))
			ctl_err("out of memory");
		else if (conn_command(c, FRAME_CMD_STATUS, req, status_on_answer, sc) < 0)
			ctl_err("status: cannot send the command");
		else
			return;	/* the next page */
	}
	fflush(stdout);
	event_base_loopexit(sc->ctl->base, NULL);
}

static void status_on_close(struct conn *c, const char *why, void *ctx)
{
	/* The pending command was failed (and reported) already. */
}

int status_run(struct ctl *ctl, const struct ctl_status *opts)
{
	static const struct conn_ops ops = { .on_close = status_on_close };
	struct status_cmd sc = { .ctl = ctl, .opts = opts };
	_cleanup_free_ char *err = NULL, *req = status_request(opts, 0);
	struct conn *conn = NULL;
	int r;

	if (!req) {
		ctl_err("out of memory");
		return CTL_EXIT_FAILURE;
	}
	r = conn_open(&conn, ctl->base, ctl->socket_path, "admin", ctl_timeout(ctl),
		      ctl->verbose, &ops, &sc, &err);
	if (r < 0) {
		ctl_err("%s", err ? err : strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	ctl->status = CTL_EXIT_FAILURE;
	if (conn_command(conn, FRAME_CMD_STATUS, req, status_on_answer, &sc) < 0)
		ctl_err("status: cannot send the command");
	else
		event_base_dispatch(ctl->base);
	conn_free(conn);
	json_object_put(sc.report);
	return ctl->status;
}
