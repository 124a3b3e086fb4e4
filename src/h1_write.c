/*
 * h1_write: HTTP/1.1 heads on the wire.  The upstream request is written
 * from the neutral request and the field list the rewrite made
 * (headers.c); the client response from the neutral response and its
 * rewritten field list, with the framing the client gets.  Heads are
 * written straight into the outgoing buffer; nothing here
 * allocates.
 */
#include <string.h>

#include <event2/buffer.h>

#include "h1.h"
#include "msg.h"

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

static void
write_field(struct evbuffer *out, const struct msg_field *f)
{
	evbuffer_add(out, f->name, f->name_len);
	evbuffer_add(out, ": ", 2);
	evbuffer_add(out, f->value, f->value_len);
	evbuffer_add(out, "\r\n", 2);
}

void
h1_write_request(struct evbuffer *out, const struct msg_request *rq,
    bool absolute_form, const struct field_list *fl)
{
	add_str(out, rq->method);
	evbuffer_add(out, " ", 1);
	if (absolute_form) {
		evbuffer_add(out, "https://", 8);
		evbuffer_add(out, rq->authority, rq->authority_len);
		/* "OPTIONS *" in absolute-form is the bare authority
		 * (RFC 9112 3.2.4). */
		if (!(rq->path_len == 1 && rq->path[0] == '*'))
			evbuffer_add(out, rq->path, rq->path_len);
	} else
		evbuffer_add(out, rq->path, rq->path_len);
	evbuffer_add(out, " HTTP/1.1\r\nHost: ", 17);
	evbuffer_add(out, rq->authority, rq->authority_len);
	evbuffer_add(out, "\r\n", 2);
	for (unsigned i = 0; i < fl->n; i++)
		write_field(out, &fl->v[i]);
	switch (rq->body) {
	case MSG_BODY_SIZED:
		evbuffer_add(out, "Content-Length: ", 16);
		add_u64(out, rq->content_length);
		evbuffer_add(out, "\r\n", 2);
		break;
	case MSG_BODY_STREAM:
		evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
		break;
	case MSG_BODY_NONE:
		if (fl->length_zero)
			evbuffer_add(out, "Content-Length: 0\r\n", 19);
		break;
	}
	evbuffer_add(out, "\r\n", 2);
}

void
h1_write_response(struct evbuffer *out, const struct msg_response *rs,
    const struct field_list *fl, bool client_chunked, bool close)
{
	evbuffer_add(out, "HTTP/1.1 ", 9);
	add_u64(out, rs->status);
	evbuffer_add(out, " ", 1);
	if (rs->reason_len > 0)
		evbuffer_add(out, rs->reason, rs->reason_len);
	else
		add_str(out, h1_reason_phrase(rs->status));
	evbuffer_add(out, "\r\n", 2);
	for (unsigned i = 0; i < fl->n; i++)
		write_field(out, &fl->v[i]);
	/* An interim head has no body and says nothing of the connection. */
	if (rs->status >= 200) {
		if (rs->body == MSG_BODY_STREAM && client_chunked)
			evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
		if (close)
			evbuffer_add(out, "Connection: close\r\n", 19);
	}
	evbuffer_add(out, "\r\n", 2);
}
