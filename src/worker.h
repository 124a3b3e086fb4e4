/*
 * worker: one thread, one event loop.  A worker owns its listening
 * sockets (SO_REUSEPORT, so the kernel spreads connections), its sessions
 * and its upstream pools; workers share only the immutable runtime and a
 * few atomic counters, so the request path takes no lock.
 */
#ifndef MCX_WORKER_H
#define MCX_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct event;
struct event_base;
struct h1_parser;
struct listener;
struct runtime;
struct session;
struct upstream_pool;

/* Parsers not in use, kept for the next request (see worker_take_parser). */
struct parser_stack {
	struct h1_parser **v;
	size_t n, cap;
};

/* Counters shared by all workers. */
struct worker_shared {
	atomic_uint connections;	/* client connections open now */
	atomic_uint workers_done;	/* worker loops that have ended */
};

struct worker {
	unsigned index;
	pthread_t thread;
	struct event_base *base;
	const struct runtime *rt;
	struct worker_shared *shared;
	struct listener **listeners;	/* per config listener */
	struct upstream_pool **server_pools;	/* per config server */
	struct upstream_pool **partner_pools;	/* per config partner */
	struct session *sessions;	/* every live session, for draining */
	size_t nsessions;
	struct parser_stack spare_req;	/* request parsers */
	struct parser_stack spare_resp;	/* response parsers */
	uint64_t seq;			/* request ids */
	uint32_t id_prefix;
	bool draining;
	struct stats stats;		/* written by this worker only */
	int stop_fd;			/* eventfd written by worker_stop() */
	struct event *stop_ev;
	struct event *drain_timer;
};

/* Creates the worker and its listening sockets (bound now, so errors are
 * reported before privileges are dropped).  Returns NULL after logging. */
struct worker *worker_new(unsigned index, const struct runtime *,
	    struct worker_shared *);
/* Runs the loop in a new thread. */
int	worker_start(struct worker *);
/* From any thread: stop accepting, finish in-flight requests within
 * timeouts.drain, then end the loop. */
void	worker_stop(struct worker *);
void	worker_join(struct worker *);
void	worker_free(struct worker *);

/*
 * Parsers (with their head buffers) are lent to a connection while it has
 * a request in hand and come back when it goes idle, so thousands of idle
 * keep-alive connections hold none, and a busy worker allocates none per
 * request.  take returns a reset parser; give resets it.  is_request
 * selects the request or the response kind.
 */
struct h1_parser *worker_take_parser(struct worker *, bool is_request);
void	worker_give_parser(struct worker *, struct h1_parser *, bool is_request);

/* Called by session.c after a session is gone: a draining worker ends
 * its loop with the last one. */
void	worker_session_gone(struct worker *);

#endif
