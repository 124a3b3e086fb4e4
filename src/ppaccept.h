/*
 * ppaccept: connections accepted on a proxy_protocol listener, from a
 * balancer, waiting for their PROXY protocol header (proxyproto.h) before
 * anything else (TLS or HTTP) is read.  The header is read with exactly
 * the bytes it spans, never one more, so what follows is the session's;
 * within timeouts.proxy_header.  Then the carried client address is
 * checked (allow, when proxy_from names the balancers;
 * limits.max_connections_per_source) and the connection becomes a session
 * with that address as its peer, everywhere (logs, forwarding fields,
 * limits).  Bad, late or cut headers close the connection and are
 * counted by kind.
 */
#ifndef MCX_PPACCEPT_H
#define MCX_PPACCEPT_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>

struct listener_conf;
struct loop;

/* True when sa may send PROXY headers to listener lc (a balancer). */
bool	ppaccept_from_balancer(const struct listener_conf *lc,
	    const struct sockaddr *sa);
/* Takes ownership of fd, accepted from the balancer sa on listener li of
 * the loop's current generation; counts it in the loop's connections. */
void	ppaccept_start(struct loop *, size_t li, int fd,
	    const struct sockaddr *sa, socklen_t salen);
/* Closes every connection still waiting (the drain deadline passed).  A
 * drain lets them finish their header (bounded by timeouts.proxy_header)
 * and become sessions, served like other connections just accepted. */
void	ppaccept_close_all(struct loop *);

#endif
