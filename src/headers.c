/*
 * headers: what the proxy changes in a head on its way through (see
 * headers.h).  The upstream request and the client response are rewritten
 * into field lists, which the writer of each side's protocol serialises
 * (h1_write.c for HTTP/1.1); nothing here writes wire bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"
#include "xalloc.h"

static bool
has_prefix(const char *s, size_t n, const char *lit, size_t *litlen)
{
	*litlen = strlen(lit);
	return n >= *litlen && strncasecmp(s, lit, *litlen) == 0;
}

/* The neutral body of an HTTP/1.1 head: chunked and close-delimited
 * bodies are streamed, whatever their size turns out to be. */
static enum msg_body
body_of(const struct h1_head *h, uint64_t *content_length)
{
	switch (h->framing) {
	case H1_BODY_SIZED:
		*content_length = h->content_length;
		return MSG_BODY_SIZED;
	case H1_BODY_CHUNKED:
	case H1_BODY_CLOSE:
		return MSG_BODY_STREAM;
	case H1_BODY_NONE:
		break;
	}
	return MSG_BODY_NONE;
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
	t->version = h->minor == 0 ? "1.0" : "1.1";
	t->method_head = h->method_head;
	t->method_connect = h->method_connect;
	t->method_idempotent = h->method_idempotent;
	t->fields = h->fields;
	t->nfields = h->nfields;
	t->body = body_of(h, &t->content_length);
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

void
headers_response_msg(const struct h1_head *h, struct msg_response *m)
{
	memset(m, 0, sizeof(*m));
	m->status = h->status;
	m->reason = h->reason;
	m->reason_len = h->reason_len;
	m->version = h->minor == 0 ? "1.0" : "1.1";
	m->fields = h->fields;
	m->nfields = h->nfields;
	m->body = body_of(h, &m->content_length);
}

static void
push(struct field_list *fl, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	if (fl->n == fl->cap) {
		fl->cap = fl->cap ? fl->cap * 2 : 32;
		fl->v = xreallocarray(fl->v, fl->cap, sizeof(*fl->v));
	}
	fl->v[fl->n++] = (struct msg_field){ name, name_len, value, value_len };
}

/* Empties fl for a new head, with room in scratch for need bytes of made
 * values (so scratch never moves while the list points into it). */
static void
start(struct field_list *fl, size_t need)
{
	fl->n = 0;
	fl->used = 0;
	fl->length_zero = false;
	if (fl->scap < need) {
		free(fl->scratch);
		fl->scratch = xmalloc(need);
		fl->scap = need;
	}
}

/* A value made here, kept in the list's scratch space (reserved by
 * start()). */
static const char *
scratchf(struct field_list *fl, size_t *len, const char *fmt, ...)
{
	char *p = fl->scratch + fl->used;
	size_t room = fl->scap - fl->used;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		abort();	/* reserve() is wrong */
	fl->used += (size_t)n + 1;
	*len = (size_t)n;
	return p;
}

/* "a b" in scratch: the Via value of every head, without the cost of a
 * printf per message. */
static const char *
scratch_pair(struct field_list *fl, const char *a, const char *b, size_t *len)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = fl->scratch + fl->used;

	if (la + lb + 2 > fl->scap - fl->used)
		abort();	/* start() reserved too little */
	memcpy(p, a, la);
	p[la] = ' ';
	memcpy(p + la + 1, b, lb + 1);
	fl->used += la + lb + 2;
	*len = la + lb + 1;
	return p;
}

#define PUSH_LIT(fl, name, v, vlen)	push(fl, name, sizeof(name) - 1, v, vlen)

void
headers_rewrite_request(const struct req_rewrite *r, struct field_list *fl)
{
	const struct msg_request *rq = r->rq;
	struct msg_hop hop;
	const char *v;
	size_t len;

	/* Via: "1.1 " + pseudonym; Forwarded: "for=\"[" + host + "]\";
	 * proto=https" (and the NULs). */
	start(fl, strlen(r->via) + strlen(r->client_host) + 64);
	msg_hop_init(&hop, rq->fields, rq->nfields);
	for (unsigned i = 0; i < rq->nfields; i++) {
		const struct msg_field *f = &rq->fields[i];

		/* Framing is the writer's, from the body the request has. */
		if (msg_name_eq(f, "content-length")) {
			fl->length_zero = rq->body == MSG_BODY_NONE;
			continue;
		}
		if (msg_name_eq(f, "host") || msg_hop_is(&hop, f))
			continue;
		if (r->strip_identity && msg_name_eq(f, "x-3gpp-asserted-identity"))
			continue;
		/* Only the proxy may say who authenticated: a client's own
		 * field of that name is a forgery. */
		if (r->identity_field != NULL && msg_name_eq(f, r->identity_field))
			continue;
		push(fl, f->name, f->name_len, f->value, f->value_len);
	}
	v = scratch_pair(fl, rq->version, r->via, &len);
	PUSH_LIT(fl, "Via", v, len);
	if (r->forwarded == FORWARDED_XFF || r->forwarded == FORWARDED_BOTH)
		PUSH_LIT(fl, "X-Forwarded-For", r->client_host, strlen(r->client_host));
	if (r->forwarded == FORWARDED_RFC7239 || r->forwarded == FORWARDED_BOTH) {
		bool v6 = strchr(r->client_host, ':') != NULL;

		v = scratchf(fl, &len, "for=%s%s%s;proto=%s", v6 ? "\"[" : "",
		    r->client_host, v6 ? "]\"" : "", r->client_tls ? "https" : "http");
		PUSH_LIT(fl, "Forwarded", v, len);
	}
	if (r->identity_field != NULL && r->identity != NULL &&
	    r->identity[0] != '\0')
		push(fl, r->identity_field, strlen(r->identity_field),
		    r->identity, strlen(r->identity));
}

void
headers_rewrite_response(const struct msg_response *rs, const char *via,
    struct field_list *fl)
{
	struct msg_hop hop;
	const char *v;
	size_t len;

	start(fl, strlen(via) + 8);
	msg_hop_init(&hop, rs->fields, rs->nfields);
	for (unsigned i = 0; i < rs->nfields; i++) {
		const struct msg_field *f = &rs->fields[i];

		/* A sized body keeps its length, whatever Connection names
		 * (dropping it would leave the client without framing); a
		 * streamed one is framed anew by the client's writer. */
		if (msg_name_eq(f, "content-length")) {
			if (rs->body != MSG_BODY_STREAM)
				push(fl, f->name, f->name_len, f->value, f->value_len);
			continue;
		}
		if (msg_hop_is(&hop, f))
			continue;
		push(fl, f->name, f->name_len, f->value, f->value_len);
	}
	v = scratch_pair(fl, rs->version, via, &len);
	PUSH_LIT(fl, "Via", v, len);
}

