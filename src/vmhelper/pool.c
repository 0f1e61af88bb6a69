/*
 * pool.c - an idle helper waiting for its VM, and the moment it gets one
 * (pool.h).
 *
 * While idle the helper holds its channel (3), stderr, /dev/null (0, 1,
 * and placeholders at 4-6, so nothing else takes those numbers) and the
 * journal socket (7), nothing of any VM, and is confined but for seccomp.
 * The fds the master sends arrive wherever recvmsg puts them; they are
 * kept by target until IPC_M_ASSIGN and only then moved into the layout,
 * so a helper serving a VM has exactly the fds of one started for it.
 *
 * The assignment runs inside the channel's callback and is all or
 * nothing: after it the channel's next message (a STATS, the tokens)
 * already goes to the helper proper.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/event.h>

#include "confine.h"
#include "helper.h"
#include "log.h"
#include "pool.h"

static void pool_end(struct pool_wait *p, int status)
{
	if (p->assigned)
		return;
	p->exit_status = status;
	event_base_loopbreak(p->base);
}

/*
 * argv as a helper started for the VM has it: the pooled argv with
 * "--pool-slot PAD" (last) removed, "--container-id ID" after argv[0] and
 * "--console-fd 6" before "--journal-fd"/"--uid" (spawn.c's order). The
 * strings are contiguous in memory (execve put them so); the new ones are
 * written over them, the rest of the area zeroed.
 */
static int pool_retitle(struct pool_wait *p, bool console)
{
	char *start = p->argv[0], *end, *buf, *w;
	const char *extra[2] = { "--console-fd", "6" };
	int last = p->argc;
	size_t len;

	for (int i = 0; i + 1 < p->argc; i++)
		if (p->argv[i] + strlen(p->argv[i]) + 1 != p->argv[i + 1])
			return -EINVAL;	/* not as execve laid it out */
	for (int i = 0; i < p->argc; i++)
		if (!strcmp(p->argv[i], "--pool-slot"))
			last = i;
	end = p->argv[p->argc - 1] + strlen(p->argv[p->argc - 1]) + 1;
	len = (size_t)(end - start);
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	w = buf;
#define POOL_PUT(s) do {						\
		size_t n_ = strlen(s) + 1;				\
		if ((size_t)(w - buf) + n_ > len)			\
			goto too_long;					\
		memcpy(w, (s), n_);					\
		w += n_;						\
	} while (0)
	POOL_PUT(p->argv[0]);
	POOL_PUT("--container-id");
	POOL_PUT(p->container_id);
	for (int i = 1; i < last; i++) {
		if (console && (!strcmp(p->argv[i], "--journal-fd") ||
				!strcmp(p->argv[i], "--uid"))) {
			POOL_PUT(extra[0]);
			POOL_PUT(extra[1]);
			console = false;
		}
		POOL_PUT(p->argv[i]);
	}
	if (console) {
		POOL_PUT(extra[0]);
		POOL_PUT(extra[1]);
	}
#undef POOL_PUT
	/* Nothing reads argv after option parsing: overwrite it. */
	memcpy(start, buf, len);
	free(buf);
	return 0;
too_long:
	free(buf);
	return -E2BIG;
}

/*
 * The received fds to 4, 5 (and 6), each checked. They arrived at 8 or
 * above (0-7 are all taken: main.c holds 4-6 with placeholders), so one
 * can never sit where another belongs.
 */
static int pool_place_fds(struct pool_wait *p)
{
	static const char *const what[] = { [IPC_FD_CTL] = "agent ctl",
					     [IPC_FD_IO] = "agent io",
					     [IPC_FD_CONSOLE] = "console" };

	for (int t = IPC_FD_CTL; t <= IPC_FD_CONSOLE; t++) {
		if (p->fd[t] < 0) {
			close(t);	/* its placeholder (main.c): no console */
			continue;
		}
		if (p->fd[t] <= IPC_FD_JOURNAL)
			return -EBADF;	/* cannot be: see above */
		if (dup2(p->fd[t], t) < 0)	/* over the placeholder */
			return -errno;
		close(p->fd[t]);
		p->fd[t] = -1;
		if (confine_check_fd(t, SOCK_STREAM, what[t]) < 0)
			return -EBADF;
	}
	return 0;
}

static void pool_close_fds(struct pool_wait *p)
{
	for (int t = 0; t <= IPC_FD_CONSOLE; t++)
		if (p->fd[t] >= 0) {
			close(p->fd[t]);
			p->fd[t] = -1;
		}
}

static int pool_assign(struct pool_wait *p, const struct ipc_view *v)
{
	const struct ipc_assign *a = v->fixed;
	bool console = a->flags & IPC_ASSIGN_F_CONSOLE;
	int r;

	if (v->var_len == 0 || a->flags & ~IPC_ASSIGN_F_CONSOLE ||
	    p->fd[IPC_FD_CTL] < 0 || p->fd[IPC_FD_IO] < 0 ||
	    console != (p->fd[IPC_FD_CONSOLE] >= 0)) {
		log_error("assignment without the VM's fds or with unknown flags");
		return -EINVAL;
	}
	for (size_t i = 0; i < v->var_len; i++)
		if (v->var[i] < 0x20 || v->var[i] == 0x7f) {
			log_error("assignment with an invalid container id");
			return -EINVAL;
		}
	memcpy(p->container_id, v->var, v->var_len);
	p->container_id[v->var_len] = '\0';

	/* 2. Named for audit (ps, top, journal), fds checked. */
	confine_set_name(p->container_id);
	r = pool_retitle(p, console);
	if (r < 0) {
		log_error("cannot name the helper on argv: %s", strerror(-r));
		return r;
	}
	r = pool_place_fds(p);
	if (r < 0)
		return r;

	/* 6. The helper proper, on the loop built while idle; it takes the
	 * channel over (p->ch then belongs to it). */
	r = helper_init(p->h, p->base, p->container_id, p->wait_timeout_ms,
			console ? IPC_FD_CONSOLE : -1, p->nofile, p->ch);
	if (r < 0) {
		log_error("cannot set up the helper: %s", strerror(-r));
		return r;
	}
	p->ch = NULL;
	p->assigned = true;
	/* 7. seccomp last; only then read from the VM. */
	r = sandbox_load(&p->prog);
	if (r < 0) {
		helper_log(LOG_ERR, 0, 0, "cannot install the seccomp filter: %s", strerror(-r));
		helper_exit(p->h, EXIT_FAILURE, false);
		return 0;
	}
	helper_log(LOG_INFO, 1, 0, "helper ready: taken from the pool, confined, waiting "
		   "for the agent (timeout %u ms)", p->wait_timeout_ms);
	helper_start(p->h);
	return 0;
}

static void pool_on_message(struct ipc_channel *ch, const struct ipc_view *v, void *ctx)
{
	struct pool_wait *p = ctx;
	const struct ipc_pool_fd *pf;

	switch (v->type) {
	case IPC_M_POOL_FD:
		pf = v->fixed;
		if (v->fd < 0 || (pf->target != IPC_FD_CTL && pf->target != IPC_FD_IO &&
				  pf->target != IPC_FD_CONSOLE) || p->fd[pf->target] >= 0) {
			if (v->fd >= 0)
				close(v->fd);
			log_error("invalid fd for the pool (target %u)", pf->target);
			pool_end(p, EXIT_FAILURE);
			return;
		}
		p->fd[pf->target] = v->fd;
		return;
	case IPC_M_ASSIGN:
		if (pool_assign(p, v) < 0)
			pool_end(p, EXIT_FAILURE);
		return;
	case IPC_M_SHUTDOWN:
		pool_end(p, EXIT_SUCCESS);
		break;
	default:
		log_error("unexpected %s while idle", ipc_type_name(v->type));
		pool_end(p, EXIT_FAILURE);
		break;
	}
	if (v->fd >= 0)
		close(v->fd);
}

static void pool_on_close(struct ipc_channel *ch, int err, const char *why, void *ctx)
{
	struct pool_wait *p = ctx;

	/* EOF: the master closed the pool (stopping, or it went). */
	if (err != 0)
		log_error("master channel failed while idle: %s",
			  err == IPC_E_INVALID && why ? why : strerror(-err));
	pool_end(p, err == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

int pool_wait_start(struct pool_wait *p)
{
	struct ipc_empty e = { 0 };
	int r;

	for (int t = 0; t <= IPC_FD_CONSOLE; t++)
		p->fd[t] = -1;
	r = sandbox_prepare(&p->prog);
	if (r < 0) {
		log_error("cannot compile the seccomp filter: %s", strerror(-r));
		close(IPC_FD_CHANNEL);
		return r;
	}
	r = ipc_channel_new(&p->ch, p->base, IPC_FD_CHANNEL, IPC_DIR_TO_HELPER,
			    pool_on_message, pool_on_close, p);	/* consumes fd 3 */
	if (r < 0)
		return r;
	/* The filter's compile and the warm-ups freed what they took: give
	 * those pages back, an idle helper is mostly what it keeps (PSS).
	 * Before seccomp: it may set up glibc's allocator, which asks
	 * getrandom() for its tcache key. */
	malloc_trim(0);
	/* After the hello (the queue is FIFO): confined and waiting. */
	return ipc_channel_send(p->ch, IPC_H_IDLE, 0, &e, sizeof(e), NULL, 0, -1);
}

void pool_wait_fini(struct pool_wait *p)
{
	pool_close_fds(p);
	p->ch = ipc_channel_free(p->ch);
}
