/*
 * ipc_test.h - what check_ipc.c and check_ipc_channel.c share: a union
 * large and aligned enough for any fixed struct, and a raw message writer
 * that checks nothing (to build invalid messages on purpose).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ipc.h"

union fixed_any {
	struct ipc_hello hello; struct ipc_hyper hyper; struct ipc_hyper_answer answer;
	struct ipc_token token; struct ipc_shim shim; struct ipc_empty empty;
	struct ipc_shim_gone gone; struct ipc_vm_lost lost; struct ipc_stats stats;
	max_align_t align;
};

/* Write a header and parts without any checking. */
static inline size_t raw_msg(uint8_t *buf, uint32_t type, uint32_t flags,
			     const void *fixed, size_t fixed_len,
			     const void *var, size_t var_len)
{
	struct ipc_header h = { type, (uint32_t)(fixed_len + var_len), 1, flags };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), fixed, fixed_len);
	if (var_len)
		memcpy(buf + sizeof(h) + fixed_len, var, var_len);
	return sizeof(h) + fixed_len + var_len;
}
