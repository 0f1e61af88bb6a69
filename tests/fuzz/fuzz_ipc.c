/*
 * fuzz_ipc.c - libFuzzer harness for src/common/ipc.c: ipc_decode() of an
 * arbitrary message in both directions, with and without an fd said to
 * be attached. The master decodes what a (possibly compromised) helper
 * sends and the helper what the master sends: neither may crash, read
 * out of bounds or accept a message its table does not describe.
 *
 * Input: byte 0 bit 0 picks the direction (to helper / to master), bit 1
 * says an fd came with the message; the rest is the message.
 * Invariants checked besides "no crash, no leak, no UB":
 *  - ipc_decode() returns 0 or IPC_E_INVALID, and a reason with the
 *    latter;
 *  - an accepted message: its type is in the direction's range (0x1xx to
 *    the helper, 0x2xx to the master), the fixed struct and the variable
 *    part tile the message exactly, the variable part lies inside it,
 *    v->fd is -1, and its fd flag says what came;
 *  - ipc_encode() of what was decoded gives back the same bytes;
 *  - decoding the same bytes in the other direction never accepts them
 *    (no type belongs to both).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[IPC_MSG_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	union { max_align_t a; uint8_t b[IPC_FIXED_MAX]; } fixed, other;
	enum ipc_dir dir, back;
	struct ipc_header hdr;
	struct ipc_view v, w;
	const char *why = NULL;
	const uint8_t *msg;
	size_t len, fixed_len;
	bool fd;
	ssize_t n;
	int r;

	if (size < 1)
		return 0;
	dir = (data[0] & 1) ? IPC_DIR_TO_MASTER : IPC_DIR_TO_HELPER;
	back = dir == IPC_DIR_TO_MASTER ? IPC_DIR_TO_HELPER : IPC_DIR_TO_MASTER;
	fd = data[0] & 2;
	len = size - 1;
	/* A copy of exactly the message's length: ASan sees any read past it. */
	uint8_t *buf = malloc(len ? len : 1);

	FUZZ_CHECK(buf);
	memcpy(buf, data + 1, len);
	msg = buf;

	r = ipc_decode(msg, len, fd, dir, &v, fixed.b, &why);
	FUZZ_CHECK(r == 0 || r == IPC_E_INVALID);
	if (r) {
		FUZZ_CHECK(why && *why);
		free(buf);
		return 0;
	}
	FUZZ_CHECK(why == NULL);
	FUZZ_CHECK(v.fd == -1);
	FUZZ_CHECK((v.type >> 8) == (dir == IPC_DIR_TO_HELPER ? 1u : 2u));
	FUZZ_CHECK(v.fixed == fixed.b);
	memcpy(&hdr, msg, sizeof(hdr));
	FUZZ_CHECK(hdr.type == v.type && hdr.id == v.id);
	FUZZ_CHECK(!!(hdr.flags & IPC_F_FD) == fd);
	FUZZ_CHECK(hdr.len == len - sizeof(hdr));
	FUZZ_CHECK(v.var_len <= hdr.len);
	fixed_len = hdr.len - v.var_len;
	FUZZ_CHECK(fixed_len > 0 && fixed_len <= IPC_FIXED_MAX);
	FUZZ_CHECK(memcmp(fixed.b, msg + sizeof(hdr), fixed_len) == 0);
	if (v.var_len) {
		FUZZ_CHECK(v.var == msg + sizeof(hdr) + fixed_len);
	} else {
		FUZZ_CHECK(v.var == NULL);
	}

	/* Encoding what was decoded gives the same message. */
	n = ipc_encode(out, v.type, v.id, fd, fixed.b, fixed_len, v.var, v.var_len);
	FUZZ_CHECK(n == (ssize_t)len);
	FUZZ_CHECK(memcmp(out, msg, len) == 0);

	/* No type is valid both ways. */
	FUZZ_CHECK(ipc_decode(msg, len, fd, back, &w, other.b, &why) == IPC_E_INVALID);
	free(buf);
	return 0;
}
