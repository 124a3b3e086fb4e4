/*
 * h2_down: the nghttp2 server session of a client connection (see
 * h2_down.h).  nghttp2 validates what the client sends (RFC 9113 section
 * 8.2-8.3: field names, connection-specific fields, pseudo-header fields,
 * Content-Length against DATA) and resets a stream that breaks it with
 * PROTOCOL_ERROR before any callback of ours sees a request; this file
 * turns the requests it lets through into exchanges.
 *
 * Frames are produced only at safe points: at the end of an input pass,
 * when the connection drained, and from a deferred event that any stream
 * may schedule.  So no exchange ever sees its stream (or itself) freed by
 * a send it started, and the frames of many streams go out in one write.
 *
 * Windows: a request body's stream window reopens only as its bytes move
 * upstream; the connection's reopens as bytes arrive (as nginx does), so
 * a stuck upload never blocks the others, and what a client may have
 * buffered here is bounded by max_concurrent_streams x initial_window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "config.h"
#include "conn.h"
#include "duration.h"
#include "exchange.h"
#include "h1.h"
#include "h2_down.h"
#include "h2_down_priv.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "stats.h"
#include "xalloc.h"

/* Output the session may queue in the connection before it waits. */
#define CONN_OUT_HIGH	(256 * 1024)
/* Streams one connection may carry in all; then a graceful GOAWAY. */
#define STREAMS_PER_CONN	10000
/* Empty DATA (without END_STREAM), HEADERS and CONTINUATION frames a
 * connection may send: nothing legitimate sends any. */
#define EMPTY_FRAMES_MAX	32
/* SETTINGS and PING frames queued for an ACK at most. */
#define OUTBOUND_ACK_MAX	1000
/* SETTINGS and PING frames a client may send in one second (its ACKs
 * may all leave at once, so the queue cap alone would not see a flood
 * from a client that reads). */
#define CONTROL_PER_SEC		1000
/* Stream resets a client may send a second, beyond a burst as large as
 * two rounds of its concurrent streams (nghttp2's default rate). */
#define RESETS_PER_SEC		33

static struct h2d_stream *
stream_of(nghttp2_session *ng, int32_t id)
{
	return nghttp2_session_get_stream_user_data(ng, id);
}

/* --- defences --- */

/* Ends the connection: GOAWAY ENHANCE_YOUR_CALM, counted by kind. */
static void
calm(struct h2down *d, enum stats_h2_defence kind, const char *what)
{
	if (d->going_away && d->failed)
		return;
	stats_add(&d->lp->stats.h2_defences[kind], 1);
	log_info("session %s: HTTP/2 %s: GOAWAY ENHANCE_YOUR_CALM", d->cl.peer,
	    what);
	d->ours = true;
	nghttp2_session_terminate_session(d->ng, NGHTTP2_ENHANCE_YOUR_CALM);
	d->going_away = true;
	d->failed = true;
}

/* Takes a token for one more reset; false when none is left. */
static bool
reset_allowed(struct h2down *d, const struct timeval *now)
{
	double burst = 2.0 * d->cfg->limits.h2.max_concurrent_streams;
	double dt = (double)(now->tv_sec - d->rst_at.tv_sec) +
	    (double)(now->tv_usec - d->rst_at.tv_usec) / 1e6;

	d->rst_tokens += dt * RESETS_PER_SEC;
	if (d->rst_tokens > burst)
		d->rst_tokens = burst;
	d->rst_at = *now;
	if (d->rst_tokens < 1.0)
		return false;
	d->rst_tokens -= 1.0;
	return true;
}

static int
on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
	struct h2down *d = ud;
	bool ack = (hd->flags & NGHTTP2_FLAG_ACK) != 0;
	struct timeval now;

	(void)ng;
	switch (hd->type) {
	case NGHTTP2_DATA:
		if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM))
			d->empty++;
		break;
	case NGHTTP2_HEADERS:
	case NGHTTP2_CONTINUATION:
		if (hd->length == 0)
			d->empty++;
		break;
	case NGHTTP2_RST_STREAM:
		/* Rapid Reset (CVE-2023-44487): a token bucket of resets,
		 * as large as the streams allowed at once, refilled at
		 * RESETS_PER_SEC.  nghttp2's own limit (set wider) stays
		 * as a backstop; its GOAWAY code is INTERNAL_ERROR. */
		event_base_gettimeofday_cached(d->lp->base, &now);
		if (!reset_allowed(d, &now) && !d->failed)
			calm(d, H2X_RAPID_RESET, "streams reset too fast");
		break;
	case NGHTTP2_SETTINGS:
	case NGHTTP2_PING:
		if (ack)
			break;
		if (hd->type == NGHTTP2_PING)
			d->pings++;
		else
			d->settings++;
		event_base_gettimeofday_cached(d->lp->base, &now);
		if (now.tv_sec != d->ctl_sec) {
			d->ctl_sec = now.tv_sec;
			d->ctl_n = 0;
		}
		if (++d->ctl_n > CONTROL_PER_SEC && !d->failed)
			calm(d, hd->type == NGHTTP2_PING ? H2X_PING :
			    H2X_SETTINGS, hd->type == NGHTTP2_PING ?
			    "PING flood" : "SETTINGS flood");
		break;
	default:
		break;
	}
	if (d->empty > EMPTY_FRAMES_MAX && !d->failed)
		calm(d, H2X_EMPTY_FRAMES, "empty frame flood");
	return 0;
}

/* --- request heads --- */

static int
on_begin_headers(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
	struct h2down *d = ud;
	struct h2d_stream *st;

	if (fr->hd.type != NGHTTP2_HEADERS ||
	    fr->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;	/* trailers: dropped with their fields */
	if (d->failed)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	/* Rapid Reset and its kin: streams opened faster than any client
	 * needs, within one read of the socket. */
	if (++d->pass_new > 2 * d->cfg->limits.h2.max_concurrent_streams) {
		calm(d, H2X_STREAM_BUDGET, "too many new streams at once");
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	st = xcalloc(1, sizeof(*st));
	st->d = d;
	st->id = fr->hd.stream_id;
	st->in = evbuffer_new();
	st->out = evbuffer_new();
	if (st->in == NULL || st->out == NULL)
		abort();
	st->next = d->streams;
	if (d->streams != NULL)
		d->streams->prev = st;
	d->streams = st;
	d->nopen++;
	if (!d->notice)
		evtimer_del(d->idle_timer);
	nghttp2_session_set_stream_user_data(ng, st->id, st);
	/* The head must be complete in time (begin_request takes over). */
	h2d_stream_arm(st, d->cfg->timeouts.request_header);
	if (++d->total == STREAMS_PER_CONN && !d->going_away) {
		/* Enough for one connection: the client opens another; the
		 * streams in flight finish. */
		stats_add(&d->lp->stats.h2_defences[H2X_STREAMS_TOTAL], 1);
		d->ours = true;
		nghttp2_submit_goaway(ng, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_NO_ERROR, NULL, 0);
		d->going_away = true;
	}
	return 0;
}

static int
on_header(nghttp2_session *ng, const nghttp2_frame *fr, nghttp2_rcbuf *name,
    nghttp2_rcbuf *value, uint8_t flags, void *ud)
{
	struct h2down *d = ud;
	struct h2d_stream *st = stream_of(ng, fr->hd.stream_id);
	nghttp2_vec nm = nghttp2_rcbuf_get_buf(name);
	nghttp2_vec vl = nghttp2_rcbuf_get_buf(value);

	(void)flags;
	if (st == NULL || fr->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	/* Known even when the head is refused: a HEAD answer has no body. */
	if (nm.len == 7 && memcmp(nm.base, ":method", 7) == 0)
		st->head_req = vl.len == 4 && memcmp(vl.base, "HEAD", 4) == 0;
	/* The field's size as RFC 9113 section 6.5.2 counts it. */
	st->hbytes += nm.len + vl.len + 32;
	if (st->hbytes > d->cfg->limits.max_header_bytes ||
	    st->nhv / 2 >= d->cfg->limits.max_header_fields) {
		st->too_big = true;
		return 0;
	}
	if (st->nhv + 2 > st->hvcap) {
		st->hvcap = st->hvcap ? 2 * st->hvcap : 32;
		st->hv = xreallocarray(st->hv, st->hvcap, sizeof(*st->hv));
	}
	nghttp2_rcbuf_incref(name);
	nghttp2_rcbuf_incref(value);
	st->hv[st->nhv++] = name;
	st->hv[st->nhv++] = value;
	return 0;
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
	struct h2down *d = ud;
	struct h2d_stream *st;
	bool end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (fr->hd.type) {
	case NGHTTP2_HEADERS:
		st = stream_of(ng, fr->hd.stream_id);
		if (st == NULL)
			return 0;
		if (fr->headers.cat == NGHTTP2_HCAT_REQUEST) {
			h2d_begin_request(d, st, end);
			return 0;
		}
		/* Trailers of a request body: its end. */
		if (end) {
			st->in_end = true;
			if (st->x != NULL)
				exchange_client_readable(st->x);
		}
		return 0;
	case NGHTTP2_DATA:
		if (end && (st = stream_of(ng, fr->hd.stream_id)) != NULL) {
			st->in_end = true;
			if (st->x != NULL)
				exchange_client_readable(st->x);
		}
		return 0;
	case NGHTTP2_RST_STREAM:
		stats_h2_reset(&d->lp->stats, H2S_CLIENT, H2D_RECEIVED,
		    fr->rst_stream.error_code);
		return 0;
	case NGHTTP2_GOAWAY:
		stats_add(&d->lp->stats.h2_goaway[H2S_CLIENT][H2D_RECEIVED], 1);
		d->going_away = true;
		return 0;
	default:
		return 0;
	}
}


static int
on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *ud)
{
	struct h2d_stream *st = stream_of(ng, id);

	(void)flags;
	(void)ud;
	if (st == NULL || st->x == NULL) {
		/* Answered already, or gone: dropped, windows reopened. */
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	nghttp2_session_consume_connection(ng, len);
	evbuffer_add(st->in, data, len);
	if (st->body_in)
		h2d_stream_arm(st, st->d->cfg->timeouts.client_idle);
	exchange_client_readable(st->x);
	return 0;
}

static int
on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct h2down *d = ud;
	struct h2d_stream *st = stream_of(ng, id);

	if (st == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	st->closed = true;
	if (st->x != NULL) {
		/* The client reset it (or the session ended) mid-request. */
		if (st->x->status == 0)
			st->x->status = 499;
		if (st->x->note == NULL)
			st->x->note = code == NGHTTP2_NO_ERROR ?
			    "stream closed before the response ended" :
			    "client reset the stream";
		h2d_stream_done(st);
	}
	h2d_stream_free(st);
	if (d->nopen > 0)
		d->nopen--;
	return 0;
}

static int
on_frame_send(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
	struct h2down *d = ud;
	struct h2d_stream *st;

	switch (fr->hd.type) {
	case NGHTTP2_RST_STREAM:
		stats_h2_reset(&d->lp->stats, H2S_CLIENT, H2D_SENT,
		    fr->rst_stream.error_code);
		break;
	case NGHTTP2_GOAWAY:
		stats_add(&d->lp->stats.h2_goaway[H2S_CLIENT][H2D_SENT], 1);
		if ((fr->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM ||
		    fr->goaway.error_code == NGHTTP2_INTERNAL_ERROR) &&
		    !d->ours) {
			/* nghttp2's own: its (wider) stream reset rate
			 * limit, the backstop of ours. */
			stats_add(&d->lp->stats.h2_defences[H2X_RAPID_RESET], 1);
			log_info("session %s: HTTP/2 session ended by nghttp2: "
			    "GOAWAY %s", d->cl.peer,
			    nghttp2_http2_strerror(fr->goaway.error_code));
		}
		d->ours = false;
		d->going_away = true;
		break;
	case NGHTTP2_DATA:
	case NGHTTP2_HEADERS:
		/* The response ended while the request body still comes:
		 * nobody reads it (RFC 9113 section 8.1). */
		if ((fr->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
		    (st = stream_of(ng, fr->hd.stream_id)) != NULL &&
		    !st->in_end)
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE,
			    st->id, NGHTTP2_NO_ERROR);
		break;
	default:
		break;
	}
	return 0;
}

/* Tells the streams whose output drained (outside nghttp2's calls). */
static void
notify_writable(struct h2down *d)
{
	struct h2d_stream *st;

	while ((st = d->writable) != NULL) {
		d->writable = st->next_writable;
		st->notify = false;
		st->next_writable = NULL;
		if (st->x != NULL)
			exchange_client_writable(st->x);
	}
}

/* Sends what the session has queued, as far as the connection takes it.
 * Then the connection may be done: true when it was reported so. */
static bool
send_pass(struct h2down *d)
{
	struct evbuffer *out = conn_output(d->conn);
	const uint8_t *p;
	ssize_t n;

	if (d->finished)
		return true;
	for (;;) {
		while (evbuffer_get_length(out) < CONN_OUT_HIGH) {
			n = nghttp2_session_mem_send(d->ng, &p);
			if (n < 0) {
				d->failed = true;
				break;
			}
			if (n == 0)
				break;
			evbuffer_add(out, p, (size_t)n);
		}
		if (d->writable == NULL || d->failed)
			break;
		notify_writable(d);
	}
	conn_flush(d->conn);
	if (d->nopen == 0 && !d->going_away && !d->failed &&
	    !evtimer_pending(d->idle_timer, NULL)) {
		struct timeval tv = duration_tv(d->cfg->timeouts.client_idle);

		evtimer_add(d->idle_timer, &tv);
	}
	if (d->failed || (!nghttp2_session_want_read(d->ng) &&
	    !nghttp2_session_want_write(d->ng)) ||
	    (d->going_away && !d->notice && d->nopen == 0 &&
	    !nghttp2_session_want_write(d->ng))) {
		d->finished = true;
		d->ops->done(d->arg, d->failed ? "HTTP/2 session failed" :
		    "HTTP/2 session ended (GOAWAY)");
		return true;
	}
	return false;
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2down *d = arg;

	(void)fd;
	(void)what;
	d->flush_scheduled = false;
	(void)send_pass(d);
}

/* A send pass soon, from the loop: frames of many streams together. */
void
h2d_schedule_flush(struct h2down *d)
{
	if (!d->flush_scheduled) {
		d->flush_scheduled = true;
		event_active(d->flush_ev, EV_TIMEOUT, 0);
	}
}

static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2down *d = arg;

	(void)fd;
	(void)what;
	if (d->notice) {
		/* The second GOAWAY of a drain: what the client sent until
		 * now is served, nothing after. */
		d->notice = false;
		d->ours = true;
		nghttp2_submit_goaway(d->ng, NGHTTP2_FLAG_NONE,
		    nghttp2_session_get_last_proc_stream_id(d->ng),
		    NGHTTP2_NO_ERROR, NULL, 0);
		(void)send_pass(d);
		return;
	}
	if (d->nopen > 0)
		return;
	d->ours = true;
	nghttp2_submit_goaway(d->ng, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(d->ng), NGHTTP2_NO_ERROR,
	    NULL, 0);
	d->going_away = true;
	(void)send_pass(d);
}

void
h2down_read(struct h2down *d)
{
	struct evbuffer *in = conn_input(d->conn);
	struct evbuffer_iovec v[8];
	ssize_t rc = 0;
	int n, i;

	d->pass_new = 0;
	while (!d->failed && evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		for (i = 0; i < n && !d->failed; i++) {
			rc = nghttp2_session_mem_recv(d->ng, v[i].iov_base,
			    v[i].iov_len);
			if (rc < 0)
				break;
			evbuffer_drain(in, (size_t)rc);
		}
		if (rc < 0)
			break;
	}
	if (rc < 0 || d->failed) {
		evbuffer_drain(in, (size_t)-1);
		if (rc == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
			calm(d, H2X_CONTINUATION, "CONTINUATION flood");
		else if (rc == NGHTTP2_ERR_FLOODED)
			calm(d, d->pings >= d->settings ? H2X_PING :
			    H2X_SETTINGS, d->pings >= d->settings ?
			    "PING flood" : "SETTINGS flood");
		else if (rc < 0)
			log_debug("session %s: HTTP/2: %s", d->cl.peer,
			    nghttp2_strerror((int)rc));
		d->failed = true;
	}
	conn_input_consumed(d->conn);
	(void)send_pass(d);
}

void
h2down_write(struct h2down *d)
{
	(void)send_pass(d);
}

/* RFC 9113 section 6.8: a GOAWAY naming the highest stream id first, so
 * that requests already on their way are not lost, then, a second
 * later, the one naming the last stream taken. */
#define DRAIN_NOTICE_SECONDS	1.0

void
h2down_drain(struct h2down *d)
{
	struct timeval tv = duration_tv(DRAIN_NOTICE_SECONDS);

	if (!d->going_away) {
		d->ours = true;
		nghttp2_submit_shutdown_notice(d->ng);
		d->going_away = true;
		d->notice = true;
		evtimer_add(d->idle_timer, &tv);
	}
	(void)send_pass(d);
}

unsigned
h2down_streams(const struct h2down *d)
{
	return d->nopen;
}

struct h2down *
h2down_new(struct loop *lp, struct conn *c, const struct config *cfg,
    const struct exchange_client *cl, const struct h2down_ops *ops,
    void *arg)
{
	struct h2down *d = xcalloc(1, sizeof(*d));
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[3];
	uint64_t window = (uint64_t)cfg->limits.h2.initial_window * 4;	/* in flight */
	unsigned mcs = cfg->limits.h2.max_concurrent_streams;

	d->magic = H2DOWN_MAGIC;
	d->lp = lp;
	d->conn = c;
	d->cfg = cfg;
	d->cl = *cl;
	d->cl.ops = &h2d_stream_xops;
	d->cl.framed = true;
	d->ops = ops;
	d->arg = arg;
	d->flush_ev = event_new(lp->base, -1, 0, flush_cb, d);
	d->idle_timer = evtimer_new(lp->base, idle_cb, d);
	if (d->flush_ev == NULL || d->idle_timer == NULL)
		abort();
	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb,
	    on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    on_stream_close);
	if (nghttp2_option_new(&opt) != 0)
		abort();
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, OUTBOUND_ACK_MAX);
	nghttp2_option_set_max_continuations(opt, 8);
	/* Rapid Reset: a burst of resets as large as the streams allowed at
	 * once, then 33 a second (nghttp2's own rate). */
	nghttp2_option_set_stream_reset_rate_limit(opt, 4 * mcs,
	    2 * RESETS_PER_SEC);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	if (nghttp2_session_server_new2(&d->ng, cb, d, opt) != 0)
		abort();
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	iv[0] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, mcs };
	iv[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
	    cfg->limits.h2.initial_window };
	iv[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
	    cfg->limits.max_header_bytes };
	nghttp2_submit_settings(d->ng, NGHTTP2_FLAG_NONE, iv, 3);
	if (window > 0x7fffffff)
		window = 0x7fffffff;
	if (window > 65535)
		nghttp2_session_set_local_window_size(d->ng, NGHTTP2_FLAG_NONE,
		    0, (int32_t)window);
	/* Output waits for the client for client_idle at most. */
	conn_set_timeouts(c, 0, cfg->timeouts.client_idle);
	conn_set_read_high(c, 0);
	h2d_schedule_flush(d);
	return d;
}

void
h2down_free(struct h2down *d)
{
	struct h2d_stream *st;

	if (d == NULL)
		return;
	while ((st = d->streams) != NULL) {
		nghttp2_session_set_stream_user_data(d->ng, st->id, NULL);
		if (st->x != NULL) {
			if (st->x->status == 0)
				st->x->status = 499;
			if (st->x->note == NULL)
				st->x->note = "connection closed";
			h2d_stream_done(st);
		}
		h2d_stream_free(st);
	}
	nghttp2_session_del(d->ng);
	event_free(d->flush_ev);
	event_free(d->idle_timer);
	d->magic = 0;
	free(d);
}
