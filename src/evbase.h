/*
 * evbase: the end of an event loop's life.
 *
 * libevent 2.1 frees a bufferevent in two steps: bufferevent_free() drops
 * a reference, and the memory goes when the last reference does, from the
 * loop.  A deferred callback still queued holds a reference (libevent
 * queues one itself, for example when reading is enabled on an input
 * already at its high watermark).  event_base_free() cancels queued
 * callbacks without running them, so such a bufferevent, with its buffers,
 * would never be freed.  evbase_free() lets the loop run what is queued
 * first.
 */
#ifndef MCX_EVBASE_H
#define MCX_EVBASE_H

struct event_base;

/*
 * Runs the callbacks already queued on base (deferred callbacks and the
 * finalizers they lead to), without waiting for I/O, then frees base.
 * Call it after every event of base was freed or deleted, so that nothing
 * but teardown work can run.
 */
void	evbase_free(struct event_base *base);

#endif
