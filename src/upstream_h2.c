/*
 * upstream_h2: HTTP/2 connections of a pool (see upstream.h): many
 * streams each, a new stream on the live connection with the most free
 * streams (or one being set up), a new connection only when all are full;
 * the session itself is h2_up's.  A connection inside its session's
 * callbacks (depth > 0) is never closed: it closes when the pass is over,
 * and a freed pool waits for its last connection (up_conn_close).  Each
 * stream keeps its own response deadline; an idle connection is pinged
 * every ping_interval and closed after idle_timeout.
 */
#include <sys/time.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "duration.h"
#include "h2_up.h"
#include "log.h"
#include "tls.h"
#include "upstream.h"
#include "upstream_priv.h"
#include "xalloc.h"

void
up_h2_arm(struct upstream_stream *st)
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

	up_h2_arm(st);
	st->ops->h2->on_head(st->arg, rs);
}

static void
hs_data(void *arg)
{
	struct upstream_stream *st = arg;

	up_h2_arm(st);
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

	up_h2_arm(st);
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
	up_conn_close(c);
	return true;
}

void
up_h2_close_idle(struct upstream_pool *p)
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

void
up_h2_read(struct upstream_conn *c)
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

void
up_h2_write(struct upstream_conn *c)
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
		up_report(c, false);
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

void
up_h2_event(struct upstream_conn *c, unsigned what)
{
	double elapsed;

	if (c->state == C_CONNECTING) {
		if (what & CONN_EV_CONNECTED) {
			h2_connected(c);
			return;
		}
		up_report(c, false);
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
			up_conn_close(c);
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
struct upstream_stream *
up_h2_acquire(struct upstream_pool *p, const void *avoid,
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
		if (c == avoid || up_is_ejected(p, c->target, &now))
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
			up_conn_close(c);
		}
		if (!up_pick_target(p, &t)) {
			*status = 503;
			*why = "no healthy upstream target";
			return NULL;
		}
		if ((c = up_conn_open(p, t, why)) == NULL) {
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

void
up_h2_release(struct upstream_stream *st)
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

/* One deadline per stream, for the response: while the request body
 * still comes, the client side's deadlines watch it (an upstream that
 * does not read closes the client's window). */
void
up_h2_set_timeout(struct upstream_stream *st, double response_s)
{
	st->timeout = response_s;
	up_h2_arm(st);
}

void
up_h2_waits(struct upstream_stream *st, bool waiting)
{
	if (st->timer == NULL)
		return;
	if (waiting)
		evtimer_del(st->timer);
	else if (!evtimer_pending(st->timer, NULL))
		up_h2_arm(st);
}

void
up_h2_flush(struct upstream_stream *st)
{
	struct upstream_conn *c = st->c;

	if (c->h2 == NULL || c->depth > 0)
		return;		/* the session's own pass sends it */
	c->depth++;
	if (!h2up_flush(c->h2))
		/* Failed: the loop reports it through the read callback. */
		conn_kick_read(c->conn);
	c->depth--;
}

void
up_h2_forget(struct upstream_conn *c)
{
	struct upstream_pool *p = c->pool;

	if (c->hprev != NULL)
		c->hprev->hnext = c->hnext;
	else
		p->h2conns = c->hnext;
	if (c->hnext != NULL)
		c->hnext->hprev = c->hprev;
	h2up_free(c->h2);
	c->h2 = NULL;
}
