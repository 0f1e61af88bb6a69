/*
 * fdstore.c - the master's ends of the helper channels in the service
 * manager's fd store (fdstore.h; DESIGN.md "Restart and upgrade").
 *
 * A helper is stored once it is ready (IPC_H_READY, or adopted again),
 * under FDNAME=vm-<container id>, and removed (FDSTOREREMOVE=1) when its
 * VM leaves the namespace: unregistered, lost or failed. Idle and
 * starting helpers are never stored. A restarted master gets the store
 * back in LISTEN_FDS and adopts each "vm-*" fd (adopt.c); the name is
 * only a label - who the helper is, it says itself, and its pid comes
 * from the kernel.
 *
 * Only when NOTIFY_SOCKET names the manager and it has a store: $FDSTORE
 * says so (systemd sets it to FileDescriptorStoreMax= when that is not 0,
 * since version 254), or --fd-store does, for older managers such as
 * Debian 12's systemd 252, which keep the store without telling (the
 * shipped unit passes it). Otherwise nothing is stored and nothing
 * changes: helpers end with their master as before. Should --fd-store
 * claim a store that is not there, the manager drops the fds it is
 * sent, so a helper still sees its channel's EOF when the master goes
 * and ends within its grace: the claim costs a 5 s wait, never a helper
 * left behind.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "helper.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "registry.h"

void fdstore_init(struct master *m, bool asked)
{
	const char *notify = getenv("NOTIFY_SOCKET");
	const char *max = getenv("FDSTORE");
	bool told = max && strtoul(max, NULL, 10) > 0;

	/* systemd (254 and later) sets $FDSTORE to FileDescriptorStoreMax=
	 * when it is not 0; older ones keep a store without saying so. */
	m->fdstore = notify && *notify && (told || asked);
	if (m->fdstore && told)
		log_info("helper channels are kept in the service manager's fd store "
			 "(FDSTORE=%s)", max);
	else if (m->fdstore)
		log_info("helper channels are kept in the service manager's fd store "
			 "(--fd-store; $FDSTORE is not set)");
	else if (asked)
		log_warn("--fd-store: no service manager (NOTIFY_SOCKET is not set); "
			 "helpers end with the master");
}

void fdstore_name(const char *container_id, char out[FDSTORE_NAME_MAX + 1])
{
	size_t len = strlen(container_id);
	bool ok = len > 0 && len <= FDSTORE_NAME_MAX - strlen(FDSTORE_VM_PREFIX);
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (size_t i = 0; ok && i < len; i++)
		if (container_id[i] < ' ' || container_id[i] > '~' || container_id[i] == ':')
			ok = false;
	if (ok) {
		snprintf(out, FDSTORE_NAME_MAX + 1, FDSTORE_VM_PREFIX "%s", container_id);
		return;
	}
	/* Only a label: the helper's own report names the VM. */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)container_id[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(out, FDSTORE_NAME_MAX + 1, FDSTORE_VM_PREFIX "#%016llx", (unsigned long long)h);
}

void fdstore_add(struct vm *vm)
{
	char name[FDSTORE_NAME_MAX + 1], msg[FDSTORE_NAME_MAX + 32];
	int fd = ipc_channel_fd(vm->ch);
	int r;

	if (!vm->m->fdstore || fd < 0 || vm->state != VM_RUNNING)
		return;
	fdstore_name(vm->container_id, name);
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (r <= 0) {
		log_submit(LOG_WARNING, 0, NULL,
			   LOG_FIELDS({ "CC_CONTAINER_ID", vm->container_id }),
			   "VM %s: cannot keep its helper's channel in the service manager's "
			   "fd store (%s): the VM will not survive a restart of the proxy",
			   vm->container_id, r < 0 ? strerror(-r) : "no NOTIFY_SOCKET");
		return;
	}
	free(vm->store_name);
	vm->store_name = strdup(name);	/* NULL on ENOMEM: not removed later, the
					 * service manager drops it on POLLHUP */
	log_submit(LOG_INFO, 1, NULL, LOG_FIELDS({ "CC_CONTAINER_ID", vm->container_id }),
		   "VM %s: helper channel stored as %s", vm->container_id, name);
}

void fdstore_remove_name(struct master *m, const char *name)
{
	char msg[FDSTORE_NAME_MAX + 32];

	if (!m->fdstore)
		return;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	sd_notify(0, msg);
}

void fdstore_remove(struct vm *vm)
{
	if (!vm->store_name)
		return;
	fdstore_remove_name(vm->m, vm->store_name);
	free(vm->store_name);
	vm->store_name = NULL;
}

/*
 * Under a service manager that keeps our helper channels (FDSTORE=1),
 * SIGTERM may be a restart: the stored helpers are left alone (the
 * unit's KillMode=process spares them). On a real stop the manager
 * flushes its store, the helpers see EOF and end within their grace
 * period; on a restart the new master adopts them. Only the helpers not
 * stored (starting, ending) are shut down and waited for here.
 */
void fdstore_leave_helpers(struct master *m)
{
	struct vm *vm, *next;
	unsigned int n = 0;

	if (!m->fdstore)
		return;
	for (vm = TAILQ_FIRST(&m->vms); vm; vm = next) {
		next = TAILQ_NEXT(vm, entry);
		if (!vm->store_name || vm->state != VM_RUNNING)
			continue;
		n++;
		helper_forget(vm);	/* our end closes; the store keeps its copy */
	}
	if (n)
		log_submit(LOG_NOTICE, 0, NULL, NULL,
			   "%u helpers are left to the service manager's fd store: a restart "
			   "adopts them, a stop ends them", n);
}
