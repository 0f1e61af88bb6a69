/*
 * conn.c - a cc-proxyctl connection to the proxy: a bufferevent on a
 * connected AF_UNIX stream socket, the frame codec of frame.h, and a FIFO
 * of commands waiting for their response.
 *
 * Invariants:
 * - every command queued by conn_command() gets exactly one call of its
 *   answer callback: the proxy's response, or a local failure (timeout,
 *   connection lost, garbage from the proxy). conn_free() alone drops
 *   pending commands without calling them (the program is ending).
 * - one timer bounds the wait of the oldest pending command; it is
 *   re-armed for the next one when an answer arrives.
 * - once closed, nothing more is delivered and nothing can be sent.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <json-c/json.h>

#include "cleanup.h"
#include "conn.h"
#include "frame.h"

struct pending {
	TAILQ_ENTRY(pending) link;
	uint8_t opcode;
	conn_answer_fn fn;
	void *ctx;
};

struct conn {
	struct bufferevent *bev;	/* NULL once closed */
	struct event *timer;		/* bounds the head command's wait */
	struct timeval timeout;
	bool has_timeout;
	bool verbose;
	bool above_high;		/* output went above CONN_OUTPUT_HIGH */
	char name[16];
	struct conn_ops ops;
	void *ctx;
	TAILQ_HEAD(, pending) pending;
	size_t n_pending;
};

static void conn_trace(const struct conn *c, const char *dir, uint8_t type,
		       uint8_t flags, uint8_t opcode, const void *data,
		       size_t len)
{
	int shown = len > 512 ? 512 : (int)len;
	bool text = type != FRAME_TYPE_STREAM && type != FRAME_TYPE_NOTIFICATION;

	if (!c->verbose)
		return;
	fprintf(stderr, "cc-proxyctl: [%s] %s %s%s %s (%zu bytes)", c->name,
		dir, frame_type_name(type),
		(flags & FRAME_FLAG_ERROR) ? " error" : "",
		frame_opcode_name(type, opcode), len);
	/* JSON payloads are shown (bounded); stream data only by size. */
	if (text && len > 0)
		fprintf(stderr, ": %.*s%s", shown, (const char *)data,
			(size_t)shown < len ? "..." : "");
	fputc('\n', stderr);
}

static void conn_arm_timer(struct conn *c)
{
	if (!c->has_timeout)
		return;
	if (TAILQ_EMPTY(&c->pending))
		evtimer_del(c->timer);
	else
		evtimer_add(c->timer, &c->timeout);
}

/* Pop the head command and hand it @a. */
static void conn_answer_head(struct conn *c, const struct conn_answer *a)
{
	struct pending *p = TAILQ_FIRST(&c->pending);

	if (!p)
		return;
	TAILQ_REMOVE(&c->pending, p, link);
	c->n_pending--;
	conn_arm_timer(c);
	p->fn(c, a, p->ctx);
	free(p);
}

static void conn_fail_all(struct conn *c, const char *why)
{
	struct conn_answer a = {
		.ok = false, .local = true, .text = why, .len = strlen(why),
	};

	while (!TAILQ_EMPTY(&c->pending))
		conn_answer_head(c, &a);
}

/* End the connection: fail what is pending, then tell the owner. */
static void conn_close(struct conn *c, const char *why)
{
	if (!c->bev)
		return;
	/* bufferevent_free() from inside one of its callbacks is allowed:
	 * libevent defers the release until the callback returns. */
	bufferevent_free(c->bev);
	c->bev = NULL;
	evtimer_del(c->timer);
	conn_fail_all(c, why);
	if (c->ops.on_close)
		c->ops.on_close(c, why, c->ctx);
}

/* A response: its error text is the "msg" of {"msg": ...} when there is
 * one, else the payload as it came. */
static void conn_on_response(struct conn *c, const struct frame *f)
{
	struct pending *p = TAILQ_FIRST(&c->pending);
	const char *text = f->payload ? (const char *)f->payload : "";
	_cleanup_json_ struct json_object *o = NULL;
	struct json_object *msg = NULL;
	struct conn_answer a = {
		.ok = !(f->flags & FRAME_FLAG_ERROR),
		.text = text, .len = f->payload_len,
	};

	if (!p || p->opcode != f->opcode) {
		conn_close(c, "the proxy sent a response that answers no command");
		return;
	}
	if (!a.ok && f->payload_len > 0) {
		o = json_tokener_parse(text);
		if (o && json_object_object_get_ex(o, "msg", &msg) &&
		    json_object_is_type(msg, json_type_string)) {
			a.text = json_object_get_string(msg);
			a.len = strlen(a.text);
		}
	}
	if (!a.ok && a.len == 0) {
		a.text = "error response without a reason";
		a.len = strlen(a.text);
	}
	conn_answer_head(c, &a);
}

static void conn_on_frame(struct conn *c, const struct frame *f)
{
	conn_trace(c, "<", f->type, f->flags, f->opcode, f->payload,
		   f->payload_len);
	switch (f->type) {
	case FRAME_TYPE_RESPONSE:
		conn_on_response(c, f);
		break;
	case FRAME_TYPE_STREAM:
		if (c->ops.on_stream)
			c->ops.on_stream(c, f->opcode, f->payload,
					 f->payload_len, c->ctx);
		break;
	case FRAME_TYPE_NOTIFICATION:
		if (c->ops.on_notification)
			c->ops.on_notification(c, f->opcode, f->payload,
					       f->payload_len, c->ctx);
		break;
	default:
		conn_close(c, "the proxy sent a command frame");
		break;
	}
}

static void conn_on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	/* The proxy is trusted to frame correctly, but a broken one must
	 * give a clear message, not a crash: decode with the same checks. */
	while (c->bev) {
		struct frame f = FRAME_NULL;
		const char *why = NULL;
		int r = frame_decode(in, FRAME_PAYLOAD_MAX * 16, &f, &why);

		if (r == FRAME_E_INCOMPLETE)
			return;
		if (r == FRAME_E_INVALID) {
			char msg[160];

			snprintf(msg, sizeof(msg), "invalid frame from the proxy: %s",
				 why ? why : "?");
			conn_close(c, msg);
			return;
		}
		if (r < 0) {
			conn_close(c, "out of memory");
			return;
		}
		conn_on_frame(c, &f);
		frame_deinit(&f);
	}
}

static void conn_on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	/* Called when the output fell to the low watermark. */
	if (c->above_high) {
		c->above_high = false;
		if (c->ops.on_drained)
			c->ops.on_drained(c, c->ctx);
	}
}

static void conn_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char msg[160];

	if (what & BEV_EVENT_EOF) {
		conn_close(c, "connection closed by cc-proxy");
	} else if (what & BEV_EVENT_ERROR) {
		snprintf(msg, sizeof(msg), "connection to cc-proxy failed: %s",
			 strerror(EVUTIL_SOCKET_ERROR()));
		conn_close(c, msg);
	}
}

static void conn_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct pending *p = TAILQ_FIRST(&c->pending);
	char msg[160];
	struct conn_answer a = { .ok = false, .local = true, .text = msg };

	if (!p)
		return;
	snprintf(msg, sizeof(msg), "no answer to %s within %ld.%03ld s",
		 frame_opcode_name(FRAME_TYPE_COMMAND, p->opcode),
		 (long)c->timeout.tv_sec, (long)c->timeout.tv_usec / 1000);
	a.len = strlen(msg);
	conn_answer_head(c, &a);
}

/*
 * A blocking connect, then non-blocking use. AF_UNIX answers at once,
 * unless the listener's backlog is full (a proxy that stopped
 * accepting): SO_SNDTIMEO bounds that wait by @timeout.
 */
static int conn_connect(const char *path, const struct timeval *timeout,
			char **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		r = asprintf(err, "cannot connect to %s: socket path too long", path);
		*err = r < 0 ? NULL : *err;
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (timeout && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeout,
				  sizeof(*timeout)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		bool hint = e == ENOENT || e == ECONNREFUSED;

		if (e == EAGAIN || e == EINPROGRESS)
			r = asprintf(err, "cannot connect to %s: it accepts no "
				     "connection (is cc-proxy stuck?)", path);
		else
			r = asprintf(err, "cannot connect to %s: %s%s", path,
				     strerror(e), hint ? " (is cc-proxy running?)" : "");
		*err = r < 0 ? NULL : *err;
		return -e;
	}
	if (evutil_make_socket_nonblocking(fd) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int conn_open(struct conn **out, struct event_base *base, const char *path,
	      const char *name, const struct timeval *timeout, bool verbose,
	      const struct conn_ops *ops, void *ctx, char **err)
{
	struct conn *c;
	int fd;

	*err = NULL;
	fd = conn_connect(path, timeout, err);
	if (fd < 0) {
		if (!*err && asprintf(err, "cannot connect to %s: %s", path,
				      strerror(-fd)) < 0)
			*err = NULL;
		return fd;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	TAILQ_INIT(&c->pending);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->verbose = verbose;
	if (ops)
		c->ops = *ops;
	c->ctx = ctx;
	if (timeout) {
		c->timeout = *timeout;
		c->has_timeout = true;
	}
	c->timer = evtimer_new(base, conn_on_timeout, c);
	/* Owns fd from here on (BEV_OPT_CLOSE_ON_FREE), even on failure
	 * below: conn_free() releases it. */
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		close(fd);
	if (!c->timer || !c->bev) {
		conn_free(c);
		return -ENOMEM;
	}
	bufferevent_setcb(c->bev, conn_on_read, conn_on_write, conn_on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUTPUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	*out = c;
	return 0;
}

struct conn *conn_free(struct conn *c)
{
	struct pending *p;

	if (!c)
		return NULL;
	while ((p = TAILQ_FIRST(&c->pending))) {
		TAILQ_REMOVE(&c->pending, p, link);
		free(p);
	}
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->timer)
		event_free(c->timer);
	free(c);
	return NULL;
}

static int conn_send(struct conn *c, uint8_t type, uint8_t opcode,
		     const void *data, size_t len)
{
	int r;

	if (!c->bev)
		return -EPIPE;
	conn_trace(c, ">", type, 0, opcode, data, len);
	r = frame_encode(bufferevent_get_output(c->bev), type, 0, opcode,
			 data, len);
	if (r < 0)
		return r;
	if (conn_output_len(c) > CONN_OUTPUT_HIGH)
		c->above_high = true;
	return 0;
}

int conn_command(struct conn *c, uint8_t opcode, const char *json,
		 conn_answer_fn fn, void *ctx)
{
	struct pending *p;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = conn_send(c, FRAME_TYPE_COMMAND, opcode, json,
		      json ? strlen(json) : 0);
	if (r < 0) {
		free(p);
		return r;
	}
	p->opcode = opcode;
	p->fn = fn;
	p->ctx = ctx;
	TAILQ_INSERT_TAIL(&c->pending, p, link);
	if (++c->n_pending == 1)
		conn_arm_timer(c);
	return 0;
}

int conn_stream(struct conn *c, uint8_t opcode, const void *data, size_t len)
{
	return conn_send(c, FRAME_TYPE_STREAM, opcode, data, len);
}

size_t conn_output_len(const struct conn *c)
{
	return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

bool conn_is_open(const struct conn *c)
{
	return c->bev != NULL;
}

size_t conn_pending(const struct conn *c)
{
	return c->n_pending;
}
