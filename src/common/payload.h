/*
 * payload.h - typed JSON payloads of the client protocol commands
 * (PROTOCOL.md part 1, "Commands"), parsed and built with json-c.
 *
 * Parsers take the raw payload bytes of a command frame. They reject
 * invalid JSON, a non-object, wrong types and missing required fields
 * with PAYLOAD_E_INVALID and a malloc'd message fit to send back to the
 * client in {"msg": ...}. Unknown members are ignored, as the original
 * proxy's decoder did. Each struct owns its strings: *_deinit() frees.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	PAYLOAD_E_INVALID = 2,
};

/* The most tokens a RegisterVM/AttachVM may ask for at once. */
#define PAYLOAD_MAX_IO_STREAMS	1024
/* The longest containerId RegisterVM accepts (it becomes helper argv). */
#define PAYLOAD_CONTAINER_ID_MAX	1024
/* The most tokens a Hyper request may carry (the proxy allows 0 or 1 for
 * newcontainer/execcmd, none elsewhere; more is an error either way). */
#define PAYLOAD_MAX_TOKENS	16

struct payload_register_vm {
	char *container_id;	/* required, non-empty */
	char *ctl_serial;	/* required, non-empty */
	char *io_serial;	/* required, non-empty */
	char *console;		/* optional, NULL when absent or empty */
	uint32_t num_io_streams;	/* absent: 0 */
};

struct payload_attach_vm {
	char *container_id;	/* required, non-empty */
	uint32_t num_io_streams;
};

struct payload_unregister_vm {
	char *container_id;	/* required, non-empty */
};

struct payload_hyper {
	char *hyper_name;	/* required */
	char **tokens;		/* n_tokens strings ("tokens" absent or null: 0) */
	size_t n_tokens;
	char *data;		/* raw JSON text of "data" exactly as sent, NUL-terminated; NULL when absent */
	size_t data_len;
};

struct payload_connect_shim {
	char *token;		/* required, non-empty */
};

struct payload_signal {
	int signal_number;	/* 0..30 */
	uint32_t columns;	/* non-zero only for SIGWINCH */
	uint32_t rows;
};

struct payload_log {
	char *source;		/* "shim" or "runtime" */
	char *container_id;	/* optional */
	char *level;		/* "debug", "info", "warn" or "error" */
	char *msg;
};

int payload_parse_register_vm(const void *buf, size_t len,
			      struct payload_register_vm *out, char **err);
int payload_parse_attach_vm(const void *buf, size_t len,
			    struct payload_attach_vm *out, char **err);
int payload_parse_unregister_vm(const void *buf, size_t len,
				struct payload_unregister_vm *out, char **err);
int payload_parse_hyper(const void *buf, size_t len,
			struct payload_hyper *out, char **err);
int payload_parse_connect_shim(const void *buf, size_t len,
			       struct payload_connect_shim *out, char **err);
/* Validates the signal rules too: 0..30, SIGWINCH (28) with non-zero
 * columns and rows, any other signal with neither. */
int payload_parse_signal(const void *buf, size_t len,
			 struct payload_signal *out, char **err);
int payload_parse_log(const void *buf, size_t len, struct payload_log *out,
		      char **err);

void payload_register_vm_deinit(struct payload_register_vm *p);
void payload_attach_vm_deinit(struct payload_attach_vm *p);
void payload_unregister_vm_deinit(struct payload_unregister_vm *p);
void payload_hyper_deinit(struct payload_hyper *p);
void payload_connect_shim_deinit(struct payload_connect_shim *p);
void payload_log_deinit(struct payload_log *p);

/**
 * payload_build_io_answer() - the answer to RegisterVM/AttachVM:
 * {"io": {"URL": @url, "tokens": [...]}} ("tokens" is [] when n == 0).
 * Return: malloc'd JSON text, or NULL on ENOMEM.
 */
char *payload_build_io_answer(const char *url, char *const *tokens, size_t n);

/** payload_build_error() - {"msg": @msg}, malloc'd, or NULL on ENOMEM. */
char *payload_build_error(const char *msg);

/* Builders for the proxy's own agent commands (compact JSON, malloc'd). */
/* {"seq": seq, "row": rows, "column": columns} */
char *payload_build_winsize(uint64_t seq, uint32_t rows, uint32_t columns);
/* {"container": id, "signal": n} */
char *payload_build_killcontainer(const char *container_id, int signal);

/* A processasyncevent from the agent. */
struct payload_async_event {
	char *container;
	char *process;
	char *event;		/* "finished" for an exit */
	int status;
};
int payload_parse_async_event(const void *buf, size_t len,
			      struct payload_async_event *out, char **err);
void payload_async_event_deinit(struct payload_async_event *p);
