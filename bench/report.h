/*
 * report.h - what the benchmark prints: one table of every metric, then
 * one JSON line per scenario ("BENCH {...}"), so that a person reads the
 * table and a script greps the JSON.
 *
 * A metric holds the samples of each run for the direct baseline and for
 * the proxy; the report shows their medians and the ratio proxy/direct,
 * plus the master's and the helpers' CPU time (medians too), and whether
 * the target for that metric is met. Figures are printed, never
 * judged by the exit status.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define REPORT_RUNS_MAX		8
#define REPORT_METRICS_MAX	40

enum report_goal {
	REPORT_NONE,		/* no target */
	REPORT_RATIO_MIN,	/* proxy/direct >= target */
	REPORT_RATIO_MAX,	/* proxy/direct <= target */
	REPORT_VALUE_MIN,	/* proxy >= target */
	REPORT_VALUE_MAX,	/* proxy <= target */
};

struct report_metric {
	const char *scenario;	/* e.g. "stdout" */
	const char *name;	/* e.g. "throughput" */
	const char *unit;	/* e.g. "MiB/s" */
	double direct[REPORT_RUNS_MAX], proxy[REPORT_RUNS_MAX];
	double master_cpu[REPORT_RUNS_MAX], helpers_cpu[REPORT_RUNS_MAX];
	size_t n_direct, n_proxy, n_cpu;
	const char *cpu_unit;	/* NULL: no CPU figures */
	enum report_goal goal;
	double target;
	char note[128];		/* free text, e.g. why a run stopped */
};

/**
 * report_metric() - the metric (@scenario, @name), created on first use
 * with @unit. Never NULL (aborts when REPORT_METRICS_MAX is reached).
 */
struct report_metric *report_metric(const char *scenario, const char *name,
				    const char *unit);

/** report_goal() - set the metric's target. */
void report_goal(struct report_metric *m, enum report_goal goal, double target);

/** Add one run's figures (ignored past REPORT_RUNS_MAX). */
void report_direct(struct report_metric *m, double v);
void report_proxy(struct report_metric *m, double v);
void report_cpu(struct report_metric *m, const char *unit, double master,
		double helpers);

/** report_median() - the median of @n values (sorted copy), or NaN. */
double report_median(const double *v, size_t n);

/** report_percentile() - nearest-rank @p (0..100) of @v, sorted in place. */
double report_percentile(double *v, size_t n, double p);

/** report_print() - the table, then the JSON lines, on stdout. */
void report_print(const char *machine, const char *command);
