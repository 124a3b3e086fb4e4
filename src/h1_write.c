/*
 * h1_write: HTTP/1.1 heads on the wire.  The upstream request is written
 * from the neutral request and the field list the rewrite made
 * (headers.c); the client response from the neutral response and its
 * rewritten field list, with the framing the client gets.  Heads are
 * written straight into space reserved in the outgoing buffer.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "h1.h"
#include "msg.h"
#include "xalloc.h"

/*
 * A head is assembled in space reserved in the outgoing buffer, sized
 * first from its parts: one reservation and one commit per head, where
 * an evbuffer_add per name, separator and value cost more than the
 * rest of the rewrite.
 */
struct head_out {
	char *p;
};

static void
put(struct head_out *o, const void *s, size_t n)
{
	memcpy(o->p, s, n);
	o->p += n;
}

#define PUT_LIT(o, lit)	put(o, lit, sizeof(lit) - 1)

/* v in decimal (at most 20 digits). */
static void
put_u64(struct head_out *o, uint64_t v)
{
	char buf[24], *p = buf + sizeof(buf);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(o, p, (size_t)(buf + sizeof(buf) - p));
}

static size_t
fields_bytes(const struct field_list *fl)
{
	size_t n = 0;

	for (unsigned i = 0; i < fl->n; i++)
		n += fl->v[i].name_len + fl->v[i].value_len + 4;
	return n;
}

static void
put_fields(struct head_out *o, const struct field_list *fl)
{
	for (unsigned i = 0; i < fl->n; i++) {
		const struct msg_field *f = &fl->v[i];

		put(o, f->name, f->name_len);
		PUT_LIT(o, ": ");
		put(o, f->value, f->value_len);
		PUT_LIT(o, "\r\n");
	}
}

/* Room for the framing lines and the blank line: "Content-Length: "
 * with 20 digits, or "Transfer-Encoding: chunked", or "Connection:
 * close", each with its CRLF. */
#define FRAMING_MAX	96

static struct head_out
head_begin(struct evbuffer *out, struct evbuffer_iovec *v, size_t bound)
{
	if (evbuffer_reserve_space(out, (ev_ssize_t)bound, v, 1) < 1)
		xalloc_die(bound);
	return (struct head_out){ v->iov_base };
}

static void
head_end(struct evbuffer *out, struct evbuffer_iovec *v, struct head_out *o)
{
	v->iov_len = (size_t)(o->p - (char *)v->iov_base);
	if (evbuffer_commit_space(out, v, 1) != 0)
		abort();	/* the extent reserved above */
}

void
h1_write_request(struct evbuffer *out, const struct msg_request *rq,
    bool absolute_form, const struct field_list *fl)
{
	struct evbuffer_iovec v;
	size_t mlen = strlen(rq->method);
	struct head_out o = head_begin(out, &v, mlen + 1 + 8 +
	    2 * rq->authority_len + rq->path_len + 17 + 2 + fields_bytes(fl) +
	    FRAMING_MAX);

	put(&o, rq->method, mlen);
	PUT_LIT(&o, " ");
	if (absolute_form) {
		PUT_LIT(&o, "https://");
		put(&o, rq->authority, rq->authority_len);
		/* "OPTIONS *" in absolute-form is the bare authority
		 * (RFC 9112 3.2.4). */
		if (!(rq->path_len == 1 && rq->path[0] == '*'))
			put(&o, rq->path, rq->path_len);
	} else
		put(&o, rq->path, rq->path_len);
	PUT_LIT(&o, " HTTP/1.1\r\nHost: ");
	put(&o, rq->authority, rq->authority_len);
	PUT_LIT(&o, "\r\n");
	put_fields(&o, fl);
	switch (rq->body) {
	case MSG_BODY_SIZED:
		PUT_LIT(&o, "Content-Length: ");
		put_u64(&o, rq->content_length);
		PUT_LIT(&o, "\r\n");
		break;
	case MSG_BODY_STREAM:
		PUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
		break;
	case MSG_BODY_NONE:
		if (fl->length_zero)
			PUT_LIT(&o, "Content-Length: 0\r\n");
		break;
	}
	PUT_LIT(&o, "\r\n");
	head_end(out, &v, &o);
}

void
h1_write_response(struct evbuffer *out, const struct msg_response *rs,
    const struct field_list *fl, bool client_chunked, bool close)
{
	const char *reason = rs->reason;
	size_t rlen = rs->reason_len;
	struct evbuffer_iovec v;
	struct head_out o;

	if (rlen == 0) {
		reason = h1_reason_phrase(rs->status);
		rlen = strlen(reason);
	}
	/* "HTTP/1.1 " and a status of at most 20 digits. */
	o = head_begin(out, &v, 9 + 20 + 1 + rlen + 2 + fields_bytes(fl) +
	    FRAMING_MAX);
	PUT_LIT(&o, "HTTP/1.1 ");
	put_u64(&o, rs->status);
	PUT_LIT(&o, " ");
	put(&o, reason, rlen);
	PUT_LIT(&o, "\r\n");
	put_fields(&o, fl);
	/* An interim head has no body and says nothing of the connection. */
	if (rs->status >= 200) {
		if (rs->body == MSG_BODY_STREAM && client_chunked)
			PUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
		if (close)
			PUT_LIT(&o, "Connection: close\r\n");
	}
	PUT_LIT(&o, "\r\n");
	head_end(out, &v, &o);
}

void
h1_write_chunk(struct evbuffer *out, struct evbuffer *in, size_t n)
{
	if (n == 0)
		return;		/* a zero-size chunk would end the body */
	evbuffer_add_printf(out, "%zx\r\n", n);
	evbuffer_remove_buffer(in, out, n);
	evbuffer_add(out, "\r\n", 2);
}

void
h1_write_last_chunk(struct evbuffer *out, const struct msg_field *trailers,
    unsigned n)
{
	evbuffer_add(out, "0\r\n", 3);
	for (unsigned i = 0; i < n; i++) {
		const struct msg_field *f = &trailers[i];

		/* Framing fields never come as trailers (RFC 9110 6.5.1). */
		if (msg_name_eq(f, "content-length") ||
		    msg_name_eq(f, "transfer-encoding") ||
		    msg_name_eq(f, "host") || msg_name_eq(f, "trailer") ||
		    !h1_is_token(f->name, f->name_len) ||
		    memchr(f->value, '\r', f->value_len) != NULL ||
		    memchr(f->value, '\n', f->value_len) != NULL)
			continue;
		evbuffer_add(out, f->name, f->name_len);
		evbuffer_add(out, ": ", 2);
		evbuffer_add(out, f->value, f->value_len);
		evbuffer_add(out, "\r\n", 2);
	}
	evbuffer_add(out, "\r\n", 2);
}
