/*
 * log: diagnostics on stderr and the access log (off, stderr, syslog or a
 * file; key=value text or JSON, see log_access_line).  Every line is formatted into a stack buffer and handed to the
 * kernel with one write(2), so worker threads never interleave inside a
 * line and no lock is needed.  libevent's own messages come through here;
 * what to log and when is the callers' business.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

#include "jsonw.h"
#include "log.h"
#include "xalloc.h"

/* A longer line is cut: a log line is for people, not for payloads. */
#define LOG_LINE_MAX	2048
/*
 * An access line with its newline, in either format.  PIPE_BUF because
 * a write(2) of at most that much to a pipe is atomic, as O_APPEND makes
 * it for a file: with stderr a pipe, lines of two workers still never
 * mix.  A JSON line escapes the hostile parts (path, peer) and can be
 * several times longer than the text line; see LOG_PATH_MAX.
 */
#define LOG_ACCESS_MAX	PIPE_BUF
/* The bytes of a request path an access line keeps: the start of a path
 * tells which resource, the rest is a client's to fill with anything. */
#define LOG_PATH_MAX	256

/* Read by every worker, written by the main thread at (re)load only. */
static atomic_int log_level = LOG_LEVEL_INFO;
static atomic_int log_dest = LOG_ACCESS_STDERR;
static atomic_int log_format = LOG_FORMAT_TEXT;

/*
 * The access file descriptor never changes its number once opened:
 * rotation and reload dup3() the new file over it, which is atomic with
 * respect to the workers' write(2) calls.  Closing it instead could let a
 * worker write an access line into whatever the number is reused for.
 */
static atomic_int log_access_fd = -1;
static char *log_access_path;	/* main thread only */
static bool log_syslog_open;

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

/* As printed on each line. */
static const char *const log_level_labels[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static void
log_write(int fd, const char *buf, size_t len)
{
	ssize_t n;

	/* A partial write is not retried: a second write could interleave. */
	do {
		n = write(fd, buf, len);
	} while (n == -1 && errno == EINTR);
}

static void	log_vline(const char *, int, const char *, va_list)
		    LOG_PRINTF(3, 0);
static void	log_vat(enum log_level, int, const char *, va_list)
		    LOG_PRINTF(3, 0);

/* Formats "mcxproxy: LEVEL: message[: strerror]\n" and writes it. */
static void
log_vline(const char *label, int errnum, const char *fmt, va_list ap)
{
	char buf[LOG_LINE_MAX];
	size_t len, room = sizeof(buf) - 1;	/* one byte kept for '\n' */
	int n;

	n = snprintf(buf, room, "mcxproxy: %s: ", label);
	len = n > 0 ? (size_t)n : 0;
	n = vsnprintf(buf + len, room - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < room - len ? (size_t)n : room - len - 1;
	if (errnum != 0) {
		n = snprintf(buf + len, room - len, ": %s", strerror(errnum));
		if (n > 0)
			len += (size_t)n < room - len ? (size_t)n :
			    room - len - 1;
	}
	buf[len++] = '\n';
	log_write(STDERR_FILENO, buf, len);
}

static void
log_event_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_error("libevent: %s", msg);
		break;
	}
}

/* Opens path and makes it the access fd, keeping the fd's number. */
static int
log_open_access(const char *path)
{
	int fd, old;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	old = atomic_load(&log_access_fd);
	if (old == -1) {
		atomic_store(&log_access_fd, fd);
		return 0;
	}
	if (dup3(fd, old, O_CLOEXEC) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

int
log_chown(unsigned uid, unsigned gid)
{
	int fd = atomic_load(&log_access_fd);

	if (fd == -1 || log_access_path == NULL)
		return 0;
	return fchown(fd, (uid_t)uid, (gid_t)gid);
}

/* On failure the level is set but the access destination is unchanged. */
int
log_init(enum log_level level, enum log_access_dest dest,
    enum log_access_format format, const char *path)
{
	atomic_store(&log_level, (int)level);
	atomic_store(&log_format, (int)format);
	event_set_log_callback(log_event_cb);

	switch (dest) {
	case LOG_ACCESS_FILE:
		if (path == NULL) {
			errno = EINVAL;
			return -1;
		}
		if (log_open_access(path) == -1)
			return -1;
		if (log_access_path != path) {
			free(log_access_path);
			log_access_path = xstrdup(path);
		}
		break;
	case LOG_ACCESS_SYSLOG:
		if (!log_syslog_open) {
			openlog("mcxproxy", LOG_PID | LOG_NDELAY, LOG_DAEMON);
			log_syslog_open = true;
		}
		/* FALLTHROUGH */
	default:
		/* Let go of a file we no longer log to (see log_access_fd). */
		if (atomic_load(&log_access_fd) != -1)
			(void)log_open_access("/dev/null");
		free(log_access_path);
		log_access_path = NULL;
		break;
	}
	atomic_store(&log_dest, (int)dest);
	return 0;
}

int
log_reopen(void)
{
	if (atomic_load(&log_dest) != LOG_ACCESS_FILE ||
	    log_access_path == NULL)
		return 0;
	return log_open_access(log_access_path);
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level,
	    memory_order_relaxed);
}

bool
log_access_enabled(void)
{
	return atomic_load_explicit(&log_dest, memory_order_relaxed) !=
	    LOG_ACCESS_OFF;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(log_level_names) / sizeof(*log_level_names);
	    i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* The public levels differ only in the level and whether errno is told. */
static void
log_vat(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	if (log_enabled(level))
		log_vline(log_level_labels[level], errnum, fmt, ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vat(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vat(LOG_LEVEL_WARN, errnum, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vat(LOG_LEVEL_WARN, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vat(LOG_LEVEL_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vat(LOG_LEVEL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal", errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}


static const char *
dash(const char *s)
{
	return s != NULL ? s : "-";
}

/* The key=value line, the format of the first release: unchanged, as
 * scripts parse it. */
static size_t
access_text(char *buf, size_t size, const struct log_exchange *x)
{
	int n;

	n = snprintf(buf, size, "id=%s client=%s listener=%s route=%s "
	    "target=%s method=%s host=%s path=\"%.*s\" status=%u "
	    "req_bytes=%llu resp_bytes=%llu time_ms=%.3f upstream_ms=%.3f "
	    "tls=%s peer=%s proto=%s up_proto=%s%s%s%s",
	    dash(x->id), dash(x->client), dash(x->listener), dash(x->route),
	    dash(x->target), dash(x->method), dash(x->host),
	    (int)(x->path_len > LOG_PATH_MAX ? LOG_PATH_MAX : x->path_len),
	    x->path != NULL ? x->path : "", x->status,
	    (unsigned long long)x->req_bytes, (unsigned long long)x->resp_bytes,
	    x->time_ms, x->upstream_ms, dash(x->tls), dash(x->peer),
	    dash(x->proto), dash(x->up_proto), x->note ? " note=\"" : "", x->note ? x->note : "",
	    x->note ? "\"" : "");
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < size ? (size_t)n : size - 1;
}

/*
 * "2024-05-01T12:00:00.123Z": RFC 3339, UTC, milliseconds.  NULL when
 * the clock is past what struct tm holds.  glibc's gmtime_r() takes the
 * process-wide time zone lock, so each thread keeps the second it last
 * formatted: a worker takes that lock at most once a second.
 */
static const char *
rfc3339(char *buf, size_t size, const struct timespec *t)
{
	static _Thread_local time_t sec;
	static _Thread_local char date[32];	/* up to the seconds; "": none */
	struct tm tm;

	if (t->tv_sec != sec || date[0] == '\0') {
		if (gmtime_r(&t->tv_sec, &tm) == NULL || strftime(date,
		    sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
			date[0] = '\0';
			return NULL;
		}
		sec = t->tv_sec;
	}
	snprintf(buf, size, "%s.%03ldZ", date, t->tv_nsec / 1000000);
	return buf;
}

/*
 * The same information as the text line, named in snake_case, plus
 * "time", which the text line leaves to the journal or syslog: a JSON
 * record is meant to stand alone once a shipper has taken it out of the
 * file.  Numbers are numbers, missing values null; the path keeps the
 * text line's LOG_PATH_MAX bytes, cut between two characters.
 */
static size_t
access_json(char *buf, size_t size, const struct log_exchange *x,
    const struct timespec *now)
{
	struct jsonw w;
	char when[64];
	size_t n;

	jsonw_begin(&w, buf, size - 1);		/* room for the NUL */
	jsonw_str(&w, "time", rfc3339(when, sizeof(when), now));
	jsonw_str(&w, "request_id", x->id);
	jsonw_str(&w, "client", x->client);
	jsonw_str(&w, "listener", x->listener);
	jsonw_str(&w, "route", x->route);
	jsonw_str(&w, "target", x->target);
	jsonw_str(&w, "method", x->method);
	jsonw_str(&w, "host", x->host);
	jsonw_strn(&w, "path", x->path, x->path != NULL ?
	    jsonw_prefix(x->path, x->path_len, LOG_PATH_MAX) : 0);
	jsonw_uint(&w, "status", x->status);
	jsonw_uint(&w, "req_bytes", x->req_bytes);
	jsonw_uint(&w, "resp_bytes", x->resp_bytes);
	jsonw_fixed(&w, "duration_ms", x->time_ms, 3);
	if (x->upstream_ms < 0)
		jsonw_null(&w, "upstream_ms");
	else
		jsonw_fixed(&w, "upstream_ms", x->upstream_ms, 3);
	jsonw_str(&w, "tls", x->tls);
	jsonw_str(&w, "peer", x->peer);
	jsonw_str(&w, "protocol", x->proto);
	jsonw_str(&w, "upstream_protocol", x->up_proto);
	jsonw_str(&w, "note", x->note);
	n = jsonw_end(&w);
	buf[n] = '\0';
	return n;
}

size_t
log_access_line(char *buf, size_t size, enum log_access_format format,
    const struct log_exchange *x, const struct timespec *now)
{
	if (format == LOG_FORMAT_JSON)
		return access_json(buf, size, x, now);
	return access_text(buf, size, x);
}

/* Formatted on the stack and written at once, as every line here. */
void
log_access(const struct log_exchange *x)
{
	char buf[LOG_ACCESS_MAX];
	struct timespec now;
	size_t len;
	int dest;

	dest = atomic_load_explicit(&log_dest, memory_order_relaxed);
	if (dest == LOG_ACCESS_OFF)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	len = log_access_line(buf, sizeof(buf), (enum log_access_format)
	    atomic_load_explicit(&log_format, memory_order_relaxed), x, &now);
	if (len == 0)
		return;
	if (dest == LOG_ACCESS_SYSLOG) {
		syslog(LOG_INFO, "%s", buf);
		return;
	}
	buf[len++] = '\n';	/* in place of the NUL */
	log_write(dest == LOG_ACCESS_FILE ? atomic_load_explicit(
	    &log_access_fd, memory_order_relaxed) : STDERR_FILENO, buf, len);
}
