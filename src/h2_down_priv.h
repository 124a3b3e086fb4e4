/*
 * h2_down_priv.h: what the two files of the client-side HTTP/2 module
 * share: h2_down.c (the session: frames in and out, defences, GOAWAY)
 * and h2_down_stream.c (each stream as its exchange's client side:
 * the request from its head, the body, the response's frames).
 */
#ifndef MCX_H2_DOWN_PRIV_H
#define MCX_H2_DOWN_PRIV_H

#include <time.h>

#include <stdbool.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "exchange.h"
#include "h2_down.h"

struct event;
struct evbuffer;

#define H2DOWN_MAGIC	0x68326431u	/* "h2d1" */
struct h2d_stream;

struct h2down {
	unsigned magic;
	nghttp2_session *ng;
	struct loop *lp;
	struct conn *conn;
	const struct config *cfg;
	struct exchange_client cl;	/* the template of each stream's */
	const struct h2down_ops *ops;
	void *arg;
	struct event *flush_ev;		/* deferred send */
	bool flush_scheduled;
	struct event *idle_timer;	/* no stream open: client_idle */
	struct h2d_stream *streams;	/* every stream object */
	struct h2d_stream *writable;	/* streams whose output drained */
	unsigned nopen;			/* streams nghttp2 has open */
	unsigned total;			/* streams begun */
	unsigned pass_new;		/* ... in this input pass */
	unsigned empty;			/* empty frames received */
	unsigned pings, settings;	/* PING and SETTINGS received */
	time_t ctl_sec;			/* ... the second being counted */
	double rst_tokens;		/* resets the client may still send */
	struct timeval rst_at;		/* ... as of then */
	unsigned ctl_n;			/* ... and how many in it */
	bool going_away;		/* GOAWAY sent: ends when idle */
	bool notice;			/* ... the first of two (drain) */
	bool ours;			/* the GOAWAY being sent is ours */
	bool failed;
	bool finished;			/* done() was called */
};

struct h2d_stream {
	struct h2down *d;
	int32_t id;
	struct exchange *x;		/* while the request runs */
	/* The request head: nghttp2's buffers (name, value, ...), kept as
	 * long as the stream (the exchange's message points into them). */
	nghttp2_rcbuf **hv;
	unsigned nhv, hvcap;
	size_t hbytes;
	bool too_big;			/* over the header limits: 431 */
	struct msg_field *fields;
	char *cookie;			/* the cookie crumbs joined */
	nghttp2_nv *trailer_nv;		/* trailers to send after the body */
	char *trailer_mem;
	size_t ntrailer;
	struct evbuffer *in;		/* request body received */
	bool in_end;			/* END_STREAM came */
	bool chunk_done;		/* last chunk written (chunked up) */
	struct evbuffer *out;		/* response body to send */
	bool out_end;
	bool deferred;			/* the data source waits */
	bool closed;			/* nghttp2 closed it */
	bool notify;			/* on the writable list */
	struct h2d_stream *next_writable;
	/* The stream's deadline: the request body must keep coming, and
	 * a full output must drain, each within client_idle. */
	struct event *timer;
	bool body_in;			/* ... the body is awaited */
	bool head_req;			/* HEAD: answers carry no body */
	struct h2d_stream *next, *prev;
};

/* h2_down.c */
/* A send pass soon, from the loop: frames of many streams together. */
void	h2d_schedule_flush(struct h2down *);

/* h2_down_stream.c */
extern const struct exchange_client_ops h2d_stream_xops;
/* The request head of st is complete: an exchange takes it. */
void	h2d_begin_request(struct h2down *, struct h2d_stream *,
	    bool end_stream);
/* The stream's deadline, seconds from now. */
void	h2d_stream_arm(struct h2d_stream *, double seconds);
/* The stream's exchange is over: logged and freed. */
void	h2d_stream_done(struct h2d_stream *);
/* Lets go of trailers not sent. */
void	h2d_trailers_free(struct h2d_stream *);
/* Frees the stream record (nghttp2 is done with it). */
void	h2d_stream_free(struct h2d_stream *);

#endif
