/*
 * tty.h - the local terminal of `cc-proxyctl exec -t`: raw mode while
 * the remote process owns the keyboard, and the window size to forward.
 */
#pragma once

#include <stdbool.h>
#include <termios.h>

struct tty {
	int fd;			/* the terminal put in raw mode, or -1 */
	struct termios saved;	/* its settings before */
};

#define TTY_NULL ((struct tty){ .fd = -1 })

/**
 * tty_raw_enter() - put @fd in raw mode when it is a terminal (no-op
 * otherwise), remembering its settings in @t.
 * Return: 0, or -errno when the terminal refused.
 */
int tty_raw_enter(struct tty *t, int fd);

/** tty_restore() - give the terminal its settings back (idempotent). */
void tty_restore(struct tty *t);

/**
 * tty_size() - the window size of the first terminal among stdin and
 * stdout. Return: true with non-zero @cols and @rows, or false.
 */
bool tty_size(unsigned *cols, unsigned *rows);
