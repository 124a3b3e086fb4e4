/*
 * upstream: per-worker connection pools toward one server's targets (or
 * one partner's proxies).  A pool hands out keep-alive connections (the
 * most recently used first), opens new ones round-robin over the targets
 * that are not ejected, bounds idle and total connections, and ejects a
 * target after health.fails consecutive failures for health.interval
 * seconds (then tries it again).  A pool belongs to one worker thread and
 * is never locked.
 *
 * While a connection is acquired, its events go to the owner's ops;
 * while idle, the pool watches it and closes it when the server closes or
 * sends anything.
 */
#ifndef MCX_UPSTREAM_H
#define MCX_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "stats.h"

struct conn;
struct event_base;
struct ssl_ctx_st;

struct upstream_pool;
struct upstream_conn;

/* What an owner is told.  what: CONN_EV_* flags (conn.h;
 * CONN_EV_CONNECTED once a new connection, and its TLS handshake, is
 * up). */
struct upstream_ops {
	void	(*on_read)(void *arg);
	void	(*on_write)(void *arg);
	void	(*on_event)(void *arg, unsigned what);
};

/* What the pool connects to; the strings and arrays are the config's. */
struct upstream_spec {
	const char *name;
	const struct target *targets;
	size_t ntargets;
	const struct tls_client_conf *tls;
	struct ssl_ctx_st *ssl_ctx;	/* NULL: plain TCP */
	struct pool_conf pool;
	struct health_conf health;
	double connect_timeout;
	double idle_timeout;		/* how long an idle connection is kept */
	struct stats *stats;		/* the worker's: connection gauges */
	atomic_int_fast64_t *ejected;	/* per target, for the health gauge */
};

struct upstream_pool *upstream_pool_new(struct event_base *, const struct upstream_spec *);
/* Closes every idle connection; acquired ones must have been released. */
void	upstream_pool_free(struct upstream_pool *);
/* A reload replaced this pool: idle connections close now, and acquired
 * ones close when released (they are not kept idle). */
void	upstream_pool_retire(struct upstream_pool *);

/*
 * Gets a connection for a request.  fresh: never reuse an idle one (the
 * retry after a reused connection broke).  Returns NULL with *why and
 * *status (503 no healthy target / pool full; 502 cannot connect) set.
 * A reused connection is ready at once (upstream_is_reused()); a new one
 * reports CONN_EV_CONNECTED, or an error, through ops->on_event.
 */
struct upstream_conn *upstream_acquire(struct upstream_pool *, bool fresh,
	    const struct upstream_ops *, void *arg, unsigned *status,
	    const char **why);
/*
 * Gives a connection back.  reusable: the last response was complete and
 * both sides keep the connection; it becomes idle (or is closed when
 * max_idle are idle).  Otherwise it is closed.
 */
void	upstream_release(struct upstream_conn *, bool reusable);

/* Passive health: a request through this connection failed (connect
 * error, timeout, broken before a response) or succeeded. */
void	upstream_report(struct upstream_conn *, bool ok);

/* The connection itself: its buffers, deadlines and marks. */
struct conn *upstream_io(struct upstream_conn *);
/* The exchange consumed the connection's input, or could not: reading
 * pauses while the input is full, resumes below (conn.h). */
void	upstream_input_flow(struct upstream_conn *);
bool	upstream_is_reused(const struct upstream_conn *);
/* The target as configured ("10.0.1.10:8080"), for logs. */
const char *upstream_target(const struct upstream_conn *);
const struct upstream_spec *upstream_pool_spec(const struct upstream_pool *);

#endif
