/*
 * config: reads the configuration file with libconfig and turns it into
 * struct config (contract section 3).  Every setting is described by a
 * table entry {name, type, offset, range, default}; one generic reader
 * walks the tables, so typing, range checks, defaults, unknown keys and
 * "FILE:LINE: message" errors behave the same everywhere.  Files are only
 * checked for readability here: loading certificates and keys is tls.c's.
 */
#include <sys/stat.h>
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
#include "xalloc.h"

#define HOST_MAX	256	/* a normalized host name, with room for "*." */
#define TIMEOUT_MAX	86400	/* seconds */
#define WORKERS_MAX	64

/* Enums are stored through int pointers by the generic reader. */
_Static_assert(sizeof(enum listener_role) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_access_dest) == sizeof(int), "enum size");

static bool
is_namechar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

struct loader {
	struct config *cf;
	struct errlist *errs;
	const char *file;	/* as given; libconfig names settings by it */
	char *text;		/* the file's bytes, see int_literal_ok() */
	int admin_line;
};

enum ktype {
	K_STR,		/* char *, not empty */
	K_TOKEN,	/* char *: letters, digits, '.', '-', '_' */
	K_HOST,		/* char *: a host name or IP literal, normalized */
	K_FILE,		/* char *: a readable file, made absolute */
	K_UPATH,	/* char *: a URI path prefix, starting with '/' */
	K_UINT,		/* unsigned, min..max */
	K_U64,		/* uint64_t, min..max */
	K_SECS,		/* double: seconds, > 0 and <= max; ints accepted */
	K_BOOL,		/* bool */
	K_ENUM,		/* an enum: the index of the string in names */
	K_ADDR,		/* struct addr; the spelling at noff when KF_SPELL */
	K_ACCESS,	/* enum log_access_dest; the file path at noff */
	K_HOSTS,	/* char ** of host patterns; count at noff */
	K_UPATHS,	/* char ** of URI path prefixes; count at noff */
	K_ADDRS,	/* struct target *; count at noff */
	K_CIDRS,	/* struct cidr *; count at noff */
	K_GROUP,	/* a group read with sub into base + off */
	K_LIST,		/* a list of groups: array at off, count at noff */
};

#define KF_REQUIRED	0x01	/* absent, or an empty list, is an error */
#define KF_SPELL	0x02	/* K_ADDR: keep the spelling too */

struct ckey {
	const char *name;
	enum ktype type;
	unsigned flags;
	size_t off;
	size_t noff;
	long long min, max, def;
	const char *sdef;
	const char *const *names;	/* K_ENUM, NULL-terminated */
	const struct ckey *sub;		/* K_GROUP, K_LIST */
	size_t esz;			/* K_LIST element size */
	/* K_GROUP, K_LIST: cross-field checks once the members are read. */
	void (*check)(struct loader *, const config_setting_t *, void *);
};

#define KEY(n, t, fl, o)	.name = (n), .type = (t), .flags = (fl), .off = (o)
#define AT(base, off, type)	((type *)(void *)((char *)(base) + (off)))

static void	read_group(struct loader *, const config_setting_t *,
		    const struct ckey *, void *);
static void	tls_server_check(struct loader *, const config_setting_t *,
		    void *);
static void	tls_client_check(struct loader *, const config_setting_t *,
		    void *);
static void	listener_check(struct loader *, const config_setting_t *,
		    void *);
static void	server_check(struct loader *, const config_setting_t *,
		    void *);
static void	partner_check(struct loader *, const config_setting_t *,
		    void *);
static void	admin_check(struct loader *, const config_setting_t *, void *);

static const char *const level_names[] =
	{ "error", "warn", "info", "debug", NULL };
static const char *const forwarded_names[] =
	{ "off", "x-forwarded-for", "forwarded", "both", NULL };
static const char *const role_names[] = { "ue", "trusted", "partner", NULL };
static const char *const auth_names[] =
	{ "none", "optional", "required", NULL };
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

static const struct ckey log_keys[] = {
	{ KEY("level", K_ENUM, 0, CF(log_level)), .def = LOG_LEVEL_INFO, .names = level_names },
	{ KEY("access", K_ACCESS, 0, CF(access)), .noff = CF(access_path), .def = LOG_ACCESS_STDERR },
	{ NULL }
};

/* max_body_bytes 0 means unlimited: refusing every body is never wanted. */
static const struct ckey limits_keys[] = {
	{ KEY("max_connections", K_UINT, 0, CF(limits.max_connections)), .min = 1, .max = 10000000, .def = 20000 },
	{ KEY("max_header_bytes", K_UINT, 0, CF(limits.max_header_bytes)), .min = 1024, .max = 1048576, .def = 16384 },
	{ KEY("max_body_bytes", K_U64, 0, CF(limits.max_body_bytes)), .min = 0, .max = 1LL << 62, .def = 16777216 },
	{ KEY("max_header_fields", K_UINT, 0, CF(limits.max_header_fields)), .min = 1, .max = 10000, .def = 100 },
	{ NULL }
};

static const struct ckey timeouts_keys[] = {
	{ KEY("tls_handshake", K_SECS, 0, CF(timeouts.tls_handshake)), .max = TIMEOUT_MAX, .def = 10 },
	{ KEY("request_header", K_SECS, 0, CF(timeouts.request_header)), .max = TIMEOUT_MAX, .def = 10 },
	{ KEY("client_idle", K_SECS, 0, CF(timeouts.client_idle)), .max = TIMEOUT_MAX, .def = 60 },
	{ KEY("upstream_connect", K_SECS, 0, CF(timeouts.upstream_connect)), .max = TIMEOUT_MAX, .def = 3 },
	{ KEY("upstream_response", K_SECS, 0, CF(timeouts.upstream_response)), .max = TIMEOUT_MAX, .def = 30 },
	{ KEY("drain", K_SECS, 0, CF(timeouts.drain)), .max = TIMEOUT_MAX, .def = 30 },
	{ NULL }
};

static const struct ckey headers_keys[] = {
	{ KEY("forwarded", K_ENUM, 0, CF(headers.forwarded)), .def = FORWARDED_OFF, .names = forwarded_names },
	{ KEY("via", K_TOKEN, 0, CF(headers.via)), .sdef = "mcxproxy" },
	{ NULL }
};

static const struct ckey admin_keys[] = {
	{ KEY("address", K_ADDR, KF_REQUIRED, CF(admin)) },
	{ NULL }
};

static const struct ckey listener_tls_keys[] = {
	{ KEY("enabled", K_BOOL, 0, TS(enabled)) },
	{ KEY("certificate", K_FILE, 0, TS(certificate)) },
	{ KEY("key", K_FILE, 0, TS(key)) },
	{ KEY("client_auth", K_ENUM, 0, TS(client_auth)), .def = CLIENT_AUTH_NONE, .names = auth_names },
	{ KEY("client_ca", K_FILE, 0, TS(client_ca)) },
	{ KEY("psk", K_FILE, 0, TS(psk)) },
	{ NULL }
};

static const struct ckey listener_keys[] = {
	{ KEY("role", K_ENUM, KF_REQUIRED, LC(role)), .names = role_names },
	{ KEY("address", K_ADDR, KF_REQUIRED | KF_SPELL, LC(addr)), .noff = LC(address) },
	{ KEY("tls", K_GROUP, 0, LC(tls)), .sub = listener_tls_keys, .check = tls_server_check },
	{ KEY("allow", K_CIDRS, 0, LC(allow)), .noff = LC(nallow) },
	{ NULL }
};

/* Toward own servers TLS is opt-in; toward partner proxies it is on. */
#define TLS_CLIENT_KEYS(enabled_default)				\
	{ KEY("enabled", K_BOOL, 0, TC(enabled)), .def = (enabled_default) },	\
	{ KEY("ca", K_FILE, 0, TC(ca)) },					\
	{ KEY("server_name", K_HOST, 0, TC(server_name)) },			\
	{ KEY("certificate", K_FILE, 0, TC(certificate)) },			\
	{ KEY("key", K_FILE, 0, TC(key)) },					\
	{ NULL }

static const struct ckey server_tls_keys[] = { TLS_CLIENT_KEYS(false) };
static const struct ckey partner_tls_keys[] = { TLS_CLIENT_KEYS(true) };

static const struct ckey pool_keys[] = {
	{ KEY("max_idle", K_UINT, 0, PO(max_idle)), .min = 0, .max = 100000, .def = 32 },
	{ KEY("max_connections", K_UINT, 0, PO(max_connections)), .min = 1, .max = 1000000, .def = 512 },
	{ NULL }
};

static const struct ckey health_keys[] = {
	{ KEY("path", K_UPATH, 0, HE(path)) },
	{ KEY("interval", K_SECS, 0, HE(interval)), .max = TIMEOUT_MAX, .def = 5 },
	{ KEY("fails", K_UINT, 0, HE(fails)), .min = 1, .max = 1000, .def = 3 },
	{ NULL }
};

static const struct ckey server_keys[] = {
	{ KEY("name", K_TOKEN, KF_REQUIRED, SC(name)) },
	{ KEY("hosts", K_HOSTS, KF_REQUIRED, SC(hosts)), .noff = SC(nhosts) },
	{ KEY("paths", K_UPATHS, 0, SC(paths)), .noff = SC(npaths) },
	{ KEY("targets", K_ADDRS, KF_REQUIRED, SC(targets)), .noff = SC(ntargets) },
	{ KEY("tls", K_GROUP, 0, SC(tls)), .sub = server_tls_keys, .check = tls_client_check },
	{ KEY("pool", K_GROUP, 0, SC(pool)), .sub = pool_keys },
	{ KEY("health", K_GROUP, 0, SC(health)), .sub = health_keys },
	{ NULL }
};

static const struct ckey partner_keys[] = {
	{ KEY("domain", K_HOST, KF_REQUIRED, PC(domain)) },
	{ KEY("hosts", K_HOSTS, KF_REQUIRED, PC(hosts)), .noff = PC(nhosts) },
	{ KEY("proxy", K_ADDRS, KF_REQUIRED, PC(proxies)), .noff = PC(nproxies) },
	{ KEY("tls", K_GROUP, 0, PC(tls)), .sub = partner_tls_keys, .check = tls_client_check },
	{ KEY("pool", K_GROUP, 0, PC(pool)), .sub = pool_keys },
	{ KEY("asserted_identity", K_ENUM, 0, PC(asserted_identity)), .def = IDENTITY_STRIP, .names = identity_names },
	{ NULL }
};

/* Groups of struct config itself are read at offset 0 of the same base. */
static const struct ckey root_keys[] = {
	{ KEY("domain", K_HOST, KF_REQUIRED, CF(domain)) },
	{ KEY("workers", K_UINT, 0, CF(workers)), .min = 0, .max = WORKERS_MAX },
	{ KEY("user", K_STR, 0, CF(user)) },
	{ KEY("group", K_STR, 0, CF(group)) },
	{ KEY("log", K_GROUP, 0, 0), .sub = log_keys },
	{ KEY("limits", K_GROUP, 0, 0), .sub = limits_keys },
	{ KEY("timeouts", K_GROUP, 0, 0), .sub = timeouts_keys },
	{ KEY("headers", K_GROUP, 0, 0), .sub = headers_keys },
	{ KEY("listeners", K_LIST, KF_REQUIRED, CF(listeners)), .noff = CF(nlisteners), .sub = listener_keys, .esz = sizeof(struct listener_conf), .check = listener_check },
	{ KEY("admin", K_GROUP, 0, 0), .sub = admin_keys, .check = admin_check },
	{ KEY("servers", K_LIST, 0, CF(servers)), .noff = CF(nservers), .sub = server_keys, .esz = sizeof(struct server_conf), .check = server_check },
	{ KEY("partners", K_LIST, 0, CF(partners)), .noff = CF(npartners), .sub = partner_keys, .esz = sizeof(struct partner_conf), .check = partner_check },
	{ KEY("idm_servers", K_HOSTS, 0, CF(idm_servers)), .noff = CF(nidm_servers) },
	{ NULL }
};

void
errlist_add(struct errlist *e, const char *file, int line, const char *fmt,
    ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = line > 0 ? snprintf(NULL, 0, "%s:%d: %s\n", file, line, msg) :
	    snprintf(NULL, 0, "%s: %s\n", file, msg);
	if (n < 0)
		return;
	e->text = xrealloc(e->text, e->len + (size_t)n + 1);
	if (line > 0)
		snprintf(e->text + e->len, (size_t)n + 1, "%s:%d: %s\n", file,
		    line, msg);
	else
		snprintf(e->text + e->len, (size_t)n + 1, "%s: %s\n", file, msg);
	e->len += (size_t)n;
	e->count++;
}

void
errlist_fini(struct errlist *e)
{
	free(e->text);
	e->text = NULL;
	e->len = 0;
	e->count = 0;
}

/* "listeners.[0].tls": the spelling libconfig's own lookups accept. */
static void
spath(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t n;

	buf[0] = '\0';
	if (parent == NULL)
		return;
	spath(parent, buf, len);
	n = strlen(buf);
	if (config_setting_name(s) != NULL)
		snprintf(buf + n, len - n, "%s%s", n > 0 ? "." : "",
		    config_setting_name(s));
	else
		snprintf(buf + n, len - n, "%s[%d]", n > 0 ? "." : "",
		    config_setting_index(s));
}

static int
sline(const config_setting_t *s)
{
	/* The root has no line: errors about the whole file point at its
	 * first line so every message keeps the FILE:LINE: shape. */
	return config_setting_source_line(s) > 0 ?
	    config_setting_source_line(s) : 1;
}

static void	cerr(struct loader *, const config_setting_t *, const char *,
		    ...) LOG_PRINTF(3, 4);

static void
cerr(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = config_setting_source_file(s);
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errlist_add(ld->errs, file != NULL ? file : ld->file, sline(s), "%s",
	    msg);
}

static void
set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = v != NULL ? xstrdup(v) : NULL;
}

static const char *
want_string(struct loader *ld, const config_setting_t *s, const char *what)
{
	char path[256];

	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return config_setting_get_string(s);
	spath(s, path, sizeof(path));
	cerr(ld, s, "%s must be %s", path, what);
	return NULL;
}

/*
 * libconfig 1.5 keeps an integer literal without an "L" suffix in an int
 * and silently wraps anything past 2^31 - 1 (4294967296 reads as 0).
 * Read the literal again from the source line to catch that.
 */
static bool
int_literal_ok(struct loader *ld, const config_setting_t *s, long long v)
{
	const char *name = config_setting_name(s), *file, *p, *eol, *q, *r;
	size_t nlen;
	long long lit;
	char *end;
	int line;

	file = config_setting_source_file(s);
	if (ld->text == NULL || name == NULL || file == NULL ||
	    strcmp(file, ld->file) != 0)
		return true;
	for (p = ld->text, line = sline(s); line > 1 && p != NULL; line--)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (p == NULL)
		return true;
	eol = strchrnul(p, '\n');
	nlen = strlen(name);
	for (q = p; (q = memmem(q, (size_t)(eol - q), name, nlen)) != NULL;
	    q += nlen) {
		if (q > p && (is_namechar(q[-1]) || q[-1] == '*'))
			continue;
		for (r = q + nlen; *r == ' ' || *r == '\t'; r++)
			;
		if (*r != '=' && *r != ':')
			continue;
		for (r++; *r == ' ' || *r == '\t'; r++)
			;
		errno = 0;
		lit = strtoll(r, &end, 0);
		if (end == r || *end == 'L')
			return true;
		return errno == 0 && lit == v;
	}
	return true;
}

static bool
read_int(struct loader *ld, const config_setting_t *s, const struct ckey *k,
    long long *v)
{
	char path[256];

	spath(s, path, sizeof(path));
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		*v = config_setting_get_int64(s);
		break;
	default:
		cerr(ld, s, "%s must be an integer", path);
		return false;
	}
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    !int_literal_ok(ld, s, *v)) {
		cerr(ld, s, "%s: integers past 2147483647 need an \"L\" suffix "
		    "(libconfig reads them wrapped)", path);
		return false;
	}
	if (*v < k->min || *v > k->max) {
		cerr(ld, s, "%s must be from %lld to %lld, not %lld", path,
		    k->min, k->max, *v);
		return false;
	}
	return true;
}

static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_namechar(*s) && *s != '.')
			return false;
	return true;
}

static bool
is_upath(const char *s)
{
	if (*s != '/')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '?' ||
		    *s == '#')
			return false;
	return true;
}

/* A host name or IP literal as written in the file: no port allowed. */
static bool
host_name(const char *in, char *out, size_t outlen)
{
	size_t len = strlen(in);

	if (len == 0)
		return false;
	if (in[0] == '[' ? in[len - 1] != ']' : strchr(in, ':') != NULL)
		return false;
	return config_normalize_host(in, len, out, outlen);
}

/* "name", "[::1]", "10.0.0.1" or "*.suffix" (suffix a name). */
static bool
host_pattern(const char *in, char *out, size_t outlen)
{
	if (strncmp(in, "*.", 2) != 0)
		return host_name(in, out, outlen);
	if (in[2] == '[' || outlen < 3 || !host_name(in + 2, out + 2,
	    outlen - 2))
		return false;
	memcpy(out, "*.", 2);
	return true;
}

static char *
resolve(struct loader *ld, const char *p)
{
	char *out;

	if (p[0] == '/')
		return xstrdup(p);
	out = xmalloc(strlen(ld->cf->dir) + strlen(p) + 2);
	sprintf(out, "%s/%s", ld->cf->dir, p);
	return out;
}

static void
read_access(struct loader *ld, const config_setting_t *s, const char *v,
    const struct ckey *k, void *base)
{
	enum log_access_dest *dest = AT(base, k->off, enum log_access_dest);
	char **path = AT(base, k->noff, char *);
	struct stat st;
	char *dir;

	set_str(path, NULL);
	if (strcmp(v, "off") == 0)
		*dest = LOG_ACCESS_OFF;
	else if (strcmp(v, "stderr") == 0)
		*dest = LOG_ACCESS_STDERR;
	else if (strcmp(v, "syslog") == 0)
		*dest = LOG_ACCESS_SYSLOG;
	else if (*v == '\0')
		cerr(ld, s, "log.access must be a file path, \"stderr\", "
		    "\"syslog\" or \"off\"");
	else {
		*dest = LOG_ACCESS_FILE;
		*path = resolve(ld, v);
		dir = xstrdup(*path);
		if (stat(dirname(dir), &st) == -1)
			cerr(ld, s, "access log folder \"%s\": %s", dir,
			    strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			cerr(ld, s, "access log folder \"%s\" is not a folder",
			    dir);
		else if (stat(*path, &st) == 0 && S_ISDIR(st.st_mode))
			cerr(ld, s, "access log \"%s\" is a folder", *path);
		free(dir);
	}
}

/* Reads one element of a K_HOSTS/K_UPATHS/K_ADDRS/K_CIDRS list. */
static void
read_elem(struct loader *ld, const config_setting_t *e, const char *v,
    const struct ckey *k, void *base, const char *path)
{
	size_t *n = AT(base, k->noff, size_t);
	char host[HOST_MAX];
	const char *err;
	struct target *t;
	struct cidr *c;
	char ***strs;

	switch (k->type) {
	case K_HOSTS:
		if (!host_pattern(v, host, sizeof(host))) {
			cerr(ld, e, "invalid host pattern \"%s\" in %s", v, path);
			return;
		}
		v = host;
		/* FALLTHROUGH */
	case K_UPATHS:
		if (k->type == K_UPATHS && !is_upath(v)) {
			cerr(ld, e, "invalid path \"%s\" in %s: a path prefix "
			    "starts with \"/\" and has no spaces", v, path);
			return;
		}
		strs = AT(base, k->off, char **);
		*strs = xreallocarray(*strs, *n + 1, sizeof(char *));
		(*strs)[(*n)++] = xstrdup(v);
		break;
	case K_ADDRS:
		t = *AT(base, k->off, struct target *) = xreallocarray(
		    *AT(base, k->off, struct target *), *n + 1, sizeof(*t));
		if (addr_parse(v, &t[*n].addr, &err) == -1) {
			cerr(ld, e, "invalid address \"%s\" in %s: %s", v, path,
			    err);
			return;
		}
		t[(*n)++].spec = xstrdup(v);
		break;
	case K_CIDRS:
		c = *AT(base, k->off, struct cidr *) = xreallocarray(
		    *AT(base, k->off, struct cidr *), *n + 1, sizeof(*c));
		if (cidr_parse(v, &c[*n], &err) == -1) {
			cerr(ld, e, "invalid network \"%s\" in %s: %s", v, path,
			    err);
			return;
		}
		(*n)++;
		break;
	default:
		abort();
	}
}

/* A list of strings: ["a", "b"], ("a", "b"), or one bare "a". */
static void
read_strlist(struct loader *ld, const config_setting_t *s,
    const struct ckey *k, void *base)
{
	const config_setting_t *e;
	char path[256];
	int i, n;

	spath(s, path, sizeof(path));
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		read_elem(ld, s, config_setting_get_string(s), k, base, path);
		return;
	}
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cerr(ld, s, "%s must be a list of strings", path);
		return;
	}
	n = config_setting_length(s);
	if (n == 0 && (k->flags & KF_REQUIRED))
		cerr(ld, s, "%s must not be empty", path);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			cerr(ld, e, "%s must be a list of strings", path);
		else
			read_elem(ld, e, config_setting_get_string(e), k, base,
			    path);
	}
}

static void
apply_defaults(const struct ckey *keys, void *base)
{
	const struct ckey *k;

	for (k = keys; k->name != NULL; k++) {
		switch (k->type) {
		case K_UINT:
			*AT(base, k->off, unsigned) = (unsigned)k->def;
			break;
		case K_U64:
			*AT(base, k->off, uint64_t) = (uint64_t)k->def;
			break;
		case K_SECS:
			*AT(base, k->off, double) = (double)k->def;
			break;
		case K_BOOL:
			*AT(base, k->off, bool) = k->def != 0;
			break;
		case K_ENUM:
		case K_ACCESS:
			/* Every enum of config.h has int's size. */
			*AT(base, k->off, int) = (int)k->def;
			break;
		case K_STR:
		case K_TOKEN:
			set_str(AT(base, k->off, char *), k->sdef);
			break;
		case K_GROUP:
			apply_defaults(k->sub, AT(base, k->off, char));
			break;
		default:
			break;
		}
	}
}

static void
read_enum(struct loader *ld, const config_setting_t *s, const char *v,
    const struct ckey *k, void *base, const char *path)
{
	char choices[256] = "";
	size_t i, n;

	for (i = 0; k->names[i] != NULL; i++) {
		if (strcmp(v, k->names[i]) == 0) {
			*AT(base, k->off, int) = (int)i;
			return;
		}
	}
	for (i = 0; k->names[i] != NULL; i++) {
		n = strlen(choices);
		snprintf(choices + n, sizeof(choices) - n, "%s\"%s\"",
		    i == 0 ? "" : k->names[i + 1] == NULL ? " or " : ", ",
		    k->names[i]);
	}
	cerr(ld, s, "%s must be %s, not \"%s\"", path, choices, v);
}

static void
read_list(struct loader *ld, const config_setting_t *s, const struct ckey *k,
    void *base, const char *path)
{
	const config_setting_t *e;
	char *arr;
	int i, n;

	if (!config_setting_is_list(s)) {
		cerr(ld, s, "%s must be a list of groups: ( { ... }, ... )",
		    path);
		return;
	}
	n = config_setting_length(s);
	if (n == 0 && (k->flags & KF_REQUIRED))
		cerr(ld, s, "%s must not be empty", path);
	arr = xcalloc((size_t)n, k->esz);
	*AT(base, k->off, void *) = arr;
	*AT(base, k->noff, size_t) = (size_t)n;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		apply_defaults(k->sub, arr + (size_t)i * k->esz);
		if (!config_setting_is_group(e)) {
			cerr(ld, e, "%s must be a list of groups: "
			    "( { ... }, ... )", path);
			continue;
		}
		read_group(ld, e, k->sub, arr + (size_t)i * k->esz);
		if (k->check != NULL)
			k->check(ld, e, arr + (size_t)i * k->esz);
	}
}

static void
read_key(struct loader *ld, const config_setting_t *s, const struct ckey *k,
    void *base)
{
	char path[256], host[HOST_MAX];
	const char *v = NULL, *err;
	long long n;
	double d;

	spath(s, path, sizeof(path));
	switch (k->type) {
	case K_STR:
	case K_TOKEN:
	case K_HOST:
	case K_FILE:
	case K_UPATH:
	case K_ENUM:
	case K_ADDR:
	case K_ACCESS:
		if ((v = want_string(ld, s, "a string")) == NULL)
			return;
		if (*v == '\0' && k->type != K_ACCESS) {
			cerr(ld, s, "%s must not be empty", path);
			return;
		}
		break;
	default:
		break;
	}

	switch (k->type) {
	case K_STR:
		set_str(AT(base, k->off, char *), v);
		break;
	case K_TOKEN:
		if (!is_token(v))
			cerr(ld, s, "%s \"%s\" must be a token: letters, "
			    "digits, \".\", \"-\" and \"_\"", path, v);
		else
			set_str(AT(base, k->off, char *), v);
		break;
	case K_HOST:
		if (!host_name(v, host, sizeof(host)))
			cerr(ld, s, "%s \"%s\" is not a valid host name or IP "
			    "literal", path, v);
		else
			set_str(AT(base, k->off, char *), host);
		break;
	case K_FILE:
		set_str(AT(base, k->off, char *), NULL);
		*AT(base, k->off, char *) = resolve(ld, v);
		if (access(*AT(base, k->off, char *), R_OK) == -1)
			cerr(ld, s, "cannot read %s \"%s\": %s", k->name,
			    *AT(base, k->off, char *), strerror(errno));
		break;
	case K_UPATH:
		if (!is_upath(v))
			cerr(ld, s, "%s \"%s\" must start with \"/\" and have "
			    "no spaces", path, v);
		else
			set_str(AT(base, k->off, char *), v);
		break;
	case K_UINT:
		if (read_int(ld, s, k, &n))
			*AT(base, k->off, unsigned) = (unsigned)n;
		break;
	case K_U64:
		if (read_int(ld, s, k, &n))
			*AT(base, k->off, uint64_t) = (uint64_t)n;
		break;
	case K_SECS:
		if (!config_setting_is_number(s)) {
			cerr(ld, s, "%s must be a number of seconds", path);
			break;
		}
		d = config_setting_type(s) == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(s) :
		    (double)config_setting_get_int64(s);
		if (!(d > 0 && d <= (double)k->max))
			cerr(ld, s, "%s must be more than 0 and at most %lld "
			    "seconds", path, k->max);
		else
			*AT(base, k->off, double) = d;
		break;
	case K_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			cerr(ld, s, "%s must be true or false", path);
		else
			*AT(base, k->off, bool) = config_setting_get_bool(s);
		break;
	case K_ENUM:
		read_enum(ld, s, v, k, base, path);
		break;
	case K_ADDR:
		if (addr_parse(v, AT(base, k->off, struct addr), &err) == -1)
			cerr(ld, s, "invalid address \"%s\" in %s: %s", v, path,
			    err);
		else if (k->flags & KF_SPELL)
			set_str(AT(base, k->noff, char *), v);
		break;
	case K_ACCESS:
		read_access(ld, s, v, k, base);
		break;
	case K_HOSTS:
	case K_UPATHS:
	case K_ADDRS:
	case K_CIDRS:
		read_strlist(ld, s, k, base);
		break;
	case K_GROUP:
		if (!config_setting_is_group(s)) {
			cerr(ld, s, "%s must be a group: { ... }", path);
			break;
		}
		read_group(ld, s, k->sub, AT(base, k->off, char));
		if (k->check != NULL)
			k->check(ld, s, AT(base, k->off, char));
		break;
	case K_LIST:
		read_list(ld, s, k, base, path);
		break;
	}
}

static void
read_group(struct loader *ld, const config_setting_t *g,
    const struct ckey *keys, void *base)
{
	const config_setting_t *m;
	const struct ckey *k;
	char path[256];
	int i, n;

	spath(g, path, sizeof(path));
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		m = config_setting_get_elem(g, (unsigned)i);
		for (k = keys; k->name != NULL; k++)
			if (strcmp(k->name, config_setting_name(m)) == 0)
				break;
		if (k->name == NULL)
			cerr(ld, m, "unknown setting \"%s\"%s%s",
			    config_setting_name(m), *path ? " in " : "", path);
		else
			read_key(ld, m, k, base);
	}
	for (k = keys; k->name != NULL; k++)
		if ((k->flags & KF_REQUIRED) &&
		    config_setting_get_member(g, k->name) == NULL)
			cerr(ld, g, "missing setting \"%s\"%s%s", k->name,
			    *path ? " in " : "", path);
}

static void
tls_server_check(struct loader *ld, const config_setting_t *s, void *p)
{
	struct tls_server_conf *tls = p;
	char path[256];

	spath(s, path, sizeof(path));
	tls->line = sline(s);
	/* Writing a tls group means TLS, unless it says enabled = false. */
	if (config_setting_get_member(s, "enabled") == NULL)
		tls->enabled = true;
	if (!tls->enabled)
		return;
	if (config_setting_get_member(s, "certificate") == NULL)
		cerr(ld, s, "missing setting \"certificate\" in %s", path);
	if (config_setting_get_member(s, "key") == NULL)
		cerr(ld, s, "missing setting \"key\" in %s", path);
	if (tls->client_auth != CLIENT_AUTH_NONE &&
	    config_setting_get_member(s, "client_ca") == NULL)
		cerr(ld, s, "client_auth \"%s\" needs client_ca in %s",
		    auth_names[tls->client_auth], path);
}

static void
tls_client_check(struct loader *ld, const config_setting_t *s, void *p)
{
	struct tls_client_conf *tls = p;
	char path[256];

	spath(s, path, sizeof(path));
	tls->line = sline(s);
	if ((config_setting_get_member(s, "certificate") == NULL) !=
	    (config_setting_get_member(s, "key") == NULL))
		cerr(ld, s, "certificate and key go together in %s", path);
	if (!tls->enabled && config_setting_length(s) >
	    (config_setting_get_member(s, "enabled") != NULL ? 1 : 0))
		log_warnx("%s:%d: %s: settings ignored while enabled = false",
		    ld->file, tls->line, path);
}

static void
listener_check(struct loader *ld, const config_setting_t *s, void *p)
{
	struct listener_conf *l = p;
	const config_setting_t *allow;

	l->line = sline(s);
	if (config_setting_get_member(s, "role") == NULL)
		return;
	if (l->role == ROLE_UE && !l->tls.enabled)
		cerr(ld, s, "listener role \"ue\" requires tls: TLS is "
		    "mandatory on HTTP-1");
	if (l->role == ROLE_PARTNER && !l->tls.enabled)
		cerr(ld, s, "listener role \"partner\" requires tls: partner "
		    "proxies are authenticated by their certificates");
	allow = config_setting_get_member(s, "allow");
	if (l->role == ROLE_TRUSTED && l->nallow == 0 && (allow == NULL ||
	    config_setting_length(allow) == 0))
		cerr(ld, s, "listener role \"trusted\" requires a non-empty "
		    "allow list of source networks");
	if (l->role != ROLE_TRUSTED && allow != NULL)
		cerr(ld, allow, "allow is only for listeners of role "
		    "\"trusted\"");
}

static void
server_check(struct loader *ld, const config_setting_t *s, void *p)
{
	struct server_conf *sc = p;

	sc->line = sline(s);
	(void)ld;
}

static void
partner_check(struct loader *ld, const config_setting_t *s, void *p)
{
	struct partner_conf *pc = p;

	pc->line = sline(s);
	(void)ld;
}

static void
admin_check(struct loader *ld, const config_setting_t *s, void *p)
{
	ld->cf->has_admin = true;
	ld->admin_line = sline(s);
	(void)p;
}

static bool
addr_equal(const struct addr *a, const struct addr *b)
{
	/* addr_parse zeroes the whole storage, padding included. */
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static bool
has_str(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Checks between list elements: duplicates and ambiguous routes. */
static void
cross_check(struct loader *ld)
{
	struct config *cf = ld->cf;
	struct server_conf *a, *b;
	size_t i, j, h, q;

	for (i = 0; i < cf->nlisteners; i++) {
		for (j = 0; j < i && cf->listeners[i].address != NULL; j++)
			if (cf->listeners[j].address != NULL &&
			    addr_equal(&cf->listeners[i].addr,
			    &cf->listeners[j].addr))
				errlist_add(ld->errs, ld->file,
				    cf->listeners[i].line, "listener address "
				    "\"%s\" is already used at line %d",
				    cf->listeners[i].address,
				    cf->listeners[j].line);
		if (cf->has_admin && cf->listeners[i].address != NULL &&
		    addr_equal(&cf->listeners[i].addr, &cf->admin))
			errlist_add(ld->errs, ld->file, ld->admin_line,
			    "admin address is already used by the listener "
			    "at line %d", cf->listeners[i].line);
	}
	for (i = 0; i < cf->nservers; i++) {
		b = &cf->servers[i];
		for (j = 0; j < i && b->name != NULL; j++) {
			a = &cf->servers[j];
			if (a->name != NULL && strcmp(a->name, b->name) == 0)
				errlist_add(ld->errs, ld->file, b->line,
				    "server name \"%s\" is already used at "
				    "line %d", b->name, a->line);
			for (h = 0; h < b->nhosts; h++) {
				if (!has_str(a->hosts, a->nhosts, b->hosts[h]))
					continue;
				if (a->npaths == 0 && b->npaths == 0)
					errlist_add(ld->errs, ld->file, b->line,
					    "server \"%s\" repeats host \"%s\" "
					    "of server \"%s\" (line %d) with "
					    "no paths to tell them apart",
					    b->name, b->hosts[h], a->name,
					    a->line);
				for (q = 0; q < b->npaths; q++)
					if (has_str(a->paths, a->npaths,
					    b->paths[q]))
						errlist_add(ld->errs, ld->file,
						    b->line, "server \"%s\" "
						    "repeats host \"%s\" path "
						    "\"%s\" of server \"%s\" "
						    "(line %d)", b->name,
						    b->hosts[h], b->paths[q],
						    a->name, a->line);
			}
		}
	}
	for (i = 0; i < cf->npartners; i++) {
		for (j = 0; j < i; j++) {
			struct partner_conf *pa = &cf->partners[j];
			struct partner_conf *pb = &cf->partners[i];

			if (pa->domain != NULL && pb->domain != NULL &&
			    strcmp(pa->domain, pb->domain) == 0)
				errlist_add(ld->errs, ld->file, pb->line,
				    "partner domain \"%s\" is already used at "
				    "line %d", pb->domain, pa->line);
			for (h = 0; h < pb->nhosts; h++)
				if (has_str(pa->hosts, pa->nhosts, pb->hosts[h]))
					errlist_add(ld->errs, ld->file,
					    pb->line, "host \"%s\" already "
					    "belongs to the partner at line %d",
					    pb->hosts[h], pa->line);
		}
	}
}

static char *
read_text(const char *path)
{
	struct stat st;
	FILE *f;
	char *buf;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fstat(fileno(f), &st) == -1 || st.st_size > (16 << 20)) {
		fclose(f);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

struct config *
config_load(const char *path, struct errlist *errs)
{
	struct loader ld = { .errs = errs, .file = path };
	unsigned before = errs->count;
	struct config *cf;
	config_t lc;
	char *copy;
	long n;

	if (access(path, R_OK) == -1) {
		errlist_add(errs, path, 0, "cannot read: %s", strerror(errno));
		return NULL;
	}
	cf = ld.cf = xcalloc(1, sizeof(*cf));
	cf->file = xstrdup(path);
	copy = xstrdup(path);
	if ((cf->dir = realpath(dirname(copy), NULL)) == NULL)
		cf->dir = xstrdup(copy);
	free(copy);
	ld.text = read_text(path);

	config_init(&lc);
	config_set_include_dir(&lc, cf->dir);
	if (!config_read_file(&lc, path)) {
		errlist_add(errs, config_error_file(&lc) != NULL ?
		    config_error_file(&lc) : path, config_error_line(&lc),
		    "%s", config_error_text(&lc));
	} else {
		apply_defaults(root_keys, cf);
		read_group(&ld, config_root_setting(&lc), root_keys, cf);
		cross_check(&ld);
	}
	config_destroy(&lc);
	free(ld.text);

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

static void
free_keys(const struct ckey *keys, void *base)
{
	const struct ckey *k;
	size_t i, n;
	char *arr;

	for (k = keys; k->name != NULL; k++) {
		n = k->noff != 0 ? *AT(base, k->noff, size_t) : 0;
		switch (k->type) {
		case K_STR:
		case K_TOKEN:
		case K_HOST:
		case K_FILE:
		case K_UPATH:
			free(*AT(base, k->off, char *));
			break;
		case K_ADDR:
			if (k->flags & KF_SPELL)
				free(*AT(base, k->noff, char *));
			break;
		case K_ACCESS:
			free(*AT(base, k->noff, char *));
			break;
		case K_HOSTS:
		case K_UPATHS:
			for (i = 0; i < n; i++)
				free((*AT(base, k->off, char **))[i]);
			free(*AT(base, k->off, char **));
			break;
		case K_ADDRS:
			for (i = 0; i < n; i++)
				free((*AT(base, k->off, struct target *))[i]
				    .spec);
			/* FALLTHROUGH */
		case K_CIDRS:
			free(*AT(base, k->off, void *));
			break;
		case K_GROUP:
			free_keys(k->sub, AT(base, k->off, char));
			break;
		case K_LIST:
			arr = *AT(base, k->off, char *);
			for (i = 0; arr != NULL && i < n; i++)
				free_keys(k->sub, arr + i * k->esz);
			free(arr);
			break;
		default:
			break;
		}
	}
}

void
config_free(struct config *cf)
{
	if (cf == NULL)
		return;
	free_keys(root_keys, cf);
	free(cf->file);
	free(cf->dir);
	free(cf);
}

bool
config_normalize_host(const char *in, size_t len, char *out, size_t outlen)
{
	const char *end = in + len, *port, *p;
	char a6[INET6_ADDRSTRLEN];
	struct in6_addr in6;
	size_t n, i, label;
	unsigned v;

	if (len == 0 || outlen == 0)
		return false;
	if (in[0] == '[') {
		p = memchr(in, ']', len);
		if (p == NULL || (size_t)(p - in - 1) >= sizeof(a6))
			return false;
		memcpy(a6, in + 1, (size_t)(p - in - 1));
		a6[p - in - 1] = '\0';
		/* Canonical text, so "[0::1]" and "[::1]" are one host. */
		if (inet_pton(AF_INET6, a6, &in6) != 1 ||
		    inet_ntop(AF_INET6, &in6, a6, sizeof(a6)) == NULL ||
		    (size_t)snprintf(out, outlen, "[%s]", a6) >= outlen)
			return false;
		port = p + 1;
	} else {
		port = memchr(in, ':', len);
		if (port == NULL)
			port = end;
		n = (size_t)(port - in);
		if (n > 0 && in[n - 1] == '.')
			n--;
		if (n == 0 || n > 253 || n >= outlen)
			return false;
		for (i = 0, label = 0; i < n; i++) {
			if (in[i] == '.') {
				if (label == 0)
					return false;
				label = 0;
			} else if (!is_namechar(in[i]) || ++label > 63)
				return false;
			out[i] = in[i] >= 'A' && in[i] <= 'Z' ?
			    (char)(in[i] - 'A' + 'a') : in[i];
		}
		if (label == 0)
			return false;
		out[n] = '\0';
	}
	if (port == end)
		return true;
	/* An empty port ("host:") is allowed by RFC 3986. */
	if (*port != ':')
		return false;
	for (p = port + 1, v = 0; p < end; p++) {
		if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned)(*p - '0'))
		    > 65535)
			return false;
	}
	return true;
}

bool
config_host_match(const char *pattern, const char *host)
{
	size_t plen, hlen;

	if (pattern[0] == '*' && pattern[1] == '.') {
		/* ".suffix" must be preceded by at least one label. */
		plen = strlen(pattern + 1);
		hlen = strlen(host);
		return hlen > plen &&
		    strcasecmp(host + hlen - plen, pattern + 1) == 0;
	}
	return strcasecmp(pattern, host) == 0;
}
