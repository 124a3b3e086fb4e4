/* admin: /healthz and /metrics on the main thread (see admin.h). */
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "addr.h"
#include "admin.h"
#include "config.h"
#include "log.h"
#include "runtime.h"
#include "stats.h"
#include "xalloc.h"

struct admin {
	struct evhttp *http;
	const struct stats *const *stats;	/* one per worker */
	unsigned nworkers;
	const bool *draining;
	struct runtime *const *current;
};

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

/* Health of each target of one server or partner: 0 while some worker
 * has it ejected after failures. */
static void
health_rows(struct evbuffer *out, const char *route, const struct target *t,
    size_t n, const atomic_int_fast64_t *until, time_t now)
{
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(out, "mcxproxy_upstream_target_healthy"
		    "{route=\"%s\",target=\"%s\"} %d\n", route, t[i].spec,
		    atomic_load_explicit(&until[i], memory_order_relaxed) > now ?
		    0 : 1);
}

/* The workers' counters, then the health of the current generation's
 * targets (kept in the runtime, shared by the workers). */
static void
metrics(struct evbuffer *out, const struct admin *a)
{
	const struct runtime *rt = *a->current;
	const struct config *c = rt->cfg;
	time_t now = time(NULL);

	stats_render(out, a->stats, a->nworkers);
	evbuffer_add_printf(out, "# HELP mcxproxy_upstream_target_healthy 1 "
	    "when the target takes requests, 0 while ejected after "
	    "health.fails failures.\n"
	    "# TYPE mcxproxy_upstream_target_healthy gauge\n");
	for (size_t i = 0; i < c->nservers; i++)
		health_rows(out, c->servers[i].name, c->servers[i].targets,
		    c->servers[i].ntargets, rt->server_ejected[i], now);
	for (size_t i = 0; i < c->npartners; i++)
		health_rows(out, c->partners[i].domain, c->partners[i].proxies,
		    c->partners[i].nproxies, rt->partner_ejected[i], now);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *body = evbuffer_new();

	if (body == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evbuffer_add_printf(body, "only GET\n");
		reply(req, 405, "Method Not Allowed", "text/plain", body);
	} else if (path != NULL && strcmp(path, "/healthz") == 0) {
		bool d = *a->draining;

		evbuffer_add_printf(body, "%s\n", d ? "draining" : "ok");
		reply(req, d ? 503 : 200, d ? "Service Unavailable" : "OK",
		    "text/plain", body);
	} else if (path != NULL && strcmp(path, "/metrics") == 0) {
		metrics(body, a);
		reply(req, 200, "OK", "text/plain; version=0.0.4", body);
	} else {
		evbuffer_add_printf(body, "not found: try /healthz or /metrics\n");
		reply(req, 404, "Not Found", "text/plain", body);
	}
	evbuffer_free(body);
}

struct admin *
admin_new(struct event_base *base, const struct addr *addr,
    const struct stats *const *stats, unsigned nworkers, const bool *draining,
    struct runtime *const *current)
{
	struct admin *a = xcalloc(1, sizeof(*a));
	char host[ADDR_STRLEN], spec[ADDR_STRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&addr->ss;
	unsigned port = sa->sa_family == AF_INET6 ?
	    ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port) :
	    ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);

	a->stats = stats;
	a->nworkers = nworkers;
	a->draining = draining;
	a->current = current;
	addr_format_host(sa, host, sizeof(host));
	a->http = evhttp_new(base);
	if (a->http == NULL || evhttp_bind_socket(a->http, host,
	    (ev_uint16_t)port) != 0) {
		log_warn("admin %s: cannot listen", addr_format(sa, spec,
		    sizeof(spec)));
		admin_free(a);
		return NULL;
	}
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_gencb(a->http, handle, a);
	return a;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	free(a);
}
