/* loop: what one worker's connections share (see loop.h). */
#include <sys/random.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "h1.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "upstream.h"
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
	sp->protocol = sv->protocol;
	sp->pool = sv->pool;
	sp->health = sv->health;
	/* Active checks name the first host that is not a wildcard. */
	for (size_t i = 0; i < sv->nhosts && sp->health_host == NULL; i++)
		if (strncmp(sv->hosts[i], "*.", 2) != 0)
			sp->health_host = sv->hosts[i];
	sp->connect_timeout = c->timeouts.upstream_connect;
	sp->idle_timeout = sp->pool.idle_timeout;
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
	sp->protocol = pt->protocol;
	sp->pool = pt->pool;
	sp->health.interval = 5.0;
	sp->health.fails = 3;
	sp->connect_timeout = c->timeouts.upstream_connect;
	sp->idle_timeout = sp->pool.idle_timeout;
}

_Static_assert(RUNTIME_TLS_SUM_LEN == UPSTREAM_TLS_SUM_LEN,
    "runtime and upstream TLS digests differ in length");

/*
 * The pool of the previous generation for sp (NULL: none), when its
 * settings are sp's: kept warm, it carries its idle connections, the
 * requests in flight and its targets' health into the new generation.
 */
static struct upstream_pool *
old_pool(struct upstream_pool **pools, size_t n, const struct upstream_spec *sp)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(upstream_pool_spec(pools[i])->name, sp->name) == 0)
			return upstream_pool_fits(pools[i], sp) ? pools[i] : NULL;
	return NULL;
}

/* sp's pool for the generation being built: prev's, or a new one. */
static struct upstream_pool *
gen_pool(struct loop *lp, struct upstream_pool **pools, size_t n,
    const struct upstream_spec *sp, size_t *kept)
{
	struct upstream_pool *p = old_pool(pools, n, sp);

	if (p == NULL)
		return upstream_pool_new(lp->base, sp);
	upstream_pool_adopt(p, sp);
	(*kept)++;
	return p;
}

/* A generation for rt; prev (NULL at start) is the one it replaces, whose
 * pools it takes when their settings did not change.  *kept: how many. */
static struct loop_gen *
gen_new(struct loop *lp, struct runtime *rt, const struct loop_gen *prev,
    size_t *kept)
{
	const struct config *c = rt->cfg;
	const struct config *pc = prev != NULL ? prev->rt->cfg : NULL;
	struct loop_gen *g = xcalloc(1, sizeof(*g));
	struct upstream_spec sp;

	*kept = 0;
	g->rt = runtime_ref(rt);
	g->refs = 1;
	g->server_pools = xcalloc(c->nservers, sizeof(*g->server_pools));
	g->partner_pools = xcalloc(c->npartners, sizeof(*g->partner_pools));
	for (size_t i = 0; i < c->nservers; i++) {
		spec_for_server(c, &c->servers[i], rt->server_ctx[i], &sp);
		memcpy(sp.tls_sum, rt->server_tls_sum[i], sizeof(sp.tls_sum));
		sp.stats = &lp->stats;
		sp.ejected = rt->server_ejected[i];
		sp.route_slot = rt->server_slot[i];
		g->server_pools[i] = gen_pool(lp, prev ? prev->server_pools : NULL,
		    pc ? pc->nservers : 0, &sp, kept);
	}
	for (size_t i = 0; i < c->npartners; i++) {
		spec_for_partner(c, &c->partners[i], rt->partner_ctx[i], &sp);
		memcpy(sp.tls_sum, rt->partner_tls_sum[i], sizeof(sp.tls_sum));
		sp.stats = &lp->stats;
		sp.ejected = rt->partner_ejected[i];
		sp.route_slot = rt->partner_slot[i];
		g->partner_pools[i] = gen_pool(lp, prev ? prev->partner_pools : NULL,
		    pc ? pc->npartners : 0, &sp, kept);
	}
	return g;
}

static bool
holds(struct upstream_pool **pools, size_t n, const struct upstream_pool *p)
{
	for (size_t i = 0; i < n; i++)
		if (pools[i] == p)
			return true;
	return false;
}

/* A newer generation took over: idle connections of the pools it did not
 * take close now, busy ones when their request ends. */
static void
gen_retire(struct loop_gen *g, const struct loop_gen *next)
{
	const struct config *c = g->rt->cfg, *nc = next->rt->cfg;

	for (size_t i = 0; i < c->nservers; i++)
		if (!holds(next->server_pools, nc->nservers, g->server_pools[i]))
			upstream_pool_retire(g->server_pools[i]);
	for (size_t i = 0; i < c->npartners; i++)
		if (!holds(next->partner_pools, nc->npartners, g->partner_pools[i]))
			upstream_pool_retire(g->partner_pools[i]);
}

struct loop_gen *
loop_gen_get(struct loop *lp)
{
	lp->cur->refs++;
	return lp->cur;
}

void
loop_gen_put(struct loop *lp, struct loop_gen *g)
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
	if (g->rt->generation != lp->cur->rt->generation)
		log_debug("worker %u: generation %u released", lp->index,
		    g->rt->generation);
	runtime_unref(g->rt);
	free(g);
}

const struct config *
loop_config(const struct loop *lp)
{
	return lp->cur->rt->cfg;
}

static void
free_stack(struct parser_stack *st)
{
	for (size_t i = 0; i < st->n; i++)
		h1_parser_free(st->v[i]);
	free(st->v);
	memset(st, 0, sizeof(*st));
}

/* Most spare parsers kept per kind: enough for the requests in flight of
 * a busy worker; more would only hold memory after a burst. */
#define SPARE_MAX 1024
/* Response heads may be larger than what clients are allowed. */
#define RESP_HEAD_MAX (64 * 1024)

struct h1_parser *
loop_take_parser(struct loop *lp, bool is_request)
{
	struct parser_stack *st = is_request ? &lp->spare_req : &lp->spare_resp;
	const struct config *c = loop_config(lp);

	if (st->n > 0)
		return st->v[--st->n];
	if (is_request)
		return h1_parser_new(H1_REQUEST, c->limits.max_header_bytes,
		    c->limits.max_header_fields);
	return h1_parser_new(H1_RESPONSE, RESP_HEAD_MAX, 1000);
}

void
loop_give_parser(struct loop *lp, struct h1_parser *p, bool is_request)
{
	struct parser_stack *st = is_request ? &lp->spare_req : &lp->spare_resp;

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
loop_session_gone(struct loop *lp)
{
	if (lp->draining && lp->nsessions == 0 && lp->ppwaits == NULL)
		event_base_loopbreak(lp->base);
}


void
loop_init(struct loop *lp, unsigned index, struct event_base *base,
    struct runtime *rt, struct loop_shared *sh)
{
	size_t kept;

	memset(lp, 0, sizeof(*lp));
	lp->index = index;
	lp->base = base;
	lp->shared = sh;
	if (getrandom(&lp->id_prefix, sizeof(lp->id_prefix), 0) !=
	    (ssize_t)sizeof(lp->id_prefix))
		lp->id_prefix = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	lp->cur = gen_new(lp, rt, NULL, &kept);
}

void
loop_set_runtime(struct loop *lp, struct runtime *rt)
{
	struct loop_gen *old = lp->cur;
	size_t kept;

	lp->cur = gen_new(lp, rt, old, &kept);
	gen_retire(old, lp->cur);
	log_info("worker %u: generation %u keeps %zu of %zu upstream pools warm",
	    lp->index, rt->generation, kept,
	    rt->cfg->nservers + rt->cfg->npartners);
	/* Spare parsers carry the old header limits. */
	free_stack(&lp->spare_req);
	free_stack(&lp->spare_resp);
	loop_gen_put(lp, old);
}

void
loop_fini(struct loop *lp)
{
	loop_gen_put(lp, lp->cur);
	lp->cur = NULL;
	free_stack(&lp->spare_req);
	free_stack(&lp->spare_resp);
	field_list_free(&lp->upfields);
	field_list_free(&lp->downfields);
}
