/*
 * frame.h - the client protocol v2 frame codec (PROTOCOL.md part 1).
 *
 *   0  u16 version (= 2)
 *   2  u8  header length in 32-bit words (>= 3; payload at 4 * hlen)
 *   3  u8  reserved   4 u16 reserved
 *   6  u8  flags (high nibble, 0x10 = error) | type (low nibble)
 *   7  u8  opcode
 *   8  u32 payload length
 * All integers big endian. Pure functions over libevent evbuffers: no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/buffer.h>

#define FRAME_VERSION		2
#define FRAME_HEADER_SIZE	12	/* minimum header, 3 words */
#define FRAME_PAYLOAD_MAX	(1024u * 1024u)	/* default maximum payload */
#define FRAME_FLAG_ERROR	0x10

enum frame_type {
	FRAME_TYPE_COMMAND = 0,
	FRAME_TYPE_RESPONSE = 1,
	FRAME_TYPE_STREAM = 2,
	FRAME_TYPE_NOTIFICATION = 3,
	FRAME_TYPE_COUNT
};

enum frame_command {
	FRAME_CMD_REGISTER_VM = 0,
	FRAME_CMD_UNREGISTER_VM = 1,
	FRAME_CMD_ATTACH_VM = 2,
	FRAME_CMD_HYPER = 3,
	FRAME_CMD_CONNECT_SHIM = 4,
	FRAME_CMD_DISCONNECT_SHIM = 5,
	FRAME_CMD_SIGNAL = 6,
	FRAME_CMD_COUNT
};

enum frame_stream {
	FRAME_STREAM_STDIN = 0,
	FRAME_STREAM_STDOUT = 1,
	FRAME_STREAM_STDERR = 2,
	FRAME_STREAM_LOG = 3,
	FRAME_STREAM_COUNT
};

enum frame_notification {
	FRAME_NOTIFY_PROCESS_EXITED = 0,
	FRAME_NOTIFY_COUNT
};

/*
 * The admin command of cc-proxyctl status/list, served by the master only.
 * It lies outside the client protocol's opcodes (frame_opcode_known() is
 * false for it), so runtimes and shims never meet it: a shim's helper and
 * an older proxy answer it "unknown command 64". Who may send it is
 * checked per command (SO_PEERCRED); see src/master/status.c.
 */
#define FRAME_CMD_STATUS	64

/* Positive results for input problems (negative values are -errno). */
enum {
	FRAME_E_INCOMPLETE = 1,	/* need more bytes; nothing consumed */
	FRAME_E_INVALID = 2,	/* untrusted header: close the connection */
};

struct frame {
	uint8_t type;		/* enum frame_type */
	uint8_t flags;		/* FRAME_FLAG_* (high nibble of byte 6) */
	uint8_t opcode;
	uint32_t payload_len;
	uint8_t *payload;	/* malloc'd, payload_len bytes + a NUL; NULL if empty */
};

#define FRAME_NULL ((struct frame){ 0 })

/**
 * frame_decode() - take one complete frame off the front of @in.
 * @in:          bytes received so far (any number of frames or pieces)
 * @max_payload: largest acceptable payload length (checked before any
 *               allocation)
 * @f:           out; on 0 the caller owns f->payload (frame_deinit())
 * @why:         out, on FRAME_E_INVALID: a static reason for the log
 *
 * Return: 0 and the frame is drained from @in; FRAME_E_INCOMPLETE when
 * more bytes are needed (nothing drained); FRAME_E_INVALID for version != 2,
 * header length < 3 words, type >= 4 or a payload over @max_payload
 * (nothing drained, the framing is lost); -ENOMEM.
 * Opcodes are not judged here: see frame_opcode_known().
 */
int frame_decode(struct evbuffer *in, uint32_t max_payload, struct frame *f,
		 const char **why);

/* What frame_peek() tells of the next frame, which stays in the buffer. */
struct frame_head {
	uint8_t type;		/* enum frame_type */
	uint8_t flags;
	uint8_t opcode;
	size_t hdr_len;		/* bytes before the payload (>= 12) */
	uint32_t payload_len;
};

/**
 * frame_peek() - judge the next frame of @in as frame_decode() does, but
 * take nothing off: for callers that move the payload out of @in
 * themselves (the helper's stdin path, without a malloc'd copy).
 * Return: 0 once the whole frame is buffered, FRAME_E_INCOMPLETE,
 * FRAME_E_INVALID (@why set), -ENOMEM.
 */
int frame_peek(struct evbuffer *in, uint32_t max_payload,
	       struct frame_head *hd, const char **why);

/** frame_deinit() - free the payload and reset @f to FRAME_NULL. */
void frame_deinit(struct frame *f);

/** frame_opcode_known() - whether @opcode exists for @type. */
bool frame_opcode_known(uint8_t type, uint8_t opcode);

/**
 * frame_encode() - append one frame with a 3-word header to @out.
 * Return: 0 or -ENOMEM. @len must be < 2^32.
 */
int frame_encode(struct evbuffer *out, uint8_t type, uint8_t flags,
		 uint8_t opcode, const void *payload, size_t len);

/**
 * frame_header_put() - write a 3-word header at @p (FRAME_HEADER_SIZE
 * bytes): for frames built in place, e.g. over an io message's header of
 * the same size (the helper's stdout path).
 */
void frame_header_put(uint8_t *p, uint8_t type, uint8_t flags, uint8_t opcode,
		      uint32_t len);

/**
 * frame_encode_response() - a response to command @opcode carrying the
 * JSON text @json (NULL: no payload); @error sets FRAME_FLAG_ERROR.
 */
int frame_encode_response(struct evbuffer *out, uint8_t opcode, bool error,
			  const char *json);

/**
 * frame_encode_error() - an error response `{"msg": @msg}` (JSON-escaped)
 * to command @opcode.
 */
int frame_encode_error(struct evbuffer *out, uint8_t opcode, const char *msg);

/** frame_type_name(), frame_opcode_name() - for logs ("command", "Hyper"...). */
const char *frame_type_name(uint8_t type);
const char *frame_opcode_name(uint8_t type, uint8_t opcode);
