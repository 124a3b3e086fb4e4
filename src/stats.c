/* stats: per-worker counters and their Prometheus text (see stats.h). */
#include <stddef.h>

#include <event2/buffer.h>

#include "stats.h"
#include "worker.h"

static const char *const role_label[STATS_NROLE] = { "ue", "trusted", "partner" };
static const char *const class_label[STATS_NCLASS] =
	{ "1xx", "2xx", "3xx", "4xx", "5xx", "other" };

void
stats_request(struct stats *st, int role, unsigned status, uint64_t req_bytes,
    uint64_t resp_bytes)
{
	unsigned cls = status >= 100 && status < 600 ? status / 100 - 1 : STATS_OTHER;

	if (role >= 0 && role < STATS_NROLE)
		stats_add(&st->requests[role][cls], 1);
	stats_add(&st->request_bytes, req_bytes);
	stats_add(&st->response_bytes, resp_bytes);
}

static uint64_t
sum(struct worker *const *w, unsigned n, size_t off)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += atomic_load_explicit((atomic_uint_fast64_t *)
		    (void *)((char *)&w[i]->stats + off), memory_order_relaxed);
	return total;
}

#define SUM(field)	sum(w, n, offsetof(struct stats, field))

static void
counter(struct evbuffer *out, const char *name, const char *help,
    const char *type, uint64_t v)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name,
	    help, name, type, name, (unsigned long long)v);
}

void
stats_render(struct evbuffer *out, struct worker *const *w, unsigned n)
{
	evbuffer_add_printf(out, "# HELP mcxproxy_requests_total Requests "
	    "answered, by listener role and status class.\n"
	    "# TYPE mcxproxy_requests_total counter\n");
	for (int r = 0; r < STATS_NROLE; r++)
		for (int c = 0; c < STATS_NCLASS; c++)
			evbuffer_add_printf(out, "mcxproxy_requests_total"
			    "{listener=\"%s\",code=\"%s\"} %llu\n", role_label[r],
			    class_label[c], (unsigned long long)
			    SUM(requests[r][c]));
	counter(out, "mcxproxy_request_body_bytes_total",
	    "Request body bytes forwarded.", "counter", SUM(request_bytes));
	counter(out, "mcxproxy_response_body_bytes_total",
	    "Response body bytes forwarded.", "counter", SUM(response_bytes));
	counter(out, "mcxproxy_csc1_refusals_total", "Requests refused as "
	    "CSC-1 (identity management goes directly to the IdM server).",
	    "counter", SUM(csc1_refusals));
	counter(out, "mcxproxy_asserted_identity_refusals_total", "Requests "
	    "refused for an X-3GPP-Asserted-Identity field.", "counter",
	    SUM(identity_refusals));
	evbuffer_add_printf(out, "# HELP mcxproxy_tls_handshakes_total "
	    "Completed TLS handshakes, by version.\n"
	    "# TYPE mcxproxy_tls_handshakes_total counter\n"
	    "mcxproxy_tls_handshakes_total{version=\"TLSv1.2\"} %llu\n"
	    "mcxproxy_tls_handshakes_total{version=\"TLSv1.3\"} %llu\n",
	    (unsigned long long)SUM(tls_handshakes[0]),
	    (unsigned long long)SUM(tls_handshakes[1]));
	counter(out, "mcxproxy_tls_handshake_failures_total",
	    "TLS handshakes that failed or timed out.", "counter",
	    SUM(tls_failures));
	counter(out, "mcxproxy_client_connections", "Client connections open.",
	    "gauge", SUM(connections));
}
