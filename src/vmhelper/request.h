/*
 * request.h - Hyper requests from the master (IPC_M_HYPER): checks, the
 * wait for the token's shim, the in-place edit of newcontainer/execcmd
 * data, and exactly one IPC_H_HYPER_ANSWER each.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct helper;
struct ipc_hyper;
struct request;

/**
 * request_handle() - start serving request @id. The answer is sent later
 * (or right away for a request refused outright).
 */
void request_handle(struct helper *h, uint32_t id, const struct ipc_hyper *m,
		    const uint8_t *data, size_t len);

/** request_on_shim() - the token's shim connected: go on with @r. */
void request_on_shim(struct request *r);

/** request_detach() - @r's session is being freed: go on without it. */
void request_detach(struct request *r);

/**
 * request_orphan_all() - a new master adopted us (IPC_M_ADOPT): every
 * request in progress came from the dead one; each still runs to its end
 * at the agent, but its answer is dropped.
 */
void request_orphan_all(struct helper *h);

/** request_free() - drop without answering (exit); takes NULL. */
struct request *request_free(struct request *r);
