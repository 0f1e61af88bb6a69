/*
 * rawshim.c - a minimal shim for the security tests: connect to the
 * proxy, ConnectShim with a token, send one log stream frame, and report
 * how the connection ends. The test-hooks helper build reacts to the log
 * message "cc-proxy-test: forbidden syscall" by making a forbidden
 * syscall, so this is how a test makes a live helper violate its filter.
 *
 *   rawshim SOCKET TOKEN MESSAGE
 * Exit: 0 when the proxy accepted the shim and then closed the connection
 * (within 10 s), 1 otherwise (with a reason on stderr).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "cleanup.h"
#include "frame.h"

static int die(const char *what)
{
	fprintf(stderr, "rawshim: %s\n", what);
	return 1;
}

/* Read until one frame is decoded or @timeout_ms passes. 0: frame; 1: EOF. */
static int read_frame(int fd, struct evbuffer *in, struct frame *f, int timeout_ms)
{
	const char *why = NULL;

	for (;;) {
		int r = frame_decode(in, FRAME_PAYLOAD_MAX, f, &why);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (r == 0)
			return 0;
		if (r != FRAME_E_INCOMPLETE)
			return -EPROTO;
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		r = evbuffer_read(in, fd, 65536);
		if (r == 0)
			return 1;
		if (r < 0)
			return -errno;
	}
}

static int write_all(int fd, struct evbuffer *out)
{
	while (evbuffer_get_length(out) > 0)
		if (evbuffer_write(out, fd) < 0)
			return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_evbuffer_ struct evbuffer *in = evbuffer_new();
	_cleanup_evbuffer_ struct evbuffer *out = evbuffer_new();
	_cleanup_json_ struct json_object *hello = json_object_new_object();
	_cleanup_json_ struct json_object *log = json_object_new_object();
	_cleanup_close_ int fd = -1;
	struct frame f = FRAME_NULL;
	const char *text;
	int r;

	if (argc != 4 || strlen(argv[1]) >= sizeof(sa.sun_path))
		return die("usage: rawshim SOCKET TOKEN MESSAGE");
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die("cannot connect to the proxy");

	json_object_object_add(hello, "token", json_object_new_string(argv[2]));
	text = json_object_to_json_string(hello);
	frame_encode(out, FRAME_TYPE_COMMAND, 0, FRAME_CMD_CONNECT_SHIM, text, strlen(text));
	if (write_all(fd, out) < 0)
		return die("cannot send ConnectShim");
	r = read_frame(fd, in, &f, 10000);
	if (r != 0 || f.type != FRAME_TYPE_RESPONSE || (f.flags & FRAME_FLAG_ERROR))
		return die("ConnectShim was not accepted");
	frame_deinit(&f);

	json_object_object_add(log, "source", json_object_new_string("shim"));
	json_object_object_add(log, "level", json_object_new_string("info"));
	json_object_object_add(log, "msg", json_object_new_string(argv[3]));
	text = json_object_to_json_string(log);
	frame_encode(out, FRAME_TYPE_STREAM, 0, FRAME_STREAM_LOG, text, strlen(text));
	if (write_all(fd, out) < 0)
		return die("cannot send the log stream");

	/* Whatever the helper sends now, the connection must end. */
	while ((r = read_frame(fd, in, &f, 10000)) == 0)
		frame_deinit(&f);
	if (r != 1)
		return die(r == -ETIMEDOUT ? "the connection stayed open" : "read error");
	return 0;
}
