/*
 * unit_main.h - what every unit test of tests/unit shares around its
 * tests: N_ELEM() for table-driven loop tests, unit_tcase() that makes a
 * test case with its timeout and adds it to the suite, and run_suite()
 * that runs a suite and turns the result into the exit status, so that
 * each file's main() is one line.
 *
 * Header-only, static inline: each unit test is one translation unit.
 */
#pragma once

#include <check.h>
#include <stdlib.h>

#define N_ELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A new test case @name of @s, timing out after @timeout seconds; the
 * caller adds its fixtures and tests. */
static inline TCase *unit_tcase(Suite *s, const char *name, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

/* Run every test of @s (forking as Check decides); EXIT_FAILURE if any
 * failed. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
