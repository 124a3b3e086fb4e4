/*
 * worker: one thread, one event loop.  A worker owns its listening
 * sockets (SO_REUSEPORT, so the kernel spreads connections) and its loop
 * (loop.h: sessions, upstream pools, counters); workers share only the
 * immutable runtime and a few atomic counters, so the request path takes
 * no lock.
 */
#ifndef MCX_WORKER_H
#define MCX_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct event;
struct listener;
struct runtime;

struct worker {
	unsigned index;
	pthread_t thread;
	struct loop loop;		/* its base, generation, sessions, stats */
	struct listener **listeners;	/* per listener of the loop's config */
	size_t nlisteners;
	/*
	 * Messages from the main thread: flags and a pending generation set
	 * there, then a write to the eventfd wakes this worker's loop.
	 */
	int wake_fd;
	struct event *wake_ev;
	atomic_bool stop_requested;
	atomic_bool leave_requested;	/* drain_grace began */
	bool left;			/* ...and this loop acted on it */
	_Atomic(struct runtime *) next_rt;	/* with next_fds; one at a time */
	int *next_fds;
	atomic_uint applied;		/* generation this worker now serves */
	struct event *drain_timer;
};

/* Creates the worker on rt (taking a reference) with its listening
 * sockets fds (listener_sockets_open: this worker's, one per listener,
 * owned from now).  Returns NULL after logging. */
struct worker *worker_new(unsigned index, struct runtime *rt, const int *fds,
	    struct loop_shared *);
/* Runs the loop in a new thread. */
int	worker_start(struct worker *);
/* From any thread: stop accepting, finish in-flight requests within
 * timeouts.drain, then end the loop. */
void	worker_stop(struct worker *);
/* From any thread: timeouts.drain_grace began (loop_shared.leaving is
 * set): HTTP/2 clients get a graceful GOAWAY now, as HTTP/1.1 responses
 * close their connections, so that they move to other instances. */
void	worker_leave(struct worker *);
/*
 * From the main thread: serve rt (a reference is taken) from now on.
 * fds: this worker's sockets for rt's listeners, -1 where the running
 * configuration has the address already (nlisteners of rt's config,
 * copied).  The worker applies it in its own loop and then sets
 * `applied` to rt->generation; call again only after that.
 */
void	worker_reload(struct worker *, struct runtime *rt, const int *fds);
void	worker_join(struct worker *);
void	worker_free(struct worker *);

#endif
