/*
 * check_lifecycle.c - the life and death of helpers, seen from outside
 * (the acceptance lines; DESIGN.md "Processes"):
 *
 *  - a helper SIGKILLed: the master lives, that VM's runtime gets errors
 *    (a request in flight included), another VM's process streams on and
 *    exits with its status;
 *  - the agent drops its io channel (SIGUSR1, --crash-on): the helper
 *    exits by itself, the VM is freed (AttachVM fails, the id registers
 *    again), its shims get EOF;
 *  - one helper per VM under the master, named by `ps`; after
 *    UnregisterVM + VM exit, or helper death, no helper and no fd of that
 *    VM remain in the master (/proc/PID/fd compared before and after);
 *  - the data path bypasses the master: 200 MiB to a shim cost the master
 *    less than 0.1 s of CPU;
 *  - the agent gets the client's Hyper data byte for byte, with only
 *    process.stdio/stderr/id set (simvm --record-ctl).
 * Every test ends with SIGTERM: the master must exit with status 0.
 *
 * The second test case runs these (all but the CPU measure) and a
 * representative lifecycle with the master under valgrind: no error, no
 * definitely lost block. The helpers run natively: their seccomp filter
 * would kill valgrind's own system calls.
 *
 * Waits are events (pidfds, inotify on logs, round trips), each bounded.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lifecycle_util.h"
#include "tclient.h"
#include "texec.h"

static struct harness *h;
static char vg_log[PATH_MAX];	/* valgrind's report, or "" */

static void setup(void)
{
	h = harness_new();
	harness_proxy_start(h, NULL);
}

/* The same master under valgrind (or without it when not installed). */
static void setup_valgrind(void)
{
	h = harness_new();
	snprintf(vg_log, sizeof(vg_log), "%s", harness_path(h, "valgrind.log"));
	if (!lu_proxy_start_valgrind(h, vg_log)) {
		fprintf(stderr, "valgrind is not installed (or cc-proxy is built with "
			"sanitizers): cc-proxy runs without it\n");
		vg_log[0] = '\0';
		harness_proxy_start(h, NULL);
	}
}

static void teardown(void)
{
	harness_proxy_settle(h);
	lu_proxy_stop_checked(h, vg_log[0] ? vg_log : NULL);
	h = harness_free(h);
}

/* An error response to Hyper ping on @c (the VM is gone), not a hang. */
static char *ping_error(struct tclient *c)
{
	return tclient_call_error(c, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}");
}

/* AttachVM @id on @c fails: unknown VM. */
static void attach_fails(struct tclient *c, const char *id)
{
	char json[96];

	snprintf(json, sizeof(json), "{\"containerId\":\"%s\"}", id);
	free(tclient_call_error(c, FRAME_CMD_ATTACH_VM, json));
}

/* Send @sig (0: none) to the helper @pid; wait (bounded) until it ends. */
static void helper_ends(pid_t pid, int sig)
{
	int pidfd = lu_pidfd(pid);	/* -1: gone already */

	ck_assert(sig == 0 || kill(pid, sig) == 0);
	ck_assert_msg(lu_wait_gone(pidfd, HARNESS_WAIT_MS), "helper %d did not end", (int)pid);
	if (pidfd >= 0)
		close(pidfd);
}

/* SIGKILL a helper: its VM's clients get errors, another VM goes on. */
START_TEST(test_helper_sigkill)
{
	const char *rec = harness_path(h, "vm1.ctl-record");
	const char *const slow_ping[] = {
		"--delay-ms", "60000", "--delay-on", "ping", "--record-ctl", rec, NULL,
	};
	struct harness_vm *vm1 = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, slow_ping);
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, NULL);
	struct tclient *rt1 = tclient_connect(h, "runtime1");
	struct tclient *rt2 = tclient_connect(h, "runtime2");
	struct json_object *reg2;
	struct tclient *shim;
	struct tclient_output o;
	pid_t h1, h2;
	char *msg, line[96];

	json_object_put(tclient_register(rt1, h, "vm1", vm1, 0));
	reg2 = tclient_register(rt2, h, "vm2", vm2, 1);
	h1 = lu_helper_of(h->proxy_pid, "vm1");
	h2 = lu_helper_of(h->proxy_pid, "vm2");
	ck_assert_int_ne(h1, h2);

	/* VM2: a process that echoes each stdin line, streaming across the kill. */
	shim = tclient_connect_shim(h, tclient_token(reg2, 0));
	texec_sh_on(rt2, tclient_token(reg2, 0), false,
		    "while read l; do echo \"got $l\"; done; exit 42");
	tclient_output_init(&o);
	tclient_send_stdin(shim, "one\n", 4);
	tclient_read_until(shim, &o, "got one\n");

	/* VM1: a ping in flight (the agent holds its answer 60 s). */
	tclient_send_command(rt1, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}");
	ck_assert_msg(harness_wait_file(rec, "ping ", HARNESS_WAIT_MS),
		      "the ping never reached VM1's agent");

	helper_ends(h1, SIGKILL);

	/* The request in flight gets an error naming the VM, not silence. */
	msg = tclient_expect_error(rt1, FRAME_CMD_HYPER);
	ck_assert_msg(strstr(msg, "vm1"), "error \"%s\" does not name the VM", msg);
	free(msg);
	ck_assert(!lu_wait_helper_stopped(h, rt2, "vm1", h1, 0));
	snprintf(line, sizeof(line), "helper of VM vm1 (pid %d) killed by SIGKILL", (int)h1);
	ck_assert_msg(harness_wait_log(h, line, 0), "cc-proxy did not log \"%s\"", line);
	harness_proxy_alive(h);
	/* ...and so does anything after it; the id is gone. */
	free(ping_error(rt1));
	free(ping_error(rt1));
	tclient_expect_unknown_vm(h, "vm1");
	ck_assert_int_eq(lu_find_helper(h->proxy_pid, "vm1"), 0);

	/* VM2 never noticed: same helper, output continues, right status. */
	ck_assert_int_eq(lu_helper_of(h->proxy_pid, "vm2"), h2);
	tclient_send_stdin(shim, "two\n", 4);
	tclient_read_until(shim, &o, "got two\n");
	tclient_ping_ok(rt2);
	tclient_send_stdin(shim, "three\n", 6);
	tclient_send_stdin(shim, NULL, 0);
	texec_finish(shim, &o);
	texec_expect_str(o.out, "got one\ngot two\ngot three\n");
	ck_assert_int_eq(o.status, 42);
	tclient_output_deinit(&o);
	json_object_put(reg2);
	tclient_free(shim);
	tclient_free(rt1);
	tclient_free(rt2);
}
END_TEST

/*
 * The agent drops its io channel (_i 0: SIGUSR1 while a process runs;
 * 1: --crash-on execcmd, the command never answered): the helper exits by
 * itself, its shim gets EOF, the VM is freed and its id can be reused.
 */
START_TEST(test_io_drop)
{
	const char *const crash[] = { "--crash-on", "execcmd", NULL };
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1,
						 _i ? crash : NULL);
	struct tclient *rt = tclient_connect(h, "runtime");
	struct json_object *reg = tclient_register(rt, h, "vm1", vm, 1);
	struct tclient *shim = tclient_connect_shim(h, tclient_token(reg, 0));
	struct tclient_output o;
	struct harness_vm *fresh;
	pid_t helper = lu_helper_of(h->proxy_pid, "vm1");
	char *msg;

	tclient_output_init(&o);
	if (_i == 0) {
		texec_sh_on(rt, tclient_token(reg, 0), false, "echo started; read x; echo never");
		tclient_read_until(shim, &o, "started\n");
		ck_assert_int_eq(kill(vm->pid, SIGUSR1), 0);
	} else {
		char req[256];

		snprintf(req, sizeof(req), "{\"hyperName\":\"execcmd\",\"tokens\":[\"%s\"],"
			 "\"data\":{\"container\":\"hyperstart\",\"process\":"
			 "{\"args\":[\"true\"]}}}", tclient_token(reg, 0));
		/* Never answered by the agent: the proxy answers, with an error. */
		msg = tclient_call_error(rt, FRAME_CMD_HYPER, req);
		ck_assert_msg(strstr(msg, "vm1"), "error \"%s\" does not name the VM", msg);
		free(msg);
	}
	tclient_expect_closed(shim, &o);
	ck_assert(o.eof);
	helper_ends(helper, 0);
	ck_assert_msg(lu_wait_helper_stopped(h, rt, "vm1", helper, 0),
		      "the helper did not exit by itself with status 0");
	harness_proxy_alive(h);
	ck_assert_int_eq(lu_find_helper(h->proxy_pid, "vm1"), 0);

	/* Freed: unknown to AttachVM, an error to its runtime... */
	tclient_expect_unknown_vm(h, "vm1");
	free(ping_error(rt));
	/* ...and the id registers again, with a fresh VM that works. */
	fresh = harness_vm_start(h, "vm1b", HARNESS_HYPERSTART1, NULL);
	json_object_put(reg);
	tclient_free(rt);
	rt = tclient_connect(h, "runtime-again");
	reg = tclient_register(rt, h, "vm1", fresh, 0);
	tclient_ping_ok(rt);
	ck_assert_int_ne(lu_helper_of(h->proxy_pid, "vm1"), helper);
	tclient_output_deinit(&o);
	json_object_put(reg);
	tclient_free(shim);
	tclient_free(rt);
}
END_TEST

/* The children of the master: exactly the helpers of @ids, one each,
 * and `ps -o pid,args --ppid MASTER` names each VM. */
static void expect_ps(const char *const *ids, size_t n)
{
	char *out = lu_ps_children(h->proxy_pid);
	size_t lines = 0;

	ck_assert_uint_eq(lu_count_children(h->proxy_pid), n);
	for (size_t i = 0; i < n; i++)
		lu_helper_of(h->proxy_pid, ids[i]);
	if (!out) {
		fprintf(stderr, "ps(1) cannot be run: /proc was checked only\n");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char want[64];

		snprintf(want, sizeof(want), "--container-id %s ", ids[i]);
		ck_assert_msg(strstr(out, want), "ps does not name VM %s:\n%s", ids[i], out);
	}
	for (const char *l = strchr(out, '\n'); l && l[1]; l = strchr(l + 1, '\n'))
		lines++;	/* every line after the header */
	ck_assert_msg(lines == n, "ps shows %zu children, want %zu:\n%s", lines, n, out);
	free(out);
}

/* One helper per VM; after its end, nothing of the VM in the master. */
START_TEST(test_helpers_and_fds)
{
	static const char *const both[] = { "vm1", "vm2" };
	struct harness_vm *vm1 = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_LEGACY, NULL);
	struct tclient *obs = tclient_connect(h, "observer");
	struct tclient *rt1 = tclient_connect(h, "runtime1");
	struct tclient *rt2 = tclient_connect(h, "runtime2");
	struct lu_fds before, during, after;
	size_t grown = 0;
	pid_t h1, h2;

	/* The master has accepted all three connections (which stay open:
	 * a connection closed now might still be open in the master when
	 * its fds are compared). */
	expect_ps(NULL, 0);
	attach_fails(obs, "none");
	attach_fails(rt1, "none");
	attach_fails(rt2, "none");
	lu_fds_read(h->proxy_pid, &before);

	json_object_put(tclient_register(rt1, h, "vm1", vm1, 2));
	json_object_put(tclient_register(rt2, h, "vm2", vm2, 1));
	expect_ps(both, 2);
	h1 = lu_helper_of(h->proxy_pid, "vm1");
	h2 = lu_helper_of(h->proxy_pid, "vm2");
	lu_fds_read(h->proxy_pid, &during);
	for (size_t i = 0; i < during.n; i++)
		grown += !lu_fds_has(&before, during.target[i]);
	ck_assert_msg(grown >= 2, "registering two VMs added %zu fds to the master", grown);

	/* vm1: UnregisterVM; the helper drains until the VM exits. */
	json_object_put(tclient_call(rt1, FRAME_CMD_UNREGISTER_VM, "{\"containerId\":\"vm1\"}"));
	attach_fails(obs, "vm1");
	ck_assert_int_eq(lu_helper_of(h->proxy_pid, "vm1"), h1);
	harness_vm_stop(h, vm1);
	helper_ends(h1, 0);
	ck_assert_msg(lu_wait_helper_stopped(h, obs, "vm1", h1, 0),
		      "vm1's helper did not exit by itself with status 0");
	expect_ps(both + 1, 1);

	/* vm2: its helper dies. */
	helper_ends(h2, SIGKILL);
	ck_assert(!lu_wait_helper_stopped(h, obs, "vm2", h2, 0));
	expect_ps(NULL, 0);
	attach_fails(obs, "vm2");

	/* Every fd the two VMs added is gone (same numbers, same socket
	 * inodes as before them), and nothing else changed. */
	lu_fds_read(h->proxy_pid, &after);
	if (!lu_fds_equal(&before, &after)) {
		lu_fds_print("before", &before);
		lu_fds_print("during", &during);
		lu_fds_print("after", &after);
		ck_abort_msg("the master's fds differ from before the VMs");
	}
	tclient_free(obs);
	tclient_free(rt1);
	tclient_free(rt2);
}
END_TEST

/* 200 MiB through a shim: the master's CPU time hardly moves. */
START_TEST(test_data_bypasses_master)
{
	enum { TOTAL = 209715200, CPU_MAX_MS = 100 };
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct tclient *rt = tclient_connect(h, "runtime");
	struct json_object *reg = tclient_register(rt, h, "vm1", vm, 1);
	struct tclient *shim = tclient_connect_shim(h, tclient_token(reg, 0));
	long long deadline, cpu0, cpu1;
	unsigned long long got = 0, nonzero = 0;
	int status = -1;

	cpu0 = lu_cpu_ms(h->proxy_pid);
	texec_sh_on(rt, tclient_token(reg, 0), false, "head -c 209715200 /dev/zero; exit 7");
	deadline = harness_now_ms() + 3 * HARNESS_WAIT_MS;
	while (status < 0) {
		struct frame f;
		int r = tclient_read_frame(shim, &f, harness_left_ms(deadline));

		ck_assert_msg(r == 0, "after %llu bytes: %s", got,
			      r == TCLIENT_EOF ? "connection closed" : strerror(-r));
		if (f.type == FRAME_TYPE_STREAM && f.opcode == FRAME_STREAM_STDOUT) {
			got += f.payload_len;
			for (uint32_t i = 0; i < f.payload_len; i++)
				nonzero += f.payload[i] != 0;
		} else {
			ck_assert_int_eq(f.type, FRAME_TYPE_NOTIFICATION);
			ck_assert_int_eq(f.opcode, FRAME_NOTIFY_PROCESS_EXITED);
			ck_assert_uint_eq(f.payload_len, 1);
			status = f.payload[0];
		}
		frame_deinit(&f);
	}
	cpu1 = lu_cpu_ms(h->proxy_pid);
	ck_assert_uint_eq(got, TOTAL);
	ck_assert_uint_eq(nonzero, 0);
	ck_assert_int_eq(status, 7);
	ck_assert_msg(cpu1 - cpu0 < CPU_MAX_MS,
		      "the master used %lld ms of CPU while 200 MiB streamed", cpu1 - cpu0);
	json_object_put(reg);
	tclient_free(shim);
	tclient_free(rt);
}
END_TEST

/* @s with the first @from replaced by @to (malloc'd). */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	char *r;

	ck_assert_msg(at, "\"%s\" not in %s", from, s);
	ck_assert(asprintf(&r, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from)) > 0);
	return r;
}

/* Unusual but valid JSON: spacing, key orders, escapes, numbers that
 * would not survive a re-serialisation, unknown keys at every level. */
static const char exec_data[] =
	"{ \"x-before\" : [1, -0.0, 12345678901234567890, 1.5e300, 1E-7, true, false,"
	" null, {}, [ ]],\n\t\"container\":\"hyperstart\",\r\n  \"process\" :\t{"
	"\"x-first\":{\"nested\":{\"deep\":[{\"k\":\"v\\u00e9\\ud83d\\ude00\\\"\\\\\\/"
	"\\b\\f\\n\\r\\t\"}]}},\n     \"args\": [\"sh\", \"-c\", \"echo rec; exit 3\"],"
	"   \"terminal\" : false,\"envs\":[{\"env\":\"CC_X\",\"value\":\"\xc3\xa9 \xe6\x97\xa5\"}],"
	" \"x-big\": 12345678901234567890, \"x-float\": 1.5e300, \"x-dup\": 1, \"x-dup\": 2 },"
	"\n  \"x-after\": {\"b\": 2, \"a\": 1}\n}";
/* A newcontainer with a terminal, stdio pre-filled with 0 and an id. */
static const char new_data[] =
	"{\"id\":\"c-rec\",\"x-k\":{\"z\":1,\"a\":[1.0,2.50,-1e-5]},\"process\":{\"id\":"
	"\"p-\\u0041\",\"user\":\"x\", \"stdio\" : 0 ,\"terminal\":true,\"args\":[\"sh\","
	"\"-c\",\"echo nc; exit 4\"],\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":"
	"18446744073709551615,\"soft\":1024}]},\"sysctl\":{\"net.x\":\"1\"}}";
/* No token, the client's own stderr and stdio (replaced in place) and id. */
static const char null_data[] =
	"{\"process\":{\"stderr\" : 9,\"id\":\"mine\",\"args\":[\"true\"],\"stdio\":7,"
	"\"x\":1e2},\"container\":\"hyperstart\"}";

/* Hyper @cmd with @data (and token @tok, or none): the ACK, data first. */
static void hyper_raw(struct tclient *rt, const char *cmd, const char *tok,
		      const char *data)
{
	char *req;

	ck_assert(asprintf(&req, "{ \"data\" : %s ,\"hyperName\":\"%s\"%s%s%s}", data, cmd,
			   tok ? ",\"tokens\":[\"" : "", tok ? tok : "", tok ? "\"]" : "") > 0);
	json_object_put(tclient_call(rt, FRAME_CMD_HYPER, req));
	free(req);
}

/* What the agent receives: the client's data, edited in place only. */
START_TEST(test_hyper_data_exact)
{
	const char *rec = harness_path(h, "vm1.ctl-record");
	const char *const extra[] = { "--record-ctl", rec, NULL };
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, extra);
	struct tclient *rt = tclient_connect(h, "runtime");
	struct json_object *reg = tclient_register(rt, h, "vm1", vm, 2);
	struct tclient *s0 = tclient_connect_shim(h, tclient_token(reg, 0));
	struct tclient *s1 = tclient_connect_shim(h, tclient_token(reg, 1));
	const char *proc = strstr(exec_data, "\"process\" :\t{");
	size_t at = (size_t)(proc - exec_data) + strlen("\"process\" :\t{"), len, n;
	const char *pfx = "\"stdio\":3,\"stderr\":4,\"id\":\"cc-proxy-";
	struct tclient_output o0, o1;
	char *got, *want, *rest;

	/* execcmd, token ioBase 3: stdio, stderr and id added first in process. */
	hyper_raw(rt, "execcmd", tclient_token(reg, 0), exec_data);
	got = lu_record_of(rec, "execcmd", 0, &len);
	ck_assert_msg(len > at && !memcmp(got, exec_data, at),
		      "the text before process changed:\n%s", got);
	ck_assert_msg(!strncmp(got + at, pfx, strlen(pfx)),
		      "process does not start with %s...:\n%s", pfx, got);
	n = strspn(got + at + strlen(pfx), "0123456789");
	rest = got + at + strlen(pfx) + n;
	ck_assert_msg(n > 0 && !strncmp(rest, "\",", 2) && !strcmp(rest + 2, exec_data + at),
		      "sent:\n%s\nthe agent got:\n%s", exec_data, got);
	free(got);

	/* newcontainer, terminal, token ioBase 5: only the 0 becomes 5. */
	hyper_raw(rt, "newcontainer", tclient_token(reg, 1), new_data);
	got = lu_record_of(rec, "newcontainer", 0, &len);
	want = replace(new_data, "\"stdio\" : 0 ,", "\"stdio\" : 5 ,");
	ck_assert_str_eq(got, want);
	ck_assert_uint_eq(len, strlen(want));
	free(got);
	free(want);

	/* No token: the null session's 1 and 2, where the client had them. */
	hyper_raw(rt, "execcmd", NULL, null_data);
	got = lu_record_of(rec, "execcmd", 1, &len);
	rest = replace(null_data, "\"stderr\" : 9,", "\"stderr\" : 2,");
	want = replace(rest, "\"stdio\":7,", "\"stdio\":1,");
	ck_assert_str_eq(got, want);
	free(rest);
	free(got);
	free(want);

	/* The agent could run both processes as given. */
	tclient_output_init(&o0);
	tclient_output_init(&o1);
	tclient_collect(s0, &o0, HARNESS_WAIT_MS);
	tclient_collect(s1, &o1, HARNESS_WAIT_MS);
	texec_expect_str(o0.out, "rec\n");
	ck_assert_int_eq(o0.status, 3);
	texec_expect_contains(o1.out, "nc");
	ck_assert_int_eq(o1.status, 4);
	tclient_output_deinit(&o0);
	tclient_output_deinit(&o1);
	json_object_put(reg);
	tclient_free(s0);
	tclient_free(s1);
	tclient_free(rt);
}
END_TEST

/*
 * A representative lifecycle (for the valgrind case above all): output,
 * a shim that drops and comes back, AttachVM, a log stream, a client
 * sending garbage, UnregisterVM and the VM's exit; a second VM is still
 * running a process when the teardown stops the master.
 */
START_TEST(test_representative)
{
	static const char garbage[12] = { 9, 9, 9, 9 };	/* version 0x0909 */
	static const char log[] =
		"{\"source\":\"runtime\",\"level\":\"info\",\"msg\":\"lifecycle\"}";
	struct harness_vm *vm1 = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_LEGACY, NULL);
	struct tclient *rt = tclient_connect(h, "runtime");
	struct tclient *rt2 = tclient_connect(h, "runtime2");
	struct json_object *reg = tclient_register(rt, h, "vm1", vm1, 1);
	struct json_object *reg2 = tclient_register(rt2, h, "vm2", vm2, 1);
	struct tclient *att = tclient_connect(h, "attach");
	struct tclient *shim = tclient_connect_shim(h, tclient_token(reg, 0));
	struct tclient *shim2 = tclient_connect_shim(h, tclient_token(reg2, 0));
	struct tclient_output o, o2;
	pid_t helper = lu_helper_of(h->proxy_pid, "vm1");

	texec_sh_on(rt, tclient_token(reg, 0), false,
		    "read x; echo \"got $x\"; read y; echo \"second $y\" >&2; exit 5");
	tclient_output_init(&o);
	tclient_send_stdin(shim, "a\n", 2);
	tclient_read_until(shim, &o, "got a\n");
	shim = tclient_free(shim);
	shim = tclient_reconnect_shim(h, "shim-again", tclient_token(reg, 0));
	tclient_send_stdin(shim, "b\n", 2);
	tclient_collect(shim, &o, HARNESS_WAIT_MS);
	texec_expect_str(o.err, "second b\n");
	ck_assert_int_eq(o.status, 5);
	/* Another client attaches, with a token of its own. */
	json_object_put(tclient_call(att, FRAME_CMD_ATTACH_VM,
				     "{\"containerId\":\"vm1\",\"numIOStreams\":1}"));
	tclient_ping_ok(att);
	tclient_send_frame(rt, FRAME_TYPE_STREAM, 0, FRAME_STREAM_LOG, log, strlen(log));
	ck_assert(harness_wait_log(h, "lifecycle", HARNESS_WAIT_MS));
	tclient_free(shim);
	shim = tclient_connect(h, "garbage");
	tclient_send_bytes(shim, garbage, sizeof(garbage));
	tclient_expect_eof(shim);
	/* UnregisterVM, then the VM exits: its helper goes by itself. */
	json_object_put(tclient_call(rt, FRAME_CMD_UNREGISTER_VM, "{\"containerId\":\"vm1\"}"));
	harness_vm_stop(h, vm1);
	ck_assert(lu_wait_helper_stopped(h, rt, "vm1", helper, 0));
	free(ping_error(att));
	/* vm2's process is still running when the master is stopped. */
	texec_sh_on(rt2, tclient_token(reg2, 0), false, "echo up; read x");
	tclient_output_init(&o2);
	tclient_read_until(shim2, &o2, "up\n");
	tclient_output_deinit(&o);
	tclient_output_deinit(&o2);
	json_object_put(reg);
	json_object_put(reg2);
	tclient_free(shim);
	tclient_free(shim2);
	tclient_free(att);
	tclient_free(rt);
	tclient_free(rt2);
}
END_TEST

/* The tests of both test cases; the CPU measure (@cpu) only without valgrind. */
static void add_tests(TCase *tc, bool cpu)
{
	tcase_add_test(tc, test_helper_sigkill);
	tcase_add_loop_test(tc, test_io_drop, 0, 2);
	tcase_add_test(tc, test_helpers_and_fds);
	if (cpu)
		tcase_add_test(tc, test_data_bypasses_master);
	tcase_add_test(tc, test_hyper_data_exact);
	tcase_add_test(tc, test_representative);
}

int main(void)
{
	Suite *s = suite_create("lifecycle");

	add_tests(harness_tcase_add(s, "helpers from birth to reaping", setup, teardown, 45),
		  true);
	add_tests(harness_tcase_add(s, "the same, cc-proxy under valgrind", setup_valgrind,
				    teardown, 60), false);
	return harness_run(s);
}
