/*
 * check_numparse.c - unit tests of numparse.c: what every binary accepts
 * as a count, an fd, a uid or a duration on its command line.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>

#include "numparse.h"
#include "unit_main.h"

static const char *const bad_ulong[] = {
	"", " 1", "1 ", "+1", "-1", "0x10", "1.0", "12x", "abc",
	"99999999999999999999999999",	/* overflows unsigned long */
};

START_TEST(test_ulong_refused)
{
	unsigned long v = 42;

	ck_assert_int_eq(numparse_ulong(bad_ulong[_i], 0, ULONG_MAX, &v), -EINVAL);
	ck_assert_uint_eq(v, 42);	/* untouched on failure */
}
END_TEST

START_TEST(test_ulong_range)
{
	unsigned long v = 0;

	ck_assert_int_eq(numparse_ulong("0", 0, 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(numparse_ulong("10", 0, 10, &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(numparse_ulong("007", 0, 10, &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(numparse_ulong("11", 0, 10, &v), -EINVAL);
	ck_assert_int_eq(numparse_ulong("5", 6, 6, &v), -EINVAL);
	ck_assert_int_eq(numparse_ulong("6", 6, 6, &v), 0);
	ck_assert_uint_eq(v, 6);
	ck_assert_int_eq(numparse_ulong(NULL, 0, 10, &v), -EINVAL);
}
END_TEST

static const char *const bad_seconds[] = {
	"", " 1", "1 ", "-1", "+1", "inf", "nan", "1e999", "1s", "abc", "31",
};

START_TEST(test_seconds_refused)
{
	double v = 42;

	ck_assert_int_eq(numparse_seconds(bad_seconds[_i], 30, &v), -EINVAL);
	ck_assert(v == 42);
}
END_TEST

START_TEST(test_seconds_accepted)
{
	double v = -1;

	ck_assert_int_eq(numparse_seconds("0", 30, &v), 0);
	ck_assert(v == 0);
	ck_assert_int_eq(numparse_seconds("0.5", 30, &v), 0);
	ck_assert(v == 0.5);
	ck_assert_int_eq(numparse_seconds(".25", 30, &v), 0);
	ck_assert(v == 0.25);
	ck_assert_int_eq(numparse_seconds("30", 30, &v), 0);
	ck_assert(v == 30);
	ck_assert_int_eq(numparse_seconds("1e1", 30, &v), 0);
	ck_assert(v == 10);
}
END_TEST

static Suite *numparse_suite(void)
{
	Suite *s = suite_create("numparse");
	TCase *tc = unit_tcase(s, "numparse", 10);

	tcase_add_loop_test(tc, test_ulong_refused, 0, N_ELEM(bad_ulong));
	tcase_add_test(tc, test_ulong_range);
	tcase_add_loop_test(tc, test_seconds_refused, 0, N_ELEM(bad_seconds));
	tcase_add_test(tc, test_seconds_accepted);
	return s;
}

int main(void)
{
	return run_suite(numparse_suite());
}
