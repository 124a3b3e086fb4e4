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

#include "headers.h"
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

/*
 * One worker's share of a configuration generation: the runtime and the
 * upstream pools built from it.  The count is the worker's own (no
 * atomics): the worker holds one reference while the generation is
 * current, each session one for the listener settings it was accepted
 * with, and each request one for the route and pool it was given.  A
 * reload retires the current generation (its idle upstream connections
 * close); the last reference frees it.
 */
struct worker_gen {
	struct runtime *rt;		/* one reference */
	struct upstream_pool **server_pools;	/* per config server */
	struct upstream_pool **partner_pools;	/* per config partner */
	unsigned refs;
};

/* Counters shared by all workers. */
struct worker_shared {
	atomic_uint connections;	/* client connections open now */
	struct srclimit *srclimit;	/* ... per source address */
	atomic_uint workers_done;	/* worker loops that have ended */
};

struct worker {
	unsigned index;
	pthread_t thread;
	struct event_base *base;
	struct worker_gen *cur;		/* what new connections and requests use */
	struct worker_shared *shared;
	struct listener **listeners;	/* per listener of cur's config */
	size_t nlisteners;
	struct session *sessions;	/* every live session, for draining */
	size_t nsessions;
	struct parser_stack spare_req;	/* request parsers */
	struct parser_stack spare_resp;	/* response parsers */
	struct field_list upfields;	/* each upstream request head's, in turn */
	uint64_t seq;			/* request ids */
	uint32_t id_prefix;
	bool draining;
	struct stats stats;		/* written by this worker only */
	/*
	 * Messages from the main thread: flags and a pending generation set
	 * there, then a write to the eventfd wakes this worker's loop.
	 */
	int wake_fd;
	struct event *wake_ev;
	atomic_bool stop_requested;
	_Atomic(struct runtime *) next_rt;	/* with next_fds; one at a time */
	int *next_fds;
	atomic_uint applied;		/* generation this worker now serves */
	struct event *drain_timer;
};

/* Creates the worker on rt (taking a reference) with its listening
 * sockets fds (listener_sockets_open: this worker's, one per listener,
 * owned from now).  Returns NULL after logging. */
struct worker *worker_new(unsigned index, struct runtime *rt, const int *fds,
	    struct worker_shared *);
/* Runs the loop in a new thread. */
int	worker_start(struct worker *);
/* From any thread: stop accepting, finish in-flight requests within
 * timeouts.drain, then end the loop. */
void	worker_stop(struct worker *);
/*
 * From the main thread: serve rt (a reference is taken) from now on.
 * fds: this worker's sockets for rt's listeners, -1 where the running
 * configuration has the address already (nlisteners of rt's config,
 * copied).  The worker applies it in its own loop and then sets
 * `applied` to rt->generation; call again only after that.
 */
void	worker_reload(struct worker *, struct runtime *rt, const int *fds);
/* The current generation, with a reference for the caller. */
struct worker_gen *worker_gen_get(struct worker *);
void	worker_gen_put(struct worker *, struct worker_gen *);
const struct config *worker_config(const struct worker *);
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
