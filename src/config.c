/*
 * config: reads the configuration file with libconfig and turns it into
 * struct config (contract section 3).  Every setting is one table entry
 * {name, type, offset, range, default}, and one generic reader walks the
 * tables, so types, ranges, defaults, unknown keys and "FILE:LINE:
 * message" errors behave alike everywhere.  Files are only checked for
 * readability here: loading certificates and keys is tls.c's business.
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

#define HOST_MAX	256	/* a normalized host, with room for "*." */
#define TIMEOUT_MAX	86400	/* seconds */
#define WORKERS_MAX	64

/* The generic reader stores enums through int pointers. */
_Static_assert(sizeof(enum listener_role) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_access_dest) == sizeof(int), "enum size");

struct loader {
	struct config *cf;
	struct errlist *errs;
	const char *file;	/* as given: libconfig names settings by it */
	char *text;		/* the file's bytes, see int_literal_ok() */
	int admin_line;
};

enum ktype {
	K_STR,		/* char *, not empty */
	K_TOKEN,	/* char *: letters, digits, '.', '-', '_' */
	K_HOST,		/* char *: a host name or IP literal, normalized */
	K_FILE,		/* char *: a readable file, made absolute */
	K_UPATH,	/* char *: a URI path prefix, starting with '/' */
	K_ENUM,		/* int: the index of the string in names */
	K_ADDR,		/* struct addr; the spelling at noff when KF_SPELL */
	K_ACCESS,	/* enum log_access_dest; the file's path at noff */
	K_UINT,		/* unsigned, min..max */
	K_U64,		/* uint64_t, min..max */
	K_SECS,		/* double: seconds, > 0 and <= max; ints accepted */
	K_BOOL,
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
	/* K_GROUP, K_LIST: checks across members, once they are read. */
	void (*check)(struct loader *, const config_setting_t *, void *);
};

#define AT(base, off, type)	((type *)(void *)((char *)(base) + (off)))

static void	read_group(struct loader *, const config_setting_t *,
		    const struct ckey *, void *);
static void	cerr(struct loader *, const config_setting_t *, const char *,
		    ...) LOG_PRINTF(3, 4);

static bool
is_namechar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* "listeners.[0].tls": the spelling libconfig's own lookups accept. */
static void
spath(const config_setting_t *s, char *buf, size_t len)
{
	size_t n;

	buf[0] = '\0';
	if (config_setting_parent(s) == NULL)
		return;
	spath(config_setting_parent(s), buf, len);
	n = strlen(buf);
	if (config_setting_name(s) != NULL)
		snprintf(buf + n, len - n, "%s%s", n > 0 ? "." : "",
		    config_setting_name(s));
	else
		snprintf(buf + n, len - n, "%s[%d]", n > 0 ? "." : "",
		    config_setting_index(s));
}

/* The root has no line: errors about the whole file point at its first
 * line, so that every message keeps the FILE:LINE: shape. */
static int
sline(const config_setting_t *s)
{
	return config_setting_source_line(s) > 0 ?
	    config_setting_source_line(s) : 1;
}

/* ------------------------------------------------------------------ */
/* Checks across the members of one group or list element. */

static const char *const auth_names[] =
	{ "none", "optional", "required", NULL };

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
	bool has_enabled = config_setting_get_member(s, "enabled") != NULL;
	char path[256];

	spath(s, path, sizeof(path));
	tls->line = sline(s);
	if ((config_setting_get_member(s, "certificate") == NULL) !=
	    (config_setting_get_member(s, "key") == NULL))
		cerr(ld, s, "certificate and key go together in %s", path);
	if (!tls->enabled && config_setting_length(s) > (has_enabled ? 1 : 0))
		log_warnx("%s:%d: %s: settings ignored while enabled = false",
		    ld->file, tls->line, path);
}

static void
listener_check(struct loader *ld, const config_setting_t *s, void *p)
{
	struct listener_conf *l = p;
	const config_setting_t *allow = config_setting_get_member(s, "allow");

	l->line = sline(s);
	if (config_setting_get_member(s, "role") == NULL)
		return;
	if (l->role == ROLE_UE && !l->tls.enabled)
		cerr(ld, s, "listener role \"ue\" requires tls: TLS is "
		    "mandatory on HTTP-1");
	if (l->role == ROLE_PARTNER && !l->tls.enabled)
		cerr(ld, s, "listener role \"partner\" requires tls: partner "
		    "proxies are authenticated by their certificates");
	if (l->role == ROLE_TRUSTED && (allow == NULL ||
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
	((struct server_conf *)p)->line = sline(s);
	(void)ld;
}

static void
partner_check(struct loader *ld, const config_setting_t *s, void *p)
{
	((struct partner_conf *)p)->line = sline(s);
	(void)ld;
}

static void
admin_check(struct loader *ld, const config_setting_t *s, void *p)
{
	ld->cf->has_admin = true;
	ld->admin_line = sline(s);
	(void)p;
}

/* ------------------------------------------------------------------ */
/* The tables: contract section 3, plus limits.max_header_fields and
 * the headers group. */

static const char *const level_names[] =
	{ "error", "warn", "info", "debug", NULL };
static const char *const forwarded_names[] =
	{ "off", "x-forwarded-for", "forwarded", "both", NULL };
static const char *const role_names[] = { "ue", "trusted", "partner", NULL };
static const char *const identity_names[] =
	{ "strip", "pass", "reject", NULL };

#define KEY(n, t, fl, o)						\
	.name = (n), .type = (t), .flags = (fl), .off = (o)
#define SCALAR(n, t, fl, o)	{ KEY(n, t, fl, o) }
#define UINT(n, o, lo, hi, d)						\
	{ KEY(n, K_UINT, 0, o), .min = (lo), .max = (hi), .def = (d) }
#define SECS(n, o, d)							\
	{ KEY(n, K_SECS, 0, o), .max = TIMEOUT_MAX, .def = (d) }
#define ENUM(n, fl, o, nm, d)						\
	{ KEY(n, K_ENUM, fl, o), .names = (nm), .def = (d) }
#define ARRAY(n, t, fl, o, c)	{ KEY(n, t, fl, o), .noff = (c) }
#define GROUP(n, o, sb, ck)						\
	{ KEY(n, K_GROUP, 0, o), .sub = (sb), .check = (ck) }
#define LIST(n, fl, type, o, c, sb, ck)					\
	{ KEY(n, K_LIST, fl, o), .noff = (c), .sub = (sb),		\
	    .esz = sizeof(type), .check = (ck) }
#define END			{ .name = NULL }

#define CF(f)	offsetof(struct config, f)
#define TS(f)	offsetof(struct tls_server_conf, f)
#define TC(f)	offsetof(struct tls_client_conf, f)
#define LC(f)	offsetof(struct listener_conf, f)
#define PO(f)	offsetof(struct pool_conf, f)
#define HE(f)	offsetof(struct health_conf, f)
#define SC(f)	offsetof(struct server_conf, f)
#define PC(f)	offsetof(struct partner_conf, f)

static const struct ckey log_keys[] = {
	ENUM("level", 0, CF(log_level), level_names, LOG_LEVEL_INFO),
	{ KEY("access", K_ACCESS, 0, CF(access)), .noff = CF(access_path),
	    .def = LOG_ACCESS_STDERR },
	END
};

/* max_body_bytes = 0 means unlimited: refusing every body is never meant. */
static const struct ckey limits_keys[] = {
	UINT("max_connections", CF(limits.max_connections), 1, 10000000, 20000),
	UINT("max_header_bytes", CF(limits.max_header_bytes), 1024, 1048576,
	    16384),
	{ KEY("max_body_bytes", K_U64, 0, CF(limits.max_body_bytes)),
	    .min = 0, .max = 1LL << 62, .def = 16777216 },
	UINT("max_header_fields", CF(limits.max_header_fields), 1, 10000, 100),
	END
};

static const struct ckey timeouts_keys[] = {
	SECS("tls_handshake", CF(timeouts.tls_handshake), 10),
	SECS("request_header", CF(timeouts.request_header), 10),
	SECS("client_idle", CF(timeouts.client_idle), 60),
	SECS("upstream_connect", CF(timeouts.upstream_connect), 3),
	SECS("upstream_response", CF(timeouts.upstream_response), 30),
	SECS("drain", CF(timeouts.drain), 30),
	END
};

static const struct ckey headers_keys[] = {
	ENUM("forwarded", 0, CF(headers.forwarded), forwarded_names,
	    FORWARDED_OFF),
	{ KEY("via", K_TOKEN, 0, CF(headers.via)), .sdef = "mcxproxy" },
	END
};

static const struct ckey admin_keys[] = {
	SCALAR("address", K_ADDR, KF_REQUIRED, CF(admin)),
	END
};

static const struct ckey listener_tls_keys[] = {
	SCALAR("enabled", K_BOOL, 0, TS(enabled)),
	SCALAR("certificate", K_FILE, 0, TS(certificate)),
	SCALAR("key", K_FILE, 0, TS(key)),
	ENUM("client_auth", 0, TS(client_auth), auth_names, CLIENT_AUTH_NONE),
	SCALAR("client_ca", K_FILE, 0, TS(client_ca)),
	SCALAR("psk", K_FILE, 0, TS(psk)),
	END
};

static const struct ckey listener_keys[] = {
	ENUM("role", KF_REQUIRED, LC(role), role_names, 0),
	{ KEY("address", K_ADDR, KF_REQUIRED | KF_SPELL, LC(addr)),
	    .noff = LC(address) },
	GROUP("tls", LC(tls), listener_tls_keys, tls_server_check),
	ARRAY("allow", K_CIDRS, 0, LC(allow), LC(nallow)),
	END
};

/* Toward own servers TLS is opt-in; toward partner proxies it is on. */
#define TLS_CLIENT_KEYS(on)					\
	{ KEY("enabled", K_BOOL, 0, TC(enabled)), .def = (on) },	\
	SCALAR("ca", K_FILE, 0, TC(ca)),				\
	SCALAR("server_name", K_HOST, 0, TC(server_name)),		\
	SCALAR("certificate", K_FILE, 0, TC(certificate)),		\
	SCALAR("key", K_FILE, 0, TC(key)),				\
	END

static const struct ckey server_tls_keys[] = { TLS_CLIENT_KEYS(false) };
static const struct ckey partner_tls_keys[] = { TLS_CLIENT_KEYS(true) };

static const struct ckey pool_keys[] = {
	UINT("max_idle", PO(max_idle), 0, 100000, 32),
	UINT("max_connections", PO(max_connections), 1, 1000000, 512),
	END
};

static const struct ckey health_keys[] = {
	SCALAR("path", K_UPATH, 0, HE(path)),
	SECS("interval", HE(interval), 5),
	UINT("fails", HE(fails), 1, 1000, 3),
	END
};

static const struct ckey server_keys[] = {
	SCALAR("name", K_TOKEN, KF_REQUIRED, SC(name)),
	ARRAY("hosts", K_HOSTS, KF_REQUIRED, SC(hosts), SC(nhosts)),
	ARRAY("paths", K_UPATHS, 0, SC(paths), SC(npaths)),
	ARRAY("targets", K_ADDRS, KF_REQUIRED, SC(targets), SC(ntargets)),
	GROUP("tls", SC(tls), server_tls_keys, tls_client_check),
	GROUP("pool", SC(pool), pool_keys, NULL),
	GROUP("health", SC(health), health_keys, NULL),
	END
};

static const struct ckey partner_keys[] = {
	SCALAR("domain", K_HOST, KF_REQUIRED, PC(domain)),
	ARRAY("hosts", K_HOSTS, KF_REQUIRED, PC(hosts), PC(nhosts)),
	ARRAY("proxy", K_ADDRS, KF_REQUIRED, PC(proxies), PC(nproxies)),
	GROUP("tls", PC(tls), partner_tls_keys, tls_client_check),
	GROUP("pool", PC(pool), pool_keys, NULL),
	ENUM("asserted_identity", 0, PC(asserted_identity), identity_names,
	    IDENTITY_STRIP),
	END
};

/* The groups of struct config itself are read at offset 0, same base. */
static const struct ckey root_keys[] = {
	SCALAR("domain", K_HOST, KF_REQUIRED, CF(domain)),
	UINT("workers", CF(workers), 0, WORKERS_MAX, 0),
	SCALAR("user", K_STR, 0, CF(user)),
	SCALAR("group", K_STR, 0, CF(group)),
	GROUP("log", 0, log_keys, NULL),
	GROUP("limits", 0, limits_keys, NULL),
	GROUP("timeouts", 0, timeouts_keys, NULL),
	GROUP("headers", 0, headers_keys, NULL),
	LIST("listeners", KF_REQUIRED, struct listener_conf, CF(listeners),
	    CF(nlisteners), listener_keys, listener_check),
	GROUP("admin", 0, admin_keys, admin_check),
	LIST("servers", 0, struct server_conf, CF(servers), CF(nservers),
	    server_keys, server_check),
	LIST("partners", 0, struct partner_conf, CF(partners), CF(npartners),
	    partner_keys, partner_check),
	ARRAY("idm_servers", K_HOSTS, 0, CF(idm_servers), CF(nidm_servers)),
	END
};

/* ------------------------------------------------------------------ */
/* The generic reader. */

void
errlist_add(struct errlist *e, const char *file, int line, const char *fmt,
    ...)
{
	char msg[1024], where[32] = "";
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	n = snprintf(NULL, 0, "%s%s: %s\n", file, where, msg);
	if (n < 0)
		return;
	e->text = xrealloc(e->text, e->len + (size_t)n + 1);
	snprintf(e->text + e->len, (size_t)n + 1, "%s%s: %s\n", file, where,
	    msg);
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

/*
 * libconfig 1.5 keeps an integer literal without an "L" suffix in an int
 * and silently wraps anything past 2^31 - 1 (4294967296 reads as 0).
 * Read the literal again from the source line to catch that.
 */
static bool
int_literal_ok(struct loader *ld, const config_setting_t *s, long long v)
{
	const char *name = config_setting_name(s), *file, *p, *eol, *q, *r;
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
	for (q = p; (q = memmem(q, (size_t)(eol - q), name, strlen(name))) !=
	    NULL; q += strlen(name)) {
		if (q > p && is_namechar(q[-1]))
			continue;
		for (r = q + strlen(name); *r == ' ' || *r == '\t'; r++)
			;
		if (*r != '=' && *r != ':')
			continue;
		for (r++; *r == ' ' || *r == '\t'; r++)
			;
		errno = 0;
		lit = strtoll(r, &end, 0);
		return end == r || *end == 'L' || (errno == 0 && lit == v);
	}
	return true;
}

static bool
read_int(struct loader *ld, const config_setting_t *s, const struct ckey *k,
    const char *path, long long *v)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		cerr(ld, s, "%s must be an integer", path);
		return false;
	}
	*v = config_setting_get_int64(s);
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

	if (len == 0 || (in[0] == '[' ? in[len - 1] != ']' :
	    strchr(in, ':') != NULL))
		return false;
	return config_normalize_host(in, len, out, outlen);
}

/* "name", "10.0.0.1", "[::1]" or "*.suffix" with a name as suffix. */
static bool
host_pattern(const char *in, char *out, size_t outlen)
{
	if (strncmp(in, "*.", 2) != 0)
		return host_name(in, out, outlen);
	if (in[2] == '[' || !host_name(in + 2, out + 2, outlen - 2))
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

/* One element of a K_HOSTS, K_UPATHS, K_ADDRS or K_CIDRS list. */
static void
read_elem(struct loader *ld, const config_setting_t *e, const char *v,
    const struct ckey *k, void *base, const char *path)
{
	size_t *n = AT(base, k->noff, size_t);
	void **arr = AT(base, k->off, void *);
	char host[HOST_MAX];
	struct target *t;
	struct cidr c;
	const char *err;

	switch (k->type) {
	case K_HOSTS:
		if (!host_pattern(v, host, sizeof(host))) {
			cerr(ld, e, "invalid host pattern \"%s\" in %s", v, path);
			return;
		}
		v = host;
		/* FALLTHROUGH */
	case K_UPATHS:
		if (!is_upath(v) && k->type == K_UPATHS) {
			cerr(ld, e, "invalid path \"%s\" in %s: a path prefix "
			    "starts with \"/\" and has no spaces", v, path);
			return;
		}
		*arr = xreallocarray(*arr, *n + 1, sizeof(char *));
		((char **)*arr)[(*n)++] = xstrdup(v);
		break;
	case K_ADDRS:
		*arr = t = xreallocarray(*arr, *n + 1, sizeof(*t));
		if (addr_parse(v, &t[*n].addr, &err) == -1)
			cerr(ld, e, "invalid address \"%s\" in %s: %s", v, path,
			    err);
		else
			t[(*n)++].spec = xstrdup(v);
		break;
	case K_CIDRS:
		if (cidr_parse(v, &c, &err) == -1) {
			cerr(ld, e, "invalid network \"%s\" in %s: %s", v, path,
			    err);
			return;
		}
		*arr = xreallocarray(*arr, *n + 1, sizeof(c));
		((struct cidr *)*arr)[(*n)++] = c;
		break;
	default:
		abort();
	}
}

/* A list of strings: ["a", "b"], ("a", "b"), or one bare "a". */
static void
read_strlist(struct loader *ld, const config_setting_t *s,
    const struct ckey *k, void *base, const char *path)
{
	const config_setting_t *e;
	int i, n;

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
		if (k->type == K_UINT)
			*AT(base, k->off, unsigned) = (unsigned)k->def;
		else if (k->type == K_U64)
			*AT(base, k->off, uint64_t) = (uint64_t)k->def;
		else if (k->type == K_SECS)
			*AT(base, k->off, double) = (double)k->def;
		else if (k->type == K_BOOL)
			*AT(base, k->off, bool) = k->def != 0;
		else if (k->type == K_ENUM || k->type == K_ACCESS)
			*AT(base, k->off, int) = (int)k->def;
		else if (k->sdef != NULL)
			set_str(AT(base, k->off, char *), k->sdef);
		else if (k->type == K_GROUP)
			apply_defaults(k->sub, AT(base, k->off, char));
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
	for (i = 0; i < n; i++, arr += k->esz) {
		e = config_setting_get_elem(s, (unsigned)i);
		apply_defaults(k->sub, arr);
		if (!config_setting_is_group(e)) {
			cerr(ld, e, "%s must be a list of groups: "
			    "( { ... }, ... )", path);
			continue;
		}
		read_group(ld, e, k->sub, arr);
		k->check(ld, e, arr);
	}
}

static void
read_key(struct loader *ld, const config_setting_t *s, const struct ckey *k,
    void *base)
{
	char **str = AT(base, k->off, char *);
	char path[256], host[HOST_MAX];
	const char *v = NULL, *err;
	long long n;
	double d;

	spath(s, path, sizeof(path));
	if (k->type <= K_ACCESS) {
		if (config_setting_type(s) != CONFIG_TYPE_STRING) {
			cerr(ld, s, "%s must be a string", path);
			return;
		}
		v = config_setting_get_string(s);
		if (*v == '\0') {
			cerr(ld, s, "%s must not be empty", path);
			return;
		}
	}
	switch (k->type) {
	case K_STR:
		set_str(str, v);
		break;
	case K_TOKEN:
		if (!is_token(v))
			cerr(ld, s, "%s \"%s\" must be a token: letters, "
			    "digits, \".\", \"-\" and \"_\"", path, v);
		else
			set_str(str, v);
		break;
	case K_HOST:
		if (!host_name(v, host, sizeof(host)))
			cerr(ld, s, "%s \"%s\" is not a valid host name or IP "
			    "literal", path, v);
		else
			set_str(str, host);
		break;
	case K_FILE:
		free(*str);
		*str = resolve(ld, v);
		if (access(*str, R_OK) == -1)
			cerr(ld, s, "cannot read %s \"%s\": %s", k->name, *str,
			    strerror(errno));
		break;
	case K_UPATH:
		if (!is_upath(v))
			cerr(ld, s, "%s \"%s\" must start with \"/\" and have "
			    "no spaces", path, v);
		else
			set_str(str, v);
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
	case K_UINT:
		if (read_int(ld, s, k, path, &n))
			*AT(base, k->off, unsigned) = (unsigned)n;
		break;
	case K_U64:
		if (read_int(ld, s, k, path, &n))
			*AT(base, k->off, uint64_t) = (uint64_t)n;
		break;
	case K_SECS:
		d = config_setting_type(s) == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(s) :
		    (double)config_setting_get_int64(s);
		if (!config_setting_is_number(s) || !(d > 0 &&
		    d <= (double)k->max))
			cerr(ld, s, "%s must be a number of seconds, more than "
			    "0 and at most %lld", path, k->max);
		else
			*AT(base, k->off, double) = d;
		break;
	case K_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			cerr(ld, s, "%s must be true or false", path);
		else
			*AT(base, k->off, bool) = config_setting_get_bool(s);
		break;
	case K_HOSTS:
	case K_UPATHS:
	case K_ADDRS:
	case K_CIDRS:
		read_strlist(ld, s, k, base, path);
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
	int i;

	spath(g, path, sizeof(path));
	for (i = 0; i < config_setting_length(g); i++) {
		m = config_setting_get_elem(g, (unsigned)i);
		for (k = keys; k->name != NULL; k++)
			if (strcmp(k->name, config_setting_name(m)) == 0)
				break;
		if (k->name != NULL)
			read_key(ld, m, k, base);
		else
			cerr(ld, m, "unknown setting \"%s\"%s%s",
			    config_setting_name(m), *path ? " in " : "", path);
	}
	for (k = keys; k->name != NULL; k++)
		if ((k->flags & KF_REQUIRED) &&
		    config_setting_get_member(g, k->name) == NULL)
			cerr(ld, g, "missing setting \"%s\"%s%s", k->name,
			    *path ? " in " : "", path);
}

static void
free_keys(const struct ckey *keys, void *base)
{
	const struct ckey *k;
	void *arr;
	size_t i, n;

	for (k = keys; k->name != NULL; k++) {
		if (k->type <= K_UPATH)
			free(*AT(base, k->off, char *));
		else if (k->type == K_ACCESS ||
		    (k->type == K_ADDR && (k->flags & KF_SPELL)))
			free(*AT(base, k->noff, char *));
		else if (k->type == K_GROUP)
			free_keys(k->sub, AT(base, k->off, char));
		if (k->type < K_HOSTS || k->type == K_GROUP)
			continue;
		arr = *AT(base, k->off, void *);
		n = *AT(base, k->noff, size_t);
		for (i = 0; i < n; i++) {
			if (k->type == K_HOSTS || k->type == K_UPATHS)
				free(((char **)arr)[i]);
			else if (k->type == K_ADDRS)
				free(((struct target *)arr)[i].spec);
			else if (k->type == K_LIST)
				free_keys(k->sub, (char *)arr + i * k->esz);
		}
		free(arr);
	}
}

/* ------------------------------------------------------------------ */

static bool
addr_equal(const struct addr *a, const struct addr *b)
{
	/* addr_parse zeroes the whole storage, padding included. */
	return a->len != 0 && a->len == b->len &&
	    memcmp(&a->ss, &b->ss, a->len) == 0;
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

/* Checks between list elements: duplicates and ambiguous routes. */
static void
cross_check(struct loader *ld)
{
	struct config *cf = ld->cf;
	size_t i, j, h;

	for (i = 0; i < cf->nlisteners; i++) {
		for (j = 0; j < i; j++)
			if (addr_equal(&cf->listeners[i].addr,
			    &cf->listeners[j].addr))
				errlist_add(ld->errs, ld->file,
				    cf->listeners[i].line, "listener address "
				    "\"%s\" is already used at line %d",
				    cf->listeners[i].address,
				    cf->listeners[j].line);
		if (cf->has_admin &&
		    addr_equal(&cf->listeners[i].addr, &cf->admin))
			errlist_add(ld->errs, ld->file, ld->admin_line,
			    "admin address is already used by the listener "
			    "at line %d", cf->listeners[i].line);
	}
	for (i = 0; i < cf->nservers; i++) {
		struct server_conf *b = &cf->servers[i];

		for (j = 0; j < i && b->name != NULL; j++) {
			struct server_conf *a = &cf->servers[j];

			if (a->name != NULL && strcmp(a->name, b->name) == 0)
				errlist_add(ld->errs, ld->file, b->line,
				    "server name \"%s\" is already used at "
				    "line %d", b->name, a->line);
			for (h = 0; h < b->nhosts; h++)
				if (has_str(a->hosts, a->nhosts, b->hosts[h]) &&
				    same_route(a, b))
					errlist_add(ld->errs, ld->file, b->line,
					    "server \"%s\" repeats a route of "
					    "server \"%s\" (line %d) for host "
					    "\"%s\": give them different paths",
					    b->name, a->name, a->line,
					    b->hosts[h]);
		}
	}
	for (i = 0; i < cf->npartners; i++) {
		struct partner_conf *b = &cf->partners[i];

		for (j = 0; j < i; j++) {
			struct partner_conf *a = &cf->partners[j];

			if (a->domain != NULL && b->domain != NULL &&
			    strcmp(a->domain, b->domain) == 0)
				errlist_add(ld->errs, ld->file, b->line,
				    "partner domain \"%s\" is already used at "
				    "line %d", b->domain, a->line);
			for (h = 0; h < b->nhosts; h++)
				if (has_str(a->hosts, a->nhosts, b->hosts[h]))
					errlist_add(ld->errs, ld->file, b->line,
					    "host \"%s\" already belongs to the "
					    "partner at line %d", b->hosts[h],
					    a->line);
		}
	}
}

static char *
read_text(const char *path)
{
	struct stat st;
	char *buf = NULL;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fstat(fileno(f), &st) == 0 && st.st_size < (16 << 20)) {
		buf = xmalloc((size_t)st.st_size + 1);
		n = fread(buf, 1, (size_t)st.st_size, f);
		buf[n] = '\0';
	}
	fclose(f);
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
	if (!config_read_file(&lc, path))
		errlist_add(errs, config_error_file(&lc) != NULL ?
		    config_error_file(&lc) : path, config_error_line(&lc),
		    "%s", config_error_text(&lc));
	else {
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
		/* Canonical text, so that "[0::1]" and "[::1]" are one host. */
		if (inet_pton(AF_INET6, a6, &in6) != 1 ||
		    inet_ntop(AF_INET6, &in6, a6, sizeof(a6)) == NULL ||
		    (size_t)snprintf(out, outlen, "[%s]", a6) >= outlen)
			return false;
		port = p + 1;
	} else {
		if ((port = memchr(in, ':', len)) == NULL)
			port = end;
		n = (size_t)(port - in);
		if (n > 0 && in[n - 1] == '.')
			n--;
		if (n == 0 || n > 253 || n >= outlen)
			return false;
		for (i = 0, label = 0; i < n; i++) {
			if (in[i] == '.' && label == 0)
				return false;
			else if (in[i] == '.')
				label = 0;
			else if (!is_namechar(in[i]) || ++label > 63)
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
	if (*port != ':')
		return false;
	/* An empty port ("host:") is allowed by RFC 3986. */
	for (p = port + 1, v = 0; p < end; p++)
		if (*p < '0' || *p > '9' ||
		    (v = v * 10 + (unsigned)(*p - '0')) > 65535)
			return false;
	return true;
}

bool
config_host_match(const char *pattern, const char *host)
{
	size_t plen, hlen;

	if (pattern[0] == '*' && pattern[1] == '.') {
		/* ".suffix" must follow at least one label of host. */
		plen = strlen(pattern + 1);
		hlen = strlen(host);
		return hlen > plen &&
		    strcasecmp(host + hlen - plen, pattern + 1) == 0;
	}
	return strcasecmp(pattern, host) == 0;
}
