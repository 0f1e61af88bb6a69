/*
 * exec.c - `cc-proxyctl exec`: run a process in a VM through the proxy,
 * the way the runtime and cc-shim do it, on two connections:
 *
 *   runtime  AttachVM {containerId, numIOStreams: 1}  -> one token
 *   shim     ConnectShim {token}                       -> the session
 *   runtime  Hyper execcmd, tokens [token]             -> process started
 *   shim     stdin streams out; stdout/stderr streams in; Signal;
 *            ProcessExited(N) -> DisconnectShim, exit N
 *
 * Choices (cc-proxyctl(1)):
 * - The proxy fills process.stdio/stderr and process.id; the data sent
 *   has only container, terminal, args, envs, workdir (exec_build_data()).
 * - stdin is read only once the agent has started the process. At the
 *   end of the local stdin, without a terminal, an empty stdin stream
 *   frame is sent: the proxy turns it into the agent's empty io message,
 *   which closes the process's stdin (PROTOCOL.md part 2, io channel), so
 *   `wc -c <file` ends. With a terminal nothing is sent: ^D travels as a
 *   byte in raw mode, as on a real terminal.
 * - SIGINT, SIGTERM, SIGHUP, SIGQUIT are forwarded as Signal once the
 *   shim is connected (before that they end cc-proxyctl). When the proxy
 *   refuses one (hyperstart cannot signal an execcmd process by
 *   container), the refusal is printed and the same signal a second time
 *   ends cc-proxyctl with 128+N, leaving the process to itself.
 * - Output is written to the local fds with blocking writes: a slow
 *   reader stalls the loop, hence the shim connection, hence (through the
 *   proxy's flow control) only this process.
 * - Output stream flow control toward the proxy: stdin reading pauses
 *   while the shim connection's output is above CONN_OUTPUT_HIGH.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "cleanup.h"
#include "conn.h"
#include "ctl.h"
#include "frame.h"
#include "token.h"
#include "tty.h"

#define EXEC_STDIN_CHUNK (32u * 1024u)

enum exec_state {
	EXEC_ATTACHING,		/* AttachVM sent */
	EXEC_CONNECTING,	/* ConnectShim sent */
	EXEC_STARTING,		/* execcmd sent */
	EXEC_RUNNING,		/* the agent started the process */
	EXEC_ENDING,		/* DisconnectShim sent, or failed */
};

static const int exec_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH };

struct exec {
	struct ctl *ctl;
	const struct ctl_exec *x;
	enum exec_state state;
	struct conn *runtime;
	struct conn *shim;
	char token[TOKEN_STR_LEN + 1];
	struct event *sig[ARRAY_SIZE(exec_signals)];
	struct event *in_ev;	/* stdin readable, or "read more" when unpollable */
	bool in_pollable;
	bool in_done;		/* EOF or error: no more reading */
	bool in_paused;		/* shim output above the high watermark */
	int refused_sig;	/* the last signal the proxy refused, or 0 */
	struct exec_sig {	/* the context of a Signal command's answer */
		struct exec *e;
		int sig;
	} sig_ctx[NSIG];
	bool out_broken[3];	/* writes to fd 1 / 2 failed: discard */
	struct tty tty;
};

static void exec_end(struct exec *e, int status)
{
	e->ctl->status = status;
	e->state = EXEC_ENDING;
	event_base_loopexit(e->ctl->base, NULL);
}

static void exec_fail(struct exec *e, const char *what, const struct conn_answer *a)
{
	ctl_err("exec %s: %s%s%.*s", e->x->container_id, what,
		a->local ? ": " : ": error from cc-proxy: ", (int)a->len, a->text);
	exec_end(e, CTL_EXIT_EXEC_FAILURE);
}

/* Blocking write of all of @len bytes; a non-blocking fd is waited for. */
static void exec_write(struct exec *e, int fd, const uint8_t *p, size_t len)
{
	while (len > 0 && !e->out_broken[fd]) {
		ssize_t n = write(fd, p, len);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			poll(&pfd, 1, -1);
		} else {
			/* The reader is gone: the process goes on, its output
			 * is discarded (as a shim does without a console). */
			if (e->ctl->verbose)
				ctl_err("writing to fd %d: %s: output discarded", fd,
					strerror(errno));
			e->out_broken[fd] = true;
		}
	}
}

/* ---- stdin ---------------------------------------------------------- */

/* Whether the loop (epoll) can watch @fd: regular files and /dev/null
 * cannot, and are read as fast as the proxy takes them instead. */
static int exec_fd_pollable(int fd)
{
	_cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	if (ep < 0)
		return -errno;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 1;
	return errno == EPERM ? 0 : -errno;
}

static void exec_stdin_schedule(struct exec *e)
{
	if (e->in_done || e->in_paused || e->state != EXEC_RUNNING)
		return;
	if (e->in_pollable)
		event_add(e->in_ev, NULL);
	else
		event_active(e->in_ev, EV_READ, 0);
}

static void exec_stdin_eof(struct exec *e)
{
	e->in_done = true;
	if (e->in_pollable)
		event_del(e->in_ev);
	/* No terminal: an empty stdin frame closes the process's stdin. */
	if (!e->x->tty && conn_stream(e->shim, FRAME_STREAM_STDIN, NULL, 0) < 0)
		ctl_err("exec %s: cannot close the process's stdin",
			e->x->container_id);
}

static void exec_on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct exec *e = arg;
	uint8_t buf[EXEC_STDIN_CHUNK];
	ssize_t n;

	if (e->in_done || e->state != EXEC_RUNNING)
		return;
	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 && errno != EIO)	/* EIO: the terminal hung up, an EOF */
		ctl_err("reading stdin: %s", strerror(errno));
	if (n <= 0) {
		exec_stdin_eof(e);
		return;
	}
	if (conn_stream(e->shim, FRAME_STREAM_STDIN, buf, (size_t)n) < 0) {
		e->in_done = true;
		if (e->in_pollable)
			event_del(e->in_ev);
		return;
	}
	if (conn_output_len(e->shim) > CONN_OUTPUT_HIGH) {
		/* Resumed by exec_shim_on_drained(). */
		e->in_paused = true;
		if (e->in_pollable)
			event_del(e->in_ev);
		return;
	}
	if (!e->in_pollable)
		exec_stdin_schedule(e);
}

static int exec_stdin_setup(struct exec *e)
{
	int r = exec_fd_pollable(STDIN_FILENO);

	if (r == -EBADF) {		/* no stdin at all: at its end already */
		e->in_done = true;
		return 0;
	}
	if (r < 0)
		return r;
	e->in_pollable = r == 1;
	e->in_ev = e->in_pollable ?
		event_new(e->ctl->base, STDIN_FILENO, EV_READ | EV_PERSIST,
			  exec_on_stdin, e) :
		event_new(e->ctl->base, -1, 0, exec_on_stdin, e);
	return e->in_ev ? 0 : -ENOMEM;
}

/* ---- signals -------------------------------------------------------- */

static void exec_on_signal_answer(struct conn *c, const struct conn_answer *a,
				  void *ctx)
{
	struct exec_sig *es = ctx;
	struct exec *e = es->e;

	if (a->ok || e->state == EXEC_ENDING)
		return;
	e->refused_sig = es->sig;
	ctl_err("exec %s: signal %d (%s) not delivered: %.*s",
		e->x->container_id, es->sig, strsignal(es->sig), (int)a->len,
		a->text);
}

/* Send Signal @json for @sig; its answer goes to exec_on_signal_answer(). */
static int exec_send_signal(struct exec *e, int sig, const char *json)
{
	e->sig_ctx[sig] = (struct exec_sig){ .e = e, .sig = sig };
	return conn_command(e->shim, FRAME_CMD_SIGNAL, json,
			    exec_on_signal_answer, &e->sig_ctx[sig]);
}

static void exec_send_winsize(struct exec *e)
{
	unsigned cols, rows;
	char json[96];

	if (!tty_size(&cols, &rows))
		return;
	snprintf(json, sizeof(json),
		 "{\"signalNumber\":%d,\"columns\":%u,\"rows\":%u}",
		 SIGWINCH, cols, rows);
	if (exec_send_signal(e, SIGWINCH, json) < 0)
		ctl_err("exec %s: cannot send the window size", e->x->container_id);
}

static void exec_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct exec *e = arg;
	char json[48];

	if (sig == SIGWINCH) {
		if (e->x->tty && e->state == EXEC_RUNNING)
			exec_send_winsize(e);
		return;
	}
	if (e->state < EXEC_STARTING || e->refused_sig == sig) {
		exec_end(e, 128 + (int)sig);
		return;
	}
	if (e->state == EXEC_ENDING)
		return;
	snprintf(json, sizeof(json), "{\"signalNumber\":%d}", (int)sig);
	if (exec_send_signal(e, (int)sig, json) < 0)
		exec_end(e, 128 + (int)sig);
}

/* ---- the shim connection -------------------------------------------- */

static void exec_on_disconnected(struct conn *c, const struct conn_answer *a,
				 void *ctx)
{
	/* The answer, an error, or the connection closing: all fine now. */
	event_base_loopexit(((struct exec *)ctx)->ctl->base, NULL);
}

static void exec_exited(struct exec *e, int status)
{
	e->ctl->status = status;
	e->state = EXEC_ENDING;
	tty_restore(&e->tty);
	if (e->in_ev)
		event_del(e->in_ev);
	/* Release the token at once instead of leaving it claimable. */
	if (conn_command(e->shim, FRAME_CMD_DISCONNECT_SHIM, "{}",
			 exec_on_disconnected, e) < 0)
		event_base_loopexit(e->ctl->base, NULL);
}

static void exec_shim_on_stream(struct conn *c, uint8_t opcode,
				const uint8_t *data, size_t len, void *ctx)
{
	struct exec *e = ctx;

	if (opcode == FRAME_STREAM_STDOUT)
		exec_write(e, STDOUT_FILENO, data, len);
	else if (opcode == FRAME_STREAM_STDERR)
		exec_write(e, STDERR_FILENO, data, len);
	else if (e->ctl->verbose)
		ctl_err("ignoring stream %u from the proxy", opcode);
}

static void exec_shim_on_notification(struct conn *c, uint8_t opcode,
				      const uint8_t *data, size_t len, void *ctx)
{
	struct exec *e = ctx;

	if (opcode != FRAME_NOTIFY_PROCESS_EXITED || e->state == EXEC_ENDING)
		return;
	if (len != 1) {
		ctl_err("exec %s: ProcessExited with %zu bytes instead of 1",
			e->x->container_id, len);
		exec_exited(e, CTL_EXIT_EXEC_FAILURE);
		return;
	}
	exec_exited(e, data[0]);
}

static void exec_shim_on_close(struct conn *c, const char *why, void *ctx)
{
	struct exec *e = ctx;

	if (e->state == EXEC_ENDING) {
		event_base_loopexit(e->ctl->base, NULL);
		return;
	}
	ctl_err("exec %s: the shim connection ended before the process exited: %s",
		e->x->container_id, why);
	exec_end(e, CTL_EXIT_EXEC_FAILURE);
}

static void exec_shim_on_drained(struct conn *c, void *ctx)
{
	struct exec *e = ctx;

	if (!e->in_paused)
		return;
	e->in_paused = false;
	exec_stdin_schedule(e);
}

/* ---- the steps ------------------------------------------------------ */

static void exec_on_started(struct conn *c, const struct conn_answer *a, void *ctx)
{
	struct exec *e = ctx;

	if (e->state == EXEC_ENDING)
		return;
	if (!a->ok) {
		exec_fail(e, "execcmd failed", a);
		return;
	}
	/* The ProcessExited of a very short process may come first. */
	if (e->state != EXEC_STARTING)
		return;
	e->state = EXEC_RUNNING;
	if (e->x->tty)
		exec_send_winsize(e);
	exec_stdin_schedule(e);
}

/*
 * The execcmd data for @x: {"container", "process": {"terminal", "args",
 * "envs"?, "workdir"?}}, in that key order. Return: malloc'd JSON text,
 * or NULL (*err set for a bad -e argument, else out of memory).
 */
static char *exec_build_data(const struct ctl_exec *x, const char **err)
{
	_cleanup_json_ struct json_object *d = json_object_new_object();
	struct json_object *p = json_object_new_object();
	struct json_object *args = json_object_new_array();
	struct json_object *envs = x->n_envs ? json_object_new_array() : NULL;
	const char *s;
	int r = 0;

	*err = NULL;
	/* Owned by @d as soon as they are added; free the rest on failure. */
	if (!d || !p || !args || (x->n_envs && !envs)) {
		json_object_put(p);
		json_object_put(args);
		json_object_put(envs);
		return NULL;
	}
	r |= json_object_object_add(d, "container", json_object_new_string(x->container));
	r |= json_object_object_add(d, "process", p);
	r |= json_object_object_add(p, "terminal", json_object_new_boolean(x->tty));
	r |= json_object_object_add(p, "args", args);
	for (int i = 0; i < x->argc; i++)
		r |= json_object_array_add(args, json_object_new_string(x->argv[i]));
	if (envs) {
		r |= json_object_object_add(p, "envs", envs);
		for (size_t i = 0; i < x->n_envs; i++) {
			const char *eq = strchr(x->envs[i], '=');
			struct json_object *kv = json_object_new_object();

			if (!eq || eq == x->envs[i]) {
				*err = "-e wants KEY=VALUE";
				json_object_put(kv);
				return NULL;
			}
			r |= json_object_array_add(envs, kv);
			r |= json_object_object_add(kv, "env",
				json_object_new_string_len(x->envs[i], (int)(eq - x->envs[i])));
			r |= json_object_object_add(kv, "value", json_object_new_string(eq + 1));
		}
	}
	if (x->workdir)
		r |= json_object_object_add(p, "workdir", json_object_new_string(x->workdir));
	if (r)
		return NULL;
	/* json-c keeps insertion order; '/' stays unescaped for the agent. */
	s = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	return s ? strdup(s) : NULL;
}

static void exec_on_shim_connected(struct conn *c, const struct conn_answer *a,
				   void *ctx)
{
	struct exec *e = ctx;
	_cleanup_free_ char *data = NULL;
	_cleanup_free_ char *json = NULL;
	const char *why = NULL;

	if (e->state == EXEC_ENDING)
		return;
	if (!a->ok) {
		exec_fail(e, "ConnectShim failed", a);
		return;
	}
	data = exec_build_data(e->x, &why);
	if (!data || asprintf(&json, "{\"hyperName\":\"execcmd\",\"tokens\":[\"%s\"],"
			      "\"data\":%s}", e->token, data) < 0) {
		json = NULL;
		ctl_err("exec %s: %s", e->x->container_id, why ? why : "out of memory");
		exec_end(e, CTL_EXIT_EXEC_FAILURE);
		return;
	}
	e->state = EXEC_STARTING;
	if (e->x->tty && tty_raw_enter(&e->tty, STDIN_FILENO) < 0)
		ctl_err("exec %s: cannot put the terminal in raw mode: %s",
			e->x->container_id, strerror(errno));
	if (conn_command(e->runtime, FRAME_CMD_HYPER, json, exec_on_started, e) < 0)
		exec_end(e, CTL_EXIT_EXEC_FAILURE);
}

/* The token from {"io": {"URL": ..., "tokens": [TOKEN]}}. */
static int exec_token(const struct conn_answer *a, char out[TOKEN_STR_LEN + 1])
{
	_cleanup_json_ struct json_object *o = json_tokener_parse(a->text);
	struct json_object *io, *tokens, *t;
	const char *s;

	if (!o || !json_object_object_get_ex(o, "io", &io) ||
	    !json_object_object_get_ex(io, "tokens", &tokens) ||
	    !json_object_is_type(tokens, json_type_array) ||
	    json_object_array_length(tokens) != 1)
		return -EPROTO;
	t = json_object_array_get_idx(tokens, 0);
	s = json_object_get_string(t);
	if (!json_object_is_type(t, json_type_string) || !token_is_valid(s))
		return -EPROTO;
	memcpy(out, s, TOKEN_STR_LEN + 1);
	return 0;
}

static void exec_on_attached(struct conn *c, const struct conn_answer *a, void *ctx)
{
	static const struct conn_ops shim_ops = {
		.on_stream = exec_shim_on_stream,
		.on_notification = exec_shim_on_notification,
		.on_close = exec_shim_on_close,
		.on_drained = exec_shim_on_drained,
	};
	struct exec *e = ctx;
	_cleanup_free_ char *err = NULL;
	char json[TOKEN_STR_LEN + 16];

	if (e->state == EXEC_ENDING)
		return;
	if (!a->ok) {
		exec_fail(e, "AttachVM failed", a);
		return;
	}
	if (exec_token(a, e->token) < 0) {
		ctl_err("exec %s: no token in the AttachVM answer: %.*s",
			e->x->container_id, (int)a->len, a->text);
		exec_end(e, CTL_EXIT_EXEC_FAILURE);
		return;
	}
	if (conn_open(&e->shim, e->ctl->base, e->ctl->socket_path, "shim",
		      ctl_timeout(e->ctl), e->ctl->verbose, &shim_ops, e, &err) < 0) {
		ctl_err("%s", err ? err : "cannot connect the shim");
		exec_end(e, CTL_EXIT_EXEC_FAILURE);
		return;
	}
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", e->token);
	e->state = EXEC_CONNECTING;
	if (conn_command(e->shim, FRAME_CMD_CONNECT_SHIM, json,
			 exec_on_shim_connected, e) < 0)
		exec_end(e, CTL_EXIT_EXEC_FAILURE);
}

static void exec_runtime_on_close(struct conn *c, const char *why, void *ctx)
{
	/* Pending commands got the failure; once the process runs the
	 * runtime connection is not needed any more. */
}

int exec_run(struct ctl *ctl, const struct ctl_exec *x)
{
	static const struct conn_ops runtime_ops = { .on_close = exec_runtime_on_close };
	struct exec e = { .ctl = ctl, .x = x, .tty = TTY_NULL };
	_cleanup_free_ char *err = NULL;
	_cleanup_json_ struct json_object *o = json_object_new_object();
	const char *json;
	int r;

	ctl->status = CTL_EXIT_EXEC_FAILURE;
	r = exec_stdin_setup(&e);
	if (r < 0) {
		ctl_err("exec %s: stdin: %s", x->container_id, strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(exec_signals); i++) {
		e.sig[i] = evsignal_new(ctl->base, exec_signals[i], exec_on_signal, &e);
		if (!e.sig[i] || evsignal_add(e.sig[i], NULL) < 0)
			goto out;
	}
	if (!o || json_object_object_add(o, "containerId",
					 json_object_new_string(x->container_id)) ||
	    json_object_object_add(o, "numIOStreams", json_object_new_int(1)))
		goto out;
	json = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	r = conn_open(&e.runtime, ctl->base, ctl->socket_path, "runtime",
		      ctl_timeout(ctl), ctl->verbose, &runtime_ops, &e, &err);
	if (r < 0) {
		ctl_err("%s", err ? err : strerror(-r));
		goto out;
	}
	if (conn_command(e.runtime, FRAME_CMD_ATTACH_VM, json, exec_on_attached, &e) < 0)
		goto out;
	event_base_dispatch(ctl->base);
out:
	tty_restore(&e.tty);
	e.shim = conn_free(e.shim);
	e.runtime = conn_free(e.runtime);
	if (e.in_ev)
		event_free(e.in_ev);
	for (size_t i = 0; i < ARRAY_SIZE(exec_signals); i++)
		if (e.sig[i])
			event_free(e.sig[i]);
	return ctl->status;
}
