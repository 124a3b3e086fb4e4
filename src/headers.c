/*
 * headers: head rewriting between the client and the upstream (see
 * headers.h).  Heads are written straight into the outgoing evbuffer;
 * nothing here allocates.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "headers.h"

/* Appends v in decimal: heads are written on every request, and printf
 * costs more than the rest of the rewrite. */
static void
add_u64(struct evbuffer *out, uint64_t v)
{
	char buf[24], *p = buf + sizeof(buf);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	evbuffer_add(out, p, (size_t)(buf + sizeof(buf) - p));
}

static void
add_str(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, s, strlen(s));
}

/* "Via: 1.1 pseudonym": the version the message came with. */
static void
add_via(struct evbuffer *out, unsigned minor, const char *via)
{
	evbuffer_add(out, "Via: 1.", 7);
	add_u64(out, minor);
	evbuffer_add(out, " ", 1);
	add_str(out, via);
	evbuffer_add(out, "\r\n", 2);
}

static bool
has_prefix(const char *s, size_t n, const char *lit, size_t *litlen)
{
	*litlen = strlen(lit);
	return n >= *litlen && strncasecmp(s, lit, *litlen) == 0;
}

int
headers_request_msg(const struct h1_head *h, struct msg_request *t,
    const char **why)
{
	const char *s = h->target, *end = h->target + h->target_len, *a, *q;
	const struct msg_field *host;
	size_t n;

	memset(t, 0, sizeof(*t));
	/* What is not the target first: a caller refusing the target (or a
	 * CONNECT) still sees the method and the fields. */
	t->method = h->method;
	t->method_head = h->method_head;
	t->method_connect = h->method_connect;
	t->method_idempotent = h->method_idempotent;
	t->fields = h->fields;
	t->nfields = h->nfields;
	switch (h->framing) {
	case H1_BODY_NONE:
		t->body = MSG_BODY_NONE;
		break;
	case H1_BODY_SIZED:
		t->body = MSG_BODY_SIZED;
		t->content_length = h->content_length;
		break;
	case H1_BODY_CHUNKED:
	case H1_BODY_CLOSE:
		t->body = MSG_BODY_STREAM;
		break;
	}
	if (s < end && *s == '/') {
		t->path = s;
		t->path_len = h->target_len;
	} else if (h->target_len == 1 && *s == '*') {
		if (strcmp(h->method, "OPTIONS") != 0) {
			*why = "asterisk-form target outside OPTIONS";
			return -1;
		}
		t->path = s;
		t->path_len = 1;
	} else if (has_prefix(s, h->target_len, "http://", &n) ||
	    has_prefix(s, h->target_len, "https://", &n)) {
		t->absolute = true;
		t->https = n == 8;
		a = s + n;
		q = a;
		while (q < end && *q != '/' && *q != '?' && *q != '#')
			q++;
		t->authority = a;
		t->authority_len = (size_t)(q - a);
		if (t->authority_len == 0) {
			*why = "absolute-form target without authority";
			return -1;
		}
		if (memchr(a, '@', t->authority_len) != NULL) {
			*why = "userinfo in the request target";
			return -1;
		}
		if (q == end || *q != '/') {
			/* "http://host" or "http://host?q": the path is "/". */
			if (q < end && *q == '#') {
				*why = "fragment in the request target";
				return -1;
			}
			t->path = "/";
			t->path_len = 1;
			if (q < end) {
				*why = "query without a path in the request target";
				return -1;
			}
		} else {
			t->path = q;
			t->path_len = (size_t)(end - q);
		}
	} else {
		*why = "request target is not origin-form or absolute-form";
		return -1;
	}
	if (memchr(t->path, '#', t->path_len) != NULL) {
		*why = "fragment in the request target";
		return -1;
	}
	q = memchr(t->path, '?', t->path_len);
	t->path_only_len = q ? (size_t)(q - t->path) : t->path_len;
	if (!t->absolute) {
		host = h1_find(h, "host");
		if (host == NULL || host->value_len == 0) {
			*why = "no Host field and no absolute-form target";
			return -1;
		}
		t->authority = host->value;
		t->authority_len = host->value_len;
	}
	return 0;
}

/* Whether a Connection field of h names this field. */
static bool
named_by_connection(const struct h1_head *h, const struct msg_field *f)
{
	for (unsigned i = 0; i < h->nfields; i++) {
		const struct msg_field *c = &h->fields[i];
		const char *p = c->value, *end = c->value + c->value_len, *tok;
		size_t n;

		if (!msg_name_eq(c, "connection"))
			continue;
		while (h1_next_token(&p, end, &tok, &n))
			if (n == f->name_len && strncasecmp(tok, f->name, n) == 0)
				return true;
	}
	return false;
}

bool
headers_is_hop_by_hop(const struct h1_head *h, const struct msg_field *f)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "te",
		"upgrade", "transfer-encoding", "proxy-authorization",
		"proxy-authenticate", "trailer",
	};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (msg_name_eq(f, hop[i]))
			return true;
	return named_by_connection(h, f);
}

static void
write_field(struct evbuffer *out, const struct msg_field *f)
{
	evbuffer_add(out, f->name, f->name_len);
	evbuffer_add(out, ": ", 2);
	evbuffer_add(out, f->value, f->value_len);
	evbuffer_add(out, "\r\n", 2);
}

void
headers_write_request(struct evbuffer *out, const struct req_rewrite *r)
{
	const struct h1_head *h = r->head;
	const struct msg_request *t = r->target;
	bool had_length = false;

	add_str(out, h->method);
	evbuffer_add(out, " ", 1);
	if (r->absolute_form) {
		evbuffer_add(out, "https://", 8);
		evbuffer_add(out, t->authority, t->authority_len);
		/* "OPTIONS *" in absolute-form is the bare authority
		 * (RFC 9112 3.2.4). */
		if (!(t->path_len == 1 && t->path[0] == '*'))
			evbuffer_add(out, t->path, t->path_len);
	} else
		evbuffer_add(out, t->path, t->path_len);
	evbuffer_add(out, " HTTP/1.1\r\nHost: ", 17);
	evbuffer_add(out, t->authority, t->authority_len);
	evbuffer_add(out, "\r\n", 2);
	for (unsigned i = 0; i < h->nfields; i++) {
		const struct msg_field *f = &h->fields[i];

		if (msg_name_eq(f, "content-length")) {
			had_length = true;
			continue;
		}
		if (msg_name_eq(f, "host") || headers_is_hop_by_hop(h, f))
			continue;
		if (r->strip_identity && msg_name_eq(f, "x-3gpp-asserted-identity"))
			continue;
		/* Only the proxy may say who authenticated: a client's own
		 * field of that name is a forgery. */
		if (r->identity_field != NULL && msg_name_eq(f, r->identity_field))
			continue;
		write_field(out, f);
	}
	add_via(out, h->minor, r->via);
	if (r->forwarded == FORWARDED_XFF || r->forwarded == FORWARDED_BOTH)
		evbuffer_add_printf(out, "X-Forwarded-For: %s\r\n", r->client_host);
	if (r->forwarded == FORWARDED_RFC7239 || r->forwarded == FORWARDED_BOTH) {
		bool v6 = strchr(r->client_host, ':') != NULL;

		evbuffer_add_printf(out, "Forwarded: for=%s%s%s;proto=%s\r\n",
		    v6 ? "\"[" : "", r->client_host, v6 ? "]\"" : "",
		    r->client_tls ? "https" : "http");
	}
	if (r->identity_field != NULL && r->identity != NULL &&
	    r->identity[0] != '\0') {
		add_str(out, r->identity_field);
		evbuffer_add(out, ": ", 2);
		add_str(out, r->identity);
		evbuffer_add(out, "\r\n", 2);
	}
	switch (h->framing) {
	case H1_BODY_SIZED:
		evbuffer_add(out, "Content-Length: ", 16);
		add_u64(out, h->content_length);
		evbuffer_add(out, "\r\n", 2);
		break;
	case H1_BODY_CHUNKED:
		evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
		break;
	case H1_BODY_NONE:
	case H1_BODY_CLOSE:
		if (had_length)
			evbuffer_add(out, "Content-Length: 0\r\n", 19);
		break;
	}
	evbuffer_add(out, "\r\n", 2);
}

void
headers_write_response(struct evbuffer *out, const struct h1_head *h,
    const char *via, bool client_chunked, bool close)
{
	bool interim = h->status < 200;

	evbuffer_add(out, "HTTP/1.1 ", 9);
	add_u64(out, h->status);
	evbuffer_add(out, " ", 1);
	if (h->reason_len > 0)
		evbuffer_add(out, h->reason, h->reason_len);
	else
		add_str(out, h1_reason_phrase(h->status));
	evbuffer_add(out, "\r\n", 2);
	for (unsigned i = 0; i < h->nfields; i++) {
		const struct msg_field *f = &h->fields[i];

		/* A sized body keeps its length, whatever Connection names
		 * (dropping it would leave the client without framing); a
		 * re-framed one loses it. */
		if (msg_name_eq(f, "content-length")) {
			if (h->framing != H1_BODY_CHUNKED &&
			    h->framing != H1_BODY_CLOSE)
				write_field(out, f);
			continue;
		}
		if (headers_is_hop_by_hop(h, f))
			continue;
		write_field(out, f);
	}
	add_via(out, h->minor, via);
	if (!interim) {
		if ((h->framing == H1_BODY_CHUNKED ||
		    h->framing == H1_BODY_CLOSE) && client_chunked)
			evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
		if (close)
			evbuffer_add(out, "Connection: close\r\n", 19);
	}
	evbuffer_add(out, "\r\n", 2);
}
