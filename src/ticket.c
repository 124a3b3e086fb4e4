/* ticket: time-window session-ticket keys (see ticket.h). */
#include <errno.h>
#include <stdatomic.h>
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
	uint64_t id;		/* unique per process: names it in key caches */
	EVP_CIPHER *cbc;	/* AES-256-CBC, fetched once */
};

static int ticket_index = -1;
static atomic_uint_fast64_t last_id;

/*
 * The keys of the last two periods, derived once per thread: the HMAC of a
 * derivation (OpenSSL 3 fetches its implementation on every one-shot
 * call) cost more than the ticket's own encryption, twice per ticket.
 */
struct period_keys {
	uint64_t id;		/* of the ticket_keys, 0: empty */
	uint64_t period;
	unsigned char aes[32], mac[32];
};
static _Thread_local struct period_keys key_cache[2];

struct ticket_keys *
ticket_keys_new(const char *file, double rotation, const char *conf, int line,
    struct errlist *errs)
{
	struct ticket_keys *k = xcalloc(1, sizeof(*k));
	FILE *f;

	k->id = atomic_fetch_add(&last_id, 1) + 1;
	k->rotation = rotation < 1 ? 1 : (uint64_t)rotation;
	if ((k->cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
		errlist_add(errs, conf, line, "cannot fetch AES-256-CBC for "
		    "session tickets (OpenSSL)");
		ticket_keys_free(k);
		return NULL;
	}
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
	EVP_CIPHER_free(k->cbc);
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

/* This thread's keys of k for period, derived on first use. */
static const struct period_keys *
period_keys(const struct ticket_keys *k, uint64_t period)
{
	struct period_keys *pk;

	for (int i = 0; i < 2; i++)
		if (key_cache[i].id == k->id && key_cache[i].period == period)
			return &key_cache[i];
	/* Replace another key set's slot, else the older period. */
	if (key_cache[0].id != k->id)
		pk = &key_cache[0];
	else if (key_cache[1].id != k->id)
		pk = &key_cache[1];
	else
		pk = key_cache[0].period < key_cache[1].period ?
		    &key_cache[0] : &key_cache[1];
	if (derive(k, "aes", period, pk->aes) < 0 ||
	    derive(k, "hmac", period, pk->mac) < 0) {
		OPENSSL_cleanse(pk, sizeof(*pk));
		return NULL;
	}
	pk->id = k->id;
	pk->period = period;
	return pk;
}

static int
set_keys(const struct ticket_keys *k, uint64_t period, const unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct period_keys *pk = period_keys(k, period);
	OSSL_PARAM params[3];

	if (pk == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)(uintptr_t)pk->mac, sizeof(pk->mac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)(uintptr_t)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return (enc ? EVP_EncryptInit_ex(cctx, k->cbc, NULL, pk->aes, iv) :
	    EVP_DecryptInit_ex(cctx, k->cbc, NULL, pk->aes, iv)) == 1 &&
	    EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
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
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(k->cbc)) != 1)
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
