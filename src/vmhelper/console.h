/*
 * console.h - the VM console (RegisterVM "console"), logged line by line
 * at verbosity 3. The master passes its socket only at that level.
 */
#pragma once

struct helper;
struct console;

/**
 * console_new() - the console on @fd (consumed in every case), not yet
 * reading. Return: 0 or -errno.
 */
int console_new(struct console **out, struct helper *h, int fd);

/** console_start() - start reading. */
void console_start(struct console *c);

/** console_free() - close; takes NULL; returns NULL. */
struct console *console_free(struct console *c);
