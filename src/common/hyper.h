/*
 * hyper.h - the hyperstart agent's ctl and io message codecs (PROTOCOL.md
 * part 2). Pure functions over evbuffers: no I/O.
 *
 * ctl: u32 code | u32 length (total, incl. the 8-byte header) | JSON
 * io:  u64 seq  | u32 length (total, incl. the 12-byte header) | data
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/buffer.h>

#define HYPER_CTL_HEADER_SIZE	8
#define HYPER_IO_HEADER_SIZE	12
/* hyperstart 1.1.0 dies on a larger io message: never send more. */
#define HYPER_IO_SEND_MAX	4096
/* Data bytes in one io message of HYPER_IO_SEND_MAX. */
#define HYPER_IO_SEND_DATA_MAX	(HYPER_IO_SEND_MAX - HYPER_IO_HEADER_SIZE)
/* The agent sends io messages up to this size (total). */
#define HYPER_IO_RECV_MAX	10240
/* Default bound on one ctl message from the agent (total). It must fit,
 * with its framing, in one master<->helper message (ipc.h). */
#define HYPER_CTL_RECV_MAX	(192u * 1024u)
/* The classic agent buffer size; hyperstart 1.x accepts larger commands. */
#define HYPER_CTL_CLASSIC_MAX	10240

enum hyper_code {
	HYPER_VERSION = 0,
	HYPER_STARTPOD = 1,
	HYPER_DESTROYPOD = 4,
	HYPER_EXECCMD = 6,
	HYPER_READY = 8,
	HYPER_ACK = 9,
	HYPER_ERROR = 10,
	HYPER_WINSIZE = 11,
	HYPER_PING = 12,
	HYPER_NEXT = 14,
	HYPER_WRITEFILE = 15,
	HYPER_READFILE = 16,
	HYPER_NEWCONTAINER = 17,
	HYPER_KILLCONTAINER = 18,
	HYPER_ONLINECPUMEM = 19,
	HYPER_SETUPINTERFACE = 20,
	HYPER_SETUPROUTE = 21,
	HYPER_REMOVECONTAINER = 22,
	HYPER_PROCESSASYNCEVENT = 23,
};

enum {
	HYPER_E_INCOMPLETE = 1,	/* need more bytes; nothing consumed */
	HYPER_E_INVALID = 2,	/* bad length field: the channel is lost */
};

/**
 * hyper_command_from_name() - the code of a command a client may send
 * through Hyper ("version", "startpod", "destroypod", "execcmd",
 * "winsize", "ping", "writefile", "readfile", "newcontainer",
 * "killcontainer", "onlinecpumem", "setupinterface", "setuproute",
 * "removecontainer"). Return: the code, or -1 for anything else
 * (including the agent-to-proxy messages ready/ack/error/next/
 * processasyncevent).
 */
int hyper_command_from_name(const char *name);

/** hyper_code_name() - the name of any code in enum hyper_code, or "unknown". */
const char *hyper_code_name(uint32_t code);

struct hyper_ctl_msg {
	uint32_t code;
	uint32_t payload_len;	/* length - 8 */
	uint8_t *payload;	/* malloc'd, payload_len bytes + a NUL; NULL if empty */
};

/**
 * hyper_ctl_decode() - take one ctl message off @in.
 * @max_total: largest acceptable total length; a length field above it or
 *             below 8 is HYPER_E_INVALID (checked before allocation)
 * Return: 0 (drained, caller owns m->payload), HYPER_E_INCOMPLETE,
 * HYPER_E_INVALID with *why set, or -ENOMEM.
 */
int hyper_ctl_decode(struct evbuffer *in, size_t max_total,
		     struct hyper_ctl_msg *m, const char **why);
void hyper_ctl_msg_deinit(struct hyper_ctl_msg *m);

/** hyper_ctl_encode() - append a ctl message. Return: 0, -ENOMEM, -EMSGSIZE. */
int hyper_ctl_encode(struct evbuffer *out, uint32_t code,
		     const void *payload, size_t len);

/** hyper_ctl_encode_next() - append NEXT carrying the u32 byte count @n. */
int hyper_ctl_encode_next(struct evbuffer *out, uint32_t n);

/**
 * hyper_next_count() - the byte count carried by a NEXT message.
 * Return: 0, or HYPER_E_INVALID when the payload is not exactly 4 bytes.
 */
int hyper_next_count(const struct hyper_ctl_msg *m, uint32_t *n);

/**
 * hyper_io_peek() - look at the next io message without consuming it.
 * @max_total: largest acceptable total length (HYPER_IO_RECV_MAX for the
 *             agent's messages); above it, or below 12: HYPER_E_INVALID
 * @seq, @data_len: out, when a whole message is buffered
 * Return: 0 when the whole message (header + data) is in @in - the caller
 * then drains HYPER_IO_HEADER_SIZE and consumes @data_len bytes, e.g. with
 * evbuffer_remove_buffer() (no copy); HYPER_E_INCOMPLETE; HYPER_E_INVALID.
 */
int hyper_io_peek(struct evbuffer *in, size_t max_total, uint64_t *seq,
		  size_t *data_len, const char **why);

/**
 * hyper_io_parse() - hyper_io_peek() over @have bytes at @h (flat memory,
 * e.g. a read buffer parsed in place). HYPER_E_INCOMPLETE with *@data_len
 * set once the header is there but not all the data.
 */
int hyper_io_parse(const uint8_t *h, size_t have, size_t max_total,
		   uint64_t *seq, size_t *data_len, const char **why);

/**
 * hyper_io_header() - write at @p the io message header for @n data bytes
 * on @seq (HYPER_IO_HEADER_SIZE bytes).
 */
void hyper_io_header(uint8_t *p, uint64_t seq, size_t n);

/**
 * hyper_io_encode() - append @len bytes of data for @seq as io messages
 * of at most HYPER_IO_SEND_MAX bytes each (header included), in order.
 * @len == 0 appends one empty message (end of stream / close stdin).
 * Return: 0 or -ENOMEM.
 */
int hyper_io_encode(struct evbuffer *out, uint64_t seq, const void *data,
		    size_t len);

/**
 * hyper_io_encode_buffer() - the same, moving the first @len bytes of
 * @src (drained) without an intermediate copy where possible.
 */
int hyper_io_encode_buffer(struct evbuffer *out, uint64_t seq,
			   struct evbuffer *src, size_t len);
