#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "readflow.h"

void
readflow_update(struct bufferevent *bev, bool *paused)
{
	size_t high = 0;
	size_t n = evbuffer_get_length(bufferevent_get_input(bev));

	(void)bufferevent_getwatermark(bev, EV_READ, NULL, &high);
	if (high != 0 && n >= high) {
		if (!*paused) {
			*paused = true;
			bufferevent_disable(bev, EV_READ);
		}
	} else if (*paused) {
		*paused = false;
		bufferevent_enable(bev, EV_READ);
	}
}
