/*
 * log.h - the proxy's logging: verbosity levels, structured fields, and
 * two back ends (stderr lines, or native journal records).
 *
 * Verbosity (as in the original cc-proxy):
 *   0  errors and warnings, and the audit (lifecycle) records - always on
 *   1  important events at the interfaces (connections, commands, answers)
 *   2  raw I/O dumps
 *   3  the VM console, line by line
 * The level comes from -v N, else $CC_PROXY_LOG_LEVEL, else 0.
 *
 * Every record carries a syslog priority, an optional MESSAGE_ID, a list
 * of KEY=value fields and a message. On stderr it is one line:
 *   cc-proxy[PID]: LEVEL message key=value key=value ...
 * with keys lowercased and their CC_ prefix dropped. To the journal it is
 * one native record with MESSAGE=, PRIORITY=, MESSAGE_ID= and the fields
 * as given (upper case). The journal back end either writes native
 * datagrams to an already connected journal socket fd (the confined
 * helper, which may not open sockets), or hands the fields to a sender
 * installed by the program (the master installs libsystemd's
 * sd_journal_sendv; this module does not link libsystemd, so that the
 * helper does not either). Datagram writes never block: a record that
 * would block is dropped and counted (log_dropped()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

struct iovec;

#define LOG_LEVEL_MAX 3
#define LOG_LEVEL_ENV "CC_PROXY_LOG_LEVEL"

enum log_target {
	LOG_TARGET_AUTO = 0,	/* journal if stderr is $JOURNAL_STREAM, else stderr */
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
};

struct log_field {
	const char *key;	/* upper case journal field name, e.g. "CC_CONTAINER_ID" */
	const char *value;	/* NUL-terminated; a NULL value skips the field */
};

/* A compound-literal field list terminated by { NULL, NULL }. */
#define LOG_FIELDS(...) ((const struct log_field[]){ __VA_ARGS__, { NULL, NULL } })

/* sd_journal_sendv()'s shape: one "KEY=value" per iovec; < 0 on failure. */
typedef int (*log_journal_sendv_fn)(const struct iovec *iov, int n);

/**
 * log_set_journal_sendv() - the sender of journal records when no journal
 * fd was given (the master: sd_journal_sendv). Without one, a journal
 * target with no fd writes stderr lines instead.
 */
void log_set_journal_sendv(log_journal_sendv_fn fn);

/**
 * log_init() - set up logging for this process.
 * @ident:      program name for the stderr prefix and SYSLOG_IDENTIFIER
 * @level:      verbosity 0..3 (see log_level_resolve())
 * @target:     back end; AUTO resolves via $JOURNAL_STREAM
 * @journal_fd: a connected SOCK_DGRAM socket to journald (made
 *              O_NONBLOCK here), or -1 to use the sender of
 *              log_set_journal_sendv(). Ownership passes to the log module.
 *
 * May be called again (e.g. the helper after it learnt its container id).
 */
void log_init(const char *ident, int level, enum log_target target, int journal_fd);

/**
 * log_level_resolve() - decide the verbosity.
 * @arg: the -v argument, or NULL when not given (then $CC_PROXY_LOG_LEVEL)
 * @level: out, 0..3
 *
 * Return: 0, or -EINVAL when the value given is not an integer 0..3.
 */
int log_level_resolve(const char *arg, int *level);

/** log_target_parse() - "auto", "stderr" or "journal"; -EINVAL otherwise. */
int log_target_parse(const char *s, enum log_target *out);

/** log_get_level() - the current verbosity. */
int log_get_level(void);

/** log_uses_journal() - true when records go to the journal. */
bool log_uses_journal(void);

/** log_dropped() - journal records dropped because the socket was full. */
uint64_t log_dropped(void);

/**
 * log_submit() - emit one record.
 * @priority:   LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO or LOG_DEBUG
 * @verbosity:  emitted only when the current level is >= this (0: always)
 * @message_id: 32 hex characters (see msgid.h) or NULL
 * @fields:     LOG_FIELDS(...) or NULL
 */
void log_submit(int priority, int verbosity, const char *message_id,
		const struct log_field *fields, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/**
 * log_hexdump() - at verbosity 2, a record describing @len bytes of
 * traffic (@what, e.g. "shim->agent stdin") with a bounded hex/ASCII dump.
 */
void log_hexdump(const struct log_field *fields, const char *what,
		 const void *data, size_t len);

#define log_error(...)  log_submit(LOG_ERR, 0, NULL, NULL, __VA_ARGS__)
#define log_warn(...)   log_submit(LOG_WARNING, 0, NULL, NULL, __VA_ARGS__)
#define log_info(...)   log_submit(LOG_INFO, 1, NULL, NULL, __VA_ARGS__)
#define log_debug(...)  log_submit(LOG_DEBUG, 2, NULL, NULL, __VA_ARGS__)
