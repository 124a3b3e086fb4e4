/*
 * upstream: connection pools (see upstream.h).  Idle connections (no
 * stream) sit on a LIFO list: the most recently used one is the most
 * likely to still be open on the server's side.  Passive target
 * health: a target is ejected after `fails` consecutive failures and
 * comes back after `interval` seconds, when the next request tries it
 * again; the last target not ejected never is (a dead one costs a
 * connect error per request, but one that comes back serves at once).
 * Active health (health.path, upstream_health.c): checks that fail `fails`
 * times in a row take a target out, the last one too, until one passes.
 * A reload whose configuration leaves a pool's settings as they were
 * hands the pool itself to the new generation (upstream_pool_adopt).
 *
 * A request leases a stream, never a whole connection: a connection
 * carries up to max_streams of them (HTTP/1.1: one, so its byte stream
 * and deadlines are the stream's), and the pool counts capacity in
 * streams.  Target choice, health and ejection are the connection's
 * business and do not depend on the protocol it speaks.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "duration.h"
#include "log.h"
#include "tls.h"
#include "upstream.h"
#include "upstream_priv.h"
#include "xalloc.h"

static char *
dup_opt(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static bool
str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

struct upstream_pool *
upstream_pool_new(struct event_base *base, const struct upstream_spec *spec)
{
	struct upstream_pool *p = xcalloc(1, sizeof(*p));
	const struct tls_client_conf *tls = spec->tls;

	p->base = base;
	p->spec = *spec;
	p->holds = 1;
	/*
	 * Copies, not the configuration's: a reload may hand the pool to
	 * the next generation, and requests of older generations still
	 * read its name and targets (logs) after the configuration the
	 * pool came from is freed.
	 */
	p->name = xstrdup(spec->name);
	p->targets = xcalloc(spec->ntargets, sizeof(*p->targets));
	for (size_t i = 0; i < spec->ntargets; i++) {
		p->targets[i].spec = xstrdup(spec->targets[i].spec);
		p->targets[i].addr = spec->targets[i].addr;
	}
	if (tls != NULL) {
		p->tls = *tls;
		p->tls.ca = dup_opt(tls->ca);
		p->tls.server_name = dup_opt(tls->server_name);
		p->tls.certificate = dup_opt(tls->certificate);
		p->tls.key = dup_opt(tls->key);
	}
	p->health_path = dup_opt(spec->health.path);
	p->health_host = dup_opt(spec->health_host);
	p->spec.name = p->name;
	p->spec.targets = p->targets;
	p->spec.tls = &p->tls;
	p->spec.health.path = p->health_path;
	p->spec.health_host = p->health_host;
	if (p->spec.ssl_ctx != NULL)
		SSL_CTX_up_ref(p->spec.ssl_ctx);
	p->health = xcalloc(spec->ntargets, sizeof(*p->health));
	if (p->health_path != NULL)
		p->hc = hc_start(p);
	return p;
}

/* Frees the pool itself; it has no connection left. */
static void
pool_destroy(struct upstream_pool *p)
{
	for (size_t i = 0; i < p->spec.ntargets; i++)
		free(p->targets[i].spec);
	free(p->targets);
	free(p->name);
	free(p->tls.ca);
	free(p->tls.server_name);
	free(p->tls.certificate);
	free(p->tls.key);
	free(p->health_path);
	free(p->health_host);
	SSL_CTX_free(p->spec.ssl_ctx);	/* our reference; NULL is ignored */
	free(p->health);
	free(p);
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
void
up_conn_close(struct upstream_conn *c)
{
	struct upstream_pool *p = c->pool;

	if (c->state == C_IDLE) {
		if (p->spec.protocol != PROTO_H2)
			idle_unlink(c);
		stats_sub(&p->spec.stats->upstream_idle, 1);
	} else
		stats_sub(&p->spec.stats->upstream_busy, 1);
	if (p->spec.protocol == PROTO_H2)
		up_h2_forget(c);
	c->pool->nopen--;
	stats_sub(&p->spec.stats->upstream_conns[p->spec.protocol], 1);
	conn_free(c->conn);	/* closes the fd and frees the SSL */
	c->magic = 0;
	free(c);
	if (p->freeing && p->nopen == 0)
		pool_destroy(p);
}

void
upstream_pool_retire(struct upstream_pool *p)
{
	p->retired = true;
	hc_stop(p->hc);		/* no check may call into a freed pool */
	p->hc = NULL;
	/* The gauge is the current runtime's, which may be freed before
	 * the older generations that still hold this pool. */
	p->spec.ejected = NULL;
	while (p->idle != NULL)
		up_conn_close(p->idle);
	up_h2_close_idle(p);
}

void
upstream_pool_free(struct upstream_pool *p)
{
	if (p == NULL || --p->holds > 0)
		return;
	upstream_pool_retire(p);
	if (p->nopen > 0) {
		p->freeing = true;	/* the last uc_close frees it */
		return;
	}
	pool_destroy(p);
}

static bool
target_eq(const struct target *a, const struct target *b)
{
	return strcmp(a->spec, b->spec) == 0 && a->addr.len == b->addr.len &&
	    memcmp(&a->addr.ss, &b->addr.ss, a->addr.len) == 0;
}

static bool
tls_eq(const struct tls_client_conf *a, const struct tls_client_conf *b)
{
	return a->enabled == b->enabled && str_eq(a->ca, b->ca) &&
	    str_eq(a->server_name, b->server_name) &&
	    str_eq(a->certificate, b->certificate) && str_eq(a->key, b->key);
}

bool
upstream_pool_fits(const struct upstream_pool *p, const struct upstream_spec *sp)
{
	const struct upstream_spec *o = &p->spec;
	const struct pool_conf *a = &o->pool, *b = &sp->pool;

	if (p->retired || strcmp(o->name, sp->name) != 0 ||
	    o->ntargets != sp->ntargets || o->protocol != sp->protocol ||
	    (o->ssl_ctx == NULL) != (sp->ssl_ctx == NULL) ||
	    !tls_eq(o->tls, sp->tls) ||
	    memcmp(o->tls_sum, sp->tls_sum, sizeof(o->tls_sum)) != 0)
		return false;
	for (size_t i = 0; i < o->ntargets; i++)
		if (!target_eq(&o->targets[i], &sp->targets[i]))
			return false;
	return a->max_idle == b->max_idle &&
	    a->max_connections == b->max_connections &&
	    a->max_streams == b->max_streams &&
	    a->ping_interval == b->ping_interval &&
	    a->idle_timeout == b->idle_timeout &&
	    str_eq(o->health.path, sp->health.path) &&
	    str_eq(o->health_host, sp->health_host) &&
	    o->health.interval == sp->health.interval &&
	    o->health.fails == sp->health.fails &&
	    o->connect_timeout == sp->connect_timeout &&
	    o->idle_timeout == sp->idle_timeout && o->stats == sp->stats;
}

/* The health gauge of target t, from its state: the wall-clock second
 * until which it is out (the largest value while a check must pass). */
static void
gauge_set(struct upstream_pool *p, size_t t)
{
	const struct target_health *h = &p->health[t];
	int_fast64_t v = 0;

	if (p->spec.ejected == NULL)
		return;
	if (h->down)
		v = INT_FAST64_MAX;
	else if (timerisset(&h->ejected_until))
		v = (int_fast64_t)h->ejected_until.tv_sec + 1;
	atomic_store_explicit(&p->spec.ejected[t], v, memory_order_relaxed);
}

void
upstream_pool_adopt(struct upstream_pool *p, const struct upstream_spec *sp)
{
	struct timeval now;

	p->holds++;
	/* New connections use the new runtime's context (the same files);
	 * those already open keep theirs (each SSL holds a reference). */
	if (sp->ssl_ctx != NULL)
		SSL_CTX_up_ref(sp->ssl_ctx);
	SSL_CTX_free(p->spec.ssl_ctx);
	p->spec.ssl_ctx = sp->ssl_ctx;
	/* The new runtime's gauge starts healthy: tell it what carries
	 * over. */
	p->spec.ejected = sp->ejected;
	p->spec.route_slot = sp->route_slot;
	event_base_gettimeofday_cached(p->base, &now);
	for (size_t t = 0; t < p->spec.ntargets; t++)
		if (up_is_ejected(p, t, &now))
			gauge_set(p, t);
}


bool
up_is_ejected(const struct upstream_pool *p, size_t t, const struct timeval *now)
{
	return p->health[t].down || timercmp(&p->health[t].ejected_until, now, >);
}

/* The stream that a connection's events belong to (HTTP/1.1: its only
 * one), or NULL when it carries none. */
static struct upstream_stream *
uc_stream(struct upstream_conn *c)
{
	return c->one.ops != NULL ? &c->one : NULL;
}

static void
uc_read_cb(void *arg)
{
	struct upstream_conn *c = arg;
	struct upstream_stream *st = uc_stream(c);

	if (c->pool->spec.protocol == PROTO_H2) {
		up_h2_read(c);
		return;
	}
	if (st != NULL) {
		st->ops->on_read(st->arg);
		return;
	}
	/* An idle connection has nothing to say; anything is an error. */
	log_debug("upstream %s: %s: unexpected data on an idle connection",
	    c->pool->spec.name, c->pool->spec.targets[c->target].spec);
	up_conn_close(c);
}

static void
uc_write_cb(void *arg)
{
	struct upstream_conn *c = arg;
	struct upstream_stream *st = uc_stream(c);

	if (c->pool->spec.protocol == PROTO_H2) {
		up_h2_write(c);
		return;
	}
	if (st != NULL)
		st->ops->on_write(st->arg);
}

static void
uc_event_cb(void *arg, unsigned what)
{
	struct upstream_conn *c = arg;
	struct upstream_stream *st = uc_stream(c);

	if (c->pool->spec.protocol == PROTO_H2) {
		up_h2_event(c, what);
		return;
	}
	if (st == NULL) {
		/* Idle: closed by the server, or kept idle too long. */
		up_conn_close(c);
		return;
	}
	if (c->state == C_CONNECTING) {
		if (what & CONN_EV_CONNECTED) {
			c->state = C_BUSY;
			conn_set_timeouts(c->conn, 0, 0);
		} else
			up_report(c, false);
	}
	st->ops->on_event(st->arg, what);
}

/* Picks the next target round-robin, skipping ejected ones. */
bool
up_pick_target(struct upstream_pool *p, size_t *out)
{
	struct timeval now;

	event_base_gettimeofday_cached(p->base, &now);
	for (size_t i = 0; i < p->spec.ntargets; i++) {
		size_t t = (p->rr + i) % p->spec.ntargets;

		if (!up_is_ejected(p, t, &now)) {
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

struct upstream_conn *
up_conn_open(struct upstream_pool *p, size_t t, const char **why)
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
		return up_h2_acquire(p, avoid, ops, arg, status, why);
	/*
	 * A connection with room first.  With one stream per connection,
	 * only idle ones have room; a multiplexing protocol would also
	 * offer busy connections below max_streams here.
	 */
	if (!fresh) {
		event_base_gettimeofday_cached(p->base, &now);
		for (c = p->idle; c != NULL; c = c->next)
			if (!up_is_ejected(p, c->target, &now))
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
		up_conn_close(c);
	}
	if (!up_pick_target(p, &t)) {
		*status = 503;
		*why = "no healthy upstream target";
		return NULL;
	}
	c = up_conn_open(p, t, why);
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
		up_h2_release(st);
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
		up_conn_close(c);
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
	up_report(st->c, ok);
}

/* Another target than t is not ejected. */
static bool
other_in_rotation(const struct upstream_pool *p, size_t t,
    const struct timeval *now)
{
	for (size_t i = 0; i < p->spec.ntargets; i++)
		if (i != t && !up_is_ejected(p, i, now))
			return true;
	return false;
}

/* Passive health counts per target, whatever the connection carries. */
void
up_report(struct upstream_conn *c, bool ok)
{
	struct upstream_pool *p = c->pool;
	struct target_health *h = &p->health[c->target];
	struct timeval now, d;

	if (ok) {
		h->fails = 0;
		/* A request that was in flight when the checks took the
		 * target out does not bring it back: the next check does. */
		if (p->spec.ejected != NULL && !h->down)
			atomic_store_explicit(&p->spec.ejected[c->target], 0,
			    memory_order_relaxed);
		return;
	}
	if (h->fails < UINT_MAX)
		h->fails++;
	if (h->fails < p->spec.health.fails || h->down)
		return;
	event_base_gettimeofday_cached(p->base, &now);
	if (!other_in_rotation(p, c->target, &now)) {
		/*
		 * As nginx does with its last peer: ejecting the only target
		 * left would turn every request into a 503 until the interval
		 * passes, even once it is back.  It stays in rotation; the
		 * streak goes on counting (logged once, when it reaches
		 * fails) and ejects it as soon as another target is back.
		 */
		if (h->fails == p->spec.health.fails)
			log_warnx("upstream %s: target %s failed %u times in a "
			    "row; not ejected: it is the last target in rotation",
			    p->spec.name, p->spec.targets[c->target].spec,
			    h->fails);
		return;
	}
	d = duration_tv(p->spec.health.interval);
	timeradd(&now, &d, &h->ejected_until);
	h->fails = 0;
	gauge_set(p, c->target);
	log_warnx("upstream %s: target %s ejected for %.1fs after %u failures",
	    p->spec.name, p->spec.targets[c->target].spec,
	    p->spec.health.interval, p->spec.health.fails);
}

/*
 * Active health.  A failed check counts in the same streak as failed
 * requests, and unlike them may take the last target out: the server
 * answered (or failed to) on a path meant to say whether it serves, so
 * requests get 503 with Retry-After rather than its errors.  A passed
 * check clears the streak and brings the target back at once, whether
 * checks or requests took it out.
 */
void
up_check_result(struct upstream_pool *p, size_t t, bool ok, const char *why)
{
	struct target_health *h = &p->health[t];
	const char *tg = p->spec.targets[t].spec;
	struct timeval now;

	event_base_gettimeofday_cached(p->base, &now);
	if (ok) {
		bool was_out = up_is_ejected(p, t, &now);

		h->fails = 0;
		h->down = false;
		timerclear(&h->ejected_until);
		gauge_set(p, t);
		if (was_out)
			log_info("upstream %s: target %s is back in rotation: "
			    "its health check passed", p->spec.name, tg);
		return;
	}
	if (h->fails < UINT_MAX)
		h->fails++;
	if (h->down || h->fails < p->spec.health.fails)
		return;
	h->down = true;
	gauge_set(p, t);
	log_warnx("upstream %s: target %s is down after %u failures in a row "
	    "(the last a health check of %s: %s); out of rotation until a "
	    "check passes%s", p->spec.name, tg, h->fails, p->spec.health.path,
	    why, other_in_rotation(p, t, &now) ? "" :
	    "; no target of this server is left in rotation");
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
	if (st->c->pool->spec.protocol == PROTO_H2)
		up_h2_set_timeout(st, read_s);
	else
		conn_set_timeouts(st->c->conn, read_s, write_s);
}

void
upstream_waits_for_client(struct upstream_stream *st, bool waiting)
{
	if (st->c->pool->spec.protocol == PROTO_H2)
		up_h2_waits(st, waiting);
}

void
upstream_flush(struct upstream_stream *st)
{
	if (st->c->pool->spec.protocol == PROTO_H2)
		up_h2_flush(st);
	else
		conn_flush(st->c->conn);
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
