/*
 * tls: OpenSSL contexts built from the configuration, once per
 * configuration load (never on the request path).  Server contexts follow
 * the 3GPP TLS profile (TS 33.210 6.2 via TS 33.310 Annex E): TLS 1.2 and
 * 1.3 only, AEAD cipher suites with ephemeral key exchange, no
 * compression, no renegotiation, no 0-RTT.  Client contexts (toward
 * upstreams) verify the peer against the configured CA and name.
 */
#ifndef MCX_TLS_H
#define MCX_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct ssl_ctx_st;
struct ssl_st;

/* Errors go to errs as "FILE:LINE: ..." using the conf's line. */
struct ssl_ctx_st *tls_server_ctx_new(const struct tls_server_conf *,
	    const char *file, struct errlist *errs);
struct ssl_ctx_st *tls_client_ctx_new(const struct tls_client_conf *,
	    const char *file, struct errlist *errs);
void	tls_ctx_free(struct ssl_ctx_st *);

/* Sets SNI and the expected peer name on a new client connection, and
 * the ALPN offer: "h2" alone for HTTP/2, else the context's http/1.1. */
int	tls_client_prepare(struct ssl_st *, const struct tls_client_conf *,
	    bool h2);
/* The server selected ALPN "h2" in the handshake. */
bool	tls_alpn_is_h2(const struct ssl_st *);

/*
 * Who the peer authenticated as, for the access log: "psk:IDENTITY" after
 * a PSK handshake, else the verified certificate's first subjectAltName
 * URI or DNS name, else its subject CN; "" for an anonymous client.
 */
void	tls_peer_name(const struct ssl_st *, char *buf, size_t len);
/* True when the verified peer certificate has a subjectAltName DNS name
 * equal to domain or inside it ("proxy.mcx.partner.example" for
 * "mcx.partner.example"). */
bool	tls_peer_in_domain(const struct ssl_st *, const char *domain);

/* "TLSv1.3" etc., or "-" without TLS. */
const char *tls_version(const struct ssl_st *);
/* The metrics' reason (enum stats_tls_failure) for a failed server
 * handshake, from its first OpenSSL error (0: the client just closed). */
int	tls_failure_reason(unsigned long err);

#endif
