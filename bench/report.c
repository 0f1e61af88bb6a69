/*
 * report.c - the benchmark's table and JSON lines (report.h).
 *
 * Metrics live in one static array in the order they were first used,
 * which is the order of the table. Medians are of the runs' figures; a
 * ratio is median(proxy) / median(direct).
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct report_metric metrics[REPORT_METRICS_MAX];
static size_t n_metrics;

struct report_metric *report_metric(const char *scenario, const char *name,
				    const char *unit)
{
	for (size_t i = 0; i < n_metrics; i++)
		if (!strcmp(metrics[i].scenario, scenario) &&
		    !strcmp(metrics[i].name, name))
			return &metrics[i];
	if (n_metrics == REPORT_METRICS_MAX)
		abort();
	metrics[n_metrics] = (struct report_metric){ .scenario = scenario,
						    .name = name, .unit = unit };
	return &metrics[n_metrics++];
}

void report_goal(struct report_metric *m, enum report_goal goal, double target)
{
	m->goal = goal;
	m->target = target;
}

void report_direct(struct report_metric *m, double v)
{
	if (m->n_direct < REPORT_RUNS_MAX)
		m->direct[m->n_direct++] = v;
}

void report_proxy(struct report_metric *m, double v)
{
	if (m->n_proxy < REPORT_RUNS_MAX)
		m->proxy[m->n_proxy++] = v;
}

void report_cpu(struct report_metric *m, const char *unit, double master,
		double helpers)
{
	m->cpu_unit = unit;
	if (m->n_cpu < REPORT_RUNS_MAX) {
		m->master_cpu[m->n_cpu] = master;
		m->helpers_cpu[m->n_cpu++] = helpers;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double report_median(const double *v, size_t n)
{
	double s[REPORT_RUNS_MAX];

	if (!n)
		return NAN;
	if (n > REPORT_RUNS_MAX)
		n = REPORT_RUNS_MAX;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double report_percentile(double *v, size_t n, double p)
{
	size_t rank;

	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	/* Nearest rank: the smallest value with at least p % at or below. */
	rank = (size_t)ceil(p / 100.0 * (double)n);
	return v[rank ? rank - 1 : 0];
}

/* "met", "MISSED" or "" for @m, from the medians. */
static const char *verdict(const struct report_metric *m, double d, double p)
{
	double x = m->goal == REPORT_RATIO_MIN || m->goal == REPORT_RATIO_MAX ? p / d : p;

	if (m->goal == REPORT_NONE || isnan(x))
		return "";
	if (m->goal == REPORT_RATIO_MIN || m->goal == REPORT_VALUE_MIN)
		return x >= m->target ? "met" : "MISSED";
	return x <= m->target ? "met" : "MISSED";
}

static void target_text(const struct report_metric *m, char *buf, size_t sz)
{
	switch (m->goal) {
	case REPORT_RATIO_MIN:
		snprintf(buf, sz, ">= %g x direct", m->target);
		break;
	case REPORT_RATIO_MAX:
		snprintf(buf, sz, "<= %g x direct", m->target);
		break;
	case REPORT_VALUE_MIN:
		snprintf(buf, sz, ">= %g", m->target);
		break;
	case REPORT_VALUE_MAX:
		snprintf(buf, sz, "<= %g", m->target);
		break;
	default:
		buf[0] = '\0';
	}
}

/* A number for the table, or "-" when absent. */
static const char *num(char *buf, size_t sz, double v, int prec)
{
	if (isnan(v))
		return "-";
	snprintf(buf, sz, "%.*f", prec, v);
	return buf;
}

/* JSON numbers: NaN is null. */
static void json_num(const char *key, double v)
{
	if (isnan(v))
		printf(",\"%s\":null", key);
	else
		printf(",\"%s\":%.6g", key, v);
}

void report_print(const char *machine, const char *command)
{
	char a[32], b[32], c[32], e[32], f[32], t[48];

	printf("\n%s\n%s\n\n", machine, command);
	printf("| %-10s | %-22s | %-7s | %9s | %9s | %8s | %-24s | %-22s | %-6s |\n",
	       "scenario", "metric", "unit", "direct", "cc-proxy", "ratio",
	       "CPU master / helpers", "target", "");
	printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------",
	       "------------------------", "---------", "-----------", "-----------",
	       "----------", "--------------------------", "------------------------",
	       "--------");
	for (size_t i = 0; i < n_metrics; i++) {
		const struct report_metric *m = &metrics[i];
		double d = report_median(m->direct, m->n_direct);
		double p = report_median(m->proxy, m->n_proxy);
		char cpu[96] = "";

		if (m->cpu_unit)
			snprintf(cpu, sizeof(cpu), "%s / %s %s",
				 num(e, sizeof(e), report_median(m->master_cpu, m->n_cpu), 3),
				 num(f, sizeof(f), report_median(m->helpers_cpu, m->n_cpu), 3),
				 m->cpu_unit);
		target_text(m, t, sizeof(t));
		printf("| %-10s | %-22s | %-7s | %9s | %9s | %8s | %-24s | %-22s | %-6s |\n",
		       m->scenario, m->name, m->unit, num(a, sizeof(a), d, 1),
		       num(b, sizeof(b), p, 1), num(c, sizeof(c), p / d, 3), cpu, t,
		       verdict(m, d, p));
	}
	for (size_t i = 0; i < n_metrics; i++)
		if (metrics[i].note[0])
			printf("note: %s %s: %s\n", metrics[i].scenario, metrics[i].name,
			       metrics[i].note);
	printf("\n");
	/* One JSON line per scenario, its metrics in an array. */
	for (size_t i = 0; i < n_metrics; i++) {
		const char *s = metrics[i].scenario;
		bool first = true;

		for (size_t j = 0; j < i; j++)
			if (!strcmp(metrics[j].scenario, s))
				goto next;
		printf("BENCH {\"scenario\":\"%s\",\"metrics\":[", s);
		for (size_t j = i; j < n_metrics; j++) {
			const struct report_metric *m = &metrics[j];
			double d = report_median(m->direct, m->n_direct);
			double p = report_median(m->proxy, m->n_proxy);

			if (strcmp(m->scenario, s))
				continue;
			printf("%s{\"name\":\"%s\",\"unit\":\"%s\",\"runs\":%zu", first ? "" : ",",
			       m->name, m->unit, m->n_proxy);
			first = false;
			json_num("direct", d);
			json_num("proxy", p);
			json_num("ratio", p / d);
			if (m->cpu_unit) {
				printf(",\"cpu_unit\":\"%s\"", m->cpu_unit);
				json_num("master_cpu", report_median(m->master_cpu, m->n_cpu));
				json_num("helpers_cpu", report_median(m->helpers_cpu, m->n_cpu));
			}
			if (m->goal != REPORT_NONE) {
				target_text(m, t, sizeof(t));
				printf(",\"target\":\"%s\",\"met\":%s", t,
				       strcmp(verdict(m, d, p), "met") ? "false" : "true");
			}
			if (m->note[0])
				printf(",\"note\":\"%s\"", m->note);
			printf("}");
		}
		printf("]}\n");
next:;
	}
	fflush(stdout);
}
