/*
 * admin: the monitoring listener (contract section 3, `admin`): plain
 * HTTP on the main thread's event loop, never on a worker's.
 * GET /healthz answers 200 while serving and 503 once draining;
 * GET /metrics answers the workers' counters in the Prometheus text
 * format.  It has no authentication: bind it to loopback or a management
 * network.
 */
#ifndef MCX_ADMIN_H
#define MCX_ADMIN_H

#include <stdbool.h>

struct addr;
struct event_base;
struct runtime;
struct stats;
struct admin;

/* Binds now (before privileges are dropped); NULL after logging why.
 * draining is read on each /healthz; *current (the generation serving,
 * replaced by reloads on this same thread) on each /metrics. */
struct admin *admin_new(struct event_base *, const struct addr *,
	    const struct stats *const *stats, unsigned nworkers,
	    const bool *draining, struct runtime *const *current);
void	admin_free(struct admin *);

#endif
