/*
 * cmd.c - what the simulated agent does for each ctl command, and the
 * answer it gives (ACK with data, or ERROR with a reason).
 *
 * Containers: the id "hyperstart" always exists (hyperstart 1.x lets
 * execcmd run there without any startpod). newcontainer creates a
 * container and runs its process, whose process id defaults to the
 * container id as in hyperstart; execcmd runs further processes in an
 * existing container. The simulated VM has no root filesystems: rootfs,
 * image, fsmap, volumes... are accepted and ignored, and writefile /
 * readfile are refused.
 *
 * Answers (documented in the simvm README section of docs and --help):
 *   version          ACK with 4 bytes: the API version, big-endian (4244,
 *                    hyperstart 1.1.0's), not JSON
 *   ping, onlinecpumem, setupinterface, setuproute   ACK (empty)
 *   startpod         ACK; containers listed with a "process" are started
 *   destroypod       ACK; every process is killed (SIGKILL), containers
 *                    are forgotten (their exits are still reported)
 *   execcmd / newcontainer   ACK once the process is forked: like
 *                    hyperstart, a binary that cannot be executed is not
 *                    an ERROR; the child says why on its stderr and exits
 *                    127 (not found) or 126 (any other reason)
 *   killcontainer    ACK (also when its process already exited)
 *   winsize          ACK (also for an unknown seq, as hyperstart does);
 *                    ERROR for a process without a terminal
 *   removecontainer  ACK; ERROR when unknown or still running
 *   anything else    ERROR "unknown command"
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "bytes.h"
#include "cleanup.h"
#include "hyper.h"
#include "log.h"
#include "simvm.h"

/* hyperstart 1.1.0's API version, reported by "version". */
#define SIMVM_API_VERSION 4244

/* Keys hyperstart knows in a container object; it rejects the others. */
static const char *const container_keys[] = {
	"id", "rootfs", "image", "addr", "fstype", "volumes", "fsmap",
	"sysctl", "process", "restartPolicy", "initialize", "ports", NULL,
};
static const char *const execcmd_keys[] = { "container", "process", NULL };

/* Make @a an ERROR with a formatted reason (replacing any data). */
static void ans_error(struct simvm_answer *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ans_error(struct simvm_answer *a, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	free(a->data);
	a->error = true;
	a->data = n < 0 ? NULL : s;
	a->len = n < 0 ? 0 : (size_t)n;
}

/* Take @err (malloc'd) as the ERROR reason. */
static void ans_error_take(struct simvm_answer *a, char *err)
{
	free(a->data);
	a->error = true;
	a->data = err;
	a->len = err ? strlen(err) : 0;
}

/* Parse the payload as one JSON object. Return: the object or NULL. */
static struct json_object *parse_object(const char *payload, size_t len,
					const char *what, struct simvm_answer *a)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;

	if (!payload || !len) {
		ans_error(a, "%s: empty data", what);
		return NULL;
	}
	if (len > INT32_MAX || strlen(payload) != len) {
		ans_error(a, "%s: data is not JSON text", what);
		return NULL;
	}
	/* Strict: nothing may follow the object; bounded nesting. */
	tok = json_tokener_new_ex(64);
	if (!tok) {
		ans_error(a, "%s: out of memory", what);
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, payload, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		ans_error(a, "%s: invalid JSON", what);
		json_object_put(o);
		o = NULL;
	} else if (!json_object_is_type(o, json_type_object)) {
		ans_error(a, "%s: data is not a JSON object", what);
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* A string member, or NULL when absent or not a string. */
static const char *get_string(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

struct simvm_container *cmd_find_container(struct simvm *vm, const char *id)
{
	struct simvm_container *c;

	LIST_FOREACH(c, &vm->containers, link)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

/* Does any live process (the container's own or an execcmd's) run in @id? */
static bool container_busy(struct simvm *vm, const char *id)
{
	struct simvm_proc *p;

	LIST_FOREACH(p, &vm->procs, link)
		if (!p->silent && !strcmp(p->container, id))
			return true;
	return false;
}

/* Forget @c. Its process, if still alive, runs on as a plain process:
 * its exit is still reported under the container's id. */
static void container_free(struct simvm_container *c)
{
	LIST_REMOVE(c, link);
	if (c->init)
		c->init->is_init = false;
	free(c->id);
	free(c);
}

void cmd_forget_all(struct simvm *vm)
{
	while (!LIST_EMPTY(&vm->containers))
		container_free(LIST_FIRST(&vm->containers));
}

/*
 * Start the process described by @process in @container.
 * @is_init: the container's own process (newcontainer/startpod)
 * Return: the process, or NULL with @a made an ERROR.
 */
static struct simvm_proc *run_process(struct simvm *vm, const char *container,
				      bool is_init, struct json_object *process,
				      struct simvm_answer *a)
{
	struct simvm_spec s = { 0 };
	struct simvm_proc *p = NULL;
	char *err = NULL;

	if (!process || !json_object_is_type(process, json_type_object)) {
		ans_error(a, "no process object");
		return NULL;
	}
	if (spec_parse(vm, process, &s, &err) == 0) {
		/* The container's own process is named after the container
		 * unless the command named it. */
		if (is_init && !*s.id)
			s.id = container;
		p = proc_start(vm, container, is_init, &s, &err);
	}
	if (!p)
		ans_error_take(a, err);
	spec_free(&s);
	return p;
}

/*
 * newcontainer, and each container of startpod: a new id (bounded, so the
 * exit event always fits a ctl message), then its process. A container
 * whose process cannot start is not created.
 */
static void new_container(struct simvm *vm, struct json_object *o,
			  struct simvm_answer *a)
{
	struct simvm_container *c;
	struct json_object *process = NULL;
	const char *id = get_string(o, "id");
	char *err = NULL;

	if (vm->opt.strict_keys &&
	    spec_check_keys(o, "container", container_keys, &err) < 0) {
		ans_error_take(a, err);
		return;
	}
	if (!id || !*id) {
		ans_error(a, "newcontainer: no container id");
		return;
	}
	if (strlen(id) > SIMVM_ID_MAX) {
		ans_error(a, "newcontainer: container id longer than %d bytes", SIMVM_ID_MAX);
		return;
	}
	if (!strcmp(id, SIMVM_POD_CONTAINER) || cmd_find_container(vm, id)) {
		ans_error(a, "newcontainer: container %s already exists", id);
		return;
	}
	json_object_object_get_ex(o, "process", &process);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->id = strdup(id))) {
		free(c);
		ans_error(a, "newcontainer: out of memory");
		return;
	}
	LIST_INSERT_HEAD(&vm->containers, c, link);
	c->init = run_process(vm, id, true, process, a);
	if (!c->init) {
		container_free(c);	/* a failed newcontainer leaves nothing */
		return;
	}
	c->init_started = true;
}

/* startpod: the pod exists; described containers with a process start. */
static void do_startpod(struct simvm *vm, struct json_object *o, struct simvm_answer *a)
{
	struct json_object *list;

	vm->pod_started = true;
	if (!json_object_object_get_ex(o, "containers", &list) ||
	    !json_object_is_type(list, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);

		if (!json_object_is_type(c, json_type_object)) {
			ans_error(a, "startpod: a container is not an object");
			return;
		}
		if (!json_object_object_get_ex(c, "process", NULL))
			continue;	/* described only; started by newcontainer */
		new_container(vm, c, a);
		if (a->error)
			return;
	}
}

/* execcmd: another process in an existing container (or "hyperstart"). */
static void do_execcmd(struct simvm *vm, struct json_object *o, struct simvm_answer *a)
{
	struct json_object *process = NULL;
	const char *id = get_string(o, "container");
	char *err = NULL;

	if (vm->opt.strict_keys &&
	    spec_check_keys(o, "execcmd", execcmd_keys, &err) < 0) {
		ans_error_take(a, err);
		return;
	}
	if (!id) {
		ans_error(a, "execcmd: no container id");
		return;
	}
	if (strcmp(id, SIMVM_POD_CONTAINER) && !cmd_find_container(vm, id)) {
		ans_error(a, "execcmd: container %.*s not found", SIMVM_ID_MAX, id);
		return;
	}
	json_object_object_get_ex(o, "process", &process);
	run_process(vm, id, false, process, a);
}

/* killcontainer: signal the container's own process (not its group, as
 * hyperstart does); nothing to do once it has exited. */
static void do_killcontainer(struct simvm *vm, struct json_object *o,
			     struct simvm_answer *a)
{
	struct simvm_container *c;
	struct json_object *sig;
	const char *id = get_string(o, "container");
	int64_t n;

	if (!id || !(c = cmd_find_container(vm, id))) {
		ans_error(a, "killcontainer: container %.*s not found", SIMVM_ID_MAX,
			  id ? id : "(none)");
		return;
	}
	if (!json_object_object_get_ex(o, "signal", &sig) ||
	    !json_object_is_type(sig, json_type_int) ||
	    (n = json_object_get_int64(sig)) < 0 || n >= NSIG) {
		ans_error(a, "killcontainer: invalid signal");
		return;
	}
	if (!c->init || c->init->exited) {
		log_info("killcontainer %s: its process already exited", id);
		return;
	}
	if (kill(c->init->pid, (int)n) < 0)
		ans_error(a, "killcontainer: %s", strerror(errno));
}

/* An integer member in 0..65535 (a window dimension). */
static bool get_u16(struct json_object *o, const char *key, unsigned short *out)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	n = json_object_get_int64(v);
	if (n < 0 || n > 0xffff)
		return false;
	*out = (unsigned short)n;
	return true;
}

/* winsize: TIOCSWINSZ on the pty of the process whose stdio seq is "seq". */
static void do_winsize(struct simvm *vm, struct json_object *o, struct simvm_answer *a)
{
	struct winsize ws = { 0 };
	struct json_object *v;
	struct simvm_proc *p;
	int64_t seq;

	if (!json_object_object_get_ex(o, "seq", &v) ||
	    !json_object_is_type(v, json_type_int) || (seq = json_object_get_int64(v)) < 0 ||
	    !get_u16(o, "row", &ws.ws_row) || !get_u16(o, "column", &ws.ws_col)) {
		ans_error(a, "winsize: seq, row and column must be integers");
		return;
	}
	p = proc_by_seq(vm, (uint64_t)seq);
	if (!p) {
		/* hyperstart answers success for an unknown seq. */
		log_info("winsize: no process on seq %lld", (long long)seq);
		return;
	}
	if (!p->terminal) {
		ans_error(a, "winsize: the process on seq %lld has no terminal", (long long)seq);
		return;
	}
	if (p->in_fd < 0 || ioctl(p->in_fd, TIOCSWINSZ, &ws) < 0)
		ans_error(a, "winsize: %s", p->in_fd < 0 ? "terminal closed" : strerror(errno));
}

/* removecontainer: only a container with nothing running in it. */
static void do_removecontainer(struct simvm *vm, struct json_object *o,
			       struct simvm_answer *a)
{
	struct simvm_container *c;
	const char *id = get_string(o, "id");

	if (!id || !(c = cmd_find_container(vm, id))) {
		ans_error(a, "removecontainer: container %.*s not found", SIMVM_ID_MAX,
			  id ? id : "(none)");
		return;
	}
	if (container_busy(vm, id)) {
		ans_error(a, "removecontainer: container %.*s is still running",
			  SIMVM_ID_MAX, id);
		return;
	}
	container_free(c);
}

/* version: hyperstart's answer is the API version as a big-endian u32,
 * the ACK's whole payload (the proxy hands it to its client as is). */
static void do_version(struct simvm_answer *a)
{
	a->data = malloc(4);
	if (!a->data) {
		ans_error(a, "version: out of memory");
		return;
	}
	bytes_put_be32((uint8_t *)a->data, SIMVM_API_VERSION);
	a->len = 4;
}

/*
 * Commands that carry no data are handled first; the others must carry
 * one JSON object (strict parse), then go to their handler.
 */
void cmd_run(struct simvm *vm, uint32_t code, const char *payload, size_t len,
	     struct simvm_answer *a)
{
	_cleanup_json_ struct json_object *o = NULL;
	const char *name = hyper_code_name(code);

	*a = (struct simvm_answer){ 0 };
	switch (code) {
	case HYPER_PING:
	case HYPER_ONLINECPUMEM:
		return;
	case HYPER_VERSION:
		do_version(a);
		return;
	case HYPER_DESTROYPOD:
		/* The processes' exits are still reported as they are reaped. */
		proc_kill_all(vm, false);
		cmd_forget_all(vm);
		vm->pod_started = false;
		return;
	case HYPER_WRITEFILE:
	case HYPER_READFILE:
		ans_error(a, "%s: the simulated VM has no container filesystem", name);
		return;
	case HYPER_STARTPOD:
	case HYPER_EXECCMD:
	case HYPER_NEWCONTAINER:
	case HYPER_KILLCONTAINER:
	case HYPER_WINSIZE:
	case HYPER_REMOVECONTAINER:
	case HYPER_SETUPINTERFACE:
	case HYPER_SETUPROUTE:
		o = parse_object(payload, len, name, a);
		if (!o)
			return;
		break;
	default:
		ans_error(a, "unknown command %u", code);
		return;
	}

	switch (code) {
	case HYPER_STARTPOD:
		do_startpod(vm, o, a);
		break;
	case HYPER_EXECCMD:
		do_execcmd(vm, o, a);
		break;
	case HYPER_NEWCONTAINER:
		new_container(vm, o, a);
		break;
	case HYPER_KILLCONTAINER:
		do_killcontainer(vm, o, a);
		break;
	case HYPER_WINSIZE:
		do_winsize(vm, o, a);
		break;
	case HYPER_REMOVECONTAINER:
		do_removecontainer(vm, o, a);
		break;
	default:
		break;	/* setupinterface, setuproute: nothing to set up */
	}
}
