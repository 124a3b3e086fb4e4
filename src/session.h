/*
 * session: one client connection and the requests on it.  It owns the
 * client connection (conn.h: the socket, the TLS state, the buffers), the
 * session timer and the current exchange (request id, route, upstream
 * connection, byte counts).  Requests on a connection are handled one at
 * a time, so pipelined requests are answered in order; the bytes of the
 * next request wait in the (bounded) input buffer.
 */
#ifndef MCX_SESSION_H
#define MCX_SESSION_H

#include <sys/socket.h>

#include <stddef.h>

struct srclimit_ticket;
struct loop;
struct loop_gen;

/* Takes ownership of fd, and of the connection's per-source count. */
void	session_accept(struct loop *, size_t listener, int fd,
	    const struct sockaddr *, socklen_t, struct srclimit_ticket *);
/* The same for a connection accepted under generation g (a reference the
 * session takes over): listener indexes g's configuration.  For
 * connections that waited for their PROXY protocol header (ppaccept.h),
 * across a reload perhaps. */
void	session_accept_gen(struct loop *, struct loop_gen *g, size_t listener,
	    int fd, const struct sockaddr *, socklen_t, struct srclimit_ticket *);
/* Stopping: idle keep-alive connections close now; connections just
 * accepted (handshake, first request on its way) get that request; the
 * others close once their current response is complete; HTTP/2 ones get
 * a graceful GOAWAY. */
void	session_drain_all(struct loop *);
/* HTTP/2 connections get a graceful GOAWAY: a reload took effect, or the
 * proxy is leaving (timeouts.drain_grace). */
void	session_h2_goaway(struct loop *);
/* Closes every session now (the drain deadline passed). */
void	session_close_all(struct loop *);

#endif
