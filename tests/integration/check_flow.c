/*
 * check_flow.c - what one shim or the guest can cost the rest of its VM
 * (DESIGN.md "Slow consumers"): a shim that does not read pauses the VM's
 * io channel and keeps the helper's memory bounded, but only for the wait
 * timeout - a dropped shim's session, or a connected one that stopped
 * reading, then discards its output and the VM's other sessions go on; a
 * shim pipelining commands without reading its answers is not read
 * either; more shims than the helper can hold are refused one by one; and
 * a guest flooding the log gets a bounded number of records.
 *
 * Each test case starts cc-proxy with the --wait-timeout it needs (the
 * harness default is 2 s): long where nothing may be discarded, 2 s
 * where the bound itself is tested.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "hyper.h"
#include "lifecycle_util.h"
#include "tclient.h"
#include "texec.h"

static struct texec x;

static void start_with(const char *wait_timeout, const char *verbosity)
{
	const char *extra[] = { "--wait-timeout", wait_timeout, "-v", verbosity, NULL };

	x = (struct texec){ .h = harness_new() };
	harness_proxy_start(x.h, extra);
}

/* -v 1: the helper reports pausing the io channel; not -v 3, whose
 * hexdumps would slow the VM's output down to what a stall looks like. */
static void setup_long_wait(void)
{
	start_with("30", "1");
}

/* The harness's 2 s: short enough for a test, long enough that a test
 * reading a shim without pause never looks stopped to the helper, and
 * that a sanitizer-built helper says READY in time on a loaded machine
 * (--wait-timeout bounds that wait too). */
static void setup_short_wait(void)
{
	start_with("2", "3");
}

static void setup_quiet(void)
{
	start_with("2", "0");
}

/* Lower the fd limit of this test's processes (the test, cc-proxy, its
 * helpers): the helper sizes its shim cap from what it inherits. */
#define FLOW_NOFILE	48
static void setup_few_fds(void)
{
	struct rlimit rl = { FLOW_NOFILE, FLOW_NOFILE };

	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	start_with("2", "3");
}

static void teardown(void)
{
	texec_teardown(&x);
}

/* How much the helper may grow (VmRSS) while a shim does not read: its
 * buffers are bounded far below this. A sanitizer build's allocator keeps
 * freed memory in quarantine, so there the bound is looser. */
#ifdef CC_PROXY_SANITIZERS
#define FLOW_GROWTH_KIB	(64 * 1024)
#else
#define FLOW_GROWTH_KIB	(8 * 1024)
#endif

static pid_t vm_helper(void)
{
	return lu_helper_of(x.h->proxy_pid, "vm");
}

/* How many times @needle occurs in the proxy's log. */
static size_t log_count(const char *needle)
{
	size_t len, n = 0;
	char *text = lu_read_file(x.h->proxy_log, &len);

	ck_assert_ptr_nonnull(text);
	for (char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(text);
	return n;
}

/* The length of the output of `seq 1 @n`. */
static size_t seq_len(int n)
{
	size_t want = 0;

	for (int i = 1; i <= n; i++)
		want += (size_t)snprintf(NULL, 0, "%d\n", i);
	return want;
}

/* Mutant "output backpressure off": a shim that does not read makes the
 * helper stop reading the VM's io (it says so): the VM's process, which
 * the simulated VM stops reading in turn, cannot finish writing (it
 * would within a fraction of a second otherwise); the helper's memory
 * stays bounded; nothing is lost once the shim reads. */
START_TEST(test_backpressure_pauses_io)
{
	enum { OUT = 16 << 20 };
	struct tclient *shim = texec_vm_shim(&x, 0, NULL);
	struct tclient_output o;
	const char *done = harness_path(x.h, "done");
	char script[PATH_MAX + 64];
	long base_kib, kib;
	pid_t helper = vm_helper();

	base_kib = harness_rss_kib(helper);
	snprintf(script, sizeof(script), "head -c %d /dev/zero; echo done > %s; exit 4", OUT, done);
	texec_sh(&x, texec_token(&x, 0), false, script);
	ck_assert_msg(harness_wait_log(x.h, "io channel paused: a shim is slow", HARNESS_WAIT_MS),
		      "the helper never paused the io channel");
	/* A round trip through the helper and the agent: the helper runs. */
	tclient_ping_ok(x.rt);
	/* The one wait for something that must not happen, bounded. */
	ck_assert_msg(!harness_wait_file(done, "done", 2000),
		      "the VM wrote all of its output while the shim read nothing");
	kib = harness_rss_kib(helper);
	harness_trace("backpressure: helper VmRSS %ld -> %ld KiB", base_kib, kib);
	ck_assert_msg(kib - base_kib < FLOW_GROWTH_KIB, "helper grew from %ld to %ld KiB",
		      base_kib, kib);
	tclient_output_init(&o);
	tclient_collect(shim, &o, 3 * HARNESS_WAIT_MS);
	ck_assert_uint_eq(evbuffer_get_length(o.out), OUT);
	ck_assert_int_eq(o.status, 4);
	ck_assert(harness_wait_file(done, "done", HARNESS_WAIT_MS));
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/* A shim that does not read stalls only its own VM, and loses nothing
 * within the wait timeout: another VM's process runs meanwhile; then all
 * of the output arrives. */
START_TEST(test_slow_shim_isolated)
{
	struct tclient *slow = texec_start_sh(&x, _i, NULL, false, "seq 1 400000; exit 3");
	struct harness_vm *vm2;
	struct tclient *rt2, *shim2;
	struct tclient_output o, o2;
	struct json_object *reg2;

	vm2 = harness_vm_start(x.h, "vm2", texec_dialect(_i), NULL);
	rt2 = tclient_connect(x.h, "runtime2");
	reg2 = tclient_register(rt2, x.h, "vm2", vm2, 1);
	shim2 = texec_shim(&x, tclient_token(reg2, 0));
	texec_sh_on(rt2, tclient_token(reg2, 0), false, "echo other");
	tclient_output_init(&o2);
	texec_finish(shim2, &o2);
	texec_expect_str(o2.out, "other\n");
	tclient_output_init(&o);
	tclient_collect(slow, &o, 3 * HARNESS_WAIT_MS);
	ck_assert_uint_eq(evbuffer_get_length(o.out), seq_len(400000));
	ck_assert_int_eq(o.status, 3);
	tclient_output_deinit(&o);
	tclient_output_deinit(&o2);
	json_object_put(reg2);
	tclient_free(shim2);
	tclient_free(rt2);
	tclient_free(slow);
}
END_TEST

/* The other session of the VM: 200000 lines and exit 5, all of it. */
static void other_session_completes(struct tclient *b)
{
	struct tclient_output o;

	tclient_output_init(&o);
	texec_finish(b, &o);
	ck_assert_uint_eq(evbuffer_get_length(o.out), seq_len(200000));
	ck_assert_int_eq(o.status, 5);
	tclient_output_deinit(&o);
}

/* Mutant "a session whose shim never returns never starts discarding":
 * the shim of a flooding session drops and never comes back; after the
 * wait timeout that session discards, and the VM's other session streams
 * to its end with its exit status. */
START_TEST(test_orphan_session_discards)
{
	struct tclient *a, *b;

	texec_vm_up(&x, _i, 2, NULL);
	a = texec_shim(&x, texec_token(&x, 0));
	b = texec_shim(&x, texec_token(&x, 1));
	texec_sh(&x, texec_token(&x, 0), false, "seq 1 3000000");
	ck_assert(harness_wait_log(x.h, "io channel paused: a shim is slow", HARNESS_WAIT_MS));
	tclient_free(a);	/* and never returns */
	texec_sh(&x, texec_token(&x, 1), false, "seq 1 200000; exit 5");
	other_session_completes(b);
	ck_assert(harness_wait_log(x.h, "no shim took", HARNESS_WAIT_MS));
	tclient_free(b);
}
END_TEST

/* One connected shim stops reading: after the wait timeout its session
 * discards, the other session of the same VM completes; the slow shim,
 * once it reads, gets what was accepted and its ProcessExited. */
START_TEST(test_stopped_reader_discards)
{
	struct tclient *a, *b;
	struct tclient_output o;

	texec_vm_up(&x, _i, 2, NULL);
	a = texec_shim(&x, texec_token(&x, 0));
	b = texec_shim(&x, texec_token(&x, 1));
	texec_sh(&x, texec_token(&x, 0), false, "seq 1 3000000; exit 6");
	ck_assert(harness_wait_log(x.h, "io channel paused: a shim is slow", HARNESS_WAIT_MS));
	texec_sh(&x, texec_token(&x, 1), false, "seq 1 200000; exit 5");
	other_session_completes(b);
	ck_assert(harness_wait_log(x.h, "the shim took none of", HARNESS_WAIT_MS));
	tclient_output_init(&o);
	tclient_collect(a, &o, 3 * HARNESS_WAIT_MS);
	ck_assert_int_eq(o.status, 6);
	ck_assert_uint_gt(evbuffer_get_length(o.out), 0);
	ck_assert_uint_lt(evbuffer_get_length(o.out), seq_len(3000000));
	tclient_output_deinit(&o);
	tclient_free(a);
	tclient_free(b);
}
END_TEST


/* A shim pipelines commands and never reads the answers: the helper
 * stops reading it (and says so) instead of growing; the VM's other
 * session still completes; every command sent is answered once read. */
START_TEST(test_pipelined_commands_bounded)
{
	enum { MAX_FRAMES = 1000000 };
	struct tclient *a, *b;
	long base_kib, kib;
	size_t sent = 0, got = 0, off = 0;
	long long deadline;
	pid_t helper;
	bool paused = false;
	struct evbuffer *cmd = evbuffer_new();
	uint8_t unknown_cmd[FRAME_HEADER_SIZE];
	size_t cmd_len;

	/* One unknown command (opcode 200, no payload): an error answer. */
	ck_assert_ptr_nonnull(cmd);
	ck_assert_int_eq(frame_encode(cmd, FRAME_TYPE_COMMAND, 0, 200, NULL, 0), 0);
	cmd_len = evbuffer_get_length(cmd);
	ck_assert_uint_le(cmd_len, sizeof(unknown_cmd));
	evbuffer_remove(cmd, unknown_cmd, cmd_len);
	evbuffer_free(cmd);
	texec_vm_up(&x, 0, 2, NULL);
	a = texec_shim(&x, texec_token(&x, 0));
	b = texec_shim(&x, texec_token(&x, 1));
	helper = vm_helper();
	base_kib = harness_rss_kib(helper);
	ck_assert_int_eq(fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) | O_NONBLOCK), 0);
	deadline = harness_now_ms() + HARNESS_WAIT_MS;
	while (!paused && sent < MAX_FRAMES && harness_left_ms(deadline) > 0) {
		struct pollfd p = { .fd = a->fd, .events = POLLOUT };
		ssize_t n = write(a->fd, unknown_cmd + off, cmd_len - off);

		if (n > 0) {
			off += (size_t)n;
			if (off == cmd_len) {
				off = 0;
				sent++;
			}
			continue;
		}
		ck_assert_msg(n < 0 && errno == EAGAIN, "write: %s", strerror(errno));
		/* Full: is it because the helper stopped reading us? */
		paused = harness_wait_log(x.h, "does not read its output", 50);
		if (!paused)
			(void)poll(&p, 1, 100);
	}
	ck_assert_msg(paused, "the helper kept reading: %zu commands sent", sent);
	ck_assert_int_eq(fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) & ~O_NONBLOCK), 0);
	tclient_ping_ok(x.rt);
	kib = harness_rss_kib(helper);
	harness_trace("pipelined: %zu commands sent, helper VmRSS %ld -> %ld KiB",
		      sent, base_kib, kib);
	ck_assert_msg(kib - base_kib < FLOW_GROWTH_KIB, "helper grew from %ld to %ld KiB",
		      base_kib, kib);
	/* The rest of the VM goes on (after the wait timeout at most). */
	texec_sh(&x, texec_token(&x, 1), false, "seq 1 200000; exit 5");
	other_session_completes(b);
	/* Every command is answered, once, in order; a frame cut short by
	 * the full socket is completed once there is room. */
	for (;;) {
		if (got == sent && off > 0) {
			tclient_send_bytes(a, unknown_cmd + off, cmd_len - off);
			off = 0;
			sent++;
		}
		if (got == sent)
			break;
		struct frame f;

		tclient_next_frame(a, &f);
		ck_assert_int_eq(f.type, FRAME_TYPE_RESPONSE);
		ck_assert_int_eq(f.opcode, 200);
		ck_assert_int_ne(f.flags, 0);
		frame_deinit(&f);
		got++;
	}
	/* ...and nothing more: the next answer is to the next command. */
	tclient_send_command(a, 201, NULL);
	free(tclient_expect_error(a, 201));
	tclient_free(a);
	tclient_free(b);
}
END_TEST

/* More shims than the helper can hold (its cap comes from the fd limit,
 * lowered for this test): the one too many is refused with an error
 * naming the cap, the others keep working, and its token can be claimed
 * once there is room. */
START_TEST(test_shim_cap)
{
	enum { TOKENS = FLOW_NOFILE - 16 };
	struct tclient *shims[TOKENS], *extra = NULL;
	struct tclient_output o;
	char json[128], *msg = NULL, want[64];
	int n = 0;

	texec_vm_up(&x, 0, TOKENS, NULL);
	while (n < TOKENS && !msg) {
		struct tclient *c = tclient_connect(x.h, "shim");
		struct frame f;

		snprintf(json, sizeof(json), "{\"token\":\"%s\"}", texec_token(&x, (size_t)n));
		tclient_send_command(c, FRAME_CMD_CONNECT_SHIM, json);
		tclient_next_frame(c, &f);
		ck_assert_int_eq(f.type, FRAME_TYPE_RESPONSE);
		ck_assert_int_eq(f.opcode, FRAME_CMD_CONNECT_SHIM);
		if (f.flags == 0) {
			shims[n++] = c;
		} else {
			msg = strndup(f.payload_len ? (const char *)f.payload : "", f.payload_len);
			extra = c;
		}
		frame_deinit(&f);
	}
	ck_assert_msg(msg, "all %d shims accepted under a limit of %d fds", n, FLOW_NOFILE);
	snprintf(want, sizeof(want), "too many shims on this VM (at most %d)", n);
	ck_assert_msg(strstr(msg, want), "shim %d refused with: %s", n, msg);
	ck_assert_int_gt(n, 0);
	free(msg);
	extra = tclient_free(extra);
	/* Every other session is alive. */
	texec_sh(&x, texec_token(&x, 0), false, "echo alive; exit 9");
	texec_end(shims[0], &o, 9);
	texec_expect_str(o.out, "alive\n");
	tclient_output_deinit(&o);
	/* Room again (once the helper has freed the closed shim): the refused
	 * token is claimable. A refusal by the helper closes the connection,
	 * so each try is a new one; every try is a round trip, bounded. */
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", texec_token(&x, (size_t)n));
	for (long long deadline = harness_now_ms() + HARNESS_WAIT_MS; !extra;) {
		struct tclient *c = tclient_connect(x.h, "shim-late");
		struct frame f;

		tclient_send_command(c, FRAME_CMD_CONNECT_SHIM, json);
		tclient_next_frame(c, &f);
		ck_assert_int_eq(f.type, FRAME_TYPE_RESPONSE);
		if (f.flags == 0)
			extra = c;
		else
			tclient_free(c);
		frame_deinit(&f);
		ck_assert_msg(extra || harness_left_ms(deadline) > 0,
			      "the refused token never became claimable");
	}
	texec_sh(&x, texec_token(&x, (size_t)n), false, "echo late; exit 2");
	texec_end(extra, &o, 2);
	texec_expect_str(o.out, "late\n");
	tclient_output_deinit(&o);
	for (int i = 1; i < n; i++)
		tclient_free(shims[i]);
}
END_TEST

/* A raw agent: READY, then @n unsolicited ACKs, then wait for EOF. */
static void raw_agent(int ctl_listen, int io_listen, int n)
{
	struct evbuffer *out = evbuffer_new();
	int ctl = accept(ctl_listen, NULL, NULL);
	int io = accept(io_listen, NULL, NULL);
	char buf[4096];

	if (!out || ctl < 0 || io < 0)
		_exit(2);
	hyper_ctl_encode(out, HYPER_READY, NULL, 0);
	for (int i = 0; i < n; i++)
		hyper_ctl_encode(out, HYPER_ACK, NULL, 0);
	while (evbuffer_get_length(out) > 0)
		if (evbuffer_write(out, ctl) < 0)
			_exit(3);
	while (read(ctl, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

/* The guest floods the log with 10000 unsolicited ACKs: at -v 0 the log
 * gets a bounded number of them and a record of how many were suppressed. */
START_TEST(test_guest_log_flood)
{
	struct harness_vm vm = { .name = "vm" };
	int ctl_l, io_l, status;
	size_t shown;
	pid_t agent;

	snprintf(vm.ctl, sizeof(vm.ctl), "%s", harness_path(x.h, "raw.ctl"));
	snprintf(vm.io, sizeof(vm.io), "%s", harness_path(x.h, "raw.io"));
	ctl_l = listen_at(vm.ctl);
	io_l = listen_at(vm.io);
	agent = fork();
	ck_assert_int_ge(agent, 0);
	if (agent == 0)
		raw_agent(ctl_l, io_l, 10000);
	close(ctl_l);
	close(io_l);
	x.rt = tclient_connect(x.h, "runtime");
	x.reg = tclient_register(x.rt, x.h, "vm", &vm, 1);
	ck_assert(harness_wait_log(x.h, "log records caused by the VM were suppressed",
				   HARNESS_WAIT_MS));
	shown = log_count("with no command in flight");
	harness_trace("guest flood: %zu of 10000 ACK records shown", shown);
	ck_assert_uint_ge(shown, 1);
	ck_assert_msg(shown < 100, "%zu records of 10000 ACKs", shown);
	kill(agent, SIGKILL);
	ck_assert_int_eq(waitpid(agent, &status, 0), agent);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("flow");
	TCase *lng = harness_tcase_add(s, "long wait timeout", setup_long_wait, teardown, 60);
	TCase *shrt = harness_tcase_add(s, "short wait timeout", setup_short_wait, teardown, 60);
	TCase *fds = harness_tcase_add(s, "few fds", setup_few_fds, teardown, 45);
	TCase *quiet = harness_tcase_add(s, "quiet log", setup_quiet, teardown, 45);

	tcase_add_test(lng, test_backpressure_pauses_io);
	tcase_add_loop_test(lng, test_slow_shim_isolated, 0, 2);
	tcase_add_loop_test(shrt, test_orphan_session_discards, 0, 2);
	tcase_add_loop_test(shrt, test_stopped_reader_discards, 0, 2);
	tcase_add_test(shrt, test_pipelined_commands_bounded);
	tcase_add_test(fds, test_shim_cap);
	tcase_add_test(quiet, test_guest_log_flood);
	return harness_run(s);
}
