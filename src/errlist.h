/*
 * errlist: problems found while loading a configuration (the file, PSK
 * files, certificates, ticket keys), collected as "FILE:LINE: message"
 * lines so that one run of `mcxproxy -t` shows all of them.
 */
#ifndef MCX_ERRLIST_H
#define MCX_ERRLIST_H

#include <stddef.h>

#include "log.h"

struct errlist {
	char *text;		/* NUL-terminated; NULL while empty */
	size_t len;
	unsigned count;
};

/* line 0: the message is about the whole file. */
void	errlist_add(struct errlist *, const char *file, int line,
	    const char *fmt, ...) LOG_PRINTF(4, 5);
void	errlist_fini(struct errlist *);

#endif
