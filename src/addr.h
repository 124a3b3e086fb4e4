/*
 * addr: "host:port" parsing and formatting, CIDR matching.  Numeric
 * addresses only: the proxy never resolves names on the request path,
 * and config addresses are literal so that -t and startup cannot hang on
 * DNS.
 */
#ifndef MCX_ADDR_H
#define MCX_ADDR_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* An upstream address and its spelling in the configuration, for logs. */
struct target {
	char *spec;		/* as written */
	struct addr addr;
};

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t bytes[16];
	unsigned prefix;
};

/* Parses "1.2.3.4:80", "[::1]:80", "*:80" (any IPv4+IPv6 is "[::]").
 * Returns 0, or -1 with *err set to a static message. */
int	addr_parse(const char *, struct addr *, const char **err);
/* Formats as "1.2.3.4:80" / "[::1]:80" into buf (at least ADDR_STRLEN). */
#define ADDR_STRLEN 64
char	*addr_format(const struct sockaddr *, char *buf, size_t len);
/* Formats only the host part ("1.2.3.4", "::1"). */
char	*addr_format_host(const struct sockaddr *, char *buf, size_t len);
/* Parses "10.0.0.0/24", "::1/128", or a bare address (full-length prefix). */
int	cidr_parse(const char *, struct cidr *, const char **err);
/* True when a and b are the same IPv4 or IPv6 address and port, field by
 * field (a getsockname result carries flow info and padding that a
 * parsed address does not). */
bool	addr_same(const struct sockaddr *a, const struct sockaddr *b);
/* True when sa (v4, v6, or v4-mapped v6) lies inside c. */
bool	cidr_match(const struct cidr *, const struct sockaddr *);

#endif
