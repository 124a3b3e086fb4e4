/* runtime: the shared, immutable state built from one configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "router.h"
#include "runtime.h"
#include "stats.h"
#include "tls.h"
#include "xalloc.h"

/* Feeds path and its contents (or that it cannot be read) to md. */
static void
sum_file(EVP_MD_CTX *md, const char *path)
{
	unsigned char buf[8192];
	size_t n;
	FILE *f;

	if (path == NULL) {
		EVP_DigestUpdate(md, "-", 2);
		return;
	}
	EVP_DigestUpdate(md, path, strlen(path) + 1);
	if ((f = fopen(path, "rb")) == NULL) {
		EVP_DigestUpdate(md, "unreadable", 11);
		return;
	}
	/* A private key passes through here: no stdio buffer to leave it
	 * in, and the stack copy is wiped. */
	setvbuf(f, NULL, _IONBF, 0);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(md, buf, n);
	EVP_DigestUpdate(md, ferror(f) ? "error" : "end", ferror(f) ? 6 : 4);
	fclose(f);
	OPENSSL_cleanse(buf, sizeof(buf));
}

/*
 * What a client context was built from, as a digest.  Read before the
 * context: a file replaced in between makes the next reload see a change
 * (a cold pool), never miss one.  Without a digest (out of memory) the
 * sum is random, so the pool is not kept.
 */
static void
tls_files_sum(const struct tls_client_conf *tls,
    unsigned char sum[RUNTIME_TLS_SUM_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		RAND_bytes(sum, RUNTIME_TLS_SUM_LEN);
		return;
	}
	sum_file(md, tls->ca);
	sum_file(md, tls->certificate);
	sum_file(md, tls->key);
	if (EVP_DigestFinal_ex(md, sum, &len) != 1 || len != RUNTIME_TLS_SUM_LEN)
		RAND_bytes(sum, RUNTIME_TLS_SUM_LEN);
	EVP_MD_CTX_free(md);
}

struct runtime *
runtime_new(struct config *cfg, struct errlist *errs)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	unsigned before = errs->count;

	atomic_init(&rt->refs, 1);
	rt->generation = 1;
	rt->cfg = cfg;
	rt->listener_ctx = xcalloc(cfg->nlisteners, sizeof(*rt->listener_ctx));
	rt->server_ctx = xcalloc(cfg->nservers, sizeof(*rt->server_ctx));
	rt->partner_ctx = xcalloc(cfg->npartners, sizeof(*rt->partner_ctx));
	for (size_t i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].tls.enabled)
			rt->listener_ctx[i] = tls_server_ctx_new(&cfg->listeners[i].tls,
			    cfg->file, errs);
	rt->server_tls_sum = xcalloc(cfg->nservers + 1,
	    sizeof(*rt->server_tls_sum));
	rt->partner_tls_sum = xcalloc(cfg->npartners + 1,
	    sizeof(*rt->partner_tls_sum));
	for (size_t i = 0; i < cfg->nservers; i++)
		if (cfg->servers[i].tls.enabled) {
			tls_files_sum(&cfg->servers[i].tls, rt->server_tls_sum[i]);
			rt->server_ctx[i] = tls_client_ctx_new(&cfg->servers[i].tls,
			    cfg->file, errs);
		}
	for (size_t i = 0; i < cfg->npartners; i++)
		if (cfg->partners[i].tls.enabled) {
			tls_files_sum(&cfg->partners[i].tls, rt->partner_tls_sum[i]);
			rt->partner_ctx[i] = tls_client_ctx_new(&cfg->partners[i].tls,
			    cfg->file, errs);
		}
	rt->router = router_new(cfg);
	rt->server_slot = xcalloc(cfg->nservers + 1, sizeof(*rt->server_slot));
	rt->partner_slot = xcalloc(cfg->npartners + 1, sizeof(*rt->partner_slot));
	rt->server_ejected = xcalloc(cfg->nservers + 1, sizeof(*rt->server_ejected));
	rt->partner_ejected = xcalloc(cfg->npartners + 1,
	    sizeof(*rt->partner_ejected));
	for (size_t i = 0; i < cfg->nservers; i++) {
		rt->server_slot[i] = stats_route_slot(cfg->servers[i].name);
		rt->server_ejected[i] = xcalloc(cfg->servers[i].ntargets + 1,
		    sizeof(**rt->server_ejected));
	}
	for (size_t i = 0; i < cfg->npartners; i++) {
		rt->partner_slot[i] = stats_route_slot(cfg->partners[i].domain);
		rt->partner_ejected[i] = xcalloc(cfg->partners[i].nproxies + 1,
		    sizeof(**rt->partner_ejected));
	}
	if (errs->count != before) {
		runtime_unref(rt);
		return NULL;
	}
	return rt;
}

struct runtime *
runtime_ref(struct runtime *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	return rt;
}

void
runtime_unref(struct runtime *rt)
{
	/* acq_rel: every holder's last reads happen before the free. */
	if (rt == NULL ||
	    atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < rt->cfg->nlisteners; i++)
		tls_ctx_free(rt->listener_ctx[i]);
	for (size_t i = 0; i < rt->cfg->nservers; i++)
		tls_ctx_free(rt->server_ctx[i]);
	for (size_t i = 0; i < rt->cfg->npartners; i++)
		tls_ctx_free(rt->partner_ctx[i]);
	for (size_t i = 0; i < rt->cfg->nservers; i++)
		free(rt->server_ejected[i]);
	for (size_t i = 0; i < rt->cfg->npartners; i++)
		free(rt->partner_ejected[i]);
	free(rt->server_ejected);
	free(rt->partner_ejected);
	free(rt->server_tls_sum);
	free(rt->partner_tls_sum);
	free(rt->server_slot);
	free(rt->partner_slot);
	free(rt->listener_ctx);
	free(rt->server_ctx);
	free(rt->partner_ctx);
	router_free(rt->router);
	config_free(rt->cfg);
	free(rt);
}
