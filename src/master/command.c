/*
 * command.c - the client commands of the master (command.h).
 *
 * Every command is validated here before anything is created or sent:
 * the payload (payload.h parsers), the namespace, and for Hyper the rules
 * of PROTOCOL.md part 1 (a known hyperName; tokens only for newcontainer
 * and execcmd, at most one, and it must belong to the VM the connection
 * is attached to). A command that fails leaves no state behind.
 *
 * Tokens are created and announced to the helper (IPC_M_ADD_TOKEN) before
 * the RegisterVM/AttachVM answer names them, so a shim that connects right
 * after the answer always finds its session.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "command.h"
#include "frame.h"
#include "helper.h"
#include "hyper.h"
#include "quota.h"
#include "log.h"
#include "master.h"
#include "payload.h"
#include "registry.h"

int command_answer_tokens(struct client *c, struct vm *vm, unsigned int n,
			  uint8_t opcode, bool finish)
{
	struct vm_token **toks = NULL;
	char **texts = NULL;
	char *json = NULL;
	unsigned int made = 0;
	const char *what = NULL;
	char too_many[320];
	int r = 0;

	if (n > 0) {
		toks = calloc(n, sizeof(*toks));
		texts = calloc(n, sizeof(*texts));
		if (!toks || !texts) {
			r = -ENOMEM;
			what = "out of memory";
			goto out;
		}
	}
	/* Check first that the helper's queue can take them all: half a
	 * set of tokens is no answer. */
	if (!helper_queue_room(vm, n)) {
		r = -ENOBUFS;
		what = "the VM's helper is busy";
		goto out;
	}
	for (made = 0; made < n; made++) {
		r = registry_token_new(vm, &toks[made]);
		if (r < 0) {
			if (r == -ENOSPC) {
				snprintf(too_many, sizeof(too_many), "too many tokens for VM %s: "
					 "the limit is %u (--max-tokens-per-vm)", vm->container_id,
					 vm->m->cfg.limits.tokens_per_vm);
				what = too_many;
			} else {
				what = "cannot create a token";
			}
			goto out;
		}
		texts[made] = toks[made]->token;
		r = helper_send_token(toks[made]);
		if (r < 0) {
			made++;		/* it exists: undo it too */
			what = "cannot reach the VM's helper";
			goto out;
		}
	}
	json = payload_build_io_answer(vm->m->cfg.url, texts, n);
	if (!json) {
		r = -ENOMEM;
		what = "out of memory";
		goto out;
	}
	log_submit(LOG_INFO, 1, NULL,
		   LOG_FIELDS({ "CC_CONTAINER_ID", vm->container_id },
			      { "CC_CLIENT_PID", c->pid_str }),
		   "%u token(s) allocated for VM %s", n, vm->container_id);
	if (finish)
		client_finish(c, false, json, strlen(json));
	else
		client_respond(c, opcode, false, json, strlen(json));
out:
	if (r < 0) {
		/* Tokens the helper already heard of stay there as orphan
		 * sessions: nobody can name them any more. */
		while (made > 0)
			registry_token_free(toks[--made]);
		if (finish)
			client_finish_error(c, what);
		else
			client_respond_error(c, opcode, "%s", what);
	}
	free(json);
	free(texts);
	free(toks);
	return r;
}

/*
 * RegisterVM {containerId, ctlSerial, ioSerial, console?, numIOStreams?},
 * from root or our own uid only (SO_PEERCRED):
 * the id is reserved at once (a second RegisterVM of it fails while this
 * one runs), the helper is started, and the answer waits for its READY
 * (helper_on_ready() in helper.c). Any failure frees the id again.
 */
static void command_register_vm(struct client *c, const struct frame *f)
{
	struct payload_register_vm p = { 0 };
	struct vm *vm;
	char *err = NULL;
	char why[512];
	int r;

	/* The master connects to the paths a RegisterVM names, with its
	 * own (root's) rights: only a client that could connect to them
	 * itself may name them. Anyone else could reach any socket through
	 * us, and learn from ENOENT vs ECONNREFUSED what exists in
	 * directories it cannot read. The runtime runs as root, or as our
	 * own user when we do not run as root. Checked before the payload
	 * is even parsed: nothing of it is touched. */
	if (c->uid != 0 && c->uid != geteuid()) {
		client_respond_error(c, f->opcode, "RegisterVM: permission denied: "
				     "only root or uid %u may register VMs",
				     (unsigned)geteuid());
		return;
	}
	if (payload_parse_register_vm(f->payload, f->payload_len, &p, &err) != 0) {
		client_respond_error(c, f->opcode, "%s", err ? err : "out of memory");
		free(err);
		return;
	}
	if (c->m->stopping) {
		client_respond_error(c, f->opcode, "the proxy is stopping");
		goto out;
	}
	r = registry_vm_new(c->m, p.container_id, &vm);
	if (r < 0) {
		client_respond_error(c, f->opcode, r == -EEXIST ?
				     "container %s is already registered" :
				     "cannot register container %s: out of memory",
				     p.container_id);
		goto out;
	}
	vm->reg_streams = p.num_io_streams;
	r = helper_start(vm, &p, why, sizeof(why));	/* consumes vm on failure */
	if (r < 0) {
		client_respond_error(c, f->opcode, "%s", why);
		goto out;
	}
	vm->registrar = c;
	client_wait(c, CLIENT_WAIT_REGISTER, f->opcode, vm);
out:
	payload_register_vm_deinit(&p);
}

/* AttachVM {containerId, numIOStreams?}: more tokens for a running VM,
 * and Hyper from this connection goes there from now on. */
static void command_attach_vm(struct client *c, const struct frame *f)
{
	struct payload_attach_vm p = { 0 };
	struct vm *vm;
	char *err = NULL;

	if (payload_parse_attach_vm(f->payload, f->payload_len, &p, &err) != 0) {
		client_respond_error(c, f->opcode, "%s", err ? err : "out of memory");
		free(err);
		return;
	}
	vm = registry_find(c->m, p.container_id);
	if (!vm)
		client_respond_error(c, f->opcode, "unknown containerId %s", p.container_id);
	else if (vm->state != VM_RUNNING || !vm->ch)
		client_respond_error(c, f->opcode, "VM %s is not ready", p.container_id);
	else if (command_answer_tokens(c, vm, p.num_io_streams, f->opcode, false) == 0)
		client_attach(c, vm);
	payload_attach_vm_deinit(&p);
}

/* UnregisterVM {containerId}: the id is free at once; the helper keeps
 * draining its VM's output and exits when the VM closes its io channel. */
static void command_unregister_vm(struct client *c, const struct frame *f)
{
	struct payload_unregister_vm p = { 0 };
	struct vm *vm;
	char *err = NULL;

	if (payload_parse_unregister_vm(f->payload, f->payload_len, &p, &err) != 0) {
		client_respond_error(c, f->opcode, "%s", err ? err : "out of memory");
		free(err);
		return;
	}
	vm = registry_find(c->m, p.container_id);
	if (!vm) {
		client_respond_error(c, f->opcode, "unknown containerId %s", p.container_id);
	} else if (vm->state != VM_RUNNING) {
		client_respond_error(c, f->opcode, "VM %s is not ready", p.container_id);
	} else {
		helper_unregister(vm, c->pid);
		if (c->vm == vm)
			c->vm = NULL;
		client_respond(c, f->opcode, false, NULL, 0);
	}
	payload_unregister_vm_deinit(&p);
}

/*
 * Hyper {hyperName, tokens?, data?}: checked here, forwarded to the
 * attached VM's helper as IPC_M_HYPER; the helper edits the data, waits
 * for the token's shim and serialises the command to the agent. The
 * answer (the agent's ACK payload or an error) comes back through
 * helper_on_answer().
 */
static void command_hyper(struct client *c, const struct frame *f)
{
	struct payload_hyper p = { 0 };
	struct vm_request *req;
	struct vm_token *t;
	uint64_t io_base = 0;
	char *err = NULL;
	int code, r;

	if (payload_parse_hyper(f->payload, f->payload_len, &p, &err) != 0) {
		client_respond_error(c, f->opcode, "%s", err ? err : "out of memory");
		free(err);
		return;
	}
	if (!c->vm) {
		client_respond_error(c, f->opcode, "%s", c->vm_gone_msg ? c->vm_gone_msg :
				     "not attached to a VM (RegisterVM or AttachVM first)");
		goto out;
	}
	code = hyper_command_from_name(p.hyper_name);
	if (code < 0) {
		client_respond_error(c, f->opcode, "unknown hyperName '%s'", p.hyper_name);
		goto out;
	}
	if (p.n_tokens > 0 && code != HYPER_NEWCONTAINER && code != HYPER_EXECCMD) {
		client_respond_error(c, f->opcode, "%s takes no tokens", p.hyper_name);
		goto out;
	}
	if (p.n_tokens > 1) {
		client_respond_error(c, f->opcode, "%s takes at most one token, got %zu",
				     p.hyper_name, p.n_tokens);
		goto out;
	}
	if (p.n_tokens == 1) {
		t = registry_token_find(c->m, p.tokens[0]);
		if (!t || t->vm != c->vm) {
			client_respond_error(c, f->opcode, "unknown token for VM %s",
					     c->vm->container_id);
			goto out;
		}
		io_base = t->io_base;
	}
	if (p.data_len > HELPER_HYPER_DATA_MAX) {
		client_respond_error(c, f->opcode, "data too large: %zu bytes, at most %zu",
				     p.data_len, (size_t)HELPER_HYPER_DATA_MAX);
		goto out;
	}
	r = helper_send_hyper(c->vm, c, (uint32_t)code, io_base, p.data, p.data_len, &req);
	if (r < 0) {
		client_respond_error(c, f->opcode, "cannot forward %s to VM %s: %s",
				     p.hyper_name, c->vm->container_id,
				     r == -EPIPE ? "its helper is gone" :
				     r == -ENOBUFS ? "its helper is busy" : strerror(-r));
		goto out;
	}
	c->wait_req = req;
	client_wait(c, CLIENT_WAIT_HYPER, f->opcode, c->vm);
out:
	payload_hyper_deinit(&p);
}

/*
 * ConnectShim {token}: the token is claimed now; once every earlier
 * response has been written (client.c waits for the output to flush) the
 * connection goes to the token's helper, which answers the ConnectShim.
 */
static void command_connect_shim(struct client *c, const struct frame *f)
{
	struct payload_connect_shim p = { 0 };
	struct vm_token *t;
	char *err = NULL;

	if (payload_parse_connect_shim(f->payload, f->payload_len, &p, &err) != 0) {
		client_respond_error(c, f->opcode, "%s", err ? err : "out of memory");
		free(err);
		return;
	}
	t = registry_token_find(c->m, p.token);
	if (!t) {
		client_respond_error(c, f->opcode, "unknown token");
	} else if (!t->vm->ch) {
		client_respond_error(c, f->opcode, "VM %s is gone", t->vm->container_id);
	} else if (t->vm->state == VM_ADOPTING) {
		/* Its helper is still reporting after a restart: retry. */
		client_respond_error(c, f->opcode, "VM %s is being taken back after a restart "
				     "of the proxy: try again", t->vm->container_id);
	} else if (t->state == TOKEN_FREE &&
		   quota_vm_shims(t->vm) >= c->m->cfg.limits.shims_per_vm) {
		client_respond_error(c, f->opcode, "too many shims on VM %s: the limit is %u "
				     "(--max-shims-per-vm)", t->vm->container_id,
				     c->m->cfg.limits.shims_per_vm);
	} else if (registry_token_claim(t) < 0) {
		/* The master's own check: the helper is not trusted to
		 * refuse a second shim for a session. */
		client_respond_error(c, f->opcode, "token already in use by a connected shim");
	} else {
		/* Claimed now (TOKEN_HANDING): a second ConnectShim with
		 * this token fails even before the handover is done. */
		c->handoff = t;
		client_wait(c, CLIENT_WAIT_HANDOFF, f->opcode, t->vm);
	}
	payload_connect_shim_deinit(&p);
}

void command_dispatch(struct client *c, const struct frame *f)
{
	switch (f->opcode) {
	case FRAME_CMD_REGISTER_VM:
		command_register_vm(c, f);
		break;
	case FRAME_CMD_UNREGISTER_VM:
		command_unregister_vm(c, f);
		break;
	case FRAME_CMD_ATTACH_VM:
		command_attach_vm(c, f);
		break;
	case FRAME_CMD_HYPER:
		command_hyper(c, f);
		break;
	case FRAME_CMD_CONNECT_SHIM:
		command_connect_shim(c, f);
		break;
	case FRAME_CMD_DISCONNECT_SHIM:
	case FRAME_CMD_SIGNAL:
		/* Shims are served by their helper once connected: whoever
		 * sends these to the master is not a shim. */
		client_respond_error(c, f->opcode, "not a shim connection");
		break;
	default:
		client_respond_error(c, f->opcode, "unknown command %u", f->opcode);
		break;
	}
}
