/*
 * router: decides where a request may go (contract section 4, the order
 * of steps 3-6).  It is built once per configuration from the servers,
 * partners and idm_servers lists and never changes after that, so every
 * worker reads it without locks.  Listener-specific policy (asserted
 * identity, trusted sources) is the session's; the router only answers
 * "which destination does this authority and path belong to".
 */
#ifndef MCX_ROUTER_H
#define MCX_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct config;

enum route_kind {
	ROUTE_NONE,		/* 421: not ours, never resolved or connected */
	ROUTE_IDM,		/* 403: CSC-1 goes directly to the IdM server */
	ROUTE_SERVER,		/* an own server (HTTP-2) */
	ROUTE_PARTNER,		/* a partner's proxy (HTTP-3) */
};

struct route {
	enum route_kind kind;
	size_t index;		/* into config->servers or config->partners */
};

struct router;

/* Builds the table; the config must outlive the router. */
struct router *router_new(const struct config *);
void	router_free(struct router *);

/*
 * host: normalized (lower case, no port, no trailing dot; see
 * host_normalize).  path: the request path without the query.
 * Order: idm_servers, then own servers (longest host match: exact beats
 * any wildcard, a longer "*.suffix" beats a shorter one; then the longest
 * path prefix among the servers with that host match), then partners
 * (same host rule), else ROUTE_NONE.
 */
struct route router_match(const struct router *, const char *host,
	    const char *path, size_t pathlen);

#endif
