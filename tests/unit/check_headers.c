/*
 * check_headers: request-target splitting and the head rewriting of
 * src/headers.c.  Heads are built the realistic way, by parsing request
 * and response bytes with h1, and the rewritten heads are compared byte
 * for byte.
 *
 * The "regressions" case holds bugs found here and fixed since.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>

#include "h1.h"
#include "headers.h"

#define MAX_HEAD	8192
#define MAX_FIELDS	100

/* ------------------------------------------------------------------ */
/* helpers */

/* A parsed head; the parser owns the bytes the head points into. */
struct msg {
	struct h1_parser *p;
	const struct h1_head *h;
};

static struct msg
parse_msg(enum h1_kind kind, bool head_request, const char *s)
{
	struct msg m;
	struct evbuffer *in = evbuffer_new();

	m.p = h1_parser_new(kind, MAX_HEAD, MAX_FIELDS);
	h1_parser_reset(m.p, head_request);
	evbuffer_add(in, s, strlen(s));
	ck_assert_msg(h1_parse_head(m.p, in) == H1_DONE, "cannot parse \"%s\": %s",
	    s, h1_error_reason(m.p));
	evbuffer_free(in);
	m.h = h1_head(m.p);
	return m;
}

static struct msg
parse_req(const char *s)
{
	return parse_msg(H1_REQUEST, false, s);
}

static struct msg
parse_resp(const char *s)
{
	return parse_msg(H1_RESPONSE, false, s);
}

static void
msg_free(struct msg *m)
{
	h1_parser_free(m->p);
	m->p = NULL;
	m->h = NULL;
}

/* The buffer's bytes as a NUL-terminated string; the buffer is freed. */
static char *
take(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

static void
assert_span(const char *p, size_t n, const char *want)
{
	ck_assert_msg(n == strlen(want) && (n == 0 || memcmp(p, want, n) == 0),
	    "\"%.*s\" (%zu bytes), wanted \"%s\"", (int)n, p ? p : "", n, want);
}

static unsigned
count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *s = hay; (s = strstr(s, needle)) != NULL; s++)
		n++;
	return n;
}

/* The rewrite options of a request to an own server, forwarded off. */
static struct req_rewrite
rw_default(void)
{
	struct req_rewrite rw;

	memset(&rw, 0, sizeof(rw));
	rw.via = "mcxproxy";
	rw.forwarded = FORWARDED_OFF;
	rw.client_host = "192.0.2.7";
	rw.client_tls = true;
	rw.strip_identity = false;
	rw.absolute_form = false;
	return rw;
}

/* Parses req, splits its target and returns the upstream head written
 * with the options of tmpl. */
static char *
rewrite_req(const char *req, const struct req_rewrite *tmpl)
{
	struct msg m = parse_req(req);
	struct msg_request t;
	struct req_rewrite rw = *tmpl;
	struct evbuffer *out = evbuffer_new();
	const char *why = NULL;
	char *s;

	struct field_list fl = { 0 };

	ck_assert_msg(headers_request_msg(m.h, &t, &why) == 0,
	    "target of \"%s\" refused: %s", req, why);
	rw.rq = &t;
	headers_rewrite_request(&rw, &fl);
	h1_write_request(out, &t, rw.absolute_form, &fl);
	field_list_free(&fl);
	s = take(out);
	msg_free(&m);
	return s;
}

static void
check_req(const char *req, const struct req_rewrite *rw, const char *want)
{
	char *got = rewrite_req(req, rw);

	ck_assert_msg(strcmp(got, want) == 0, "request\n%s\nwas written as\n%s\nwanted\n%s",
	    req, got, want);
	free(got);
}

static void
check_resp_head(const struct h1_head *h, bool client_chunked, bool close,
    const char *want)
{
	struct evbuffer *out = evbuffer_new();
	struct field_list fl = { 0 };
	struct msg_response m;
	char *got;

	headers_response_msg(h, &m);
	headers_rewrite_response(&m, "mcxproxy", &fl);
	h1_write_response(out, &m, &fl, client_chunked, close);
	field_list_free(&fl);
	got = take(out);
	ck_assert_msg(strcmp(got, want) == 0, "response written as\n%s\nwanted\n%s",
	    got, want);
	free(got);
}

static void
check_resp(const char *resp, bool head_request, bool client_chunked, bool close,
    const char *want)
{
	struct msg m = parse_msg(H1_RESPONSE, head_request, resp);

	check_resp_head(m.h, client_chunked, close, want);
	msg_free(&m);
}

/* ------------------------------------------------------------------ */
/* headers_request_msg */

START_TEST(target_origin_form)
{
	struct msg m = parse_req("GET /a/b?x=1&y HTTP/1.1\r\nHost: api.example.org\r\n\r\n");
	struct msg_request t;
	const char *why = NULL;

	ck_assert_int_eq(headers_request_msg(m.h, &t, &why), 0);
	ck_assert(!t.absolute);
	ck_assert(!t.https);
	assert_span(t.path, t.path_len, "/a/b?x=1&y");
	ck_assert_uint_eq(t.path_only_len, 4);
	assert_span(t.authority, t.authority_len, "api.example.org");
	/* The spans point into the head. */
	ck_assert_ptr_eq(t.path, m.h->target);
	ck_assert_ptr_eq(t.authority, m.h->fields[0].value);
	msg_free(&m);

	m = parse_req("GET / HTTP/1.1\r\nhost: a.example:8443\r\n\r\n");
	ck_assert_int_eq(headers_request_msg(m.h, &t, &why), 0);
	assert_span(t.path, t.path_len, "/");
	ck_assert_uint_eq(t.path_only_len, 1);
	assert_span(t.authority, t.authority_len, "a.example:8443");
	msg_free(&m);

	m = parse_req("GET /p? HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(headers_request_msg(m.h, &t, &why), 0);
	assert_span(t.path, t.path_len, "/p?");
	ck_assert_uint_eq(t.path_only_len, 2);
	msg_free(&m);
}
END_TEST

START_TEST(target_absolute_form)
{
	static const struct {
		const char *target;
		bool https;
		const char *authority, *path;
		size_t path_only_len;
	} c[] = {
		{ "http://api.example.org/p/q?r=1", false, "api.example.org", "/p/q?r=1", 4 },
		{ "https://api.example.org/p", true, "api.example.org", "/p", 2 },
		{ "http://api.example.org", false, "api.example.org", "/", 1 },
		{ "https://api.example.org", true, "api.example.org", "/", 1 },
		{ "http://api.example.org:8080/x", false, "api.example.org:8080", "/x", 2 },
		{ "https://[2001:db8::1]:8443/x", true, "[2001:db8::1]:8443", "/x", 2 },
		{ "HTTP://API.example.org/", false, "API.example.org", "/", 1 },
		{ "HtTpS://a/", true, "a", "/", 1 },
		{ "http://a.example/p@q", false, "a.example", "/p@q", 4 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char req[256];
		struct msg m;
		struct msg_request t;
		const char *why = NULL;

		/* The Host field is ignored for absolute-form. */
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: ignored.example\r\n\r\n",
		    c[i].target);
		m = parse_req(req);
		ck_assert_msg(headers_request_msg(m.h, &t, &why) == 0, "%s: %s",
		    c[i].target, why);
		ck_assert(t.absolute);
		ck_assert_msg(t.https == c[i].https, "%s: https", c[i].target);
		assert_span(t.authority, t.authority_len, c[i].authority);
		assert_span(t.path, t.path_len, c[i].path);
		ck_assert_uint_eq(t.path_only_len, c[i].path_only_len);
		msg_free(&m);
	}
}
END_TEST

START_TEST(target_absolute_form_http10_no_host)
{
	struct msg m = parse_req("GET http://a.example/x HTTP/1.0\r\n\r\n");
	struct msg_request t;
	const char *why = NULL;

	ck_assert_int_eq(headers_request_msg(m.h, &t, &why), 0);
	assert_span(t.authority, t.authority_len, "a.example");
	msg_free(&m);
}
END_TEST

START_TEST(target_asterisk_form)
{
	struct msg m = parse_req("OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n");
	struct msg_request t;
	const char *why = NULL;

	ck_assert_int_eq(headers_request_msg(m.h, &t, &why), 0);
	ck_assert(!t.absolute);
	assert_span(t.path, t.path_len, "*");
	ck_assert_uint_eq(t.path_only_len, 1);
	assert_span(t.authority, t.authority_len, "a.example");
	msg_free(&m);

	/* Only OPTIONS may use it. */
	m = parse_req("GET * HTTP/1.1\r\nHost: a.example\r\n\r\n");
	why = NULL;
	ck_assert_int_eq(headers_request_msg(m.h, &t, &why), -1);
	ck_assert_ptr_nonnull(why);
	msg_free(&m);
	m = parse_req("DELETE * HTTP/1.1\r\nHost: a.example\r\n\r\n");
	why = NULL;
	ck_assert_int_eq(headers_request_msg(m.h, &t, &why), -1);
	ck_assert_ptr_nonnull(why);
	msg_free(&m);
}
END_TEST

/*
 * Targets h1 accepts but the proxy does not.  "http://host?q" (a query
 * with an empty path) is refused too, although it is a valid URI.
 */
START_TEST(target_refused)
{
	static const char *const reqs[] = {
		/* userinfo */
		"GET http://user:pw@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET http://user@a.example HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET https://@a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
		/* fragment */
		"GET /a#frag HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET /a?b#frag HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET http://a.example/b#frag HTTP/1.1\r\nHost: a.example\r\n\r\n",
		/* no authority */
		"GET http:///x HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET http://?x HTTP/1.1\r\nHost: a.example\r\n\r\n",
		/* query without a path */
		"GET http://a.example?x HTTP/1.1\r\nHost: a.example\r\n\r\n",
		/* other schemes, authority-form, garbage llhttp lets through */
		"GET ftp://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET httpx://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
		/* asterisk outside OPTIONS */
		"POST * HTTP/1.1\r\nHost: a.example\r\n\r\n",
		/* origin-form without a usable Host */
		"GET / HTTP/1.0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost:\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: \r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct msg m = parse_req(reqs[i]);
		struct msg_request t;
		const char *why = NULL;

		ck_assert_msg(headers_request_msg(m.h, &t, &why) == -1,
		    "target of \"%s\" accepted", reqs[i]);
		ck_assert_msg(why != NULL && *why != '\0', "no reason for \"%s\"", reqs[i]);
		msg_free(&m);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* headers_rewrite_request + h1_write_request */

START_TEST(req_simple)
{
	struct req_rewrite rw = rw_default();

	check_req("GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.org\r\n"
	    "Accept: */*\r\nUser-Agent: ua/1.0\r\n\r\n", &rw,
	    "GET /index.html?q=1 HTTP/1.1\r\n"
	    "Host: www.example.org\r\n"
	    "Accept: */*\r\n"
	    "User-Agent: ua/1.0\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "\r\n");
	/* Field names keep their case and order; Host is written first. */
	check_req("DELETE /r HTTP/1.1\r\nx-lower: 1\r\nhOsT: a.example\r\nX-UPPER: 2\r\n\r\n",
	    &rw,
	    "DELETE /r HTTP/1.1\r\n"
	    "Host: a.example\r\n"
	    "x-lower: 1\r\n"
	    "X-UPPER: 2\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "\r\n");
}
END_TEST

START_TEST(req_hop_by_hop_removed)
{
	struct req_rewrite rw = rw_default();

	check_req("GET /a?b HTTP/1.1\r\n"
	    "Host: api.example\r\n"
	    "User-Agent: t/1\r\n"
	    "Connection: keep-alive, X-Hop, x-other\r\n"
	    "X-Hop: 1\r\n"
	    "Keep-Alive: timeout=5\r\n"
	    "Proxy-Connection: keep-alive\r\n"
	    "TE: trailers\r\n"
	    "Upgrade: h2c\r\n"
	    "Proxy-Authorization: Basic dXNlcjpwdw==\r\n"
	    "Authorization: Bearer tok.en\r\n"
	    "X-OTHER: 2\r\n"
	    "Trailer: X-T\r\n"
	    "Accept: */*\r\n"
	    "\r\n", &rw,
	    "GET /a?b HTTP/1.1\r\n"
	    "Host: api.example\r\n"
	    "User-Agent: t/1\r\n"
	    "Authorization: Bearer tok.en\r\n"
	    "Accept: */*\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "\r\n");
	/* Several Connection fields, names in any case. */
	check_req("GET / HTTP/1.1\r\nHost: a\r\nconnection: X-A\r\nX-B: b\r\n"
	    "CONNECTION: x-b , ,X-C\r\nx-a: a\r\nX-C: c\r\nX-D: d\r\n\r\n", &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\nX-D: d\r\nVia: 1.1 mcxproxy\r\n\r\n");
	/* Connection cannot remove the fields the proxy writes itself. */
	check_req("POST / HTTP/1.1\r\nHost: a\r\nConnection: host, content-length\r\n"
	    "Content-Length: 2\r\n\r\n", &rw,
	    "POST / HTTP/1.1\r\nHost: a\r\nVia: 1.1 mcxproxy\r\nContent-Length: 2\r\n\r\n");
	/* An upgrade request loses its upgrade. */
	check_req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: k\r\n\r\n", &rw,
	    "GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\nVia: 1.1 mcxproxy\r\n\r\n");
}
END_TEST

START_TEST(req_host_from_absolute_form)
{
	struct req_rewrite rw = rw_default();
	char *got;

	check_req("GET http://api.example:8080/p?q HTTP/1.1\r\nHost: other.example\r\n"
	    "X: y\r\n\r\n", &rw,
	    "GET /p?q HTTP/1.1\r\n"
	    "Host: api.example:8080\r\n"
	    "X: y\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "\r\n");
	check_req("GET https://api.example HTTP/1.1\r\nHost: api.example\r\n\r\n", &rw,
	    "GET / HTTP/1.1\r\nHost: api.example\r\nVia: 1.1 mcxproxy\r\n\r\n");
	/* HTTP/1.0 without Host: one is added. */
	check_req("GET http://a.example/x HTTP/1.0\r\n\r\n", &rw,
	    "GET /x HTTP/1.1\r\nHost: a.example\r\nVia: 1.0 mcxproxy\r\n\r\n");
	/* Exactly one Host line, whatever its case in the request. */
	got = rewrite_req("GET http://b.example/ HTTP/1.1\r\nhost: c.example\r\n\r\n", &rw);
	ck_assert_uint_eq(count(got, "Host:"), 1);
	ck_assert_uint_eq(count(got, "host:"), 0);
	ck_assert_ptr_null(strstr(got, "c.example"));
	free(got);
}
END_TEST

START_TEST(req_forwarded_modes)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char pre[] = "GET /x HTTP/1.1\r\nHost: a\r\nVia: 1.1 mcxproxy\r\n";
	static const struct {
		enum forwarded_mode mode;
		const char *host;
		bool tls;
		const char *fields;
	} c[] = {
		{ FORWARDED_OFF, "192.0.2.7", true, "" },
		{ FORWARDED_OFF, "2001:db8::1", false, "" },
		{ FORWARDED_XFF, "192.0.2.7", true, "X-Forwarded-For: 192.0.2.7\r\n" },
		{ FORWARDED_XFF, "2001:db8::1", true, "X-Forwarded-For: 2001:db8::1\r\n" },
		{ FORWARDED_RFC7239, "192.0.2.7", true,
		    "Forwarded: for=192.0.2.7;proto=https\r\n" },
		{ FORWARDED_RFC7239, "192.0.2.7", false,
		    "Forwarded: for=192.0.2.7;proto=http\r\n" },
		{ FORWARDED_RFC7239, "2001:db8::1", true,
		    "Forwarded: for=\"[2001:db8::1]\";proto=https\r\n" },
		{ FORWARDED_BOTH, "192.0.2.7", false,
		    "X-Forwarded-For: 192.0.2.7\r\nForwarded: for=192.0.2.7;proto=http\r\n" },
		{ FORWARDED_BOTH, "2001:db8::1", true,
		    "X-Forwarded-For: 2001:db8::1\r\n"
		    "Forwarded: for=\"[2001:db8::1]\";proto=https\r\n" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct req_rewrite rw = rw_default();
		char want[512];

		rw.forwarded = c[i].mode;
		rw.client_host = c[i].host;
		rw.client_tls = c[i].tls;
		snprintf(want, sizeof(want), "%s%s\r\n", pre, c[i].fields);
		check_req(req, &rw, want);
	}
}
END_TEST

/* The client's own X-Forwarded-For / Forwarded stay where they were; the
 * proxy's are appended as separate lines after Via. */
START_TEST(req_forwarded_appended)
{
	struct req_rewrite rw = rw_default();

	rw.forwarded = FORWARDED_BOTH;
	check_req("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1\r\n"
	    "Forwarded: for=198.51.100.1\r\nAccept: */*\r\n\r\n", &rw,
	    "GET / HTTP/1.1\r\n"
	    "Host: a\r\n"
	    "X-Forwarded-For: 198.51.100.1\r\n"
	    "Forwarded: for=198.51.100.1\r\n"
	    "Accept: */*\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "X-Forwarded-For: 192.0.2.7\r\n"
	    "Forwarded: for=192.0.2.7;proto=https\r\n"
	    "\r\n");
}
END_TEST

START_TEST(req_via)
{
	struct req_rewrite rw = rw_default();

	rw.via = "edge-1";
	/* An existing Via is kept; the proxy's comes after it. */
	check_req("GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 ue-gw\r\n\r\n", &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 ue-gw\r\nVia: 1.1 edge-1\r\n\r\n");
	/* The received protocol version is named: 1.0 for an HTTP/1.0
	 * client, while the request sent is HTTP/1.1. */
	check_req("GET / HTTP/1.0\r\nHost: a\r\n\r\n", &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 edge-1\r\n\r\n");
}
END_TEST

START_TEST(req_authorization_untouched)
{
	struct req_rewrite rw = rw_default();

	check_req("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Authorization: Digest username=\"u\", realm=\"r\",  nonce=\"n\"\r\n"
	    "authorization: Bearer second\r\n\r\n", &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Authorization: Digest username=\"u\", realm=\"r\",  nonce=\"n\"\r\n"
	    "authorization: Bearer second\r\n"
	    "Via: 1.1 mcxproxy\r\n\r\n");
}
END_TEST

START_TEST(req_identity)
{
	static const char req[] =
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-3GPP-Asserted-Identity: sip:alice@partner.example\r\n"
	    "x-3gpp-asserted-identity: sip:bob@partner.example\r\n"
	    "X-3GPP-Asserted-Identity-Extra: kept\r\n"
	    "X-3GPP-Intended-Identity: sip:carol@partner.example\r\n\r\n";
	struct req_rewrite rw = rw_default();

	check_req(req, &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-3GPP-Asserted-Identity: sip:alice@partner.example\r\n"
	    "x-3gpp-asserted-identity: sip:bob@partner.example\r\n"
	    "X-3GPP-Asserted-Identity-Extra: kept\r\n"
	    "X-3GPP-Intended-Identity: sip:carol@partner.example\r\n"
	    "Via: 1.1 mcxproxy\r\n\r\n");
	rw.strip_identity = true;
	check_req(req, &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X-3GPP-Asserted-Identity-Extra: kept\r\n"
	    "X-3GPP-Intended-Identity: sip:carol@partner.example\r\n"
	    "Via: 1.1 mcxproxy\r\n\r\n");
}
END_TEST

/* headers.client_identity: the client's own field of that name never
 * passes; the proxy's value is added when the client authenticated. */
START_TEST(req_client_identity)
{
	static const char req[] =
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    "x-mcx-client-identity: psk:admin\r\nAccept: */*\r\n\r\n";
	struct req_rewrite rw = rw_default();

	rw.identity_field = "X-MCX-Client-Identity";
	rw.identity = "psk:alice";
	check_req(req, &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n"
	    "Via: 1.1 mcxproxy\r\nX-MCX-Client-Identity: psk:alice\r\n\r\n");
	rw.identity = "";
	check_req(req, &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n"
	    "Via: 1.1 mcxproxy\r\n\r\n");
	/* Off: the field is an ordinary end-to-end field. */
	rw.identity_field = NULL;
	rw.identity = "psk:alice";
	check_req(req, &rw,
	    "GET / HTTP/1.1\r\nHost: a\r\n"
	    "x-mcx-client-identity: psk:admin\r\nAccept: */*\r\n"
	    "Via: 1.1 mcxproxy\r\n\r\n");
}
END_TEST

START_TEST(req_framing)
{
	struct req_rewrite rw = rw_default();

	/* Sized: the length goes last. */
	check_req("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Content-Type: text/plain\r\n\r\n", &rw,
	    "POST /u HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
	    "Via: 1.1 mcxproxy\r\nContent-Length: 5\r\n\r\n");
	/* Leading zeros are gone. */
	check_req("PUT /u HTTP/1.1\r\nHost: a\r\ncontent-length: 007\r\n\r\n", &rw,
	    "PUT /u HTTP/1.1\r\nHost: a\r\nVia: 1.1 mcxproxy\r\nContent-Length: 7\r\n\r\n");
	/* Chunked stays chunked. */
	check_req("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Type: application/json\r\n\r\n", &rw,
	    "POST /u HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
	    "Via: 1.1 mcxproxy\r\nTransfer-Encoding: chunked\r\n\r\n");
	check_req("POST /u HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n", &rw,
	    "POST /u HTTP/1.1\r\nHost: a\r\n"
	    "Via: 1.1 mcxproxy\r\nTransfer-Encoding: chunked\r\n\r\n");
	/* An empty POST keeps its Content-Length: 0. */
	check_req("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &rw,
	    "POST /u HTTP/1.1\r\nHost: a\r\nVia: 1.1 mcxproxy\r\nContent-Length: 0\r\n\r\n");
	/* No body and no length: none added. */
	check_req("POST /u HTTP/1.1\r\nHost: a\r\n\r\n", &rw,
	    "POST /u HTTP/1.1\r\nHost: a\r\nVia: 1.1 mcxproxy\r\n\r\n");
	/* HTTP/1.0 with a body: sent as HTTP/1.1 with its length. */
	check_req("POST /u HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\n", &rw,
	    "POST /u HTTP/1.1\r\nHost: a\r\nVia: 1.0 mcxproxy\r\nContent-Length: 3\r\n\r\n");
}
END_TEST

START_TEST(req_absolute_form_to_partner)
{
	struct req_rewrite rw = rw_default();

	rw.absolute_form = true;
	check_req("GET /p?q=1 HTTP/1.1\r\nHost: gms.partner.example\r\nAccept: */*\r\n\r\n", &rw,
	    "GET https://gms.partner.example/p?q=1 HTTP/1.1\r\n"
	    "Host: gms.partner.example\r\n"
	    "Accept: */*\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "\r\n");
	check_req("GET http://gms.partner.example:8080/p HTTP/1.1\r\n"
	    "Host: gms.partner.example:8080\r\n\r\n", &rw,
	    "GET https://gms.partner.example:8080/p HTTP/1.1\r\n"
	    "Host: gms.partner.example:8080\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "\r\n");
	check_req("POST https://gms.partner.example HTTP/1.1\r\n"
	    "Host: gms.partner.example\r\nContent-Length: 2\r\n\r\n", &rw,
	    "POST https://gms.partner.example/ HTTP/1.1\r\n"
	    "Host: gms.partner.example\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "Content-Length: 2\r\n"
	    "\r\n");
}
END_TEST

START_TEST(req_options_asterisk)
{
	struct req_rewrite rw = rw_default();

	check_req("OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", &rw,
	    "OPTIONS * HTTP/1.1\r\nHost: a.example\r\nVia: 1.1 mcxproxy\r\n\r\n");
}
END_TEST

START_TEST(hop_by_hop_predicate)
{
	struct msg m = parse_req("GET / HTTP/1.1\r\n"
	    "Host: a\r\n"			/* 0 */
	    "Connection: X-Named\r\n"		/* 1 */
	    "X-Named: 1\r\n"			/* 2 */
	    "X-Named-Not: 2\r\n"		/* 3 */
	    "Keep-Alive: 1\r\n"			/* 4 */
	    "Proxy-Connection: 1\r\n"		/* 5 */
	    "te: trailers\r\n"			/* 6 */
	    "UPGRADE: x\r\n"			/* 7 */
	    "Proxy-Authorization: x\r\n"	/* 8 */
	    "Proxy-Authenticate: x\r\n"		/* 9 */
	    "Trailer: x\r\n"			/* 10 */
	    "Authorization: x\r\n"		/* 11 */
	    "Content-Type: x\r\n"		/* 12 */
	    "\r\n");
	static const bool hop[] = {
		false, true, true, false, true, true, true, true, true, true, true,
		false, false,
	};

	ck_assert_uint_eq(m.h->nfields, sizeof(hop) / sizeof(hop[0]));
	for (unsigned i = 0; i < m.h->nfields; i++)
		ck_assert_msg(msg_hop_by_hop(m.h->fields, m.h->nfields, &m.h->fields[i]) == hop[i],
		    "field %u (%.*s)", i, (int)m.h->fields[i].name_len, m.h->fields[i].name);
	msg_free(&m);
}
END_TEST

/* msg_hop_is (Connection read once per head) says what msg_hop_by_hop
 * says for every field, whatever Connection names. */
START_TEST(hop_by_hop_once_per_head)
{
	static const char *const heads[] = {
		"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nX: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nClose: 1\r\nX: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-B: 2\r\nConnection: te, x-b ,X-c\r\nx-C: 3\r\nX-D: 4\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: X-E\r\nX-E: 1\r\nUpgrade: h2c\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\nX: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: ,,\r\nX: 1\r\n\r\n",
	};

	for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++) {
		struct msg m = parse_req(heads[k]);
		struct msg_hop hop;

		msg_hop_init(&hop, m.h->fields, m.h->nfields);
		for (unsigned i = 0; i < m.h->nfields; i++)
			ck_assert_msg(msg_hop_is(&hop, &m.h->fields[i]) ==
			    msg_hop_by_hop(m.h->fields, m.h->nfields, &m.h->fields[i]),
			    "head %zu field %u (%.*s)", k, i,
			    (int)m.h->fields[i].name_len, m.h->fields[i].name);
		msg_free(&m);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* h1_write_response */

START_TEST(resp_sized)
{
	static const char r[] =
	    "HTTP/1.1 200 Fine Thanks\r\n"
	    "Server: s/1\r\n"
	    "Content-Length: 5\r\n"
	    "Connection: keep-alive\r\n"
	    "Keep-Alive: timeout=5\r\n"
	    "Set-Cookie: a=1\r\n"
	    "Set-Cookie: b=2\r\n"
	    "\r\n";

	check_resp(r, false, true, false,
	    "HTTP/1.1 200 Fine Thanks\r\n"
	    "Server: s/1\r\n"
	    "Content-Length: 5\r\n"
	    "Set-Cookie: a=1\r\n"
	    "Set-Cookie: b=2\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "\r\n");
	/* client_chunked does not matter for a sized body. */
	check_resp(r, false, false, true,
	    "HTTP/1.1 200 Fine Thanks\r\n"
	    "Server: s/1\r\n"
	    "Content-Length: 5\r\n"
	    "Set-Cookie: a=1\r\n"
	    "Set-Cookie: b=2\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "Connection: close\r\n"
	    "\r\n");
}
END_TEST

START_TEST(resp_chunked)
{
	static const char r[] =
	    "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX: y\r\nTrailer: X-T\r\n\r\n";

	check_resp(r, false, true, false,
	    "HTTP/1.1 201 Created\r\nX: y\r\nVia: 1.1 mcxproxy\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	/* Toward an HTTP/1.0 client: raw body, then close. */
	check_resp(r, false, false, true,
	    "HTTP/1.1 201 Created\r\nX: y\r\nVia: 1.1 mcxproxy\r\n"
	    "Connection: close\r\n\r\n");
	check_resp(r, false, true, true,
	    "HTTP/1.1 201 Created\r\nX: y\r\nVia: 1.1 mcxproxy\r\n"
	    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(resp_close_delimited)
{
	static const char r[] = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\n";

	check_resp(r, false, true, false,
	    "HTTP/1.1 200 OK\r\nServer: old\r\nVia: 1.0 mcxproxy\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	check_resp(r, false, false, true,
	    "HTTP/1.1 200 OK\r\nServer: old\r\nVia: 1.0 mcxproxy\r\n"
	    "Connection: close\r\n\r\n");
}
END_TEST

/* A response h1 frames as chunked or close-delimited never has a
 * Content-Length (h1 refuses both), so the head is re-framed by hand
 * here to see the length dropped. */
START_TEST(resp_length_dropped_when_reframed)
{
	struct msg m = parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\n");
	struct h1_head h = *m.h;


	ck_assert_int_eq(h.framing, H1_BODY_SIZED);
	h.framing = H1_BODY_CHUNKED;
	check_resp_head(&h, true, false,
	    "HTTP/1.1 200 OK\r\nX: y\r\nVia: 1.1 mcxproxy\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	h.framing = H1_BODY_CLOSE;
	check_resp_head(&h, false, true,
	    "HTTP/1.1 200 OK\r\nX: y\r\nVia: 1.1 mcxproxy\r\nConnection: close\r\n\r\n");
	msg_free(&m);
}
END_TEST

START_TEST(resp_interim)
{
	/* Neither framing nor Connection: close on an interim response,
	 * whatever the caller asks. */
	check_resp("HTTP/1.1 100 Continue\r\n\r\n", false, true, true,
	    "HTTP/1.1 100 Continue\r\nVia: 1.1 mcxproxy\r\n\r\n");
	check_resp("HTTP/1.1 100 Continue\r\n\r\n", false, false, false,
	    "HTTP/1.1 100 Continue\r\nVia: 1.1 mcxproxy\r\n\r\n");
	check_resp("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
	    false, true, true,
	    "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
	    "Via: 1.1 mcxproxy\r\n\r\n");
	check_resp("HTTP/1.1 100\r\n\r\n", false, true, false,
	    "HTTP/1.1 100 Continue\r\nVia: 1.1 mcxproxy\r\n\r\n");
}
END_TEST

START_TEST(resp_reason)
{
	/* The upstream's reason is kept, else the standard one. */
	check_resp("HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n", false, true, false,
	    "HTTP/1.1 404 Nope\r\nContent-Length: 0\r\nVia: 1.1 mcxproxy\r\n\r\n");
	check_resp("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false, true, false,
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nVia: 1.1 mcxproxy\r\n\r\n");
	check_resp("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", false, true, false,
	    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nVia: 1.1 mcxproxy\r\n\r\n");
	/* A status the proxy has no phrase for. */
	check_resp("HTTP/1.1 299\r\nContent-Length: 0\r\n\r\n", false, true, false,
	    "HTTP/1.1 299 Unknown\r\nContent-Length: 0\r\nVia: 1.1 mcxproxy\r\n\r\n");
}
END_TEST

START_TEST(resp_no_body)
{
	/* A response to HEAD keeps the length it announces. */
	check_resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, true, false,
	    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nVia: 1.1 mcxproxy\r\n\r\n");
	/* ...but not its transfer coding, and none is added. */
	check_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, true, false,
	    "HTTP/1.1 200 OK\r\nVia: 1.1 mcxproxy\r\n\r\n");
	check_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"e\"\r\n\r\n",
	    false, true, false,
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"e\"\r\n"
	    "Via: 1.1 mcxproxy\r\n\r\n");
	check_resp("HTTP/1.1 204 No Content\r\n\r\n", false, true, true,
	    "HTTP/1.1 204 No Content\r\nVia: 1.1 mcxproxy\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(resp_hop_by_hop_removed)
{
	check_resp("HTTP/1.1 200 OK\r\n"
	    "Connection: close, X-Custom\r\n"
	    "X-Custom: 1\r\n"
	    "Keep-Alive: timeout=5\r\n"
	    "Proxy-Connection: close\r\n"
	    "Upgrade: h2c\r\n"
	    "Proxy-Authenticate: Basic\r\n"
	    "WWW-Authenticate: Bearer\r\n"
	    "Via: 1.1 upstream\r\n"
	    "Content-Length: 2\r\n"
	    "\r\n", false, true, false,
	    "HTTP/1.1 200 OK\r\n"
	    "WWW-Authenticate: Bearer\r\n"
	    "Via: 1.1 upstream\r\n"
	    "Content-Length: 2\r\n"
	    "Via: 1.1 mcxproxy\r\n"
	    "\r\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* regressions */

/* The response rewrite works on a neutral response, as an HTTP/2 codec
 * would fill one (no HTTP/1.1 parse, no wire): the field list alone. */
static void
check_fields(const struct field_list *fl, const char *const *want, unsigned n)
{
	ck_assert_uint_eq(fl->n, n);
	for (unsigned i = 0; i < n; i++) {
		size_t len = strlen(want[2 * i]);

		ck_assert_msg(fl->v[i].name_len == len &&
		    memcmp(fl->v[i].name, want[2 * i], len) == 0,
		    "field %u is %.*s, wanted %s", i, (int)fl->v[i].name_len,
		    fl->v[i].name, want[2 * i]);
		len = strlen(want[2 * i + 1]);
		ck_assert_msg(fl->v[i].value_len == len &&
		    memcmp(fl->v[i].value, want[2 * i + 1], len) == 0,
		    "field %u value %.*s, wanted %s", i, (int)fl->v[i].value_len,
		    fl->v[i].value, want[2 * i + 1]);
	}
}

#define F(n, v)	{ n, sizeof(n) - 1, v, sizeof(v) - 1 }

START_TEST(resp_field_list_neutral)
{
	static const struct msg_field f[] = {
		F("content-type", "application/json"),
		F("connection", "x-private"),
		F("x-private", "secret"),
		F("content-length", "12"),
		F("keep-alive", "timeout=5"),
		F("x-end", "kept"),
	};
	static const char *const sized[] = {
		"content-type", "application/json", "content-length", "12",
		"x-end", "kept", "Via", "1.0 edge",
	};
	static const char *const streamed[] = {
		"content-type", "application/json", "x-end", "kept",
		"Via", "1.1 mcxproxy",
	};
	struct msg_response m = {
		.status = 200, .version = "1.0", .fields = f,
		.nfields = sizeof(f) / sizeof(f[0]), .body = MSG_BODY_SIZED,
		.content_length = 12,
	};
	struct field_list fl = { 0 };

	headers_rewrite_response(&m, "edge", &fl);
	check_fields(&fl, sized, 4);
	/* The list is reused: a second, streamed response leaves nothing of
	 * the first, and its Content-Length is the writer's business. */
	m.version = "1.1";
	m.body = MSG_BODY_STREAM;
	headers_rewrite_response(&m, "mcxproxy", &fl);
	check_fields(&fl, streamed, 3);
	field_list_free(&fl);
}
END_TEST

#undef F

/*
 * OPTIONS * toward a partner proxy is written "OPTIONS
 * https://host* HTTP/1.1".  RFC 9112 3.2.4: asterisk-form sent through a
 * proxy becomes absolute-form with an empty path, "https://host".
 */
START_TEST(bug_options_asterisk_absolute_form)
{
	struct req_rewrite rw = rw_default();

	rw.absolute_form = true;
	check_req("OPTIONS * HTTP/1.1\r\nHost: gms.partner.example\r\n\r\n", &rw,
	    "OPTIONS https://gms.partner.example HTTP/1.1\r\n"
	    "Host: gms.partner.example\r\nVia: 1.1 mcxproxy\r\n\r\n");
}
END_TEST

/*
 * a Connection field naming Content-Length makes
 * h1_write_response drop the Content-Length of a sized response
 * (msg_hop_by_hop is asked before the framing fields are
 * handled), and nothing replaces it: the client gets a body with neither
 * length nor chunking on a connection that stays open, and takes the
 * bytes of the next response as part of this one.
 */
START_TEST(bug_connection_names_content_length)
{
	check_resp("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\n"
	    "Content-Length: 5\r\n\r\n", false, true, false,
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVia: 1.1 mcxproxy\r\n\r\n");
	check_resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Connection: keep-alive, content-length\r\n\r\n", false, true, true,
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVia: 1.1 mcxproxy\r\n"
	    "Connection: close\r\n\r\n");
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *
headers_suite(void)
{
	Suite *s = suite_create("headers");
	TCase *tc;

	tc = tcase_create("target");
	tcase_add_test(tc, target_origin_form);
	tcase_add_test(tc, target_absolute_form);
	tcase_add_test(tc, target_absolute_form_http10_no_host);
	tcase_add_test(tc, target_asterisk_form);
	tcase_add_test(tc, target_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_test(tc, req_simple);
	tcase_add_test(tc, req_hop_by_hop_removed);
	tcase_add_test(tc, req_host_from_absolute_form);
	tcase_add_test(tc, req_forwarded_modes);
	tcase_add_test(tc, req_forwarded_appended);
	tcase_add_test(tc, req_via);
	tcase_add_test(tc, req_authorization_untouched);
	tcase_add_test(tc, req_identity);
	tcase_add_test(tc, req_client_identity);
	tcase_add_test(tc, req_framing);
	tcase_add_test(tc, req_absolute_form_to_partner);
	tcase_add_test(tc, req_options_asterisk);
	tcase_add_test(tc, hop_by_hop_predicate);
	tcase_add_test(tc, hop_by_hop_once_per_head);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_test(tc, resp_sized);
	tcase_add_test(tc, resp_chunked);
	tcase_add_test(tc, resp_close_delimited);
	tcase_add_test(tc, resp_length_dropped_when_reframed);
	tcase_add_test(tc, resp_interim);
	tcase_add_test(tc, resp_reason);
	tcase_add_test(tc, resp_no_body);
	tcase_add_test(tc, resp_hop_by_hop_removed);
	tcase_add_test(tc, resp_field_list_neutral);
	suite_add_tcase(s, tc);

	tc = tcase_create("regressions");
	tcase_add_test(tc, bug_options_asterisk_absolute_form);
	tcase_add_test(tc, bug_connection_names_content_length);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(headers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
