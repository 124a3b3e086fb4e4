/*
 * config: the configuration file (contract section 3) as struct config.
 * This file says what the settings are, as tables that ctab.c reads
 * (types, ranges, defaults), and checks what no single setting can tell:
 * TLS required by a role, duplicates, ambiguous routes.  It also owns
 * host name normalization, shared with the router.  Loading certificates
 * and keys is tls.c's business; here files are only checked readable.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"
#include "ctab.h"
#include "host.h"
#include "xalloc.h"

#define TIMEOUT_MAX	86400	/* seconds */
#define WORKERS_MAX	64

/* ctab stores CT_ENUM settings through int pointers. */
_Static_assert(sizeof(enum listener_role) == sizeof(int), "enum size");

/* ------------------------------------------------------------------ */
/* Checks across the members of one group or list element. */

static const char *const auth_names[] =
	{ "none", "optional", "required", NULL };

static void
tls_server_check(struct ctab *ct, const config_setting_t *s, void *p)
{
	struct tls_server_conf *tls = p;
	char path[256];

	ctab_path(s, path, sizeof(path));
	tls->line = ctab_line(s);
	/* Writing a tls group means TLS, unless it says enabled = false. */
	if (config_setting_get_member(s, "enabled") == NULL)
		tls->enabled = true;
	if (!tls->enabled)
		return;
	if (config_setting_get_member(s, "certificate") == NULL)
		ctab_error(ct, s, "missing setting \"certificate\" in %s",
		    path);
	if (config_setting_get_member(s, "key") == NULL)
		ctab_error(ct, s, "missing setting \"key\" in %s", path);
	if (tls->client_auth != CLIENT_AUTH_NONE &&
	    config_setting_get_member(s, "client_ca") == NULL)
		ctab_error(ct, s, "client_auth \"%s\" needs client_ca in %s",
		    auth_names[tls->client_auth], path);
}

static void
tls_client_check(struct ctab *ct, const config_setting_t *s, void *p)
{
	struct tls_client_conf *tls = p;
	bool has_enabled = config_setting_get_member(s, "enabled") != NULL;
	char path[256];

	ctab_path(s, path, sizeof(path));
	tls->line = ctab_line(s);
	if ((config_setting_get_member(s, "certificate") == NULL) !=
	    (config_setting_get_member(s, "key") == NULL))
		ctab_error(ct, s, "certificate and key go together in %s",
		    path);
	if (!tls->enabled && config_setting_length(s) > (has_enabled ? 1 : 0))
		log_warnx("%s:%d: %s: settings ignored while enabled = false",
		    config_setting_source_file(s) != NULL ?
		    config_setting_source_file(s) : ct->file, tls->line, path);
}

/*
 * A partner is known by the domain its certificate names, so partner
 * listeners require client certificates: that is the default there, and
 * anything else is refused.
 */
static void
partner_listener_auth(struct ctab *ct, const config_setting_t *tls,
    struct tls_server_conf *c)
{
	if (config_setting_get_member(tls, "client_auth") == NULL)
		c->client_auth = CLIENT_AUTH_REQUIRED;
	if (c->client_auth != CLIENT_AUTH_REQUIRED)
		ctab_error(ct, tls, "listener role \"partner\" requires "
		    "client_auth \"required\": a partner is known by the "
		    "domain its certificate names");
	else if (c->client_ca == NULL)
		ctab_error(ct, tls, "listener role \"partner\" needs client_ca: "
		    "the CA that signs the partners' proxy certificates");
}

/*
 * PROXY protocol: the header is a claim about who the client is, so it is
 * taken only from named balancers and required from them, never guessed.
 * The balancers are proxy_from, or allow when proxy_from is absent; with
 * proxy_from, allow (if any) admits the clients the headers carry.  A
 * trusted listener's allow must keep meaning its clients (R17), so it
 * needs proxy_from.
 */
static void
proxy_check(struct ctab *ct, const config_setting_t *s, struct listener_conf *l)
{
	const config_setting_t *from = config_setting_get_member(s, "proxy_from");

	if (!l->proxy_protocol) {
		if (from != NULL)
			ctab_error(ct, from, "proxy_from needs proxy_protocol = "
			    "true");
		return;
	}
	if (l->nproxy_from == 0 && l->nallow == 0)
		ctab_error(ct, s, "proxy_protocol needs the balancers' "
		    "addresses: proxy_from = [\"10.0.0.0/24\"] (or allow, "
		    "when proxy_from is absent); a PROXY header from anyone "
		    "else would let them forge client addresses");
	else if (l->role == ROLE_TRUSTED && l->nproxy_from == 0)
		ctab_error(ct, s, "listener role \"trusted\" with "
		    "proxy_protocol needs proxy_from (the balancers); allow "
		    "then admits the clients the headers carry");
}

static void
listener_check(struct ctab *ct, const config_setting_t *s, void *p)
{
	struct listener_conf *l = p;
	const config_setting_t *allow = config_setting_get_member(s, "allow");

	l->line = ctab_line(s);
	if (config_setting_get_member(s, "role") == NULL)
		return;
	if (l->role == ROLE_UE && !l->tls.enabled)
		ctab_error(ct, s, "listener role \"ue\" requires tls: TLS is "
		    "mandatory on HTTP-1");
	if (l->role == ROLE_PARTNER && !l->tls.enabled)
		ctab_error(ct, s, "listener role \"partner\" requires tls: "
		    "partner proxies are authenticated by their certificates");
	else if (l->role == ROLE_PARTNER)
		partner_listener_auth(ct, config_setting_get_member(s, "tls"),
		    &l->tls);
	if (l->role == ROLE_TRUSTED && (allow == NULL ||
	    (config_setting_is_aggregate(allow) &&
	    config_setting_length(allow) == 0)))
		ctab_error(ct, s, "listener role \"trusted\" requires a "
		    "non-empty allow list of source networks");
	if (l->role != ROLE_TRUSTED && allow != NULL && !l->proxy_protocol)
		ctab_error(ct, allow, "allow is only for listeners of role "
		    "\"trusted\", or with proxy_protocol (the balancers)");
	proxy_check(ct, s, l);
	for (size_t i = 0; i < l->nalpn; i++)
		if (l->alpn[i] == PROTO_H2 && !l->tls.enabled)
			ctab_error(ct, config_setting_get_member(s, "alpn"),
			    "alpn \"h2\" needs tls on the listener: HTTP/2 "
			    "is offered to clients over TLS only (no h2c)");
}

static void
server_check(struct ctab *ct, const config_setting_t *s, void *p)
{
	((struct server_conf *)p)->line = ctab_line(s);
	(void)ct;
}

static void
partner_check(struct ctab *ct, const config_setting_t *s, void *p)
{
	((struct partner_conf *)p)->line = ctab_line(s);
	(void)ct;
}

/* The admin group is read into struct config itself. */
static void
admin_check(struct ctab *ct, const config_setting_t *s, void *p)
{
	((struct config *)p)->has_admin = true;
	(void)ct;
	(void)s;
}

/* ------------------------------------------------------------------ */
/* The tables: contract section 3, plus limits.max_header_fields and
 * the headers group. */

static const char *const level_names[] =
	{ "error", "warn", "info", "debug", NULL };
static const char *const access_format_names[] = { "text", "json", NULL };
static const char *const forwarded_names[] =
	{ "off", "x-forwarded-for", "forwarded", "both", NULL };
static const char *const proto_names[] = { "http/1.1", "h2", NULL };
static const char *const role_names[] = { "ue", "trusted", "partner", NULL };
static const char *const identity_names[] =
	{ "strip", "pass", "reject", NULL };

#define CF(f)	offsetof(struct config, f)
#define TS(f)	offsetof(struct tls_server_conf, f)
#define TC(f)	offsetof(struct tls_client_conf, f)
#define LC(f)	offsetof(struct listener_conf, f)
#define PO(f)	offsetof(struct pool_conf, f)
#define HE(f)	offsetof(struct health_conf, f)
#define SC(f)	offsetof(struct server_conf, f)
#define PC(f)	offsetof(struct partner_conf, f)

static const struct ctab_key log_keys[] = {
	CT_ENUM("level", 0, CF(log_level), level_names, LOG_LEVEL_INFO),
	{ CT_KEY("access", CT_ACCESS, 0, CF(access)), .noff = CF(access_path),
	    .def = LOG_ACCESS_STDERR },
	CT_ENUM("access_format", 0, CF(access_format), access_format_names,
	    LOG_FORMAT_TEXT),
	CT_END
};

/* Per client HTTP/2 connection (RFC 9113 section 6.5.2). */
static const struct ctab_key h2_limits_keys[] = {
	CT_UINT("max_concurrent_streams", CF(limits.h2.max_concurrent_streams),
	    1, 10000, 100),
	CT_UINT("initial_window", CF(limits.h2.initial_window), 1, 2147483647,
	    65535),
	CT_END
};

/* max_body_bytes = 0 means unlimited: refusing every body is never meant. */
static const struct ctab_key limits_keys[] = {
	CT_UINT("max_connections", CF(limits.max_connections), 1, 10000000,
	    20000),
	CT_UINT("max_connections_per_source",
	    CF(limits.max_connections_per_source), 0, 10000000, 0),
	CT_UINT("max_header_bytes", CF(limits.max_header_bytes), 1024, 1048576,
	    16384),
	{ CT_KEY("max_body_bytes", CT_U64, 0, CF(limits.max_body_bytes)),
	    .min = 0, .max = 1LL << 62, .def = 16777216 },
	CT_UINT("max_header_fields", CF(limits.max_header_fields), 1, 10000,
	    100),
	CT_GROUP("h2", 0, h2_limits_keys, NULL),
	CT_END
};

#define TIMEOUT(f, d)	CT_SECS(#f, CF(timeouts.f), TIMEOUT_MAX, d)

static const struct ctab_key timeouts_keys[] = {
	TIMEOUT(tls_handshake, 10),
	TIMEOUT(request_header, 10),
	TIMEOUT(client_idle, 60),
	TIMEOUT(upstream_connect, 3),
	TIMEOUT(upstream_response, 30),
	TIMEOUT(drain, 30),
	/* Balancers: how long a PROXY protocol header may take to arrive;
	 * after SIGTERM, how long to keep accepting while /healthz says 503
	 * (0: stop accepting at once). */
	TIMEOUT(proxy_header, 3),
	{ CT_KEY("drain_grace", CT_SECS, CT_ZERO, CF(timeouts.drain_grace)),
	    .max = TIMEOUT_MAX, .def = 0 },
	CT_END
};

static const struct ctab_key headers_keys[] = {
	CT_ENUM("forwarded", 0, CF(headers.forwarded), forwarded_names,
	    FORWARDED_OFF),
	{ CT_KEY("via", CT_TOKEN, 0, CF(headers.via)), .sdef = "mcxproxy" },
	CT_SCALAR("client_identity", CT_TOKEN, 0, CF(headers.client_identity)),
	CT_END
};

static const struct ctab_key admin_keys[] = {
	CT_SCALAR("address", CT_ADDR, CT_REQUIRED, CF(admin)),
	CT_END
};

#define TCC(f)	offsetof(struct tls_cert_conf, f)

static void
cert_check(struct ctab *ct, const config_setting_t *s, void *p)
{
	((struct tls_cert_conf *)p)->line = ctab_line(s);
}

static const struct ctab_key cert_keys[] = {
	CT_SCALAR("certificate", CT_FILE, CT_REQUIRED, TCC(certificate)),
	CT_SCALAR("key", CT_FILE, CT_REQUIRED, TCC(key)),
	CT_END
};

static const struct ctab_key listener_tls_keys[] = {
	CT_SCALAR("enabled", CT_BOOL, 0, TS(enabled)),
	CT_SCALAR("certificate", CT_FILE, 0, TS(certificate)),
	CT_SCALAR("key", CT_FILE, 0, TS(key)),
	CT_ENUM("client_auth", 0, TS(client_auth), auth_names,
	    CLIENT_AUTH_NONE),
	CT_SCALAR("client_ca", CT_FILE, 0, TS(client_ca)),
	CT_SCALAR("psk", CT_FILE, 0, TS(psk)),
	CT_SCALAR("crl", CT_FILE, 0, TS(crl)),
	CT_SCALAR("ocsp_response", CT_FILE, 0, TS(ocsp_response)),
	CT_SCALAR("ticket_key_file", CT_FILE, 0, TS(ticket_key_file)),
	CT_SECS("ticket_rotation", TS(ticket_rotation), TIMEOUT_MAX, 3600),
	CT_LIST("certificates", 0, struct tls_cert_conf, TS(certificates),
	    TS(ncertificates), cert_keys, cert_check),
	CT_SCALAR("sni_strict", CT_BOOL, 0, TS(sni_strict)),
	CT_END
};

static const struct ctab_key listener_keys[] = {
	CT_ENUM("role", CT_REQUIRED, LC(role), role_names, 0),
	{ CT_KEY("address", CT_ADDR, CT_REQUIRED | CT_SPELL, LC(addr)),
	    .noff = LC(address) },
	CT_GROUP("tls", LC(tls), listener_tls_keys, tls_server_check),
	CT_ARRAY("allow", CT_CIDRS, 0, LC(allow), LC(nallow)),
	CT_SCALAR("proxy_protocol", CT_BOOL, 0, LC(proxy_protocol)),
	CT_ARRAY("proxy_from", CT_CIDRS, 0, LC(proxy_from), LC(nproxy_from)),
	{ CT_KEY("alpn", CT_ENUMS, 0, LC(alpn)), .noff = LC(nalpn),
	    .names = proto_names },
	CT_END
};

/* Toward own servers TLS is opt-in; toward partner proxies it is on. */
#define TLS_CLIENT_KEYS(on)					\
	{ CT_KEY("enabled", CT_BOOL, 0, TC(enabled)), .def = (on) },	\
	CT_SCALAR("ca", CT_FILE, 0, TC(ca)),				\
	CT_SCALAR("server_name", CT_HOST, 0, TC(server_name)),		\
	CT_SCALAR("certificate", CT_FILE, 0, TC(certificate)),		\
	CT_SCALAR("key", CT_FILE, 0, TC(key)),				\
	CT_END

static const struct ctab_key server_tls_keys[] = { TLS_CLIENT_KEYS(false) };
static const struct ctab_key partner_tls_keys[] = { TLS_CLIENT_KEYS(true) };

static const struct ctab_key pool_keys[] = {
	CT_UINT("max_idle", PO(max_idle), 0, 100000, 32),
	CT_UINT("max_connections", PO(max_connections), 1, 1000000, 512),
	CT_UINT("max_streams", PO(max_streams), 1, 10000, 100),
	CT_SECS("ping_interval", PO(ping_interval), TIMEOUT_MAX, 30),
	/* 0 until resolved: timeouts.client_idle, as before the key. */
	CT_SECS("idle_timeout", PO(idle_timeout), TIMEOUT_MAX, 0),
	CT_END
};

static const struct ctab_key health_keys[] = {
	CT_SCALAR("path", CT_UPATH, 0, HE(path)),
	CT_SECS("interval", HE(interval), TIMEOUT_MAX, 5),
	CT_UINT("fails", HE(fails), 1, 1000, 3),
	CT_END
};

static const struct ctab_key server_keys[] = {
	CT_SCALAR("name", CT_TOKEN, CT_REQUIRED, SC(name)),
	CT_ARRAY("hosts", CT_HOSTS, CT_REQUIRED, SC(hosts), SC(nhosts)),
	CT_ARRAY("paths", CT_UPATHS, 0, SC(paths), SC(npaths)),
	CT_ARRAY("targets", CT_ADDRS, CT_REQUIRED, SC(targets), SC(ntargets)),
	CT_GROUP("tls", SC(tls), server_tls_keys, tls_client_check),
	CT_ENUM("protocol", 0, SC(protocol), proto_names, PROTO_HTTP1),
	CT_GROUP("pool", SC(pool), pool_keys, NULL),
	CT_GROUP("health", SC(health), health_keys, NULL),
	CT_END
};

static const struct ctab_key partner_keys[] = {
	CT_SCALAR("domain", CT_HOST, CT_REQUIRED, PC(domain)),
	CT_ARRAY("hosts", CT_HOSTS, CT_REQUIRED, PC(hosts), PC(nhosts)),
	CT_ARRAY("proxy", CT_ADDRS, CT_REQUIRED, PC(proxies), PC(nproxies)),
	CT_GROUP("tls", PC(tls), partner_tls_keys, tls_client_check),
	CT_ENUM("protocol", 0, PC(protocol), proto_names, PROTO_HTTP1),
	CT_GROUP("pool", PC(pool), pool_keys, NULL),
	CT_ENUM("asserted_identity", 0, PC(asserted_identity), identity_names,
	    IDENTITY_STRIP),
	CT_END
};

/* The groups of struct config itself are read at offset 0, same base. */
static const struct ctab_key root_keys[] = {
	CT_SCALAR("domain", CT_HOST, CT_REQUIRED, CF(domain)),
	CT_UINT("workers", CF(workers), 0, WORKERS_MAX, 0),
	CT_SCALAR("user", CT_STR, 0, CF(user)),
	CT_SCALAR("group", CT_STR, 0, CF(group)),
	CT_GROUP("log", 0, log_keys, NULL),
	CT_GROUP("limits", 0, limits_keys, NULL),
	CT_GROUP("timeouts", 0, timeouts_keys, NULL),
	CT_GROUP("headers", 0, headers_keys, NULL),
	CT_LIST("listeners", CT_REQUIRED, struct listener_conf, CF(listeners),
	    CF(nlisteners), listener_keys, listener_check),
	CT_GROUP("admin", 0, admin_keys, admin_check),
	CT_LIST("servers", 0, struct server_conf, CF(servers), CF(nservers),
	    server_keys, server_check),
	CT_LIST("partners", 0, struct partner_conf, CF(partners), CF(npartners),
	    partner_keys, partner_check),
	CT_ARRAY("idm_servers", CT_HOSTS, 0, CF(idm_servers), CF(nidm_servers)),
	CT_END
};

/* ------------------------------------------------------------------ */

static bool
addr_equal(const struct addr *a, const struct addr *b)
{
	return a->len != 0 && addr_same((const struct sockaddr *)&a->ss,
	    (const struct sockaddr *)&b->ss);
}

static bool
has_str(char **v, size_t n, const char *s)
{
	while (n-- > 0)
		if (strcmp(v[n], s) == 0)
			return true;
	return false;
}

/* Two servers with a common host route the same requests when neither
 * has paths, or when they share a path prefix. */
static bool
same_route(const struct server_conf *a, const struct server_conf *b)
{
	size_t i;

	if (a->npaths == 0 && b->npaths == 0)
		return true;
	for (i = 0; i < b->npaths; i++)
		if (has_str(a->paths, a->npaths, b->paths[i]))
			return true;
	return false;
}

/* The setting that element i of a list was read from. */
static const config_setting_t *
elem(const config_setting_t *root, const char *list, size_t i)
{
	return config_setting_get_elem(config_setting_get_member(root, list),
	    (unsigned)i);
}

/* An IdM host also listed among a destination's hosts. */
static void
idm_clash(struct ctab *ct, const config_setting_t *root, const char *idm,
    char **hosts, size_t nhosts, const char *kind, const char *name, int line)
{
	if (has_str(hosts, nhosts, idm))
		ctab_error(ct, config_setting_get_member(root, "idm_servers"),
		    "IdM host \"%s\" is also a host of %s \"%s\" (line %d): "
		    "CSC-1 goes directly to the IdM server, never through the "
		    "proxy", idm, kind, name, line);
}

/* Checks between list elements: duplicates and ambiguous routes. */
static void
cross_check(struct ctab *ct, const config_setting_t *root, struct config *cf)
{
	const config_setting_t *admin;
	size_t i, j, h;

	admin = config_setting_get_member(root, "admin");
	for (i = 0; i < cf->nlisteners; i++) {
		for (j = 0; j < i; j++)
			if (addr_equal(&cf->listeners[i].addr,
			    &cf->listeners[j].addr))
				ctab_error(ct, elem(root, "listeners", i),
				    "listener address \"%s\" is already used "
				    "at line %d",
				    cf->listeners[i].address,
				    cf->listeners[j].line);
		if (cf->has_admin &&
		    addr_equal(&cf->listeners[i].addr, &cf->admin))
			ctab_error(ct, admin, "admin address is already used "
			    "by the listener at line %d",
			    cf->listeners[i].line);
	}
	for (i = 0; i < cf->nservers; i++) {
		struct server_conf *b = &cf->servers[i];

		for (j = 0; j < i && b->name != NULL; j++) {
			struct server_conf *a = &cf->servers[j];

			if (a->name != NULL && strcmp(a->name, b->name) == 0)
				ctab_error(ct, elem(root, "servers", i),
				    "server name \"%s\" is already used at "
				    "line %d", b->name, a->line);
			for (h = 0; h < b->nhosts; h++)
				if (has_str(a->hosts, a->nhosts, b->hosts[h]) &&
				    same_route(a, b))
					ctab_error(ct, elem(root, "servers", i),
					    "server \"%s\" repeats a route of "
					    "server \"%s\" (line %d) for host "
					    "\"%s\": give them different paths",
					    b->name, a->name, a->line,
					    b->hosts[h]);
		}
	}
	/* An IdM host must not also be a destination: CSC-1 is refused
	 * first, so such a server or partner entry could never be reached
	 * and is certainly a mistake. */
	for (h = 0; h < cf->nidm_servers; h++) {
		for (i = 0; i < cf->nservers; i++)
			idm_clash(ct, root, cf->idm_servers[h],
			    cf->servers[i].hosts, cf->servers[i].nhosts,
			    "server", cf->servers[i].name, cf->servers[i].line);
		for (i = 0; i < cf->npartners; i++)
			idm_clash(ct, root, cf->idm_servers[h],
			    cf->partners[i].hosts, cf->partners[i].nhosts,
			    "partner", cf->partners[i].domain, cf->partners[i].line);
	}
	for (i = 0; i < cf->npartners; i++) {
		struct partner_conf *b = &cf->partners[i];

		for (j = 0; j < i; j++) {
			struct partner_conf *a = &cf->partners[j];

			if (a->domain != NULL && b->domain != NULL &&
			    strcmp(a->domain, b->domain) == 0)
				ctab_error(ct, elem(root, "partners", i),
				    "partner domain \"%s\" is already used at "
				    "line %d", b->domain, a->line);
			for (h = 0; h < b->nhosts; h++) {
				if (!has_str(a->hosts, a->nhosts, b->hosts[h]))
					continue;
				ctab_error(ct, elem(root, "partners", i),
				    "host \"%s\" already belongs to the "
				    "partner at line %d", b->hosts[h], a->line);
			}
		}
	}
}

/* Defaults that depend on other settings, or that a list cannot have. */
static void
resolve_defaults(struct config *cf)
{
	size_t i;

	for (i = 0; i < cf->nlisteners; i++) {
		struct listener_conf *l = &cf->listeners[i];

		if (l->nalpn == 0) {
			l->alpn = xcalloc(1, sizeof(*l->alpn));
			l->alpn[0] = PROTO_HTTP1;
			l->nalpn = 1;
		}
		for (size_t k = 0; k < l->nalpn; k++) {
			if (l->alpn[k] == PROTO_H2)
				l->tls.alpn_h2 = true;
			else
				l->tls.alpn_h1 = true;
		}
		l->tls.alpn_h2_first = l->alpn[0] == PROTO_H2;
	}
	for (i = 0; i < cf->nservers; i++)
		if (cf->servers[i].pool.idle_timeout == 0)
			cf->servers[i].pool.idle_timeout =
			    cf->timeouts.client_idle;
	for (i = 0; i < cf->npartners; i++)
		if (cf->partners[i].pool.idle_timeout == 0)
			cf->partners[i].pool.idle_timeout =
			    cf->timeouts.client_idle;
}

struct config *
config_load(const char *path, struct errlist *errs)
{
	unsigned before = errs->count;
	struct config *cf;
	struct ctab ct;
	config_t lc;
	char *copy;
	long n;

	if (access(path, R_OK) == -1) {
		errlist_add(errs, path, 0, "cannot read: %s", strerror(errno));
		return NULL;
	}
	cf = xcalloc(1, sizeof(*cf));
	cf->file = xstrdup(path);
	copy = xstrdup(path);
	if ((cf->dir = realpath(dirname(copy), NULL)) == NULL)
		cf->dir = xstrdup(copy);
	free(copy);
	ctab_init(&ct, errs, path, cf->dir);

	config_init(&lc);
	config_set_include_dir(&lc, cf->dir);
	if (!config_read_file(&lc, path))
		errlist_add(errs, config_error_file(&lc) != NULL ?
		    config_error_file(&lc) : path, config_error_line(&lc),
		    "%s", config_error_text(&lc));
	else {
		ctab_defaults(root_keys, cf);
		ctab_read(&ct, config_root_setting(&lc), root_keys, cf);
		cross_check(&ct, config_root_setting(&lc), cf);
	}
	config_destroy(&lc);
	ctab_fini(&ct);
	resolve_defaults(cf);

	if (cf->workers == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		cf->workers = n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX :
		    (unsigned)n;
	}
	if (errs->count != before) {
		config_free(cf);
		return NULL;
	}
	return cf;
}

void
config_free(struct config *cf)
{
	if (cf == NULL)
		return;
	ctab_free(root_keys, cf);
	free(cf->file);
	free(cf->dir);
	free(cf);
}
