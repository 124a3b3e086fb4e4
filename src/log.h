/*
 * log: diagnostics on stderr (journald keeps them under systemd) and the
 * access log.  Each line is written with a single write(2), so worker
 * threads never interleave inside a line and no lock is taken.  Library
 * messages (libevent) are routed here too.
 */
#ifndef MCX_LOG_H
#define MCX_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_access_dest {
	LOG_ACCESS_OFF,
	LOG_ACCESS_STDERR,
	LOG_ACCESS_SYSLOG,
	LOG_ACCESS_FILE,
};

enum log_access_format {
	LOG_FORMAT_TEXT,	/* key=value pairs */
	LOG_FORMAT_JSON,	/* one JSON object per line (NDJSON) */
};

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Sets the level and the access destination and format.  path is used
 * for LOG_ACCESS_FILE; returns -1 (with errno) when it cannot be opened. */
int	log_init(enum log_level, enum log_access_dest, enum log_access_format,
	    const char *path);
/* Reopens the access log file (SIGUSR1, after rotation). */
int	log_reopen(void);
/* Before dropping root privileges: give the access log file to uid/gid,
 * so that a reopen (SIGUSR1) can still write it.  0 without a file. */
int	log_chown(unsigned uid, unsigned gid);
bool	log_enabled(enum log_level);
bool	log_access_enabled(void);
/* Parses "error|warn|info|debug"; returns -1 on an unknown name. */
int	log_level_parse(const char *, enum log_level *);

void	log_error(const char *, ...) LOG_PRINTF(1, 2);
void	log_warn(const char *, ...) LOG_PRINTF(1, 2);	/* appends strerror(errno) */
void	log_warnx(const char *, ...) LOG_PRINTF(1, 2);
void	log_info(const char *, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *, ...) LOG_PRINTF(1, 2);
/* Startup only: print and exit(1). */
void	fatal(const char *, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

/*
 * One request as the access log tells it, in either format.  A NULL
 * string or a negative upstream_ms is a missing value: "-" in text (the
 * text line keeps upstream_ms=-1.000), null in JSON.
 */
struct log_exchange {
	const char *id;			/* request id */
	const char *client;		/* address:port */
	const char *listener;		/* its role */
	const char *route;		/* own server or partner domain */
	const char *target;		/* upstream address used */
	const char *method;
	const char *host;		/* normalized target authority */
	const char *path;		/* without the query; not NUL-terminated */
	size_t path_len;
	unsigned status;
	uint64_t req_bytes;
	uint64_t resp_bytes;
	double time_ms;			/* the whole exchange */
	double upstream_ms;		/* until the response head */
	const char *tls;		/* version of the client connection */
	const char *peer;		/* authenticated client identity */
	const char *proto;		/* client side: "http/1.1", "h2" */
	const char *up_proto;		/* upstream side, when one was used */
	const char *note;		/* why it failed */
};

/* Writes the access line of x, if the access log is on. */
void	log_access(const struct log_exchange *x);
/* Formats the line of x into buf, NUL-terminated, without a newline;
 * now (CLOCK_REALTIME) is JSON's "time".  Returns the length (< size). */
size_t	log_access_line(char *buf, size_t size, enum log_access_format,
	    const struct log_exchange *x, const struct timespec *now);

#endif
