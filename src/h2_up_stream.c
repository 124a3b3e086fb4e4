/*
 * h2_up_stream: a stream's request toward an HTTP/2 server (see
 * h2_up.h): the rewritten head as HEADERS (pseudo-header fields from the
 * neutral request, names in lower case, te: trailers when the client
 * takes them), the body as DATA from the owner's buffer, a copy of what
 * was sent kept for a retry while it stays small, and the stream's end:
 * RST_STREAM CANCEL when it is still open.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "h2_up.h"
#include "h2_up_priv.h"
#include "msg.h"
#include "xalloc.h"

/* The request body's source: out's bytes, then END_STREAM. */
static ssize_t
read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2up_stream *st = src->ptr;
	struct h2up *s = ud;
	size_t n = evbuffer_get_length(st->out);

	(void)ng;
	(void)id;
	if (n == 0) {
		if (st->out_end) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n > len)
		n = len;
	evbuffer_copyout(st->out, buf, n);
	if (!st->replay_lost && st->replay_bytes + n <= REPLAY_MAX) {
		evbuffer_remove_buffer(st->out, st->replay, n);
		st->replay_bytes += n;
	} else {
		st->replay_lost = true;
		evbuffer_drain(st->replay, (size_t)-1);
		evbuffer_drain(st->out, n);
	}
	if (st->out_end && evbuffer_get_length(st->out) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (!st->out_end && !st->notify &&
	    evbuffer_get_length(st->out) < BODY_OUT_HIGH / 2) {
		st->notify = true;
		st->next_writable = s->writable;
		s->writable = st;
	}
	return (ssize_t)n;
}

struct h2up_stream *
h2up_stream_new(struct h2up *s, const struct h2up_stream_ops *ops,
    void *arg)
{
	struct h2up_stream *st = xcalloc(1, sizeof(*st));

	st->s = s;
	st->ops = ops;
	st->arg = arg;
	st->in = evbuffer_new();
	st->out = evbuffer_new();
	st->replay = evbuffer_new();
	if (st->in == NULL || st->out == NULL || st->replay == NULL)
		abort();
	return st;
}

#define NV(n, nl, v, vl, fl)	(nghttp2_nv){ (uint8_t *)(uintptr_t)(n), \
	(uint8_t *)(uintptr_t)(v), (nl), (vl), (fl) }

static bool
te_trailers(const struct msg_request *rq)
{
	for (unsigned i = 0; i < rq->nfields; i++) {
		const struct msg_field *f = &rq->fields[i];
		const char *p = f->value, *tok;
		size_t len;

		if (!msg_name_eq(f, "te"))
			continue;
		while (msg_next_token(&p, f->value + f->value_len, &tok, &len))
			if (msg_token_eq(tok, len, "trailers"))
				return true;
	}
	return false;
}

bool
h2up_stream_submit(struct h2up_stream *st, const struct msg_request *rq,
    const struct field_list *fl, bool tls, bool end)
{
	struct h2up *s = st->s;
	nghttp2_nv *nv;
	nghttp2_data_provider dp;
	char *lower, *lp, clen[24];
	size_t nnv = 0, names = 0;
	int32_t id;

	for (unsigned i = 0; i < fl->n; i++)
		names += fl->v[i].name_len;
	nv = xcalloc(fl->n + 6, sizeof(*nv));
	lower = lp = xmalloc(names + 1);
	nv[nnv++] = NV(":method", 7, rq->method, strlen(rq->method),
	    NGHTTP2_NV_FLAG_NO_COPY_NAME);
	nv[nnv++] = NV(":scheme", 7, tls ? "https" : "http", tls ? 5u : 4u,
	    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE);
	nv[nnv++] = NV(":authority", 10, rq->authority, rq->authority_len,
	    NGHTTP2_NV_FLAG_NO_COPY_NAME);
	nv[nnv++] = NV(":path", 5, rq->path, rq->path_len,
	    NGHTTP2_NV_FLAG_NO_COPY_NAME);
	for (unsigned i = 0; i < fl->n; i++) {
		const struct msg_field *f = &fl->v[i];

		/* HTTP/2 field names are lower case (RFC 9113 8.2.1). */
		for (size_t k = 0; k < f->name_len; k++) {
			char ch = f->name[k];

			lp[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
		}
		nv[nnv++] = NV(lp, f->name_len, f->value, f->value_len,
		    NGHTTP2_NV_FLAG_NONE);
		lp += f->name_len;
	}
	if (rq->body == MSG_BODY_SIZED) {
		int k = snprintf(clen, sizeof(clen), "%llu",
		    (unsigned long long)rq->content_length);

		nv[nnv++] = NV("content-length", 14, clen, (size_t)k,
		    NGHTTP2_NV_FLAG_NO_COPY_NAME);
	}
	/* TE is hop-by-hop; HTTP/2 carries it only as "trailers" (RFC 9113
	 * 8.2.2), when the client said it takes them. */
	if (te_trailers(rq))
		nv[nnv++] = NV("te", 2, "trailers", 8,
		    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE);
	st->head_request = rq->method_head;
	st->out_end = end;
	dp.source.ptr = st;
	dp.read_callback = read_body;
	id = nghttp2_submit_request(s->ng, NULL, nv, nnv, end ? NULL : &dp,
	    st);
	free(nv);
	free(lower);
	if (id < 0)
		return false;
	st->id = id;
	s->open++;
	st->next = s->streams;
	if (s->streams != NULL)
		s->streams->prev = st;
	s->streams = st;
	return true;
}

struct evbuffer *
h2up_stream_body_out(struct h2up_stream *st)
{
	return st->out;
}

void
h2up_stream_body_more(struct h2up_stream *st, bool end)
{
	if (end)
		st->out_end = true;
	if (st->deferred && !st->closed && st->id > 0) {
		st->deferred = false;
		nghttp2_session_resume_data(st->s->ng, st->id);
	}
}

struct evbuffer *
h2up_stream_input(struct h2up_stream *st)
{
	return st->in;
}

void
h2up_stream_consumed(struct h2up_stream *st, size_t n)
{
	if (n > 0 && st->id > 0 && !st->closed)
		nghttp2_session_consume_stream(st->s->ng, st->id, n);
}

struct evbuffer *
h2up_stream_replay(struct h2up_stream *st)
{
	if (st->replay_lost)
		return NULL;
	/* What was sent, then what waited to be. */
	evbuffer_add_buffer(st->replay, st->out);
	return st->replay;
}

void
h2u_stream_release(struct h2up_stream *st)
{
	h2u_head_release(st);
	free(st->hv);
	evbuffer_free(st->in);
	evbuffer_free(st->out);
	evbuffer_free(st->replay);
	free(st);
}

/* Takes st off a singly linked list (writable or news). */
static void
list_remove(struct h2up_stream **head, struct h2up_stream *st, bool news)
{
	struct h2up_stream **pp;

	for (pp = head; *pp != NULL;
	    pp = news ? &(*pp)->next_news : &(*pp)->next_writable)
		if (*pp == st) {
			*pp = news ? st->next_news : st->next_writable;
			return;
		}
}

void
h2up_stream_free(struct h2up_stream *st)
{
	struct h2up *s;

	if (st == NULL)
		return;
	s = st->s;
	if (st->id > 0 && !st->closed) {
		h2u_stream_unlink(st);
		st->closed = true;
		nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
		/* Its connection window came back on arrival. */
		if (!s->failed)
			nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE,
			    st->id, NGHTTP2_CANCEL);
	}
	if (st->notify)
		list_remove(&s->writable, st, false);
	if (st->on_news)
		list_remove(&s->news, st, true);
	st->notify = st->on_news = false;
	st->ended = true;
	if (st->busy)
		st->freed = true;	/* deliver_news frees it */
	else
		h2u_stream_release(st);
}
