/* policy: request shapes the trust domain refuses (see policy.h). */
#include <string.h>
#include <strings.h>

#include "h1.h"
#include "headers.h"
#include "policy.h"

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
policy_is_oauth_exchange(const struct h1_head *h, const struct req_target *t)
{
	const struct h1_field *ct;

	if (t->path_len > t->path_only_len) {
		const char *q = t->path + t->path_only_len + 1;
		size_t n = t->path_len - t->path_only_len - 1;

		if (has_param(q, n, "response_type=") && has_param(q, n, "client_id="))
			return true;
	}
	if (h->method == NULL || strcmp(h->method, "POST") != 0)
		return false;
	ct = h1_find(h, "content-type");
	if (ct == NULL || ct->value_len < 33 || strncasecmp(ct->value,
	    "application/x-www-form-urlencoded", 33) != 0)
		return false;
	return last_segment_starts_with(t->path, t->path_only_len, "token");
}
