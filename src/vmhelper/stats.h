/*
 * stats.h - what a helper counts for `cc-proxyctl status` (IPC_M_STATS).
 *
 * The byte and command counters are plain integer adds at the places the
 * data flows through anyway (session.c, iochan.c, request.c): no locks,
 * no clock, no allocation, so they cost nothing measurable on the stdout
 * path. The figures that describe "now" (sessions, shims, processes) are
 * not counted at all: stats_fill() walks the sessions when the master
 * asks, which is rare.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct helper;
struct ipc_stats;

/* Since the helper started; payload bytes only (no frame or io headers). */
struct helper_stats {
	uint64_t bytes_to_shims;	/* stdout/stderr accepted for a shim */
	uint64_t bytes_from_shims;	/* stdin moved toward the agent */
	uint64_t bytes_null;		/* null session output, discarded */
	uint64_t bytes_orphaned;	/* output nobody could take, discarded */
	uint64_t hyper_served;		/* Hyper requests answered */
	uint64_t hyper_failed;		/* ... with an error */
};

/**
 * stats_note_error() - remember @msg as the helper's last error (the
 * text is copied, cut at IPC_STATS_ERROR_MAX - 1 bytes). helper_log()
 * calls it for every record at LOG_NOTICE or worse.
 */
void stats_note_error(const char *msg);

/**
 * stats_fill() - the answer to IPC_M_STATS: @out gets the counters and
 * the figures of now; *@err points at the last error text (static, valid
 * until the next stats_note_error()) and out->error_len is its length.
 */
void stats_fill(const struct helper *h, struct ipc_stats *out, const char **err);
