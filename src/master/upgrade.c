/*
 * upgrade.c - an upgrade without a service manager: SIGHUP re-execs the
 * master (upgrade.h; DESIGN.md "Restart and upgrade").
 *
 * The process stays the same (same pid), so its helpers stay its
 * children; the new image finds the listening socket and the helper
 * channels in LISTEN_FDS exactly as after a restart by the service
 * manager (LISTEN_PID is our own pid) and adopts them (adopt.c). Under
 * systemd this is what ExecReload= does; the fd store holds the same
 * channels anyway.
 *
 * Handed over: the socket and every VM_RUNNING helper's channel. Not
 * handed over, so closed by the exec (every fd of ours is close-on-exec,
 * and close_range() makes sure): clients (runtimes get EOF and retry,
 * shims of helpers are not ours), starting helpers (they see EOF and end;
 * their RegisterVM got EOF), ending ones (they drain and end), and
 * anything queued for a helper and not sent yet (a shim handed over in
 * that instant sees EOF and reconnects).
 *
 * The path to exec is resolved at start from /proc/self/exe, as a path:
 * exec'ing /proc/self/exe itself would run the old, replaced binary.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "ipc.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "registry.h"
#include "upgrade.h"

int upgrade_prepare(struct master *m, char **argv)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	m->argv = argv;
	if (n <= 0 || (size_t)n >= sizeof(path) - 1) {
		log_warn("cannot resolve our own binary: SIGHUP (upgrade) is disabled");
		return -ENOENT;
	}
	path[n] = '\0';
	m->exe_path = strdup(path);
	return m->exe_path ? 0 : -ENOMEM;
}

void upgrade_reexec(struct master *m)
{
	struct vm *vm;
	size_t n = 1, k = 0, names_len = sizeof("proxy");
	int *fds, *tmp, high, lfd = m->listener ? listener_fd(m->listener) : -1;
	char *names, num[32];

	if (!m->exe_path || access(m->exe_path, X_OK) < 0 || lfd < 0) {
		log_error("SIGHUP: cannot upgrade: %s", !m->exe_path ? "our binary is unknown" :
			  lfd < 0 ? "no listening socket" : strerror(errno));
		return;
	}
	TAILQ_FOREACH(vm, &m->vms, entry)
		if (vm->state == VM_RUNNING && ipc_channel_fd(vm->ch) >= 0) {
			n++;
			names_len += FDSTORE_NAME_MAX + 2;
		}
	fds = calloc(n, sizeof(*fds));
	tmp = calloc(n, sizeof(*tmp));
	names = calloc(1, names_len);
	if (!fds || !tmp || !names) {
		log_error("SIGHUP: cannot upgrade: out of memory");
		free(fds);
		free(tmp);
		free(names);
		return;
	}
	fds[k++] = lfd;
	strcpy(names, "proxy");
	TAILQ_FOREACH(vm, &m->vms, entry) {
		char name[FDSTORE_NAME_MAX + 1];

		if (vm->state != VM_RUNNING || ipc_channel_fd(vm->ch) < 0)
			continue;
		fds[k++] = ipc_channel_fd(vm->ch);
		fdstore_name(vm->container_id, name);
		strcat(names, ":");
		strcat(names, name);
	}
	log_submit(LOG_NOTICE, 0, NULL, LOG_FIELDS({ "CC_BINARY", m->exe_path }),
		   "SIGHUP: upgrading: re-executing %s with the socket and %zu helpers",
		   m->exe_path, n - 1);

	/* From here on there is no way back. First every fd we keep goes
	 * above both the targets 3..3+n-1 and every kept fd, then down to
	 * its target (dup2 clears close-on-exec there), then the rest goes. */
	high = (int)n + SD_LISTEN_FDS_START;
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= high)
			high = fds[i] + 1;
	for (size_t i = 0; i < n; i++)
		if ((tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, high)) < 0)
			goto fail;
	for (size_t i = 0; i < n; i++)
		if (dup2(tmp[i], SD_LISTEN_FDS_START + (int)i) < 0)
			goto fail;
	close_range(SD_LISTEN_FDS_START + (unsigned int)n, ~0U, 0);
	snprintf(num, sizeof(num), "%zu", n);
	setenv("LISTEN_FDS", num, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
	execv(m->exe_path, m->argv);
fail:
	/* Nothing of the old state is usable any more. The helpers' channels
	 * close with us: they end within their grace period (or wait in the
	 * fd store for the service manager's restart). */
	log_error("SIGHUP: cannot re-execute %s: %s", m->exe_path, strerror(errno));
	_exit(EXIT_FAILURE);
}
