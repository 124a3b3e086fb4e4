/*
 * session: the client side of the proxy and the exchange state machine
 * (see session.h).  Every callback is a thin adapter: it checks the
 * magic, does the work of the current state and, when the session must
 * end, calls session_close() as its last statement.
 *
 * Back-pressure: each input buffer has a read high watermark, so a
 * bufferevent stops reading while its input is full; bytes move from one
 * side's input to the other side's output only while that output is
 * under OUT_HIGH, and a write callback (low watermark OUT_HIGH / 2)
 * resumes the move.  No buffer grows without bound.
 */
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "duration.h"
#include "h1.h"
#include "headers.h"
#include "log.h"
#include "router.h"
#include "runtime.h"
#include "session.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"
#include "xalloc.h"

#define SESSION_MAGIC	0x73657331u	/* "ses1" */
#define IN_HIGH		(64 * 1024)	/* read watermark of each input */
#define OUT_HIGH	(256 * 1024)	/* most bytes queued toward a peer */
#define RESP_HEAD_MAX	(64 * 1024)

enum session_state {
	S_HANDSHAKE,	/* TLS accept running; tls_handshake deadline */
	S_HEAD,		/* reading a request head; request_header deadline */
	S_CONNECT,	/* waiting for a new upstream connection */
	S_FORWARD,	/* request up, response down */
	S_IDLE,		/* keep-alive: waiting for the next request; client_idle */
	S_DRAIN,	/* flushing the last response, then close */
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
	char id[24];
	struct timeval t_start;
	struct req_target target;
	char host[256];
	const char *route_name;
	struct upstream_pool *pool;
	const struct upstream_spec *spec;
	bool to_partner;
	bool strip_identity;
	struct upstream_conn *uc;
	struct evbuffer *head;		/* upstream request head kept for a retry */
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
	struct worker *w;
	const struct listener_conf *lc;
	size_t listener;
	struct bufferevent *bev;
	struct event *timer;
	char peer[ADDR_STRLEN];
	char peer_host[ADDR_STRLEN];
	struct h1_parser *req;
	struct h1_parser *resp;
	bool in_exchange;
	struct exchange x;
	struct session *next, *prev;	/* the worker's list */
};

static const struct upstream_ops up_ops;

static const struct config *
cfg_of(const struct session *s)
{
	return s->w->rt->cfg;
}

static const char *
role_name(enum listener_role r)
{
	switch (r) {
	case ROLE_UE: return "ue";
	case ROLE_TRUSTED: return "trusted";
	case ROLE_PARTNER: return "partner";
	}
	return "?";
}

static double
ms_since(const struct session *s, const struct timeval *t0)
{
	struct timeval now, d;

	event_base_gettimeofday_cached(s->w->base, &now);
	timersub(&now, t0, &d);
	return (double)d.tv_sec * 1e3 + (double)d.tv_usec / 1e3;
}

static void
arm_timer(struct session *s, double seconds)
{
	struct timeval tv = duration_tv(seconds);

	evtimer_add(s->timer, &tv);
}

static SSL *
client_ssl(const struct session *s)
{
	return s->lc->tls.enabled ? bufferevent_openssl_get_ssl(s->bev) : NULL;
}

static void
log_exchange(struct session *s)
{
	struct exchange *x = &s->x;
	const struct h1_head *h = h1_head(s->req);

	if (x->logged || !log_access_enabled())
		return;
	x->logged = true;
	log_access("id=%s client=%s listener=%s route=%s target=%s "
	    "method=%s host=%s path=\"%.*s\" status=%u req_bytes=%llu "
	    "resp_bytes=%llu time_ms=%.3f tls=%s%s%s",
	    x->id, s->peer, role_name(s->lc->role),
	    x->route_name ? x->route_name : "-",
	    x->uc ? upstream_target(x->uc) : "-",
	    h->method ? h->method : "-", x->host[0] ? x->host : "-",
	    (int)(x->target.path_only_len > 256 ? 256 : x->target.path_only_len),
	    x->target.path ? x->target.path : "",
	    x->status, (unsigned long long)x->req_bytes,
	    (unsigned long long)x->resp_bytes, ms_since(s, &x->t_start),
	    tls_version(client_ssl(s)), x->note ? " note=" : "",
	    x->note ? x->note : "");
}

/*
 * The one teardown path.  Must be the last thing a callback does: s is
 * freed here.
 */
static void
session_close(struct session *s, const char *reason)
{
	struct worker *w = s->w;

	if (s->in_exchange) {
		if (s->x.status == 0)
			s->x.status = 499;	/* client went away (nginx's code) */
		if (s->x.note == NULL)
			s->x.note = reason;
		log_exchange(s);
	}
	log_debug("session %s: closed: %s", s->peer, reason);
	event_free(s->timer);
	if (s->x.uc != NULL) {
		upstream_release(s->x.uc, false);
		s->x.uc = NULL;
	}
	if (s->x.head != NULL)
		evbuffer_free(s->x.head);
	bufferevent_free(s->bev);	/* closes the fd, frees the SSL */
	h1_parser_free(s->req);
	h1_parser_free(s->resp);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsessions--;
	atomic_fetch_sub(&w->shared->connections, 1);
	s->magic = 0;
	free(s);
	worker_session_gone(w);
}

static void
start_drain(struct session *s)
{
	s->state = S_DRAIN;
	evtimer_del(s->timer);
	arm_timer(s, cfg_of(s)->timeouts.client_idle);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		session_close(s, "done");
		return;
	}
	/* The write callback closes once the output is flushed. */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	bufferevent_enable(s->bev, EV_WRITE);
}

static void
new_request_id(struct session *s)
{
	snprintf(s->x.id, sizeof(s->x.id), "%08x%02x%08llx",
	    s->w->id_prefix, s->w->index & 0xff,
	    (unsigned long long)++s->w->seq);
}

/*
 * Answers with the proxy's own response.  Keeps the connection only when
 * no request body remains unread; else closes after flushing.
 */
static void
respond_error(struct session *s, unsigned status, const char *detail,
    unsigned retry_after)
{
	struct exchange *x = &s->x;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char body[512];
	int n;
	bool keep;

	if (!s->in_exchange) {
		s->in_exchange = true;
		memset(x, 0, sizeof(*x));
		event_base_gettimeofday_cached(s->w->base, &x->t_start);
		new_request_id(s);
	}
	if (x->sent_to_client) {
		/* A response is half sent: the only signal left is closing. */
		x->note = detail;
		session_close(s, detail);
		return;
	}
	x->status = status;
	x->note = detail;
	keep = !x->close_after && x->req == RQ_DONE && !s->w->draining &&
	    (status == 403 || status == 421 || status == 502 || status == 503 ||
	    status == 504);
	n = snprintf(body, sizeof(body), "%u %s\n%s\nrequest-id: %s\n", status,
	    h1_reason_phrase(status), detail, x->id);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)strlen(body);
	evbuffer_add_printf(out, "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %d\r\nCache-Control: no-store\r\n", status,
	    h1_reason_phrase(status), n);
	if (retry_after)
		evbuffer_add_printf(out, "Retry-After: %u\r\n", retry_after);
	if (!keep)
		evbuffer_add(out, "Connection: close\r\n", 19);
	evbuffer_add_printf(out, "\r\n%.*s", n, body);
	x->sent_to_client = true;
	x->resp = RS_DONE;
	if (x->uc != NULL) {
		upstream_release(x->uc, false);
		x->uc = NULL;
	}
	log_exchange(s);
	s->in_exchange = false;
	if (!keep) {
		start_drain(s);
		return;
	}
	s->state = S_IDLE;
	h1_parser_reset(s->req, false);
	evtimer_del(s->timer);
	arm_timer(s, cfg_of(s)->timeouts.client_idle);
}

static void process_head(struct session *);
static void pump_request(struct session *);
static void pump_response(struct session *);

/* The exchange is over (response complete): keep-alive or close. */
static void
finish_exchange(struct session *s)
{
	struct exchange *x = &s->x;
	bool reusable;

	reusable = x->req == RQ_DONE && !h1_head(s->resp)->conn_close &&
	    h1_head(s->resp)->framing != H1_BODY_CLOSE && !x->up_eof;
	if (x->uc != NULL) {
		upstream_release(x->uc, reusable);
		x->uc = NULL;
	}
	log_exchange(s);
	s->in_exchange = false;
	bufferevent_set_timeouts(s->bev, NULL, NULL);
	if (x->close_after || x->req != RQ_DONE || s->w->draining) {
		start_drain(s);
		return;
	}
	s->state = S_IDLE;
	h1_parser_reset(s->req, false);
	evtimer_del(s->timer);
	arm_timer(s, cfg_of(s)->timeouts.client_idle);
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		/* A pipelined request is already waiting. */
		s->state = S_HEAD;
		evtimer_del(s->timer);
		arm_timer(s, cfg_of(s)->timeouts.request_header);
		process_head(s);
	}
}

/* Sends the request head to the connection just acquired. */
static void
send_head(struct session *s)
{
	struct exchange *x = &s->x;
	struct evbuffer *out = bufferevent_get_output(upstream_bev(x->uc));

	/* Keep a copy while a retry on a fresh connection is possible. */
	if (upstream_is_reused(x->uc) && !x->retried &&
	    h1_head(s->req)->method_idempotent && x->req == RQ_DONE)
		evbuffer_add(out, evbuffer_pullup(x->head, -1),
		    evbuffer_get_length(x->head));
	else
		evbuffer_add_buffer(out, x->head);
}

static void
upstream_ready(struct session *s)
{
	struct exchange *x = &s->x;
	struct bufferevent *ub = upstream_bev(x->uc);
	const struct config *c = cfg_of(s);
	struct timeval tv = duration_tv(c->timeouts.upstream_response);

	s->state = S_FORWARD;
	bufferevent_setwatermark(ub, EV_READ, 0, IN_HIGH);
	bufferevent_setwatermark(ub, EV_WRITE, OUT_HIGH / 2, 0);
	/* Read idle time counts once the request is complete (see
	 * pump_request); a stalled upstream write fails after the same. */
	bufferevent_set_timeouts(ub, x->req == RQ_DONE ? &tv : NULL, &tv);
	bufferevent_enable(ub, EV_READ | EV_WRITE);
	send_head(s);
	pump_request(s);
	if (s->state == S_FORWARD && s->x.uc != NULL)
		pump_response(s);
}

/* Retry-After for a 503: when an ejected target is tried again. */
static unsigned
retry_after_seconds(const struct upstream_spec *sp)
{
	unsigned n = (unsigned)sp->health.interval;

	return n < sp->health.interval ? n + 1 : (n ? n : 1);
}

/* Acquires an upstream connection (again, for a retry). */
static void
connect_upstream(struct session *s, bool fresh)
{
	struct exchange *x = &s->x;
	unsigned status = 502;
	const char *why = "cannot connect";

	x->attempts++;
	x->uc = upstream_acquire(x->pool, fresh, &up_ops, s, &status, &why);
	if (x->uc == NULL) {
		respond_error(s, status, why, status == 503 ?
		    retry_after_seconds(x->spec) : 0);
		return;
	}
	if (upstream_is_reused(x->uc)) {
		upstream_ready(s);
		return;
	}
	s->state = S_CONNECT;
}

static void
route_request(struct session *s)
{
	struct exchange *x = &s->x;
	const struct h1_head *h = h1_head(s->req);
	const struct config *c = cfg_of(s);
	const struct runtime *rt = s->w->rt;
	struct req_rewrite rw;
	struct route r;
	const char *why = NULL;

	if (h->method_connect) {
		x->close_after = true;
		respond_error(s, 405, "CONNECT is not supported: this proxy "
		    "forwards HTTP requests only", 0);
		return;
	}
	if (headers_parse_target(h, &x->target, &why) < 0 ||
	    !config_normalize_host(x->target.authority, x->target.authority_len,
	    x->host, sizeof(x->host))) {
		x->close_after = true;
		respond_error(s, 400, why ? why : "invalid host in the request", 0);
		return;
	}
	if (s->lc->role == ROLE_UE && h1_find(h, "x-3gpp-asserted-identity")) {
		respond_error(s, 403, "X-3GPP-Asserted-Identity is not accepted "
		    "from devices", 0);
		return;
	}
	r = router_match(rt->router, x->host, x->target.path,
	    x->target.path_only_len);
	switch (r.kind) {
	case ROUTE_NONE:
		respond_error(s, 421, "this proxy does not serve that host", 0);
		return;
	case ROUTE_IDM:
		respond_error(s, 403, "identity management (CSC-1) must be "
		    "reached directly, not through the HTTP proxy", 0);
		return;
	case ROUTE_SERVER:
		x->route_name = c->servers[r.index].name;
		x->pool = s->w->server_pools[r.index];
		break;
	case ROUTE_PARTNER:
		if (s->lc->role == ROLE_PARTNER) {
			respond_error(s, 421, "no transit between partner domains", 0);
			return;
		}
		x->route_name = c->partners[r.index].domain;
		x->pool = s->w->partner_pools[r.index];
		x->to_partner = true;
		break;
	}
	x->spec = upstream_pool_spec(x->pool);
	if (c->limits.max_body_bytes != 0 && h->framing == H1_BODY_SIZED &&
	    h->content_length > c->limits.max_body_bytes) {
		x->close_after = true;
		respond_error(s, 413, "request body larger than limits.max_body_bytes", 0);
		return;
	}
	memset(&rw, 0, sizeof(rw));
	rw.head = h;
	rw.target = &x->target;
	rw.via = c->headers.via;
	rw.forwarded = c->headers.forwarded;
	rw.client_host = s->peer_host;
	rw.client_tls = s->lc->tls.enabled;
	rw.strip_identity = x->strip_identity;
	rw.absolute_form = x->to_partner;
	x->head = evbuffer_new();
	headers_write_request(x->head, &rw);
	connect_upstream(s, false);
}

static void
begin_exchange(struct session *s)
{
	struct exchange *x = &s->x;
	const struct h1_head *h = h1_head(s->req);

	s->in_exchange = true;
	memset(x, 0, sizeof(*x));
	event_base_gettimeofday_cached(s->w->base, &x->t_start);
	new_request_id(s);
	x->req = h->framing == H1_BODY_NONE ? RQ_DONE : RQ_BODY;
	x->resp = RS_HEAD;
	x->close_after = h->conn_close;
	evtimer_del(s->timer);
	h1_parser_reset(s->resp, h->method_head);
	route_request(s);
}

static void
process_head(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	switch (h1_parse_head(s->req, in)) {
	case H1_AGAIN:
		return;
	case H1_ERROR:
		s->x.close_after = true;
		s->x.req = RQ_DONE;
		respond_error(s, h1_error_status(s->req), h1_error_reason(s->req), 0);
		return;
	case H1_DONE:
		begin_exchange(s);
		return;
	}
}

/* Moves request body bytes from the client to the upstream. */
static void
pump_request(struct session *s)
{
	struct exchange *x = &s->x;
	const struct config *c = cfg_of(s);
	struct bufferevent *ub;
	struct timeval tv;

	if (x->req != RQ_BODY || x->uc == NULL || s->state != S_FORWARD)
		return;
	ub = upstream_bev(x->uc);
	switch (h1_body(s->req, bufferevent_get_input(s->bev),
	    bufferevent_get_output(ub), true, OUT_HIGH, &x->req_bytes)) {
	case H1_AGAIN:
		break;
	case H1_DONE:
		x->req = RQ_DONE;
		tv = duration_tv(c->timeouts.upstream_response);
		bufferevent_set_timeouts(ub, &tv, &tv);
		bufferevent_set_timeouts(s->bev, NULL, NULL);
		break;
	case H1_ERROR:
		x->close_after = true;
		respond_error(s, h1_error_status(s->req), h1_error_reason(s->req), 0);
		return;
	}
	if (c->limits.max_body_bytes != 0 && x->req_bytes > c->limits.max_body_bytes) {
		x->close_after = true;
		respond_error(s, 413, "request body larger than limits.max_body_bytes", 0);
		return;
	}
	if (x->req == RQ_BODY) {
		tv = duration_tv(c->timeouts.client_idle);
		bufferevent_set_timeouts(s->bev, &tv, NULL);
	}
}

/* The response head is in: decide the framing toward the client. */
static int
start_response(struct session *s)
{
	struct exchange *x = &s->x;
	const struct h1_head *rq = h1_head(s->req), *rs = h1_head(s->resp);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	const struct config *c = cfg_of(s);

	if (rs->status == 101) {
		respond_error(s, 502, "upstream switched protocols", 0);
		return -1;
	}
	if (rs->status < 200) {
		/* Interim (100 Continue, 103): relayed to HTTP/1.1 clients. */
		if (rq->minor >= 1)
			headers_write_response(out, rs, c->headers.via, false, false);
		h1_parser_reset(s->resp, rq->method_head);
		return 0;
	}
	upstream_report(x->uc, true);
	x->status = rs->status;
	x->client_chunked = rq->minor >= 1;
	if ((rs->framing == H1_BODY_CHUNKED || rs->framing == H1_BODY_CLOSE) &&
	    !x->client_chunked)
		x->close_after = true;
	if (x->req != RQ_DONE || s->w->draining)
		x->close_after = true;
	headers_write_response(out, rs, c->headers.via, x->client_chunked,
	    x->close_after);
	x->sent_to_client = true;
	x->resp = RS_BODY;
	return 0;
}

/* Moves response bytes from the upstream to the client. */
static void
pump_response(struct session *s)
{
	struct exchange *x = &s->x;
	struct evbuffer *in = bufferevent_get_input(upstream_bev(x->uc));
	struct evbuffer *out = bufferevent_get_output(s->bev);
	enum h1_status rc;

	while (x->resp == RS_HEAD) {
		rc = h1_parse_head(s->resp, in);
		if (rc == H1_AGAIN)
			break;
		if (rc == H1_ERROR) {
			upstream_report(x->uc, false);
			respond_error(s, 502, h1_error_reason(s->resp), 0);
			return;
		}
		if (start_response(s) < 0)
			return;
	}
	if (x->resp == RS_BODY) {
		rc = h1_body(s->resp, in, out, x->client_chunked, OUT_HIGH,
		    &x->resp_bytes);
		if (rc == H1_AGAIN && x->up_eof && evbuffer_get_length(in) == 0)
			rc = h1_body_eof(s->resp, out, x->client_chunked);
		if (rc == H1_ERROR) {
			session_close(s, h1_error_reason(s->resp));
			return;
		}
		if (rc == H1_DONE) {
			x->resp = RS_DONE;
			finish_exchange(s);
			return;
		}
	}
	if (x->up_eof && x->resp == RS_HEAD) {
		upstream_report(x->uc, false);
		respond_error(s, 502, "upstream closed before responding", 0);
	}
}

/* --- upstream callbacks --- */

static struct session *
session_of(void *arg)
{
	struct session *s = arg;

	if (s->magic != SESSION_MAGIC)
		abort();	/* a callback for a freed session */
	return s;
}

static void
up_read(void *arg)
{
	struct session *s = session_of(arg);

	if (s->state == S_FORWARD)
		pump_response(s);
}

static void
up_write(void *arg)
{
	struct session *s = session_of(arg);

	if (s->state == S_FORWARD)
		pump_request(s);
}

/* A request may go again on a fresh connection: nothing of the response
 * arrived, the connection was a reused one that the server had closed,
 * and the request is idempotent and had no body. */
static bool
may_retry(const struct session *s)
{
	const struct exchange *x = &s->x;

	return x->uc != NULL && upstream_is_reused(x->uc) && !x->retried &&
	    x->resp == RS_HEAD && !x->sent_to_client &&
	    h1_head(s->req)->method_idempotent &&
	    h1_head(s->req)->framing == H1_BODY_NONE &&
	    evbuffer_get_length(bufferevent_get_input(upstream_bev(x->uc))) == 0;
}

static void
up_event(void *arg, short what)
{
	struct session *s = session_of(arg);
	struct exchange *x = &s->x;
	bool timeout = (what & BEV_EVENT_TIMEOUT) != 0;

	if (what & BEV_EVENT_CONNECTED) {
		upstream_ready(s);
		return;
	}
	if (s->state == S_CONNECT) {
		/* Nothing was sent: another target may take it. */
		log_info("session %s: upstream %s: %s, while connecting (route %s)",
		    s->peer, upstream_target(x->uc), timeout ? "timed out" :
		    "connection failed", x->route_name);
		upstream_release(x->uc, false);
		x->uc = NULL;
		if (x->attempts < x->spec->ntargets) {
			connect_upstream(s, true);
			return;
		}
		respond_error(s, timeout ? 504 : 502, timeout ?
		    "upstream connect timed out" : "upstream refused or unreachable", 0);
		return;
	}
	if (timeout) {
		upstream_report(x->uc, false);
		respond_error(s, 504, "upstream response timed out", 0);
		return;
	}
	if (may_retry(s)) {
		upstream_release(x->uc, false);
		x->uc = NULL;
		x->retried = true;
		connect_upstream(s, true);
		return;
	}
	x->up_eof = true;
	pump_response(s);
}

static const struct upstream_ops up_ops = {
	.on_read = up_read,
	.on_write = up_write,
	.on_event = up_event,
};

/* --- client callbacks --- */

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct session *s = session_of(arg);

	switch (s->state) {
	case S_IDLE:
		s->state = S_HEAD;
		evtimer_del(s->timer);
		arm_timer(s, cfg_of(s)->timeouts.request_header);
		/* FALLTHROUGH */
	case S_HEAD:
		process_head(s);
		break;
	case S_FORWARD:
		pump_request(s);
		break;
	case S_DRAIN:
		/* Whatever comes after the last response is not read. */
		evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
		break;
	case S_HANDSHAKE:
	case S_CONNECT:
		break;
	}
}

static void
client_write(struct bufferevent *bev, void *arg)
{
	struct session *s = session_of(arg);

	if (s->state == S_DRAIN) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			session_close(s, "done");
		return;
	}
	if (s->state == S_FORWARD && s->x.uc != NULL)
		pump_response(s);
}

static void
handshake_done(struct session *s)
{
	s->state = S_HEAD;
	evtimer_del(s->timer);
	arm_timer(s, cfg_of(s)->timeouts.request_header);
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		process_head(s);
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = session_of(arg);
	char err[256] = "";

	if (what & BEV_EVENT_CONNECTED) {
		handshake_done(s);
		return;
	}
	if (s->state == S_HANDSHAKE) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		if (e != 0)
			ERR_error_string_n(e, err, sizeof(err));
		log_info("session %s: TLS handshake failed: %s", s->peer,
		    err[0] ? err : "connection closed");
		session_close(s, "TLS handshake failed");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		session_close(s, what & BEV_EVENT_READING ?
		    "client stopped sending" : "client stopped reading");
		return;
	}
	session_close(s, what & BEV_EVENT_EOF ? "client closed" : "client error");
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = session_of(arg);

	switch (s->state) {
	case S_HANDSHAKE:
		session_close(s, "TLS handshake timed out");
		return;
	case S_HEAD:
		if (!h1_head_started(s->req) &&
		    evbuffer_get_length(bufferevent_get_input(s->bev)) == 0) {
			session_close(s, "no request");
			return;
		}
		s->x.close_after = true;
		s->x.req = RQ_DONE;
		respond_error(s, 408, "request head not received in time", 0);
		return;
	case S_IDLE:
		session_close(s, "keep-alive timeout");
		return;
	case S_DRAIN:
		session_close(s, "client did not read the last response");
		return;
	case S_CONNECT:
	case S_FORWARD:
		break;
	}
}

void
session_accept(struct worker *w, size_t li, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	const struct runtime *rt = w->rt;
	const struct listener_conf *lc = &rt->cfg->listeners[li];
	const struct config *c = rt->cfg;
	struct session *s;
	struct bufferevent *bev;
	int opts = BEV_OPT_CLOSE_ON_FREE;

	if (rt->listener_ctx[li] != NULL) {
		SSL *ssl = SSL_new(rt->listener_ctx[li]);

		if (ssl == NULL) {
			log_warnx("listener %s: cannot create a TLS session", lc->address);
			close(fd);
			return;
		}
		/* On failure this frees ssl and closes fd itself. */
		bev = bufferevent_openssl_socket_new(w->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, opts);
		if (bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else
		bev = bufferevent_socket_new(w->base, fd, opts);
	if (bev == NULL) {
		log_warnx("listener %s: cannot set up a connection", lc->address);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->magic = SESSION_MAGIC;
	s->w = w;
	s->lc = lc;
	s->listener = li;
	s->bev = bev;
	addr_format(sa, s->peer, sizeof(s->peer));
	addr_format_host(sa, s->peer_host, sizeof(s->peer_host));
	s->req = h1_parser_new(H1_REQUEST, c->limits.max_header_bytes,
	    c->limits.max_header_fields);
	s->resp = h1_parser_new(H1_RESPONSE, RESP_HEAD_MAX, 1000);
	s->timer = evtimer_new(w->base, timer_cb, s);
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;
	atomic_fetch_add(&w->shared->connections, 1);
	bufferevent_setcb(bev, client_read, client_write, client_event, s);
	bufferevent_setwatermark(bev, EV_READ, 0, IN_HIGH);
	bufferevent_setwatermark(bev, EV_WRITE, OUT_HIGH / 2, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (rt->listener_ctx[li] != NULL) {
		s->state = S_HANDSHAKE;
		arm_timer(s, c->timeouts.tls_handshake);
	} else {
		s->state = S_HEAD;
		arm_timer(s, c->timeouts.request_header);
	}
}

void
session_drain_all(struct worker *w)
{
	struct session *s, *next;

	for (s = w->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_HANDSHAKE || s->state == S_IDLE ||
		    (s->state == S_HEAD && !h1_head_started(s->req)))
			session_close(s, "shutting down");
	}
}

void
session_close_all(struct worker *w)
{
	while (w->sessions != NULL)
		session_close(w->sessions, "shutdown deadline passed");
}
