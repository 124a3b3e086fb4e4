/*
 * upstream: per-worker connection pools toward one server's targets (or
 * one partner's proxies).  A pool hands out keep-alive connections (the
 * most recently used first), opens new ones round-robin over the targets
 * that are not ejected, bounds idle and total connections, and ejects a
 * target after health.fails consecutive failures for health.interval
 * seconds (then tries it again), unless it is the last target not
 * ejected; with health.path set, it also checks each target every
 * health.interval (upstream_health.c), and a target whose checks fail
 * health.fails times in a row is out until one passes.  A pool belongs
 * to one worker thread and is never locked; a reload may hand it, warm,
 * to the worker's next generation.
 *
 * A request leases a stream on a connection (struct upstream_stream),
 * not the connection: HTTP/1.1 connections carry one stream at a time,
 * and while a stream is leased the connection's events go to its
 * owner's ops; while a connection carries none, the pool watches it and
 * closes it when the server closes or sends anything.
 */
#ifndef MCX_UPSTREAM_H
#define MCX_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "stats.h"

struct conn;
struct event_base;
struct h2up_stream;
struct h2up_stream_ops;
struct ssl_ctx_st;

struct upstream_pool;
struct upstream_stream;

/* What an owner is told.  what: CONN_EV_* flags (conn.h;
 * CONN_EV_CONNECTED once a new connection, and its TLS handshake, is
 * up). */
struct upstream_ops {
	void	(*on_read)(void *arg);
	void	(*on_write)(void *arg);
	void	(*on_event)(void *arg, unsigned what);
	/* HTTP/2 pools: the stream's events (h2_up.h); on_event still
	 * brings CONN_EV_CONNECTED, connect errors and the stream's
	 * deadline (CONN_EV_TIMEOUT). */
	const struct h2up_stream_ops *h2;
};

/* Length of upstream_spec.tls_sum (SHA-256). */
#define UPSTREAM_TLS_SUM_LEN 32

/*
 * What the pool connects to.  The caller's spec points into a
 * configuration; the pool keeps its own copy of the strings, arrays and
 * TLS settings (upstream_pool_spec() returns that copy), and its own
 * reference on ssl_ctx, so it can outlive the configuration it was made
 * from (a reload hands it to the next generation).
 */
struct upstream_spec {
	const char *name;
	const struct target *targets;
	size_t ntargets;
	const struct tls_client_conf *tls;
	struct ssl_ctx_st *ssl_ctx;	/* NULL: plain TCP */
	/* A digest of the TLS files' contents (CA, certificate, key) when
	 * ssl_ctx was built: a renewed file at the same path is a change. */
	unsigned char tls_sum[UPSTREAM_TLS_SUM_LEN];
	enum http_proto protocol;
	struct pool_conf pool;
	struct health_conf health;
	/* Active checks (health.path): the Host they name (NULL: the TLS
	 * server_name, else the target as configured), and the route slot
	 * (stats_route_slot) they are counted under. */
	const char *health_host;
	unsigned route_slot;
	double connect_timeout;
	double idle_timeout;		/* how long an idle connection is kept */
	struct stats *stats;		/* the worker's: connection gauges */
	/* Per target, for the health gauge: the runtime's, so only while
	 * the pool serves the current generation (NULL once retired). */
	atomic_int_fast64_t *ejected;
};

/* A new pool, held once (by the generation that asked for it). */
struct upstream_pool *upstream_pool_new(struct event_base *, const struct upstream_spec *);
/*
 * Drops one generation's hold.  The last closes every idle connection
 * and frees the pool once the acquired ones have been released.
 */
void	upstream_pool_free(struct upstream_pool *);
/* A reload replaced this pool: idle connections close now, and acquired
 * ones close when released (they are not kept idle); active checks stop,
 * those in flight closed. */
void	upstream_pool_retire(struct upstream_pool *);
/*
 * Reloads.  fits: spec (a new configuration's) would build exactly this
 * pool: same targets, TLS settings and files' contents, protocol, pool,
 * health (and the checks' Host) and timeouts.  adopt: the new generation holds the pool too (a
 * hold, released with upstream_pool_free): its idle connections, the
 * streams in flight and each target's failure count and ejection carry
 * over, and the active checks go on; new connections (checks too) use
 * spec's ssl_ctx, and the health gauge is spec's (the new runtime's), set
 * from the carried state.
 */
bool	upstream_pool_fits(const struct upstream_pool *,
	    const struct upstream_spec *);
void	upstream_pool_adopt(struct upstream_pool *, const struct upstream_spec *);

/*
 * Leases a stream for a request, on a connection with room for one, or
 * on a new connection to the next healthy target.  fresh: a new
 * connection (HTTP/1.1: the retry after a reused one broke).  avoid: not
 * on this connection (HTTP/2: upstream_conn_of() of a stream the server
 * refused; NULL: any).  Returns NULL with *why and *status (503 no
 * healthy target / pool full; 502 cannot connect) set.  A stream on a
 * connection already up is ready at once (upstream_is_ready()); on a new
 * one, CONN_EV_CONNECTED, or an error, comes through ops->on_event.
 */
struct upstream_stream *upstream_acquire(struct upstream_pool *, bool fresh,
	    const void *avoid, const struct upstream_ops *, void *arg,
	    unsigned *status, const char **why);
/* The stream's connection, as a token for upstream_acquire's avoid. */
const void *upstream_conn_of(const struct upstream_stream *);
/*
 * Ends a stream.  reusable: its response was complete and both sides
 * keep the connection, which stays open (idle once it carries no stream;
 * closed when max_idle are idle).  Otherwise the connection closes: an
 * HTTP/1.1 byte stream cut in an unknown place cannot carry another.
 */
void	upstream_release(struct upstream_stream *, bool reusable);

/* Passive health of the stream's target: a request failed (connect
 * error, timeout, broken before a response) or succeeded. */
void	upstream_report(struct upstream_stream *, bool ok);

/* The stream's I/O: for HTTP/1.1 the connection's buffers, deadlines and
 * marks. */
struct conn *upstream_io(struct upstream_stream *);
/* HTTP/2: the stream's session side (NULL for HTTP/1.1, and until the
 * connection is up). */
struct h2up_stream *upstream_h2(struct upstream_stream *);
/* The connection is up (at once for a reused one; else after
 * CONN_EV_CONNECTED). */
bool	upstream_is_ready(const struct upstream_stream *);
/* Deadlines: HTTP/1.1, the connection's (conn_set_timeouts); HTTP/2, one
 * per stream, the longer of the two, restarted by each response frame. */
void	upstream_set_timeouts(struct upstream_stream *, double read_s,
	    double write_s);
/* Sends what the stream queued. */
void	upstream_flush(struct upstream_stream *);
/* HTTP/2: the stream's response waits for its client to take bytes (its
 * deadline stops), or no longer does (it runs again). */
void	upstream_waits_for_client(struct upstream_stream *, bool waiting);
/* The exchange consumed the stream's input, or could not: reading
 * pauses while the input is full, resumes below (conn.h). */
void	upstream_input_flow(struct upstream_stream *);
/* The connection carried a stream before this one (it may have been
 * closed by the server meanwhile). */
bool	upstream_is_reused(const struct upstream_stream *);
/* The target as configured ("10.0.1.10:8080"), for logs. */
const char *upstream_target(const struct upstream_stream *);
const struct upstream_spec *upstream_pool_spec(const struct upstream_pool *);

#endif
