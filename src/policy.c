/* policy: contract section 4 (see policy.h). */
#include <string.h>
#include <strings.h>

#include "host.h"
#include "msg.h"
#include "policy.h"
#include "router.h"

#define CSC1_REFUSAL "identity management (CSC-1) goes directly to the IdM " \
	"server, not through the HTTP proxy"

/* Whether the query (after '?') has a parameter named name ("client_id="). */
static bool
has_param(const char *q, size_t n, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i + len <= n; i++) {
		if ((i == 0 || q[i - 1] == '&') && strncasecmp(q + i, name, len) == 0)
			return true;
	}
	return false;
}

static bool
last_segment_starts_with(const char *path, size_t n, const char *prefix)
{
	size_t i = n, len = strlen(prefix);

	while (i > 0 && path[i - 1] == '/')
		i--;		/* "/token/" counts as "/token" */
	n = i;
	while (i > 0 && path[i - 1] != '/')
		i--;
	return n - i >= len && strncasecmp(path + i, prefix, len) == 0;
}

bool
policy_is_oauth_exchange(const struct msg_request *t)
{
	const struct msg_field *ct;

	if (t->path_len > t->path_only_len) {
		const char *q = t->path + t->path_only_len + 1;
		size_t n = t->path_len - t->path_only_len - 1;

		if (has_param(q, n, "response_type=") && has_param(q, n, "client_id="))
			return true;
	}
	if (t->method == NULL || strcmp(t->method, "POST") != 0)
		return false;
	ct = msg_find(t, "content-type");
	if (ct == NULL || ct->value_len < 33 || strncasecmp(ct->value,
	    "application/x-www-form-urlencoded", 33) != 0)
		return false;
	return last_segment_starts_with(t->path, t->path_only_len, "token");
}

static void
refuse(struct verdict *v, unsigned status, const char *reason, bool close,
    enum verdict_count count)
{
	v->kind = VERDICT_REFUSE;
	v->status = status;
	v->reason = reason;
	v->close = close;
	v->count = count;
}

/*
 * Step 2: what the listener's role allows.  A device may never assert an
 * identity (R10); a trusted entity may (R18); a partner's certificate must
 * name a configured partner, whose asserted_identity policy then applies
 * (R21).  Returns false after refusing.
 */
static bool
listener_allows(const struct policy_in *in, struct verdict *v)
{
	bool asserted = msg_find(in->rq, "x-3gpp-asserted-identity") != NULL;

	switch (in->role) {
	case ROLE_UE:
		if (asserted) {
			refuse(v, 403, "X-3GPP-Asserted-Identity is not accepted "
			    "from devices", false, COUNT_IDENTITY);
			return false;
		}
		return true;
	case ROLE_TRUSTED:
		return true;
	case ROLE_PARTNER:
		if (in->partner == NULL) {
			refuse(v, 403, "the client certificate names no "
			    "configured partner domain", false, COUNT_NONE);
			return false;
		}
		if (asserted && in->partner->asserted_identity == IDENTITY_REJECT) {
			refuse(v, 403, "X-3GPP-Asserted-Identity is not accepted "
			    "from this partner", false, COUNT_IDENTITY);
			return false;
		}
		return true;
	}
	return true;
}

void
policy_decide(const struct policy_in *in, struct verdict *v)
{
	const struct msg_request *rq = in->rq;
	const struct config *c = in->cfg;
	struct route r;

	memset(v, 0, sizeof(*v));
	/* Refusals whose framing is in doubt close the connection. */
	if (rq->method_connect) {
		refuse(v, 405, "CONNECT is not supported: this proxy forwards "
		    "HTTP requests only", true, COUNT_NONE);
		return;
	}
	if (in->target_error != NULL) {
		refuse(v, 400, in->target_error, true, COUNT_NONE);
		return;
	}
	if (!host_normalize(rq->authority, rq->authority_len, v->host,
	    sizeof(v->host))) {
		v->host[0] = '\0';
		refuse(v, 400, "invalid host in the request", true, COUNT_NONE);
		return;
	}
	if (!listener_allows(in, v))
		return;
	if (policy_is_oauth_exchange(rq)) {
		refuse(v, 403, CSC1_REFUSAL, false, COUNT_CSC1);
		return;
	}
	r = router_match(in->router, v->host, rq->path, rq->path_only_len);
	switch (r.kind) {
	case ROUTE_NONE:
		refuse(v, 421, "this proxy does not serve that host", false,
		    COUNT_NONE);
		return;
	case ROUTE_IDM:
		refuse(v, 403, CSC1_REFUSAL, false, COUNT_CSC1);
		return;
	case ROUTE_SERVER:
		v->kind = VERDICT_SERVER;
		break;
	case ROUTE_PARTNER:
		if (in->role == ROLE_PARTNER) {
			refuse(v, 403, "no transit: a partner may only reach "
			    "this domain's own servers", false, COUNT_NONE);
			return;
		}
		v->kind = VERDICT_PARTNER;
		break;
	}
	v->index = r.index;
	if (c->limits.max_body_bytes != 0 && rq->body == MSG_BODY_SIZED &&
	    rq->content_length > c->limits.max_body_bytes) {
		refuse(v, 413, "request body larger than limits.max_body_bytes",
		    true, COUNT_NONE);
		return;
	}
}
