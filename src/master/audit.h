/*
 * audit.h - the master's lifecycle records (MESSAGE_IDs of msgid.h,
 * explained in cc-proxy.catalog). Always emitted, whatever the log level.
 * A token is never logged whole: only its TOKEN_PREFIX_LEN prefix.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/** audit_client_connected() - a client connected; its SO_PEERCRED. */
void audit_client_connected(unsigned long long client_id, pid_t pid,
			    uid_t uid, gid_t gid);

/** audit_helper_started() - @pid was forked and execs the helper. */
void audit_helper_started(const char *container_id, pid_t pid, uid_t uid);

/** audit_vm_registered() - RegisterVM of @container_id succeeded. */
void audit_vm_registered(const char *container_id, pid_t helper_pid,
			 pid_t client_pid);

/** audit_vm_unregistered() - UnregisterVM of @container_id. */
void audit_vm_unregistered(const char *container_id, pid_t helper_pid,
			   pid_t client_pid);

/** audit_shim_connected() - a shim's connection went to the helper. */
void audit_shim_connected(const char *container_id, const char *token_prefix,
			  pid_t pid, uid_t uid, gid_t gid);

/**
 * audit_shim_lost() - the helper reported the shim gone; @released: by
 * DisconnectShim (the token is void) rather than a dropped connection.
 */
void audit_shim_lost(const char *container_id, const char *token_prefix,
		     bool released);

/**
 * audit_helper_killed() - the master SIGKILLs the helper @pid of
 * @container_id, for @reason.
 */
void audit_helper_killed(const char *container_id, pid_t pid, const char *reason);

/**
 * audit_helper_stopped() - the helper @pid was reaped with wait status
 * @status. A SIGSYS death is reported as a seccomp violation.
 * @out, @len: when not NULL, receives a short description ("exited with
 * status 1", "killed by SIGSYS (seccomp violation)") for error replies.
 */
void audit_helper_stopped(const char *container_id, pid_t pid, int status,
			  char *out, size_t len);

/* audit_helper_stopped()'s @status of a helper that is not our child. */
#define AUDIT_STATUS_UNKNOWN	(-1)

/**
 * audit_vm_adopted() - a restarted master took the helper @pid of
 * @container_id back, with @tokens tokens of which @claimed held by shims.
 */
void audit_vm_adopted(const char *container_id, pid_t pid, size_t tokens, size_t claimed);

/**
 * audit_master_restarted() - every helper handed back at start settled:
 * @adopted taken back, @lost refused (@why: their reasons, or NULL).
 */
void audit_master_restarted(unsigned int adopted, unsigned int lost, const char *why);
