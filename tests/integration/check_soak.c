/*
 * check_soak.c - the master leaks nothing over many cycles: register /
 * unregister cycles (a fresh simulated VM, RegisterVM, UnregisterVM, the
 * VM stops, its helper exits) and shim connect / disconnect cycles
 * (ConnectShim, the shim hangs up, the helper reports it gone). Afterwards
 * the master's fd table (/proc/PID/fd: numbers and targets) is what it
 * was, its RSS grew by less than 1 MiB, it has no zombie (nor any child
 * left but the registered VM's helper), and on SIGTERM it exits cleanly
 * with no sanitizer report in its log (a sanitizer build checks memory).
 *
 * The counts come from $CC_PROXY_SOAK_REGISTER and $CC_PROXY_SOAK_SHIMS:
 * `make check` runs a short soak (100 / 2000), `make soak` the long one
 * (10 000 / 100 000). The baseline is taken after a short warm-up (the
 * first cycles fill the allocator's and libevent's caches once). The
 * figures are printed on stderr.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tclient.h"

#define SOAK_REGISTER_DEFAULT	100ul
#define SOAK_SHIMS_DEFAULT	2000ul
#define SOAK_TOKENS		8	/* shims rotate over these */
#define SOAK_RSS_GROWTH_KIB	1024

static struct harness *h;

static unsigned long soak_count(const char *env, unsigned long dflt)
{
	const char *s = getenv(env);

	return s && *s ? strtoul(s, NULL, 10) : dflt;
}

/* "fd -> target" lines of the master's fd table, sorted by fd, malloc'd. */
static char *soak_fd_table_read(size_t *n_fds)
{
	char dir[64], path[PATH_MAX], target[PATH_MAX];
	struct dirent **names;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	int n;

	ck_assert_ptr_nonnull(out);
	out[0] = '\0';
	*n_fds = 0;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)h->proxy_pid);
	n = scandir(dir, &names, NULL, versionsort);
	ck_assert_msg(n >= 0, "%s: %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		ssize_t k;

		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			k = readlink(path, target, sizeof(target) - 1);
			target[k > 0 ? k : 0] = '\0';
			while (len + strlen(names[i]->d_name) + strlen(target) + 8 > cap) {
				cap *= 2;
				out = realloc(out, cap);
				ck_assert_ptr_nonnull(out);
			}
			len += (size_t)sprintf(out + len, "%s -> %s\n", names[i]->d_name, target);
			(*n_fds)++;
		}
		free(names[i]);
	}
	free(names);
	return out;
}

/*
 * The fd table once the master has processed every earlier hang-up: two
 * round trips on @probe, a connection open (and attached, so never idle
 * closed) for the whole soak. The loop iteration that answers the first
 * also handles every hang-up that was ready by then; the second command
 * is read in a later iteration.
 */
static char *soak_fd_table(struct tclient *probe, size_t *n_fds)
{
	for (int i = 0; i < 2; i++)
		free(tclient_call_error(probe, FRAME_CMD_ATTACH_VM,
					"{\"containerId\":\"soak-probe\"}"));
	return soak_fd_table_read(n_fds);
}

/* The master's children (pids, up to @max) and how many are zombies. */
static size_t soak_children(pid_t *pids, size_t max, size_t *zombies)
{
	char path[64], stat[512];
	size_t n = 0;
	long pid;
	FILE *f;

	*zombies = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)h->proxy_pid,
		 (int)h->proxy_pid);
	f = fopen(path, "re");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	while (fscanf(f, "%ld", &pid) == 1) {
		FILE *s;
		char *p;

		if (n < max)
			pids[n] = (pid_t)pid;
		n++;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		s = fopen(path, "re");
		if (!s)
			continue;	/* reaped meanwhile */
		if (fgets(stat, sizeof(stat), s) && (p = strrchr(stat, ')')) && p[1] == ' ' &&
		    p[2] == 'Z')
			(*zombies)++;
		fclose(s);
	}
	fclose(f);
	return n;
}

/* Wait (pidfds, bounded) until the master has @want children left: the
 * helpers of stopped VMs exit by themselves and are reaped. */
static pid_t vm1_helper;		/* the registered VM's: stays */

static void soak_wait_children(size_t want)
{
	long long deadline = harness_now_ms() + HARNESS_WAIT_MS;
	pid_t pids[64];
	size_t z;

	for (;;) {
		size_t n = soak_children(pids, 64, &z);
		int fd;

		if (n <= want)
			return;
		ck_assert_msg(harness_left_ms(deadline) > 0,
			      "the master still has %zu children (%zu zombies), wanted %zu",
			      n, z, want);
		/* Wait for one that should go; a zombie is waited for by the
		 * master, so poll the table again a bit later through the
		 * settle round trip instead. */
		fd = (int)syscall(SYS_pidfd_open,
				  pids[n - 1] != vm1_helper ? pids[n - 1] : pids[0], 0);
		if (fd >= 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			(void)poll(&pf, 1, harness_left_ms(deadline));
			close(fd);
		}
		harness_proxy_settle(h);	/* the master has run its loop */
	}
}

/* One register / unregister cycle with a fresh simulated VM. */
static void soak_register_cycle(void)
{
	struct harness_vm *vm = harness_vm_start(h, "cycle", HARNESS_HYPERSTART1, NULL);
	struct tclient *c = tclient_connect(h, "runtime");

	json_object_put(tclient_register(c, h, "cycle", vm, 0));
	json_object_put(tclient_call(c, FRAME_CMD_UNREGISTER_VM, "{\"containerId\":\"cycle\"}"));
	tclient_free(c);
	/* The VM stops: its helper sees the io channel close and exits. */
	harness_vm_stop(h, vm);
	h->n_vms--;	/* the slot is free again (always the last one) */
}

static void soak_shim_cycle(struct json_object *ans, unsigned long i)
{
	struct tclient *s = tclient_reconnect_shim(h, "shim", tclient_token(ans, i % SOAK_TOKENS));

	tclient_free(s);
}

START_TEST(test_soak)
{
	static const char *const opts[] = { "-v", "0", NULL };
	unsigned long regs = soak_count("CC_PROXY_SOAK_REGISTER", SOAK_REGISTER_DEFAULT);
	unsigned long shims = soak_count("CC_PROXY_SOAK_SHIMS", SOAK_SHIMS_DEFAULT);
	unsigned long warm_regs = regs < 20 ? regs : 20, warm_shims = shims < 200 ? shims : 200;
	struct harness_vm *vm1;
	struct json_object *ans;
	struct tclient *rt, *probe;
	char *fds_before, *fds_after;
	size_t n_before, n_after, zombies, children;
	long rss_before, rss_after;
	long long t0, t_reg, t_shim;
	pid_t pids[8];
	int status;

	harness_no_asan_quarantine();
	h = harness_new();
	vm1 = harness_vm_start(h, "vm1", HARNESS_HYPERSTART1, NULL);
	harness_proxy_start(h, opts);
	rt = tclient_connect(h, "runtime");
	ans = tclient_register(rt, h, "vm1", vm1, SOAK_TOKENS);
	ck_assert_uint_eq(soak_children(&vm1_helper, 1, &zombies), 1);
	probe = tclient_attach(h, "vm1");

	for (unsigned long i = 0; i < warm_regs; i++)
		soak_register_cycle();
	for (unsigned long i = 0; i < warm_shims; i++)
		soak_shim_cycle(ans, i);
	soak_wait_children(1);
	harness_proxy_settle(h);
	fds_before = soak_fd_table(probe, &n_before);
	rss_before = harness_rss_kib(h->proxy_pid);

	t0 = harness_now_ms();
	for (unsigned long i = 0; i < regs; i++)
		soak_register_cycle();
	t_reg = harness_now_ms() - t0;
	t0 = harness_now_ms();
	for (unsigned long i = 0; i < shims; i++)
		soak_shim_cycle(ans, i);
	t_shim = harness_now_ms() - t0;

	soak_wait_children(1);
	harness_proxy_settle(h);
	/* Every shim released: the last ones too (SHIM_GONE may trail). */
	for (int i = 0; i < SOAK_TOKENS; i++)
		soak_shim_cycle(ans, (unsigned long)i);
	harness_proxy_settle(h);
	fds_after = soak_fd_table(probe, &n_after);
	rss_after = harness_rss_kib(h->proxy_pid);
	children = soak_children(pids, 8, &zombies);

	fprintf(stderr, "soak: %lu register/unregister cycles in %lld ms (%.2f ms each), "
		"%lu shim connect/disconnect cycles in %lld ms (%.3f ms each)\n",
		regs, t_reg, regs ? (double)t_reg / (double)regs : 0.0,
		shims, t_shim, shims ? (double)t_shim / (double)shims : 0.0);
	fprintf(stderr, "soak: master fds %zu before, %zu after (%s); RSS %ld KiB before, "
		"%ld KiB after (%+ld KiB); children %zu (the VM's helper), zombies %zu\n",
		n_before, n_after, strcmp(fds_before, fds_after) ? "DIFFERENT" : "identical",
		rss_before, rss_after, rss_after - rss_before, children, zombies);
	ck_assert_msg(!strcmp(fds_before, fds_after),
		      "the fd table changed:\nbefore:\n%s\nafter:\n%s", fds_before, fds_after);
	ck_assert_msg(rss_after - rss_before < SOAK_RSS_GROWTH_KIB,
		      "RSS grew by %ld KiB", rss_after - rss_before);
	ck_assert_uint_eq(zombies, 0);
	ck_assert_uint_eq(children, 1);

	json_object_put(ans);
	tclient_free(rt);
	tclient_free(probe);
	free(fds_before);
	free(fds_after);
	/* A clean exit, and no sanitizer report over the whole run. */
	ck_assert_int_eq(kill(h->proxy_pid, SIGTERM), 0);
	ck_assert(harness_wait_exit(h->proxy_pid, h->proxy_pidfd, HARNESS_WAIT_MS, &status));
	h->proxy_pid = 0;
	harness_proxy_check_exit(h, status);
	h = harness_free(h);
}
END_TEST

int main(void)
{
	unsigned long regs = soak_count("CC_PROXY_SOAK_REGISTER", SOAK_REGISTER_DEFAULT);
	unsigned long shims = soak_count("CC_PROXY_SOAK_SHIMS", SOAK_SHIMS_DEFAULT);
	Suite *s = harness_suite_new("soak");
	/* Generous: a sanitizer build on a loaded machine is several times
	 * slower than the ~10 ms per registration seen without. */
	int timeout = (int)(60 + regs / 10 + shims / 200);
	TCase *tc = harness_tcase_add(s, "cycles leave nothing behind", NULL, NULL, timeout);

	tcase_add_test(tc, test_soak);
	return harness_run(s);
}
