/*
 * harness.h - the integration test harness: a private temporary directory,
 * the real cc-proxy and simulated VMs (cc-proxy-simvm) started in it, and
 * teardown that leaves nothing behind (STYLE.md section 10).
 *
 * Synchronisation is by events, never sleeps:
 * - a simulated VM writes "READY\n" on a pipe (--notify-fd) once its
 *   sockets listen;
 * - cc-proxy started directly sends READY=1 to $NOTIFY_SOCKET, a datagram
 *   socket of the harness in the temporary directory;
 * - cc-proxy started by `systemd-socket-activate -l PATH` (mode
 *   HARNESS_ACTIVATED, chosen with CC_PROXY_IT_ACTIVATION=socket) is ready
 *   once that tool says "Listening on": the socket exists and connections
 *   queue until cc-proxy, exec'd on the first one, accepts them.
 * Every wait is bounded (HARNESS_WAIT_MS) and watches the child's pidfd,
 * so a daemon that dies fails the test at once with the tail of its log.
 * Children get PR_SET_PDEATHSIG(SIGKILL): a test that crashes leaves no
 * daemon behind. Binaries are found through $CC_PROXY_BUILDDIR.
 *
 * All functions assert (Check) instead of returning errors.
 */
#pragma once

#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define HARNESS_WAIT_MS		10000	/* bound on any single wait */
#define HARNESS_MAX_VMS		8
#define HARNESS_PROXY_WAIT_TIMEOUT "2"	/* cc-proxy --wait-timeout */

enum harness_mode {
	HARNESS_DIRECT,		/* cc-proxy --socket-path DIR/proxy.sock */
	HARNESS_ACTIVATED,	/* systemd-socket-activate -l DIR/proxy.sock cc-proxy */
};

enum harness_dialect {
	HARNESS_LEGACY,		/* exit status as a 1-byte io message */
	HARNESS_HYPERSTART1,	/* exit status as processasyncevent */
};

struct harness_vm {
	char name[32];
	char ctl[PATH_MAX];	/* the VM's ctl serial socket */
	char io[PATH_MAX];	/* the VM's io serial socket */
	char console[PATH_MAX];
	char log[PATH_MAX];	/* its stderr */
	pid_t pid;		/* 0 once reaped */
	int pidfd;
};

struct harness {
	char dir[256];		/* private, removed by harness_free() */
	char sock[PATH_MAX];	/* the proxy socket */
	char notify[PATH_MAX];	/* $NOTIFY_SOCKET of the proxy */
	char proxy_log[PATH_MAX];
	char builddir[2048];
	enum harness_mode mode;
	int notify_fd;		/* bound datagram socket, or -1 */
	pid_t proxy_pid;	/* 0 when not running / reaped */
	int proxy_pidfd;
	int proxy_status;	/* wait status once reaped */
	pid_t drain_pid;	/* copies systemd-socket-activate's stderr */
	bool ready_seen;	/* READY=1 received */
	struct harness_vm vms[HARNESS_MAX_VMS];
	size_t n_vms;
};

/**
 * harness_suite_setup(), harness_suite_teardown() - an unchecked fixture
 * (tcase_add_unchecked_fixture: runs in the test runner, around all
 * tests): the suite's root directory, $CC_PROXY_IT_ROOT. The teardown
 * prints the log tails of every test directory left (a failed test's)
 * and removes the root ($CC_PROXY_IT_KEEP set: keeps it).
 */
void harness_suite_setup(void);
void harness_suite_teardown(void);

/**
 * harness_suite_new() - a Check suite named @name, or "@name
 * (socket-activated)" when $CC_PROXY_IT_ACTIVATION is set. The name is
 * kept in a static buffer: one such suite per process.
 */
Suite *harness_suite_new(const char *name);

/**
 * harness_tcase_add() - a test case @name added to @s, with the suite's
 * root as unchecked fixture (harness_suite_setup(), ..._teardown()),
 * @setup/@teardown as checked fixture and a timeout of @timeout_s seconds.
 * Return: the test case, for tcase_add_test().
 */
TCase *harness_tcase_add(Suite *s, const char *name, void (*setup)(void),
			 void (*teardown)(void), int timeout_s);

/**
 * harness_run() - run every test of @s (CK_ENV decides the verbosity)
 * and free it. Return: main()'s exit status, EXIT_SUCCESS when none failed.
 */
int harness_run(Suite *s);

/**
 * harness_new() - a harness with its private directory (in the suite's
 * root); the mode comes from $CC_PROXY_IT_ACTIVATION ("socket":
 * HARNESS_ACTIVATED).
 */
struct harness *harness_new(void);

/**
 * harness_free() - kill and reap every child, remove the directory
 * (unless $CC_PROXY_IT_KEEP is set).
 * Return: NULL.
 */
struct harness *harness_free(struct harness *h);

/**
 * harness_vm_start() - start a simulated VM named @name (sockets
 * DIR/NAME.ctl, DIR/NAME.io, DIR/NAME.console) with @dialect and the
 * extra simvm options in @extra (NULL-terminated, may be NULL); wait
 * until it listens.
 */
struct harness_vm *harness_vm_start(struct harness *h, const char *name,
				    enum harness_dialect dialect,
				    const char *const *extra);

/**
 * harness_setup() - what most checked fixtures start with: harness_new(),
 * then (unless @vm_name is NULL) the simulated VM @vm_name with @dialect
 * and @extra (harness_vm_start(), stored in *@vm), then cc-proxy without
 * extra options (harness_proxy_start()). Return: the harness.
 */
struct harness *harness_setup(const char *vm_name, enum harness_dialect dialect,
			      const char *const *extra, struct harness_vm **vm);

/**
 * harness_teardown() - the matching end: cc-proxy must still be alive and
 * serving (harness_proxy_settle()), then harness_free(). Return: NULL.
 */
struct harness *harness_teardown(struct harness *h);

/** harness_vm_stop() - SIGKILL the VM and reap it (bounded). */
void harness_vm_stop(struct harness *h, struct harness_vm *vm);

/**
 * harness_pool_size() - the --helper-pool every cc-proxy of the tests is
 * started with: $CC_PROXY_TEST_POOL, else "0" (the suites count the
 * master's children and pooled helpers exactly; check_pool asks for a
 * pool itself, a later --helper-pool in the extra options wins).
 */
const char *harness_pool_size(void);

/**
 * harness_proxy_start() - start cc-proxy in the harness's mode with
 * `--wait-timeout 2 -v 3 --helper-pool harness_pool_size()` and the
 * options in @extra (may be NULL); wait until it is ready.
 */
void harness_proxy_start(struct harness *h, const char *const *extra);

/**
 * harness_proxy_alive() - assert that cc-proxy has not exited.
 */
void harness_proxy_alive(struct harness *h);

/**
 * harness_proxy_check_exit() - after the proxy was stopped with SIGTERM
 * (wait status @status): fail the test when its log (which also holds the
 * helpers' stderr) carries a sanitizer report, or when a directly started
 * proxy did not exit 0 (LeakSanitizer's exit code, a crash, a hang).
 */
void harness_proxy_check_exit(struct harness *h, int status);

/**
 * harness_proxy_settle() - assert cc-proxy is alive and serving: a new
 * connection's AttachVM for an unknown id gets an error response.
 */
void harness_proxy_settle(struct harness *h);

/**
 * harness_wait_ready() - wait (bounded) for READY=1 on the notify socket
 * unless seen already. Return: true when it came.
 */
bool harness_wait_ready(struct harness *h, int timeout_ms);

/**
 * harness_wait_exit() - wait up to @timeout_ms for @pid (a child, watched
 * by @pidfd) to exit. Return: true with *status set, false on timeout.
 */
bool harness_wait_exit(pid_t pid, int pidfd, int timeout_ms, int *status);

/**
 * harness_wait_file() - wait (inotify on the file's directory, bounded)
 * until the file @path exists and holds @needle on one of its lines.
 * Return: true when it does.
 */
bool harness_wait_file(const char *path, const char *needle, int timeout_ms);

/**
 * harness_wait_log() - wait (harness_wait_file(), bounded) until the
 * proxy's log holds @needle. In socket-activated mode the log reaches the file through
 * a drain process, so a line cc-proxy has written may land a bit later.
 * Return: true when found.
 */
bool harness_wait_log(struct harness *h, const char *needle, int timeout_ms);

/** harness_bin() - the path of the build tree binary @name (static buffer). */
const char *harness_bin(const struct harness *h, const char *name);

/** harness_path() - DIR/@name in a static rotating buffer. */
const char *harness_path(const struct harness *h, const char *name);

/* ---- shared by the harness's own files (harness.c, harness_proxy.c) ---- */

/**
 * harness_notify_open() - unless open already, create and bind the
 * datagram socket h->notify that cc-proxy reports readiness to
 * (harness_wait_ready() reads it). Also for lifecycle_util.c, which
 * starts cc-proxy under valgrind.
 */
void harness_notify_open(struct harness *h);

/**
 * harness_spawn() - fork + exec @argv with stdin /dev/null, stdout and
 * stderr to the file @log (or to @err_fd when >= 0), @pass_fd as fd 3
 * (when >= 0), the environment changes in @envs ("K=V" sets, "K" unsets;
 * NULL-terminated, may be NULL). The child dies with the test
 * (PR_SET_PDEATHSIG) and inherits no other fd. Return: its pid.
 */
pid_t harness_spawn(const char *const *argv, const char *log, int err_fd,
		    int pass_fd, const char *const *envs);

/** harness_pidfd_open() - a close-on-exec pidfd for @pid (asserts). */
int harness_pidfd_open(pid_t pid);

/** harness_rss_kib() - VmRSS of @pid in KiB, from /proc (asserts). */
long harness_rss_kib(pid_t pid);

/**
 * harness_no_asan_quarantine() - in a sanitizer build, make the processes
 * started from now on reuse freed memory at once (ASan's quarantine would
 * count as growth in an RSS bound); every access and leak is still
 * checked. Nothing in a normal build.
 */
void harness_no_asan_quarantine(void);

/** harness_log_tail() - the last 4 KiB of the file @path on stderr. */
void harness_log_tail(const char *path);

/** harness_dump_logs() - the tail of every log of the test, on stderr. */
void harness_dump_logs(const struct harness *h);

/** harness_trace() - a timestamped line on stderr when $CC_PROXY_IT_TRACE is set. */
void harness_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** harness_now_ms() - a monotonic clock in milliseconds, for deadlines. */
long long harness_now_ms(void);

/** harness_left_ms() - milliseconds left until @deadline (>= 0). */
int harness_left_ms(long long deadline);
