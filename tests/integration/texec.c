/*
 * texec.c - process test steps over the harness and the test client
 * (texec.h). The runtime connection and the registration answer belong
 * to struct texec; shims belong to the caller.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "texec.h"

void texec_setup(struct texec *x)
{
	*x = (struct texec){ .h = harness_setup(NULL, HARNESS_HYPERSTART1, NULL, NULL) };
}

void texec_teardown(struct texec *x)
{
	texec_deinit(x);
	x->h = harness_teardown(x->h);
}

enum harness_dialect texec_dialect(int i)
{
	return i == 1 ? HARNESS_LEGACY : HARNESS_HYPERSTART1;
}

void texec_vm_up(struct texec *x, int i, int ntokens, const char *const *extra)
{
	const char *args[16] = { "--strict-keys" };
	size_t n = 1;

	if (i == 2)
		args[n++] = "--event-before-eof";
	for (size_t k = 0; extra && extra[k] && n < ARRAY_LEN(args) - 1; k++)
		args[n++] = extra[k];
	args[n] = NULL;
	x->vm = harness_vm_start(x->h, "vm", texec_dialect(i), args);
	x->rt = tclient_connect(x->h, "runtime");
	x->reg = tclient_register(x->rt, x->h, "vm", x->vm, ntokens);
}

void texec_deinit(struct texec *x)
{
	json_object_put(x->reg);
	x->reg = NULL;
	x->rt = tclient_free(x->rt);
}

const char *texec_token(struct texec *x, size_t i)
{
	return tclient_token(x->reg, i);
}

struct tclient *texec_shim(struct texec *x, const char *tok)
{
	return tclient_connect_shim(x->h, tok);
}

/* @s as a JSON string literal, malloc'd. */
static char *texec_jstr(const char *s)
{
	struct json_object *o = json_object_new_string(s);
	char *r;

	ck_assert_ptr_nonnull(o);
	r = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	ck_assert_ptr_nonnull(r);
	return r;
}

char *texec_hyper_argv(const char *cmd, const char *tok, bool terminal,
		       const char *container, const char *const *argv)
{
	struct evbuffer *args = evbuffer_new();
	char toks[96] = "", *r = NULL, *a;

	ck_assert_ptr_nonnull(args);
	for (size_t i = 0; argv[i]; i++) {
		char *js = texec_jstr(argv[i]);

		evbuffer_add_printf(args, "%s%s", i ? "," : "", js);
		free(js);
	}
	a = tclient_output_dup(args);
	evbuffer_free(args);
	if (tok)
		snprintf(toks, sizeof(toks), ",\"tokens\":[\"%s\"]", tok);
	ck_assert(asprintf(&r, "{\"hyperName\":\"%s\"%s,\"data\":{\"%s\":\"%s\","
			   "\"process\":{\"terminal\":%s,\"args\":[%s]}}}",
			   cmd, toks, strcmp(cmd, "execcmd") ? "id" : "container",
			   container, terminal ? "true" : "false", a) > 0);
	free(a);
	return r;
}

char *texec_hyper_sh(const char *cmd, const char *tok, bool terminal,
		     const char *container, const char *script)
{
	const char *const argv[] = { "sh", "-c", script, NULL };

	return texec_hyper_argv(cmd, tok, terminal, container, argv);
}

void texec_sh_on(struct tclient *rt, const char *tok, bool terminal, const char *script)
{
	char *req = texec_hyper_sh("execcmd", tok, terminal, "hyperstart", script);

	json_object_put(tclient_call(rt, FRAME_CMD_HYPER, req));
	free(req);
}

void texec_sh(struct texec *x, const char *tok, bool terminal, const char *script)
{
	texec_sh_on(x->rt, tok, terminal, script);
}

struct tclient *texec_vm_shim(struct texec *x, int i, const char *const *extra)
{
	texec_vm_up(x, i, 1, extra);
	return texec_shim(x, texec_token(x, 0));
}

struct tclient *texec_start_sh(struct texec *x, int i, const char *const *extra,
			       bool terminal, const char *script)
{
	struct tclient *shim = texec_vm_shim(x, i, extra);

	texec_sh(x, texec_token(x, 0), terminal, script);
	return shim;
}

void texec_finish(struct tclient *shim, struct tclient_output *o)
{
	tclient_collect(shim, o, HARNESS_WAIT_MS);
	tclient_settle(shim, o);
	ck_assert_uint_eq(o->n_exited, 1);
	ck_assert_uint_eq(o->n_after_exit, 0);
	ck_assert_uint_eq(o->n_other, 0);
}

void texec_end(struct tclient *shim, struct tclient_output *o, int status)
{
	tclient_output_init(o);
	texec_finish(shim, o);
	ck_assert_int_eq(o->status, status);
	tclient_free(shim);
}

void texec_expect_str(struct evbuffer *b, const char *want)
{
	char *got = tclient_output_dup(b);

	ck_assert_str_eq(got, want);
	free(got);
}

void texec_expect_contains(struct evbuffer *b, const char *want)
{
	char *got = tclient_output_dup(b);

	ck_assert_msg(strstr(got, want), "output \"%.300s\" lacks \"%s\"", got, want);
	free(got);
}
