/*
 * fakesvc.c - a tiny service for sdmanager's test (sdmanager.sh), never
 * installed. It prints what it was handed (LISTEN_FDS with names; for an
 * fd named "keep" its content; whether fd 3 is a listening socket), then:
 *  - first run (nothing named "keep" handed over): stores a memfd holding
 *    "hello" as "keep", the read end of a pipe whose write end dies with
 *    it as "hup", a memfd as "gone" and then removes "gone"
 *    (FDSTOREREMOVE=1); sends READY=1, WATCHDOG=1, STATUS=first run;
 *    exits 3;
 *  - later runs: READY=1, exit 0.
 */
#define _GNU_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

static void store(int fd, const char *name)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	if (sd_pid_notify_with_fds(0, 0, msg, &fd, 1) <= 0)
		exit(10);
}

int main(void)
{
	char **names = NULL, buf[16] = "";
	int n = sd_listen_fds_with_names(1, &names), keep = -1, p[2];

	printf("fds=%d listening=%d\n", n,
	       n > 0 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) > 0);
	for (int i = 0; i < n; i++) {
		printf("fd %d name %s\n", SD_LISTEN_FDS_START + i, names[i]);
		if (strcmp(names[i], "keep") == 0)
			keep = SD_LISTEN_FDS_START + i;
	}
	/* Freed at once: the sanitizer build checks this program for leaks. */
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	if (keep >= 0) {
		if (pread(keep, buf, sizeof(buf) - 1, 0) < 0)
			return 11;
		printf("keep holds %s\n", buf);
		fflush(stdout);
		sd_notify(0, "READY=1");
		return 0;
	}
	fflush(stdout);
	keep = memfd_create("keep", 0);
	if (keep < 0 || write(keep, "hello", 5) != 5 || pipe(p) < 0)
		return 12;
	store(keep, "keep");
	store(p[0], "hup");
	store(memfd_create("gone", 0), "gone");
	sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=gone");
	sd_notify(0, "READY=1\nSTATUS=first run");
	sd_notify(0, "WATCHDOG=1");
	return 3;	/* p[1] closes with us: "hup" shows POLLHUP */
}
