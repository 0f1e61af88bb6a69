/*
 * proc.c - the simulated VM's processes: real host processes started by
 * execcmd/newcontainer, with their output streamed on the io channel.
 *
 * Life of a process:
 *  1. proc_start(): pipes (or a pty with process.terminal), fork, exec.
 *     The child gets its own session (so a whole group can be killed and
 *     a pty can become its controlling terminal) and dies with the simvm
 *     (PR_SET_PDEATHSIG). As in hyperstart, a process that cannot run is
 *     still ACKed: when the child cannot exec (no such binary, no
 *     permission, no workdir) it writes why on its own stderr and exits
 *     127 (not found) or 126 (any other reason), which is reported after
 *     the ACK like any output and exit. The ACK waits until the child has
 *     exec'd or exited (end of file on a CLOEXEC pipe), and signals are
 *     blocked from fork until the child has reset their dispositions: a
 *     killcontainer right after the ACK never meets the simvm's own
 *     handlers in the child (libevent's would pass it on to the simvm).
 *  2. Output: each read from stdout/stderr (the pty: everything) is sent
 *     on seq_out / seq_err at once.
 *  3. stdin from io is written to the process; what does not fit in the
 *     pipe is kept up to --stdin-buffer bytes (512, hyperstart's buffer)
 *     and the rest is dropped. An empty io message closes stdin once the
 *     kept bytes are written (ignored with a terminal).
 *  4. The process is "finished" when it has exited (SIGCHLD) AND its
 *     output reached end of file. Then: the empty io message on seq_out,
 *     and the status: 1 byte on seq_out (legacy) or processasyncevent
 *     (hyperstart1). With --event-before-eof the event goes out as soon
 *     as the process has exited, before the empty message (and maybe
 *     before the last output), as an agent that buffers io does.
 *  Status: the exit code, or 128 + the signal number.
 *
 * A crash marks processes silent: they are killed and nothing more is
 * reported about them; they stay listed (without their seqs counting)
 * until reaped and drained.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "cleanup.h"
#include "log.h"
#include "simvm.h"

/* Bytes taken from a process's output per read. */
#define PROC_READ_CHUNK 8192

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Unlist and free @p, detaching it from its container. */
static void proc_free(struct simvm_proc *p)
{
	LIST_REMOVE(p, link);
	if (p->is_init) {
		struct simvm_container *c = cmd_find_container(p->vm, p->container);

		if (c && c->init == p)
			c->init = NULL;
	}
	if (p->out_ev)
		event_free(p->out_ev);
	if (p->err_ev)
		event_free(p->err_ev);
	if (p->in_ev)
		event_free(p->in_ev);
	closep(&p->out_fd);
	closep(&p->err_fd);
	closep(&p->in_fd);
	if (p->stdin_pending)
		evbuffer_free(p->stdin_pending);
	free(p->container);
	free(p->id);
	free(p);
}

/* Finished: exited and all output read. Report and forget it. */
static void proc_check_done(struct simvm_proc *p)
{
	struct simvm *vm = p->vm;

	if (!p->exited || p->out_fd >= 0 || p->err_fd >= 0)
		return;
	if (!p->silent) {
		log_info("process %s/%s (pid %d) finished, status %d", p->container,
			 p->id, (int)p->pid, p->status);
		io_send(vm, p->seq_out, NULL, 0);
		if (vm->opt.dialect == SIMVM_DIALECT_LEGACY) {
			uint8_t st = (uint8_t)p->status;

			io_send(vm, p->seq_out, &st, 1);
		} else if (!p->event_sent) {
			p->event_sent = true;
			io_flush(vm);
			ctl_send_finished(vm, p);
		}
	}
	proc_free(p);
}

/* Stop watching one output fd: end of file. */
static void proc_output_eof(struct simvm_proc *p, bool err)
{
	struct event **ev = err ? &p->err_ev : &p->out_ev;
	int *fd = err ? &p->err_fd : &p->out_fd;

	if (*ev)
		event_free(*ev);
	*ev = NULL;
	closep(fd);
	proc_check_done(p);
}

static void proc_on_output(evutil_socket_t fd, short what, void *ctx)
{
	struct simvm_proc *p = ctx;
	bool err = fd == p->err_fd;
	uint8_t buf[PROC_READ_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0) {
		if (!p->silent)
			io_send(p->vm, err ? p->seq_err : p->seq_out, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* 0: end of file; EIO: a pty whose slave side is closed by all. */
	if (n < 0 && errno != EIO)
		log_warn("process %s/%s: read: %s", p->container, p->id, strerror(errno));
	proc_output_eof(p, err);
}

/* No more stdin for @p: what is kept is dropped, the pipe closed. */
static void proc_close_stdin(struct simvm_proc *p)
{
	if (p->in_ev)
		event_del(p->in_ev);
	if (p->stdin_pending)
		evbuffer_drain(p->stdin_pending, evbuffer_get_length(p->stdin_pending));
	/* With a terminal in_fd also serves winsize: it stays open. */
	if (!p->terminal)
		closep(&p->in_fd);
}

/* The stdin pipe has room: write what is kept, close when asked to. */
static void proc_on_stdin(evutil_socket_t fd, short what, void *ctx)
{
	struct simvm_proc *p = ctx;
	int n = evbuffer_write(p->stdin_pending, fd);

	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		/* EPIPE: the process closed its stdin; the rest is lost. */
		log_info("process %s/%s: stdin: %s", p->container, p->id, strerror(errno));
		proc_close_stdin(p);
		return;
	}
	if (evbuffer_get_length(p->stdin_pending))
		return;
	event_del(p->in_ev);
	if (p->stdin_close)
		proc_close_stdin(p);
}

void proc_stdin(struct simvm_proc *p, const uint8_t *data, size_t len)
{
	size_t pending, limit = p->vm->opt.stdin_buffer, keep;
	ssize_t n = 0;

	if (p->in_fd < 0 || p->stdin_close || p->exited) {
		log_info("process %s/%s: stdin closed: %zu bytes dropped", p->container,
			 p->id, len);
		return;
	}
	pending = evbuffer_get_length(p->stdin_pending);
	if (!pending) {
		n = write(p->in_fd, data, len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				log_info("process %s/%s: stdin: %s", p->container, p->id,
					 strerror(errno));
				proc_close_stdin(p);
				return;
			}
			n = 0;
		}
	}
	len -= (size_t)n;
	data += n;
	keep = len;
	/* hyperstart keeps a small buffer per process and drops the rest. */
	if (limit && keep > (limit > pending ? limit - pending : 0))
		keep = limit > pending ? limit - pending : 0;
	if (keep)
		evbuffer_add(p->stdin_pending, data, keep);
	if (keep < len)
		log_warn("process %s/%s: stdin buffer full (%zu bytes): %zu bytes dropped",
			 p->container, p->id, limit, len - keep);
	if (evbuffer_get_length(p->stdin_pending))
		event_add(p->in_ev, NULL);
}

void proc_stdin_close(struct simvm_proc *p)
{
	if (p->terminal) {
		log_info("process %s/%s: empty stdin message ignored (terminal)",
			 p->container, p->id);
		return;
	}
	p->stdin_close = true;
	if (!evbuffer_get_length(p->stdin_pending))
		proc_close_stdin(p);
}

struct simvm_proc *proc_by_seq(struct simvm *vm, uint64_t seq)
{
	struct simvm_proc *p;

	if (!seq)
		return NULL;
	LIST_FOREACH(p, &vm->procs, link)
		if (!p->silent && p->seq_out == seq)
			return p;
	return NULL;
}

/* May @s start next to the processes already there? */
static int proc_check_unique(struct simvm *vm, const char *container,
			     const struct simvm_spec *s, char **err)
{
	uint64_t seqs[2] = { s->seq_out, s->terminal ? 0 : s->seq_err };
	struct simvm_proc *p;

	LIST_FOREACH(p, &vm->procs, link) {
		if (p->silent)
			continue;
		for (int i = 0; i < 2; i++)
			if (seqs[i] && (seqs[i] == p->seq_out || seqs[i] == p->seq_err))
				goto seq_used;
		/* hyperstart reports exits by (container, process id): two
		 * live processes with one id cannot be told apart (and two
		 * execcmds without an id crash hyperstart 1.1). */
		if (!strcmp(p->container, container) && !strcmp(p->id, s->id)) {
			if (asprintf(err, "process id \"%s\" is already in use in container %s",
				     s->id, container) < 0)
				*err = NULL;
			return -1;
		}
		continue;
seq_used:
		if (asprintf(err, "sequence number in use by process %s/%s",
			     p->container, p->id) < 0)
			*err = NULL;
		return -1;
	}
	return 0;
}

/* In the child: "cc-proxy-simvm: @what @arg: <errno @e>" on @fd. */
static void proc_child_say(int fd, const char *what, const char *arg, int e)
{
	const char *parts[] = { "cc-proxy-simvm: ", what, " ", arg, ": ", strerror(e), "\n" };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		(void)!write(fd, parts[i], strlen(parts[i]));
}

/*
 * In the child, between fork and exec. The simvm is single-threaded, so
 * the child may call anything; it keeps to system calls and strerror().
 * Failures after the fork are the process's own: told on its stderr
 * (@errfd, or the terminal), exit status 127 for a binary that does not
 * exist, 126 otherwise (the shell's and runc's convention).
 */
static void __attribute__((noreturn))
proc_child(const struct simvm_spec *s, pid_t parent, int in, int out, int errfd,
	   int tty, const sigset_t *mask)
{
	int e;

	/* Die with the simulated VM, as processes die with a real one. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	/* Signals: the simvm ignores SIGPIPE and libevent catches others;
	 * an ignored disposition would survive exec. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	/* What was pending since the fork now gets its default action. */
	sigprocmask(SIG_SETMASK, mask, NULL);
	setsid();
	if (tty >= 0) {
		ioctl(tty, TIOCSCTTY, 0);
		in = out = errfd = tty;
	}
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0) {
		proc_child_say(errfd, "cannot set up stdio for", s->argv[0], errno);
		_exit(126);
	}
	if (s->workdir && chdir(s->workdir) < 0) {
		proc_child_say(errfd, "cannot enter workdir", s->workdir, errno);
		_exit(126);
	}
	if (!s->path) {
		proc_child_say(errfd, "cannot execute", s->argv[0], ENOENT);
		_exit(127);
	}
	execve(s->path, s->argv, s->envp);
	e = errno;
	proc_child_say(errfd, "cannot execute", s->argv[0], e);
	_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

/* Set up fds for the child. Return: 0 or -errno. */
static int proc_make_fds(bool terminal, int child[3], int parent[3], int *tty)
{
	char name[128];
	int fds[2];

	if (terminal) {
		int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

		if (m < 0)
			return -errno;
		parent[1] = m;
		if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)))
			return -errno;
		*tty = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (*tty < 0)
			return -errno;
		/* A second fd on the master for stdin and winsize, so output
		 * EOF can close its own. */
		parent[0] = fcntl(m, F_DUPFD_CLOEXEC, 3);
		if (parent[0] < 0)
			return -errno;
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		if (pipe2(fds, O_CLOEXEC) < 0)
			return -errno;
		/* stdin: the child reads; stdout/stderr: the child writes. */
		child[i] = fds[i == 0 ? 0 : 1];
		parent[i] = fds[i == 0 ? 1 : 0];
	}
	return 0;
}

/* A process record for @s, not yet listed and without fds. */
static struct simvm_proc *proc_new(struct simvm *vm, const char *container,
				   bool is_init, const struct simvm_spec *s)
{
	struct simvm_proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->vm = vm;
	p->is_init = is_init;
	p->terminal = s->terminal;
	p->seq_out = s->seq_out;
	p->seq_err = s->terminal ? 0 : s->seq_err;
	p->in_fd = p->out_fd = p->err_fd = -1;
	p->container = strdup(container);
	p->id = strdup(s->id);
	p->stdin_pending = evbuffer_new();
	if (!p->container || !p->id || !p->stdin_pending) {
		if (p->stdin_pending)
			evbuffer_free(p->stdin_pending);
		free(p->container);
		free(p->id);
		free(p);
		return NULL;
	}
	return p;
}

/* Watch @p's fds (taking them). Return: 0 or -ENOMEM. */
static int proc_watch(struct simvm_proc *p, int parent[3])
{
	struct event_base *base = p->vm->base;

	p->in_fd = TAKE_FD(parent[0]);
	p->out_fd = TAKE_FD(parent[1]);
	p->err_fd = TAKE_FD(parent[2]);
	for (int i = 0; i < 3; i++) {
		int fd = i == 0 ? p->in_fd : i == 1 ? p->out_fd : p->err_fd;

		if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
			return -errno;
	}
	p->in_ev = event_new(base, p->in_fd, EV_WRITE | EV_PERSIST, proc_on_stdin, p);
	p->out_ev = event_new(base, p->out_fd, EV_READ | EV_PERSIST, proc_on_output, p);
	if (p->err_fd >= 0)
		p->err_ev = event_new(base, p->err_fd, EV_READ | EV_PERSIST, proc_on_output, p);
	if (!p->in_ev || !p->out_ev || (p->err_fd >= 0 && !p->err_ev))
		return -ENOMEM;
	if (!p->vm->output_paused) {
		event_add(p->out_ev, NULL);
		if (p->err_ev)
			event_add(p->err_ev, NULL);
	}
	return 0;
}

struct simvm_proc *proc_start(struct simvm *vm, const char *container,
			      bool is_init, const struct simvm_spec *s, char **err)
{
	int child[3] = { -1, -1, -1 }, parent[3] = { -1, -1, -1 }, report[2] = { -1, -1 };
	int tty = -1, r;
	struct simvm_proc *p = NULL;
	pid_t self = getpid(), pid;
	sigset_t all, old, none;
	int e;
	char c;
	ssize_t n;

	*err = NULL;
	if (proc_check_unique(vm, container, s, err) < 0)
		return NULL;
	r = proc_make_fds(s->terminal, child, parent, &tty);
	if (r == 0 && pipe2(report, O_CLOEXEC) < 0)
		r = -errno;
	if (r == 0 && !(p = proc_new(vm, container, is_init, s)))
		r = -ENOMEM;
	if (r < 0) {
		if (asprintf(err, "cannot set up the process: %s", strerror(-r)) < 0)
			*err = NULL;
		goto out;
	}
	sigfillset(&all);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		proc_child(s, self, child[0], child[1], child[2], tty, &none);
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		if (asprintf(err, "fork: %s", strerror(e)) < 0)
			*err = NULL;
		goto out;
	}
	/* Exec (or the child's exit) closes the CLOEXEC pipe; nothing is
	 * ever written to it. */
	closep(&report[1]);
	do
		n = read(report[0], &c, 1);
	while (n < 0 && errno == EINTR);
	p->pid = pid;
	LIST_INSERT_HEAD(&vm->procs, p, link);
	if (proc_watch(p, parent) < 0) {
		/* Without its events the process cannot be served: it goes
		 * at once (SIGKILL, so the wait is short). */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		proc_free(p);
		p = NULL;
		if (asprintf(err, "out of memory") < 0)
			*err = NULL;
		goto out;
	}
	log_info("process %s/%s started: pid %d, seq %llu/%llu%s", container,
		 p->id, (int)pid, (unsigned long long)p->seq_out,
		 (unsigned long long)p->seq_err, p->terminal ? ", terminal" : "");
	goto done;
out:
	if (p && !p->pid) {
		free(p->container);
		free(p->id);
		evbuffer_free(p->stdin_pending);
		free(p);
		p = NULL;
	}
done:
	for (int i = 0; i < 3; i++) {
		closep(&child[i]);
		closep(&parent[i]);
	}
	closep(&tty);
	closep(&report[0]);
	closep(&report[1]);
	return p;
}

void proc_reap(struct simvm *vm)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct simvm_proc *p;

		LIST_FOREACH(p, &vm->procs, link)
			if (p->pid == pid && !p->exited)
				break;
		if (!p)
			continue;
		p->exited = true;
		p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		log_info("process %s/%s (pid %d) exited, status %d", p->container,
			 p->id, (int)pid, p->status);
		if (!p->terminal)
			proc_close_stdin(p);
		if (!p->silent && vm->opt.dialect == SIMVM_DIALECT_HYPERSTART1 &&
		    vm->opt.event_before_eof) {
			p->event_sent = true;
			ctl_send_finished(vm, p);
		}
		proc_check_done(p);
	}
}

void proc_kill_all(struct simvm *vm, bool silent)
{
	struct simvm_proc *p;

	LIST_FOREACH(p, &vm->procs, link) {
		if (silent)
			p->silent = true;
		if (!p->exited) {
			/* The whole session's group: children of the process
			 * die with it, as in a VM that goes away. */
			kill(-p->pid, SIGKILL);
			kill(p->pid, SIGKILL);
		}
	}
}

void proc_set_output_paused(struct simvm *vm, bool paused)
{
	struct simvm_proc *p;

	LIST_FOREACH(p, &vm->procs, link) {
		struct event *evs[2] = { p->out_ev, p->err_ev };

		for (int i = 0; i < 2; i++) {
			if (!evs[i])
				continue;
			if (paused)
				event_del(evs[i]);
			else
				event_add(evs[i], NULL);
		}
	}
}

void proc_free_all(struct simvm *vm)
{
	while (!LIST_EMPTY(&vm->procs))
		proc_free(LIST_FIRST(&vm->procs));
}
