/*
 * agent.h - the benchmarks' lean agent: a process that speaks just enough
 * of hyperstart's ctl and io protocols for the proxy's helper (and the
 * benchmark itself, for the direct baselines) to drive it, and does as
 * little as possible, so that it is never the bottleneck being measured.
 *
 * One agent process serves up to AGENT_MAX_VMS VMs, each a pair of
 * listening AF_UNIX stream sockets (ctl, io), all in one epoll loop
 * (edge-triggered, so streaming costs no epoll_ctl calls). What it does:
 *   ctl: READY to every peer on connect; a NEXT for every chunk read (as
 *        hyperstart does); ACK to every command. EXECCMD's process args
 *        choose the work, on the io seq in process.stdio:
 *          ["out", "N"]  write N bytes of stdout in full-size io messages
 *                        (HYPER_IO_RECV_MAX bytes each), then the end of
 *                        output (an empty message) and status 0 (a 1-byte
 *                        message: the legacy dialect);
 *          ["in"]        count the stdin bytes until the empty message,
 *                        then write the count ("N\n") as stdout, the end
 *                        of output and status 0.
 *   io:  stdin for other seqs is ignored.
 * The sockets exist (bound and listening) before agent_start() returns,
 * so no readiness wait is needed.
 */
#pragma once

#include <sys/types.h>

#include "rig.h"

/* The data of one full-size io message from the agent. */
#define AGENT_IO_MSG		10240u	/* HYPER_IO_RECV_MAX */
#define AGENT_MAX_VMS		1024u

struct agent {
	pid_t pid;
	unsigned n;		/* VMs served */
	unsigned first;		/* the rig-wide number of its first VM */
};

/**
 * agent_start() - bind and listen on @n VM socket pairs named
 * DIR/a<first+i>.ctl and .io, then fork the agent process that serves
 * them (tracked by the rig, killed by rig_fini()). Exits on failure.
 */
void agent_start(struct rig *r, struct agent *a, unsigned first, unsigned n);

/** agent_paths() - the socket paths of VM number @i (rig-wide). */
void agent_paths(const struct rig *r, unsigned i, char ctl[108], char io[108]);
