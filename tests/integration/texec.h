/*
 * texec.h - running processes through the proxy in tests, as the runtime
 * and cc-shim do: a VM registered with tokens on a "runtime" connection,
 * shims that claim them, Hyper execcmd/newcontainer running `sh -c`.
 * Shared by check_exec.c and check_shim.c (check_lifecycle.c uses the
 * steps that take no struct texec). Functions assert (Check).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "harness.h"
#include "tclient.h"

/*
 * The agent dialects the process tests loop over (Check's _i):
 *   0 hyperstart 1.x: the exit status as processasyncevent, after the
 *     empty io message;
 *   1 legacy: the exit status as a 1-byte io message;
 *   2 hyperstart 1.x sending the event before the empty io message (the
 *     proxy must hold it until the output is finished).
 */
#define TEXEC_DIALECTS 3

struct texec {
	struct harness *h;
	struct harness_vm *vm;
	struct tclient *rt;		/* the runtime: registered the VM */
	struct json_object *reg;	/* its RegisterVM answer */
};

/**
 * texec_setup() - the checked fixture's start: a harness with cc-proxy
 * running (harness_setup(), no VM yet) in x->h; nothing registered.
 */
void texec_setup(struct texec *x);

/**
 * texec_teardown() - the end: texec_deinit(), then cc-proxy must still be
 * alive and serving (harness_teardown()).
 */
void texec_teardown(struct texec *x);

/** texec_dialect() - the simulated VM dialect of loop index @i. */
enum harness_dialect texec_dialect(int i);

/**
 * texec_vm_up() - start VM "vm" for loop index @i (with --strict-keys, so
 * a key the proxy adds that hyperstart does not know fails the command,
 * and @extra options), register it with @ntokens tokens on x->rt.
 */
void texec_vm_up(struct texec *x, int i, int ntokens, const char *const *extra);

/** texec_deinit() - close x->rt and drop x->reg. */
void texec_deinit(struct texec *x);

/** texec_token() - token @i of the registration. */
const char *texec_token(struct texec *x, size_t i);

/** texec_shim() - a new connection that claimed @tok (ConnectShim ok). */
struct tclient *texec_shim(struct texec *x, const char *tok);

/**
 * texec_hyper_sh() - the text of a Hyper request @cmd ("execcmd" or
 * "newcontainer") running `sh -c @script`, with token @tok (NULL: none),
 * a terminal or not, in @container (execcmd's "container", newcontainer's
 * "id"). Key order as the runtime sends it. Return: malloc'd.
 */
char *texec_hyper_sh(const char *cmd, const char *tok, bool terminal,
		     const char *container, const char *script);

/**
 * texec_hyper_argv() - texec_hyper_sh() running @argv (NULL-terminated)
 * instead of `sh -c`.
 */
char *texec_hyper_argv(const char *cmd, const char *tok, bool terminal,
		       const char *container, const char *const *argv);

/**
 * texec_sh_on() - execcmd `sh -c @script` in "hyperstart" with @tok
 * (NULL: none) on the attached connection @rt; asserts the agent's ACK.
 */
void texec_sh_on(struct tclient *rt, const char *tok, bool terminal, const char *script);

/** texec_sh() - texec_sh_on() on the runtime connection x->rt. */
void texec_sh(struct texec *x, const char *tok, bool terminal, const char *script);

/**
 * texec_vm_shim() - VM "vm" for loop index @i with one token and @extra
 * options (texec_vm_up()), and a shim that claimed the token
 * (texec_shim()). Return: the shim.
 */
struct tclient *texec_vm_shim(struct texec *x, int i, const char *const *extra);

/**
 * texec_start_sh() - the usual start of a process test: texec_vm_shim(),
 * then `sh -c @script` started for that shim (texec_sh()). Return: the shim.
 */
struct tclient *texec_start_sh(struct texec *x, int i, const char *const *extra,
			       bool terminal, const char *script);

/**
 * texec_finish() - collect until ProcessExited, then settle: exactly one
 * ProcessExited, no output after it, nothing else on the connection.
 */
void texec_finish(struct tclient *shim, struct tclient_output *o);

/**
 * texec_end() - the usual end of a process test: texec_finish() into @o
 * (initialised here; the caller deinits it), the exit status must be
 * @status, then @shim is closed.
 */
void texec_end(struct tclient *shim, struct tclient_output *o, int status);

/** texec_expect_str() - @b holds exactly @want. */
void texec_expect_str(struct evbuffer *b, const char *want);

/** texec_expect_contains() - @b contains @want. */
void texec_expect_contains(struct evbuffer *b, const char *want);
