/*
 * h2_down_stream: each stream of a client's HTTP/2 connection as the
 * client side of its exchange (exchange.h; see h2_down.h): the request
 * built from its head (pseudo-header fields, Cookie crumbs joined), its
 * body from DATA frames (windows reopened as bytes move upstream), the
 * response as HEADERS and DATA, the proxy's own answers, and the
 * stream's deadlines (head, body, send).  Frames are queued here and
 * sent by the session's next send pass (h2d_schedule_flush).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "config.h"
#include "duration.h"
#include "exchange.h"
#include "h1.h"
#include "h2_down.h"
#include "h2_down_priv.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "xalloc.h"

/* The method as the static strings the rest of the proxy uses. */
static const char *
known_method(const struct msg_field *m, bool *idempotent)
{
	static const struct {
		const char *name;
		bool idempotent;
	} methods[] = {
		{ "GET", true }, { "HEAD", true }, { "POST", false },
		{ "PUT", true }, { "DELETE", true }, { "OPTIONS", true },
		{ "TRACE", true }, { "PATCH", false }, { "CONNECT", false },
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == m->value_len &&
		    memcmp(methods[i].name, m->value, m->value_len) == 0) {
			*idempotent = methods[i].idempotent;
			return methods[i].name;
		}
	return NULL;
}

static void	x_fail(void *arg, unsigned status, const char *detail,
		    unsigned retry_after);

/*
 * HTTP/2 may split Cookie into one field per crumb; toward HTTP/1.1 they
 * are one field again, joined with "; " (RFC 9113 section 8.2.3).  The
 * joined value is the stream's; the first cookie field takes it and the
 * others leave the list.  Returns the new count.
 */
static unsigned
join_cookies(struct h2d_stream *st, unsigned n)
{
	size_t len = 0, k = 0;
	unsigned i, out, count = 0, first = n;
	char *v;

	for (i = 0; i < n; i++)
		if (msg_name_eq(&st->fields[i], "cookie")) {
			if (count++ == 0)
				first = i;
			len += st->fields[i].value_len + 2;
		}
	if (count < 2)
		return n;
	v = st->cookie = xmalloc(len);
	for (i = out = 0; i < n; i++) {
		if (!msg_name_eq(&st->fields[i], "cookie")) {
			st->fields[out++] = st->fields[i];
			continue;
		}
		if (k > 0) {
			memcpy(v + k, "; ", 2);
			k += 2;
		}
		memcpy(v + k, st->fields[i].value, st->fields[i].value_len);
		k += st->fields[i].value_len;
		if (i == first)
			st->fields[out++] = st->fields[i];
	}
	for (i = 0; i < out; i++)
		if (msg_name_eq(&st->fields[i], "cookie")) {
			st->fields[i].value = v;
			st->fields[i].value_len = k;
			break;
		}
	return out;
}

/* The request head is complete: an exchange takes it. */
void
h2d_begin_request(struct h2down *d, struct h2d_stream *st, bool end_stream)
{
	struct exchange_client cl = d->cl;
	struct exchange_request how = { .h11 = true };
	struct msg_request rq;
	struct msg_field method = { 0 }, scheme = { 0 }, path = { 0 };
	const struct msg_field *host = NULL, *cl_field;
	unsigned n = 0;

	cl.arg = st;
	st->in_end = end_stream;
	if (st->timer != NULL)
		evtimer_del(st->timer);		/* the head came in time */
	st->x = exchange_new(d->lp, &cl);
	if (st->too_big) {
		x_fail(st, 431, "request header fields too large "
		    "(limits.max_header_bytes, limits.max_header_fields)", 0);
		return;
	}
	memset(&rq, 0, sizeof(rq));
	st->fields = xcalloc(st->nhv / 2 + 1, sizeof(*st->fields));
	for (unsigned i = 0; i < st->nhv; i += 2) {
		nghttp2_vec nm = nghttp2_rcbuf_get_buf(st->hv[i]);
		nghttp2_vec vl = nghttp2_rcbuf_get_buf(st->hv[i + 1]);
		struct msg_field f = { (const char *)nm.base, nm.len,
		    (const char *)vl.base, vl.len };

		if (nm.len > 0 && nm.base[0] == ':') {
			/* nghttp2 let each through once, well formed. */
			if (msg_name_eq(&f, ":method"))
				method = f;
			else if (msg_name_eq(&f, ":scheme"))
				scheme = f;
			else if (msg_name_eq(&f, ":path"))
				path = f;
			else if (msg_name_eq(&f, ":authority")) {
				rq.authority = f.value;
				rq.authority_len = f.value_len;
			}
			continue;
		}
		st->fields[n++] = f;
	}
	n = join_cookies(st, n);
	rq.fields = st->fields;
	rq.nfields = n;
	rq.version = "2";
	rq.method = known_method(&method, &rq.method_idempotent);
	if (rq.method == NULL) {
		x_fail(st, 501, "request method not implemented", 0);
		return;
	}
	rq.method_head = strcmp(rq.method, "HEAD") == 0;
	rq.method_connect = strcmp(rq.method, "CONNECT") == 0;
	rq.https = scheme.value_len == 5 &&
	    memcmp(scheme.value, "https", 5) == 0;
	if (rq.authority == NULL &&
	    (host = msg_fields_find(st->fields, n, "host")) != NULL) {
		rq.authority = host->value;
		rq.authority_len = host->value_len;
	}
	rq.path = path.value;
	rq.path_len = path.value_len;
	rq.path_only_len = path.value_len;
	if (path.value != NULL) {
		const char *q = memchr(path.value, '?', path.value_len);

		if (q != NULL)
			rq.path_only_len = (size_t)(q - path.value);
	}
	if (end_stream)
		rq.body = MSG_BODY_NONE;
	else if ((cl_field = msg_fields_find(st->fields, n,
	    "content-length")) != NULL &&
	    msg_field_uint(cl_field, &rq.content_length))
		rq.body = MSG_BODY_SIZED;
	else
		rq.body = MSG_BODY_STREAM;
	if (rq.method_connect)
		how.target_error = NULL;	/* policy refuses CONNECT */
	else if (rq.authority == NULL)
		how.target_error = "no :authority and no Host field";
	else if (rq.path == NULL || rq.path_len == 0 ||
	    (rq.path[0] != '/' && !(rq.path_len == 1 && rq.path[0] == '*')))
		how.target_error = "request :path is not origin-form";
	else if (rq.path[0] == '*' && strcmp(rq.method, "OPTIONS") != 0)
		how.target_error = "asterisk-form target outside OPTIONS";
	exchange_begin(st->x, &rq, &how);
}

/* A stream's exchange is over: logged and freed. */
void
h2d_stream_done(struct h2d_stream *st)
{
	struct exchange *x = st->x;

	if (x == NULL)
		return;
	st->x = NULL;
	st->d->ops->log(st->d->arg, x);
	exchange_free(x);
}

/* --- responses --- */

/* The body's last DATA frame leaves END_STREAM to the trailers' HEADERS
 * (nghttp2 sends them right after it). */
static void
send_trailers(nghttp2_session *ng, struct h2d_stream *st, uint32_t *flags)
{
	if (st->trailer_nv == NULL)
		return;
	*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	nghttp2_submit_trailer(ng, st->id, st->trailer_nv, st->ntrailer);
	h2d_trailers_free(st);
}

static ssize_t
read_response(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2d_stream *st = src->ptr;
	struct h2down *d = ud;
	size_t n = evbuffer_get_length(st->out);

	(void)ng;
	(void)id;
	if (n == 0) {
		if (st->out_end) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			send_trailers(ng, st, flags);
			return 0;
		}
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n > len)
		n = len;
	evbuffer_remove(st->out, buf, n);
	if (st->out_end && evbuffer_get_length(st->out) == 0) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		send_trailers(ng, st, flags);
	}
	/* Progress: the send deadline restarts while output still waits
	 * (also once the exchange is over), and stops when none does; the
	 * exchange may move more once the output is below half. */
	if (!st->body_in) {
		if (evbuffer_get_length(st->out) > 0)
			h2d_stream_arm(st, d->cfg->timeouts.client_idle);
		else if (st->timer != NULL)
			evtimer_del(st->timer);
	}
	if (st->x != NULL && !st->notify &&
	    evbuffer_get_length(st->out) < OUT_HIGH / 2) {
		st->notify = true;
		st->next_writable = d->writable;
		d->writable = st;
	}
	return (ssize_t)n;
}

/* nv for a response head: :status, then the fields in lower case. */
static void
submit_head(struct h2d_stream *st, const struct msg_response *rs,
    const struct field_list *fl, bool with_body)
{
	struct h2down *d = st->d;
	nghttp2_nv *nv = xcalloc(fl->n + 1, sizeof(*nv));
	char status[4], *lower, *lp;
	size_t names = 0, nnv = 0;
	nghttp2_data_provider dp;

	snprintf(status, sizeof(status), "%03u", rs->status % 1000);
	for (unsigned i = 0; i < fl->n; i++)
		names += fl->v[i].name_len;
	lower = lp = xmalloc(names + 1);
	nv[nnv++] = (nghttp2_nv){ (uint8_t *)(uintptr_t)":status",
	    (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE };
	for (unsigned i = 0; i < fl->n; i++) {
		const struct msg_field *f = &fl->v[i];

		for (size_t k = 0; k < f->name_len; k++) {
			char ch = f->name[k];

			lp[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
		}
		nv[nnv++] = (nghttp2_nv){ (uint8_t *)lp,
		    (uint8_t *)(uintptr_t)f->value, f->name_len, f->value_len,
		    NGHTTP2_NV_FLAG_NONE };
		lp += f->name_len;
	}
	if (rs->status < 200)
		nghttp2_submit_headers(d->ng, NGHTTP2_FLAG_NONE, st->id, NULL,
		    nv, nnv, NULL);
	else {
		dp.source.ptr = st;
		dp.read_callback = read_response;
		if (!with_body)
			st->out_end = true;
		nghttp2_submit_response(d->ng, st->id, nv, nnv,
		    with_body ? &dp : NULL);
	}
	free(nv);
	free(lower);
}

/* --- the exchange's client side, one per stream --- */

static struct h2d_stream *
stream_checked(void *arg)
{
	struct h2d_stream *st = arg;

	if (st->d->magic != H2DOWN_MAGIC)
		abort();
	return st;
}

/* The request body: DATA bytes, bare or chunk-coded toward an HTTP/1.1
 * upstream; windows reopen by what moved. */
static enum h1_status
x_body(void *arg, struct evbuffer *out, bool chunked, size_t limit,
    uint64_t *payload, unsigned *status, const char **why)
{
	struct h2d_stream *st = stream_checked(arg);
	size_t n = evbuffer_get_length(st->in), olen = evbuffer_get_length(out);

	(void)status;
	(void)why;
	chunked = chunked && st->x != NULL && st->x->rq.body == MSG_BODY_STREAM;
	if (olen < limit && n > 0) {
		if (n > limit - olen)
			n = limit - olen;
		if (chunked)
			h1_write_chunk(out, st->in, n);
		else
			evbuffer_remove_buffer(st->in, out, n);
		*payload += n;
		nghttp2_session_consume_stream(st->d->ng, st->id, n);
		h2d_schedule_flush(st->d);
	}
	/* The body deadline is the client's only while it may send: not
	 * while the upstream side holds the bytes back. */
	if (st->body_in && st->timer != NULL) {
		if (evbuffer_get_length(st->in) > 0)
			evtimer_del(st->timer);
		else if (!evtimer_pending(st->timer, NULL))
			h2d_stream_arm(st, st->d->cfg->timeouts.client_idle);
	}
	if (!st->in_end || evbuffer_get_length(st->in) > 0)
		return H1_AGAIN;
	if (chunked && !st->chunk_done) {
		h1_write_last_chunk(out, NULL, 0);
		st->chunk_done = true;
	}
	return H1_DONE;
}

static void
x_consumed(void *arg)
{
	(void)arg;
}

static void
x_send_head(void *arg, const struct msg_response *rs,
    const struct field_list *fl, bool chunked, bool close)
{
	struct h2d_stream *st = stream_checked(arg);

	(void)chunked;
	(void)close;
	if (st->closed)
		return;
	submit_head(st, rs, fl, rs->body != MSG_BODY_NONE);
	h2d_schedule_flush(st->d);
}

static struct evbuffer *
x_body_out(void *arg)
{
	return stream_checked(arg)->out;
}

static void
x_flush(void *arg)
{
	struct h2d_stream *st = stream_checked(arg);

	if (st->deferred && !st->closed) {
		st->deferred = false;
		nghttp2_session_resume_data(st->d->ng, st->id);
	}
	h2d_schedule_flush(st->d);
}

static void
stream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2d_stream *st = arg;

	(void)fd;
	(void)what;
	if (st->x != NULL) {
		if (st->x->status == 0)
			st->x->status = st->body_in ? 408 : 499;
		st->x->note = st->body_in ?
		    "client stopped sending the request body" :
		    "client stopped reading the stream (send deadline)";
		exchange_drop_upstream(st->x);
		h2d_stream_done(st);
	}
	if (!st->closed)
		nghttp2_submit_rst_stream(st->d->ng, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_CANCEL);
	h2d_schedule_flush(st->d);
}

void
h2d_stream_arm(struct h2d_stream *st, double seconds)
{
	struct timeval tv = duration_tv(seconds);

	if (st->timer == NULL &&
	    (st->timer = evtimer_new(st->d->lp->base, stream_timer_cb,
	    st)) == NULL)
		abort();
	evtimer_add(st->timer, &tv);
}

/* While the request body is awaited, it must keep coming: each DATA
 * frame restarts client_idle (the HTTP/1.1 session's read deadline, per
 * stream). */
static void
x_timeouts(void *arg, bool body_in, bool body_out)
{
	struct h2d_stream *st = stream_checked(arg);

	(void)body_out;
	if (body_in && !st->body_in)
		h2d_stream_arm(st, st->d->cfg->timeouts.client_idle);
	else if (!body_in && st->body_in && st->timer != NULL)
		evtimer_del(st->timer);
	st->body_in = body_in;
}

/* The client must take bytes of a full stream output within
 * client_idle (the HTTP/1.1 session's send deadline, per stream). */
static void
x_stalled(void *arg)
{
	struct h2d_stream *st = stream_checked(arg);

	if (st->body_in)
		return;		/* that deadline runs already */
	if (st->timer == NULL || !evtimer_pending(st->timer, NULL))
		h2d_stream_arm(st, st->d->cfg->timeouts.client_idle);
}

static void
x_end(void *arg)
{
	struct h2d_stream *st = stream_checked(arg);

	st->out_end = true;
	x_flush(st);
	h2d_stream_done(st);
}

static void
x_fail(void *arg, unsigned status, const char *detail, unsigned retry_after)
{
	struct h2d_stream *st = stream_checked(arg);
	struct exchange *x = st->x;
	struct field_list fl = { 0 };
	struct msg_field f[4];
	struct msg_response rs = { .status = status, .body = MSG_BODY_SIZED };
	char len[24], ra[24];
	int n;

	x->status = status;
	x->note = detail;
	x->sent_to_client = true;
	x->resp = RS_DONE;
	exchange_drop_upstream(x);
	if (!st->closed) {
		evbuffer_add_printf(st->out, "%u %s\n%s\nrequest-id: %s\n",
		    status, h1_reason_phrase(status), detail, exchange_id(x));
		n = snprintf(len, sizeof(len), "%zu",
		    evbuffer_get_length(st->out));
		f[0] = (struct msg_field){ "content-type", 12, "text/plain", 10 };
		f[1] = (struct msg_field){ "content-length", 14, len, (size_t)n };
		f[2] = (struct msg_field){ "cache-control", 13, "no-store", 8 };
		fl.v = f;
		fl.n = 3;
		if (retry_after != 0) {
			n = snprintf(ra, sizeof(ra), "%u", retry_after);
			f[fl.n++] = (struct msg_field){ "retry-after", 11, ra,
			    (size_t)n };
		}
		if (st->head_req)
			evbuffer_drain(st->out, (size_t)-1);
		submit_head(st, &rs, &fl, !st->head_req);
		st->out_end = true;
		h2d_schedule_flush(st->d);
	}
	h2d_stream_done(st);
}

static void
x_abort(void *arg, const char *detail)
{
	struct h2d_stream *st = stream_checked(arg);

	st->x->note = detail;
	exchange_drop_upstream(st->x);
	if (!st->closed)
		nghttp2_submit_rst_stream(st->d->ng, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_INTERNAL_ERROR);
	h2d_schedule_flush(st->d);
	h2d_stream_done(st);
}

/* Copies the trailer fields (names in lower case) until the body's end
 * sends them. */
static void
x_trailers(void *arg, const struct msg_field *f, unsigned n)
{
	struct h2d_stream *st = stream_checked(arg);
	size_t bytes = 0;
	char *p;

	if (st->trailer_nv != NULL || n == 0)
		return;
	for (unsigned i = 0; i < n; i++)
		bytes += f[i].name_len + f[i].value_len;
	st->trailer_nv = xcalloc(n, sizeof(*st->trailer_nv));
	st->trailer_mem = p = xmalloc(bytes + 1);
	for (unsigned i = 0; i < n; i++) {
		nghttp2_nv *nv = &st->trailer_nv[st->ntrailer];

		/* Framing fields never come as trailers (RFC 9110 6.5.1). */
		if (msg_name_eq(&f[i], "content-length") ||
		    msg_name_eq(&f[i], "transfer-encoding") ||
		    msg_name_eq(&f[i], "host") || msg_name_eq(&f[i], "trailer"))
			continue;
		nv->name = (uint8_t *)p;
		for (size_t k = 0; k < f[i].name_len; k++) {
			char ch = f[i].name[k];

			p[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
		}
		nv->namelen = f[i].name_len;
		p += f[i].name_len;
		memcpy(p, f[i].value, f[i].value_len);
		nv->value = (uint8_t *)p;
		nv->valuelen = f[i].value_len;
		p += f[i].value_len;
		nv->flags = NGHTTP2_NV_FLAG_NONE;
		st->ntrailer++;
	}
	if (st->ntrailer == 0)
		h2d_trailers_free(st);
}

void
h2d_trailers_free(struct h2d_stream *st)
{
	free(st->trailer_nv);
	free(st->trailer_mem);
	st->trailer_nv = NULL;
	st->trailer_mem = NULL;
	st->ntrailer = 0;
}

const struct exchange_client_ops h2d_stream_xops = {
	.trailers = x_trailers,
	.body = x_body,
	.consumed = x_consumed,
	.send_head = x_send_head,
	.body_out = x_body_out,
	.flush = x_flush,
	.timeouts = x_timeouts,
	.stalled = x_stalled,
	.end = x_end,
	.fail = x_fail,
	.abort = x_abort,
};

/* --- streams and the session --- */

void
h2d_stream_free(struct h2d_stream *st)
{
	struct h2down *d = st->d;
	struct h2d_stream **pp;

	if (st->notify)
		for (pp = &d->writable; *pp != NULL; pp = &(*pp)->next_writable)
			if (*pp == st) {
				*pp = st->next_writable;
				break;
			}
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		d->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	if (st->timer != NULL)
		event_free(st->timer);
	for (unsigned i = 0; i < st->nhv; i++)
		nghttp2_rcbuf_decref(st->hv[i]);
	free(st->hv);
	free(st->fields);
	free(st->cookie);
	h2d_trailers_free(st);
	evbuffer_free(st->in);
	evbuffer_free(st->out);
	free(st);
}

