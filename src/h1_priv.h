/*
 * h1_priv: the parser state shared by h1.c (heads) and h1_body.c (bodies).
 * Nothing else includes this file.
 */
#ifndef MCX_H1_PRIV_H
#define MCX_H1_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "h1.h"

struct evbuffer;

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
	struct msg_field *fields;
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
	size_t chunk_ext;	/* extension bytes on the current chunk line */

	/* Where on_body writes while a chunked body is moved. */
	struct evbuffer *out;
	bool out_chunked;
	uint64_t *payload;

	unsigned err_status;
	const char *err_reason;
	struct h1_head head;
};

static inline struct h1_parser *
parser_of(llhttp_t *ll)
{
	return ll->data;
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

/* The first fault in s[0, n); *last is the byte before s and becomes the
 * last byte looked at before a fault. */
enum line_fault h1_line_fault(char *last, const char *s, size_t n);
/* The first error of a message wins; the parser stops there. */
void	h1_set_error(struct h1_parser *, unsigned status, const char *reason);
void	h1_map_llhttp_error(struct h1_parser *, llhttp_errno_t);

/* llhttp callbacks of the body (h1_body.c). */
int	h1_on_body(llhttp_t *, const char *, size_t);
int	h1_on_chunk_header(llhttp_t *);
int	h1_on_chunk_extension(llhttp_t *, const char *, size_t);
int	h1_on_message_complete(llhttp_t *);

#endif
