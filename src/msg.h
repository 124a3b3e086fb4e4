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

/* Case-insensitive field name comparison with a lower-case literal. */
bool	msg_name_eq(const struct msg_field *, const char *name);
/* The first field named name among fields[0, n), or NULL. */
const struct msg_field *msg_fields_find(const struct msg_field *fields,
	    unsigned n, const char *name);
const struct msg_field *msg_find(const struct msg_request *, const char *name);

#endif
