/*
 * status.c - the admin command behind `cc-proxyctl status` and `list`
 * (status.h): who may ask, which VMs, asking their helpers, and the
 * bounded wait for their answers.
 *
 * Who may ask: root and the owner of the listening socket, by the
 * client's SO_PEERCRED uid, checked on every command. The socket's mode
 * already limits who can connect (0660: owner and group); the group may
 * drive VMs as a runtime does, but what every VM on the host is doing is
 * the operator's view, so the group alone is not enough.
 *
 * A query copies the master's figures of each VM into a status_entry
 * when the command arrives and asks the helper (helper_send_stats()).
 * Entries name their helper by pid and request id, never by pointer, so a
 * VM freed meanwhile leaves nothing dangling: the reaper calls
 * status_vm_gone() and its entries stop waiting. The query ends when
 * every helper answered, or when its timer (STATUS_HELPER_WAIT_MS) fires;
 * either way the client gets exactly one reply. A client that leaves
 * first frees its query (status_client_gone()); answers that arrive
 * after the end are dropped.
 *
 * Each client has at most one command in progress (client.c), so the
 * number of queries is bounded by the number of clients; a query asks a
 * helper only while its IPC queue is at most half full, so status never
 * takes the room a runtime's commands need.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "cleanup.h"
#include "client.h"
#include "frame.h"
#include "helper.h"
#include "log.h"
#include "master.h"
#include "registry.h"
#include "status.h"

struct status_query {
	TAILQ_ENTRY(status_query) link;
	struct status *st;
	struct client *c;
	struct event *timer;
	struct status_entry *e;
	size_t n;
	size_t waiting;		/* entries still STATUS_ASKED */
	struct status_page page;
};
TAILQ_HEAD(status_query_list, status_query);

struct status {
	struct master *m;
	uint64_t started_ms;
	uid_t owner;		/* of the listening socket */
	struct status_query_list queries;
};

int status_new(struct master *m)
{
	struct status *st = calloc(1, sizeof(*st));
	struct stat sb;

	if (!st)
		return -ENOMEM;
	st->m = m;
	st->started_ms = registry_now_ms();
	TAILQ_INIT(&st->queries);
	/* The file's owner: ours when we bound it, systemd's SocketUser
	 * when socket-activated. */
	if (m->cfg.socket_path && lstat(m->cfg.socket_path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		st->owner = sb.st_uid;
	else
		st->owner = geteuid();
	log_submit(LOG_INFO, 1, NULL, NULL, "status: root and uid %u may ask",
		   (unsigned)st->owner);
	m->status = st;
	return 0;
}

static void status_query_free(struct status_query *q)
{
	if (!q)
		return;
	TAILQ_REMOVE(&q->st->queries, q, link);
	if (q->timer)
		event_free(q->timer);
	for (size_t i = 0; i < q->n; i++) {
		free(q->e[i].container_id);
		free(q->e[i].end_reason);
		free(q->e[i].last_error);
	}
	free(q->e);
	free(q);
}

struct status *status_free(struct status *st)
{
	if (!st)
		return NULL;
	while (!TAILQ_EMPTY(&st->queries))
		status_query_free(TAILQ_FIRST(&st->queries));
	free(st);
	return NULL;
}

/* The reply to @q's client, then @q is gone. */
static void status_query_finish(struct status_query *q)
{
	struct status *st = q->st;
	char *json = status_reply_json(st->m, st->started_ms, &q->page, q->e, q->n);

	if (json)
		client_finish(q->c, false, json, strlen(json));
	else
		client_finish_error(q->c, "out of memory");
	free(json);
	status_query_free(q);
}

static void status_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct status_query *q = arg;

	for (size_t i = 0; i < q->n; i++)
		if (q->e[i].answer == STATUS_ASKED)
			q->e[i].answer = STATUS_NO_ANSWER;
	status_query_finish(q);
}

/* What the operator sees of a VM's state. */
static const char *status_state(const struct vm *vm)
{
	switch (vm->state) {
	case VM_STARTING:
		return "starting";
	case VM_RUNNING:
		return "ready";
	case VM_ADOPTING:
		return "adopting";
	case VM_ENDING:
		break;
	}
	/* Unregistered: its output still drains to the shims until the VM
	 * closes its io channel. Otherwise the VM was lost or failed and
	 * the helper flushes what the shims are owed, then exits. */
	return vm->unregistered ? "unregistered" : "draining";
}

/* The master's figures of @vm into @e; ask its helper for the rest. */
static int status_entry_fill(struct status_entry *e, struct vm *vm, uint64_t now)
{

	e->container_id = strdup(vm->container_id);
	if (vm->end_reason && !vm->unregistered)
		e->end_reason = strdup(vm->end_reason);
	if (!e->container_id || (vm->end_reason && !vm->unregistered && !e->end_reason))
		return -ENOMEM;
	e->pid = vm->pid;
	e->state = status_state(vm);
	e->uptime_ms = now - vm->created_ms;
	e->tokens = vm->n_tokens;
	e->claimed = vm->n_claimed;
	/* Leave the second half of the helper's queue to the runtime. */
	e->answer = STATUS_NOT_ASKED;
	if (vm->pid > 0 && helper_queue_room(vm, IPC_QUEUE_MAX / 2) &&
	    helper_send_stats(vm, &e->req_id) == 0)
		e->answer = STATUS_ASKED;
	return 0;
}

/* A request's optional non-negative integer @key into *out, within
 * [@min, @max]. Return: NULL or the error text for the client. */
static const char *status_parse_int(struct json_object *o, const char *key, int64_t min,
				    int64_t max, uint64_t *out)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	/* json-c saturates what does not fit 64 bits; above INT64_MAX is
	 * refused rather than read as a clamped value. */
	n = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || json_object_get_uint64(v) > INT64_MAX ||
	    n < min || n > max)
		return strcmp(key, "limit") == 0 ? "limit must be an integer from 1 to "
		       STATUS_PAGE_MAX_TEXT : "after must be a non-negative integer";
	*out = (uint64_t)n;
	return NULL;
}

/*
 * The request: no payload, {} or an object with any of containerId (a
 * non-empty string), after (the cursor of an earlier reply's "next") and
 * limit (VMs per reply, 1..STATUS_PAGE_MAX).
 * Return: NULL with *id (NULL: every VM) and @pg's request set, or an
 * error text for the client.
 */
static const char *status_parse(const struct frame *f, char **id, struct status_page *pg)
{
	_cleanup_json_ struct json_object *o = NULL;
	struct json_tokener *tok;
	struct json_object *v;
	const char *err;
	bool whole;

	*id = NULL;
	*pg = (struct status_page){ .limit = STATUS_PAGE_MAX };
	if (f->payload_len == 0)
		return NULL;
	if (strlen((const char *)f->payload) != f->payload_len)
		return "the request holds a NUL byte";
	tok = json_tokener_new();	/* json-c's default depth bound */
	if (!tok)
		return "out of memory";
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, (const char *)f->payload, (int)f->payload_len);
	whole = o && json_tokener_get_parse_end(tok) == f->payload_len;
	json_tokener_free(tok);
	if (!whole || !json_object_is_type(o, json_type_object))
		return "the request is not one JSON object";
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "containerId") && strcmp(key, "after") && strcmp(key, "limit"))
			return "unknown key in the request (only containerId, after, limit)";
		(void)val;
	}
	if ((err = status_parse_int(o, "after", 0, INT64_MAX, &pg->after)) ||
	    (err = status_parse_int(o, "limit", 1, STATUS_PAGE_MAX, &pg->limit)))
		return err;
	if (!json_object_object_get_ex(o, "containerId", &v))
		return NULL;
	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
		return "containerId must be a non-empty string";
	*id = strdup(json_object_get_string(v));
	return *id ? NULL : "out of memory";
}

/* Whether @vm belongs in a query for @id (NULL: every VM). */
static bool status_matches(const struct vm *vm, const char *id)
{
	return !id || !strcmp(vm->container_id, id);
}

/*
 * Build @q's entries: the VMs named @id (or all), registered after the
 * cursor, at most the page's limit of them; the page's total and next
 * cursor. Return: 0 or -errno.
 */
static int status_query_fill(struct status_query *q, const char *id)
{
	struct master *m = q->st->m;
	struct status_page *pg = &q->page;
	uint64_t now = registry_now_ms();
	struct vm *vm;
	size_t n = 0;

	TAILQ_FOREACH(vm, &m->vms, entry)
		if (status_matches(vm, id)) {
			pg->total++;
			if (vm->serial > pg->after)
				n++;
		}
	if (n > pg->limit)
		n = pg->limit;
	if (n == 0)
		return 0;
	q->e = calloc(n, sizeof(*q->e));
	if (!q->e)
		return -ENOMEM;
	/* m->vms is in serial order (registry_vm_new() appends). */
	TAILQ_FOREACH(vm, &m->vms, entry) {
		if (!status_matches(vm, id) || vm->serial <= pg->after)
			continue;
		if (q->n == n) {
			pg->next = q->e[n - 1].serial;	/* more after this page */
			break;
		}
		if (status_entry_fill(&q->e[q->n++], vm, now) < 0)
			return -ENOMEM;
		q->e[q->n - 1].serial = vm->serial;
		if (q->e[q->n - 1].answer == STATUS_ASKED)
			q->waiting++;
	}
	return 0;
}

void status_command(struct client *c, const struct frame *f)
{
	const struct timeval wait = { STATUS_HELPER_WAIT_MS / 1000,
				      (STATUS_HELPER_WAIT_MS % 1000) * 1000 };
	struct status *st = c->m->status;
	struct status_query *q;
	_cleanup_free_ char *id = NULL;
	struct status_page pg;
	const char *err;
	char *json;

	if (c->uid != 0 && c->uid != st->owner) {
		log_submit(LOG_WARNING, 0, NULL, CLIENT_FIELDS(c),
			   "status refused to uid %u: only root and the socket's owner may ask",
			   (unsigned)c->uid);
		client_respond_error(c, f->opcode, "permission denied: only root and the owner "
				     "of the proxy socket (uid %u) may ask for the status",
				     (unsigned)st->owner);
		return;
	}
	err = status_parse(f, &id, &pg);
	if (err) {
		client_respond_error(c, f->opcode, "%s", err);
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		client_respond_error(c, f->opcode, "out of memory");
		return;
	}
	q->st = st;
	q->c = c;
	q->page = pg;
	TAILQ_INSERT_TAIL(&st->queries, q, link);
	if (status_query_fill(q, id) < 0 ||
	    !(q->timer = evtimer_new(c->m->base, status_on_timeout, q))) {
		client_respond_error(c, f->opcode, "out of memory");
		status_query_free(q);
		return;
	}
	if (id && q->page.total == 0) {
		client_respond_error(c, f->opcode, "unknown containerId %s", id);
		status_query_free(q);
		return;
	}
	log_submit(LOG_INFO, 1, NULL, CLIENT_FIELDS(c), "status of %zu VM(s), %zu helper(s) asked",
		   q->n, q->waiting);
	if (q->waiting == 0) {
		/* Nothing to wait for: answer now, in order. */
		json = status_reply_json(st->m, st->started_ms, &q->page, q->e, q->n);
		if (json)
			client_respond(c, f->opcode, false, json, strlen(json));
		else
			client_respond_error(c, f->opcode, "out of memory");
		free(json);
		status_query_free(q);
		return;
	}
	evtimer_add(q->timer, &wait);
	client_wait(c, CLIENT_WAIT_STATUS, f->opcode, NULL);
}

void status_client_gone(struct client *c)
{
	struct status_query *q;

	TAILQ_FOREACH(q, &c->m->status->queries, link)
		if (q->c == c) {
			status_query_free(q);	/* late answers are dropped */
			return;
		}
}

/* A copy of the helper's text with anything but printable ASCII as '?':
 * it comes from a process that parses VM bytes. */
static char *status_printable(const uint8_t *text, size_t len)
{
	char *s = malloc(len + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++)
		s[i] = text[i] >= 0x20 && text[i] < 0x7f ? (char)text[i] : '?';
	s[len] = '\0';
	return s;
}

void status_on_stats(struct vm *vm, const struct ipc_view *v)
{
	struct status_query *q;
	struct status_entry *e;

	TAILQ_FOREACH(q, &vm->m->status->queries, link) {
		for (size_t i = 0; i < q->n; i++) {
			e = &q->e[i];
			if (e->answer != STATUS_ASKED || e->pid != vm->pid || e->req_id != v->id)
				continue;
			memcpy(&e->st, v->fixed, sizeof(e->st));
			e->last_error = status_printable(v->var, v->var_len);
			e->answer = e->last_error ? STATUS_ANSWERED : STATUS_NO_ANSWER;
			if (--q->waiting == 0)
				status_query_finish(q);
			return;	/* one entry per request id */
		}
	}
}

void status_vm_gone(struct vm *vm)
{
	struct status_query *q, *next;

	if (!vm->m->status || vm->pid <= 0)
		return;
	for (q = TAILQ_FIRST(&vm->m->status->queries); q; q = next) {
		next = TAILQ_NEXT(q, link);
		for (size_t i = 0; i < q->n; i++) {
			if (q->e[i].answer != STATUS_ASKED || q->e[i].pid != vm->pid)
				continue;
			q->e[i].answer = STATUS_GONE;
			q->waiting--;
		}
		if (q->waiting == 0)
			status_query_finish(q);
	}
}
