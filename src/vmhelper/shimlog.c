/*
 * shimlog.c - a shim's log stream frames (client protocol "log" stream),
 * turned into records with the shim's own fields: CC_LOG_SOURCE and
 * CC_LOG_CONTAINER_ID beside the VM's CC_CONTAINER_ID and the session's
 * CC_IO_BASE. The shim's level maps onto ours: error and warn are level 0,
 * info level 1, debug level 2.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#ifdef CC_PROXY_TEST_HOOKS
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "cleanup.h"
#include "frame.h"
#include "helper.h"
#include "log.h"
#include "payload.h"
#include "shimlog.h"

void shimlog_submit(struct helper *h, uint64_t io_base_n, const struct frame *f)
{
	struct payload_log l = { 0 };
	_cleanup_free_ char *err = NULL;
	char io_base[24];
	int prio = LOG_INFO, verbosity = 1;

	if (payload_parse_log(f->payload, f->payload_len, &l, &err) != 0) {
		helper_log(LOG_WARNING, 0, io_base_n, "invalid log stream from the shim: %s",
			   err ? err : "out of memory");
		return;
	}
#ifdef CC_PROXY_TEST_HOOKS
	/* Test builds only: prove that seccomp kills the helper on a call
	 * outside the allowlist. Never compiled into cc-proxy-vmhelper. */
	if (!strcmp(l.msg, "cc-proxy-test: forbidden syscall"))
		(void)syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY);
#endif
	if (!strcmp(l.level, "error"))
		prio = LOG_ERR, verbosity = 0;
	else if (!strcmp(l.level, "warn"))
		prio = LOG_WARNING, verbosity = 0;
	else if (!strcmp(l.level, "debug"))
		prio = LOG_DEBUG, verbosity = 2;
	snprintf(io_base, sizeof(io_base), "%llu", (unsigned long long)io_base_n);
	log_submit(prio, verbosity, NULL,
		   LOG_FIELDS({ "CC_CONTAINER_ID", h->container_id },
			      { "CC_IO_BASE", io_base },
			      { "CC_LOG_SOURCE", l.source },
			      { "CC_LOG_CONTAINER_ID", l.container_id }),
		   "%s: %s", l.source, l.msg);
	payload_log_deinit(&l);
}
