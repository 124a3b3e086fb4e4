/*
 * host: host names as a request's authority and the configuration spell
 * them.  One normal form (lower case, no trailing dot, no port, canonical
 * IPv6 text) so that routing compares strings, and the one wildcard the
 * configuration allows ("*.suffix").
 */
#ifndef MCX_HOST_H
#define MCX_HOST_H

#include <stdbool.h>
#include <stddef.h>

/* Lower-cases a host and strips a trailing dot and a ":port"; returns
 * false when the result is not a valid host name or IP literal. */
bool	host_normalize(const char *in, size_t len, char *out, size_t outlen);
/* True for "name" equal, or "*.suffix" with at least one label before suffix. */
bool	host_match(const char *pattern, const char *host);

#endif
