/*
 * frame.c - the client protocol v2 frame codec (PROTOCOL.md part 1).
 *
 * Every byte decoded here comes from a client (the runtime or a shim), so
 * the decoder trusts nothing:
 *  - The header is judged field by field as soon as each field has
 *    arrived, so a bad version is refused after two bytes, not twelve.
 *  - The payload length is compared with the caller's maximum the moment
 *    it is known, before waiting for the payload and before any
 *    allocation: a 4 GiB length costs nothing but the 12 bytes read.
 *  - Nothing is taken off the input until a whole frame is buffered, so
 *    FRAME_E_INCOMPLETE and FRAME_E_INVALID both leave @in as it was (the
 *    caller may log it, or simply close the connection).
 *  - The payload is copied exactly once, out of the evbuffer into a buffer
 *    one byte longer than the payload; the extra NUL lets callers hand
 *    JSON text to json-c without another copy. It is not part of
 *    payload_len.
 * Reserved header bytes (3, 4, 5) and the extra words of a header longer
 * than three words are skipped without being looked at, as the protocol
 * says.
 *
 * Encoding writes the header and the payload with a single reservation in
 * the output buffer: on -ENOMEM the output is unchanged, never left
 * holding half a frame.
 *
 * Ownership: a decoded frame's payload belongs to the caller
 * (frame_deinit()). The encoders copy their input.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "bytes.h"
#include "cleanup.h"

/* Byte offsets of the header fields. */
#define FRAME_OFF_VERSION	0
#define FRAME_OFF_HLEN		2
#define FRAME_OFF_TYPE		6
#define FRAME_OFF_OPCODE	7
#define FRAME_OFF_LEN		8

#define FRAME_TYPE_MASK		0x0f
#define FRAME_FLAGS_MASK	0xf0

static const char *const frame_type_names[FRAME_TYPE_COUNT] = {
	[FRAME_TYPE_COMMAND] = "command",
	[FRAME_TYPE_RESPONSE] = "response",
	[FRAME_TYPE_STREAM] = "stream",
	[FRAME_TYPE_NOTIFICATION] = "notification",
};

static const char *const frame_command_names[FRAME_CMD_COUNT] = {
	[FRAME_CMD_REGISTER_VM] = "RegisterVM",
	[FRAME_CMD_UNREGISTER_VM] = "UnregisterVM",
	[FRAME_CMD_ATTACH_VM] = "AttachVM",
	[FRAME_CMD_HYPER] = "Hyper",
	[FRAME_CMD_CONNECT_SHIM] = "ConnectShim",
	[FRAME_CMD_DISCONNECT_SHIM] = "DisconnectShim",
	[FRAME_CMD_SIGNAL] = "Signal",
};

static const char *const frame_stream_names[FRAME_STREAM_COUNT] = {
	[FRAME_STREAM_STDIN] = "stdin",
	[FRAME_STREAM_STDOUT] = "stdout",
	[FRAME_STREAM_STDERR] = "stderr",
	[FRAME_STREAM_LOG] = "log",
};

static const char *const frame_notification_names[FRAME_NOTIFY_COUNT] = {
	[FRAME_NOTIFY_PROCESS_EXITED] = "ProcessExited",
};

static int frame_invalid(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return FRAME_E_INVALID;
}

/*
 * Judge the @have (<= 12) header bytes at @h: FRAME_E_INVALID as soon as
 * a field that has arrived is unacceptable, else 0.
 */
static int frame_check_header(const uint8_t *h, size_t have,
			      uint32_t max_payload, const char **why)
{
	if (have > FRAME_OFF_VERSION + 1 &&
	    bytes_get_be16(h + FRAME_OFF_VERSION) != FRAME_VERSION)
		return frame_invalid(why, "unsupported protocol version");
	if (have > FRAME_OFF_HLEN && h[FRAME_OFF_HLEN] < FRAME_HEADER_SIZE / 4)
		return frame_invalid(why, "header length below 3 words");
	if (have > FRAME_OFF_TYPE &&
	    (h[FRAME_OFF_TYPE] & FRAME_TYPE_MASK) >= FRAME_TYPE_COUNT)
		return frame_invalid(why, "unknown frame type");
	/* Before any allocation, and before waiting for the payload: a peer
	 * announcing 4 GiB must not make us buffer or reserve anything. */
	if (have >= FRAME_HEADER_SIZE &&
	    bytes_get_be32(h + FRAME_OFF_LEN) > max_payload)
		return frame_invalid(why, "payload length over the maximum");
	return 0;
}

int frame_peek(struct evbuffer *in, uint32_t max_payload,
	       struct frame_head *hd, const char **why)
{
	uint8_t h[FRAME_HEADER_SIZE];
	size_t have = evbuffer_get_length(in);
	ev_ssize_t n;
	int r;

	n = evbuffer_copyout(in, h, have < sizeof(h) ? have : sizeof(h));
	if (n < 0)
		return -ENOMEM;
	r = frame_check_header(h, (size_t)n, max_payload, why);
	if (r)
		return r;
	if ((size_t)n < FRAME_HEADER_SIZE)
		return FRAME_E_INCOMPLETE;
	hd->hdr_len = (size_t)h[FRAME_OFF_HLEN] * 4;
	hd->payload_len = bytes_get_be32(h + FRAME_OFF_LEN);
	/* hdr_len <= 1020 and len < 2^32: no overflow in 64 bits. Only a
	 * whole frame counts (frame_decode() drains nothing otherwise). */
	if ((uint64_t)have < (uint64_t)hd->hdr_len + hd->payload_len)
		return FRAME_E_INCOMPLETE;
	hd->type = h[FRAME_OFF_TYPE] & FRAME_TYPE_MASK;
	hd->flags = h[FRAME_OFF_TYPE] & FRAME_FLAGS_MASK;
	hd->opcode = h[FRAME_OFF_OPCODE];
	return 0;
}

int frame_decode(struct evbuffer *in, uint32_t max_payload, struct frame *f,
		 const char **why)
{
	struct frame_head hd;
	uint8_t *payload = NULL;
	uint32_t len;
	int r;

	*f = FRAME_NULL;
	/* The header checked, and the whole frame buffered (so that
	 * nothing is drained on INCOMPLETE). */
	r = frame_peek(in, max_payload, &hd, why);
	if (r)
		return r;
	len = hd.payload_len;
	if (len > 0) {
		/* Only reached when all @len bytes are already buffered: the
		 * allocation is bounded by what the peer actually sent. */
#if SIZE_MAX <= UINT32_MAX
		if ((size_t)len > SIZE_MAX - 1)	/* len + 1 would wrap */
			return -ENOMEM;
#endif
		payload = malloc((size_t)len + 1);
		if (!payload)
			return -ENOMEM;
		if (evbuffer_drain(in, hd.hdr_len) < 0 ||
		    evbuffer_remove(in, payload, len) != (ev_ssize_t)len) {
			/* Cannot happen with the length checked above. */
			free(payload);
			return -EIO;
		}
		payload[len] = '\0';
	} else if (evbuffer_drain(in, hd.hdr_len) < 0) {
		return -EIO;
	}

	f->type = hd.type;
	f->flags = hd.flags;
	f->opcode = hd.opcode;
	f->payload_len = len;
	f->payload = payload;
	return 0;
}

void frame_deinit(struct frame *f)
{
	if (!f)
		return;
	free(f->payload);
	*f = FRAME_NULL;
}

bool frame_opcode_known(uint8_t type, uint8_t opcode)
{
	switch (type) {
	case FRAME_TYPE_COMMAND:
	case FRAME_TYPE_RESPONSE:	/* a response carries the command's opcode */
		return opcode < FRAME_CMD_COUNT;
	case FRAME_TYPE_STREAM:
		return opcode < FRAME_STREAM_COUNT;
	case FRAME_TYPE_NOTIFICATION:
		return opcode < FRAME_NOTIFY_COUNT;
	default:
		return false;
	}
}

/*
 * Besides the documented results, frame_encode() refuses caller bugs
 * without touching @out: -EINVAL for a type >= 4, flags outside the high
 * nibble or a NULL payload with a length, -EMSGSIZE for @len >= 2^32.
 */
void frame_header_put(uint8_t *p, uint8_t type, uint8_t flags, uint8_t opcode,
		      uint32_t len)
{
	p[0] = 0;
	p[1] = FRAME_VERSION;
	p[FRAME_OFF_HLEN] = FRAME_HEADER_SIZE / 4;
	p[3] = p[4] = p[5] = 0;		/* reserved */
	p[FRAME_OFF_TYPE] = (uint8_t)(flags | type);
	p[FRAME_OFF_OPCODE] = opcode;
	bytes_put_be32(p + FRAME_OFF_LEN, len);
}

int frame_encode(struct evbuffer *out, uint8_t type, uint8_t flags,
		 uint8_t opcode, const void *payload, size_t len)
{
	struct evbuffer_iovec v;
	uint8_t *p;

	if (type >= FRAME_TYPE_COUNT || (flags & ~FRAME_FLAGS_MASK) ||
	    (!payload && len))
		return -EINVAL;
	if ((uint64_t)len > UINT32_MAX)
		return -EMSGSIZE;

	/* One contiguous reservation: either the whole frame is appended
	 * or nothing is, so a failed encode never desynchronises a peer. */
	if (evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_HEADER_SIZE + len),
				   &v, 1) != 1)
		return -ENOMEM;
	p = v.iov_base;
	frame_header_put(p, type, flags, opcode, (uint32_t)len);
	if (len)
		memcpy(p + FRAME_HEADER_SIZE, payload, len);
	v.iov_len = FRAME_HEADER_SIZE + len;
	if (evbuffer_commit_space(out, &v, 1) < 0)
		return -ENOMEM;
	return 0;
}

int frame_encode_response(struct evbuffer *out, uint8_t opcode, bool error,
			  const char *json)
{
	return frame_encode(out, FRAME_TYPE_RESPONSE,
			    error ? FRAME_FLAG_ERROR : 0, opcode, json,
			    json ? strlen(json) : 0);
}

/*
 * The message goes through json-c rather than a format string: a reason
 * may quote client input (an unknown hyperName, a path), and quotes,
 * backslashes or control characters in it must not break the JSON. A
 * NULL @msg is sent as "".
 */
int frame_encode_error(struct evbuffer *out, uint8_t opcode, const char *msg)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *s;
	const char *text;

	if (!o)
		return -ENOMEM;
	s = json_object_new_string(msg ? msg : "");
	if (!s)
		return -ENOMEM;
	if (json_object_object_add(o, "msg", s) < 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text)
		return -ENOMEM;
	/* @text belongs to @o, which is released after the copy. */
	return frame_encode_response(out, opcode, true, text);
}

const char *frame_type_name(uint8_t type)
{
	return type < FRAME_TYPE_COUNT ? frame_type_names[type] : "unknown";
}

const char *frame_opcode_name(uint8_t type, uint8_t opcode)
{
	/* The admin command rides outside protocol v2's opcodes (only the
	 * master serves it), but logs still name it. */
	if ((type == FRAME_TYPE_COMMAND || type == FRAME_TYPE_RESPONSE) &&
	    opcode == FRAME_CMD_STATUS)
		return "Status";
	if (!frame_opcode_known(type, opcode))
		return "unknown";
	switch (type) {
	case FRAME_TYPE_COMMAND:
	case FRAME_TYPE_RESPONSE:
		return frame_command_names[opcode];
	case FRAME_TYPE_STREAM:
		return frame_stream_names[opcode];
	default:
		return frame_notification_names[opcode];
	}
}
