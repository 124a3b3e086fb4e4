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

enum stats_class {		/* status classes, as in HAProxy's hrsp_Nxx */
	STATS_1XX, STATS_2XX, STATS_3XX, STATS_4XX, STATS_5XX, STATS_OTHER,
	STATS_NCLASS,
};

#define STATS_NROLE 3		/* enum listener_role */

/*
 * Route labels: slot 0 is "-" (answered by the proxy before a route was
 * chosen: 400, 403 CSC-1, 421...), slots 1..STATS_MAX_ROUTES the server
 * names and partner domains seen since start (a reload adds, never
 * renumbers), the last one "other" once that many names were seen.
 */
#define STATS_MAX_ROUTES 64
#define STATS_NROUTE	(STATS_MAX_ROUTES + 2)
#define STATS_ROUTE_NONE 0

/* Request latency buckets (upper bounds in seconds; +Inf is the count). */
#define STATS_NBUCKET	12

/* Why a TLS handshake failed. */
enum stats_tls_failure {
	TLSF_TIMEOUT,		/* tls_handshake deadline */
	TLSF_EOF,		/* the client closed or reset */
	TLSF_NOT_TLS,		/* plain HTTP or garbage on a TLS port */
	TLSF_PROTOCOL,		/* no TLS version in common */
	TLSF_CIPHER,		/* no cipher suite or group in common */
	TLSF_CERTIFICATE,	/* client certificate missing or refused */
	TLSF_PSK,		/* unknown PSK identity or wrong key */
	TLSF_OTHER,
	TLSF_N,
};

/* Why a client connection was closed at accept, before any byte. */
enum stats_refusal {
	REFUSED_ALLOW,		/* trusted listener: source not in allow */
	REFUSED_MAX,		/* limits.max_connections */
	REFUSED_PER_SOURCE,	/* limits.max_connections_per_source */
	REFUSED_N,
};

/* PROXY protocol headers refused, by kind: enum pp_error (proxyproto.h). */
#define STATS_NPPERR	8

/* PROXY protocol headers accepted, by version and command. */
enum stats_pp_header {
	PPH_V1_PROXY,		/* TCP4/TCP6 */
	PPH_V1_UNKNOWN,
	PPH_V2_PROXY,		/* with an address or not (UNIX, UNSPEC) */
	PPH_V2_LOCAL,
	PPH_N,
};

#define STATS_NPROTO	2	/* enum http_proto */
#define STATS_NH2CODE	15	/* RFC 9113 error codes 0x0..0xd, then other */

enum stats_h2_side { H2S_CLIENT, H2S_UPSTREAM, H2S_N };
enum stats_h2_dir { H2D_SENT, H2D_RECEIVED, H2D_N };

/* HTTP/2 attack defences (client side), by kind. */
enum stats_h2_defence {
	H2X_RAPID_RESET,	/* stream resets faster than allowed */
	H2X_STREAM_BUDGET,	/* new streams per loop pass */
	H2X_STREAMS_TOTAL,	/* streams per connection */
	H2X_CONTINUATION,	/* CONTINUATION flood */
	H2X_SETTINGS,		/* SETTINGS flood */
	H2X_PING,		/* PING flood (outbound ACKs) */
	H2X_EMPTY_FRAMES,	/* empty DATA/HEADERS flood */
	H2X_N,
};

struct stats {
	atomic_uint_fast64_t refused[REFUSED_N];
	atomic_uint_fast64_t requests[STATS_NROLE][STATS_NROUTE][STATS_NCLASS];
	atomic_uint_fast64_t latency[STATS_NBUCKET];	/* per bucket, not cumulative */
	atomic_uint_fast64_t latency_count;
	atomic_uint_fast64_t latency_us;		/* sum, microseconds */
	atomic_uint_fast64_t request_bytes;
	atomic_uint_fast64_t response_bytes;
	atomic_uint_fast64_t csc1_refusals;
	atomic_uint_fast64_t identity_refusals;
	atomic_uint_fast64_t tls_handshakes[2];		/* TLS 1.2, TLS 1.3 */
	atomic_uint_fast64_t tls_failures[TLSF_N];
	atomic_uint_fast64_t client_requests[STATS_NPROTO];
	atomic_uint_fast64_t h2_goaway[H2S_N][H2D_N];
	atomic_uint_fast64_t h2_resets[H2S_N][H2D_N][STATS_NH2CODE];
	atomic_uint_fast64_t h2_defences[H2X_N];
	atomic_uint_fast64_t pp_headers[PPH_N];
	atomic_uint_fast64_t pp_errors[STATS_NPPERR];
	/* Active health checks (health.path) by route slot: passed, failed. */
	atomic_uint_fast64_t health_checks[STATS_NROUTE][2];
	/* gauges */
	atomic_uint_fast64_t connections;		/* client connections open */
	atomic_uint_fast64_t idle_connections;		/* ... of which keep-alive idle */
	atomic_uint_fast64_t upstream_busy;		/* upstream: connecting or in use */
	atomic_uint_fast64_t upstream_idle;		/* upstream: pooled keep-alive */
	atomic_uint_fast64_t upstream_conns[STATS_NPROTO];	/* by protocol */
	atomic_uint_fast64_t upstream_streams;		/* HTTP/2 streams in use */
};

static inline void
stats_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void
stats_sub(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
}

/* One finished request of listener role, on route slot, with its status,
 * body bytes and time from head to last byte. */
/* An HTTP/2 RST_STREAM of code, on side, sent or received. */
static inline void
stats_h2_reset(struct stats *st, int side, int dir, uint32_t code)
{
	stats_add(&st->h2_resets[side][dir][code < STATS_NH2CODE - 1 ? code :
	    STATS_NH2CODE - 1], 1);
}

void	stats_request(struct stats *, int role, unsigned route, unsigned status,
	    uint64_t req_bytes, uint64_t resp_bytes, double seconds);

/* Main thread only (building a generation, rendering): the slot of a
 * route name, registered on first sight. */
unsigned stats_route_slot(const char *name);
/* Frees the route names (at exit). */
void	stats_routes_free(void);

/* Appends the Prometheus text exposition of the sum of n workers' stats. */
void	stats_render(struct evbuffer *, const struct stats *const *, unsigned n);

#endif
