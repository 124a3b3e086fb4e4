/*
 * session: the HTTP/1.1 client connection (see session.h).  Every
 * callback is a thin adapter: it checks the magic, does the work of the
 * current state and, when the session must end, calls session_close() as
 * its last statement.  The request in hand is an exchange (exchange.h),
 * to which the session is the client side (client_xops below).
 *
 * Back-pressure: each input has a read mark (IN_HIGH), and the connection
 * stops reading while its input is full (conn.h); bytes move from one
 * side's input to the other side's output only while that output is
 * under OUT_HIGH, and the write callback (low mark OUT_HIGH / 2) resumes
 * the move.  No buffer grows without bound.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "config.h"
#include "conn.h"
#include "duration.h"
#include "exchange.h"
#include "h1.h"
#include "h2_down.h"
#include "headers.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "session.h"
#include "srclimit.h"
#include "tls.h"
#include "xalloc.h"

#define SESSION_MAGIC	0x73657331u	/* "ses1" */

enum session_state {
	S_HANDSHAKE,	/* TLS accept running; tls_handshake deadline */
	S_HEAD,		/* reading a request head; request_header deadline */
	S_EXCHANGE,	/* an exchange runs the request (exchange.h); the
			   timer is the send deadline (client_stalled) */
	S_IDLE,		/* keep-alive: waiting for the next request; client_idle */
	S_DRAIN,	/* flushing the last response, then close */
	S_LINGER,	/* response sent and closed for writing; discarding
			   what the client still sends, for LINGER_SECONDS */
	S_H2,		/* ALPN chose h2: h2_down runs the connection */
};

struct session {
	unsigned magic;
	enum session_state state;
	struct loop *lp;
	/* The generation the connection was accepted in: its listener
	 * settings (TLS, role, timeouts, limits) last as long as the
	 * connection. */
	struct loop_gen *g;
	const struct listener_conf *lc;
	struct conn *conn;		/* the client connection */
	struct event *timer;
	struct srclimit_ticket src;	/* limits.max_connections_per_source */
	char peer[ADDR_STRLEN];
	char peer_host[ADDR_STRLEN];
	char peer_id[128];		/* authenticated identity, "" if none */
	const struct partner_conf *partner;	/* partner listener: who it is */
	struct h1_parser *req;
	bool in_exchange;
	bool truncated;		/* a response was cut: close without close_notify */
	size_t lingered;	/* bytes discarded in S_LINGER */
	struct exchange *x;		/* the request in hand, or NULL */
	struct h2down *h2;		/* S_H2: the HTTP/2 session */
	bool linger;			/* close lingering (see linger()) */
	struct session *next, *prev;	/* the loop's list */
};

static void	session_respond_error(struct session *, unsigned status,
		    const char *detail, unsigned retry_after);
static void	session_keep_alive(struct session *);
static void	session_start_drain(struct session *);
static void	session_input_consumed(struct session *);
static void	session_abort(struct session *, const char *detail);
static void	session_close(struct session *, const char *reason);
static struct session *session_checked(void *arg);

static const struct config *
session_cfg(const struct session *s)
{
	return s->g->rt->cfg;
}

/* State changes into and out of S_IDLE go through here: the metrics'
 * idle-connection gauge follows them. */
static void
set_state(struct session *s, enum session_state st)
{
	if (s->state == S_IDLE && st != S_IDLE)
		stats_sub(&s->lp->stats.idle_connections, 1);
	else if (s->state != S_IDLE && st == S_IDLE)
		stats_add(&s->lp->stats.idle_connections, 1);
	s->state = st;
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

static void
session_arm_timer(struct session *s, double seconds)
{
	struct timeval tv = duration_tv(seconds);

	evtimer_add(s->timer, &tv);
}

/* Some bytes of a request head arrived (a request is under way). */
static bool
head_started(const struct session *s)
{
	return s->req != NULL && h1_head_started(s->req);
}

static SSL *
client_ssl(const struct session *s)
{
	return conn_ssl(s->conn);
}

static const struct exchange_client_ops client_xops;

/* A request begins (in_exchange): its exchange, with a request id and
 * its start time.  It lives until keep-alive or the close. */
static struct exchange *
new_exchange(struct session *s)
{
	struct exchange_client cl = {
		.ops = &client_xops,
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
static void
free_exchange(struct session *s)
{
	exchange_free(s->x);
	s->x = NULL;
}

static void
log_exchange(struct session *s, struct exchange *x, enum http_proto proto)
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
	ssl = client_ssl(s);
	log_access(&(struct log_exchange){
		.id = exchange_id(x),
		.client = s->peer,
		.listener = role_name(s->lc->role),
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

static void
session_log_exchange(struct session *s)
{
	log_exchange(s, s->x, PROTO_HTTP1);
}

/* An HTTP/2 stream's exchange is over (h2_down.c). */
static void
h2_log(void *arg, struct exchange *x)
{
	log_exchange(session_checked(arg), x, PROTO_H2);
}

/* The session's HTTP/2 connection has nothing left to do: its last
 * frames (a GOAWAY, a response's end) are flushed, then it closes. */
static void
h2_done(void *arg, const char *reason)
{
	struct session *s = session_checked(arg);

	log_debug("session %s: %s", s->peer, reason);
	h2down_free(s->h2);
	s->h2 = NULL;
	conn_set_timeouts(s->conn, 0, 0);
	/* The client may still be sending frames: closing on them would
	 * reset the connection and could destroy the GOAWAY unread. */
	s->linger = true;
	session_start_drain(s);
}

static const struct h2down_ops session_h2_ops = {
	.log = h2_log,
	.done = h2_done,
};

/* The connection chose HTTP/2 (ALPN h2): h2_down runs it from now on,
 * each stream an exchange of its own. */
static void
start_h2(struct session *s)
{
	struct exchange_client cl = {
		.role = s->lc->role,
		.partner = s->partner,
		.tls = true,
		.peer = s->peer,
		.peer_host = s->peer_host,
		.peer_id = s->peer_id,
	};

	set_state(s, S_H2);
	evtimer_del(s->timer);
	s->h2 = h2down_new(s->lp, s->conn, session_cfg(s), &cl,
	    &session_h2_ops, s);
}

/*
 * The one teardown path.  Must be the last thing a callback does: s is
 * freed here.
 */
void
session_close(struct session *s, const char *reason)
{
	struct loop *lp = s->lp;

	/* Its streams are logged as cut while the session still is. */
	h2down_free(s->h2);
	s->h2 = NULL;
	if (s->in_exchange) {
		if (s->x->status == 0)
			s->x->status = 499;	/* client went away (nginx's code) */
		if (s->x->note == NULL)
			s->x->note = reason;
		session_log_exchange(s);
	}
	free_exchange(s);
	log_debug("session %s: closed: %s", s->peer, reason);
	event_free(s->timer);
	/* Tell the client we are done (close_notify) unless it never got
	 * through the handshake; a peer already gone makes this a no-op. */
	if (s->truncated && client_ssl(s) == NULL) {
		/* Plain TCP: a FIN could end a close-delimited body; a reset
		 * cannot be taken for its end. */
		conn_reset_on_close(s->conn);
	} else if (s->state != S_HANDSHAKE && s->state != S_LINGER &&
	    !s->truncated)
		conn_close_notify(s->conn);
	set_state(s, S_DRAIN);	/* out of S_IDLE, for the gauge */
	conn_free(s->conn);	/* closes the fd, frees the SSL */
	loop_gen_put(lp, s->g);
	loop_give_parser(lp, s->req, true);
	if (s->prev)
		s->prev->next = s->next;
	else
		lp->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	lp->nsessions--;
	atomic_fetch_sub(&lp->shared->connections, 1);
	srclimit_release(lp->shared->srclimit, &s->src);
	atomic_fetch_sub_explicit(&lp->stats.connections, 1, memory_order_relaxed);
	s->magic = 0;
	free(s);
	loop_session_gone(lp);
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
 * Lingering close, after the last response is flushed while the client
 * may still be sending a body nobody will read (the upstream or the proxy
 * answered early: 413, an error, a response before the upload ended).
 * Closing the socket with unread bytes makes the kernel send a reset, and
 * a reset can destroy the response in the client's buffers before it is
 * read.  So: close_notify and FIN now, then read and discard for a while
 * (as nginx's lingering_close), then close.
 */
#define LINGER_SECONDS	2.0
#define LINGER_MAX	(16u << 20)	/* bytes discarded at most */

static void
linger(struct session *s)
{
	set_state(s, S_LINGER);
	conn_shutdown_write(s->conn);
	evtimer_del(s->timer);
	session_arm_timer(s, LINGER_SECONDS);
	conn_set_read_high(s->conn, 0);
	conn_read_enable(s->conn, true);
}

/* The output is flushed: close, or linger when a body may still come. */
static void
drained(struct session *s)
{
	if (s->linger ||
	    (s->x != NULL && s->x->req == RQ_BODY && !s->truncated))
		linger(s);
	else
		session_close(s, "done");
}

static void
session_start_drain(struct session *s)
{
	set_state(s, S_DRAIN);
	evtimer_del(s->timer);
	session_arm_timer(s, session_cfg(s)->timeouts.client_idle);
	if (evbuffer_get_length(conn_output(s->conn)) == 0) {
		drained(s);
		return;
	}
	/* The write callback closes once the output is flushed. */
	conn_set_write_low(s->conn, 0);
	conn_flush(s->conn);
}

/*
 * Answers with the proxy's own response.  Keeps the connection only when
 * no request body remains unread; else closes after flushing.
 */
static void
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
		free_exchange(s);
		x = new_exchange(s);
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
	keep = !x->close_after && x->req == RQ_DONE && !s->lp->draining &&
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

static struct session *
session_checked(void *arg)
{
	struct session *s = arg;

	if (s->magic != SESSION_MAGIC)
		abort();	/* a callback for a freed session */
	return s;
}

/*
 * Back to keep-alive after a complete exchange.  Bytes of a pipelined
 * request may already wait in the input, and no read event will come for
 * them: the read callback is run again from the loop (not from here, so a
 * long pipeline cannot grow the stack).
 */
static void
session_keep_alive(struct session *s)
{
	set_state(s, S_IDLE);
	/* An idle connection holds no parser (see loop_take_parser). */
	loop_give_parser(s->lp, s->req, true);
	s->req = NULL;
	/* Nor an exchange. */
	free_exchange(s);
	evtimer_del(s->timer);
	session_arm_timer(s, session_cfg(s)->timeouts.client_idle);
	if (evbuffer_get_length(conn_input(s->conn)) > 0)
		conn_kick_read(s->conn);
	else
		session_input_consumed(s);
}

/*
 * Reading pauses while the input is full and resumes below, with no
 * plaintext left stuck in OpenSSL (conn.h), in the states that read
 * requests; draining and lingering states discard what comes.
 */
static void
session_input_consumed(struct session *s)
{
	switch (s->state) {
	case S_IDLE:
	case S_HEAD:
	case S_EXCHANGE:
		conn_input_consumed(s->conn);
		break;
	case S_HANDSHAKE:
	case S_DRAIN:
	case S_LINGER:
	case S_H2:
		break;
	}
}

/* The head is in: the request, as a neutral message, goes to a new
 * exchange (its spans point into the parser, kept until keep-alive). */
static void
begin_exchange(struct session *s)
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
	exchange_begin(new_exchange(s), &rq, &how);
}

static void
session_process_head(struct session *s)
{
	struct evbuffer *in = conn_input(s->conn);

	if (s->req == NULL)
		s->req = loop_take_parser(s->lp, true);

	switch (h1_parse_head(s->req, in)) {
	case H1_AGAIN:
		session_input_consumed(s);
		return;
	case H1_ERROR:
		/* No exchange yet: the answer closes the connection. */
		session_respond_error(s, h1_error_status(s->req), h1_error_reason(s->req), 0);
		return;
	case H1_DONE:
		set_state(s, S_EXCHANGE);
		evtimer_del(s->timer);
		begin_exchange(s);
		return;
	}
}

/* --- the exchange's client side (exchange.h) --- */

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
	if (s->x->close_after || s->lp->draining) {
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

static const struct exchange_client_ops client_xops = {
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

/* --- client callbacks --- */

static void
client_read(void *arg)
{
	struct session *s = session_checked(arg);
	struct evbuffer *in = conn_input(s->conn);

	switch (s->state) {
	case S_IDLE:
		set_state(s, S_HEAD);
		evtimer_del(s->timer);
		session_arm_timer(s, session_cfg(s)->timeouts.request_header);
		/* FALLTHROUGH */
	case S_HEAD:
		session_process_head(s);
		break;
	case S_EXCHANGE:
		exchange_client_readable(s->x);
		break;
	case S_DRAIN:
		/* Whatever comes after the last response is not read. */
		evbuffer_drain(in, (size_t)-1);
		break;
	case S_LINGER:
		s->lingered += evbuffer_get_length(in);
		evbuffer_drain(in, (size_t)-1);
		if (s->lingered > LINGER_MAX)
			session_close(s, "done (client kept sending)");
		break;
	case S_HANDSHAKE:
		break;
	case S_H2:
		h2down_read(s->h2);	/* may close s: the last statement */
		break;
	}
}

static void
client_write(void *arg)
{
	struct session *s = session_checked(arg);

	if (s->state == S_H2) {
		h2down_write(s->h2);
		return;
	}
	if (s->state == S_DRAIN) {
		if (evbuffer_get_length(conn_output(s->conn)) == 0)
			drained(s);
		return;
	}
	if (s->state == S_EXCHANGE && s->x->state == X_FORWARD) {
		/* Progress: the send deadline (client_stalled) restarts.
		 * Before X_FORWARD nothing of the response is queued, so a
		 * drained client output says nothing to the exchange. */
		evtimer_del(s->timer);
		exchange_client_writable(s->x);
	}
}

static void
handshake_done(struct session *s)
{
	const struct config *c = session_cfg(s);
	SSL *ssl = client_ssl(s);

	/* Who is speaking, once per connection: the certificate's name for
	 * the log; on a partner listener, the partner whose domain it names. */
	tls_peer_name(ssl, s->peer_id, sizeof(s->peer_id));
	if (ssl != NULL)
		stats_add(&s->lp->stats.tls_handshakes[
		    SSL_version(ssl) == TLS1_3_VERSION ? 1 : 0], 1);
	if (s->lc->role == ROLE_PARTNER)
		for (size_t i = 0; i < c->npartners && s->partner == NULL; i++)
			if (tls_peer_in_domain(ssl, c->partners[i].domain))
				s->partner = &c->partners[i];
	if (tls_alpn_is_h2(ssl)) {
		start_h2(s);
		return;
	}
	s->state = S_HEAD;
	evtimer_del(s->timer);
	session_arm_timer(s, session_cfg(s)->timeouts.request_header);
	/* Bytes that came with the handshake: the connection reads them
	 * next (conn.h) and client_read takes them. */
}

static void
client_event(void *arg, unsigned what)
{
	struct session *s = session_checked(arg);
	char err[256] = "";

	if (what & CONN_EV_CONNECTED) {
		handshake_done(s);
		return;
	}
	if (s->state == S_HANDSHAKE) {
		unsigned long e = conn_ssl_error(s->conn);

		if (e != 0)
			ERR_error_string_n(e, err, sizeof(err));
		stats_add(&s->lp->stats.tls_failures[tls_failure_reason(e)], 1);
		log_info("session %s: TLS handshake failed: %s", s->peer,
		    err[0] ? err : "connection closed");
		session_close(s, "TLS handshake failed");
		return;
	}
	if (what & CONN_EV_TIMEOUT) {
		session_close(s, what & CONN_EV_READING ?
		    "client stopped sending" : "client stopped reading");
		return;
	}
	if ((what & CONN_EV_EOF) && s->in_exchange && s->x->req == RQ_DONE &&
	    s->state == S_EXCHANGE) {
		/* A half-close after a complete request: answer it, then
		 * close (as HAProxy does; TLS 1.3 allows it too). */
		s->x->close_after = true;
		return;
	}
	session_close(s, what & CONN_EV_EOF ? "client closed" : "client error");
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = session_checked(arg);

	switch (s->state) {
	case S_HANDSHAKE:
		stats_add(&s->lp->stats.tls_failures[TLSF_TIMEOUT], 1);
		session_close(s, "TLS handshake timed out");
		return;
	case S_HEAD:
		if (!head_started(s) &&
		    evbuffer_get_length(conn_input(s->conn)) == 0) {
			session_close(s, "no request");
			return;
		}
		session_respond_error(s, 408, "request head not received in time", 0);
		return;
	case S_IDLE:
		session_close(s, "keep-alive timeout");
		return;
	case S_DRAIN:
		session_close(s, "client did not read the last response");
		return;
	case S_LINGER:
		session_close(s, "done (lingering close ended)");
		return;
	case S_H2:
		return;		/* h2_down keeps its own timers */
	case S_EXCHANGE:
		/* Armed only while the client holds back a full output, which
		 * happens only once the response is forwarded; before that
		 * the exchange's own deadlines apply. */
		if (s->x->state == X_FORWARD)
			session_close(s, "client stopped reading (send deadline)");
		return;
	}
}

static const struct conn_ops client_ops = {
	.on_read = client_read,
	.on_write = client_write,
	.on_event = client_event,
};

void
session_accept(struct loop *lp, size_t li, int fd, const struct sockaddr *sa,
    socklen_t salen, struct srclimit_ticket *src)
{
	const struct runtime *rt = lp->cur->rt;
	const struct listener_conf *lc = &rt->cfg->listeners[li];
	const struct config *c = rt->cfg;
	struct session *s;
	SSL *ssl = NULL;
	int one = 1;

	(void)salen;
	/* Heads and small bodies go out at once, not after a delayed ACK. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rt->listener_ctx[li] != NULL &&
	    (ssl = SSL_new(rt->listener_ctx[li])) == NULL) {
		log_warnx("listener %s: cannot create a TLS session", lc->address);
		srclimit_release(lp->shared->srclimit, src);
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	/* On failure this frees ssl and closes fd itself. */
	s->conn = conn_accepted(lp->base, fd, ssl, &client_ops, s);
	if (s->conn == NULL) {
		log_warnx("listener %s: cannot set up a connection", lc->address);
		srclimit_release(lp->shared->srclimit, src);
		free(s);
		return;
	}
	s->magic = SESSION_MAGIC;
	s->lp = lp;
	s->src = *src;
	s->g = loop_gen_get(lp);
	s->lc = lc;
	addr_format(sa, s->peer, sizeof(s->peer));
	addr_format_host(sa, s->peer_host, sizeof(s->peer_host));
	s->timer = evtimer_new(lp->base, timer_cb, s);
	s->next = lp->sessions;
	if (lp->sessions)
		lp->sessions->prev = s;
	lp->sessions = s;
	lp->nsessions++;
	atomic_fetch_add(&lp->shared->connections, 1);
	stats_add(&lp->stats.connections, 1);
	conn_set_read_high(s->conn, IN_HIGH);
	conn_set_write_low(s->conn, OUT_HIGH / 2);
	if (ssl != NULL) {
		s->state = S_HANDSHAKE;
		session_arm_timer(s, c->timeouts.tls_handshake);
	} else {
		s->state = S_HEAD;
		session_arm_timer(s, c->timeouts.request_header);
	}
}

void
session_drain_all(struct loop *lp)
{
	struct session *s, *next;

	for (s = lp->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_HANDSHAKE || s->state == S_IDLE ||
		    (s->state == S_HEAD && !head_started(s)))
			session_close(s, "shutting down");
		else if (s->state == S_H2)
			/* GOAWAY; closes once its streams finished. */
			h2down_drain(s->h2);
	}
}

void
session_reloaded(struct loop *lp)
{
	struct session *s, *next;

	/* HTTP/2 clients move to the new settings on a new connection: a
	 * graceful GOAWAY, and the streams in flight finish. */
	for (s = lp->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_H2)
			h2down_drain(s->h2);
	}
}

void
session_close_all(struct loop *lp)
{
	while (lp->sessions != NULL)
		session_close(lp->sessions, "shutdown deadline passed");
}
