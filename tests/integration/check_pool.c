/*
 * check_pool.c - the helper pool (cc-proxy --helper-pool, master/pool.c,
 * vmhelper/pool.c) and the master's open-files limit:
 *
 *  - a VM gets an idle helper of the pool and is served end to end by it;
 *    that helper is exactly as confined and named as one started for the
 *    VM (comm, argv, seccomp, no_new_privs, capabilities, uid, root);
 *  - the pool refills after each hand-out;
 *  - an idle helper that dies is reaped and replaced, VMs unaffected;
 *  - idle helpers that misbehave (the hostile test helper) cost only
 *    themselves: killed, the pool pauses, VMs get helpers directly;
 *  - --helper-pool 0: every VM spawns its helper, no idle one exists;
 *  - the master raises its soft RLIMIT_NOFILE to the hard one;
 *  - at the open-files limit RegisterVM fails with an error naming the
 *    limit, the log says a limit stops registration, the VMs already
 *    registered go on, and registration works again once there is room.
 *
 * The pool's progress is followed through its log lines ("idle helper PID
 * is ready (N of M, K so far)"): events, each wait bounded.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "frame.h"
#include "harness.h"
#include "lifecycle_util.h"
#include "tclient.h"
#include "texec.h"

static struct harness *h;

static void setup(void)
{
	h = harness_new();
}

static void teardown(void)
{
	harness_proxy_settle(h);
	h = harness_free(h);
}

static void wait_log(const char *needle)
{
	ck_assert_msg(harness_wait_log(h, needle, HARNESS_WAIT_MS),
		      "no \"%s\" in the proxy's log", needle);
}

/* Wait until the pool of @size has had @so_far helpers ready, the last
 * of which made it full. */
static void wait_pool_full(unsigned size, unsigned so_far)
{
	char needle[64];

	snprintf(needle, sizeof(needle), "(%u of %u, %u so far)", size, size, so_far);
	wait_log(needle);
}

static long long helpers_pooled(void)
{
	struct tclient *c = tclient_connect(h, "admin");
	struct json_object *reply = tclient_call(c, FRAME_CMD_STATUS, NULL), *proxy, *n;
	long long v;

	ck_assert(json_object_object_get_ex(reply, "proxy", &proxy));
	ck_assert(json_object_object_get_ex(proxy, "helpersPooled", &n));
	v = json_object_get_int64(n);
	json_object_put(reply);
	tclient_free(c);
	return v;
}

/* The processes whose parent is @parent, into @pids (at most @max). */
static size_t children(pid_t parent, pid_t *pids, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while (n < max && (e = readdir(d))) {
		char path[300], *buf, *p;
		size_t len;
		int ppid;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		buf = lu_read_file(path, &len);
		if (!buf)
			continue;
		p = strrchr(buf, ')');
		if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == parent)
			pids[n++] = (pid_t)atoi(e->d_name);
		free(buf);
	}
	closedir(d);
	return n;
}

static bool pid_in(pid_t pid, const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

static char *status_field(pid_t pid, const char *field)
{
	char path[64], *buf, *line, *out = NULL;
	size_t len, flen = strlen(field);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	buf = lu_read_file(path, &len);
	ck_assert_ptr_nonnull(buf);
	for (line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			line += flen + 1;
			line += strspn(line, " \t");
			out = strndup(line, strcspn(line, " \t\n"));
			break;
		}
	free(buf);
	ck_assert_msg(out, "no %s in %s", field, path);
	return out;
}

static void expect_field(pid_t pid, const char *field, const char *want)
{
	char *v = status_field(pid, field);

	ck_assert_msg(!strcmp(v, want), "helper %d: %s is %s, want %s", (int)pid, field, v, want);
	free(v);
}

/*
 * @pid (the helper of VM @id) is confined and named exactly as a helper
 * started for the VM: comm, argv (what spawn.c gives a direct one, bar
 * the zeroed tail of the pool's slot), seccomp, no_new_privs, no
 * capability, and as root a helper uid and an empty root.
 */
static void expect_confined_as_direct(pid_t pid, const char *id)
{
	static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
	char path[64], want[4096], comm[32], *got, *uid = NULL, *gid = NULL;
	size_t len, n = 0;
	struct stat host, root;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	got = lu_read_file(path, &len);
	snprintf(comm, sizeof(comm), "ccvm-%.10s\n", id);
	ck_assert_str_eq(got, comm);
	free(got);
	expect_field(pid, "Seccomp", "2");
	expect_field(pid, "NoNewPrivs", "1");
	for (size_t i = 0; i < ARRAY_LEN(caps); i++)
		expect_field(pid, caps[i], "0000000000000000");

	/* The argv a helper spawned for the VM has (spawn.c). */
#define PUT(s) do { size_t l_ = strlen(s) + 1; ck_assert(n + l_ < sizeof(want)); \
		    memcpy(want + n, (s), l_); n += l_; } while (0)
	PUT(harness_bin(h, "cc-proxy-vmhelper"));
	PUT("--container-id");
	PUT(id);
	PUT("-v");
	PUT("3");
	PUT("--log-target");
	PUT("stderr");
	PUT("--wait-timeout-ms");
	PUT("2000");
	if (geteuid() == 0) {
		uid = status_field(pid, "Uid");
		gid = status_field(pid, "Gid");
		ck_assert_str_ne(uid, "0");
		PUT("--uid");
		PUT(uid);
		PUT("--gid");
		PUT(gid);
		PUT("--chroot");
		PUT("/run/cc-proxy/empty");
	}
#undef PUT
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	got = lu_read_file(path, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(len >= n && !memcmp(got, want, n), "helper %d: argv differs", (int)pid);
	for (size_t i = n; i < len; i++)
		ck_assert_msg(got[i] == '\0', "helper %d: argv has more after the VM's", (int)pid);
	free(got);
	free(uid);
	free(gid);
	if (geteuid() == 0) {
		snprintf(path, sizeof(path), "/proc/%d/root/", (int)pid);
		ck_assert_int_eq(stat("/", &host), 0);
		ck_assert_int_eq(stat(path, &root), 0);
		ck_assert(host.st_ino != root.st_ino || host.st_dev != root.st_dev);
	}
}

/* A pooled helper serves a VM end to end; the pool refills. */
START_TEST(test_pooled_helper_serves)
{
	static const char *const extra[] = { "--helper-pool", "2", NULL };
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct tclient *rt, *shim;
	struct tclient_output o;
	struct json_object *reg;
	pid_t idle[8], after[8], helper;
	size_t n_idle;

	harness_proxy_start(h, extra);
	wait_pool_full(2, 2);
	n_idle = children(h->proxy_pid, idle, ARRAY_LEN(idle));
	ck_assert_uint_eq(n_idle, 2);
	ck_assert_int_eq(helpers_pooled(), 2);

	rt = tclient_connect(h, "runtime");
	reg = tclient_register(rt, h, "vm1", vm, 1);
	helper = lu_helper_of(h->proxy_pid, "vm1");
	ck_assert_msg(pid_in(helper, idle, n_idle), "helper %d of vm1 is not from the pool",
		      (int)helper);
	expect_confined_as_direct(helper, "vm1");

	/* End to end: a process with stdout and an exit status. */
	shim = tclient_connect_shim(h, tclient_token(reg, 0));
	texec_sh_on(rt, tclient_token(reg, 0), false, "echo pooled; exit 7");
	texec_end(shim, &o, 7);
	texec_expect_str(o.out, "pooled\n");
	tclient_output_deinit(&o);
	tclient_ping_ok(rt);

	/* Refilled: two idle again, beside the VM's. */
	wait_pool_full(2, 3);
	ck_assert_uint_eq(children(h->proxy_pid, after, ARRAY_LEN(after)), 3);
	ck_assert_int_eq(helpers_pooled(), 2);
	json_object_put(reg);
	tclient_free(rt);
}
END_TEST

/* An idle helper that dies is reaped and replaced; VMs do not notice. */
START_TEST(test_idle_helper_dies)
{
	static const char *const extra[] = { "--helper-pool", "2", NULL };
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct tclient *rt;
	struct json_object *reg;
	pid_t idle[8];
	char needle[64];

	harness_proxy_start(h, extra);
	wait_pool_full(2, 2);
	ck_assert_uint_eq(children(h->proxy_pid, idle, ARRAY_LEN(idle)), 2);
	ck_assert_int_eq(kill(idle[0], SIGKILL), 0);
	snprintf(needle, sizeof(needle), "idle helper %d killed by signal 9", (int)idle[0]);
	wait_log(needle);
	wait_pool_full(2, 3);

	rt = tclient_connect(h, "runtime");
	reg = tclient_register(rt, h, "vm1", vm, 0);
	ck_assert(lu_helper_of(h->proxy_pid, "vm1") != idle[0]);
	tclient_ping_ok(rt);
	json_object_put(reg);
	tclient_free(rt);
}
END_TEST

/* Idle helpers that misbehave cost only themselves: the pool pauses and
 * VMs get their helpers directly. */
START_TEST(test_hostile_idle_helpers)
{
	char helper[PATH_MAX];
	const char *extra[] = { "--helper-pool", "2", "--helper", helper, NULL };
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct tclient *rt;
	struct json_object *reg;

	snprintf(helper, sizeof(helper), "%s", harness_bin(h, "tests/integration/hostile-helper"));
	ck_assert_int_eq(setenv("CC_PROXY_TEST_POOL_EVIL", "chatty", 1), 0);
	harness_proxy_start(h, extra);
	wait_log("IPC_H_READY: killed, the pool replaces it");
	wait_log("the helper pool pauses for 1 s");
	ck_assert_int_eq(helpers_pooled(), 0);

	rt = tclient_connect(h, "runtime");
	reg = tclient_register(rt, h, "vm1", vm, 0);
	expect_confined_as_direct(lu_helper_of(h->proxy_pid, "vm1"), "vm1");
	tclient_ping_ok(rt);
	json_object_put(reg);
	tclient_free(rt);
	unsetenv("CC_PROXY_TEST_POOL_EVIL");
}
END_TEST

/* --helper-pool 0: no idle helper, each VM spawns its own. */
START_TEST(test_pool_zero)
{
	static const char *const extra[] = { "--helper-pool", "0", NULL };
	struct harness_vm *vm = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct tclient *rt;
	struct json_object *reg;

	harness_proxy_start(h, extra);
	ck_assert_uint_eq(lu_count_children(h->proxy_pid), 0);
	rt = tclient_connect(h, "runtime");
	reg = tclient_register(rt, h, "vm1", vm, 0);
	tclient_ping_ok(rt);
	ck_assert_uint_eq(lu_count_children(h->proxy_pid), 1);
	ck_assert_int_eq(helpers_pooled(), 0);
	json_object_put(reg);
	tclient_free(rt);
}
END_TEST

static rlim_t master_nofile_soft(void)
{
	char path[64], *buf, *line;
	unsigned long long soft = 0;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)h->proxy_pid);
	buf = lu_read_file(path, &len);
	ck_assert_ptr_nonnull(buf);
	line = strstr(buf, "Max open files");
	ck_assert_ptr_nonnull(line);
	ck_assert_int_eq(sscanf(line, "Max open files %llu", &soft), 1);
	free(buf);
	return (rlim_t)soft;
}

/* The master runs with its soft open-files limit at the hard one. */
START_TEST(test_nofile_raised)
{
	struct rlimit rl = { 512, 2048 };
	char needle[64];

	/* Inherited by the master (this test runs in its own process). */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	harness_proxy_start(h, NULL);
	ck_assert_uint_eq(master_nofile_soft(), 2048);
	snprintf(needle, sizeof(needle), "open files limit %u:", 2048u);
	wait_log(needle);
}
END_TEST

/* The lowest fd number the master does not use. */
static int master_lowest_free_fd(void)
{
	char path[64];
	int fd;

	for (fd = 0; fd < 65536; fd++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)h->proxy_pid, fd);
		if (access(path, F_OK) != 0 && errno == ENOENT)
			return fd;
	}
	ck_abort_msg("the master uses every fd");
	return -1;
}

/* At the open-files limit: a clear error and log, nothing else lost. */
START_TEST(test_nofile_limit_error)
{
	static const char *const extra[] = { "--helper-pool", "0", NULL };
	struct harness_vm *vm1 = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, NULL);
	struct tclient *rt1, *rt2;
	struct json_object *reg1, *reg2;
	struct rlimit rl, low;
	char *json, *err, want[128];

	harness_proxy_start(h, extra);
	rt1 = tclient_connect(h, "runtime1");
	rt2 = tclient_connect(h, "runtime2");
	reg1 = tclient_register(rt1, h, "vm1", vm1, 0);

	/* No fd left for the master: every number below the limit taken. */
	ck_assert_int_eq(prlimit(h->proxy_pid, RLIMIT_NOFILE, NULL, &rl), 0);
	low.rlim_cur = (rlim_t)master_lowest_free_fd();
	low.rlim_max = rl.rlim_max;
	ck_assert_int_eq(prlimit(h->proxy_pid, RLIMIT_NOFILE, &low, NULL), 0);
	json = tclient_register_json("vm2", vm2, 0);
	err = tclient_call_error(rt2, FRAME_CMD_REGISTER_VM, json);
	snprintf(want, sizeof(want), "the proxy's open files limit is reached (RLIMIT_NOFILE %llu",
		 (unsigned long long)low.rlim_cur);
	ck_assert_msg(strstr(err, want), "RegisterVM error: %s", err);
	ck_assert_msg(strstr(err, "LimitNOFILE="), "RegisterVM error: %s", err);
	free(err);
	wait_log("a limit stops VM registration: the proxy's open files limit is reached");
	tclient_ping_ok(rt1);	/* the VM registered before goes on */

	/* Room again: vm2 registers. */
	ck_assert_int_eq(prlimit(h->proxy_pid, RLIMIT_NOFILE, &rl, NULL), 0);
	reg2 = tclient_register(rt2, h, "vm2", vm2, 0);
	tclient_ping_ok(rt2);
	free(json);
	json_object_put(reg1);
	json_object_put(reg2);
	tclient_free(rt1);
	tclient_free(rt2);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("pool");
	TCase *tc = harness_tcase_add(s, "helper pool", setup, teardown, 60);

	tcase_add_test(tc, test_pooled_helper_serves);
	tcase_add_test(tc, test_idle_helper_dies);
	tcase_add_test(tc, test_hostile_idle_helpers);
	tcase_add_test(tc, test_pool_zero);
	tc = harness_tcase_add(s, "open files limit", setup, teardown, 60);
	tcase_add_test(tc, test_nofile_raised);
	tcase_add_test(tc, test_nofile_limit_error);
	return harness_run(s);
}
