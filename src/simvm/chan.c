/*
 * chan.c - the simulated VM's sockets: ctl, io and the optional console.
 *
 * Each is an AF_UNIX stream socket the VM listens on, like QEMU's
 * "-chardev socket,server,nowait": one peer at a time. While a peer is
 * connected the listener is not polled, so a second client waits in the
 * backlog; when the peer leaves, accepting resumes. Data written while no
 * peer is connected is lost, as QEMU drops it.
 *
 * Ownership: a chan owns its listening fd, its accept event and the
 * peer's bufferevent (which owns the peer fd). on_close runs after the
 * bufferevent is freed, so callbacks never see a half-closed peer.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "cleanup.h"
#include "log.h"
#include "simvm.h"

static void chan_on_read(struct bufferevent *bev, void *ctx)
{
	struct simvm_chan *c = ctx;

	if (c->on_read)
		c->on_read(c);
}

static void chan_on_write(struct bufferevent *bev, void *ctx)
{
	struct simvm_chan *c = ctx;

	if (c->on_drained)
		c->on_drained(c);
}

static void chan_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct simvm_chan *c = ctx;

	if (what & BEV_EVENT_EOF)
		chan_drop(c, "peer closed");
	else if (what & BEV_EVENT_ERROR)
		chan_drop(c, strerror(EVUTIL_SOCKET_ERROR()));
}

/* Take @fd as the peer. Return: 0, or -ENOMEM (fd closed). */
static int chan_attach(struct simvm_chan *c, int fd)
{
	c->bev = bufferevent_socket_new(c->vm->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		return -ENOMEM;
	}
	bufferevent_setcb(c->bev, chan_on_read, chan_on_write, chan_on_event, c);
	/* The write callback fires once the output has drained to the low
	 * mark: io uses it to resume reading process output. */
	bufferevent_setwatermark(c->bev, EV_WRITE, SIMVM_IO_OUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	event_del(c->accept_ev);
	log_info("%s: peer connected", c->name);
	if (c->on_connect)
		c->on_connect(c);
	return 0;
}

bool chan_try_accept(struct simvm_chan *c)
{
	int fd;

	if (c->bev)
		return true;
	if (c->listen_fd < 0)
		return false;
	fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("%s: accept: %s", c->name, strerror(errno));
		return false;
	}
	return chan_attach(c, fd) == 0 && c->bev;
}

static void chan_on_accept(evutil_socket_t fd, short what, void *ctx)
{
	chan_try_accept(ctx);
}

int chan_listen(struct simvm_chan *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(c->path) >= sizeof(sa.sun_path)) {
		log_error("%s: socket path too long: %s", c->name, c->path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, c->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket from an earlier run would make bind() fail; the
	 * path is ours (given on our command line). */
	if (unlink(c->path) < 0 && errno != ENOENT)
		log_warn("%s: unlink %s: %s", c->name, c->path, strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		int e = errno;

		log_error("%s: cannot listen on %s: %s", c->name, c->path, strerror(e));
		return -e;
	}
	c->accept_ev = event_new(c->vm->base, fd, EV_READ | EV_PERSIST,
				 chan_on_accept, c);
	if (!c->accept_ev)
		return -ENOMEM;
	event_add(c->accept_ev, NULL);
	c->listen_fd = TAKE_FD(fd);
	log_info("%s: listening on %s", c->name, c->path);
	return 0;
}

struct evbuffer *chan_output(struct simvm_chan *c)
{
	return c->bev ? bufferevent_get_output(c->bev) : NULL;
}

struct evbuffer *chan_input(struct simvm_chan *c)
{
	return c->bev ? bufferevent_get_input(c->bev) : NULL;
}

void chan_drop(struct simvm_chan *c, const char *why)
{
	if (!c->bev)
		return;
	log_info("%s: peer gone (%s)", c->name, why);
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->accept_ev && c->listen_fd >= 0)
		event_add(c->accept_ev, NULL);
	if (c->on_close)
		c->on_close(c);
}

void chan_shutdown(struct simvm_chan *c)
{
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->accept_ev) {
		event_free(c->accept_ev);
		c->accept_ev = NULL;
	}
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		c->listen_fd = -1;
		if (c->path)
			unlink(c->path);
	}
}
