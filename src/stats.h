/*
 * stats: counters for the admin listener's /metrics.  Each worker owns one
 * struct stats and is its only writer (relaxed atomic adds: no lock and no
 * cache line shared between workers); the admin thread reads all of them
 * and sums.  Values are monotonic except the gauges.
 */
#ifndef MCX_STATS_H
#define MCX_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct evbuffer;
struct worker;

enum stats_class {		/* status classes, as in HAProxy's hrsp_Nxx */
	STATS_1XX, STATS_2XX, STATS_3XX, STATS_4XX, STATS_5XX, STATS_OTHER,
	STATS_NCLASS,
};

#define STATS_NROLE 3		/* enum listener_role */

struct stats {
	atomic_uint_fast64_t requests[STATS_NROLE][STATS_NCLASS];
	atomic_uint_fast64_t request_bytes;
	atomic_uint_fast64_t response_bytes;
	atomic_uint_fast64_t csc1_refusals;
	atomic_uint_fast64_t identity_refusals;
	atomic_uint_fast64_t tls_handshakes[2];		/* TLS 1.2, TLS 1.3 */
	atomic_uint_fast64_t tls_failures;
	atomic_uint_fast64_t connections;		/* gauge: open now */
};

static inline void
stats_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* One finished request of listener role, with its status and payloads. */
void	stats_request(struct stats *, int role, unsigned status,
	    uint64_t req_bytes, uint64_t resp_bytes);
/* Appends the Prometheus text exposition of the sum of n workers' stats. */
void	stats_render(struct evbuffer *, struct worker *const *, unsigned n);

#endif
