/*
 * upgrade.h - SIGHUP: the master re-execs itself (a newly installed
 * binary), handing over its listening socket and every ready helper's
 * channel (upgrade.c).
 */
#pragma once

struct master;

/**
 * upgrade_prepare() - at start: remember our binary's path (resolved now,
 * so that a binary installed over it later is the one exec'd) and @argv.
 * Return: 0 or -errno (logged; SIGHUP is then refused).
 */
int upgrade_prepare(struct master *m, char **argv);

/**
 * upgrade_reexec() - exec our binary again with LISTEN_FDS/LISTEN_FDNAMES/
 * LISTEN_PID: the socket ("proxy") and each running VM's channel
 * ("vm-ID"), adopted by the new image as after a restart. Every other
 * connection is closed (EOF). Returns only if nothing was touched yet
 * (the binary cannot be executed, out of memory): the master goes on.
 */
void upgrade_reexec(struct master *m);
