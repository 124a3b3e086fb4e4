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
#include "h2_up.h"
#include "headers.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "runtime.h"
#include "upstream.h"
#include "xalloc.h"

#define EXCHANGE_MAGIC	0x78636831u	/* "xch1" */

static const struct upstream_ops exchange_upstream_ops;
static const struct h2up_stream_ops exchange_h2_ops;

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
	if (x->replay != NULL)
		evbuffer_free(x->replay);
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

	/* An HTTP/2 stream that ends early is reset; its connection stays. */
	reusable = x->h2 || (x->req == RQ_DONE && !rs->conn_close &&
	    rs->framing != H1_BODY_CLOSE && !x->up_eof);
	if (x->up != NULL) {
		upstream_release(x->up, reusable);
		x->up = NULL;
	}
	if (x->req != RQ_DONE || loop_leaving(x->lp))
		x->close_after = true;
	client_end(x);
}

/*
 * Queues the request head on the stream just leased (the request pump
 * flushes it, with the first body bytes): rewritten (headers.c) and
 * written for HTTP/1.1 into the stream's output, or submitted as HTTP/2
 * HEADERS.  A retry on a fresh connection writes it again, the same:
 * nothing is kept for it (only an HTTP/2 body already sent, x->replay).
 * False when the exchange may be gone.
 */
static bool
send_head(struct exchange *x)
{
	const struct config *c = request_cfg(x);
	struct field_list *fl = &x->lp->upfields;
	struct req_rewrite rw;
	struct h2up_stream *st;

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
	if (!x->h2) {
		h1_write_request(conn_output(up_conn(x)), &x->rq, x->to_partner,
		    fl);
		return true;
	}
	st = upstream_h2(x->up);
	if (!h2up_stream_submit(st, &x->rq, fl,
	    x->spec->ssl_ctx != NULL || x->to_partner,
	    x->req == RQ_DONE && x->replay == NULL)) {
		client_fail(x, 502, "upstream HTTP/2 session refused the request",
		    0);
		return false;
	}
	if (x->replay != NULL) {
		evbuffer_add_buffer(h2up_stream_body_out(st), x->replay);
		evbuffer_free(x->replay);
		x->replay = NULL;
		h2up_stream_body_more(st, x->req == RQ_DONE);
	}
	return true;
}

static bool pump_request(struct exchange *);
static bool pump_response(struct exchange *);
static bool pump_h2_response(struct exchange *, bool all);

static void
upstream_ready(struct exchange *x)
{
	double t = request_cfg(x)->timeouts.upstream_response;

	x->state = X_FORWARD;
	if (!x->h2) {
		conn_set_read_high(up_conn(x), IN_HIGH);
		conn_set_write_low(up_conn(x), OUT_HIGH / 2);
	}
	/* Read idle time counts once the request is complete (see
	 * pump_request); a stalled upstream write fails after the same. */
	upstream_set_timeouts(x->up, x->req == RQ_DONE ? t : 0, t);
	client_timeouts(x);
	if (!send_head(x))
		return;
	upstream_flush(x->up);
	if (!pump_request(x))
		return;
	if (!x->h2 && x->state == X_FORWARD && x->up != NULL)
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
	x->up = upstream_acquire(x->pool, fresh, x->avoid,
	    &exchange_upstream_ops, x, &status, &why);
	if (x->up == NULL) {
		client_fail(x, status, why, status == 503 ?
		    retry_after_seconds(x->spec) : 0);
		return;
	}
	x->target_name = upstream_target(x->up);
	if (upstream_is_ready(x->up)) {
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

	in.target_error = x->target_error;
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
	x->h2 = x->spec->protocol == PROTO_H2;
	x->up_proto = x->h2 ? "h2" : "http/1.1";
	connect_upstream(x, false);
}

void
exchange_begin(struct exchange *x, const struct msg_request *rq,
    const struct exchange_request *how)
{
	x->rq = *rq;
	x->target_error = how->target_error;
	x->client_h11 = how->h11;
	x->req = rq->body == MSG_BODY_NONE ? RQ_DONE : RQ_BODY;
	x->resp = RS_HEAD;
	x->close_after = how->close;
	x->resp_parser = loop_take_parser(x->lp, false);
	h1_parser_reset(x->resp_parser, rq->method_head);
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
	evbuffer_drain(x->h2 ? h2up_stream_body_out(upstream_h2(x->up)) :
	    conn_output(up_conn(x)), (size_t)-1);
	x->close_after = true;
	client_fail(x, status, why, 0);
}

/* Moves request body bytes from the client to the upstream.  False when
 * the exchange may be gone (the client side answered). */
static bool
pump_request(struct exchange *x)
{
	const struct config *c = request_cfg(x);
	struct evbuffer *out;
	unsigned status = 400;
	const char *why = "bad request body";
	double t;

	if (x->req != RQ_BODY || x->up == NULL || x->state != X_FORWARD) {
		/* Bytes of a pipelined request wait for this exchange. */
		x->cl.ops->consumed(x->cl.arg);
		return true;
	}
	/* HTTP/1.1 keeps the client's framing (chunked stays chunked);
	 * HTTP/2 carries the bare bytes in DATA frames. */
	out = x->h2 ? h2up_stream_body_out(upstream_h2(x->up)) :
	    conn_output(up_conn(x));
	switch (x->cl.ops->body(x->cl.arg, out, !x->h2, OUT_HIGH,
	    &x->req_bytes, &status, &why)) {
	case H1_AGAIN:
		break;
	case H1_DONE:
		x->req = RQ_DONE;
		/* Waiting for the response starts now. */
		t = c->timeouts.upstream_response;
		upstream_set_timeouts(x->up, t, t);
		client_timeouts(x);
		break;
	case H1_ERROR:
		refuse_body(x, status, why);
		return false;
	}
	if (c->limits.max_body_bytes != 0 &&
	    x->req_bytes > c->limits.max_body_bytes) {
		refuse_body(x, 413, "request body larger than limits.max_body_bytes");
		return false;
	}
	if (x->h2)
		h2up_stream_body_more(upstream_h2(x->up), x->req == RQ_DONE);
	upstream_flush(x->up);
	x->cl.ops->consumed(x->cl.arg);
	return true;
}

/* The upstream response head m, rewritten for the client (hop-by-hop
 * fields, Via), goes to the client side's writer. */
static void
client_send_head(struct exchange *x, const struct msg_response *m,
    bool chunked, bool close)
{
	struct field_list *fl = &x->lp->downfields;

	headers_rewrite_response(m, request_cfg(x)->headers.via, fl);
	x->cl.ops->send_head(x->cl.arg, m, fl, chunked, close);
}

/* A response head m (from either protocol) is in: interim ones go to
 * HTTP/1.1 clients; for the final one, decide the framing toward the
 * client.  False when the exchange may be gone. */
static bool
response_head(struct exchange *x, const struct msg_response *m)
{
	if (m->status == 101) {
		client_fail(x, 502, "upstream switched protocols", 0);
		return false;
	}
	if (m->status < 200) {
		/* Interim (100 Continue, 103): relayed to HTTP/1.1 and
		 * HTTP/2 clients. */
		if (x->client_h11 || x->cl.framed) {
			client_send_head(x, m, false, false);
			x->cl.ops->flush(x->cl.arg);
		}
		return true;
	}
	upstream_report(x->up, true);
	x->upstream_ms = exchange_ms_since(&x->t_start);
	x->status = m->status;
	x->client_chunked = x->client_h11 && !x->cl.framed;
	x->chunk_out = x->client_chunked && m->body == MSG_BODY_STREAM;
	x->resp_none = m->body == MSG_BODY_NONE;
	if (m->body == MSG_BODY_STREAM && !x->client_chunked && !x->cl.framed)
		x->close_after = true;
	if (x->req != RQ_DONE || loop_leaving(x->lp))
		x->close_after = true;
	client_send_head(x, m, x->client_chunked, x->close_after);
	x->sent_to_client = true;
	x->resp = RS_BODY;
	client_timeouts(x);
	return true;
}

/* The HTTP/1.1 response head is in. */
static bool
start_response(struct exchange *x)
{
	struct msg_response m;

	headers_response_msg(h1_head(x->resp_parser), &m);
	if (!response_head(x, &m))
		return false;
	if (m.status < 200)
		h1_parser_reset(x->resp_parser, x->rq.method_head);
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
	if (x->state != X_FORWARD || x->up == NULL)
		return;
	if (x->h2)
		(void)pump_h2_response(x, false);
	else
		(void)pump_response(x);
}

/* --- HTTP/2 streams (h2_up.h) --- */

/*
 * Moves response body bytes from the stream to the client, as far as the
 * client's output takes them (all: the stream ended, and what is left is
 * at most one window), and reopens the stream's window by as much.
 * False when the exchange may be gone.
 */
static bool
pump_h2_response(struct exchange *x, bool all)
{
	struct h2up_stream *st = upstream_h2(x->up);
	struct evbuffer *in = h2up_stream_input(st);
	struct evbuffer *out = x->cl.ops->body_out(x->cl.arg);
	size_t n = evbuffer_get_length(in), olen = evbuffer_get_length(out);

	if (x->resp != RS_BODY)
		return true;
	if (!all && n > 0)
		n = olen >= OUT_HIGH ? 0 : n < OUT_HIGH - olen ? n :
		    OUT_HIGH - olen;
	if (n > 0) {
		if (x->resp_none)
			evbuffer_drain(in, n);	/* HEAD, 204, 304 */
		else if (x->chunk_out)
			h1_write_chunk(out, in, n);
		else
			evbuffer_remove_buffer(in, out, n);
		x->resp_bytes += n;
		h2up_stream_consumed(st, n);
		upstream_flush(x->up);
		x->cl.ops->flush(x->cl.arg);
	}
	/* While the client holds the response back, the server owes
	 * nothing: the stream's deadline waits too. */
	upstream_waits_for_client(x->up, evbuffer_get_length(in) > 0);
	if (evbuffer_get_length(in) > 0)
		x->cl.ops->stalled(x->cl.arg);
	return true;
}

static void
h2_head(void *arg, const struct msg_response *rs)
{
	struct exchange *x = exchange_checked(arg);

	if (x->state == X_FORWARD && x->resp == RS_HEAD)
		(void)response_head(x, rs);
}

static void
h2_data(void *arg)
{
	struct exchange *x = exchange_checked(arg);

	if (x->state == X_FORWARD)
		(void)pump_h2_response(x, false);
}

static void
h2_end(void *arg, const struct msg_field *trailers, unsigned n)
{
	struct exchange *x = exchange_checked(arg);

	if (x->state != X_FORWARD || x->resp != RS_BODY)
		return;
	(void)pump_h2_response(x, true);
	if (x->chunk_out)
		h1_write_last_chunk(x->cl.ops->body_out(x->cl.arg), trailers, n);
	else if (n > 0 && x->cl.framed && x->cl.ops->trailers != NULL &&
	    !x->resp_none)
		x->cl.ops->trailers(x->cl.arg, trailers, n);
	x->cl.ops->flush(x->cl.arg);
	x->resp = RS_DONE;
	finish_exchange(x);
}

static const char *
h2_reason(uint32_t code)
{
	switch (code) {
	case H2_REFUSED_STREAM:
		return "upstream refused the stream (HTTP/2 REFUSED_STREAM)";
	case H2_PROTOCOL_ERROR:
		return "malformed upstream HTTP/2 response (PROTOCOL_ERROR)";
	case H2_INTERNAL_ERROR:
		return "upstream reset the HTTP/2 stream (INTERNAL_ERROR)";
	case H2_CONNECTION_FAILED:
		return "upstream HTTP/2 connection failed";
	case H2_CANCEL:
		return "upstream cancelled the stream (HTTP/2 CANCEL)";
	default:
		return "upstream reset the HTTP/2 stream";
	}
}

/*
 * The stream ended before its response did.  One the server did not
 * process goes once more on another connection, whatever its method,
 * with the body bytes already sent (while they were all kept).
 */
static void
h2_close(void *arg, uint32_t code, bool unprocessed)
{
	struct exchange *x = exchange_checked(arg);
	struct evbuffer *rp;

	if (x->state != X_FORWARD)
		return;
	if (unprocessed && !x->retried && !x->sent_to_client) {
		rp = h2up_stream_replay(upstream_h2(x->up));
		if (rp != NULL || x->req_bytes == 0) {
			if (rp != NULL && evbuffer_get_length(rp) > 0) {
				if ((x->replay = evbuffer_new()) == NULL)
					abort();
				evbuffer_add_buffer(x->replay, rp);
			}
			log_info("session %s: upstream %s: %s; trying again on "
			    "another connection (route %s)", x->cl.peer,
			    x->target_name, h2_reason(code), x->route_name);
			x->avoid = upstream_conn_of(x->up);
			exchange_drop_upstream(x);
			x->retried = true;
			connect_upstream(x, true);
			return;
		}
	}
	if (code != H2_REFUSED_STREAM)
		upstream_report(x->up, false);
	if (!x->sent_to_client)
		client_fail(x, 502, h2_reason(code), 0);
	else
		client_abort(x, h2_reason(code));
}

static void
h2_writable(void *arg)
{
	struct exchange *x = exchange_checked(arg);

	if (x->state == X_FORWARD)
		(void)pump_request(x);
}

static const struct h2up_stream_ops exchange_h2_ops = {
	.on_head = h2_head,
	.on_data = h2_data,
	.on_end = h2_end,
	.on_close = h2_close,
	.on_writable = h2_writable,
};

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
	return !x->h2 && x->up != NULL && upstream_is_reused(x->up) && !x->retried &&
	    x->resp == RS_HEAD && !x->sent_to_client &&
	    x->rq.method_idempotent && x->rq.body == MSG_BODY_NONE &&
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
	if (x->h2) {
		/* The connection broke under a stream it had not closed. */
		upstream_report(x->up, false);
		if (!x->sent_to_client)
			client_fail(x, 502, "upstream HTTP/2 connection failed", 0);
		else
			client_abort(x, "upstream HTTP/2 connection failed");
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
	.h2 = &exchange_h2_ops,
};
