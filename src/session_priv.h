/*
 * session_priv.h: what the two files of the HTTP/1.1 client session
 * share: session.c (the connection: TLS handshake, states, deadlines,
 * keep-alive, drain, lingering close, the hand-over to HTTP/2) and
 * session_exchange.c (the request on it: the session as its exchange's
 * client side, the proxy's own answers, the access log line).
 */
#ifndef MCX_SESSION_PRIV_H
#define MCX_SESSION_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "addr.h"
#include "config.h"
#include "exchange.h"
#include "session.h"
#include "srclimit.h"

struct conn;
struct event;
struct h1_parser;
struct h2down;
struct loop_gen;

#define SESSION_MAGIC	0x73657331u	/* "ses1" */

enum session_state {
	S_HANDSHAKE,	/* TLS accept running; tls_handshake deadline */
	S_HEAD,		/* reading a request head; request_header deadline */
	S_EXCHANGE,	/* an exchange runs the request (exchange.h); the
			   timer is the send deadline (client_stalled) */
	S_IDLE,		/* keep-alive: waiting for the next request; client_idle */
	S_DRAIN,	/* flushing the last response, then close */
	S_LINGER,	/* response sent and closed for writing; discarding
			   what the client still sends, for LINGER_SECONDS */
	S_H2,		/* ALPN chose h2: h2_down runs the connection */
};

struct session {
	unsigned magic;
	enum session_state state;
	struct loop *lp;
	/* The generation the connection was accepted in: its listener
	 * settings (TLS, role, timeouts, limits) last as long as the
	 * connection. */
	struct loop_gen *g;
	const struct listener_conf *lc;
	struct conn *conn;		/* the client connection */
	struct event *timer;
	struct srclimit_ticket src;	/* limits.max_connections_per_source */
	char peer[ADDR_STRLEN];
	char peer_host[ADDR_STRLEN];
	char peer_id[128];		/* authenticated identity, "" if none */
	const struct partner_conf *partner;	/* partner listener: who it is */
	struct h1_parser *req;
	bool in_exchange;
	bool truncated;		/* a response was cut: close without close_notify */
	size_t lingered;	/* bytes discarded in S_LINGER */
	struct exchange *x;		/* the request in hand, or NULL */
	struct h2down *h2;		/* S_H2: the HTTP/2 session */
	bool linger;			/* close lingering (see linger()) */
	struct session *next, *prev;	/* the loop's list */
};

/* session.c */
struct session *session_checked(void *arg);
const struct config *session_cfg(const struct session *);
const char *session_role_name(enum listener_role);
SSL	*session_ssl(const struct session *);
void	session_arm_timer(struct session *, double seconds);
/* The one teardown path (see session.c). */
void	session_close(struct session *, const char *reason);
void	session_start_drain(struct session *);
void	session_keep_alive(struct session *);
void	session_input_consumed(struct session *);

/* session_exchange.c */
extern const struct exchange_client_ops session_xops;
/* The head is in: a new exchange takes the request. */
void	session_begin_exchange(struct session *);
void	session_free_exchange(struct session *);
/* An exchange is over: its counters and access log line. */
void	session_log(struct session *, struct exchange *, enum http_proto);
void	session_log_exchange(struct session *);
/* The proxy's own answer (keeps the connection when it can). */
void	session_respond_error(struct session *, unsigned status,
	    const char *detail, unsigned retry_after);

#endif
