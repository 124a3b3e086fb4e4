/*
 * exchange: one request's trip through the proxy (see session_priv.h):
 * route it, get an upstream connection (retrying on another target when
 * nothing was sent, or once on a fresh connection when a reused one was
 * found closed), send the rewritten head, pump the request body up and
 * the response down under back-pressure, then hand the connection back
 * to the pool and the session back to keep-alive.
 */
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "h1.h"
#include "headers.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "runtime.h"
#include "session_priv.h"
#include "upstream.h"

/* Request-level settings (upstream timeouts, body limit) come from the
 * request's generation; connection-level ones from session_cfg(). */
static const struct config *
request_cfg(const struct session *s)
{
	return s->x->g->rt->cfg;
}

/*
 * Client idle limits while forwarding: a client that stops sending its
 * body, or stops reading the response, is dropped after client_idle.
 * Set on state changes only.
 */
static void
client_timeouts(struct session *s)
{
	double idle = session_cfg(s)->timeouts.client_idle;

	conn_set_timeouts(s->conn, s->x->req == RQ_BODY ? idle : 0,
	    s->x->resp == RS_BODY ? idle : 0);
}

static struct conn *
up_conn(const struct session *s)
{
	return upstream_io(s->x->uc);
}

/* The exchange is over (response complete): keep-alive or close. */
static void
finish_exchange(struct session *s)
{
	struct exchange *x = s->x;
	bool reusable;

	reusable = x->req == RQ_DONE && !h1_head(s->resp)->conn_close &&
	    h1_head(s->resp)->framing != H1_BODY_CLOSE && !x->up_eof;
	if (x->uc != NULL) {
		upstream_release(x->uc, reusable);
		x->uc = NULL;
	}
	session_log_exchange(s);
	s->in_exchange = false;
	conn_set_timeouts(s->conn, 0, 0);
	if (x->close_after || x->req != RQ_DONE || s->lp->draining) {
		session_start_drain(s);
		return;
	}
	session_keep_alive(s);
}

/* Queues the request head on the connection just acquired (the request
 * pump flushes it, with the first body bytes). */
static void
send_head(struct session *s)
{
	struct exchange *x = s->x;
	struct evbuffer *out = conn_output(up_conn(s));

	/* Keep the head while a retry on a fresh connection is possible. */
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
	struct exchange *x = s->x;
	struct conn *uc = up_conn(s);
	double t = request_cfg(s)->timeouts.upstream_response;

	s->state = S_FORWARD;
	conn_set_read_high(uc, IN_HIGH);
	conn_set_write_low(uc, OUT_HIGH / 2);
	/* Read idle time counts once the request is complete (see
	 * exchange_pump_request); a stalled upstream write fails after the same. */
	conn_set_timeouts(uc, x->req == RQ_DONE ? t : 0, t);
	client_timeouts(s);
	send_head(s);
	conn_flush(uc);
	exchange_pump_request(s);
	if (s->state == S_FORWARD && s->x->uc != NULL)
		exchange_pump_response(s);
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
	struct exchange *x = s->x;
	unsigned status = 502;
	const char *why = "cannot connect";

	x->attempts++;
	x->uc = upstream_acquire(x->pool, fresh, &exchange_upstream_ops, s, &status, &why);
	if (x->uc == NULL) {
		session_respond_error(s, status, why, status == 503 ?
		    retry_after_seconds(x->spec) : 0);
		return;
	}
	x->target_name = upstream_target(x->uc);
	if (upstream_is_reused(x->uc)) {
		upstream_ready(s);
		return;
	}
	s->state = S_CONNECT;
}

/* Applies contract section 4 (policy_decide) and starts forwarding, or
 * answers the refusal. */
static void
route_request(struct session *s)
{
	struct exchange *x = s->x;
	const struct h1_head *h = h1_head(s->req);
	const struct runtime *rt = x->g->rt;
	const struct config *c = rt->cfg;
	struct policy_in in = {
		.cfg = c,
		.router = rt->router,
		.role = s->lc->role,
		.partner = s->partner,
		.rq = &x->rq,
	};
	struct verdict v;
	struct req_rewrite rw;
	const char *why = NULL;

	if (headers_request_msg(h, &x->rq, &why) < 0)
		in.target_error = why ? why : "invalid request target";
	policy_decide(&in, &v);
	memcpy(x->host, v.host, sizeof(x->host));
	switch (v.count) {
	case COUNT_NONE:
		break;
	case COUNT_IDENTITY:
		stats_add(&s->lp->stats.identity_refusals, 1);
		break;
	case COUNT_CSC1:
		stats_add(&s->lp->stats.csc1_refusals, 1);
		break;
	}
	switch (v.kind) {
	case VERDICT_REFUSE:
		if (v.close)
			x->close_after = true;
		session_respond_error(s, v.status, v.reason, 0);
		return;
	case VERDICT_SERVER:
		x->route_name = c->servers[v.index].name;
		x->route_slot = rt->server_slot[v.index];
		x->pool = x->g->server_pools[v.index];
		break;
	case VERDICT_PARTNER:
		x->route_name = c->partners[v.index].domain;
		x->route_slot = rt->partner_slot[v.index];
		x->pool = x->g->partner_pools[v.index];
		x->to_partner = true;
		break;
	}
	x->spec = upstream_pool_spec(x->pool);
	memset(&rw, 0, sizeof(rw));
	rw.rq = &x->rq;
	rw.via = c->headers.via;
	/* Topology hiding: no own client addresses toward a partner. */
	rw.forwarded = x->to_partner ? FORWARDED_OFF : c->headers.forwarded;
	rw.client_host = s->peer_host;
	rw.client_tls = s->lc->tls.enabled;
	/* From a partner, its policy says whether the identity passes. */
	rw.strip_identity = s->partner != NULL &&
	    s->partner->asserted_identity == IDENTITY_STRIP;
	rw.absolute_form = x->to_partner;
	rw.identity_field = c->headers.client_identity;
	/* Who authenticated is for own servers only, never for partners. */
	rw.identity = x->to_partner ? NULL : s->peer_id;
	if (s->uphead == NULL)
		s->uphead = evbuffer_new();
	x->head = s->uphead;
	/* A copy kept for a retry may be left from the last request. */
	evbuffer_drain(x->head, evbuffer_get_length(x->head));
	headers_rewrite_request(&rw, &s->lp->upfields);
	h1_write_request(x->head, &x->rq, x->to_partner, &s->lp->upfields);
	connect_upstream(s, false);
}

void
exchange_begin(struct session *s)
{
	const struct h1_head *h = h1_head(s->req);
	struct exchange *x = session_new_exchange(s);

	x->g = loop_gen_get(s->lp);
	x->req = h->framing == H1_BODY_NONE ? RQ_DONE : RQ_BODY;
	x->resp = RS_HEAD;
	x->close_after = h->conn_close;
	evtimer_del(s->timer);
	if (s->resp == NULL)
		s->resp = loop_take_parser(s->lp, false);
	h1_parser_reset(s->resp, h->method_head);
	route_request(s);
}


/*
 * A request body failed its checks: what this pass moved toward the
 * upstream has not been written yet (conn_flush writes later in the
 * pass), so none of it leaves; the connection is closed, never reused.
 */
static void
refuse_body(struct session *s, unsigned status, const char *why)
{
	evbuffer_drain(conn_output(up_conn(s)), (size_t)-1);
	s->x->close_after = true;
	session_respond_error(s, status, why, 0);
}

/* Moves request body bytes from the client to the upstream. */
void
exchange_pump_request(struct session *s)
{
	struct exchange *x = s->x;
	const struct config *c = request_cfg(s);
	double t;

	if (x->req != RQ_BODY || x->uc == NULL || s->state != S_FORWARD) {
		/* Bytes of a pipelined request wait for this exchange. */
		session_input_consumed(s);
		return;
	}
	switch (h1_body(s->req, conn_input(s->conn), conn_output(up_conn(s)),
	    true, OUT_HIGH, &x->req_bytes)) {
	case H1_AGAIN:
		break;
	case H1_DONE:
		x->req = RQ_DONE;
		/* Waiting for the response starts now. */
		t = c->timeouts.upstream_response;
		conn_set_timeouts(up_conn(s), t, t);
		client_timeouts(s);
		break;
	case H1_ERROR:
		refuse_body(s, h1_error_status(s->req), h1_error_reason(s->req));
		return;
	}
	if (c->limits.max_body_bytes != 0 &&
	    x->req_bytes > c->limits.max_body_bytes) {
		refuse_body(s, 413, "request body larger than limits.max_body_bytes");
		return;
	}
	conn_flush(up_conn(s));
	session_input_consumed(s);
}

/* The response head is in: decide the framing toward the client. */
static int
start_response(struct session *s)
{
	struct exchange *x = s->x;
	const struct h1_head *rq = h1_head(s->req), *rs = h1_head(s->resp);
	struct evbuffer *out = conn_output(s->conn);
	const struct config *c = request_cfg(s);

	if (rs->status == 101) {
		session_respond_error(s, 502, "upstream switched protocols", 0);
		return -1;
	}
	if (rs->status < 200) {
		/* Interim (100 Continue, 103): relayed to HTTP/1.1 clients. */
		if (rq->minor >= 1) {
			h1_write_response(out, rs, c->headers.via, false, false);
			conn_flush(s->conn);
		}
		h1_parser_reset(s->resp, rq->method_head);
		return 0;
	}
	upstream_report(x->uc, true);
	x->upstream_ms = session_ms_since(&x->t_start);
	x->status = rs->status;
	x->client_chunked = rq->minor >= 1;
	if ((rs->framing == H1_BODY_CHUNKED || rs->framing == H1_BODY_CLOSE) &&
	    !x->client_chunked)
		x->close_after = true;
	if (x->req != RQ_DONE || s->lp->draining)
		x->close_after = true;
	h1_write_response(out, rs, c->headers.via, x->client_chunked,
	    x->close_after);
	x->sent_to_client = true;
	x->resp = RS_BODY;
	client_timeouts(s);
	return 0;
}

/* Moves response bytes from the upstream to the client. */
void
exchange_pump_response(struct session *s)
{
	struct exchange *x = s->x;
	struct evbuffer *in = conn_input(up_conn(s));
	struct evbuffer *out = conn_output(s->conn);
	enum h1_status rc;

	while (x->resp == RS_HEAD) {
		rc = h1_parse_head(s->resp, in);
		if (rc == H1_AGAIN)
			break;
		if (rc == H1_ERROR) {
			upstream_report(x->uc, false);
			session_respond_error(s, 502, h1_error_reason(s->resp), 0);
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
		conn_flush(s->conn);
		if (rc == H1_ERROR) {
			/* Cut or broken mid-body: the client keeps what it got,
			 * and learns from the close that it is not all. */
			upstream_report(x->uc, false);
			session_abort(s, h1_error_reason(s->resp));
			return;
		}
		if (rc == H1_DONE) {
			x->resp = RS_DONE;
			finish_exchange(s);
			return;
		}
		/*
		 * The client is the bottleneck: it must take half of what is
		 * queued (client_write) within client_idle.  A write deadline
		 * alone would be pushed back for ever by a reader taking a
		 * few bytes now and then (slowhttptest -X).
		 */
		if (evbuffer_get_length(out) >= OUT_HIGH &&
		    !evtimer_pending(s->timer, NULL))
			session_arm_timer(s, session_cfg(s)->timeouts.client_idle);
	}
	if (x->up_eof && x->resp == RS_HEAD) {
		upstream_report(x->uc, false);
		session_respond_error(s, 502, "upstream closed before responding", 0);
		return;
	}
	/* Reading pauses while the client is the bottleneck (conn.h). */
	upstream_input_flow(x->uc);
}

/* --- upstream callbacks --- */


static void
up_read(void *arg)
{
	struct session *s = session_checked(arg);

	if (s->state == S_FORWARD)
		exchange_pump_response(s);
}

static void
up_write(void *arg)
{
	struct session *s = session_checked(arg);

	if (s->state == S_FORWARD)
		exchange_pump_request(s);
}

/* A request may go again on a fresh connection: nothing of the response
 * arrived, the connection was a reused one that the server had closed,
 * and the request is idempotent and had no body. */
static bool
may_retry(const struct session *s)
{
	const struct exchange *x = s->x;

	return x->uc != NULL && upstream_is_reused(x->uc) && !x->retried &&
	    x->resp == RS_HEAD && !x->sent_to_client &&
	    h1_head(s->req)->method_idempotent &&
	    h1_head(s->req)->framing == H1_BODY_NONE &&
	    evbuffer_get_length(conn_input(up_conn(s))) == 0;
}

static void
up_event(void *arg, unsigned what)
{
	struct session *s = session_checked(arg);
	struct exchange *x = s->x;
	bool timeout = (what & CONN_EV_TIMEOUT) != 0;

	if (what & CONN_EV_CONNECTED) {
		upstream_ready(s);
		return;
	}
	if (s->state == S_CONNECT) {
		/* Nothing was sent: another target may take it. */
		log_info("session %s: upstream %s: %s, while connecting (route %s)",
		    s->peer, upstream_target(x->uc), timeout ? "timed out" :
		    conn_errno(up_conn(s)) != 0 ? strerror(conn_errno(up_conn(s))) :
		    "TLS handshake failed",
		    x->route_name);
		upstream_release(x->uc, false);
		x->uc = NULL;
		if (x->attempts < x->spec->ntargets) {
			connect_upstream(s, true);
			return;
		}
		session_respond_error(s, timeout ? 504 : 502, timeout ?
		    "upstream connect timed out" : "upstream refused or unreachable", 0);
		return;
	}
	if (timeout) {
		upstream_report(x->uc, false);
		session_respond_error(s, 504, "upstream response timed out", 0);
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
	exchange_pump_response(s);
}

const struct upstream_ops exchange_upstream_ops = {
	.on_read = up_read,
	.on_write = up_write,
	.on_event = up_event,
};