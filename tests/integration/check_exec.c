/*
 * check_exec.c - processes through the proxy, as the runtime and cc-shim
 * run them: tokens, ConnectShim, Hyper execcmd/newcontainer, stdin,
 * stdout/stderr demultiplexing, signals, ProcessExited (PROTOCOL.md
 * part 1 "ConnectShim".."stdin stream", part 2 "io channel").
 *
 * Most tests loop over the agent dialects (_i): 0 hyperstart 1.x, exit
 * status by processasyncevent after the empty io message; 1 legacy, exit
 * status as a 1-byte io message; 2 hyperstart 1.x sending the event
 * before the empty io message (the proxy must hold it until the output
 * is finished).
 * The simulated VMs run with --strict-keys, so a key the proxy adds that
 * hyperstart does not know fails the command.
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

/* simvm: lift hyperstart's 512-byte stdin buffer (0: unlimited). */
#define SIMVM_NO_STDIN_LIMIT "--stdin-buffer", "0"

static struct harness *h;
static struct tclient *rt;		/* the runtime: registered the VM */
static struct json_object *reg;		/* its RegisterVM answer */

static void setup(void)
{
	h = harness_new();
	harness_proxy_start(h, NULL);
}

static void teardown(void)
{
	json_object_put(reg);
	reg = NULL;
	rt = tclient_free(rt);
	harness_proxy_settle(h);
	h = harness_free(h);
}

#define DIALECTS 3

static enum harness_dialect dialect_of(int i)
{
	return i == 1 ? HARNESS_LEGACY : HARNESS_HYPERSTART1;
}

/* Start VM "vm" in @dialect (plus @extra options) and register it with
 * @ntokens tokens on the runtime connection. */
static void vm_up(int i, int ntokens, const char *const *extra)
{
	struct harness_vm *vm;
	const char *args[16] = { "--strict-keys" };
	size_t n = 1;

	if (i == 2)
		args[n++] = "--event-before-eof";
	for (size_t k = 0; extra && extra[k] && n < ARRAY_LEN(args) - 1; k++)
		args[n++] = extra[k];
	args[n] = NULL;
	vm = harness_vm_start(h, "vm", dialect_of(i), args);

	rt = tclient_connect(h, "runtime");
	reg = tclient_register(rt, h, "vm", vm, ntokens);
}

static const char *token(size_t i)
{
	return tclient_token(reg, i);
}

static struct tclient *shim_connect(const char *tok)
{
	struct tclient *s = tclient_connect(h, "shim");
	char json[128];

	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", tok);
	json_object_put(tclient_call(s, FRAME_CMD_CONNECT_SHIM, json));
	return s;
}

/* JSON string literal of @s (malloc'd). */
static char *jstr(const char *s)
{
	struct json_object *o = json_object_new_string(s);
	char *r = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return r;
}

/* A Hyper request: @cmd ("execcmd"/"newcontainer") running `sh -c
 * @script`, with @tok (or none), a terminal or not, @container the
 * container key ("container" for execcmd, "id" for newcontainer). */
static char *hyper_sh(const char *cmd, const char *tok, bool terminal,
		      const char *container, const char *script)
{
	char *sc = jstr(script), *r = NULL;
	char toks[96] = "";

	if (tok)
		snprintf(toks, sizeof(toks), ",\"tokens\":[\"%s\"]", tok);
	ck_assert(asprintf(&r, "{\"hyperName\":\"%s\"%s,\"data\":{\"%s\":\"%s\","
			   "\"process\":{\"terminal\":%s,\"args\":[\"sh\",\"-c\",%s]}}}",
			   cmd, toks, strcmp(cmd, "execcmd") ? "id" : "container",
			   container, terminal ? "true" : "false", sc) > 0);
	free(sc);
	return r;
}

/* execcmd `sh -c @script` in "hyperstart" with @tok; wait for the ACK. */
static void exec_sh(const char *tok, bool terminal, const char *script)
{
	char *req = hyper_sh("execcmd", tok, terminal, "hyperstart", script);

	json_object_put(tclient_call(rt, FRAME_CMD_HYPER, req));
	free(req);
}

/* Collect until ProcessExited, then settle: exactly one, after all output. */
static void finish(struct tclient *shim, struct tclient_output *o)
{
	tclient_collect(shim, o, HARNESS_WAIT_MS);
	tclient_settle(shim, o);
	ck_assert_uint_eq(o->n_exited, 1);
	ck_assert_uint_eq(o->n_after_exit, 0);
	ck_assert_uint_eq(o->n_other, 0);
}

static void expect_str(struct evbuffer *b, const char *want)
{
	char *got = tclient_output_dup(b);

	ck_assert_str_eq(got, want);
	free(got);
}

static void expect_contains(struct evbuffer *b, const char *want)
{
	char *got = tclient_output_dup(b);

	ck_assert_msg(strstr(got, want), "output \"%.300s\" lacks \"%s\"", got, want);
	free(got);
}

START_TEST(test_exec_demux_status)
{
	struct tclient *shim;
	struct tclient_output o;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), false, "echo out; echo err >&2; echo out2; exit 3");
	tclient_output_init(&o);
	finish(shim, &o);
	expect_str(o.out, "out\nout2\n");
	expect_str(o.err, "err\n");
	ck_assert_int_eq(o.status, 3);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* Much output on both streams: all of it, in order, then one exit. */
START_TEST(test_exec_large_output)
{
	enum { LINES = 120000 };
	struct tclient *shim;
	struct tclient_output o;
	struct evbuffer *want = evbuffer_new();
	char *w, *got;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), false, "seq 1 120000; seq 1 5000 >&2; echo end; exit 5");
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
	struct tclient *shim;
	struct tclient_output o;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), false, "read x; echo \"got $x\"; exit 2");
	tclient_send_stdin(shim, "hello\n", 6);
	tclient_output_init(&o);
	finish(shim, &o);
	expect_str(o.out, "got hello\n");
	ck_assert_int_eq(o.status, 2);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* stdin sent before the agent started the process waits for it. */
START_TEST(test_exec_stdin_before_start)
{
	struct tclient *shim;
	struct tclient_output o;
	char *req;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	req = hyper_sh("execcmd", token(0), false, "hyperstart",
		       "read x; echo \"early $x\"");
	tclient_send_command(rt, FRAME_CMD_HYPER, req);
	tclient_send_stdin(shim, "bird\n", 5);
	json_object_put(tclient_expect_ok(rt, FRAME_CMD_HYPER));
	tclient_output_init(&o);
	finish(shim, &o);
	expect_str(o.out, "early bird\n");
	ck_assert_int_eq(o.status, 0);
	tclient_output_deinit(&o);
	tclient_free(shim);
	free(req);
}
END_TEST

/* An empty stdin frame closes the process's stdin. */
START_TEST(test_exec_stdin_eof)
{
	struct tclient *shim;
	struct tclient_output o;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), false, "wc -c");
	tclient_send_stdin(shim, "abc", 3);
	tclient_send_stdin(shim, "defg", 4);
	tclient_send_stdin(shim, NULL, 0);
	tclient_output_init(&o);
	finish(shim, &o);
	expect_str(o.out, "7\n");
	ck_assert_int_eq(o.status, 0);
	tclient_output_deinit(&o);
	tclient_free(shim);
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
	const char *path = harness_path(h, "stdin.out");
	struct tclient *shim;
	struct tclient_output o;
	char script[PATH_MAX + 32];
	uint32_t x = 2463534242u;
	ssize_t n;
	int fd;

	ck_assert(data && got);
	for (size_t i = 0; i < len; i++) {	/* xorshift: no repeats to hide in */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (uint8_t)x;
	}
	vm_up(_i, 1, extra);
	shim = shim_connect(token(0));
	snprintf(script, sizeof(script), "cat > '%s'", path);
	exec_sh(token(0), false, script);
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
	struct tclient *shim;
	struct tclient_output o;
	char *req;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	req = hyper_sh("execcmd", NULL, false, "hyperstart",
		       "for i in 1 2 3 4 5 6 7 8; do echo discarded; echo discarded >&2; done; exit 9");
	json_object_put(tclient_call(rt, FRAME_CMD_HYPER, req));
	free(req);
	exec_sh(token(0), false, "echo mine; exit 1");
	tclient_output_init(&o);
	finish(shim, &o);
	expect_str(o.out, "mine\n");
	expect_str(o.err, "");
	ck_assert_int_eq(o.status, 1);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* With a terminal everything comes on stdout. */
START_TEST(test_exec_terminal)
{
	struct tclient *shim;
	struct tclient_output o;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), true, "echo out; echo err >&2; exit 4");
	tclient_output_init(&o);
	finish(shim, &o);
	expect_contains(o.out, "out");
	expect_contains(o.out, "err");
	expect_str(o.err, "");
	ck_assert_int_eq(o.status, 4);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* A terminal's size (SIGWINCH -> winsize) and input. */
START_TEST(test_exec_terminal_winsize_stdin)
{
	struct tclient *shim;
	struct tclient_output o;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), true, "read x; stty size; echo \"got $x\"");
	json_object_put(tclient_call(shim, FRAME_CMD_SIGNAL,
				     "{\"signalNumber\":28,\"columns\":123,\"rows\":45}"));
	tclient_send_stdin(shim, "hello\n", 6);
	tclient_output_init(&o);
	finish(shim, &o);
	expect_contains(o.out, "45 123");
	expect_contains(o.out, "got hello");
	ck_assert_int_eq(o.status, 0);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* A shim that drops without DisconnectShim: a new one takes over with the
 * same token and gets the rest. The token is freed by the helper, so the
 * new ConnectShim is retried (bounded round trips) while still claimed. */
START_TEST(test_exec_shim_reconnect)
{
	struct tclient *shim, *shim2;
	struct tclient_output o;
	char json[128];
	long long deadline;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), false, "read x; echo \"first $x\"; read y; echo \"second $y\"; exit 7");
	tclient_send_stdin(shim, "a\n", 2);
	tclient_output_init(&o);
	/* The first line reaches the first shim... */
	while (evbuffer_get_length(o.out) < 8) {
		struct frame f;

		tclient_next_frame(shim, &f);
		ck_assert_int_eq(f.type, FRAME_TYPE_STREAM);
		evbuffer_add(f.opcode == FRAME_STREAM_STDOUT ? o.out : o.err,
			     f.payload, f.payload_len);
		frame_deinit(&f);
	}
	expect_str(o.out, "first a\n");
	tclient_free(shim);
	tclient_output_deinit(&o);

	/* ...the rest to its successor. */
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", token(0));
	shim2 = tclient_connect(h, "shim2");
	deadline = harness_now_ms() + HARNESS_WAIT_MS;
	for (;;) {
		struct frame f;

		tclient_send_command(shim2, FRAME_CMD_CONNECT_SHIM, json);
		tclient_next_frame(shim2, &f);
		ck_assert_int_eq(f.type, FRAME_TYPE_RESPONSE);
		ck_assert_int_eq(f.opcode, FRAME_CMD_CONNECT_SHIM);
		if (!(f.flags & FRAME_FLAG_ERROR)) {
			frame_deinit(&f);
			break;
		}
		frame_deinit(&f);
		ck_assert_msg(harness_left_ms(deadline) > 0,
			      "the token never became claimable again");
	}
	tclient_send_stdin(shim2, "b\n", 2);
	tclient_output_init(&o);
	finish(shim2, &o);
	expect_str(o.out, "second b\n");
	ck_assert_int_eq(o.status, 7);
	tclient_output_deinit(&o);
	tclient_free(shim2);
}
END_TEST

/* DisconnectShim releases the session and its token, and closes. */
START_TEST(test_exec_disconnect_shim)
{
	struct tclient *shim, *again;
	struct tclient_output o;
	struct frame f;
	char json[128];
	int r;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), false, "echo bye");
	tclient_output_init(&o);
	tclient_collect(shim, &o, HARNESS_WAIT_MS);
	ck_assert_int_eq(o.status, 0);
	tclient_send_command(shim, FRAME_CMD_DISCONNECT_SHIM, "{}");
	/* An answer (if any) is a success; then the connection closes. */
	r = tclient_read_frame(shim, &f, HARNESS_WAIT_MS);
	if (r == 0) {
		ck_assert_int_eq(f.type, FRAME_TYPE_RESPONSE);
		ck_assert_int_eq(f.opcode, FRAME_CMD_DISCONNECT_SHIM);
		ck_assert_int_eq(f.flags, 0);
		frame_deinit(&f);
		tclient_expect_eof(shim);
	} else {
		ck_assert_msg(r == TCLIENT_EOF || r == -ECONNRESET,
			      "DisconnectShim: neither answer nor close: %s", strerror(-r));
	}
	/* The token is gone for good. */
	again = tclient_connect(h, "again");
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", token(0));
	free(tclient_call_error(again, FRAME_CMD_CONNECT_SHIM, json));
	tclient_output_deinit(&o);
	tclient_free(again);
	tclient_free(shim);
}
END_TEST

/* Signals the proxy must refuse, on a shim whose process runs. */
static const char *const bad_signals[] = {
	"{\"signalNumber\":31}",
	"{\"signalNumber\":-1}",
	"{\"signalNumber\":28}",
	"{\"signalNumber\":28,\"columns\":80}",
	"{\"signalNumber\":28,\"columns\":0,\"rows\":24}",
	"{\"signalNumber\":15,\"columns\":80,\"rows\":24}",
	"{\"signalNumber\":2,\"rows\":24}",
	"{\"signalNumber\":\"15\"}",
	"{}",
	/* valid, but an execcmd process has no container id to signal */
	"{\"signalNumber\":10}",
};

START_TEST(test_exec_invalid_signals)
{
	struct tclient *shim;
	struct tclient_output o;

	vm_up(0, 1, NULL);
	shim = shim_connect(token(0));
	exec_sh(token(0), false, "read x; echo \"still $x\"; exit 6");
	for (size_t i = 0; i < ARRAY_LEN(bad_signals); i++)
		free(tclient_call_error(shim, FRAME_CMD_SIGNAL, bad_signals[i]));
	/* The session is unharmed. */
	tclient_send_stdin(shim, "here\n", 5);
	tclient_output_init(&o);
	finish(shim, &o);
	expect_str(o.out, "still here\n");
	ck_assert_int_eq(o.status, 6);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* SIGKILL/SIGTERM for a session whose process never started:
 * ProcessExited(0), so the shim can exit. */
START_TEST(test_exec_kill_never_started)
{
	struct tclient *shim;
	struct tclient_output o;
	bool answered = false;
	char json[48];

	vm_up(0, 1, NULL);
	shim = shim_connect(token(0));
	snprintf(json, sizeof(json), "{\"signalNumber\":%d}", _i ? SIGTERM : SIGKILL);
	tclient_send_command(shim, FRAME_CMD_SIGNAL, json);
	tclient_output_init(&o);
	while (!answered || o.n_exited == 0) {
		struct frame f;

		tclient_next_frame(shim, &f);
		if (f.type == FRAME_TYPE_RESPONSE) {
			ck_assert_int_eq(f.opcode, FRAME_CMD_SIGNAL);
			ck_assert(!answered);
			answered = true;
		} else {
			ck_assert_int_eq(f.type, FRAME_TYPE_NOTIFICATION);
			ck_assert_int_eq(f.opcode, FRAME_NOTIFY_PROCESS_EXITED);
			ck_assert_int_eq(f.payload_len, 1);
			ck_assert_int_eq(f.payload[0], 0);
			o.n_exited++;
		}
		frame_deinit(&f);
	}
	tclient_settle(shim, &o);
	ck_assert_uint_eq(o.n_exited, 1);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* Two concurrent execcmds without process.id: each its own status (the
 * proxy gives each a unique id; hyperstart needs one). */
START_TEST(test_exec_concurrent_without_id)
{
	struct tclient *a, *b;
	struct tclient_output oa, ob;

	vm_up(_i, 2, NULL);
	a = shim_connect(token(0));
	b = shim_connect(token(1));
	exec_sh(token(0), false, "read x; echo \"a $x\"; exit 11");
	exec_sh(token(1), false, "read x; echo \"b $x\"; exit 22");
	/* Both run; b ends first. */
	tclient_send_stdin(b, "one\n", 4);
	tclient_output_init(&ob);
	finish(b, &ob);
	tclient_send_stdin(a, "two\n", 4);
	tclient_output_init(&oa);
	finish(a, &oa);
	expect_str(ob.out, "b one\n");
	ck_assert_int_eq(ob.status, 22);
	expect_str(oa.out, "a two\n");
	ck_assert_int_eq(oa.status, 11);
	tclient_output_deinit(&oa);
	tclient_output_deinit(&ob);
	tclient_free(a);
	tclient_free(b);
}
END_TEST

/* newcontainer's process; a signal becomes killcontainer for it. */
START_TEST(test_exec_newcontainer_signal)
{
	struct tclient *shim;
	struct tclient_output o;
	char *req;
	bool answered = false;

	vm_up(_i, 1, NULL);
	shim = shim_connect(token(0));
	req = hyper_sh("newcontainer", token(0), false, "c1", "echo started; exec sleep 30");
	json_object_put(tclient_call(rt, FRAME_CMD_HYPER, req));
	free(req);
	tclient_output_init(&o);
	/* Its output first (the process runs), then SIGTERM. */
	while (evbuffer_get_length(o.out) < 8) {
		struct frame f;

		tclient_next_frame(shim, &f);
		ck_assert_int_eq(f.type, FRAME_TYPE_STREAM);
		evbuffer_add(f.opcode == FRAME_STREAM_STDOUT ? o.out : o.err,
			     f.payload, f.payload_len);
		frame_deinit(&f);
	}
	expect_str(o.out, "started\n");
	tclient_send_command(shim, FRAME_CMD_SIGNAL, "{\"signalNumber\":15}");
	while (!answered || o.n_exited == 0) {
		struct frame f;

		tclient_next_frame(shim, &f);
		if (f.type == FRAME_TYPE_RESPONSE) {
			ck_assert_int_eq(f.opcode, FRAME_CMD_SIGNAL);
			ck_assert_msg(f.flags == 0, "Signal 15 refused: %s", f.payload);
			answered = true;
		} else {
			ck_assert_int_eq(f.type, FRAME_TYPE_NOTIFICATION);
			ck_assert_int_eq(f.payload_len, 1);
			o.status = f.payload[0];
			o.n_exited++;
		}
		frame_deinit(&f);
	}
	ck_assert_int_eq(o.status, 128 + SIGTERM);
	tclient_settle(shim, &o);
	ck_assert_uint_eq(o.n_exited, 1);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* execcmd with a token before its shim connects: the proxy waits for the
 * shim, so no output is lost. */
START_TEST(test_exec_hyper_before_shim)
{
	struct tclient *shim;
	struct tclient_output o;
	char *req;

	vm_up(_i, 1, NULL);
	req = hyper_sh("execcmd", token(0), false, "hyperstart", "echo early; exit 8");
	tclient_send_command(rt, FRAME_CMD_HYPER, req);
	free(req);
	shim = shim_connect(token(0));
	json_object_put(tclient_expect_ok(rt, FRAME_CMD_HYPER));
	tclient_output_init(&o);
	finish(shim, &o);
	expect_str(o.out, "early\n");
	ck_assert_int_eq(o.status, 8);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* ...but not forever: without a shim, an error after --wait-timeout. */
START_TEST(test_exec_hyper_no_shim)
{
	char *req;
	long long t0;

	vm_up(0, 1, NULL);
	req = hyper_sh("execcmd", token(0), false, "hyperstart", "echo lost");
	t0 = harness_now_ms();
	free(tclient_call_error(rt, FRAME_CMD_HYPER, req));
	ck_assert_msg(harness_now_ms() - t0 >= 1500,
		      "answered after %lld ms, before the 2 s wait timeout",
		      harness_now_ms() - t0);
	free(req);
	/* The runtime connection goes on. */
	json_object_put(tclient_call(rt, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}"));
}
END_TEST

static Suite *exec_suite(void)
{
	Suite *s = suite_create(getenv("CC_PROXY_IT_ACTIVATION") ?
				"exec (socket-activated)" : "exec");
	TCase *tc = tcase_create("processes through the proxy");

	tcase_add_unchecked_fixture(tc, harness_suite_setup, harness_suite_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 45);
	tcase_add_loop_test(tc, test_exec_demux_status, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_large_output, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_stdin_line, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_stdin_before_start, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_stdin_eof, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_stdin_1mib, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_null_session, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_terminal, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_terminal_winsize_stdin, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_shim_reconnect, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_disconnect_shim, 0, DIALECTS);
	tcase_add_test(tc, test_exec_invalid_signals);
	tcase_add_loop_test(tc, test_exec_kill_never_started, 0, 2);
	tcase_add_loop_test(tc, test_exec_concurrent_without_id, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_newcontainer_signal, 0, DIALECTS);
	tcase_add_loop_test(tc, test_exec_hyper_before_shim, 0, DIALECTS);
	tcase_add_test(tc, test_exec_hyper_no_shim);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(exec_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
