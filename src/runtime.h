/*
 * runtime: everything built once from a loaded configuration and shared,
 * read-only, by every worker thread: the config itself, the route table
 * and the TLS contexts.  `mcxproxy -t` builds it too (so certificates and
 * keys are checked) and then throws it away.
 *
 * A reload (SIGHUP) builds a new runtime beside the old one: a generation.
 * Each holder (main, and each worker while it has connections or requests
 * of that generation) keeps a reference; the last one frees it, in
 * whichever thread that is.
 */
#ifndef MCX_RUNTIME_H
#define MCX_RUNTIME_H

#include <stdatomic.h>

#include "config.h"

struct router;
struct ssl_ctx_st;

#define RUNTIME_TLS_SUM_LEN 32	/* SHA-256 */

struct runtime {
	atomic_uint refs;
	unsigned generation;		/* 1 at start, +1 per reload */
	struct config *cfg;		/* owned */
	struct router *router;
	struct ssl_ctx_st **listener_ctx;	/* per listener; NULL without TLS */
	struct ssl_ctx_st **server_ctx;	/* per server; NULL for plain TCP */
	struct ssl_ctx_st **partner_ctx;	/* per partner; NULL for plain TCP */
	/* Per server and partner with TLS: SHA-256 of its TLS files' paths
	 * and contents (CA, certificate, key), read before the context, so
	 * a reload sees a renewed file at the same path (loop.c keeps
	 * upstream pools warm only when nothing changed). */
	unsigned char (*server_tls_sum)[RUNTIME_TLS_SUM_LEN];
	unsigned char (*partner_tls_sum)[RUNTIME_TLS_SUM_LEN];
	/* Metrics: the route slot (stats_route_slot) of each server and
	 * partner, and per target the wall-clock second until which a
	 * worker ejected it (0: never), for the health gauge. */
	unsigned *server_slot;
	unsigned *partner_slot;
	atomic_int_fast64_t **server_ejected;
	atomic_int_fast64_t **partner_ejected;
};

/* Takes ownership of cfg (freed on failure too).  Errors go to errs.
 * The new runtime holds one reference, the caller's.  Main thread only
 * (it registers route names for the metrics). */
struct runtime *runtime_new(struct config *cfg, struct errlist *errs);
struct runtime *runtime_ref(struct runtime *);
/* Drops a reference; frees the runtime with the last.  NULL is ignored. */
void	runtime_unref(struct runtime *);

#endif
