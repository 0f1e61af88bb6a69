/*
 * sandbox.h - the helper's seccomp allowlist (one table in sandbox.c),
 * default action: kill the process. Tests build the same filter.
 */
#pragma once

/**
 * sandbox_install() - load the filter into the calling thread.
 * Requires no_new_privs (or CAP_SYS_ADMIN). Return: 0 or -errno.
 */
int sandbox_install(void);
