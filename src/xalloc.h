/*
 * xalloc: allocation that aborts on exhaustion.  Out of memory is not a
 * condition a proxy can serve through, and checking every small malloc
 * would add hundreds of error paths that never run.  Library calls
 * (libevent, OpenSSL) are still checked where they are made: they fail
 * for reasons other than memory.
 */
#ifndef MCX_XALLOC_H
#define MCX_XALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
/* Grows an array of nmemb elements of size bytes to at least want elements. */
void	*xreallocarray(void *, size_t nmemb, size_t size);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* Says that n bytes could not be had, and aborts: for allocations made
 * through a library (an evbuffer's reserved space). */
_Noreturn void xalloc_die(size_t n);

#endif
