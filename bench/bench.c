/*
 * bench.c - `make bench`: every scenario of issue 10 against its direct
 * baseline, measured in the same run, printed as one table and one JSON
 * line per scenario (report.h). Never part of `make check`; it fails
 * (exit 1) only when the setup breaks, never because of a figure.
 *
 * Environment (all optional):
 *   BENCH_RUNS        runs per scenario, 3..8 (default 3)
 *   BENCH_IO_MIB      bytes per stdout/stdin run, in MiB (default 256)
 *   BENCH_PINGS       pings per run and client (default 5000)
 *   BENCH_REG_MAX     VMs of the registration fill (default 5000)
 *   BENCH_RAMP_MAX    ramp up to this many VMs (default 19000; 0: no ramp)
 *   BENCH_HELPER_POOL cc-proxy --helper-pool for the RegisterVM scenarios
 *                     and the ramp (default: the master's default)
 *   BENCH_ONLY        run only the scenarios named: io, ping, reg, ramp
 *   CC_PROXY_BUILDDIR where cc-proxy and cc-proxy-vmhelper are (rig.h)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "report.h"
#include "rig.h"
#include "scen.h"

/* Enough descriptors for the largest fill: the master keeps a few per VM
 * and inherits this limit. */
#define BENCH_NOFILE	(256u * 1024u)

static unsigned long env_num(const char *name, unsigned long dflt,
			     unsigned long min, unsigned long max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		fprintf(stderr, "%s=%s: expected a number in %lu..%lu\n", name, s,
			min, max);
		exit(2);
	}
	return v;
}

static bool wanted(const char *name)
{
	const char *only = getenv("BENCH_ONLY");

	return !only || !*only || strstr(only, name);
}

static void raise_nofile(void)
{
	struct rlimit rl = { BENCH_NOFILE, BENCH_NOFILE };

	/* Raising the hard limit needs CAP_SYS_RESOURCE; else the soft one. */
	if (setrlimit(RLIMIT_NOFILE, &rl) && !getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(void)
{
	struct scen_opts o = {
		.runs = (unsigned)env_num("BENCH_RUNS", 3, 3, REPORT_RUNS_MAX),
		.io_bytes = env_num("BENCH_IO_MIB", 256, 1, 65536) << 20,
		.pings = (unsigned)env_num("BENCH_PINGS", 5000, 100, 10000000),
		.reg_max = (unsigned)env_num("BENCH_REG_MAX", 5000, 1000, 60000),
		.ramp_max = (unsigned)env_num("BENCH_RAMP_MAX", 19000, 0, 60000),
	};
	char machine[512], cpu[128] = "unknown CPU", line[256];
	struct utsname u;
	double t0 = rig_now();
	FILE *f;

	raise_nofile();
	if ((f = fopen("/proc/cpuinfo", "re"))) {
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
				snprintf(cpu, sizeof(cpu), "%s", strchr(line, ':') + 2);
				cpu[strcspn(cpu, "\n")] = '\0';
				break;
			}
		fclose(f);
	}
	uname(&u);
	snprintf(machine, sizeof(machine),
		 "machine: %ld CPUs (%s), %.1f GiB RAM, Linux %s; %u runs per figure "
		 "(medians), %llu MiB per io run, %u pings per run and client",
		 sysconf(_SC_NPROCESSORS_ONLN), cpu,
		 (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) /
		 (1024.0 * 1024.0 * 1024.0), u.release, o.runs,
		 (unsigned long long)(o.io_bytes >> 20), o.pings);

	if (wanted("io")) {
		fprintf(stderr, "== stdout and stdin\n");
		scen_io(&o);
	}
	if (wanted("ping")) {
		fprintf(stderr, "== ping\n");
		scen_ping(&o);
	}
	if (wanted("reg")) {
		fprintf(stderr, "== RegisterVM and PSS up to %u VMs\n", o.reg_max);
		scen_register(&o);
	}
	if (o.ramp_max && wanted("ramp")) {
		fprintf(stderr, "== ramp up to %u VMs\n", o.ramp_max);
		scen_ramp(&o);
	}
	snprintf(line, sizeof(line), "command: make bench (%.0f s)", rig_now() - t0);
	report_print(machine, line);
	return 0;
}
