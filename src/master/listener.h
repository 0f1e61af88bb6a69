/*
 * listener.h - the master's listening socket: handed over by systemd
 * (socket activation, exactly one AF_UNIX stream socket) or our own at
 * --socket-path. Accepted connections become clients (client_new()).
 */
#pragma once

struct master;
struct listener;

/**
 * listener_open() - take the activated socket, or create our own at
 * @path (parent directories created 0750, a stale socket replaced, the
 * socket itself mode 0660), and start accepting. Sets m->cfg.socket_path
 * and m->cfg.url from the socket actually listened on. Errors are logged.
 * Return: 0 or -errno.
 */
int listener_open(struct master *m, const char *path, struct listener **out);

/**
 * listener_free() - stop accepting; remove the socket file if we created
 * it (and it is still ours). Takes NULL; returns NULL.
 */
struct listener *listener_free(struct listener *l);

/** listener_fd() - the listening socket (upgrade.c hands it over). */
int listener_fd(const struct listener *l);
