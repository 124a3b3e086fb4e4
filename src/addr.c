/*
 * addr: "host:port" parsing and formatting, CIDR matching.  Only numeric
 * addresses are accepted (inet_pton), never names: nothing here may block
 * on DNS.  Binding and connecting are the listener's and upstream's.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* Longest host text we parse: a full IPv6 address with an IPv4 tail. */
#define ADDR_HOSTMAX	INET6_ADDRSTRLEN

static int
addr_port(const char *s, unsigned *port)
{
	unsigned v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = v;
	return 0;
}

int
addr_parse(const char *s, struct addr *a, const char **err)
{
	char host[ADDR_HOSTMAX];
	const char *colon, *h;
	size_t hlen;
	unsigned port;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (colon == NULL) {
			*err = "missing \"]\" after an IPv6 address";
			return -1;
		}
		h = s + 1;
		hlen = (size_t)(colon - h);
		colon++;
		if (*colon != ':') {
			*err = "missing port (\"host:port\")";
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			*err = "missing port (\"host:port\")";
			return -1;
		}
		h = s;
		hlen = (size_t)(colon - h);
		if (memchr(h, ':', hlen) != NULL) {
			*err = "IPv6 addresses go in brackets: \"[::1]:80\"";
			return -1;
		}
	}
	if (addr_port(colon + 1, &port) == -1) {
		*err = "port must be a number from 1 to 65535";
		return -1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*err = "missing or overlong host";
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	if (strcmp(host, "*") == 0 && h == s) {
		/* A dual-stack wildcard: IPv4 clients arrive v4-mapped. */
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*sin6);
	} else if (h != s) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*err = "invalid IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			*err = "host must be a numeric IP address "
			    "(names are not resolved)";
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		a->len = sizeof(*sin);
	}
	return 0;
}

/*
 * Writes the host of sa, unmapping v4-mapped IPv6 addresses so that logs
 * and X-Forwarded-For show an IPv4 client as the client knows itself.
 * Returns the port in *port.
 */
static const char *
addr_host(const struct sockaddr *sa, char *buf, size_t len, unsigned *port,
    int *family)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	struct in_addr v4;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		*port = ntohs(sin->sin_port);
		*family = AF_INET;
		return inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)len);
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		*port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], 4);
			*family = AF_INET;
			return inet_ntop(AF_INET, &v4, buf, (socklen_t)len);
		}
		*family = AF_INET6;
		return inet_ntop(AF_INET6, &sin6->sin6_addr, buf,
		    (socklen_t)len);
	default:
		return NULL;
	}
}

char *
addr_format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	unsigned port;
	int family;

	if (addr_host(sa, buf, len, &port, &family) == NULL)
		snprintf(buf, len, "-");
	return buf;
}

char *
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[ADDR_HOSTMAX];
	unsigned port;
	int family;

	if (addr_host(sa, host, sizeof(host), &port, &family) == NULL)
		snprintf(buf, len, "-");
	else if (family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", host, port);
	else
		snprintf(buf, len, "%s:%u", host, port);
	return buf;
}

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/*
 * A v4-mapped IPv6 network (::ffff:10.0.0.0/104) is stored as the IPv4
 * network it names, so both spellings match the same clients, while
 * "::/0" stays "any IPv6 client" and does not swallow IPv4 ones.
 */
int
cidr_parse(const char *s, struct cidr *c, const char **err)
{
	char host[ADDR_HOSTMAX];
	const char *slash;
	size_t hlen, maxbits, i;
	unsigned long prefix;
	char *end;

	memset(c, 0, sizeof(*c));
	slash = strchr(s, '/');
	hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(host)) {
		*err = "missing or overlong address";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, c->bytes) == 1) {
		c->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, host, c->bytes) == 1) {
		c->family = AF_INET6;
		maxbits = 128;
	} else {
		*err = "not a numeric IPv4 or IPv6 address";
		return -1;
	}
	prefix = maxbits;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9') {
			*err = "prefix length must be a number";
			return -1;
		}
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > maxbits) {
			*err = c->family == AF_INET ?
			    "prefix length must be from 0 to 32" :
			    "prefix length must be from 0 to 128";
			return -1;
		}
	}
	if (c->family == AF_INET6 && prefix >= 96 &&
	    memcmp(c->bytes, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(c->bytes, c->bytes + 12, 4);
		memset(c->bytes + 4, 0, 12);
		c->family = AF_INET;
		prefix -= 96;
		maxbits = 32;
	}
	c->prefix = (unsigned)prefix;
	/* Host bits are cleared: "10.0.0.1/24" is the network 10.0.0.0/24. */
	for (i = 0; i < maxbits / 8; i++) {
		if (i * 8 >= prefix)
			c->bytes[i] = 0;
		else if (i * 8 + 8 > prefix)
			c->bytes[i] &= (uint8_t)(0xff00 >> (prefix - i * 8));
	}
	return 0;
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const uint8_t *p;
	unsigned full, rest;

	if (sa->sa_family == AF_INET) {
		if (c->family != AF_INET)
			return false;
		p = (const uint8_t *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			if (c->family != AF_INET)
				return false;
			p = a6->s6_addr + 12;
		} else {
			if (c->family != AF_INET6)
				return false;
			p = a6->s6_addr;
		}
	} else
		return false;

	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(p, c->bytes, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((p[full] ^ c->bytes[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

bool
addr_same(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    x->sin6_scope_id == y->sin6_scope_id &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}
