/*
 * cmd.c - the one-shot subcommands of cc-proxyctl: register, attach,
 * unregister and hyper. Each opens one connection, sends one or two
 * commands in order, prints the last answer and ends the loop.
 *
 * The answers are printed as the proxy sent them (JSON text), one line;
 * an error response prints its "msg" on stderr and exits 1. One agent
 * answer is not text: hyperstart ACKs "version" with its API version as
 * 4 bytes, big-endian, which is printed as a decimal number.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "bytes.h"
#include "cleanup.h"
#include "conn.h"
#include "ctl.h"
#include "frame.h"

struct cmd {
	struct ctl *ctl;
	const struct ctl_request *req;
	struct conn *conn;
	const char *what;	/* for messages: "register vm1" */
	char *next_json;	/* Hyper, sent once AttachVM succeeded */
	bool version;		/* it is Hyper "version": a binary answer */
};

static void cmd_finish(struct cmd *cmd, int status)
{
	cmd->ctl->status = status;
	event_base_loopexit(cmd->ctl->base, NULL);
}

/* Print an answer payload, if any, as one line on stdout. */
static void cmd_print(const struct conn_answer *a)
{
	if (a->len == 0)
		return;
	fwrite(a->text, 1, a->len, stdout);
	if (a->text[a->len - 1] != '\n')
		fputc('\n', stdout);
	fflush(stdout);
}

static void cmd_report(struct cmd *cmd, const struct conn_answer *a)
{
	if (a->local)
		ctl_err("%s: %.*s", cmd->what, (int)a->len, a->text);
	else
		ctl_err("%s: error from cc-proxy: %.*s", cmd->what, (int)a->len,
			a->text);
}

static void cmd_on_answer(struct conn *c, const struct conn_answer *a, void *ctx)
{
	struct cmd *cmd = ctx;

	if (!a->ok) {
		cmd_report(cmd, a);
		cmd_finish(cmd, CTL_EXIT_FAILURE);
		return;
	}
	if (cmd->version && a->len == 4) {
		printf("%u\n", bytes_get_be32((const uint8_t *)a->text));
		fflush(stdout);
	} else {
		cmd_print(a);
	}
	cmd_finish(cmd, 0);
}

/* hyper: the AttachVM answer; now the Hyper command itself. */
static void cmd_on_attached(struct conn *c, const struct conn_answer *a, void *ctx)
{
	struct cmd *cmd = ctx;

	if (!a->ok) {
		cmd_report(cmd, a);
		cmd_finish(cmd, CTL_EXIT_FAILURE);
		return;
	}
	if (conn_command(c, FRAME_CMD_HYPER, cmd->next_json, cmd_on_answer, cmd) < 0) {
		ctl_err("%s: cannot send the command", cmd->what);
		cmd_finish(cmd, CTL_EXIT_FAILURE);
	}
}

static void cmd_on_close(struct conn *c, const char *why, void *ctx)
{
	/* Pending commands were failed (and reported) already. */
}

/* Open the connection and send @opcode with @json; the answer goes to @fn. */
static int cmd_run(struct ctl *ctl, struct cmd *cmd, uint8_t opcode,
		   const char *json, conn_answer_fn fn)
{
	static const struct conn_ops ops = { .on_close = cmd_on_close };
	_cleanup_free_ char *err = NULL;
	int r;

	if (!json) {
		ctl_err("out of memory");
		return CTL_EXIT_FAILURE;
	}
	cmd->ctl = ctl;
	r = conn_open(&cmd->conn, ctl->base, ctl->socket_path, "client",
		      ctl_timeout(ctl), ctl->verbose, &ops, cmd, &err);
	if (r < 0) {
		ctl_err("%s", err ? err : strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	ctl->status = CTL_EXIT_FAILURE;
	if (conn_command(cmd->conn, opcode, json, fn, cmd) < 0)
		ctl_err("%s: cannot send the command", cmd->what);
	else
		event_base_dispatch(ctl->base);
	cmd->conn = conn_free(cmd->conn);
	return ctl->status;
}

/* JSON text of @o (compact, '/' unescaped), malloc'd, or NULL. */
static char *cmd_json(struct json_object *o)
{
	const char *s;

	if (!o)
		return NULL;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	return s ? strdup(s) : NULL;
}

static int cmd_add_str(struct json_object *o, const char *k, const char *v)
{
	struct json_object *s = json_object_new_string(v);

	if (!s)
		return -ENOMEM;
	return json_object_object_add(o, k, s);
}

static int cmd_add_int(struct json_object *o, const char *k, int64_t v)
{
	struct json_object *i = json_object_new_int64(v);

	if (!i)
		return -ENOMEM;
	return json_object_object_add(o, k, i);
}

int cmd_register(struct ctl *ctl, const struct ctl_request *req)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	_cleanup_free_ char *json = NULL;
	char what[256];
	struct cmd cmd = { .req = req, .what = what };
	int r;

	snprintf(what, sizeof(what), "register %s", req->container_id);
	if (!o)
		return CTL_EXIT_FAILURE;
	r = cmd_add_str(o, "containerId", req->container_id);
	r = r ?: cmd_add_str(o, "ctlSerial", req->ctl_serial);
	r = r ?: cmd_add_str(o, "ioSerial", req->io_serial);
	if (req->console)
		r = r ?: cmd_add_str(o, "console", req->console);
	r = r ?: cmd_add_int(o, "numIOStreams", (int64_t)req->tokens);
	json = r ? NULL : cmd_json(o);
	return cmd_run(ctl, &cmd, FRAME_CMD_REGISTER_VM, json, cmd_on_answer);
}

int cmd_attach(struct ctl *ctl, const struct ctl_request *req)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	_cleanup_free_ char *json = NULL;
	char what[256];
	struct cmd cmd = { .req = req, .what = what };
	int r;

	snprintf(what, sizeof(what), "attach %s", req->container_id);
	if (!o)
		return CTL_EXIT_FAILURE;
	r = cmd_add_str(o, "containerId", req->container_id);
	r = r ?: cmd_add_int(o, "numIOStreams", (int64_t)req->tokens);
	json = r ? NULL : cmd_json(o);
	return cmd_run(ctl, &cmd, FRAME_CMD_ATTACH_VM, json, cmd_on_answer);
}

int cmd_unregister(struct ctl *ctl, const struct ctl_request *req)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	_cleanup_free_ char *json = NULL;
	char what[256];
	struct cmd cmd = { .req = req, .what = what };

	snprintf(what, sizeof(what), "unregister %s", req->container_id);
	if (!o || cmd_add_str(o, "containerId", req->container_id) < 0)
		return CTL_EXIT_FAILURE;
	json = cmd_json(o);
	return cmd_run(ctl, &cmd, FRAME_CMD_UNREGISTER_VM, json, cmd_on_answer);
}

/*
 * The Hyper request is assembled as text so that the user's data goes
 * to the agent byte for byte (key order and number spelling matter to
 * hyperstart); it is only checked to be one JSON value first.
 */
static char *cmd_hyper_json(const char *name, const char *data, char **why)
{
	_cleanup_json_ struct json_object *n = json_object_new_string(name);
	struct json_tokener *tok;
	struct json_object *v;
	const char *ns;
	char *out = NULL;
	size_t end;
	int r;

	*why = NULL;
	if (!n)
		return NULL;
	ns = json_object_to_json_string_ext(n, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!data) {
		r = asprintf(&out, "{\"hyperName\":%s}", ns);
		return r < 0 ? NULL : out;
	}
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/* The terminating NUL too: it ends a bare number such as "12". */
	v = json_tokener_parse_ex(tok, data, (int)strlen(data) + 1);
	end = json_tokener_get_parse_end(tok);
	if (end > strlen(data))		/* it consumed the NUL */
		end = strlen(data);
	if (!v || data[end + strspn(data + end, " \t\r\n")]) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		r = asprintf(why, "the data is not one JSON value: %s",
			     v ? "trailing characters" :
			     e == json_tokener_continue ? "unexpected end" :
			     json_tokener_error_desc(e));
		if (r < 0)
			*why = NULL;
		json_object_put(v);
		json_tokener_free(tok);
		return NULL;
	}
	json_object_put(v);
	json_tokener_free(tok);
	r = asprintf(&out, "{\"hyperName\":%s,\"data\":%s}", ns, data);
	return r < 0 ? NULL : out;
}

int cmd_hyper(struct ctl *ctl, const struct ctl_request *req)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	_cleanup_free_ char *attach = NULL;
	_cleanup_free_ char *hyper = NULL;
	_cleanup_free_ char *why = NULL;
	char what[256];
	struct cmd cmd = { .req = req, .what = what };

	snprintf(what, sizeof(what), "hyper %s %s", req->container_id,
		 req->hyper_name);
	hyper = cmd_hyper_json(req->hyper_name, req->hyper_data, &why);
	if (!hyper) {
		ctl_err("%s: %s", what, why ? why : "out of memory");
		return why ? CTL_EXIT_USAGE : CTL_EXIT_FAILURE;
	}
	if (!o || cmd_add_str(o, "containerId", req->container_id) < 0)
		return CTL_EXIT_FAILURE;
	attach = cmd_json(o);
	cmd.next_json = hyper;
	cmd.version = !strcmp(req->hyper_name, "version");
	return cmd_run(ctl, &cmd, FRAME_CMD_ATTACH_VM, attach, cmd_on_attached);
}
