/*
 * log.c - verbosity, structured fields and the two back ends (log.h).
 *
 * stderr: one line per record, written with ONE write(2) so that records
 * of the master and of its helpers (which share the master's stderr) never
 * interleave mid-line:
 *     IDENT[PID]: LEVEL message key=value key="two words" ...
 * Keys are lowercased with their CC_ prefix dropped. Text that came from
 * a peer cannot forge a record: control characters are escaped (\xNN),
 * and a newline is written as a newline followed by a tab, so every
 * continuation line starts with a tab and never with "IDENT[".
 *
 * journal: MESSAGE, PRIORITY, MESSAGE_ID, SYSLOG_IDENTIFIER and the given
 * fields. This file does not use libsystemd, so that the confined helper
 * links only what it uses (issue 10: libsystemd pulls 13 shared objects
 * into every helper exec). Two ways out:
 *  - a connected datagram socket (the helper's fd 7, which it may not
 *    open itself): the native protocol is written here as ONE datagram,
 *    "KEY=value\n", or for a value holding a newline "KEY\n" + 64-bit
 *    little-endian length + value + "\n". It goes out with write(2) on
 *    the connected socket made O_NONBLOCK by log_init(), so the helper's
 *    seccomp allowlist needs neither sendto nor sendmsg. A record that
 *    would block, or is too large for one datagram, is dropped and
 *    counted (log_dropped()), never waited for (STYLE.md section 7;
 *    dbus-broker's lossy mode);
 *  - a sender installed with log_set_journal_sendv() (the master passes
 *    libsystemd's sd_journal_sendv, which handles large records). With
 *    neither, journal records fall back to stderr lines.
 *
 * State is process-global and single-threaded, like the event loop.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Formatted message text, before escaping. Longer text is cut. */
#define LOG_MSG_MAX	4096
/* One whole record (stderr line or journal datagram). */
#define LOG_RECORD_MAX	16384
/* Bytes shown by log_hexdump(). */
#define LOG_HEXDUMP_MAX	256
/* Caller fields kept by log_hexdump(). */
#define LOG_HEXDUMP_FIELDS 32

static struct {
	char ident[64];
	int level;
	bool journal;		/* records go to the journal */
	int journal_fd;		/* owned; -1: journal_sendv */
	log_journal_sendv_fn journal_sendv;	/* NULL: none */
	pid_t pid;
	uint64_t dropped;
} log_state = {
	.ident = "cc-proxy",
	.journal_fd = -1,
};

/* A bounded output buffer; overflow is remembered, not an error. */
struct log_buf {
	char *p;
	size_t len;
	size_t cap;
	bool overflow;
};

static void log_buf_add(struct log_buf *b, const void *data, size_t n)
{
	if (n > b->cap - b->len) {
		n = b->cap - b->len;
		b->overflow = true;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void log_buf_adds(struct log_buf *b, const char *s)
{
	log_buf_add(b, s, strlen(s));
}

/* ---- settings -------------------------------------------------------- */

/* Strict "0".."3": digits only, no sign, no spaces. */
static int log_parse_level(const char *s, int *level)
{
	long v = 0;

	if (!*s || strlen(s) > 9)
		return -EINVAL;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (*c - '0');
	}
	if (v > LOG_LEVEL_MAX)
		return -EINVAL;
	*level = (int)v;
	return 0;
}

int log_level_resolve(const char *arg, int *level)
{
	const char *env;

	/* -v wins; the environment is not even looked at then. */
	if (arg)
		return log_parse_level(arg, level);
	env = getenv(LOG_LEVEL_ENV);
	if (env && *env)	/* "VAR=" in a unit file means unset */
		return log_parse_level(env, level);
	*level = 0;
	return 0;
}

int log_target_parse(const char *s, enum log_target *out)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "auto"))
		*out = LOG_TARGET_AUTO;
	else if (!strcmp(s, "stderr"))
		*out = LOG_TARGET_STDERR;
	else if (!strcmp(s, "journal"))
		*out = LOG_TARGET_JOURNAL;
	else
		return -EINVAL;
	return 0;
}

/* systemd.exec(5): $JOURNAL_STREAM is "DEV:INO" of the stream it connected
 * to stderr; if fd 2 is still that stream, native records are better. */
static bool log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (!env || !*env)
		return false;
	errno = 0;
	dev = strtoull(env, &end, 10);
	if (errno || end == env || *end != ':')
		return false;
	env = end + 1;
	ino = strtoull(env, &end, 10);
	if (errno || end == env || *end)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_set_journal_sendv(log_journal_sendv_fn fn)
{
	log_state.journal_sendv = fn;
}

void log_init(const char *ident, int level, enum log_target target, int journal_fd)
{
	if (ident && *ident)
		snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident);
	if (level < 0)
		level = 0;
	if (level > LOG_LEVEL_MAX)
		level = LOG_LEVEL_MAX;
	log_state.level = level;
	log_state.pid = getpid();

	/* A new socket replaces (and closes) the old one. -1 on a later
	 * call keeps a socket given earlier: a confined helper re-initialising
	 * must not fall back to libsystemd, which would need socket(2). */
	if (journal_fd >= 0 && journal_fd != log_state.journal_fd) {
		int fl = fcntl(journal_fd, F_GETFL);

		if (log_state.journal_fd >= 0)
			close(log_state.journal_fd);
		log_state.journal_fd = journal_fd;
		/* write(2) takes no MSG_DONTWAIT: the socket itself must
		 * never block the loop. */
		if (fl >= 0 && !(fl & O_NONBLOCK))
			fcntl(journal_fd, F_SETFL, fl | O_NONBLOCK);
	}

	switch (target) {
	case LOG_TARGET_JOURNAL:
		log_state.journal = true;
		break;
	case LOG_TARGET_STDERR:
		log_state.journal = false;
		break;
	case LOG_TARGET_AUTO:
	default:
		log_state.journal = log_stderr_is_journal();
		break;
	}
}

int log_get_level(void)
{
	return log_state.level;
}

bool log_uses_journal(void)
{
	return log_state.journal;
}

uint64_t log_dropped(void)
{
	return log_state.dropped;
}

/* ---- records --------------------------------------------------------- */

struct log_kv {
	const char *key;
	const char *value;
};

/* Journal field names: A-Z, 0-9, '_', not starting with a digit or '_'
 * (those are journald's trusted fields), at most 64 characters. */
static bool log_key_valid(const char *k)
{
	size_t n = 0;

	if (!k || !*k || *k == '_' || (*k >= '0' && *k <= '9'))
		return false;
	for (; *k; k++, n++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	return n <= 64;
}

static bool log_msgid_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++)
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f') ||
		      (id[n] >= 'A' && id[n] <= 'F')))
			return false;
	return n == 32;
}

static const char *log_priority_name(int priority)
{
	switch (priority) {
	case LOG_EMERG: return "EMERG";
	case LOG_ALERT: return "ALERT";
	case LOG_CRIT: return "CRIT";
	case LOG_ERR: return "ERROR";
	case LOG_WARNING: return "WARNING";
	case LOG_NOTICE: return "NOTICE";
	case LOG_INFO: return "INFO";
	default: return "DEBUG";
	}
}

/* Escaped text for stderr (see the file comment). */
static void log_buf_add_escaped(struct log_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[5];

		if (c == '\n') {
			log_buf_add(b, "\n\t", 2);
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			log_buf_add(b, esc, 2);
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			log_buf_add(b, esc, 4);
		} else {
			log_buf_add(b, s, 1);
		}
	}
}

static bool log_needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == '"' || c == '\\' || c == 0x7f)
			return true;
	}
	return false;
}

static void log_write_stderr(int priority, const struct log_kv *kv, size_t nkv,
			     const char *msg)
{
	char line[LOG_RECORD_MAX];
	struct log_buf b = { line, 0, sizeof(line) - 1, false };
	char prefix[96];
	size_t off = 0;

	snprintf(prefix, sizeof(prefix), "%s[%ld]: %s ", log_state.ident,
		 (long)log_state.pid, log_priority_name(priority));
	log_buf_adds(&b, prefix);
	log_buf_add_escaped(&b, msg);
	for (size_t i = 0; i < nkv; i++) {
		const char *k = kv[i].key;

		log_buf_add(&b, " ", 1);
		if (!strncmp(k, "CC_", 3))
			k += 3;
		for (; *k; k++) {
			char c = (*k >= 'A' && *k <= 'Z') ? (char)(*k - 'A' + 'a') : *k;

			log_buf_add(&b, &c, 1);
		}
		log_buf_add(&b, "=", 1);
		if (log_needs_quotes(kv[i].value)) {
			log_buf_add(&b, "\"", 1);
			log_buf_add_escaped(&b, kv[i].value);
			log_buf_add(&b, "\"", 1);
		} else {
			log_buf_adds(&b, kv[i].value);
		}
	}
	if (b.overflow && b.len >= 3)
		memcpy(line + b.len - 3, "...", 3);
	line[b.len++] = '\n';	/* room was kept for it */

	/* One write(2) per record; loop only for the rare short write. */
	while (off < b.len) {
		ssize_t n = write(STDERR_FILENO, line + off, b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
}

/* The native journal protocol, one datagram, never blocking. */
static void log_write_native(const struct log_kv *kv, size_t nkv)
{
	static char rec[LOG_RECORD_MAX];
	struct log_buf b = { rec, 0, sizeof(rec), false };
	ssize_t n;

	for (size_t i = 0; i < nkv; i++) {
		size_t vlen = strlen(kv[i].value);

		log_buf_adds(&b, kv[i].key);
		if (memchr(kv[i].value, '\n', vlen)) {
			unsigned char le[8];
			uint64_t v = vlen;

			for (int j = 0; j < 8; j++)
				le[j] = (unsigned char)(v >> (8 * j));
			log_buf_add(&b, "\n", 1);
			log_buf_add(&b, le, sizeof(le));
		} else {
			log_buf_add(&b, "=", 1);
		}
		log_buf_add(&b, kv[i].value, vlen);
		log_buf_add(&b, "\n", 1);
	}
	if (b.overflow) {
		log_state.dropped++;	/* too large for one datagram */
		return;
	}
	/* write(2) on the connected, non-blocking socket: one datagram. */
	do
		n = write(log_state.journal_fd, rec, b.len);
	while (n < 0 && errno == EINTR);
	/* EAGAIN: journald is behind; EMSGSIZE/ENOBUFS: too large; anything
	 * else (journald restarting): all the same, the record is lost and
	 * counted, and the caller's loop goes on. */
	if (n < 0 || (size_t)n != b.len)
		log_state.dropped++;
}

/* Through the installed sender (libsystemd's sd_journal_sendv in the
 * master): each iovec is one "KEY=value"; it handles newlines. */
static void log_write_sendv(const struct log_kv *kv, size_t nkv)
{
	static char scratch[LOG_RECORD_MAX];
	struct log_buf b = { scratch, 0, sizeof(scratch), false };
	struct iovec iov[LOG_HEXDUMP_FIELDS + 8];
	size_t niov = 0;

	for (size_t i = 0; i < nkv && niov < sizeof(iov) / sizeof(iov[0]); i++) {
		size_t start = b.len;

		log_buf_adds(&b, kv[i].key);
		log_buf_add(&b, "=", 1);
		log_buf_adds(&b, kv[i].value);
		iov[niov].iov_base = scratch + start;
		iov[niov].iov_len = b.len - start;
		niov++;
	}
	if (b.overflow || log_state.journal_sendv(iov, (int)niov) < 0)
		log_state.dropped++;
}

static void log_emit(int priority, const char *message_id,
		     const struct log_field *fields, const char *msg)
{
	struct log_kv kv[LOG_HEXDUMP_FIELDS + 8];
	size_t nkv = 0;
	char prio[16];
	/* The journal needs a way out: a socket or a sender. */
	bool journal = log_state.journal &&
		       (log_state.journal_fd >= 0 || log_state.journal_sendv);

	if (!log_state.pid)
		log_state.pid = getpid();

	if (journal) {
		snprintf(prio, sizeof(prio), "%d", priority & LOG_PRIMASK);
		kv[nkv++] = (struct log_kv){ "MESSAGE", msg };
		kv[nkv++] = (struct log_kv){ "PRIORITY", prio };
		if (message_id && log_msgid_valid(message_id))
			kv[nkv++] = (struct log_kv){ "MESSAGE_ID", message_id };
		kv[nkv++] = (struct log_kv){ "SYSLOG_IDENTIFIER", log_state.ident };
	}
	for (size_t i = 0; fields && fields[i].key; i++) {
		if (!fields[i].value || !log_key_valid(fields[i].key))
			continue;
		if (nkv >= sizeof(kv) / sizeof(kv[0]))
			break;
		kv[nkv++] = (struct log_kv){ fields[i].key, fields[i].value };
	}

	if (!journal)
		log_write_stderr(priority, kv, nkv, msg);
	else if (log_state.journal_fd >= 0)
		log_write_native(kv, nkv);
	else
		log_write_sendv(kv, nkv);
}

void log_submit(int priority, int verbosity, const char *message_id,
		const struct log_field *fields, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	va_list ap;
	int n;

	if (verbosity > log_state.level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable message)");
	else if ((size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	log_emit(priority, message_id, fields, msg);
}

void log_hexdump(const struct log_field *fields, const char *what,
		 const void *data, size_t len)
{
	struct log_field all[LOG_HEXDUMP_FIELDS + 2];
	/* 16 bytes a line: "0000  " + 16 * "xx " + " |" + 16 + "|\n" */
	char dump[(LOG_HEXDUMP_MAX / 16) * 80 + 64];
	char msg[256];
	const unsigned char *p = data;
	size_t shown = len < LOG_HEXDUMP_MAX ? len : LOG_HEXDUMP_MAX;
	size_t nf = 0, off = 0;

	if (log_state.level < 2)
		return;

	for (size_t line = 0; line < shown; line += 16) {
		size_t n = shown - line < 16 ? shown - line : 16;

		off += (size_t)snprintf(dump + off, sizeof(dump) - off, "%04zx  ", line);
		for (size_t i = 0; i < 16; i++) {
			if (i < n)
				off += (size_t)snprintf(dump + off, sizeof(dump) - off,
							"%02x ", p[line + i]);
			else
				off += (size_t)snprintf(dump + off, sizeof(dump) - off, "   ");
		}
		dump[off++] = ' ';
		dump[off++] = '|';
		for (size_t i = 0; i < n; i++) {
			unsigned char c = p[line + i];

			dump[off++] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
		}
		dump[off++] = '|';
		dump[off++] = '\n';
	}
	if (len > shown)
		off += (size_t)snprintf(dump + off, sizeof(dump) - off,
					"... %zu more bytes\n", len - shown);
	if (off > 0)
		off--;		/* no trailing newline */
	dump[off] = '\0';

	for (size_t i = 0; fields && fields[i].key && nf < LOG_HEXDUMP_FIELDS; i++)
		all[nf++] = fields[i];
	if (shown > 0)
		all[nf++] = (struct log_field){ "CC_HEXDUMP", dump };
	all[nf] = (struct log_field){ NULL, NULL };

	snprintf(msg, sizeof(msg), "%s: %zu bytes", what ? what : "data", len);
	log_emit(LOG_DEBUG, NULL, all, msg);
}
