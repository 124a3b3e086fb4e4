/*
 * upstream: connection pools (see upstream.h).  Idle connections (no
 * stream) sit on a LIFO list: the most recently used one is the most
 * likely to still be open on the server's side.  Target health is
 * passive: a target is ejected after `fails` consecutive failures and
 * comes back after `interval` seconds, when the next request tries it
 * again.
 *
 * A request leases a stream, never a whole connection: a connection
 * carries up to max_streams of them (HTTP/1.1: one, so its byte stream
 * and deadlines are the stream's), and the pool counts capacity in
 * streams.  Target choice, health and ejection are the connection's
 * business and do not depend on the protocol it speaks.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "duration.h"
#include "h2_up.h"
#include "log.h"
#include "tls.h"
#include "upstream.h"
#include "xalloc.h"

#define CONN_MAGIC 0x75706331u	/* "upc1" */

enum uc_state {
	C_CONNECTING,		/* TCP connect or TLS handshake running */
	C_BUSY,			/* carrying streams */
	C_IDLE,			/* no stream; on the idle list */
};

struct target_health {
	unsigned fails;		/* consecutive */
	struct timeval ejected_until;
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
	struct upstream_spec spec;
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

struct upstream_pool *
upstream_pool_new(struct event_base *base, const struct upstream_spec *spec)
{
	struct upstream_pool *p = xcalloc(1, sizeof(*p));

	p->base = base;
	p->spec = *spec;
	p->health = xcalloc(spec->ntargets, sizeof(*p->health));
	return p;
}

static void
idle_unlink(struct upstream_conn *c)
{
	struct upstream_pool *p = c->pool;

	if (c->prev)
		c->prev->next = c->next;
	else
		p->idle = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	p->nidle--;
}

/* The one place a connection is freed; it carries no stream then. */
static void
uc_close(struct upstream_conn *c)
{
	struct upstream_pool *p = c->pool;

	if (c->state == C_IDLE) {
		if (p->spec.protocol != PROTO_H2)
			idle_unlink(c);
		stats_sub(&p->spec.stats->upstream_idle, 1);
	} else
		stats_sub(&p->spec.stats->upstream_busy, 1);
	if (p->spec.protocol == PROTO_H2) {
		if (c->hprev != NULL)
			c->hprev->hnext = c->hnext;
		else
			p->h2conns = c->hnext;
		if (c->hnext != NULL)
			c->hnext->hprev = c->hprev;
		h2up_free(c->h2);
	}
	c->pool->nopen--;
	stats_sub(&p->spec.stats->upstream_conns[p->spec.protocol], 1);
	conn_free(c->conn);	/* closes the fd and frees the SSL */
	c->magic = 0;
	free(c);
	if (p->freeing && p->nopen == 0) {
		free(p->health);
		free(p);
	}
}

static void	h2_close_idle(struct upstream_pool *);

void
upstream_pool_retire(struct upstream_pool *p)
{
	p->retired = true;
	while (p->idle != NULL)
		uc_close(p->idle);
	h2_close_idle(p);
}

void
upstream_pool_free(struct upstream_pool *p)
{
	if (p == NULL)
		return;
	upstream_pool_retire(p);
	if (p->nopen > 0) {
		p->freeing = true;	/* the last uc_close frees it */
		return;
	}
	free(p->health);
	free(p);
}


static bool
is_ejected(const struct upstream_pool *p, size_t t, const struct timeval *now)
{
	return timercmp(&p->health[t].ejected_until, now, >);
}

/* The stream that a connection's events belong to (HTTP/1.1: its only
 * one), or NULL when it carries none. */
static struct upstream_stream *
uc_stream(struct upstream_conn *c)
{
	return c->one.ops != NULL ? &c->one : NULL;
}

static void	h2_read(struct upstream_conn *);
static void	h2_write(struct upstream_conn *);
static void	h2_event(struct upstream_conn *, unsigned what);

static void
uc_read_cb(void *arg)
{
	struct upstream_conn *c = arg;
	struct upstream_stream *st = uc_stream(c);

	if (c->pool->spec.protocol == PROTO_H2) {
		h2_read(c);
		return;
	}
	if (st != NULL) {
		st->ops->on_read(st->arg);
		return;
	}
	/* An idle connection has nothing to say; anything is an error. */
	log_debug("upstream %s: %s: unexpected data on an idle connection",
	    c->pool->spec.name, c->pool->spec.targets[c->target].spec);
	uc_close(c);
}

static void
uc_write_cb(void *arg)
{
	struct upstream_conn *c = arg;
	struct upstream_stream *st = uc_stream(c);

	if (c->pool->spec.protocol == PROTO_H2) {
		h2_write(c);
		return;
	}
	if (st != NULL)
		st->ops->on_write(st->arg);
}

static void	report(struct upstream_conn *, bool ok);

static void
uc_event_cb(void *arg, unsigned what)
{
	struct upstream_conn *c = arg;
	struct upstream_stream *st = uc_stream(c);

	if (c->pool->spec.protocol == PROTO_H2) {
		h2_event(c, what);
		return;
	}
	if (st == NULL) {
		/* Idle: closed by the server, or kept idle too long. */
		uc_close(c);
		return;
	}
	if (c->state == C_CONNECTING) {
		if (what & CONN_EV_CONNECTED) {
			c->state = C_BUSY;
			conn_set_timeouts(c->conn, 0, 0);
		} else
			report(c, false);
	}
	st->ops->on_event(st->arg, what);
}

/* Picks the next target round-robin, skipping ejected ones. */
static bool
pick_target(struct upstream_pool *p, size_t *out)
{
	struct timeval now;

	event_base_gettimeofday_cached(p->base, &now);
	for (size_t i = 0; i < p->spec.ntargets; i++) {
		size_t t = (p->rr + i) % p->spec.ntargets;

		if (!is_ejected(p, t, &now)) {
			p->rr = t + 1;
			*out = t;
			return true;
		}
	}
	return false;
}

static const struct conn_ops uc_ops = {
	.on_read = uc_read_cb,
	.on_write = uc_write_cb,
	.on_event = uc_event_cb,
};

static struct upstream_conn *
uc_open(struct upstream_pool *p, size_t t, const char **why)
{
	const struct target *tg = &p->spec.targets[t];
	struct upstream_conn *c;
	SSL *ssl = NULL;

	if (p->spec.ssl_ctx != NULL) {
		ssl = SSL_new(p->spec.ssl_ctx);
		if (ssl == NULL || tls_client_prepare(ssl, p->spec.tls,
		    p->spec.protocol == PROTO_H2) < 0) {
			SSL_free(ssl);
			*why = "cannot set up upstream TLS";
			return NULL;
		}
	}
	c = xcalloc(1, sizeof(*c));
	/* On failure this frees ssl itself. */
	c->conn = conn_connect(p->base, (const struct sockaddr *)&tg->addr.ss,
	    (socklen_t)tg->addr.len, ssl, &uc_ops, c);
	if (c->conn == NULL) {
		/* The socket could not even be started (e.g. out of fds). */
		log_warn("upstream %s: connect to %s", p->spec.name, tg->spec);
		free(c);
		*why = "cannot connect to upstream";
		return NULL;
	}
	c->magic = CONN_MAGIC;
	c->state = C_CONNECTING;
	c->pool = p;
	c->target = t;
	p->nopen++;
	if (p->spec.protocol == PROTO_H2) {
		c->hnext = p->h2conns;
		if (p->h2conns != NULL)
			p->h2conns->hprev = c;
		p->h2conns = c;
	}
	conn_set_timeouts(c->conn, p->spec.connect_timeout, p->spec.connect_timeout);
	stats_add(&p->spec.stats->upstream_busy, 1);
	stats_add(&p->spec.stats->upstream_conns[p->spec.protocol], 1);
	return c;
}

/* --- HTTP/2 connections: many streams each --- */

static void
stream_arm(struct upstream_stream *st)
{
	struct timeval tv;

	if (st->timer == NULL)
		return;
	if (st->timeout <= 0) {
		evtimer_del(st->timer);
		return;
	}
	tv = duration_tv(st->timeout);
	evtimer_add(st->timer, &tv);
}

static void
stream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_stream *st = arg;

	(void)fd;
	(void)what;
	st->ops->on_event(st->arg, CONN_EV_TIMEOUT);
}

/* The session's stream callbacks, passed on to the stream's owner; a
 * response frame is progress for the stream's deadline. */
static void
hs_head(void *arg, const struct msg_response *rs)
{
	struct upstream_stream *st = arg;

	stream_arm(st);
	st->ops->h2->on_head(st->arg, rs);
}

static void
hs_data(void *arg)
{
	struct upstream_stream *st = arg;

	stream_arm(st);
	st->ops->h2->on_data(st->arg);
}

static void
hs_end(void *arg, const struct msg_field *tr, unsigned n)
{
	struct upstream_stream *st = arg;

	evtimer_del(st->timer);
	st->ops->h2->on_end(st->arg, tr, n);
}

static void
hs_close(void *arg, uint32_t code, bool unprocessed)
{
	struct upstream_stream *st = arg;

	evtimer_del(st->timer);
	st->ops->h2->on_close(st->arg, code, unprocessed);
}

static void
hs_writable(void *arg)
{
	struct upstream_stream *st = arg;

	stream_arm(st);
	st->ops->h2->on_writable(st->arg);
}

static const struct h2up_stream_ops hs_ops = {
	.on_head = hs_head,
	.on_data = hs_data,
	.on_end = hs_end,
	.on_close = hs_close,
	.on_writable = hs_writable,
};

static void
hc_room(void *arg)
{
	(void)arg;
}

static void
hc_pong(void *arg)
{
	struct upstream_conn *c = arg;

	c->ping_out = false;
}

static const struct h2up_conn_ops hc_ops = {
	.on_room = hc_room,
	.on_pong = hc_pong,
};

/* How long an idle HTTP/2 connection waits before its next check. */
static double
h2_idle_wait(const struct upstream_conn *c, double elapsed)
{
	const struct pool_conf *pc = &c->pool->spec.pool;
	double left = c->pool->spec.idle_timeout - elapsed;

	if (left < 0.001)
		left = 0.001;
	return pc->ping_interval < left ? pc->ping_interval : left;
}

static double
idle_elapsed(const struct upstream_conn *c)
{
	struct timeval now, d;

	event_base_gettimeofday_cached(c->pool->base, &now);
	timersub(&now, &c->idle_since, &d);
	return (double)d.tv_sec + (double)d.tv_usec / 1e6;
}

static void
h2_set_idle(struct upstream_conn *c)
{
	struct upstream_pool *p = c->pool;

	c->state = C_IDLE;
	stats_sub(&p->spec.stats->upstream_busy, 1);
	stats_add(&p->spec.stats->upstream_idle, 1);
	event_base_gettimeofday_cached(p->base, &c->idle_since);
	c->ping_out = false;
	conn_set_timeouts(c->conn, h2_idle_wait(c, 0), 0);
}

static void
h2_set_busy(struct upstream_conn *c)
{
	struct upstream_pool *p = c->pool;

	if (c->state != C_IDLE)
		return;
	c->state = C_BUSY;
	stats_sub(&p->spec.stats->upstream_idle, 1);
	stats_add(&p->spec.stats->upstream_busy, 1);
	/* Each stream keeps its own deadline. */
	conn_set_timeouts(c->conn, 0, 0);
}

/* Closes c when it has no stream and will take none. */
static bool
h2_maybe_close(struct upstream_conn *c)
{
	if (c->nstreams > 0 || c->depth > 0)
		return false;
	/* A retired pool keeps nothing, not even a connection being set
	 * up; otherwise only a failed or going-away one closes. */
	if (!c->dead && !c->pool->retired &&
	    (c->state == C_CONNECTING || c->h2 == NULL ||
	    !h2up_going_away(c->h2)))
		return false;
	if (c->h2 != NULL && !c->dead)
		h2up_goaway(c->h2);
	uc_close(c);
	return true;
}

static void
h2_close_idle(struct upstream_pool *p)
{
	struct upstream_conn *c, *next;

	for (c = p->h2conns; c != NULL; c = next) {
		next = c->hnext;
		(void)h2_maybe_close(c);
	}
}

/* Tells every stream not told yet (while connecting: no session). */
static void
h2_tell_streams(struct upstream_conn *c, unsigned what)
{
	struct upstream_stream *st;

	c->depth++;
	for (;;) {
		for (st = c->streams; st != NULL && st->told; st = st->next)
			;
		if (st == NULL)
			break;
		st->told = true;
		st->ops->on_event(st->arg, what);
	}
	c->depth--;
}

/* The connection broke: its streams fail (no others). */
static void
h2_fail(struct upstream_conn *c, unsigned what)
{
	c->dead = true;
	if (c->h2 != NULL) {
		c->depth++;
		h2up_fail(c->h2);
		c->depth--;
	}
	h2_tell_streams(c, what);
	(void)h2_maybe_close(c);
}

static void
h2_read(struct upstream_conn *c)
{
	bool ok;

	if (c->h2 == NULL || c->dead) {
		evbuffer_drain(conn_input(c->conn), (size_t)-1);
		return;
	}
	c->depth++;
	ok = h2up_read(c->h2);
	c->depth--;
	if (!ok) {
		h2_fail(c, CONN_EV_ERROR | CONN_EV_READING);
		return;
	}
	if (h2_maybe_close(c))
		return;
	if (c->state == C_IDLE)
		/* Frames from the server (a PING, our PING's answer) do
		 * not make it busy: the idle time still counts. */
		conn_set_timeouts(c->conn, h2_idle_wait(c, idle_elapsed(c)), 0);
}

static void
h2_write(struct upstream_conn *c)
{
	bool ok;

	if (c->h2 == NULL || c->dead)
		return;
	c->depth++;
	ok = h2up_flush(c->h2);
	c->depth--;
	if (!ok)
		h2_fail(c, CONN_EV_ERROR | CONN_EV_WRITING);
	else
		(void)h2_maybe_close(c);
}

/* The connection is up: the session starts, and the streams waiting for
 * it go. */
static void
h2_connected(struct upstream_conn *c)
{
	struct upstream_pool *p = c->pool;
	struct upstream_stream *st;
	bool ok;
	struct h2up_settings set = {
		.max_streams = p->spec.pool.max_streams,
		.window = 65535,
		.max_header_list = 65536,
		.stats = p->spec.stats,
	};

	if (p->spec.ssl_ctx != NULL && !tls_alpn_is_h2(conn_ssl(c->conn))) {
		log_warnx("upstream %s: %s did not select ALPN h2 (protocol = "
		    "\"h2\"): check that the server speaks HTTP/2 over TLS",
		    p->spec.name, p->spec.targets[c->target].spec);
		report(c, false);
		h2_fail(c, CONN_EV_ERROR);
		return;
	}
	c->state = C_BUSY;
	conn_set_read_high(c->conn, 0);
	conn_set_timeouts(c->conn, 0, 0);
	c->h2 = h2up_new(c->conn, &set, &hc_ops, c);
	c->depth++;
	for (;;) {
		for (st = c->streams; st != NULL && st->ready; st = st->next)
			;
		if (st == NULL)
			break;
		st->ready = true;
		st->h2 = h2up_stream_new(c->h2, &hs_ops, st);
		st->ops->on_event(st->arg, CONN_EV_CONNECTED);
	}
	ok = h2up_flush(c->h2);
	c->depth--;
	if (!ok) {
		h2_fail(c, CONN_EV_ERROR | CONN_EV_WRITING);
		return;
	}
	if (c->nstreams == 0 && !h2_maybe_close(c))
		h2_set_idle(c);
}

static void
h2_event(struct upstream_conn *c, unsigned what)
{
	double elapsed;

	if (c->state == C_CONNECTING) {
		if (what & CONN_EV_CONNECTED) {
			h2_connected(c);
			return;
		}
		report(c, false);
		h2_fail(c, what);
		return;
	}
	if ((what & CONN_EV_TIMEOUT) && c->state == C_IDLE && !c->dead) {
		elapsed = idle_elapsed(c);
		if (c->ping_out || elapsed >= c->pool->spec.idle_timeout -
		    0.001) {
			/* Unanswered PING, or idle long enough. */
			log_debug("upstream %s: %s: %s", c->pool->spec.name,
			    c->pool->spec.targets[c->target].spec, c->ping_out ?
			    "PING unanswered, closing" : "idle, closing");
			if (!c->ping_out)
				h2up_goaway(c->h2);
			uc_close(c);
			return;
		}
		c->ping_out = true;
		h2up_ping(c->h2);
		conn_set_timeouts(c->conn, h2_idle_wait(c, elapsed), 0);
		return;
	}
	h2_fail(c, what);
}

/* Free streams on c now: none once the server said GOAWAY. */
static unsigned
h2_room(const struct upstream_conn *c)
{
	unsigned cap = c->pool->spec.pool.max_streams, room;

	if (c->dead)
		return 0;
	room = c->nstreams >= cap ? 0 : cap - c->nstreams;
	if (c->h2 != NULL && h2up_room(c->h2) < room)
		room = h2up_room(c->h2);
	return room;
}

/*
 * A stream on the live connection with the most free streams; on one
 * being set up when none is live with room (it goes once connected); on
 * a new one when every connection is full.
 */
static struct upstream_stream *
h2_acquire(struct upstream_pool *p, const void *avoid,
    const struct upstream_ops *ops, void *arg, unsigned *status,
    const char **why)
{
	struct upstream_conn *c, *best = NULL;
	struct upstream_stream *st;
	unsigned room, best_room = 0;
	struct timeval now;
	size_t t;

	event_base_gettimeofday_cached(p->base, &now);
	for (c = p->h2conns; c != NULL; c = c->hnext) {
		if (c == avoid || is_ejected(p, c->target, &now))
			continue;
		room = h2_room(c);
		/* A live connection before one still connecting. */
		if (room > 0 && (best == NULL ||
		    (best->state == C_CONNECTING && c->state != C_CONNECTING) ||
		    ((best->state == C_CONNECTING) == (c->state == C_CONNECTING) &&
		    room > best_room))) {
			best = c;
			best_room = room;
		}
	}
	if ((c = best) == NULL) {
		if (p->nopen >= p->spec.pool.max_connections) {
			/* Make room by closing an idle one, if any. */
			/* Not one inside its session's callbacks: this
			 * request may come from there (a retry). */
			for (c = p->h2conns; c != NULL; c = c->hnext)
				if (c->nstreams == 0 && c->depth == 0 &&
				    c->state != C_CONNECTING)
					break;
			if (c == NULL) {
				*status = 503;
				*why = "upstream pool full";
				return NULL;
			}
			uc_close(c);
		}
		if (!pick_target(p, &t)) {
			*status = 503;
			*why = "no healthy upstream target";
			return NULL;
		}
		if ((c = uc_open(p, t, why)) == NULL) {
			*status = 502;
			return NULL;
		}
	}
	st = xcalloc(1, sizeof(*st));
	st->c = c;
	st->ops = ops;
	st->arg = arg;
	st->ready = c->state != C_CONNECTING;
	st->reused = st->ready;
	st->timer = evtimer_new(p->base, stream_timer_cb, st);
	if (st->timer == NULL)
		abort();
	st->next = c->streams;
	if (c->streams != NULL)
		c->streams->prev = st;
	c->streams = st;
	c->nstreams++;
	c->served++;
	stats_add(&p->spec.stats->upstream_streams, 1);
	if (st->ready) {
		h2_set_busy(c);
		st->h2 = h2up_stream_new(c->h2, &hs_ops, st);
	}
	return st;
}

static void
h2_release(struct upstream_stream *st)
{
	struct upstream_conn *c = st->c;

	event_free(st->timer);
	h2up_stream_free(st->h2);	/* RST_STREAM when still open */
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	c->nstreams--;
	stats_sub(&c->pool->spec.stats->upstream_streams, 1);
	free(st);
	if (h2_maybe_close(c))
		return;
	if (c->h2 != NULL && c->depth == 0 && !c->dead) {
		c->depth++;
		if (!h2up_flush(c->h2))
			conn_kick_read(c->conn);	/* reported from there */
		c->depth--;
	}
	if (c->nstreams == 0 && c->state == C_BUSY && !c->dead)
		h2_set_idle(c);
}

/* A new stream on c, which has room for it. */
static struct upstream_stream *
stream_open(struct upstream_conn *c, const struct upstream_ops *ops,
    void *arg)
{
	struct upstream_stream *st = &c->one;

	st->c = c;
	st->ops = ops;
	st->arg = arg;
	st->reused = c->served > 0;
	st->ready = st->reused;
	c->nstreams++;
	c->served++;
	return st;
}

struct upstream_stream *
upstream_acquire(struct upstream_pool *p, bool fresh, const void *avoid,
    const struct upstream_ops *ops, void *arg, unsigned *status,
    const char **why)
{
	struct upstream_conn *c;
	struct timeval now;
	size_t t;

	if (p->spec.protocol == PROTO_H2)
		return h2_acquire(p, avoid, ops, arg, status, why);
	/*
	 * A connection with room first.  With one stream per connection,
	 * only idle ones have room; a multiplexing protocol would also
	 * offer busy connections below max_streams here.
	 */
	if (!fresh) {
		event_base_gettimeofday_cached(p->base, &now);
		for (c = p->idle; c != NULL; c = c->next)
			if (!is_ejected(p, c->target, &now))
				break;
		if (c != NULL) {
			idle_unlink(c);
			stats_sub(&p->spec.stats->upstream_idle, 1);
			stats_add(&p->spec.stats->upstream_busy, 1);
			c->state = C_BUSY;
			conn_set_timeouts(c->conn, 0, 0);
			return stream_open(c, ops, arg);
		}
	}
	if (p->nopen >= p->spec.pool.max_connections) {
		/* Make room by closing an idle one, if any is left. */
		if (p->idle == NULL) {
			*status = 503;
			*why = "upstream pool full";
			return NULL;
		}
		c = p->idle;
		while (c->next != NULL)
			c = c->next;
		uc_close(c);
	}
	if (!pick_target(p, &t)) {
		*status = 503;
		*why = "no healthy upstream target";
		return NULL;
	}
	c = uc_open(p, t, why);
	if (c == NULL) {
		*status = 502;
		return NULL;
	}
	return stream_open(c, ops, arg);
}

void
upstream_release(struct upstream_stream *st, bool reusable)
{
	struct upstream_conn *c = st->c;
	struct upstream_pool *p = c->pool;

	if (p->spec.protocol == PROTO_H2) {
		h2_release(st);
		return;
	}
	st->ops = NULL;
	st->arg = NULL;
	c->nstreams--;
	/* HTTP/1.1: a stream that did not end cleanly leaves the byte
	 * stream in an unknown place, so the connection closes with it. */
	if (!reusable || p->retired || c->state != C_BUSY ||
	    p->nidle >= p->spec.pool.max_idle ||
	    evbuffer_get_length(conn_input(c->conn)) > 0 ||
	    evbuffer_get_length(conn_output(c->conn)) > 0) {
		uc_close(c);
		return;
	}
	if (c->nstreams > 0)
		return;
	c->state = C_IDLE;
	stats_sub(&p->spec.stats->upstream_busy, 1);
	stats_add(&p->spec.stats->upstream_idle, 1);
	c->next = p->idle;
	c->prev = NULL;
	if (p->idle)
		p->idle->prev = c;
	p->idle = c;
	p->nidle++;
	/* Watch for the server closing it (reading stays on, so the epoll
	 * interest does not change); drop it after idle_timeout. */
	conn_set_timeouts(c->conn, p->spec.idle_timeout, 0);
}

void
upstream_report(struct upstream_stream *st, bool ok)
{
	report(st->c, ok);
}

/* Passive health counts per target, whatever the connection carries. */
static void
report(struct upstream_conn *c, bool ok)
{
	struct upstream_pool *p = c->pool;
	struct target_health *h = &p->health[c->target];
	struct timeval now, d;

	if (ok) {
		h->fails = 0;
		if (p->spec.ejected != NULL)
			atomic_store_explicit(&p->spec.ejected[c->target], 0,
			    memory_order_relaxed);
		return;
	}
	if (++h->fails < p->spec.health.fails)
		return;
	event_base_gettimeofday_cached(p->base, &now);
	d = duration_tv(p->spec.health.interval);
	timeradd(&now, &d, &h->ejected_until);
	h->fails = 0;
	if (p->spec.ejected != NULL)
		atomic_store_explicit(&p->spec.ejected[c->target],
		    (int_fast64_t)h->ejected_until.tv_sec + 1, memory_order_relaxed);
	log_warnx("upstream %s: target %s ejected for %.1fs after %u failures",
	    p->spec.name, p->spec.targets[c->target].spec,
	    p->spec.health.interval, p->spec.health.fails);
}

void
upstream_input_flow(struct upstream_stream *st)
{
	if (st->h2 == NULL)
		conn_input_consumed(st->c->conn);
}

struct conn *
upstream_io(struct upstream_stream *st)
{
	return st->c->conn;
}

bool
upstream_is_reused(const struct upstream_stream *st)
{
	return st->reused;
}

const void *
upstream_conn_of(const struct upstream_stream *st)
{
	return st->c;
}

bool
upstream_is_ready(const struct upstream_stream *st)
{
	return st->ready;
}

struct h2up_stream *
upstream_h2(struct upstream_stream *st)
{
	return st->h2;
}

void
upstream_set_timeouts(struct upstream_stream *st, double read_s,
    double write_s)
{
	if (st->c->pool->spec.protocol != PROTO_H2) {
		conn_set_timeouts(st->c->conn, read_s, write_s);
		return;
	}
	/* One deadline per stream, for the response: while the request
	 * body still comes, the client side's deadlines watch it (an
	 * upstream that does not read closes the client's window). */
	(void)write_s;
	st->timeout = read_s;
	stream_arm(st);
}

void
upstream_waits_for_client(struct upstream_stream *st, bool waiting)
{
	if (st->timer == NULL)
		return;
	if (waiting)
		evtimer_del(st->timer);
	else if (!evtimer_pending(st->timer, NULL))
		stream_arm(st);
}

void
upstream_flush(struct upstream_stream *st)
{
	struct upstream_conn *c = st->c;

	if (c->pool->spec.protocol != PROTO_H2) {
		conn_flush(c->conn);
		return;
	}
	if (c->h2 == NULL || c->depth > 0)
		return;		/* the session's own pass sends it */
	c->depth++;
	if (!h2up_flush(c->h2))
		/* Failed: the loop reports it through the read callback. */
		conn_kick_read(c->conn);
	c->depth--;
}

const char *
upstream_target(const struct upstream_stream *st)
{
	return st->c->pool->spec.targets[st->c->target].spec;
}

const struct upstream_spec *
upstream_pool_spec(const struct upstream_pool *p)
{
	return &p->spec;
}
