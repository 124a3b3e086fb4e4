/*
 * upstream_priv.h: what upstream.c (pools, targets, HTTP/1.1 connections),
 * upstream_h2.c (HTTP/2 connections, many streams each) and
 * upstream_health.c (active health checks) share: the pool, connection
 * and stream records, and each one's calls into the others.  Nothing else
 * includes it.
 */
#ifndef MCX_UPSTREAM_PRIV_H
#define MCX_UPSTREAM_PRIV_H

#include <sys/time.h>

#include <stdbool.h>
#include <stddef.h>

#include "upstream.h"

struct event;
struct h2up;
struct hc_pool;

#define CONN_MAGIC 0x75706331u	/* "upc1" */

enum uc_state {
	C_CONNECTING,		/* TCP connect or TLS handshake running */
	C_BUSY,			/* carrying streams */
	C_IDLE,			/* no stream; on the idle list */
};

struct target_health {
	unsigned fails;		/* consecutive, of requests and checks */
	struct timeval ejected_until;	/* passive: out until then */
	bool down;		/* active: out until a check passes */
};

struct upstream_conn;

/* A request's lease: one stream on a connection. */
struct upstream_stream {
	struct upstream_conn *c;
	const struct upstream_ops *ops;	/* NULL: the slot is free */
	void *arg;
	bool reused;			/* the connection carried one before */
	bool ready;			/* the connection is up */
	/* HTTP/2 (allocated per stream): */
	struct h2up_stream *h2;		/* once the connection is up */
	struct event *timer;		/* the stream's own deadline */
	double timeout;
	bool told;			/* of the connection's failure */
	struct upstream_stream *next, *prev;	/* the connection's */
};

struct upstream_conn {
	unsigned magic;
	enum uc_state state;
	struct upstream_pool *pool;
	struct conn *conn;
	size_t target;
	unsigned nstreams;		/* leased now */
	unsigned served;		/* streams carried so far */
	/*
	 * HTTP/1.1 carries one stream at a time: the slot is part of the
	 * connection (no allocation per request), and the connection's
	 * events are that stream's.
	 */
	struct upstream_stream one;
	struct upstream_conn *next, *prev;	/* idle list (HTTP/1.1) */
	/*
	 * HTTP/2: the session once connected, the streams leased (also
	 * while connecting), and the pool's list of such connections, busy
	 * or idle alike.
	 */
	struct h2up *h2;
	struct upstream_stream *streams;
	struct upstream_conn *hnext, *hprev;
	unsigned depth;			/* inside the session's callbacks */
	bool dead;			/* failed: closes with its last stream */
	bool ping_out;			/* a PING waits for its answer */
	struct timeval idle_since;
};

struct upstream_pool {
	struct event_base *base;
	struct upstream_spec spec;	/* its strings: the copies below */
	char *name;
	struct target *targets;
	struct tls_client_conf tls;
	char *health_path;
	char *health_host;
	struct hc_pool *hc;		/* active checks; NULL: none */
	unsigned holds;			/* generations holding the pool */
	struct target_health *health;
	size_t rr;
	size_t nopen;
	size_t nidle;
	struct upstream_conn *idle;		/* head: most recent */
	struct upstream_conn *h2conns;		/* HTTP/2 connections */
	bool retired;
	/* Freed, but an HTTP/2 connection still inside its session's
	 * callbacks (or connecting) was left: the last close frees it. */
	bool freeing;
};

/* upstream.c */
/* The one place a connection is freed (and a freed pool with it). */
void	up_conn_close(struct upstream_conn *);
bool	up_is_ejected(const struct upstream_pool *, size_t target,
	    const struct timeval *now);
/* The next target round-robin, skipping ejected ones. */
bool	up_pick_target(struct upstream_pool *, size_t *out);
/* A new connection (connecting) to target t, or NULL with *why. */
struct upstream_conn *up_conn_open(struct upstream_pool *, size_t t,
	    const char **why);
/* Passive health: a request on c failed or succeeded. */
void	up_report(struct upstream_conn *, bool ok);
/* Active health (upstream_health.c): a check of target t passed or failed
 * (why: what failed, for the log). */
void	up_check_result(struct upstream_pool *, size_t t, bool ok,
	    const char *why);

/*
 * upstream_health.c: the active health checks of one pool's targets
 * (health.path).  Every health.interval each target is asked, on a new
 * connection made as the pool makes its own (same TLS context, server
 * name, client certificate and ALPN): HTTP/1.1 "GET path" with
 * Connection: close, or, for protocol "h2", a GET on one HTTP/2 stream.
 * A final status of 2xx or 3xx passes; any other status, a connect or
 * TLS failure, a broken or garbled answer, or none within the deadlines
 * fails.  Results go to the pool's target health (up_check_result).
 * Each worker checks its own pools: the state is the worker's, like the
 * pool's, and needs no lock.  Check connections are not the pool's: they
 * carry no request and count in none of its gauges or limits.
 *
 * hc_start: starts checking p's targets (p->spec.health.path is set); the
 * first check of each comes after a random part of the interval, so that
 * workers and targets do not all fire together.  hc_stop: stops the
 * checks and closes those in flight (none reports after); NULL is ignored.
 */
struct hc_pool *hc_start(struct upstream_pool *p);
void	hc_stop(struct hc_pool *);

/* upstream_h2.c: the connection's events, and the pool's calls. */
void	up_h2_read(struct upstream_conn *);
void	up_h2_write(struct upstream_conn *);
void	up_h2_event(struct upstream_conn *, unsigned what);
/* Takes c off the pool's HTTP/2 list and frees its session (closing). */
void	up_h2_forget(struct upstream_conn *);
/* Closes the connections that carry nothing (a retired pool). */
void	up_h2_close_idle(struct upstream_pool *);
struct upstream_stream *up_h2_acquire(struct upstream_pool *,
	    const void *avoid, const struct upstream_ops *, void *arg,
	    unsigned *status, const char **why);
void	up_h2_release(struct upstream_stream *);
void	up_h2_arm(struct upstream_stream *);
void	up_h2_set_timeout(struct upstream_stream *, double response_s);
void	up_h2_waits(struct upstream_stream *, bool waiting);
void	up_h2_flush(struct upstream_stream *);

#endif
