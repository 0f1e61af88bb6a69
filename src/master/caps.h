/*
 * caps.h - the master's own privileges: the capabilities it keeps and its
 * resource limits.
 */
#pragma once

/**
 * caps_drop() - when running as root, keep only CAP_KILL effective and
 * permitted, and only CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT and
 * CAP_SETPCAP in the bounding set (what an exec'd root helper starts
 * with); inheritable and ambient empty. Logs which. Not root: one log
 * line, nothing to drop.
 * Return: 0 or -errno (start-up fails; also when SECBIT_NOROOT is set).
 */
int caps_drop(void);

/**
 * caps_limits() - the master's rlimits: no core files (tokens live in its
 * memory) and the soft NOFILE limit raised to the hard one (one fd per
 * client). Failures are logged, not fatal.
 */
void caps_limits(void);
