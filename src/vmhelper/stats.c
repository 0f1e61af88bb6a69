/*
 * stats.c - the helper's side of `cc-proxyctl status` (stats.h).
 *
 * The counters live in h->stats and are bumped where the bytes go by; this
 * file only keeps the last error text and turns both into the fixed
 * struct ipc_stats the master validates by size. The last error is a
 * static buffer because helper_log(), which feeds it, is called from
 * places that hold no struct helper; a helper serves exactly one VM.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>
#include <sys/queue.h>

#include "helper.h"
#include "ipc.h"
#include "session.h"
#include "stats.h"

static char stats_last_error[IPC_STATS_ERROR_MAX];

void stats_note_error(const char *msg)
{
	size_t n = strnlen(msg, sizeof(stats_last_error) - 1);

	memcpy(stats_last_error, msg, n);
	stats_last_error[n] = '\0';
}

void stats_fill(const struct helper *h, struct ipc_stats *out, const char **err)
{
	const struct session *s;

	memset(out, 0, sizeof(*out));
	out->bytes_to_shims = h->stats.bytes_to_shims;
	out->bytes_from_shims = h->stats.bytes_from_shims;
	out->bytes_null = h->stats.bytes_null;
	out->bytes_orphaned = h->stats.bytes_orphaned;
	out->hyper_served = h->stats.hyper_served;
	out->hyper_failed = h->stats.hyper_failed;
	TAILQ_FOREACH(s, &h->sessions, link) {
		out->sessions++;
		if (s->shim)
			out->shims++;
		/* Started (the agent ACKed it) and no exit status yet. */
		if (s->started && !s->status_known)
			out->processes++;
	}
	if (h->unregistered)
		out->flags |= IPC_STATS_F_UNREGISTERED;
	*err = stats_last_error;
	out->error_len = (uint32_t)strlen(stats_last_error);
}
