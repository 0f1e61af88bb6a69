/*
 * check_status.c - `cc-proxyctl status` and the admin Status command
 * (FRAME_CMD_STATUS) against the real proxy and simulated VMs: the
 * helpers' counters equal what actually flowed (bytes the process wrote,
 * stdin bytes sent, Hyper commands, null-session output), the master's
 * figures (tokens, state transitions), a helper that does not answer, who
 * may ask, malformed requests, and what cc-proxyctl prints.
 *
 * Every figure is read back through a Status round trip after an event
 * that guarantees it is final (an ACK, ProcessExited); where the agent's
 * output has no such event (the null session), the test repeats the
 * round trip under a deadline.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* The Status reply on a new root connection; @id NULL: every VM. */
static struct json_object *status(struct harness *h, const char *id)
{
	struct tclient *c = tclient_connect(h, "admin");
	struct json_object *reply;
	char json[256];

	if (id)
		snprintf(json, sizeof(json), "{\"containerId\":\"%s\"}", id);
	reply = tclient_call(c, FRAME_CMD_STATUS, id ? json : NULL);
	ck_assert_ptr_nonnull(reply);
	tclient_free(c);
	return reply;
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
		      json_object_to_json_string(o));
	return v;
}

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	ck_assert_msg(json_object_is_type(v, json_type_int), "\"%s\" is not an integer", key);
	return json_object_get_int64(v);
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The only VM of a reply; it must have answered when @answered. */
static struct json_object *only_vm(struct json_object *reply, bool answered)
{
	struct json_object *vms = jget(reply, "vms"), *vm;

	ck_assert_int_eq(json_object_array_length(vms), 1);
	vm = json_object_array_get_idx(vms, 0);
	if (answered)
		ck_assert_msg(json_object_get_boolean(jget(vm, "answered")),
			      "the helper did not answer: %s", json_object_to_json_string(vm));
	return vm;
}

/*
 * A process with a token: while it runs, 1 process, 1 shim, 1 of 1 token
 * claimed; after ProcessExited, 0 processes, bytes shims->agent equal to
 * the stdin sent and bytes agent->shims equal to what the shim received
 * (stdout and stderr), one Hyper served, nothing discarded. In each dialect.
 */
START_TEST(test_process_figures)
{
	static const char *const extra[] = { "--stdin-buffer", "0", NULL };
	struct tclient *shim = texec_start_sh(&x, _i, extra, false,
		"wc -c; head -c 300000 /dev/zero; echo oops >&2");
	struct json_object *reply, *vm;
	struct tclient_output o;
	static char chunk[7000];
	char *out;

	/* The ACK is in: the process runs, reading its stdin. */
	reply = status(x.h, "vm");
	vm = only_vm(reply, true);
	ck_assert_str_eq(jstr(vm, "state"), "ready");
	ck_assert_int_eq(jint(vm, "processes"), 1);
	ck_assert_int_eq(jint(vm, "shims"), 1);
	ck_assert_int_eq(jint(vm, "tokensTotal"), 1);
	ck_assert_int_eq(jint(vm, "tokensClaimed"), 1);
	ck_assert_int_eq(jint(vm, "bytesFromShims"), 0);
	ck_assert_int_gt(jint(vm, "helperPid"), 0);
	ck_assert_int_eq(jint(jget(jget(jget(reply, "proxy"), "limits"), "shimsPerVm"), "used"), 1);
	json_object_put(reply);

	memset(chunk, 'i', sizeof(chunk));
	for (int i = 0; i < 3; i++)
		tclient_send_stdin(shim, chunk, sizeof(chunk));
	tclient_send_stdin(shim, "", 0);	/* close its stdin */
	tclient_output_init(&o);
	texec_finish(shim, &o);
	ck_assert_int_eq(o.status, 0);
	out = tclient_output_dup(o.out);
	ck_assert_int_eq(atoi(out), 3 * (int)sizeof(chunk));	/* it got all of it */
	free(out);

	reply = status(x.h, "vm");
	vm = only_vm(reply, true);
	ck_assert_int_eq(jint(vm, "processes"), 0);
	ck_assert_int_eq(jint(vm, "bytesFromShims"), 3 * (int64_t)sizeof(chunk));
	ck_assert_int_eq(jint(vm, "bytesToShims"),
			 (int64_t)(evbuffer_get_length(o.out) + evbuffer_get_length(o.err)));
	ck_assert_int_eq(evbuffer_get_length(o.err), 5);
	ck_assert_int_eq(jint(vm, "bytesDiscardedNull"), 0);
	ck_assert_int_eq(jint(vm, "bytesDiscardedOrphaned"), 0);
	ck_assert_int_eq(jint(vm, "hyperServed"), 1);
	ck_assert_int_eq(jint(vm, "hyperFailed"), 0);
	json_object_put(reply);
	tclient_output_deinit(&o);
	tclient_free(shim);
}
END_TEST

/*
 * Hyper commands served and failed (the agent refuses winsize), the
 * failure as the last error, and a token-less process's output counted
 * as discarded by the null session.
 */
START_TEST(test_hyper_and_null_session)
{
	static const char *const extra[] = { "--fail-on", "winsize", NULL };
	struct json_object *reply, *vm;
	long long deadline;
	char *err;
	int64_t null = -1;

	texec_vm_up(&x, 0, 2, extra);
	tclient_ping_ok(x.rt);
	tclient_ping_ok(x.rt);
	err = tclient_call_error(x.rt, FRAME_CMD_HYPER,
				 "{\"hyperName\":\"winsize\",\"data\":{\"seq\":3,\"row\":1,\"column\":1}}");
	free(err);
	texec_sh(&x, NULL, false, "head -c 5000 /dev/zero");

	/* No event marks the end of null-session output: ask again
	 * (round trips) until all of it was counted. */
	deadline = harness_now_ms() + HARNESS_WAIT_MS;
	while (null != 5000 && harness_left_ms(deadline) > 0) {
		reply = status(x.h, NULL);
		vm = only_vm(reply, true);
		null = jint(vm, "bytesDiscardedNull");
		ck_assert_int_le(null, 5000);
		if (null == 5000) {
			ck_assert_int_eq(jint(vm, "hyperServed"), 4);
			ck_assert_int_eq(jint(vm, "hyperFailed"), 1);
			ck_assert_ptr_nonnull(strstr(jstr(vm, "lastError"), "winsize"));
			ck_assert_int_eq(jint(vm, "tokensTotal"), 2);
			ck_assert_int_eq(jint(vm, "tokensClaimed"), 0);
			ck_assert_int_eq(jint(vm, "sessions"), 2);
			ck_assert_int_eq(jint(vm, "shims"), 0);
			ck_assert_int_eq(jint(vm, "bytesToShims"), 0);
		}
		json_object_put(reply);
	}
	ck_assert_int_eq(null, 5000);
}
END_TEST

/* The proxy's totals: version, counts, the pool (none) and the limits. */
START_TEST(test_proxy_totals)
{
	struct json_object *reply, *proxy, *limits, *clients;

	texec_vm_up(&x, 0, 3, NULL);
	reply = status(x.h, NULL);
	proxy = jget(reply, "proxy");
	ck_assert_str_eq(jstr(proxy, "version"), PACKAGE_VERSION);
	ck_assert_int_gt(jint(proxy, "pid"), 0);
	ck_assert_int_ge(jint(proxy, "uptimeMs"), 0);
	ck_assert_str_eq(jstr(proxy, "socketPath"), x.h->sock);
	ck_assert_int_eq(jint(proxy, "vms"), 1);
	ck_assert_int_ge(jint(proxy, "clients"), 2);	/* the runtime and us */
	ck_assert_int_eq(jint(proxy, "helpersPooled"), 0);
	limits = jget(proxy, "limits");
	clients = jget(limits, "clients");
	ck_assert_int_eq(jint(clients, "used"), jint(proxy, "clients"));
	ck_assert_int_gt(jint(clients, "max"), jint(clients, "used"));
	ck_assert_int_eq(jint(jget(limits, "tokensPerVm"), "used"), 3);
	json_object_object_foreach(limits, name, l) {
		ck_assert_msg(jint(l, "used") <= jint(l, "max"), "limit %s over its max", name);
	}
	json_object_put(reply);
}
END_TEST

/* A ctl peer that takes the agent's one READY, so a RegisterVM waits. */
static int steal_ready(const struct harness_vm *vm)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t hdr[8];
	struct timeval tv = { HARNESS_WAIT_MS / 1000, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert(fd >= 0);
	ck_assert(strlen(vm->ctl) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, vm->ctl, strlen(vm->ctl) + 1);
	ck_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	ck_assert(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	ck_assert_int_eq(recv(fd, hdr, sizeof(hdr), MSG_WAITALL), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(hdr[3], 8);	/* READY, big-endian code 8 */
	return fd;
}

/* Status until the VMs named @id number @n (round trips, bounded). */
static struct json_object *status_until_n(struct harness *h, const char *id, size_t n)
{
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;
	struct json_object *reply;

	for (;;) {
		struct json_object *vms;
		size_t got = 0;

		reply = status(h, NULL);
		vms = jget(reply, "vms");
		for (size_t i = 0; i < json_object_array_length(vms); i++)
			got += !strcmp(jstr(json_object_array_get_idx(vms, i), "containerId"), id);
		if (got == n)
			return reply;
		json_object_put(reply);
		ck_assert_msg(harness_left_ms(deadline) > 0, "%zu VMs %s, not %zu", got, id, n);
	}
}

/*
 * starting (RegisterVM waits for READY) -> gone when the registrar
 * leaves; ready -> unregistered (draining until the VM closes its io
 * channel) -> gone when the VM stops.
 */
START_TEST(test_state_transitions)
{
	static const char *const longwait[] = { "--wait-timeout", "60", NULL };
	struct harness *h = harness_new();
	struct harness_vm *vm = harness_vm_start(h, "vm", HARNESS_HYPERSTART1, NULL);
	struct tclient *reg, *rt;
	struct json_object *reply, *v;
	char *req;
	int thief;

	harness_proxy_start(h, longwait);
	thief = steal_ready(vm);
	reg = tclient_connect(h, "registrar");
	req = tclient_register_json("slow", vm, 0);
	tclient_send_command(reg, FRAME_CMD_REGISTER_VM, req);
	free(req);
	reply = status_until_n(h, "slow", 1);
	v = only_vm(reply, true);
	ck_assert_str_eq(jstr(v, "state"), "starting");
	ck_assert_int_gt(jint(v, "helperPid"), 0);
	json_object_put(reply);
	reg = tclient_free(reg);	/* nobody waits for it: it goes */
	json_object_put(status_until_n(h, "slow", 0));
	close(thief);
	harness_vm_stop(h, vm);

	vm = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, NULL);
	rt = tclient_connect(h, "runtime");
	json_object_put(tclient_register(rt, h, "vm2", vm, 1));
	reply = status(h, "vm2");
	ck_assert_str_eq(jstr(only_vm(reply, true), "state"), "ready");
	json_object_put(reply);
	json_object_put(tclient_call(rt, FRAME_CMD_UNREGISTER_VM, "{\"containerId\":\"vm2\"}"));
	reply = status(h, "vm2");
	v = only_vm(reply, true);
	ck_assert_str_eq(jstr(v, "state"), "unregistered");
	ck_assert_ptr_null(jstr(v, "endReason"));	/* not an error */
	json_object_put(reply);
	harness_vm_stop(h, vm);
	json_object_put(status_until_n(h, "vm2", 0));
	tclient_free(rt);
	harness_teardown(h);
}
END_TEST

/* A helper that does not answer delays the reply by the bounded wait
 * only, and is shown as such; once it runs again it answers. */
START_TEST(test_helper_no_answer)
{
	struct json_object *reply, *vm;
	long long t0;
	pid_t pid;

	texec_vm_up(&x, 0, 1, NULL);
	reply = status(x.h, NULL);
	pid = (pid_t)jint(only_vm(reply, true), "helperPid");
	json_object_put(reply);
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	t0 = harness_now_ms();
	reply = status(x.h, NULL);
	ck_assert_int_lt(harness_now_ms() - t0, HARNESS_WAIT_MS);
	vm = only_vm(reply, false);
	ck_assert(!json_object_get_boolean(jget(vm, "answered")));
	ck_assert_str_eq(jstr(vm, "noAnswer"), "no answer");
	ck_assert_str_eq(jstr(vm, "state"), "ready");	/* the master's own figure */
	ck_assert_int_eq(jint(vm, "tokensTotal"), 1);
	ck_assert(!json_object_object_get_ex(vm, "bytesToShims", NULL));
	json_object_put(reply);
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	/* Its late answer is dropped, not held against it. */
	reply = status(x.h, NULL);
	ck_assert_int_eq(jint(only_vm(reply, true), "helperPid"), pid);
	json_object_put(reply);
	tclient_ping_ok(x.rt);
}
END_TEST

/* Someone who may connect (the socket's group) but is neither root nor
 * the socket's owner is refused; the connection goes on. */
START_TEST(test_non_owner_refused)
{
	struct tclient *c;
	char *msg;

	if (geteuid() != 0) {
		fprintf(stderr, "check_status: not root: skipping the non-owner test\n");
		return;
	}
	texec_vm_up(&x, 0, 0, NULL);
	/* SO_PEERCRED records the effective uid at connect(); group 0
	 * keeps the right to connect to the 0660 root:root socket (the
	 * unit's SocketMode; systemd-socket-activate leaves it 0755). */
	ck_assert_int_eq(chmod(x.h->sock, 0660), 0);
	ck_assert_int_eq(setresuid((uid_t)-1, 65534, (uid_t)-1), 0);
	c = tclient_connect(x.h, "nobody");
	ck_assert_int_eq(setresuid((uid_t)-1, 0, (uid_t)-1), 0);
	msg = tclient_call_error(c, FRAME_CMD_STATUS, NULL);
	ck_assert_msg(strstr(msg, "permission denied"), "%s", msg);
	free(msg);
	msg = tclient_call_error(c, FRAME_CMD_STATUS, "{\"containerId\":\"vm\"}");
	ck_assert_msg(strstr(msg, "permission denied"), "%s", msg);
	free(msg);
	tclient_ping_ok(x.rt);
	msg = tclient_call_error(c, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"nope\"}");
	ck_assert_msg(strstr(msg, "unknown containerId"), "%s", msg);
	free(msg);
	tclient_free(c);
	ck_assert(harness_wait_log(x.h, "status refused to uid 65534", HARNESS_WAIT_MS));
}
END_TEST

/* Malformed requests and unknown ids: an error each, the connection goes on. */
START_TEST(test_bad_requests)
{
	static const char *const bad[] = {
		"{\"containerId\":\"nope\"}", "{\"containerId\":5}", "{\"containerId\":\"\"}",
		"{\"other\":1}", "[1]", "{", "null", "{} {}",
		"{\"limit\":0}", "{\"limit\":501}", "{\"limit\":\"1\"}", "{\"limit\":1.5}",
		"{\"after\":-1}", "{\"after\":true}", "{\"after\":99999999999999999999}",
	};
	struct tclient *c;
	struct json_object *reply;

	texec_vm_up(&x, 0, 0, NULL);
	c = tclient_connect(x.h, "admin");
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		free(tclient_call_error(c, FRAME_CMD_STATUS, bad[i]));
	reply = tclient_call(c, FRAME_CMD_STATUS, "{}");
	only_vm(reply, true);
	json_object_put(reply);
	tclient_free(c);
}
END_TEST

/* Run cc-proxyctl ARGS (-s the socket); its stdout+stderr, malloc'd. */
static char *ctl(const char *const *args, int *status)
{
	const char *argv[16] = { harness_bin(x.h, "cc-proxyctl"), "-s", x.h->sock };
	static unsigned runs;
	size_t n = 3, len = 0;
	char bin[PATH_MAX], log[PATH_MAX], name[32], *text = NULL;
	FILE *f;
	pid_t pid;
	int pidfd, st;

	snprintf(name, sizeof(name), "ctl%u.out", runs++);	/* a fresh file each */
	snprintf(log, sizeof(log), "%s", harness_path(x.h, name));
	snprintf(bin, sizeof(bin), "%s", argv[0]);
	argv[0] = bin;
	for (size_t i = 0; args[i] && n < ARRAY_LEN(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = harness_spawn(argv, log, -1, -1, NULL);
	pidfd = harness_pidfd_open(pid);
	ck_assert_msg(harness_wait_exit(pid, pidfd, HARNESS_WAIT_MS, &st), "cc-proxyctl hangs");
	close(pidfd);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert(getdelim(&text, &len, '\0', f) >= 0 || feof(f));
	fclose(f);
	return text ? text : strdup("");
}

/* What cc-proxyctl prints: the table, one VM's detail, the JSON reply. */
START_TEST(test_ctl_output)
{
	struct json_object *o, *vm;
	char *out;
	int st;

	texec_vm_up(&x, 0, 1, NULL);
	tclient_ping_ok(x.rt);

	out = ctl((const char *const[]){ "status", NULL }, &st);
	ck_assert_msg(st == 0, "%s", out);
	ck_assert_msg(strstr(out, "cc-proxy " PACKAGE_VERSION ", pid"), "%s", out);
	ck_assert_msg(strstr(out, "limits: clients "), "%s", out);
	ck_assert_msg(strstr(out, "ID  ") && strstr(out, "TO-SHIMS") && strstr(out, "LAST-ERROR"),
		      "%s", out);
	ck_assert_msg(strstr(out, "\nvm  ") && strstr(out, " ready "), "%s", out);
	free(out);

	out = ctl((const char *const[]){ "list", NULL }, &st);
	ck_assert_msg(st == 0 && !strstr(out, "limits:") && strstr(out, "\nvm  "), "%s", out);
	free(out);

	out = ctl((const char *const[]){ "status", "vm", NULL }, &st);
	ck_assert_msg(st == 0 && strstr(out, "VM vm\n"), "%s", out);
	ck_assert_msg(strstr(out, "hyper commands served") && strstr(out, "bytes agent->shims"),
		      "%s", out);
	free(out);

	out = ctl((const char *const[]){ "status", "--json", NULL }, &st);
	ck_assert_int_eq(st, 0);
	o = json_tokener_parse(out);
	ck_assert_msg(o != NULL, "not JSON: %s", out);
	jget(jget(jget(o, "proxy"), "limits"), "clients");
	vm = only_vm(o, true);
	ck_assert_str_eq(jstr(vm, "containerId"), "vm");
	ck_assert_int_eq(jint(vm, "hyperServed"), 1);
	for (const char *const *k = (const char *const[]){ "helperPid", "uptimeMs", "tokensTotal",
	     "tokensClaimed", "shims", "processes", "bytesToShims", "bytesFromShims",
	     "bytesDiscardedNull", "bytesDiscardedOrphaned", NULL }; *k; k++)
		jint(vm, *k);
	jget(vm, "lastError");
	jget(vm, "state");
	json_object_put(o);
	free(out);

	out = ctl((const char *const[]){ "status", "nope", NULL }, &st);
	ck_assert_msg(st == 1 && strstr(out, "unknown containerId nope"), "%s", out);
	free(out);
	out = ctl((const char *const[]){ "list", "extra", NULL }, &st);
	ck_assert_msg(st == 2, "%s", out);
	free(out);
}
END_TEST

/* The id of the only VM of a one-VM page, and the page's "next" (0: none). */
static const char *page_of_one(struct json_object *reply, int64_t total, int64_t *next)
{
	struct json_object *page = jget(reply, "page"), *v;

	ck_assert_int_eq(jint(page, "total"), total);
	*next = json_object_object_get_ex(page, "next", &v) ? json_object_get_int64(v) : 0;
	return jstr(only_vm(reply, true), "containerId");
}

/*
 * Paging: with limit 1, three VMs take three replies chained by "next";
 * a VM that goes between two replies does not shift the rest (the cursor
 * names a VM's place, not an offset), and the last reply has no "next".
 * cc-proxyctl --page-size 1 joins the replies into one report.
 */
START_TEST(test_paging)
{
	struct harness_vm *vb = harness_vm_start(x.h, "b", HARNESS_HYPERSTART1, NULL);
	struct harness_vm *vc = harness_vm_start(x.h, "c", HARNESS_HYPERSTART1, NULL);
	struct tclient *admin, *rb, *rc;
	struct json_object *reply, *o, *vms;
	int64_t next, next2;
	char req[128], *out;
	int st;

	texec_vm_up(&x, 0, 0, NULL);
	rb = tclient_connect(x.h, "runtime-b");
	json_object_put(tclient_register(rb, x.h, "b", vb, 0));
	rc = tclient_connect(x.h, "runtime-c");
	json_object_put(tclient_register(rc, x.h, "c", vc, 0));
	admin = tclient_connect(x.h, "admin");

	reply = tclient_call(admin, FRAME_CMD_STATUS, "{\"limit\":1}");
	ck_assert_str_eq(page_of_one(reply, 3, &next), "vm");
	ck_assert_int_gt(next, 0);
	json_object_put(reply);
	snprintf(req, sizeof(req), "{\"after\":%lld,\"limit\":1}", (long long)next);
	reply = tclient_call(admin, FRAME_CMD_STATUS, req);
	ck_assert_str_eq(page_of_one(reply, 3, &next2), "b");
	ck_assert_int_gt(next2, next);
	json_object_put(reply);

	/* "vm" (already listed) goes; the walk goes on where it was. */
	json_object_put(tclient_call(x.rt, FRAME_CMD_UNREGISTER_VM, "{\"containerId\":\"vm\"}"));
	harness_vm_stop(x.h, x.vm);
	x.vm = NULL;
	json_object_put(status_until_n(x.h, "vm", 0));
	snprintf(req, sizeof(req), "{\"after\":%lld,\"limit\":1}", (long long)next2);
	reply = tclient_call(admin, FRAME_CMD_STATUS, req);
	ck_assert_str_eq(page_of_one(reply, 2, &next), "c");
	ck_assert_int_eq(next, 0);	/* the last page */
	json_object_put(reply);
	/* The default page holds all, and says there is no more. */
	reply = tclient_call(admin, FRAME_CMD_STATUS, NULL);
	ck_assert_int_eq(json_object_array_length(jget(reply, "vms")), 2);
	ck_assert(!json_object_object_get_ex(jget(reply, "page"), "next", NULL));
	json_object_put(reply);

	out = ctl((const char *const[]){ "list", "--page-size", "1", NULL }, &st);
	ck_assert_msg(st == 0 && strstr(out, "\nb  ") && strstr(out, "\nc  "), "%s", out);
	free(out);
	out = ctl((const char *const[]){ "status", "--json", "--page-size", "1", NULL }, &st);
	ck_assert_int_eq(st, 0);
	o = json_tokener_parse(out);
	ck_assert_msg(o != NULL, "not JSON: %s", out);
	vms = jget(o, "vms");
	ck_assert_int_eq(json_object_array_length(vms), 2);
	ck_assert_str_eq(jstr(json_object_array_get_idx(vms, 0), "containerId"), "b");
	ck_assert_str_eq(jstr(json_object_array_get_idx(vms, 1), "containerId"), "c");
	ck_assert(!json_object_object_get_ex(o, "page", NULL));
	jget(o, "proxy");
	json_object_put(o);
	free(out);
	out = ctl((const char *const[]){ "list", "--page-size", "0", NULL }, &st);
	ck_assert_msg(st == 2 && strstr(out, "--page-size"), "%s", out);
	free(out);

	tclient_free(admin);
	tclient_free(rb);
	tclient_free(rc);
	harness_vm_stop(x.h, vb);
	harness_vm_stop(x.h, vc);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("status");
	TCase *tc = harness_tcase_add(s, "status", setup, teardown, 60);

	tcase_add_loop_test(tc, test_process_figures, 0, TEXEC_DIALECTS);
	tcase_add_test(tc, test_hyper_and_null_session);
	tcase_add_test(tc, test_proxy_totals);
	tcase_add_test(tc, test_helper_no_answer);
	tcase_add_test(tc, test_non_owner_refused);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_ctl_output);
	tcase_add_test(tc, test_paging);
	tc = harness_tcase_add(s, "transitions", NULL, NULL, 60);
	tcase_add_test(tc, test_state_transitions);
	return harness_run(s);
}
