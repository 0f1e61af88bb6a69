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

#include <stddef.h>
#include <stdint.h>

/* A compiled filter: classic BPF instructions (struct sock_filter). */
struct sandbox_prog {
	struct {
		uint16_t code;
		uint8_t jt, jf;
		uint32_t k;
	} insns[1024];
	size_t len;
};

/**
 * sandbox_prepare() - compile the allowlist of sandbox_install() into @p,
 * without loading it: a pooled helper compiles while idle and loads it
 * when it gets its VM (sandbox_load()), so the compile is not on the
 * registration's path. Must run in the process that loads it (the
 * tgkill rule names its pid). Return: 0 or -errno.
 */
int sandbox_prepare(struct sandbox_prog *p);

/** sandbox_load() - install @p, from sandbox_prepare(). Return: 0 or -errno. */
int sandbox_load(const struct sandbox_prog *p);
