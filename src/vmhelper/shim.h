/*
 * shim.h - shim connections, handed over by the master after ConnectShim
 * (IPC_M_SHIM). The helper answers ConnectShim itself and then serves the
 * shim directly: stdin, Signal, DisconnectShim and log frames in; stdout,
 * stderr and ProcessExited out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct helper;
struct ipc_shim;
struct shim;

/**
 * shim_adopt() - take over a shim connection.
 * @fd:       the connection, consumed in every case
 * @m:        io_base and the shim's credentials (for logs)
 * @leftover: bytes the master read past ConnectShim; decoded first
 * Unknown session or one already held, or more than h->shims_max shims:
 * an error response, then close. @fd < 0 (lost at our fd limit): refused
 * without a response. A refused shim's token is released to the master
 * (IPC_H_SHIM_GONE, released = 0) unless another shim holds it.
 */
void shim_adopt(struct helper *h, int fd, const struct ipc_shim *m,
		const uint8_t *leftover, size_t len);

/** shim_free() - close now (no report to the master); takes NULL. */
struct shim *shim_free(struct shim *sh);

/**
 * shim_close() - stop reading, flush what is queued for the shim (bounded
 * by the wait timeout), then close. The shim is detached from its session.
 */
void shim_close(struct shim *sh);

/** shim_output() - the buffer frames for the shim are appended to. */
struct evbuffer *shim_output(struct shim *sh);

/**
 * shim_drained() - bytes the shim has taken from its output so far: a
 * session compares it over the wait timeout to tell a slow reader from
 * one that stopped.
 */
uint64_t shim_drained(const struct shim *sh);

/** shim_on_started() - the session's process started: stdin and signals go. */
void shim_on_started(struct shim *sh);

/** shim_on_start_failed() - the session's process could not be started. */
void shim_on_start_failed(struct shim *sh);

/** shim_on_stdin_drained() - the session's stdin queue has room again. */
void shim_on_stdin_drained(struct shim *sh);

/**
 * shim_direct_ok() - the shim is served and nothing waits in its output:
 * frames may be written to its socket at once (shim_send()).
 */
bool shim_direct_ok(const struct shim *sh);

/**
 * shim_send() - whole frames (@len bytes at @p) for the shim: written to
 * its socket at once when nothing is queued before them, the rest (or all)
 * appended to its output buffer. Return: 0 or -ENOMEM.
 */
int shim_send(struct shim *sh, const void *p, size_t len);
