/*
 * quota_refuse.c - telling a refused connection why (quota.h,
 * quota_refuse()).
 *
 * The protocol has no frame the proxy sends unasked: a response carries
 * the opcode of the command it answers. So a connection refused at accept
 * time (a connection quota) is kept just long enough to read the first 8
 * bytes of its first frame; when that is a command, it gets an error
 * response to that opcode whose message names the limit, and is closed.
 * Whatever else it sent is never read. This costs little and is bounded:
 * at most QUOTA_REFUSING_MAX such connections at once (beyond that they
 * are closed straight away: the log record still names the limit), each
 * for at most QUOTA_REFUSING_MS, with no buffer beyond 8 bytes.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "frame.h"
#include "quota.h"
#include "log.h"
#include "master.h"

struct quota_refusal {
	LIST_ENTRY(quota_refusal) entry;	/* m->lim.refusals */
	struct master *m;
	int fd;
	struct event *ev;
	uint8_t head[8];	/* version, hlen, reserved, type, opcode */
	size_t got;
	char *why;
};

static void quota_refusal_free(struct quota_refusal *r)
{
	LIST_REMOVE(r, entry);
	r->m->lim.refusing--;
	if (r->ev)
		event_free(r->ev);
	close(r->fd);
	free(r->why);
	free(r);
}

/* The error response, sent once without waiting: the socket is fresh,
 * its buffer empty, so a small frame fits; if not, the peer loses only
 * the explanation (the log has it). */
static void quota_refusal_answer(struct quota_refusal *r)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;

	if (!b)
		return;
	if (frame_encode_error(b, r->head[7], r->why) == 0) {
		n = evbuffer_get_length(b);
		(void)send(r->fd, evbuffer_pullup(b, -1), n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	evbuffer_free(b);
}

static void quota_refusal_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct quota_refusal *r = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		quota_refusal_free(r);
		return;
	}
	n = recv(fd, r->head + r->got, sizeof(r->head) - r->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		quota_refusal_free(r);
		return;
	}
	r->got += (size_t)n;
	if (r->got < sizeof(r->head))
		return;
	if (r->head[6] == FRAME_TYPE_COMMAND)
		quota_refusal_answer(r);
	quota_refusal_free(r);
}

void quota_refuse(struct master *m, int fd, const char *why)
{
	const struct timeval wait = { QUOTA_REFUSING_MS / 1000,
				      (QUOTA_REFUSING_MS % 1000) * 1000 };
	struct quota_refusal *r;

	if (m->lim.refusing >= QUOTA_REFUSING_MAX || !(r = calloc(1, sizeof(*r)))) {
		close(fd);
		return;
	}
	r->m = m;
	r->fd = fd;
	LIST_INSERT_HEAD(&m->lim.refusals, r, entry);
	m->lim.refusing++;
	r->why = strdup(why);
	r->ev = event_new(m->base, fd, EV_READ | EV_PERSIST, quota_refusal_on_read, r);
	if (!r->why || !r->ev || event_add(r->ev, &wait) < 0)
		quota_refusal_free(r);
}

void quota_refuse_free_all(struct master *m)
{
	while (!LIST_EMPTY(&m->lim.refusals))
		quota_refusal_free(LIST_FIRST(&m->lim.refusals));
}
