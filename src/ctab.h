/*
 * ctab: reads libconfig groups through tables of settings {name, type,
 * offset, range, default} (nginx, redis), so that config.c describes the
 * file instead of walking it.  Types, ranges, defaults, unknown keys, file
 * readability and "FILE:LINE: message" errors are handled here, once;
 * what settings mean and the checks across them stay in config.c.
 */
#ifndef MCX_CTAB_H
#define MCX_CTAB_H

#include <stddef.h>

#include <libconfig.h>

#include "log.h"

struct errlist;

/* One reading of one file. */
struct ctab {
	struct errlist *errs;
	const char *file;	/* as given: libconfig names settings by it */
	const char *dir;	/* relative file paths are taken from here */
	char *text;		/* the file's bytes, or NULL (see ctab.c) */
};

enum ctab_type {
	/* Strings, stored as char * unless told otherwise. */
	CT_STR,		/* not empty */
	CT_TOKEN,	/* letters, digits, '.', '-', '_' */
	CT_HOST,	/* a host name or IP literal, normalized */
	CT_FILE,	/* a readable file, made absolute */
	CT_UPATH,	/* a URI path prefix, starting with '/' */
	CT_ENUM,	/* int: the index of the string in names */
	CT_ADDR,	/* struct addr; the spelling at noff with CT_SPELL */
	CT_ACCESS,	/* enum log_access_dest; the file path at noff */
	/* Other scalars. */
	CT_UINT,	/* unsigned, min..max */
	CT_U64,		/* uint64_t, min..max */
	CT_SECS,	/* double, > 0 and <= max; integers accepted */
	CT_BOOL,
	/* Lists of strings: array at off, count (size_t) at noff. */
	CT_HOSTS,	/* char *: host patterns, "*.suffix" allowed */
	CT_UPATHS,	/* char *: URI path prefixes */
	CT_ADDRS,	/* struct target */
	CT_CIDRS,	/* struct cidr */
	CT_ENUMS,	/* int: indexes in names, each at most once */
	/* Aggregates. */
	CT_GROUP,	/* a group read with sub into base + off */
	CT_LIST,	/* a list of groups: array at off, count at noff */
};

#define CT_REQUIRED	0x01	/* absent or an empty list: an error */
#define CT_SPELL	0x02	/* CT_ADDR: keep the spelling too */
#define CT_ZERO		0x04	/* CT_SECS: 0 allowed (the feature is off) */

struct ctab_key {
	const char *name;	/* NULL ends a table */
	enum ctab_type type;
	unsigned flags;
	size_t off;
	size_t noff;
	long long min, max, def;
	const char *sdef;		/* CT_STR, CT_TOKEN default */
	const char *const *names;	/* CT_ENUM, CT_ENUMS; NULL-terminated */
	const struct ctab_key *sub;	/* CT_GROUP, CT_LIST */
	size_t esz;			/* CT_LIST element size */
	/* CT_GROUP, CT_LIST: checks across members, once they are read. */
	void (*check)(struct ctab *, const config_setting_t *, void *);
};

#define CT_KEY(n, t, fl, o)						\
	.name = (n), .type = (t), .flags = (fl), .off = (o)
#define CT_SCALAR(n, t, fl, o)	{ CT_KEY(n, t, fl, o) }
#define CT_UINT(n, o, lo, hi, d)					\
	{ CT_KEY(n, CT_UINT, 0, o), .min = (lo), .max = (hi), .def = (d) }
#define CT_SECS(n, o, hi, d)						\
	{ CT_KEY(n, CT_SECS, 0, o), .max = (hi), .def = (d) }
#define CT_ENUM(n, fl, o, nm, d)					\
	{ CT_KEY(n, CT_ENUM, fl, o), .names = (nm), .def = (d) }
#define CT_ARRAY(n, t, fl, o, c)	{ CT_KEY(n, t, fl, o), .noff = (c) }
#define CT_GROUP(n, o, sb, ck)						\
	{ CT_KEY(n, CT_GROUP, 0, o), .sub = (sb), .check = (ck) }
#define CT_LIST(n, fl, type, o, c, sb, ck)				\
	{ CT_KEY(n, CT_LIST, fl, o), .noff = (c), .sub = (sb),		\
	    .esz = sizeof(type), .check = (ck) }
#define CT_END			{ .name = NULL }

/* Reads path's bytes for the integer wrap check; ctab_fini frees them. */
void	ctab_init(struct ctab *, struct errlist *, const char *path,
	    const char *dir);
void	ctab_fini(struct ctab *);

/* Sets every default of the table (and of its groups) into base. */
void	ctab_defaults(const struct ctab_key *, void *base);
/* Reads group g into base; errors go to the ctab's errlist. */
void	ctab_read(struct ctab *, const config_setting_t *g,
	    const struct ctab_key *, void *base);
/* Frees what ctab_read allocated into base. */
void	ctab_free(const struct ctab_key *, void *base);

/* Appends "FILE:LINE: message" for setting s. */
void	ctab_error(struct ctab *, const config_setting_t *, const char *,
	    ...) LOG_PRINTF(3, 4);
/* Writes "listeners.[0].tls", the spelling libconfig's lookups accept. */
void	ctab_path(const config_setting_t *, char *buf, size_t len);
/* The setting's line; the root's is 1 (see ctab.c). */
int	ctab_line(const config_setting_t *);

#endif
