/*
 * lean.c - direct agent client and in-place stream consumers (lean.h).
 *
 * The consumers read into one LEAN_BUF-byte buffer and walk the headers
 * there: a stdout payload is counted and skipped, never copied; only a
 * header split by the end of a read is moved to the front. The producers
 * write from a buffer of pre-encoded messages, so a stdin byte costs the
 * benchmark one copy into the kernel, in both the direct and the proxied
 * runs.
 */
#define _GNU_SOURCE 1
#include "lean.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>

#include "bytes.h"
#include "frame.h"
#include "hyper.h"
#include "rig.h"

#define LEAN_BUF	(256u * 1024u)
#define FRAME_HDR_MAX	1020u	/* 255 words */

/* Block until @fd has @events (bounded), else rig_fail(). */
static void wait_fd(int fd, short events, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, RIG_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		rig_fail("%s: nothing within %d ms", what, RIG_TIMEOUT_MS);
}

/* read() at least 1 byte (bounded wait); EOF or an error fails. */
static size_t read_some(int fd, uint8_t *p, size_t n, const char *what)
{
	for (;;) {
		ssize_t r = read(fd, p, n);

		if (r > 0)
			return (size_t)r;
		if (r == 0)
			rig_fail("%s: connection closed", what);
		if (errno != EAGAIN && errno != EINTR)
			rig_fail("%s: %m", what);
		wait_fd(fd, POLLIN, what);
	}
}

static void write_all(int fd, const uint8_t *p, size_t n, const char *what)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				rig_fail("%s: %m", what);
			wait_fd(fd, POLLOUT, what);
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		rig_fail("connect %s: %m", path);
	return fd;
}

/* ---- the direct client of a lean agent ------------------------------- */

/* Read ctl messages until one with @code; others (NEXT) are skipped. */
static void ctl_expect(int fd, uint32_t code)
{
	uint8_t buf[256];
	size_t have = 0;

	for (;;) {
		have += read_some(fd, buf + have, sizeof(buf) - have, "agent ctl");
		while (have >= HYPER_CTL_HEADER_SIZE) {
			uint32_t c = bytes_get_be32(buf), len = bytes_get_be32(buf + 4);

			if (len < HYPER_CTL_HEADER_SIZE || len > sizeof(buf))
				rig_fail("agent ctl: bad message length %u", len);
			if (have < len)
				break;
			memmove(buf, buf + len, have - len);
			have -= len;
			if (c == code) {
				if (have)
					rig_fail("agent ctl: unexpected extra bytes");
				return;
			}
		}
	}
}

void direct_open(struct direct *d, const char *ctl, const char *io)
{
	d->ctl = connect_to(ctl);
	d->io = connect_to(io);
	ctl_expect(d->ctl, HYPER_READY);
}

void direct_close(struct direct *d)
{
	close(d->ctl);
	close(d->io);
	d->ctl = d->io = -1;
}

void direct_send_ping(struct direct *d)
{
	uint8_t m[HYPER_CTL_HEADER_SIZE];

	bytes_put_be32(m, HYPER_PING);
	bytes_put_be32(m + 4, sizeof(m));
	write_all(d->ctl, m, sizeof(m), "agent ctl");
}

void direct_ping(struct direct *d)
{
	direct_send_ping(d);
	ctl_expect(d->ctl, HYPER_ACK);
}

unsigned direct_read_acks(struct direct *d)
{
	/* NEXT (12 bytes) and ACK (8) come together; keep partial ones. */
	static __thread uint8_t buf[4096];
	static __thread size_t have;
	unsigned acks = 0;
	ssize_t r = read(d->ctl, buf + have, sizeof(buf) - have);

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		rig_fail("agent ctl: %s", r ? strerror(errno) : "closed");
	}
	have += (size_t)r;
	while (have >= HYPER_CTL_HEADER_SIZE) {
		uint32_t c = bytes_get_be32(buf), len = bytes_get_be32(buf + 4);

		if (len < HYPER_CTL_HEADER_SIZE || len > 64)
			rig_fail("agent ctl: bad message length %u", len);
		if (have < len)
			break;
		acks += c == HYPER_ACK;
		memmove(buf, buf + len, have - len);
		have -= len;
	}
	return acks;
}

void direct_exec(struct direct *d, uint64_t seq, const char *args_json)
{
	char json[256];
	uint8_t m[HYPER_CTL_HEADER_SIZE + sizeof(json)];
	int n = snprintf(json, sizeof(json),
			 "{\"container\":\"c\",\"process\":{\"id\":\"p\",\"stdio\":%llu,"
			 "\"stderr\":%llu,\"args\":%s}}", (unsigned long long)seq,
			 (unsigned long long)seq + 1, args_json);

	bytes_put_be32(m, HYPER_EXECCMD);
	bytes_put_be32(m + 4, (uint32_t)(HYPER_CTL_HEADER_SIZE + n));
	memcpy(m + HYPER_CTL_HEADER_SIZE, json, (size_t)n);
	write_all(d->ctl, m, HYPER_CTL_HEADER_SIZE + (size_t)n, "agent ctl");
	ctl_expect(d->ctl, HYPER_ACK);
}

/*
 * Take what @buf holds of a payload that still has *@skip bytes to come:
 * counted in *@total, kept in @text (up to @tsz - 1 bytes) when @text.
 * Return: true when the buffer ran out before the payload's end.
 */
static bool take_payload(const uint8_t *buf, size_t have, size_t *pos,
			 uint64_t *skip, char *text, size_t tsz, size_t *used,
			 uint64_t *total)
{
	size_t k = have - *pos < *skip ? have - *pos : (size_t)*skip;

	if (text && *used + k < tsz) {
		memcpy(text + *used, buf + *pos, k);
		*used += k;
	}
	*pos += k;
	*skip -= k;
	*total += k;
	return *skip != 0;
}

/*
 * Walk io messages from @fd: data on @seq is counted (and, while @text is
 * not NULL, kept in it up to @tsz - 1 bytes); stops after the status byte
 * that follows the end of output.
 */
static uint64_t io_consume(int fd, uint64_t seq, char *text, size_t tsz)
{
	uint8_t *buf = malloc(LEAN_BUF);
	size_t have = 0, pos, used = 0;
	uint64_t skip = 0, total = 0;
	bool ended = false;

	if (!buf)
		rig_fail("out of memory");
	for (;;) {
		have += read_some(fd, buf + have, LEAN_BUF - have, "agent io");
		pos = 0;
		for (;;) {
			if (skip) {
				if (take_payload(buf, have, &pos, &skip, text,
						 tsz, &used, &total))
					break;
				continue;
			}
			if (have - pos < HYPER_IO_HEADER_SIZE)
				break;
			uint64_t s = bytes_get_be64(buf + pos);
			uint32_t len = bytes_get_be32(buf + pos + 8);

			if (s != seq || len < HYPER_IO_HEADER_SIZE || len > HYPER_IO_RECV_MAX)
				rig_fail("agent io: unexpected message seq %llu len %u",
					 (unsigned long long)s, len);
			pos += HYPER_IO_HEADER_SIZE;
			if (ended) {	/* the status byte */
				free(buf);
				if (text)
					text[used] = '\0';
				return total;
			}
			if (len == HYPER_IO_HEADER_SIZE)
				ended = true;
			skip = len - HYPER_IO_HEADER_SIZE;
		}
		memmove(buf, buf + pos, have - pos);
		have -= pos;
	}
}

uint64_t direct_read_stdout(struct direct *d, uint64_t seq)
{
	return io_consume(d->io, seq, NULL, 0);
}

/* Build @n bytes of messages of @msg bytes each, with header @hdr_fn. */
uint64_t direct_write_stdin(struct direct *d, uint64_t seq, uint64_t bytes)
{
	const size_t data = LEAN_STDIN_MSG - HYPER_IO_HEADER_SIZE;
	const size_t per = LEAN_BUF / LEAN_STDIN_MSG;
	uint8_t *buf = calloc(per, LEAN_STDIN_MSG), end[HYPER_IO_HEADER_SIZE];
	char text[64];

	if (!buf)
		rig_fail("out of memory");
	for (size_t i = 0; i < per; i++) {
		bytes_put_be64(buf + i * LEAN_STDIN_MSG, seq);
		bytes_put_be32(buf + i * LEAN_STDIN_MSG + 8, LEAN_STDIN_MSG);
	}
	while (bytes) {
		uint64_t k = bytes / data;

		if (k > per)
			k = per;
		if (!k) {	/* the last, shorter message */
			bytes_put_be32(buf + 8, (uint32_t)(HYPER_IO_HEADER_SIZE + bytes));
			write_all(d->io, buf, HYPER_IO_HEADER_SIZE + (size_t)bytes,
				  "agent io");
			break;
		}
		write_all(d->io, buf, (size_t)k * LEAN_STDIN_MSG, "agent io");
		bytes -= k * data;
	}
	free(buf);
	bytes_put_be64(end, seq);
	bytes_put_be32(end + 8, HYPER_IO_HEADER_SIZE);
	write_all(d->io, end, sizeof(end), "agent io");
	io_consume(d->io, seq, text, sizeof(text));
	return strtoull(text, NULL, 10);
}

/* ---- the shim side, through the proxy -------------------------------- */

/*
 * Walk frames from @c's socket (after what c->in already holds): stdout
 * is counted (and kept in @text up to @tsz - 1 bytes when @text), until
 * ProcessExited.
 */
static uint64_t frames_consume(struct client *c, char *text, size_t tsz)
{
	uint8_t *buf = malloc(LEAN_BUF);
	size_t have, pos, used = 0;
	uint64_t skip = 0, total = 0;

	if (!buf)
		rig_fail("out of memory");
	/* Whatever client_call() read past its answer comes first. */
	have = evbuffer_remove(c->in, buf, LEAN_BUF);
	for (bool first = true;; first = false) {
		if (!first || !have)
			have += read_some(c->fd, buf + have, LEAN_BUF - have, "shim");
		pos = 0;
		for (;;) {
			if (skip) {
				if (take_payload(buf, have, &pos, &skip, text,
						 tsz, &used, &total))
					break;
				continue;
			}
			if (have - pos < FRAME_HEADER_SIZE)
				break;
			const uint8_t *h = buf + pos;
			size_t hl = (size_t)h[2] * 4;
			uint32_t len = bytes_get_be32(h + 8);
			uint8_t type = h[6] & 0x0f, op = h[7];

			if (bytes_get_be16(h) != FRAME_VERSION || hl < FRAME_HEADER_SIZE)
				rig_fail("shim: bad frame header");
			if (have - pos < hl)
				break;
			if (type == FRAME_TYPE_STREAM && op == FRAME_STREAM_STDOUT) {
				pos += hl;
				skip = len;
				continue;
			}
			if (type == FRAME_TYPE_NOTIFICATION &&
			    op == FRAME_NOTIFY_PROCESS_EXITED && len == 1) {
				if (have - pos < hl + 1)
					break;
				free(buf);
				if (text)
					text[used] = '\0';
				return total;
			}
			rig_fail("shim: unexpected frame type %u opcode %u", type, op);
		}
		memmove(buf, buf + pos, have - pos);
		have -= pos;
	}
}

uint64_t shim_read_stdout(struct client *c)
{
	return frames_consume(c, NULL, 0);
}

uint64_t shim_write_stdin(struct client *c, uint64_t bytes)
{
	const size_t per = LEAN_BUF / (FRAME_HEADER_SIZE + LEAN_STDIN_FRAME) + 1;
	struct evbuffer *enc = evbuffer_new();
	uint8_t *buf, *zero = calloc(1, LEAN_STDIN_FRAME);
	size_t full;
	char text[64];

	if (!enc || !zero)
		rig_fail("out of memory");
	for (size_t i = 0; i < per; i++)
		if (frame_encode(enc, FRAME_TYPE_STREAM, 0, FRAME_STREAM_STDIN, zero,
				 LEAN_STDIN_FRAME))
			rig_fail("out of memory");
	full = evbuffer_get_length(enc);
	buf = malloc(full);
	if (!buf)
		rig_fail("out of memory");
	evbuffer_remove(enc, buf, full);
	while (bytes) {
		uint64_t k = bytes / LEAN_STDIN_FRAME;

		if (k > per)
			k = per;
		if (!k) {
			if (frame_encode(enc, FRAME_TYPE_STREAM, 0, FRAME_STREAM_STDIN,
					 zero, (size_t)bytes) ||
			    evbuffer_write(enc, c->fd) < 0)
				rig_fail("shim: stdin: %m");
			break;
		}
		write_all(c->fd, buf, (size_t)k * (FRAME_HEADER_SIZE + LEAN_STDIN_FRAME),
			  "shim");
		bytes -= k * LEAN_STDIN_FRAME;
	}
	/* Then the empty frame: end of stdin. */
	if (frame_encode(enc, FRAME_TYPE_STREAM, 0, FRAME_STREAM_STDIN, NULL, 0))
		rig_fail("out of memory");
	while (evbuffer_get_length(enc)) {
		if (evbuffer_write(enc, c->fd) < 0 && errno != EAGAIN)
			rig_fail("shim: stdin: %m");
		if (evbuffer_get_length(enc))
			wait_fd(c->fd, POLLOUT, "shim");
	}
	evbuffer_free(enc);
	free(buf);
	free(zero);
	frames_consume(c, text, sizeof(text));
	return strtoull(text, NULL, 10);
}
