/* worker: one thread, one event loop (see worker.h). */
#include <sys/eventfd.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bufpool.h"
#include "duration.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "ppaccept.h"
#include "runtime.h"
#include "session.h"
#include "ticket.h"
#include "worker.h"
#include "xalloc.h"

static void
close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		listener_free(w->listeners[i]);
		w->listeners[i] = NULL;
	}
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
			else if ((nl[i] = listener_new(&w->loop, i, &c->listeners[i],
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
	unsigned gen = rt->generation;

	if (w->loop.draining)
		listener_sockets_close(fds, c->nlisteners);
	else if (swap_listeners(w, c, fds) == 0) {
		loop_set_runtime(&w->loop, rt);
		session_h2_goaway(&w->loop);
	}
	else
		log_warnx("worker %u: keeps serving generation %u", w->index,
		    w->loop.cur->rt->generation);
	free(fds);
	runtime_unref(rt);	/* a generation took its own reference */
	atomic_store(&w->applied, gen);
}

static void
drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_warnx("worker %u: timeouts.drain passed; closing %zu connections",
	    w->index, w->loop.nsessions);
	ppaccept_close_all(&w->loop);
	session_close_all(&w->loop);
	event_base_loopbreak(w->loop.base);
}

static void
begin_drain(struct worker *w)
{
	struct timeval tv;
	double d = loop_config(&w->loop)->timeouts.drain;

	w->loop.draining = true;
	close_listeners(w);
	session_drain_all(&w->loop);
	if (w->loop.nsessions == 0 && w->loop.ppwaits == NULL) {
		event_base_loopbreak(w->loop.base);
		return;
	}
	log_info("worker %u: draining %zu connections (up to %.1fs)", w->index,
	    w->loop.nsessions, d);
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
	if (atomic_load(&w->leave_requested) && !w->left) {
		w->left = true;
		session_h2_goaway(&w->loop);
	}
	if (atomic_load(&w->stop_requested) && !w->loop.draining)
		begin_drain(w);
}

struct worker *
worker_new(unsigned index, struct runtime *rt, const int *fds,
    struct loop_shared *sh)
{
	const struct config *c = rt->cfg;
	struct worker *w = xcalloc(1, sizeof(*w));
	struct event_base *base = event_base_new();

	w->index = index;
	atomic_init(&w->stop_requested, false);
	atomic_init(&w->leave_requested, false);
	atomic_init(&w->next_rt, NULL);
	atomic_init(&w->applied, rt->generation);
	/*
	 * The only messages between threads are "stop" and "reload": an
	 * eventfd, so that libevent runs without its locks (no
	 * evthread_use_pthreads) and each event loop is touched by its own
	 * thread alone.
	 */
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (base == NULL || w->wake_fd < 0) {
		log_warn("worker %u: cannot create an event loop", index);
		listener_sockets_close(fds, c->nlisteners);
		if (base != NULL)
			event_base_free(base);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
		free(w);
		return NULL;
	}
	loop_init(&w->loop, index, base, rt, sh);
	w->wake_ev = event_new(base, w->wake_fd, EV_READ | EV_PERSIST,
	    wake_cb, w);
	event_add(w->wake_ev, NULL);
	w->drain_timer = evtimer_new(base, drain_deadline_cb, w);
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

	event_base_loop(w->loop.base, EVLOOP_NO_EXIT_ON_EMPTY);
	bufpool_thread_end();
	ticket_thread_end();
	atomic_fetch_add(&w->loop.shared->workers_done, 1);
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
worker_leave(struct worker *w)
{
	atomic_store(&w->leave_requested, true);
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
	ppaccept_close_all(&w->loop);
	session_close_all(&w->loop);
	close_listeners(w);
	free(w->listeners);
	/* A reload sent after the loop ended was never applied. */
	if ((pending = atomic_exchange(&w->next_rt, NULL)) != NULL) {
		listener_sockets_close(w->next_fds, pending->cfg->nlisteners);
		free(w->next_fds);
		runtime_unref(pending);
	}
	loop_fini(&w->loop);
	event_free(w->wake_ev);
	close(w->wake_fd);
	event_free(w->drain_timer);
	event_base_free(w->loop.base);
	free(w);
}
