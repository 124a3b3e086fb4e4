/*
 * upstream_health: active checks of a pool's targets (see
 * upstream_priv.h).
 *
 * One record per target, one timer each: it fires every interval (the
 * first time after a random part of it), and a check still running then
 * has had its whole interval and fails before the next one starts.  So a
 * target never has two checks at once, and each check is bounded by
 * timeouts.upstream_connect for the connection and TLS handshake, by
 * HC_QUIET without a byte of the answer, and by the interval in all.
 *
 * HTTP/1.1: only the status line is read (past interim 1xx heads, within
 * HC_HEAD_MAX bytes); the connection closes then, whatever follows.
 * HTTP/2: the session is h2_up's, as for requests (no nghttp2 here): a
 * GET on one stream, judged by its final response head; the connection
 * closes then, without waiting for the body.  So an h2 check also says
 * that the server speaks HTTP/2: over TLS it must select ALPN h2, and it
 * must answer our preface and stream.
 *
 * A check's callbacks never end it from inside the HTTP/2 session's
 * processing: they record the answer, and check_done runs once
 * h2up_read has returned.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "duration.h"
#include "h2_up.h"
#include "log.h"
#include "stats.h"
#include "tls.h"
#include "upstream.h"
#include "upstream_priv.h"
#include "xalloc.h"

#define HC_LINE_MAX	1024	/* a status line */
#define HC_HEAD_MAX	4096	/* bytes read before the final status line */
#define HC_QUIET	10.0	/* seconds without a byte of the answer */
#define HC_USER_AGENT	"mcxproxy-health-check"

enum hc_state {
	HC_WAITING,		/* for the next tick; no connection */
	HC_CONNECTING,		/* TCP connect or TLS handshake */
	HC_ASKING,		/* request sent, answer awaited */
};

struct hc_target {
	struct hc_pool *hp;
	size_t t;			/* index in the pool's targets */
	enum hc_state state;
	struct event *timer;
	struct conn *conn;
	struct h2up *h2;		/* protocol h2, once connected */
	struct h2up_stream *st;
	size_t taken;			/* HTTP/1.1: answer bytes consumed */
	bool interim;			/* ... inside a 1xx head */
	bool decided;			/* HTTP/2: the answer came */
	bool ok;
	bool closing;			/* check_close runs: callbacks ignored */
	const char *why;
	char buf[96];			/* for why */
};

struct hc_pool {
	struct upstream_pool *p;
	struct hc_target *v;
	size_t n;
	uint64_t rng;
};

/* xorshift64: spreads the first checks; not for anything secret. */
static double
hc_random(struct hc_pool *hp)
{
	hp->rng ^= hp->rng << 13;
	hp->rng ^= hp->rng >> 7;
	hp->rng ^= hp->rng << 17;
	return (double)(hp->rng >> 11) / (double)(UINT64_C(1) << 53);
}

/* The Host (HTTP/1.1) or :authority (HTTP/2) a check names. */
static const char *
check_host(const struct hc_target *ct)
{
	const struct upstream_pool *p = ct->hp->p;

	if (p->spec.health_host != NULL)
		return p->spec.health_host;
	if (p->spec.ssl_ctx != NULL && p->tls.server_name != NULL)
		return p->tls.server_name;
	return p->spec.targets[ct->t].spec;
}

/* Ends the check's connection; the target waits for its next tick. */
static void
check_close(struct hc_target *ct)
{
	ct->closing = true;
	if (ct->h2 != NULL) {
		/* Its stream is closed without a frame (no RST_STREAM):
		 * the connection goes right after. */
		h2up_fail(ct->h2);
		h2up_stream_free(ct->st);
		h2up_free(ct->h2);
	}
	conn_free(ct->conn);	/* deferred when inside its callback */
	ct->conn = NULL;
	ct->h2 = NULL;
	ct->st = NULL;
	ct->state = HC_WAITING;
	ct->closing = false;
}

static void
check_done(struct hc_target *ct, bool ok, const char *why)
{
	struct upstream_pool *p = ct->hp->p;
	unsigned slot = p->spec.route_slot;

	check_close(ct);
	if (slot >= STATS_NROUTE)
		slot = STATS_NROUTE - 1;
	stats_add(&p->spec.stats->health_checks[slot][ok ? 0 : 1], 1);
	if (!ok)
		log_debug("upstream %s: health check of %s failed: %s",
		    p->spec.name, p->spec.targets[ct->t].spec, why);
	up_check_result(p, ct->t, ok, why);
}

/* A final status: 2xx and 3xx pass. */
static void
judge(struct hc_target *ct, unsigned status)
{
	ct->ok = status >= 200 && status < 400;
	snprintf(ct->buf, sizeof(ct->buf), "status %u", status);
	ct->why = ct->buf;
	ct->decided = true;
}

/* "HTTP/1.x NNN" (then a space or the end): NNN, or 0. */
static unsigned
status_of(const char *l, size_t n)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' ||
	    l[7] > '9' || l[8] != ' ' || (n > 12 && l[12] != ' '))
		return 0;
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return 0;
	return (unsigned)((l[9] - '0') * 100 + (l[10] - '0') * 10 + l[11] - '0');
}

/* HTTP/1.1: reads lines until the final status line (ct->decided), or
 * an error. */
static void
h1_answer(struct hc_target *ct)
{
	struct evbuffer *in = conn_input(ct->conn);
	struct evbuffer_ptr eol;
	size_t eol_len, n;
	unsigned status;
	const char *line;

	for (;;) {
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (eol.pos < 0) {
			n = evbuffer_get_length(in);
			break;
		}
		n = (size_t)eol.pos;
		if (n > HC_LINE_MAX || ct->taken + n + eol_len > HC_HEAD_MAX)
			break;
		ct->taken += n + eol_len;
		line = (const char *)evbuffer_pullup(in, (ev_ssize_t)(n + eol_len));
		if (ct->interim) {
			ct->interim = n > 0;	/* an empty line ends it */
			evbuffer_drain(in, n + eol_len);
			continue;
		}
		status = status_of(line, n);
		evbuffer_drain(in, n + eol_len);
		if (status == 0) {
			ct->why = "the answer is not an HTTP/1.x status line";
			ct->ok = false;
			ct->decided = true;
			return;
		}
		if (status >= 200) {
			judge(ct, status);
			return;
		}
		ct->interim = true;	/* 1xx: its head, then the real one */
	}
	if (n > HC_LINE_MAX || ct->taken + n > HC_HEAD_MAX) {
		ct->why = "no status line in the answer's first bytes";
		ct->ok = false;
		ct->decided = true;
	}
}

/* HTTP/2 stream events: only the final head matters. */
static void
hs_head(void *arg, const struct msg_response *rs)
{
	struct hc_target *ct = arg;

	if (!ct->closing && !ct->decided && rs->status >= 200)
		judge(ct, rs->status);
}

static void
hs_data(void *arg)
{
	(void)arg;		/* the body is never read */
}

static void
hs_end(void *arg, const struct msg_field *tr, unsigned n)
{
	(void)arg;
	(void)tr;
	(void)n;
}

static void
hs_close(void *arg, uint32_t code, bool unprocessed)
{
	struct hc_target *ct = arg;

	(void)unprocessed;
	if (ct->closing || ct->decided)
		return;
	snprintf(ct->buf, sizeof(ct->buf), "the stream was reset before "
	    "its answer (code 0x%x)", (unsigned)code);
	ct->why = ct->buf;
	ct->ok = false;
	ct->decided = true;
}

static void
hs_writable(void *arg)
{
	(void)arg;
}

static const struct h2up_stream_ops hs_ops = {
	.on_head = hs_head,
	.on_data = hs_data,
	.on_end = hs_end,
	.on_close = hs_close,
	.on_writable = hs_writable,
};

static void
hc_room(void *arg)
{
	(void)arg;
}

static const struct h2up_conn_ops hc_h2_ops = {
	.on_room = hc_room,
	.on_pong = hc_room,
};

/* HTTP/2: the session, and the GET on its first stream.  False: failed
 * (ct->why). */
static bool
h2_ask(struct hc_target *ct, const char *host)
{
	struct upstream_pool *p = ct->hp->p;
	struct h2up_settings set = {
		.max_streams = 1,
		.window = 65535,
		.max_header_list = 65536,
		.stats = p->spec.stats,
	};
	struct msg_field ua = {
		.name = "user-agent", .name_len = 10,
		.value = HC_USER_AGENT, .value_len = sizeof(HC_USER_AGENT) - 1,
	};
	struct field_list fl = { .v = &ua, .n = 1, .cap = 1 };
	struct msg_request rq = {
		.method = "GET",
		.version = "2",
		.method_idempotent = true,
		.authority = host,
		.authority_len = strlen(host),
		.path = p->spec.health.path,
		.path_len = strlen(p->spec.health.path),
		.path_only_len = strlen(p->spec.health.path),
		.body = MSG_BODY_NONE,
	};

	if (p->spec.ssl_ctx != NULL && !tls_alpn_is_h2(conn_ssl(ct->conn))) {
		ct->why = "the server did not select ALPN h2";
		return false;
	}
	conn_set_read_high(ct->conn, 0);
	ct->h2 = h2up_new(ct->conn, &set, &hc_h2_ops, ct);
	ct->st = h2up_stream_new(ct->h2, &hs_ops, ct);
	if (!h2up_stream_submit(ct->st, &rq, &fl, p->spec.ssl_ctx != NULL,
	    true) || !h2up_flush(ct->h2)) {
		ct->why = "cannot send the HTTP/2 request";
		return false;
	}
	return true;
}

/* Connected (and the TLS handshake done): the request goes. */
static void
check_ask(struct hc_target *ct)
{
	struct upstream_pool *p = ct->hp->p;
	const char *host = check_host(ct);
	double quiet = p->spec.health.interval < HC_QUIET ?
	    p->spec.health.interval : HC_QUIET;

	ct->state = HC_ASKING;
	conn_set_timeouts(ct->conn, quiet, quiet);
	if (p->spec.protocol == PROTO_H2) {
		if (!h2_ask(ct, host))
			check_done(ct, false, ct->why);
		return;
	}
	evbuffer_add_printf(conn_output(ct->conn), "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\nUser-Agent: " HC_USER_AGENT "\r\nAccept: */*\r\n"
	    "Connection: close\r\n\r\n", p->spec.health.path, host);
	conn_flush(ct->conn);
}

static void
hc_read_cb(void *arg)
{
	struct hc_target *ct = arg;
	bool alive;

	if (ct->state != HC_ASKING) {
		evbuffer_drain(conn_input(ct->conn), (size_t)-1);
		return;
	}
	if (ct->h2 == NULL) {
		h1_answer(ct);
		if (ct->decided)
			check_done(ct, ct->ok, ct->why);
		return;
	}
	alive = h2up_read(ct->h2);
	if (ct->decided)
		check_done(ct, ct->ok, ct->why);
	else if (!alive)
		check_done(ct, false, "the HTTP/2 session ended before the answer");
}

static void
hc_write_cb(void *arg)
{
	struct hc_target *ct = arg;

	if (ct->h2 != NULL && !h2up_flush(ct->h2))
		check_done(ct, false, "the HTTP/2 session failed while sending");
}

/* Why the connection failed, for the log. */
static const char *
conn_failure(struct hc_target *ct, unsigned what)
{
	unsigned long e = conn_ssl_error(ct->conn);
	int err = conn_errno(ct->conn);
	const char *stage = ct->state == HC_CONNECTING ? "connecting" :
	    "awaiting the answer";

	if (what & CONN_EV_TIMEOUT)
		snprintf(ct->buf, sizeof(ct->buf), "timed out %s", stage);
	else if (what & CONN_EV_EOF)
		snprintf(ct->buf, sizeof(ct->buf), "closed by the server %s",
		    stage);
	else if (err != 0)
		snprintf(ct->buf, sizeof(ct->buf), "%s %s", strerror(err),
		    stage);
	else if (e != 0)
		snprintf(ct->buf, sizeof(ct->buf), "TLS: %s",
		    ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "handshake failed");
	else
		snprintf(ct->buf, sizeof(ct->buf), "connection failed %s",
		    stage);
	return ct->buf;
}

static void
hc_event_cb(void *arg, unsigned what)
{
	struct hc_target *ct = arg;

	if (what & CONN_EV_CONNECTED) {
		if (ct->state == HC_CONNECTING)
			check_ask(ct);
		return;
	}
	check_done(ct, false, conn_failure(ct, what));
}

static const struct conn_ops hc_conn_ops = {
	.on_read = hc_read_cb,
	.on_write = hc_write_cb,
	.on_event = hc_event_cb,
};

/* A new check of ct's target, on a new connection made as the pool's
 * are.  One that cannot even start (no fd, no memory) counts for
 * nothing: the proxy's trouble says nothing of the target's health. */
static void
check_start(struct hc_target *ct)
{
	struct upstream_pool *p = ct->hp->p;
	const struct target *tg = &p->spec.targets[ct->t];
	SSL *ssl = NULL;

	if (p->spec.ssl_ctx != NULL) {
		ssl = SSL_new(p->spec.ssl_ctx);
		if (ssl == NULL || tls_client_prepare(ssl, p->spec.tls,
		    p->spec.protocol == PROTO_H2) < 0) {
			SSL_free(ssl);
			log_warnx("upstream %s: cannot set up TLS for a health "
			    "check of %s", p->spec.name, tg->spec);
			return;
		}
	}
	ct->conn = conn_connect(p->base, (const struct sockaddr *)&tg->addr.ss,
	    (socklen_t)tg->addr.len, ssl, &hc_conn_ops, ct);
	if (ct->conn == NULL) {
		log_warn("upstream %s: health check of %s: cannot connect",
		    p->spec.name, tg->spec);
		return;
	}
	ct->state = HC_CONNECTING;
	ct->taken = 0;
	ct->interim = false;
	ct->decided = false;
	ct->ok = false;
	ct->why = NULL;
	conn_set_timeouts(ct->conn, p->spec.connect_timeout,
	    p->spec.connect_timeout);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hc_target *ct = arg;
	struct timeval tv = duration_tv(ct->hp->p->spec.health.interval);

	(void)fd;
	(void)what;
	evtimer_add(ct->timer, &tv);
	if (ct->state != HC_WAITING)
		check_done(ct, false, ct->state == HC_CONNECTING ?
		    "not connected within health.interval" :
		    "no answer within health.interval");
	check_start(ct);
}

struct hc_pool *
hc_start(struct upstream_pool *p)
{
	struct hc_pool *hp = xcalloc(1, sizeof(*hp));
	double iv = p->spec.health.interval;

	hp->p = p;
	hp->n = p->spec.ntargets;
	hp->v = xcalloc(hp->n, sizeof(*hp->v));
	if (getrandom(&hp->rng, sizeof(hp->rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(hp->rng))
		hp->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)hp;
	hp->rng |= 1;		/* xorshift never leaves 0 */
	for (size_t i = 0; i < hp->n; i++) {
		struct hc_target *ct = &hp->v[i];
		struct timeval tv = duration_tv(iv * (0.05 + 0.95 * hc_random(hp)));

		ct->hp = hp;
		ct->t = i;
		ct->timer = evtimer_new(p->base, tick_cb, ct);
		if (ct->timer == NULL)
			fatalx("cannot create a health check timer");
		evtimer_add(ct->timer, &tv);
	}
	return hp;
}

void
hc_stop(struct hc_pool *hp)
{
	if (hp == NULL)
		return;
	for (size_t i = 0; i < hp->n; i++) {
		struct hc_target *ct = &hp->v[i];

		event_free(ct->timer);
		if (ct->conn != NULL)
			check_close(ct);
	}
	free(hp->v);
	free(hp);
}
