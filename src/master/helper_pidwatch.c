/*
 * helper_pidwatch.c - adopted helpers, watched through a pidfd
 * (helper.h; DESIGN.md "Restart and upgrade").
 *
 * A master restarted by the service manager is not the parent of the
 * helpers it adopts: no SIGCHLD, no waitpid. It holds a pidfd on each
 * (opened by adopt.c on the pid the kernel attached to the helper's
 * answer), learns of the exit when the pidfd becomes readable, and
 * signals through it, so a pid is never signalled after it could have
 * been reused. After our own re-exec the helpers are still our children:
 * waitid(P_PIDFD) then also gives the exit status.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "audit.h"
#include "helper.h"
#include "log.h"
#include "master.h"
#include "registry.h"

void helper_pidwatch_close(struct vm *vm)
{
	if (vm->pidfd_ev)
		event_free(vm->pidfd_ev);
	vm->pidfd_ev = NULL;
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	vm->pidfd = -1;
}

/* An adopted helper's pidfd is readable: it exited. Its status is ours
 * to read only if it is our child (adopted across our own exec). */
static void helper_pidwatch_on_exit(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;
	struct master *m = vm->m;
	siginfo_t si = { 0 };
	int status = AUDIT_STATUS_UNKNOWN;

	if (waitid((idtype_t)P_PIDFD, (id_t)vm->pidfd, &si, WEXITED | WNOHANG) == 0 &&
	    si.si_pid != 0)
		status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 :
			 (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
	helper_exited(vm, status);
	master_stop_check(m);
}

int helper_watch_pidfd(struct vm *vm)
{
	vm->pidfd_ev = event_new(vm->m->base, vm->pidfd, EV_READ, helper_pidwatch_on_exit, vm);
	if (!vm->pidfd_ev || event_add(vm->pidfd_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

void helper_pidwatch_kill(struct vm *vm)
{
	if (syscall(SYS_pidfd_send_signal, vm->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		log_error("pidfd_send_signal(%lld, SIGKILL): %s", (long long)vm->pid,
			  strerror(errno));
}
