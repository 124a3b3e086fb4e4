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
#include "session_priv.h"
#include "srclimit.h"
#include "tls.h"
#include "xalloc.h"

const struct config *
session_cfg(const struct session *s)
{
	return s->g->rt->cfg;
}

/* State changes into and out of S_IDLE go through here: the metrics'
 * idle-connection gauge follows them. */
static void
session_set_state(struct session *s, enum session_state st)
{
	if (s->state == S_IDLE && st != S_IDLE)
		stats_sub(&s->lp->stats.idle_connections, 1);
	else if (s->state != S_IDLE && st == S_IDLE)
		stats_add(&s->lp->stats.idle_connections, 1);
	s->state = st;
}

const char *
session_role_name(enum listener_role r)
{
	switch (r) {
	case ROLE_UE: return "ue";
	case ROLE_TRUSTED: return "trusted";
	case ROLE_PARTNER: return "partner";
	}
	return "?";
}

void
session_arm_timer(struct session *s, double seconds)
{
	struct timeval tv = duration_tv(seconds);

	evtimer_add(s->timer, &tv);
}

/* Some bytes of a request head arrived (a request is under way). */
static bool
session_head_started(const struct session *s)
{
	return s->req != NULL && h1_head_started(s->req);
}

SSL *
session_ssl(const struct session *s)
{
	return conn_ssl(s->conn);
}






/* An HTTP/2 stream's exchange is over (h2_down.c). */
static void
h2_log(void *arg, struct exchange *x)
{
	session_log(session_checked(arg), x, PROTO_H2);
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

	session_set_state(s, S_H2);
	evtimer_del(s->timer);
	s->h2 = h2down_new(s->lp, s->conn, session_cfg(s), &cl,
	    &session_h2_ops, s);
	/* Accepted before a stop (or during drain_grace), its handshake
	 * done after: GOAWAY now. */
	if (s->h2 != NULL && loop_leaving(s->lp))
		h2down_drain(s->h2);
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
	session_free_exchange(s);
	log_debug("session %s: closed: %s", s->peer, reason);
	event_free(s->timer);
	/* Tell the client we are done (close_notify) unless it never got
	 * through the handshake; a peer already gone makes this a no-op. */
	if (s->truncated && session_ssl(s) == NULL) {
		/* Plain TCP: a FIN could end a close-delimited body; a reset
		 * cannot be taken for its end. */
		conn_reset_on_close(s->conn);
	} else if (s->state != S_HANDSHAKE && s->state != S_LINGER &&
	    !s->truncated)
		conn_close_notify(s->conn);
	session_set_state(s, S_DRAIN);	/* out of S_IDLE, for the gauge */
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
	session_set_state(s, S_LINGER);
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

void
session_start_drain(struct session *s)
{
	session_set_state(s, S_DRAIN);
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


struct session *
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
void
session_keep_alive(struct session *s)
{
	session_set_state(s, S_IDLE);
	/* An idle connection holds no parser (see loop_take_parser). */
	loop_give_parser(s->lp, s->req, true);
	s->req = NULL;
	/* Nor an exchange. */
	session_free_exchange(s);
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
void
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
		session_set_state(s, S_EXCHANGE);
		evtimer_del(s->timer);
		session_begin_exchange(s);
		return;
	}
}












/* --- client callbacks --- */

static void
client_read(void *arg)
{
	struct session *s = session_checked(arg);
	struct evbuffer *in = conn_input(s->conn);

	switch (s->state) {
	case S_IDLE:
		session_set_state(s, S_HEAD);
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
	SSL *ssl = session_ssl(s);

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
		if (!session_head_started(s) &&
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
	session_accept_gen(lp, loop_gen_get(lp), li, fd, sa, salen, src);
}

void
session_accept_gen(struct loop *lp, struct loop_gen *g, size_t li, int fd,
    const struct sockaddr *sa, socklen_t salen, struct srclimit_ticket *src)
{
	const struct runtime *rt = g->rt;
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
		loop_gen_put(lp, g);
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	/* On failure this frees ssl and closes fd itself. */
	s->conn = conn_accepted(lp->base, fd, ssl, &client_ops, s);
	if (s->conn == NULL) {
		log_warnx("listener %s: cannot set up a connection", lc->address);
		srclimit_release(lp->shared->srclimit, src);
		loop_gen_put(lp, g);
		free(s);
		return;
	}
	s->magic = SESSION_MAGIC;
	s->lp = lp;
	s->src = *src;
	s->g = g;
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
		/*
		 * Idle keep-alive connections close: their clients open a
		 * new one (RFC 9112 9.3.1).  A connection just accepted, in
		 * its handshake or before its first request, goes on to that
		 * request (bounded by tls_handshake and request_header) and
		 * closes after the response: its client saw its connect
		 * succeed and has no reason to retry.  Under socket
		 * activation the listening socket outlives the process, so a
		 * restart then costs no refused and no failed request.
		 */
		if (s->state == S_IDLE)
			session_close(s, "shutting down");
		else if (s->state == S_H2)
			/* GOAWAY; closes once its streams finished. */
			h2down_drain(s->h2);
	}
}

void
session_h2_goaway(struct loop *lp)
{
	struct session *s, *next;

	/* A graceful GOAWAY: the streams in flight finish, and the client
	 * opens its next ones on a new connection (to the new settings
	 * after a reload, to another instance while leaving). */
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
