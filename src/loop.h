/*
 * loop: what the connections of one worker's event loop share — the
 * event base, the configuration generation they serve (with its upstream
 * pools), spare parsers, request ids, counters and the list of live
 * sessions.  The worker (worker.c) owns a loop and the thread that runs
 * it; sessions, exchanges and listeners use the loop and know nothing of
 * threads, reloads or wake-ups.
 */
#ifndef MCX_LOOP_H
#define MCX_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "stats.h"

struct config;
struct event_base;
struct h1_parser;
struct ppwait;
struct runtime;
struct session;
struct srclimit;
struct upstream_pool;

/* Parsers not in use, kept for the next request (see loop_take_parser). */
struct parser_stack {
	struct h1_parser **v;
	size_t n, cap;
};

/*
 * One loop's share of a configuration generation: the runtime and the
 * upstream pools built from it.  The count is the loop's own (no
 * atomics): the loop holds one reference while the generation is
 * current, each session one for the listener settings it was accepted
 * with, and each request one for the route and pool it was given.  A
 * reload retires the current generation: the next one takes over the
 * pools whose settings did not change (a pool is held by every
 * generation that has it), the others' idle connections close; the last
 * reference frees it.
 */
struct loop_gen {
	struct runtime *rt;		/* one reference */
	struct upstream_pool **server_pools;	/* per config server */
	struct upstream_pool **partner_pools;	/* per config partner */
	unsigned refs;
};

/* Counters shared by all loops. */
struct loop_shared {
	atomic_uint connections;	/* client connections open now */
	struct srclimit *srclimit;	/* ... per source address */
	atomic_uint workers_done;	/* worker loops that have ended */
	/* SIGTERM seen: during timeouts.drain_grace the loops still accept,
	 * but each response closes its HTTP/1.1 connection, so clients move
	 * to other instances before the drain closes idle connections. */
	atomic_bool leaving;
};

struct loop {
	unsigned index;			/* the worker's */
	struct event_base *base;
	struct loop_gen *cur;		/* what new connections and requests use */
	struct loop_shared *shared;
	struct session *sessions;	/* every live session, for draining */
	size_t nsessions;
	struct ppwait *ppwaits;		/* waiting for a PROXY header (ppaccept.h) */
	struct parser_stack spare_req;	/* request parsers */
	struct parser_stack spare_resp;	/* response parsers */
	struct field_list upfields;	/* each upstream request head's, in turn */
	struct field_list downfields;	/* each client response head's, in turn */
	uint64_t seq;			/* request ids */
	uint32_t id_prefix;
	bool draining;			/* accepting nothing; ends when empty */
	struct stats stats;		/* written by this loop's thread only */
};

/* Sets up lp on base, serving rt (a reference is taken). */
void	loop_init(struct loop *, unsigned index, struct event_base *,
	    struct runtime *rt, struct loop_shared *);
/* Frees what loop_init and use allocated (not the base, not sessions). */
void	loop_fini(struct loop *);
/* Serves rt (a reference is taken) from now on; the old generation lives
 * while requests and sessions hold it. */
void	loop_set_runtime(struct loop *, struct runtime *rt);
/* The current generation, with a reference for the caller. */
struct loop_gen *loop_gen_get(struct loop *);
void	loop_gen_put(struct loop *, struct loop_gen *);
const struct config *loop_config(const struct loop *);

/* Draining, or about to (loop_shared.leaving): no more keep-alive. */
static inline bool
loop_leaving(const struct loop *lp)
{
	return lp->draining || atomic_load_explicit(&lp->shared->leaving,
	    memory_order_relaxed);
}

/*
 * Parsers (with their head buffers) are lent to a connection while it has
 * a request in hand and come back when it goes idle, so thousands of idle
 * keep-alive connections hold none, and a busy loop allocates none per
 * request.  take returns a reset parser; give resets it.  is_request
 * selects the request or the response kind.
 */
struct h1_parser *loop_take_parser(struct loop *, bool is_request);
void	loop_give_parser(struct loop *, struct h1_parser *, bool is_request);

/* Called by session.c after a session is gone (and by ppaccept.c after a
 * connection waiting for its PROXY header): a draining loop ends with the
 * last one. */
void	loop_session_gone(struct loop *);

#endif
