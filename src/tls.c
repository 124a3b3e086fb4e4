/*
 * tls: SSL_CTX construction (see tls.h).  Certificate and key problems are
 * reported at load time, with the config line, so `mcxproxy -t` catches a
 * key that does not match its certificate before a restart does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "psk.h"
#include "sni.h"
#include "stats.h"
#include "ticket.h"
#include "tls.h"
#include "xalloc.h"

/* TLS 1.2: ECDHE with AEAD only (TS 33.210 6.2.3). */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/* TLS 1.3: the RFC 8446 suites; CCM suites are not in the profile. */
static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
    "TLS_CHACHA20_POLY1305_SHA256";
/* With a PSK file: (EC)DHE-PSK AEAD suites, and PSK-AES-GCM for clients
 * without ephemeral key exchange (TS 33.310 Annex E as far as OpenSSL has
 * the suites; OpenSSL has no ECDHE-PSK with AES-GCM). */
static const char tls12_psk_ciphers[] =
    "ECDHE-PSK-CHACHA20-POLY1305:DHE-PSK-AES128-GCM-SHA256:"
    "DHE-PSK-AES256-GCM-SHA384:DHE-PSK-CHACHA20-POLY1305:"
    "PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:";
/* secp256r1 mandatory, X25519 and secp384r1 recommended. */
static const char tls_groups[] = "X25519:P-256:P-384";
/* Signatures: the RFC 8446 set plus ecdsa_secp384r1_sha384 (TS 33.210
 * 6.2.2); nothing with SHA-1 or SHA-224. */
static const char tls_sigalgs[] =
    "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512:"
    "ed25519:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:"
    "rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512:"
    "rsa_pkcs1_sha256:rsa_pkcs1_sha384:rsa_pkcs1_sha512";

static void
add_ssl_error(struct errlist *errs, const char *file, int line,
    const char *what, const char *path)
{
	char buf[256] = "";
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	errlist_add(errs, file, line, "%s \"%s\": %s", what, path ? path : "",
	    buf[0] ? buf : "unknown OpenSSL error");
}

static SSL_CTX *
ctx_common(const SSL_METHOD *method, const char *file, int line,
    struct errlist *errs)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (ctx == NULL) {
		add_ssl_error(errs, file, line, "cannot create TLS context", "");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, tls_groups) != 1 ||
	    SSL_CTX_set1_sigalgs_list(ctx, tls_sigalgs) != 1) {
		add_ssl_error(errs, file, line, "cannot apply the TLS profile", "");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Release read buffers of idle connections: memory per idle TLS
	 * connection matters with thousands of devices attached. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/* The certificate chain (leaf first) and its key, which must match. */
static void
load_cert_key(SSL_CTX *ctx, const char *cert, const char *key,
    const char *file, int line, struct errlist *errs)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		add_ssl_error(errs, file, line, "cannot load certificate chain", cert);
	else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		add_ssl_error(errs, file, line, "cannot load private key", key);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		add_ssl_error(errs, file, line,
		    "private key does not match the certificate", key);
}

/* A listener's ALPN protocols, in its order of preference (wire form). */
struct alpn_list {
	const unsigned char *p;
	unsigned len;
	bool h1;		/* http/1.1 is among them */
};

static const struct alpn_list alpn_h1 = {
	(const unsigned char *)"\x08http/1.1", 9, true };
static const struct alpn_list alpn_h2_h1 = {
	(const unsigned char *)"\x02h2\x08http/1.1", 12, true };
static const struct alpn_list alpn_h1_h2 = {
	(const unsigned char *)"\x08http/1.1\x02h2", 12, true };
static const struct alpn_list alpn_h2 = {
	(const unsigned char *)"\x02h2", 3, false };

static const struct alpn_list *
alpn_of(const struct tls_server_conf *c)
{
	if (!c->alpn_h2)
		return &alpn_h1;
	if (!c->alpn_h1)
		return &alpn_h2;
	return c->alpn_h2_first ? &alpn_h2_h1 : &alpn_h1_h2;
}

/*
 * ALPN: the listener's first protocol the client offers.  When none is
 * and http/1.1 is the listener's, go on without ALPN (as nginx and
 * HAProxy do), so an "http/1.0"-only client is still served; an h2-only
 * listener refuses the handshake (no_application_protocol).
 */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned inlen, void *arg)
{
	const struct alpn_list *l = arg;

	(void)ssl;
	if (SSL_select_next_proto((unsigned char **)(uintptr_t)out, outlen,
	    l->p, l->len, in, inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return l->h1 ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Where a listener context keeps its PSK table, and a connection the PSK
 * identity it authenticated with. */
static int psk_table_index = -1;
static int psk_identity_index = -1;

static void
free_identity(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	free(ptr);
}

static void
remember_identity(SSL *ssl, const char *id, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return;
	memcpy(copy, id, len);
	copy[len] = '\0';
	free(SSL_get_ex_data(ssl, psk_identity_index));
	if (SSL_set_ex_data(ssl, psk_identity_index, copy) != 1)
		free(copy);
}

static const struct psk_table *
psk_table_of(SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), psk_table_index);
}

/* TLS 1.2 PSK suites. */
static unsigned int
psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk,
    unsigned int max)
{
	const struct psk_table *t = psk_table_of(ssl);
	const unsigned char *key;
	size_t len;

	if (t == NULL || identity == NULL ||
	    (key = psk_find(t, identity, strlen(identity), &len)) == NULL ||
	    len > max)
		return 0;
	memcpy(psk, key, len);
	remember_identity(ssl, identity, strlen(identity));
	return (unsigned int)len;
}

/* TLS 1.3 external PSK (with (EC)DHE: OpenSSL refuses psk_ke by default). */
static int
psk_find_session_cb(SSL *ssl, const unsigned char *identity, size_t idlen,
    SSL_SESSION **sess)
{
	static const unsigned char aes128gcm_sha256[] = { 0x13, 0x01 };
	const struct psk_table *t = psk_table_of(ssl);
	const unsigned char *key;
	const SSL_CIPHER *cipher;
	SSL_SESSION *s;
	size_t len;

	*sess = NULL;
	if (t == NULL || (key = psk_find(t, (const char *)identity, idlen,
	    &len)) == NULL)
		return 1;	/* unknown: the handshake goes on with certificates */
	cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);
	s = SSL_SESSION_new();
	if (cipher == NULL || s == NULL ||
	    SSL_SESSION_set1_master_key(s, key, len) != 1 ||
	    SSL_SESSION_set_cipher(s, cipher) != 1 ||
	    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
		SSL_SESSION_free(s);
		return 0;
	}
	remember_identity(ssl, (const char *)identity, idlen);
	*sess = s;
	return 1;
}

static int
enable_psk(SSL_CTX *ctx, const struct tls_server_conf *c, const char *file,
    struct errlist *errs)
{
	struct psk_table *t;
	char ciphers[sizeof(tls12_ciphers) + sizeof(tls12_psk_ciphers)];

	if (psk_table_index < 0) {
		psk_table_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		psk_identity_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    free_identity);
	}
	if ((t = psk_load(c->psk, errs)) == NULL)
		return -1;
	/* PSK suites first: a client that offers them means to use its key
	 * (certificate-only clients offer none and are not affected). */
	snprintf(ciphers, sizeof(ciphers), "%s%s", tls12_psk_ciphers,
	    tls12_ciphers);
	if (SSL_CTX_set_ex_data(ctx, psk_table_index, t) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, ciphers) != 1 ||
	    SSL_CTX_set_dh_auto(ctx, 1) != 1) {
		psk_free(t);
		SSL_CTX_set_ex_data(ctx, psk_table_index, NULL);
		add_ssl_error(errs, file, c->line, "cannot enable PSK", c->psk);
		return -1;
	}
	SSL_CTX_set_psk_server_callback(ctx, psk_server_cb);
	SSL_CTX_set_psk_find_session_callback(ctx, psk_find_session_cb);
	return 0;
}

/* Client certificates are checked against these CRLs (leaf and chain). */
static void
load_crl(SSL_CTX *ctx, const struct tls_server_conf *c, const char *file,
    struct errlist *errs)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lu = X509_STORE_add_lookup(st, X509_LOOKUP_file());

	if (lu == NULL || X509_load_crl_file(lu, c->crl, X509_FILETYPE_PEM) <= 0) {
		add_ssl_error(errs, file, c->line, "cannot load CRL", c->crl);
		return;
	}
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
}

/* The stapled OCSP response: DER bytes read once, sent to every client
 * that asks (status_request).  Refreshing it means a restart (or, later,
 * a reload). */
struct ocsp_staple {
	unsigned char *der;
	long len;
};

static int ocsp_index = -1;

static void
free_staple(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct ocsp_staple *o = ptr;

	if (o != NULL)
		free(o->der);
	free(o);
}

static int
ocsp_status_cb(SSL *ssl, void *arg)
{
	const struct ocsp_staple *o = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
	    ocsp_index);
	unsigned char *copy;

	if (o == NULL || SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp)
		return SSL_TLSEXT_ERR_NOACK;
	/* OpenSSL frees what it is given. */
	if ((copy = OPENSSL_memdup(o->der, (size_t)o->len)) == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, o->len) != 1) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

static void
load_ocsp(SSL_CTX *ctx, const struct tls_server_conf *c, const char *file,
    struct errlist *errs)
{
	struct ocsp_staple *o = xcalloc(1, sizeof(*o));
	FILE *f = fopen(c->ocsp_response, "rb");
	unsigned char buf[65536];
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
	}
	/* A DER OCSPResponse is a SEQUENCE. */
	if (n < 8 || buf[0] != 0x30) {
		errlist_add(errs, file, c->line, "ocsp_response \"%s\" is not a "
		    "DER OCSP response (openssl ocsp -respout FILE)",
		    c->ocsp_response);
		free(o);
		return;
	}
	o->der = xmalloc(n);
	memcpy(o->der, buf, n);
	o->len = (long)n;
	if (ocsp_index < 0)
		ocsp_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    free_staple);
	if (SSL_CTX_set_ex_data(ctx, ocsp_index, o) != 1) {
		free_staple(NULL, o, NULL, 0, 0, NULL);
		add_ssl_error(errs, file, c->line, "cannot staple",
		    c->ocsp_response);
		return;
	}
	SSL_CTX_set_tlsext_status_cb(ctx, ocsp_status_cb);
}

static void
enable_tickets(SSL_CTX *ctx, const struct tls_server_conf *c,
    const char *file, struct errlist *errs)
{
	struct ticket_keys *k = ticket_keys_new(c->ticket_key_file,
	    c->ticket_rotation, file, c->line, errs);

	if (k == NULL)
		return;
	if (ticket_install(ctx, k) < 0) {
		ticket_keys_free(k);
		add_ssl_error(errs, file, c->line, "cannot set session ticket keys",
		    c->ticket_key_file);
	}
}

/*
 * More certificates, chosen by SNI: one context per certificate, built
 * with the listener's own settings, reached through the first context's
 * servername callback.
 */
static void
enable_sni(SSL_CTX *ctx, const struct tls_server_conf *c, const char *file,
    struct errlist *errs)
{
	struct sni_table *t = sni_table_new(c->sni_strict);

	sni_add(t, ctx, false);
	for (size_t i = 0; i < c->ncertificates; i++) {
		struct tls_server_conf one = *c;
		SSL_CTX *extra;

		one.certificate = c->certificates[i].certificate;
		one.key = c->certificates[i].key;
		one.line = c->certificates[i].line;
		one.certificates = NULL;
		one.ncertificates = 0;
		one.sni_strict = false;
		if ((extra = tls_server_ctx_new(&one, file, errs)) != NULL)
			sni_add(t, extra, true);
	}
	if (sni_install(ctx, t) < 0) {
		sni_table_free(t);
		add_ssl_error(errs, file, c->line, "cannot choose certificates "
		    "by server name", "");
	}
}

SSL_CTX *
tls_server_ctx_new(const struct tls_server_conf *c, const char *file,
    struct errlist *errs)
{
	SSL_CTX *ctx;
	unsigned before = errs->count;

	ctx = ctx_common(TLS_server_method(), file, c->line, errs);
	if (ctx == NULL)
		return NULL;
	load_cert_key(ctx, c->certificate, c->key, file, c->line, errs);
	if (c->client_ca != NULL) {
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(ctx, c->client_ca, NULL) != 1)
			add_ssl_error(errs, file, c->line,
			    "cannot load client CA", c->client_ca);
		else if ((names = SSL_load_client_CA_file(c->client_ca)) != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	switch (c->client_auth) {
	case CLIENT_AUTH_NONE:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		break;
	case CLIENT_AUTH_OPTIONAL:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		break;
	case CLIENT_AUTH_REQUIRED:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		break;
	}
	if (c->psk != NULL)
		enable_psk(ctx, c, file, errs);
	if (c->crl != NULL)
		load_crl(ctx, c, file, errs);
	if (c->ocsp_response != NULL)
		load_ocsp(ctx, c, file, errs);
	enable_tickets(ctx, c, file, errs);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select,
	    (void *)(uintptr_t)alpn_of(c));
	/* Read-ahead is set per connection (conn.c), which reads what
	 * OpenSSL holds whenever reading is on. */
	/* No early data: KMS POSTs are not idempotent (RFC 8446 section 8). */
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mcxproxy", 8);
	if (errs->count == before &&
	    (c->ncertificates > 0 || c->sni_strict))
		enable_sni(ctx, c, file, errs);
	if (errs->count != before) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *
tls_client_ctx_new(const struct tls_client_conf *c, const char *file,
    struct errlist *errs)
{
	SSL_CTX *ctx;
	unsigned before = errs->count;

	ctx = ctx_common(TLS_client_method(), file, c->line, errs);
	if (ctx == NULL)
		return NULL;
	if (c->ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, c->ca, NULL) != 1)
			add_ssl_error(errs, file, c->line, "cannot load CA", c->ca);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		add_ssl_error(errs, file, c->line, "cannot load the system CA store", "");
	if (c->certificate != NULL)
		load_cert_key(ctx, c->certificate, c->key, file, c->line, errs);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9) != 0)
		add_ssl_error(errs, file, c->line, "cannot set ALPN", "");
	if (errs->count != before) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	if (ctx != NULL && psk_table_index >= 0)
		psk_free(SSL_CTX_get_ex_data(ctx, psk_table_index));
	SSL_CTX_free(ctx);
}

int
tls_client_prepare(SSL *ssl, const struct tls_client_conf *c, bool h2)
{
	if (h2 && SSL_set_alpn_protos(ssl, (const unsigned char *)"\x02h2",
	    3) != 0)
		return -1;
	if (c->server_name == NULL)
		return 0;
	if (SSL_set_tlsext_host_name(ssl, c->server_name) != 1)
		return -1;
	/* Verify the peer's name, not only its chain. */
	if (SSL_set1_host(ssl, c->server_name) != 1)
		return -1;
	return 0;
}

bool
tls_alpn_is_h2(const SSL *ssl)
{
	const unsigned char *p = NULL;
	unsigned n = 0;

	if (ssl == NULL)
		return false;
	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == 2 && memcmp(p, "h2", 2) == 0;
}

/* The peer certificate, when there is one and it was verified. */
static X509 *
verified_peer(const SSL *ssl)
{
	X509 *x;

	if (ssl == NULL || (x = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return x;
}

void
tls_peer_name(const SSL *ssl, char *buf, size_t len)
{
	X509 *x = verified_peer(ssl);
	GENERAL_NAMES *names;

	buf[0] = '\0';
	if (ssl != NULL && psk_identity_index >= 0) {
		const char *id = SSL_get_ex_data(ssl, psk_identity_index);

		if (id != NULL) {
			snprintf(buf, len, "psk:%s", id);
			return;
		}
	}
	if (x == NULL)
		return;
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type == GEN_URI || g->type == GEN_DNS) {
			const ASN1_IA5STRING *s = g->type == GEN_URI ?
			    g->d.uniformResourceIdentifier : g->d.dNSName;

			snprintf(buf, len, "%.*s", ASN1_STRING_length(s),
			    (const char *)ASN1_STRING_get0_data(s));
			break;
		}
	}
	GENERAL_NAMES_free(names);
	if (buf[0] == '\0')
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
		    buf, (int)len);
}

bool
tls_peer_in_domain(const SSL *ssl, const char *domain)
{
	X509 *x = verified_peer(ssl);
	GENERAL_NAMES *names;
	size_t dl = strlen(domain);
	bool found = false;

	if (x == NULL)
		return false;
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) &&
	    !found; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const char *n;
		size_t nl;

		if (g->type != GEN_DNS)
			continue;
		n = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
		nl = (size_t)ASN1_STRING_length(g->d.dNSName);
		if (memchr(n, '\0', nl) != NULL)
			continue;	/* an embedded NUL is a forgery attempt */
		found = (nl == dl && strncasecmp(n, domain, dl) == 0) ||
		    (nl > dl + 1 && n[nl - dl - 1] == '.' &&
		    strncasecmp(n + nl - dl, domain, dl) == 0);
	}
	GENERAL_NAMES_free(names);
	return found;
}

const char *
tls_version(const SSL *ssl)
{
	return ssl ? SSL_get_version(ssl) : "-";
}

int
tls_failure_reason(unsigned long e)
{
	if (e == 0)
		return TLSF_EOF;
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return TLSF_OTHER;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return TLSF_EOF;
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_WRONG_VERSION_NUMBER:	/* not a TLS record */
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNKNOWN_PROTOCOL:
		return TLSF_NOT_TLS;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return TLSF_PROTOCOL;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SUITABLE_KEY_SHARE:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
		return TLSF_CIPHER;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return TLSF_CERTIFICATE;
	case SSL_R_PSK_IDENTITY_NOT_FOUND:
	case SSL_R_BINDER_DOES_NOT_VERIFY:
		return TLSF_PSK;
	}
	return TLSF_OTHER;
}
