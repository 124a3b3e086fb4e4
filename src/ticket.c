/* ticket: time-window session-ticket keys (see ticket.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "config.h"
#include "ticket.h"
#include "xalloc.h"

#define MASTER_MIN	32
#define MASTER_MAX	128
#define NAME_TAG	"mcxtkt01"	/* 8 bytes, then the period number */

struct ticket_keys {
	unsigned char master[MASTER_MAX];
	size_t masterlen;
	uint64_t rotation;	/* seconds, >= 1 */
};

static int ticket_index = -1;

struct ticket_keys *
ticket_keys_new(const char *file, double rotation, const char *conf, int line,
    struct errlist *errs)
{
	struct ticket_keys *k = xcalloc(1, sizeof(*k));
	FILE *f;

	k->rotation = rotation < 1 ? 1 : (uint64_t)rotation;
	if (file == NULL) {
		k->masterlen = MASTER_MIN;
		if (RAND_bytes(k->master, (int)k->masterlen) != 1) {
			errlist_add(errs, conf, line, "cannot make a session "
			    "ticket secret (OpenSSL RNG)");
			ticket_keys_free(k);
			return NULL;
		}
		return k;
	}
	if ((f = fopen(file, "rb")) == NULL) {
		errlist_add(errs, conf, line, "cannot read ticket_key_file \"%s\": %s",
		    file, strerror(errno));
		ticket_keys_free(k);
		return NULL;
	}
	k->masterlen = fread(k->master, 1, sizeof(k->master), f);
	fclose(f);
	if (k->masterlen < MASTER_MIN) {
		errlist_add(errs, conf, line, "ticket_key_file \"%s\" holds %zu "
		    "bytes; it needs at least %d random bytes (e.g. openssl rand "
		    "-out FILE 48)", file, k->masterlen, MASTER_MIN);
		ticket_keys_free(k);
		return NULL;
	}
	return k;
}

void
ticket_keys_free(struct ticket_keys *k)
{
	if (k == NULL)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

/* out (32 bytes) = HMAC-SHA256(master, label || period). */
static int
derive(const struct ticket_keys *k, const char *label, uint64_t period,
    unsigned char out[32])
{
	unsigned char msg[32];
	size_t ll = strlen(label);
	unsigned int outlen = 32;

	memcpy(msg, label, ll);
	for (int i = 0; i < 8; i++)
		msg[ll + (size_t)i] = (unsigned char)(period >> (56 - 8 * i));
	return HMAC(EVP_sha256(), k->master, (int)k->masterlen, msg, ll + 8,
	    out, &outlen) != NULL ? 0 : -1;
}

static int
set_keys(const struct ticket_keys *k, uint64_t period, const unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	unsigned char aes[32], mac[32];
	OSSL_PARAM params[3];
	int ok;

	if (derive(k, "aes", period, aes) < 0 || derive(k, "hmac", period, mac) < 0)
		return -1;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, mac,
	    sizeof(mac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)(uintptr_t)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	ok = (enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, aes, iv) :
	    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, aes, iv)) == 1 &&
	    EVP_MAC_CTX_set_params(hctx, params) == 1;
	OPENSSL_cleanse(aes, sizeof(aes));
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok ? 0 : -1;
}

/*
 * OpenSSL's ticket key callback.  Encrypting: the current period's key,
 * named by the period.  Decrypting: the current key (1), the previous
 * one (2: accepted, and a new ticket is issued), anything else (0: a
 * full handshake).  TLS 1.3 always gets a new ticket (2): OpenSSL sends
 * none after a resumption otherwise, and a client that uses each ticket
 * once (RFC 8446 section C.4; OpenSSL's own client does) would make a full
 * handshake every other connection.
 */
static int
ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct ticket_keys *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
	    ticket_index);
	uint64_t now = (uint64_t)time(NULL) / (k ? k->rotation : 1), period = 0;

	if (k == NULL)
		return -1;
	if (enc) {
		memcpy(name, NAME_TAG, 8);
		for (int i = 0; i < 8; i++)
			name[8 + i] = (unsigned char)(now >> (56 - 8 * i));
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
			return -1;
		return set_keys(k, now, iv, cctx, hctx, 1) == 0 ? 1 : -1;
	}
	if (memcmp(name, NAME_TAG, 8) != 0)
		return 0;
	for (int i = 0; i < 8; i++)
		period = period << 8 | name[8 + i];
	if (period != now && period + 1 != now)
		return 0;
	if (set_keys(k, period, iv, cctx, hctx, 0) < 0)
		return -1;
	return period == now && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
}

static void
free_keys(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	ticket_keys_free(ptr);
}

int
ticket_install(SSL_CTX *ctx, struct ticket_keys *k)
{
	if (ticket_index < 0)
		ticket_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    free_keys);
	if (ticket_index < 0 || SSL_CTX_set_ex_data(ctx, ticket_index, k) != 1)
		return -1;
	return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) == 1 ? 0 : -1;
}
