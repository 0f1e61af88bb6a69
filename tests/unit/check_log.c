/*
 * check_log.c - unit tests of log.c: level resolution, the stderr line
 * (captured on a pipe or datagram socket dup2'ed onto fd 2), the native
 * journal datagram (byte for byte, with a multi-line value in the binary
 * form), drop-and-count when the journal socket is full or a record too
 * large, target selection through $JOURNAL_STREAM, and the hexdump; the
 * native writer under a seccomp filter that kills on sendto/sendmsg (the
 * helper's allowlist has neither), the installed sender (the master's
 * sd_journal_sendv, or a fake that records the fields) and the stderr
 * fallback without one.
 * Every test runs in its own process (fork mode): the log state is fresh.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <seccomp.h>
#include <systemd/sd-journal.h>

#include "log.h"
#include "msgid.h"
#include "unit_main.h"

/* ---- level and target ----------------------------------------------- */

struct level_case {
	const char *arg;	/* -v, or NULL */
	const char *env;	/* $CC_PROXY_LOG_LEVEL, or NULL = unset */
	int rc;
	int level;
};

static const struct level_case level_cases[] = {
	{ NULL, NULL, 0, 0 },
	{ "0", NULL, 0, 0 },
	{ "3", NULL, 0, 3 },
	{ NULL, "2", 0, 2 },
	{ NULL, "", 0, 0 },		/* empty = unset */
	{ "1", "3", 0, 1 },		/* -v wins */
	{ "0", "3", 0, 0 },		/* even when it says 0 */
	{ "2", "bogus", 0, 2 },		/* the env is not looked at */
	{ "4", NULL, -EINVAL, -1 },
	{ "-1", NULL, -EINVAL, -1 },
	{ "+1", NULL, -EINVAL, -1 },
	{ " 1", NULL, -EINVAL, -1 },
	{ "1x", NULL, -EINVAL, -1 },
	{ "", NULL, -EINVAL, -1 },
	{ "99999999999999999999", NULL, -EINVAL, -1 },
	{ NULL, "7", -EINVAL, -1 },
	{ NULL, "two", -EINVAL, -1 },
	{ "", "1", -EINVAL, -1 },	/* an empty -v is still -v */
};

START_TEST(test_level_resolve)
{
	const struct level_case *c = &level_cases[_i];
	int level = -1;

	if (c->env)
		ck_assert_int_eq(setenv(LOG_LEVEL_ENV, c->env, 1), 0);
	else
		unsetenv(LOG_LEVEL_ENV);
	ck_assert_int_eq(log_level_resolve(c->arg, &level), c->rc);
	ck_assert_int_eq(level, c->level);	/* untouched on error */
}
END_TEST

START_TEST(test_target_parse)
{
	enum log_target t = LOG_TARGET_AUTO;

	ck_assert_int_eq(log_target_parse("journal", &t), 0);
	ck_assert_int_eq(t, LOG_TARGET_JOURNAL);
	ck_assert_int_eq(log_target_parse("stderr", &t), 0);
	ck_assert_int_eq(t, LOG_TARGET_STDERR);
	ck_assert_int_eq(log_target_parse("auto", &t), 0);
	ck_assert_int_eq(t, LOG_TARGET_AUTO);
	ck_assert_int_eq(log_target_parse("syslog", &t), -EINVAL);
	ck_assert_int_eq(log_target_parse("Journal", &t), -EINVAL);
	ck_assert_int_eq(log_target_parse(NULL, &t), -EINVAL);
}
END_TEST

/* ---- stderr --------------------------------------------------------- */

/* Replace fd 2 by the write end of a non-blocking pipe; return the reader. */
static int capture_stderr_pipe(void)
{
	int p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	close(p[1]);
	return p[0];
}

static size_t drain(int fd, char *buf, size_t size)
{
	size_t off = 0;
	ssize_t n;

	while (off < size - 1 && (n = read(fd, buf + off, size - 1 - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	return off;
}

START_TEST(test_stderr_line)
{
	char buf[1024], want[1024];
	int rd = capture_stderr_pipe();

	log_init("cc-test", 1, LOG_TARGET_STDERR, -1);
	ck_assert(!log_uses_journal());
	ck_assert_int_eq(log_get_level(), 1);
	log_submit(LOG_INFO, 1, MSGID_VM_REGISTERED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", "abc" },
			      { "CC_REASON", "two words" },
			      { "CC_SKIPPED", NULL },
			      { "HELPER_PID", "42" },
			      { "CC_EMPTY", "" }),
		   "vm %s registered", "abc");
	snprintf(want, sizeof(want),
		 "cc-test[%d]: INFO vm abc registered container_id=abc "
		 "reason=\"two words\" helper_pid=42 empty=\"\"\n", (int)getpid());
	drain(rd, buf, sizeof(buf));
	ck_assert_str_eq(buf, want);

	/* Below the level: nothing at all. */
	log_submit(LOG_DEBUG, 2, NULL, NULL, "hidden");
	log_debug("hidden too");
	ck_assert_uint_eq(drain(rd, buf, sizeof(buf)), 0);

	/* Level names, and no fields. */
	log_error("e%d", 1);
	log_warn("w");
	log_submit(LOG_NOTICE, 0, NULL, NULL, "n");
	snprintf(want, sizeof(want),
		 "cc-test[%d]: ERROR e1\ncc-test[%d]: WARNING w\ncc-test[%d]: NOTICE n\n",
		 (int)getpid(), (int)getpid(), (int)getpid());
	drain(rd, buf, sizeof(buf));
	ck_assert_str_eq(buf, want);
}
END_TEST

/* Peer-controlled text cannot start a forged record: control characters
 * are escaped, a newline continues with a tab, quotes are escaped. */
START_TEST(test_stderr_escaping)
{
	char buf[1024], want[1024];
	int rd = capture_stderr_pipe();

	log_init("cc-test", 0, LOG_TARGET_STDERR, -1);
	log_submit(LOG_WARNING, 0, NULL,
		   LOG_FIELDS({ "CC_MSG", "say \"hi\"\ncc-test[1]: ERROR forged" },
			      { "CC_BELL", "a\x07" "b" }),
		   "line1\nline2\r\x1b[2J");
	snprintf(want, sizeof(want),
		 "cc-test[%d]: WARNING line1\n\tline2\\x0d\\x1b[2J "
		 "msg=\"say \\\"hi\\\"\n\tcc-test[1]: ERROR forged\" bell=\"a\\x07b\"\n",
		 (int)getpid());
	drain(rd, buf, sizeof(buf));
	ck_assert_str_eq(buf, want);
}
END_TEST

/* One record, one write(2): on a datagram socket each write is one
 * datagram, so the whole record must arrive in the first one. */
START_TEST(test_stderr_single_write)
{
	char buf[8192];
	unsigned char data[300];
	int sv[2];
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(dup2(sv[0], STDERR_FILENO), STDERR_FILENO);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)i;
	log_init("cc-test", 2, LOG_TARGET_STDERR, -1);
	log_hexdump(LOG_FIELDS({ "CC_CONTAINER_ID", "c1" }), "agent->shim", data, sizeof(data));
	n = recv(sv[1], buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_int_eq(buf[n - 1], '\n');
	ck_assert_ptr_nonnull(strstr(buf, "DEBUG agent->shim: 300 bytes container_id=c1 hexdump=\""));
	ck_assert_ptr_nonnull(strstr(buf, "0000  00 01 02 03"));
	ck_assert_ptr_nonnull(strstr(buf, "\n\t00f0  f0 f1"));
	ck_assert_ptr_nonnull(strstr(buf, "... 44 more bytes\""));
	ck_assert_ptr_null(strstr(buf, "0100  "));	/* bounded at 256 */
	/* nothing else came */
	ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), 0), -1);
	ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

START_TEST(test_hexdump_level)
{
	char buf[4096];
	int rd = capture_stderr_pipe();

	log_init("cc-test", 1, LOG_TARGET_STDERR, -1);
	log_hexdump(NULL, "x", "abc", 3);
	ck_assert_uint_eq(drain(rd, buf, sizeof(buf)), 0);
	log_init("cc-test", 2, LOG_TARGET_STDERR, -1);
	log_hexdump(NULL, "x", "abc", 3);
	drain(rd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "DEBUG x: 3 bytes hexdump=\"0000  61 62 63 "));
	ck_assert_ptr_nonnull(strstr(buf, "|abc|\"\n"));
}
END_TEST

/* ---- journal -------------------------------------------------------- */

static size_t put(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return n;
}

START_TEST(test_native_datagram)
{
	char buf[4096], want[4096], cap[64];
	const char *multi = "line1\nline2";
	size_t w = 0;
	int sv[2], rd;
	ssize_t n;

	rd = capture_stderr_pipe();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	log_init("cc-test", 0, LOG_TARGET_JOURNAL, sv[0]);
	ck_assert(log_uses_journal());
	log_submit(LOG_WARNING, 0, MSGID_VM_REGISTERED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", "abc" },
			      { "CC_REASON", multi },
			      { "CC_SKIPPED", NULL },
			      { "bad key", "dropped" }),
		   "hello %s", "world");
	n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);

	w += put(want + w, "MESSAGE=hello world\nPRIORITY=4\nMESSAGE_ID=");
	w += put(want + w, MSGID_VM_REGISTERED);
	w += put(want + w, "\nSYSLOG_IDENTIFIER=cc-test\nCC_CONTAINER_ID=abc\nCC_REASON\n");
	for (int i = 0; i < 8; i++)	/* 64-bit little endian length */
		want[w++] = (char)(i == 0 ? strlen(multi) : 0);
	w += put(want + w, multi);
	w += put(want + w, "\n");
	ck_assert_int_eq(n, (ssize_t)w);
	ck_assert_mem_eq(buf, want, w);

	/* A multi-line MESSAGE uses the binary form too. */
	log_submit(LOG_ERR, 0, NULL, NULL, "a\nb");
	n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
	ck_assert_int_gt(n, 0);
	ck_assert_mem_eq(buf, "MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\nPRIORITY=3\n", 31);
	ck_assert_int_eq(log_dropped(), 0);
	/* nothing went to stderr */
	ck_assert_uint_eq(drain(rd, cap, sizeof(cap)), 0);
}
END_TEST

/* The hexdump's multi-line field goes out in the binary form. */
START_TEST(test_native_hexdump)
{
	char buf[8192];
	int sv[2];
	ssize_t n;
	const char *p;
	uint64_t len = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	log_init("cc-test", 2, LOG_TARGET_JOURNAL, sv[0]);
	log_hexdump(NULL, "io", "0123456789abcdefXYZ", 19);
	n = recv(sv[1], buf, sizeof(buf) - 1, MSG_DONTWAIT);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "MESSAGE=io: 19 bytes\nPRIORITY=7\n"));
	p = memmem(buf, (size_t)n, "CC_HEXDUMP\n", 11);
	ck_assert_ptr_nonnull(p);
	p += 11;
	for (int i = 7; i >= 0; i--)
		len = (len << 8) | (unsigned char)p[i];
	ck_assert_uint_eq((size_t)(p + 8 - buf) + len + 1, (size_t)n);
	ck_assert_int_eq(strncmp(p + 8, "0000  30 31 32", 14), 0);
	ck_assert_ptr_nonnull(memmem(p + 8, len, "|0123456789abcdef|\n0010  58 59 5a", 33));
	ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

/* A full socket never blocks: records are dropped and counted, and every
 * record is either received or counted. */
START_TEST(test_native_drop_on_full)
{
	enum { TOTAL = 5000 };
	char buf[2048];
	int sv[2], size = 4096, received = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
	log_init("cc-test", 0, LOG_TARGET_JOURNAL, sv[0]);
	for (int i = 0; i < TOTAL; i++)
		log_submit(LOG_ERR, 0, NULL, LOG_FIELDS({ "CC_N", "1" }), "record %d", i);
	ck_assert_uint_gt(log_dropped(), 0);
	while (recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		received++;
	ck_assert_int_gt(received, 0);
	ck_assert_uint_eq(log_dropped() + (uint64_t)received, TOTAL);

	/* Room again: delivered, not counted. */
	log_error("after");
	ck_assert_int_gt(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 0);
	ck_assert_uint_eq(log_dropped() + (uint64_t)received, TOTAL);
}
END_TEST

START_TEST(test_native_drop_too_large)
{
	char buf[64];
	char *huge = malloc(100000);
	int sv[2];

	ck_assert_ptr_nonnull(huge);
	memset(huge, 'x', 99999);
	huge[99999] = '\0';
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	log_init("cc-test", 0, LOG_TARGET_JOURNAL, sv[0]);
	log_submit(LOG_ERR, 0, NULL, LOG_FIELDS({ "CC_BIG", huge }), "big");
	ck_assert_uint_eq(log_dropped(), 1);
	ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	free(huge);
}
END_TEST

/* A new journal fd replaces (closes) the old one; -1 later keeps it. */
START_TEST(test_journal_fd_ownership)
{
	int a[2], b[2];
	char buf[256];
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, b), 0);
	log_init("cc-test", 0, LOG_TARGET_JOURNAL, a[0]);
	log_init("cc-test", 0, LOG_TARGET_JOURNAL, b[0]);
	ck_assert_int_eq(fcntl(a[0], F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	log_init("cc-helper", 0, LOG_TARGET_JOURNAL, -1);
	log_error("to b");
	n = recv(b[1], buf, sizeof(buf), MSG_DONTWAIT);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(strncmp(buf, "MESSAGE=to b\n", 13), 0);
	ck_assert_ptr_nonnull(memmem(buf, (size_t)n, "SYSLOG_IDENTIFIER=cc-helper\n", 28));
}
END_TEST

/* The confined helper writes its records with write(2) on the connected
 * socket: under a filter that kills the process on sendto, sendmsg or
 * sendmmsg, a record still arrives whole, and the socket was made
 * non-blocking (write(2) has no MSG_DONTWAIT). */
START_TEST(test_native_write_only)
{
	char buf[256];
	int sv[2];
	scmp_filter_ctx ctx;
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(sendto), 0), 0);
	ck_assert_int_eq(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(sendmsg), 0), 0);
	ck_assert_int_eq(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(sendmmsg), 0), 0);
	ck_assert_int_eq(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1), 0);
	ck_assert_int_eq(seccomp_load(ctx), 0);
	seccomp_release(ctx);

	log_init("cc-helper", 0, LOG_TARGET_JOURNAL, sv[0]);
	ck_assert_int_ne(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	log_submit(LOG_NOTICE, 0, NULL, LOG_FIELDS({ "CC_LINES", "one\ntwo" }), "confined");
	n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
	ck_assert_int_eq(n, (ssize_t)(sizeof("MESSAGE=confined\nPRIORITY=5\n"
		"SYSLOG_IDENTIFIER=cc-helper\nCC_LINES\n") - 1 + 8 + 7 + 1));
	ck_assert_mem_eq(buf, "MESSAGE=confined\nPRIORITY=5\nSYSLOG_IDENTIFIER=cc-helper\n"
			 "CC_LINES\n\x07\0\0\0\0\0\0\0one\ntwo\n", (size_t)n);
	ck_assert_uint_eq(log_dropped(), 0);
}
END_TEST

/* The installed sender gets one "KEY=value" iovec per field, multi-line
 * values as they are (sd_journal_sendv encodes them). */
static char sent[8][64];
static int n_sent;

static int fake_sendv(const struct iovec *iov, int n)
{
	n_sent = n;
	for (int i = 0; i < n && i < 8; i++)
		snprintf(sent[i], sizeof(sent[i]), "%.*s", (int)iov[i].iov_len,
			 (const char *)iov[i].iov_base);
	return 0;
}

START_TEST(test_sendv_fields)
{
	char buf[64];
	int rd = capture_stderr_pipe();

	log_set_journal_sendv(fake_sendv);
	log_init("cc-test", 0, LOG_TARGET_JOURNAL, -1);
	log_submit(LOG_ERR, 0, MSGID_HELPER_STOPPED,
		   LOG_FIELDS({ "CC_REASON", "multi\nline" }), "stopped");
	ck_assert_int_eq(n_sent, 5);
	ck_assert_str_eq(sent[0], "MESSAGE=stopped");
	ck_assert_str_eq(sent[1], "PRIORITY=3");
	ck_assert_str_eq(sent[2], "MESSAGE_ID=" MSGID_HELPER_STOPPED);
	ck_assert_str_eq(sent[3], "SYSLOG_IDENTIFIER=cc-test");
	ck_assert_str_eq(sent[4], "CC_REASON=multi\nline");
	ck_assert_uint_eq(drain(rd, buf, sizeof(buf)), 0);
}
END_TEST

/* The master's sender: records go to sd_journal_sendv(), never to stderr.
 * (libsystemd reports success when no journald runs at all.) */
START_TEST(test_sd_journal_path)
{
	char buf[64];
	int rd = capture_stderr_pipe();

	log_set_journal_sendv(sd_journal_sendv);
	log_init("cc-test", 0, LOG_TARGET_JOURNAL, -1);
	ck_assert(log_uses_journal());
	log_submit(LOG_ERR, 0, MSGID_HELPER_STOPPED,
		   LOG_FIELDS({ "CC_REASON", "multi\nline" }), "via libsystemd");
	ck_assert_uint_eq(drain(rd, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(log_dropped(), 0);
}
END_TEST

/* Neither a journal fd nor a sender (a program that does not link
 * libsystemd): the record is not lost, it becomes a stderr line. */
START_TEST(test_journal_without_sender)
{
	char buf[256];
	int rd = capture_stderr_pipe();
	size_t n;

	log_init("cc-test", 0, LOG_TARGET_JOURNAL, -1);
	log_error("no sender");
	n = drain(rd, buf, sizeof(buf) - 1);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "cc-test["));
	ck_assert_ptr_nonnull(strstr(buf, "ERROR no sender\n"));
}
END_TEST

START_TEST(test_auto_target)
{
	struct stat st;
	char env[64];

	capture_stderr_pipe();
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);

	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("cc-test", 0, LOG_TARGET_AUTO, -1);
	ck_assert(log_uses_journal());

	/* explicit stderr wins over the environment */
	log_init("cc-test", 0, LOG_TARGET_STDERR, -1);
	ck_assert(!log_uses_journal());

	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("cc-test", 0, LOG_TARGET_AUTO, -1);
	ck_assert(!log_uses_journal());

	setenv("JOURNAL_STREAM", "garbage", 1);
	log_init("cc-test", 0, LOG_TARGET_AUTO, -1);
	ck_assert(!log_uses_journal());

	snprintf(env, sizeof(env), "%llu:%llux", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("cc-test", 0, LOG_TARGET_AUTO, -1);
	ck_assert(!log_uses_journal());

	unsetenv("JOURNAL_STREAM");
	log_init("cc-test", 0, LOG_TARGET_AUTO, -1);
	ck_assert(!log_uses_journal());
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = unit_tcase(s, "settings", 10);
	TCase *te = unit_tcase(s, "stderr", 10);
	TCase *tj = unit_tcase(s, "journal", 10);

	tcase_add_loop_test(tc, test_level_resolve, 0, N_ELEM(level_cases));
	tcase_add_test(tc, test_target_parse);
	tcase_add_test(tc, test_auto_target);

	tcase_add_test(te, test_stderr_line);
	tcase_add_test(te, test_stderr_escaping);
	tcase_add_test(te, test_stderr_single_write);
	tcase_add_test(te, test_hexdump_level);

	tcase_add_test(tj, test_native_datagram);
	tcase_add_test(tj, test_native_hexdump);
	tcase_add_test(tj, test_native_drop_on_full);
	tcase_add_test(tj, test_native_drop_too_large);
	tcase_add_test(tj, test_journal_fd_ownership);
	tcase_add_test(tj, test_native_write_only);
	tcase_add_test(tj, test_sendv_fields);
	tcase_add_test(tj, test_sd_journal_path);
	tcase_add_test(tj, test_journal_without_sender);
	return s;
}

int main(void)
{
	return run_suite(log_suite());
}
