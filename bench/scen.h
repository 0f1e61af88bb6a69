/*
 * scen.h - the benchmark's scenarios. Each starts its own rig (master,
 * lean agents) in a private temp dir, measures the direct baseline and
 * the proxy in the same run, adds its figures to the report (report.h),
 * and stops everything it started. Progress goes to stderr.
 */
#pragma once

#include <stdint.h>

struct scen_opts {
	unsigned runs;		/* runs per scenario (>= 3) */
	uint64_t io_bytes;	/* per stdout/stdin run */
	unsigned pings;		/* per run and per client */
	unsigned reg_max;	/* VMs of the registration fill */
	unsigned ramp_max;	/* 0: no ramp */
};

/** scen_io() - stdout and stdin throughput. */
void scen_io(const struct scen_opts *o);

/** scen_ping() - ping latency with 1 client, pings/s with 8 on 8 VMs. */
void scen_ping(const struct scen_opts *o);

/** scen_register() - RegisterVM latency and PSS at 100, 1000, reg_max VMs. */
void scen_register(const struct scen_opts *o);

/** scen_ramp() - register VMs until failure or ramp_max, then ping all. */
void scen_ramp(const struct scen_opts *o);
