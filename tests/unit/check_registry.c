/*
 * check_registry.c - the master's registry (src/master/registry.c): its
 * lookups cost the same however many tokens and VMs exist, and each
 * token follows its one state machine (registry.h).
 *
 * The cost is measured, not timed: registry_token_compares() counts the
 * token texts compared. Creating a token looks its text up once (the
 * uniqueness check), so creating N tokens over a walk of every token
 * costs N * (N - 1) / 2 comparisons; with the hash table it stays within
 * a small multiple of N.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "master.h"
#include "registry.h"
#include "unit_main.h"

static struct master m;

static void reg_setup(void)
{
	memset(&m, 0, sizeof(m));
	TAILQ_INIT(&m.clients);
	TAILQ_INIT(&m.vms);
	/* The registry's own hard cap (--max-tokens-per-vm at its most). */
	m.cfg.limits.tokens_per_vm = REGISTRY_VM_TOKENS_MAX;
}

static void reg_teardown(void)
{
	struct vm *vm;

	while ((vm = TAILQ_FIRST(&m.vms)))
		registry_vm_free(vm);
	ck_assert_ptr_null(m.index);	/* gone with the last VM */
}

static struct vm *vm_new(const char *id)
{
	struct vm *vm;

	ck_assert_int_eq(registry_vm_new(&m, id, &vm), 0);
	return vm;
}

/* 4 VMs x 8192 tokens: the comparisons grow linearly, not quadratically. */
START_TEST(test_token_cost_linear)
{
	enum { VMS = 4, PER_VM = 8192, N = VMS * PER_VM };
	static struct vm_token *toks[N];
	unsigned long long made, found;
	struct vm *vms[VMS];
	char id[16];

	for (int v = 0; v < VMS; v++) {
		snprintf(id, sizeof(id), "vm%d", v);
		vms[v] = vm_new(id);
	}
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(registry_token_new(vms[i % VMS], &toks[i]), 0);
	made = registry_token_compares(&m);
	/* A walk of every token would be N * (N - 1) / 2 = 536 854 528. */
	ck_assert_msg(made <= 3ULL * N, "creating %d tokens compared %llu texts", N, made);

	for (int i = 0; i < N; i++) {
		char text[TOKEN_STR_LEN + 1];

		memcpy(text, toks[i]->token, sizeof(text));	/* not the stored pointer */
		ck_assert_ptr_eq(registry_token_find(&m, text), toks[i]);
		ck_assert_ptr_eq(registry_token_by_io_base(toks[i]->vm, toks[i]->io_base),
				 toks[i]);
	}
	found = registry_token_compares(&m) - made;
	ck_assert_msg(found <= 3ULL * N, "%d lookups compared %llu texts", N, found);
}
END_TEST

/* Lookups by container id and helper pid over many VMs. */
START_TEST(test_vm_lookups)
{
	enum { VMS = 2000 };
	static struct vm *vms[VMS];
	char id[16];

	for (int v = 0; v < VMS; v++) {
		snprintf(id, sizeof(id), "vm%d", v);
		vms[v] = vm_new(id);
		registry_set_pid(vms[v], 1000 + v);
	}
	ck_assert_int_eq(registry_vm_new(&m, "vm7", &vms[0]), -EEXIST);
	vms[0] = registry_find(&m, "vm0");
	for (int v = 0; v < VMS; v++) {
		snprintf(id, sizeof(id), "vm%d", v);
		ck_assert_ptr_eq(registry_find(&m, id), vms[v]);
		ck_assert_ptr_eq(registry_find_pid(&m, 1000 + v), vms[v]);
	}
	ck_assert_ptr_null(registry_find(&m, "vm"));
	ck_assert_ptr_null(registry_find_pid(&m, 999));
	ck_assert_ptr_null(registry_find_pid(&m, 0));
	/* Out of the namespace: the id is free, the pid still known. */
	registry_leave_namespace(vms[5], "test");
	ck_assert_ptr_null(registry_find(&m, "vm5"));
	ck_assert_ptr_eq(registry_find_pid(&m, 1005), vms[5]);
	registry_set_pid(vms[5], 0);
	ck_assert_ptr_null(registry_find_pid(&m, 1005));
	registry_vm_free(vms[6]);
	ck_assert_ptr_null(registry_find(&m, "vm6"));
	ck_assert_ptr_null(registry_find_pid(&m, 1006));
}
END_TEST

START_TEST(test_token_lookup)
{
	struct vm *a = vm_new("a"), *b = vm_new("b");
	struct vm_token *ta, *tb;
	char text[TOKEN_STR_LEN + 1];

	ck_assert_int_eq(registry_token_new(a, &ta), 0);
	ck_assert_int_eq(registry_token_new(b, &tb), 0);
	ck_assert_uint_eq(ta->io_base, REGISTRY_IO_BASE_FIRST);
	ck_assert_uint_eq(tb->io_base, REGISTRY_IO_BASE_FIRST);
	ck_assert_ptr_eq(registry_token_find(&m, tb->token), tb);
	/* ioBases are per VM */
	ck_assert_ptr_eq(registry_token_by_io_base(a, 3), ta);
	ck_assert_ptr_eq(registry_token_by_io_base(b, 3), tb);
	ck_assert_ptr_null(registry_token_by_io_base(a, 5));
	/* one character off, shorter, empty */
	memcpy(text, ta->token, sizeof(text));
	text[10] ^= 1;
	ck_assert_ptr_null(registry_token_find(&m, text));
	text[10] ^= 1;
	text[TOKEN_STR_LEN - 1] = '\0';
	ck_assert_ptr_null(registry_token_find(&m, text));
	ck_assert_ptr_null(registry_token_find(&m, ""));
	memcpy(text, ta->token, sizeof(text));
	registry_token_free(ta);
	ck_assert_ptr_null(registry_token_find(&m, text));
	ck_assert_ptr_null(registry_token_by_io_base(a, 3));
}
END_TEST

/* FREE -> HANDING -> HANDED -> FREE / freed; nothing else. */
START_TEST(test_token_states)
{
	struct vm *vm = vm_new("vm");
	struct vm_token *t;
	char text[TOKEN_STR_LEN + 1];

	ck_assert_int_eq(registry_token_new(vm, &t), 0);
	ck_assert_int_eq(t->state, TOKEN_FREE);
	/* a helper cannot give back what it was never given */
	ck_assert_int_eq(registry_token_shim_gone(t, false), -EPROTO);
	ck_assert_int_eq(registry_token_shim_gone(t, true), -EPROTO);
	ck_assert_int_eq(t->state, TOKEN_FREE);

	ck_assert_int_eq(registry_token_claim(t), 0);
	ck_assert_int_eq(registry_token_claim(t), -EBUSY);	/* no double claim */
	/* still the master's: the helper's SHIM_GONE is a violation */
	ck_assert_int_eq(registry_token_shim_gone(t, true), -EPROTO);
	ck_assert_int_eq(t->state, TOKEN_HANDING);
	registry_token_unclaim(t);	/* the client left */
	ck_assert_int_eq(t->state, TOKEN_FREE);

	ck_assert_int_eq(registry_token_claim(t), 0);
	registry_token_handed(t);
	ck_assert_int_eq(t->state, TOKEN_HANDED);
	ck_assert_int_eq(registry_token_claim(t), -EBUSY);
	registry_token_unclaim(t);	/* not HANDING: no effect */
	ck_assert_int_eq(t->state, TOKEN_HANDED);
	ck_assert_int_eq(registry_token_shim_gone(t, false), 0);	/* dropped */
	ck_assert_int_eq(t->state, TOKEN_FREE);
	ck_assert_int_eq(registry_token_shim_gone(t, false), -EPROTO);	/* twice */

	ck_assert_int_eq(registry_token_claim(t), 0);
	registry_token_handed(t);
	memcpy(text, t->token, sizeof(text));
	ck_assert_int_eq(registry_token_shim_gone(t, true), 0);	/* released: gone */
	ck_assert_ptr_null(registry_token_find(&m, text));
	ck_assert_uint_eq(vm->n_tokens, 0);
}
END_TEST

START_TEST(test_token_limit)
{
	struct vm *vm = vm_new("full");
	struct vm_token *t;

	for (unsigned i = 0; i < REGISTRY_VM_TOKENS_MAX; i++)
		ck_assert_int_eq(registry_token_new(vm, &t), 0);
	ck_assert_int_eq(registry_token_new(vm, &t), -ENOSPC);
	ck_assert_ptr_null(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = unit_tcase(s, "registry", 30);

	tcase_add_checked_fixture(tc, reg_setup, reg_teardown);
	tcase_add_test(tc, test_token_cost_linear);
	tcase_add_test(tc, test_vm_lookups);
	tcase_add_test(tc, test_token_lookup);
	tcase_add_test(tc, test_token_states);
	tcase_add_test(tc, test_token_limit);
	return run_suite(s);
}
