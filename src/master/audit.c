/*
 * audit.c - the lifecycle journal records of the master (audit.h).
 *
 * The master writes these itself because it is the one that holds the
 * facts: the helper's pid and uid from fork, the exit status from
 * waitpid, the peer credentials from SO_PEERCRED. Each record has its
 * MESSAGE_ID (msgid.h) and the fields cc-proxy.catalog substitutes; on
 * stderr the same fields appear as key=value. They are emitted at
 * verbosity 0: an audit trail that depends on -v is not one.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "audit.h"
#include "log.h"
#include "msgid.h"

/* Decimal text of a number, for a field value. */
#define AUDIT_NUM(buf, v) (snprintf((buf), sizeof(buf), "%lld", (long long)(v)), (buf))

void audit_client_connected(unsigned long long client_id, pid_t pid,
			    uid_t uid, gid_t gid)
{
	char p[24], u[24], g[24], id[24];

	log_submit(LOG_INFO, 0, MSGID_CLIENT_CONNECTED,
		   LOG_FIELDS({ "CC_CLIENT", AUDIT_NUM(id, client_id) },
			      { "CC_CLIENT_PID", AUDIT_NUM(p, pid) },
			      { "CC_CLIENT_UID", AUDIT_NUM(u, uid) },
			      { "CC_CLIENT_GID", AUDIT_NUM(g, gid) }),
		   "client %llu connected: pid %lld uid %lld gid %lld", client_id,
		   (long long)pid, (long long)uid, (long long)gid);
}

void audit_helper_started(const char *container_id, pid_t pid, uid_t uid)
{
	char p[24], u[24];

	/* CC_SECCOMP=1: the helper installs its filter before it reads
	 * anything from the VM, or exits; there is no unfiltered mode. */
	log_submit(LOG_NOTICE, 0, MSGID_HELPER_STARTED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", container_id },
			      { "CC_HELPER_PID", AUDIT_NUM(p, pid) },
			      { "CC_HELPER_UID", AUDIT_NUM(u, uid) },
			      { "CC_SECCOMP", "1" }),
		   "helper of VM %s started: pid %lld uid %lld", container_id,
		   (long long)pid, (long long)uid);
}

void audit_vm_registered(const char *container_id, pid_t helper_pid,
			 pid_t client_pid)
{
	char p[24], c[24];

	log_submit(LOG_NOTICE, 0, MSGID_VM_REGISTERED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", container_id },
			      { "CC_HELPER_PID", AUDIT_NUM(p, helper_pid) },
			      { "CC_CLIENT_PID", AUDIT_NUM(c, client_pid) }),
		   "VM %s registered", container_id);
}

void audit_vm_unregistered(const char *container_id, pid_t helper_pid,
			   pid_t client_pid)
{
	char p[24], c[24];

	log_submit(LOG_NOTICE, 0, MSGID_VM_UNREGISTERED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", container_id },
			      { "CC_HELPER_PID", AUDIT_NUM(p, helper_pid) },
			      { "CC_CLIENT_PID", AUDIT_NUM(c, client_pid) }),
		   "VM %s unregistered", container_id);
}

void audit_shim_connected(const char *container_id, const char *token_prefix,
			  pid_t pid, uid_t uid, gid_t gid)
{
	char p[24], u[24], g[24];

	log_submit(LOG_INFO, 0, MSGID_SHIM_CONNECTED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", container_id },
			      { "CC_TOKEN_PREFIX", token_prefix },
			      { "CC_CLIENT_PID", AUDIT_NUM(p, pid) },
			      { "CC_CLIENT_UID", AUDIT_NUM(u, uid) },
			      { "CC_CLIENT_GID", AUDIT_NUM(g, gid) }),
		   "shim connected to VM %s (token %s...)", container_id, token_prefix);
}

void audit_shim_lost(const char *container_id, const char *token_prefix,
		     bool released)
{
	log_submit(LOG_INFO, 0, MSGID_SHIM_LOST,
		   LOG_FIELDS({ "CC_CONTAINER_ID", container_id },
			      { "CC_TOKEN_PREFIX", token_prefix },
			      { "CC_REASON", released ? "released" : "connection dropped" }),
		   "shim of VM %s (token %s...) %s", container_id, token_prefix,
		   released ? "disconnected: token released" :
			      "connection dropped: token claimable again");
}

void audit_helper_killed(const char *container_id, pid_t pid, const char *reason)
{
	char p[24];

	log_submit(LOG_WARNING, 0, MSGID_HELPER_KILLED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", container_id },
			      { "CC_HELPER_PID", AUDIT_NUM(p, pid) },
			      { "CC_REASON", reason }),
		   "killing the helper of VM %s (pid %lld): %s", container_id,
		   (long long)pid, reason);
}

void audit_helper_stopped(const char *container_id, pid_t pid, int status,
			  char *out, size_t len)
{
	char p[24], num[24] = "", what[96], sig_buf[32];
	const char *sig_name = NULL;
	int prio = LOG_NOTICE;

	if (status == AUDIT_STATUS_UNKNOWN) {
		/* Adopted after a restart: not our child, its parent reaps it. */
		snprintf(what, sizeof(what), "exited (status unknown: adopted, not our child)");
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *abbrev = sigabbrev_np(sig);

		if (abbrev)
			snprintf(sig_buf, sizeof(sig_buf), "SIG%s", abbrev);
		else
			snprintf(sig_buf, sizeof(sig_buf), "signal %d", sig);
		sig_name = sig_buf;
		/* SIGSYS is what the seccomp filter's default action raises:
		 * the helper tried a system call outside its allowlist. */
		snprintf(what, sizeof(what), "killed by %s%s", sig_name,
			 sig == SIGSYS ? " (seccomp violation)" : "");
		prio = sig == SIGSYS ? LOG_ERR : LOG_WARNING;
	} else {
		snprintf(what, sizeof(what), "exited with status %d", WEXITSTATUS(status));
		AUDIT_NUM(num, WEXITSTATUS(status));
		if (WEXITSTATUS(status) != 0)
			prio = LOG_WARNING;
	}
	log_submit(prio, 0, MSGID_HELPER_STOPPED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", container_id },
			      { "CC_HELPER_PID", AUDIT_NUM(p, pid) },
			      { "CC_EXIT_STATUS", sig_name ? NULL : num },
			      { "CC_SIGNAL", sig_name }),
		   "helper of VM %s (pid %lld) %s", container_id, (long long)pid, what);
	if (out && len)
		snprintf(out, len, "%s", what);
}

void audit_vm_adopted(const char *container_id, pid_t pid, size_t tokens, size_t claimed)
{
	char p[24], t[24], c[24];

	log_submit(LOG_NOTICE, 0, MSGID_VM_ADOPTED,
		   LOG_FIELDS({ "CC_CONTAINER_ID", container_id },
			      { "CC_HELPER_PID", AUDIT_NUM(p, pid) },
			      { "CC_TOKENS", AUDIT_NUM(t, tokens) },
			      { "CC_TOKENS_CLAIMED", AUDIT_NUM(c, claimed) }),
		   "VM %s re-adopted (helper pid %lld, %zu tokens, %zu held by shims)",
		   container_id, (long long)pid, tokens, claimed);
}

void audit_master_restarted(unsigned int adopted, unsigned int lost, const char *why)
{
	char a[24], l[24];

	log_submit(lost ? LOG_WARNING : LOG_NOTICE, 0, MSGID_MASTER_RESTARTED,
		   LOG_FIELDS({ "CC_VMS_ADOPTED", AUDIT_NUM(a, adopted) },
			      { "CC_VMS_LOST", AUDIT_NUM(l, lost) },
			      { "CC_REASON", why }),
		   "master restarted: %u VMs re-adopted, %u lost%s%s%s", adopted, lost,
		   why ? " (" : "", why ? why : "", why ? ")" : "");
}
