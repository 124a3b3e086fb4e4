/*
 * router: the compiled route table (contract section 4, steps 3-6).  It
 * owns sorted copies of the host patterns of idm_servers, servers and
 * partners, and per-server path prefixes sorted longest first, so that a
 * lookup is a few binary searches and never allocates.  The strings
 * themselves stay in the config, which must outlive the router.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "router.h"
#include "xalloc.h"

/* One host pattern: an exact name, or the suffix of a "*.suffix". */
struct router_host {
	const char *name;
	size_t owner;		/* index into the config list it came from */
};

/*
 * The patterns of one config list.  Exact names and wildcard suffixes
 * are kept apart because a host is looked up whole in the first and by
 * each of its dot suffixes in the second.
 */
struct router_hostset {
	struct router_host *exact;
	size_t nexact;
	struct router_host *wild;
	size_t nwild;
};

struct router_prefix {
	const char *bytes;
	size_t len;
};

/* A server's path prefixes, longest first: the first hit is the best. */
struct router_paths {
	struct router_prefix *prefix;
	size_t nprefix;
};

struct router {
	struct router_hostset idm;
	struct router_hostset servers;
	struct router_hostset partners;
	struct router_paths *paths;	/* one per config->servers entry */
	size_t nservers;
};

/* Sentinel for "this server has paths and none is a prefix". */
#define NO_PATH_MATCH	((size_t)-1)

/*
 * Ties on the name go to the lower owner index so that a scan of equal
 * names meets the server listed first in the config first.
 */
static int
host_cmp(const void *a, const void *b)
{
	const struct router_host *x = a, *y = b;
	int c;

	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	return (x->owner > y->owner) - (x->owner < y->owner);
}

static int
prefix_cmp(const void *a, const void *b)
{
	const struct router_prefix *x = a, *y = b;

	return (x->len < y->len) - (x->len > y->len);
}

/*
 * "*.x" becomes a wildcard on "x".  Anything else, including a bare "*"
 * or "*." that config validation should have refused, is kept as an
 * exact name: a normalized host never equals it, so it matches nothing
 * instead of everything.
 */
static void
hostset_add(struct router_hostset *hs, const char *pattern, size_t owner)
{
	struct router_host *h;

	if (pattern[0] == '*' && pattern[1] == '.' && pattern[2] != '\0') {
		h = &hs->wild[hs->nwild++];
		h->name = pattern + 2;
	} else {
		h = &hs->exact[hs->nexact++];
		h->name = pattern;
	}
	h->owner = owner;
}

static void
hostset_alloc(struct router_hostset *hs, size_t n)
{
	hs->exact = xcalloc(n, sizeof(*hs->exact));
	hs->wild = xcalloc(n, sizeof(*hs->wild));
	hs->nexact = hs->nwild = 0;
}

static void
hostset_sort(struct router_hostset *hs)
{
	if (hs->nexact > 1)
		qsort(hs->exact, hs->nexact, sizeof(*hs->exact), host_cmp);
	if (hs->nwild > 1)
		qsort(hs->wild, hs->nwild, sizeof(*hs->wild), host_cmp);
}

static void
hostset_fini(struct router_hostset *hs)
{
	free(hs->exact);
	free(hs->wild);
	hs->exact = hs->wild = NULL;
	hs->nexact = hs->nwild = 0;
}

/*
 * Returns the first entry of the run whose name equals key, and its
 * length in *n; NULL when there is none.
 */
static const struct router_host *
hostset_find(const struct router_host *v, size_t nv, const char *key,
    size_t *n)
{
	size_t lo = 0, hi = nv, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == nv || strcmp(v[lo].name, key) != 0)
		return NULL;
	for (end = lo + 1; end < nv && strcmp(v[end].name, key) == 0; end++)
		;
	*n = end - lo;
	return &v[lo];
}

/*
 * Calls back for each host level that matches, most specific first: the
 * exact name, then "*.suffix" for each suffix of host after a dot, longest
 * first.  The suffix starts after the first dot at the earliest, so the
 * wildcard needs at least one label in front of it and never matches the
 * bare suffix.  Stops at the first level where pick() chooses an owner.
 */
typedef bool hostset_pick_cb(const struct router_host *, size_t, void *,
    size_t *);

static bool
hostset_match(const struct router_hostset *hs, const char *host,
    hostset_pick_cb *pick, void *arg, size_t *owner)
{
	const struct router_host *run;
	const char *dot;
	size_t n;

	if ((run = hostset_find(hs->exact, hs->nexact, host, &n)) != NULL &&
	    pick(run, n, arg, owner))
		return true;
	if (hs->nwild == 0)
		return false;
	for (dot = strchr(host + 1, '.'); dot != NULL;
	    dot = strchr(dot + 1, '.')) {
		if ((run = hostset_find(hs->wild, hs->nwild, dot + 1, &n)) !=
		    NULL && pick(run, n, arg, owner))
			return true;
	}
	return false;
}

/* For idm_servers and partners: no paths, so the first listed wins. */
static bool
pick_first(const struct router_host *run, size_t n, void *arg, size_t *owner)
{
	(void)n;
	(void)arg;
	*owner = run[0].owner;
	return true;
}

struct path_query {
	const struct router *rt;
	const char *path;
	size_t pathlen;
};

static size_t
paths_match(const struct router_paths *rp, const char *path, size_t pathlen)
{
	size_t i;

	if (rp->nprefix == 0)
		return 0;
	for (i = 0; i < rp->nprefix; i++) {
		const struct router_prefix *p = &rp->prefix[i];

		if (p->len <= pathlen &&
		    (p->len == 0 || memcmp(p->bytes, path, p->len) == 0))
			return p->len;
	}
	return NO_PATH_MATCH;
}

/*
 * Among the servers sharing one host pattern, the longest path prefix
 * wins.  The run is in config order, so only a strictly longer prefix
 * replaces the current choice and ties stay with the first listed.
 */
static bool
pick_server(const struct router_host *run, size_t n, void *arg,
    size_t *owner)
{
	const struct path_query *q = arg;
	size_t best = NO_PATH_MATCH, i, len;
	bool found = false;

	for (i = 0; i < n; i++) {
		len = paths_match(&q->rt->paths[run[i].owner], q->path,
		    q->pathlen);
		if (len == NO_PATH_MATCH)
			continue;
		if (!found || len > best) {
			best = len;
			*owner = run[i].owner;
			found = true;
		}
	}
	return found;
}

struct router *
router_new(const struct config *cf)
{
	struct router *rt;
	size_t i, j, n;

	rt = xcalloc(1, sizeof(*rt));

	hostset_alloc(&rt->idm, cf->nidm_servers);
	for (i = 0; i < cf->nidm_servers; i++)
		hostset_add(&rt->idm, cf->idm_servers[i], i);
	hostset_sort(&rt->idm);

	for (n = 0, i = 0; i < cf->nservers; i++)
		n += cf->servers[i].nhosts;
	hostset_alloc(&rt->servers, n);
	rt->nservers = cf->nservers;
	rt->paths = xcalloc(cf->nservers, sizeof(*rt->paths));
	for (i = 0; i < cf->nservers; i++) {
		const struct server_conf *sv = &cf->servers[i];
		struct router_paths *rp = &rt->paths[i];

		for (j = 0; j < sv->nhosts; j++)
			hostset_add(&rt->servers, sv->hosts[j], i);
		rp->nprefix = sv->npaths;
		rp->prefix = xcalloc(sv->npaths, sizeof(*rp->prefix));
		for (j = 0; j < sv->npaths; j++) {
			rp->prefix[j].bytes = sv->paths[j];
			rp->prefix[j].len = strlen(sv->paths[j]);
		}
		if (rp->nprefix > 1)
			qsort(rp->prefix, rp->nprefix, sizeof(*rp->prefix),
			    prefix_cmp);
	}
	hostset_sort(&rt->servers);

	for (n = 0, i = 0; i < cf->npartners; i++)
		n += cf->partners[i].nhosts;
	hostset_alloc(&rt->partners, n);
	for (i = 0; i < cf->npartners; i++)
		for (j = 0; j < cf->partners[i].nhosts; j++)
			hostset_add(&rt->partners, cf->partners[i].hosts[j], i);
	hostset_sort(&rt->partners);

	return rt;
}

void
router_free(struct router *rt)
{
	size_t i;

	if (rt == NULL)
		return;
	hostset_fini(&rt->idm);
	hostset_fini(&rt->servers);
	hostset_fini(&rt->partners);
	for (i = 0; i < rt->nservers; i++)
		free(rt->paths[i].prefix);
	free(rt->paths);
	free(rt);
}

/*
 * For ROUTE_IDM the index is the matching idm_servers entry, which only
 * logs and counters have a use for.  An empty host cannot name anything
 * of ours, so it is ROUTE_NONE like any unknown one.
 */
struct route
router_match(const struct router *rt, const char *host, const char *path,
    size_t pathlen)
{
	struct route r = { ROUTE_NONE, 0 };
	struct path_query q = { rt, path, pathlen };

	if (host == NULL || host[0] == '\0')
		return r;
	if (hostset_match(&rt->idm, host, pick_first, NULL, &r.index))
		r.kind = ROUTE_IDM;
	else if (hostset_match(&rt->servers, host, pick_server, &q, &r.index))
		r.kind = ROUTE_SERVER;
	else if (hostset_match(&rt->partners, host, pick_first, NULL,
	    &r.index))
		r.kind = ROUTE_PARTNER;
	return r;
}
