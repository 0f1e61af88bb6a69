/*
 * adopt.c - taking running helpers back after a restart or an upgrade of
 * the master (adopt.h; DESIGN.md "Restart and upgrade").
 *
 * Each "vm-*" fd handed over at start (the service manager's fd store,
 * or our own re-exec) is the master's end of a ready helper's channel.
 * It becomes a VM in state VM_ADOPTING - not in the namespace, no id of
 * its own yet - with a channel that discards what the helper sent before
 * it heard of us (ipc_channel_adopt()), and gets IPC_M_ADOPT with a fresh
 * random nonce. The helper answers with IPC_H_ADOPTED (its container id,
 * token count) and IPC_H_ADOPT_TOKENS; the registry is rebuilt from that
 * alone. Every byte is checked as from an attacker:
 *   - the pid is the kernel's (SCM_CREDENTIALS of the answer; the helper's
 *     seccomp filter forbids sendmsg, and only a privileged sender could
 *     claim another pid anyway), its uid must be the helpers' uid, and a
 *     pidfd is opened on it while the helper still holds its end of the
 *     channel (so the pid cannot have been reused);
 *   - the container id must be a valid one and free in the namespace;
 *   - each token must have a token's shape, an odd ioBase >= 3 not yet
 *     used in this VM, and be unknown to every other VM; the count must
 *     match what IPC_H_ADOPTED announced, and the nonce ours.
 * Anything else refuses that helper alone: a record, its fd removed from
 * the store, SIGKILL through its pidfd, its VM freed when it is gone.
 * A helper that does not answer within --wait-timeout is refused too (a
 * stale answer for an earlier master, with another nonce, is discarded:
 * it cannot be told from a lie, and the timeout bounds both).
 *
 * A restarted master is not the helpers' parent: it watches each pidfd
 * (readable = exited) instead of SIGCHLD, and signals with
 * pidfd_send_signal(). After a re-exec (same pid) the helpers are still
 * our children (waitid(P_PIDFD) says so) and SIGCHLD reaps them as usual.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "adopt.h"
#include "audit.h"
#include "fdstore.h"
#include "helper.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "payload.h"
#include "registry.h"
#include "token.h"
#include "watchdog.h"

struct adopt_state {
	uint64_t nonce;
	uint32_t tokens_left;	/* announced by IPC_H_ADOPTED, not yet received */
	bool answered;		/* IPC_H_ADOPTED arrived */
	bool unregistered;	/* the helper drains after UnregisterVM */
};

#define ADOPT_FIELDS(vm) LOG_FIELDS({ "CC_CONTAINER_ID", (vm)->container_id })

/* One more helper settled (adopted or lost): the restart record once
 * all are. */
static void adopt_settled(struct master *m, bool ok, const char *label, const char *why)
{
	size_t used = strlen(m->adopt_why);

	if (ok) {
		m->adopted++;
	} else {
		m->adopt_lost++;
		if (used + 4 < sizeof(m->adopt_why))
			snprintf(m->adopt_why + used, sizeof(m->adopt_why) - used, "%s%s: %s",
				 used ? "; " : "", label, why);
	}
	if (m->adopt_pending > 0 && --m->adopt_pending == 0)
		audit_master_restarted(m->adopted, m->adopt_lost,
				       m->adopt_lost ? m->adopt_why : NULL);
}

void adopt_refuse(struct vm *vm, const char *why)
{
	struct master *m = vm->m;
	char reason[384];
	char label[FDSTORE_NAME_MAX + 1];

	snprintf(label, sizeof(label), "%s", vm->store_name ? vm->store_name : vm->container_id);
	snprintf(reason, sizeof(reason), "not adopted: %s", why);
	if (vm->adopt) {
		free(vm->adopt);
		vm->adopt = NULL;
		adopt_settled(m, false, label, why);
	}
	/* Out of the store first: it must not come back after a restart. */
	fdstore_remove(vm);
	if (vm->pidfd >= 0) {
		/* Known by its pidfd: killed, and freed once it is gone. */
		helper_fail(vm, reason);
		return;
	}
	/* No pid of its own word: closing our end is all we can do (a
	 * helper behind it sees EOF and ends within its grace period). */
	log_submit(LOG_ERR, 0, NULL, ADOPT_FIELDS(vm), "helper channel %s: %s", label, reason);
	helper_forget(vm);
}

/* Watch @vm's helper through a pidfd on @pid; false (why set) if it is
 * not the process behind the channel any more. */
static bool adopt_pidfd(struct vm *vm, pid_t pid, const char **why)
{
	struct pollfd p = { .fd = ipc_channel_fd(vm->ch), .events = 0 };
	siginfo_t si = { 0 };
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0) {
		*why = "its process is gone (pidfd_open)";
		return false;
	}
	/* The sender held its end when it sent; if it still does now, the
	 * pidfd opened in between is that process, not a reused pid. */
	if (p.fd < 0 || poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR))) {
		close(fd);
		*why = "its process ended while being adopted";
		return false;
	}
	vm->pidfd = fd;
	/* Our child across our own re-exec: SIGCHLD and waitpid still work. */
	vm->child = waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
	if (vm->child)
		registry_set_pid(vm, pid);
	else
		vm->pid = pid;	/* not in the pid index: waitpid never names it */
	if (helper_watch_pidfd(vm) < 0) {
		*why = "out of memory";
		return false;
	}
	return true;
}

/* A container id as RegisterVM would take it. */
static bool adopt_id_ok(const uint8_t *id, size_t len)
{
	if (len == 0 || len > PAYLOAD_CONTAINER_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (id[i] < ' ' || id[i] == 0x7f)
			return false;
	return true;
}

static void adopt_complete(struct vm *vm)
{
	struct master *m = vm->m;
	bool unregistered = vm->adopt->unregistered;
	char label[FDSTORE_NAME_MAX + 1];

	snprintf(label, sizeof(label), "%s", vm->store_name ? vm->store_name : "");
	free(vm->adopt);
	vm->adopt = NULL;
	ipc_channel_adopted(vm->ch);
	evtimer_del(vm->timer);
	vm->state = VM_RUNNING;
	vm->ready_seen = true;
	audit_vm_adopted(vm->container_id, vm->pid, vm->n_tokens, vm->n_claimed);
	watchdog_start(vm);
	if (unregistered) {
		vm->unregistered = true;
		registry_leave_namespace(vm, "unregistered");
		fdstore_remove(vm);	/* not stored again */
	} else {
		/* Stored again under its own name (the manager keeps one copy). */
		fdstore_add(vm);
	}
	/* Last: once the restart record is out, the adoption is over. */
	adopt_settled(m, true, label, NULL);
}

static void adopt_on_adopted(struct vm *vm, const struct ipc_view *v)
{
	const struct ipc_adopted *a = v->fixed;
	const char *why = NULL;
	char id[PAYLOAD_CONTAINER_ID_MAX + 1];
	int r;

	if (vm->adopt->answered) {
		adopt_refuse(vm, "a second adoption answer");
		return;
	}
	vm->adopt->answered = true;
	/* The channel checked the version and the nonce before this. */
	if (v->sender_pid <= 0) {
		adopt_refuse(vm, "its answer carries no credentials");
		return;
	}
	if (v->sender_uid != (vm->m->cfg.as_root ? vm->m->cfg.helper_uid : getuid())) {
		adopt_refuse(vm, "its answer comes from another uid than the helpers'");
		return;
	}
	if (!adopt_pidfd(vm, v->sender_pid, &why)) {
		adopt_refuse(vm, why);
		return;
	}
	if (!adopt_id_ok(v->var, v->var_len)) {
		adopt_refuse(vm, "invalid container id");
		return;
	}
	if (a->n_tokens > IPC_ADOPT_TOKENS_MAX || a->n_tokens > REGISTRY_VM_TOKENS_MAX) {
		adopt_refuse(vm, "too many tokens");
		return;
	}
	memcpy(id, v->var, v->var_len);
	id[v->var_len] = '\0';
	r = registry_enter_namespace(vm, id);
	if (r < 0) {
		adopt_refuse(vm, r == -EEXIST ? "its container id is taken" : "out of memory");
		return;
	}
	vm->helper_uid = v->sender_uid;
	vm->adopt->tokens_left = a->n_tokens;
	vm->adopt->unregistered = a->flags & IPC_ADOPTED_F_UNREGISTERED;
	log_submit(LOG_INFO, 1, NULL, ADOPT_FIELDS(vm),
		   "VM %s: helper pid %lld answers the adoption with %u tokens", id,
		   (long long)vm->pid, a->n_tokens);
	if (a->n_tokens == 0)
		adopt_complete(vm);
}

/* One reported token: checked, then in the registry. NULL or why not. */
static const char *adopt_token(struct vm *vm, const struct ipc_adopt_token *e)
{
	char text[TOKEN_STR_LEN + 1];
	int r;

	memcpy(text, e->token, TOKEN_STR_LEN);
	text[TOKEN_STR_LEN] = '\0';
	if (!token_is_valid(text))
		return "a malformed token";
	if (e->io_base < REGISTRY_IO_BASE_FIRST || e->io_base % 2 == 0 ||
	    e->io_base > UINT64_MAX / 2 || (e->flags & ~(uint32_t)(IPC_ADOPT_TOKEN_F_SHIM |
							       IPC_ADOPT_TOKEN_F_RUNNING)))
		return "a token with an invalid ioBase or flags";
	if (registry_token_find(vm->m, text))
		return "a token already known to another VM (or twice)";
	r = registry_token_adopt(vm, text, e->io_base, e->flags & IPC_ADOPT_TOKEN_F_SHIM);
	explicit_bzero(text, sizeof(text));
	if (r == -EEXIST)
		return "two tokens on one ioBase";
	return r < 0 ? "too many tokens" : NULL;
}

static void adopt_on_tokens(struct vm *vm, const struct ipc_view *v)
{
	const struct ipc_adopt_tokens *t = v->fixed;
	struct ipc_adopt_token e;
	size_t n = v->var_len / sizeof(e);

	if (!vm->adopt->answered || t->nonce != vm->adopt->nonce) {
		adopt_refuse(vm, !vm->adopt->answered ? "tokens before the adoption answer" :
			     "tokens with another nonce");
		return;
	}
	if (v->var_len % sizeof(e) != 0 || n == 0 || n > vm->adopt->tokens_left) {
		adopt_refuse(vm, "a token list that does not match its count");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *why;

		memcpy(&e, v->var + i * sizeof(e), sizeof(e));	/* aligned copy */
		why = adopt_token(vm, &e);
		explicit_bzero(&e, sizeof(e));
		if (why) {
			adopt_refuse(vm, why);
			return;
		}
	}
	vm->adopt->tokens_left -= (uint32_t)n;
	if (vm->adopt->tokens_left == 0)
		adopt_complete(vm);
}

void adopt_on_message(struct vm *vm, const struct ipc_view *v)
{
	if (v->type == IPC_H_ADOPTED)
		adopt_on_adopted(vm, v);
	else if (v->type == IPC_H_ADOPT_TOKENS)
		adopt_on_tokens(vm, v);
	else
		adopt_refuse(vm, ipc_type_name(v->type));	/* within its answer */
}

void adopt_timeout(struct vm *vm)
{
	char why[96];

	snprintf(why, sizeof(why), "no adoption answer within %.3g s",
		 vm->m->cfg.wait_timeout_ms / 1000.0);
	adopt_refuse(vm, why);
}

/* One "vm-*" fd handed over at start. */
static void adopt_take(struct master *m, int fd, const char *name)
{
	struct ipc_adopt a = { .version = IPC_VERSION };
	struct vm *vm = NULL;
	int r;

	/* One extra count until adopt_started(): the record must not go
	 * out before every passed fd has been looked at. */
	if (m->adopt_total++ == 0)
		m->adopt_pending++;
	m->adopt_pending++;
	if (sd_is_socket(fd, AF_UNIX, SOCK_SEQPACKET, -1) <= 0) {
		log_submit(LOG_ERR, 0, NULL, NULL, "passed fd %s is not a helper channel: closed",
			   name);
		close(fd);
		fdstore_remove_name(m, name);
		adopt_settled(m, false, name, "not a helper channel");
		return;
	}
	if (getrandom(&a.nonce, sizeof(a.nonce), 0) != sizeof(a.nonce) ||
	    registry_vm_new_adopting(m, name, &vm) < 0 ||
	    !(vm->adopt = calloc(1, sizeof(*vm->adopt))) ||
	    !(vm->store_name = strdup(name))) {
		close(fd);
		if (vm) {
			free(vm->adopt);
			vm->adopt = NULL;
			registry_vm_free(vm);
		}
		adopt_settled(m, false, name, "out of memory");
		return;
	}
	vm->adopt->nonce = a.nonce;
	r = helper_channel_adopt(vm, fd, a.nonce);	/* consumes fd */
	if (r == 0)
		r = helper_send(vm, IPC_M_ADOPT, 0, &a, sizeof(a), NULL, 0, -1);
	if (r < 0) {
		adopt_refuse(vm, strerror(-r));
		return;
	}
	log_submit(LOG_INFO, 1, NULL, NULL, "adopting the helper behind passed fd %s", name);
}

void adopt_passed_fd(struct master *m, int fd, const char *name)
{
	adopt_take(m, fd, name);
}

void adopt_started(struct master *m)
{
	if (m->adopt_total > 0 && m->adopt_pending > 0 && --m->adopt_pending == 0)
		audit_master_restarted(m->adopted, m->adopt_lost,
				       m->adopt_lost ? m->adopt_why : NULL);
}

bool adopt_is_vm_name(const char *name)
{
	return name && strncmp(name, FDSTORE_VM_PREFIX, strlen(FDSTORE_VM_PREFIX)) == 0;
}
