/*
 * sdmanager.c - a test double of the service manager's side of the
 * systemd protocol (sd_notify(3), sd_listen_fds(3)), for tests only,
 * never installed:
 *
 *   sdmanager --dir DIR [--listen PATH] [--restarts N] [--fdstore-max N]
 *             [--no-fdstore-env] -- CMD [ARGS...]
 *
 * It binds DIR/notify (NOTIFY_SOCKET) and, with --listen, a listening
 * AF_UNIX stream socket at PATH, then starts CMD with LISTEN_FDS,
 * LISTEN_FDNAMES and LISTEN_PID: the socket first (named "proxy"), then
 * every fd in its store. From the service it takes FDSTORE=1 (its fds
 * kept under FDNAME=, "stored" by default; at most SDM_STORE_MAX),
 * FDSTOREREMOVE=1 (every fd named FDNAME= closed), and records every
 * other line. A stored fd that shows POLLHUP is dropped; a second copy
 * of an fd already stored (the same open file) is ignored, as systemd
 * does. When the service dies it is started again, at most N times, with
 * the store handed back. --fdstore-max N plays FileDescriptorStoreMax=
 * (default SDM_STORE_MAX): the service gets FDSTORE=N in its environment
 * (systemd 254 and later do that), and with 0 no fd is kept.
 * --no-fdstore-env plays systemd before 254 (Debian 12's 252): the store
 * is kept, but $FDSTORE is never set.
 *
 * Like systemd with KillMode=process it is a child subreaper: processes
 * the service leaves behind (its helpers) become its children, and it
 * reaps them (REAPED), so a test can tell that nothing is left.
 *
 * Everything it sees goes to DIR/record, one flushed line per event:
 *   START n LISTEN_FDS=k LISTEN_FDNAMES=a:b   PID n pid   NOTIFY line
 *   READY n   STORE name   DUP name   REMOVE name   HUP name   FULL name
 *   EXIT status   REAPED pid status   FLUSH k   LEFT k   DONE   STOP
 * It exits 0 after the last run (DONE), 1 on a set-up error. SIGTERM is
 * a stop: the service gets SIGTERM, its exit is recorded (EXIT), then the
 * store is flushed (FLUSH k: its fds closed) and sdmanager waits, at most
 * SDM_STOP_WAIT_MS, for every process left behind to exit (LEFT k when
 * some did not; they are then SIGKILLed), then STOP and exit 0. A death
 * of the service is a restart: the store is kept.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SDM_STORE_MAX	256
#define SDM_STOP_WAIT_MS	10000
#define SDM_NAME_MAX	255
#define SDM_MSG_MAX	4096
#define SDM_FDS_MSG_MAX	16

struct stored {
	int fd;
	char name[SDM_NAME_MAX + 1];
};

static struct stored store[SDM_STORE_MAX];
static size_t n_store;
static size_t store_max = SDM_STORE_MAX;
static bool fdstore_env = true;	/* --no-fdstore-env: false */
static FILE *rec;
/* The service, and its wait status once reaped by reap_all(). */
static pid_t svc_pid;
static bool svc_reaped;
static int svc_status;
static unsigned int cur_run;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(rec, fmt, ap);
	va_end(ap);
	fputc('\n', rec);
	fflush(rec);
}

static void store_drop(size_t i, const char *why)
{
	record("%s %s", why, store[i].name);
	close(store[i].fd);
	store[i] = store[--n_store];
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void store_add(int fd, const char *name)
{
	for (size_t i = 0; i < n_store; i++)
		if (same_file(store[i].fd, fd)) {
			record("DUP %s", name);
			close(fd);
			return;
		}
	if (n_store >= store_max) {
		record("FULL %s", name);
		close(fd);
		return;
	}
	store[n_store].fd = fd;
	snprintf(store[n_store].name, sizeof(store[n_store].name), "%s", name);
	n_store++;
	record("STORE %s", name);
}

/* One notification: its lines recorded, FDSTORE/FDSTOREREMOVE acted on. */
static void on_notify(int sock)
{
	char buf[SDM_MSG_MAX + 1], name[SDM_NAME_MAX + 1] = "stored";
	union {
		char b[CMSG_SPACE(sizeof(int) * SDM_FDS_MSG_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, SDM_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	int fds[SDM_FDS_MSG_MAX], nfds = 0;
	bool fdstore = false, remove = false;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (n < 0)
		return;
	buf[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) &&
			     nfds < SDM_FDS_MSG_MAX; i++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		record("NOTIFY %s", l);
		if (strcmp(l, "READY=1") == 0)
			record("READY %u", cur_run);
		if (strcmp(l, "FDSTORE=1") == 0)
			fdstore = true;
		else if (strcmp(l, "FDSTOREREMOVE=1") == 0)
			remove = true;
		else if (strncmp(l, "FDNAME=", 7) == 0)
			snprintf(name, sizeof(name), "%s", l + 7);
	}
	for (int i = 0; i < nfds; i++) {
		if (fdstore)
			store_add(fds[i], name);
		else
			close(fds[i]);
	}
	for (size_t i = 0; remove && i < n_store; )
		if (strcmp(store[i].name, name) == 0)
			store_drop(i, "REMOVE");
		else
			i++;
}

/* Start the service with the listening socket (if any) and the store. */
static pid_t spawn(char **argv, int listen_fd, const char *notify, unsigned int run)
{
	char names[SDM_STORE_MAX * (SDM_NAME_MAX + 1) + 8] = "";
	int n = 0;
	pid_t pid;

	if (listen_fd >= 0)
		strcat(names, "proxy");
	n = listen_fd >= 0;
	for (size_t i = 0; i < n_store; i++, n++) {
		if (n)
			strcat(names, ":");
		strcat(names, store[i].name);
	}
	record("START %u LISTEN_FDS=%d LISTEN_FDNAMES=%s", run, n, names);
	pid = fork();
	if (pid != 0) {
		if (pid > 0)
			record("PID %u %d", run, (int)pid);
		return pid;
	}
	/* Child: the fds to 3.. in order, via high numbers (no overlap). */
	int high[SDM_STORE_MAX + 1], k = 0;
	char num[32];

	if (listen_fd >= 0)
		high[k++] = fcntl(listen_fd, F_DUPFD, 100);
	for (size_t i = 0; i < n_store; i++)
		high[k++] = fcntl(store[i].fd, F_DUPFD, 100);
	for (int i = 0; i < k; i++)
		if (high[i] < 0 || dup2(high[i], 3 + i) < 0)
			_exit(126);
	for (int i = 0; i < k; i++)
		close(high[i]);
	snprintf(num, sizeof(num), "%d", k);
	setenv("LISTEN_FDS", num, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
	setenv("NOTIFY_SOCKET", notify, 1);
	if (store_max > 0 && fdstore_env) {
		snprintf(num, sizeof(num), "%zu", store_max);
		setenv("FDSTORE", num, 1);
	} else {
		unsetenv("FDSTORE");
	}
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	execvp(argv[0], argv);
	_exit(127);
}

/* Reap every child that has exited: the service (its status kept for
 * the main loop) and whatever it left behind. */
static void reap_all(void)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == svc_pid) {
			svc_reaped = true;
			svc_status = st;
		} else {
			record("REAPED %d %d", (int)p,
			       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
	}
}

static int wait_service(void)
{
	int st;

	if (!svc_reaped && waitpid(svc_pid, &st, 0) == svc_pid)
		svc_status = st;
	svc_reaped = false;
	return svc_status;
}

/* Does any child remain (exited or not)? */
static bool have_children(void)
{
	siginfo_t info;

	return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* A stop: the store is flushed, then everything left must exit; what
 * does not within SDM_STOP_WAIT_MS is counted (LEFT) and SIGKILLed. */
static void stop_flush(int sfd)
{
	struct pollfd p = { .fd = sfd, .events = POLLIN };
	struct signalfd_siginfo si;
	struct timespec t0, t;
	char path[64], buf[4096];
	int ms, left = 0;
	FILE *f;

	record("FLUSH %zu", n_store);
	for (size_t i = 0; i < n_store; i++)
		close(store[i].fd);
	n_store = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		reap_all();
		if (!have_children())
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = SDM_STOP_WAIT_MS - (int)((t.tv_sec - t0.tv_sec) * 1000 +
					      (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms <= 0)
			break;
		if (poll(&p, 1, ms) > 0)	/* SIGCHLD */
			while (read(sfd, &si, sizeof(si)) > 0)
				;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
	f = fopen(path, "re");
	if (f && fgets(buf, sizeof(buf), f))
		for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save), left++)
			kill((pid_t)atoi(tok), SIGKILL);
	if (f)
		fclose(f);
	record("LEFT %d", left);
	while (waitpid(-1, NULL, 0) > 0)
		;
}

static int bind_unix(int type, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "restarts", required_argument, NULL, 'r' },
		{ "fdstore-max", required_argument, NULL, 'f' },
		{ "no-fdstore-env", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *listen_path = NULL;
	unsigned int restarts = 0, run = 0;
	char path[4096], notify[4096];
	int c, listen_fd = -1, notify_fd, sfd, pidfd;
	sigset_t sigs;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			dir = optarg;
		else if (c == 'l')
			listen_path = optarg;
		else if (c == 'r')
			restarts = (unsigned int)strtoul(optarg, NULL, 10);
		else if (c == 'f' && strtoul(optarg, NULL, 10) <= SDM_STORE_MAX)
			store_max = strtoul(optarg, NULL, 10);
		else if (c == 'n')
			fdstore_env = false;
		else
			return 1;
	}
	if (!dir || optind >= argc) {
		fprintf(stderr, "usage: sdmanager --dir DIR [--listen PATH] [--restarts N] "
			"[--fdstore-max N] [--no-fdstore-env] -- CMD...\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/record", dir);
	rec = fopen(path, "we");
	snprintf(notify, sizeof(notify), "%s/notify", dir);
	notify_fd = bind_unix(SOCK_DGRAM, notify);
	if (listen_path)
		listen_fd = bind_unix(SOCK_STREAM, listen_path);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	/* What the service leaves behind is ours to reap, as with systemd. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		fprintf(stderr, "sdmanager: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
		return 1;
	}
	if (!rec || notify_fd < 0 || (listen_path && listen_fd < 0) || sfd < 0) {
		fprintf(stderr, "sdmanager: set-up failed: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
		cur_run = run;
		pid = spawn(argv + optind, listen_fd, notify, run);
		svc_pid = pid;
		svc_reaped = false;
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pid < 0 || pidfd < 0)
			return 1;
		for (;;) {
			struct pollfd p[3 + SDM_STORE_MAX] = {
				{ .fd = notify_fd, .events = POLLIN },
				{ .fd = pidfd, .events = POLLIN },
				{ .fd = sfd, .events = POLLIN },
			};
			int st;

			for (size_t i = 0; i < n_store; i++)
				p[3 + i] = (struct pollfd){ .fd = store[i].fd, .events = 0 };
			if (poll(p, 3 + n_store, -1) < 0 && errno != EINTR)
				return 1;
			/* Notifications first: a service's last words before dying. */
			if (p[0].revents & POLLIN) {
				on_notify(notify_fd);
				continue;
			}
			for (size_t i = n_store; i-- > 0; )
				if (p[3 + i].revents & (POLLHUP | POLLERR | POLLNVAL))
					store_drop(i, "HUP");
			if (p[2].revents & POLLIN) {
				struct signalfd_siginfo si;
				bool stop = false;

				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					stop |= si.ssi_signo != SIGCHLD;
				reap_all();
				if (!stop)
					continue;
				kill(pid, SIGTERM);
				st = wait_service();
				while (poll(p, 1, 0) > 0 && (p[0].revents & POLLIN))
					on_notify(notify_fd);
				record("EXIT %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
				stop_flush(sfd);
				record("STOP");
				return 0;
			}
			if (p[1].revents & POLLIN) {
				st = wait_service();
				close(pidfd);
				/* Any notification sent before the death is read first. */
				while (poll(p, 1, 0) > 0 && (p[0].revents & POLLIN))
					on_notify(notify_fd);
				record("EXIT %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
				/* The dead service's fds are closed by now: a stored
				 * fd that depended on them is dropped before the
				 * restart, never handed back. */
				for (size_t i = 0; i < n_store; i++)
					p[i] = (struct pollfd){ .fd = store[i].fd, .events = 0 };
				if (poll(p, n_store, 0) > 0)
					for (size_t i = n_store; i-- > 0; )
						if (p[i].revents & (POLLHUP | POLLERR | POLLNVAL))
							store_drop(i, "HUP");
				break;
			}
		}
		if (run++ >= restarts)
			break;
	}
	record("DONE");
	return 0;
}
