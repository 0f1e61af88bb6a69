/*
 * tty.c - raw mode and window size of the local terminal for
 * `cc-proxyctl exec -t`. In raw mode every key (^C, ^D, ^Z included)
 * goes to the remote terminal as a byte, which is what makes the remote
 * shell usable; the settings are restored before cc-proxyctl exits.
 */
#include "config.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "tty.h"

int tty_raw_enter(struct tty *t, int fd)
{
	struct termios raw;

	t->fd = -1;
	if (!isatty(fd))
		return 0;
	if (tcgetattr(fd, &t->saved) < 0)
		return -errno;
	raw = t->saved;
	cfmakeraw(&raw);
	/* TCSADRAIN: what was typed before stays readable as input. */
	if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
		return -errno;
	t->fd = fd;
	return 0;
}

void tty_restore(struct tty *t)
{
	if (t->fd < 0)
		return;
	tcsetattr(t->fd, TCSADRAIN, &t->saved);
	t->fd = -1;
}

bool tty_size(unsigned *cols, unsigned *rows)
{
	static const int fds[] = { STDIN_FILENO, STDOUT_FILENO };
	struct winsize ws;

	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (ioctl(fds[i], TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
			*cols = ws.ws_col;
			*rows = ws.ws_row;
			return true;
		}
	}
	return false;
}
