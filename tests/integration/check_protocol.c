/*
 * check_protocol.c - the control side of client protocol v2 against the
 * real cc-proxy and a simulated VM: RegisterVM, AttachVM, UnregisterVM,
 * Hyper, ConnectShim errors, the log stream, readiness (PROTOCOL.md
 * part 1, "Commands"). Malformed input and faults are check_robustness.c;
 * processes are check_exec.c and check_shim.c.
 *
 * Each test gets a fresh proxy and VM (checked fixture, in the test's own
 * process); the teardown asserts the proxy is still alive and serving.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tclient.h"

static struct harness *h;
static struct harness_vm *vm1;

static void setup(void)
{
	h = harness_setup("vm1", HARNESS_HYPERSTART1, NULL, &vm1);
}

static void teardown(void)
{
	h = harness_teardown(h);
}

/* A new "runtime" connection that registered vm1 (no tokens). */
static struct tclient *runtime_vm1(void)
{
	struct tclient *c = tclient_connect(h, "runtime");

	json_object_put(tclient_register(c, h, "vm1", vm1, 0));
	return c;
}

/* The connection @c goes on (a Hyper ping succeeds); then close it. */
static void ping_free(struct tclient *c)
{
	tclient_ping_ok(c);
	tclient_free(c);
}

START_TEST(test_register_answer_shape)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct json_object *a;
	struct frame f;
	char *req = tclient_register_json("vm1", vm1, 0);

	/* No numIOStreams: "tokens" is [] (never null), "URL" in capitals. */
	free(req);
	ck_assert(asprintf(&req, "{\"containerId\":\"vm1\",\"ctlSerial\":\"%s\","
			   "\"ioSerial\":\"%s\"}", vm1->ctl, vm1->io) > 0);
	tclient_send_command(c, FRAME_CMD_REGISTER_VM, req);
	tclient_next_frame(c, &f);
	ck_assert_int_eq(f.type, FRAME_TYPE_RESPONSE);
	ck_assert_int_eq(f.opcode, FRAME_CMD_REGISTER_VM);
	ck_assert_msg(f.flags == 0, "RegisterVM failed: %s", (char *)f.payload);
	ck_assert_ptr_nonnull(f.payload);
	ck_assert_msg(strstr((char *)f.payload, "\"URL\""), "no \"URL\" key: %s", f.payload);
	ck_assert_ptr_null(strstr((char *)f.payload, "null"));
	a = json_tokener_parse((char *)f.payload);
	tclient_check_io_answer(h, a, 0);
	json_object_put(a);
	frame_deinit(&f);
	free(req);

	/* The connection that registered is attached: Hyper works on it. */
	ping_free(c);
}
END_TEST

START_TEST(test_register_tokens)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct tclient *c2;
	struct json_object *a, *b;

	a = tclient_register(c, h, "vm1", vm1, 3);
	/* AttachVM from another connection: more, different tokens. */
	c2 = tclient_connect(h, "runtime2");
	b = tclient_call(c2, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"vm1\",\"numIOStreams\":2}");
	tclient_check_io_answer(h, b, 2);
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 2; j++)
			ck_assert_str_ne(tclient_token(a, i), tclient_token(b, j));
	/* And AttachVM without numIOStreams answers tokens []. */
	json_object_put(b);
	b = tclient_call(c2, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"vm1\"}");
	tclient_check_io_answer(h, b, 0);
	tclient_ping_ok(c2);
	json_object_put(a);
	json_object_put(b);
	tclient_free(c);
	tclient_free(c2);
}
END_TEST

START_TEST(test_register_duplicate)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct tclient *c2 = tclient_connect(h, "runtime2");
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, NULL);
	char *req = tclient_register_json("vm1", vm2, 0);
	char *msg;

	json_object_put(tclient_register(c, h, "vm1", vm1, 0));
	msg = tclient_call_error(c2, FRAME_CMD_REGISTER_VM, req);
	ck_assert_msg(strstr(msg, "vm1"), "the error does not name the id: %s", msg);
	free(msg);
	free(req);
	/* The first registration is untouched. */
	tclient_ping_ok(c);
	tclient_free(c);
	tclient_free(c2);
}
END_TEST

/* Missing or empty required fields, bad JSON: an error, nothing registered. */
static const char *const bad_registers[] = {
	"{\"ctlSerial\":\"@CTL@\",\"ioSerial\":\"@IO@\"}",
	"{\"containerId\":\"\",\"ctlSerial\":\"@CTL@\",\"ioSerial\":\"@IO@\"}",
	"{\"containerId\":\"@ID@\",\"ioSerial\":\"@IO@\"}",
	"{\"containerId\":\"@ID@\",\"ctlSerial\":\"\",\"ioSerial\":\"@IO@\"}",
	"{\"containerId\":\"@ID@\",\"ctlSerial\":\"@CTL@\"}",
	"{\"containerId\":\"@ID@\",\"ctlSerial\":\"@CTL@\",\"ioSerial\":\"\"}",
	"{\"containerId\":42,\"ctlSerial\":\"@CTL@\",\"ioSerial\":\"@IO@\"}",
	"{\"containerId\":\"@ID@\",\"ctlSerial\":\"@CTL@\",\"ioSerial\":\"@IO@\",\"numIOStreams\":\"x\"}",
	"[\"@ID@\",\"@CTL@\",\"@IO@\"]",
	"{\"containerId\":\"@ID@\",\"ctlSerial\":\"@CTL@\",",
	"",
};

/* @tmpl with @ID@, @CTL@ and @IO@ replaced (malloc'd). */
static char *fill(const char *tmpl, const char *id, const char *ctl, const char *io)
{
	struct evbuffer *b = evbuffer_new();
	char *s;

	while (*tmpl) {
		if (!strncmp(tmpl, "@ID@", 4)) {
			evbuffer_add_printf(b, "%s", id);
			tmpl += 4;
		} else if (!strncmp(tmpl, "@CTL@", 5)) {
			evbuffer_add_printf(b, "%s", ctl);
			tmpl += 5;
		} else if (!strncmp(tmpl, "@IO@", 4)) {
			evbuffer_add_printf(b, "%s", io);
			tmpl += 4;
		} else {
			evbuffer_add(b, tmpl++, 1);
		}
	}
	s = tclient_output_dup(b);
	evbuffer_free(b);
	return s;
}

START_TEST(test_register_missing_fields)
{
	struct tclient *c = tclient_connect(h, "runtime");
	char *req = fill(bad_registers[_i], "vm1", vm1->ctl, vm1->io);

	free(tclient_call_error(c, FRAME_CMD_REGISTER_VM, *req ? req : NULL));
	free(req);
	tclient_expect_unknown_vm(h, "vm1");
	/* The connection goes on, and the VM can still be registered. */
	json_object_put(tclient_register(c, h, "vm1", vm1, 1));
	tclient_free(c);
}
END_TEST

START_TEST(test_register_unreachable)
{
	struct tclient *c = tclient_connect(h, "runtime");
	char *req = NULL;

	ck_assert(asprintf(&req, "{\"containerId\":\"ghost\",\"ctlSerial\":\"%s\","
			   "\"ioSerial\":\"%s\"}", harness_path(h, "no-such.ctl"),
			   harness_path(h, "no-such.io")) > 0);
	free(tclient_call_error(c, FRAME_CMD_REGISTER_VM, req));
	free(req);
	tclient_expect_unknown_vm(h, "ghost");
	/* The id was not kept: a reachable VM registers under it. */
	json_object_put(tclient_register(c, h, "ghost", vm1, 0));
	ping_free(c);
}
END_TEST

START_TEST(test_attach_unknown)
{
	struct tclient *c = tclient_connect(h, "runtime");

	free(tclient_call_error(c, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"nope\"}"));
	free(tclient_call_error(c, FRAME_CMD_ATTACH_VM, "{\"numIOStreams\":1}"));
	free(tclient_call_error(c, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"\"}"));
	/* Not attached by a failed AttachVM: Hyper is refused. */
	free(tclient_call_error(c, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}"));
	tclient_free(c);
}
END_TEST

START_TEST(test_hyper_ping_version)
{
	struct tclient *c = runtime_vm1();

	tclient_ping_ok(c);
	/* version: the agent's ACK payload comes back as the answer, byte
	 * for byte, though it is 4 binary bytes and not JSON. */
	tclient_send_command(c, FRAME_CMD_HYPER, "{\"hyperName\":\"version\",\"data\":{}}");
	ck_assert_uint_eq(tclient_expect_version(c), TCLIENT_AGENT_API_VERSION);
	tclient_send_command(c, FRAME_CMD_HYPER, "{\"hyperName\":\"version\"}");
	ck_assert_uint_eq(tclient_expect_version(c), TCLIENT_AGENT_API_VERSION);
	tclient_ping_ok(c);
	ping_free(c);
}
END_TEST

START_TEST(test_hyper_not_attached)
{
	struct tclient *c = tclient_connect(h, "runtime");

	free(tclient_call_error(c, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}"));
	tclient_free(c);
}
END_TEST

/* Names a client may not use: unknown, or the agent's own messages. */
static const char *const bad_hyper[] = {
	"{\"hyperName\":\"nosuchcommand\"}",
	"{\"hyperName\":\"ready\"}",
	"{\"hyperName\":\"ack\"}",
	"{\"hyperName\":\"next\"}",
	"{\"hyperName\":\"processasyncevent\"}",
	"{\"hyperName\":\"\"}",
	"{\"data\":{}}",
	"{\"hyperName\":7}",
	"not json",
};

START_TEST(test_hyper_bad_request)
{
	struct tclient *c = runtime_vm1();

	free(tclient_call_error(c, FRAME_CMD_HYPER, bad_hyper[_i]));
	ping_free(c);
}
END_TEST

START_TEST(test_hyper_tokens_rules)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, NULL);
	struct tclient *c2 = tclient_connect(h, "runtime2");
	struct json_object *a = tclient_register(c, h, "vm1", vm1, 2);
	struct json_object *b = tclient_register(c2, h, "vm2", vm2, 1);
	const char *t0 = tclient_token(a, 0), *t1 = tclient_token(a, 1);
	char *req = NULL;

	/* A command that takes no tokens, given one. */
	ck_assert(asprintf(&req, "{\"hyperName\":\"ping\",\"tokens\":[\"%s\"]}", t0) > 0);
	free(tclient_call_error(c, FRAME_CMD_HYPER, req));
	free(req);
	/* Two tokens for one execcmd. */
	ck_assert(asprintf(&req, "{\"hyperName\":\"execcmd\",\"tokens\":[\"%s\",\"%s\"],"
			   "\"data\":{\"container\":\"hyperstart\",\"process\":"
			   "{\"args\":[\"true\"]}}}", t0, t1) > 0);
	free(tclient_call_error(c, FRAME_CMD_HYPER, req));
	free(req);
	/* A token of another VM. */
	ck_assert(asprintf(&req, "{\"hyperName\":\"execcmd\",\"tokens\":[\"%s\"],"
			   "\"data\":{\"container\":\"hyperstart\",\"process\":"
			   "{\"args\":[\"true\"]}}}", tclient_token(b, 0)) > 0);
	free(tclient_call_error(c, FRAME_CMD_HYPER, req));
	free(req);
	/* A token nobody issued. */
	free(tclient_call_error(c, FRAME_CMD_HYPER,
		"{\"hyperName\":\"execcmd\",\"tokens\":[\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"],"
		"\"data\":{\"container\":\"hyperstart\",\"process\":{\"args\":[\"true\"]}}}"));
	tclient_ping_ok(c);
	json_object_put(a);
	json_object_put(b);
	tclient_free(c);
	tclient_free(c2);
}
END_TEST

/* A client that pre-fills a non-zero stdio/stderr with a token: error. */
static const char *const prefilled[] = {
	"\"stdio\":5,",
	"\"stderr\":6,",
	"\"stdio\":3,\"stderr\":4,",
};

START_TEST(test_hyper_prefilled_stdio)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct json_object *a = tclient_register(c, h, "vm1", vm1, 1);
	struct tclient *shim = tclient_connect(h, "shim");
	char *req = NULL;

	ck_assert(asprintf(&req, "{\"token\":\"%s\"}", tclient_token(a, 0)) > 0);
	json_object_put(tclient_call(shim, FRAME_CMD_CONNECT_SHIM, req));
	free(req);
	ck_assert(asprintf(&req, "{\"hyperName\":\"execcmd\",\"tokens\":[\"%s\"],"
			   "\"data\":{\"container\":\"hyperstart\",\"process\":"
			   "{%s\"args\":[\"true\"]}}}", tclient_token(a, 0),
			   prefilled[_i]) > 0);
	free(tclient_call_error(c, FRAME_CMD_HYPER, req));
	free(req);
	tclient_ping_ok(c);
	json_object_put(a);
	tclient_free(shim);
	tclient_free(c);
}
END_TEST

START_TEST(test_hyper_agent_error)
{
	struct tclient *c = runtime_vm1();
	char *msg;

	/* The agent refuses it (no such container): its ERROR text comes
	 * back as the msg. */
	msg = tclient_call_error(c, FRAME_CMD_HYPER,
		"{\"hyperName\":\"execcmd\",\"data\":{\"container\":\"cc-proxy-it-none\","
		"\"process\":{\"args\":[\"true\"]}}}");
	ck_assert_msg(strstr(msg, "cc-proxy-it-none"), "agent error without the container: %s",
		      msg);
	free(msg);
	ping_free(c);
}
END_TEST

START_TEST(test_unknown_command_opcode)
{
	struct tclient *c = runtime_vm1();
	char *msg;

	tclient_send_command(c, 42, "{}");
	msg = tclient_expect_error(c, 42);
	ck_assert_str_eq(msg, "unknown command 42");
	free(msg);
	ping_free(c);
}
END_TEST

START_TEST(test_connect_shim_errors)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct json_object *a = tclient_register(c, h, "vm1", vm1, 1);
	struct tclient *s1 = tclient_connect(h, "shim1");
	struct tclient *s2 = tclient_connect(h, "shim2");
	char *req = NULL;

	free(tclient_call_error(s1, FRAME_CMD_CONNECT_SHIM, "{\"token\":\"bogus\"}"));
	free(tclient_call_error(s1, FRAME_CMD_CONNECT_SHIM,
		"{\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}"));
	free(tclient_call_error(s1, FRAME_CMD_CONNECT_SHIM, "{}"));
	/* Claimed once; a second connected shim is refused. */
	ck_assert(asprintf(&req, "{\"token\":\"%s\"}", tclient_token(a, 0)) > 0);
	json_object_put(tclient_call(s1, FRAME_CMD_CONNECT_SHIM, req));
	free(tclient_call_error(s2, FRAME_CMD_CONNECT_SHIM, req));
	free(req);
	json_object_put(a);
	tclient_free(s1);
	tclient_free(s2);
	tclient_free(c);
}
END_TEST

/* Signal and DisconnectShim from a connection that is no shim: error;
 * stdin from it: the connection is closed. */
START_TEST(test_shim_commands_from_non_shim)
{
	struct tclient *c = runtime_vm1();
	struct tclient *c2;

	free(tclient_call_error(c, FRAME_CMD_SIGNAL, "{\"signalNumber\":15}"));
	free(tclient_call_error(c, FRAME_CMD_DISCONNECT_SHIM, "{}"));
	tclient_ping_ok(c);
	c2 = tclient_attach(h, "vm1");
	tclient_send_stdin(c2, "hello\n", 6);
	tclient_expect_eof(c2);
	tclient_free(c2);
	ping_free(c);
}
END_TEST

START_TEST(test_unregister_reregister)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct tclient *c2;
	struct harness_vm *vm2;

	json_object_put(tclient_register(c, h, "vm1", vm1, 1));
	free(tclient_call_error(c, FRAME_CMD_UNREGISTER_VM, "{\"containerId\":\"nope\"}"));
	free(tclient_call_error(c, FRAME_CMD_UNREGISTER_VM, "{}"));
	json_object_put(tclient_call(c, FRAME_CMD_UNREGISTER_VM, "{\"containerId\":\"vm1\"}"));
	tclient_expect_unknown_vm(h, "vm1");
	free(tclient_call_error(c, FRAME_CMD_UNREGISTER_VM, "{\"containerId\":\"vm1\"}"));
	/* The old VM goes away; a fresh one registers under the same id. */
	harness_vm_stop(h, vm1);
	vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, NULL);
	c2 = tclient_connect(h, "runtime2");
	json_object_put(tclient_register(c2, h, "vm1", vm2, 1));
	tclient_ping_ok(c2);
	tclient_free(c2);
	tclient_free(c);
}
END_TEST

START_TEST(test_log_stream)
{
	static const char log[] = "{\"source\":\"shim\",\"containerId\":\"vm1\","
		"\"level\":\"warn\",\"msg\":\"cc-proxy-it-log-marker-7f3a\"}";
	struct tclient *c = tclient_connect(h, "runtime");

	tclient_send_frame(c, FRAME_TYPE_STREAM, 0, FRAME_STREAM_LOG, log, strlen(log));
	/* The connection goes on. */
	free(tclient_call_error(c, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"nope\"}"));
	ck_assert_msg(harness_wait_log(h, "cc-proxy-it-log-marker-7f3a", HARNESS_WAIT_MS),
		      "the log stream's msg is not in the proxy's log");
	tclient_free(c);
}
END_TEST

/* Readiness: READY=1 reaches $NOTIFY_SOCKET (when socket-activated, once
 * the first connection has started cc-proxy). */
START_TEST(test_ready_notified)
{
	struct tclient *c = tclient_connect(h, "runtime");

	free(tclient_call_error(c, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"nope\"}"));
	ck_assert_msg(harness_wait_ready(h, HARNESS_WAIT_MS),
		      "no READY=1 on NOTIFY_SOCKET");
	tclient_free(c);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("protocol");
	TCase *tc = harness_tcase_add(s, "client protocol v2", setup, teardown, 30);

	tcase_add_test(tc, test_register_answer_shape);
	tcase_add_test(tc, test_register_tokens);
	tcase_add_test(tc, test_register_duplicate);
	tcase_add_loop_test(tc, test_register_missing_fields, 0, (int)ARRAY_LEN(bad_registers));
	tcase_add_test(tc, test_register_unreachable);
	tcase_add_test(tc, test_attach_unknown);
	tcase_add_test(tc, test_hyper_ping_version);
	tcase_add_test(tc, test_hyper_not_attached);
	tcase_add_loop_test(tc, test_hyper_bad_request, 0, (int)ARRAY_LEN(bad_hyper));
	tcase_add_test(tc, test_hyper_tokens_rules);
	tcase_add_loop_test(tc, test_hyper_prefilled_stdio, 0, (int)ARRAY_LEN(prefilled));
	tcase_add_test(tc, test_hyper_agent_error);
	tcase_add_test(tc, test_unknown_command_opcode);
	tcase_add_test(tc, test_connect_shim_errors);
	tcase_add_test(tc, test_shim_commands_from_non_shim);
	tcase_add_test(tc, test_unregister_reregister);
	tcase_add_test(tc, test_log_stream);
	tcase_add_test(tc, test_ready_notified);
	return harness_run(s);
}
