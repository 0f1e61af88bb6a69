/*
 * hyper.c - the hyperstart agent's ctl and io message codecs (PROTOCOL.md
 * part 2): command names, ctl messages (with NEXT), io messages.
 *
 * The agent runs inside the VM, which is as untrusted as any client: the
 * decoders follow the same rules as frame.c.
 *  - A length field is judged the moment its header is buffered: below
 *    the header size, or above the caller's maximum, is HYPER_E_INVALID
 *    (the channel's framing is lost). Only then is the rest awaited, and
 *    memory is allocated only once the whole message is buffered.
 *  - Nothing is drained unless a whole message is returned, so
 *    HYPER_E_INCOMPLETE and HYPER_E_INVALID leave the input as it was.
 *  - ctl payloads get a trailing NUL (not counted) for json-c.
 *
 * The io encoders never produce a message over HYPER_IO_SEND_MAX bytes
 * in total: hyperstart 1.1.0 panics the VM on a larger one. Longer data
 * is split, in order, into chunks of HYPER_IO_SEND_MAX - 12 data bytes;
 * chunks are never merged with other data, so no message is bigger than
 * what its writer handed over.
 *
 * Every encoder appends all of its output through one reservation in the
 * output buffer: on failure nothing has been appended.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "hyper.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "cleanup.h"

/* Data bytes per io message sent to the agent. */
#define HYPER_IO_CHUNK HYPER_IO_SEND_DATA_MAX

struct hyper_name {
	uint32_t code;
	const char *name;
	bool from_client;	/* may a client send it through Hyper? */
};

/* Every code of enum hyper_code; from_client marks the commands a
 * client may ask for, the others only ever come from the agent. */
static const struct hyper_name hyper_names[] = {
	{ HYPER_VERSION, "version", true },
	{ HYPER_STARTPOD, "startpod", true },
	{ HYPER_DESTROYPOD, "destroypod", true },
	{ HYPER_EXECCMD, "execcmd", true },
	{ HYPER_READY, "ready", false },
	{ HYPER_ACK, "ack", false },
	{ HYPER_ERROR, "error", false },
	{ HYPER_WINSIZE, "winsize", true },
	{ HYPER_PING, "ping", true },
	{ HYPER_NEXT, "next", false },
	{ HYPER_WRITEFILE, "writefile", true },
	{ HYPER_READFILE, "readfile", true },
	{ HYPER_NEWCONTAINER, "newcontainer", true },
	{ HYPER_KILLCONTAINER, "killcontainer", true },
	{ HYPER_ONLINECPUMEM, "onlinecpumem", true },
	{ HYPER_SETUPINTERFACE, "setupinterface", true },
	{ HYPER_SETUPROUTE, "setuproute", true },
	{ HYPER_REMOVECONTAINER, "removecontainer", true },
	{ HYPER_PROCESSASYNCEVENT, "processasyncevent", false },
};

static int hyper_invalid(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return HYPER_E_INVALID;
}

int hyper_command_from_name(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(hyper_names); i++)
		if (hyper_names[i].from_client && !strcmp(name, hyper_names[i].name))
			return (int)hyper_names[i].code;
	return -1;
}

const char *hyper_code_name(uint32_t code)
{
	for (size_t i = 0; i < ARRAY_SIZE(hyper_names); i++)
		if (hyper_names[i].code == code)
			return hyper_names[i].name;
	return "unknown";
}

int hyper_ctl_decode(struct evbuffer *in, size_t max_total,
		     struct hyper_ctl_msg *m, const char **why)
{
	uint8_t h[HYPER_CTL_HEADER_SIZE];
	size_t have = evbuffer_get_length(in);
	uint32_t total, len;
	uint8_t *payload = NULL;

	*m = (struct hyper_ctl_msg){ 0 };
	if (have < HYPER_CTL_HEADER_SIZE)
		return HYPER_E_INCOMPLETE;
	if (evbuffer_copyout(in, h, sizeof(h)) != (ev_ssize_t)sizeof(h))
		return -ENOMEM;
	total = bytes_get_be32(h + 4);
	/* Judged before waiting for, or allocating, anything more. */
	if (total < HYPER_CTL_HEADER_SIZE)
		return hyper_invalid(why, "ctl message length below its header");
	if (total > max_total)
		return hyper_invalid(why, "ctl message length over the maximum");
	if (have < total)
		return HYPER_E_INCOMPLETE;

	len = total - HYPER_CTL_HEADER_SIZE;
	if (len > 0) {
		/* Bounded by @max_total and by what is already buffered. */
		payload = malloc((size_t)len + 1);
		if (!payload)
			return -ENOMEM;
		if (evbuffer_drain(in, HYPER_CTL_HEADER_SIZE) < 0 ||
		    evbuffer_remove(in, payload, len) != (ev_ssize_t)len) {
			free(payload);
			return -EIO;	/* cannot happen: all of it is buffered */
		}
		payload[len] = '\0';
	} else if (evbuffer_drain(in, HYPER_CTL_HEADER_SIZE) < 0) {
		return -EIO;
	}
	m->code = bytes_get_be32(h);
	m->payload_len = len;
	m->payload = payload;
	return 0;
}

void hyper_ctl_msg_deinit(struct hyper_ctl_msg *m)
{
	if (!m)
		return;
	free(m->payload);
	*m = (struct hyper_ctl_msg){ 0 };
}

/* Besides the documented results: -EINVAL for a NULL @payload with a length. */
int hyper_ctl_encode(struct evbuffer *out, uint32_t code,
		     const void *payload, size_t len)
{
	struct evbuffer_iovec v;
	uint8_t *p;

	if (!payload && len)
		return -EINVAL;
	/* The length field counts the header too and is 32 bits wide. */
	if ((uint64_t)len > (uint64_t)UINT32_MAX - HYPER_CTL_HEADER_SIZE)
		return -EMSGSIZE;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(HYPER_CTL_HEADER_SIZE + len),
				   &v, 1) != 1)
		return -ENOMEM;
	p = v.iov_base;
	bytes_put_be32(p, code);
	bytes_put_be32(p + 4, (uint32_t)(HYPER_CTL_HEADER_SIZE + len));
	if (len)
		memcpy(p + HYPER_CTL_HEADER_SIZE, payload, len);
	v.iov_len = HYPER_CTL_HEADER_SIZE + len;
	if (evbuffer_commit_space(out, &v, 1) < 0)
		return -ENOMEM;
	return 0;
}

int hyper_ctl_encode_next(struct evbuffer *out, uint32_t n)
{
	uint8_t count[4];

	bytes_put_be32(count, n);
	return hyper_ctl_encode(out, HYPER_NEXT, count, sizeof(count));
}

/* Also HYPER_E_INVALID when @m is not a NEXT message at all. */
int hyper_next_count(const struct hyper_ctl_msg *m, uint32_t *n)
{
	if (m->code != HYPER_NEXT || m->payload_len != 4 || !m->payload)
		return HYPER_E_INVALID;
	*n = bytes_get_be32(m->payload);
	return 0;
}

int hyper_io_peek(struct evbuffer *in, size_t max_total, uint64_t *seq,
		  size_t *data_len, const char **why)
{
	uint8_t h[HYPER_IO_HEADER_SIZE];
	size_t have = evbuffer_get_length(in), n;
	uint32_t total;
	uint64_t s;
	int r;

	if (have < HYPER_IO_HEADER_SIZE)
		return HYPER_E_INCOMPLETE;
	if (evbuffer_copyout(in, h, sizeof(h)) != (ev_ssize_t)sizeof(h))
		return -ENOMEM;
	total = bytes_get_be32(h + 8);
	/* Judged on the header alone (copied out), then on @have. */
	r = hyper_io_parse(h, sizeof(h), max_total, &s, &n, why);
	if (r && r != HYPER_E_INCOMPLETE)
		return r;
	if (have < total)
		return HYPER_E_INCOMPLETE;
	*seq = bytes_get_be64(h);
	*data_len = total - HYPER_IO_HEADER_SIZE;
	return 0;
}

int hyper_io_parse(const uint8_t *h, size_t have, size_t max_total,
		   uint64_t *seq, size_t *data_len, const char **why)
{
	uint32_t total;

	if (have < HYPER_IO_HEADER_SIZE)
		return HYPER_E_INCOMPLETE;
	total = bytes_get_be32(h + 8);
	/* Judged before the data is awaited: an agent announcing more than
	 * it may send loses the channel at once. */
	if (total < HYPER_IO_HEADER_SIZE)
		return hyper_invalid(why, "io message length below its header");
	if (total > max_total)
		return hyper_invalid(why, "io message length over the maximum");
	if (have < total)
		return HYPER_E_INCOMPLETE;
	*seq = bytes_get_be64(h);
	*data_len = total - HYPER_IO_HEADER_SIZE;
	return 0;
}

/*
 * Reserve room in @out for @len data bytes cut into io messages, and
 * return the start of that room in *@p (one contiguous extent). Return:
 * the number of bytes reserved, 0 on failure (-ENOMEM / -EMSGSIZE in *@r).
 */
static size_t hyper_io_reserve(struct evbuffer *out, size_t len,
			       struct evbuffer_iovec *v, int *r)
{
	size_t chunks = len ? (len - 1) / HYPER_IO_CHUNK + 1 : 1;
	size_t total;

	/* The headers add under 0.3 %: with @len at most half the address
	 * space, the sum cannot wrap. */
	total = chunks * HYPER_IO_HEADER_SIZE + len;
	if (len > SIZE_MAX / 2 || total > (size_t)EV_SSIZE_MAX) {
		*r = -EMSGSIZE;
		return 0;
	}
	if (evbuffer_reserve_space(out, (ev_ssize_t)total, v, 1) != 1) {
		*r = -ENOMEM;
		return 0;
	}
	return total;
}

void hyper_io_header(uint8_t *p, uint64_t seq, size_t n)
{
	bytes_put_be64(p, seq);
	bytes_put_be32(p + 8, (uint32_t)(HYPER_IO_HEADER_SIZE + n));
}

int hyper_io_encode(struct evbuffer *out, uint64_t seq, const void *data,
		    size_t len)
{
	struct evbuffer_iovec v;
	const uint8_t *src = data;
	size_t total, off = 0;
	uint8_t *p;
	int r = 0;

	if (!data && len)
		return -EINVAL;
	total = hyper_io_reserve(out, len, &v, &r);
	if (!total)
		return r;
	p = v.iov_base;
	do {
		size_t n = len - off < HYPER_IO_CHUNK ? len - off : HYPER_IO_CHUNK;

		hyper_io_header(p, seq, n);
		if (n)
			memcpy(p + HYPER_IO_HEADER_SIZE, src + off, n);
		p += HYPER_IO_HEADER_SIZE + n;
		off += n;
	} while (off < len);
	v.iov_len = total;
	return evbuffer_commit_space(out, &v, 1) < 0 ? -ENOMEM : 0;
}

/*
 * The data is copied once, straight from @src into @out's reserved
 * space, and drained from @src only when all of it is in place; -EINVAL
 * (nothing changed) when @src holds fewer than @len bytes.
 */
int hyper_io_encode_buffer(struct evbuffer *out, uint64_t seq,
			   struct evbuffer *src, size_t len)
{
	struct evbuffer_ptr pos;
	struct evbuffer_iovec v;
	size_t total, off = 0;
	uint8_t *p;
	int r = 0;

	if (evbuffer_get_length(src) < len)
		return -EINVAL;
	total = hyper_io_reserve(out, len, &v, &r);
	if (!total)
		return r;
	p = v.iov_base;
	if (evbuffer_ptr_set(src, &pos, 0, EVBUFFER_PTR_SET) < 0)
		return -EIO;	/* the reservation is simply left uncommitted */
	do {
		size_t n = len - off < HYPER_IO_CHUNK ? len - off : HYPER_IO_CHUNK;

		hyper_io_header(p, seq, n);
		if (n && evbuffer_copyout_from(src, &pos, p + HYPER_IO_HEADER_SIZE,
					       n) != (ev_ssize_t)n)
			return -EIO;
		p += HYPER_IO_HEADER_SIZE + n;
		off += n;
		/* Advance only while more is to come: @pos stays inside @src. */
		if (off < len && evbuffer_ptr_set(src, &pos, n, EVBUFFER_PTR_ADD) < 0)
			return -EIO;
	} while (off < len);
	v.iov_len = total;
	if (evbuffer_commit_space(out, &v, 1) < 0)
		return -ENOMEM;
	return evbuffer_drain(src, len) < 0 ? -EIO : 0;
}
