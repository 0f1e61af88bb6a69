/*
 * check_hostile.c - the master treats its helpers as hostile (issue 9).
 *
 * cc-proxy runs with `--helper hostile-helper` (hostile_helper.c): VMs
 * named "evil-MODE" get a helper that misbehaves as MODE says, every other
 * VM the real helper. Each test keeps a process of the well-behaved VM
 * "good" running across the attack (it waits for stdin), then checks:
 *  - the master is alive and serving (the teardown settles it);
 *  - the bad helper was killed and reaped: "killing the helper of VM
 *    evil-MODE (pid N): REASON" (the MSGID_HELPER_KILLED record) and
 *    "helper of VM evil-MODE (pid N) killed by SIGKILL";
 *  - the good VM's process streams to its end with its own exit status.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lifecycle_util.h"
#include "tclient.h"
#include "texec.h"

static struct harness *h;

static void setup(void)
{
	char helper[PATH_MAX];
	const char *extra[] = { "--helper", helper, NULL };

	h = harness_new();
	snprintf(helper, sizeof(helper), "%s", harness_bin(h, "tests/integration/hostile-helper"));
	harness_proxy_start(h, extra);
}

static void teardown(void)
{
	h = harness_teardown(h);
}

/* ---- the well-behaved VM --------------------------------------------- */

struct good {
	struct harness_vm *vm;
	struct tclient *rt, *shim;
	struct json_object *reg;
	struct tclient_output o;
};

#define GOOD_SCRIPT "echo start; read x; i=0; while [ $i -lt 300 ]; do echo line$i; " \
	"i=$((i+1)); done; echo \"got $x\"; exit 7"

static void good_start(struct good *g)
{
	g->vm = harness_vm_start(h, "good", HARNESS_HYPERSTART1, NULL);
	g->rt = tclient_connect(h, "good-runtime");
	g->reg = tclient_register(g->rt, h, "good", g->vm, 1);
	g->shim = tclient_connect_shim(h, tclient_token(g->reg, 0));
	texec_sh_on(g->rt, tclient_token(g->reg, 0), false, GOOD_SCRIPT);
	tclient_output_init(&g->o);
	tclient_read_until(g->shim, &g->o, "start\n");
}

/* The process waited for stdin through the attack: now it runs to its end. */
static void good_finish(struct good *g)
{
	tclient_send_stdin(g->shim, "go\n", 3);
	texec_finish(g->shim, &g->o);
	texec_expect_contains(g->o.out, "line0\nline1\n");
	texec_expect_contains(g->o.out, "line299\ngot go\n");
	ck_assert_int_eq(g->o.status, 7);
	tclient_output_deinit(&g->o);
	json_object_put(g->reg);
	tclient_free(g->shim);
	tclient_free(g->rt);
}

/* ---- the hostile VM ---------------------------------------------------- */

/* Register "evil-@mode" (the simulated VM "evil" provides its sockets). */
static struct json_object *evil_register(struct tclient *rt, const char *mode, int ntokens)
{
	struct harness_vm *vm = harness_vm_start(h, "evil", HARNESS_HYPERSTART1, NULL);
	char id[64];

	snprintf(id, sizeof(id), "evil-%s", mode);
	return tclient_register(rt, h, id, vm, ntokens);
}

/*
 * The helper of "evil-@mode" was killed for a reason holding @reason, the
 * record names the VM and the pid, and the helper was reaped.
 */
static void expect_killed(const char *mode, const char *reason)
{
	char needle[128], stopped[192], pidf[48], *log, *line, *end;
	long long pid;
	size_t len;

	snprintf(needle, sizeof(needle), "killing the helper of VM evil-%s (pid ", mode);
	ck_assert_msg(harness_wait_log(h, needle, HARNESS_WAIT_MS),
		      "the helper of evil-%s was not killed", mode);
	log = lu_read_file(h->proxy_log, &len);
	line = strstr(log, needle);
	ck_assert_ptr_nonnull(line);
	end = strchr(line, '\n');
	if (end)
		*end = '\0';
	ck_assert_msg(strstr(line, reason), "killed for another reason: %s", line);
	ck_assert_msg(strstr(line, "container_id=evil-"), "record without the VM: %s", line);
	pid = strtoll(line + strlen(needle), NULL, 10);
	snprintf(pidf, sizeof(pidf), "helper_pid=%lld", pid);
	ck_assert_msg(pid > 0 && strstr(line, pidf), "record without the pid: %s", line);
	ck_assert_msg(strstr(line, "reason="), "record without a reason field: %s", line);
	free(log);
	snprintf(stopped, sizeof(stopped), "helper of VM evil-%s (pid %lld) killed by SIGKILL",
		 mode, pid);
	ck_assert_msg(harness_wait_log(h, stopped, HARNESS_WAIT_MS), "not reaped: %s", stopped);
}

/* A Hyper ping on @rt whose answer is an error (the helper died on it). */
static void hyper_fails(struct tclient *rt)
{
	free(tclient_call_error(rt, FRAME_CMD_HYPER, "{\"hyperName\":\"ping\"}"));
}

/* The common shape: good VM up, evil VM registered, Hyper triggers the
 * misbehaviour and fails, the helper is killed for @reason. */
static void hyper_attack(const char *mode, const char *reason)
{
	struct good g;
	struct tclient *rt;
	struct json_object *reg;

	good_start(&g);
	rt = tclient_connect(h, "evil-runtime");
	reg = evil_register(rt, mode, 1);
	hyper_fails(rt);
	expect_killed(mode, reason);
	good_finish(&g);
	json_object_put(reg);
	tclient_free(rt);
}

START_TEST(test_bad_request_id)
{
	hyper_attack("bad-id", "protocol violation by its helper: answer to no request");
}
END_TEST

START_TEST(test_answer_unasked)
{
	struct good g;
	struct tclient *rt;
	struct json_object *reg;

	/* The first answer is right: the Hyper succeeds; the second is not. */
	good_start(&g);
	rt = tclient_connect(h, "evil-runtime");
	reg = evil_register(rt, "unasked", 1);
	tclient_ping_ok(rt);
	expect_killed("unasked", "answer to no request");
	good_finish(&g);
	json_object_put(reg);
	tclient_free(rt);
}
END_TEST

START_TEST(test_fd_attached)
{
	hyper_attack("fd", "protocol violation by its helper: fd flag does not match");
}
END_TEST

START_TEST(test_truncated)
{
	hyper_attack("truncated", "header length does not match the message");
}
END_TEST

START_TEST(test_oversize)
{
	hyper_attack("oversize", "truncated message");
}
END_TEST

START_TEST(test_gone_foreign_io_base)
{
	hyper_attack("gone-foreign", "SHIM_GONE for an unknown ioBase");
}
END_TEST

/* SHIM_GONE for a token nobody claimed: not the helper's to give back. */
START_TEST(test_gone_unclaimed)
{
	hyper_attack("gone-unclaimed", "SHIM_GONE for a token without a shim");
}
END_TEST

/* A second SHIM_GONE released=0: the token is no longer the helper's. */
START_TEST(test_gone_twice)
{
	struct good g;
	struct tclient *rt, *shim;
	struct json_object *reg;

	good_start(&g);
	rt = tclient_connect(h, "evil-runtime");
	reg = evil_register(rt, "gone-twice", 1);
	shim = tclient_connect_shim(h, tclient_token(reg, 0));
	expect_killed("gone-twice", "SHIM_GONE for a token without a shim");
	good_finish(&g);
	json_object_put(reg);
	tclient_free(shim);
	tclient_free(rt);
}
END_TEST

/*
 * The master's own double-claim check: the hostile helper would take a
 * second shim for the same session, so only the master stops it.
 */
START_TEST(test_double_claim)
{
	struct tclient *rt, *shim, *second;
	struct json_object *reg;
	char *msg, *req;

	rt = tclient_connect(h, "evil-runtime");
	reg = evil_register(rt, "double-claim", 1);
	shim = tclient_connect_shim(h, tclient_token(reg, 0));
	second = tclient_connect(h, "second-shim");
	ck_assert(asprintf(&req, "{\"token\":\"%s\"}", tclient_token(reg, 0)) > 0);
	msg = tclient_call_error(second, FRAME_CMD_CONNECT_SHIM, req);
	ck_assert_msg(strstr(msg, "already in use"), "second ConnectShim: %s", msg);
	free(msg);
	free(req);
	json_object_put(reg);
	tclient_free(second);
	tclient_free(shim);
	tclient_free(rt);
}
END_TEST

/*
 * Finding 1: a client waits for its handover (ConnectShim sent, its
 * earlier responses unread, so the master holds the token) when the
 * helper says that token's shim is gone. The token is still the
 * master's: the helper is killed, the waiting client gets its error, and
 * nothing touches a freed token (the sanitizer build checks that).
 * @released: the flag the helper sends; with 0 the token must not become
 * claimable twice either.
 */
static void gone_while_handing(const char *mode)
{
	enum { N_FILL = 1500 };
	char id[600], *fill, *req, *msg;
	struct tclient *rt, *stuck, *late;
	struct json_object *reg;
	struct good g;
	size_t n;

	good_start(&g);
	rt = tclient_connect(h, "evil-runtime");
	reg = evil_register(rt, mode, 1);

	/* AttachVM of an unknown long id, N_FILL times: ~1 MB of error
	 * responses that this client never reads, then its ConnectShim. */
	memset(id, 'u', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	ck_assert(asprintf(&fill, "{\"containerId\":\"%s\"}", id) > 0);
	stuck = tclient_connect(h, "stuck-shim");
	n = strlen(fill);
	for (int i = 0; i < N_FILL; i++)
		tclient_send_frame(stuck, FRAME_TYPE_COMMAND, 0, FRAME_CMD_ATTACH_VM, fill, n);
	/* Padded with blanks to a length no other ConnectShim has, so the
	 * log line says this one was taken. */
	ck_assert(asprintf(&req, "{\"token\":\"%s\"%*s}", tclient_token(reg, 0), 77, "") > 0);
	tclient_send_command(stuck, FRAME_CMD_CONNECT_SHIM, req);
	snprintf(id, sizeof(id), "command ConnectShim (%zu bytes)", strlen(req));
	ck_assert(harness_wait_log(h, id, HARNESS_WAIT_MS));

	hyper_fails(rt);	/* the helper sends SHIM_GONE before its answer */
	expect_killed(mode, "SHIM_GONE for a token still being handed over");

	/* The token died with its VM: nobody can claim it (again). */
	late = tclient_connect(h, "late-shim");
	msg = tclient_call_error(late, FRAME_CMD_CONNECT_SHIM, req);
	ck_assert_msg(strstr(msg, "unknown token"), "late ConnectShim: %s", msg);
	free(msg);
	tclient_free(late);
	tclient_free(stuck);	/* client_free() of a handover wait */
	good_finish(&g);
	json_object_put(reg);
	free(req);
	free(fill);
	tclient_free(rt);
}

START_TEST(test_gone_while_handing_released)
{
	gone_while_handing("gone-handing-rel");
}
END_TEST

START_TEST(test_gone_while_handing_kept)
{
	gone_while_handing("gone-handing-keep");
}
END_TEST

/*
 * Finding 13: a helper that stops reading its channel. Clients keep
 * sending it Hyper commands of ~190 KB; the master's queue for it stops
 * at IPC_QUEUE_BYTES_MAX and the helper is killed as unresponsive, and
 * every waiting client gets an error.
 */
START_TEST(test_deaf_helper)
{
	enum { N = 40 };
	struct tclient *rt, *c[N];
	struct json_object *reg;
	struct good g;
	size_t len = 190 * 1024;
	char *req = malloc(len + 64);
	int n;

	ck_assert_ptr_nonnull(req);
	good_start(&g);
	rt = tclient_connect(h, "evil-runtime");
	reg = evil_register(rt, "deaf", 0);
	n = snprintf(req, 64, "{\"hyperName\":\"ping\",\"data\":\"");
	memset(req + n, 'd', len);
	strcpy(req + n + len, "\"}");
	for (int i = 0; i < N; i++)
		c[i] = tclient_attach(h, "evil-deaf");
	for (int i = 0; i < N; i++)
		tclient_send_command(c[i], FRAME_CMD_HYPER, req);
	expect_killed("deaf", "unresponsive: it stopped reading its channel");
	for (int i = 0; i < N; i++) {
		free(tclient_expect_error(c[i], FRAME_CMD_HYPER));
		tclient_free(c[i]);
	}
	good_finish(&g);
	json_object_put(reg);
	tclient_free(rt);
	free(req);
}
END_TEST

/* The watchdog: a helper that serves but never answers a ping. */
START_TEST(test_mute_helper)
{
	struct tclient *rt;
	struct json_object *reg;
	struct good g;

	good_start(&g);
	rt = tclient_connect(h, "evil-runtime");
	reg = evil_register(rt, "mute", 0);
	tclient_ping_ok(rt);	/* it does serve */
	expect_killed("mute", "unresponsive: no answer to a ping within");
	good_finish(&g);
	json_object_put(reg);
	tclient_free(rt);
}
END_TEST

/* A flood of messages from one helper: the others are served meanwhile. */
START_TEST(test_burst)
{
	struct tclient *rt;
	struct json_object *reg;
	struct good g;

	good_start(&g);
	rt = tclient_connect(h, "evil-runtime");
	reg = evil_register(rt, "burst", 0);
	tclient_ping_ok(rt);	/* answered, then the flood */
	tclient_send_stdin(g.shim, "go\n", 3);	/* the good VM streams during it */
	texec_finish(g.shim, &g.o);
	texec_expect_contains(g.o.out, "line299\ngot go\n");
	ck_assert_int_eq(g.o.status, 7);
	/* It never exits after VM_LOST, and stops answering pings. */
	expect_killed("burst", "");
	tclient_output_deinit(&g.o);
	json_object_put(g.reg);
	tclient_free(g.shim);
	tclient_free(g.rt);
	json_object_put(reg);
	tclient_free(rt);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("hostile helper");
	TCase *tc = harness_tcase_add(s, "hostile", setup, teardown, 60);

	tcase_add_test(tc, test_bad_request_id);
	tcase_add_test(tc, test_answer_unasked);
	tcase_add_test(tc, test_fd_attached);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_gone_foreign_io_base);
	tcase_add_test(tc, test_gone_unclaimed);
	tcase_add_test(tc, test_gone_twice);
	tcase_add_test(tc, test_double_claim);
	tcase_add_test(tc, test_gone_while_handing_released);
	tcase_add_test(tc, test_gone_while_handing_kept);
	tcase_add_test(tc, test_deaf_helper);
	tcase_add_test(tc, test_mute_helper);
	tcase_add_test(tc, test_burst);
	return harness_run(s);
}
