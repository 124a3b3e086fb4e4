/*
 * h1_body: the body half of HTTP/1.1 framing (see h1.h): sized, chunked
 * and close-delimited bodies moved from an input to an output buffer under
 * an output limit, re-chunked or not, with the chunked trailer section's
 * line ends checked before llhttp sees them.  The head half is h1.c.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include <llhttp.h>

#include "h1.h"
#include "h1_priv.h"

static const char *const trailer_faults[] = {
	[LINE_BARE] = "bare CR or LF in the chunked trailer",
	[LINE_FOLD] = "line folding (obs-fold) in the chunked trailer",
};

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

int
h1_on_body(llhttp_t *ll, const char *at, size_t n)
{
	struct h1_parser *p = parser_of(ll);

	if (p->out == NULL) {
		h1_set_error(p, 400, "unexpected body");
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
/*
 * Chunk extensions (RFC 9112 7.1.1) carry nothing the proxy or its servers
 * use, and llhttp takes them without bound: one chunk line could take
 * input for ever without a byte of payload.  Bounded like a field line.
 */
#define CHUNK_EXT_MAX	1024

int
h1_on_chunk_extension(llhttp_t *ll, const char *at, size_t n)
{
	struct h1_parser *p = parser_of(ll);

	(void)at;
	p->chunk_ext += n;
	if (p->chunk_ext > CHUNK_EXT_MAX) {
		h1_set_error(p, 400, "chunk extension too long");
		return -1;
	}
	return 0;
}

int
h1_on_chunk_header(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	p->chunk_ext = 0;	/* the line is complete */
	if (ll->content_length != 0)
		return 0;
	p->trailers = true;
	p->last = '\n';
	p->line_empty = true;
	return HPE_PAUSED;
}

int
h1_on_message_complete(llhttp_t *ll)
{
	struct h1_parser *p = parser_of(ll);

	if (p->state == P_BODY && p->out != NULL && p->out_chunked)
		evbuffer_add(p->out, "0\r\n\r\n", 5);
	p->state = P_DONE;
	/* Pause at the message boundary: pipelined bytes stay in the buffer. */
	return HPE_PAUSED;
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
		if ((*f = h1_line_fault(&p->last, s + i, 1)) != LINE_OK)
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
				h1_map_llhttp_error(p, err);
			*used = off;
			return -1;
		}
		if (f != LINE_OK && p->state == P_BODY) {
			h1_set_error(p, 400, trailer_faults[f]);
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
	h1_set_error(p, p->kind == H1_REQUEST ? 400 : 502,
	    "connection closed before the message was complete");
	return H1_ERROR;
}
