/*
 * quota_client.c - the quotas of one client connection (quota.h):
 * counting its buffered bytes, its frame and idle timer, and closing it
 * when it breaks a limit.
 *
 * Bytes: an evbuffer callback on the input and on the output adds every
 * change to the connection, to its uid's entry and to the master's sum,
 * so the sum is exact at any moment without scanning (quota.c compares
 * it with --max-buffered).
 *
 * Timer: one evtimer per connection, measuring one of two things.
 *   --frame-timeout: input is waiting that is not a whole frame (or not
 *     taken because the peer does not read its answers). Bytes that
 *     trickle in do not restart it; a decoded frame does.
 *   --idle-timeout: nothing buffered, no command in flight, and not
 *     attached to a VM: a shim that never sends ConnectShim, a peer that
 *     only holds a connection. A runtime attached to its VM may stay
 *     silent as long as it likes, and so may a command that waits (its
 *     own timeouts apply: --wait-timeout, the agent's).
 * Both close the connection with a log record naming the option.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "client.h"
#include "frame.h"
#include "quota.h"
#include "log.h"
#include "master.h"

static void quota_client_on_buffer(struct evbuffer *b, const struct evbuffer_cb_info *info,
				    void *arg)
{
	struct client *c = arg;

	if (c->uncounted)
		return;
	/* Unsigned wrap-around makes "+ added - deleted" exact. */
	c->buffered += info->n_added;
	c->buffered -= info->n_deleted;
	c->lim_uid->buffered += info->n_added;
	c->lim_uid->buffered -= info->n_deleted;
	c->m->lim.buffered += info->n_added;
	c->m->lim.buffered -= info->n_deleted;
}

/* Stop counting @c: its bytes leave its uid's total and the sum. */
static void quota_client_uncount(struct client *c)
{
	if (c->uncounted)
		return;
	c->uncounted = true;
	c->lim_uid->buffered -= c->buffered;
	c->m->lim.buffered -= c->buffered;
	c->buffered = 0;
}

static void quota_client_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	const struct quota_config *cfg = &c->m->cfg.limits;
	char why[256];

	if (c->timer_kind == CLIENT_TIMER_FRAME)
		snprintf(why, sizeof(why), "an incomplete frame (%zu bytes) waited for more "
			 "than %.3f s (--frame-timeout)",
			 evbuffer_get_length(bufferevent_get_input(c->bev)),
			 cfg->frame_timeout_ms / 1000.0);
	else
		snprintf(why, sizeof(why), "idle for more than %.3f s without a command and "
			 "not attached to a VM (--idle-timeout)", cfg->idle_timeout_ms / 1000.0);
	c->timer_kind = CLIENT_TIMER_NONE;
	quota_client_abort(c, why);
}

int quota_client_start(struct client *c)
{
	c->in_cb = evbuffer_add_cb(bufferevent_get_input(c->bev), quota_client_on_buffer, c);
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), quota_client_on_buffer, c);
	c->timer = evtimer_new(c->m->base, quota_client_on_timer, c);
	if (!c->in_cb || !c->out_cb || !c->timer) {
		quota_client_stop(c);
		return -ENOMEM;
	}
	return 0;
}

void quota_client_stop(struct client *c)
{
	quota_client_uncount(c);
	if (c->in_cb)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
	if (c->out_cb)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	c->in_cb = c->out_cb = NULL;
	if (c->timer)
		event_free(c->timer);
	c->timer = NULL;
}

void quota_client_update(struct client *c, bool progress)
{
	const struct quota_config *cfg = &c->m->cfg.limits;
	enum client_timer kind = CLIENT_TIMER_NONE;
	uint32_t ms = 0;
	struct timeval tv;

	if (c->broken || !c->timer)
		return;
	if (c->wait != CLIENT_IDLE)
		kind = CLIENT_TIMER_NONE;
	else if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		kind = CLIENT_TIMER_FRAME, ms = cfg->frame_timeout_ms;
	else if (!c->vm)
		kind = CLIENT_TIMER_IDLE, ms = cfg->idle_timeout_ms;
	if (kind == c->timer_kind && !(progress && kind == CLIENT_TIMER_FRAME))
		return;
	evtimer_del(c->timer);
	c->timer_kind = kind;
	if (kind == CLIENT_TIMER_NONE || ms == 0)
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* An error response to the command whose header is pending in @c's
 * input, written straight to the socket: only when no other command is
 * in flight (its answer is due first) and nothing else is unsent (so it
 * cannot land inside another frame). Best effort. */
static void quota_client_tell(struct client *c, const char *why)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *b;
	uint8_t head[8];

	if (c->wait != CLIENT_IDLE ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0 ||
	    evbuffer_copyout(in, head, sizeof(head)) != (ssize_t)sizeof(head) ||
	    head[6] != FRAME_TYPE_COMMAND || !(b = evbuffer_new()))
		return;
	if (frame_encode_error(b, head[7], why) == 0)
		(void)send(c->fd, evbuffer_pullup(b, -1), evbuffer_get_length(b),
			   MSG_DONTWAIT | MSG_NOSIGNAL);
	evbuffer_free(b);
}

void quota_client_abort(struct client *c, const char *why)
{
	char uid_str[24];

	if (c->broken)
		return;
	snprintf(uid_str, sizeof(uid_str), "%lld", (long long)c->uid);
	log_submit(LOG_WARNING, 0, NULL,
		   LOG_FIELDS({ "CC_CLIENT", c->id_str }, { "CC_CLIENT_PID", c->pid_str },
			      { "CC_PEER_UID", uid_str }),
		   "closing client %s (uid %s): %s", c->id_str, uid_str, why);
	quota_client_tell(c, why);
	quota_client_uncount(c);
	c->broken = true;
	bufferevent_disable(c->bev, EV_READ);
	if (c->timer)
		evtimer_del(c->timer);
	event_active(c->resume_ev, EV_TIMEOUT, 0);
}
