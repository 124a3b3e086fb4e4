#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "readflow.h"

void
readflow_update(struct bufferevent *bev, bool *paused)
{
	size_t high = 0;
	size_t n = evbuffer_get_length(bufferevent_get_input(bev));
	SSL *ssl;

	(void)bufferevent_getwatermark(bev, EV_READ, NULL, &high);
	if (high != 0 && n >= high) {
		if (!*paused) {
			*paused = true;
			bufferevent_disable(bev, EV_READ);
		}
		return;
	}
	if (*paused) {
		*paused = false;
		bufferevent_enable(bev, EV_READ);
	}
	ssl = bufferevent_openssl_get_ssl(bev);	/* NULL: not TLS */
	if (ssl != NULL && SSL_has_pending(ssl) &&
	    (bufferevent_get_enabled(bev) & EV_READ))
		event_active(&bev->ev_read, EV_READ, 1);
}
