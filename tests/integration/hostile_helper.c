/*
 * hostile_helper.c - a test-only stand-in for cc-proxy-vmhelper that
 * attacks the master over the master <-> helper channel (ipc.h). Built as
 * a check program, never installed; a test starts cc-proxy with
 * `--helper .../hostile-helper`.
 *
 * For a container id that does not start with "evil-" it execs the real
 * helper ($CC_PROXY_BUILDDIR/cc-proxy-vmhelper) with the same argv and
 * fds, so one master serves well-behaved VMs next to hostile ones. For
 * "evil-MODE" it speaks the hello, reports READY and then misbehaves as
 * MODE says (a correct helper never does any of this):
 *
 *   gone-handing-rel   on each Hyper: SHIM_GONE released=1 for its first
 *   gone-handing-keep  token (released=0), then the answer. Run while a
 *                      client waits for its handover, the token is still
 *                      the master's.
 *   gone-unclaimed     the same; run while nobody claimed the token.
 *   gone-twice         on each shim: ConnectShim ok, then SHIM_GONE
 *                      released=0 twice for it.
 *   gone-foreign       on each Hyper: SHIM_GONE for an ioBase it never had.
 *   double-claim       on each shim: ConnectShim ok and keep it - it never
 *                      refuses a second shim for the same session.
 *   bad-id             answers each Hyper with a request id never used.
 *   unasked            answers each Hyper twice.
 *   fd                 answers each Hyper with an fd attached.
 *   truncated          on each Hyper: a header longer than the message.
 *   oversize           on each Hyper: a message beyond IPC_MSG_MAX.
 *   burst              on each Hyper: the answer, then 20000 VM_LOST of
 *                      4 KiB as fast as the channel takes them, and it
 *                      never exits.
 *   deaf               never reads its channel after READY.
 *   mute               serves Hyper (answers ACK) but never answers a ping.
 * Re-adoption by a restarted master (IPC_M_ADOPT; check_adopt.c), each
 * behaving well until then:
 *   adopt-nonce        answers with another nonce (as a stale answer to an
 *                      earlier master would be), and nothing else.
 *   adopt-version      answers with IPC version 99.
 *   adopt-truncated    announces 2 tokens, then sends one and a half.
 *   adopt-steal        answers with a token of another VM, read from the
 *                      file $CC_PROXY_IT_STEAL once it exists (the test
 *                      writes it when the other VM is adopted; bounded).
 * In these modes EOF on the channel (the master refused us and the fd
 * store let go) ends the process, like a real helper.
 *
 * Started as an idle helper of the pool (--pool-slot, no container id)
 * it cannot know its VM yet, so it does what $CC_PROXY_TEST_POOL_EVIL
 * says (inherited through the master):
 *   unset      exits at once (status 2): the pool must pause and the
 *              registrations spawn helpers directly, so the modes above
 *              still work under a master with a pool;
 *   "chatty"   hello, IDLE, then an unasked READY: must cost only itself;
 *   "silent"   hello and never IDLE: killed after the wait timeout.
 *
 * Every mode answers pings unless told otherwise, so the watchdog does
 * not end a test before the misbehaviour it is about, and none exits by
 * itself: each waits for the master's SIGKILL. IPC_M_SHUTDOWN (the
 * master stopping) is the exception.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "fdpass.h"
#include "frame.h"
#include "ipc.h"

#define CH IPC_FD_CHANNEL
#define MAX_TOKENS 4096

static const char *mode;
static char tokens[MAX_TOKENS][45];
static uint64_t io_bases[MAX_TOKENS];
static size_t n_tokens;
static uint8_t buf[IPC_MSG_MAX + 8192];

static bool is(const char *m)
{
	return !strcmp(mode, m);
}

/* A hostile helper does not go by itself: it waits for the SIGKILL, so
 * a test sees the master's doing, never a race with our own exit. */
static void __attribute__((noreturn)) linger(void)
{
	for (;;)
		pause();
}

static void die(const char *what)
{
	fprintf(stderr, "hostile-helper (%s): %s: %s\n", mode, what, strerror(errno));
	linger();
}

/* Send raw bytes as one message, waiting while the channel is full. */
static void send_raw(const void *msg, size_t len, int fd)
{
	for (;;) {
		int r = fdpass_send(CH, msg, len, fd);
		struct pollfd p = { .fd = CH, .events = POLLOUT };

		if (r == 0)
			return;
		if (r != -EAGAIN) {
			errno = -r;
			die("send");
		}
		poll(&p, 1, 1000);
	}
}

static void send_msg(uint32_t type, uint32_t id, const void *fixed, size_t flen,
		     const void *var, size_t vlen, int fd)
{
	ssize_t n = ipc_encode(buf, type, id, fd >= 0, fixed, flen, var, vlen);

	if (n < 0) {
		errno = (int)-n;
		die("ipc_encode");
	}
	send_raw(buf, (size_t)n, fd);
}

static void send_answer(uint32_t id)
{
	struct ipc_hyper_answer a = { .error = 0, .text_len = 0 };

	send_msg(IPC_H_HYPER_ANSWER, id, &a, sizeof(a), NULL, 0, -1);
}

static void send_gone(uint64_t io_base, uint32_t released)
{
	struct ipc_shim_gone g = { .io_base = io_base, .released = released };

	send_msg(IPC_H_SHIM_GONE, 0, &g, sizeof(g), NULL, 0, -1);
}

/* The ConnectShim response a real helper writes on the shim's fd. */
static void shim_ok(int fd)
{
	struct evbuffer *out = evbuffer_new();

	if (!out || frame_encode_response(out, FRAME_CMD_CONNECT_SHIM, false, NULL) < 0)
		die("frame_encode_response");
	while (evbuffer_get_length(out) > 0)
		if (evbuffer_write(out, fd) < 0)
			die("write to the shim");
	evbuffer_free(out);
}

static void on_hyper(uint32_t id)
{
	struct ipc_header hdr;
	struct ipc_empty e = { 0 };
	char reason[4096];
	int fd;

	if (is("gone-handing-rel") || is("gone-unclaimed"))
		send_gone(n_tokens ? io_bases[0] : 3, 1);
	else if (is("gone-handing-keep"))
		send_gone(n_tokens ? io_bases[0] : 3, 0);
	else if (is("gone-foreign"))
		send_gone(1000001, 1);
	if (is("bad-id")) {
		send_answer(id + 1000);
	} else if (is("fd")) {
		struct ipc_hyper_answer a = { 0, 0 };

		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		/* encode refuses an fd the table forbids: attach it by hand */
		ipc_encode(buf, IPC_H_HYPER_ANSWER, id, false, &a, sizeof(a), NULL, 0);
		send_raw(buf, sizeof(struct ipc_header) + sizeof(a), fd);
		close(fd);
	} else if (is("truncated")) {
		hdr = (struct ipc_header){ IPC_H_READY, sizeof(e) + 100, 0, 0 };
		memcpy(buf, &hdr, sizeof(hdr));
		memcpy(buf + sizeof(hdr), &e, sizeof(e));
		send_raw(buf, sizeof(hdr) + sizeof(e), -1);
	} else if (is("oversize")) {
		memset(buf, 'x', sizeof(buf));
		hdr = (struct ipc_header){ IPC_H_VM_LOST, sizeof(buf) - sizeof(hdr), 0, 0 };
		memcpy(buf, &hdr, sizeof(hdr));
		send_raw(buf, sizeof(buf), -1);
	} else {
		send_answer(id);
		if (is("unasked"))
			send_answer(id);
	}
	if (is("burst")) {
		struct ipc_vm_lost l = { .reason_len = sizeof(reason) };

		memset(reason, 'b', sizeof(reason));
		for (int i = 0; i < 20000; i++)
			send_msg(IPC_H_VM_LOST, 0, &l, sizeof(l), reason, sizeof(reason), -1);
	}
}

static void on_shim(const struct ipc_shim *s, int fd)
{
	shim_ok(fd);
	if (is("gone-twice")) {
		send_gone(s->io_base, 0);
		send_gone(s->io_base, 0);
	}
	/* Kept open: the shim stays "connected" (double-claim and others). */
}

/* The token of another VM, from $CC_PROXY_IT_STEAL (waited for, 5 s). */
static bool steal_token(char out[44])
{
	const char *path = getenv("CC_PROXY_IT_STEAL");
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (int i = 0; path && i < 500; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ssize_t n = read(fd, out, 44);

			close(fd);
			if (n == 44)
				return true;
		}
		nanosleep(&tick, NULL);
	}
	return false;
}

static void on_adopt(const struct ipc_adopt *a, uint32_t id)
{
	struct ipc_adopted ans = { .version = IPC_VERSION, .nonce = a->nonce,
				   .id_len = (uint32_t)strlen(mode) + 5 };
	struct ipc_adopt_token e[2] = { { .io_base = 3 }, { .io_base = 5 } };
	struct ipc_adopt_tokens t = { .nonce = a->nonce };
	char cid[300];

	snprintf(cid, sizeof(cid), "evil-%s", mode);
	if (is("adopt-nonce"))
		ans.nonce = a->nonce + 1;
	if (is("adopt-version"))
		ans.version = 99;
	if (is("adopt-truncated"))
		ans.n_tokens = 2;
	if (is("adopt-steal")) {
		if (!steal_token(e[0].token))
			die("no token to steal");
		ans.n_tokens = 1;
	}
	send_msg(IPC_H_ADOPTED, id, &ans, sizeof(ans), cid, ans.id_len, -1);
	if (is("adopt-truncated")) {
		memcpy(e[0].token, tokens[0], 44);
		t.len = sizeof(e) - sizeof(e[0]) / 2;
		send_msg(IPC_H_ADOPT_TOKENS, id, &t, sizeof(t), e, t.len, -1);
	} else if (is("adopt-steal")) {
		t.len = sizeof(e[0]);
		send_msg(IPC_H_ADOPT_TOKENS, id, &t, sizeof(t), e, t.len, -1);
	}
}

static void serve(void)
{
	union { max_align_t a; uint8_t b[IPC_FIXED_MAX]; } fixed;
	struct ipc_empty e = { 0 };
	struct ipc_view v;
	const char *why;
	bool hello = false;

	for (;;) {
		int fd = -1;
		ssize_t n = fdpass_recv(CH, buf, IPC_MSG_MAX, &fd);

		if (n == -EAGAIN) {
			struct pollfd p = { .fd = CH, .events = POLLIN };

			poll(&p, 1, -1);
			continue;
		}
		if (n <= 0 && !strncmp(mode, "adopt-", 6))
			exit(0);	/* refused, and out of the fd store */
		if (n <= 0)
			linger();	/* the master closed the channel */
		if (ipc_decode(buf, (size_t)n, fd >= 0, IPC_DIR_TO_HELPER, &v, fixed.b, &why)) {
			fprintf(stderr, "hostile-helper: bad message from the master: %s\n", why);
			linger();
		}
		if (!hello) {
			hello = v.type == IPC_M_HELLO;
			send_msg(IPC_H_READY, 0, &e, sizeof(e), NULL, 0, -1);
			if (is("deaf"))
				linger();	/* never read again */
			continue;
		}
		switch (v.type) {
		case IPC_M_ADD_TOKEN:
			if (n_tokens < MAX_TOKENS) {
				if (v.var_len == 44)
					memcpy(tokens[n_tokens], v.var, 44);
				io_bases[n_tokens++] = ((const struct ipc_token *)v.fixed)->io_base;
			}
			break;
		case IPC_M_ADOPT:
			on_adopt(v.fixed, v.id);
			break;
		case IPC_M_HYPER:
			on_hyper(v.id);
			break;
		case IPC_M_SHIM:
			on_shim(v.fixed, fd);
			fd = -1;
			break;
		case IPC_M_PING:
			if (!is("mute"))
				send_msg(IPC_H_PONG, v.id, &e, sizeof(e), NULL, 0, -1);
			break;
		case IPC_M_SHUTDOWN:
			exit(0);
		default:
			break;
		}
		if (fd >= 0)
			close(fd);
	}
}

/* An idle helper of the pool (see the top of the file). */
static int pooled(const char *evil)
{
	struct ipc_hello hello = { .version = IPC_VERSION, .pid = (uint32_t)getpid() };
	struct ipc_empty e = { 0 };
	char sink[256];

	if (!evil)
		return 2;
	send_msg(IPC_H_HELLO, 0, &hello, sizeof(hello), NULL, 0, -1);
	if (!strcmp(evil, "silent")) {
		while (read(CH, sink, sizeof(sink)) > 0)
			;	/* until the master's SIGKILL */
		return 0;
	}
	send_msg(IPC_H_IDLE, 0, &e, sizeof(e), NULL, 0, -1);
	send_msg(IPC_H_READY, 0, &e, sizeof(e), NULL, 0, -1);
	while (read(CH, sink, sizeof(sink)) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	struct ipc_hello hello = { .version = IPC_VERSION, .pid = (uint32_t)getpid() };
	const char *id = NULL, *b = getenv("CC_PROXY_BUILDDIR");
	char real[4096];

	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--container-id"))
			id = argv[i + 1];
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--pool-slot"))
			return pooled(getenv("CC_PROXY_TEST_POOL_EVIL"));
	if (!id || strncmp(id, "evil-", 5)) {
		/* A well-behaved VM: the real helper, same argv and fds. */
		snprintf(real, sizeof(real), "%s/cc-proxy-vmhelper", b ? b : ".");
		argv[0] = real;
		execv(real, argv);
		perror(real);
		return 127;
	}
	mode = id + 5;
	/* Started by root: become the helper user as a real helper does, so
	 * the master's checks of who answers see what they would see. */
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--gid") && (setgroups(0, NULL) < 0 ||
		    setresgid((gid_t)atoi(argv[i + 1]), (gid_t)atoi(argv[i + 1]),
			      (gid_t)atoi(argv[i + 1])) < 0))
			die("setresgid");
	}
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--uid") &&
		    setresuid((uid_t)atoi(argv[i + 1]), (uid_t)atoi(argv[i + 1]),
			      (uid_t)atoi(argv[i + 1])) < 0)
			die("setresuid");
	}
	fcntl(CH, F_SETFL, fcntl(CH, F_GETFL) | O_NONBLOCK);
	send_msg(IPC_H_HELLO, 0, &hello, sizeof(hello), NULL, 0, -1);
	serve();
	return 0;
}
