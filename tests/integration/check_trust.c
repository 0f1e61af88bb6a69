/*
 * check_trust.c - what a client may make the master (or a helper) do on
 * its behalf (issue 9):
 *  - a tokenless newcontainer/execcmd always writes to the null session,
 *    stdio 1 and stderr 2, terminal or not (simvm --record-ctl shows what
 *    the agent received);
 *  - RegisterVM only from root or the master's own uid: anyone else gets
 *    "permission denied" and the master connects to nothing (root only:
 *    the other client runs as uid 65534 in a forked child);
 *  - the master's connect to a VM socket never waits: a full listen
 *    backlog is an error at once.
 */
#define _GNU_SOURCE 1
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lifecycle_util.h"
#include "tclient.h"
#include "texec.h"

static struct harness *h;

static void setup(void)
{
	h = harness_new();
	harness_proxy_start(h, NULL);
}

static void teardown(void)
{
	h = harness_teardown(h);
}

/* Hyper execcmd with @data and no token, on @rt: the ACK. */
static void exec_raw(struct tclient *rt, const char *data)
{
	char *req;

	ck_assert(asprintf(&req, "{\"hyperName\":\"execcmd\",\"data\":%s}", data) > 0);
	json_object_put(tclient_call(rt, FRAME_CMD_HYPER, req));
	free(req);
}

/*
 * Finding 11: the client aims a terminal process's stderr at seq 5 (the
 * stderr of the registration's second token) and its stdio at 3: without
 * a token both become the null session's, 1 and 2. Without any stderr
 * key, 2 is added: the agent must not pick one itself.
 */
START_TEST(test_tokenless_terminal_null_session)
{
	static const char given[] =
		"{\"container\":\"hyperstart\",\"process\":{\"terminal\":true,"
		"\"stdio\":3,\"stderr\":5,\"id\":\"t1\",\"args\":[\"true\"]}}";
	static const char want[] =
		"{\"container\":\"hyperstart\",\"process\":{\"terminal\":true,"
		"\"stdio\":1,\"stderr\":2,\"id\":\"t1\",\"args\":[\"true\"]}}";
	static const char bare[] =
		"{\"container\":\"hyperstart\",\"process\":{\"terminal\":true,"
		"\"id\":\"t2\",\"args\":[\"true\"]}}";
	const char *rec1 = harness_path(h, "vm1.ctl-record");
	const char *const extra1[] = { "--record-ctl", rec1, NULL };
	struct harness_vm *vm1 = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, extra1);
	const char *rec2 = harness_path(h, "vm2.ctl-record");
	const char *const extra2[] = { "--record-ctl", rec2, NULL };
	struct harness_vm *vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, extra2);
	struct tclient *rt1 = tclient_connect(h, "runtime1");
	struct tclient *rt2 = tclient_connect(h, "runtime2");
	struct json_object *reg1 = tclient_register(rt1, h, "vm1", vm1, 2);
	struct json_object *reg2 = tclient_register(rt2, h, "vm2", vm2, 0);
	char *got;
	size_t len;

	exec_raw(rt1, given);
	got = lu_record_of(rec1, "execcmd", 0, &len);
	ck_assert_str_eq(got, want);
	free(got);

	/* Another VM: the null session of vm1 is busy with t1 meanwhile. */
	exec_raw(rt2, bare);
	got = lu_record_of(rec2, "execcmd", 0, &len);
	ck_assert_msg(strstr(got, "\"process\":{\"stdio\":1,\"stderr\":2,\"terminal\":true"),
		      "the agent got: %s", got);
	free(got);
	json_object_put(reg1);
	json_object_put(reg2);
	tclient_free(rt1);
	tclient_free(rt2);
}
END_TEST

/* A listening AF_UNIX socket at @path (non-blocking), with @backlog. */
static int listen_at(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, backlog), 0);
	return fd;
}

/* In a forked child, as uid/gid 65534: RegisterVM naming @target must
 * fail with the permission error. Exit status 0 when it did. */
static void __attribute__((noreturn)) other_uid_register(const char *target)
{
	char want[128], *req, *msg;
	struct tclient *c;

	if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		_exit(10);
	c = tclient_connect(h, "other-uid");
	if (asprintf(&req, "{\"containerId\":\"other\",\"ctlSerial\":\"%s\","
		     "\"ioSerial\":\"%s\",\"console\":\"%s\"}", target, target, target) < 0)
		_exit(11);
	msg = tclient_call_error(c, FRAME_CMD_REGISTER_VM, req);
	snprintf(want, sizeof(want),
		 "RegisterVM: permission denied: only root or uid %u may register VMs",
		 (unsigned)0);
	if (strcmp(msg, want)) {
		fprintf(stderr, "other uid got: %s\n", msg);
		_exit(12);
	}
	/* A path that does not exist: the same answer, nothing to learn. */
	free(req);
	if (asprintf(&req, "{\"containerId\":\"other\",\"ctlSerial\":\"%s.none\","
		     "\"ioSerial\":\"%s.none\"}", target, target) < 0)
		_exit(11);
	free(msg);
	msg = tclient_call_error(c, FRAME_CMD_REGISTER_VM, req);
	_exit(strcmp(msg, want) ? 13 : 0);
}

/*
 * Finding 12: a client of another uid cannot make the root master
 * connect to a socket (here one in a directory it may search, but the
 * master must not try at all), nor learn whether a path exists.
 */
START_TEST(test_register_other_uid)
{
	const char *target = harness_path(h, "target.sock");
	int lfd, status;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP test_register_other_uid: needs root to run a client "
			"as another uid\n");
		return;
	}
	lfd = listen_at(target, 16);
	/* The other uid must reach the proxy socket to ask at all. */
	ck_assert_int_eq(chmod(h->sock, 0666), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		other_uid_register(target);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the other uid's RegisterVM: wait status %d", status);
	/* The answer came after the master decided: nothing connected. */
	ck_assert_int_eq(accept(lfd, NULL, NULL), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert(harness_wait_log(h, "only root or uid 0 may register VMs", HARNESS_WAIT_MS));
	close(lfd);
}
END_TEST

/* A VM socket whose listen backlog is full: an error at once, not a hang
 * of the master's loop (another client is answered right after). */
START_TEST(test_register_backlog_full)
{
	const char *target = harness_path(h, "full.sock");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct tclient *rt = tclient_connect(h, "runtime");
	int lfd = listen_at(target, 0), fds[16], n = 0;
	char *req, *msg;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", target);
	for (; n < 16; n++) {
		fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fds[n], 0);
		if (connect(fds[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
	}
	ck_assert_msg(n < 16, "the backlog never filled");
	ck_assert(asprintf(&req, "{\"containerId\":\"full\",\"ctlSerial\":\"%s\","
			   "\"ioSerial\":\"%s\"}", target, target) > 0);
	msg = tclient_call_error(rt, FRAME_CMD_REGISTER_VM, req);
	ck_assert_msg(strstr(msg, "listen backlog is full"), "RegisterVM: %s", msg);
	free(msg);
	tclient_expect_unknown_vm(h, "full");
	for (int i = 0; i <= n; i++)
		close(fds[i]);
	close(lfd);
	free(req);
	tclient_free(rt);
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("trust");
	TCase *tc = harness_tcase_add(s, "trust", setup, teardown, 30);

	tcase_add_test(tc, test_tokenless_terminal_null_session);
	tcase_add_test(tc, test_register_other_uid);
	tcase_add_test(tc, test_register_backlog_full);
	return harness_run(s);
}
