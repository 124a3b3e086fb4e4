/*
 * h1: HTTP/1.1 framing with llhttp (see h1.h).  The head is copied into a
 * per-parser buffer that grows up to max_head and is reused across the
 * messages of a connection, so a keep-alive connection does not allocate
 * per request.  llhttp's own checks are kept strict; on top of them this
 * file rejects what llhttp leaves to the application: a second Host,
 * Content-Length together with Transfer-Encoding, unknown transfer
 * codings, bare CR or LF (in heads and chunked trailers), controls in a
 * reason phrase, and heads over the configured limits.  A fault is
 * reported where it is in the stream, so that the status does not depend
 * on how the bytes were split into reads (tests/fuzz checks that).
 */
#include <sys/uio.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include <llhttp.h>

#include "h1.h"
#include "h1_priv.h"
#include "xalloc.h"

void
h1_set_error(struct h1_parser *p, unsigned status, const char *reason)
{
	/* Whatever is wrong with a response, the client gets a bad gateway. */
	if (p->kind == H1_RESPONSE)
		status = 502;
	if (p->err_status == 0) {
		p->err_status = status;
		p->err_reason = reason;
	}
	p->state = P_ERROR;
}

static void
set_too_large(struct h1_parser *p)
{
	if (p->kind == H1_RESPONSE)
		h1_set_error(p, 502, "response head too large");
	else if (p->url_done)
		h1_set_error(p, 431, "request header fields too large");
	else
		h1_set_error(p, 414, "request target too long");
}

static int
append(struct h1_parser *p, const char *at, size_t n)
{
	/* llhttp reports empty spans too ("CONNECT \r"): nothing to copy,
	 * and buf may still be NULL, where even NULL + 0 is undefined. */
	if (n == 0)
		return 0;
	if (p->len + n > p->max_head) {
		set_too_large(p);
		return -1;
	}
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : 512;

		while (cap < p->len + n)
			cap *= 2;
		if (cap > p->max_head)
			cap = p->max_head;
		p->buf = xrealloc(p->buf, cap);
		p->cap = cap;
	}
	memcpy(p->buf + p->len, at, n);
	p->len += n;
	return 0;
}

static int
on_message_begin(llhttp_t *ll)
{
	parser_of(ll)->started = true;
	return 0;
}

static int
on_url(llhttp_t *ll, const char *at, size_t n)
{
	struct h1_parser *p = parser_of(ll);

	if (p->tok != T_URL) {
		p->tok = T_URL;
		p->url.off = p->len;
	}
	p->url.len += n;
	return append(p, at, n);
}

static int
on_url_complete(llhttp_t *ll)
{
	parser_of(ll)->url_done = true;
	return 0;
}

static int
on_status(llhttp_t *ll, const char *at, size_t n)
{
	struct h1_parser *p = parser_of(ll);

	if (p->tok != T_STATUS) {
		p->tok = T_STATUS;
		p->reason.off = p->len;
	}
	p->reason.len += n;
	return append(p, at, n);
}

/* Trailer fields of a chunked body are parsed by llhttp and dropped here:
 * they are not forwarded, but they still count against the head limit. */
static int
trailer_bytes(struct h1_parser *p, size_t n)
{
	p->trailer_bytes += n;
	if (p->trailer_bytes > p->max_head) {
		h1_set_error(p, 400, "chunked trailer too large");
		return -1;
	}
	return 0;
}

static int
on_header_field(llhttp_t *ll, const char *at, size_t n)
{
	struct h1_parser *p = parser_of(ll);

	if (p->headers_done)
		return trailer_bytes(p, n);
	if (p->too_many)
		return 0;
	if (p->tok != T_FIELD) {
		/*
		 * One field too many is refused when its name is complete
		 * (on_header_field_complete), not here: this runs wherever a
		 * read ended, so that a fault llhttp finds later in the name
		 * was a 400 when the head came in one read and a 431 when it
		 * came in two.
		 */
		if (p->npf == p->max_fields) {
			p->too_many = true;
			return 0;
		}
		if (p->npf == p->cappf) {
			p->cappf = p->cappf ? p->cappf * 2 : 16;
			if (p->cappf > p->max_fields)
				p->cappf = p->max_fields;
			p->pf = xreallocarray(p->pf, p->cappf, sizeof(*p->pf));
		}
		p->tok = T_FIELD;
		p->pf[p->npf].name.off = p->len;
		p->pf[p->npf].name.len = 0;
		p->pf[p->npf].value.off = p->len;
		p->pf[p->npf].value.len = 0;
		p->npf++;
	}
	p->pf[p->npf - 1].name.len += n;
	return append(p, at, n);
}

static int
on_header_field_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	if (p->too_many) {
		h1_set_error(p, 431, "too many header fields");
		return -1;
	}
	return 0;
}

static int
on_header_value(llhttp_t *ll, const char *at, size_t n)
{
	struct h1_parser *p = parser_of(ll);

	if (p->headers_done)
		return trailer_bytes(p, n);
	if (p->tok != T_VALUE) {
		p->tok = T_VALUE;
		p->pf[p->npf - 1].value.off = p->len;
	}
	p->pf[p->npf - 1].value.len += n;
	return append(p, at, n);
}

/*
 * Transfer-Encoding, over all its fields.  Only "chunked" is implemented;
 * it must be the last coding and appear once.  Returns 0, or -1 with the
 * error set (501 for a request naming another coding, else 400; 502 for
 * any response that is not plainly chunked).
 */
static int
check_transfer_encoding(struct h1_parser *p)
{
	const struct h1_head *h = &p->head;
	bool chunked_last = false, other = false;
	unsigned nchunked = 0;

	for (unsigned i = 0; i < h->nfields; i++) {
		const struct msg_field *f = &h->fields[i];
		const char *c = f->value, *end = f->value + f->value_len, *t;
		size_t n;

		if (!msg_name_eq(f, "transfer-encoding"))
			continue;
		while (msg_next_token(&c, end, &t, &n)) {
			if (msg_token_eq(t, n, "chunked")) {
				nchunked++;
				chunked_last = true;
			} else {
				other = true;
				chunked_last = false;
			}
		}
	}
	if (h->kind == H1_RESPONSE) {
		/* Other codings would reach the client undeclared once
		 * Transfer-Encoding is dropped as hop-by-hop. */
		if (other || nchunked != 1 || !chunked_last) {
			h1_set_error(p, 502, "unsupported transfer coding in the response");
			return -1;
		}
		return 0;
	}
	if (other) {
		h1_set_error(p, 501, "transfer coding not implemented");
		return -1;
	}
	if (nchunked != 1 || !chunked_last) {
		h1_set_error(p, 400, "invalid Transfer-Encoding");
		return -1;
	}
	return 0;
}

static void
scan_connection(struct h1_head *h)
{
	bool keep_alive = false;

	h->conn_close = false;
	for (unsigned i = 0; i < h->nfields; i++) {
		const struct msg_field *f = &h->fields[i];
		const char *c = f->value, *end = f->value + f->value_len, *t;
		size_t n;

		if (msg_name_eq(f, "connection")) {
			while (msg_next_token(&c, end, &t, &n)) {
				if (msg_token_eq(t, n, "close"))
					h->conn_close = true;
				else if (msg_token_eq(t, n, "keep-alive"))
					keep_alive = true;
			}
		} else if (h->kind == H1_REQUEST && msg_name_eq(f, "expect")) {
			if (msg_token_eq(f->value, f->value_len, "100-continue"))
				h->expect_continue = true;
		}
	}
	if (h->major == 1 && h->minor == 0 && !keep_alive)
		h->conn_close = true;
}

static bool
is_idempotent(unsigned method)
{
	switch (method) {
	case HTTP_GET:
	case HTTP_HEAD:
	case HTTP_PUT:
	case HTTP_DELETE:
	case HTTP_OPTIONS:
	case HTTP_TRACE:
		return true;
	default:
		return false;
	}
}

/*
 * reason-phrase = *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 4).  llhttp 8
 * takes any byte but CR and LF there, and h1_write_response() passes
 * the phrase on: a NUL or an ESC from an upstream would reach the client.
 */
static bool
is_reason_phrase(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* Fills p->head from the spans and decides the framing. */
static int
finish_head(struct h1_parser *p)
{
	struct h1_head *h = &p->head;
	llhttp_t *ll = &p->ll;
	/* Before the first non-empty span buf is NULL, and NULL + 0 is
	 * undefined: an empty target or reason points at "" then. */
	const char *base = p->buf != NULL ? p->buf : "";
	unsigned nhost = 0;
	bool has_te;

	memset(h, 0, sizeof(*h));
	h->kind = p->kind;
	h->major = ll->http_major;
	h->minor = ll->http_minor;
	if (p->capfields < p->cappf) {
		p->fields = xreallocarray(p->fields, p->cappf, sizeof(*p->fields));
		p->capfields = p->cappf;
	}
	for (unsigned i = 0; i < p->npf; i++) {
		p->fields[i].name = base + p->pf[i].name.off;
		p->fields[i].name_len = p->pf[i].name.len;
		p->fields[i].value = base + p->pf[i].value.off;
		p->fields[i].value_len = p->pf[i].value.len;
		if (!h1_is_token(p->fields[i].name, p->fields[i].name_len)) {
			/* llhttp 8 lets "Name : value" through. */
			h1_set_error(p, 400, "invalid header field name");
			return -1;
		}
		/* Trailing whitespace is not part of a value (RFC 9112 5). */
		while (p->fields[i].value_len > 0 &&
		    (p->fields[i].value[p->fields[i].value_len - 1] == ' ' ||
		    p->fields[i].value[p->fields[i].value_len - 1] == '\t'))
			p->fields[i].value_len--;
		if (msg_name_eq(&p->fields[i], "host"))
			nhost++;
	}
	h->fields = p->fields;
	h->nfields = p->npf;
	if (h->major != 1) {
		h1_set_error(p, 505, "HTTP version not supported");
		return -1;
	}
	scan_connection(h);
	has_te = (ll->flags & F_TRANSFER_ENCODING) != 0 ||
	    h1_find(h, "transfer-encoding") != NULL;
	if (has_te && (ll->flags & F_CONTENT_LENGTH)) {
		h1_set_error(p, 400, "both Content-Length and Transfer-Encoding");
		return -1;
	}
	if (p->kind == H1_REQUEST) {
		h->method = llhttp_method_name((llhttp_method_t)ll->method);
		h->method_head = ll->method == HTTP_HEAD;
		h->method_connect = ll->method == HTTP_CONNECT;
		h->method_idempotent = is_idempotent(ll->method);
		h->target = base + p->url.off;
		h->target_len = p->url.len;
		if (h->target_len == 0) {
			h1_set_error(p, 400, "empty request target");
			return -1;
		}
		if (nhost > 1) {
			h1_set_error(p, 400, "more than one Host field");
			return -1;
		}
		if (nhost == 0 && h->minor >= 1) {
			h1_set_error(p, 400, "missing Host field");
			return -1;
		}
		if (has_te) {
			if (check_transfer_encoding(p) < 0)
				return -1;
			h->framing = H1_BODY_CHUNKED;
		} else if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0) {
			h->framing = H1_BODY_SIZED;
			h->content_length = ll->content_length;
		} else {
			h->framing = H1_BODY_NONE;
		}
		if (h->method_connect)
			h->framing = H1_BODY_NONE;
	} else {
		h->status = ll->status_code;
		h->reason = base + p->reason.off;
		h->reason_len = p->reason.len;
		if (h->status < 100 || h->status > 999) {
			h1_set_error(p, 502, "invalid response status");
			return -1;
		}
		if (!is_reason_phrase(h->reason, h->reason_len)) {
			h1_set_error(p, 502, "control character in the reason phrase");
			return -1;
		}
		if (h->status < 200 || h->status == 204 || h->status == 304 ||
		    p->head_request)
			h->framing = H1_BODY_NONE;
		else if (has_te) {
			if (check_transfer_encoding(p) < 0)
				return -1;
			h->framing = H1_BODY_CHUNKED;
		}
		else if (ll->flags & F_CONTENT_LENGTH) {
			h->framing = ll->content_length > 0 ? H1_BODY_SIZED :
			    H1_BODY_NONE;
			h->content_length = ll->content_length;
		} else
			h->framing = H1_BODY_CLOSE;
	}
	p->remaining = h->framing == H1_BODY_SIZED ? h->content_length : 0;
	return 0;
}

static int
on_headers_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	if (p->headers_done)
		return 0;	/* end of the trailer section */
	p->headers_done = true;
	p->tok = T_NONE;
	if (finish_head(p) < 0)
		return -1;
	/* Stop here: the body is the caller's to move, with its own limits. */
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_url_complete = on_url_complete,
	.on_status = on_status,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = h1_on_body,
	.on_chunk_header = h1_on_chunk_header,
	.on_chunk_extension_name = h1_on_chunk_extension,
	.on_chunk_extension_value = h1_on_chunk_extension,
	.on_message_complete = h1_on_message_complete,
};

struct h1_parser *
h1_parser_new(enum h1_kind kind, size_t max_head, unsigned max_fields)
{
	struct h1_parser *p = xcalloc(1, sizeof(*p));

	p->kind = kind;
	p->max_head = max_head;
	p->max_fields = max_fields ? max_fields : 1;
	llhttp_init(&p->ll, kind == H1_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE,
	    &settings);
	p->ll.data = p;
	h1_parser_reset(p, false);
	return p;
}

void
h1_parser_free(struct h1_parser *p)
{
	if (p == NULL)
		return;
	free(p->buf);
	free(p->pf);
	free(p->fields);
	free(p);
}

void
h1_parser_reset(struct h1_parser *p, bool head_request)
{
	llhttp_reset(&p->ll);
	p->ll.data = p;
	p->state = P_HEAD;
	p->tok = T_NONE;
	p->len = 0;
	p->npf = 0;
	p->url = (struct span){ 0, 0 };
	p->reason = (struct span){ 0, 0 };
	p->url_done = false;
	p->too_many = false;
	p->head_request = head_request;
	p->headers_done = false;
	p->ll_paused = false;
	p->started = false;
	p->last = '\n';
	p->trailers = false;
	p->line_empty = false;
	p->head_bytes = 0;
	p->remaining = 0;
	p->trailer_bytes = 0;
	p->chunk_ext = 0;
	p->out = NULL;
	p->payload = NULL;
	p->err_status = 0;
	p->err_reason = NULL;
	memset(&p->head, 0, sizeof(p->head));
}

static const char *const head_faults[] = {
	[LINE_BARE] = "bare CR or LF in the head",
	[LINE_FOLD] = "line folding (obs-fold) in the head",
};

/* The first CR or LF in s[0, n), or NULL. */
static const char *
find_cr_or_lf(const char *s, size_t n)
{
	const char *lf = memchr(s, '\n', n);
	const char *cr = memchr(s, '\r', lf != NULL ? (size_t)(lf - s) : n);

	return cr != NULL ? cr : lf;
}

/* The first fault in s[0, n); *last is the byte before s and becomes the
 * last byte looked at before a fault. */
enum line_fault
h1_line_fault(char *last, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		char c = s[i];
		const char *next;

		if ((c == '\n' && *last != '\r') || (*last == '\r' && c != '\n'))
			return LINE_BARE;
		if (*last == '\n' && (c == ' ' || c == '\t'))
			return LINE_FOLD;
		*last = c;
		i++;
		if (c == '\r' || c == '\n' || i == n)
			continue;
		/* After any other byte, the bytes up to the next CR or LF
		 * cannot be at fault: skip them (every head byte went
		 * through this loop one at a time before, the largest cost
		 * of parsing a head). */
		next = find_cr_or_lf(s + i, n - i);
		if (next == NULL) {
			*last = s[n - 1];
			break;
		}
		if (next > s + i)
			*last = next[-1];
		i = (size_t)(next - s);
	}
	return LINE_OK;
}

static int
check_line_ends(struct h1_parser *p, const char *s, size_t n)
{
	enum line_fault f = h1_line_fault(&p->last, s, n);

	if (f != LINE_OK) {
		h1_set_error(p, 400, head_faults[f]);
		return -1;
	}
	return 0;
}

void
h1_map_llhttp_error(struct h1_parser *p, llhttp_errno_t err)
{
	unsigned status = p->kind == H1_REQUEST ? 400 : 502;

	/* 505 only for a well-formed version we do not speak ("HTTP/1.2");
	 * llhttp reports a malformed request line with the same code but a
	 * different reason. */
	if (err == HPE_INVALID_VERSION && p->kind == H1_REQUEST &&
	    p->ll.reason != NULL &&
	    strcmp(p->ll.reason, "Invalid HTTP version") == 0)
		status = 505;
	h1_set_error(p, status, llhttp_errno_name(err));
}

/*
 * llhttp (or one of our callbacks) failed in base[0, len).  Faults are
 * reported in the order of the stream, whatever the reads were: a line-end
 * fault before the byte where llhttp stopped comes first (a read ending
 * between the two would have reported it), so it decides the status.
 * Without this, "POST /u\n..." was a 505 (llhttp takes HTTP/0.9) when
 * read at once and a 400 (bare LF) when read in two parts.
 */
static void
head_error(struct h1_parser *p, llhttp_errno_t err, const char *base,
    size_t len)
{
	const char *at = llhttp_get_error_pos(&p->ll);
	char last = p->last;
	enum line_fault f;

	if (at != NULL && at >= base && at <= base + len)
		len = (size_t)(at - base);
	if ((f = h1_line_fault(&last, base, len)) != LINE_OK) {
		p->err_status = 0;	/* it came first */
		h1_set_error(p, 400, head_faults[f]);
	} else if (p->state != P_ERROR)
		h1_map_llhttp_error(p, err);
}

enum h1_status
h1_parse_head(struct h1_parser *p, struct evbuffer *in)
{
	struct evbuffer_iovec vec[8];
	size_t consumed = 0;
	int n;

	if (p->state == P_ERROR)
		return H1_ERROR;
	if (p->state != P_HEAD)
		return H1_DONE;
	n = evbuffer_peek(in, -1, NULL, vec, 8);
	if (n > 8)
		n = 8;	/* the rest is parsed on the next call */
	for (int i = 0; i < n; i++) {
		const char *base = vec[i].iov_base;
		/* head_bytes <= max_head here.  llhttp gets at most one byte
		 * past the limit, so that a head over it fails at that byte
		 * however it was read: fed whole, llhttp went on and reported
		 * a later fault (a 400 where two reads gave 431), or had left
		 * the target (431 where two reads gave 414). */
		size_t len = vec[i].iov_len, left = p->max_head + 1 - p->head_bytes;
		llhttp_errno_t err;
		size_t used;

		if (len > left)
			len = left;
		err = llhttp_execute(&p->ll, base, len);
		if (err == HPE_OK)
			used = len;
		else if (err == HPE_PAUSED && p->headers_done)
			used = (size_t)(llhttp_get_error_pos(&p->ll) - base);
		else {
			head_error(p, err, base, len);
			return H1_ERROR;
		}
		if (check_line_ends(p, base, used) < 0)
			return H1_ERROR;
		consumed += used;
		p->head_bytes += used;
		if (p->head_bytes > p->max_head) {
			set_too_large(p);
			return H1_ERROR;
		}
		if (p->headers_done) {
			evbuffer_drain(in, consumed);
			p->head.head_bytes = p->head_bytes;
			p->ll_paused = true;
			p->state = p->head.framing == H1_BODY_NONE ? P_DONE : P_BODY;
			return H1_DONE;
		}
	}
	evbuffer_drain(in, consumed);
	if (n == 8 && evbuffer_get_length(in) > 0)
		return h1_parse_head(p, in);
	return H1_AGAIN;
}

const struct h1_head *
h1_head(const struct h1_parser *p)
{
	return &p->head;
}

bool
h1_head_started(const struct h1_parser *p)
{
	return p->started || p->head_bytes > 0;
}

unsigned
h1_error_status(const struct h1_parser *p)
{
	return p->err_status ? p->err_status : 400;
}

const char *
h1_error_reason(const struct h1_parser *p)
{
	return p->err_reason ? p->err_reason : "malformed message";
}

