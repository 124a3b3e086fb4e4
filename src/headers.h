/*
 * headers: what the proxy changes in a message head on its way through.
 * It splits the request target (origin-, absolute- or asterisk-form),
 * and writes the upstream request head and the client response head:
 * hop-by-hop fields (Connection and every field it names, Keep-Alive,
 * Proxy-Connection, TE, Upgrade, Proxy-Authorization) dropped, framing
 * fields rewritten for the outgoing framing, Host set from the target,
 * Via added, and the client address appended when configured.
 * Authorization and every end-to-end field pass untouched.
 */
#ifndef MCX_HEADERS_H
#define MCX_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "h1.h"
#include "msg.h"

struct evbuffer;

/*
 * The HTTP/1.1 request head h as a neutral request (msg.h): the target
 * split (absolute-form authority, else the Host value; origin-form path and
 * query), the method, the fields and the body framing.  Spans point into
 * h.  Returns 0, or -1 with *why set (answer 400).
 */
int	headers_request_msg(const struct h1_head *, struct msg_request *,
	    const char **why);

struct req_rewrite {
	const struct h1_head *head;
	const struct msg_request *target;
	const char *via;		/* pseudonym, "mcxproxy" */
	enum forwarded_mode forwarded;
	const char *client_host;	/* "192.0.2.7" or "2001:db8::1" */
	bool client_tls;
	bool strip_identity;		/* drop X-3GPP-Asserted-Identity */
	bool absolute_form;		/* toward a partner proxy */
	const char *identity_field;	/* removed from the request; or NULL */
	const char *identity;		/* its value to add, or NULL */
};

/* Appends the upstream request head (always HTTP/1.1). */
void	headers_write_request(struct evbuffer *, const struct req_rewrite *);

/*
 * Appends the client response head for upstream response h.  client_chunked:
 * a chunked or close-delimited upstream body is sent chunked (else raw and
 * the connection closes after it); close: add "Connection: close".
 */
void	headers_write_response(struct evbuffer *, const struct h1_head *,
	    const char *via, bool client_chunked, bool close);

/* True when the field is hop-by-hop for this message (never forwarded). */
bool	headers_is_hop_by_hop(const struct h1_head *, const struct msg_field *);

#endif
