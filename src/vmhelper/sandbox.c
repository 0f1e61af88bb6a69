/*
 * sandbox.c - the helper's seccomp allowlist.
 *
 * The helper installs this filter after it has dropped its identity and
 * built its event loop, and before it reads a byte from the VM. From then
 * on it may only move bytes between fds it already holds (or receives
 * with SCM_RIGHTS), manage memory and time, and exit. Everything else -
 * opening files, creating or connecting sockets, exec, fork/clone,
 * ptrace - kills the process (SECCOMP_RET_KILL_PROCESS): the master reaps
 * it, reports "seccomp violation" and frees only this VM.
 *
 * The table below is the whole policy. Each row names the code path that
 * needs the call; rows with an argument rule restrict it further. Keep it
 * minimal: a call nobody can name a reason for does not belong here.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include "cleanup.h"
#include "sandbox.h"

enum seccomp_rule {
	RULE_ANY = 0,		/* any arguments */
	RULE_NO_EXEC,		/* arg 2 (prot) without PROT_EXEC */
	RULE_FCNTL_FLAGS,	/* arg 1 in F_GETFL/F_SETFL/F_GETFD/F_SETFD */
	RULE_IOCTL_FIONREAD,	/* arg 1 == FIONREAD */
	RULE_SELF_ONLY,		/* args 0 and 1 (tgid, tid) == our own pid */
	RULE_NO_ADDRESS,	/* arg 4 (dest_addr) == NULL */
};

struct seccomp_entry {
	int nr;
	enum seccomp_rule rule;
	const char *why;
};

#define ALLOW(name, rule, why) { SCMP_SYS(name), rule, why }

static const struct seccomp_entry seccomp_table[] = {
	/* The event loop. */
	ALLOW(epoll_wait, RULE_ANY, "libevent epoll dispatch"),
	ALLOW(epoll_pwait, RULE_ANY, "libevent epoll dispatch (newer glibc)"),
	ALLOW(epoll_ctl, RULE_ANY, "libevent adds/removes fds (shims come and go)"),
	ALLOW(clock_gettime, RULE_ANY, "libevent timeouts (vDSO fallback)"),
	ALLOW(gettimeofday, RULE_ANY, "libevent time cache (vDSO fallback)"),
	ALLOW(rt_sigreturn, RULE_ANY, "return from libevent's signal handler"),
	ALLOW(rt_sigprocmask, RULE_ANY, "glibc signal masking around abort()"),
	ALLOW(restart_syscall, RULE_ANY, "kernel restarts an interrupted wait"),
	/* Moving bytes between fds we already hold. */
	ALLOW(read, RULE_ANY, "bufferevent reads: agent ctl/io, shims, console"),
	ALLOW(readv, RULE_ANY, "evbuffer_read into several chains"),
	ALLOW(write, RULE_ANY, "stderr log records; libevent signal socketpair"),
	ALLOW(writev, RULE_ANY, "evbuffer_write to agent and shims"),
	ALLOW(recvfrom, RULE_ANY, "recv() on sockets"),
	/* send() only, on sockets that are already connected: the master
	 * channel (fdpass_send() without an fd) and journal datagrams
	 * (log.c), both with MSG_NOSIGNAL | MSG_DONTWAIT, which write() has
	 * no way to ask for. With an address, the journal fd (a datagram
	 * socket) could reach any datagram socket the helper can name; so
	 * sendto with an address, and sendmsg (which could also carry fds
	 * out with SCM_RIGHTS), are not allowed at all. */
	ALLOW(sendto, RULE_NO_ADDRESS, "send() on connected sockets"),
	ALLOW(recvmsg, RULE_ANY, "master channel; receiving shim fds (SCM_RIGHTS)"),
	ALLOW(shutdown, RULE_ANY, "closing a shim connection for writing"),
	ALLOW(close, RULE_ANY, "closing shim connections and channels"),
	ALLOW(ioctl, RULE_IOCTL_FIONREAD, "evbuffer_read asks how much is readable"),
	ALLOW(fcntl, RULE_FCNTL_FLAGS, "make received shim fds non-blocking"),
	/* Memory. */
	ALLOW(brk, RULE_ANY, "malloc"),
	ALLOW(mmap, RULE_NO_EXEC, "malloc of large blocks; never executable"),
	ALLOW(munmap, RULE_ANY, "free of large blocks"),
	ALLOW(mremap, RULE_ANY, "realloc of large blocks"),
	ALLOW(mprotect, RULE_NO_EXEC, "malloc arenas; never executable"),
	ALLOW(madvise, RULE_ANY, "malloc trimming"),
	/* Identity (for logs) and the end. */
	ALLOW(getpid, RULE_ANY, "log records carry the pid"),
	ALLOW(gettid, RULE_ANY, "abort() on a broken invariant"),
	/* Only at ourselves: helpers of different VMs may share a uid (and
	 * without root, the master's), so an unrestricted tgkill would let
	 * one helper kill the others. The helper is single-threaded: its one
	 * thread's tid is its pid. kill and tkill are not allowed at all. */
	ALLOW(tgkill, RULE_SELF_ONLY, "abort() raises SIGABRT on itself"),
	ALLOW(exit, RULE_ANY, "exit"),
	ALLOW(exit_group, RULE_ANY, "exit"),
	ALLOW(futex, RULE_ANY, "glibc internal locks"),
#ifdef CC_PROXY_SANITIZERS
	/* Sanitizer runtimes only (configure --enable-sanitizers): report
	 * printing and shadow memory management. Never in a normal build. */
	ALLOW(sigaltstack, RULE_ANY, "sanitizer runtime: alternate signal stack"),
	ALLOW(sched_yield, RULE_ANY, "sanitizer runtime: spin locks"),
	ALLOW(prctl, RULE_ANY, "sanitizer runtime: thread state"),
	ALLOW(rt_sigaction, RULE_ANY, "sanitizer runtime: its handlers"),
#endif
};

static int seccomp_add(scmp_filter_ctx ctx, const struct seccomp_entry *e)
{
	switch (e->rule) {
	case RULE_ANY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, e->nr, 0);
	case RULE_NO_EXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, e->nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case RULE_SELF_ONLY: {
		/* Known now: the filter is installed by the process it
		 * confines, which can neither fork nor exec afterwards. */
		scmp_datum_t self = (scmp_datum_t)getpid();

		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, e->nr, 2,
					SCMP_A0(SCMP_CMP_EQ, self),
					SCMP_A1(SCMP_CMP_EQ, self));
	}
	case RULE_NO_ADDRESS:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, e->nr, 1,
					SCMP_A4(SCMP_CMP_EQ, 0));
	case RULE_IOCTL_FIONREAD:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, e->nr, 1,
					SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	case RULE_FCNTL_FLAGS: {
		static const int cmds[] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD };
		for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
			int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, e->nr, 1,
						 SCMP_A1(SCMP_CMP_EQ, cmds[i]));
			if (r < 0)
				return r;
		}
		return 0;
	}
	}
	return -EINVAL;
}

/* The filter built from the table, not loaded yet. */
static scmp_filter_ctx sandbox_build(int *err)
{
	scmp_filter_ctx ctx;
	int r;

	/* Default: kill the whole process. The filter is for the native
	 * architecture only (libseccomp's default context): a syscall made
	 * through another ABI (e.g. int 0x80 on x86_64) is killed too. */
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(seccomp_table); i++) {
		r = seccomp_add(ctx, &seccomp_table[i]);
		if (r < 0) {
			seccomp_release(ctx);
			*err = r;
			return NULL;
		}
	}
	return ctx;
}

int sandbox_prepare(struct sandbox_prog *p)
{
	scmp_filter_ctx ctx;
	int pipefd[2], r = 0;
	ssize_t n;

	p->len = 0;
	ctx = sandbox_build(&r);
	if (!ctx)
		return r;
	/* libseccomp 2.5 exports BPF only to an fd: a pipe holds it (the
	 * program is a few KiB, below a pipe's capacity). */
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		seccomp_release(ctx);
		return r;
	}
	r = seccomp_export_bpf(ctx, pipefd[1]);
	seccomp_release(ctx);
	close(pipefd[1]);
	if (r == 0) {
		n = read(pipefd[0], p->insns, sizeof(p->insns));
		if (n <= 0 || n % (ssize_t)sizeof(p->insns[0]) != 0)
			r = n < 0 ? -errno : -EIO;
		else if (read(pipefd[0], &p->insns[0], 1) != 0)
			r = -EFBIG;	/* longer than we have room for */
		else
			p->len = (size_t)n / sizeof(p->insns[0]);
	}
	close(pipefd[0]);
	return r;
}

int sandbox_load(const struct sandbox_prog *p)
{
	struct sock_fprog prog = { .len = (unsigned short)p->len,
				   .filter = (struct sock_filter *)p->insns };

	if (p->len == 0)
		return -EINVAL;
	/* What seccomp_load() does with the same program: no_new_privs is
	 * set already (confine_no_new_privs()). */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return -errno;
	return 0;
}

int sandbox_install(void)
{
	scmp_filter_ctx ctx;
	int r = 0;

	ctx = sandbox_build(&r);
	if (!ctx)
		return r;
	/* Requires no_new_privs (confine_no_new_privs()) unless privileged;
	 * libseccomp sets it itself by default, which is harmless. */
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}
