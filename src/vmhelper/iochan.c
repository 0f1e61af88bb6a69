/*
 * iochan.c - the agent's io channel (fd 5).
 *
 * Agent -> proxy: messages of at most HYPER_IO_RECV_MAX bytes, routed by
 * sequence number:
 *   1, 2                 the null session: discarded
 *   ioBase               stdout (all output with a terminal); an empty
 *                        message ends the output; after that, a 1-byte
 *                        message is the exit status (legacy dialect)
 *   ioBase + 1           stderr
 *   anything else        logged and dropped; the agent's empty echo of
 *                        stdin sent on an unknown seq is ignored
 * End of file (once the messages before it are delivered) or a broken
 * length field: the VM is lost.
 *
 * Flow control: the channel is read only while no session is congested
 * (session.c). Messages already buffered wait too: the loop checks before
 * each one, so a stall takes effect at the next message boundary and no
 * accepted message is dropped. The input buffer's high watermark bounds
 * what is read ahead.
 *
 * Proxy -> agent: stdin queued on the sessions as whole io messages is
 * moved here by iochan_pump(), round robin, while the output buffer is
 * below HELPER_IO_OUT_HIGH; the write callback pumps again below
 * HELPER_IO_OUT_LOW.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "frame.h"
#include "helper.h"
#include "hyper.h"
#include "iochan.h"
#include "log.h"
#include "session.h"

/* One read(2) takes up to this much: with libevent's default (16 KiB,
 * or what FIONREAD says) a full-speed stream cost two reads, two FIONREAD
 * and two epoll round trips per write toward the shim (issue 10). */
#define IOCHAN_READ_MAX	(64u * 1024u)
/* Read ahead at most this much; one whole message must fit. Above one
 * read plus the partial message processing leaves behind, so that a
 * read never reaches it while nothing is congested: reaching the read
 * watermark makes libevent drop and re-add the socket's epoll interest
 * (two epoll_ctl) around every callback. */
#define IOCHAN_IN_HIGH	(IOCHAN_READ_MAX + 2 * HYPER_IO_RECV_MAX)
_Static_assert(IOCHAN_IN_HIGH >= HYPER_IO_RECV_MAX, "a whole io message must fit");
/* One write(2) toward the agent takes up to this much (stdin). */
#define IOCHAN_WRITE_MAX	(64u * 1024u)

/* The null session's sequence numbers. */
#define IOCHAN_NULL_STDOUT	1
#define IOCHAN_NULL_STDERR	2

struct iochan {
	struct helper *h;
	struct bufferevent *bev;
	struct event *resume_ev;	/* deferred iochan_resume() */
	bool stalled;			/* reading stopped for congestion */
	bool eof;			/* the agent closed; finish the input first */
	struct event *eof_timer;	/* ... but not forever */
};

/* One message for the session @s owning @seq. */
static void iochan_to_session(struct session *s, bool is_stderr,
			      const uint8_t *data, size_t len)
{
	if (is_stderr) {
		/* Nothing ends stderr: the empty message comes on ioBase. */
		if (len)
			session_output(s, FRAME_STREAM_STDERR, data, len);
		return;
	}
	if (!s->output_done) {
		if (len)
			session_output(s, FRAME_STREAM_STDOUT, data, len);
		else
			session_output_finished(s);
		return;
	}
	/* After the end of the output, ioBase carries only the legacy
	 * dialect's exit status. */
	if (len == 1)
		session_exit_status(s, data[0], "io channel");
	else {
		helper_log_guest(s->h, LOG_WARNING, 0, s->io_base,
				 "%zu bytes on seq %llu after the end of output: dropped",
				 len, (unsigned long long)s->io_base);
		s->h->stats.bytes_orphaned += len;
	}
}

static void iochan_deliver(struct iochan *io, uint64_t seq,
			   const uint8_t *data, size_t len)
{
	struct session *s;
	bool is_stderr = false;

	if (seq == IOCHAN_NULL_STDOUT || seq == IOCHAN_NULL_STDERR) {
		io->h->stats.bytes_null += len;
		helper_hexdump(0, "agent->null session (discarded)", data, len);
		return;
	}
	s = session_find_seq(io->h, seq, &is_stderr);
	if (s) {
		iochan_to_session(s, is_stderr, data, len);
		return;
	}
	if (len == 0)
		return;	/* the agent's answer to stdin on an unknown seq */
	helper_log_guest(io->h, LOG_INFO, 1, 0, "%zu bytes on unknown seq %llu: dropped", len,
		   (unsigned long long)seq);
	io->h->stats.bytes_orphaned += len;
	helper_hexdump(0, "agent->unknown seq (dropped)", data, len);
}

/* Take whole messages off the input while no session is congested. */
static void iochan_process(struct iochan *io)
{
	struct evbuffer *in = bufferevent_get_input(io->bev);
	const char *why = NULL;
	char reason[128];
	uint64_t seq;
	size_t len;
	uint8_t *p;
	int r;

	while (!io->h->exiting) {
		if (io->h->n_congested) {
			/* A shim cannot keep up: stall this VM's output. */
			if (!io->stalled)
				helper_log(LOG_INFO, 1, 0, "io channel paused: a shim is slow");
			io->stalled = true;
			bufferevent_disable(io->bev, EV_READ);
			return;
		}
		r = hyper_io_peek(in, HYPER_IO_RECV_MAX, &seq, &len, &why);
		if (r == HYPER_E_INCOMPLETE)
			break;
		if (r != 0) {
			snprintf(reason, sizeof(reason), "agent io channel: %s",
				 why ? why : "invalid message");
			helper_vm_lost(io->h, reason);
			return;
		}
		/* At most HYPER_IO_RECV_MAX bytes: one small pullup. */
		p = evbuffer_pullup(in, (ssize_t)(HYPER_IO_HEADER_SIZE + len));
		if (!p) {
			helper_log(LOG_ERR, 0, 0, "out of memory reading the io channel");
			helper_exit(io->h, EXIT_FAILURE, false);
			return;
		}
		iochan_deliver(io, seq, p + HYPER_IO_HEADER_SIZE, len);
		evbuffer_drain(in, HYPER_IO_HEADER_SIZE + len);
	}
	if (io->h->exiting)
		return;
	if (io->eof) {
		/* Everything the VM sent before closing has been delivered. */
		helper_vm_lost(io->h, "agent io channel closed");
		return;
	}
	if (io->stalled) {
		io->stalled = false;
		helper_log(LOG_INFO, 1, 0, "io channel resumed");
		bufferevent_enable(io->bev, EV_READ);
	}
}

static void iochan_on_read(struct bufferevent *bev, void *ctx)
{
	iochan_process(ctx);
}

static void iochan_on_write(struct bufferevent *bev, void *ctx)
{
	struct iochan *io = ctx;

	/* Below the low watermark: room for more stdin. */
	if (!io->h->exiting)
		iochan_pump(io);
}

static void iochan_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct iochan *io = ctx;
	char reason[128];

	if (io->h->exiting)
		return;
	if (what & BEV_EVENT_EOF) {
		/* Output still buffered (a stalled channel) goes out first;
		 * iochan_process() reports the loss once it is through. */
		io->eof = true;
		if (!io->stalled)
			iochan_process(io);
		else
			evtimer_add(io->eof_timer, &io->h->wait_timeout);
		return;
	}
	snprintf(reason, sizeof(reason), "agent io channel failed: %s",
		 strerror(EVUTIL_SOCKET_ERROR()));
	helper_vm_lost(io->h, reason);
}

static void iochan_on_eof_timeout(evutil_socket_t fd, short what, void *ctx)
{
	struct iochan *io = ctx;
	char reason[128];

	/* A shim that never drains must not keep a dead VM's helper alive. */
	snprintf(reason, sizeof(reason),
		 "agent io channel closed; %zu bytes of output could not be delivered",
		 evbuffer_get_length(bufferevent_get_input(io->bev)));
	if (!io->h->exiting)
		helper_vm_lost(io->h, reason);
}

static void iochan_on_resume(evutil_socket_t fd, short what, void *ctx)
{
	struct iochan *io = ctx;

	if (io->stalled && !io->h->exiting)
		iochan_process(io);
}

void iochan_resume(struct iochan *io)
{
	if (io && io->stalled)
		event_active(io->resume_ev, EV_TIMEOUT, 0);
}

void iochan_pump(struct iochan *io)
{
	struct evbuffer *out;
	struct session *s;
	bool moved = true;

	if (!io || io->h->exiting)
		return;
	out = bufferevent_get_output(io->bev);
	while (moved && evbuffer_get_length(out) < HELPER_IO_OUT_HIGH) {
		moved = false;
		TAILQ_FOREACH(s, &io->h->sessions, link) {
			if (!s->started)
				continue;	/* stdin waits for the process */
			if (session_stdin_take(s, out))
				moved = true;
			if (evbuffer_get_length(out) >= HELPER_IO_OUT_HIGH)
				break;
		}
	}
}

int iochan_new(struct iochan **out, struct helper *h, int fd)
{
	struct iochan *io;

	io = calloc(1, sizeof(*io));
	if (!io) {
		close(fd);
		return -ENOMEM;
	}
	io->h = h;
	io->resume_ev = event_new(h->base, -1, 0, iochan_on_resume, io);
	io->eof_timer = evtimer_new(h->base, iochan_on_eof_timeout, io);
	io->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!io->bev)
		close(fd);
	if (!io->resume_ev || !io->eof_timer || !io->bev) {
		iochan_free(io);
		return -ENOMEM;
	}
	bufferevent_setcb(io->bev, iochan_on_read, iochan_on_write,
			  iochan_on_event, io);
	bufferevent_setwatermark(io->bev, EV_READ, 0, IOCHAN_IN_HIGH);
	bufferevent_setwatermark(io->bev, EV_WRITE, HELPER_IO_OUT_LOW, 0);
	if (bufferevent_set_max_single_read(io->bev, IOCHAN_READ_MAX) < 0 ||
	    bufferevent_set_max_single_write(io->bev, IOCHAN_WRITE_MAX) < 0) {
		iochan_free(io);
		return -ENOMEM;
	}
	*out = io;
	return 0;
}

void iochan_start(struct iochan *io)
{
	bufferevent_enable(io->bev, EV_READ | EV_WRITE);
}

struct iochan *iochan_free(struct iochan *io)
{
	if (!io)
		return NULL;
	if (io->resume_ev)
		event_free(io->resume_ev);
	if (io->eof_timer)
		event_free(io->eof_timer);
	if (io->bev)
		bufferevent_free(io->bev);
	free(io);
	return NULL;
}
