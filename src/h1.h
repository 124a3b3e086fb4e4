/*
 * h1: HTTP/1.1 message framing on top of llhttp, in strict mode.  This is
 * the only file that includes llhttp.h.  It parses one message head at a
 * time out of an evbuffer into a compact, owned copy (so the input can be
 * drained), decides the body framing, and moves body bytes from one
 * evbuffer to another: sized and close-delimited bodies are moved without
 * copying; chunked bodies are validated by llhttp and re-framed.  It does
 * no I/O and knows nothing of sessions, so it is unit-tested on buffers.
 */
#ifndef MCX_H1_H
#define MCX_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct evbuffer;

enum h1_kind {
	H1_REQUEST,
	H1_RESPONSE,
};

enum h1_status {
	H1_AGAIN,		/* need more input (or more output room) */
	H1_DONE,		/* the head, or the body, is complete */
	H1_ERROR,		/* see h1_error() */
};

enum h1_framing {
	H1_BODY_NONE,
	H1_BODY_SIZED,		/* Content-Length */
	H1_BODY_CHUNKED,
	H1_BODY_CLOSE,		/* response read until the connection closes */
};

/* A parsed head.  Filled by h1_parse_head(); read-only for callers. */
struct h1_head {
	enum h1_kind kind;
	const char *method;	/* request: "GET", ... (static string) */
	bool method_head;	/* HEAD */
	bool method_connect;	/* CONNECT */
	bool method_idempotent;	/* GET HEAD PUT DELETE OPTIONS TRACE */
	const char *target;	/* request-target as received */
	size_t target_len;
	unsigned status;	/* response */
	const char *reason;
	size_t reason_len;
	unsigned major, minor;
	struct msg_field *fields;	/* valid until the next head is parsed */
	unsigned nfields;
	enum h1_framing framing;
	uint64_t content_length;	/* H1_BODY_SIZED */
	bool conn_close;		/* Connection: close (or HTTP/1.0 without keep-alive) */
	bool expect_continue;		/* Expect: 100-continue */
	size_t head_bytes;		/* bytes the head took on the wire */
};

struct h1_parser;

/*
 * max_head: most bytes a head may take (request line or status line plus
 * fields); max_fields: most header fields.  Over either, a request fails
 * with 414 (target still incomplete) or 431.
 */
struct h1_parser *h1_parser_new(enum h1_kind, size_t max_head, unsigned max_fields);
void	h1_parser_free(struct h1_parser *);

/* Prepares for the next message.  For responses, say whether the request
 * was HEAD (its response has no body whatever its fields say). */
void	h1_parser_reset(struct h1_parser *, bool head_request);

/*
 * Consumes a head from in.  H1_DONE: h1_head() describes it and the head's
 * bytes have been drained; the body (if any) is next in the buffer.
 */
enum h1_status h1_parse_head(struct h1_parser *, struct evbuffer *in);
const struct h1_head *h1_head(const struct h1_parser *);
/* True when some bytes of a head have been consumed (a request started). */
bool	h1_head_started(const struct h1_parser *);

/*
 * Moves body bytes of the current message from in to out.  Sized bodies
 * move as they are (the caller sent the same Content-Length); chunked and
 * close-delimited bodies are written as chunks when out_chunked, else as
 * raw bytes.  Stops when out holds more than out_limit bytes (back-
 * pressure: call again once it drained).  *payload grows by the body bytes
 * moved.  H1_DONE once the body is complete (and the terminating chunk was
 * written); the next message, if any, is then at the head of in.
 */
enum h1_status h1_body(struct h1_parser *, struct evbuffer *in,
	    struct evbuffer *out, bool out_chunked, size_t out_limit,
	    uint64_t *payload);
/* The peer closed: completes a close-delimited body (writing the last
 * chunk when out_chunked); for any other framing it is an error. */
enum h1_status h1_body_eof(struct h1_parser *, struct evbuffer *out, bool out_chunked);

/* After H1_ERROR: the status code to answer (400, 414, 431, 501, 505) and
 * a short reason for the logs and the error body. */
unsigned h1_error_status(const struct h1_parser *);
const char *h1_error_reason(const struct h1_parser *);

/* Finds the first field with that name, or NULL. */
const struct msg_field *h1_find(const struct h1_head *, const char *name);
/* RFC 9110 5.6.2 token: one or more tchar. */
bool	h1_is_token(const char *, size_t);

/*
 * Writing heads (h1_write.c).  The upstream request, always HTTP/1.1: the
 * request line (absolute_form toward a partner proxy), Host, the rewritten
 * fields, and the framing fields for rq's body.
 */
struct field_list;
void	h1_write_request(struct evbuffer *, const struct msg_request *,
	    bool absolute_form, const struct field_list *);
/*
 * The client response head: rs's status line, the rewritten fields fl
 * (headers_rewrite_response), then the framing.  client_chunked: a streamed
 * body is sent chunked (else raw, and the connection closes after it);
 * close: add "Connection: close".  Interim heads (status < 200) get
 * neither.
 */
void	h1_write_response(struct evbuffer *, const struct msg_response *,
	    const struct field_list *, bool client_chunked, bool close);

/* The standard reason phrase of a status the proxy produces. */
/* Moves n bytes (n > 0) of in to out as one chunk (chunked coding). */
void	h1_write_chunk(struct evbuffer *out, struct evbuffer *in, size_t n);
/* Ends a chunked body, with trailer fields (framing ones and any that
 * could not be written safely are left out). */
void	h1_write_last_chunk(struct evbuffer *out,
	    const struct msg_field *trailers, unsigned n);
const char *h1_reason_phrase(unsigned status);

#endif
