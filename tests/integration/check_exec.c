/*
 * check_exec.c - a process's I/O through the proxy, as the runtime and
 * cc-shim see it: stdout/stderr demultiplexed, large output complete and
 * in order, stdin (before the start, at EOF, 1 MiB intact), the null
 * session, terminals and their size, and exactly one ProcessExited after
 * all output (PROTOCOL.md part 1 "ConnectShim".."stdin stream", part 2
 * "io channel"), also for a binary that does not exist. Sessions and
 * signals are check_shim.c.
 *
 * Each test loops over the agent dialects (texec.h, TEXEC_DIALECTS).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tclient.h"
#include "texec.h"

static struct texec x;

static void setup(void)
{
	texec_setup(&x);
}

static void teardown(void)
{
	texec_teardown(&x);
}

/* simvm: lift hyperstart's 512-byte stdin buffer (0: unlimited). */
#define SIMVM_NO_STDIN_LIMIT "--stdin-buffer", "0"

/*
 * The usual process test for loop index @i: `sh -c @script` (with a
 * terminal or not), the stdin frames @in in order (NULL-terminated; ""
 * sends an empty frame, i.e. EOF; @in may be NULL), then the output
 * collected into @o, exit status @status (texec_end()). The caller
 * deinits @o.
 */
static void run_sh(int i, bool terminal, const char *script, const char *const *in,
		   int status, struct tclient_output *o)
{
	struct tclient *shim = texec_start_sh(&x, i, NULL, terminal, script);

	for (size_t k = 0; in && in[k]; k++)
		tclient_send_stdin(shim, in[k], strlen(in[k]));
	texec_end(shim, o, status);
}

START_TEST(test_exec_demux_status)
{
	struct tclient_output o;

	run_sh(_i, false, "echo out; echo err >&2; echo out2; exit 3", NULL, 3, &o);
	texec_expect_str(o.out, "out\nout2\n");
	texec_expect_str(o.err, "err\n");
	tclient_output_deinit(&o);
}
END_TEST

/* Much output on both streams: all of it, in order, then one exit. */
START_TEST(test_exec_large_output)
{
	enum { LINES = 120000 };
	struct tclient *shim = texec_start_sh(&x, _i, NULL, false,
					      "seq 1 120000; seq 1 5000 >&2; echo end; exit 5");
	struct tclient_output o;
	struct evbuffer *want = evbuffer_new();
	char *w, *got;

	tclient_output_init(&o);
	tclient_collect(shim, &o, 3 * HARNESS_WAIT_MS);
	tclient_settle(shim, &o);
	ck_assert_uint_eq(o.n_exited, 1);
	ck_assert_uint_eq(o.n_after_exit, 0);
	for (int i = 1; i <= LINES; i++)
		evbuffer_add_printf(want, "%d\n", i);
	evbuffer_add_printf(want, "end\n");
	w = tclient_output_dup(want);
	got = tclient_output_dup(o.out);
	ck_assert_uint_eq(strlen(got), strlen(w));
	ck_assert_msg(!strcmp(got, w), "stdout differs from seq's output");
	/* seq 1 5000: 9 * 2 + 90 * 3 + 900 * 4 + 4001 * 5 bytes */
	ck_assert_uint_eq(evbuffer_get_length(o.err), 9 * 2 + 90 * 3 + 900 * 4 + 4001 * 5);
	ck_assert_int_eq(o.status, 5);
	free(w);
	free(got);
	evbuffer_free(want);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

START_TEST(test_exec_stdin_line)
{
	struct tclient_output o;

	run_sh(_i, false, "read x; echo \"got $x\"; exit 2",
	       (const char *const[]){ "hello\n", NULL }, 2, &o);
	texec_expect_str(o.out, "got hello\n");
	tclient_output_deinit(&o);
}
END_TEST

/* stdin sent before the agent started the process waits for it. */
START_TEST(test_exec_stdin_before_start)
{
	struct tclient *shim = texec_vm_shim(&x, _i, NULL);
	struct tclient_output o;
	char *req = texec_hyper_sh("execcmd", texec_token(&x, 0), false, "hyperstart",
				   "read x; echo \"early $x\"");

	tclient_send_command(x.rt, FRAME_CMD_HYPER, req);
	tclient_send_stdin(shim, "bird\n", 5);
	json_object_put(tclient_expect_ok(x.rt, FRAME_CMD_HYPER));
	texec_end(shim, &o, 0);
	texec_expect_str(o.out, "early bird\n");
	tclient_output_deinit(&o);
	free(req);
}
END_TEST

/* An empty stdin frame closes the process's stdin. */
START_TEST(test_exec_stdin_eof)
{
	struct tclient_output o;

	/* "": the empty frame */
	run_sh(_i, false, "wc -c", (const char *const[]){ "abc", "defg", "", NULL }, 0, &o);
	texec_expect_str(o.out, "7\n");
	tclient_output_deinit(&o);
}
END_TEST

/* 1 MiB of stdin arrives intact, in frames of awkward sizes (the proxy
 * splits them into io messages of at most 4096 bytes). */
START_TEST(test_exec_stdin_1mib)
{
	static const size_t sizes[] = { 1, 4095, 4096, 4097, 65536, 200000, 12 };
	const char *const extra[] = { SIMVM_NO_STDIN_LIMIT, NULL };
	size_t len = 1024 * 1024, off = 0, k = 0;
	uint8_t *data = malloc(len), *got = malloc(len + 1);
	const char *path = harness_path(x.h, "stdin.out");
	struct tclient *shim;
	struct tclient_output o;
	char script[PATH_MAX + 32];
	uint32_t rnd = 2463534242u;
	ssize_t n;
	int fd;

	ck_assert(data && got);
	for (size_t i = 0; i < len; i++) {	/* xorshift: no repeats to hide in */
		rnd ^= rnd << 13;
		rnd ^= rnd >> 17;
		rnd ^= rnd << 5;
		data[i] = (uint8_t)rnd;
	}
	snprintf(script, sizeof(script), "cat > '%s'", path);
	shim = texec_start_sh(&x, _i, extra, false, script);
	while (off < len) {
		size_t sz = sizes[k++ % ARRAY_LEN(sizes)];

		if (sz > len - off)
			sz = len - off;
		tclient_send_stdin(shim, data + off, sz);
		off += sz;
	}
	tclient_send_stdin(shim, NULL, 0);
	tclient_output_init(&o);
	tclient_collect(shim, &o, 3 * HARNESS_WAIT_MS);
	ck_assert_int_eq(o.status, 0);
	fd = open(path, O_RDONLY);
	ck_assert(fd >= 0);
	n = read(fd, got, len + 1);
	close(fd);
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert_msg(!memcmp(got, data, len), "stdin arrived changed");
	tclient_output_deinit(&o);
	tclient_free(shim);
	free(data);
	free(got);
}
END_TEST

/* Without a token, output goes to the null session: never to a shim. */
START_TEST(test_exec_null_session)
{
	struct tclient *shim = texec_vm_shim(&x, _i, NULL);
	struct tclient_output o;

	texec_sh(&x, NULL, false,
		 "for i in 1 2 3 4 5 6 7 8; do echo discarded; echo discarded >&2; done; exit 9");
	texec_sh(&x, texec_token(&x, 0), false, "echo mine; exit 1");
	texec_end(shim, &o, 1);
	texec_expect_str(o.out, "mine\n");
	texec_expect_str(o.err, "");
	tclient_output_deinit(&o);
}
END_TEST

/* With a terminal everything comes on stdout. */
START_TEST(test_exec_terminal)
{
	struct tclient_output o;

	run_sh(_i, true, "echo out; echo err >&2; exit 4", NULL, 4, &o);
	texec_expect_contains(o.out, "out");
	texec_expect_contains(o.out, "err");
	texec_expect_str(o.err, "");
	tclient_output_deinit(&o);
}
END_TEST

/* A terminal's size (SIGWINCH -> winsize) and input. */
START_TEST(test_exec_terminal_winsize_stdin)
{
	struct tclient *shim = texec_start_sh(&x, _i, NULL, true,
					      "read x; stty size; echo \"got $x\"");
	struct tclient_output o;

	json_object_put(tclient_call(shim, FRAME_CMD_SIGNAL,
				     "{\"signalNumber\":28,\"columns\":123,\"rows\":45}"));
	tclient_send_stdin(shim, "hello\n", 6);
	texec_end(shim, &o, 0);
	texec_expect_contains(o.out, "45 123");
	texec_expect_contains(o.out, "got hello");
	tclient_output_deinit(&o);
}
END_TEST

/*
 * A binary that does not exist, as hyperstart 1.1 handles it: the command
 * is ACKed, the process says why on its stderr and exits 127. The shim
 * gets that stderr, no stdout and exactly one ProcessExited(127), for
 * execcmd and for newcontainer's process alike.
 */
START_TEST(test_exec_missing_binary)
{
	static const char *const cmds[] = { "execcmd", "newcontainer" };
	static const char *const argv[] = { "/nonexistent/cc-proxy-it-binary", "arg", NULL };

	texec_vm_up(&x, _i, 2, NULL);
	for (size_t k = 0; k < ARRAY_LEN(cmds); k++) {
		struct tclient *shim = texec_shim(&x, texec_token(&x, k));
		char *req = texec_hyper_argv(cmds[k], texec_token(&x, k), false,
					     k ? "cc-proxy-it-c1" : "hyperstart", argv);
		struct tclient_output o;

		json_object_put(tclient_call(x.rt, FRAME_CMD_HYPER, req));
		free(req);
		texec_end(shim, &o, 127);
		texec_expect_str(o.out, "");
		texec_expect_str(o.err, "cc-proxy-simvm: cannot execute "
				 "/nonexistent/cc-proxy-it-binary: No such file or directory\n");
		tclient_output_deinit(&o);
	}
	tclient_ping_ok(x.rt);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("exec");
	TCase *tc = harness_tcase_add(s, "processes through the proxy", setup, teardown, 45);

	tcase_add_loop_test(tc, test_exec_demux_status, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_large_output, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_stdin_line, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_stdin_before_start, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_stdin_eof, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_stdin_1mib, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_null_session, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_terminal, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_terminal_winsize_stdin, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_missing_binary, 0, TEXEC_DIALECTS);
	return harness_run(s);
}
