/*
 * fuzz_h1: the driver, the transcript and the strict reference checks
 * behind fuzz_request and fuzz_response (see fuzz_h1.h).
 *
 * The reference checks say what h1.h promises a caller, from the raw bytes
 * alone: an accepted head is CRLF-terminated lines with a well-formed
 * start line and "token: value" fields whose values hold no CR, LF, NUL or
 * other control but HTAB, and exactly the fields h1 reports; Content-Length
 * and Transfer-Encoding never both; one Host in an HTTP/1.1 request; the
 * framing h1 chose is the one RFC 9112 6.3 gives; a chunked body it
 * completed is valid chunked coding ending exactly where h1 stopped, and
 * the bytes it forwarded are the payload, re-framed as valid chunks.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "fuzz_util.h"
#include "fuzz_h1.h"

#define BIG_LIMIT	((size_t)1 << 20)

struct fz_opts {
	enum h1_kind kind;
	size_t max_head;
	unsigned max_fields;
	bool out_chunked;
	size_t out_limit;
	uint8_t head_mask;
};

enum run_state {
	R_HEAD,
	R_BODY,
	R_STOP,
};

struct fz_run {
	struct fz_opts o;
	const uint8_t *data;	/* the whole stream */
	size_t len;
	size_t added;		/* stream bytes given to in so far */
	struct h1_parser *p;
	struct evbuffer *in, *out;
	enum run_state st;
	size_t msg_off;		/* stream offset of the current message */
	size_t body_off;	/* ... of its body */
	uint64_t payload;	/* h1_body's count for the current body */
	struct evbuffer *fwd;	/* what the current body wrote to out */
	struct evbuffer *tr;	/* the transcript */
	const char *why;	/* h1_error_reason(), kept for failures */
	unsigned nfinal;	/* final responses completed */
	bool head_req;		/* the current response answers HEAD */
};

/* ------------------------------------------------------------------ */
/* failing */

static void
dump(const char *label, const uint8_t *s, size_t n)
{
	fprintf(stderr, "%s (%zu bytes): \"", label, n);
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
			fputc(s[i], stderr);
		else if (s[i] == '\r')
			fputs("\\r", stderr);
		else if (s[i] == '\n')
			fputs("\\n\"\n  \"", stderr);
		else
			fprintf(stderr, "\\x%02x", s[i]);
	}
	fputs("\"\n", stderr);
}

static void fail(const struct fz_run *, const char *, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void
fail(const struct fz_run *r, const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz_h1: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (r != NULL) {
		fprintf(stderr, "kind %s, max_head %zu, max_fields %u, out_chunked %d, "
		    "out_limit %zu\n", r->o.kind == H1_REQUEST ? "request" : "response",
		    r->o.max_head, r->o.max_fields, r->o.out_chunked, r->o.out_limit);
		dump("stream", r->data, r->len);
	}
	abort();
}

/* ------------------------------------------------------------------ */
/* strict reference reading of the raw bytes */

static bool
is_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* field-vchar, SP or HTAB (RFC 9110 5.5, obs-text included). */
static bool
is_value_char(uint8_t c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool
span_eq(const void *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static bool
name_is(const struct msg_field *f, const char *name)
{
	return f->name_len == strlen(name) &&
	    strncasecmp(f->name, name, f->name_len) == 0;
}

/* The elements of a comma-separated list, trimmed of OWS, empty ones
 * skipped (RFC 9110 5.6.1).  Returns false at the end. */
static bool
list_next(const char **pp, const char *end, const char **e, size_t *en)
{
	const char *p = *pp, *s, *t;

	for (;;) {
		if (p >= end)
			return false;
		s = p;
		while (p < end && *p != ',')
			p++;
		t = p;
		if (p < end)
			p++;
		while (s < t && (*s == ' ' || *s == '\t'))
			s++;
		while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (t > s) {
			*pp = p;
			*e = s;
			*en = (size_t)(t - s);
			return true;
		}
	}
}

/*
 * Reads one field line at s[*i] (name ":" OWS value OWS CRLF).  Returns
 * false when s[*i] is not one; *name, *value (trimmed) point into s.
 */
static bool
ref_field_line(const uint8_t *s, size_t n, size_t *i, const uint8_t **name,
    size_t *name_len, const uint8_t **value, size_t *value_len)
{
	size_t j = *i, vs, ve;

	while (j < n && is_tchar(s[j]))
		j++;
	if (j == *i || j >= n || s[j] != ':')
		return false;
	*name = s + *i;
	*name_len = j - *i;
	j++;
	while (j < n && is_value_char(s[j]))
		j++;
	if (j + 1 >= n || s[j] != '\r' || s[j + 1] != '\n')
		return false;
	vs = (size_t)(*name - s) + *name_len + 1;
	ve = j;
	while (vs < ve && (s[vs] == ' ' || s[vs] == '\t'))
		vs++;
	while (ve > vs && (s[ve - 1] == ' ' || s[ve - 1] == '\t'))
		ve--;
	*value = s + vs;
	*value_len = ve - vs;
	*i = j + 2;
	return true;
}

/* "HTTP/" DIGIT "." DIGIT at s[*i]. */
static bool
ref_version(const uint8_t *s, size_t n, size_t *i, unsigned *major,
    unsigned *minor)
{
	size_t j = *i;

	if (n - j < 8 || memcmp(s + j, "HTTP/", 5) != 0 || !is_digit(s[j + 5]) ||
	    s[j + 6] != '.' || !is_digit(s[j + 7]))
		return false;
	*major = s[j + 5] - '0';
	*minor = s[j + 7] - '0';
	*i = j + 8;
	return true;
}

static bool
crlf_at(const uint8_t *s, size_t n, size_t i)
{
	return i + 1 < n && s[i] == '\r' && s[i + 1] == '\n';
}

static void
ref_request_line(const struct fz_run *r, const uint8_t *s, size_t n, size_t *i,
    const struct h1_head *h)
{
	size_t j = *i, ms, ts;
	unsigned major, minor;

	ms = j;
	while (j < n && is_tchar(s[j]))
		j++;
	if (j == ms || !span_eq(s + ms, j - ms, h->method, strlen(h->method)))
		fail(r, "accepted request method \"%s\" is not the token sent",
		    h->method);
	/* RFC 9112 3: a recipient MAY split the request line on runs of
	 * SP (llhttp does); the proxy writes its own request line. */
	if (j >= n || s[j] != ' ')
		fail(r, "accepted request line without SP after the method");
	while (j < n && s[j] == ' ')
		j++;
	ts = j;
	while (j < n && s[j] > 0x20 && s[j] != 0x7f)
		j++;
	if (j == ts || !span_eq(s + ts, j - ts, h->target, h->target_len))
		fail(r, "accepted request target is not the bytes sent (or has "
		    "a control character)");
	if (j >= n || s[j] != ' ')
		fail(r, "accepted request line without SP after the target");
	while (j < n && s[j] == ' ')
		j++;
	if (!ref_version(s, n, &j, &major, &minor) || !crlf_at(s, n, j))
		fail(r, "accepted request line does not end in HTTP/d.d CRLF");
	if (major != h->major || minor != h->minor)
		fail(r, "accepted version %u.%u, sent %u.%u", h->major, h->minor,
		    major, minor);
	*i = j + 2;
}

static void
ref_status_line(const struct fz_run *r, const uint8_t *s, size_t n, size_t *i,
    const struct h1_head *h)
{
	size_t j = *i, rs;
	unsigned major, minor, status;

	/*
	 * status-code is 3DIGIT; llhttp 8 also takes leading zeros ("0200").
	 * That is let through here: the proxy writes the status it parsed as
	 * a number, so the client never sees the odd spelling.
	 */
	if (!ref_version(s, n, &j, &major, &minor) || j + 4 > n || s[j] != ' ')
		fail(r, "accepted status line does not start HTTP/d.d SP");
	for (j++, status = 0; j < n && is_digit(s[j]) && status < 1000; j++)
		status = status * 10 + (unsigned)(s[j] - '0');
	if (status < 100 || status > 999)
		fail(r, "accepted a status code that is not 3 digits");
	if (status != h->status || major != h->major || minor != h->minor)
		fail(r, "accepted status %u HTTP/%u.%u, sent %u HTTP/%u.%u",
		    h->status, h->major, h->minor, status, major, minor);
	rs = j;
	if (j < n && s[j] == ' ') {
		rs = ++j;
		while (j < n && is_value_char(s[j]))
			j++;
	}
	if (!crlf_at(s, n, j))
		fail(r, "accepted status line does not end in CRLF (or its reason "
		    "has a control character)");
	if (!span_eq(s + rs, j - rs, h->reason, h->reason_len))
		fail(r, "accepted reason phrase is not the bytes sent");
	*i = j + 2;
}

/* Content-Length as RFC 9110 8.6 has it: 1*DIGIT, no overflow. */
static bool
ref_content_length(const struct msg_field *f, uint64_t *v)
{
	*v = 0;
	if (f->value_len == 0)
		return false;
	for (size_t i = 0; i < f->value_len; i++) {
		uint64_t d = (uint64_t)(f->value[i] - '0');

		/* Exact: every value up to UINT64_MAX fits (llhttp's rule
		 * too); the bound here once refused the last few. */
		if (!is_digit((uint8_t)f->value[i]) || *v > UINT64_MAX / 10 ||
		    (*v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return false;
		*v = *v * 10 + d;
	}
	return true;
}

/* The semantic promises of an accepted head (h1.h, RFC 9112 6). */
static void
ref_semantics(const struct fz_run *r, const struct h1_head *h)
{
	unsigned nhost = 0, ncl = 0, nte = 0, nchunked = 0, nother = 0;
	const struct msg_field *cl = NULL;
	bool close_tok = false, keep_alive = false, chunked_last = false;
	enum h1_framing want;
	uint64_t len = 0;

	for (unsigned i = 0; i < h->nfields; i++) {
		const struct msg_field *f = &h->fields[i];
		const char *p = f->value, *end = f->value + f->value_len, *e;
		size_t en;

		if (name_is(f, "host"))
			nhost++;
		else if (name_is(f, "content-length")) {
			ncl++;
			cl = f;
		} else if (name_is(f, "transfer-encoding")) {
			nte++;
			while (list_next(&p, end, &e, &en)) {
				chunked_last = en == 7 && strncasecmp(e, "chunked", 7) == 0;
				if (chunked_last)
					nchunked++;
				else
					nother++;
			}
		} else if (name_is(f, "connection")) {
			while (list_next(&p, end, &e, &en)) {
				if (en == 5 && strncasecmp(e, "close", 5) == 0)
					close_tok = true;
				if (en == 10 && strncasecmp(e, "keep-alive", 10) == 0)
					keep_alive = true;
			}
		}
	}
	if (h->major != 1)
		fail(r, "accepted HTTP/%u.%u", h->major, h->minor);
	if (ncl > 0 && nte > 0)
		fail(r, "accepted both Content-Length and Transfer-Encoding");
	if (ncl > 1)
		fail(r, "accepted %u Content-Length fields", ncl);
	if (cl != NULL && !ref_content_length(cl, &len))
		fail(r, "accepted Content-Length \"%.*s\"", (int)cl->value_len,
		    cl->value);
	/* A response without a body (HEAD, 1xx, 204, 304) is not framed by
	 * its Transfer-Encoding, which is dropped as hop-by-hop. */
	if (nte > 0 && (nchunked != 1 || nother != 0 || !chunked_last) &&
	    (h->kind == H1_REQUEST || h->framing != H1_BODY_NONE))
		fail(r, "accepted a Transfer-Encoding other than \"chunked\" "
		    "once, last");
	if (h->conn_close != (close_tok || (h->minor == 0 && !keep_alive)))
		fail(r, "conn_close %d disagrees with Connection and the version",
		    h->conn_close);
	if (h->kind == H1_REQUEST) {
		if (nhost > 1 || (h->minor >= 1 && nhost != 1))
			fail(r, "accepted %u Host fields in HTTP/1.%u", nhost,
			    h->minor);
		if (h->target_len == 0)
			fail(r, "accepted an empty target");
		if (h->method_connect)
			want = H1_BODY_NONE;
		else if (nte > 0)
			want = H1_BODY_CHUNKED;
		else
			want = len > 0 ? H1_BODY_SIZED : H1_BODY_NONE;
	} else {
		if (h->status < 100 || h->status > 999)
			fail(r, "accepted status %u", h->status);
		if (h->status < 200 || h->status == 204 || h->status == 304 ||
		    r->head_req)
			want = H1_BODY_NONE;
		else if (nte > 0)
			want = H1_BODY_CHUNKED;
		else if (cl != NULL)
			want = len > 0 ? H1_BODY_SIZED : H1_BODY_NONE;
		else
			want = H1_BODY_CLOSE;
	}
	if (h->framing != want)
		fail(r, "framing %d, RFC 9112 6.3 says %d", h->framing, want);
	if (h->framing == H1_BODY_SIZED && h->content_length != len)
		fail(r, "content_length %llu, sent %llu",
		    (unsigned long long)h->content_length, (unsigned long long)len);
}

/* An accepted head, against its raw bytes s[0, n). */
static void
ref_head(const struct fz_run *r, const uint8_t *s, size_t n,
    const struct h1_head *h)
{
	size_t i = 0;
	unsigned k = 0;

	if (h->kind != r->o.kind)
		fail(r, "head kind %d", h->kind);
	/* RFC 9112 2.2: empty lines before a message may be skipped. */
	while (crlf_at(s, n, i))
		i += 2;
	if (h->kind == H1_REQUEST)
		ref_request_line(r, s, n, &i, h);
	else
		ref_status_line(r, s, n, &i, h);
	while (!crlf_at(s, n, i)) {
		const uint8_t *name, *value;
		size_t name_len, value_len;

		if (!ref_field_line(s, n, &i, &name, &name_len, &value, &value_len))
			fail(r, "accepted a head with an invalid field line at "
			    "byte %zu", i);
		if (k >= h->nfields)
			fail(r, "h1 reports %u fields, more were sent", h->nfields);
		if (!span_eq(name, name_len, h->fields[k].name, h->fields[k].name_len) ||
		    !span_eq(value, value_len, h->fields[k].value,
		    h->fields[k].value_len))
			fail(r, "field %u is \"%.*s: %.*s\", sent \"%.*s: %.*s\"", k,
			    (int)h->fields[k].name_len, h->fields[k].name,
			    (int)h->fields[k].value_len, h->fields[k].value,
			    (int)name_len, name, (int)value_len, value);
		k++;
	}
	if (i + 2 != n)
		fail(r, "the head ends at byte %zu, h1 took %zu", i + 2, n);
	if (k != h->nfields)
		fail(r, "h1 reports %u fields, %u were sent", h->nfields, k);
	if (h->nfields > r->o.max_fields)
		fail(r, "%u fields accepted, max_fields %u", h->nfields,
		    r->o.max_fields);
	if (h->head_bytes != n)
		fail(r, "head_bytes %zu, the head took %zu", h->head_bytes, n);
	ref_semantics(r, h);
}

/*
 * A completed chunked body, against its raw bytes s[0, n) (RFC 9112 7.1):
 * chunk-size [ chunk-ext ] CRLF chunk-data CRLF ... last-chunk trailers
 * CRLF.  Extensions are not checked beyond "no control but HTAB".  The
 * payload is appended to pl.
 */
static void
ref_chunked(const struct fz_run *r, const uint8_t *s, size_t n,
    struct evbuffer *pl)
{
	size_t i = 0;

	for (;;) {
		uint64_t size = 0;
		size_t digits = 0;
		int d;

		while (i < n && (d = fz_hexval(s[i])) >= 0) {
			if (size > (UINT64_MAX >> 4))
				fail(r, "accepted a chunk size past 2^64");
			size = size << 4 | (uint64_t)d;
			digits++;
			i++;
		}
		if (digits == 0)
			fail(r, "accepted a chunk without a size at body byte %zu", i);
		if (i < n && (s[i] == ';' || s[i] == ' ' || s[i] == '\t')) {
			while (i < n && (s[i] == ' ' || s[i] == '\t'))
				i++;
			if (i >= n || s[i] != ';')
				fail(r, "accepted white space after a chunk size");
			while (i < n && is_value_char(s[i]))
				i++;
		}
		if (!crlf_at(s, n, i))
			fail(r, "accepted a chunk-size line not ending in CRLF at "
			    "body byte %zu", i);
		i += 2;
		if (size == 0)
			break;
		if (size > n - i || !crlf_at(s, n, i + (size_t)size))
			fail(r, "accepted chunk data without CRLF after it");
		evbuffer_add(pl, s + i, (size_t)size);
		i += (size_t)size + 2;
	}
	/*
	 * Trailer lines: h1 drops them, so only where they end matters here:
	 * CRLF only, no folding, no control but HTAB.  Their field syntax is
	 * llhttp's business (it takes ": v", an empty name, in a trailer).
	 */
	while (!crlf_at(s, n, i)) {
		size_t start = i;

		if (i < n && (s[i] == ' ' || s[i] == '\t'))
			fail(r, "accepted a folded trailer line at body byte %zu", i);
		while (i < n && is_value_char(s[i]))
			i++;
		if (i == start || !crlf_at(s, n, i))
			fail(r, "accepted an invalid trailer line at body byte %zu",
			    start);
		i += 2;
	}
	if (i + 2 != n)
		fail(r, "the chunked body ends at byte %zu, h1 took %zu", i + 2, n);
}

/*
 * What h1 wrote for a chunked or close-delimited body when out_chunked:
 * non-empty chunks, lower-case hex sizes without leading zeros, no
 * extensions, and the last chunk only when complete.  The payload is
 * appended to pl.
 */
static void
ref_out_chunks(const struct fz_run *r, const uint8_t *s, size_t n, bool complete,
    struct evbuffer *pl)
{
	size_t i = 0;

	for (;;) {
		uint64_t size = 0;
		size_t start = i;
		int d;

		if (i == n && !complete)
			return;
		while (i < n && (d = fz_hexval(s[i])) >= 0 &&
		    !(s[i] >= 'A' && s[i] <= 'F') && i - start < 16) {
			size = size << 4 | (uint64_t)d;
			i++;
		}
		if (i == start || (s[start] == '0' && i - start > 1) ||
		    !crlf_at(s, n, i))
			fail(r, "h1 wrote a bad chunk-size line at output byte %zu",
			    start);
		i += 2;
		if (size == 0) {
			if (!complete)
				fail(r, "h1 wrote the last chunk before the body was "
				    "complete");
			if (i + 2 != n || !crlf_at(s, n, i))
				fail(r, "h1 wrote bytes after its last chunk");
			return;
		}
		if (size > n - i || !crlf_at(s, n, i + (size_t)size))
			fail(r, "h1 wrote a chunk without CRLF after its data");
		evbuffer_add(pl, s + i, (size_t)size);
		i += (size_t)size + 2;
	}
}

/* ------------------------------------------------------------------ */
/* the transcript */

static void
tr_bytes(struct evbuffer *tr, const char *tag, const void *s, size_t n)
{
	evbuffer_add_printf(tr, "%s %zu:", tag, n);
	evbuffer_add(tr, s, n);
	evbuffer_add(tr, "\n", 1);
}

static void
tr_head(struct evbuffer *tr, const struct h1_head *h)
{
	evbuffer_add_printf(tr, "HEAD kind=%d major=%u minor=%u status=%u "
	    "framing=%d cl=%llu close=%d expect=%d bytes=%zu nfields=%u "
	    "mhead=%d mconnect=%d midem=%d\n", h->kind, h->major, h->minor,
	    h->status, h->framing, (unsigned long long)h->content_length,
	    h->conn_close, h->expect_continue, h->head_bytes, h->nfields,
	    h->method_head, h->method_connect, h->method_idempotent);
	if (h->method != NULL)
		tr_bytes(tr, "method", h->method, strlen(h->method));
	if (h->target != NULL)
		tr_bytes(tr, "target", h->target, h->target_len);
	if (h->reason != NULL)
		tr_bytes(tr, "reason", h->reason, h->reason_len);
	for (unsigned i = 0; i < h->nfields; i++) {
		tr_bytes(tr, "name", h->fields[i].name, h->fields[i].name_len);
		tr_bytes(tr, "value", h->fields[i].value, h->fields[i].value_len);
	}
}

/* ------------------------------------------------------------------ */
/* the driver */

static size_t
stream_off(const struct fz_run *r)
{
	return r->added - evbuffer_get_length(r->in);
}

static struct fz_run *
run_new(const struct fz_opts *o, const uint8_t *data, size_t len)
{
	struct fz_run *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	r->o = *o;
	r->data = data;
	r->len = len;
	r->p = h1_parser_new(o->kind, o->max_head, o->max_fields);
	r->in = evbuffer_new();
	r->out = evbuffer_new();
	r->fwd = evbuffer_new();
	r->tr = evbuffer_new();
	if (r->in == NULL || r->out == NULL || r->fwd == NULL || r->tr == NULL)
		abort();
	r->head_req = o->kind == H1_RESPONSE && (o->head_mask & 1);
	h1_parser_reset(r->p, r->head_req);
	r->st = R_HEAD;
	return r;
}

static void
run_free(struct fz_run *r)
{
	h1_parser_free(r->p);
	evbuffer_free(r->in);
	evbuffer_free(r->out);
	evbuffer_free(r->fwd);
	evbuffer_free(r->tr);
	free(r);
}

/*
 * The payload of the current body as the peer receives it: fwd decoded
 * when h1 re-framed it.  complete: the body ended (the last chunk is due).
 */
static void
payload_of(const struct fz_run *r, bool complete, struct evbuffer *pl)
{
	const struct h1_head *h = h1_head(r->p);
	size_t n = evbuffer_get_length(r->fwd);
	const uint8_t *s = evbuffer_pullup(r->fwd, -1);

	if (r->o.out_chunked && (h->framing == H1_BODY_CHUNKED ||
	    h->framing == H1_BODY_CLOSE))
		ref_out_chunks(r, s, n, complete, pl);
	else
		evbuffer_add(pl, s, n);
	if (evbuffer_get_length(pl) != r->payload)
		fail(r, "h1_body counted %llu payload bytes, forwarded %zu",
		    (unsigned long long)r->payload, evbuffer_get_length(pl));
}

/* The body ended (complete) or the stream stopped in it: record what was
 * forwarded; a complete body is checked against its raw bytes. */
static void
body_end(struct fz_run *r, bool complete)
{
	const struct h1_head *h = h1_head(r->p);
	struct evbuffer *pl = evbuffer_new(), *want;
	size_t end = stream_off(r);

	payload_of(r, complete, pl);
	if (complete) {
		want = evbuffer_new();
		switch (h->framing) {
		case H1_BODY_CHUNKED:
			ref_chunked(r, r->data + r->body_off, end - r->body_off, want);
			break;
		case H1_BODY_SIZED:
			if (end - r->body_off != h->content_length)
				fail(r, "a sized body of %llu took %zu bytes",
				    (unsigned long long)h->content_length,
				    end - r->body_off);
			/* FALLTHROUGH */
		case H1_BODY_CLOSE:
			evbuffer_add(want, r->data + r->body_off, end - r->body_off);
			break;
		case H1_BODY_NONE:
			fail(r, "a body for framing NONE");
		}
		if (!span_eq(evbuffer_pullup(want, -1), evbuffer_get_length(want),
		    evbuffer_pullup(pl, -1), evbuffer_get_length(pl)))
			fail(r, "h1 forwarded a payload other than the one sent");
		evbuffer_free(want);
	}
	tr_bytes(r->tr, "payload", evbuffer_pullup(pl, -1), evbuffer_get_length(pl));
	evbuffer_free(pl);
	evbuffer_drain(r->fwd, evbuffer_get_length(r->fwd));
}

/* A message is complete: on to the next one, as the session does. */
static void
message_end(struct fz_run *r)
{
	const struct h1_head *h = h1_head(r->p);

	evbuffer_add_printf(r->tr, "DONE at %zu\n", stream_off(r));
	if (r->o.kind == H1_RESPONSE && h->status >= 200) {
		r->nfinal++;
		r->head_req = r->nfinal < 8 && (r->o.head_mask >> r->nfinal & 1);
	}
	/* worker_give_parser(), or start_response() after a 1xx. */
	h1_parser_reset(r->p, r->head_req);
	r->msg_off = stream_off(r);
	r->st = R_HEAD;
}

static void
error_end(struct fz_run *r, const char *where)
{
	unsigned status = h1_error_status(r->p);

	/* h1.h: 400, 414, 431, 501 or 505 for a request; a bad response
	 * is a bad gateway. */
	if (h1_error_reason(r->p) == NULL || (r->o.kind == H1_RESPONSE ?
	    status != 502 : status != 400 && status != 414 && status != 431 &&
	    status != 501 && status != 505))
		fail(r, "error status %u (%s)", status, h1_error_reason(r->p));
	/* Sticky: nothing more is parsed. */
	if (h1_parse_head(r->p, r->in) != H1_ERROR)
		fail(r, "an error was not sticky");
	/* The reason is for logs and may name whichever of two faults was
	 * seen first: only the status is part of the transcript. */
	r->why = h1_error_reason(r->p);
	evbuffer_add_printf(r->tr, "ERROR %u in %s\n", status, where);
	r->st = R_STOP;
}

/* One head; false when more input is needed or the stream stopped. */
static bool
step_head(struct fz_run *r)
{
	const struct h1_head *h;

	switch (h1_parse_head(r->p, r->in)) {
	case H1_AGAIN:
		return false;
	case H1_ERROR:
		error_end(r, "head");
		return false;
	case H1_DONE:
		break;
	}
	h = h1_head(r->p);
	ref_head(r, r->data + r->msg_off, stream_off(r) - r->msg_off, h);
	tr_head(r->tr, h);
	if (h->framing == H1_BODY_NONE) {
		message_end(r);
		return true;
	}
	r->st = R_BODY;
	r->body_off = stream_off(r);
	r->payload = 0;
	return true;
}

/* Moves body bytes once; false when more input is needed or it stopped. */
static bool
step_body(struct fz_run *r)
{
	size_t before = stream_off(r), moved;
	enum h1_status rc;

	rc = h1_body(r->p, r->in, r->out, r->o.out_chunked, r->o.out_limit,
	    &r->payload);
	moved = evbuffer_get_length(r->out);
	/* At most the limit plus one chunk's framing went out. */
	if (moved > r->o.out_limit + 32 && h1_head(r->p)->framing != H1_BODY_SIZED)
		fail(r, "h1_body wrote %zu bytes with out_limit %zu", moved,
		    r->o.out_limit);
	/* The socket drains it. */
	evbuffer_add_buffer(r->fwd, r->out);
	switch (rc) {
	case H1_ERROR:
		if (h1_head(r->p)->framing != H1_BODY_CHUNKED)
			fail(r, "h1_body failed on framing %d", h1_head(r->p)->framing);
		body_end(r, false);
		error_end(r, "body");
		return false;
	case H1_DONE:
		body_end(r, true);
		message_end(r);
		return true;
	case H1_AGAIN:
		break;
	}
	return stream_off(r) != before || moved > 0;
}

static void
run(struct fz_run *r)
{
	for (;;) {
		if (r->st == R_HEAD && !step_head(r))
			return;
		if (r->st == R_BODY && !step_body(r))
			return;
		if (r->st == R_STOP)
			return;
	}
}

/* Adds data[off, off + n) as one evbuffer_add, or as chains of piece bytes. */
static void
feed(struct fz_run *r, size_t off, size_t n, size_t piece)
{
	if (piece == 0)
		evbuffer_add(r->in, r->data + off, n);
	else
		for (size_t k = 0; k < n; k += piece)
			evbuffer_add_reference(r->in, r->data + off + k,
			    n - k < piece ? n - k : piece, NULL, NULL);
	r->added += n;
	run(r);
}

/* The peer closed. */
static void
eof(struct fz_run *r)
{
	enum h1_status rc;

	switch (r->st) {
	case R_STOP:
		break;
	case R_HEAD:
		evbuffer_add_printf(r->tr, "EOF in a head: started=%d left=%zu\n",
		    h1_head_started(r->p), evbuffer_get_length(r->in));
		break;
	case R_BODY:
		rc = h1_body_eof(r->p, r->out, r->o.out_chunked);
		evbuffer_add_buffer(r->fwd, r->out);
		if (rc == H1_DONE) {
			if (h1_head(r->p)->framing != H1_BODY_CLOSE)
				fail(r, "EOF completed framing %d",
				    h1_head(r->p)->framing);
			body_end(r, true);
			evbuffer_add_printf(r->tr, "DONE at EOF\n");
		} else {
			if (h1_head(r->p)->framing == H1_BODY_CLOSE)
				fail(r, "EOF did not complete a close-delimited body");
			body_end(r, false);
			error_end(r, "EOF");
		}
		break;
	}
	r->st = R_STOP;
}

static void
same(const struct fz_run *a, const struct fz_run *b, const char *how)
{
	size_t an = evbuffer_get_length(a->tr), bn = evbuffer_get_length(b->tr);
	const uint8_t *as = evbuffer_pullup(a->tr, -1), *bs = evbuffer_pullup(b->tr, -1);

	if (span_eq(as, an, bs, bn))
		return;
	dump("one feed", as, an);
	if (a->why != NULL)
		fprintf(stderr, "one feed's error: %s\n", a->why);
	dump(how, bs, bn);
	if (b->why != NULL)
		fprintf(stderr, "%s's error: %s\n", how, b->why);
	fail(b, "%s: not what one feed of the same bytes gave", how);
}

int
fz_h1_input(enum h1_kind kind, const uint8_t *d, size_t size)
{
	static const size_t heads[] = { 64, 256, 1024, 16384 };
	static const size_t limits[] = { BIG_LIMIT, 1, 16, 4096 };
	struct fz_opts o;
	struct fz_run *a, *b;
	const uint8_t *data = d + FZ_HDR;
	size_t len, cut, piece;
	unsigned mode, param;
	char how[64];

	if (size < FZ_HDR)
		return -1;
	len = size - FZ_HDR;
	mode = d[0] & 3;
	param = (unsigned)d[1] | (unsigned)d[2] << 8;
	memset(&o, 0, sizeof(o));
	o.kind = kind;
	o.out_chunked = (d[0] >> 2) & 1;
	o.max_head = heads[(d[0] >> 3) & 3];
	o.max_fields = (d[0] >> 5) & 1 ? 100 : 3;
	o.out_limit = mode == 0 ? limits[d[0] >> 6] : BIG_LIMIT;
	o.head_mask = kind == H1_RESPONSE ? d[3] : 0;

	a = run_new(&o, data, len);
	feed(a, 0, len, 0);
	eof(a);
	if (mode == 0) {
		run_free(a);
		return 0;
	}
	o.out_limit = limits[d[0] >> 6];
	b = run_new(&o, data, len);
	switch (mode) {
	case 1:
		cut = param % (len + 1);
		feed(b, 0, cut, 0);
		feed(b, cut, len - cut, 0);
		snprintf(how, sizeof(how), "two feeds cut at %zu", cut);
		break;
	case 2:
		piece = 1 + param % 64;
		feed(b, 0, len, piece);
		snprintf(how, sizeof(how), "chains of %zu bytes", piece);
		break;
	default:
		for (size_t i = 0; i < len; i++)
			feed(b, i, 1, 0);
		snprintf(how, sizeof(how), "byte by byte");
		break;
	}
	eof(b);
	same(a, b, how);
	run_free(a);
	run_free(b);
	return 0;
}
