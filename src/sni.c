/* sni: certificate choice by server name (see sni.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sni.h"
#include "xalloc.h"

struct sni_entry {
	char *name;		/* lower case; "*.suffix" or exact */
	SSL_CTX *ctx;
};

struct sni_table {
	bool strict;
	struct sni_entry *v;
	size_t n;
	SSL_CTX **owned;
	size_t nowned;
};

static int sni_index = -1;

struct sni_table *
sni_table_new(bool strict)
{
	struct sni_table *t = xcalloc(1, sizeof(*t));

	t->strict = strict;
	return t;
}

void
sni_table_free(struct sni_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].name);
	for (size_t i = 0; i < t->nowned; i++)
		SSL_CTX_free(t->owned[i]);
	free(t->v);
	free(t->owned);
	free(t);
}

int
sni_add(struct sni_table *t, SSL_CTX *ctx, bool owned)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	GENERAL_NAMES *names;

	if (owned) {
		t->owned = xreallocarray(t->owned, t->nowned + 1, sizeof(*t->owned));
		t->owned[t->nowned++] = ctx;
	}
	if (x == NULL)
		return -1;
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const char *s;
		size_t len;
		char *name;

		if (g->type != GEN_DNS)
			continue;
		s = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
		len = (size_t)ASN1_STRING_length(g->d.dNSName);
		if (len == 0 || memchr(s, '\0', len) != NULL)
			continue;
		name = xstrndup(s, len);
		for (char *c = name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
		t->v[t->n].name = name;
		t->v[t->n].ctx = ctx;
		t->n++;
	}
	GENERAL_NAMES_free(names);
	return 0;
}

/* The context for host: an exact name, else the longest wildcard that
 * covers exactly one more label; NULL without one. */
static SSL_CTX *
lookup(const struct sni_table *t, const char *host)
{
	SSL_CTX *best = NULL;
	size_t bestlen = 0;
	const char *dot = strchr(host, '.');

	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->v[i].name;

		if (strcasecmp(p, host) == 0)
			return t->v[i].ctx;
		if (p[0] == '*' && p[1] == '.' && dot != NULL && dot != host &&
		    strcasecmp(p + 1, dot) == 0 && strlen(p) > bestlen) {
			best = t->v[i].ctx;
			bestlen = strlen(p);
		}
	}
	return best;
}

static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
	const struct sni_table *t = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx;

	if (host == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	ctx = lookup(t, host);
	if (ctx == NULL) {
		if (!t->strict)
			return SSL_TLSEXT_ERR_OK;
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (ctx != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, ctx) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static void
free_table(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	sni_table_free(ptr);
}

int
sni_install(SSL_CTX *def, struct sni_table *t)
{
	if (sni_index < 0)
		sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    free_table);
	if (sni_index < 0 || SSL_CTX_set_ex_data(def, sni_index, t) != 1)
		return -1;
	SSL_CTX_set_tlsext_servername_callback(def, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(def, t);
	return 0;
}
