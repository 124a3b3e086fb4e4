/*
 * msg: a request head as routing, policy and rewriting see it, whatever
 * protocol it came in.  A codec fills it, pointing into its own storage:
 * the HTTP/1.1 one from a parsed head (headers_request_msg), an HTTP/2 one
 * from its pseudo-header and field lists.  No wire framing here: a body
 * is absent, of a known length, or streamed until its end.
 */
#ifndef MCX_MSG_H
#define MCX_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* One header field: spans owned by the codec. */
struct msg_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

enum msg_body {
	MSG_BODY_NONE,
	MSG_BODY_SIZED,		/* content_length bytes */
	MSG_BODY_STREAM,	/* until the sender ends it (chunked, DATA) */
};

struct msg_request {
	const char *method;		/* "GET", ... (static string) */
	const char *version;		/* "1.0", "1.1": for Via (RFC 9110 7.6.3) */
	bool method_head;
	bool method_connect;
	bool method_idempotent;
	const char *authority;		/* absolute-form authority, Host, :authority */
	size_t authority_len;
	const char *path;		/* path and query ("/" at least; "*") */
	size_t path_len;
	size_t path_only_len;		/* path without "?query" */
	bool absolute;			/* the client named scheme and authority */
	bool https;			/* ... and the scheme was https */
	const struct msg_field *fields;
	unsigned nfields;
	enum msg_body body;
	uint64_t content_length;	/* MSG_BODY_SIZED */
};

/*
 * A response head as the rewrite and the client's codec see it.  The
 * body says how the upstream framed it: a streamed body (chunked or
 * close-delimited, DATA frames) loses its Content-Length on the way; a
 * sized one or none (HEAD, 204, 304) keeps the field as it came.
 */
struct msg_response {
	unsigned status;
	const char *reason;		/* as received; empty: the standard one */
	size_t reason_len;
	const char *version;		/* "1.0", "1.1": for Via */
	const struct msg_field *fields;
	unsigned nfields;
	enum msg_body body;
	uint64_t content_length;	/* MSG_BODY_SIZED */
};

/* Case-insensitive field name comparison with a lower-case literal.
 * Inline: every head compares each of its fields with a dozen names, and
 * with a literal the length test costs nothing. */
static inline bool
msg_name_eq(const struct msg_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}
/* A field's value as a decimal number (digits only, at most 19, as
 * HTTP/2 Content-Length; nghttp2 checked it already): false when not. */
bool	msg_field_uint(const struct msg_field *, uint64_t *);
/* The first field named name among fields[0, n), or NULL. */
const struct msg_field *msg_fields_find(const struct msg_field *fields,
	    unsigned n, const char *name);
const struct msg_field *msg_find(const struct msg_request *, const char *name);

/* Iterates over the comma-separated tokens of a field value: returns false
 * at the end; the token is trimmed of whitespace. */
bool	msg_next_token(const char **p, const char *end, const char **tok, size_t *toklen);

/* Case-insensitive comparison of a token with a literal. */
bool	msg_token_eq(const char *, size_t, const char *lit);

/* True when field f, among fields[0, n), is hop-by-hop (never forwarded):
 * a connection-specific field, or one a Connection field names. */
bool	msg_hop_by_hop(const struct msg_field *fields, unsigned n,
	    const struct msg_field *f);

/*
 * The same for a pass over every field of a head: the Connection fields
 * are read once (msg_hop_init), not once per field.  fields must stay
 * as they are while h is used.
 */
struct msg_hop {
	const struct msg_field *fields;
	unsigned nfields;
	bool named;	/* Connection names a field of the head beyond the fixed ones */
};

void	msg_hop_init(struct msg_hop *h, const struct msg_field *fields, unsigned n);
bool	msg_hop_is(const struct msg_hop *h, const struct msg_field *f);

/*
 * The fields of a head, in order, as the rewrite leaves them.  For an
 * upstream request: the client's end-to-end fields, then Via, the
 * forwarding fields and the client identity; Host and framing fields are
 * the writer's (the request line and Host for HTTP/1.1, pseudo-headers for
 * HTTP/2).  For a client response: the upstream's end-to-end fields (and
 * Content-Length when the body keeps its size), then Via; the status and
 * the client-side framing are the writer's.  Values point into the
 * message, the rewrite options, or scratch.  Reused from message to
 * message (one per worker and direction): only v grows.
 */
struct field_list {
	struct msg_field *v;
	unsigned n, cap;
	bool length_zero;	/* the client said Content-Length: 0 */
	char *scratch;		/* values made by the rewrite */
	size_t used, scap;
};

void	field_list_free(struct field_list *);

#endif
