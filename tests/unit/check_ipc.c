/*
 * check_ipc.c - unit tests of ipc.c: the validation table through
 * ipc_encode()/ipc_decode() (every type, every rejection), the socketpair
 * (a maximum-size message fits). The channel is in check_ipc_channel.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "fdpass.h"
#include "ipc.h"
#include "ipc_test.h"
#include "unit_main.h"


struct msgcase {
	uint32_t type;
	enum ipc_dir dir;
	union fixed_any f;
	size_t fixed_len;
	const char *var;
	bool fd;	/* the type requires one */
};

#define HYPER_VAR "{\"container\":\"abc\"}"
#define TOKEN_VAR "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define VLEN(s) ((uint32_t)sizeof(s) - 1)
#define FLEN(s) sizeof(struct s)

/* One valid message of each type. */
static const struct msgcase cases[] = {
	{ IPC_M_HELLO, IPC_DIR_TO_HELPER, { .hello = { IPC_VERSION, 1234 } }, FLEN(ipc_hello), "", false },
	{ IPC_M_HYPER, IPC_DIR_TO_HELPER, { .hyper = { 3, 17, VLEN(HYPER_VAR) } },
	  FLEN(ipc_hyper), HYPER_VAR, false },
	{ IPC_M_ADD_TOKEN, IPC_DIR_TO_HELPER, { .token = { 5, VLEN(TOKEN_VAR), 0 } },
	  FLEN(ipc_token), TOKEN_VAR, false },
	{ IPC_M_SHIM, IPC_DIR_TO_HELPER, { .shim = { 7, VLEN("leftover"), 99, 1000, 1001 } },
	  FLEN(ipc_shim), "leftover", true },
	{ IPC_M_UNREGISTER, IPC_DIR_TO_HELPER, { .empty = { 0 } }, FLEN(ipc_empty), "", false },
	{ IPC_M_SHUTDOWN, IPC_DIR_TO_HELPER, { .empty = { 0 } }, FLEN(ipc_empty), "", false },
	{ IPC_M_STATS, IPC_DIR_TO_HELPER, { .empty = { 0 } }, FLEN(ipc_empty), "", false },
	{ IPC_M_PING, IPC_DIR_TO_HELPER, { .empty = { 0 } }, FLEN(ipc_empty), "", false },
	{ IPC_H_HELLO, IPC_DIR_TO_MASTER, { .hello = { IPC_VERSION, 4321 } }, FLEN(ipc_hello), "", false },
	{ IPC_H_HYPER_ANSWER, IPC_DIR_TO_MASTER, { .answer = { 1, VLEN("agent said no") } },
	  FLEN(ipc_hyper_answer), "agent said no", false },
	{ IPC_H_SHIM_GONE, IPC_DIR_TO_MASTER, { .gone = { 9, 1, 0 } }, FLEN(ipc_shim_gone), "", false },
	{ IPC_H_VM_LOST, IPC_DIR_TO_MASTER, { .lost = { VLEN("ctl channel closed"), 0 } },
	  FLEN(ipc_vm_lost), "ctl channel closed", false },
	{ IPC_H_READY, IPC_DIR_TO_MASTER, { .empty = { 0 } }, FLEN(ipc_empty), "", false },
	{ IPC_H_STATS, IPC_DIR_TO_MASTER,
	  { .stats = { 1, 2, 3, 4, 5, 6, 7, 8, 9, IPC_STATS_F_UNREGISTERED, VLEN("shim dropped"), 0 } },
	  FLEN(ipc_stats), "shim dropped", false },
	{ IPC_H_PONG, IPC_DIR_TO_MASTER, { .empty = { 0 } }, FLEN(ipc_empty), "", false },
};
#define NCASES N_ELEM(cases)

static uint8_t *xbuf(void)
{
	uint8_t *b = calloc(1, IPC_MSG_MAX + 64);

	ck_assert_ptr_nonnull(b);
	return b;
}

START_TEST(test_encode_decode_each_type)
{
	struct msgcase c = cases[_i];
	union fixed_any copy;
	struct ipc_view v;
	const char *why = "unset";
	uint8_t *buf = xbuf();
	size_t vlen;
	ssize_t n;

	vlen = strlen(c.var);
	n = ipc_encode(buf, c.type, 0xabcd0000u + (uint32_t)_i, c.fd, &c.f,
		       c.fixed_len, c.var, vlen);
	ck_assert_int_eq(n, (ssize_t)(sizeof(struct ipc_header) + c.fixed_len + vlen));
	ck_assert_int_eq(ipc_decode(buf, (size_t)n, c.fd, c.dir, &v, &copy, &why), 0);
	ck_assert_ptr_null(why);
	ck_assert_uint_eq(v.type, c.type);
	ck_assert_uint_eq(v.id, 0xabcd0000u + (uint32_t)_i);
	ck_assert_ptr_eq(v.fixed, &copy);
	ck_assert_mem_eq(v.fixed, &c.f, c.fixed_len);
	ck_assert_uint_eq(v.var_len, vlen);
	if (vlen)
		ck_assert_mem_eq(v.var, c.var, vlen);
	else
		ck_assert_ptr_null(v.var);
	ck_assert_int_eq(v.fd, -1);
	ck_assert_str_ne(ipc_type_name(c.type), "IPC_UNKNOWN");
	ck_assert_str_eq(ipc_type_name(IPC_M_SHIM), "IPC_M_SHIM");
	ck_assert_str_eq(ipc_type_name(0x1ff), "IPC_UNKNOWN");
	/* The same bytes are refused in the other direction. */
	ck_assert_int_eq(ipc_decode(buf, (size_t)n, c.fd,
				    c.dir == IPC_DIR_TO_HELPER ? IPC_DIR_TO_MASTER : IPC_DIR_TO_HELPER,
				    &v, &copy, &why), IPC_E_INVALID);
	free(buf);
}
END_TEST

START_TEST(test_encode_errors)
{
	uint8_t *buf = xbuf();
	uint8_t *big = xbuf();
	struct ipc_hyper h = { 0, 6, 3 };
	struct ipc_token t = { 3, 300, 0 };
	struct ipc_shim s = { 3, 0, 1, 2, 3 };
	struct ipc_empty e = { 0 };

	ck_assert_int_eq(ipc_encode(buf, 0x999, 0, false, &e, sizeof(e), NULL, 0), -EINVAL);
	ck_assert_int_eq(ipc_encode(buf, IPC_M_HYPER, 0, false, &h, sizeof(h) - 1, "abc", 3), -EINVAL);
	/* length field 3, but 2 bytes given */
	ck_assert_int_eq(ipc_encode(buf, IPC_M_HYPER, 0, false, &h, sizeof(h), "ab", 2), -EINVAL);
	/* variable part for a type without one */
	ck_assert_int_eq(ipc_encode(buf, IPC_H_READY, 0, false, &e, sizeof(e), "x", 1), -EINVAL);
	/* fd rules */
	ck_assert_int_eq(ipc_encode(buf, IPC_M_HYPER, 0, true, &h, sizeof(h), "abc", 3), -EINVAL);
	ck_assert_int_eq(ipc_encode(buf, IPC_M_SHIM, 0, false, &s, sizeof(s), NULL, 0), -EINVAL);
	/* over the type's maximum, and over IPC_MSG_MAX */
	ck_assert_int_eq(ipc_encode(buf, IPC_M_ADD_TOKEN, 0, false, &t, sizeof(t), big, 300), -EMSGSIZE);
	h.data_len = IPC_MSG_MAX;
	ck_assert_int_eq(ipc_encode(buf, IPC_M_HYPER, 0, false, &h, sizeof(h), big, IPC_MSG_MAX), -EMSGSIZE);
	h.data_len = IPC_MSG_MAX - sizeof(struct ipc_header) - sizeof(h);
	ck_assert_int_eq(ipc_encode(buf, IPC_M_HYPER, 0, false, &h, sizeof(h), big, h.data_len),
			 (ssize_t)IPC_MSG_MAX);
	free(buf);
	free(big);
}
END_TEST

struct badcase {
	const char *why;
	uint32_t type, flags;
	union fixed_any f;
	size_t fixed_len, var_len;
	bool fd;		/* fd_attached */
	enum ipc_dir dir;
	int len_adjust;		/* added to the real message length */
	uint32_t hdr_len;	/* != 0: written into the header instead */
};

#define HY(n) { .hyper = { 0, 6, n } }
#define SH { .shim = { 3, 0, 1, 2, 3 } }
#define EM { .empty = { 0 } }
#define TH IPC_DIR_TO_HELPER

/* One row per rejection rule of ipc_decode(). */
static const struct badcase bad[] = {
	{ "message type not allowed in this direction", IPC_M_HYPER, 0, HY(3), 16, 3, false,
	  IPC_DIR_TO_MASTER, 0, 0 },
	{ "fixed part too short", IPC_M_HELLO, 0, EM, 4, 0, false, TH, 0, 0 },
	{ "fixed part too long", IPC_M_SHUTDOWN, 0, EM, 8, 0, false, TH, 0, 0 },
	{ "variable length does not match the message", IPC_M_HYPER, 0, HY(2), 16, 3, false, TH, 0, 0 },
	{ "variable part too long", IPC_M_ADD_TOKEN, 0, { .token = { 3, 300, 0 } }, 16, 300, false,
	  TH, 0, 0 },
	/* the helper's error text is bounded, and stats only go to the master */
	{ "variable part too long", IPC_H_STATS, 0, { .stats = { .error_len = 300 } },
	  FLEN(ipc_stats), 300, false, IPC_DIR_TO_MASTER, 0, 0 },
	{ "message type not allowed in this direction", IPC_H_STATS, 0, { .stats = { 0 } },
	  FLEN(ipc_stats), 0, false, TH, 0, 0 },
	{ "required fd missing", IPC_M_SHIM, 0, SH, 24, 0, false, TH, 0, 0 },
	/* flag without fd, fd without flag */
	{ "fd flag does not match the attached fd", IPC_M_SHIM, IPC_F_FD, SH, 24, 0, false, TH, 0, 0 },
	{ "fd flag does not match the attached fd", IPC_M_HYPER, 0, HY(3), 16, 3, true, TH, 0, 0 },
	{ "unexpected fd", IPC_M_HYPER, IPC_F_FD, HY(3), 16, 3, true, TH, 0, 0 },
	{ "unknown message type", 0x1ff, 0, EM, 4, 0, false, TH, 0, 0 },
	{ "unknown message type", 0x300, 0, EM, 4, 0, false, TH, 0, 0 },
	{ "header length does not match the message", IPC_M_SHUTDOWN, 0, EM, 4, 0, false, TH, -1, 0 },
	{ "message shorter than the header", IPC_M_SHUTDOWN, 0, EM, 4, 0, false, TH, -5, 0 },
	{ "unknown header flags", IPC_M_SHUTDOWN, 0x4, EM, 4, 0, false, TH, 0, 0 },
	{ "message longer than IPC_MSG_MAX", IPC_M_SHUTDOWN, 0, EM, 4, 0, false, TH, IPC_MSG_MAX, 0 },
	/* a length field that would wrap a 32-bit sum */
	{ "header length does not match the message", IPC_M_HYPER, 0, HY(3), 16, 3, false, TH, 0,
	  0xffffffffu },
};
#define NBAD N_ELEM(bad)

START_TEST(test_decode_rejects)
{
	static const uint8_t zeros[512];
	const struct badcase *c = &bad[_i];
	uint8_t *buf = xbuf();
	union fixed_any copy;
	struct ipc_view v = { .fd = 77 };
	const char *why = NULL;
	size_t len;

	len = raw_msg(buf, c->type, c->flags, &c->f, c->fixed_len, zeros, c->var_len);
	if (c->hdr_len)
		((struct ipc_header *)buf)->len = c->hdr_len;
	len = (size_t)((ssize_t)len + c->len_adjust);
	ck_assert_int_eq(ipc_decode(buf, len, c->fd, c->dir, &v, &copy, &why), IPC_E_INVALID);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, c->why);
	ck_assert_int_eq(v.fd, 77);	/* untouched */
	free(buf);
}
END_TEST

START_TEST(test_socketpair_max_message)
{
	int sv[2], rfd = 42, type = 0;
	socklen_t sl = sizeof(type);
	uint8_t *out = xbuf(), *in = xbuf();
	struct ipc_hyper h = { 0, 6, IPC_MSG_MAX - 32 };
	union fixed_any copy;
	struct ipc_view v;
	const char *why;
	ssize_t n;

	ck_assert_int_eq(ipc_socketpair(sv), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert(fcntl(sv[i], F_GETFD) & FD_CLOEXEC);
		ck_assert_int_eq(getsockopt(sv[i], SOL_SOCKET, SO_TYPE, &type, &sl), 0);
		ck_assert_int_eq(type, SOCK_SEQPACKET);
	}
	for (size_t i = 0; i < IPC_MSG_MAX; i++)
		out[i] = (uint8_t)(i * 7);
	memcpy(in, out, IPC_MSG_MAX);
	n = ipc_encode(out, IPC_M_HYPER, 5, false, &h, sizeof(h), in + 50, h.data_len);
	memset(in, 0, IPC_MSG_MAX);
	ck_assert_int_eq(n, (ssize_t)IPC_MSG_MAX);
	ck_assert_int_eq(fdpass_send(sv[0], out, (size_t)n, -1), 0);
	ck_assert_int_eq(fdpass_recv(sv[1], in, IPC_MSG_MAX, &rfd), (ssize_t)IPC_MSG_MAX);
	ck_assert_int_eq(rfd, -1);
	ck_assert_mem_eq(in, out, IPC_MSG_MAX);
	ck_assert_int_eq(ipc_decode(in, IPC_MSG_MAX, false, IPC_DIR_TO_HELPER, &v, &copy, &why), 0);
	ck_assert_uint_eq(v.var_len, IPC_MSG_MAX - 32);

	/* One byte more does not fit the receiver's buffer: truncation. */
	ck_assert_int_eq(fdpass_send(sv[0], out, IPC_MSG_MAX + 1, -1), 0);
	ck_assert_int_eq(fdpass_recv(sv[1], in, IPC_MSG_MAX, &rfd), -EMSGSIZE);
	close(sv[0]);
	close(sv[1]);
	free(out);
	free(in);
}
END_TEST

static Suite *ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = unit_tcase(s, "codec", 10);

	tcase_add_loop_test(tc, test_encode_decode_each_type, 0, NCASES);
	tcase_add_test(tc, test_encode_errors);
	tcase_add_loop_test(tc, test_decode_rejects, 0, NBAD);
	tcase_add_test(tc, test_socketpair_max_message);
	return s;
}

int main(void)
{
	return run_suite(ipc_suite());
}
