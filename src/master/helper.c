/*
 * helper.c - the master's side of each VM's helper (helper.h).
 *
 * The helper is trusted less than the master: it parses bytes a VM
 * controls. ipc.c checks every message against its table (direction,
 * sizes, no fd); here each type must also make sense for the VM's state
 * (READY once, an answer only to a request in flight, SHIM_GONE only for
 * a token of this VM). Anything else is a protocol violation: that helper
 * is SIGKILLed and its VM freed when reaped - the master goes on serving
 * every other VM (STYLE.md section 1, unlike OpenBSD's fatal()).
 *
 * Timer: while VM_STARTING it bounds the wait for READY (--wait-timeout);
 * afterwards it bounds how long a helper that closed its channel or
 * reported VM_LOST may take to exit (HELPER_EXIT_GRACE_MS), then SIGKILL.
 *
 * A VM is freed only by helper_reap(), after waitpid() said its helper is
 * gone, so a pid is never signalled after it could have been reused.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "adopt.h"
#include "audit.h"
#include "cleanup.h"
#include "client.h"
#include "command.h"
#include "fdstore.h"
#include "helper.h"
#include "log.h"
#include "master.h"
#include "payload.h"
#include "pool.h"
#include "registry.h"
#include "spawn.h"
#include "status.h"
#include "watchdog.h"

#define HELPER_FIELDS(vm) LOG_FIELDS({ "CC_CONTAINER_ID", (vm)->container_id })

static void helper_kill(struct vm *vm, const char *why)
{
	if (vm->pid <= 0 || vm->killed)
		return;
	audit_helper_killed(vm->container_id, vm->pid, why);
	if (vm->pidfd >= 0) {
		helper_pidwatch_kill(vm);	/* adopted: maybe not our child */
	} else if (kill(vm->pid, SIGKILL) < 0) {
		/* Our child, not yet reaped: the pid cannot have been reused. */
		log_error("kill(%lld, SIGKILL): %s", (long long)vm->pid, strerror(errno));
	}
	vm->killed = true;
}

static void helper_arm_grace(struct vm *vm)
{
	const struct timeval grace = { HELPER_EXIT_GRACE_MS / 1000,
				       (HELPER_EXIT_GRACE_MS % 1000) * 1000 };

	if (vm->pid > 0 && !vm->killed)
		evtimer_add(vm->timer, &grace);	/* replaces any READY timeout */
}

/*
 * The VM is over (start failed, VM lost, helper misbehaved): its id is
 * free again, a pending RegisterVM fails with @reason, and the helper is
 * killed (@kill_it) or given the grace period to exit by itself.
 */
/* Every path that takes a VM out of the namespace also takes its helper
 * out of the fd store: its id may be registered again at once, under the
 * same fd name; the ending helper drains, then exits. */
static void helper_end(struct vm *vm, const char *reason, bool kill_it)
{
	struct client *reg = vm->registrar;
	char msg[512];

	registry_leave_namespace(vm, reason);
	fdstore_remove(vm);
	pool_refill(vm->m);	/* a registration that failed is over too */
	if (reg) {
		vm->registrar = NULL;
		snprintf(msg, sizeof(msg), "cannot register VM %s: %s", vm->container_id,
			 reason);
		client_finish_error(reg, msg);
	}
	if (kill_it)
		helper_kill(vm, reason);
	else
		helper_arm_grace(vm);
}

void helper_fail(struct vm *vm, const char *reason)
{
	log_submit(LOG_ERR, 0, NULL, HELPER_FIELDS(vm), "VM %s: %s", vm->container_id,
		   reason);
	vm->ch = ipc_channel_free(vm->ch);	/* safe inside its callbacks */
	helper_end(vm, reason, true);
}

void helper_violation(struct vm *vm, const char *why)
{
	char reason[256];

	snprintf(reason, sizeof(reason), "protocol violation by its helper: %s", why);
	helper_fail(vm, reason);
}

/* ---- messages from the helper ----------------------------------------- */

static void helper_on_ready(struct vm *vm, const struct ipc_view *v)
{
	struct client *reg = vm->registrar;

	if (vm->ready_seen) {
		helper_violation(vm, "a second READY");
		return;
	}
	vm->ready_seen = true;
	if (vm->state != VM_STARTING)
		return;		/* ending already: nobody waits for it */
	evtimer_del(vm->timer);
	vm->state = VM_RUNNING;
	log_submit(LOG_INFO, 1, NULL, HELPER_FIELDS(vm), "VM %s: the agent is ready",
		   vm->container_id);
	/* helper_registrar_gone() ended the VM if the registrar left, so
	 * there is one here; check all the same. */
	vm->registrar = NULL;
	if (!reg) {
		helper_end(vm, "nobody waits for it", true);
		return;
	}
	if (command_answer_tokens(reg, vm, vm->reg_streams, FRAME_CMD_REGISTER_VM, true) < 0) {
		/* Answered with an error already: nothing stays registered. */
		helper_end(vm, "cannot allocate its tokens", true);
		return;
	}
	client_attach(reg, vm);
	audit_vm_registered(vm->container_id, vm->pid, reg->pid);
	watchdog_start(vm);
	pool_refill(vm->m);	/* answered: the next idle helper may start */
	/* Ready: from now on it survives a restart of the master. */
	fdstore_add(vm);
}

static void helper_on_answer(struct vm *vm, const struct ipc_view *v)
{
	const struct ipc_hyper_answer *a = v->fixed;
	struct vm_request *req;
	char *text;

	TAILQ_FOREACH(req, &vm->requests, entry)
		if (req->id == v->id)
			break;
	if (!req || a->error > 1) {
		helper_violation(vm, req ? "invalid answer flag" : "answer to no request");
		return;
	}
	TAILQ_REMOVE(&vm->requests, req, entry);
	if (req->client && a->error) {
		text = v->var_len ? strndup((const char *)v->var, v->var_len) : NULL;
		client_finish_error(req->client, text && *text ? text : "the agent returned an error");
		free(text);
	} else if (req->client) {
		/* The agent's ACK payload, byte for byte (maybe empty). */
		client_finish(req->client, false, v->var, v->var_len);
	}
	free(req);
}

static void helper_on_shim_gone(struct vm *vm, const struct ipc_view *v)
{
	const struct ipc_shim_gone *g = v->fixed;
	struct vm_token *t = registry_token_by_io_base(vm, g->io_base);
	char prefix[TOKEN_PREFIX_LEN + 1];

	if (!t || g->released > 1) {
		helper_violation(vm, !t ? "SHIM_GONE for an unknown ioBase" :
				 "invalid released flag");
		return;
	}
	memcpy(prefix, t->prefix, sizeof(prefix));	/* t may be freed below */
	if (registry_token_shim_gone(t, g->released) < 0) {
		helper_violation(vm, t->state == TOKEN_HANDING ?
				 "SHIM_GONE for a token still being handed over" :
				 "SHIM_GONE for a token without a shim");
		return;
	}
	audit_shim_lost(vm->container_id, prefix, g->released);
}

static void helper_on_vm_lost(struct vm *vm, const struct ipc_view *v)
{
	char reason[256];

	if (vm->lost)
		return;		/* the helper says it once; a repeat is harmless */
	vm->lost = true;
	snprintf(reason, sizeof(reason), "VM lost: %.*s", (int)v->var_len,
		 v->var_len ? (const char *)v->var : "no reason given");
	log_submit(vm->in_namespace ? LOG_WARNING : LOG_INFO, 0, NULL, HELPER_FIELDS(vm),
		   "VM %s: %s", vm->container_id, reason);
	/* Before READY the VM was never reachable: the registration fails
	 * and the helper goes now. After, it exits by itself. */
	helper_end(vm, reason, vm->state == VM_STARTING);
}

/* Counters for cc-proxyctl status: only ever in answer to IPC_M_STATS. */
static void helper_on_stats(struct vm *vm, const struct ipc_view *v)
{
	if (vm->stats_pending == 0) {
		helper_violation(vm, "statistics nobody asked for");
		return;
	}
	vm->stats_pending--;
	status_on_stats(vm, v);
}

/* Helper -> master types; ipc.c has checked direction, sizes and fds. */
static const struct {
	uint32_t type;
	void (*fn)(struct vm *vm, const struct ipc_view *v);
} helper_handlers[] = {
	{ IPC_H_READY, helper_on_ready },
	{ IPC_H_HYPER_ANSWER, helper_on_answer },
	{ IPC_H_SHIM_GONE, helper_on_shim_gone },
	{ IPC_H_VM_LOST, helper_on_vm_lost },
	{ IPC_H_STATS, helper_on_stats },
	{ IPC_H_PONG, watchdog_on_pong },
};

static void helper_on_message(struct ipc_channel *ch, const struct ipc_view *v, void *ctx)
{
	struct vm *vm = ctx;

	if (v->fd >= 0)
		close(v->fd);	/* the table forbids it; never keep one */
	if (vm->state == VM_ADOPTING) {
		adopt_on_message(vm, v);	/* its answer to IPC_M_ADOPT */
		return;
	}
	for (size_t i = 0; i < sizeof(helper_handlers) / sizeof(helper_handlers[0]); i++)
		if (helper_handlers[i].type == v->type) {
			helper_handlers[i].fn(vm, v);
			return;
		}
	helper_violation(vm, ipc_type_name(v->type));
}

static void helper_on_close(struct ipc_channel *ch, int err, const char *why, void *ctx)
{
	struct vm *vm = ctx;
	char why_adopt[192];

	if (vm->state == VM_ADOPTING) {
		snprintf(why_adopt, sizeof(why_adopt), "%s", err == 0 ?
			 "its channel closed before it answered (an ended helper, or an "
			 "older one that does not know IPC_M_ADOPT)" : why ? why : strerror(-err));
		adopt_refuse(vm, why_adopt);
		return;
	}
	if (err != 0) {
		/* A malformed message or a broken socket: the helper cannot
		 * be trusted to be in sync with us any more. */
		helper_violation(vm, why ? why : strerror(-err));
		return;
	}
	vm->ch = ipc_channel_free(ch);
	log_submit(LOG_INFO, 1, NULL, HELPER_FIELDS(vm),
		   "VM %s: the helper closed its channel", vm->container_id);
	/* Starting: it is exiting, and its status will tell the registrar
	 * why; the READY timeout still bounds the wait. */
	if (vm->state != VM_STARTING)
		helper_end(vm, "its helper closed its channel", false);
}

static void helper_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;
	char reason[128];

	if (vm->state == VM_ADOPTING) {
		adopt_timeout(vm);
		return;
	}
	if (vm->state == VM_STARTING && vm->ch) {
		snprintf(reason, sizeof(reason), "no READY from the agent within %.3g s",
			 vm->m->cfg.wait_timeout_ms / 1000.0);
		helper_end(vm, reason, true);
		return;
	}
	if (vm->state == VM_STARTING) {
		helper_end(vm, "its helper closed its channel and did not exit", true);
		return;
	}
	helper_kill(vm, "it did not exit after its channel closed");
}

/* ---- requests from the master ----------------------------------------- */

/*
 * Give the VM's fds and identity to an idle helper of the pool: one
 * IPC_M_POOL_FD per fd (at most one fd per message), then IPC_M_ASSIGN.
 * @fds: consumed in every case. Return: 0 or -errno (the VM is ended).
 */
static int helper_assign(struct vm *vm, struct spawn_fds *fds, char *err, size_t len)
{
	static const int targets[] = { IPC_FD_CTL, IPC_FD_IO, IPC_FD_CONSOLE };
	struct ipc_assign a = { .id_len = (uint32_t)strlen(vm->container_id) };
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		struct ipc_pool_fd pf = { .target = (uint32_t)targets[i] };
		int fd = fds->fd[targets[i]];

		fds->fd[targets[i]] = -1;
		if (fd < 0)
			continue;
		if (targets[i] == IPC_FD_CONSOLE)
			a.flags |= IPC_ASSIGN_F_CONSOLE;
		if (r == 0)
			r = helper_send(vm, IPC_M_POOL_FD, 0, &pf, sizeof(pf), NULL, 0, fd);
		else
			close(fd);
	}
	if (r == 0)
		r = helper_send(vm, IPC_M_ASSIGN, 0, &a, sizeof(a), vm->container_id, a.id_len,
				-1);
	if (r < 0) {
		snprintf(err, len, "cannot hand the VM to an idle helper: %s", strerror(-r));
		helper_end(vm, err, true);
	}
	return r;
}

int helper_start(struct vm *vm, const struct payload_register_vm *p,
		 char *err, size_t len)
{
	struct master *m = vm->m;
	struct ipc_channel *pooled = NULL;
	struct spawn_fds fds;
	int sv[2] = { -1, -1 };
	pid_t pid;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(fds.fd); i++)
		fds.fd[i] = -1;
	r = spawn_connect(p->ctl_serial, &fds.fd[IPC_FD_CTL]);
	if (r < 0) {
		snprintf(err, len, "cannot connect to ctlSerial %s: %s", p->ctl_serial,
			 spawn_connect_strerror(r));
		goto fail;
	}
	r = spawn_connect(p->io_serial, &fds.fd[IPC_FD_IO]);
	if (r < 0) {
		snprintf(err, len, "cannot connect to ioSerial %s: %s", p->io_serial,
			 spawn_connect_strerror(r));
		goto fail;
	}
	/* The console is read only to be logged at level 3; without it the
	 * VM works all the same. */
	if (p->console && m->cfg.log_level >= 3) {
		r = spawn_connect(p->console, &fds.fd[IPC_FD_CONSOLE]);
		if (r < 0)
			log_submit(LOG_WARNING, 0, NULL, HELPER_FIELDS(vm),
				   "cannot connect to the console %s: %s", p->console, strerror(-r));
	}
	vm->timer = evtimer_new(m->base, helper_on_timer, vm);
	if (!vm->timer) {
		r = -ENOMEM;
		snprintf(err, len, "out of memory");
		goto fail;
	}
	/* An idle helper of the pool has its channel and journal socket
	 * already; without one, a new helper gets them. */
	if (!pool_take(m, &pid, &pooled)) {
		if (m->cfg.log_journal) {
			r = spawn_journal_socket(&fds.fd[IPC_FD_JOURNAL]);
			if (r < 0)
				log_submit(LOG_WARNING, 0, NULL, HELPER_FIELDS(vm),
					   "cannot connect to journald: the helper logs to "
					   "stderr: %s", strerror(-r));
		}
		r = ipc_socketpair(sv);
		if (r < 0) {
			snprintf(err, len, "cannot create the helper's channel: %s",
				 spawn_strerror(r));
			goto fail;
		}
		fds.fd[IPC_FD_CHANNEL] = sv[1];
		r = spawn_helper(&m->cfg, vm->container_id, &fds, &pid);
		if (r < 0) {
			snprintf(err, len, "cannot start the helper %s: %s", m->cfg.helper_path,
				 spawn_strerror(r));
			goto fail;
		}
	}
	if (fds.fd[IPC_FD_CHANNEL] >= 0)
		close(fds.fd[IPC_FD_CHANNEL]);	/* the child has it now */
	fds.fd[IPC_FD_CHANNEL] = -1;
	if (fds.fd[IPC_FD_JOURNAL] >= 0)
		close(fds.fd[IPC_FD_JOURNAL]);
	fds.fd[IPC_FD_JOURNAL] = -1;
	registry_set_pid(vm, pid);
	vm->helper_uid = m->cfg.helper_uid;
	audit_helper_started(vm->container_id, pid, vm->helper_uid);

	/* From here on the VM lives until the reaper frees it. */
	if (pooled) {
		if (sv[0] >= 0)
			close(sv[0]);
		vm->ch = pooled;
		ipc_channel_set_handlers(vm->ch, helper_on_message, helper_on_close, vm);
		r = helper_assign(vm, &fds, err, len);	/* consumes fds */
		if (r < 0)
			return r;
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(fds.fd); i++)
			if (fds.fd[i] >= 0)
				close(fds.fd[i]);	/* the child has them now */
		r = ipc_channel_new(&vm->ch, m->base, sv[0], IPC_DIR_TO_MASTER,
				    helper_on_message, helper_on_close, vm);	/* consumes sv[0] */
		if (r < 0) {
			snprintf(err, len, "cannot set up the helper's channel: %s", strerror(-r));
			helper_end(vm, err, true);
			return r;
		}
	}
	evtimer_add(vm->timer, &m->cfg.wait_timeout);
	return 0;
fail:
	for (size_t i = 0; i < ARRAY_SIZE(fds.fd); i++)
		if (fds.fd[i] >= 0)
			close(fds.fd[i]);
	if (sv[0] >= 0)
		close(sv[0]);
	if (vm->timer)
		event_free(vm->timer);
	registry_vm_free(vm);
	return r;
}

void helper_registrar_gone(struct vm *vm)
{
	vm->registrar = NULL;	/* being freed: no answer to send */
	helper_end(vm, "the registering client left", true);
}

/* ---- the end ---------------------------------------------------------- */

void helper_exited(struct vm *vm, int status)
{
	char what[128], msg[512];

	status_vm_gone(vm);	/* no answer will come: do not wait for one */
	audit_helper_stopped(vm->container_id, vm->pid, status, what, sizeof(what));
	registry_set_pid(vm, 0);
	if (vm->end_reason)
		snprintf(msg, sizeof(msg), "VM %s helper exited: %s (%s)", vm->container_id,
			 what, vm->end_reason);
	else
		snprintf(msg, sizeof(msg), "VM %s helper exited: %s", vm->container_id, what);
	registry_leave_namespace(vm, what);
	fdstore_remove(vm);
	/* Every waiting client gets its error, every attached one lets go. */
	vm->registrar = NULL;
	client_vm_gone(vm->m, vm, msg);
	helper_forget(vm);
}

void helper_forget(struct vm *vm)
{
	vm->ch = ipc_channel_free(vm->ch);
	if (vm->timer)
		event_free(vm->timer);
	vm->timer = NULL;
	helper_pidwatch_close(vm);
	free(vm->adopt);
	vm->adopt = NULL;
	registry_vm_free(vm);
}

int helper_channel_adopt(struct vm *vm, int fd, uint64_t nonce)
{
	struct master *m = vm->m;
	int r;

	vm->timer = evtimer_new(m->base, helper_on_timer, vm);
	if (!vm->timer) {
		close(fd);
		return -ENOMEM;
	}
	r = ipc_channel_adopt(&vm->ch, m->base, fd, nonce, helper_on_message,
			      helper_on_close, vm);	/* consumes fd */
	if (r < 0)
		return r;
	evtimer_add(vm->timer, &m->cfg.wait_timeout);
	return 0;
}

void helper_reap(struct master *m)
{
	struct vm *vm;
	int status;
	pid_t pid;

	/* One SIGCHLD may stand for several children. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		vm = registry_find_pid(m, pid);
		if (vm)
			helper_exited(vm, status);
		else if (!pool_reaped(m, pid, status))
			log_debug("reaped unknown child %lld", (long long)pid);
	}
	master_stop_check(m);
}

void helper_shutdown_all(struct master *m)
{
	struct ipc_empty e = { 0 };
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry)
		if (vm->ch && ipc_channel_send(vm->ch, IPC_M_SHUTDOWN, 0, &e, sizeof(e),
					       NULL, 0, -1) < 0)
			helper_kill(vm, "cannot send it the shutdown");
}

void helper_kill_all(struct master *m)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry)
		helper_kill(vm, "the proxy is stopping");
}
