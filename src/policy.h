/*
 * policy: trust-domain rules that look at a request beyond its
 * destination (contract section 4, steps 2 and 3).  The router answers
 * "where does this authority go"; this module answers "does the request's
 * shape make it one the proxy must refuse whatever its destination".
 */
#ifndef MCX_POLICY_H
#define MCX_POLICY_H

#include <stdbool.h>

struct h1_head;
struct req_target;

/*
 * True for the shape of an OIDC/OAuth exchange, which is CSC-1 and must go
 * directly to the IdM server: a query with both response_type= and
 * client_id= parameters (an authorization request), or a form POST
 * (application/x-www-form-urlencoded) to a path whose last segment starts
 * with "token" (a token request).
 */
bool	policy_is_oauth_exchange(const struct h1_head *, const struct req_target *);

#endif
