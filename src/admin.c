/* admin: /healthz and /metrics on the main thread (see admin.h). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "addr.h"
#include "admin.h"
#include "log.h"
#include "stats.h"
#include "xalloc.h"

struct admin {
	struct evhttp *http;
	struct worker *const *workers;
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
		stats_render(body, a->workers, a->nworkers, *a->current);
		reply(req, 200, "OK", "text/plain; version=0.0.4", body);
	} else {
		evbuffer_add_printf(body, "not found: try /healthz or /metrics\n");
		reply(req, 404, "Not Found", "text/plain", body);
	}
	evbuffer_free(body);
}

struct admin *
admin_new(struct event_base *base, const struct addr *addr,
    struct worker *const *workers, unsigned nworkers, const bool *draining,
    struct runtime *const *current)
{
	struct admin *a = xcalloc(1, sizeof(*a));
	char host[ADDR_STRLEN], spec[ADDR_STRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&addr->ss;
	unsigned port = sa->sa_family == AF_INET6 ?
	    ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port) :
	    ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);

	a->workers = workers;
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
