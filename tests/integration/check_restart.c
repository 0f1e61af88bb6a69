/*
 * check_restart.c - the master dies, the VMs do not (DESIGN.md "Restart
 * and upgrade", the steps done without the service manager's fd store):
 *
 *  - the master SIGKILLed while a process streams to a shim: every
 *    helper notices its channel's EOF (no IPC_M_SHUTDOWN), gives the
 *    shims what it holds, closes them (EOF) and exits within its grace
 *    period (HELPER_ORPHAN_GRACE_MS, 5 s); none is left orphaned;
 *  - output the helper holds for a shim that was not reading (and the
 *    exit status) still reaches that shim after the master's death;
 *  - a VM registered again with a new master after the first one was
 *    SIGKILLed: the agent sends READY only to the first ctl connection,
 *    so the new helper probes it with a ping; RegisterVM succeeds and a
 *    new process runs through it with its output and exit status.
 *
 * Waits are events (pidfds, READY=1, frames), each bounded.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lifecycle_util.h"
#include "tclient.h"
#include "texec.h"

/* The helper's grace period once the master is gone (helper.h), and
 * what the test allows above it for a loaded machine. */
#define ORPHAN_GRACE_MS	5000
#define SLACK_MS	3000

static struct harness *h;

static void setup(void)
{
	h = harness_new();
	harness_proxy_start(h, NULL);
}

static void teardown(void)
{
	harness_proxy_settle(h);
	lu_proxy_stop_checked(h, NULL);
	h = harness_free(h);
}

/* SIGKILL the master and reap it (bounded); the harness may start another. */
static void master_sigkill(void)
{
	int status = 0;

	ck_assert_int_eq(kill(h->proxy_pid, SIGKILL), 0);
	ck_assert_msg(harness_wait_exit(h->proxy_pid, h->proxy_pidfd, HARNESS_WAIT_MS, &status),
		      "cc-proxy did not die of SIGKILL");
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(h->proxy_pidfd);
	h->proxy_pidfd = -1;
	h->proxy_pid = 0;
}

/* Wait for the process of @pidfd to end within the grace period; return
 * how long it took (ms). */
static long long ends_within_grace(int pidfd, pid_t pid, long long since)
{
	long long took;

	ck_assert_msg(lu_wait_gone(pidfd, ORPHAN_GRACE_MS + SLACK_MS),
		      "helper %d still runs %d ms after its master died", (int)pid,
		      ORPHAN_GRACE_MS + SLACK_MS);
	took = harness_now_ms() - since;
	close(pidfd);
	return took;
}

/* The master SIGKILLed while a process streams: helpers exit, shims get EOF. */
START_TEST(test_master_gone_helpers_exit)
{
	struct harness_vm *vm1 = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_LEGACY, NULL);
	struct tclient *rt1 = tclient_connect(h, "runtime1");
	struct tclient *rt2 = tclient_connect(h, "runtime2");
	struct json_object *reg1 = tclient_register(rt1, h, "vm1", vm1, 1);
	struct tclient *shim;
	struct tclient_output o;
	pid_t h1 = lu_helper_of(h->proxy_pid, "vm1"), h2;
	int fd1, fd2;
	long long t0, took1, took2;

	json_object_put(tclient_register(rt2, h, "vm2", vm2, 0));
	h2 = lu_helper_of(h->proxy_pid, "vm2");
	fd1 = lu_pidfd(h1);
	fd2 = lu_pidfd(h2);
	ck_assert(fd1 >= 0 && fd2 >= 0);

	/* A process that never stops writing. */
	shim = tclient_connect_shim(h, tclient_token(reg1, 0));
	texec_sh_on(rt1, tclient_token(reg1, 0), false,
		    "echo started; while :; do echo tick; sleep 0.05; done");
	tclient_output_init(&o);
	tclient_read_until(shim, &o, "tick\n");

	t0 = harness_now_ms();
	master_sigkill();
	took1 = ends_within_grace(fd1, h1, t0);
	took2 = ends_within_grace(fd2, h2, t0);
	fprintf(stderr, "helpers ended %lld ms and %lld ms after the master's SIGKILL\n",
		took1, took2);
	/* Its helper gone, the shim has EOF (no ProcessExited: the process
	 * still runs in the VM, nobody can tell its status any more). */
	tclient_expect_closed(shim, &o);
	ck_assert(o.eof);
	ck_assert_uint_eq(o.n_exited, 0);
	texec_expect_contains(o.out, "started\ntick\n");

	/* A new master serves; nothing of the old one is left under it. */
	harness_proxy_start(h, NULL);
	ck_assert_uint_eq(lu_count_children(h->proxy_pid), 0);
	tclient_expect_unknown_vm(h, "vm1");
	tclient_output_deinit(&o);
	json_object_put(reg1);
	tclient_free(shim);
	tclient_free(rt1);
	tclient_free(rt2);
}
END_TEST

/* @key of the only VM in a Status reply (asked on a new connection). */
static int64_t vm_figure(const char *key)
{
	struct tclient *c = tclient_connect(h, "admin");
	struct json_object *reply = tclient_call(c, FRAME_CMD_STATUS, "{\"containerId\":\"vm1\"}");
	struct json_object *vms, *v;
	int64_t n = -1;

	ck_assert_ptr_nonnull(reply);
	if (json_object_object_get_ex(reply, "vms", &vms) &&
	    json_object_array_length(vms) == 1 &&
	    json_object_object_get_ex(json_object_array_get_idx(vms, 0), key, &v))
		n = json_object_get_int64(v);
	json_object_put(reply);
	tclient_free(c);
	return n;
}

/*
 * What the helper holds for a shim that does not read reaches it after
 * the master's death: 250000 bytes (under HELPER_SHIM_OUT_HIGH, so the
 * helper takes them all) and the exit status, all accepted by the helper
 * (Status, repeated under a deadline: the legacy dialect's status byte
 * comes after the output), then the master SIGKILLed; the shim reads
 * every byte, ProcessExited, EOF.
 */
START_TEST(test_master_gone_delivers)
{
	enum { TOTAL = 250000 };
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_LEGACY, NULL);
	struct tclient *rt = tclient_connect(h, "runtime");
	struct json_object *reg = tclient_register(rt, h, "vm1", vm, 1);
	struct tclient *shim = tclient_connect_shim(h, tclient_token(reg, 0));
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;
	pid_t helper = lu_helper_of(h->proxy_pid, "vm1");
	int pidfd = lu_pidfd(helper);
	struct tclient_output o;
	char script[96];
	long long t0;

	snprintf(script, sizeof(script), "head -c %d /dev/zero | tr '\\0' x; exit 9", TOTAL);
	texec_sh_on(rt, tclient_token(reg, 0), false, script);
	while (vm_figure("processes") != 0 || vm_figure("bytesToShims") != TOTAL)
		ck_assert_msg(harness_left_ms(deadline) > 0,
			      "the helper did not take the whole output within %d ms",
			      HARNESS_WAIT_MS);

	t0 = harness_now_ms();
	master_sigkill();
	/* The shim reads now: the helper waits for it (bounded). */
	tclient_output_init(&o);
	tclient_expect_closed(shim, &o);
	ends_within_grace(pidfd, helper, t0);
	ck_assert_uint_eq(evbuffer_get_length(o.out), TOTAL);
	ck_assert_uint_eq(o.n_exited, 1);
	ck_assert_int_eq(o.status, 9);
	tclient_output_deinit(&o);

	harness_proxy_start(h, NULL);
	json_object_put(reg);
	tclient_free(shim);
	tclient_free(rt);
}
END_TEST

/* One process through VM "vm1" on @rt with token @tok: output and status. */
static void run_once(struct tclient *rt, const char *tok, const char *script,
		     const char *want, int status)
{
	struct tclient *shim = tclient_connect_shim(h, tok);
	struct tclient_output o;

	texec_sh_on(rt, tok, false, script);
	texec_end(shim, &o, status);
	texec_expect_str(o.out, want);
	tclient_output_deinit(&o);
}

/* The master SIGKILLed; the same running VM registered with a new one. */
START_TEST(test_register_again_after_master_crash)
{
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct tclient *rt = tclient_connect(h, "runtime");
	struct json_object *reg = tclient_register(rt, h, "vm1", vm, 1);
	pid_t helper = lu_helper_of(h->proxy_pid, "vm1");
	int pidfd = lu_pidfd(helper);
	long long t0;

	run_once(rt, tclient_token(reg, 0), "echo first; exit 3", "first\n", 3);

	t0 = harness_now_ms();
	master_sigkill();
	ends_within_grace(pidfd, helper, t0);
	json_object_put(reg);
	tclient_free(rt);

	/* The VM still runs; its agent will not send READY again. */
	harness_proxy_start(h, NULL);
	rt = tclient_connect(h, "runtime-again");
	reg = tclient_register(rt, h, "vm1", vm, 1);
	ck_assert_msg(harness_wait_log(h, "answers ping", HARNESS_WAIT_MS),
		      "the new helper did not log its probe");
	ck_assert_int_ne(lu_helper_of(h->proxy_pid, "vm1"), helper);
	tclient_ping_ok(rt);
	run_once(rt, tclient_token(reg, 0), "echo second; echo err >&2; exit 7",
		 "second\n", 7);
	json_object_put(reg);
	tclient_free(rt);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("restart");
	TCase *tc = harness_tcase_add(s, "the master dies, the VMs live", setup, teardown, 60);

	tcase_add_test(tc, test_master_gone_helpers_exit);
	tcase_add_test(tc, test_master_gone_delivers);
	tcase_add_test(tc, test_register_again_after_master_crash);
	return harness_run(s);
}
