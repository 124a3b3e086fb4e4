/*
 * h2_up: HTTP/2 (RFC 9113) toward a server or partner proxy, on one
 * upstream connection: the nghttp2 client session, driven with our own
 * I/O (nghttp2_session_mem_recv over the connection's input, mem_send
 * batched into its output and flushed once), and the streams it carries.
 * No other module calls nghttp2 on the upstream side.
 *
 * The pool (upstream.c) owns sessions and asks them for room; an
 * exchange owns a stream: it submits the rewritten request, feeds the
 * request body, and hears of the response through h2up_stream_ops.
 * Response windows open only as the stream's owner says it consumed the
 * bytes (h2up_stream_consumed), so a client that reads slowly holds back
 * its own stream and no other, and a stream buffers at most its window.
 */
#ifndef MCX_H2_UP_H
#define MCX_H2_UP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct conn;
struct evbuffer;
struct field_list;
struct stats;

struct h2up;
struct h2up_stream;

/* RFC 9113 section 7 codes the owner may see. */
#define H2_NO_ERROR		0x0
#define H2_PROTOCOL_ERROR	0x1
#define H2_INTERNAL_ERROR	0x2
#define H2_REFUSED_STREAM	0x7
#define H2_CANCEL		0x8
/* Not a code on the wire: the connection broke under the stream. */
#define H2_CONNECTION_FAILED	0xffffffffu

/* What a stream's owner hears; every call may come from inside the
 * session's input processing (h2up_read). */
struct h2up_stream_ops {
	/* A response head, interim (status < 200) or final; rs and its
	 * fields last for the call. */
	void	(*on_head)(void *arg, const struct msg_response *rs);
	/* Body bytes are in h2up_stream_input(). */
	void	(*on_data)(void *arg);
	/* The response is complete; trailers (possibly none) last for the
	 * call. */
	void	(*on_end)(void *arg, const struct msg_field *trailers,
		    unsigned ntrailers);
	/* The stream ended before the response did: code is the RST_STREAM
	 * or GOAWAY code (or H2_CONNECTION_FAILED when the connection
	 * broke);
	 * unprocessed: the server did not process it (refused, or above a
	 * GOAWAY's last stream), so it may go again elsewhere. */
	void	(*on_close)(void *arg, uint32_t code, bool unprocessed);
	/* The request body may take more bytes (h2up_stream_body_out). */
	void	(*on_writable)(void *arg);
};

/* What the pool hears about a session. */
struct h2up_conn_ops {
	/* Streams finished or the server's limits changed: room may exist. */
	void	(*on_room)(void *arg);
	/* A PING was answered (the connection is alive). */
	void	(*on_pong)(void *arg);
};

struct h2up_settings {
	unsigned max_streams;		/* our cap on streams at once */
	unsigned window;		/* per-stream receive window */
	unsigned max_header_list;	/* response head bytes we accept */
	struct stats *stats;		/* GOAWAY and RST_STREAM counts */
};

/* A session on c, just connected: queues the preface and SETTINGS. */
struct h2up *h2up_new(struct conn *c, const struct h2up_settings *,
	    const struct h2up_conn_ops *, void *arg);
/* Frees the session; its streams must have been closed (h2up_fail). */
void	h2up_free(struct h2up *);
/*
 * Feeds the connection's input to the session and writes what it has
 * to send.  Returns false when the connection must close (protocol
 * error, or a GOAWAY after which no stream is left).
 */
bool	h2up_read(struct h2up *);
/* Writes whatever the session has queued (requests, DATA, window
 * updates, RST_STREAM) into the connection and flushes it. */
bool	h2up_flush(struct h2up *);
/* Fails every open stream (on_close, H2_CONNECTION_FAILED; unprocessed
 * when it never left, or is above the server's GOAWAY): the connection
 * broke. */
void	h2up_fail(struct h2up *);
/* How many more streams the session takes now (0 after a GOAWAY). */
unsigned h2up_room(const struct h2up *);
/* Streams open (submitted and not closed). */
unsigned h2up_open(const struct h2up *);
/* The server sent GOAWAY, or the session failed: no new streams. */
bool	h2up_going_away(const struct h2up *);
/* Sends a PING; the answer comes through on_pong. */
void	h2up_ping(struct h2up *);
/* Ends the session politely (GOAWAY NO_ERROR) when it carries nothing. */
void	h2up_goaway(struct h2up *);

/* A stream for ops/arg on session s, not yet submitted. */
struct h2up_stream *h2up_stream_new(struct h2up *s,
	    const struct h2up_stream_ops *, void *arg);
/*
 * Submits the request head: rq's method, authority and path as
 * pseudo-header fields (scheme https when tls), then fl's fields with
 * names in lower case, and content-length for a sized body.  end: no
 * body follows.  Returns false when the session refused it.
 */
bool	h2up_stream_submit(struct h2up_stream *, const struct msg_request *rq,
	    const struct field_list *fl, bool tls, bool end);
/* Where request body bytes go; h2up_stream_body_more() after adding. */
struct evbuffer *h2up_stream_body_out(struct h2up_stream *);
/* Bytes were added to body_out (end: that was the last of them). */
void	h2up_stream_body_more(struct h2up_stream *, bool end);
/* Response body bytes received and not yet taken. */
struct evbuffer *h2up_stream_input(struct h2up_stream *);
/* The owner took n bytes out of the input: the windows reopen by n. */
void	h2up_stream_consumed(struct h2up_stream *, size_t n);
/* Request body bytes sent so far, while they are all kept for a retry
 * (else NULL): a stream the server did not process goes again with
 * them. */
struct evbuffer *h2up_stream_replay(struct h2up_stream *);
/* Ends the stream: RST_STREAM CANCEL when it is still open, and no more
 * callbacks.  Frees it. */
void	h2up_stream_free(struct h2up_stream *);

#endif
