/*
 * runtime: everything built once from a loaded configuration and shared,
 * read-only, by every worker thread: the config itself, the route table
 * and the TLS contexts.  `mcxproxy -t` builds it too (so certificates and
 * keys are checked) and then throws it away.
 */
#ifndef MCX_RUNTIME_H
#define MCX_RUNTIME_H

#include "config.h"

struct router;
struct ssl_ctx_st;

struct runtime {
	struct config *cfg;		/* owned */
	struct router *router;
	struct ssl_ctx_st **listener_ctx;	/* per listener; NULL without TLS */
	struct ssl_ctx_st **server_ctx;	/* per server; NULL for plain TCP */
	struct ssl_ctx_st **partner_ctx;	/* per partner; NULL for plain TCP */
};

/* Takes ownership of cfg (freed on failure too).  Errors go to errs. */
struct runtime *runtime_new(struct config *cfg, struct errlist *errs);
void	runtime_free(struct runtime *);

#endif
