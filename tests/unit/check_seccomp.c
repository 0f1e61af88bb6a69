/*
 * check_seccomp.c - the helper's exact seccomp filter (sandbox.c), applied
 * in a child: what the helper must never do kills it with SIGSYS; what its
 * steady state does still works.
 *
 * Each test forks its own child, so the filter never reaches Check's own
 * process and the parent can look at how the child ended.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "sandbox.h"
#include "unit_main.h"

/* Run @fn under the filter in a child; return its wait status. */
static int run_confined(void (*fn)(void))
{
	pid_t pid = fork();
	int status = 0;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(90);
		if (sandbox_install() < 0)
			_exit(91);
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_killed_by_sigsys(void (*fn)(void))
{
	int status = run_confined(fn);

	ck_assert_msg(WIFSIGNALED(status), "child was not killed (exit %d)",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ck_assert_int_eq(WTERMSIG(status), SIGSYS);
}

static void do_open(void)
{
	(void)syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
}

static void do_legacy_open(void)
{
	(void)syscall(SYS_open, "/etc/hostname", O_RDONLY);
}

static void do_socket(void)
{
	(void)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
}

static int pre_made_socket = -1;

static void do_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(sa.sun_path, "/run/nonexistent.sock");
	(void)syscall(SYS_connect, pre_made_socket, &sa, sizeof(sa));
}

static void do_execve(void)
{
	char *argv[] = { "/bin/true", NULL };

	(void)syscall(SYS_execve, "/bin/true", argv, environ);
}

static void do_fork(void)
{
	/* glibc's fork() is clone(); the raw fork syscall must die too. */
	(void)fork();
}

static void do_raw_fork(void)
{
	(void)syscall(SYS_fork);
}

static void do_ptrace(void)
{
	(void)syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
}

static void do_exec_mmap(void)
{
	(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void do_bad_ioctl(void)
{
	int n;

	(void)ioctl(0, TIOCGWINSZ, &n);
}

static void do_bad_fcntl(void)
{
	(void)fcntl(0, F_DUPFD, 10);
}

static void do_chroot(void)
{
	(void)syscall(SYS_chroot, "/");
}

static void do_exec_mprotect(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(20);
	(void)mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

/* Another process, alive for the duration of a test: what a compromised
 * helper would aim at (another VM's helper, or the master). */
static pid_t victim = -1;

static void victim_start(void)
{
	victim = fork();
	ck_assert_int_ge(victim, 0);
	if (victim == 0) {
		pause();
		_exit(0);
	}
}

/* The victim must still be alive: signal 0 to it succeeds. */
static void victim_stop(void)
{
	int status;

	ck_assert_int_eq(kill(victim, 0), 0);
	ck_assert_int_eq(kill(victim, SIGKILL), 0);
	ck_assert_int_eq(waitpid(victim, &status, 0), victim);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void do_tgkill_other(void)
{
	(void)syscall(SYS_tgkill, victim, victim, SIGKILL);
}

static void do_kill_other(void)
{
	(void)syscall(SYS_kill, victim, SIGKILL);
}

static void do_tkill_other(void)
{
	(void)syscall(SYS_tkill, victim, SIGKILL);
}

/* Right pid, another "thread" id: still not ourselves. */
static void do_tgkill_other_tid(void)
{
	(void)syscall(SYS_tgkill, getpid(), victim, SIGKILL);
}

static int pre_made_dgram = -1;

/* A datagram to an address: what the journal fd must never be used for. */
static void do_sendto_address(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(sa.sun_path, "/run/nonexistent.sock");
	(void)sendto(pre_made_dgram, "x", 1, MSG_DONTWAIT, (struct sockaddr *)&sa,
		     sizeof(sa));
}

/* sendmsg, even on a connected socket and without an fd. */
static void do_sendmsg(void)
{
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	(void)sendmsg(pre_made_dgram, &msg, MSG_DONTWAIT);
}

/* A test that @fn, run under the filter, dies of SIGSYS. */
#define KILLED_TEST(name, fn)						\
	START_TEST(name) { assert_killed_by_sigsys(fn); }		\
	END_TEST

KILLED_TEST(test_open_killed, do_open)
KILLED_TEST(test_legacy_open_killed, do_legacy_open)
KILLED_TEST(test_socket_killed, do_socket)
START_TEST(test_connect_killed)
{
	pre_made_socket = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(pre_made_socket, 0);
	assert_killed_by_sigsys(do_connect);
	close(pre_made_socket);
}
END_TEST
KILLED_TEST(test_execve_killed, do_execve)
KILLED_TEST(test_fork_killed, do_fork)
KILLED_TEST(test_raw_fork_killed, do_raw_fork)
KILLED_TEST(test_ptrace_killed, do_ptrace)
KILLED_TEST(test_exec_mmap_killed, do_exec_mmap)
KILLED_TEST(test_bad_ioctl_killed, do_bad_ioctl)
KILLED_TEST(test_bad_fcntl_killed, do_bad_fcntl)
KILLED_TEST(test_chroot_killed, do_chroot)
KILLED_TEST(test_exec_mprotect_killed, do_exec_mprotect)

/* A signal-sending call aimed at another process: SIGSYS, victim alive. */
#define VICTIM_TEST(name, fn)						\
	START_TEST(name)						\
	{								\
		victim_start();						\
		assert_killed_by_sigsys(fn);				\
		victim_stop();						\
	}								\
	END_TEST

VICTIM_TEST(test_tgkill_other_killed, do_tgkill_other)
VICTIM_TEST(test_tgkill_other_tid_killed, do_tgkill_other_tid)
VICTIM_TEST(test_kill_other_killed, do_kill_other)
VICTIM_TEST(test_tkill_other_killed, do_tkill_other)

/* abort() on a broken invariant still works: tgkill at ourselves. */
static void do_abort(void)
{
	abort();
}

START_TEST(test_self_abort_allowed)
{
	int status = run_confined(do_abort);

	ck_assert_msg(WIFSIGNALED(status), "child was not killed (exit %d)",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ck_assert_int_eq(WTERMSIG(status), SIGABRT);
}
END_TEST

START_TEST(test_sendto_address_killed)
{
	pre_made_dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_ge(pre_made_dgram, 0);
	assert_killed_by_sigsys(do_sendto_address);
	close(pre_made_dgram);
}
END_TEST

START_TEST(test_sendmsg_killed)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	pre_made_dgram = sv[0];
	assert_killed_by_sigsys(do_sendmsg);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static int steady_pair[2] = { -1, -1 };

/* What the helper does all day: move bytes, allocate, make a received fd
 * non-blocking, ask how much is readable, close. */
static void do_steady_state(void)
{
	char buf[64];
	int n = 0;
	void *p;

	/* send(): sendto without an address, as fdpass.c and log.c do. */
	if (send(steady_pair[0], "ping", 4, MSG_NOSIGNAL | MSG_DONTWAIT) != 4)
		_exit(10);
	if (recv(steady_pair[1], buf, sizeof(buf), 0) != 4)
		_exit(11);
	if (ioctl(steady_pair[1], FIONREAD, &n) < 0 || n != 0)
		_exit(12);
	if (fcntl(steady_pair[1], F_SETFL,
		  fcntl(steady_pair[1], F_GETFL) | O_NONBLOCK) < 0)
		_exit(13);
	p = malloc(8 << 20);	/* large: mmap */
	if (!p)
		_exit(14);
	memset(p, 1, 8 << 20);
	free(p);
	if (write(STDERR_FILENO, "", 0) < 0)
		_exit(15);
	if (close(steady_pair[1]) < 0)
		_exit(16);
	_exit(0);
}

START_TEST(test_steady_state_allowed)
{
	int status;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, steady_pair), 0);
	status = run_confined(do_steady_state);
	ck_assert_msg(WIFEXITED(status), "killed by signal %d",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(steady_pair[0]);
	close(steady_pair[1]);
}
END_TEST

static Suite *seccomp_suite(void)
{
	Suite *s = suite_create("seccomp");
	TCase *tc = unit_tcase(s, "allowlist", 20);

	tcase_add_test(tc, test_open_killed);
	tcase_add_test(tc, test_legacy_open_killed);
	tcase_add_test(tc, test_socket_killed);
	tcase_add_test(tc, test_connect_killed);
	tcase_add_test(tc, test_execve_killed);
	tcase_add_test(tc, test_fork_killed);
	tcase_add_test(tc, test_raw_fork_killed);
	tcase_add_test(tc, test_ptrace_killed);
	tcase_add_test(tc, test_exec_mmap_killed);
	tcase_add_test(tc, test_bad_ioctl_killed);
	tcase_add_test(tc, test_bad_fcntl_killed);
	tcase_add_test(tc, test_chroot_killed);
	tcase_add_test(tc, test_exec_mprotect_killed);
	tcase_add_test(tc, test_tgkill_other_killed);
	tcase_add_test(tc, test_tgkill_other_tid_killed);
	tcase_add_test(tc, test_kill_other_killed);
	tcase_add_test(tc, test_tkill_other_killed);
	tcase_add_test(tc, test_self_abort_allowed);
	tcase_add_test(tc, test_sendto_address_killed);
	tcase_add_test(tc, test_sendmsg_killed);
	tcase_add_test(tc, test_steady_state_allowed);
	return s;
}

int main(void)
{
	return run_suite(seccomp_suite());
}
