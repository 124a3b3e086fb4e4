/* host: host names as requests and the configuration spell them (see host.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "host.h"

static bool
is_namechar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool
host_normalize(const char *in, size_t len, char *out, size_t outlen)
{
	const char *end = in + len, *port, *p;
	char a6[INET6_ADDRSTRLEN];
	struct in6_addr in6;
	size_t n, i, label;
	unsigned v;

	if (len == 0 || outlen == 0)
		return false;
	if (in[0] == '[') {
		p = memchr(in, ']', len);
		if (p == NULL || (size_t)(p - in - 1) >= sizeof(a6))
			return false;
		memcpy(a6, in + 1, (size_t)(p - in - 1));
		a6[p - in - 1] = '\0';
		/* Canonical text, so that "[0::1]" and "[::1]" are one host. */
		if (inet_pton(AF_INET6, a6, &in6) != 1 ||
		    inet_ntop(AF_INET6, &in6, a6, sizeof(a6)) == NULL ||
		    (size_t)snprintf(out, outlen, "[%s]", a6) >= outlen)
			return false;
		port = p + 1;
	} else {
		if ((port = memchr(in, ':', len)) == NULL)
			port = end;
		n = (size_t)(port - in);
		if (n > 0 && in[n - 1] == '.')
			n--;
		if (n == 0 || n > 253 || n >= outlen)
			return false;
		for (i = 0, label = 0; i < n; i++) {
			if (in[i] == '.' && label == 0)
				return false;
			else if (in[i] == '.')
				label = 0;
			else if (!is_namechar(in[i]) || ++label > 63)
				return false;
			out[i] = in[i] >= 'A' && in[i] <= 'Z' ?
			    (char)(in[i] - 'A' + 'a') : in[i];
		}
		if (label == 0)
			return false;
		out[n] = '\0';
	}
	if (port == end)
		return true;
	if (*port != ':')
		return false;
	/* An empty port ("host:") is allowed by RFC 3986. */
	for (p = port + 1, v = 0; p < end; p++)
		if (*p < '0' || *p > '9' ||
		    (v = v * 10 + (unsigned)(*p - '0')) > 65535)
			return false;
	return true;
}

bool
host_match(const char *pattern, const char *host)
{
	size_t plen, hlen;

	if (pattern[0] == '*' && pattern[1] == '.') {
		/* ".suffix" must follow at least one label of host. */
		plen = strlen(pattern + 1);
		hlen = strlen(host);
		return hlen > plen &&
		    strcasecmp(host + hlen - plen, pattern + 1) == 0;
	}
	return strcasecmp(pattern, host) == 0;
}
