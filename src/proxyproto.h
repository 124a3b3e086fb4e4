/*
 * proxyproto: the PROXY protocol header (versions 1 and 2) that an L4
 * balancer puts in front of a connection to tell the client's address.
 * A pure parser over bytes already received: no I/O, no allocation, so it
 * can be fuzzed and unit-tested alone.  Strict: anything the
 * specification does not allow is refused, never guessed at (a header is
 * a claim about who the client is; a lenient parser is a way to forge it).
 */
#ifndef MCX_PROXYPROTO_H
#define MCX_PROXYPROTO_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest header accepted: a v1 line is at most 107 bytes; a v2
 * header may announce up to 64 KiB of TLVs, but what balancers send
 * (addresses, ALPN, authority, unique id, SSL details) fits well below
 * this, and a connection must not hold more before it is known. */
#define PP_MAX_HEADER	4096
#define PP_V2_SIGLEN	12

/* Why a header was refused: one counter per kind (stats.h). */
enum pp_error {
	PP_ERR_SIGNATURE,	/* neither a v1 nor a v2 signature */
	PP_ERR_V1,		/* a malformed v1 line */
	PP_ERR_V2,		/* a malformed v2 header or TLV */
	PP_ERR_CRC,		/* v2 CRC32C TLV does not match */
	PP_ERR_TOO_LONG,	/* over PP_MAX_HEADER */
	PP_ERR_TIMEOUT,		/* incomplete within timeouts.proxy_header */
	PP_ERR_CLOSED,		/* connection closed before the header ended */
	PP_ERR_ADDRESS,		/* the carried client is not in the listener's allow */
	PP_ERR_N
};

struct pp_header {
	unsigned version;	/* 1 or 2 */
	/* false: v2 LOCAL (the balancer's own connection, e.g. a health
	 * check), v1 UNKNOWN, or a v2 family without an IP address: the
	 * connection's own peer stands. */
	bool has_addr;
	/* v2 LOCAL; v1 UNKNOWN is version 1 without an address. */
	bool local;
	struct sockaddr_storage src, dst;
	socklen_t srclen, dstlen;
	/* v2 TLVs, NUL-terminated where text (cut to fit, bytes outside
	 * printable ASCII as '?': for the log only); empty when absent. */
	char alpn[64];
	char authority[256];
	unsigned char unique_id[128];
	size_t unique_id_len;
	bool crc_checked;
	bool ssl;		/* PP2_TYPE_SSL present */
	bool ssl_client_tls;	/* client connected over TLS */
	bool ssl_client_cert;	/* and presented a certificate... */
	bool ssl_verified;	/* ...that the balancer verified */
	char ssl_version[32];
	char ssl_cn[128];
};

/*
 * Parses the header at the start of buf (len bytes received so far).
 * Returns its length (> 0) with *h filled, 0 when more bytes are needed
 * (every byte so far fits a header), or -1 with *err set.  *why is a
 * static message for the log.
 */
long	pp_parse(const unsigned char *buf, size_t len, struct pp_header *h,
	    enum pp_error *err, const char **why);

/* CRC32C (Castagnoli), as v2's PP2_TYPE_CRC32C uses; exposed for tests. */
uint32_t pp_crc32c(uint32_t crc, const unsigned char *, size_t);

/* The metric label of each error kind. */
const char *pp_error_name(enum pp_error);

#endif
