/* stats: per-worker counters and their Prometheus text (see stats.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "proxyproto.h"
#include "stats.h"
#include "xalloc.h"

_Static_assert(STATS_NPPERR == PP_ERR_N, "stats.h: one counter per pp_error");

static const char *const role_label[STATS_NROLE] = { "ue", "trusted", "partner" };
static const char *const class_label[STATS_NCLASS] =
	{ "1xx", "2xx", "3xx", "4xx", "5xx", "other" };

/* Upper bounds of the latency buckets, seconds (Prometheus' defaults,
 * with 1 ms and 2.5 ms added: most requests to own servers are fast). */
static const double bucket_le[STATS_NBUCKET] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};
static const char *const bucket_label[STATS_NBUCKET] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "10",
};
static const char *const tlsf_label[TLSF_N] = {
	"timeout", "eof", "not_tls", "protocol_version", "no_shared_cipher",
	"certificate", "psk", "other",
};

static const char *const refusal_label[REFUSED_N] = {
	"allow", "max_connections", "max_connections_per_source",
};
static const char *const pph_label[PPH_N] = {
	"proxy", "unknown", "proxy", "local",
};

/* Route names by slot (see stats.h); main thread only. */
static char *route_name[STATS_NROUTE];
static unsigned nroute_names;

unsigned
stats_route_slot(const char *name)
{
	for (unsigned i = 1; i <= nroute_names; i++)
		if (strcmp(route_name[i], name) == 0)
			return i;
	if (nroute_names == STATS_MAX_ROUTES)
		return STATS_MAX_ROUTES + 1;
	route_name[++nroute_names] = xstrdup(name);
	return nroute_names;
}

void
stats_routes_free(void)
{
	for (unsigned i = 1; i <= nroute_names; i++)
		free(route_name[i]);
	nroute_names = 0;
}

void
stats_request(struct stats *st, int role, unsigned route, unsigned status,
    uint64_t req_bytes, uint64_t resp_bytes, double seconds)
{
	unsigned cls = status >= 100 && status < 600 ? status / 100 - 1 : STATS_OTHER;
	unsigned b = 0;

	if (route >= STATS_NROUTE)
		route = STATS_NROUTE - 1;
	if (role >= 0 && role < STATS_NROLE)
		stats_add(&st->requests[role][route][cls], 1);
	stats_add(&st->request_bytes, req_bytes);
	stats_add(&st->response_bytes, resp_bytes);
	while (b < STATS_NBUCKET && seconds > bucket_le[b])
		b++;
	if (b < STATS_NBUCKET)
		stats_add(&st->latency[b], 1);
	stats_add(&st->latency_count, 1);
	stats_add(&st->latency_us, seconds > 0 ? (uint64_t)(seconds * 1e6) : 0);
}

static uint64_t
sum(const struct stats *const *w, unsigned n, size_t off)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += atomic_load_explicit((const atomic_uint_fast64_t *)
		    (const void *)((const char *)w[i] + off), memory_order_relaxed);
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

static void
family(struct evbuffer *out, const char *name, const char *help,
    const char *type)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static const char *
route_label(unsigned slot)
{
	if (slot == STATS_ROUTE_NONE)
		return "-";
	return slot <= nroute_names ? route_name[slot] : "other";
}

static const char *const proto_label[STATS_NPROTO] = { "http/1.1", "h2" };
static const char *const h2_side_label[H2S_N] = { "client", "upstream" };
static const char *const h2_dir_label[H2D_N] = { "sent", "received" };
static const char *const h2_code_label[STATS_NH2CODE] = {
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
	"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR",
	"REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
	"ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
	"other",
};
static const char *const h2_defence_label[H2X_N] = {
	"rapid_reset", "stream_budget", "streams_total", "continuation",
	"settings", "ping", "empty_frames",
};

/* The protocol and HTTP/2 families. */
static void
render_h2(struct evbuffer *out, const struct stats *const *w, unsigned n)
{
	family(out, "mcxproxy_requests_by_protocol_total", "Requests "
	    "answered, by the client's protocol.", "counter");
	for (int p = 0; p < STATS_NPROTO; p++)
		evbuffer_add_printf(out, "mcxproxy_requests_by_protocol_total"
		    "{protocol=\"%s\"} %llu\n", proto_label[p],
		    (unsigned long long)SUM(client_requests[p]));
	family(out, "mcxproxy_upstream_connections_by_protocol", "Upstream "
	    "connections open, by protocol.", "gauge");
	for (int p = 0; p < STATS_NPROTO; p++)
		evbuffer_add_printf(out,
		    "mcxproxy_upstream_connections_by_protocol"
		    "{protocol=\"%s\"} %llu\n", proto_label[p],
		    (unsigned long long)SUM(upstream_conns[p]));
	counter(out, "mcxproxy_upstream_streams", "Upstream HTTP/2 streams "
	    "carrying a request.", "gauge", SUM(upstream_streams));
	family(out, "mcxproxy_h2_goaway_total", "HTTP/2 GOAWAY frames, by "
	    "side (client, upstream) and direction.", "counter");
	for (int s = 0; s < H2S_N; s++)
		for (int d = 0; d < H2D_N; d++)
			evbuffer_add_printf(out, "mcxproxy_h2_goaway_total"
			    "{side=\"%s\",direction=\"%s\"} %llu\n",
			    h2_side_label[s], h2_dir_label[d],
			    (unsigned long long)SUM(h2_goaway[s][d]));
	family(out, "mcxproxy_h2_stream_resets_total", "HTTP/2 streams reset "
	    "(RST_STREAM), by side, direction and error code; codes never seen "
	    "have no row.", "counter");
	for (int s = 0; s < H2S_N; s++)
		for (int d = 0; d < H2D_N; d++)
			for (int c = 0; c < STATS_NH2CODE; c++) {
				uint64_t v = SUM(h2_resets[s][d][c]);

				if (v == 0)
					continue;
				evbuffer_add_printf(out,
				    "mcxproxy_h2_stream_resets_total{side=\"%s\","
				    "direction=\"%s\",code=\"%s\"} %llu\n",
				    h2_side_label[s], h2_dir_label[d],
				    h2_code_label[c], (unsigned long long)v);
			}
	family(out, "mcxproxy_h2_defences_total", "HTTP/2 attack defences "
	    "that acted, by kind (each ended a connection or a stream).",
	    "counter");
	for (int k = 0; k < H2X_N; k++)
		evbuffer_add_printf(out, "mcxproxy_h2_defences_total"
		    "{kind=\"%s\"} %llu\n", h2_defence_label[k],
		    (unsigned long long)SUM(h2_defences[k]));
}

void
stats_render(struct evbuffer *out, const struct stats *const *w, unsigned n)
{
	uint64_t cum = 0;

	family(out, "mcxproxy_requests_total", "Requests answered, by listener "
	    "role, route (- when the proxy answered before routing) and status "
	    "class.", "counter");
	for (int r = 0; r < STATS_NROLE; r++)
		for (unsigned rt_i = 0; rt_i < STATS_NROUTE; rt_i++)
			for (int k = 0; k < STATS_NCLASS; k++) {
				uint64_t v = SUM(requests[r][rt_i][k]);

				/* Only series that ever counted: no rows for
				 * unused slots, and a row stays once it appears. */
				if (v == 0 && (rt_i > nroute_names ||
				    k == STATS_OTHER || k == STATS_1XX))
					continue;
				evbuffer_add_printf(out, "mcxproxy_requests_total"
				    "{listener=\"%s\",route=\"%s\",code=\"%s\"} "
				    "%llu\n", role_label[r], route_label(rt_i),
				    class_label[k], (unsigned long long)v);
			}
	family(out, "mcxproxy_request_duration_seconds", "Time from a "
	    "request head to the last byte of its response.", "histogram");
	for (int b = 0; b < STATS_NBUCKET; b++) {
		cum += SUM(latency[b]);
		evbuffer_add_printf(out, "mcxproxy_request_duration_seconds_bucket"
		    "{le=\"%s\"} %llu\n", bucket_label[b],
		    (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "mcxproxy_request_duration_seconds_bucket"
	    "{le=\"+Inf\"} %llu\n"
	    "mcxproxy_request_duration_seconds_sum %.6f\n"
	    "mcxproxy_request_duration_seconds_count %llu\n",
	    (unsigned long long)SUM(latency_count),
	    (double)SUM(latency_us) / 1e6,
	    (unsigned long long)SUM(latency_count));
	counter(out, "mcxproxy_request_body_bytes_total",
	    "Request body bytes forwarded (client to upstream).", "counter",
	    SUM(request_bytes));
	counter(out, "mcxproxy_response_body_bytes_total",
	    "Response body bytes forwarded (upstream to client).", "counter",
	    SUM(response_bytes));
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
	family(out, "mcxproxy_tls_handshake_failures_total", "TLS handshakes "
	    "that failed or timed out, by reason.", "counter");
	for (int f = 0; f < TLSF_N; f++)
		evbuffer_add_printf(out, "mcxproxy_tls_handshake_failures_total"
		    "{reason=\"%s\"} %llu\n", tlsf_label[f],
		    (unsigned long long)SUM(tls_failures[f]));
	family(out, "mcxproxy_client_connections", "Client connections open, "
	    "by state (idle: keep-alive, between requests).", "gauge");
	evbuffer_add_printf(out,
	    "mcxproxy_client_connections{state=\"active\"} %llu\n"
	    "mcxproxy_client_connections{state=\"idle\"} %llu\n",
	    (unsigned long long)(SUM(connections) - SUM(idle_connections)),
	    (unsigned long long)SUM(idle_connections));
	family(out, "mcxproxy_client_connections_refused_total", "Client "
	    "connections closed at accept, before any byte was read, by "
	    "reason.", "counter");
	for (int i = 0; i < REFUSED_N; i++)
		evbuffer_add_printf(out, "mcxproxy_client_connections_refused_total"
		    "{reason=\"%s\"} %llu\n", refusal_label[i],
		    (unsigned long long)SUM(refused[i]));
	family(out, "mcxproxy_proxy_protocol_headers_total", "PROXY "
	    "protocol headers accepted, by version and command (unknown, "
	    "local: the balancer's own connection, e.g. its health check).",
	    "counter");
	for (int i = 0; i < PPH_N; i++)
		evbuffer_add_printf(out, "mcxproxy_proxy_protocol_headers_total"
		    "{version=\"%c\",command=\"%s\"} %llu\n",
		    i <= PPH_V1_UNKNOWN ? '1' : '2', pph_label[i],
		    (unsigned long long)SUM(pp_headers[i]));
	family(out, "mcxproxy_proxy_protocol_errors_total", "Connections "
	    "closed because their PROXY protocol header was bad, late, cut "
	    "or carried a client outside allow, by reason.", "counter");
	for (int i = 0; i < PP_ERR_N; i++)
		evbuffer_add_printf(out, "mcxproxy_proxy_protocol_errors_total"
		    "{reason=\"%s\"} %llu\n", pp_error_name((enum pp_error)i),
		    (unsigned long long)SUM(pp_errors[i]));
	render_h2(out, w, n);
	family(out, "mcxproxy_upstream_health_checks_total", "Active health "
	    "checks (health.path) of upstream targets, by route and result; "
	    "routes never checked have no row.", "counter");
	for (unsigned rt_i = 1; rt_i < STATS_NROUTE; rt_i++) {
		/* Offsets by hand: GCC's offsetof with two variable indices
		 * is off by one element under -fsanitize=address. */
		size_t off = offsetof(struct stats, health_checks) +
		    rt_i * sizeof(w[0]->health_checks[0]);
		uint64_t ok = sum(w, n, off);
		uint64_t bad = sum(w, n, off + sizeof(w[0]->health_checks[0][0]));

		if (ok == 0 && bad == 0)
			continue;
		evbuffer_add_printf(out, "mcxproxy_upstream_health_checks_total"
		    "{route=\"%s\",result=\"ok\"} %llu\n"
		    "mcxproxy_upstream_health_checks_total"
		    "{route=\"%s\",result=\"fail\"} %llu\n",
		    route_label(rt_i), (unsigned long long)ok,
		    route_label(rt_i), (unsigned long long)bad);
	}
	family(out, "mcxproxy_upstream_connections", "Upstream connections "
	    "open, by state (active: connecting or carrying a request; idle: "
	    "pooled).", "gauge");
	evbuffer_add_printf(out,
	    "mcxproxy_upstream_connections{state=\"active\"} %llu\n"
	    "mcxproxy_upstream_connections{state=\"idle\"} %llu\n",
	    (unsigned long long)SUM(upstream_busy),
	    (unsigned long long)SUM(upstream_idle));
}
