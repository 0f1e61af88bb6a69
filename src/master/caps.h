/*
 * caps.h - the master's own privileges: the capabilities it keeps and its
 * resource limits.
 */
#pragma once

/**
 * caps_drop() - when running as root, keep only CAP_SETUID, CAP_SETGID,
 * CAP_SYS_CHROOT, CAP_SETPCAP and CAP_KILL in the effective, permitted
 * and bounding sets (inheritable and ambient empty) and log which. Not
 * root: one log line, nothing to drop.
 * Return: 0 or -errno (start-up fails).
 */
int caps_drop(void);

/**
 * caps_limits() - the master's rlimits: no core files (tokens live in its
 * memory) and the soft NOFILE limit raised to the hard one (one fd per
 * client). Failures are logged, not fatal.
 */
void caps_limits(void);
