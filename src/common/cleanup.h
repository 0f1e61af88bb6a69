/*
 * cleanup.h - scope-bound cleanup of heap memory, fds, json-c objects and
 * evbuffers, after systemd's _cleanup_free_ and bubblewrap's cleanup_fd.
 *
 * A variable declared with one of the _cleanup_*_ attributes is released
 * when it goes out of scope. TAKE_PTR()/TAKE_FD() hand the value on and
 * reset the variable, so ownership transfer is visible at the call site.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void cleanup_json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}

static inline void cleanup_evbuffer_freep(struct evbuffer **b)
{
	if (*b)
		evbuffer_free(*b);
}

#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_json_ _cleanup_(cleanup_json_putp)
#define _cleanup_evbuffer_ _cleanup_(cleanup_evbuffer_freep)

/* Return the pointer and reset the variable to NULL: "ownership moves". */
#define TAKE_PTR(p) ({ __typeof__(p) _take_tmp = (p); (p) = NULL; _take_tmp; })
/* Return the fd and reset the variable to -1: "ownership moves". */
#define TAKE_FD(fd) ({ int _take_tmp = (fd); (fd) = -1; _take_tmp; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
