/* worker: one thread, one event loop (see worker.h). */
#include <sys/eventfd.h>
#include <sys/random.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bufpool.h"
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
	for (size_t i = 0; i < w->nlisteners; i++) {
		listener_free(w->listeners[i]);
		w->listeners[i] = NULL;
	}
}

static struct worker_gen *
gen_new(struct worker *w, struct runtime *rt)
{
	const struct config *c = rt->cfg;
	struct worker_gen *g = xcalloc(1, sizeof(*g));
	struct upstream_spec sp;

	g->rt = runtime_ref(rt);
	g->refs = 1;
	g->server_pools = xcalloc(c->nservers, sizeof(*g->server_pools));
	g->partner_pools = xcalloc(c->npartners, sizeof(*g->partner_pools));
	for (size_t i = 0; i < c->nservers; i++) {
		spec_for_server(c, &c->servers[i], rt->server_ctx[i], &sp);
		sp.stats = &w->stats;
		sp.ejected = rt->server_ejected[i];
		g->server_pools[i] = upstream_pool_new(w->base, &sp);
	}
	for (size_t i = 0; i < c->npartners; i++) {
		spec_for_partner(c, &c->partners[i], rt->partner_ctx[i], &sp);
		sp.stats = &w->stats;
		sp.ejected = rt->partner_ejected[i];
		g->partner_pools[i] = upstream_pool_new(w->base, &sp);
	}
	return g;
}

/* A newer generation took over: idle connections of this one close now,
 * busy ones when their request ends. */
static void
gen_retire(struct worker_gen *g)
{
	const struct config *c = g->rt->cfg;

	for (size_t i = 0; i < c->nservers; i++)
		upstream_pool_retire(g->server_pools[i]);
	for (size_t i = 0; i < c->npartners; i++)
		upstream_pool_retire(g->partner_pools[i]);
}

struct worker_gen *
worker_gen_get(struct worker *w)
{
	w->cur->refs++;
	return w->cur;
}

void
worker_gen_put(struct worker *w, struct worker_gen *g)
{
	const struct config *c;

	if (g == NULL || --g->refs > 0)
		return;
	c = g->rt->cfg;
	for (size_t i = 0; i < c->nservers; i++)
		upstream_pool_free(g->server_pools[i]);
	for (size_t i = 0; i < c->npartners; i++)
		upstream_pool_free(g->partner_pools[i]);
	free(g->server_pools);
	free(g->partner_pools);
	if (g->rt->generation != w->cur->rt->generation)
		log_debug("worker %u: generation %u released", w->index,
		    g->rt->generation);
	runtime_unref(g->rt);
	free(g);
}

const struct config *
worker_config(const struct worker *w)
{
	return w->cur->rt->cfg;
}

static void
free_stack(struct parser_stack *st)
{
	for (size_t i = 0; i < st->n; i++)
		h1_parser_free(st->v[i]);
	free(st->v);
	memset(st, 0, sizeof(*st));
}

/*
 * Listeners of the new configuration: the socket of an address both
 * configurations have is kept (connections waiting in its accept queue
 * are not lost); new addresses get the sockets main opened (fds, consumed
 * here); the others close.  Returns -1, with the old listeners untouched,
 * when a new socket cannot be watched.
 */
static int
swap_listeners(struct worker *w, const struct config *c, const int *fds)
{
	size_t n = c->nlisteners ? c->nlisteners : 1;
	struct listener **nl = xcalloc(n, sizeof(*nl));
	size_t *from = xcalloc(n, sizeof(*from));
	bool ok = true;
	size_t i, j;

	for (i = 0; i < c->nlisteners; i++) {
		if (fds[i] >= 0) {
			/* listener_new closes the socket when it fails. */
			if (!ok)
				close(fds[i]);
			else if ((nl[i] = listener_new(w, i, &c->listeners[i],
			    fds[i])) == NULL)
				ok = false;
			continue;
		}
		for (j = 0; j < w->nlisteners; j++)
			if (listener_same_address(listener_conf(w->listeners[j]),
			    &c->listeners[i]))
				break;
		if (j == w->nlisteners) {
			log_warnx("worker %u: listener %s: no socket to keep",
			    w->index, c->listeners[i].address);
			ok = false;
		}
		from[i] = j;
	}
	if (ok) {
		for (i = 0; i < c->nlisteners; i++) {
			if (fds[i] >= 0)
				continue;
			nl[i] = w->listeners[from[i]];
			w->listeners[from[i]] = NULL;
			listener_update(nl[i], i, &c->listeners[i]);
		}
		close_listeners(w);
		free(w->listeners);
		w->listeners = nl;
		w->nlisteners = c->nlisteners;
	} else {
		for (i = 0; i < c->nlisteners; i++)
			if (fds[i] >= 0)
				listener_free(nl[i]);
		free(nl);
	}
	free(from);
	return ok ? 0 : -1;
}

static void
apply_reload(struct worker *w, struct runtime *rt, int *fds)
{
	const struct config *c = rt->cfg;
	struct worker_gen *old = w->cur;
	unsigned gen = rt->generation;

	if (w->draining)
		listener_sockets_close(fds, c->nlisteners);
	else if (swap_listeners(w, c, fds) == 0) {
		w->cur = gen_new(w, rt);
		gen_retire(old);
		/* Spare parsers carry the old header limits. */
		free_stack(&w->spare_req);
		free_stack(&w->spare_resp);
		worker_gen_put(w, old);
	} else
		log_warnx("worker %u: keeps serving generation %u", w->index,
		    old->rt->generation);
	free(fds);
	runtime_unref(rt);	/* a generation took its own reference */
	atomic_store(&w->applied, gen);
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

static void
begin_drain(struct worker *w)
{
	struct timeval tv;
	double d = worker_config(w)->timeouts.drain;

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

/* Runs in the worker's thread when the main thread wrote to the eventfd. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct runtime *rt;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0)
		return;
	/* acquire: next_fds was written before next_rt was published. */
	rt = atomic_exchange_explicit(&w->next_rt, NULL, memory_order_acquire);
	if (rt != NULL)
		apply_reload(w, rt, w->next_fds);
	if (atomic_load(&w->stop_requested) && !w->draining)
		begin_drain(w);
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
	const struct config *c = worker_config(w);

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

void
worker_session_gone(struct worker *w)
{
	if (w->draining && w->nsessions == 0)
		event_base_loopbreak(w->base);
}

struct worker *
worker_new(unsigned index, struct runtime *rt, const int *fds,
    struct worker_shared *sh)
{
	const struct config *c = rt->cfg;
	struct worker *w = xcalloc(1, sizeof(*w));

	w->index = index;
	w->shared = sh;
	atomic_init(&w->stop_requested, false);
	atomic_init(&w->next_rt, NULL);
	atomic_init(&w->applied, rt->generation);
	w->base = event_base_new();
	/*
	 * The only messages between threads are "stop" and "reload": an
	 * eventfd, so that libevent runs without its locks (no
	 * evthread_use_pthreads) and each event loop is touched by its own
	 * thread alone.
	 */
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->base == NULL || w->wake_fd < 0) {
		log_warn("worker %u: cannot create an event loop", index);
		listener_sockets_close(fds, c->nlisteners);
		if (w->base != NULL)
			event_base_free(w->base);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
		free(w);
		return NULL;
	}
	if (getrandom(&w->id_prefix, sizeof(w->id_prefix), 0) !=
	    (ssize_t)sizeof(w->id_prefix))
		w->id_prefix = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	w->wake_ev = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST,
	    wake_cb, w);
	event_add(w->wake_ev, NULL);
	w->drain_timer = evtimer_new(w->base, drain_deadline_cb, w);
	w->cur = gen_new(w, rt);
	w->listeners = xcalloc(1, sizeof(*w->listeners));
	if (swap_listeners(w, c, fds) < 0) {
		worker_free(w);
		return NULL;
	}
	return w;
}

static void *
run(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	bufpool_thread_end();
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

static void
wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		log_warn("worker %u: cannot wake the event loop", w->index);
}

void
worker_stop(struct worker *w)
{
	atomic_store(&w->stop_requested, true);
	wake(w);
}

void
worker_reload(struct worker *w, struct runtime *rt, const int *fds)
{
	size_t n = rt->cfg->nlisteners;

	w->next_fds = xcalloc(n ? n : 1, sizeof(*w->next_fds));
	memcpy(w->next_fds, fds, n * sizeof(*fds));
	/* release: next_fds is visible to the worker once next_rt is. */
	atomic_store_explicit(&w->next_rt, runtime_ref(rt),
	    memory_order_release);
	wake(w);
}

void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void
worker_free(struct worker *w)
{
	struct runtime *pending;

	if (w == NULL)
		return;
	session_close_all(w);
	close_listeners(w);
	free(w->listeners);
	/* A reload sent after the loop ended was never applied. */
	if ((pending = atomic_exchange(&w->next_rt, NULL)) != NULL) {
		listener_sockets_close(w->next_fds, pending->cfg->nlisteners);
		free(w->next_fds);
		runtime_unref(pending);
	}
	worker_gen_put(w, w->cur);
	free_stack(&w->spare_req);
	free_stack(&w->spare_resp);
	field_list_free(&w->upfields);
	event_free(w->wake_ev);
	close(w->wake_fd);
	event_free(w->drain_timer);
	event_base_free(w->base);
	free(w);
}
