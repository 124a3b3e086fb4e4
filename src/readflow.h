/*
 * readflow: a bufferevent stops reading while its input is full.
 *
 * libevent 2.1 suspends reading once the input reaches its high
 * watermark, but after every read callback that leaves the input at or
 * above the mark, with reading enabled, it queues the read callback again
 * (deferred).  A callback that cannot consume, because the other side of
 * the proxy is full, then runs again and again: a busy loop for as long
 * as that side stays full (a client reading a large response slowly).
 * So the owner disables reading itself while the input is full, and
 * enables it again once it consumed below the mark.
 *
 * bufferevent_openssl reads the socket only when it is readable.  When
 * reading stopped in the middle of a TLS record, the rest of that record's
 * plaintext waits inside OpenSSL while the socket, already drained, never
 * becomes readable again: the last bytes of a body (or the last pipelined
 * requests) would wait for ever.  So once reading is on again, a read is
 * forced while OpenSSL holds bytes.
 */
#ifndef MCX_READFLOW_H
#define MCX_READFLOW_H

#include <stdbool.h>

struct bufferevent;

/*
 * Call whenever the owner of bev consumed its input, or tried to and
 * could not: disables reading while the input is at or above the read
 * high watermark (setting *paused), enables it again once below (only if
 * this function disabled it), and forces a read while OpenSSL holds
 * plaintext.  No watermark, no pause.
 */
void	readflow_update(struct bufferevent *bev, bool *paused);

#endif
