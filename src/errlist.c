/* errlist: configuration errors collected for one report (see errlist.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "errlist.h"
#include "xalloc.h"

void
errlist_add(struct errlist *e, const char *file, int line, const char *fmt,
    ...)
{
	char msg[1024], where[32] = "";
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	n = snprintf(NULL, 0, "%s%s: %s\n", file, where, msg);
	if (n < 0)
		return;
	e->text = xrealloc(e->text, e->len + (size_t)n + 1);
	snprintf(e->text + e->len, (size_t)n + 1, "%s%s: %s\n", file, where,
	    msg);
	e->len += (size_t)n;
	e->count++;
}

void
errlist_fini(struct errlist *e)
{
	free(e->text);
	e->text = NULL;
	e->len = 0;
	e->count = 0;
}
