/*
 * ratelimit.h - a token bucket for log records a peer can trigger: a
 * burst of records, then a steady rate; what goes over is counted, so
 * that one later record can say how many were suppressed.
 *
 * Pure: the caller passes the time (monotonic milliseconds), so the
 * bucket is tested without a clock and costs no system call.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	uint32_t burst;		/* records allowed at once */
	uint32_t per_sec;	/* records allowed per second after that */
	uint64_t credit;	/* in thousandths of a record, <= burst * 1000 */
	uint64_t last_ms;	/* when credit was last refilled */
	uint64_t suppressed;	/* refused since the last report */
	bool started;		/* last_ms is meaningful */
};

/* A full bucket: @burst records at once, then @per_sec per second. */
#define RATELIMIT_INIT(burst_, per_sec_) \
	{ .burst = (burst_), .per_sec = (per_sec_), .credit = (uint64_t)(burst_) * 1000u }

/**
 * ratelimit_allow() - may one more record go out at @now_ms? Refills the
 * bucket for the time since the last call (a clock going backwards adds
 * nothing), then takes one record's credit if there is one.
 * Return: true when allowed; false when refused (counted in suppressed).
 */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ms);

/**
 * ratelimit_take_suppressed() - the records refused since the last call,
 * and reset that count to 0. The caller logs it with the next record
 * that is allowed (or from a timer once credit is back).
 */
uint64_t ratelimit_take_suppressed(struct ratelimit *rl);

/**
 * ratelimit_wait_ms() - how long from @now_ms until one record's credit
 * is back (0 when there is credit now), for a timer that reports what
 * was suppressed.
 */
uint64_t ratelimit_wait_ms(const struct ratelimit *rl, uint64_t now_ms);
