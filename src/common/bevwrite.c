/*
 * bevwrite.c - direct writes of a bufferevent's output (bevwrite.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "bevwrite.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

void bevwrite_begin(struct bufferevent *bev)
{
	/* Bytes still queued: the write event is pending and stays so. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

void bevwrite_flush(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (!(bufferevent_get_enabled(bev) & EV_WRITE) && evbuffer_get_length(out)) {
		/* A socket bufferevent freezes the start of its output for
		 * its users; lift that for this write, as its own write
		 * callback does. */
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write(out, bufferevent_getfd(bev));
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out))
		bufferevent_enable(bev, EV_WRITE);
}
