/*
 * config: the configuration file (libconfig syntax, contract section 3)
 * turned into plain, immutable data.  Loading parses, applies defaults,
 * range-checks every value and checks cross-references and file
 * readability; every problem is collected as "FILE:LINE: message" so the
 * operator sees all of them in one run of `mcxproxy -t`.  Building TLS
 * contexts and sockets from this data is other modules' business.
 */
#ifndef MCX_CONFIG_H
#define MCX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "errlist.h"
#include "log.h"

enum listener_role {
	ROLE_UE,		/* HTTP-1: devices; TLS mandatory */
	ROLE_TRUSTED,		/* network entities of this domain */
	ROLE_PARTNER,		/* HTTP-3: partner proxies */
};

enum client_auth {
	CLIENT_AUTH_NONE,
	CLIENT_AUTH_OPTIONAL,
	CLIENT_AUTH_REQUIRED,
};

enum identity_policy {		/* X-3GPP-Asserted-Identity from a partner */
	IDENTITY_STRIP,
	IDENTITY_PASS,
	IDENTITY_REJECT,
};

enum forwarded_mode {		/* client address toward upstreams */
	FORWARDED_OFF,
	FORWARDED_XFF,		/* X-Forwarded-For */
	FORWARDED_RFC7239,	/* Forwarded: for=... */
	FORWARDED_BOTH,
};

/* The HTTP version spoken on a hop (ALPN names in config files). */
enum http_proto {
	PROTO_HTTP1,		/* "http/1.1", the default everywhere */
	PROTO_H2,		/* "h2": RFC 9113 */
};

/* One more certificate of a listener, chosen by SNI. */
struct tls_cert_conf {
	char *certificate;
	char *key;
	int line;
};

/* A listener's TLS (server side).  Paths are absolute after loading. */
struct tls_server_conf {
	bool enabled;
	char *certificate;	/* PEM chain, leaf first */
	char *key;
	enum client_auth client_auth;
	char *client_ca;	/* NULL when not set */
	char *psk;		/* NULL when not set: "identity:hexkey" lines */
	char *crl;		/* PEM CRLs for client certificates, or NULL */
	char *ocsp_response;	/* DER OCSP response to staple, or NULL */
	char *ticket_key_file;	/* secret shared by a domain's instances */
	double ticket_rotation;	/* seconds a session-ticket key is used */
	struct tls_cert_conf *certificates;	/* more, chosen by SNI */
	size_t ncertificates;
	bool sni_strict;	/* refuse a server name no certificate has */
	/* ALPN, from the listener's alpn list (resolved on loading). */
	bool alpn_h2;		/* offers h2 */
	bool alpn_h1;		/* offers http/1.1 */
	bool alpn_h2_first;	/* ... and prefers h2 */
	int line;		/* where the tls group starts */
};

/* TLS toward an upstream (server or partner proxy). */
struct tls_client_conf {
	bool enabled;
	char *ca;		/* NULL: the system's default trust store */
	char *server_name;	/* SNI and name to verify; NULL: none sent */
	char *certificate;	/* client certificate for mutual TLS, or NULL */
	char *key;
	int line;
};

struct listener_conf {
	enum listener_role role;
	char *address;		/* as written */
	struct addr addr;
	struct tls_server_conf tls;
	struct cidr *allow;	/* trusted: admitted sources */
	size_t nallow;
	/* PROXY protocol (v1/v2) required from the balancers: proxy_from,
	 * or allow when proxy_from is empty (then allow is not applied to
	 * the carried client address). */
	bool proxy_protocol;
	struct cidr *proxy_from;
	size_t nproxy_from;
	/* ALPN offered to clients, preferred first (enum http_proto);
	 * never empty after loading: ["http/1.1"] by default. */
	int *alpn;
	size_t nalpn;
	int line;
};

struct pool_conf {
	unsigned max_idle;	/* idle keep-alive connections kept, per worker */
	unsigned max_connections; /* open connections at most, per worker */
	unsigned max_streams;	/* HTTP/2: requests at once per connection */
	double ping_interval;	/* HTTP/2: PING after this long idle */
	double idle_timeout;	/* idle connections closed after; resolved */
};

struct health_conf {
	char *path;		/* active check path; NULL: passive only */
	double interval;	/* seconds; also how long a failing target is ejected */
	unsigned fails;		/* consecutive failures that eject a target */
};

struct server_conf {
	char *name;
	char **hosts;		/* lower-case; "*.suffix" or exact */
	size_t nhosts;
	char **paths;		/* path prefixes; none: every path */
	size_t npaths;
	struct target *targets;
	size_t ntargets;
	struct tls_client_conf tls;
	enum http_proto protocol;
	struct pool_conf pool;
	struct health_conf health;
	int line;
};

struct partner_conf {
	char *domain;
	char **hosts;
	size_t nhosts;
	struct target *proxies;
	size_t nproxies;
	struct tls_client_conf tls;
	enum http_proto protocol;
	struct pool_conf pool;
	enum identity_policy asserted_identity;
	int line;
};

struct config {
	char *file;		/* as given */
	char *dir;		/* folder relative paths are taken from */

	char *domain;
	unsigned workers;	/* resolved: never 0 after loading */
	char *user;		/* NULL: keep the current user */
	char *group;

	enum log_level log_level;
	enum log_access_dest access;
	char *access_path;	/* LOG_ACCESS_FILE only */
	enum log_access_format access_format;

	struct {
		unsigned max_connections;
		unsigned max_connections_per_source;	/* 0: no limit */
		unsigned max_header_bytes;
		uint64_t max_body_bytes;
		unsigned max_header_fields;
		struct {	/* per client HTTP/2 connection */
			unsigned max_concurrent_streams;
			unsigned initial_window;
		} h2;
	} limits;

	struct {		/* seconds */
		double tls_handshake;
		double request_header;
		double client_idle;
		double upstream_connect;
		double upstream_response;
		double drain;
		double proxy_header;	/* PROXY protocol header deadline */
		double drain_grace;	/* keep accepting after SIGTERM; 0: no */
	} timeouts;

	struct {
		enum forwarded_mode forwarded;
		char *via;	/* pseudonym in Via: "1.1 <via>" */
		/* Field carrying the authenticated client identity to own
		 * servers; always removed from what clients send.  NULL: off. */
		char *client_identity;
	} headers;

	struct listener_conf *listeners;
	size_t nlisteners;

	bool has_admin;
	struct addr admin;

	struct server_conf *servers;
	size_t nservers;
	struct partner_conf *partners;
	size_t npartners;
	char **idm_servers;
	size_t nidm_servers;
};

/*
 * Loads and validates path.  Returns the configuration, or NULL with every
 * problem appended to errs.  Warnings that do not stop loading are not
 * errors and are logged.
 */
struct config *config_load(const char *path, struct errlist *errs);
void	config_free(struct config *);

#endif
