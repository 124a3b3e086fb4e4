/*
 * exchange: one request's trip through the proxy, allocated per request.
 * It routes the request (policy_decide), leases a stream toward the chosen
 * server or partner from its upstream pool (for HTTP/1.1, a connection
 * of its own), sends the rewritten head, pumps the request body up and
 * the response down under back-pressure, and gives the stream back.
 *
 * It knows its client side only through struct exchange_client_ops (send
 * a head, send body bytes, end, fail, abort; the request body), and the
 * request as a neutral message (msg.h), so the HTTP/1.1 session
 * (session.c) and each stream of an HTTP/2 connection (h2_down.c) are
 * client sides alike, and tests drive an exchange with a fake one.  The client side
 * owns the exchange: it creates it, tells it when the client became
 * readable or writable, and frees it; an exchange never frees itself.
 */
#ifndef MCX_EXCHANGE_H
#define MCX_EXCHANGE_H

#include <time.h>

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "h1.h"
#include "msg.h"

struct evbuffer;
struct h1_parser;
struct loop;
struct loop_gen;
struct upstream_pool;
struct upstream_spec;
struct upstream_stream;

/* The marks both sides use: each input stops reading at IN_HIGH bytes,
 * and bytes move toward a peer only while its output holds less than
 * OUT_HIGH (the write callback, at OUT_HIGH / 2, resumes the move). */
#define IN_HIGH		(64 * 1024)
#define OUT_HIGH	(256 * 1024)

/*
 * What the exchange asks of its client side.  After end, fail or abort
 * the exchange does nothing more: the client side may free it from
 * within the call, or keep it and later call exchange_drop_upstream()
 * and exchange_free() (the only calls still allowed on it).
 */
struct exchange_client_ops {
	/*
	 * Moves request body bytes into out while it holds less than limit:
	 * chunk-coded when chunked and the body is streamed (msg_request's
	 * MSG_BODY_STREAM), else bare; *payload counts the body's bytes.
	 * H1_DONE at the body's end; H1_ERROR with *status and *why set
	 * (the answer: the body broke its framing).
	 */
	enum h1_status (*body)(void *arg, struct evbuffer *out, bool chunked,
		    size_t limit, uint64_t *payload, unsigned *status,
		    const char **why);
	/* The exchange took what it could from input (reading pauses while
	 * the input is full and resumes below). */
	void	(*consumed)(void *arg);
	/* Writes a response head in the client's protocol: rs with the
	 * fields fl (already rewritten: headers_rewrite_response); interim
	 * when rs->status < 200; chunked: a streamed body's bytes will come
	 * chunk-encoded; close: the connection ends after this response.
	 * Neither rs nor fl outlives the call. */
	void	(*send_head)(void *arg, const struct msg_response *rs,
		    const struct field_list *fl, bool chunked, bool close);
	/* Where response body bytes go (framed as send_head said). */
	struct evbuffer *(*body_out)(void *arg);
	/* Sends what send_head and body_out queued. */
	void	(*flush)(void *arg);
	/* Idle limits: body_in while the request body is still coming,
	 * body_out while the response body goes out. */
	void	(*timeouts)(void *arg, bool body_in, bool body_out);
	/* body_out is full (OUT_HIGH): the client must take bytes in time. */
	void	(*stalled)(void *arg);
	/* The response is complete; x->close_after says whether the
	 * connection may carry another request. */
	void	(*end)(void *arg);
	/* No response was sent: answer with the proxy's own (status, detail
	 * for the body and the log, Retry-After seconds or 0). */
	void	(*fail)(void *arg, unsigned status, const char *detail,
		    unsigned retry_after);
	/* A response was half sent and cannot be finished. */
	void	(*abort)(void *arg, const char *detail);
	/* Trailer fields after the response body, for a client protocol
	 * that frames them itself (HTTP/2); NULL: the client side has no
	 * such frames (HTTP/1.1 gets them in the last chunk).  Called
	 * before end; the fields last for the call. */
	void	(*trailers)(void *arg, const struct msg_field *fields,
		    unsigned n);
};

/* Who sent the request, as policy and header rewriting need it.  The
 * strings belong to the client side and outlive the exchange. */
struct exchange_client {
	const struct exchange_client_ops *ops;
	void *arg;
	enum listener_role role;
	const struct partner_conf *partner;	/* partner listener: who */
	bool tls;			/* the client connection is TLS */
	const char *peer;		/* "address:port", for logs */
	const char *peer_host;		/* address, for forwarding fields */
	const char *peer_id;		/* authenticated identity, "" if none */
	/* The client's protocol frames response bodies itself (HTTP/2):
	 * never chunked by the exchange, never close-delimited. */
	bool framed;
};

/* How a request came, beside the message. */
struct exchange_request {
	const char *target_error;	/* unreadable target: why (400) */
	bool close;			/* the client ends the connection after */
	bool h11;			/* an HTTP/1.1 client: chunked bodies
					   and interim responses */
};

enum exchange_state {
	X_NEW,		/* created; routing, or a record of the proxy's answer */
	X_CONNECT,	/* waiting for a new upstream connection */
	X_FORWARD,	/* request up, response down */
	X_DONE,		/* answered (end, fail or abort was called) */
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
	unsigned magic;
	enum exchange_state state;
	struct loop *lp;
	struct exchange_client cl;
	/* The generation current when the exchange began: its routes and
	 * pools serve this request, whatever a reload does meanwhile.  Kept
	 * (and so the strings below) as long as the exchange. */
	struct loop_gen *g;
	struct h1_parser *resp_parser;	/* the loop's, while the exchange lives */
	uint64_t seq;			/* request number in this loop */
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
	struct upstream_stream *up;	/* the leased stream */
	unsigned attempts;
	bool retried;
	enum req_state req;
	enum resp_state resp;
	bool up_eof;
	bool h2;			/* the route's pool speaks HTTP/2 */
	const char *up_proto;		/* its ALPN name, for the log */
	struct evbuffer *replay;	/* HTTP/2 body sent, for a retry */
	const void *avoid;		/* ... not on the connection that refused */
	bool client_h11;		/* HTTP/1.1 client (or HTTP/2) */
	const char *target_error;
	bool client_chunked;
	bool chunk_out;			/* response bytes go chunked */
	bool resp_none;			/* the response has no body */
	bool close_after;		/* the client connection ends after it */
	bool sent_to_client;		/* some response byte went to the client */
	bool logged;
	unsigned status;
	uint64_t req_bytes;
	uint64_t resp_bytes;
	const char *note;		/* why it failed, for the log */
};

/* A new exchange on lp: request id, start time, and a reference to the
 * current generation.  cl is copied. */
struct exchange *exchange_new(struct loop *, const struct exchange_client *cl);
/*
 * The request rq (its spans must last as long as the exchange; its body,
 * if any, comes through the client's body op) is routed and forwarded.
 * May call the client's fail before it returns.
 */
void	exchange_begin(struct exchange *, const struct msg_request *rq,
	    const struct exchange_request *how);
/* The client sent more bytes (the request body, or a pipelined request
 * that waits). */
void	exchange_client_readable(struct exchange *);
/* The client took response bytes: more may move. */
void	exchange_client_writable(struct exchange *);
/* Gives the upstream stream back as not reusable (the client side is
 * answering or closing on its own). */
void	exchange_drop_upstream(struct exchange *);
/* The request id ("<prefix><loop><seq>", hex), formatted on first use. */
const char *exchange_id(struct exchange *);
/* Milliseconds since t0 (CLOCK_MONOTONIC). */
double	exchange_ms_since(const struct timespec *t0);
/* Frees x: its stream, if still leased, closes; its generation and
 * response parser go back to the loop. */
void	exchange_free(struct exchange *);

#endif
