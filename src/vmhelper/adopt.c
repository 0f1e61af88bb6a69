/*
 * adopt.c - answering a master that takes this helper back after a
 * restart or an upgrade (IPC_M_ADOPT; DESIGN.md "Restart and upgrade").
 *
 * The channel's other end spent the master's absence in the service
 * manager's fd store (or crossed an exec of the master), so this helper
 * saw no EOF and kept serving its shims. A new master sends IPC_M_ADOPT
 * {version, nonce}; the answer is what the helper serves, which is the
 * master's only source for rebuilding its registry:
 *   IPC_H_ADOPTED       version, nonce, container id, token count, flags;
 *   IPC_H_ADOPT_TOKENS  the sessions, IPC_ADOPT_CHUNK per message: the
 *                       whole token, ioBase, whether a shim holds it and
 *                       whether its process runs.
 * A token a shim was being handed when the master died is free here (the
 * helper never got the shim, which saw EOF and reconnects). Requests of
 * the dead master are orphaned first: their answers would name ids the
 * new master never gave. Our pid is not in the answer: the master takes
 * it from the kernel (SCM_CREDENTIALS).
 *
 * A master of another IPC version gets an IPC_H_ADOPTED with our version
 * and nothing else: it refuses us with a clear record.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adopt.h"
#include "helper.h"
#include "ipc.h"
#include "log.h"
#include "request.h"
#include "session.h"

/* One IPC_H_ADOPT_TOKENS of up to IPC_ADOPT_CHUNK entries. */
static int adopt_send_chunk(struct helper *h, uint32_t id, uint64_t nonce,
			    struct ipc_adopt_token *e, size_t n)
{
	struct ipc_adopt_tokens t = { .nonce = nonce,
				      .len = (uint32_t)(n * sizeof(*e)) };

	return ipc_channel_send(h->ipc, IPC_H_ADOPT_TOKENS, id, &t, sizeof(t), e,
				t.len, -1);
}

void adopt_answer(struct helper *h, uint32_t id, const struct ipc_adopt *a)
{
	struct ipc_adopted ans = { .version = IPC_VERSION, .nonce = a->nonce };
	struct ipc_adopt_token *e = NULL;
	struct session *s;
	size_t n = 0, total = 0;
	int r;

	if (a->version != IPC_VERSION) {
		helper_log(LOG_ERR, 0, 0, "a master of ipc version %u wants to adopt us "
			   "(ours is %u): answering with our version only", a->version,
			   IPC_VERSION);
		ipc_channel_send(h->ipc, IPC_H_ADOPTED, id, &ans, sizeof(ans), NULL, 0, -1);
		return;
	}
	request_orphan_all(h);
	TAILQ_FOREACH(s, &h->sessions, link)
		total += s->token[0] != '\0';
	if (total > IPC_ADOPT_TOKENS_MAX)
		total = IPC_ADOPT_TOKENS_MAX;
	ans.n_tokens = (uint32_t)total;
	ans.id_len = (uint32_t)strlen(h->container_id);
	ans.flags = h->unregistered ? IPC_ADOPTED_F_UNREGISTERED : 0;
	/* The whole answer must fit in the send queue, or none of it goes:
	 * a half answer would only get us refused. */
	size_t msgs = 1 + (total + IPC_ADOPT_CHUNK - 1) / IPC_ADOPT_CHUNK;
	size_t bytes = msgs * (sizeof(struct ipc_header) + sizeof(struct ipc_adopted)) +
		       ans.id_len + total * sizeof(*e);

	if (!ipc_channel_room(h->ipc, msgs, bytes, 0) ||
	    (total && !(e = calloc(IPC_ADOPT_CHUNK, sizeof(*e))))) {
		helper_log(LOG_ERR, 0, 0, "cannot answer the adoption: no room to send it");
		helper_exit(h, EXIT_FAILURE, true);
		return;
	}
	r = ipc_channel_send(h->ipc, IPC_H_ADOPTED, id, &ans, sizeof(ans), h->container_id,
			     ans.id_len, -1);
	TAILQ_FOREACH(s, &h->sessions, link) {
		if (r < 0 || total == 0)
			break;
		if (s->token[0] == '\0')
			continue;
		e[n] = (struct ipc_adopt_token){ .io_base = s->io_base };
		memcpy(e[n].token, s->token, sizeof(e[n].token));
		e[n].flags = (s->shim ? IPC_ADOPT_TOKEN_F_SHIM : 0) |
			     (s->started && !s->status_known ? IPC_ADOPT_TOKEN_F_RUNNING : 0);
		total--;
		if (++n == IPC_ADOPT_CHUNK || total == 0) {
			r = adopt_send_chunk(h, id, a->nonce, e, n);
			n = 0;
		}
	}
	if (e) {
		explicit_bzero(e, IPC_ADOPT_CHUNK * sizeof(*e));
		free(e);
	}
	if (r < 0 && r != -EPIPE) {
		helper_log(LOG_ERR, 0, 0, "cannot answer the adoption: %s", strerror(-r));
		helper_exit(h, EXIT_FAILURE, true);
		return;
	}
	helper_log(LOG_NOTICE, 0, 0, "adopted by a new master: reported %u tokens",
		   ans.n_tokens);
}
