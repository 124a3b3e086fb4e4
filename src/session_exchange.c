/*
 * session_exchange: the request on an HTTP/1.1 client connection (see
 * session.h): the session as its exchange's client side (the request
 * body through the connection's parser, the response written for
 * HTTP/1.1, the send deadline while the client holds it back), the
 * proxy's own answers, and each exchange's access log line and counters
 * (HTTP/2 streams' too, through h2_down's log op).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
#include "conn.h"
#include "exchange.h"
#include "h1.h"
#include "headers.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "session.h"
#include "session_priv.h"
#include "tls.h"

/* A request begins (in_exchange): its exchange, with a request id and
 * its start time.  It lives until keep-alive or the close. */
static struct exchange *
session_new_exchange(struct session *s)
{
	struct exchange_client cl = {
		.ops = &session_xops,
		.arg = s,
		.role = s->lc->role,
		.partner = s->partner,
		.tls = s->lc->tls.enabled,
		.peer = s->peer,
		.peer_host = s->peer_host,
		.peer_id = s->peer_id,
	};

	/* One exchange at a time on an HTTP/1.1 connection: the previous
	 * one was freed at keep-alive (free_exchange) before this began. */
	assert(s->x == NULL);
	s->x = exchange_new(s->lp, &cl);
	s->in_exchange = true;
	return s->x;
}

/* The exchange is over: its upstream stream (if still held) closes, its
 * generation (route, pool) is let go. */
void
session_free_exchange(struct session *s)
{
	exchange_free(s->x);
	s->x = NULL;
}

void
session_log(struct session *s, struct exchange *x, enum http_proto proto)
{
	const struct h1_head *h = s->req ? h1_head(s->req) : NULL;
	double ms;
	SSL *ssl;

	if (x->logged)
		return;
	x->logged = true;
	ms = exchange_ms_since(&x->t_start);
	stats_add(&s->lp->stats.client_requests[proto], 1);
	stats_request(&s->lp->stats, (int)s->lc->role, x->route_slot, x->status,
	    x->req_bytes, x->resp_bytes, ms / 1000);
	if (!log_access_enabled())
		return;
	ssl = session_ssl(s);
	log_access(&(struct log_exchange){
		.id = exchange_id(x),
		.client = s->peer,
		.listener = session_role_name(s->lc->role),
		.route = x->route_name,
		.target = x->target_name,
		.method = x->rq.method != NULL ? x->rq.method :
		    h != NULL ? h->method : NULL,
		.host = x->host[0] != '\0' ? x->host : NULL,
		.path = x->rq.path,
		.path_len = x->rq.path_only_len,
		.status = x->status,
		.req_bytes = x->req_bytes,
		.resp_bytes = x->resp_bytes,
		.time_ms = ms,
		.upstream_ms = x->upstream_ms,
		.tls = ssl != NULL ? tls_version(ssl) : NULL,
		.peer = s->peer_id[0] != '\0' ? s->peer_id : NULL,
		.proto = proto == PROTO_H2 ? "h2" : "http/1.1",
		.up_proto = x->up_proto,
		.note = x->note,
	});
}

void
session_log_exchange(struct session *s)
{
	session_log(s, s->x, PROTO_HTTP1);
}

static void
session_abort(struct session *s, const char *detail)
{
	struct exchange *x = s->x;

	x->note = detail;
	exchange_drop_upstream(x);
	s->truncated = true;
	session_log_exchange(s);
	s->in_exchange = false;
	conn_set_timeouts(s->conn, 0, 0);
	/* No next request on this connection. */
	conn_read_enable(s->conn, false);
	session_start_drain(s);
}

/*
 * Answers with the proxy's own response.  Keeps the connection only when
 * no request body remains unread; else closes after flushing.
 */
void
session_respond_error(struct session *s, unsigned status, const char *detail,
    unsigned retry_after)
{
	struct exchange *x = s->x;
	struct evbuffer *out = conn_output(s->conn);
	char body[512];
	int n;
	bool keep;

	if (!s->in_exchange) {
		/* No request head was understood (parse error, timeout): the
		 * framing of what follows is unknown, so the connection ends. */
		session_free_exchange(s);
		x = session_new_exchange(s);
		/* Where the request ends is unknown: more of it may come, so
		 * the close lingers (see linger()). */
		x->req = RQ_BODY;
		x->close_after = true;
	}
	if (x->sent_to_client) {
		/* A response is half sent: the only signal left is closing. */
		session_abort(s, detail);
		return;
	}
	x->status = status;
	x->note = detail;
	keep = !x->close_after && x->req == RQ_DONE && !loop_leaving(s->lp) &&
	    (status == 403 || status == 421 || status == 502 || status == 503 ||
	    status == 504);
	n = snprintf(body, sizeof(body), "%u %s\n%s\nrequest-id: %s\n", status,
	    h1_reason_phrase(status), detail, exchange_id(x));
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)strlen(body);
	evbuffer_add_printf(out, "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %d\r\nCache-Control: no-store\r\n", status,
	    h1_reason_phrase(status), n);
	if (retry_after)
		evbuffer_add_printf(out, "Retry-After: %u\r\n", retry_after);
	if (!keep)
		evbuffer_add(out, "Connection: close\r\n", 19);
	/* A HEAD answer has the length of the body it leaves out: sent,
	 * the body would be read as the next response. */
	if (x->rq.method_head)
		evbuffer_add(out, "\r\n", 2);
	else
		evbuffer_add_printf(out, "\r\n%.*s", n, body);
	x->sent_to_client = true;
	x->resp = RS_DONE;
	exchange_drop_upstream(x);
	session_log_exchange(s);
	s->in_exchange = false;
	if (!keep) {
		session_start_drain(s);
		return;
	}
	conn_flush(s->conn);
	session_keep_alive(s);
}

/* The head is in: the request, as a neutral message, goes to a new
 * exchange (its spans point into the parser, kept until keep-alive). */
void
session_begin_exchange(struct session *s)
{
	const struct h1_head *h = h1_head(s->req);
	struct exchange_request how = {
		.close = h->conn_close,
		.h11 = h->minor >= 1,
	};
	struct msg_request rq;
	const char *why = NULL;

	if (headers_request_msg(h, &rq, &why) < 0)
		how.target_error = why != NULL ? why : "invalid request target";
	exchange_begin(session_new_exchange(s), &rq, &how);
}

static enum h1_status
x_body(void *arg, struct evbuffer *out, bool chunked, size_t limit,
    uint64_t *payload, unsigned *status, const char **why)
{
	struct session *s = session_checked(arg);
	enum h1_status rc;

	rc = h1_body(s->req, conn_input(s->conn), out, chunked, limit, payload);
	if (rc == H1_ERROR) {
		*status = h1_error_status(s->req);
		*why = h1_error_reason(s->req);
	}
	return rc;
}

static void
x_consumed(void *arg)
{
	session_input_consumed(session_checked(arg));
}

static void
x_send_head(void *arg, const struct msg_response *rs,
    const struct field_list *fl, bool chunked, bool close)
{
	struct session *s = session_checked(arg);

	h1_write_response(conn_output(s->conn), rs, fl, chunked, close);
}

static struct evbuffer *
x_body_out(void *arg)
{
	return conn_output(session_checked(arg)->conn);
}

static void
x_flush(void *arg)
{
	conn_flush(session_checked(arg)->conn);
}

/* A client that stops sending its body, or stops reading the response,
 * is dropped after client_idle. */
static void
x_timeouts(void *arg, bool body_in, bool body_out)
{
	struct session *s = session_checked(arg);
	double idle = session_cfg(s)->timeouts.client_idle;

	conn_set_timeouts(s->conn, body_in ? idle : 0, body_out ? idle : 0);
}

/*
 * The client is the bottleneck: it must take half of what is queued
 * (client_write) within client_idle.  A write deadline alone would be
 * pushed back for ever by a reader taking a few bytes now and then
 * (slowhttptest -X).
 */
static void
x_stalled(void *arg)
{
	struct session *s = session_checked(arg);

	if (!evtimer_pending(s->timer, NULL))
		session_arm_timer(s, session_cfg(s)->timeouts.client_idle);
}

/* The response is complete: keep-alive or close. */
static void
x_end(void *arg)
{
	struct session *s = session_checked(arg);

	session_log_exchange(s);
	s->in_exchange = false;
	conn_set_timeouts(s->conn, 0, 0);
	if (s->x->close_after || loop_leaving(s->lp)) {
		session_start_drain(s);
		return;
	}
	session_keep_alive(s);
}

static void
x_fail(void *arg, unsigned status, const char *detail, unsigned retry_after)
{
	session_respond_error(session_checked(arg), status, detail, retry_after);
}

static void
x_abort(void *arg, const char *detail)
{
	session_abort(session_checked(arg), detail);
}

const struct exchange_client_ops session_xops = {
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
