/*
 * client.c - the benchmarks' blocking client of proxy.sock (client.h).
 *
 * The socket is non-blocking; "blocking" calls poll() against a deadline
 * computed once per call, so a stuck daemon costs at most the timeout.
 * Framing is src/common/frame.c's, the same code the daemon uses.
 */
#define _GNU_SOURCE 1
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <event2/buffer.h>

#include "rig.h"

/* Largest payload we accept from the proxy (answers, stdout frames). */
#define CLIENT_PAYLOAD_MAX	(64u * 1024u * 1024u)
/* One read: big, so that streaming costs few system calls. */
#define CLIENT_READ_SIZE	(256 * 1024)

int client_connect(struct client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	*c = CLIENT_NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!c->in || !c->out || c->fd < 0) {
		client_close(c);
		return -ENOMEM;
	}
	/* Blocking connect (AF_UNIX answers at once), then non-blocking. */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    fcntl(c->fd, F_SETFL, O_NONBLOCK)) {
		int e = -errno;

		client_close(c);
		return e;
	}
	return 0;
}

void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->in)
		evbuffer_free(c->in);
	if (c->out)
		evbuffer_free(c->out);
	*c = CLIENT_NULL;
}

int client_queue(struct client *c, uint8_t type, uint8_t opcode,
		 const void *payload, size_t len)
{
	return frame_encode(c->out, type, 0, opcode, payload, len);
}

/* Milliseconds left until @end (rig_now() time), at least 0. */
static int left_ms(double end)
{
	double ms = (end - rig_now()) * 1000.0;

	return ms <= 0 ? 0 : ms > 1e9 ? 1000000000 : (int)ms + 1;
}

/* One poll for @events, then read and/or write what it allows. */
static int pump(struct client *c, short events, double end)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int n = poll(&p, 1, left_ms(end));

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ETIMEDOUT;
	if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
		int r = evbuffer_read(c->in, c->fd, CLIENT_READ_SIZE);

		if (r == 0)
			return -ECONNRESET;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	if (p.revents & POLLOUT) {
		if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN &&
		    errno != EINTR)
			return -errno;
	}
	return 0;
}

int client_flush(struct client *c, int timeout_ms)
{
	double end = rig_now() + timeout_ms / 1000.0;
	int r;

	while (evbuffer_get_length(c->out))
		if ((r = pump(c, POLLIN | POLLOUT, end)))
			return r;
	return 0;
}

int client_recv(struct client *c, struct frame *f, int timeout_ms)
{
	double end = rig_now() + timeout_ms / 1000.0;
	const char *why = NULL;
	int r;

	for (;;) {
		r = frame_decode(c->in, CLIENT_PAYLOAD_MAX, f, &why);
		if (r == 0)
			return 0;
		if (r == FRAME_E_INVALID) {
			fprintf(stderr, "untrusted frame from the proxy: %s\n", why);
			return -EPROTO;
		}
		if (r != FRAME_E_INCOMPLETE)
			return r;
		/* Keep writing what is queued while we wait. */
		r = pump(c, evbuffer_get_length(c->out) ? POLLIN | POLLOUT : POLLIN,
			 end);
		if (r)
			return r;
	}
}

int client_call(struct client *c, uint8_t opcode, const char *json,
		struct json_object **answer, int timeout_ms)
{
	struct frame f = FRAME_NULL;
	struct json_object *o = NULL;
	int r;

	if (answer)
		*answer = NULL;
	r = client_queue(c, FRAME_TYPE_COMMAND, opcode, json, json ? strlen(json) : 0);
	if (!r)
		r = client_flush(c, timeout_ms);
	if (!r)
		r = client_recv(c, &f, timeout_ms);
	if (r)
		return r;
	if (f.type != FRAME_TYPE_RESPONSE || f.opcode != opcode) {
		fprintf(stderr, "%s: expected the response, got %s %s\n",
			frame_opcode_name(FRAME_TYPE_COMMAND, opcode),
			frame_type_name(f.type), frame_opcode_name(f.type, f.opcode));
		frame_deinit(&f);
		return -EPROTO;
	}
	if (f.flags & FRAME_FLAG_ERROR) {
		fprintf(stderr, "%s: error response %s\n",
			frame_opcode_name(FRAME_TYPE_COMMAND, opcode),
			f.payload ? (char *)f.payload : "(empty)");
		frame_deinit(&f);
		return -EREMOTEIO;
	}
	if (f.payload_len && answer) {
		o = json_tokener_parse((char *)f.payload);
		if (!o) {
			fprintf(stderr, "response is not JSON: %s\n", f.payload);
			frame_deinit(&f);
			return -EPROTO;
		}
		*answer = o;
	}
	frame_deinit(&f);
	return 0;
}

int client_register(struct client *c, const char *id, const char *ctl,
		    const char *io, unsigned n, char **tokens, int timeout_ms)
{
	struct json_object *req = json_object_new_object(), *ans = NULL, *v, *t;
	int r;

	json_object_object_add(req, "containerId", json_object_new_string(id));
	json_object_object_add(req, "ctlSerial", json_object_new_string(ctl));
	json_object_object_add(req, "ioSerial", json_object_new_string(io));
	json_object_object_add(req, "numIOStreams", json_object_new_int((int)n));
	r = client_call(c, FRAME_CMD_REGISTER_VM,
			json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
			&ans, timeout_ms);
	json_object_put(req);
	if (r)
		return r;
	if (!json_object_object_get_ex(ans, "io", &v) ||
	    !json_object_object_get_ex(v, "tokens", &t) ||
	    !json_object_is_type(t, json_type_array) ||
	    json_object_array_length(t) != n) {
		fprintf(stderr, "RegisterVM: unexpected answer %s\n",
			json_object_to_json_string(ans));
		json_object_put(ans);
		return -EPROTO;
	}
	for (unsigned i = 0; i < n; i++)
		tokens[i] = strdup(json_object_get_string(json_object_array_get_idx(t, i)));
	json_object_put(ans);
	return 0;
}

int client_hyper(struct client *c, const char *name, const char *data,
		 const char *token, int timeout_ms)
{
	char *req = NULL;
	int r;

	/* @name and @token need no escaping (command names, base64url). */
	if (asprintf(&req, "{\"hyperName\":\"%s\",\"tokens\":[%s%s%s],\"data\":%s}",
		     name, token ? "\"" : "", token ? token : "", token ? "\"" : "",
		     data ? data : "{}") < 0)
		return -ENOMEM;
	r = client_call(c, FRAME_CMD_HYPER, req, NULL, timeout_ms);
	free(req);
	return r;
}

int client_connect_shim(struct client *c, const char *token, int timeout_ms)
{
	char req[128];

	snprintf(req, sizeof(req), "{\"token\":\"%s\"}", token);
	return client_call(c, FRAME_CMD_CONNECT_SHIM, req, NULL, timeout_ms);
}
