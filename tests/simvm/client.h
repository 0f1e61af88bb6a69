/*
 * client.h - a direct client of cc-proxy-simvm for its tests: starts the
 * simulated VM in a private directory (synchronised on --notify-fd),
 * connects to its ctl and io sockets, and records everything it sends
 * with the hyper.h decoders (ctl messages over 10240 bytes or io
 * messages over 4096 bytes fail the test).
 *
 * NEXT accounting: every answer records how many bytes the NEXTs before
 * it had counted, so a test can check that each command was fully
 * NEXTed before it was answered.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VC_MAX_MSGS 1024

struct evbuffer;

struct vc_ctl_msg {
	uint32_t code;
	char *data;		/* NUL-terminated copy */
	size_t len;
	uint64_t next_before;	/* sum of NEXT counts received before it */
	double at;		/* arrival, seconds (monotonic) */
};

struct vc_io_msg {
	uint64_t seq;
	char *data;
	size_t len;
	double at;
};

struct vc {
	pid_t pid;
	char dir[128];
	char ctl_path[192], io_path[192];
	int ctl, io;
	struct evbuffer *cin, *iin;
	uint64_t ctl_sent;		/* bytes written on ctl */
	uint64_t next_sum;		/* bytes counted by NEXT */
	uint64_t cmd_end[VC_MAX_MSGS];	/* ctl_sent after each command */
	int ncmd;
	int ready;			/* READY messages */
	bool garbage;			/* undecodable ctl input */
	bool ctl_eof, io_eof;
	struct vc_ctl_msg ans[VC_MAX_MSGS];	/* ACK and ERROR, in order */
	int nans;
	struct vc_ctl_msg ev[VC_MAX_MSGS];	/* processasyncevent */
	int nev;
	struct vc_io_msg io_msgs[VC_MAX_MSGS];
	int nio;
};

double vc_now(void);

/* Start the VM with extra options (NULL-terminated, may be NULL) and
 * connect both sockets; READY is expected on the first connection. */
void vc_start(struct vc *v, const char *const *opts);
/* SIGTERM the VM: it must exit 0 and remove its sockets. */
void vc_stop(struct vc *v);
/* (Re)connect ctl and io after vc_disconnect() or a VM-side close. */
void vc_connect(struct vc *v);
void vc_disconnect(struct vc *v);
/* Reconnect both sockets as a new peer: ctl counters start over. */
void vc_new_peer(struct vc *v);

/* Read whatever arrives within @ms milliseconds. */
void vc_pump(struct vc *v, int ms);
/* Pump until @pred(v, arg) holds; false after @ms milliseconds. */
bool vc_wait(struct vc *v, bool (*pred)(struct vc *, const void *),
	     const void *arg, int ms);

/* Send one ctl command (payload text may be NULL). Return: its index. */
int vc_send(struct vc *v, uint32_t code, const char *json);
/* Send @n commands in one stream, written @piece bytes at a time.
 * Return: the index of the first. */
int vc_send_many(struct vc *v, int n, const uint32_t *codes,
		 const char *const *jsons, size_t piece);
/* Wait for the answer of command @idx and check its NEXT accounting. */
const struct vc_ctl_msg *vc_answer(struct vc *v, int idx);
/* Send and expect ACK / ERROR; return the answer. */
const struct vc_ctl_msg *vc_ack(struct vc *v, uint32_t code, const char *json);
const struct vc_ctl_msg *vc_error(struct vc *v, uint32_t code, const char *json);

void vc_io_send(struct vc *v, uint64_t seq, const void *data, size_t len);
/* Index of the first empty io message on @seq, or -1. */
int vc_io_empty(struct vc *v, uint64_t seq);
/* The data on @seq before its empty message (malloc'd, NUL-terminated). */
char *vc_io_data(struct vc *v, uint64_t seq);
/* Wait until the empty message on @seq has arrived. */
void vc_wait_eof(struct vc *v, uint64_t seq);
/* An io round trip: stdin to an unused seq and its empty answer. */
void vc_io_sync(struct vc *v);
/* Wait for a processasyncevent about @process; return its status. */
int vc_wait_event(struct vc *v, const char *container, const char *process);
