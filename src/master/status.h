/*
 * status.h - `cc-proxyctl status` and `list` in the master: the admin
 * command FRAME_CMD_STATUS on the proxy socket (frame.h).
 *
 * Request payload: none, `{}`, or an object with `containerId` (the VMs of
 * that id only: the one registered, and any still draining under it),
 * `after` and `limit` (paging, struct status_page).
 * Only root and the owner of the proxy socket may ask (SO_PEERCRED, per
 * command); anyone else gets an error response and the connection goes
 * on. The reply is one JSON object (docs/DESIGN.md "Status"):
 *   {"proxy": {...totals, "limits": {NAME: {"used", "max"}}},
 *    "vms": [{...one VM...}]}
 *
 * The master's own figures (state, uptime, tokens, clients) are read
 * when the command arrives. The helpers' counters are asked for with
 * IPC_M_STATS; the reply waits for every answer, but at most
 * STATUS_HELPER_WAIT_MS: a helper that does not answer by then is shown
 * with "answered": false and the reason, and its answer, should it come
 * later, is dropped.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"

struct client;
struct frame;
struct master;
struct vm;

/* How long a status reply waits for the helpers' answers. */
#define STATUS_HELPER_WAIT_MS	1000u

/* The most VMs in one reply: about 0.6 KiB of JSON each, so a reply stays
 * far below the frame limit (FRAME_PAYLOAD_MAX), and one query asks at
 * most this many helpers. More VMs take more replies ("after"). */
#define STATUS_PAGE_MAX		500u
#define STATUS_PAGE_MAX_TEXT	"500"

/*
 * One reply's slice of the VMs. VMs are numbered in registration order
 * (vm->serial, never reused); a reply lists those after the cursor, and
 * its "next" is the cursor of the following reply, so a VM registered or
 * gone between two replies never shifts the others: each VM present for
 * the whole walk is listed exactly once.
 */
struct status_page {
	uint64_t after;		/* request: list VMs with serial > after */
	uint64_t limit;		/* request: at most this many */
	uint64_t total;		/* reply: VMs matching, whatever the page */
	uint64_t next;		/* reply: cursor of the next page, 0 = last */
};

/* Why a VM's counters are missing from a reply. */
enum status_answer {
	STATUS_ASKED,		/* waiting for IPC_H_STATS */
	STATUS_ANSWERED,	/* st and last_error are filled */
	STATUS_NO_ANSWER,	/* not within STATUS_HELPER_WAIT_MS */
	STATUS_NOT_ASKED,	/* no channel to its helper, or its queue is full */
	STATUS_GONE,		/* the helper exited before it answered */
};

/* One VM in a reply: the master's figures copied when the command
 * arrived (the VM may be freed before the reply goes), then the helper's. */
struct status_entry {
	char *container_id;
	uint64_t serial;	/* the VM's, for the page's cursor */
	pid_t pid;		/* the helper, 0 when none */
	const char *state;	/* static: "starting", "ready", ... */
	uint64_t uptime_ms;
	uint32_t tokens;	/* tokens the master holds for it */
	uint32_t claimed;	/* ... of which a shim holds */
	char *end_reason;	/* why it is ending (the master's), or NULL */
	uint32_t req_id;	/* of its IPC_M_STATS */
	enum status_answer answer;
	struct ipc_stats st;	/* STATUS_ANSWERED */
	char *last_error;	/* STATUS_ANSWERED: printable ASCII, maybe "" */
};

/**
 * status_new() - the status state of @m (m->status): the start time for
 * the uptime, and the owner of the listening socket, who may ask.
 * Call after listener_open(). Return: 0 or -ENOMEM.
 */
int status_new(struct master *m);

/** status_free() - free it; no query may be left (clients go first). */
struct status *status_free(struct status *st);

/**
 * status_command() - serve FRAME_CMD_STATUS from @c: refuse, answer at
 * once, or put @c in CLIENT_WAIT_STATUS until the helpers answered.
 */
void status_command(struct client *c, const struct frame *f);

/** status_client_gone() - @c, waiting for a reply, is being freed. */
void status_client_gone(struct client *c);

/**
 * status_on_stats() - IPC_H_STATS from @vm's helper (helper.c checked
 * that one was asked for): fill the entry waiting for it, if any.
 */
void status_on_stats(struct vm *vm, const struct ipc_view *v);

/** status_vm_gone() - @vm's helper was reaped: stop waiting for it. */
void status_vm_gone(struct vm *vm);

/**
 * status_reply_json() - the reply text for @n entries (status_reply.c):
 * the proxy's totals and limits as they are now, then each entry.
 * @started_ms: when the proxy started (registry_now_ms()).
 * @pg: the page's total and next cursor (a "page" object).
 * Return: malloc'd JSON, or NULL (out of memory).
 */
char *status_reply_json(struct master *m, uint64_t started_ms,
			const struct status_page *pg,
			const struct status_entry *e, size_t n);
