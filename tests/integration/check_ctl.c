/*
 * check_ctl.c - cc-proxyctl against the real proxy and a simulated VM:
 * its subcommands, messages and exit statuses, and `exec` end to end
 * (stdin from a file and from a pipe, output, status, signals, -t).
 *
 * cc-proxyctl runs as a child with pipes on its stdio; the test reads
 * them with poll() under a deadline, and synchronises on what the child
 * prints (never on time).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tclient.h"

static struct harness *h;
static struct harness_vm *vm;

static void setup(void)
{
	static const char *const extra[] = { "--stdin-buffer", "0", NULL };

	h = harness_setup("vm", HARNESS_HYPERSTART1, extra, &vm);
}

static void teardown(void)
{
	h = harness_teardown(h);
}

/* A running cc-proxyctl. */
struct ctl_run {
	pid_t pid;
	int pidfd;
	int in;			/* write end of its stdin pipe, or -1 */
	int out, err;		/* read ends, -1 at EOF */
	struct evbuffer *obuf, *ebuf;
	int status;
};

/*
 * Start cc-proxyctl -s SOCK --timeout 10 ARGS...; stdin from @stdin_path,
 * or a pipe (r->in) when NULL.
 */
static void ctl_start(struct ctl_run *r, const char *stdin_path, const char *const *args)
{
	const char *argv[64];
	char bin[PATH_MAX];
	int in[2], out[2], err[2];
	size_t n = 0;
	pid_t parent = getpid();

	snprintf(bin, sizeof(bin), "%s", harness_bin(h, "cc-proxyctl"));
	argv[n++] = bin;
	argv[n++] = "-s";
	argv[n++] = h->sock;
	argv[n++] = "--timeout";
	argv[n++] = "10";
	for (size_t i = 0; args[i] && n < ARRAY_LEN(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
		  pipe2(err, O_CLOEXEC) == 0);
	r->pid = fork();
	ck_assert(r->pid >= 0);
	if (r->pid == 0) {
		int fd0 = stdin_path ? open(stdin_path, O_RDONLY) : in[0];

		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		if (fd0 < 0 || dup2(fd0, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0u, 0);
		signal(SIGPIPE, SIG_DFL);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	r->in = in[1];
	if (stdin_path) {
		close(r->in);
		r->in = -1;
	}
	r->out = out[0];
	r->err = err[0];
	r->obuf = evbuffer_new();
	r->ebuf = evbuffer_new();
	r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
	ck_assert(r->pidfd >= 0);
	r->status = -1;
}

/* Read what is there on stdout/stderr for at most @ms. */
static void ctl_pump(struct ctl_run *r, int ms)
{
	struct pollfd pf[2] = {
		{ .fd = r->out, .events = POLLIN },
		{ .fd = r->err, .events = POLLIN },
	};

	if (poll(pf, 2, ms) <= 0)
		return;
	for (int i = 0; i < 2; i++) {
		int *fd = i ? &r->err : &r->out;

		if (*fd >= 0 && (pf[i].revents & (POLLIN | POLLHUP)) &&
		    evbuffer_read(i ? r->ebuf : r->obuf, *fd, 65536) <= 0) {
			close(*fd);
			*fd = -1;
		}
	}
}

static bool ctl_has(struct evbuffer *b, const char *s)
{
	return evbuffer_search(b, s, strlen(s), NULL).pos >= 0;
}

/* Wait until @s appears on stdout (@on_err: stderr), bounded. */
static void ctl_wait_for(struct ctl_run *r, bool on_err, const char *s)
{
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;
	struct evbuffer *b = on_err ? r->ebuf : r->obuf;

	while (!ctl_has(b, s)) {
		ck_assert_msg(harness_left_ms(deadline) > 0 && (r->out >= 0 || r->err >= 0),
			      "cc-proxyctl never printed \"%s\"", s);
		ctl_pump(r, harness_left_ms(deadline));
	}
}

/* Close its stdin, read everything, reap it (bounded). Return: status. */
static int ctl_finish(struct ctl_run *r)
{
	long long deadline = harness_now_ms() + 2 * HARNESS_WAIT_MS;
	int st;

	if (r->in >= 0)
		close(r->in);
	r->in = -1;
	while (r->out >= 0 || r->err >= 0) {
		ck_assert_msg(harness_left_ms(deadline) > 0, "cc-proxyctl does not end");
		ctl_pump(r, harness_left_ms(deadline));
	}
	ck_assert_msg(harness_wait_exit(r->pid, r->pidfd, harness_left_ms(deadline), &st),
		      "cc-proxyctl does not exit");
	close(r->pidfd);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	evbuffer_add(r->obuf, "", 1);
	evbuffer_add(r->ebuf, "", 1);
	return r->status;
}

static const char *ctl_out(struct ctl_run *r)
{
	return (const char *)evbuffer_pullup(r->obuf, -1);
}

static const char *ctl_errtext(struct ctl_run *r)
{
	return (const char *)evbuffer_pullup(r->ebuf, -1);
}

static void ctl_free(struct ctl_run *r)
{
	evbuffer_free(r->obuf);
	evbuffer_free(r->ebuf);
}

/* Run to the end with stdin from @stdin_path (NULL: empty). */
static int ctl(struct ctl_run *r, const char *stdin_path, const char *const *args)
{
	ctl_start(r, stdin_path ? stdin_path : "/dev/null", args);
	return ctl_finish(r);
}

/*
 * Run @args to the end (stdin empty): exit status @status and, unless
 * NULL, @err_has in what it wrote to stderr.
 */
static void ctl_expect(const char *const *args, int status, const char *err_has)
{
	struct ctl_run r;
	int got = ctl(&r, NULL, args);

	ck_assert_msg(got == status, "%s %s: exit status %d, want %d; stderr: %s",
		      args[0], args[1] ? args[1] : "", got, status, ctl_errtext(&r));
	ck_assert_msg(!err_has || strstr(ctl_errtext(&r), err_has),
		      "stderr lacks \"%s\": %s", err_has, ctl_errtext(&r));
	ctl_free(&r);
}

/* Run @args to the end: exit status 0, and its stdout is a RegisterVM or
 * AttachVM answer with @ntokens tokens (tclient_check_io_answer()). */
static void ctl_expect_io(const char *const *args, int ntokens)
{
	struct ctl_run r;
	struct json_object *o;

	ck_assert_msg(ctl(&r, NULL, args) == 0, "%s", ctl_errtext(&r));
	o = json_tokener_parse(ctl_out(&r));
	tclient_check_io_answer(h, o, ntokens);
	json_object_put(o);
	ctl_free(&r);
}

static void register_vm(void)
{
	const char *args[] = { "register", "vm", "--ctl", vm->ctl, "--io", vm->io, NULL };

	ctl_expect(args, 0, NULL);
}

START_TEST(test_ctl_no_proxy)
{
	struct ctl_run r;
	const char *args[] = { "attach", "vm", NULL };
	char want[PATH_MAX + 128];

	snprintf(h->sock, sizeof(h->sock), "%s", harness_path(h, "none.sock"));
	ck_assert_int_eq(ctl(&r, NULL, args), 1);
	snprintf(want, sizeof(want), "cc-proxyctl: cannot connect to %s: No such file "
		 "or directory (is cc-proxy running?)\n", h->sock);
	ck_assert_str_eq(ctl_errtext(&r), want);
	ck_assert_str_eq(ctl_out(&r), "");
	ctl_free(&r);
	snprintf(h->sock, sizeof(h->sock), "%s", harness_path(h, "proxy.sock"));
}
END_TEST

START_TEST(test_ctl_usage)
{
	const char *a1[] = { "exec", "vm", NULL };
	const char *a2[] = { "frobnicate", NULL };
	const char *a3[] = { "hyper", "vm", "ping", "{bad", NULL };
	const char *a4[] = { "register", "vm", "--ctl", "x", NULL };

	ctl_expect(a1, 2, "missing the command");
	ctl_expect(a2, 2, NULL);
	ctl_expect(a3, 2, "JSON");
	ctl_expect(a4, 2, NULL);
}
END_TEST

START_TEST(test_ctl_register_attach_unregister)
{
	const char *reg[] = { "register", "vm", "--ctl", vm->ctl, "--io", vm->io,
			      "--console", vm->console, "--tokens", "2", NULL };
	const char *att[] = { "attach", "vm", NULL };
	const char *att1[] = { "attach", "vm", "--tokens", "1", NULL };
	const char *unreg[] = { "unregister", "vm", NULL };

	ctl_expect_io(reg, 2);
	ctl_expect_io(att, 0);
	ctl_expect_io(att1, 1);
	/* Registering it again: the proxy's error, exit 1. */
	ctl_expect(reg, 1, "register vm: error from cc-proxy: ");
	ctl_expect(unreg, 0, NULL);
	ctl_expect(att, 1, "attach vm: error from cc-proxy: ");
}
END_TEST

START_TEST(test_ctl_hyper)
{
	struct ctl_run r;
	const char *ver[] = { "hyper", "vm", "version", NULL };
	const char *ping[] = { "hyper", "vm", "ping", "{}", NULL };
	const char *bad[] = { "hyper", "vm", "nosuchcommand", NULL };
	const char *novm[] = { "hyper", "other", "ping", NULL };

	register_vm();
	/* The agent's 4-byte version, in decimal. */
	ck_assert_msg(ctl(&r, NULL, ver) == 0, "%s", ctl_errtext(&r));
	ck_assert_str_eq(ctl_out(&r), "4244\n");
	ctl_free(&r);
	ctl_expect(ping, 0, NULL);
	ctl_expect(bad, 1, "error from cc-proxy");
	ctl_expect(novm, 1, NULL);
}
END_TEST

START_TEST(test_ctl_exec_status)
{
	struct ctl_run r;
	const char *args[] = { "exec", "vm", "--", "sh", "-c",
			       "echo out; echo err >&2; exit 3", NULL };

	register_vm();
	ck_assert_int_eq(ctl(&r, NULL, args), 3);
	ck_assert_str_eq(ctl_out(&r), "out\n");
	ck_assert_str_eq(ctl_errtext(&r), "err\n");
	ctl_free(&r);
}
END_TEST

START_TEST(test_ctl_exec_failures)
{
	const char *novm[] = { "exec", "nosuchvm", "true", NULL };
	const char *nobin[] = { "exec", "vm", "/nonexistent/cc-proxy-it", NULL };
	const char *nocont[] = { "exec", "vm", "--container", "cc-proxy-it-none", "true", NULL };

	register_vm();
	ctl_expect(novm, 125, "AttachVM failed: error from cc-proxy");
	ctl_expect(nocont, 125, "execcmd failed");
	/* The agent starts it; the process says why it cannot run and
	 * exits 127, which cc-proxyctl passes on. */
	ctl_expect(nobin, 127, "cannot execute /nonexistent/cc-proxy-it: No such file or directory");
}
END_TEST

/* 1 MiB from a regular file (which epoll cannot watch). */
START_TEST(test_ctl_exec_stdin_file)
{
	size_t len = 1024 * 1024;
	uint8_t *data = malloc(len), *got = malloc(len + 1);
	const char *in = harness_path(h, "in.bin");
	const char *out = harness_path(h, "out.bin");
	char script[PATH_MAX + 16];
	const char *args[] = { "exec", "vm", "sh", "-c", script, NULL };
	struct ctl_run r;
	ssize_t n;
	int fd;

	ck_assert(data && got);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	fd = open(in, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert(fd >= 0 && write(fd, data, len) == (ssize_t)len);
	close(fd);
	snprintf(script, sizeof(script), "cat > '%s'", out);
	register_vm();
	ck_assert_msg(ctl(&r, in, args) == 0, "%s", ctl_errtext(&r));
	fd = open(out, O_RDONLY);
	ck_assert(fd >= 0);
	n = read(fd, got, len + 1);
	close(fd);
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert(!memcmp(got, data, len));
	ctl_free(&r);
	free(data);
	free(got);
}
END_TEST

/* From a pipe, with environment and working directory. */
START_TEST(test_ctl_exec_stdin_pipe_env)
{
	const char *args[] = { "exec", "vm", "-e", "FOO=bar baz", "-w", "/tmp",
			       "--", "sh", "-c", "wc -l; echo \"$FOO $(pwd)\"", NULL };
	struct ctl_run r;

	register_vm();
	ctl_start(&r, NULL, args);
	ck_assert(write(r.in, "one\ntwo\n", 8) == 8);
	ck_assert_int_eq(ctl_finish(&r), 0);
	ck_assert_str_eq(ctl_out(&r), "2\nbar baz /tmp\n");
	ctl_free(&r);
}
END_TEST

START_TEST(test_ctl_exec_tty)
{
	const char *args[] = { "exec", "vm", "-t", "--", "sh", "-c",
			       "test -t 0 && test -t 1 && echo on-a-tty; exit 4", NULL };
	struct ctl_run r;

	register_vm();
	ck_assert_int_eq(ctl(&r, NULL, args), 4);
	ck_assert_msg(strstr(ctl_out(&r), "on-a-tty"), "%s", ctl_out(&r));
	ctl_free(&r);
}
END_TEST

/* SIGINT is forwarded; the proxy cannot signal an execcmd process, so
 * the refusal is shown and a second SIGINT ends cc-proxyctl (130).
 * (Not SIGTERM: for a session the proxy may not know to be started yet,
 * SIGTERM legitimately ends it with ProcessExited(0).) */
START_TEST(test_ctl_exec_signal)
{
	const char *args[] = { "exec", "vm", "--", "sh", "-c", "echo ready; read x", NULL };
	struct ctl_run r;

	register_vm();
	ctl_start(&r, NULL, args);
	ctl_wait_for(&r, false, "ready\n");
	ck_assert_int_eq(kill(r.pid, SIGINT), 0);
	ctl_wait_for(&r, true, "not delivered");
	ck_assert_int_eq(kill(r.pid, SIGINT), 0);
	ck_assert_int_eq(ctl_finish(&r), 128 + SIGINT);
	ctl_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cc-proxyctl");
	TCase *tc = harness_tcase_add(s, "cc-proxyctl", setup, teardown, 45);

	tcase_add_test(tc, test_ctl_no_proxy);
	tcase_add_test(tc, test_ctl_usage);
	tcase_add_test(tc, test_ctl_register_attach_unregister);
	tcase_add_test(tc, test_ctl_hyper);
	tcase_add_test(tc, test_ctl_exec_status);
	tcase_add_test(tc, test_ctl_exec_failures);
	tcase_add_test(tc, test_ctl_exec_stdin_file);
	tcase_add_test(tc, test_ctl_exec_stdin_pipe_env);
	tcase_add_test(tc, test_ctl_exec_tty);
	tcase_add_test(tc, test_ctl_exec_signal);
	return harness_run(s);
}
