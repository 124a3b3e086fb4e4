/*
 * psk: the pre-shared keys of a listener (mutual PSK authentication on
 * HTTP-1, TS 33.180 6.1.1).  The file holds "identity:hexkey" lines; blank
 * lines and lines starting with '#' are skipped.  The table is immutable
 * once loaded and is looked up during handshakes; keys are wiped on free.
 */
#ifndef MCX_PSK_H
#define MCX_PSK_H

#include <stddef.h>

struct errlist;
struct psk_table;

/* Loads path; every problem goes to errs as "PATH:LINE: message".
 * Returns NULL when the file has errors or no key. */
struct psk_table *psk_load(const char *path, struct errlist *errs);
void	psk_free(struct psk_table *);
/* The key for identity (len bytes, not NUL-terminated), or NULL. */
const unsigned char *psk_find(const struct psk_table *, const char *identity,
	    size_t len, size_t *keylen);

#endif
