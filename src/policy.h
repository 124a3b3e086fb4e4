/*
 * policy: contract section 4 as one pure function.  policy_decide() takes
 * a protocol-neutral request (msg.h) with what is known of who sent it
 * (listener role, partner) and returns a verdict: forward to an own
 * server or a partner's proxy, or refuse with a status.  It answers no
 * one, counts nothing and keeps no state, so that every protocol's codec
 * gets the same rules applied the same way, and tables of cases test it.
 * The router answers "where does this authority go"; policy adds who may
 * ask, and the request shapes refused whatever their destination.
 */
#ifndef MCX_POLICY_H
#define MCX_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct msg_request;
struct router;

struct policy_in {
	const struct config *cfg;
	const struct router *router;
	enum listener_role role;
	/* Partner listener: the partner the client certificate names, or
	 * NULL when it names none. */
	const struct partner_conf *partner;
	const struct msg_request *rq;
	/* The codec could not split the request target: why (400). */
	const char *target_error;
};

enum verdict_kind {
	VERDICT_SERVER,		/* forward over own server `index`'s pool */
	VERDICT_PARTNER,	/* forward to partner `index`'s proxy */
	VERDICT_REFUSE,		/* answer `status` */
};

/* Which refusal counter the caller adds to (metrics). */
enum verdict_count {
	COUNT_NONE,
	COUNT_IDENTITY,		/* asserted identity refused (R10, R21) */
	COUNT_CSC1,		/* identity management refused (CSC-1) */
};

struct verdict {
	enum verdict_kind kind;
	size_t index;
	unsigned status;		/* VERDICT_REFUSE */
	const char *reason;		/* ... for the body and the log */
	bool close;			/* ... and the connection ends after it */
	enum verdict_count count;
	char host[256];			/* the normalised authority host, or "" */
};

/* Steps 1 to 6, in order, and the body limit. */
void	policy_decide(const struct policy_in *, struct verdict *);

/*
 * True for the shape of an OIDC/OAuth exchange, which is CSC-1 and must go
 * directly to the IdM server: a query with both response_type= and
 * client_id= parameters (an authorization request), or a form POST
 * (application/x-www-form-urlencoded) to a path whose last segment starts
 * with "token" (a token request).
 */
bool	policy_is_oauth_exchange(const struct msg_request *);

#endif
