#include <event2/event.h>

#include "evbase.h"

void
evbase_free(struct event_base *base)
{
	if (base == NULL)
		return;
	/*
	 * A non-blocking loop polls once, moves the queued deferred callbacks
	 * to the active queue and runs active callbacks until none is left: a
	 * bufferevent whose last reference goes in one of them queues its
	 * finalizer, which runs in the same loop (or, at the latest, in
	 * event_base_free()).
	 */
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}
