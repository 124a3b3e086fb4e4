/*
 * h2_up: the nghttp2 client session of one upstream connection (see
 * h2_up.h).  nghttp2 validates the server's frames and responses (RFC
 * 9113 section 8: pseudo-header fields, upper-case or connection-specific
 * names, Content-Length against DATA) and resets a stream that breaks
 * them; this file turns its callbacks into stream events and moves bytes
 * between the connection and the streams.
 *
 * A final response head is told at the end of the input pass that
 * brought it, with the body bytes and the end that came with it: a
 * response that breaks the rules within that pass (a Content-Length
 * that its DATA do not match, say) is never forwarded; its stream is
 * reset and its owner told only that.
 *
 * Windows: the session opens no window by itself
 * (no_auto_window_update).  A stream's window reopens by what its owner
 * consumed; the connection's reopens as soon as bytes arrive (what a
 * stream holds is bounded by its own window), so a stream whose client
 * reads slowly, or a body held back whole, never starves the others.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "conn.h"
#include "h2_up.h"
#include "h2_up_priv.h"
#include "msg.h"
#include "stats.h"
#include "xalloc.h"

static struct h2up_stream *
stream_of(nghttp2_session *ng, int32_t id)
{
	return nghttp2_session_get_stream_user_data(ng, id);
}

void
h2u_stream_unlink(struct h2up_stream *st)
{
	struct h2up *s = st->s;

	if (st->prev != NULL)
		st->prev->next = st->next;
	else if (s->streams == st)
		s->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	st->next = st->prev = NULL;
}

void
h2u_head_release(struct h2up_stream *st)
{
	for (unsigned i = 0; i < st->nhv; i++)
		nghttp2_rcbuf_decref(st->hv[i]);
	st->nhv = 0;
	st->head_overflow = false;
}

static void	deliver_head(struct h2up_stream *);

static int
on_begin_headers(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
	struct h2up_stream *st = stream_of(ng, fr->hd.stream_id);

	(void)ud;
	if (st == NULL)
		return 0;
	if (st->head_pending) {
		/* Trailers follow a final head held for the pass: it goes
		 * now, with its bytes, before hv takes the trailers. */
		st->busy = true;
		deliver_head(st);
		if (!st->freed && !st->ended && evbuffer_get_length(st->in) > 0)
			st->ops->on_data(st->arg);
		st->busy = false;
		if (st->freed) {
			h2u_stream_release(st);
			return 0;
		}
	}
	h2u_head_release(st);
	return 0;
}

static int
on_header(nghttp2_session *ng, const nghttp2_frame *fr, nghttp2_rcbuf *name,
    nghttp2_rcbuf *value, uint8_t flags, void *ud)
{
	struct h2up_stream *st = stream_of(ng, fr->hd.stream_id);

	(void)flags;
	(void)ud;
	if (st == NULL)
		return 0;
	if (st->nhv + 2 > 2 * MAX_HEAD_FIELDS) {
		st->head_overflow = true;
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

static unsigned
parse_status(const struct msg_field *f)
{
	unsigned v = 0;

	if (f->value_len != 3)
		return 0;
	for (size_t i = 0; i < 3; i++) {
		if (f->value[i] < '0' || f->value[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(f->value[i] - '0');
	}
	return v;
}

static void
news_add(struct h2up *s, struct h2up_stream *st)
{
	if (st->on_news)
		return;
	st->on_news = true;
	st->next_news = s->news;
	s->news = st;
}

/* The :status of the head in st->hv, or 0. */
static unsigned
head_status(const struct h2up_stream *st)
{
	for (unsigned i = 0; i < st->nhv; i += 2) {
		nghttp2_vec nm = nghttp2_rcbuf_get_buf(st->hv[i]);
		nghttp2_vec vl = nghttp2_rcbuf_get_buf(st->hv[i + 1]);
		struct msg_field f = { (const char *)nm.base, nm.len,
		    (const char *)vl.base, vl.len };

		if (nm.len == 7 && memcmp(nm.base, ":status", 7) == 0)
			return parse_status(&f);
	}
	return 0;
}

/*
 * Tells the owner the head in st->hv: a response head (interim or
 * final) or, after a final one, the trailers (on_end).  The fields point
 * into nghttp2's buffers, held until the owner returns; it may free the
 * stream meanwhile, so st is not touched after the call.
 */
static void
deliver_head(struct h2up_stream *st)
{
	nghttp2_rcbuf *hv[2 * MAX_HEAD_FIELDS];
	struct msg_field f[MAX_HEAD_FIELDS];
	struct msg_response rs;
	unsigned n = 0, nhv = st->nhv, status = 0;
	bool trailers = st->final_head && !st->head_pending;

	memcpy(hv, st->hv, nhv * sizeof(hv[0]));
	st->nhv = 0;
	st->head_pending = false;
	for (unsigned i = 0; i < nhv; i += 2) {
		nghttp2_vec nm = nghttp2_rcbuf_get_buf(hv[i]);
		nghttp2_vec vl = nghttp2_rcbuf_get_buf(hv[i + 1]);
		struct msg_field fld = {
			(const char *)nm.base, nm.len,
			(const char *)vl.base, vl.len,
		};

		if (nm.len > 0 && nm.base[0] == ':') {
			/* nghttp2 lets only :status through, once. */
			if (nm.len == 7 && memcmp(nm.base, ":status", 7) == 0)
				status = parse_status(&fld);
			continue;
		}
		f[n++] = fld;
	}
	if (trailers) {
		st->ended = true;
		st->ops->on_end(st->arg, f, n);
	} else {
		memset(&rs, 0, sizeof(rs));
		rs.status = status;
		rs.version = "2";
		rs.fields = f;
		rs.nfields = n;
		if (status >= 200) {
			const struct msg_field *cl = msg_fields_find(f, n,
			    "content-length");

			if (st->head_request || status == 204 || status == 304)
				rs.body = MSG_BODY_NONE;
			else if (cl != NULL &&
			    msg_field_uint(cl, &rs.content_length) &&
			    msg_fields_find(f, n, "trailer") == NULL)
				rs.body = MSG_BODY_SIZED;
			else
				/* Announced trailers need a chunked body
				 * toward HTTP/1.1 clients. */
				rs.body = MSG_BODY_STREAM;
		}
		st->ops->on_head(st->arg, &rs);
	}
	for (unsigned i = 0; i < nhv; i++)
		nghttp2_rcbuf_decref(hv[i]);
}

/* Tells the owner what the pass brought for st: the final head, body
 * bytes, the end.  The owner may free st in any of these. */
static void
deliver_news(struct h2up_stream *st)
{
	/* A small sized body is checked whole before its head goes: a
	 * length mismatch is then a 502, never a cut response. */
	if (st->hold && !st->end_pending && !st->ended)
		return;
	st->busy = true;
	if (st->head_pending && !st->ended)
		deliver_head(st);
	if (!st->freed && !st->ended && st->final_head &&
	    evbuffer_get_length(st->in) > 0)
		st->ops->on_data(st->arg);
	if (!st->freed && !st->ended && st->end_pending && st->final_head) {
		st->ended = true;
		st->ops->on_end(st->arg, NULL, 0);
	}
	st->busy = false;
	if (st->freed)
		h2u_stream_release(st);
}

/* The head in hv announces a body of at most window bytes (that all
 * fits in the stream's window: holding it back cannot stall). */
static bool
held_length(const struct h2up_stream *st, unsigned window)
{
	uint64_t len = 0;
	bool found = false;

	if (st->head_request)
		return false;
	for (unsigned i = 0; i < st->nhv; i += 2) {
		nghttp2_vec nm = nghttp2_rcbuf_get_buf(st->hv[i]);
		nghttp2_vec vl = nghttp2_rcbuf_get_buf(st->hv[i + 1]);
		struct msg_field f = { (const char *)nm.base, nm.len,
		    (const char *)vl.base, vl.len };

		if (msg_name_eq(&f, "content-length"))
			found = msg_field_uint(&f, &len);
		else if (msg_name_eq(&f, "trailer"))
			return false;
	}
	return found && len <= window;
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
	struct h2up *s = ud;
	struct h2up_stream *st;
	bool end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (fr->hd.type) {
	case NGHTTP2_HEADERS:
		if ((st = stream_of(ng, fr->hd.stream_id)) == NULL)
			return 0;
		if (st->head_overflow) {
			h2u_head_release(st);
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE,
			    st->id, NGHTTP2_INTERNAL_ERROR);
			return 0;
		}
		if (st->final_head) {
			/* Trailers: what the pass held goes first. */
			/* (A held final head was told when the trailers
			 * began: on_begin_headers.) */
			st->busy = true;
			if (!st->freed && evbuffer_get_length(st->in) > 0)
				st->ops->on_data(st->arg);
			if (!st->freed && !st->ended)
				deliver_head(st);
			st->busy = false;
			if (st->freed)
				h2u_stream_release(st);
			return 0;
		}
		if (head_status(st) < 200) {
			/* Interim: told at once, in order. */
			deliver_head(st);
			return 0;
		}
		st->final_head = true;
		st->head_pending = true;
		st->hold = held_length(st, s->set.window);
		if (end)
			st->end_pending = true;
		news_add(s, st);
		return 0;
	case NGHTTP2_DATA:
		if (end && (st = stream_of(ng, fr->hd.stream_id)) != NULL) {
			st->end_pending = true;
			news_add(s, st);
		}
		return 0;
	case NGHTTP2_RST_STREAM:
		stats_h2_reset(s->set.stats, H2S_UPSTREAM, H2D_RECEIVED,
		    fr->rst_stream.error_code);
		return 0;
	case NGHTTP2_GOAWAY:
		stats_add(&s->set.stats->h2_goaway[H2S_UPSTREAM][H2D_RECEIVED],
		    1);
		s->goaway_last = fr->goaway.last_stream_id;
		/* FALLTHROUGH */
	case NGHTTP2_SETTINGS:
		if (s->ops->on_room != NULL)
			s->ops->on_room(s->arg);
		return 0;
	case NGHTTP2_PING:
		if ((fr->hd.flags & NGHTTP2_FLAG_ACK) && s->ops->on_pong)
			s->ops->on_pong(s->arg);
		return 0;
	default:
		return 0;
	}
}

/* Counts what the session sent that /metrics shows. */
static int
on_frame_send(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
	struct h2up *s = ud;

	(void)ng;
	if (fr->hd.type == NGHTTP2_RST_STREAM)
		stats_h2_reset(s->set.stats, H2S_UPSTREAM, H2D_SENT,
		    fr->rst_stream.error_code);
	else if (fr->hd.type == NGHTTP2_GOAWAY)
		stats_add(&s->set.stats->h2_goaway[H2S_UPSTREAM][H2D_SENT], 1);
	return 0;
}

static int
on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *ud)
{
	struct h2up_stream *st = stream_of(ng, id);

	(void)flags;
	if (st == NULL || st->ended) {
		/* Nobody takes it: the windows reopen at once. */
		nghttp2_session_consume(ng, id, len);
		return 0;
	}
	nghttp2_session_consume_connection(ng, len);
	evbuffer_add(st->in, data, len);
	news_add(ud, st);
	return 0;
}

static int
on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
	struct h2up *s = ud;
	struct h2up_stream *st = stream_of(ng, id);

	if (s->open > 0)
		s->open--;
	if (st != NULL) {
		st->closed = true;
		h2u_stream_unlink(st);
		nghttp2_session_set_stream_user_data(ng, id, NULL);
		/* A clean close after the response ended: the news pass
		 * tells the end. */
		if (!st->ended && !(code == NGHTTP2_NO_ERROR &&
		    st->end_pending && st->final_head)) {
			/* Above a GOAWAY's last stream nghttp2 closes with
			 * REFUSED_STREAM too: neither was processed.  A
			 * head held back is dropped unseen. */
			h2u_head_release(st);
			st->head_pending = false;
			st->ended = true;
			st->ops->on_close(st->arg, code == NGHTTP2_NO_ERROR ?
			    H2_PROTOCOL_ERROR : code,
			    code == NGHTTP2_REFUSED_STREAM && !st->final_head);
		}
	}
	if (s->ops->on_room != NULL)
		s->ops->on_room(s->arg);
	return 0;
}

struct h2up *
h2up_new(struct conn *c, const struct h2up_settings *set,
    const struct h2up_conn_ops *ops, void *arg)
{
	struct h2up *s = xcalloc(1, sizeof(*s));
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[4];
	int32_t conn_window;

	s->conn = c;
	s->goaway_last = INT32_MAX;
	s->ops = ops;
	s->arg = arg;
	s->set = *set;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
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
	/* Until the server's SETTINGS say otherwise. */
	nghttp2_option_set_peer_max_concurrent_streams(opt, set->max_streams);
	nghttp2_option_set_max_send_header_block_length(opt, 65536);
	if (nghttp2_session_client_new2(&s->ng, cb, s, opt) != 0)
		abort();
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	iv[0] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };
	iv[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
	    set->window };
	iv[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
	    set->max_header_list };
	iv[3] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0 };	/* no push */
	nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, 4);
	conn_window = (int32_t)((uint64_t)set->window * set->max_streams >
	    0x7fffffff ? 0x7fffffff : set->window * set->max_streams);
	if (conn_window > 65535)
		nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE,
		    0, conn_window);
	return s;
}

void
h2up_free(struct h2up *s)
{
	if (s == NULL)
		return;
	nghttp2_session_del(s->ng);
	free(s);
}

/* Tells the streams whose body output drained (after a send pass, not
 * from inside nghttp2). */
static void
notify_writable(struct h2up *s)
{
	struct h2up_stream *st;

	while ((st = s->writable) != NULL) {
		s->writable = st->next_writable;
		st->notify = false;
		st->next_writable = NULL;
		if (!st->closed)
			st->ops->on_writable(st->arg);
	}
}

bool
h2up_flush(struct h2up *s)
{
	struct evbuffer *out = conn_output(s->conn);
	const uint8_t *p;
	ssize_t n;

	if (s->failed)
		return false;
	for (;;) {
		while (evbuffer_get_length(out) < CONN_OUT_HIGH) {
			n = nghttp2_session_mem_send(s->ng, &p);
			if (n < 0) {
				s->failed = true;
				return false;
			}
			if (n == 0)
				break;
			evbuffer_add(out, p, (size_t)n);
		}
		/* Bodies that drained may give more to send now. */
		if (s->writable == NULL)
			break;
		notify_writable(s);
	}
	conn_flush(s->conn);
	return true;
}

static void
deliver_all_news(struct h2up *s)
{
	struct h2up_stream *st;

	while ((st = s->news) != NULL) {
		s->news = st->next_news;
		st->on_news = false;
		st->next_news = NULL;
		deliver_news(st);
	}
}

bool
h2up_read(struct h2up *s)
{
	struct evbuffer *in = conn_input(s->conn);
	struct evbuffer_iovec v[8];
	ssize_t rc;
	int n, i;

	if (s->failed)
		return false;
	while (evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		for (i = 0; i < n; i++) {
			rc = nghttp2_session_mem_recv(s->ng, v[i].iov_base,
			    v[i].iov_len);
			if (rc < 0) {
				evbuffer_drain(in, (size_t)-1);
				/* A GOAWAY with the reason may still go. */
				(void)h2up_flush(s);
				s->failed = true;
				return false;
			}
			evbuffer_drain(in, (size_t)rc);
		}
	}
	deliver_all_news(s);
	if (!h2up_flush(s))
		return false;
	return nghttp2_session_want_read(s->ng) ||
	    nghttp2_session_want_write(s->ng);
}

void
h2up_fail(struct h2up *s)
{
	struct h2up_stream *st;

	/* Each owner is told once; one may free others meanwhile, which
	 * leave the list as they go. */
	s->failed = true;
	while ((st = s->streams) != NULL) {
		nghttp2_stream *ns = nghttp2_session_find_stream(s->ng, st->id);
		/* Never sent (held by the server's stream limit), or above
		 * the last stream its GOAWAY said it processed. */
		bool unprocessed = !st->final_head && (st->id > s->goaway_last ||
		    ns == NULL ||
		    nghttp2_stream_get_state(ns) == NGHTTP2_STREAM_STATE_IDLE);

		h2u_stream_unlink(st);
		st->closed = true;
		nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
		if (!st->ended) {
			st->ended = true;
			st->ops->on_close(st->arg, H2_CONNECTION_FAILED,
			    unprocessed);
		}
	}
}

unsigned
h2up_open(const struct h2up *s)
{
	return s->open;
}

bool
h2up_going_away(const struct h2up *s)
{
	return s->failed || !nghttp2_session_check_request_allowed(s->ng);
}

unsigned
h2up_room(const struct h2up *s)
{
	uint32_t peer, cap = s->set.max_streams;

	if (h2up_going_away(s))
		return 0;
	peer = nghttp2_session_get_remote_settings(s->ng,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	if (peer < cap)
		cap = peer;
	return s->open >= cap ? 0 : cap - s->open;
}

void
h2up_ping(struct h2up *s)
{
	nghttp2_submit_ping(s->ng, NGHTTP2_FLAG_NONE, NULL);
	(void)h2up_flush(s);
}

void
h2up_goaway(struct h2up *s)
{
	if (s->failed)
		return;
	nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
	(void)h2up_flush(s);
}

