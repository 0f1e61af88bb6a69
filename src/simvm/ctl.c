/*
 * ctl.c - the agent's side of the ctl channel (PROTOCOL.md part 2).
 *
 * - READY (8) goes to the first ctl peer only, as hyperstart sends it once
 *   at boot (--ready-every-connection: to every peer). After the agent
 *   "dies" (io.c) the VM reboots and the next peer gets READY again.
 * - Every chunk read from the socket is counted by one NEXT (14) carrying
 *   its byte count, sent at once, before any answer that chunk completes:
 *   NEXT is flow control and never stands in for an answer.
 * - Commands are decoded into a FIFO and answered strictly in order,
 *   exactly one ACK (9) or ERROR (10) each. With --delay-ms the head of
 *   the FIFO waits on a timer and is carried out when it fires, so a
 *   delayed command also takes effect late, like a busy agent; the
 *   commands behind it wait too (answers stay in order).
 * - Fault knobs per command: --fail-on (ERROR), --garbage-on (bytes that
 *   are no ctl message, instead of the answer), --crash-on (the VM
 *   crashes, io.c, and the command is never answered).
 * - Every message sent stays within SIMVM_CTL_OUT_MAX bytes.
 * - --record-ctl: each command is appended to a file as it is decoded
 *   (before its answer), "NAME LEN PAYLOAD\n", so a test can compare the
 *   bytes the agent got with what its client sent.
 *
 * A peer that leaves takes its unanswered commands with it: a new peer
 * never receives answers to commands it did not send.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "cleanup.h"
#include "hyper.h"
#include "log.h"
#include "simvm.h"

/* Never a valid ctl message: its length field is below the header. */
static const uint8_t ctl_garbage[] = {
	0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x03,
	0xde, 0xad, 0xbe, 0xef, 0x67, 0x61, 0x72, 0x62,
};

static bool mask_has(uint32_t mask, uint32_t code)
{
	return code < 32 && (mask & (1u << code));
}

/* A line on the console, as hyperstart logs each command it gets. */
static void console_note(struct simvm *vm, const char *name, size_t len)
{
	struct evbuffer *out = chan_output(&vm->console);

	if (out)
		evbuffer_add_printf(out, "hyperstart: received %s (%zu bytes)\n", name, len);
}

int ctl_send(struct simvm *vm, uint32_t code, const void *payload, size_t len)
{
	struct evbuffer *out = chan_output(&vm->ctl);

	if (len > SIMVM_CTL_OUT_MAX - HYPER_CTL_HEADER_SIZE) {
		if (code != HYPER_ERROR) {
			log_error("ctl: %s of %zu bytes would exceed %u: not sent",
				  hyper_code_name(code), len, SIMVM_CTL_OUT_MAX);
			return -EMSGSIZE;
		}
		/* An ERROR reason is text for humans: cut it to fit. */
		len = SIMVM_CTL_OUT_MAX - HYPER_CTL_HEADER_SIZE;
	}
	if (!out) {
		log_info("ctl: no peer: %s dropped", hyper_code_name(code));
		return -ENOTCONN;
	}
	log_debug("ctl: send %s (%zu bytes)", hyper_code_name(code), len);
	return hyper_ctl_encode(out, code, payload, len);
}

void ctl_send_finished(struct simvm *vm, const struct simvm_proc *p)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	const char *text;

	if (!o)
		return;
	json_object_object_add(o, "container", json_object_new_string(p->container));
	json_object_object_add(o, "process", json_object_new_string(p->id));
	json_object_object_add(o, "event", json_object_new_string("finished"));
	json_object_object_add(o, "status", json_object_new_int(p->status));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	log_info("ctl: processasyncevent %s", text);
	ctl_send(vm, HYPER_PROCESSASYNCEVENT, text, strlen(text));
}

static void ctl_answer(struct simvm *vm, const struct simvm_answer *a)
{
	ctl_send(vm, a->error ? HYPER_ERROR : HYPER_ACK, a->data, a->len);
}

static void ctl_cmd_free(struct simvm_cmd *c)
{
	free(c->payload);
	free(c);
}

/*
 * Carry out @c (already off the FIFO) and answer it, unless a fault knob
 * says otherwise.
 */
static void ctl_execute(struct simvm *vm, struct simvm_cmd *c)
{
	struct simvm_answer a = { 0 };
	const char *name = hyper_code_name(c->code);

	log_info("ctl: %s (%zu bytes)", name, c->len);
	console_note(vm, name, c->len);
	if (mask_has(vm->opt.crash_mask, c->code)) {
		io_crash(vm, "--crash-on");
		return;
	}
	if (mask_has(vm->opt.garbage_mask, c->code)) {
		struct evbuffer *out = chan_output(&vm->ctl);

		log_info("ctl: garbage instead of the answer to %s", name);
		if (out)
			evbuffer_add(out, ctl_garbage, sizeof(ctl_garbage));
		return;
	}
	if (mask_has(vm->opt.fail_mask, c->code)) {
		char why[128];

		snprintf(why, sizeof(why), "injected failure (--fail-on %s)", name);
		a.error = true;
		a.data = strdup(why);
		a.len = a.data ? strlen(a.data) : 0;
	} else {
		cmd_run(vm, c->code, c->payload, c->len, &a);
	}
	if (a.error)
		log_info("ctl: %s -> ERROR %.*s", name, (int)a.len, a.data ? a.data : "");
	ctl_answer(vm, &a);
	free(a.data);
}

/* Carry out queued commands in order until one must wait. */
static void ctl_kick(struct simvm *vm)
{
	struct simvm_cmd *c;

	while (!vm->delaying && (c = TAILQ_FIRST(&vm->cmds))) {
		if (vm->opt.delay_ms && mask_has(vm->opt.delay_mask, c->code)) {
			struct timeval tv = {
				.tv_sec = vm->opt.delay_ms / 1000,
				.tv_usec = (vm->opt.delay_ms % 1000) * 1000,
			};

			vm->delaying = true;
			evtimer_add(vm->delay_timer, &tv);
			return;
		}
		TAILQ_REMOVE(&vm->cmds, c, link);
		ctl_execute(vm, c);
		ctl_cmd_free(c);
		/* A crash or an agent death may have closed ctl: what is
		 * still queued went with it (ctl_on_close). */
	}
}

static void ctl_on_delay(evutil_socket_t fd, short what, void *ctx)
{
	struct simvm *vm = ctx;
	struct simvm_cmd *c = TAILQ_FIRST(&vm->cmds);

	vm->delaying = false;
	if (c) {
		TAILQ_REMOVE(&vm->cmds, c, link);
		ctl_execute(vm, c);
		ctl_cmd_free(c);
	}
	ctl_kick(vm);
}

void ctl_on_connect(struct simvm_chan *ch)
{
	struct simvm *vm = ch->vm;
	struct evbuffer *out = chan_output(ch);

	vm->ctl_unparsed = 0;
	if (vm->ready_sent && !vm->opt.ready_every_connection) {
		log_info("ctl: READY was sent at boot: not again");
		return;
	}
	vm->ready_sent = true;
	if (vm->opt.garbage_ready) {
		log_info("ctl: garbage instead of READY");
		evbuffer_add(out, ctl_garbage, sizeof(ctl_garbage));
		return;
	}
	ctl_send(vm, HYPER_READY, NULL, 0);
}

/* --record-ctl: one record per command, written in one piece. */
static void ctl_record(struct simvm *vm, const struct simvm_cmd *c)
{
	_cleanup_free_ char *rec = NULL;
	size_t len = 0;
	ssize_t n;
	FILE *f;

	if (vm->record_fd < 0)
		return;
	f = open_memstream(&rec, &len);
	if (!f)
		return;
	fprintf(f, "%s %zu ", hyper_code_name(c->code), c->len);
	if (c->len)
		fwrite(c->payload, 1, c->len, f);
	fputc('\n', f);
	if (fclose(f) != 0)
		return;
	n = write(vm->record_fd, rec, len);
	if (n != (ssize_t)len)
		log_warn("--record-ctl: %s", n < 0 ? strerror(errno) : "short write");
}

void ctl_on_read(struct simvm_chan *ch)
{
	struct simvm *vm = ch->vm;
	struct evbuffer *in = chan_input(ch);
	size_t have = evbuffer_get_length(in);
	size_t chunk = have - vm->ctl_unparsed;

	/* The NEXT for what was just read goes out before any answer. */
	if (chunk) {
		if (chunk > UINT32_MAX)
			chunk = UINT32_MAX;
		log_debug("ctl: read %zu bytes: NEXT", chunk);
		hyper_ctl_encode_next(chan_output(ch), (uint32_t)chunk);
	}
	for (;;) {
		struct hyper_ctl_msg m;
		struct simvm_cmd *c;
		const char *why = NULL;
		int r = hyper_ctl_decode(in, SIMVM_CTL_IN_MAX, &m, &why);

		if (r == HYPER_E_INCOMPLETE)
			break;
		if (r == HYPER_E_INVALID) {
			/* The framing is lost: nothing after this can be
			 * trusted to start a message. */
			log_error("ctl: %s: closing the channel", why ? why : "invalid message");
			chan_drop(ch, "invalid ctl message");
			return;
		}
		if (r < 0 || !(c = calloc(1, sizeof(*c)))) {
			if (r == 0)
				hyper_ctl_msg_deinit(&m);
			log_error("ctl: out of memory: closing the channel");
			chan_drop(ch, "out of memory");
			return;
		}
		c->code = m.code;
		c->payload = (char *)TAKE_PTR(m.payload);
		c->len = m.payload_len;
		ctl_record(vm, c);
		TAILQ_INSERT_TAIL(&vm->cmds, c, link);
	}
	vm->ctl_unparsed = evbuffer_get_length(in);
	ctl_kick(vm);
}

void ctl_on_close(struct simvm_chan *ch)
{
	struct simvm *vm = ch->vm;
	struct simvm_cmd *c;

	vm->ctl_unparsed = 0;
	if (vm->delaying) {
		evtimer_del(vm->delay_timer);
		vm->delaying = false;
	}
	while ((c = TAILQ_FIRST(&vm->cmds))) {
		TAILQ_REMOVE(&vm->cmds, c, link);
		log_info("ctl: %s dropped unanswered (peer gone)", hyper_code_name(c->code));
		ctl_cmd_free(c);
	}
}

int ctl_init(struct simvm *vm)
{
	TAILQ_INIT(&vm->cmds);
	vm->delay_timer = evtimer_new(vm->base, ctl_on_delay, vm);
	return vm->delay_timer ? 0 : -ENOMEM;
}

void ctl_deinit(struct simvm *vm)
{
	ctl_on_close(&vm->ctl);
	if (vm->delay_timer)
		event_free(vm->delay_timer);
	vm->delay_timer = NULL;
}
