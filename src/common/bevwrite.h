/*
 * bevwrite.h - write a bufferevent's output at once, and watch EV_WRITE
 * only for what the socket did not take (issue 10, command path).
 *
 * A bufferevent adds its write event the moment bytes are added to its
 * output (one epoll_ctl), and deletes it once they are written (another),
 * after a trip through epoll_wait: three system calls per message that
 * would fit in the socket at once. Around an append:
 *
 *	bevwrite_begin(bev);
 *	frame_encode(bufferevent_get_output(bev), ...);
 *	bevwrite_flush(bev);
 *
 * With nothing pending, begin() turns EV_WRITE off (no system call: the
 * event is not in the epoll set then), so the append adds nothing; flush()
 * writes right away and turns EV_WRITE on only if bytes are left, and the
 * bufferevent then goes on as usual (its write callback, watermarks and
 * errors). A write error is left to the bufferevent too: it meets it again
 * and reports it through its event callback, never from inside a send.
 */
#pragma once

struct bufferevent;

/** bevwrite_begin() - before appending to @bev's output. */
void bevwrite_begin(struct bufferevent *bev);

/** bevwrite_flush() - after appending: write now, EV_WRITE for the rest. */
void bevwrite_flush(struct bufferevent *bev);
