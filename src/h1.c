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
#include "xalloc.h"

struct span {
	size_t off;
	size_t len;
};

struct pfield {
	struct span name;
	struct span value;
};

enum ptoken {
	T_NONE,
	T_URL,
	T_STATUS,
	T_FIELD,
	T_VALUE,
};

enum pstate {
	P_HEAD,			/* parsing a head */
	P_BODY,			/* head done; body (if any) next */
	P_DONE,			/* message complete */
	P_ERROR,
};

struct h1_parser {
	llhttp_t ll;
	enum h1_kind kind;
	enum pstate state;
	enum ptoken tok;
	size_t max_head;
	unsigned max_fields;

	char *buf;		/* head bytes we keep: target, reason, fields */
	size_t len, cap;
	struct pfield *pf;
	unsigned npf, cappf;
	struct h1_field *fields;
	unsigned capfields;
	struct span url, reason;
	bool url_done;
	bool too_many;		/* a field past max_fields has begun */

	bool head_request;	/* response to HEAD */
	bool headers_done;	/* on_headers_complete ran for this message */
	bool ll_paused;		/* llhttp paused after the head */
	bool started;
	char last;		/* previous raw head byte, for the CR/LF check */
	bool trailers;		/* in the trailer section of a chunked body */
	bool line_empty;	/* ... and the current line is empty so far */
	size_t head_bytes;
	uint64_t remaining;	/* sized body */
	size_t trailer_bytes;

	/* Where on_body writes while a chunked body is moved. */
	struct evbuffer *out;
	bool out_chunked;
	uint64_t *payload;

	unsigned err_status;
	const char *err_reason;
	struct h1_head head;
};

static void
set_error(struct h1_parser *p, unsigned status, const char *reason)
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
		set_error(p, 502, "response head too large");
	else if (p->url_done)
		set_error(p, 431, "request header fields too large");
	else
		set_error(p, 414, "request target too long");
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

static struct h1_parser *
parser_of(llhttp_t *ll)
{
	return ll->data;
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
		set_error(p, 400, "chunked trailer too large");
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
		set_error(p, 431, "too many header fields");
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
		const struct h1_field *f = &h->fields[i];
		const char *c = f->value, *end = f->value + f->value_len, *t;
		size_t n;

		if (!h1_name_eq(f, "transfer-encoding"))
			continue;
		while (h1_next_token(&c, end, &t, &n)) {
			if (h1_token_eq(t, n, "chunked")) {
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
			set_error(p, 502, "unsupported transfer coding in the response");
			return -1;
		}
		return 0;
	}
	if (other) {
		set_error(p, 501, "transfer coding not implemented");
		return -1;
	}
	if (nchunked != 1 || !chunked_last) {
		set_error(p, 400, "invalid Transfer-Encoding");
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
		const struct h1_field *f = &h->fields[i];
		const char *c = f->value, *end = f->value + f->value_len, *t;
		size_t n;

		if (h1_name_eq(f, "connection")) {
			while (h1_next_token(&c, end, &t, &n)) {
				if (h1_token_eq(t, n, "close"))
					h->conn_close = true;
				else if (h1_token_eq(t, n, "keep-alive"))
					keep_alive = true;
			}
		} else if (h->kind == H1_REQUEST && h1_name_eq(f, "expect")) {
			if (h1_token_eq(f->value, f->value_len, "100-continue"))
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
 * takes any byte but CR and LF there, and headers_write_response() passes
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
			set_error(p, 400, "invalid header field name");
			return -1;
		}
		/* Trailing whitespace is not part of a value (RFC 9112 5). */
		while (p->fields[i].value_len > 0 &&
		    (p->fields[i].value[p->fields[i].value_len - 1] == ' ' ||
		    p->fields[i].value[p->fields[i].value_len - 1] == '\t'))
			p->fields[i].value_len--;
		if (h1_name_eq(&p->fields[i], "host"))
			nhost++;
	}
	h->fields = p->fields;
	h->nfields = p->npf;
	if (h->major != 1) {
		set_error(p, 505, "HTTP version not supported");
		return -1;
	}
	scan_connection(h);
	has_te = (ll->flags & F_TRANSFER_ENCODING) != 0 ||
	    h1_find(h, "transfer-encoding") != NULL;
	if (has_te && (ll->flags & F_CONTENT_LENGTH)) {
		set_error(p, 400, "both Content-Length and Transfer-Encoding");
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
			set_error(p, 400, "empty request target");
			return -1;
		}
		if (nhost > 1) {
			set_error(p, 400, "more than one Host field");
			return -1;
		}
		if (nhost == 0 && h->minor >= 1) {
			set_error(p, 400, "missing Host field");
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
			set_error(p, 502, "invalid response status");
			return -1;
		}
		if (!is_reason_phrase(h->reason, h->reason_len)) {
			set_error(p, 502, "control character in the reason phrase");
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

/* Appends a chunk-size line ("1f40\r\n") without printf. */
static void
add_chunk_size(struct evbuffer *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char buf[24], *p = buf + sizeof(buf);

	*--p = '\n';
	*--p = '\r';
	do {
		*--p = hex[n & 0xf];
		n >>= 4;
	} while (n != 0);
	evbuffer_add(out, p, (size_t)(buf + sizeof(buf) - p));
}

static int
on_body(llhttp_t *ll, const char *at, size_t n)
{
	struct h1_parser *p = parser_of(ll);

	if (p->out == NULL) {
		set_error(p, 400, "unexpected body");
		return -1;
	}
	/* Written out, an empty chunk is the last-chunk marker and would end
	 * the body early: never pass one on, whatever llhttp reports. */
	if (n == 0)
		return 0;
	if (p->out_chunked) {
		add_chunk_size(p->out, n);
		evbuffer_add(p->out, at, n);
		evbuffer_add(p->out, "\r\n", 2);
	} else
		evbuffer_add(p->out, at, n);
	*p->payload += n;
	return 0;
}

/*
 * After the last chunk comes the trailer section: field lines that
 * llhttp 8 also ends at a bare LF, and folds ("0\r\n\nX" completed the
 * body and left "X" as the next request).  Pause there, so that
 * body_chunked() checks the section's line ends before llhttp sees them,
 * as for a head.
 */
static int
on_chunk_header(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	if (ll->content_length != 0)
		return 0;
	p->trailers = true;
	p->last = '\n';
	p->line_empty = true;
	return HPE_PAUSED;
}

static int
on_message_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	if (p->state == P_BODY && p->out != NULL && p->out_chunked)
		evbuffer_add(p->out, "0\r\n\r\n", 5);
	p->state = P_DONE;
	/* Pause at the message boundary: pipelined bytes stay in the buffer. */
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
	.on_body = on_body,
	.on_chunk_header = on_chunk_header,
	.on_message_complete = on_message_complete,
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
	p->out = NULL;
	p->payload = NULL;
	p->err_status = 0;
	p->err_reason = NULL;
	memset(&p->head, 0, sizeof(p->head));
}

/* A head's lines end in CRLF, nothing else, and none starts with white
 * space (obs-fold, which llhttp 8 accepts): both are where parsers in a
 * chain disagree, so they are refused whatever llhttp allows.  The same
 * holds for the trailer section of a chunked body. */
enum line_fault {
	LINE_OK,
	LINE_BARE,		/* CR not before LF, or LF not after CR */
	LINE_FOLD,		/* a line starting with SP or HTAB */
};

static const char *const head_faults[] = {
	[LINE_BARE] = "bare CR or LF in the head",
	[LINE_FOLD] = "line folding (obs-fold) in the head",
};

static const char *const trailer_faults[] = {
	[LINE_BARE] = "bare CR or LF in the chunked trailer",
	[LINE_FOLD] = "line folding (obs-fold) in the chunked trailer",
};

/* The first fault in s[0, n); *last is the byte before s and becomes the
 * last byte looked at before a fault. */
static enum line_fault
line_fault(char *last, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if ((c == '\n' && *last != '\r') || (*last == '\r' && c != '\n'))
			return LINE_BARE;
		if (*last == '\n' && (c == ' ' || c == '\t'))
			return LINE_FOLD;
		*last = c;
	}
	return LINE_OK;
}

static int
check_line_ends(struct h1_parser *p, const char *s, size_t n)
{
	enum line_fault f = line_fault(&p->last, s, n);

	if (f != LINE_OK) {
		set_error(p, 400, head_faults[f]);
		return -1;
	}
	return 0;
}

static void
map_llhttp_error(struct h1_parser *p, llhttp_errno_t err)
{
	unsigned status = p->kind == H1_REQUEST ? 400 : 502;

	/* 505 only for a well-formed version we do not speak ("HTTP/1.2");
	 * llhttp reports a malformed request line with the same code but a
	 * different reason. */
	if (err == HPE_INVALID_VERSION && p->kind == H1_REQUEST &&
	    p->ll.reason != NULL &&
	    strcmp(p->ll.reason, "Invalid HTTP version") == 0)
		status = 505;
	set_error(p, status, llhttp_errno_name(err));
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
	if ((f = line_fault(&last, base, len)) != LINE_OK) {
		p->err_status = 0;	/* it came first */
		set_error(p, 400, head_faults[f]);
	} else if (p->state != P_ERROR)
		map_llhttp_error(p, err);
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

static size_t
room(struct evbuffer *out, size_t limit)
{
	size_t have = evbuffer_get_length(out);

	return have < limit ? limit - have : 0;
}

/*
 * How much of s[0, n), in the trailer section, llhttp may have: up to the
 * LF of the empty line that ends the section, or up to the first line-end
 * fault (*f says which).
 */
static size_t
trailer_scan(struct h1_parser *p, const char *s, size_t n, enum line_fault *f)
{
	for (size_t i = 0; i < n; i++) {
		if ((*f = line_fault(&p->last, s + i, 1)) != LINE_OK)
			return i;
		if (s[i] == '\n') {
			if (p->line_empty)
				return i + 1;
			p->line_empty = true;
		} else if (s[i] != '\r')
			p->line_empty = false;
	}
	return n;
}

/*
 * Runs llhttp over the chunked body bytes s[0, n); *used says how many it
 * took.  It goes on past the pause at the last chunk; in the trailer
 * section llhttp only gets the bytes before a line-end fault, so that a
 * fault is an error before the body is taken for complete (and the last
 * chunk written).  Returns 0, or -1 with the error set.
 */
static int
body_execute(struct h1_parser *p, const char *s, size_t n, size_t *used)
{
	size_t off = 0;

	while (off < n && p->state == P_BODY) {
		enum line_fault f = LINE_OK;
		size_t len = n - off;
		llhttp_errno_t err;

		if (p->trailers)
			len = trailer_scan(p, s + off, len, &f);
		err = llhttp_execute(&p->ll, s + off, len);
		if (err == HPE_OK)
			off += len;
		else if (err == HPE_PAUSED) {
			off += (size_t)(llhttp_get_error_pos(&p->ll) - (s + off));
			if (p->state == P_BODY)		/* at the last chunk */
				llhttp_resume(&p->ll);
		} else {
			if (p->state != P_ERROR)
				map_llhttp_error(p, err);
			*used = off;
			return -1;
		}
		if (f != LINE_OK && p->state == P_BODY) {
			set_error(p, 400, trailer_faults[f]);
			*used = off;
			return -1;
		}
	}
	*used = off;
	return 0;
}

static enum h1_status
body_chunked(struct h1_parser *p, struct evbuffer *in, struct evbuffer *out,
    bool out_chunked, size_t out_limit, uint64_t *payload)
{
	struct evbuffer_iovec vec[8];
	enum h1_status rc = H1_AGAIN;
	bool more = true;

	if (p->ll_paused) {
		llhttp_resume(&p->ll);
		p->ll_paused = false;
	}
	p->out = out;
	p->out_chunked = out_chunked;
	p->payload = payload;
	/* Eight chains per peek; loop while input is consumed whole. */
	while (more && rc == H1_AGAIN && p->state == P_BODY) {
		size_t consumed = 0;
		int n = evbuffer_peek(in, -1, NULL, vec, 8);

		if (n > 8)
			n = 8;
		more = false;
		for (int i = 0; i < n && p->state == P_BODY; i++) {
			const char *base = vec[i].iov_base;
			size_t len = vec[i].iov_len, r = room(out, out_limit);
			size_t used;

			if (r == 0)
				break;
			/* Feed at most what the output may still take (chunk
			 * framing adds a few bytes; the limit is a watermark). */
			if (len > r)
				len = r;
			if (body_execute(p, base, len, &used) < 0)
				rc = H1_ERROR;
			consumed += used;
			if (rc == H1_ERROR || len < vec[i].iov_len)
				break;
			more = i == n - 1 && n == 8;
		}
		evbuffer_drain(in, consumed);
	}
	p->out = NULL;
	p->payload = NULL;
	if (rc == H1_ERROR)
		return rc;
	return p->state == P_DONE ? H1_DONE : H1_AGAIN;
}

enum h1_status
h1_body(struct h1_parser *p, struct evbuffer *in, struct evbuffer *out,
    bool out_chunked, size_t out_limit, uint64_t *payload)
{
	size_t avail, r;

	if (p->state == P_ERROR)
		return H1_ERROR;
	if (p->state == P_DONE)
		return H1_DONE;
	if (p->state != P_BODY)
		return H1_AGAIN;
	switch (p->head.framing) {
	case H1_BODY_SIZED:
		avail = evbuffer_get_length(in);
		r = room(out, out_limit);
		if (avail > r)
			avail = r;
		if ((uint64_t)avail > p->remaining)
			avail = (size_t)p->remaining;
		if (avail > 0) {
			evbuffer_remove_buffer(in, out, avail);
			p->remaining -= avail;
			*payload += avail;
		}
		if (p->remaining == 0) {
			p->state = P_DONE;
			return H1_DONE;
		}
		return H1_AGAIN;
	case H1_BODY_CLOSE:
		avail = evbuffer_get_length(in);
		r = room(out, out_limit);
		if (avail > r)
			avail = r;
		if (avail > 0) {
			if (out_chunked)
				add_chunk_size(out, avail);
			evbuffer_remove_buffer(in, out, avail);
			if (out_chunked)
				evbuffer_add(out, "\r\n", 2);
			*payload += avail;
		}
		return H1_AGAIN;
	case H1_BODY_CHUNKED:
		return body_chunked(p, in, out, out_chunked, out_limit, payload);
	case H1_BODY_NONE:
		break;
	}
	p->state = P_DONE;
	return H1_DONE;
}

enum h1_status
h1_body_eof(struct h1_parser *p, struct evbuffer *out, bool out_chunked)
{
	if (p->state == P_BODY && p->head.framing == H1_BODY_CLOSE) {
		if (out_chunked)
			evbuffer_add(out, "0\r\n\r\n", 5);
		p->state = P_DONE;
		return H1_DONE;
	}
	if (p->state == P_DONE)
		return H1_DONE;
	set_error(p, p->kind == H1_REQUEST ? 400 : 502,
	    "connection closed before the message was complete");
	return H1_ERROR;
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

