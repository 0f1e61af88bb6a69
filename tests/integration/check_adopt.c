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
#include <sys/stat.h>
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
/* The sanitizer build moves bytes several times slower (and the machine
 * may be busy): the bounds on the streams, restarts and each test grow. */
#ifdef CC_PROXY_SANITIZERS
#define RESTART_WAIT_MS	60000	/* a restart, adoption included */
#define STREAM_WAIT_MS	240000
#define TEST_TIMEOUT_S	900
#define CYCLE_STEP	(1u * MIB)
#else
#define RESTART_WAIT_MS	20000
#define STREAM_WAIT_MS	60000
#define TEST_TIMEOUT_S	120
#define CYCLE_STEP	(4u * MIB)
#endif
/* --wait-timeout of the streaming tests: a shim that takes nothing for
 * this long has its output discarded (DESIGN.md "Slow consumers"); a
 * test reader starved by a loaded machine must not look like one. */
static const char *const slow_ok[] = { "--wait-timeout", "10", NULL };

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

	sdm_start(&sdm, h, -1, slow_ok, NULL);
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
	stream_run_until(st, 2, 8 * MIB, STREAM_WAIT_MS);

	/* The crash, mid-stream; a shim drops while nobody is master. */
	kill_master(0);
	ck_assert_msg(st[0].received < st[0].total && st[1].received < st[1].total,
		      "the streams ended before the crash: make them longer");
	drop = tclient_free(drop);
	stream_run_until(st, 2, UINT64_MAX, STREAM_WAIT_MS);
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

/* Pump @st until @path has @n lines holding @needle (inotify, bounded). */
static void pump_until(struct stream *st, size_t nst, const char *path, const char *needle,
		       size_t n)
{
	long long deadline = harness_now_ms() + RESTART_WAIT_MS;
	char dir[PATH_MAX], ev[4096];
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	ck_assert(in >= 0 && inotify_add_watch(in, dir, IN_MODIFY) >= 0);
	while (sdm_count(path, needle) < n) {
		ck_assert_msg(harness_left_ms(deadline) > 0, "no \"%s\" (%zu) in %s", needle, n,
			      path);
		if (stream_pump(st, nst, in, harness_left_ms(deadline)))
			while (read(in, ev, sizeof(ev)) > 0)
				;
	}
	close(in);
}

/* Processes under sdmanager: exactly @want, none a zombie. With a helper
 * pool (CC_PROXY_TEST_POOL) the idle helpers of a killed master exit and
 * a new pool fills at their own pace: only the stop's account holds then
 * (sdm_stop(): nothing left). */
static void tree_is(size_t want)
{
	pid_t pids[64];
	size_t n;

	if (strcmp(harness_pool_size(), "0") != 0)
		return;
	n = sdm_tree(&sdm, pids, 64);

	ck_assert_msg(n == want, "%zu processes under sdmanager, want %zu", n, want);
}

/*
 * 20 times, alternating: SIGKILL (sdmanager restarts the master with the
 * store) and SIGHUP (the master re-execs itself), each fired while stdin
 * and stdout are in flight on both VMs; the next step of the streams is
 * allowed once the helpers are re-adopted.
 */
START_TEST(test_restart_upgrade_20)
{
	enum { CYCLES = 20 };
	const uint64_t step = CYCLE_STEP, total = (CYCLES + 1) * step;
	struct avm a = { 0 }, b = { 0 };
	struct stream st[2];
	struct tclient *s1, *s2;
	char script[64];
	unsigned int run = 0;
	pid_t master;
	int fds_master = -1, fds_a = -1, fds_b = -1;
	struct lu_fds first, now;
	long long t0;

	sdm_start(&sdm, h, -1, slow_ok, NULL);
	avm_up(&a, "vm1", HARNESS_HYPERSTART1, 1);
	avm_up(&b, "vm2", HARNESS_LEGACY, 1);
	ck_assert(sdm_wait_count(sdm.record, "STORE vm-vm2", 1, HARNESS_WAIT_MS));
	s1 = tclient_connect_shim(h, tclient_token(a.reg, 0));
	s2 = tclient_connect_shim(h, tclient_token(b.reg, 0));
	snprintf(script, sizeof(script), "head -c %llu; exit 31", (unsigned long long)total);
	texec_sh_on(a.rt, tclient_token(a.reg, 0), false, script);
	snprintf(script, sizeof(script), "head -c %llu; exit 32", (unsigned long long)total);
	texec_sh_on(b.rt, tclient_token(b.reg, 0), false, script);
	stream_init(&st[0], s1, 11, total);
	stream_init(&st[1], s2, 12, total);
	st[0].allowed = st[1].allowed = step;
	stream_run_until(st, 2, step / 2, STREAM_WAIT_MS);

	master = sdm_master(&sdm, 0);
	t0 = harness_now_ms();
	for (unsigned int c = 1; c <= CYCLES; c++) {
		/* More allowed, some of it on its way: now the blow. */
		for (int i = 0; i < 2; i++)
			st[i].allowed = (c + 1) * step;
		stream_pump(st, 2, -1, 0);
		ck_assert(st[0].received < st[0].allowed || st[1].received < st[1].allowed);
		ck_assert_int_eq(kill(master, c % 2 ? SIGKILL : SIGHUP), 0);
		pump_until(st, 2, h->proxy_log, "master restarted:", c);
		wait_adopted(c, 2);
		if (c % 2) {
			run++;
			master = sdm_master(&sdm, run);
		} else {
			ck_assert_int_eq(sdm_master(&sdm, run), master);	/* same process */
		}
		/* The same helpers; nothing else under sdmanager; fds stable. */
		ck_assert(!lu_wait_gone(a.helper_pidfd, 0) && !lu_wait_gone(b.helper_pidfd, 0));
		tree_is(3);
		if (fds_master < 0) {
			fds_master = sdm_nfds(master);
			lu_fds_read(master, &first);
			fds_a = sdm_nfds(a.helper);
			fds_b = sdm_nfds(b.helper);
		}
		if (sdm_nfds(master) != fds_master) {
			/* Which fd came or went, for the failure report. */
			lu_fds_read(master, &now);
			fprintf(stderr, "cycle %u: the master's fds changed\n", c);
			lu_fds_print("after the first cycle", &first);
			lu_fds_print("now", &now);
		}
		ck_assert_int_eq(sdm_nfds(master), fds_master);
		ck_assert_int_eq(sdm_nfds(a.helper), fds_a);
		ck_assert_int_eq(sdm_nfds(b.helper), fds_b);
	}
	fprintf(stderr, "%d restarts and upgrades in %lld ms; fds: master %d, helpers %d "
		"and %d\n", CYCLES, harness_now_ms() - t0, fds_master, fds_a, fds_b);
	stream_run_until(st, 2, UINT64_MAX, STREAM_WAIT_MS);
	ck_assert_uint_eq(st[0].received, total);
	ck_assert_uint_eq(st[1].received, total);
	ck_assert_int_eq(st[0].status, 31);
	ck_assert_int_eq(st[1].status, 32);
	ck_assert_uint_eq(sdm_count(h->proxy_log, "upgrading: re-executing"), CYCLES / 2);
	stream_deinit(&st[0]);
	stream_deinit(&st[1]);
	tclient_free(s1);
	tclient_free(s2);
	a.rt = tclient_free(a.rt);
	b.rt = tclient_free(b.rt);
	sdm_stop(&sdm);
	ck_assert(lu_wait_gone(a.helper_pidfd, 0) && lu_wait_gone(b.helper_pidfd, 0));
	avm_down(&a);
	avm_down(&b);
}
END_TEST

/*
 * FileDescriptorStoreMax=0 (no $FDSTORE): nothing is stored, and a helper
 * ends with its master within its grace period, its shim getting EOF.
 */
START_TEST(test_no_store_helpers_end)
{
	struct avm a = { 0 };
	struct tclient *shim;
	struct tclient_output o;
	long long t0, took;

	sdm_start(&sdm, h, 0, NULL, NULL);
	avm_up(&a, "vm1", HARNESS_HYPERSTART1, 1);
	shim = tclient_connect_shim(h, tclient_token(a.reg, 0));
	texec_sh_on(a.rt, tclient_token(a.reg, 0), false,
		    "echo started; while :; do echo tick; sleep 0.05; done");
	tclient_output_init(&o);
	tclient_read_until(shim, &o, "tick\n");
	t0 = harness_now_ms();
	kill_master(0);
	ck_assert_msg(lu_wait_gone(a.helper_pidfd, ORPHAN_GRACE_MS + SLACK_MS),
		      "the helper outlived its master without a store");
	took = harness_now_ms() - t0;
	fprintf(stderr, "without a store the helper ended %lld ms after its master\n", took);
	tclient_expect_closed(shim, &o);
	ck_assert(o.eof);
	ck_assert(sdm_wait_count(sdm.record, "READY 1", 1, HARNESS_WAIT_MS));
	ck_assert_uint_eq(sdm_count(sdm.record, "STORE "), 0);
	ck_assert_uint_eq(sdm_count(sdm.record, "START 1 LISTEN_FDS=1 LISTEN_FDNAMES=proxy\n"), 1);
	ck_assert_uint_eq(sdm_count(h->proxy_log, "master restarted:"), 0);
	tclient_output_deinit(&o);
	tclient_free(shim);
	sdm_stop(&sdm);
	avm_down(&a);
}
END_TEST

/*
 * systemd before 254 (Debian 12's 252) keeps the store without setting
 * $FDSTORE: on its own the master stores nothing there, so the shipped
 * unit passes --fd-store; with it, a crash loses no VM.
 */
START_TEST(test_store_without_fdstore_env)
{
	static const char *const flag[] = { "--fd-store", NULL };
	struct avm a = { 0 };
	struct json_object *reply, *vms, *v;
	struct tclient *admin;

	/* Without the flag: no $FDSTORE, nothing stored. */
	sdm_start_old(&sdm, h, NULL, NULL);
	avm_up(&a, "vm1", HARNESS_HYPERSTART1, 1);
	tclient_ping_ok(a.rt);
	ck_assert_uint_eq(sdm_count(sdm.record, "STORE "), 0);
	ck_assert_uint_eq(sdm_count(h->proxy_log, "fd store"), 0);
	sdm_stop(&sdm);
	avm_down(&a);
	harness_vm_stop(h, a.vm);

	/* With it: stored, and adopted after a crash. */
	h = harness_free(h);
	h = harness_new();
	sdm_start_old(&sdm, h, flag, NULL);
	ck_assert_uint_eq(sdm_count(h->proxy_log, "(--fd-store; $FDSTORE is not set)"), 1);
	avm_up(&a, "vm1", HARNESS_HYPERSTART1, 1);
	ck_assert(sdm_wait_count(sdm.record, "STORE vm-vm1", 1, HARNESS_WAIT_MS));
	kill_master(0);
	wait_adopted(1, 1);
	tclient_free(a.rt);
	a.rt = tclient_attach(h, "vm1");
	tclient_ping_ok(a.rt);
	ck_assert(!lu_wait_gone(a.helper_pidfd, 0));	/* the same helper */
	/* An adopted VM is in the status like any other. */
	admin = tclient_connect(h, "admin");
	reply = tclient_call(admin, FRAME_CMD_STATUS, NULL);
	ck_assert_ptr_nonnull(reply);
	ck_assert(json_object_object_get_ex(reply, "vms", &vms));
	ck_assert_int_eq(json_object_array_length(vms), 1);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(vms, 0), "containerId", &v));
	ck_assert_str_eq(json_object_get_string(v), "vm1");
	json_object_put(reply);
	tclient_free(admin);
	sdm_stop(&sdm);
	avm_down(&a);
}
END_TEST

/*
 * Hostile reports cost only their helper: next to an honest vm1, helpers
 * (tests/integration/hostile-helper, evil-adopt-*) answer the adoption
 * with another nonce, another IPC version, a token list cut short, and
 * vm1's token. Each is refused with its reason in the restart record,
 * and ends (killed through its pidfd, or EOF once out of the store);
 * vm1 is re-adopted and serves.
 */
START_TEST(test_hostile_reports)
{
	static const char *const modes[] = { "nonce", "version", "truncated", "steal" };
	static const char *const why[] = {
		"vm-evil-adopt-nonce: no adoption answer within",
		"vm-evil-adopt-version: helper speaks ipc version 99, expected",
		"vm-evil-adopt-truncated: a token list that does not match its count",
		"vm-evil-adopt-steal: a token already known to another VM",
	};
	struct harness_vm *evm;
	struct avm a = { 0 };
	struct tclient *rt[4], *shim;
	struct tclient_output o;
	char hostile[PATH_MAX], steal[PATH_MAX], steal_env[PATH_MAX + 32], id[64];
	const char *extra[] = { "--helper", hostile, NULL };
	const char *envs[] = { steal_env, NULL };
	pid_t evil[4];
	int evil_fd[4];
	FILE *f;

	snprintf(hostile, sizeof(hostile), "%s", harness_bin(h, "tests/integration/hostile-helper"));
	snprintf(steal, sizeof(steal), "%s/steal", h->dir);
	snprintf(steal_env, sizeof(steal_env), "CC_PROXY_IT_STEAL=%s", steal);
	sdm_start(&sdm, h, -1, extra, envs);
	avm_up(&a, "vm1", HARNESS_HYPERSTART1, 1);
	evm = harness_vm_start(h, "evil", HARNESS_HYPERSTART1, NULL);
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "evil-adopt-%s", modes[i]);
		rt[i] = tclient_connect(h, id);
		json_object_put(tclient_register(rt[i], h, id, evm, 1));
		evil[i] = lu_helper_of(sdm_master(&sdm, 0), id);
		evil_fd[i] = lu_pidfd(evil[i]);
		snprintf(id, sizeof(id), "STORE vm-evil-adopt-%s", modes[i]);
		ck_assert(sdm_wait_count(sdm.record, id, 1, HARNESS_WAIT_MS));
	}

	kill_master(0);
	/* vm1 first; then the thief learns its token. */
	ck_assert(harness_wait_log(h, "VM vm1 re-adopted", RESTART_WAIT_MS));
	f = fopen(steal, "we");
	ck_assert_ptr_nonnull(f);
	fputs(tclient_token(a.reg, 0), f);
	fclose(f);
	ck_assert(sdm_wait_count(h->proxy_log, "master restarted: 1 VMs re-adopted, 4 lost",
				 1, RESTART_WAIT_MS));
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(sdm_count(h->proxy_log, why[i]) == 1, "no record: %s", why[i]);
		ck_assert_msg(lu_wait_gone(evil_fd[i], ORPHAN_GRACE_MS + SLACK_MS),
			      "the helper of evil-adopt-%s still runs", modes[i]);
		close(evil_fd[i]);
		snprintf(id, sizeof(id), "REMOVE vm-evil-adopt-%s", modes[i]);
		ck_assert_msg(sdm_count(sdm.record, id) == 1, "not removed from the store: %s", id);
		tclient_expect_eof(rt[i]);
		tclient_free(rt[i]);
	}
	/* Those known by a pidfd were killed; the others ended on EOF. */
	ck_assert(harness_wait_log(h, "killing the helper of VM evil-adopt-steal", 0));
	ck_assert(harness_wait_log(h, "killing the helper of VM evil-adopt-truncated", 0));

	/* The honest VM lost nothing. */
	tclient_expect_eof(a.rt);
	a.rt = tclient_free(a.rt);
	a.rt = tclient_attach(h, "vm1");
	tclient_ping_ok(a.rt);
	tclient_expect_unknown_vm(h, "evil-adopt-steal");
	shim = tclient_connect_shim(h, tclient_token(a.reg, 0));
	texec_sh_on(a.rt, tclient_token(a.reg, 0), false, "echo honest; exit 6");
	texec_end(shim, &o, 6);
	texec_expect_str(o.out, "honest\n");
	tclient_output_deinit(&o);
	sdm_stop(&sdm);
	avm_down(&a);
}
END_TEST

/* @pid's executable was deleted (replaced since it started)? */
static bool exe_deleted(pid_t pid)
{
	char path[64], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, target, sizeof(target) - 1);
	ck_assert(n > 0);
	target[n] = '\0';
	return strstr(target, " (deleted)") != NULL;
}

/* Copy the file @from to @to, mode 0755, through a rename (an install). */
static void install_file(const char *from, const char *to)
{
	char tmp[PATH_MAX];
	size_t len;
	char *data = lu_read_file(from, &len);
	FILE *f;

	ck_assert_ptr_nonnull(data);
	snprintf(tmp, sizeof(tmp), "%s.new", to);
	f = fopen(tmp, "we");
	ck_assert(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
	ck_assert(chmod(tmp, 0755) == 0 && rename(tmp, to) == 0);
	free(data);
}

/*
 * Outside a service manager (no store): SIGHUP re-execs the master from
 * its path - a binary installed over it since start is the one that runs
 * - with the socket and the helper channels; the helpers, still its
 * children, are adopted and their streams flow on; a stop reaps them.
 */
START_TEST(test_sighup_upgrade_without_store)
{
	const uint64_t total = 32 * MIB;
	char bin[PATH_MAX], helper[PATH_MAX], notify[PATH_MAX + 16], want[96];
	const char *argv[] = { bin, "--socket-path", h->sock, "--helper", helper,
			       "--wait-timeout", "10", "-v", "1", "--helper-pool",
			       harness_pool_size(), NULL };
	const char *env[] = { notify, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "FDSTORE",
			      NULL };
	struct stream st;
	struct avm a = { 0 };
	struct tclient *shim;
	pid_t master;

	snprintf(bin, sizeof(bin), "%s/cc-proxy", h->dir);
	snprintf(helper, sizeof(helper), "%s", harness_bin(h, "cc-proxy-vmhelper"));
	install_file(harness_bin(h, "cc-proxy"), bin);
	harness_notify_open(h);
	snprintf(notify, sizeof(notify), "NOTIFY_SOCKET=%s", h->notify);
	master = h->proxy_pid = harness_spawn(argv, h->proxy_log, -1, -1, env);
	h->proxy_pidfd = harness_pidfd_open(master);
	ck_assert(harness_wait_ready(h, HARNESS_WAIT_MS));

	/* Not avm_up(): that one asks sdmanager for the master. */
	{
		static const char *const extra[] = { "--stdin-buffer", "0", NULL };

		a.id = "vm1";
		a.vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, extra);
		a.rt = tclient_connect(h, "runtime");
		a.reg = tclient_register(a.rt, h, "vm1", a.vm, 1);
		a.helper = lu_helper_of(master, "vm1");
		a.helper_pidfd = lu_pidfd(a.helper);
	}
	shim = tclient_connect_shim(h, tclient_token(a.reg, 0));
	texec_sh_on(a.rt, tclient_token(a.reg, 0), false, "head -c 33554432; exit 41");
	stream_init(&st, shim, 21, total);
	st.allowed = 8 * MIB;
	stream_run_until(&st, 1, 4 * MIB, STREAM_WAIT_MS);

	install_file(harness_bin(h, "cc-proxy"), bin);	/* "a new version" */
	ck_assert(exe_deleted(master));
	h->ready_seen = false;
	st.allowed = total;
	stream_pump(&st, 1, -1, 0);
	ck_assert_int_eq(kill(master, SIGHUP), 0);
	pump_until(&st, 1, h->proxy_log, "master restarted: 1 VMs re-adopted, 0 lost", 1);
	ck_assert(harness_wait_ready(h, HARNESS_WAIT_MS));
	ck_assert_msg(!exe_deleted(master), "the re-exec ran the old binary");
	ck_assert_int_eq(lu_helper_of(master, "vm1"), a.helper);	/* still its child */
	stream_run_until(&st, 1, UINT64_MAX, STREAM_WAIT_MS);
	ck_assert_uint_eq(st.received, total);
	ck_assert_int_eq(st.status, 41);

	tclient_expect_eof(a.rt);
	a.rt = tclient_free(a.rt);
	a.rt = tclient_attach(h, "vm1");
	tclient_ping_ok(a.rt);
	stream_deinit(&st);
	tclient_free(shim);
	/* Without a store a stop ends the helper, reaped as our child. */
	lu_proxy_stop_checked(h, NULL);
	ck_assert(lu_wait_gone(a.helper_pidfd, 0));
	snprintf(want, sizeof(want), "helper of VM vm1 (pid %d) exited with status 0",
		 (int)a.helper);
	ck_assert(harness_wait_log(h, want, 0));
	avm_down(&a);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("adopt");
	TCase *tc = harness_tcase_add(s, "restart and upgrade keep the VMs", setup,
				      teardown, TEST_TIMEOUT_S);

	tcase_add_test(tc, test_crash_streams_survive);
	tcase_add_test(tc, test_restart_upgrade_20);
	tcase_add_test(tc, test_no_store_helpers_end);
	tcase_add_test(tc, test_hostile_reports);
	tcase_add_test(tc, test_sighup_upgrade_without_store);
	tcase_add_test(tc, test_store_without_fdstore_env);
	return harness_run(s);
}
