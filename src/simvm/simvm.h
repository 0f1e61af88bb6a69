/*
 * simvm.h - cc-proxy-simvm, a simulated hyperstart VM that runs real host
 * processes (PROTOCOL.md part 2, agent side). Shared state of its modules:
 *
 *   main.c  options, signals, readiness (--notify-fd), the loop
 *   chan.c  the three listening sockets, one peer each (QEMU chardev-like)
 *   ctl.c   the ctl channel: READY, NEXT, the command FIFO, answers,
 *           processasyncevent, the ctl fault knobs
 *   cmd.c   what each agent command does (containers, ACK/ERROR text)
 *   spec.c  the JSON of a process: validation and the exec plan
 *   proc.c  processes: fork/exec, pty, output streaming, stdin, exit
 *   io.c    the io channel: stdin demultiplexing, output framing,
 *           agent death on an oversized message, slow reading, crashes
 *
 * One libevent loop, single-threaded; every object hangs off struct simvm.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <json-c/json.h>

/* hyperstart 1.x buffers this much stdin per process and drops the rest. */
#define SIMVM_STDIN_BUFFER_DEFAULT	512
/* Largest ctl message accepted (hyperstart 1.x takes more than 10240). */
#define SIMVM_CTL_IN_MAX		(1024u * 1024u)
/* Every ctl message the agent sends stays within the classic limit. */
#define SIMVM_CTL_OUT_MAX		10240u
/* Container and process ids are bounded so that a processasyncevent
 * (ids JSON-escaped, up to 6 bytes per byte) always fits SIMVM_CTL_OUT_MAX. */
#define SIMVM_ID_MAX			512
/* Output pauses while this much is queued towards the io peer... */
#define SIMVM_IO_OUT_HIGH		(1024u * 1024u)
/* ...and resumes once it has drained to this. */
#define SIMVM_IO_OUT_LOW		(64u * 1024u)
/* The container id execcmd may use without any startpod (hyperstart 1.x). */
#define SIMVM_POD_CONTAINER		"hyperstart"

enum simvm_dialect {
	SIMVM_DIALECT_HYPERSTART1 = 0,	/* processasyncevent on ctl */
	SIMVM_DIALECT_LEGACY,		/* a 1-byte io message after the empty one */
};

/* Command-line options. Masks have one bit per enum hyper_code value. */
struct simvm_opts {
	const char *ctl_path;
	const char *io_path;
	const char *console_path;	/* NULL: no console */
	enum simvm_dialect dialect;
	bool event_before_eof;		/* processasyncevent before the empty io message */
	bool strict_keys;		/* unknown process/container keys: ERROR */
	bool ready_every_connection;	/* READY to every ctl peer, not only the first */
	size_t stdin_buffer;		/* per process; 0: unlimited */
	int notify_fd;			/* -1: none */
	uint32_t fail_mask;		/* answer ERROR */
	uint32_t crash_mask;		/* crash (drop io) instead of answering */
	uint32_t garbage_mask;		/* garbage on ctl instead of answering */
	bool garbage_ready;		/* garbage instead of READY */
	uint32_t delay_mask;		/* commands whose answer is delayed */
	unsigned delay_ms;
	unsigned slow_stdin_ms;		/* read one io message per this many ms */
	const char *record_ctl;		/* --record-ctl: log of received commands, or NULL */
};

struct simvm;
struct simvm_chan;

typedef void (*simvm_chan_fn)(struct simvm_chan *c);

/* A listening socket with at most one peer: further clients wait in the
 * backlog until the peer leaves, as with QEMU's chardev sockets. */
struct simvm_chan {
	struct simvm *vm;
	const char *name;		/* "ctl", "io", "console" */
	const char *path;
	int listen_fd;
	struct event *accept_ev;
	struct bufferevent *bev;	/* the peer, or NULL */
	simvm_chan_fn on_connect;	/* a peer was accepted */
	simvm_chan_fn on_read;		/* input arrived */
	simvm_chan_fn on_drained;	/* output fell to the low watermark */
	simvm_chan_fn on_close;		/* the peer is gone (bev already freed) */
};

/* One decoded ctl command waiting for its turn. */
struct simvm_cmd {
	TAILQ_ENTRY(simvm_cmd) link;
	uint32_t code;
	char *payload;			/* NUL-terminated; may be NULL when empty */
	size_t len;
};

struct simvm_proc;

struct simvm_container {
	LIST_ENTRY(simvm_container) link;
	char *id;
	struct simvm_proc *init;	/* its process while alive, else NULL */
	bool init_started;
};

struct simvm_proc {
	LIST_ENTRY(simvm_proc) link;
	struct simvm *vm;
	char *container;		/* container id (copied) */
	char *id;			/* process id ("" when none was given) */
	bool is_init;			/* the container's own process */
	uint64_t seq_out;		/* stdio seq: stdout (and all, with a terminal) */
	uint64_t seq_err;		/* stderr seq; 0: discard */
	bool terminal;
	pid_t pid;
	int out_fd, err_fd;		/* pipes or the pty master; -1 at EOF */
	int in_fd;			/* stdin pipe or pty master (dup); -1 closed */
	struct event *out_ev, *err_ev, *in_ev;
	struct evbuffer *stdin_pending;	/* read from io, not yet written */
	bool stdin_close;		/* close stdin once pending is written */
	bool exited;
	int status;			/* exit code, or 128 + signal */
	bool event_sent;		/* processasyncevent already sent */
	bool silent;			/* the VM crashed: report nothing */
};

struct simvm {
	struct event_base *base;
	struct simvm_opts opt;
	struct simvm_chan ctl, io, console;
	bool ready_sent;
	int record_fd;			/* --record-ctl file (O_APPEND), or -1 */

	/* ctl */
	size_t ctl_unparsed;		/* input bytes already counted by NEXT */
	TAILQ_HEAD(, simvm_cmd) cmds;
	struct event *delay_timer;
	bool delaying;			/* the head's answer waits for delay_timer */

	/* io */
	struct event *slow_timer;
	bool io_throttled;		/* --slow-stdin-ms: waiting for slow_timer */
	bool output_paused;		/* io peer's buffer above SIMVM_IO_OUT_HIGH */

	bool pod_started;
	LIST_HEAD(, simvm_container) containers;
	LIST_HEAD(, simvm_proc) procs;
};

/* ---- chan.c ---- */

/**
 * chan_listen() - bind @c->path (an old socket there is replaced) and
 * start accepting. Return: 0, or a negative errno (logged).
 */
int chan_listen(struct simvm_chan *c);

/** chan_output() - the peer's output buffer, or NULL without a peer. */
struct evbuffer *chan_output(struct simvm_chan *c);

/** chan_input() - the peer's input buffer, or NULL without a peer. */
struct evbuffer *chan_input(struct simvm_chan *c);

/**
 * chan_try_accept() - without a peer, accept one already waiting in the
 * backlog now (so output is not lost to an accept the loop has not run
 * yet). Return: true when there is a peer afterwards.
 */
bool chan_try_accept(struct simvm_chan *c);

/** chan_drop() - close the peer (if any), call on_close, accept again. */
void chan_drop(struct simvm_chan *c, const char *why);

/** chan_shutdown() - close the peer and the listener, unlink the path. */
void chan_shutdown(struct simvm_chan *c);

/* ---- ctl.c ---- */

/* The ctl chan's callbacks: READY to a new peer; NEXT, decoding and the
 * command FIFO on input; a leaving peer takes its pending commands. */
void ctl_on_connect(struct simvm_chan *c);
void ctl_on_read(struct simvm_chan *c);
void ctl_on_close(struct simvm_chan *c);
/** ctl_init() - the FIFO and the delay timer. Return: 0 or -ENOMEM. */
int ctl_init(struct simvm *vm);
/** ctl_deinit() - drop pending commands, free the timer. */
void ctl_deinit(struct simvm *vm);

/**
 * ctl_send() - queue one ctl message to the peer (dropped without one).
 * Every message stays within SIMVM_CTL_OUT_MAX: an ERROR text is cut to
 * fit; anything else that would not fit is refused. Return: 0 or -errno.
 */
int ctl_send(struct simvm *vm, uint32_t code, const void *payload, size_t len);

/** ctl_send_finished() - processasyncevent "finished" for @p. */
void ctl_send_finished(struct simvm *vm, const struct simvm_proc *p);

/* ---- cmd.c ---- */

/* The answer to one command: ACK with data, or ERROR with a reason. */
struct simvm_answer {
	bool error;
	char *data;			/* malloc'd; NULL when empty */
	size_t len;
};

/**
 * cmd_run() - carry out one agent command and fill @ans.
 * @payload: NUL-terminated, @len bytes (may be NULL when @len is 0)
 */
void cmd_run(struct simvm *vm, uint32_t code, const char *payload, size_t len,
	     struct simvm_answer *ans);

/** cmd_forget_all() - drop every container (crash, destroypod, exit). */
void cmd_forget_all(struct simvm *vm);

/** cmd_find_container() - the container @id, or NULL. */
struct simvm_container *cmd_find_container(struct simvm *vm, const char *id);

/* ---- spec.c: a process as the command described it ---- */

struct simvm_spec {
	const char *id;			/* "" when absent */
	bool terminal;
	uint64_t seq_out, seq_err;
	char *path;			/* resolved executable; NULL: not in PATH */
	char **argv;			/* NULL-terminated */
	char **envp;			/* NULL-terminated */
	const char *workdir;		/* NULL: inherit */
};

/**
 * spec_parse() - validate a "process" object and resolve its executable.
 * @proc: borrowed; strings in @s point into it and live as long as it
 * @err: a malloc'd reason on failure
 * Return: 0, or -1 with *@err set. spec_free() in both cases.
 */
int spec_parse(const struct simvm *vm, struct json_object *proc,
	       struct simvm_spec *s, char **err);
void spec_free(struct simvm_spec *s);

/** spec_check_keys() - with --strict-keys, an unknown key of @obj is an
 * error (@what names the object, @known ends with NULL). */
int spec_check_keys(struct json_object *obj, const char *what,
		    const char *const *known, char **err);

/* ---- proc.c ---- */

/**
 * proc_start() - start @s's process in @container. Return: the process
 * (owned by @vm->procs) or NULL with *@err set (malloc'd).
 */
struct simvm_proc *proc_start(struct simvm *vm, const char *container,
			      bool is_init, const struct simvm_spec *s,
			      char **err);

/** proc_by_seq() - the live process whose stdio seq is @seq, or NULL. */
struct simvm_proc *proc_by_seq(struct simvm *vm, uint64_t seq);

/** proc_stdin() - stdin data from the io channel (bounded, see opts). */
void proc_stdin(struct simvm_proc *p, const uint8_t *data, size_t len);

/** proc_stdin_close() - the empty io message: close stdin once written. */
void proc_stdin_close(struct simvm_proc *p);

/** proc_reap() - SIGCHLD: collect every exited child. */
void proc_reap(struct simvm *vm);

/** proc_kill_all() - SIGKILL every process group; @silent: the VM is
 * gone, so report nothing about them. */
void proc_kill_all(struct simvm *vm, bool silent);

/** proc_set_output_paused() - stop or resume reading process output. */
void proc_set_output_paused(struct simvm *vm, bool paused);

/** proc_free_all() - forget every process (at exit, after killing). */
void proc_free_all(struct simvm *vm);

/* ---- io.c ---- */

/* The io chan's callbacks: a slow reader's watermark on connect; stdin
 * demultiplexing on input; output resumes when drained; throttling and
 * pausing end with the peer. */
void io_on_connect(struct simvm_chan *c);
void io_on_read(struct simvm_chan *c);
void io_on_drained(struct simvm_chan *c);
void io_on_close(struct simvm_chan *c);
/** io_init() - the --slow-stdin-ms timer. Return: 0 or -ENOMEM. */
int io_init(struct simvm *vm);
/** io_deinit() - free the timer. */
void io_deinit(struct simvm *vm);

/** io_send() - @len bytes of output on @seq (0: nothing is sent), as io
 * messages of at most HYPER_IO_SEND_MAX bytes; @len 0 sends the empty
 * message. Without an io peer the data is lost, as on a real serial port. */
void io_send(struct simvm *vm, uint64_t seq, const void *data, size_t len);

/**
 * io_flush() - write queued io output to the socket now, as far as it
 * takes it: hyperstart writes the end of a process's output before it
 * sends the exit event, so the default order on the wire is the same.
 */
void io_flush(struct simvm *vm);

/**
 * io_crash() - the VM crashes: its io connection drops and every process
 * dies without a report; ctl stays up. @why is logged.
 */
void io_crash(struct simvm *vm, const char *why);

/**
 * io_agent_dies() - what the real agent does on a fatal input: both
 * channels close, every process dies; the simulated VM then reboots
 * (READY again to the next ctl peer).
 */
void io_agent_dies(struct simvm *vm, const char *why);
