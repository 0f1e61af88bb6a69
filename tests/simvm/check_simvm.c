/*
 * check_simvm.c - tests of cc-proxy-simvm through its two sockets, with
 * no proxy involved (client.c): READY, NEXT accounting, ACK/ERROR,
 * demultiplexed stdout/stderr, exit status in both dialects, stdin and
 * its bounds, signals, the pty size, strictness and the fault knobs.
 * Each test starts its own VM in a private directory (Check's fork mode
 * isolates them) and stops it at the end.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client.h"
#include "hyper.h"

#define ACCEPT_SH "echo out; echo err >&2; read x; echo got $x; exit 7"

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
	va_end(ap);
	return s;
}

/* An execcmd payload running @argv (NULL-terminated), in @workdir (NULL:
 * none given). */
static char *exec_argv_json(const char *container, const char *id, unsigned seq,
			    unsigned err_seq, bool terminal, const char *const *argv,
			    const char *workdir)
{
	struct json_object *o = json_object_new_object(), *p = json_object_new_object();
	struct json_object *args = json_object_new_array();
	char *s;

	for (size_t i = 0; argv[i]; i++)
		json_object_array_add(args, json_object_new_string(argv[i]));
	if (id)
		json_object_object_add(p, "id", json_object_new_string(id));
	json_object_object_add(p, "terminal", json_object_new_boolean(terminal));
	json_object_object_add(p, "stdio", json_object_new_int(seq));
	json_object_object_add(p, "stderr", json_object_new_int(err_seq));
	json_object_object_add(p, "args", args);
	if (workdir)
		json_object_object_add(p, "workdir", json_object_new_string(workdir));
	json_object_object_add(o, "container", json_object_new_string(container));
	json_object_object_add(o, "process", p);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* An execcmd payload running sh -c @script. */
static char *exec_json(const char *container, const char *id, unsigned seq,
		       unsigned err_seq, bool terminal, const char *script)
{
	const char *const argv[] = { "sh", "-c", script, NULL };

	return exec_argv_json(container, id, seq, err_seq, terminal, argv, NULL);
}

/* A newcontainer payload: the same process, container @id. */
static char *newcontainer_json(const char *id, unsigned seq, const char *script)
{
	char *e = exec_json(id, NULL, seq, seq + 1, false, script);
	char *s = xasprintf("{\"id\":\"%s\",\"rootfs\":\"rootfs\",\"image\":\"x\",%s", id,
			    strstr(e, "\"process\""));

	free(e);
	return s;
}

static void exec_ok(struct vc *v, const char *container, const char *id,
		    unsigned seq, unsigned err_seq, bool terminal, const char *script)
{
	char *j = exec_json(container, id, seq, err_seq, terminal, script);

	vc_ack(v, HYPER_EXECCMD, j);
	free(j);
}

/* ---- ctl basics ---------------------------------------------------- */

START_TEST(ready_next_and_answers)
{
	static const uint32_t codes[] = { HYPER_PING, HYPER_EXECCMD, HYPER_PING };
	static const char *const jsons[] = { NULL, "{\"container\":\"nope\"}", NULL };
	struct vc v;
	char *big;
	int first;

	vc_start(&v, NULL);
	vc_ack(&v, HYPER_PING, NULL);
	ck_assert_int_eq(v.ready, 1);
	vc_error(&v, 3, NULL);			/* no such command */
	vc_error(&v, HYPER_WRITEFILE, "{}");
	vc_error(&v, HYPER_EXECCMD, "{not json");
	vc_ack(&v, HYPER_SETUPINTERFACE, "{\"device\":\"eth0\"}");

	/* Pipelined, in one write: answered in order. */
	first = vc_send_many(&v, 3, codes, jsons, 1 << 20);
	ck_assert_int_eq(vc_answer(&v, first)->code, HYPER_ACK);
	ck_assert_int_eq(vc_answer(&v, first + 1)->code, HYPER_ERROR);
	ck_assert_int_eq(vc_answer(&v, first + 2)->code, HYPER_ACK);
	/* Byte by byte: one NEXT per chunk read, answered once complete. */
	first = vc_send_many(&v, 3, codes, jsons, 1);
	ck_assert_int_eq(vc_answer(&v, first + 2)->code, HYPER_ACK);

	/* hyperstart 1.x takes a command over 10240 bytes. */
	big = xasprintf("{\"hostname\":\"%0*d\"}", 20000, 0);
	vc_ack(&v, HYPER_STARTPOD, big);
	free(big);

	/* Everything sent was counted by NEXT; nothing undecodable came. */
	ck_assert_uint_eq(v.next_sum, v.ctl_sent);
	ck_assert(!v.garbage);
	ck_assert_int_eq(v.ready, 1);
	vc_stop(&v);
}
END_TEST

/* version: hyperstart 1.1.0 ACKs with its API version, 4 bytes,
 * big-endian; not JSON. */
START_TEST(version_is_4_bytes)
{
	static const uint8_t want[4] = { 0x00, 0x00, 0x10, 0x94 };	/* 4244 */
	const struct vc_ctl_msg *a;
	struct vc v;

	vc_start(&v, NULL);
	a = vc_ack(&v, HYPER_VERSION, NULL);
	ck_assert_uint_eq(a->len, 4);
	ck_assert_mem_eq(a->data, want, 4);
	/* Data sent with it changes nothing. */
	a = vc_ack(&v, HYPER_VERSION, "{}");
	ck_assert_uint_eq(a->len, 4);
	ck_assert_mem_eq(a->data, want, 4);
	vc_stop(&v);
}
END_TEST

/* The status of process @id (container "hyperstart" unless @container)
 * whose output is on @seq: the event (hyperstart1) or the 1-byte io
 * message after the empty one (legacy). */
static int exit_status(struct vc *v, bool legacy, const char *container,
		       const char *id, uint64_t seq)
{
	int eof;

	vc_wait_eof(v, seq);
	if (!legacy)
		return vc_wait_event(v, container, id);
	vc_io_sync(v);
	eof = vc_io_empty(v, seq);
	ck_assert_int_gt(v->nio, eof + 1);
	ck_assert_uint_eq(v->io_msgs[eof + 1].seq, seq);
	ck_assert_uint_eq(v->io_msgs[eof + 1].len, 1);
	return (unsigned char)v->io_msgs[eof + 1].data[0];
}

/* @argv (in @workdir) is ACKed, says @why on its stderr (@seq + 1), no
 * stdout, and exits @status. */
static void exec_fails(struct vc *v, bool legacy, unsigned seq, const char *const *argv,
		       const char *workdir, const char *why, int status)
{
	char id[32], *j, *out, *err;

	snprintf(id, sizeof(id), "f%u", seq);
	j = exec_argv_json("hyperstart", id, seq, seq + 1, false, argv, workdir);
	vc_ack(v, HYPER_EXECCMD, j);
	free(j);
	ck_assert_int_eq(exit_status(v, legacy, "hyperstart", id, seq), status);
	out = vc_io_data(v, seq);
	err = vc_io_data(v, seq + 1);
	ck_assert_str_eq(out, "");
	ck_assert_msg(strstr(err, why), "stderr \"%s\" lacks \"%s\"", err, why);
	free(out);
	free(err);
}

/*
 * A process that cannot be executed is ACKed, as by hyperstart: the child
 * says why on its stderr and exits 127 (not found) or 126 (found but not
 * executable, or no such workdir); newcontainer's process as well. Both
 * dialects (_i: 1 legacy).
 */
START_TEST(exec_failure_after_ack)
{
	const bool legacy = _i;
	const char *opts[] = { "--dialect", legacy ? "legacy" : "hyperstart1", NULL };
	const char *const missing[] = { "/nonexistent/cc-proxy-simvm-x", "arg", NULL };
	const char *const unlisted[] = { "cc-proxy-simvm-no-such-command", NULL };
	const char *const dir[] = { "/", NULL };
	const char *const pwd[] = { "pwd", NULL };
	char *j, *err;
	struct vc v;

	vc_start(&v, opts);
	exec_fails(&v, legacy, 3, missing, NULL,
		   "cannot execute /nonexistent/cc-proxy-simvm-x: No such file or directory\n", 127);
	exec_fails(&v, legacy, 5, unlisted, NULL,
		   "cannot execute cc-proxy-simvm-no-such-command: No such file or directory\n",
		   127);
	exec_fails(&v, legacy, 7, dir, NULL, "cannot execute /: Permission denied\n", 126);
	exec_fails(&v, legacy, 9, pwd, "/nonexistent/dir",
		   "cannot enter workdir /nonexistent/dir: No such file or directory\n", 126);

	/* newcontainer: the container exists, its process exits 127. */
	j = xasprintf("{\"id\":\"c1\",\"rootfs\":\"rootfs\",\"process\":{\"stdio\":11,"
		      "\"stderr\":12,\"args\":[\"/nonexistent/cc-proxy-simvm-init\"]}}");
	vc_ack(&v, HYPER_NEWCONTAINER, j);
	free(j);
	ck_assert_int_eq(exit_status(&v, legacy, "c1", "c1", 11), 127);
	err = vc_io_data(&v, 12);
	ck_assert_str_eq(err, "cc-proxy-simvm: cannot execute /nonexistent/cc-proxy-simvm-init: "
			 "No such file or directory\n");
	free(err);
	vc_error(&v, HYPER_NEWCONTAINER, "{\"id\":\"c1\",\"process\":{\"args\":[\"true\"]}}");
	vc_ack(&v, HYPER_REMOVECONTAINER, "{\"id\":\"c1\"}");
	ck_assert(!v.garbage);
	vc_stop(&v);
}
END_TEST

/* ---- the acceptance run, both dialects ------------------------------ */

static void acceptance(bool legacy)
{
	const char *opts[] = { "--dialect", legacy ? "legacy" : "hyperstart1", NULL };
	char *out, *err;
	struct vc v;
	int eof;

	vc_start(&v, opts);
	exec_ok(&v, "hyperstart", "p1", 3, 4, false, ACCEPT_SH);
	vc_io_send(&v, 3, "hello\n", 6);
	vc_wait_eof(&v, 3);
	out = vc_io_data(&v, 3);
	err = vc_io_data(&v, 4);
	ck_assert_str_eq(out, "out\ngot hello\n");
	ck_assert_str_eq(err, "err\n");
	free(out);
	free(err);
	eof = vc_io_empty(&v, 3);
	if (legacy) {
		vc_io_sync(&v);	/* the status, if any, came before this */
		ck_assert_int_gt(v.nio, eof + 1);
		ck_assert_uint_eq(v.io_msgs[eof + 1].seq, 3);
		ck_assert_uint_eq(v.io_msgs[eof + 1].len, 1);
		ck_assert_int_eq((unsigned char)v.io_msgs[eof + 1].data[0], 7);
		vc_ack(&v, HYPER_PING, NULL);
		ck_assert_int_eq(v.nev, 0);
	} else {
		ck_assert_int_eq(vc_wait_event(&v, "hyperstart", "p1"), 7);
		vc_io_sync(&v);
	}
	/* Nothing on the process's seqs after the end of its output (but
	 * the legacy status), nothing on stderr's seq ever empty. */
	for (int i = eof + 1 + legacy; i < v.nio; i++)
		ck_assert(v.io_msgs[i].seq != 3 && v.io_msgs[i].seq != 4);
	ck_assert_int_lt(vc_io_empty(&v, 4), 0);
	ck_assert(!v.garbage);
	vc_stop(&v);
}

START_TEST(acceptance_hyperstart1)
{
	acceptance(false);
}
END_TEST

START_TEST(acceptance_legacy)
{
	acceptance(true);
}
END_TEST

/* The event may come before the end of output: a grandchild keeps the
 * output open until the test writes to a FIFO. */
START_TEST(event_before_eof)
{
	const char *opts[] = { "--event-before-eof", NULL };
	char *out, *fifo, *script;
	struct vc v;
	int fd = -1;

	vc_start(&v, opts);
	fifo = xasprintf("%s/fifo", v.dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	script = xasprintf("(read x <%s; echo late $x) & exit 3", fifo);
	exec_ok(&v, "hyperstart", "bg", 5, 6, false, script);
	ck_assert_int_eq(vc_wait_event(&v, "hyperstart", "bg"), 3);
	ck_assert_int_lt(vc_io_empty(&v, 5), 0);
	/* The reader opens the FIFO soon; bounded retry, no sleep. */
	for (int i = 0; i < 1000 && fd < 0; i++) {
		fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			vc_pump(&v, 10);
	}
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "go\n", 3), 3);
	close(fd);
	vc_wait_eof(&v, 5);
	out = vc_io_data(&v, 5);
	ck_assert_str_eq(out, "late go\n");
	free(out);
	unlink(fifo);
	free(fifo);
	free(script);
	vc_stop(&v);
}
END_TEST

/* ---- stdin ---------------------------------------------------------- */

START_TEST(stdin_close_and_unknown_seq)
{
	struct vc v;
	char *out;

	vc_start(&v, NULL);
	exec_ok(&v, "hyperstart", "cat", 9, 10, false, "cat; echo done");
	vc_io_send(&v, 9, "abc", 3);
	vc_io_send(&v, 9, "", 0);	/* closes its stdin */
	vc_wait_eof(&v, 9);
	ck_assert_int_eq(vc_wait_event(&v, "hyperstart", "cat"), 0);
	out = vc_io_data(&v, 9);
	ck_assert_str_eq(out, "abcdone\n");
	free(out);
	/* stdin for a seq nobody has: an empty message back on it. */
	vc_io_send(&v, 77, "x", 1);
	vc_wait_eof(&v, 77);
	vc_stop(&v);
}
END_TEST

static bool has_ready(struct vc *v, const void *arg)
{
	char *s = vc_io_data(v, 11);
	bool yes = strstr(s, "ready\n") != NULL;

	free(s);
	return yes;
}

START_TEST(env_and_workdir)
{
	struct vc v;
	char *j, *out, *want, *real;

	vc_start(&v, NULL);
	j = xasprintf("{\"container\":\"hyperstart\",\"process\":{\"id\":\"env\","
		      "\"stdio\":13,\"stderr\":14,\"workdir\":\"%s\",\"envs\":"
		      "[{\"env\":\"FOO\",\"value\":\"b a r\"}],\"args\":[\"sh\",\"-c\","
		      "\"echo \\\"$FOO\\\"; pwd; echo ${HOME:-nohome}\"]}}", v.dir);
	vc_ack(&v, HYPER_EXECCMD, j);
	free(j);
	vc_wait_eof(&v, 13);
	out = vc_io_data(&v, 13);
	/* Exactly the given environment (plus a default PATH). */
	real = realpath(v.dir, NULL);
	ck_assert_ptr_nonnull(real);
	want = xasprintf("b a r\n%s\nnohome\n", real);
	free(real);
	ck_assert_str_eq(out, want);
	free(out);
	free(want);
	vc_stop(&v);
}
END_TEST

/* Send 50 full messages of stdin to a process that reads only after
 * SIGUSR1; return how many bytes it got. */
static long stdin_received(const char *const *opts)
{
	static char chunk[HYPER_IO_SEND_MAX - HYPER_IO_HEADER_SIZE];
	struct vc v;
	char *j, *out;
	long n;

	memset(chunk, 'x', sizeof(chunk));
	vc_start(&v, opts);
	j = newcontainer_json("reader", 11,
			      "trap 'wc -c; exit 0' USR1; echo ready; "
			      "while :; do sleep 0.02; done");
	vc_ack(&v, HYPER_NEWCONTAINER, j);
	free(j);
	for (int i = 0; i < 50; i++)
		vc_io_send(&v, 11, chunk, sizeof(chunk));
	vc_io_send(&v, 11, "", 0);
	vc_io_sync(&v);		/* all of it reached the VM */
	ck_assert(vc_wait(&v, has_ready, NULL, 10000));	/* the trap is set */
	vc_ack(&v, HYPER_KILLCONTAINER, "{\"container\":\"reader\",\"signal\":10}");
	vc_wait_eof(&v, 11);
	ck_assert_int_eq(vc_wait_event(&v, "reader", "reader"), 0);
	out = vc_io_data(&v, 11);
	ck_assert_int_eq(strncmp(out, "ready\n", 6), 0);
	n = strtol(out + 6, NULL, 10);
	free(out);
	vc_stop(&v);
	return n;
}

START_TEST(stdin_buffer_bound)
{
	static const char *const unlimited[] = { "--stdin-buffer", "0", NULL };
	long total = 50L * (HYPER_IO_SEND_MAX - HYPER_IO_HEADER_SIZE);
	long n = stdin_received(NULL);

	/* The pipe plus at most 512 bytes; the rest was dropped. */
	ck_assert_int_gt(n, 512);
	ck_assert_int_lt(n, total);
	ck_assert_int_le(n, 1024 * 1024 + 512);
	ck_assert_int_eq(stdin_received(unlimited), total);
}
END_TEST

/* ---- containers, signals, pty --------------------------------------- */

START_TEST(containers_and_signals)
{
	struct vc v;
	char *j;

	vc_start(&v, NULL);
	j = newcontainer_json("c1", 21, "exec sleep 30");
	vc_ack(&v, HYPER_NEWCONTAINER, j);
	vc_error(&v, HYPER_NEWCONTAINER, j);	/* exists already */
	free(j);
	exec_ok(&v, "c1", "e1", 23, 24, false, "exit 5");
	ck_assert_int_eq(vc_wait_event(&v, "c1", "e1"), 5);
	vc_error(&v, HYPER_EXECCMD, "{\"container\":\"c9\",\"process\":{\"args\":[\"true\"]}}");
	vc_error(&v, HYPER_KILLCONTAINER, "{\"container\":\"c9\",\"signal\":15}");
	vc_error(&v, HYPER_REMOVECONTAINER, "{\"id\":\"c1\"}");	/* running */
	vc_ack(&v, HYPER_KILLCONTAINER, "{\"container\":\"c1\",\"signal\":15}");
	ck_assert_int_eq(vc_wait_event(&v, "c1", "c1"), 128 + SIGTERM);
	vc_wait_eof(&v, 21);
	vc_ack(&v, HYPER_KILLCONTAINER, "{\"container\":\"c1\",\"signal\":15}");
	vc_ack(&v, HYPER_REMOVECONTAINER, "{\"id\":\"c1\"}");
	vc_error(&v, HYPER_REMOVECONTAINER, "{\"id\":\"c1\"}");

	/* destroypod kills everything; the exits are still reported. */
	j = newcontainer_json("c2", 31, "exec sleep 30");
	vc_ack(&v, HYPER_NEWCONTAINER, j);
	free(j);
	vc_ack(&v, HYPER_DESTROYPOD, NULL);
	ck_assert_int_eq(vc_wait_event(&v, "c2", "c2"), 128 + SIGKILL);
	vc_stop(&v);
}
END_TEST

static bool has_text(struct vc *v, const void *arg)
{
	char *s = vc_io_data(v, 41);
	bool yes = strstr(s, arg) != NULL;

	free(s);
	return yes;
}

START_TEST(pty_and_winsize)
{
	struct vc v;

	vc_start(&v, NULL);
	exec_ok(&v, "hyperstart", "tty", 41, 42, true,
		"test -t 0 && test -t 1 && test -t 2 || exit 9; read x; stty size; exit 4");
	vc_ack(&v, HYPER_WINSIZE, "{\"seq\":41,\"row\":40,\"column\":100}");
	vc_ack(&v, HYPER_WINSIZE, "{\"seq\":999,\"row\":1,\"column\":1}");	/* unknown */
	vc_io_send(&v, 41, "go\n", 3);
	ck_assert(vc_wait(&v, has_text, "40 100", 10000));
	ck_assert_int_eq(vc_wait_event(&v, "hyperstart", "tty"), 4);
	vc_wait_eof(&v, 41);
	for (int i = 0; i < v.nio; i++)
		ck_assert_uint_ne(v.io_msgs[i].seq, 42);	/* all on stdio */
	/* No terminal, no size. */
	exec_ok(&v, "hyperstart", "pipe", 43, 44, false, "read x");
	vc_error(&v, HYPER_WINSIZE, "{\"seq\":43,\"row\":40,\"column\":100}");
	vc_stop(&v);
}
END_TEST

/* ---- strictness ------------------------------------------------------ */

START_TEST(strict_keys)
{
	static const char *const strict[] = { "--strict-keys", NULL };
	const char *cmd = "{\"container\":\"hyperstart\",\"process\":{\"id\":\"k\","
		"\"bogus\":1,\"args\":[\"true\"]}}";
	const struct vc_ctl_msg *a;
	struct vc v;

	vc_start(&v, strict);
	a = vc_error(&v, HYPER_EXECCMD, cmd);
	ck_assert_ptr_nonnull(strstr(a->data, "bogus"));
	vc_error(&v, HYPER_NEWCONTAINER, "{\"id\":\"c\",\"extra\":1,"
		 "\"process\":{\"args\":[\"true\"]}}");
	exec_ok(&v, "hyperstart", "k2", 0, 0, false, "true");
	vc_stop(&v);
	vc_start(&v, NULL);
	vc_ack(&v, HYPER_EXECCMD, cmd);
	vc_stop(&v);
}
END_TEST

static bool both_closed(struct vc *v, const void *arg)
{
	return v->ctl_eof && v->io_eof;
}

START_TEST(oversized_io_kills_agent)
{
	/* seq 3, total length 5000 (0x1388). */
	static uint8_t msg[5000] = { 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0x13, 0x88 };
	struct vc v;

	vc_start(&v, NULL);
	exec_ok(&v, "hyperstart", "s", 3, 4, false, "exec sleep 30");
	/* hyper_io_encode() would split it: write the frame by hand. */
	ck_assert_int_eq(send(v.io, msg, sizeof(msg), MSG_NOSIGNAL), (ssize_t)sizeof(msg));
	ck_assert(vc_wait(&v, both_closed, NULL, 10000));
	/* The VM reboots: READY to the next peer, a clean slate. */
	vc_new_peer(&v);
	vc_ack(&v, HYPER_PING, NULL);
	ck_assert_int_eq(v.ready, 1);
	vc_stop(&v);
}
END_TEST

START_TEST(reconnect_keeps_serving)
{
	struct vc v;

	vc_start(&v, NULL);
	vc_ack(&v, HYPER_PING, NULL);
	vc_new_peer(&v);
	exec_ok(&v, "hyperstart", "again", 3, 4, false, "echo again");
	vc_wait_eof(&v, 3);
	ck_assert_int_eq(v.ready, 0);	/* READY only once, at boot */
	vc_stop(&v);
}
END_TEST

/* ---- fault knobs ------------------------------------------------------ */

START_TEST(faults_fail_delay_garbage)
{
	static const char *const opts[] = {
		"--fail-on", "ping", "--delay-ms", "300", "--delay-on", "version",
		"--garbage-on", "onlinecpumem", NULL,
	};
	const struct vc_ctl_msg *a;
	struct vc v;
	double t0;
	int idx;

	vc_start(&v, opts);
	a = vc_error(&v, HYPER_PING, NULL);
	ck_assert_ptr_nonnull(strstr(a->data, "injected"));
	t0 = vc_now();
	idx = vc_send(&v, HYPER_VERSION, NULL);
	a = vc_answer(&v, idx);
	ck_assert_int_eq(a->code, HYPER_ACK);
	ck_assert(a->at - t0 >= 0.25);
	vc_send(&v, HYPER_ONLINECPUMEM, NULL);
	for (int i = 0; i < 500 && !v.garbage; i++)
		vc_pump(&v, 20);
	ck_assert(v.garbage);
	vc_stop(&v);
}
END_TEST

static bool io_closed(struct vc *v, const void *arg)
{
	return v->io_eof;
}

START_TEST(faults_crash)
{
	static const char *const opts[] = { "--crash-on", "removecontainer", NULL };
	struct vc v;
	int idx;

	vc_start(&v, opts);
	exec_ok(&v, "hyperstart", "victim", 3, 4, false, "exec sleep 30");
	vc_send(&v, HYPER_REMOVECONTAINER, "{\"id\":\"x\"}");
	ck_assert(vc_wait(&v, io_closed, NULL, 10000));
	/* It is never answered; ctl still serves: the next answer is the
	 * ping's. The process died without a report. */
	idx = vc_send(&v, HYPER_PING, NULL);
	ck_assert_int_eq(vc_answer(&v, idx - 1)->code, HYPER_ACK);
	ck_assert_int_eq(v.nans, 2);
	vc_pump(&v, 100);
	ck_assert_int_eq(v.nev, 0);

	/* SIGUSR1 crashes the VM too. */
	vc_disconnect(&v);
	vc_connect(&v);
	ck_assert_int_eq(kill(v.pid, SIGUSR1), 0);
	ck_assert(vc_wait(&v, io_closed, NULL, 10000));
	vc_stop(&v);
}
END_TEST

static bool n_echoes(struct vc *v, const void *arg)
{
	int n = 0;

	for (int i = 0; i < v->nio; i++)
		n += v->io_msgs[i].seq >= 501 && v->io_msgs[i].seq <= 504;
	return n == *(const int *)arg;
}

START_TEST(faults_slow_stdin)
{
	static const char *const opts[] = { "--slow-stdin-ms", "100", NULL };
	double first = 0, last = 0;
	struct vc v;
	int four = 4;

	vc_start(&v, opts);
	for (uint64_t s = 501; s <= 504; s++)
		vc_io_send(&v, s, "x", 1);
	ck_assert(vc_wait(&v, n_echoes, &four, 10000));
	for (int i = 0; i < v.nio; i++) {
		if (v.io_msgs[i].seq == 501)
			first = v.io_msgs[i].at;
		if (v.io_msgs[i].seq == 504)
			last = v.io_msgs[i].at;
	}
	ck_assert(last - first >= 0.25);
	vc_stop(&v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("simvm");
	TCase *tc = tcase_create("simvm");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, ready_next_and_answers);
	tcase_add_test(tc, version_is_4_bytes);
	tcase_add_loop_test(tc, exec_failure_after_ack, 0, 2);
	tcase_add_test(tc, acceptance_hyperstart1);
	tcase_add_test(tc, acceptance_legacy);
	tcase_add_test(tc, event_before_eof);
	tcase_add_test(tc, stdin_close_and_unknown_seq);
	tcase_add_test(tc, stdin_buffer_bound);
	tcase_add_test(tc, env_and_workdir);
	tcase_add_test(tc, containers_and_signals);
	tcase_add_test(tc, pty_and_winsize);
	tcase_add_test(tc, strict_keys);
	tcase_add_test(tc, oversized_io_kills_agent);
	tcase_add_test(tc, reconnect_keeps_serving);
	tcase_add_test(tc, faults_fail_delay_garbage);
	tcase_add_test(tc, faults_crash);
	tcase_add_test(tc, faults_slow_stdin);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
