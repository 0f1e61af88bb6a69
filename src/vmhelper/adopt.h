/*
 * adopt.h - answering IPC_M_ADOPT: a restarted master takes this helper
 * back (adopt.c).
 */
#pragma once

#include <stdint.h>

struct helper;
struct ipc_adopt;

/**
 * adopt_answer() - orphan the dead master's requests and send
 * IPC_H_ADOPTED then IPC_H_ADOPT_TOKENS (header id @id, @a's nonce). A
 * master of another IPC version gets our version alone.
 */
void adopt_answer(struct helper *h, uint32_t id, const struct ipc_adopt *a);
