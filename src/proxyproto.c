/* proxyproto: PROXY protocol v1/v2 header parser (see proxyproto.h). */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "proxyproto.h"

static const unsigned char v2sig[PP_V2_SIGLEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
#define V1_PREFIX	"PROXY "
#define V1_MAX		107	/* the longest v1 line, CRLF included */
#define V2_FIXED	16

/* v2 TLV types (the specification's PP2_TYPE_* and PP2_SUBTYPE_SSL_*). */
enum {
	TLV_ALPN = 0x01, TLV_AUTHORITY = 0x02, TLV_CRC32C = 0x03,
	TLV_NOOP = 0x04, TLV_UNIQUE_ID = 0x05, TLV_SSL = 0x20,
	TLV_SSL_VERSION = 0x21, TLV_SSL_CN = 0x22
};
#define SSL_CLIENT_SSL		0x01
#define SSL_CLIENT_CERT_CONN	0x02
#define SSL_CLIENT_CERT_SESS	0x04

static const char *const error_names[PP_ERR_N] = {
	[PP_ERR_SIGNATURE] = "signature", [PP_ERR_V1] = "v1",
	[PP_ERR_V2] = "v2", [PP_ERR_CRC] = "crc", [PP_ERR_TOO_LONG] = "too_long",
	[PP_ERR_TIMEOUT] = "timeout", [PP_ERR_CLOSED] = "closed",
	[PP_ERR_ADDRESS] = "address",
};

const char *
pp_error_name(enum pp_error e)
{
	return (unsigned)e < PP_ERR_N ? error_names[e] : "unknown";
}

uint32_t
pp_crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
	/* Bitwise: headers are short and carry a CRC rarely; a table would
	 * cost more code than the time it saves here. */
	crc = ~crc;
	while (n-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static long
fail(enum pp_error *err, const char **why, enum pp_error e, const char *msg)
{
	*err = e;
	*why = msg;
	return -1;
}

/* A decimal port: 1-5 digits, no leading zero, at most 65535. */
static bool
v1_port(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

static bool
v1_addr(int family, const char *s, size_t n, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return inet_pton(AF_INET, tmp, &sin->sin_addr) == 1;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	*len = sizeof(*sin6);
	return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1;
}

/*
 * "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", TCP6 alike, or
 * "PROXY UNKNOWN ...\r\n".  Single spaces, nothing else.
 */
static long
parse_v1(const unsigned char *buf, size_t len, struct pp_header *h,
    enum pp_error *err, const char **why)
{
	const char *tok[6];
	size_t toklen[6], ntok = 0, end = 0, i;
	int family;
	uint16_t sport, dport;

	for (i = 0; i < len && i < V1_MAX; i++) {
		if (buf[i] == '\r') {
			if (i + 1 == len)
				return 0;
			if (buf[i + 1] != '\n')
				return fail(err, why, PP_ERR_V1, "v1: CR without LF");
			end = i;
			break;
		}
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return fail(err, why, PP_ERR_V1, "v1: a control or "
			    "non-ASCII byte in the line");
	}
	if (i == len && len < V1_MAX)
		return 0;
	if (end == 0 || end + 2 > V1_MAX)
		return fail(err, why, PP_ERR_V1, "v1: no CRLF within 107 bytes");
	h->version = 1;
	/* Tokens between single spaces; the first is "PROXY". */
	for (i = 0; i <= end && ntok < 6; ) {
		size_t j = i;

		while (j < end && buf[j] != ' ')
			j++;
		tok[ntok] = (const char *)buf + i;
		toklen[ntok++] = j - i;
		if (j == end)
			break;
		i = j + 1;
	}
	if (ntok >= 2 && toklen[1] == 7 && memcmp(tok[1], "UNKNOWN", 7) == 0) {
		/* The balancer does not know the client: anything may
		 * follow, and the connection's own peer stands. */
		h->has_addr = false;
		return (long)end + 2;
	}
	if (ntok != 6 || tok[5] + toklen[5] != (const char *)buf + end)
		return fail(err, why, PP_ERR_V1, "v1: not \"PROXY TCP4|TCP6 "
		    "src dst sport dport\"");
	for (i = 0; i < 6; i++)
		if (toklen[i] == 0)
			return fail(err, why, PP_ERR_V1, "v1: an empty field "
			    "(two spaces)");
	if (toklen[1] == 4 && memcmp(tok[1], "TCP4", 4) == 0)
		family = AF_INET;
	else if (toklen[1] == 4 && memcmp(tok[1], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return fail(err, why, PP_ERR_V1, "v1: protocol is not TCP4, "
		    "TCP6 or UNKNOWN");
	if (!v1_port(tok[4], toklen[4], &sport) ||
	    !v1_port(tok[5], toklen[5], &dport))
		return fail(err, why, PP_ERR_V1, "v1: bad port");
	if (!v1_addr(family, tok[2], toklen[2], sport, &h->src, &h->srclen) ||
	    !v1_addr(family, tok[3], toklen[3], dport, &h->dst, &h->dstlen))
		return fail(err, why, PP_ERR_V1, "v1: bad address for the "
		    "protocol");
	h->has_addr = true;
	return (long)end + 2;
}

static void
v2_inet(const unsigned char *a, struct pp_header *h)
{
	struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
	struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;

	memset(&h->src, 0, sizeof(h->src));
	memset(&h->dst, 0, sizeof(h->dst));
	s->sin_family = d->sin_family = AF_INET;
	memcpy(&s->sin_addr, a, 4);
	memcpy(&d->sin_addr, a + 4, 4);
	memcpy(&s->sin_port, a + 8, 2);
	memcpy(&d->sin_port, a + 10, 2);
	h->srclen = h->dstlen = sizeof(*s);
}

static void
v2_inet6(const unsigned char *a, struct pp_header *h)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src;
	struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h->dst;

	memset(&h->src, 0, sizeof(h->src));
	memset(&h->dst, 0, sizeof(h->dst));
	s->sin6_family = d->sin6_family = AF_INET6;
	memcpy(&s->sin6_addr, a, 16);
	memcpy(&d->sin6_addr, a + 16, 16);
	memcpy(&s->sin6_port, a + 32, 2);
	memcpy(&d->sin6_port, a + 34, 2);
	h->srclen = h->dstlen = sizeof(*s);
}

/*
 * Keeps a text TLV for the log: cut to fit, bytes outside printable ASCII
 * as '?'.  These values are informational only (nothing decides on them),
 * so a long ALPN or a UTF-8 certificate name must not refuse the
 * connection; the TLV's structure has been checked already.
 */
static void
tlv_text(char *dst, size_t size, const unsigned char *v, size_t n)
{
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = v[i] >= 0x20 && v[i] <= 0x7e ? (char)v[i] : '?';
	dst[n] = '\0';
}

/* PP2_TYPE_SSL: client flags, verify result, then sub-TLVs. */
static bool
tlv_ssl(const unsigned char *v, size_t n, struct pp_header *h)
{
	size_t off = 5;

	if (n < 5)
		return false;
	h->ssl = true;
	h->ssl_client_tls = (v[0] & SSL_CLIENT_SSL) != 0;
	h->ssl_client_cert = (v[0] & (SSL_CLIENT_CERT_CONN |
	    SSL_CLIENT_CERT_SESS)) != 0;
	h->ssl_verified = h->ssl_client_cert && v[1] == 0 && v[2] == 0 &&
	    v[3] == 0 && v[4] == 0;
	while (off < n) {
		size_t sl;

		if (n - off < 3)
			return false;
		sl = (size_t)v[off + 1] << 8 | v[off + 2];
		if (sl > n - off - 3)
			return false;
		if (v[off] == TLV_SSL_VERSION)
			tlv_text(h->ssl_version, sizeof(h->ssl_version),
			    v + off + 3, sl);
		if (v[off] == TLV_SSL_CN)
			tlv_text(h->ssl_cn, sizeof(h->ssl_cn), v + off + 3, sl);
		off += 3 + sl;
	}
	return true;
}

static long
parse_v2(const unsigned char *buf, size_t len, struct pp_header *h,
    enum pp_error *err, const char **why)
{
	size_t total, body, addrlen, off;
	unsigned cmd, fam;
	size_t crc_at = 0;

	if (len < V2_FIXED)
		return 0;
	if ((buf[12] >> 4) != 2)
		return fail(err, why, PP_ERR_V2, "v2: version is not 2");
	cmd = buf[12] & 0x0f;
	if (cmd > 1)
		return fail(err, why, PP_ERR_V2, "v2: command is neither LOCAL "
		    "nor PROXY");
	fam = buf[13];
	body = (size_t)buf[14] << 8 | buf[15];
	total = V2_FIXED + body;
	if (total > PP_MAX_HEADER)
		return fail(err, why, PP_ERR_TOO_LONG, "v2: header longer "
		    "than 4096 bytes");
	if (len < total)
		return 0;
	h->version = 2;
	switch (fam) {
	case 0x00: addrlen = 0; break;		/* UNSPEC */
	case 0x11: addrlen = 12; break;		/* TCP over IPv4 */
	case 0x21: addrlen = 36; break;		/* TCP over IPv6 */
	case 0x31: addrlen = 216; break;	/* UNIX stream */
	case 0x12: case 0x22: case 0x32:
		/* Datagram families on a stream connection: a balancer
		 * that says so is misconfigured or lying. */
		return fail(err, why, PP_ERR_V2, "v2: a datagram family on a "
		    "stream listener");
	default:
		return fail(err, why, PP_ERR_V2, "v2: unknown address family");
	}
	if (body < addrlen)
		return fail(err, why, PP_ERR_V2, "v2: length shorter than its "
		    "address block");
	/* LOCAL: the balancer's own connection; its addresses (if any)
	 * are ignored and the real peer stands, as the specification says. */
	h->local = cmd == 0;
	h->has_addr = cmd == 1 && (fam == 0x11 || fam == 0x21);
	if (h->has_addr && fam == 0x11)
		v2_inet(buf + V2_FIXED, h);
	else if (h->has_addr)
		v2_inet6(buf + V2_FIXED, h);
	for (off = V2_FIXED + addrlen; off < total; ) {
		const unsigned char *v;
		size_t tl;

		if (total - off < 3)
			return fail(err, why, PP_ERR_V2, "v2: truncated TLV");
		tl = (size_t)buf[off + 1] << 8 | buf[off + 2];
		if (tl > total - off - 3)
			return fail(err, why, PP_ERR_V2, "v2: TLV overruns the "
			    "header");
		v = buf + off + 3;
		switch (buf[off]) {
		case TLV_ALPN:
			tlv_text(h->alpn, sizeof(h->alpn), v, tl);
			break;
		case TLV_AUTHORITY:
			tlv_text(h->authority, sizeof(h->authority), v, tl);
			break;
		case TLV_CRC32C:
			if (tl != 4 || crc_at != 0)
				return fail(err, why, PP_ERR_V2, "v2: bad or "
				    "repeated CRC32C TLV");
			crc_at = off + 3;
			break;
		case TLV_UNIQUE_ID:
			if (tl > sizeof(h->unique_id))
				return fail(err, why, PP_ERR_V2, "v2: unique id "
				    "over 128 bytes");
			memcpy(h->unique_id, v, tl);
			h->unique_id_len = tl;
			break;
		case TLV_SSL:
			if (!tlv_ssl(v, tl, h))
				return fail(err, why, PP_ERR_V2, "v2: bad SSL TLV");
			break;
		default:
			/* NOOP, NETNS, custom and future types: skipped, as
			 * the specification asks of receivers. */
			break;
		}
		off += 3 + tl;
	}
	if (crc_at != 0) {
		static const unsigned char zero[4];
		uint32_t want = (uint32_t)buf[crc_at] << 24 |
		    (uint32_t)buf[crc_at + 1] << 16 |
		    (uint32_t)buf[crc_at + 2] << 8 | buf[crc_at + 3];
		uint32_t got;

		/* The checksum covers the whole header with its own
		 * field zeroed. */
		got = pp_crc32c(0, buf, crc_at);
		got = pp_crc32c(got, zero, 4);
		got = pp_crc32c(got, buf + crc_at + 4, total - crc_at - 4);
		if (got != want)
			return fail(err, why, PP_ERR_CRC, "v2: CRC32C mismatch");
		h->crc_checked = true;
	}
	return (long)total;
}

long
pp_parse(const unsigned char *buf, size_t len, struct pp_header *h,
    enum pp_error *err, const char **why)
{
	size_t n;

	memset(h, 0, sizeof(*h));
	if (len == 0)
		return 0;
	if (buf[0] == 'P') {
		n = len < sizeof(V1_PREFIX) - 1 ? len : sizeof(V1_PREFIX) - 1;
		if (memcmp(buf, V1_PREFIX, n) != 0)
			return fail(err, why, PP_ERR_SIGNATURE, "no PROXY "
			    "protocol signature");
		if (n < sizeof(V1_PREFIX) - 1)
			return 0;
		return parse_v1(buf, len, h, err, why);
	}
	n = len < PP_V2_SIGLEN ? len : PP_V2_SIGLEN;
	if (memcmp(buf, v2sig, n) != 0)
		return fail(err, why, PP_ERR_SIGNATURE, "no PROXY protocol "
		    "signature");
	return parse_v2(buf, len, h, err, why);
}
