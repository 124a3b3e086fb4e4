/*
 * h2_down: HTTP/2 (RFC 9113) toward a client, on a TLS connection whose
 * ALPN chose "h2": the nghttp2 server session, driven with our own I/O,
 * and its streams.  Each stream is one request: an exchange (exchange.h)
 * with the stream as its client side, so every rule of contract section
 * 4 applies to it exactly as to an HTTP/1.1 request.  No other module
 * calls nghttp2 on the client side.
 *
 * The HTTP/1.1 session (session.c) accepts the connection, runs the TLS
 * handshake and then hands the connection's events to this module; it
 * keeps the connection's bookkeeping and its one teardown path.
 *
 * Defences (counted in /metrics by kind): nghttp2's stream reset rate
 * limit (Rapid Reset) and a budget of new streams per input pass, its
 * CONTINUATION limit, its cap on queued ACKs (SETTINGS and PING floods),
 * a cap on empty DATA and HEADERS frames, and a budget of streams per
 * connection (then a graceful GOAWAY).  Header lists are bounded by
 * limits.max_header_bytes and limits.max_header_fields (431).
 */
#ifndef MCX_H2_DOWN_H
#define MCX_H2_DOWN_H

#include <stdbool.h>

struct conn;
struct config;
struct exchange;
struct exchange_client;
struct loop;

struct h2down;

/* What the module asks of the session that owns the connection. */
struct h2down_ops {
	/* A stream's exchange is over: its access log line and counters. */
	void	(*log)(void *arg, struct exchange *);
	/* The connection has nothing left to do: the session closes it
	 * (called from the loop, never from inside an h2down_* call). */
	void	(*done)(void *arg, const char *reason);
};

/*
 * Takes over the connection c (TLS handshake done, ALPN h2): its input
 * is read from now on by h2down_read.  cl describes the client for
 * every stream's exchange (its ops and arg are this module's); cfg is
 * the connection's generation's configuration.
 */
struct h2down *h2down_new(struct loop *, struct conn *c,
	    const struct config *cfg, const struct exchange_client *cl,
	    const struct h2down_ops *, void *arg);
/* Frees every stream (their exchanges are logged as cut, 499) and the
 * session; the connection stays the caller's. */
void	h2down_free(struct h2down *);
/* New bytes in the connection's input. */
void	h2down_read(struct h2down *);
/* The connection's output drained (more may be sent). */
void	h2down_write(struct h2down *);
/* A graceful end: GOAWAY (streams in flight finish), then done. */
void	h2down_drain(struct h2down *);
/* Streams open now. */
unsigned h2down_streams(const struct h2down *);

#endif
