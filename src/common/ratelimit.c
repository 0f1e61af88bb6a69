/*
 * ratelimit.c - a token bucket (ratelimit.h), in integer arithmetic:
 * credit counts thousandths of a record, so a rate of N per second adds
 * N credit per millisecond and no rounding ever lets more through than
 * burst + rate * elapsed.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "ratelimit.h"

#define RATELIMIT_UNIT 1000u	/* credit of one record */

static void ratelimit_refill(struct ratelimit *rl, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)rl->burst * RATELIMIT_UNIT;
	uint64_t elapsed;

	if (!rl->started) {
		rl->started = true;
		rl->last_ms = now_ms;
		return;
	}
	if (now_ms <= rl->last_ms)
		return;
	elapsed = now_ms - rl->last_ms;
	rl->last_ms = now_ms;
	/* Bounded before multiplying: a long quiet time only fills it up. */
	if (elapsed > cap)
		elapsed = cap;
	rl->credit += elapsed * rl->per_sec;
	if (rl->credit > cap)
		rl->credit = cap;
}

bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ms)
{
	ratelimit_refill(rl, now_ms);
	if (rl->credit >= RATELIMIT_UNIT) {
		rl->credit -= RATELIMIT_UNIT;
		return true;
	}
	rl->suppressed++;
	return false;
}

uint64_t ratelimit_take_suppressed(struct ratelimit *rl)
{
	uint64_t n = rl->suppressed;

	rl->suppressed = 0;
	return n;
}

uint64_t ratelimit_wait_ms(const struct ratelimit *rl, uint64_t now_ms)
{
	uint64_t credit = rl->credit, missing;

	if (rl->started && now_ms > rl->last_ms)
		credit += (now_ms - rl->last_ms) * rl->per_sec;
	if (credit >= RATELIMIT_UNIT)
		return 0;
	if (rl->per_sec == 0)
		return UINT64_MAX;
	missing = RATELIMIT_UNIT - credit;
	return (missing + rl->per_sec - 1) / rl->per_sec;
}
