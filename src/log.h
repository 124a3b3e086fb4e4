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

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Sets the level and the access destination.  path is used for
 * LOG_ACCESS_FILE; returns -1 (with errno) when it cannot be opened. */
int	log_init(enum log_level, enum log_access_dest, const char *path);
/* Reopens the access log file (SIGUSR1, after rotation). */
int	log_reopen(void);
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

/* One access line (no trailing newline needed). */
void	log_access(const char *, ...) LOG_PRINTF(1, 2);

#endif
