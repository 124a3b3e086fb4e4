/*
 * exchange: one request's trip through the proxy (see exchange.h):
 * route it, lease an upstream stream (retrying on another target when
 * nothing was sent, or once on a fresh connection when a reused one was
 * found closed), send the rewritten head, pump the request body up and
 * the response down under back-pressure, then give the stream back and
 * tell the client side the response is complete.
 *
 * Every step that calls the client's end, fail or abort returns false
 * (or is the caller's last statement): the client side may have freed
 * the exchange in that call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "exchange.h"
#include "h1.h"
#include "headers.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "runtime.h"
#include "upstream.h"
#include "xalloc.h"

#define EXCHANGE_MAGIC	0x78636831u	/* "xch1" */

static const struct upstream_ops exchange_upstream_ops;

static struct exchange *
exchange_checked(void *arg)
{
	struct exchange *x = arg;

	if (x->magic != EXCHANGE_MAGIC)
		abort();	/* a callback for a freed exchange */
	return x;
}

double
exchange_ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

struct exchange *
exchange_new(struct loop *lp, const struct exchange_client *cl)
{
	struct exchange *x = xcalloc(1, sizeof(*x));

	x->magic = EXCHANGE_MAGIC;
	x->state = X_NEW;
	x->lp = lp;
	x->cl = *cl;
	x->g = loop_gen_get(lp);
	clock_gettime(CLOCK_MONOTONIC, &x->t_start);
	x->upstream_ms = -1;
	x->seq = ++lp->seq;
	return x;
}

void
exchange_drop_upstream(struct exchange *x)
{
	if (x->up != NULL) {
		upstream_release(x->up, false);
		x->up = NULL;
	}
}

void
exchange_free(struct exchange *x)
{
	if (x == NULL)
		return;
	exchange_drop_upstream(x);
	if (x->resp_parser != NULL)
		loop_give_parser(x->lp, x->resp_parser, false);
	loop_gen_put(x->lp, x->g);
	x->magic = 0;
	free(x);
}

const char *
exchange_id(struct exchange *x)
{
	if (x->id[0] == '\0')
		snprintf(x->id, sizeof(x->id), "%08x%02x%08llx", x->lp->id_prefix,
		    x->lp->index & 0xff, (unsigned long long)x->seq);
	return x->id;
}

/* The client side's calls that end the exchange's part: x may be gone
 * when they return. */
static void
client_end(struct exchange *x)
{
	x->state = X_DONE;
	x->cl.ops->end(x->cl.arg);
}

static void
client_fail(struct exchange *x, unsigned status, const char *detail,
    unsigned retry_after)
{
	exchange_drop_upstream(x);
	x->state = X_DONE;
	x->cl.ops->fail(x->cl.arg, status, detail, retry_after);
}

static void
client_abort(struct exchange *x, const char *detail)
{
	exchange_drop_upstream(x);
	x->state = X_DONE;
	x->cl.ops->abort(x->cl.arg, detail);
}

/* Request-level settings (upstream timeouts, body limit) come from the
 * request's generation. */
static const struct config *
request_cfg(const struct exchange *x)
{
	return x->g->rt->cfg;
}

static const struct h1_head *
req_head(const struct exchange *x)
{
	return h1_head(x->req_parser);
}

/* The client's idle limits follow the exchange's states (set on state
 * changes only). */
static void
client_timeouts(struct exchange *x)
{
	x->cl.ops->timeouts(x->cl.arg, x->req == RQ_BODY, x->resp == RS_BODY);
}

static struct conn *
up_conn(const struct exchange *x)
{
	return upstream_io(x->up);
}

/* The response is complete: the stream goes back (kept when both sides
 * allow it), and the client side takes over. */
static void
finish_exchange(struct exchange *x)
{
	const struct h1_head *rs = h1_head(x->resp_parser);
	bool reusable;

	reusable = x->req == RQ_DONE && !rs->conn_close &&
	    rs->framing != H1_BODY_CLOSE && !x->up_eof;
	if (x->up != NULL) {
		upstream_release(x->up, reusable);
		x->up = NULL;
	}
	if (x->req != RQ_DONE || x->lp->draining)
		x->close_after = true;
	client_end(x);
}

/*
 * Queues the request head on the stream just leased (the request pump
 * flushes it, with the first body bytes): rewritten (headers.c) and
 * written for HTTP/1.1 into the stream's output.  A retry on a fresh
 * connection writes it again, the same: nothing is kept for it.
 */
static void
send_head(struct exchange *x)
{
	const struct config *c = request_cfg(x);
	struct field_list *fl = &x->lp->upfields;
	struct req_rewrite rw;

	memset(&rw, 0, sizeof(rw));
	rw.rq = &x->rq;
	rw.via = c->headers.via;
	/* Topology hiding: no own client addresses toward a partner. */
	rw.forwarded = x->to_partner ? FORWARDED_OFF : c->headers.forwarded;
	rw.client_host = x->cl.peer_host;
	rw.client_tls = x->cl.tls;
	/* From a partner, its policy says whether the identity passes. */
	rw.strip_identity = x->cl.partner != NULL &&
	    x->cl.partner->asserted_identity == IDENTITY_STRIP;
	rw.absolute_form = x->to_partner;
	rw.identity_field = c->headers.client_identity;
	/* Who authenticated is for own servers only, never for partners. */
	rw.identity = x->to_partner ? NULL : x->cl.peer_id;
	headers_rewrite_request(&rw, fl);
	h1_write_request(conn_output(up_conn(x)), &x->rq, x->to_partner, fl);
}

static bool pump_request(struct exchange *);
static bool pump_response(struct exchange *);

static void
upstream_ready(struct exchange *x)
{
	struct conn *uc = up_conn(x);
	double t = request_cfg(x)->timeouts.upstream_response;

	x->state = X_FORWARD;
	conn_set_read_high(uc, IN_HIGH);
	conn_set_write_low(uc, OUT_HIGH / 2);
	/* Read idle time counts once the request is complete (see
	 * pump_request); a stalled upstream write fails after the same. */
	conn_set_timeouts(uc, x->req == RQ_DONE ? t : 0, t);
	client_timeouts(x);
	send_head(x);
	conn_flush(uc);
	if (!pump_request(x))
		return;
	if (x->state == X_FORWARD && x->up != NULL)
		(void)pump_response(x);
}

/* Retry-After for a 503: when an ejected target is tried again. */
static unsigned
retry_after_seconds(const struct upstream_spec *sp)
{
	unsigned n = (unsigned)sp->health.interval;

	return n < sp->health.interval ? n + 1 : (n ? n : 1);
}

/* Leases an upstream stream (again, for a retry). */
static void
connect_upstream(struct exchange *x, bool fresh)
{
	unsigned status = 502;
	const char *why = "cannot connect";

	x->attempts++;
	x->up = upstream_acquire(x->pool, fresh, &exchange_upstream_ops, x,
	    &status, &why);
	if (x->up == NULL) {
		client_fail(x, status, why, status == 503 ?
		    retry_after_seconds(x->spec) : 0);
		return;
	}
	x->target_name = upstream_target(x->up);
	if (upstream_is_reused(x->up)) {
		upstream_ready(x);
		return;
	}
	x->state = X_CONNECT;
}

/* Applies contract section 4 (policy_decide) and starts forwarding, or
 * answers the refusal. */
static void
route_request(struct exchange *x)
{
	const struct h1_head *h = req_head(x);
	const struct runtime *rt = x->g->rt;
	const struct config *c = rt->cfg;
	struct policy_in in = {
		.cfg = c,
		.router = rt->router,
		.role = x->cl.role,
		.partner = x->cl.partner,
		.rq = &x->rq,
	};
	struct verdict v;
	const char *why = NULL;

	if (headers_request_msg(h, &x->rq, &why) < 0)
		in.target_error = why ? why : "invalid request target";
	policy_decide(&in, &v);
	memcpy(x->host, v.host, sizeof(x->host));
	switch (v.count) {
	case COUNT_NONE:
		break;
	case COUNT_IDENTITY:
		stats_add(&x->lp->stats.identity_refusals, 1);
		break;
	case COUNT_CSC1:
		stats_add(&x->lp->stats.csc1_refusals, 1);
		break;
	}
	switch (v.kind) {
	case VERDICT_REFUSE:
		if (v.close)
			x->close_after = true;
		client_fail(x, v.status, v.reason, 0);
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
	connect_upstream(x, false);
}

void
exchange_begin(struct exchange *x, struct h1_parser *req)
{
	const struct h1_head *h = h1_head(req);

	x->req_parser = req;
	x->req = h->framing == H1_BODY_NONE ? RQ_DONE : RQ_BODY;
	x->resp = RS_HEAD;
	x->close_after = h->conn_close;
	x->resp_parser = loop_take_parser(x->lp, false);
	h1_parser_reset(x->resp_parser, h->method_head);
	route_request(x);
}

/*
 * A request body failed its checks: what this pass moved toward the
 * upstream has not been written yet (conn_flush writes later in the
 * pass), so none of it leaves; the stream is closed, never reused.
 */
static void
refuse_body(struct exchange *x, unsigned status, const char *why)
{
	evbuffer_drain(conn_output(up_conn(x)), (size_t)-1);
	x->close_after = true;
	client_fail(x, status, why, 0);
}

/* Moves request body bytes from the client to the upstream.  False when
 * the exchange may be gone (the client side answered). */
static bool
pump_request(struct exchange *x)
{
	const struct config *c = request_cfg(x);
	double t;

	if (x->req != RQ_BODY || x->up == NULL || x->state != X_FORWARD) {
		/* Bytes of a pipelined request wait for this exchange. */
		x->cl.ops->consumed(x->cl.arg);
		return true;
	}
	switch (h1_body(x->req_parser, x->cl.ops->input(x->cl.arg),
	    conn_output(up_conn(x)), true, OUT_HIGH, &x->req_bytes)) {
	case H1_AGAIN:
		break;
	case H1_DONE:
		x->req = RQ_DONE;
		/* Waiting for the response starts now. */
		t = c->timeouts.upstream_response;
		conn_set_timeouts(up_conn(x), t, t);
		client_timeouts(x);
		break;
	case H1_ERROR:
		refuse_body(x, h1_error_status(x->req_parser),
		    h1_error_reason(x->req_parser));
		return false;
	}
	if (c->limits.max_body_bytes != 0 &&
	    x->req_bytes > c->limits.max_body_bytes) {
		refuse_body(x, 413, "request body larger than limits.max_body_bytes");
		return false;
	}
	conn_flush(up_conn(x));
	x->cl.ops->consumed(x->cl.arg);
	return true;
}

/* The upstream response head rs, rewritten for the client (hop-by-hop
 * fields, Via), goes to the client side's writer. */
static void
client_send_head(struct exchange *x, const struct h1_head *rs, bool chunked,
    bool close)
{
	struct msg_response m;
	struct field_list *fl = &x->lp->downfields;

	headers_response_msg(rs, &m);
	headers_rewrite_response(&m, request_cfg(x)->headers.via, fl);
	x->cl.ops->send_head(x->cl.arg, &m, fl, chunked, close);
}

/* The response head is in: decide the framing toward the client. */
static bool
start_response(struct exchange *x)
{
	const struct h1_head *rq = req_head(x), *rs = h1_head(x->resp_parser);

	if (rs->status == 101) {
		client_fail(x, 502, "upstream switched protocols", 0);
		return false;
	}
	if (rs->status < 200) {
		/* Interim (100 Continue, 103): relayed to HTTP/1.1 clients. */
		if (rq->minor >= 1) {
			client_send_head(x, rs, false, false);
			x->cl.ops->flush(x->cl.arg);
		}
		h1_parser_reset(x->resp_parser, rq->method_head);
		return true;
	}
	upstream_report(x->up, true);
	x->upstream_ms = exchange_ms_since(&x->t_start);
	x->status = rs->status;
	x->client_chunked = rq->minor >= 1;
	if ((rs->framing == H1_BODY_CHUNKED || rs->framing == H1_BODY_CLOSE) &&
	    !x->client_chunked)
		x->close_after = true;
	if (x->req != RQ_DONE || x->lp->draining)
		x->close_after = true;
	client_send_head(x, rs, x->client_chunked, x->close_after);
	x->sent_to_client = true;
	x->resp = RS_BODY;
	client_timeouts(x);
	return true;
}

/* Moves response bytes from the upstream to the client.  False when the
 * exchange may be gone. */
static bool
pump_response(struct exchange *x)
{
	struct evbuffer *in = conn_input(up_conn(x));
	struct evbuffer *out;
	enum h1_status rc;

	while (x->resp == RS_HEAD) {
		rc = h1_parse_head(x->resp_parser, in);
		if (rc == H1_AGAIN)
			break;
		if (rc == H1_ERROR) {
			upstream_report(x->up, false);
			client_fail(x, 502, h1_error_reason(x->resp_parser), 0);
			return false;
		}
		if (!start_response(x))
			return false;
	}
	if (x->resp == RS_BODY) {
		out = x->cl.ops->body_out(x->cl.arg);
		rc = h1_body(x->resp_parser, in, out, x->client_chunked,
		    OUT_HIGH, &x->resp_bytes);
		if (rc == H1_AGAIN && x->up_eof && evbuffer_get_length(in) == 0)
			rc = h1_body_eof(x->resp_parser, out, x->client_chunked);
		x->cl.ops->flush(x->cl.arg);
		if (rc == H1_ERROR) {
			/* Cut or broken mid-body: the client keeps what it got,
			 * and learns from the close that it is not all. */
			upstream_report(x->up, false);
			client_abort(x, h1_error_reason(x->resp_parser));
			return false;
		}
		if (rc == H1_DONE) {
			x->resp = RS_DONE;
			finish_exchange(x);
			return false;
		}
		/* The client is the bottleneck: it must take bytes in time
		 * (the client side's send deadline). */
		if (evbuffer_get_length(out) >= OUT_HIGH)
			x->cl.ops->stalled(x->cl.arg);
	}
	if (x->up_eof && x->resp == RS_HEAD) {
		upstream_report(x->up, false);
		client_fail(x, 502, "upstream closed before responding", 0);
		return false;
	}
	/* Reading pauses while the client is the bottleneck (conn.h). */
	upstream_input_flow(x->up);
	return true;
}

void
exchange_client_readable(struct exchange *x)
{
	(void)pump_request(x);
}

void
exchange_client_writable(struct exchange *x)
{
	if (x->state == X_FORWARD && x->up != NULL)
		(void)pump_response(x);
}

/* --- upstream callbacks --- */

static void
up_read(void *arg)
{
	struct exchange *x = exchange_checked(arg);

	if (x->state == X_FORWARD)
		(void)pump_response(x);
}

static void
up_write(void *arg)
{
	struct exchange *x = exchange_checked(arg);

	if (x->state == X_FORWARD)
		(void)pump_request(x);
}

/* A request may go again on a fresh connection: nothing of the response
 * arrived, the connection was a reused one that the server had closed,
 * and the request is idempotent and had no body. */
static bool
may_retry(const struct exchange *x)
{
	return x->up != NULL && upstream_is_reused(x->up) && !x->retried &&
	    x->resp == RS_HEAD && !x->sent_to_client &&
	    req_head(x)->method_idempotent &&
	    req_head(x)->framing == H1_BODY_NONE &&
	    evbuffer_get_length(conn_input(up_conn(x))) == 0;
}

static void
up_event(void *arg, unsigned what)
{
	struct exchange *x = exchange_checked(arg);
	bool timeout = (what & CONN_EV_TIMEOUT) != 0;

	if (what & CONN_EV_CONNECTED) {
		upstream_ready(x);
		return;
	}
	if (x->state == X_CONNECT) {
		/* Nothing was sent: another target may take it. */
		log_info("session %s: upstream %s: %s, while connecting (route %s)",
		    x->cl.peer, upstream_target(x->up), timeout ? "timed out" :
		    conn_errno(up_conn(x)) != 0 ? strerror(conn_errno(up_conn(x))) :
		    "TLS handshake failed",
		    x->route_name);
		exchange_drop_upstream(x);
		if (x->attempts < x->spec->ntargets) {
			connect_upstream(x, true);
			return;
		}
		client_fail(x, timeout ? 504 : 502, timeout ?
		    "upstream connect timed out" : "upstream refused or unreachable", 0);
		return;
	}
	if (timeout) {
		upstream_report(x->up, false);
		client_fail(x, 504, "upstream response timed out", 0);
		return;
	}
	if (may_retry(x)) {
		exchange_drop_upstream(x);
		x->retried = true;
		connect_upstream(x, true);
		return;
	}
	x->up_eof = true;
	(void)pump_response(x);
}

static const struct upstream_ops exchange_upstream_ops = {
	.on_read = up_read,
	.on_write = up_write,
	.on_event = up_event,
};
