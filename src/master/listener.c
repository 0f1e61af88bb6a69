/*
 * listener.c - the listening socket (listener.h).
 *
 * Socket activation first (systemd-socket-proxyd's add_listen_socket is
 * the model): of the fds passed, the one named "proxy" (the socket unit's
 * FileDescriptorName=), else the first listening AF_UNIX stream socket, is
 * ours; it must be a listening AF_UNIX stream socket with a path
 * (sd_is_socket_unix()). Any other passed fd (kept by the service
 * manager's fd store) named "vm-*" is a helper to adopt (adopt.c), any
 * other is logged and closed. Without activation we
 * bind our own socket; then, and only then, the file is ours to remove
 * when we stop.
 *
 * Accepting is evconnlistener's; when accept() fails for lack of fds it
 * would fire again at once, so the listener pauses for a second instead
 * of spinning (the clients already connected are unaffected).
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <systemd/sd-daemon.h>

#include "adopt.h"
#include "client.h"
#include "listener.h"
#include "log.h"
#include "master.h"

struct listener {
	struct master *m;
	struct evconnlistener *lev;
	struct event *retry;	/* re-enable accepting after EMFILE */
	int fd;			/* owned by lev once it exists */
	bool own;		/* we bound it: remove the file at the end */
	dev_t dev;		/* ... but only if it is still ours */
	ino_t ino;
};

/* @path made absolute (the URL we hand out must not depend on our cwd). */
static char *listener_absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *abs = NULL;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&abs, "%s/%s", cwd, path) < 0)
		return NULL;
	return abs;
}

static int listener_set_path(struct master *m, const char *path)
{
	free(m->cfg.socket_path);
	free(m->cfg.url);
	m->cfg.url = NULL;
	m->cfg.socket_path = listener_absolute(path);
	if (!m->cfg.socket_path || asprintf(&m->cfg.url, "unix://%s", m->cfg.socket_path) < 0) {
		m->cfg.url = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* What the socket unit names its socket (FileDescriptorName=). */
#define LISTENER_FD_NAME	"proxy"

static void strv_free_names(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

/*
 * Which of the @n passed fds is the listening socket: the one named
 * LISTENER_FD_NAME (the socket unit's FileDescriptorName=), else the
 * first listening AF_UNIX stream socket. Return: its index, or -1.
 */
static int listener_pick(int n, char **names)
{
	for (int i = 0; names && i < n; i++)
		if (names[i] && strcmp(names[i], LISTENER_FD_NAME) == 0)
			return i;
	for (int i = 0; i < n; i++)
		if (sd_is_socket_unix(SD_LISTEN_FDS_START + i, SOCK_STREAM, 1, NULL, 0) > 0)
			return i;
	return -1;
}

/*
 * The fds passed besides the listening socket: those named "vm-*" are
 * helper channels kept for us (the fd store, FDSTORE=1, or our own
 * re-exec) and are adopted (adopt.c); any other is logged by number and
 * name and closed - an fd we do not understand is never kept, nor handed
 * to a helper.
 */
static void listener_close_extra(struct master *m, int n, char **names, int keep)
{
	for (int i = 0; i < n; i++) {
		if (i == keep)
			continue;
		if (names && adopt_is_vm_name(names[i])) {
			/* A helper channel from the fd store or our re-exec. */
			adopt_passed_fd(m, SD_LISTEN_FDS_START + i, names[i]);
			continue;
		}
		log_submit(LOG_WARNING, 0, NULL,
			   LOG_FIELDS({ "CC_PASSED_FD_NAME", names && names[i] ? names[i] : "" }),
			   "socket activation: passed fd %d (name %s) is not the listening "
			   "socket and is not adopted: closed", SD_LISTEN_FDS_START + i,
			   names && names[i] ? names[i] : "");
		close(SD_LISTEN_FDS_START + i);
	}
}

/* systemd handed us a socket. Return: 1 taken, 0 none, -errno. */
static int listener_activated(struct master *m, struct listener *l)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	char **names = NULL;
	/* 1: unset LISTEN_*, helpers must not see them */
	int n = sd_listen_fds_with_names(1, &names);
	int pick;

	if (n < 0) {
		log_error("socket activation: %s", strerror(-n));
		return n;
	}
	if (n == 0) {
		strv_free_names(names);
		return 0;
	}
	pick = listener_pick(n, names);
	listener_close_extra(m, n, names, pick);
	strv_free_names(names);
	if (pick < 0) {
		log_error("socket activation passed %d fds, none named \"" LISTENER_FD_NAME
			  "\" nor a listening AF_UNIX stream socket", n);
		return -EINVAL;
	}
	l->fd = SD_LISTEN_FDS_START + pick;
	if (sd_is_socket_unix(l->fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
		log_error("socket activation: fd %d is not a listening AF_UNIX stream socket",
			  l->fd);
		return -EINVAL;
	}
	if (getsockname(l->fd, (struct sockaddr *)&sa, &len) < 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] == '\0') {
		log_error("socket activation: the socket has no path (abstract or unnamed)");
		return -EINVAL;
	}
	sa.sun_path[sizeof(sa.sun_path) - 1] = '\0';
	if (fcntl(l->fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return listener_set_path(m, sa.sun_path) < 0 ? -ENOMEM : 1;
}

/* mkdir -p of @path's parent, each directory we create mode 0750. */
static int listener_make_parents(const char *path)
{
	char *dir = strdup(path);
	char *slash;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; ; p++) {
			if (*p != '/' && *p != '\0')
				continue;
			char saved = *p;

			*p = '\0';
			if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
				r = -errno;
				log_error("cannot create directory %s: %s", dir, strerror(errno));
				break;
			}
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	free(dir);
	return r;
}

/* A socket file at @path: remove it if nobody listens there any more. */
static int listener_remove_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket: refusing to replace it", path);
		return -EEXIST;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0 || errno == EAGAIN) {
		log_error("another process is listening on %s", path);
		return -EADDRINUSE;
	}
	log_submit(LOG_NOTICE, 0, NULL, NULL, "replacing the stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int listener_bind(struct master *m, struct listener *l, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_mask;
	int r;

	r = listener_set_path(m, path);
	if (r < 0)
		return r;
	path = m->cfg.socket_path;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket path %s is too long for AF_UNIX (%zu bytes at most)", path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	r = listener_make_parents(path);
	if (r == 0)
		r = listener_remove_stale(path);
	if (r < 0)
		return r;
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0)
		return -errno;
	/* The file is born 0660: whoever can connect drives every VM, so
	 * there must be no moment at which others could. */
	old_mask = umask(0117);
	r = bind(l->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (r < 0) {
		r = -errno;
		log_error("cannot bind %s: %s", path, strerror(-r));
		return r;
	}
	l->own = true;
	if (lstat(path, &st) == 0) {
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	if (chmod(path, 0660) < 0 || listen(l->fd, SOMAXCONN) < 0) {
		r = -errno;
		log_error("cannot listen on %s: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

static void listener_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
			       struct sockaddr *sa, int socklen, void *arg)
{
	struct listener *l = arg;

	client_new(l->m, fd);	/* consumes fd; logs its own failures */
}

static void listener_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	evconnlistener_enable(l->lev);
}

static void listener_on_error(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	const struct timeval pause = { 1, 0 };
	int err = EVUTIL_SOCKET_ERROR();

	log_warn("accept failed: %s: pausing for a second", strerror(err));
	evconnlistener_disable(lev);
	evtimer_add(l->retry, &pause);
}

int listener_open(struct master *m, const char *path, struct listener **out)
{
	struct listener *l = calloc(1, sizeof(*l));
	int flags, r;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->m = m;
	l->fd = -1;
	r = listener_activated(m, l);
	if (r == 1) {
		log_info("using the socket passed by systemd: %s", m->cfg.socket_path);
	} else if (r == 0) {
		r = listener_bind(m, l, path);
		if (r < 0)
			goto fail;
	} else {
		goto fail;
	}
	flags = fcntl(l->fd, F_GETFL);
	if (flags < 0 || fcntl(l->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	l->retry = evtimer_new(m->base, listener_on_retry, l);
	/* backlog 0: the socket already listens. */
	l->lev = evconnlistener_new(m->base, listener_on_accept, l,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, l->fd);
	if (!l->retry || !l->lev) {
		r = -ENOMEM;
		goto fail;
	}
	evconnlistener_set_error_cb(l->lev, listener_on_error);
	*out = l;
	return 0;
fail:
	listener_free(l);
	return r < 0 ? r : -EINVAL;
}

struct listener *listener_free(struct listener *l)
{
	struct stat st;

	if (!l)
		return NULL;
	if (l->lev)
		evconnlistener_free(l->lev);	/* closes the fd */
	else if (l->fd >= 0)
		close(l->fd);
	if (l->retry)
		event_free(l->retry);
	/* Remove the file only if it is still the one we bound: a newer
	 * proxy may have replaced it in the meantime. */
	if (l->own && l->m->cfg.socket_path && lstat(l->m->cfg.socket_path, &st) == 0 &&
	    st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->m->cfg.socket_path);
	free(l);
	return NULL;
}

int listener_fd(const struct listener *l)
{
	return l->lev ? evconnlistener_get_fd(l->lev) : l->fd;
}
