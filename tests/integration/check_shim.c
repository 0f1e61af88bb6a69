/*
 * check_shim.c - shim sessions through the proxy: reconnecting with the
 * same token, DisconnectShim, Signal (invalid ones, SIGKILL/SIGTERM for a
 * process never started, killcontainer for a newcontainer process),
 * concurrent execcmds without process ids, the wait for the shim before
 * execcmd (and its timeout) (PROTOCOL.md part 1, "ConnectShim",
 * "DisconnectShim", "Signal"). Slow shims are in check_flow.c.
 *
 * Most tests loop over the agent dialects (texec.h, TEXEC_DIALECTS).
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

/*
 * Read @shim until the answer to the Signal it sent and a ProcessExited
 * have both come, in either order: one answer (a success when
 * @must_succeed), and the exit status in o->status; then settle: that
 * was the only ProcessExited.
 */
static void signal_answer_and_exit(struct tclient *shim, struct tclient_output *o,
				   bool must_succeed)
{
	bool answered = false;

	while (!answered || o->n_exited == 0) {
		struct frame f;

		tclient_next_frame(shim, &f);
		if (f.type == FRAME_TYPE_RESPONSE) {
			ck_assert_int_eq(f.opcode, FRAME_CMD_SIGNAL);
			ck_assert(!answered);
			ck_assert_msg(!must_succeed || f.flags == 0, "Signal refused: %s",
				      f.payload ? (const char *)f.payload : "");
			answered = true;
		} else {
			ck_assert_int_eq(f.type, FRAME_TYPE_NOTIFICATION);
			ck_assert_int_eq(f.opcode, FRAME_NOTIFY_PROCESS_EXITED);
			ck_assert_int_eq(f.payload_len, 1);
			o->status = f.payload[0];
			o->n_exited++;
		}
		frame_deinit(&f);
	}
	tclient_settle(shim, o);
	ck_assert_uint_eq(o->n_exited, 1);
}

/* A shim that drops without DisconnectShim: a new one takes over with the
 * same token and gets the rest. The token is freed by the helper, so the
 * new ConnectShim is retried (bounded round trips) while still claimed. */
START_TEST(test_exec_shim_reconnect)
{
	struct tclient *shim = texec_start_sh(&x, _i, NULL, false,
		"read x; echo \"first $x\"; read y; echo \"second $y\"; exit 7");
	struct tclient_output o;

	tclient_send_stdin(shim, "a\n", 2);
	tclient_output_init(&o);
	/* The first line reaches the first shim... */
	tclient_read_until(shim, &o, "first a\n");
	texec_expect_str(o.out, "first a\n");
	tclient_free(shim);
	tclient_output_deinit(&o);

	/* ...the rest to its successor. */
	shim = tclient_reconnect_shim(x.h, "shim2", texec_token(&x, 0));
	tclient_send_stdin(shim, "b\n", 2);
	texec_end(shim, &o, 7);
	texec_expect_str(o.out, "second b\n");
	tclient_output_deinit(&o);
}
END_TEST

/* DisconnectShim releases the session and its token, and closes. */
START_TEST(test_exec_disconnect_shim)
{
	struct tclient *shim = texec_start_sh(&x, _i, NULL, false, "echo bye");
	struct tclient *again;
	struct tclient_output o;
	struct frame f;
	char json[128];
	int r;

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
	again = tclient_connect(x.h, "again");
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", texec_token(&x, 0));
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
	struct tclient *shim = texec_start_sh(&x, 0, NULL, false,
					      "read x; echo \"still $x\"; exit 6");
	struct tclient_output o;

	for (size_t i = 0; i < ARRAY_LEN(bad_signals); i++)
		free(tclient_call_error(shim, FRAME_CMD_SIGNAL, bad_signals[i]));
	/* The session is unharmed. */
	tclient_send_stdin(shim, "here\n", 5);
	texec_end(shim, &o, 6);
	texec_expect_str(o.out, "still here\n");
	tclient_output_deinit(&o);
}
END_TEST

/* SIGKILL/SIGTERM for a session whose process never started:
 * ProcessExited(0), so the shim can exit. */
START_TEST(test_exec_kill_never_started)
{
	struct tclient *shim = texec_vm_shim(&x, 0, NULL);
	struct tclient_output o;
	char json[48];

	snprintf(json, sizeof(json), "{\"signalNumber\":%d}", _i ? SIGTERM : SIGKILL);
	tclient_send_command(shim, FRAME_CMD_SIGNAL, json);
	tclient_output_init(&o);
	signal_answer_and_exit(shim, &o, false);
	ck_assert_int_eq(o.status, 0);
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

	texec_vm_up(&x, _i, 2, NULL);
	a = texec_shim(&x, texec_token(&x, 0));
	b = texec_shim(&x, texec_token(&x, 1));
	texec_sh(&x, texec_token(&x, 0), false, "read x; echo \"a $x\"; exit 11");
	texec_sh(&x, texec_token(&x, 1), false, "read x; echo \"b $x\"; exit 22");
	/* Both run; b ends first. */
	tclient_send_stdin(b, "one\n", 4);
	tclient_output_init(&ob);
	texec_finish(b, &ob);
	tclient_send_stdin(a, "two\n", 4);
	tclient_output_init(&oa);
	texec_finish(a, &oa);
	texec_expect_str(ob.out, "b one\n");
	ck_assert_int_eq(ob.status, 22);
	texec_expect_str(oa.out, "a two\n");
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
	struct tclient *shim = texec_vm_shim(&x, _i, NULL);
	struct tclient_output o;
	char *req;

	req = texec_hyper_sh("newcontainer", texec_token(&x, 0), false, "c1", "echo started; exec sleep 30");
	json_object_put(tclient_call(x.rt, FRAME_CMD_HYPER, req));
	free(req);
	tclient_output_init(&o);
	/* Its output first (the process runs), then SIGTERM. */
	tclient_read_until(shim, &o, "started\n");
	texec_expect_str(o.out, "started\n");
	tclient_send_command(shim, FRAME_CMD_SIGNAL, "{\"signalNumber\":15}");
	signal_answer_and_exit(shim, &o, true);
	ck_assert_int_eq(o.status, 128 + SIGTERM);
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

	texec_vm_up(&x, _i, 1, NULL);
	req = texec_hyper_sh("execcmd", texec_token(&x, 0), false, "hyperstart", "echo early; exit 8");
	tclient_send_command(x.rt, FRAME_CMD_HYPER, req);
	free(req);
	shim = texec_shim(&x, texec_token(&x, 0));
	json_object_put(tclient_expect_ok(x.rt, FRAME_CMD_HYPER));
	texec_end(shim, &o, 8);
	texec_expect_str(o.out, "early\n");
	tclient_output_deinit(&o);
}
END_TEST

/* ...but not forever: without a shim, an error after --wait-timeout. */
START_TEST(test_exec_hyper_no_shim)
{
	char *req;
	long long t0;

	texec_vm_up(&x, 0, 1, NULL);
	req = texec_hyper_sh("execcmd", texec_token(&x, 0), false, "hyperstart", "echo lost");
	t0 = harness_now_ms();
	free(tclient_call_error(x.rt, FRAME_CMD_HYPER, req));
	ck_assert_msg(harness_now_ms() - t0 >= 1500,
		      "answered after %lld ms, before the 2 s wait timeout",
		      harness_now_ms() - t0);
	free(req);
	/* The runtime connection goes on. */
	json_object_put(tclient_call(x.rt, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}"));
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("shim");
	TCase *tc = harness_tcase_add(s, "shim sessions", setup, teardown, 45);

	tcase_add_loop_test(tc, test_exec_shim_reconnect, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_disconnect_shim, 0, TEXEC_DIALECTS);
	tcase_add_test(tc, test_exec_invalid_signals);
	tcase_add_loop_test(tc, test_exec_kill_never_started, 0, 2);
	tcase_add_loop_test(tc, test_exec_concurrent_without_id, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_newcontainer_signal, 0, TEXEC_DIALECTS);
	tcase_add_loop_test(tc, test_exec_hyper_before_shim, 0, TEXEC_DIALECTS);
	tcase_add_test(tc, test_exec_hyper_no_shim);
	return harness_run(s);
}
