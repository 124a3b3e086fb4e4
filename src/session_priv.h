/*
 * session_priv: the session and exchange structures, shared by session.c
 * (the client connection: TLS, request heads, timers, errors, teardown)
 * and exchange.c (one request's trip: routing, upstream connection, body
 * and response pumping).  Nothing else includes this file.
 */
#ifndef MCX_SESSION_PRIV_H
#define MCX_SESSION_PRIV_H

#include <time.h>

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "headers.h"
#include "srclimit.h"

struct conn;
struct event;
struct h1_parser;
struct upstream_conn;
struct upstream_pool;
struct upstream_spec;
struct loop;
struct loop_gen;

#define SESSION_MAGIC	0x73657331u	/* "ses1" */
#define IN_HIGH		(64 * 1024)	/* read watermark of each input */
#define OUT_HIGH	(256 * 1024)	/* most bytes queued toward a peer */

enum session_state {
	S_HANDSHAKE,	/* TLS accept running; tls_handshake deadline */
	S_HEAD,		/* reading a request head; request_header deadline */
	S_CONNECT,	/* waiting for a new upstream connection */
	S_FORWARD,	/* request up, response down */
	S_IDLE,		/* keep-alive: waiting for the next request; client_idle */
	S_DRAIN,	/* flushing the last response, then close */
	S_LINGER,	/* response sent and closed for writing; discarding
			   what the client still sends, for LINGER_SECONDS */
};

enum req_state {
	RQ_BODY,	/* request body still coming */
	RQ_DONE,
};

enum resp_state {
	RS_HEAD,	/* waiting for the (final) response head */
	RS_BODY,
	RS_DONE,
};

struct exchange {
	/* The generation current when the head arrived: its routes and
	 * pools serve this request, whatever a reload does meanwhile.  Kept
	 * (and so the strings below) as long as the exchange. */
	struct loop_gen *g;
	uint64_t seq;			/* request number in this worker */
	char id[24];			/* seq formatted, when first needed */
	struct timespec t_start;	/* CLOCK_MONOTONIC */
	double upstream_ms;		/* until the response head, or -1 */
	const char *target_name;	/* the upstream target last used */
	struct msg_request rq;		/* the request, protocol-neutral */
	char host[256];
	const char *route_name;
	unsigned route_slot;		/* metrics label; STATS_ROUTE_NONE */
	struct upstream_pool *pool;
	const struct upstream_spec *spec;
	bool to_partner;
	struct upstream_conn *uc;
	struct evbuffer *head;		/* the upstream request head (s->uphead) */
	unsigned attempts;
	bool retried;
	enum req_state req;
	enum resp_state resp;
	bool up_eof;
	bool client_chunked;
	bool close_after;
	bool sent_to_client;		/* some response byte went to the client */
	bool logged;
	unsigned status;
	uint64_t req_bytes;
	uint64_t resp_bytes;
	const char *note;		/* why it failed, for the log */
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
	struct h1_parser *resp;
	struct evbuffer *uphead;	/* reused for every request's head */
	bool in_exchange;
	bool truncated;		/* a response was cut: close without close_notify */
	size_t lingered;	/* bytes discarded in S_LINGER */
	struct exchange *x;		/* the request in hand, or NULL */
	struct session *next, *prev;	/* the worker's list */
};

/* session.c */
struct session *session_checked(void *arg);	/* aborts on a freed session */
const struct config *session_cfg(const struct session *);
void	session_arm_timer(struct session *, double seconds);
double	session_ms_since(const struct timespec *);
/* A request begins (in_exchange): its exchange, with a request id and
 * its start time.  It lives until keep-alive or the close. */
struct exchange *session_new_exchange(struct session *);
void	session_log_exchange(struct session *);
/* Answers with the proxy's own response (status, detail for the body and
 * the log, Retry-After seconds or 0). */
void	session_respond_error(struct session *, unsigned status,
	    const char *detail, unsigned retry_after);
void	session_process_head(struct session *);
/* The exchange is complete and the connection stays: wait for the next
 * request (or take the pipelined one already buffered). */
void	session_keep_alive(struct session *);
void	session_start_drain(struct session *);
/* The session took bytes from its input, or could not take any: reading
 * pauses while the input is full and resumes below (conn_input_consumed). */
void	session_input_consumed(struct session *);
/* The response is half sent and cannot be finished: flush what is queued,
 * then close so that the cut cannot pass for a complete response. */
void	session_abort(struct session *, const char *detail);
/* The one teardown path; s is freed. */
void	session_close(struct session *, const char *reason);

/* exchange.c */
/* A request head is complete: route it and start forwarding. */
void	exchange_begin(struct session *);
void	exchange_pump_request(struct session *);
void	exchange_pump_response(struct session *);
extern const struct upstream_ops exchange_upstream_ops;

#endif
