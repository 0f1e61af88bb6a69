/*
 * io.c - the agent's side of the io channel (PROTOCOL.md part 2).
 *
 * From the proxy: u64 seq | u32 length | data, stdin for the process
 * whose stdio seq it is; an empty message closes that stdin. Like
 * hyperstart:
 *  - a message longer than HYPER_IO_SEND_MAX (4096) bytes in total is
 *    fatal: hyperstart 1.1.0 dies there (PID 1 exits, the VM panics). The
 *    header is judged as soon as it arrives; both channels close, every
 *    process dies, and the simulated VM reboots (io_agent_dies());
 *  - stdin for a seq no process has gets an empty message back on that
 *    seq ("goodbye").
 * --slow-stdin-ms MS: one message is taken every MS milliseconds and
 * reading stops while two messages' worth is buffered, so the proxy sees
 * a slow reader through the socket's back-pressure.
 *
 * To the proxy: output, the empty end-of-output message and (legacy
 * dialect) the 1-byte status, framed by hyper_io_encode() into messages
 * of at most 4096 bytes. Without a peer, output is lost (as with QEMU).
 * When the peer's buffer grows past SIMVM_IO_OUT_HIGH, reading process
 * output stops until it drains to SIMVM_IO_OUT_LOW: the pipes fill up and
 * the processes block, as they would behind a slow serial port.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <errno.h>
#include <string.h>

#include <event2/buffer.h>

#include "hyper.h"
#include "log.h"
#include "simvm.h"

void io_send(struct simvm *vm, uint64_t seq, const void *data, size_t len)
{
	struct evbuffer *out;

	if (!seq)
		return;		/* seq 0: the output goes nowhere */
	if (!chan_try_accept(&vm->io)) {
		log_debug("io: no peer: %zu bytes for seq %llu lost", len,
			  (unsigned long long)seq);
		return;
	}
	out = chan_output(&vm->io);
	if (hyper_io_encode(out, seq, data, len) < 0) {
		log_error("io: out of memory: %zu bytes for seq %llu lost", len,
			  (unsigned long long)seq);
		return;
	}
	if (!vm->output_paused && evbuffer_get_length(out) > SIMVM_IO_OUT_HIGH) {
		log_info("io: peer slow: process output paused");
		vm->output_paused = true;
		proc_set_output_paused(vm, true);
	}
}

void io_flush(struct simvm *vm)
{
	struct evbuffer *out = chan_output(&vm->io);

	/* Best effort and non-blocking: whatever the socket takes now. A
	 * failure shows up later as the bufferevent's own error or EOF. */
	if (out && evbuffer_get_length(out))
		(void)evbuffer_write(out, bufferevent_getfd(vm->io.bev));
}

void io_on_drained(struct simvm_chan *c)
{
	struct simvm *vm = c->vm;
	struct evbuffer *out = chan_output(c);

	if (vm->output_paused && out && evbuffer_get_length(out) <= SIMVM_IO_OUT_LOW) {
		log_info("io: process output resumed");
		vm->output_paused = false;
		proc_set_output_paused(vm, false);
	}
}

/* One message for @seq from the proxy. */
static void io_deliver(struct simvm *vm, uint64_t seq, const uint8_t *data, size_t len)
{
	struct simvm_proc *p = proc_by_seq(vm, seq);

	if (!p) {
		log_info("io: %zu bytes for unknown seq %llu: goodbye", len,
			 (unsigned long long)seq);
		io_send(vm, seq, NULL, 0);
		return;
	}
	if (len)
		proc_stdin(p, data, len);
	else
		proc_stdin_close(p);
}

/* Handle buffered messages, one at a time when reading slowly. */
static void io_process(struct simvm *vm)
{
	struct evbuffer *in;

	while (!vm->io_throttled && (in = chan_input(&vm->io))) {
		const char *why = NULL;
		uint64_t seq = 0;
		size_t len = 0;
		int r = hyper_io_peek(in, HYPER_IO_SEND_MAX, &seq, &len, &why);

		if (r == HYPER_E_INCOMPLETE)
			return;
		if (r != 0) {
			io_agent_dies(vm, why ? why : "invalid io message");
			return;
		}
		evbuffer_drain(in, HYPER_IO_HEADER_SIZE);
		io_deliver(vm, seq, len ? evbuffer_pullup(in, (ev_ssize_t)len) : NULL, len);
		/* The peer may be gone now (an agent death drops it). */
		in = chan_input(&vm->io);
		if (in)
			evbuffer_drain(in, len);
		if (vm->opt.slow_stdin_ms) {
			struct timeval tv = {
				.tv_sec = vm->opt.slow_stdin_ms / 1000,
				.tv_usec = (vm->opt.slow_stdin_ms % 1000) * 1000,
			};

			vm->io_throttled = true;
			evtimer_add(vm->slow_timer, &tv);
		}
	}
}

static void io_on_slow(evutil_socket_t fd, short what, void *ctx)
{
	struct simvm *vm = ctx;

	vm->io_throttled = false;
	io_process(vm);
}

void io_on_connect(struct simvm_chan *c)
{
	/* A slow reader keeps little in its buffer, so that the socket
	 * fills and the proxy feels it. */
	if (c->vm->opt.slow_stdin_ms)
		bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * HYPER_IO_SEND_MAX);
}

void io_on_read(struct simvm_chan *c)
{
	io_process(c->vm);
}

void io_on_close(struct simvm_chan *c)
{
	struct simvm *vm = c->vm;

	if (vm->io_throttled) {
		evtimer_del(vm->slow_timer);
		vm->io_throttled = false;
	}
	if (vm->output_paused) {
		vm->output_paused = false;
		proc_set_output_paused(vm, false);
	}
}

void io_crash(struct simvm *vm, const char *why)
{
	log_warn("VM crash (%s): the io channel drops, every process dies", why);
	proc_kill_all(vm, true);
	cmd_forget_all(vm);
	vm->pod_started = false;
	chan_drop(&vm->io, "VM crash");
}

void io_agent_dies(struct simvm *vm, const char *why)
{
	log_error("the agent dies (%s), as hyperstart would: both channels close, "
		  "every process dies, the VM reboots", why);
	proc_kill_all(vm, true);
	cmd_forget_all(vm);
	vm->pod_started = false;
	vm->ready_sent = false;
	chan_drop(&vm->io, "agent died");
	chan_drop(&vm->ctl, "agent died");
}

int io_init(struct simvm *vm)
{
	vm->slow_timer = evtimer_new(vm->base, io_on_slow, vm);
	return vm->slow_timer ? 0 : -ENOMEM;
}

void io_deinit(struct simvm *vm)
{
	if (vm->slow_timer)
		event_free(vm->slow_timer);
	vm->slow_timer = NULL;
}
