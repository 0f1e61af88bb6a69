/*
 * check_ratelimit.c - unit tests of ratelimit.c: the burst, the steady
 * rate, the suppressed count, a clock that stands still or goes back,
 * and a randomised invariant: never more than burst + rate * elapsed.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "ratelimit.h"
#include "unit_main.h"

START_TEST(test_burst_then_refused)
{
	struct ratelimit rl = RATELIMIT_INIT(5, 2);
	int allowed = 0;

	for (int i = 0; i < 100; i++)
		allowed += ratelimit_allow(&rl, 1000);
	ck_assert_int_eq(allowed, 5);
	ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 95);
	ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 0);
}
END_TEST

START_TEST(test_steady_rate)
{
	struct ratelimit rl = RATELIMIT_INIT(1, 4);

	ck_assert(ratelimit_allow(&rl, 0));
	ck_assert(!ratelimit_allow(&rl, 0));
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 0), 250);
	ck_assert(!ratelimit_allow(&rl, 249));
	ck_assert_uint_eq(ratelimit_wait_ms(&rl, 249), 1);
	ck_assert(ratelimit_allow(&rl, 250));
	/* A long quiet time fills the bucket to its burst only. */
	ck_assert(ratelimit_allow(&rl, 1000000));
	ck_assert(!ratelimit_allow(&rl, 1000000));
	ck_assert_uint_eq(ratelimit_take_suppressed(&rl), 3);
}
END_TEST

START_TEST(test_clock_backwards)
{
	struct ratelimit rl = RATELIMIT_INIT(1, 1000);

	ck_assert(ratelimit_allow(&rl, 5000));
	/* Earlier than before: no credit comes from it. */
	ck_assert(!ratelimit_allow(&rl, 10));
	ck_assert(!ratelimit_allow(&rl, 5000));
	ck_assert(ratelimit_allow(&rl, 5001));
}
END_TEST

/* Random calls over random times: the allowed count never exceeds
 * burst + rate * elapsed, and allowed + suppressed == calls. */
START_TEST(test_random_bound)
{
	unsigned int seed = 12345u + (unsigned int)_i;
	struct ratelimit rl = RATELIMIT_INIT(10, 5);
	uint64_t now = 777, start = now, allowed = 0, calls = 0;

	for (int i = 0; i < 20000; i++) {
		now += (uint64_t)(rand_r(&seed) % 50);
		calls++;
		if (ratelimit_allow(&rl, now))
			allowed++;
		ck_assert_uint_le(allowed, 10 + (now - start) * 5 / 1000);
	}
	ck_assert_uint_eq(allowed + ratelimit_take_suppressed(&rl), calls);
}
END_TEST

static Suite *ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = unit_tcase(s, "bucket", 10);

	tcase_add_test(tc, test_burst_then_refused);
	tcase_add_test(tc, test_steady_rate);
	tcase_add_test(tc, test_clock_backwards);
	tcase_add_loop_test(tc, test_random_bound, 0, 4);
	return s;
}

int main(void)
{
	return run_suite(ratelimit_suite());
}
