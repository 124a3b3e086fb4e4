/*
 * ctab: the table-driven reader under config.c.  A table entry says what
 * a setting is (type, where it goes, range, default); this file does the
 * rest the same way for every setting: type and range checks, defaults,
 * unknown keys, relative paths, readable files and FILE:LINE errors.
 */
#include <sys/stat.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "addr.h"
#include "ctab.h"
#include "errlist.h"
#include "host.h"
#include "log.h"
#include "xalloc.h"

#define HOST_MAX	256	/* a normalized host, with room for "*." */

/* The reader stores enums through int pointers (config.c checks its own). */
_Static_assert(sizeof(enum log_access_dest) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_access_format) == sizeof(int), "enum size");

#define AT(base, off, type)	((type *)(void *)((char *)(base) + (off)))

static bool
is_namechar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* "listeners.[0].tls": the spelling libconfig's own lookups accept. */
void
ctab_path(const config_setting_t *s, char *buf, size_t len)
{
	size_t n;

	buf[0] = '\0';
	if (config_setting_parent(s) == NULL)
		return;
	ctab_path(config_setting_parent(s), buf, len);
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
int
ctab_line(const config_setting_t *s)
{
	return config_setting_source_line(s) > 0 ?
	    config_setting_source_line(s) : 1;
}

void
ctab_error(struct ctab *ct, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = config_setting_source_file(s);
	char msg[1024], where[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (file == NULL)
		file = ct->file;
	/* libconfig names an @include file as written, relative to the
	 * include folder, which is the main file's folder. */
	if (strcmp(file, ct->file) != 0 && file[0] != '/') {
		snprintf(where, sizeof(where), "%s/%s", ct->dir, file);
		file = where;
	}
	errlist_add(ct->errs, file, ctab_line(s), "%s", msg);
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
int_literal_ok(struct ctab *ct, const config_setting_t *s, long long v)
{
	const char *name = config_setting_name(s), *file, *p, *eol, *q, *r;
	long long lit;
	char *end;
	int line;

	file = config_setting_source_file(s);
	if (ct->text == NULL || name == NULL || file == NULL ||
	    strcmp(file, ct->file) != 0)
		return true;
	for (p = ct->text, line = ctab_line(s); line > 1 && p != NULL; line--)
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
read_int(struct ctab *ct, const config_setting_t *s, const struct ctab_key *k,
    const char *path, long long *v)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		ctab_error(ct, s, "%s must be an integer", path);
		return false;
	}
	*v = config_setting_get_int64(s);
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    !int_literal_ok(ct, s, *v)) {
		ctab_error(ct, s, "%s: integers past 2147483647 need an "
		    "\"L\" suffix (libconfig reads them wrapped)", path);
		return false;
	}
	if (*v < k->min || *v > k->max) {
		ctab_error(ct, s, "%s must be from %lld to %lld, not %lld",
		    path, k->min, k->max, *v);
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
	return host_normalize(in, len, out, outlen);
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
resolve(struct ctab *ct, const char *p)
{
	char *out;

	if (p[0] == '/')
		return xstrdup(p);
	out = xmalloc(strlen(ct->dir) + strlen(p) + 2);
	sprintf(out, "%s/%s", ct->dir, p);
	return out;
}

static void
read_access(struct ctab *ct, const config_setting_t *s, const char *v,
    const struct ctab_key *k, void *base)
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
		*path = resolve(ct, v);
		dir = xstrdup(*path);
		if (stat(dirname(dir), &st) == -1)
			ctab_error(ct, s, "access log folder \"%s\": %s", dir,
			    strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			ctab_error(ct, s, "access log folder \"%s\" is not a "
			    "folder", dir);
		else if (stat(*path, &st) == 0 && S_ISDIR(st.st_mode))
			ctab_error(ct, s, "access log \"%s\" is a folder",
			    *path);
		free(dir);
	}
}

/* The index of v in k->names, or -1 (reported). */
static int
enum_index(struct ctab *ct, const config_setting_t *s, const char *v,
    const struct ctab_key *k, const char *path)
{
	char choices[256] = "";
	size_t i, n;

	for (i = 0; k->names[i] != NULL; i++) {
		if (strcmp(v, k->names[i]) == 0)
			return (int)i;
		n = strlen(choices);
		snprintf(choices + n, sizeof(choices) - n, "%s\"%s\"",
		    i == 0 ? "" : k->names[i + 1] == NULL ? " or " : ", ",
		    k->names[i]);
	}
	ctab_error(ct, s, "%s must be %s, not \"%s\"", path, choices, v);
	return -1;
}

static void
read_enum(struct ctab *ct, const config_setting_t *s, const char *v,
    const struct ctab_key *k, void *base, const char *path)
{
	int i = enum_index(ct, s, v, k, path);

	if (i >= 0)
		*AT(base, k->off, int) = i;
}

/* An element of a CT_ENUMS list: appended once. */
static void
read_enum_elem(struct ctab *ct, const config_setting_t *e, const char *v,
    const struct ctab_key *k, void *base, const char *path)
{
	size_t *n = AT(base, k->noff, size_t);
	int **arr = AT(base, k->off, int *);
	int i = enum_index(ct, e, v, k, path);

	if (i < 0)
		return;
	for (size_t j = 0; j < *n; j++)
		if ((*arr)[j] == i) {
			ctab_error(ct, e, "%s lists \"%s\" twice", path, v);
			return;
		}
	*arr = xreallocarray(*arr, *n + 1, sizeof(int));
	(*arr)[(*n)++] = i;
}

/* One element of a CT_HOSTS, CT_UPATHS, CT_ADDRS, CT_CIDRS or CT_ENUMS
 * list. */
static void
read_elem(struct ctab *ct, const config_setting_t *e, const char *v,
    const struct ctab_key *k, void *base, const char *path)
{
	size_t *n = AT(base, k->noff, size_t);
	void **arr = AT(base, k->off, void *);
	char host[HOST_MAX];
	struct target *t;
	struct cidr c;
	const char *err;

	switch (k->type) {
	case CT_HOSTS:
		if (!host_pattern(v, host, sizeof(host))) {
			ctab_error(ct, e, "invalid host pattern \"%s\" in %s",
			    v, path);
			return;
		}
		v = host;
		/* FALLTHROUGH */
	case CT_UPATHS:
		if (!is_upath(v) && k->type == CT_UPATHS) {
			ctab_error(ct, e, "invalid path \"%s\" in %s: a path "
			    "prefix starts with \"/\" and has no spaces", v,
			    path);
			return;
		}
		*arr = xreallocarray(*arr, *n + 1, sizeof(char *));
		((char **)*arr)[(*n)++] = xstrdup(v);
		break;
	case CT_ADDRS:
		*arr = t = xreallocarray(*arr, *n + 1, sizeof(*t));
		if (addr_parse(v, &t[*n].addr, &err) == -1)
			ctab_error(ct, e, "invalid address \"%s\" in %s: %s",
			    v, path, err);
		else
			t[(*n)++].spec = xstrdup(v);
		break;
	case CT_CIDRS:
		if (cidr_parse(v, &c, &err) == -1) {
			ctab_error(ct, e, "invalid network \"%s\" in %s: %s",
			    v, path, err);
			return;
		}
		*arr = xreallocarray(*arr, *n + 1, sizeof(c));
		((struct cidr *)*arr)[(*n)++] = c;
		break;
	case CT_ENUMS:
		read_enum_elem(ct, e, v, k, base, path);
		break;
	default:
		abort();
	}
}

/* A list of strings: ["a", "b"], ("a", "b"), or one bare "a". */
static void
read_strlist(struct ctab *ct, const config_setting_t *s,
    const struct ctab_key *k, void *base, const char *path)
{
	const config_setting_t *e;
	int i, n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		read_elem(ct, s, config_setting_get_string(s), k, base, path);
		return;
	}
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		ctab_error(ct, s, "%s must be a list of strings", path);
		return;
	}
	n = config_setting_length(s);
	if (n == 0 && (k->flags & CT_REQUIRED))
		ctab_error(ct, s, "%s must not be empty", path);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			ctab_error(ct, e, "%s must be a list of strings", path);
		else
			read_elem(ct, e, config_setting_get_string(e), k, base,
			    path);
	}
}

void
ctab_defaults(const struct ctab_key *keys, void *base)
{
	const struct ctab_key *k;

	for (k = keys; k->name != NULL; k++) {
		if (k->type == CT_UINT)
			*AT(base, k->off, unsigned) = (unsigned)k->def;
		else if (k->type == CT_U64)
			*AT(base, k->off, uint64_t) = (uint64_t)k->def;
		else if (k->type == CT_SECS)
			*AT(base, k->off, double) = (double)k->def;
		else if (k->type == CT_BOOL)
			*AT(base, k->off, bool) = k->def != 0;
		else if (k->type == CT_ENUM || k->type == CT_ACCESS)
			*AT(base, k->off, int) = (int)k->def;
		else if (k->sdef != NULL)
			set_str(AT(base, k->off, char *), k->sdef);
		else if (k->type == CT_GROUP)
			ctab_defaults(k->sub, AT(base, k->off, char));
	}
}

static void
read_list(struct ctab *ct, const config_setting_t *s, const struct ctab_key *k,
    void *base, const char *path)
{
	const config_setting_t *e;
	char *arr;
	int i, n;

	if (!config_setting_is_list(s)) {
		ctab_error(ct, s, "%s must be a list of groups: "
		    "( { ... }, ... )", path);
		return;
	}
	n = config_setting_length(s);
	if (n == 0 && (k->flags & CT_REQUIRED))
		ctab_error(ct, s, "%s must not be empty", path);
	arr = xcalloc((size_t)n, k->esz);
	*AT(base, k->off, void *) = arr;
	*AT(base, k->noff, size_t) = (size_t)n;
	for (i = 0; i < n; i++, arr += k->esz) {
		e = config_setting_get_elem(s, (unsigned)i);
		ctab_defaults(k->sub, arr);
		if (!config_setting_is_group(e)) {
			ctab_error(ct, e, "%s must be a list of groups: "
			    "( { ... }, ... )", path);
			continue;
		}
		ctab_read(ct, e, k->sub, arr);
		k->check(ct, e, arr);
	}
}

static void
read_key(struct ctab *ct, const config_setting_t *s, const struct ctab_key *k,
    void *base)
{
	char **str = AT(base, k->off, char *);
	char path[256], host[HOST_MAX];
	const char *v = NULL, *err;
	long long n;
	double d;

	ctab_path(s, path, sizeof(path));
	if (k->type <= CT_ACCESS) {
		if (config_setting_type(s) != CONFIG_TYPE_STRING) {
			ctab_error(ct, s, "%s must be a string", path);
			return;
		}
		v = config_setting_get_string(s);
		if (*v == '\0') {
			ctab_error(ct, s, "%s must not be empty", path);
			return;
		}
	}
	switch (k->type) {
	case CT_STR:
		set_str(str, v);
		break;
	case CT_TOKEN:
		if (!is_token(v))
			ctab_error(ct, s, "%s \"%s\" must be a token: letters, "
			    "digits, \".\", \"-\" and \"_\"", path, v);
		else
			set_str(str, v);
		break;
	case CT_HOST:
		if (!host_name(v, host, sizeof(host)))
			ctab_error(ct, s, "%s \"%s\" is not a valid host name "
			    "or IP literal", path, v);
		else
			set_str(str, host);
		break;
	case CT_FILE:
		free(*str);
		*str = resolve(ct, v);
		if (access(*str, R_OK) == -1)
			ctab_error(ct, s, "cannot read %s \"%s\": %s",
			    k->name, *str, strerror(errno));
		break;
	case CT_UPATH:
		if (!is_upath(v))
			ctab_error(ct, s, "%s \"%s\" must start with \"/\" and "
			    "have no spaces", path, v);
		else
			set_str(str, v);
		break;
	case CT_ENUM:
		read_enum(ct, s, v, k, base, path);
		break;
	case CT_ADDR:
		if (addr_parse(v, AT(base, k->off, struct addr), &err) == -1)
			ctab_error(ct, s, "invalid address \"%s\" in %s: %s",
			    v, path, err);
		else if (k->flags & CT_SPELL)
			set_str(AT(base, k->noff, char *), v);
		break;
	case CT_ACCESS:
		read_access(ct, s, v, k, base);
		break;
	case CT_UINT:
		if (read_int(ct, s, k, path, &n))
			*AT(base, k->off, unsigned) = (unsigned)n;
		break;
	case CT_U64:
		if (read_int(ct, s, k, path, &n))
			*AT(base, k->off, uint64_t) = (uint64_t)n;
		break;
	case CT_SECS:
		d = config_setting_type(s) == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(s) :
		    (double)config_setting_get_int64(s);
		if (!config_setting_is_number(s) || !((d > 0 ||
		    (d == 0 && (k->flags & CT_ZERO))) && d <= (double)k->max))
			ctab_error(ct, s, "%s must be a number of seconds, "
			    "%s and at most %lld", path, (k->flags & CT_ZERO) ?
			    "0 or more" : "more than 0", k->max);
		else
			*AT(base, k->off, double) = d;
		break;
	case CT_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			ctab_error(ct, s, "%s must be true or false", path);
		else
			*AT(base, k->off, bool) = config_setting_get_bool(s);
		break;
	case CT_HOSTS:
	case CT_UPATHS:
	case CT_ADDRS:
	case CT_CIDRS:
	case CT_ENUMS:
		read_strlist(ct, s, k, base, path);
		break;
	case CT_GROUP:
		if (!config_setting_is_group(s)) {
			ctab_error(ct, s, "%s must be a group: { ... }", path);
			break;
		}
		ctab_read(ct, s, k->sub, AT(base, k->off, char));
		if (k->check != NULL)
			k->check(ct, s, AT(base, k->off, char));
		break;
	case CT_LIST:
		read_list(ct, s, k, base, path);
		break;
	}
}

void
ctab_read(struct ctab *ct, const config_setting_t *g,
    const struct ctab_key *keys, void *base)
{
	const config_setting_t *m;
	const struct ctab_key *k;
	char path[256];
	int i;

	ctab_path(g, path, sizeof(path));
	for (i = 0; i < config_setting_length(g); i++) {
		m = config_setting_get_elem(g, (unsigned)i);
		for (k = keys; k->name != NULL; k++)
			if (strcmp(k->name, config_setting_name(m)) == 0)
				break;
		if (k->name != NULL)
			read_key(ct, m, k, base);
		else
			ctab_error(ct, m, "unknown setting \"%s\"%s%s",
			    config_setting_name(m), *path ? " in " : "", path);
	}
	for (k = keys; k->name != NULL; k++)
		if ((k->flags & CT_REQUIRED) &&
		    config_setting_get_member(g, k->name) == NULL)
			ctab_error(ct, g, "missing setting \"%s\"%s%s", k->name,
			    *path ? " in " : "", path);
}

void
ctab_free(const struct ctab_key *keys, void *base)
{
	const struct ctab_key *k;
	void *arr;
	size_t i, n;

	for (k = keys; k->name != NULL; k++) {
		if (k->type <= CT_UPATH)
			free(*AT(base, k->off, char *));
		else if (k->type == CT_ACCESS ||
		    (k->type == CT_ADDR && (k->flags & CT_SPELL)))
			free(*AT(base, k->noff, char *));
		else if (k->type == CT_GROUP)
			ctab_free(k->sub, AT(base, k->off, char));
		if (k->type < CT_HOSTS || k->type == CT_GROUP)
			continue;
		arr = *AT(base, k->off, void *);
		n = *AT(base, k->noff, size_t);
		for (i = 0; i < n; i++) {
			if (k->type == CT_HOSTS || k->type == CT_UPATHS)
				free(((char **)arr)[i]);
			else if (k->type == CT_ADDRS)
				free(((struct target *)arr)[i].spec);
			else if (k->type == CT_LIST)
				ctab_free(k->sub, (char *)arr + i * k->esz);
		}
		free(arr);
	}
}

/*
 * The text is kept only for int_literal_ok(); a file too big for that is
 * still read by libconfig, just without the check.
 */
void
ctab_init(struct ctab *ct, struct errlist *errs, const char *path,
    const char *dir)
{
	struct stat st;
	size_t n;
	FILE *f;

	memset(ct, 0, sizeof(*ct));
	ct->errs = errs;
	ct->file = path;
	ct->dir = dir;
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fstat(fileno(f), &st) == 0 && st.st_size < (16 << 20)) {
		ct->text = xmalloc((size_t)st.st_size + 1);
		n = fread(ct->text, 1, (size_t)st.st_size, f);
		ct->text[n] = '\0';
	}
	fclose(f);
}

void
ctab_fini(struct ctab *ct)
{
	free(ct->text);
	ct->text = NULL;
}
