/* worker: one thread, one event loop (see worker.h). */
#include <sys/eventfd.h>
#include <sys/random.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "duration.h"
#include "h1.h"
#include "listener.h"
#include "log.h"
#include "runtime.h"
#include "session.h"
#include "upstream.h"
#include "worker.h"
#include "xalloc.h"

static void
spec_for_server(const struct config *c, const struct server_conf *sv,
    struct ssl_ctx_st *ctx, struct upstream_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->name = sv->name;
	sp->targets = sv->targets;
	sp->ntargets = sv->ntargets;
	sp->tls = &sv->tls;
	sp->ssl_ctx = ctx;
	sp->pool = sv->pool;
	sp->health = sv->health;
	sp->connect_timeout = c->timeouts.upstream_connect;
	sp->idle_timeout = c->timeouts.client_idle;
}

static void
spec_for_partner(const struct config *c, const struct partner_conf *pt,
    struct ssl_ctx_st *ctx, struct upstream_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->name = pt->domain;
	sp->targets = pt->proxies;
	sp->ntargets = pt->nproxies;
	sp->tls = &pt->tls;
	sp->ssl_ctx = ctx;
	sp->pool = pt->pool;
	sp->health.interval = 5.0;
	sp->health.fails = 3;
	sp->connect_timeout = c->timeouts.upstream_connect;
	sp->idle_timeout = c->timeouts.client_idle;
}

static void
close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->rt->cfg->nlisteners; i++) {
		listener_free(w->listeners[i]);
		w->listeners[i] = NULL;
	}
}

/* Runs in the worker's thread when worker_stop() wrote to the eventfd. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv;
	double d = w->rt->cfg->timeouts.drain;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 || w->draining)
		return;
	w->draining = true;
	close_listeners(w);
	session_drain_all(w);
	if (w->nsessions == 0) {
		event_base_loopbreak(w->base);
		return;
	}
	log_info("worker %u: draining %zu connections (up to %.1fs)", w->index,
	    w->nsessions, d);
	tv = duration_tv(d);
	evtimer_add(w->drain_timer, &tv);
}

static void
drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_warnx("worker %u: timeouts.drain passed; closing %zu connections",
	    w->index, w->nsessions);
	session_close_all(w);
	event_base_loopbreak(w->base);
}

/* Most spare parsers kept per kind: enough for the requests in flight of
 * a busy worker; more would only hold memory after a burst. */
#define SPARE_MAX 1024
/* Response heads may be larger than what clients are allowed. */
#define RESP_HEAD_MAX (64 * 1024)

struct h1_parser *
worker_take_parser(struct worker *w, bool is_request)
{
	struct parser_stack *st = is_request ? &w->spare_req : &w->spare_resp;
	const struct config *c = w->rt->cfg;

	if (st->n > 0)
		return st->v[--st->n];
	if (is_request)
		return h1_parser_new(H1_REQUEST, c->limits.max_header_bytes,
		    c->limits.max_header_fields);
	return h1_parser_new(H1_RESPONSE, RESP_HEAD_MAX, 1000);
}

void
worker_give_parser(struct worker *w, struct h1_parser *p, bool is_request)
{
	struct parser_stack *st = is_request ? &w->spare_req : &w->spare_resp;

	if (p == NULL)
		return;
	if (st->n == SPARE_MAX) {
		h1_parser_free(p);
		return;
	}
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 16;
		st->v = xreallocarray(st->v, st->cap, sizeof(*st->v));
	}
	h1_parser_reset(p, false);
	st->v[st->n++] = p;
}

static void
free_stack(struct parser_stack *st)
{
	for (size_t i = 0; i < st->n; i++)
		h1_parser_free(st->v[i]);
	free(st->v);
}

void
worker_session_gone(struct worker *w)
{
	if (w->draining && w->nsessions == 0)
		event_base_loopbreak(w->base);
}

struct worker *
worker_new(unsigned index, const struct runtime *rt, struct worker_shared *sh)
{
	const struct config *c = rt->cfg;
	struct worker *w = xcalloc(1, sizeof(*w));
	struct upstream_spec sp;

	w->index = index;
	w->rt = rt;
	w->shared = sh;
	w->base = event_base_new();
	if (w->base == NULL) {
		log_warnx("worker %u: cannot create an event loop", index);
		free(w);
		return NULL;
	}
	if (getrandom(&w->id_prefix, sizeof(w->id_prefix), 0) !=
	    (ssize_t)sizeof(w->id_prefix))
		w->id_prefix = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	w->listeners = xcalloc(c->nlisteners, sizeof(*w->listeners));
	w->server_pools = xcalloc(c->nservers, sizeof(*w->server_pools));
	w->partner_pools = xcalloc(c->npartners, sizeof(*w->partner_pools));
	/*
	 * The only message between threads is "stop": an eventfd, so that
	 * libevent runs without its locks (no evthread_use_pthreads) and each
	 * event loop is touched by its own thread alone.
	 */
	w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->stop_fd < 0) {
		log_warn("worker %u: eventfd", index);
		event_base_free(w->base);
		free(w);
		return NULL;
	}
	w->stop_ev = event_new(w->base, w->stop_fd, EV_READ | EV_PERSIST,
	    stop_cb, w);
	event_add(w->stop_ev, NULL);
	w->drain_timer = evtimer_new(w->base, drain_deadline_cb, w);
	for (size_t i = 0; i < c->nservers; i++) {
		spec_for_server(c, &c->servers[i], rt->server_ctx[i], &sp);
		w->server_pools[i] = upstream_pool_new(w->base, &sp);
	}
	for (size_t i = 0; i < c->npartners; i++) {
		spec_for_partner(c, &c->partners[i], rt->partner_ctx[i], &sp);
		w->partner_pools[i] = upstream_pool_new(w->base, &sp);
	}
	for (size_t i = 0; i < c->nlisteners; i++) {
		w->listeners[i] = listener_new(w, i);
		if (w->listeners[i] == NULL) {
			worker_free(w);
			return NULL;
		}
	}
	return w;
}

static void *
run(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	atomic_fetch_add(&w->shared->workers_done, 1);
	return NULL;
}

int
worker_start(struct worker *w)
{
	int rc = pthread_create(&w->thread, NULL, run, w);

	if (rc != 0) {
		log_warnx("worker %u: cannot start a thread: %s", w->index,
		    strerror(rc));
		return -1;
	}
	return 0;
}

void
worker_stop(struct worker *w)
{
	uint64_t one = 1;

	/* Async-signal-safe and lock-free: a write to the worker's eventfd. */
	if (write(w->stop_fd, &one, sizeof(one)) < 0)
		log_warn("worker %u: cannot signal stop", w->index);
}

void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void
worker_free(struct worker *w)
{
	const struct config *c;

	if (w == NULL)
		return;
	c = w->rt->cfg;
	session_close_all(w);
	close_listeners(w);
	for (size_t i = 0; i < c->nservers; i++)
		upstream_pool_free(w->server_pools[i]);
	for (size_t i = 0; i < c->npartners; i++)
		upstream_pool_free(w->partner_pools[i]);
	free_stack(&w->spare_req);
	free_stack(&w->spare_resp);
	free(w->listeners);
	free(w->server_pools);
	free(w->partner_pools);
	event_free(w->stop_ev);
	close(w->stop_fd);
	event_free(w->drain_timer);
	event_base_free(w->base);
	free(w);
}
