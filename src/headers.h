/*
 * headers: what the proxy changes in a message head on its way through.
 * It splits an HTTP/1.1 request target (origin-, absolute- or
 * asterisk-form) into a neutral request (msg.h), and rewrites the upstream
 * request into a field list: hop-by-hop fields (Connection and every field
 * it names, Keep-Alive, Proxy-Connection, TE, Upgrade, Proxy-Authorization)
 * dropped, Via added, the client address and identity added when
 * configured.  Authorization and every end-to-end field pass untouched.
 * Responses the same way, into their own field list: hop-by-hop fields
 * dropped, Via added.
 * Writing a head on the wire is the protocol writer's (h1_write.c).
 */
#ifndef MCX_HEADERS_H
#define MCX_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "h1.h"
#include "msg.h"

/*
 * The HTTP/1.1 request head h as a neutral request (msg.h): the target
 * split (absolute-form authority, else the Host value; origin-form path and
 * query), the method, the fields and the body framing.  Spans point into
 * h.  Returns 0, or -1 with *why set (answer 400).
 */
int	headers_request_msg(const struct h1_head *, struct msg_request *,
	    const char **why);

struct req_rewrite {
	const struct msg_request *rq;
	const char *via;		/* pseudonym, "mcxproxy" */
	enum forwarded_mode forwarded;
	const char *client_host;	/* "192.0.2.7" or "2001:db8::1" */
	bool client_tls;
	bool strip_identity;		/* drop X-3GPP-Asserted-Identity */
	bool absolute_form;		/* toward a partner proxy (for the writer) */
	const char *identity_field;	/* removed from the request; or NULL */
	const char *identity;		/* its value to add, or NULL */
};

void	headers_rewrite_request(const struct req_rewrite *, struct field_list *);

/* The HTTP/1.1 response head h as a neutral response (spans into h). */
void	headers_response_msg(const struct h1_head *, struct msg_response *);

/*
 * The client response's fields: hop-by-hop fields dropped, Content-Length
 * kept unless the body is streamed (the client's writer frames it), Via
 * "<version> <via>" added.
 */
void	headers_rewrite_response(const struct msg_response *, const char *via,
	    struct field_list *);


#endif
