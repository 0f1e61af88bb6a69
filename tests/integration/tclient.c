/*
 * tclient.c - the blocking test client (tclient.h). Frames are decoded
 * with the product's own frame.c, with the strictest checks: the proxy
 * must never send anything frame_decode() refuses.
 *
 * Every read and write waits with poll() for at most what is left of its
 * deadline; a failure names the connection and the frame it expected.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bytes.h"
#include "tclient.h"
#include "token.h"

struct tclient *tclient_connect(struct harness *h, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct tclient *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->in = evbuffer_new();
	ck_assert_ptr_nonnull(c->in);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert(c->fd >= 0);
	strcpy(sa.sun_path, h->sock);
	/* AF_UNIX connects at once or fails; EAGAIN would mean a full
	 * backlog, which a test of a few connections never reaches. */
	ck_assert_msg(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "%s: connect %s: %s", name, h->sock, strerror(errno));
	return c;
}

struct tclient *tclient_free(struct tclient *c)
{
	if (!c)
		return NULL;
	close(c->fd);
	evbuffer_free(c->in);
	free(c);
	return NULL;
}

int tclient_try_send_bytes(struct tclient *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		struct pollfd pf = { .fd = c->fd, .events = POLLOUT };

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (poll(&pf, 1, harness_left_ms(deadline)) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}

void tclient_send_bytes(struct tclient *c, const void *data, size_t len)
{
	int r = tclient_try_send_bytes(c, data, len);

	ck_assert_msg(r == 0, "%s: sending %zu bytes: %s", c->name, len, strerror(-r));
}

void tclient_send_frame(struct tclient *c, uint8_t type, uint8_t flags,
			uint8_t opcode, const void *payload, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	uint8_t *p;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(frame_encode(b, type, flags, opcode, payload, len), 0);
	n = evbuffer_get_length(b);
	p = evbuffer_pullup(b, -1);
	tclient_send_bytes(c, p, n);
	evbuffer_free(b);
}

void tclient_send_command(struct tclient *c, uint8_t opcode, const char *json)
{
	tclient_send_frame(c, FRAME_TYPE_COMMAND, 0, opcode, json,
			   json ? strlen(json) : 0);
}

void tclient_send_stdin(struct tclient *c, const void *data, size_t len)
{
	tclient_send_frame(c, FRAME_TYPE_STREAM, 0, FRAME_STREAM_STDIN, data, len);
}

int tclient_read_frame(struct tclient *c, struct frame *f, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	const char *why = NULL;

	*f = FRAME_NULL;
	for (;;) {
		/* The proxy may send stdout frames of any size it likes up to
		 * its own maximum; allow well above it. */
		int r = frame_decode(c->in, 16 * FRAME_PAYLOAD_MAX, f, &why);
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		int n;

		if (r == 0)
			return 0;
		if (r != FRAME_E_INCOMPLETE) {
			fprintf(stderr, "%s: undecodable frame from the proxy: %s\n",
				c->name, why ? why : strerror(-r));
			return -EPROTO;
		}
		n = poll(&pf, 1, harness_left_ms(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ETIMEDOUT;
		n = evbuffer_read(c->in, c->fd, 256 * 1024);
		if (n == 0)
			return evbuffer_get_length(c->in) ? -EPROTO : TCLIENT_EOF;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

static const char *tclient_strerr(int r)
{
	return r == TCLIENT_EOF ? "connection closed by the proxy" : strerror(-r);
}

void tclient_next_frame(struct tclient *c, struct frame *f)
{
	int r = tclient_read_frame(c, f, HARNESS_WAIT_MS);

	ck_assert_msg(r == 0, "%s: no frame within %d ms: %s", c->name,
		      HARNESS_WAIT_MS, tclient_strerr(r));
}

/* The next frame, asserted to be a response to @opcode, an error
 * response when @error, a success otherwise. */
static void tclient_next_response(struct tclient *c, uint8_t opcode, bool error,
				  struct frame *f)
{
	tclient_next_frame(c, f);
	ck_assert_msg(f->type == FRAME_TYPE_RESPONSE,
		      "%s: expected a response to %s, got a %s frame (%s, %u bytes: %.200s)",
		      c->name, frame_opcode_name(FRAME_TYPE_COMMAND, opcode),
		      frame_type_name(f->type), frame_opcode_name(f->type, f->opcode),
		      f->payload_len, f->payload ? (const char *)f->payload : "");
	ck_assert_msg(f->opcode == opcode, "%s: response to %s, expected one to %s",
		      c->name, frame_opcode_name(FRAME_TYPE_COMMAND, f->opcode),
		      frame_opcode_name(FRAME_TYPE_COMMAND, opcode));
	ck_assert_msg(!(f->flags & FRAME_FLAG_ERROR) == !error, "%s: %s %s: %s", c->name,
		      frame_opcode_name(FRAME_TYPE_COMMAND, opcode),
		      error ? "succeeded, expected an error" : "failed",
		      f->payload ? (const char *)f->payload : "(no payload)");
}

struct json_object *tclient_expect_ok(struct tclient *c, uint8_t opcode)
{
	struct frame f;
	struct json_object *o = NULL;

	tclient_next_response(c, opcode, false, &f);
	ck_assert_msg(f.flags == 0, "%s: response flags 0x%x", c->name, f.flags);
	if (f.payload_len > 0) {
		o = json_tokener_parse((const char *)f.payload);
		ck_assert_msg(o, "%s: %s answer is not JSON: %s", c->name,
			      frame_opcode_name(FRAME_TYPE_COMMAND, opcode),
			      (const char *)f.payload);
	}
	frame_deinit(&f);
	return o;
}

uint32_t tclient_expect_version(struct tclient *c)
{
	struct frame f;
	uint32_t v;

	tclient_next_response(c, FRAME_CMD_HYPER, false, &f);
	ck_assert_msg(f.flags == 0, "%s: response flags 0x%x", c->name, f.flags);
	ck_assert_msg(f.payload_len == 4, "%s: version answer of %u bytes, want 4",
		      c->name, f.payload_len);
	v = bytes_get_be32(f.payload);
	frame_deinit(&f);
	return v;
}

char *tclient_expect_error(struct tclient *c, uint8_t opcode)
{
	struct frame f;
	struct json_object *o, *msg;
	char *s;

	tclient_next_response(c, opcode, true, &f);
	ck_assert_msg(f.payload_len > 0, "%s: error response without payload", c->name);
	o = json_tokener_parse((const char *)f.payload);
	ck_assert_msg(o && json_object_object_get_ex(o, "msg", &msg) &&
		      json_object_is_type(msg, json_type_string) &&
		      json_object_get_string_len(msg) > 0,
		      "%s: error payload is not {\"msg\": \"...\"}: %s", c->name,
		      (const char *)f.payload);
	s = strdup(json_object_get_string(msg));
	json_object_put(o);
	frame_deinit(&f);
	return s;
}

struct json_object *tclient_call(struct tclient *c, uint8_t opcode, const char *json)
{
	tclient_send_command(c, opcode, json);
	return tclient_expect_ok(c, opcode);
}

char *tclient_call_error(struct tclient *c, uint8_t opcode, const char *json)
{
	tclient_send_command(c, opcode, json);
	return tclient_expect_error(c, opcode);
}

void tclient_expect_eof(struct tclient *c)
{
	struct frame f;
	int r = tclient_read_frame(c, &f, HARNESS_WAIT_MS);

	if (r == 0) {
		ck_abort_msg("%s: expected the proxy to close, got a %s frame (%s): %.200s",
			     c->name, frame_type_name(f.type),
			     frame_opcode_name(f.type, f.opcode),
			     f.payload ? (const char *)f.payload : "");
	}
	ck_assert_msg(r == TCLIENT_EOF || r == -ECONNRESET,
		      "%s: expected the proxy to close the connection: %s",
		      c->name, tclient_strerr(r));
}

void tclient_check_io_answer(struct harness *h, struct json_object *answer,
			     int ntokens)
{
	struct json_object *io, *url, *tokens;
	char want[PATH_MAX + 8];

	ck_assert_msg(answer, "empty answer, expected {\"io\": ...}");
	ck_assert_msg(json_object_object_get_ex(answer, "io", &io) &&
		      json_object_is_type(io, json_type_object),
		      "no \"io\" object in %s", json_object_to_json_string(answer));
	ck_assert_msg(json_object_object_get_ex(io, "URL", &url) &&
		      json_object_is_type(url, json_type_string),
		      "no \"URL\" string (capitals) in %s", json_object_to_json_string(answer));
	snprintf(want, sizeof(want), "unix://%s", h->sock);
	ck_assert_str_eq(json_object_get_string(url), want);
	ck_assert_msg(json_object_object_get_ex(io, "tokens", &tokens) &&
		      json_object_is_type(tokens, json_type_array),
		      "\"tokens\" is not an array (never null) in %s",
		      json_object_to_json_string(answer));
	ck_assert_int_eq((int)json_object_array_length(tokens), ntokens);
	for (int i = 0; i < ntokens; i++) {
		struct json_object *t = json_object_array_get_idx(tokens, (size_t)i);
		const char *s = json_object_get_string(t);

		ck_assert(json_object_is_type(t, json_type_string));
		ck_assert_int_eq((int)strlen(s), TOKEN_STR_LEN);
		ck_assert_msg(s[TOKEN_STR_LEN - 1] == '=', "token %s does not end in '='", s);
		ck_assert_msg(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				     "0123456789-_") == TOKEN_STR_LEN - 1,
			      "token %s is not base64url", s);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(s, json_object_get_string(
				json_object_array_get_idx(tokens, (size_t)j)));
	}
}

struct json_object *tclient_register(struct tclient *c, struct harness *h,
				     const char *id, const struct harness_vm *vm,
				     int ntokens)
{
	struct json_object *req = json_object_new_object();
	struct json_object *answer;

	json_object_object_add(req, "containerId", json_object_new_string(id));
	json_object_object_add(req, "ctlSerial", json_object_new_string(vm->ctl));
	json_object_object_add(req, "ioSerial", json_object_new_string(vm->io));
	if (ntokens > 0)
		json_object_object_add(req, "numIOStreams", json_object_new_int(ntokens));
	answer = tclient_call(c, FRAME_CMD_REGISTER_VM,
			      json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(req);
	tclient_check_io_answer(h, answer, ntokens);
	return answer;
}

/* A new connection @name on which command @opcode with the JSON text
 * {"@key": "@value"} succeeded. */
static struct tclient *tclient_connect_call(struct harness *h, const char *name,
					    uint8_t opcode, const char *key,
					    const char *value)
{
	struct tclient *c = tclient_connect(h, name);
	char json[256];

	snprintf(json, sizeof(json), "{\"%s\":\"%s\"}", key, value);
	json_object_put(tclient_call(c, opcode, json));
	return c;
}

struct tclient *tclient_attach(struct harness *h, const char *id)
{
	return tclient_connect_call(h, "attached", FRAME_CMD_ATTACH_VM, "containerId", id);
}

char *tclient_register_json(const char *id, const struct harness_vm *vm, int ntokens)
{
	char *s = NULL;

	ck_assert(asprintf(&s, "{\"containerId\":\"%s\",\"ctlSerial\":\"%s\","
			   "\"ioSerial\":\"%s\",\"numIOStreams\":%d}",
			   id, vm->ctl, vm->io, ntokens) > 0);
	return s;
}

struct tclient *tclient_connect_shim(struct harness *h, const char *tok)
{
	return tclient_connect_call(h, "shim", FRAME_CMD_CONNECT_SHIM, "token", tok);
}

struct tclient *tclient_reconnect_shim(struct harness *h, const char *name,
				       const char *tok)
{
	struct tclient *s = tclient_connect(h, name);
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;
	char json[128];

	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", tok);
	for (;;) {
		struct frame f;
		bool ok;

		tclient_send_command(s, FRAME_CMD_CONNECT_SHIM, json);
		tclient_next_frame(s, &f);
		ck_assert_int_eq(f.type, FRAME_TYPE_RESPONSE);
		ck_assert_int_eq(f.opcode, FRAME_CMD_CONNECT_SHIM);
		ok = !(f.flags & FRAME_FLAG_ERROR);
		frame_deinit(&f);
		if (ok)
			return s;
		ck_assert_msg(harness_left_ms(deadline) > 0,
			      "%s: the token never became claimable again", name);
	}
}

void tclient_ping_ok(struct tclient *c)
{
	json_object_put(tclient_call(c, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}"));
}

void tclient_expect_unknown_vm(struct harness *h, const char *id)
{
	struct tclient *c = tclient_connect(h, "probe");
	char json[256];

	snprintf(json, sizeof(json), "{\"containerId\":\"%s\"}", id);
	free(tclient_call_error(c, FRAME_CMD_ATTACH_VM, json));
	tclient_free(c);
}

const char *tclient_token(struct json_object *answer, size_t i)
{
	struct json_object *io, *tokens;

	ck_assert(json_object_object_get_ex(answer, "io", &io));
	ck_assert(json_object_object_get_ex(io, "tokens", &tokens));
	ck_assert(i < json_object_array_length(tokens));
	return json_object_get_string(json_object_array_get_idx(tokens, i));
}

void tclient_output_init(struct tclient_output *o)
{
	memset(o, 0, sizeof(*o));
	o->out = evbuffer_new();
	o->err = evbuffer_new();
	o->status = -1;
	ck_assert(o->out && o->err);
}

void tclient_output_deinit(struct tclient_output *o)
{
	evbuffer_free(o->out);
	evbuffer_free(o->err);
	o->out = o->err = NULL;
}

char *tclient_output_dup(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	evbuffer_copyout(b, s, n);
	s[n] = '\0';
	return s;
}

/* Account one frame received on a shim connection. */
static void tclient_output_add(struct tclient_output *o, const struct frame *f)
{
	if (f->type == FRAME_TYPE_STREAM &&
	    (f->opcode == FRAME_STREAM_STDOUT || f->opcode == FRAME_STREAM_STDERR)) {
		if (o->n_exited)
			o->n_after_exit++;
		evbuffer_add(f->opcode == FRAME_STREAM_STDOUT ? o->out : o->err,
			     f->payload, f->payload_len);
	} else if (f->type == FRAME_TYPE_NOTIFICATION &&
		   f->opcode == FRAME_NOTIFY_PROCESS_EXITED) {
		ck_assert_msg(f->payload_len == 1,
			      "ProcessExited payload of %u bytes, want 1", f->payload_len);
		o->n_exited++;
		o->status = f->payload[0];
	} else {
		fprintf(stderr, "unexpected %s frame (%s) on a shim connection: %.200s\n",
			frame_type_name(f->type), frame_opcode_name(f->type, f->opcode),
			f->payload ? (const char *)f->payload : "");
		o->n_other++;
	}
}

void tclient_collect(struct tclient *c, struct tclient_output *o, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (o->n_exited == 0) {
		struct frame f;
		int r = tclient_read_frame(c, &f, harness_left_ms(deadline));

		if (r == TCLIENT_EOF || r == -ECONNRESET)
			o->eof = true;
		ck_assert_msg(r == 0, "%s: waiting for ProcessExited (stdout so far %zu bytes, "
			      "stderr %zu): %s", c->name, evbuffer_get_length(o->out),
			      evbuffer_get_length(o->err), tclient_strerr(r));
		tclient_output_add(o, &f);
		frame_deinit(&f);
	}
}

void tclient_read_until(struct tclient *c, struct tclient_output *o, const char *needle)
{
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;
	size_t want = strlen(needle);

	while (evbuffer_search(o->out, needle, want, NULL).pos < 0) {
		struct frame f;
		int r = tclient_read_frame(c, &f, harness_left_ms(deadline));

		ck_assert_msg(r == 0, "%s: waiting for \"%s\" on stdout: %s", c->name,
			      needle, tclient_strerr(r));
		tclient_output_add(o, &f);
		frame_deinit(&f);
		ck_assert_msg(o->n_exited == 0 && o->n_other == 0,
			      "%s: ProcessExited or an unexpected frame before \"%s\"",
			      c->name, needle);
	}
}

void tclient_expect_closed(struct tclient *c, struct tclient_output *o)
{
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;

	for (;;) {
		struct frame f;
		int r = tclient_read_frame(c, &f, harness_left_ms(deadline));

		if (r == TCLIENT_EOF || r == -ECONNRESET) {
			o->eof = true;
			return;
		}
		ck_assert_msg(r == 0, "%s: expected the proxy to close the connection: %s",
			      c->name, tclient_strerr(r));
		tclient_output_add(o, &f);
		frame_deinit(&f);
	}
}

void tclient_settle(struct tclient *c, struct tclient_output *o)
{
	static const char sig[] = "{\"signalNumber\":99}";
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;
	struct evbuffer *b = evbuffer_new();
	int r;

	/* 99 is no signal: the owner of the session answers with an error. */
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(frame_encode(b, FRAME_TYPE_COMMAND, 0, FRAME_CMD_SIGNAL,
				      sig, strlen(sig)), 0);
	r = tclient_try_send_bytes(c, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_free(b);
	if (r < 0) {
		/* Closed already: read what was sent before the close. */
		o->eof = true;
	}
	for (;;) {
		struct frame f;

		r = tclient_read_frame(c, &f, harness_left_ms(deadline));
		if (r == TCLIENT_EOF || r == -ECONNRESET) {
			o->eof = true;
			return;
		}
		ck_assert_msg(r == 0, "%s: settling: %s", c->name, tclient_strerr(r));
		if (f.type == FRAME_TYPE_RESPONSE && f.opcode == FRAME_CMD_SIGNAL) {
			ck_assert_msg(f.flags & FRAME_FLAG_ERROR,
				      "Signal 99 was accepted: %s",
				      f.payload ? (const char *)f.payload : "");
			frame_deinit(&f);
			return;
		}
		tclient_output_add(o, &f);
		frame_deinit(&f);
	}
}
