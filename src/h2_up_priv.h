/*
 * h2_up_priv.h: what the two files of the upstream HTTP/2 module share:
 * h2_up.c (the session: frames in, heads, data and ends told to the
 * streams' owners, frames out) and h2_up_stream.c (a stream's request:
 * HEADERS from the neutral request, the body as DATA with its replay
 * copy, windows reopened as the owner consumes).
 */
#ifndef MCX_H2_UP_PRIV_H
#define MCX_H2_UP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "h2_up.h"

struct conn;
struct evbuffer;

/* A stream's request body bytes kept for a retry, at most: beyond it a
 * stream the server refused cannot go again. */
#define REPLAY_MAX	(64 * 1024)
/* Request body bytes queued per stream before its owner must wait. */
#define BODY_OUT_HIGH	(256 * 1024)
/* The session stops producing frames while the connection's output
 * holds this much (the connection's write callback resumes it). */
#define CONN_OUT_HIGH	(256 * 1024)
#define MAX_HEAD_FIELDS	256

struct h2up {
	nghttp2_session *ng;
	struct conn *conn;
	const struct h2up_conn_ops *ops;
	void *arg;
	struct h2up_settings set;
	unsigned open;			/* streams submitted and not closed */
	int32_t goaway_last;		/* the server's GOAWAY said so */
	bool failed;
	/* Streams whose body output drained: told after the send pass. */
	struct h2up_stream *writable;
	/* Submitted and not closed: told when the connection breaks. */
	struct h2up_stream *streams;
	/* Streams with a head, bytes or an end to tell after the pass. */
	struct h2up_stream *news;
};

struct h2up_stream {
	struct h2up *s;
	int32_t id;			/* 0 until submitted */
	const struct h2up_stream_ops *ops;
	void *arg;
	struct evbuffer *in;		/* response body received */
	struct evbuffer *out;		/* request body to send */
	struct evbuffer *replay;	/* request body sent, or NULL */
	size_t replay_bytes;
	bool replay_lost;
	bool out_end;			/* out holds the last of the body */
	bool deferred;			/* the data source waits for bytes */
	bool head_request;
	bool final_head;		/* a final (>= 200) head arrived */
	bool ended;			/* on_end was told */
	bool closed;			/* nghttp2 closed it */
	bool notify;			/* on the session's writable list */
	struct h2up_stream *next_writable;
	bool on_news;			/* on the session's news list */
	struct h2up_stream *next_news;
	bool head_pending;		/* the final head waits in hv */
	bool hold;			/* ... until the body is complete */
	bool end_pending;		/* END_STREAM came */
	bool busy;			/* its owner is being told */
	bool freed;			/* ... and freed it meanwhile */
	struct h2up_stream *next, *prev;	/* the session's streams */
	/* The head being received: nghttp2's buffers (name, value, ...),
	 * kept until told. */
	nghttp2_rcbuf **hv;
	unsigned nhv, hvcap;
	bool head_overflow;
};

/* h2_up.c */
/* Takes a stream off its session's list of open streams. */
void	h2u_stream_unlink(struct h2up_stream *);
/* Lets go of the head fields being received. */
void	h2u_head_release(struct h2up_stream *);

/* h2_up_stream.c */
/* Frees the stream record (after h2up_stream_free, or its delivery). */
void	h2u_stream_release(struct h2up_stream *);

#endif
