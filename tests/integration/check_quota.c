/*
 * check_quota.c - the master's quotas (cc-proxy(8), LIMITS): connections
 * per uid and in all with root's reserve, the sum of buffered bytes,
 * the incomplete-frame and idle timeouts, tokens and shims per VM, and
 * the systemd watchdog. Each test starts the proxy with small limits and
 * shows both sides: the peer that breaks a limit gets an error naming it
 * (or is closed, with a log record naming it), and everybody else is
 * served as before. Without the quotas each of these tests fails: the
 * extra connection is served, the parked frames grow the master, the
 * idle connection stays.
 *
 * Other uids (root only, else that part is skipped with a message) are
 * played by forked children that switch uid and hold connections.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tclient.h"

static struct harness *h;
static struct harness_vm *vm1;

/* The proxy with @opts (NULL-terminated) and vm1. */
static void start(const char *const *opts)
{
	h = harness_new();
	vm1 = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	harness_proxy_start(h, opts);
}

static void teardown(void)
{
	h = harness_teardown(h);
}

/* ---- peers of other uids -------------------------------------------- */

struct peer {
	pid_t pid;
	int rd;			/* its report */
	int hold;		/* closing it lets the peer go */
};

/* Connect to the proxy; -1 on failure (the child has no Check). */
static int peer_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The child: as @uid, hold @n connections, then on one more send AttachVM
 * of an unknown id and report the answer's payload (or "EOF"). */
static void peer_main(const char *path, uid_t uid, int n, int wr, int hold)
{
	static const char cmd[] = "{\"containerId\":\"nope\"}";
	uint8_t frame[12 + sizeof(cmd)] = { 0, 2, 3, 0, 0, 0, 0, FRAME_CMD_ATTACH_VM };
	char buf[1024];
	size_t got = 0;
	int fd;

	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		_exit(2);
	for (int i = 0; i < n; i++)
		if (peer_connect(path) < 0)
			_exit(3);
	fd = peer_connect(path);
	if (fd < 0)
		_exit(4);
	frame[11] = (uint8_t)(sizeof(cmd) - 1);
	memcpy(frame + 12, cmd, sizeof(cmd) - 1);
	if (write(fd, frame, 12 + sizeof(cmd) - 1) < 0)
		_exit(5);
	/* Header, then the payload: enough to see the message. */
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (poll(&pf, 1, HARNESS_WAIT_MS) <= 0)
			break;
		k = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
		if (got >= 12 && got >= 12 + (((size_t)(uint8_t)buf[10] << 8) |
					       (uint8_t)buf[11]))
			break;
	}
	if (got > 12)
		(void)!write(wr, buf + 12, got - 12);
	else
		(void)!write(wr, "EOF", 3);
	close(wr);
	(void)!read(hold, buf, 1);	/* until the test lets go */
	_exit(0);
}

/* A child of @uid holding @n connections, whose probe answered *@msg. */
static struct peer peer_start(uid_t uid, int n, char **msg)
{
	int rep[2], hold[2];
	struct peer p;
	char buf[1024];
	size_t got = 0;
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;

	ck_assert(pipe2(rep, O_CLOEXEC) == 0 && pipe2(hold, O_CLOEXEC) == 0);
	p.pid = fork();
	ck_assert(p.pid >= 0);
	if (p.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(rep[0]);
		close(hold[1]);
		peer_main(h->sock, uid, n, rep[1], hold[0]);
	}
	close(rep[1]);
	close(hold[0]);
	p.rd = rep[0];
	p.hold = hold[1];
	for (;;) {
		struct pollfd pf = { .fd = p.rd, .events = POLLIN };
		ssize_t k;

		ck_assert_msg(poll(&pf, 1, harness_left_ms(deadline)) > 0,
			      "peer of uid %d did not report", (int)uid);
		k = read(p.rd, buf + got, sizeof(buf) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	buf[got] = '\0';
	ck_assert_msg(got > 0, "peer of uid %d failed", (int)uid);
	*msg = strdup(buf);
	return p;
}

/* SIGKILL: a later peer inherited this one's end of the hold pipe. */
static void peer_stop(struct peer *p)
{
	int st, pidfd = harness_pidfd_open(p->pid);

	close(p->hold);
	close(p->rd);
	ck_assert(kill(p->pid, SIGKILL) == 0);
	ck_assert(harness_wait_exit(p->pid, pidfd, HARNESS_WAIT_MS, &st));
	close(pidfd);
}

/* Other uids may use the socket (it is 0660 root's otherwise). */
static bool others_can_connect(void)
{
	if (geteuid() != 0)
		return false;
	ck_assert(chmod(h->sock, 0666) == 0);
	return true;
}

/* ---- connections ---------------------------------------------------- */

/* One uid holding its whole quota: its next connection is refused with
 * an error naming the limit; another uid and root are still served. */
START_TEST(test_clients_per_uid)
{
	static const char *const opts[] = { "--max-clients-per-uid", "4", "--max-clients",
					    "32", "--root-reserve", "4", NULL };
	struct tclient *held[4], *c;
	struct peer a, b;
	char *msg;

	start(opts);
	if (!others_can_connect()) {
		fprintf(stderr, "check_quota: not root: a second uid is not tried, only "
			"this uid's own quota\n");
		for (size_t i = 0; i < ARRAY_LEN(held); i++)
			held[i] = tclient_connect(h, "idle");
		c = tclient_connect(h, "fifth");
		msg = tclient_call_error(c, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"nope\"}");
		ck_assert_msg(strstr(msg, "--max-clients-per-uid"), "refusal: %s", msg);
		free(msg);
		tclient_free(c);
		for (size_t i = 0; i < ARRAY_LEN(held); i++)
			tclient_free(held[i]);
		return;
	}
	a = peer_start(65534, 4, &msg);
	ck_assert_msg(strstr(msg, "--max-clients-per-uid") && strstr(msg, "65534"),
		      "uid 65534's fifth connection: %s", msg);
	free(msg);
	ck_assert(harness_wait_log(h, "connection of uid 65534 refused", HARNESS_WAIT_MS));
	b = peer_start(65533, 0, &msg);
	ck_assert_msg(strstr(msg, "unknown containerId"), "uid 65533 locked out: %s", msg);
	free(msg);
	c = tclient_connect(h, "runtime");
	json_object_put(tclient_register(c, h, "vm1", vm1, 0));
	tclient_ping_ok(c);
	tclient_free(c);
	peer_stop(&a);
	peer_stop(&b);
}
END_TEST

/* Others together fill everything but the reserve: they are refused, root's
 * runtime and shim are not. */
START_TEST(test_root_reserve)
{
	static const char *const opts[] = { "--max-clients", "8", "--root-reserve", "3", NULL };
	struct json_object *ans;
	struct tclient *c, *s;
	struct peer a;
	char *msg;

	start(opts);
	if (!others_can_connect()) {
		fprintf(stderr, "check_quota: not root: test_root_reserve skipped\n");
		return;
	}
	a = peer_start(65534, 5, &msg);
	ck_assert_msg(strstr(msg, "--root-reserve"), "uid 65534's sixth connection: %s", msg);
	free(msg);
	c = tclient_connect(h, "runtime");
	ans = tclient_register(c, h, "vm1", vm1, 1);
	s = tclient_connect_shim(h, tclient_token(ans, 0));
	tclient_ping_ok(c);
	json_object_put(ans);
	tclient_free(s);
	tclient_free(c);
	peer_stop(&a);
}
END_TEST

/* ---- buffers and timeouts ------------------------------------------- */

/* Connections that each park an almost whole 1 MiB frame: the master's
 * buffers stay within --max-buffered (the hoarders are closed), and a
 * runtime is still served. Without the bound the master grows by all. */
START_TEST(test_max_buffered)
{
	enum { N = 24 };
	static const char *const opts[] = { "--max-buffered", "4194304", NULL };
	const size_t part = FRAME_PAYLOAD_MAX - 1;
	struct tclient *p[N], *c;
	uint8_t *buf = calloc(1, 12 + part);
	long before, after;
	char *msg;

	ck_assert_ptr_nonnull(buf);
	harness_no_asan_quarantine();
	start(opts);
	before = harness_rss_kib(h->proxy_pid);
	/* A command announcing the largest payload, all but its last byte. */
	memcpy(buf, (uint8_t[]){ 0, 2, 3, 0, 0, 0, 0, FRAME_CMD_ATTACH_VM,
				 0, 0x10, 0, 0 }, 12);
	memset(buf + 12, ' ', part);
	for (int i = 0; i < N; i++) {
		p[i] = tclient_connect(h, "hoarder");
		/* Refused half way (EPIPE) once the sum is over: fine. */
		(void)tclient_try_send_bytes(p[i], buf, 12 + part);
	}
	c = tclient_connect(h, "runtime");
	msg = tclient_call_error(c, FRAME_CMD_ATTACH_VM, "{\"containerId\":\"nope\"}");
	ck_assert_msg(strstr(msg, "unknown containerId"), "runtime: %s", msg);
	free(msg);
	after = harness_rss_kib(h->proxy_pid);
	ck_assert_msg(after - before < 12 * 1024,
		      "RSS grew by %ld KiB with %d parked frames (bound 4 MiB)",
		      after - before, N);
	ck_assert(harness_wait_log(h, "(--max-buffered)", HARNESS_WAIT_MS));
	for (int i = 0; i < N; i++)
		tclient_free(p[i]);
	tclient_free(c);
	free(buf);
}
END_TEST

/* An incomplete frame held too long: an error naming --frame-timeout to
 * its command, then the connection is closed. */
START_TEST(test_frame_timeout)
{
	static const char *const opts[] = { "--frame-timeout", "0.3", NULL };
	static const uint8_t head[] = { 0, 2, 3, 0, 0, 0, 0, FRAME_CMD_ATTACH_VM,
					0, 0, 0, 40, '{' };
	struct tclient *c;
	char *msg;
	int r;

	start(opts);
	c = tclient_connect(h, "slow");
	tclient_send_bytes(c, head, sizeof(head));
	msg = tclient_expect_error(c, FRAME_CMD_ATTACH_VM);
	ck_assert_msg(strstr(msg, "--frame-timeout"), "answer: %s", msg);
	free(msg);
	{
		struct frame f;

		r = tclient_read_frame(c, &f, HARNESS_WAIT_MS);
		ck_assert_msg(r == TCLIENT_EOF || r == -ECONNRESET,
			      "the connection stayed open (%d)", r);
	}
	ck_assert(harness_wait_log(h, "(--frame-timeout)", HARNESS_WAIT_MS));
	tclient_free(c);
}
END_TEST

/* An idle connection that is not attached is closed; an attached one
 * (a runtime waiting for its next command) stays. */
START_TEST(test_idle_timeout)
{
	static const char *const opts[] = { "--idle-timeout", "0.3", NULL };
	struct tclient *runtime, *idle;

	start(opts);
	runtime = tclient_connect(h, "runtime");
	json_object_put(tclient_register(runtime, h, "vm1", vm1, 0));
	idle = tclient_connect(h, "idle");
	tclient_expect_eof(idle);
	ck_assert(harness_wait_log(h, "(--idle-timeout)", HARNESS_WAIT_MS));
	tclient_ping_ok(runtime);
	tclient_free(idle);
	tclient_free(runtime);
}
END_TEST

/* ---- per VM --------------------------------------------------------- */

START_TEST(test_tokens_per_vm)
{
	static const char *const opts[] = { "--max-tokens-per-vm", "2", NULL };
	struct harness_vm *vm2;
	struct tclient *c, *a;
	char *json, *msg;

	start(opts);
	c = tclient_connect(h, "runtime");
	json_object_put(tclient_register(c, h, "vm1", vm1, 2));
	a = tclient_connect(h, "attach");
	msg = tclient_call_error(a, FRAME_CMD_ATTACH_VM,
				 "{\"containerId\":\"vm1\",\"numIOStreams\":1}");
	ck_assert_msg(strstr(msg, "--max-tokens-per-vm"), "AttachVM over: %s", msg);
	free(msg);
	tclient_ping_ok(c);	/* the VM is unharmed */
	/* A RegisterVM asking for more fails as a whole. */
	vm2 = harness_vm_start(h, "vm2", HARNESS_HYPERSTART1, NULL);
	json = tclient_register_json("vm2", vm2, 3);
	msg = tclient_call_error(a, FRAME_CMD_REGISTER_VM, json);
	free(json);
	ck_assert_msg(strstr(msg, "--max-tokens-per-vm"), "RegisterVM of 3: %s", msg);
	free(msg);
	tclient_free(a);
	tclient_free(c);
}
END_TEST

START_TEST(test_shims_per_vm)
{
	static const char *const opts[] = { "--max-shims-per-vm", "1", NULL };
	struct json_object *ans;
	struct tclient *c, *s1, *s2;
	char json[128], *msg;

	start(opts);
	c = tclient_connect(h, "runtime");
	ans = tclient_register(c, h, "vm1", vm1, 2);
	s1 = tclient_connect_shim(h, tclient_token(ans, 0));
	s2 = tclient_connect(h, "shim2");
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", tclient_token(ans, 1));
	msg = tclient_call_error(s2, FRAME_CMD_CONNECT_SHIM, json);
	ck_assert_msg(strstr(msg, "--max-shims-per-vm"), "second shim: %s", msg);
	free(msg);
	tclient_free(s2);
	/* Once the first is gone (SHIM_GONE), the second fits. */
	tclient_free(s1);
	s2 = tclient_reconnect_shim(h, "shim2", tclient_token(ans, 1));
	tclient_free(s2);
	json_object_put(ans);
	tclient_free(c);
}
END_TEST

/* ---- the watchdog --------------------------------------------------- */

/* With $WATCHDOG_USEC the proxy sends WATCHDOG=1, again and again. */
START_TEST(test_watchdog)
{
	long long deadline;
	int seen = 0;
	char buf[4096];

	ck_assert(setenv("WATCHDOG_USEC", "200000", 1) == 0);
	ck_assert(unsetenv("WATCHDOG_PID") == 0);
	h = harness_new();
	harness_proxy_start(h, NULL);	/* READY=1 read, later datagrams queued */
	deadline = harness_now_ms() + HARNESS_WAIT_MS;
	while (seen < 3) {
		struct pollfd pf = { .fd = h->notify_fd, .events = POLLIN };
		ssize_t n;

		ck_assert_msg(poll(&pf, 1, harness_left_ms(deadline)) > 0,
			      "%d WATCHDOG=1 within %d ms, wanted 3", seen, HARNESS_WAIT_MS);
		n = recv(h->notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
			seen += !strcmp(l, "WATCHDOG=1");
	}
	unsetenv("WATCHDOG_USEC");
}
END_TEST

int main(void)
{
	Suite *s = harness_suite_new("quota");
	TCase *tc = harness_tcase_add(s, "quotas and watchdog", NULL, teardown, 30);

	tcase_add_test(tc, test_clients_per_uid);
	tcase_add_test(tc, test_root_reserve);
	tcase_add_test(tc, test_max_buffered);
	tcase_add_test(tc, test_frame_timeout);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_tokens_per_vm);
	tcase_add_test(tc, test_shims_per_vm);
	tcase_add_test(tc, test_watchdog);
	return harness_run(s);
}
