/* ticket: time-window session-ticket keys (see ticket.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
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
#include "log.h"
#include "ticket.h"
#include "xalloc.h"

#define MASTER_MIN	32	/* bytes, or characters of a line */
#define MASTER_MAX	256	/* characters of a line */
#define LEGACY_MAX	128	/* bytes of a binary file used, as before */
#define FILE_MAX	(64 * 1024)	/* 16 keys and their comments */
#define FP_LEN		8	/* bytes of a master's fingerprint */
/*
 * A ticket's name (16 bytes).  A master from a text file: NAME_TAG, its
 * fingerprint, the low 32 bits of the period (the full number is now or
 * the one before: nothing older is accepted).  A binary file's master
 * keeps the names of earlier versions, LEGACY_TAG and the 64-bit period,
 * so that a fleet upgraded one instance at a time keeps resuming.
 */
#define NAME_TAG	"mcx2"
#define LEGACY_TAG	"mcxtkt01"
#define FP_LABEL	"mcxproxy ticket key name"

struct master {
	unsigned char secret[MASTER_MAX];
	size_t len;
	unsigned char fp[FP_LEN];	/* names it in tickets */
	int line;			/* in the key file; 0: none */
};

struct ticket_keys {
	struct master m[TICKET_KEYS_MAX];
	size_t n;		/* >= 1 */
	size_t enc;		/* the master that encrypts */
	bool legacy;		/* one binary master, names as before */
	uint64_t rotation;	/* seconds, >= 1 */
	uint64_t id;		/* unique per process: names it in key caches */
	EVP_CIPHER *cbc;	/* AES-256-CBC, fetched once */
};

static int ticket_index = -1;
static atomic_uint_fast64_t last_id;

/*
 * The keys of recent (key set, master, period)s, derived once per thread:
 * the HMAC of a derivation (OpenSSL 3 fetches its implementation on every
 * one-shot call) cost more than the ticket's own encryption, twice per
 * ticket.  A rotation has tickets of three masters and two periods each
 * in flight, and a worker serves several listeners: the least recently
 * used slot of eight goes.
 */
#define CACHE_SLOTS	8
struct period_keys {
	uint64_t id;		/* of the ticket_keys, 0: empty */
	size_t master;
	uint64_t period;
	uint64_t used;		/* this thread's use clock */
	unsigned char aes[32], mac[32];
};
static _Thread_local struct period_keys key_cache[CACHE_SLOTS];
static _Thread_local uint64_t cache_clock;

/* out (32 bytes) = HMAC-SHA256(master, label || period). */
static int
derive(const struct master *m, const char *label, uint64_t period,
    unsigned char out[32])
{
	unsigned char msg[32];
	size_t ll = strlen(label);
	unsigned int outlen = 32;

	memcpy(msg, label, ll);
	for (int i = 0; i < 8; i++)
		msg[ll + (size_t)i] = (unsigned char)(period >> (56 - 8 * i));
	return HMAC(EVP_sha256(), m->secret, (int)m->len, msg, ll + 8,
	    out, &outlen) != NULL ? 0 : -1;
}

/* m->fp = the first bytes of HMAC-SHA256(master, FP_LABEL): it names the
 * master and tells nothing of it, and no period key has that input. */
static int
fingerprint(struct master *m)
{
	unsigned char out[32];
	unsigned int outlen = sizeof(out);

	if (HMAC(EVP_sha256(), m->secret, (int)m->len,
	    (const unsigned char *)FP_LABEL, strlen(FP_LABEL), out,
	    &outlen) == NULL)
		return -1;
	memcpy(m->fp, out, FP_LEN);
	return 0;
}

/*
 * A file mostly of bytes that text does not have (NUL, controls, bytes
 * over 0x7e) is an older binary secret: about 60 % of random bytes are,
 * and 48 random bytes fall under a quarter with a chance below 1e-12.
 * A text key file with a UTF-8 comment or a byte-order mark stays text
 * (its key lines are then checked byte by byte), so it never silently
 * turns into one legacy key.
 */
static bool
is_binary(const unsigned char *p, size_t n)
{
	size_t odd = 0;

	for (size_t i = 0; i < n; i++)
		if (p[i] == '\0' || ((p[i] < 0x20 || p[i] > 0x7e) &&
		    p[i] != '\t' && p[i] != '\r' && p[i] != '\n'))
			odd++;
	return odd * 4 >= n;
}

static bool
printable(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return false;
	return true;
}

static bool
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool
has_space(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (is_space((unsigned char)p[i]))
			return true;
	return false;
}

/*
 * One master per line that is neither blank nor a "#" comment, trimmed;
 * every bad line is reported, at file:LINE.  p is NUL-terminated (and
 * load_file refused a NUL inside).
 */
static void
parse_lines(struct ticket_keys *k, char *p, const char *file,
    struct errlist *errs)
{
	int lineno = 0;
	bool too_many = false;

	for (char *next; *p != '\0'; p = next) {
		char *end = strchr(p, '\n');
		size_t len;
		int dup = 0;

		if (end == NULL)
			end = p + strlen(p);
		next = *end == '\n' ? end + 1 : end;
		lineno++;
		while (p < end && is_space((unsigned char)*p))
			p++;
		while (end > p && is_space((unsigned char)end[-1]))
			end--;
		len = (size_t)(end - p);
		if (len == 0 || *p == '#')
			continue;
		/* "KEY # note" would make the note part of the key, and
		 * instances whose notes differ would not share tickets. */
		if (has_space(p, len)) {
			errlist_add(errs, file, lineno, "a ticket key is one "
			    "word, with no space inside (a comment goes on a "
			    "line of its own, starting with #)");
			continue;
		}
		if (!printable(p, len)) {
			errlist_add(errs, file, lineno, "a ticket key is "
			    "printable ASCII (a byte-order mark or a non-ASCII "
			    "character is on this line; e.g. openssl rand -base64 "
			    "48 >> FILE)");
			continue;
		}
		if (len < MASTER_MIN || len > MASTER_MAX) {
			errlist_add(errs, file, lineno, "a ticket key of %zu "
			    "characters; it needs %d to %d (e.g. openssl rand "
			    "-base64 48 >> FILE)", len, MASTER_MIN, MASTER_MAX);
			continue;
		}
		for (size_t i = 0; i < k->n && dup == 0; i++)
			if (k->m[i].len == len && memcmp(k->m[i].secret, p, len) == 0)
				dup = k->m[i].line;
		if (dup != 0) {
			errlist_add(errs, file, lineno, "the same ticket key as "
			    "line %d; list each key once", dup);
		} else if (k->n == TICKET_KEYS_MAX) {
			if (!too_many)
				errlist_add(errs, file, lineno, "more than %d ticket "
				    "keys; remove the oldest (first) ones",
				    TICKET_KEYS_MAX);
			too_many = true;
		} else {
			memcpy(k->m[k->n].secret, p, len);
			k->m[k->n].len = len;
			k->m[k->n].line = lineno;
			k->n++;
		}
	}
}

/* Reads file's masters into k; -1 with errors in errs. */
static int
load_file(struct ticket_keys *k, const char *file, const char *conf, int line,
    struct errlist *errs)
{
	unsigned char *buf = xmalloc(FILE_MAX + 2);
	unsigned before = errs->count;
	size_t n;
	FILE *f;
	int rc = 0;

	if ((f = fopen(file, "rb")) == NULL) {
		errlist_add(errs, conf, line, "cannot read ticket_key_file "
		    "\"%s\": %s", file, strerror(errno));
		free(buf);
		return -1;
	}
	n = fread(buf, 1, FILE_MAX + 1, f);
	if (ferror(f)) {
		errlist_add(errs, conf, line, "cannot read ticket_key_file "
		    "\"%s\": %s", file, strerror(errno));
		rc = -1;
	} else if (is_binary(buf, n)) {
		/* Earlier versions read the first bytes of any file. */
		k->legacy = true;
		k->n = 1;
		k->m[0].len = n < LEGACY_MAX ? n : LEGACY_MAX;
		memcpy(k->m[0].secret, buf, k->m[0].len);
		if (k->m[0].len < MASTER_MIN) {
			errlist_add(errs, conf, line, "ticket_key_file \"%s\" "
			    "holds %zu bytes; it needs at least %d random bytes, "
			    "or lines of text keys (e.g. openssl rand -base64 48 "
			    ">> FILE)", file, k->m[0].len, MASTER_MIN);
			rc = -1;
		}
	} else if (memchr(buf, '\0', n) != NULL) {
		errlist_add(errs, conf, line, "ticket_key_file \"%s\" is text "
		    "with a NUL byte in it: one key per line, printable ASCII "
		    "(e.g. openssl rand -base64 48 >> FILE)", file);
		rc = -1;
	} else if (n > FILE_MAX) {
		errlist_add(errs, conf, line, "ticket_key_file \"%s\" is over "
		    "%d KiB; it holds at most %d keys", file, FILE_MAX / 1024,
		    TICKET_KEYS_MAX);
		rc = -1;
	} else {
		buf[n] = '\0';
		parse_lines(k, (char *)buf, file, errs);
		if (errs->count != before)
			rc = -1;
		else if (k->n == 0) {
			errlist_add(errs, conf, line, "ticket_key_file \"%s\" has "
			    "no key: one line of at least %d characters per key "
			    "(e.g. openssl rand -base64 48 >> FILE)", file,
			    MASTER_MIN);
			rc = -1;
		}
	}
	fclose(f);
	OPENSSL_cleanse(buf, FILE_MAX + 2);
	free(buf);
	return rc;
}

struct ticket_keys *
ticket_keys_new(const char *file, double rotation, const char *conf, int line,
    struct errlist *errs)
{
	struct ticket_keys *k = xcalloc(1, sizeof(*k));

	k->id = atomic_fetch_add(&last_id, 1) + 1;
	k->rotation = rotation < 1 ? 1 : (uint64_t)rotation;
	if ((k->cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
		errlist_add(errs, conf, line, "cannot fetch AES-256-CBC for "
		    "session tickets (OpenSSL)");
		ticket_keys_free(k);
		return NULL;
	}
	if (file == NULL) {
		k->n = 1;
		k->m[0].len = MASTER_MIN;
		if (RAND_bytes(k->m[0].secret, (int)k->m[0].len) != 1) {
			errlist_add(errs, conf, line, "cannot make a session "
			    "ticket secret (OpenSSL RNG)");
			ticket_keys_free(k);
			return NULL;
		}
	} else if (load_file(k, file, conf, line, errs) < 0) {
		ticket_keys_free(k);
		return NULL;
	}
	/* The last key is announced only: see ticket.h. */
	k->enc = k->n >= 2 ? k->n - 2 : 0;
	if (file != NULL)
		log_debug("ticket_key_file %s: %s, %zu key%s, key %zu encrypts",
		    file, k->legacy ? "one binary secret (older format)" :
		    "text keys", k->n, k->n == 1 ? "" : "s", k->enc + 1);
	for (size_t i = 0; i < k->n; i++)
		if (fingerprint(&k->m[i]) < 0) {
			errlist_add(errs, conf, line, "cannot name session "
			    "ticket keys (OpenSSL HMAC)");
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

size_t
ticket_keys_count(const struct ticket_keys *k)
{
	return k->n;
}

/* This thread's keys of master mi of k for period, derived on first use. */
static const struct period_keys *
period_keys(const struct ticket_keys *k, size_t mi, uint64_t period)
{
	struct period_keys *pk = &key_cache[0];

	cache_clock++;
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct period_keys *c = &key_cache[i];

		if (c->id == k->id && c->master == mi && c->period == period) {
			c->used = cache_clock;
			return c;
		}
		if (c->used < pk->used)
			pk = c;
	}
	if (derive(&k->m[mi], "aes", period, pk->aes) < 0 ||
	    derive(&k->m[mi], "hmac", period, pk->mac) < 0) {
		OPENSSL_cleanse(pk, sizeof(*pk));
		return NULL;
	}
	pk->id = k->id;
	pk->master = mi;
	pk->period = period;
	pk->used = cache_clock;
	return pk;
}

static int
set_keys(const struct ticket_keys *k, size_t mi, uint64_t period,
    const unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct period_keys *pk = period_keys(k, mi, period);
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

/* The name of the encrypting master's ticket of period now. */
static void
make_name(const struct ticket_keys *k, uint64_t now, unsigned char name[16])
{
	if (k->legacy) {
		memcpy(name, LEGACY_TAG, 8);
		for (int i = 0; i < 8; i++)
			name[8 + i] = (unsigned char)(now >> (56 - 8 * i));
		return;
	}
	memcpy(name, NAME_TAG, 4);
	memcpy(name + 4, k->m[k->enc].fp, FP_LEN);
	for (int i = 0; i < 4; i++)
		name[12 + i] = (unsigned char)(now >> (24 - 8 * i));
}

/* The master and period a ticket's name tells, if they are still
 * accepted: a listed master, the current period or the one before. */
static bool
find_key(const struct ticket_keys *k, const unsigned char name[16],
    uint64_t now, size_t *mi, uint64_t *period)
{
	uint64_t p = 0;

	if (k->legacy) {
		if (memcmp(name, LEGACY_TAG, 8) != 0)
			return false;
		for (int i = 0; i < 8; i++)
			p = p << 8 | name[8 + i];
		*mi = 0;
	} else {
		if (memcmp(name, NAME_TAG, 4) != 0)
			return false;
		for (*mi = 0; *mi < k->n; (*mi)++)
			if (memcmp(name + 4, k->m[*mi].fp, FP_LEN) == 0)
				break;
		if (*mi == k->n)
			return false;
		for (int i = 0; i < 4; i++)
			p = p << 8 | name[12 + i];
		/* The low 32 bits of now or of the period before. */
		if (p == (now & 0xffffffffu))
			p = now;
		else if (p == ((now - 1) & 0xffffffffu))
			p = now - 1;
		else
			return false;
	}
	if (p != now && p + 1 != now)
		return false;
	*period = p;
	return true;
}

/*
 * OpenSSL's ticket key callback.  Encrypting: the encrypting master's key
 * of the current period.  Decrypting: the current key of the encrypting
 * master (1), another accepted key (2: accepted, and a new ticket is
 * issued with the encrypting one), anything else (0: a full handshake).
 * TLS 1.3 always gets a new ticket (2): OpenSSL sends none after a
 * resumption otherwise, and a client that uses each ticket once (RFC 8446
 * section C.4; OpenSSL's own client does) would make a full handshake
 * every other connection.
 */
static int
ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct ticket_keys *k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
	    ticket_index);
	uint64_t now = (uint64_t)time(NULL) / (k ? k->rotation : 1), period;
	size_t mi;

	if (k == NULL)
		return -1;
	if (enc) {
		make_name(k, now, name);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(k->cbc)) != 1)
			return -1;
		return set_keys(k, k->enc, now, iv, cctx, hctx, 1) == 0 ? 1 : -1;
	}
	if (!find_key(k, name, now, &mi, &period))
		return 0;
	if (set_keys(k, mi, period, iv, cctx, hctx, 0) < 0)
		return -1;
	return mi == k->enc && period == now &&
	    SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
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

void
ticket_thread_end(void)
{
	OPENSSL_cleanse(key_cache, sizeof(key_cache));
}
