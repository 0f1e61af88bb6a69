/*
 * check_robustness.c - what a bad peer or a bad moment costs: garbage
 * from a client (only its own connection), frames in pieces and back to
 * back, longer headers, the 1 MiB payload, answers that never cross
 * between clients even with a slow agent, agent faults (ERROR, crash,
 * garbage), VMs that never say READY, a VM that vanishes, and a clean
 * exit on SIGTERM (PROTOCOL.md part 1, "Frame"; DESIGN.md).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* Garbage on one connection: that connection is closed, without a
 * response; another client of the same VM is not disturbed. */
static const uint8_t garbage[][12] = {
	{ 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0 },		/* version 3 */
	{ 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0 },		/* header 2 words */
	{ 0, 2, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0 },		/* type 4 */
	{ 0, 2, 3, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff },	/* 4 GiB payload */
	{ 0, 2, 3, 0, 0, 0, 2, 9, 0, 0, 0, 0 },		/* stream opcode 9 */
	{ 0, 2, 3, 0, 0, 0, 3, 7, 0, 0, 0, 1 },		/* notification 7 */
	{ 'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1' },
};

START_TEST(test_garbage_client)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct tclient *bad = tclient_connect(h, "garbage");

	json_object_put(tclient_register(c, h, "vm1", vm1, 0));
	json_object_put(tclient_call(bad, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"vm1\"}"));
	/* A command of the good client in flight while the garbage lands. */
	tclient_send_command(c, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}");
	tclient_send_bytes(bad, garbage[_i], sizeof(garbage[_i]));
	if (_i == 5)
		tclient_send_bytes(bad, "x", 1);
	tclient_expect_eof(bad);
	json_object_put(tclient_expect_ok(c, FRAME_CMD_HYPER));
	tclient_ping_ok(c);
	harness_proxy_alive(h);
	tclient_free(bad);
	tclient_free(c);
}
END_TEST

/* A frame in pieces, byte by byte; frames back to back in one write. */
START_TEST(test_framing)
{
	struct tclient *c = tclient_connect(h, "runtime");
	struct evbuffer *b = evbuffer_new();
	static const char ping[] = "{\"hyperName\":\"ping\"}";
	static const char nope[] = "{\"containerId\":\"nope\"}";
	uint8_t *p;
	size_t n;

	json_object_put(tclient_register(c, h, "vm1", vm1, 0));
	ck_assert_int_eq(frame_encode(b, FRAME_TYPE_COMMAND, 0, FRAME_CMD_HYPER,
				      ping, strlen(ping)), 0);
	n = evbuffer_get_length(b);
	p = evbuffer_pullup(b, -1);
	for (size_t i = 0; i < n; i++)
		tclient_send_bytes(c, p + i, 1);
	json_object_put(tclient_expect_ok(c, FRAME_CMD_HYPER));
	evbuffer_drain(b, n);

	/* Three commands in one write: three answers, in order. */
	frame_encode(b, FRAME_TYPE_COMMAND, 0, FRAME_CMD_HYPER, ping, strlen(ping));
	frame_encode(b, FRAME_TYPE_COMMAND, 0, FRAME_CMD_ATTACH_VM, nope, strlen(nope));
	frame_encode(b, FRAME_TYPE_COMMAND, 0, FRAME_CMD_HYPER, ping, strlen(ping));
	n = evbuffer_get_length(b);
	tclient_send_bytes(c, evbuffer_pullup(b, -1), n);
	json_object_put(tclient_expect_ok(c, FRAME_CMD_HYPER));
	free(tclient_expect_error(c, FRAME_CMD_ATTACH_VM));
	json_object_put(tclient_expect_ok(c, FRAME_CMD_HYPER));
	evbuffer_free(b);
	tclient_free(c);
}
END_TEST

/* A header longer than 3 words: the payload starts at 4 * hlen. */
START_TEST(test_long_header)
{
	struct tclient *c = tclient_connect(h, "runtime");
	static const char nope[] = "{\"containerId\":\"nope\"}";
	uint8_t buf[20 + sizeof(nope)] = { 0, 2, 5, 0, 0, 0, 0, FRAME_CMD_ATTACH_VM };
	uint32_t len = sizeof(nope) - 1;

	buf[8] = (uint8_t)(len >> 24);
	buf[9] = (uint8_t)(len >> 16);
	buf[10] = (uint8_t)(len >> 8);
	buf[11] = (uint8_t)len;
	memset(buf + 12, 0xee, 8);	/* extra header bytes, skipped */
	memcpy(buf + 20, nope, len);
	tclient_send_bytes(c, buf, 20 + len);
	free(tclient_expect_error(c, FRAME_CMD_ATTACH_VM));
	tclient_free(c);
}
END_TEST

/* The maximum payload is at least 1 MiB. */
START_TEST(test_large_payload)
{
	struct tclient *c = tclient_connect(h, "runtime");
	size_t len = FRAME_PAYLOAD_MAX;
	char *p = malloc(len + 1);
	int n;

	ck_assert_ptr_nonnull(p);
	n = snprintf(p, len, "{\"containerId\":\"nope\",\"pad\":\"");
	memset(p + n, 'x', len - (size_t)n - 2);
	memcpy(p + len - 2, "\"}", 3);
	ck_assert_uint_eq(strlen(p), len);
	tclient_send_command(c, FRAME_CMD_ATTACH_VM, p);
	free(tclient_expect_error(c, FRAME_CMD_ATTACH_VM));
	free(p);
	tclient_free(c);
}
END_TEST

/* Answers never cross: two clients pipelining commands to one VM each
 * get exactly their own answers, in order. */
START_TEST(test_answers_never_cross)
{
	enum { N = 25 };
	struct tclient *a = tclient_connect(h, "a");
	struct tclient *b;
	struct evbuffer *ba = evbuffer_new(), *bb = evbuffer_new();
	static const char ping[] = "{\"hyperName\":\"ping\"}";
	static const char nope[] = "{\"containerId\":\"nope\"}";

	json_object_put(tclient_register(a, h, "vm1", vm1, 0));
	b = tclient_attach(h, "vm1");
	for (int i = 0; i < N; i++) {
		frame_encode(ba, FRAME_TYPE_COMMAND, 0, FRAME_CMD_HYPER, ping, strlen(ping));
		frame_encode(bb, FRAME_TYPE_COMMAND, 0, FRAME_CMD_HYPER, ping, strlen(ping));
	}
	/* Each ends with a command answered by the master alone. */
	frame_encode(ba, FRAME_TYPE_COMMAND, 0, FRAME_CMD_ATTACH_VM, nope, strlen(nope));
	frame_encode(bb, FRAME_TYPE_COMMAND, 0, FRAME_CMD_ATTACH_VM, nope, strlen(nope));
	tclient_send_bytes(a, evbuffer_pullup(ba, -1), evbuffer_get_length(ba));
	tclient_send_bytes(b, evbuffer_pullup(bb, -1), evbuffer_get_length(bb));
	for (int i = 0; i < N; i++) {
		json_object_put(tclient_expect_ok(a, FRAME_CMD_HYPER));
		json_object_put(tclient_expect_ok(b, FRAME_CMD_HYPER));
	}
	free(tclient_expect_error(a, FRAME_CMD_ATTACH_VM));
	free(tclient_expect_error(b, FRAME_CMD_ATTACH_VM));
	evbuffer_free(ba);
	evbuffer_free(bb);
	tclient_free(a);
	tclient_free(b);
}
END_TEST

/* A helper whose VM vanishes costs that VM only. */
START_TEST(test_vm_crash_isolated)
{
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, NULL);
	struct tclient *a = tclient_connect(h, "a");
	struct tclient *b = tclient_connect(h, "b");
	struct frame f;
	int r;

	json_object_put(tclient_register(a, h, "vm1", vm1, 0));
	json_object_put(tclient_register(b, h, "vm2", vm2, 0));
	harness_vm_stop(h, vm1);
	/* vm1's commands now fail (error response, never a hang)... */
	tclient_send_command(a, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}");
	r = tclient_read_frame(a, &f, HARNESS_WAIT_MS);
	ck_assert_msg(r == 0, "no answer to Hyper for a lost VM: %s",
		      r == TCLIENT_EOF ? "connection closed" : strerror(-r));
	ck_assert_int_eq(f.type, FRAME_TYPE_RESPONSE);
	ck_assert_int_eq(f.opcode, FRAME_CMD_HYPER);
	ck_assert_msg(f.flags & FRAME_FLAG_ERROR, "ping of a dead VM succeeded");
	frame_deinit(&f);
	/* ...and vm2 carries on. */
	tclient_ping_ok(b);
	tclient_free(a);
	tclient_free(b);
}
END_TEST

START_TEST(test_sigterm_exits_cleanly)
{
	struct tclient *c = tclient_connect(h, "runtime");
	int status = 0;

	json_object_put(tclient_register(c, h, "vm1", vm1, 0));
	tclient_ping_ok(c);
	ck_assert_int_eq(kill(h->proxy_pid, SIGTERM), 0);
	ck_assert_msg(harness_wait_exit(h->proxy_pid, h->proxy_pidfd, HARNESS_WAIT_MS, &status),
		      "cc-proxy still running %d ms after SIGTERM", HARNESS_WAIT_MS);
	h->proxy_pid = 0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "cc-proxy ended with wait status 0x%x after SIGTERM", status);
	tclient_free(c);
	/* Not alive any more, as wanted: start one for the teardown check. */
	harness_proxy_start(h, NULL);
}
END_TEST

/* Answers go to the connection that asked, in order, even when the agent
 * is slow: A's delayed "version" and B's "ping" are told apart by their
 * payloads (version: 4 bytes; ping: empty). */
START_TEST(test_answers_routed)
{
	static const char *const slow[] = { "--delay-ms", "300", "--delay-on", "version", NULL };
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, slow);
	struct tclient *a = tclient_connect(h, "a");
	struct tclient *b;
	struct json_object *o;

	json_object_put(tclient_register(a, h, "vm2", vm2, 0));
	b = tclient_attach(h, "vm2");
	tclient_send_command(a, FRAME_CMD_HYPER, "{\"hyperName\":\"version\"}");
	tclient_send_command(a, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}");
	tclient_send_command(b, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}");
	o = tclient_expect_ok(b, FRAME_CMD_HYPER);
	ck_assert_msg(!o, "b's ping got a payload: %s", json_object_to_json_string(o));
	ck_assert_uint_eq(tclient_expect_version(a), TCLIENT_AGENT_API_VERSION);
	o = tclient_expect_ok(a, FRAME_CMD_HYPER);
	ck_assert_msg(!o, "a's ping got a payload: %s", json_object_to_json_string(o));
	tclient_free(a);
	tclient_free(b);
}
END_TEST

/* Agent faults on one command: ERROR is passed on and the VM goes on; a
 * crash or garbage loses that VM only, with an error answer, never a hang. */
static const char *const agent_faults[][3] = {
	{ "--fail-on", "ping", "ok" },
	{ "--crash-on", "ping", "lost" },
	{ "--garbage-on", "ping", "lost" },
};

START_TEST(test_agent_faults)
{
	const char *const *f = agent_faults[_i];
	const char *const opts[] = { f[0], f[1], NULL };
	struct harness_vm *bad = harness_vm_start(h, "bad", HARNESS_HYPERSTART1, opts);
	struct tclient *a = tclient_connect(h, "a");
	struct tclient *b = tclient_connect(h, "b");

	json_object_put(tclient_register(a, h, "bad", bad, 0));
	json_object_put(tclient_register(b, h, "vm1", vm1, 0));
	free(tclient_call_error(a, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}"));
	tclient_send_command(a, FRAME_CMD_HYPER, "{\"hyperName\":\"version\"}");
	if (!strcmp(f[2], "ok"))
		ck_assert_uint_eq(tclient_expect_version(a), TCLIENT_AGENT_API_VERSION);
	else
		free(tclient_expect_error(a, FRAME_CMD_HYPER));
	tclient_ping_ok(b);
	harness_proxy_alive(h);
	tclient_free(a);
	tclient_free(b);
}
END_TEST

/* A VM whose agent never says READY properly: RegisterVM fails (garbage
 * at once; silence after --wait-timeout) and nothing stays registered. */
START_TEST(test_register_garbage_ready)
{
	static const char *const opts[] = { "--garbage-on", "ready", NULL };
	struct harness_vm *bad = harness_vm_start(h, "bad", HARNESS_HYPERSTART1, opts);
	struct tclient *c = tclient_connect(h, "runtime");
	char *req = tclient_register_json("bad", bad, 1);

	free(tclient_call_error(c, FRAME_CMD_REGISTER_VM, req));
	free(req);
	tclient_expect_unknown_vm(h, "bad");
	tclient_free(c);
}
END_TEST

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert(fd >= 0);
	strcpy(sa.sun_path, path);
	ck_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	ck_assert(listen(fd, 4) == 0);
	return fd;
}

START_TEST(test_register_silent_vm)
{
	const char *ctl = harness_path(h, "silent.ctl");
	const char *io = harness_path(h, "silent.io");
	int l1 = listen_unix(ctl), l2 = listen_unix(io);
	struct tclient *c = tclient_connect(h, "runtime");
	char *req = NULL;
	long long t0 = harness_now_ms();

	/* The connects succeed (backlog); READY never comes. */
	ck_assert(asprintf(&req, "{\"containerId\":\"silent\",\"ctlSerial\":\"%s\","
			   "\"ioSerial\":\"%s\"}", ctl, io) > 0);
	free(tclient_call_error(c, FRAME_CMD_REGISTER_VM, req));
	ck_assert_msg(harness_now_ms() - t0 >= 1500, "gave up after %lld ms, before "
		      "--wait-timeout 2", harness_now_ms() - t0);
	free(req);
	tclient_expect_unknown_vm(h, "silent");
	close(l1);
	close(l2);
	tclient_free(c);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("robustness");
	TCase *tc = harness_tcase_add(s, "bad peers, bad moments", setup, teardown, 30);

	tcase_add_loop_test(tc, test_garbage_client, 0, (int)ARRAY_LEN(garbage));
	tcase_add_test(tc, test_framing);
	tcase_add_test(tc, test_long_header);
	tcase_add_test(tc, test_large_payload);
	tcase_add_test(tc, test_answers_never_cross);
	tcase_add_test(tc, test_answers_routed);
	tcase_add_loop_test(tc, test_agent_faults, 0, (int)ARRAY_LEN(agent_faults));
	tcase_add_test(tc, test_register_garbage_ready);
	tcase_add_test(tc, test_register_silent_vm);
	tcase_add_test(tc, test_vm_crash_isolated);
	tcase_add_test(tc, test_sigterm_exits_cleanly);
	return harness_run(s);
}
