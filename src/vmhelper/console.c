/*
 * console.c - the VM console (fd 6), logged line by line at verbosity 3.
 *
 * The console is VM-controlled text: lines are bounded (a longer run
 * without a newline is logged in pieces of CONSOLE_LINE_MAX bytes), a
 * trailing CR is dropped, and the log module escapes control characters.
 * The console is optional: its end or failure is logged, not fatal.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "console.h"
#include "helper.h"
#include "log.h"

#define CONSOLE_LINE_MAX	1024
/* Read ahead bound: a little more than a line. */
#define CONSOLE_IN_HIGH		(4u * CONSOLE_LINE_MAX)

struct console {
	struct helper *h;
	struct bufferevent *bev;
};

static void console_log_line(struct console *c, char *line, size_t len)
{
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	/* A NUL inside the line cuts it: the rest is not text anyway. */
	helper_log(LOG_INFO, 3, 0, "console: %s", line);
}

static void console_on_read(struct bufferevent *bev, void *ctx)
{
	struct console *c = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[CONSOLE_LINE_MAX + 1];
	struct evbuffer_ptr eol;
	size_t len;

	/* Whole lines only, each bounded: the VM decides what it writes,
	 * so neither a line nor the buffer may grow without limit. */
	while (!c->h->exiting) {
		eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			/* No newline yet: wait, unless the line is too long. */
			if (evbuffer_get_length(in) < CONSOLE_LINE_MAX)
				return;
			len = CONSOLE_LINE_MAX;
		} else {
			len = (size_t)eol.pos < CONSOLE_LINE_MAX ? (size_t)eol.pos : CONSOLE_LINE_MAX;
		}
		evbuffer_remove(in, line, len);
		if (eol.pos >= 0 && (size_t)eol.pos == len)
			evbuffer_drain(in, 1);	/* the newline */
		console_log_line(c, line, len);
	}
}

static void console_on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct console *c = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[CONSOLE_LINE_MAX + 1];
	int n;

	if (c->h->exiting)
		return;
	/* The last line may lack its newline (whole lines are gone already). */
	n = evbuffer_remove(in, line, CONSOLE_LINE_MAX);
	if (n > 0)
		console_log_line(c, line, (size_t)n);
	helper_log(LOG_INFO, 1, 0, "VM console %s",
		   what & BEV_EVENT_EOF ? "closed" : "failed");
	bufferevent_disable(bev, EV_READ);
}

int console_new(struct console **out, struct helper *h, int fd)
{
	struct console *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->h = h;
	c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return -ENOMEM;
	}
	bufferevent_setcb(c->bev, console_on_read, NULL, console_on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONSOLE_IN_HIGH);
	*out = c;
	return 0;
}

void console_start(struct console *c)
{
	if (c)
		bufferevent_enable(c->bev, EV_READ);
}

struct console *console_free(struct console *c)
{
	if (!c)
		return NULL;
	bufferevent_free(c->bev);
	free(c);
	return NULL;
}
