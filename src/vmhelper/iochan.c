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
 * The data path (issue 10). One read(2) takes up to IOCHAN_BUF_SIZE into
 * a flat buffer allocated once, and the messages are parsed where they
 * lie. An io message header (u64 seq, u32 length) has the size of a
 * client frame header, so a stdout/stderr message for a connected shim
 * becomes its frame by rewriting those 12 bytes in place; consecutive
 * messages for the same shim are then one contiguous run, written to the
 * shim with one write(2) straight from the read buffer (shim_send()).
 * Only what the shim does not take at once is copied, into its output
 * buffer. Nothing is allocated per message, and the channel's epoll
 * interest changes only when a stall starts or ends. Before, with a
 * bufferevent, each 10 KiB message cost a FIONREAD, a readv, a copy into
 * a frame, a malloc'd chain, and a watermark-driven epoll_ctl pair.
 *
 * Flow control: the channel is read only while no session is congested
 * (session.c). Messages already buffered wait too: the loop checks before
 * each one, so a stall takes effect at the next message boundary and no
 * accepted message is dropped. The buffer bounds what is read ahead; a
 * run's frames count toward their shim's output only when the run is
 * sent, so a shim's output may pass HELPER_SHIM_OUT_HIGH by at most one
 * buffer before the channel stalls.
 *
 * Proxy -> agent: stdin. A stdin frame arriving while its session has
 * nothing queued and the channel has nothing unsent is cut into io
 * messages and written with one writev(2) from the shim's input buffer
 * (iochan_send_stdin()); what the socket does not take waits, the rest
 * of a cut message here in @out, whole messages in the session's queue.
 * Otherwise stdin queued on the sessions as whole io messages is moved to
 * @out by iochan_pump(), round robin, while @out is below
 * HELPER_IO_OUT_HIGH, and written at once; EV_WRITE is watched only
 * while something is left, and pumping resumes below HELPER_IO_OUT_LOW.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "cleanup.h"
#include "frame.h"
#include "helper.h"
#include "hyper.h"
#include "iochan.h"
#include "log.h"
#include "session.h"
#include "shim.h"

/* The read buffer: one read takes what is free of it. Well above one
 * whole message, so that a read is large even with the tail of a
 * partial message kept at its start. Its pages are touched only as far
 * as reads reach: an idle VM's helper keeps few of them resident. */
#define IOCHAN_BUF_SIZE		(256u * 1024u)
_Static_assert(IOCHAN_BUF_SIZE >= 4 * HYPER_IO_RECV_MAX, "reads must take many messages");
_Static_assert(HYPER_IO_HEADER_SIZE == FRAME_HEADER_SIZE,
	       "a frame header is written over an io message header");
/* One write(2) toward the agent takes up to this much (queued stdin). */
#define IOCHAN_WRITE_MAX	(256u * 1024u)
/* iovecs of one direct stdin writev: headers plus data extents. */
#define IOCHAN_STDIN_IOV	256
/* At most this much stdin data goes out by iochan_send_stdin() in one
 * writev; a bigger frame takes the queue. */
#define IOCHAN_STDIN_DIRECT_MAX	(256u * 1024u)

/* The null session's sequence numbers. */
#define IOCHAN_NULL_STDOUT	1
#define IOCHAN_NULL_STDERR	2

struct iochan {
	struct helper *h;
	int fd;
	struct event *read_ev;		/* persistent; added while reading */
	struct event *write_ev;		/* persistent; added while @out holds bytes */
	struct evbuffer *out;		/* stdin toward the agent, unsent */
	uint8_t *buf;			/* IOCHAN_BUF_SIZE bytes */
	size_t start, end;		/* unprocessed input: buf[start, end) */
	/* Frames built in place for one shim, not sent yet. */
	struct session *run_s;
	uint8_t *run_p;
	size_t run_len;
	struct event *resume_ev;	/* deferred iochan_resume() */
	bool reading;			/* read_ev is added */
	bool stalled;			/* reading stopped for congestion */
	bool eof;			/* the agent closed; finish the input first */
	struct event *eof_timer;	/* ... but not forever */
};

static void iochan_set_reading(struct iochan *io, bool on)
{
	if (on == io->reading)
		return;
	io->reading = on;
	if (on)
		event_add(io->read_ev, NULL);
	else
		event_del(io->read_ev);
}

/* Send the run of frames collected for one shim. */
static void iochan_flush_run(struct iochan *io)
{
	struct session *s = io->run_s;

	if (!io->run_len)
		return;
	io->run_s = NULL;
	session_send_frames(s, io->run_p, io->run_len);
	io->run_len = 0;
}

/* One message for the session @s owning @seq, the slow way (copied). */
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

/* The whole message at @msg (@len data bytes). */
static void iochan_deliver(struct iochan *io, uint64_t seq, uint8_t *msg,
			   size_t len)
{
	uint8_t *data = msg + HYPER_IO_HEADER_SIZE;
	struct session *s;
	bool is_stderr = false;

	if (seq == IOCHAN_NULL_STDOUT || seq == IOCHAN_NULL_STDERR) {
		io->h->stats.bytes_null += len;
		helper_hexdump(0, "agent->null session (discarded)", data, len);
		return;
	}
	s = session_find_seq(io->h, seq, &is_stderr);
	if (s && len && (is_stderr || !s->output_done) &&
	    session_output_inplace(s, is_stderr ? FRAME_STREAM_STDERR : FRAME_STREAM_STDOUT,
				   msg, len)) {
		/* The frame is at @msg now: extend the run, or start one. */
		if (io->run_len && (io->run_s != s || io->run_p + io->run_len != msg))
			iochan_flush_run(io);
		if (!io->run_len) {
			io->run_s = s;
			io->run_p = msg;
		}
		io->run_len += HYPER_IO_HEADER_SIZE + len;
		return;
	}
	/* Anything else keeps the order of what this shim was sent. */
	iochan_flush_run(io);
	if (io->h->exiting)
		return;
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

/* Stop reading while a shim cannot keep up. */
static void iochan_stall(struct iochan *io)
{
	if (!io->stalled)
		helper_log(LOG_INFO, 1, 0, "io channel paused: a shim is slow");
	io->stalled = true;
	iochan_set_reading(io, false);
	if (io->eof && !evtimer_pending(io->eof_timer, NULL))
		evtimer_add(io->eof_timer, &io->h->wait_timeout);
}

/* Take whole messages off the buffer while no session is congested. */
static void iochan_process(struct iochan *io)
{
	const char *why = NULL;
	char reason[128];
	uint64_t seq;
	size_t len;
	int r;

	while (!io->h->exiting) {
		if (io->h->n_congested) {
			/* A shim cannot keep up: stall this VM's output. */
			iochan_flush_run(io);
			iochan_stall(io);
			return;
		}
		r = hyper_io_parse(io->buf + io->start, io->end - io->start,
				   HYPER_IO_RECV_MAX, &seq, &len, &why);
		if (r == HYPER_E_INCOMPLETE)
			break;
		if (r != 0) {
			iochan_flush_run(io);
			snprintf(reason, sizeof(reason), "agent io channel: %s",
				 why ? why : "invalid message");
			if (!io->h->exiting)
				helper_vm_lost(io->h, reason);
			return;
		}
		iochan_deliver(io, seq, io->buf + io->start, len);
		io->start += HYPER_IO_HEADER_SIZE + len;
	}
	iochan_flush_run(io);
	if (io->h->exiting)
		return;
	/* Keep the partial message at the start: the next read is large. */
	if (io->start) {
		memmove(io->buf, io->buf + io->start, io->end - io->start);
		io->end -= io->start;
		io->start = 0;
	}
	if (io->h->n_congested) {
		iochan_stall(io);	/* the last run made its shim congested */
		return;
	}
	if (io->eof) {
		/* Everything the VM sent before closing has been delivered. */
		helper_vm_lost(io->h, "agent io channel closed");
		return;
	}
	if (io->stalled) {
		io->stalled = false;
		helper_log(LOG_INFO, 1, 0, "io channel resumed");
	}
	iochan_set_reading(io, true);
}

static void iochan_on_read(evutil_socket_t fd, short what, void *ctx)
{
	struct iochan *io = ctx;
	char reason[128];
	ssize_t n;

	if (io->h->exiting || io->stalled)
		return;
	if (io->h->n_congested) {
		iochan_stall(io);
		return;
	}
	n = read(io->fd, io->buf + io->end, IOCHAN_BUF_SIZE - io->end);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		snprintf(reason, sizeof(reason), "agent io channel failed: %s",
			 strerror(errno));
		helper_vm_lost(io->h, reason);
		return;
	}
	if (n == 0) {
		/* Output still buffered goes out first; iochan_process()
		 * reports the loss once it is through. */
		io->eof = true;
		iochan_set_reading(io, false);
	}
	io->end += (size_t)n;
	iochan_process(io);
}

/* Write what @out holds; watch EV_WRITE only while some is left. */
static void iochan_write(struct iochan *io)
{
	char reason[128];
	int n;

	if (evbuffer_get_length(io->out)) {
		n = evbuffer_write_atmost(io->out, io->fd, IOCHAN_WRITE_MAX);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(reason, sizeof(reason), "agent io channel failed: %s",
				 strerror(errno));
			helper_vm_lost(io->h, reason);
			return;
		}
	}
	if (evbuffer_get_length(io->out))
		event_add(io->write_ev, NULL);	/* no-op when added already */
	else
		event_del(io->write_ev);
}

static void iochan_on_write(evutil_socket_t fd, short what, void *ctx)
{
	struct iochan *io = ctx;

	if (io->h->exiting)
		return;
	iochan_write(io);
	/* Below the low mark: room for more stdin. */
	if (!io->h->exiting && evbuffer_get_length(io->out) < HELPER_IO_OUT_LOW)
		iochan_pump(io);
}

static void iochan_on_eof_timeout(evutil_socket_t fd, short what, void *ctx)
{
	struct iochan *io = ctx;
	char reason[128];

	/* A shim that never drains must not keep a dead VM's helper alive. */
	snprintf(reason, sizeof(reason),
		 "agent io channel closed; %zu bytes of output could not be delivered",
		 io->end - io->start);
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
	struct session *s;
	bool moved = true;

	if (!io || io->h->exiting)
		return;
	for (;;) {
		bool any = false;

		while (moved && evbuffer_get_length(io->out) < HELPER_IO_OUT_HIGH) {
			moved = false;
			TAILQ_FOREACH(s, &io->h->sessions, link) {
				if (!s->started)
					continue;	/* stdin waits for the process */
				if (session_stdin_take(s, io->out))
					moved = any = true;
				if (evbuffer_get_length(io->out) >= HELPER_IO_OUT_HIGH)
					break;
			}
		}
		/* Waiting for room: the write event pumps again. */
		if (event_pending(io->write_ev, EV_WRITE, NULL))
			return;
		/* A direct write first; EV_WRITE only for what is left. When
		 * the socket took all of it, nothing would call us again:
		 * move more while there is any. */
		iochan_write(io);
		if (!any || io->h->exiting || event_pending(io->write_ev, EV_WRITE, NULL))
			return;
		moved = true;
	}
}

bool iochan_idle(const struct iochan *io)
{
	return io && !io->h->exiting && evbuffer_get_length(io->out) == 0;
}

bool iochan_send_stdin(struct iochan *io, uint64_t seq, struct evbuffer *src,
		       size_t len, size_t *taken)
{
	uint8_t hdr[IOCHAN_STDIN_IOV / 2][HYPER_IO_HEADER_SIZE];
	struct evbuffer_iovec ext[IOCHAN_STDIN_IOV / 2];
	struct iovec iov[IOCHAN_STDIN_IOV];
	size_t chunks = len ? (len - 1) / HYPER_IO_SEND_DATA_MAX + 1 : 1;
	size_t c, e = 0, eoff = 0, niov = 0, sent = 0, part_hdr = 0, part_data = 0;
	char reason[128];
	ssize_t w;
	int next;

	*taken = 0;
	if (!iochan_idle(io) || len > IOCHAN_STDIN_DIRECT_MAX ||
	    chunks > ARRAY_SIZE(hdr))
		return false;
	next = len ? evbuffer_peek(src, (ev_ssize_t)len, NULL, ext, (int)ARRAY_SIZE(ext)) : 0;
	if (next < 0 || (size_t)next > ARRAY_SIZE(ext))
		return false;	/* too scattered: the queue takes it */
	/* Header, then the data extents of each message, in order. */
	for (c = 0; c < chunks; c++) {
		size_t n = len - c * HYPER_IO_SEND_DATA_MAX;

		if (n > HYPER_IO_SEND_DATA_MAX)
			n = HYPER_IO_SEND_DATA_MAX;
		hyper_io_header(hdr[c], seq, n);
		if (niov == ARRAY_SIZE(iov))
			return false;
		iov[niov++] = (struct iovec){ hdr[c], HYPER_IO_HEADER_SIZE };
		while (n) {
			size_t part = ext[e].iov_len - eoff;

			if (part > n)
				part = n;
			if (niov == ARRAY_SIZE(iov))
				return false;
			iov[niov++] = (struct iovec){ (uint8_t *)ext[e].iov_base + eoff, part };
			n -= part;
			eoff += part;
			if (eoff == ext[e].iov_len) {
				e++;
				eoff = 0;
			}
		}
	}
	_Static_assert(IOCHAN_STDIN_IOV <= IOV_MAX, "one writev");
	w = writev(io->fd, iov, (int)niov);
	if (w < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return false;
		snprintf(reason, sizeof(reason), "agent io channel failed: %s",
			 strerror(errno));
		helper_vm_lost(io->h, reason);
		return false;
	}
	if (w == 0)
		return false;
	/* Walk what was written: whole messages, then maybe part of one. */
	for (c = 0; c < chunks && w > 0; c++) {
		size_t n = len - c * HYPER_IO_SEND_DATA_MAX;

		if (n > HYPER_IO_SEND_DATA_MAX)
			n = HYPER_IO_SEND_DATA_MAX;
		if ((size_t)w >= HYPER_IO_HEADER_SIZE + n) {
			w -= (ssize_t)(HYPER_IO_HEADER_SIZE + n);
			sent += n;
			continue;
		}
		/* Cut inside this message: its rest goes next, from @out. */
		if ((size_t)w < HYPER_IO_HEADER_SIZE) {
			part_hdr = HYPER_IO_HEADER_SIZE - (size_t)w;
			part_data = n;
		} else {
			part_data = n - ((size_t)w - HYPER_IO_HEADER_SIZE);
			sent += (size_t)w - HYPER_IO_HEADER_SIZE;
		}
		break;
	}
	io->h->stats.bytes_from_shims += sent + part_data;
	evbuffer_drain(src, sent);
	*taken = sent + part_data;
	if (part_hdr || part_data) {
		int r = evbuffer_add(io->out, hdr[c] + HYPER_IO_HEADER_SIZE - part_hdr,
				     part_hdr);

		if (r == 0 && part_data &&
		    evbuffer_remove_buffer(src, io->out, part_data) != (int)part_data)
			r = -1;
		if (r < 0) {
			helper_log(LOG_ERR, 0, 0, "out of memory queueing stdin");
			helper_exit(io->h, EXIT_FAILURE, false);
			return true;
		}
		event_add(io->write_ev, NULL);
	}
	return true;
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
	io->fd = fd;
	io->buf = malloc(IOCHAN_BUF_SIZE);
	io->out = evbuffer_new();
	io->read_ev = event_new(h->base, fd, EV_READ | EV_PERSIST, iochan_on_read, io);
	io->write_ev = event_new(h->base, fd, EV_WRITE | EV_PERSIST, iochan_on_write, io);
	io->resume_ev = event_new(h->base, -1, 0, iochan_on_resume, io);
	io->eof_timer = evtimer_new(h->base, iochan_on_eof_timeout, io);
	if (!io->buf || !io->out || !io->read_ev || !io->write_ev ||
	    !io->resume_ev || !io->eof_timer) {
		iochan_free(io);
		return -ENOMEM;
	}
	*out = io;
	return 0;
}

void iochan_start(struct iochan *io)
{
	iochan_set_reading(io, true);
}

struct iochan *iochan_free(struct iochan *io)
{
	if (!io)
		return NULL;
	if (io->read_ev)
		event_free(io->read_ev);
	if (io->write_ev)
		event_free(io->write_ev);
	if (io->resume_ev)
		event_free(io->resume_ev);
	if (io->eof_timer)
		event_free(io->eof_timer);
	if (io->out)
		evbuffer_free(io->out);
	free(io->buf);
	close(io->fd);
	free(io);
	return NULL;
}
