/*
 * check_router: the route table against hand-built configurations.  Only
 * the fields the router reads (servers, partners, idm_servers) are
 * filled, so these tests do not depend on the config loader.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "config.h"
#include "router.h"
#include "xalloc.h"

static struct config *
cfg_new(void)
{
	return xcalloc(1, sizeof(struct config));
}

/*
 * Copies strings up to a NULL.  The va_list goes by pointer because the
 * caller reads on after it.
 */
static char **
strv(size_t *n, va_list *ap)
{
	char **v = NULL;
	const char *s;

	*n = 0;
	while ((s = va_arg(*ap, const char *)) != NULL) {
		v = xreallocarray(v, *n + 1, sizeof(*v));
		v[(*n)++] = xstrdup(s);
	}
	return v;
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Adds a server; the arguments are hosts, NULL, paths, NULL.  Returns
 * its index.
 */
static size_t
add_server(struct config *cf, ...)
{
	struct server_conf *sv;
	va_list ap;

	cf->servers = xreallocarray(cf->servers, cf->nservers + 1,
	    sizeof(*cf->servers));
	sv = &cf->servers[cf->nservers];
	memset(sv, 0, sizeof(*sv));
	va_start(ap, cf);
	sv->hosts = strv(&sv->nhosts, &ap);
	sv->paths = strv(&sv->npaths, &ap);
	va_end(ap);
	return cf->nservers++;
}

/* Adds a partner; the arguments are hosts, NULL.  Returns its index. */
static size_t
add_partner(struct config *cf, ...)
{
	struct partner_conf *pa;
	va_list ap;

	cf->partners = xreallocarray(cf->partners, cf->npartners + 1,
	    sizeof(*cf->partners));
	pa = &cf->partners[cf->npartners];
	memset(pa, 0, sizeof(*pa));
	va_start(ap, cf);
	pa->hosts = strv(&pa->nhosts, &ap);
	va_end(ap);
	return cf->npartners++;
}

/* Sets idm_servers; the arguments are hosts, NULL. */
static void
set_idm(struct config *cf, ...)
{
	va_list ap;

	va_start(ap, cf);
	cf->idm_servers = strv(&cf->nidm_servers, &ap);
	va_end(ap);
}

static void
cfg_free(struct config *cf)
{
	size_t i;

	for (i = 0; i < cf->nservers; i++) {
		strv_free(cf->servers[i].hosts, cf->servers[i].nhosts);
		strv_free(cf->servers[i].paths, cf->servers[i].npaths);
	}
	free(cf->servers);
	for (i = 0; i < cf->npartners; i++)
		strv_free(cf->partners[i].hosts, cf->partners[i].nhosts);
	free(cf->partners);
	strv_free(cf->idm_servers, cf->nidm_servers);
	free(cf);
}

static struct route
match(const struct router *rt, const char *host, const char *path)
{
	return router_match(rt, host, path, path != NULL ? strlen(path) : 0);
}

static const char *
show(const char *path)
{
	return path != NULL ? path : "(null)";
}

static const char *
kind_name(enum route_kind k)
{
	switch (k) {
	case ROUTE_NONE:
		return "none";
	case ROUTE_IDM:
		return "idm";
	case ROUTE_SERVER:
		return "server";
	case ROUTE_PARTNER:
		return "partner";
	}
	return "?";
}

#define ck_route(rt, host, path, k, i) do {				\
	struct route r_ = match((rt), (host), (path));			\
	ck_assert_msg(r_.kind == (k) && r_.index == (size_t)(i),	\
	    "%s %s: got %s %zu, want %s %zu", (host), show(path),	\
	    kind_name(r_.kind), r_.index, kind_name(k), (size_t)(i));	\
} while (0)

#define ck_none(rt, host, path) do {					\
	struct route r_ = match((rt), (host), (path));			\
	ck_assert_msg(r_.kind == ROUTE_NONE, "%s %s: got %s %zu, want none", \
	    (host), show(path), kind_name(r_.kind), r_.index);		\
} while (0)

START_TEST(test_exact_beats_wildcard)
{
	struct config *cf = cfg_new();
	struct router *rt;
	size_t w1, e, w2;

	/* The exact name wins whether listed before or after a wildcard. */
	w1 = add_server(cf, "*.own.example", NULL, NULL);
	e = add_server(cf, "api.own.example", NULL, NULL);
	w2 = add_server(cf, "*.other.example", NULL, NULL);
	add_server(cf, "www.other.example", NULL, NULL);
	rt = router_new(cf);
	ck_route(rt, "api.own.example", "/", ROUTE_SERVER, e);
	ck_route(rt, "x.own.example", "/", ROUTE_SERVER, w1);
	ck_route(rt, "www.other.example", "/", ROUTE_SERVER, 3);
	ck_route(rt, "w.other.example", "/", ROUTE_SERVER, w2);
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_longer_wildcard_wins)
{
	struct config *cf = cfg_new();
	struct router *rt;
	size_t s0, s1, s2;

	s0 = add_server(cf, "*.example", NULL, NULL);
	s2 = add_server(cf, "*.a.own.example", NULL, NULL);
	s1 = add_server(cf, "*.own.example", NULL, NULL);
	rt = router_new(cf);
	ck_route(rt, "x.a.own.example", "/", ROUTE_SERVER, s2);
	ck_route(rt, "y.x.a.own.example", "/", ROUTE_SERVER, s2);
	ck_route(rt, "x.own.example", "/", ROUTE_SERVER, s1);
	/* "a.own.example" is not under "*.a.own.example". */
	ck_route(rt, "a.own.example", "/", ROUTE_SERVER, s1);
	ck_route(rt, "deep.x.own.example", "/", ROUTE_SERVER, s1);
	ck_route(rt, "own.example", "/", ROUTE_SERVER, s0);
	ck_route(rt, "foo.example", "/", ROUTE_SERVER, s0);
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_wildcard_not_bare_suffix)
{
	struct config *cf = cfg_new();
	struct router *rt;

	add_server(cf, "*.own.example", NULL, NULL);
	add_partner(cf, "*.partner.example", NULL);
	set_idm(cf, "*.idm.example", NULL);
	rt = router_new(cf);
	ck_none(rt, "own.example", "/");
	ck_none(rt, "example", "/");
	/* The suffix must start on a label boundary. */
	ck_none(rt, "xown.example", "/");
	ck_none(rt, "partner.example", "/");
	ck_none(rt, "idm.example", "/");
	ck_route(rt, "a.own.example", "/", ROUTE_SERVER, 0);
	ck_route(rt, "a.partner.example", "/", ROUTE_PARTNER, 0);
	ck_route(rt, "a.idm.example", "/", ROUTE_IDM, 0);
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_odd_patterns_match_nothing)
{
	struct config *cf = cfg_new();
	struct router *rt;

	/* Validation should refuse these; the router must not widen them. */
	add_server(cf, "*", "*.", "", NULL, NULL);
	rt = router_new(cf);
	ck_none(rt, "a.example", "/");
	ck_none(rt, "a", "/");
	ck_none(rt, "", "/");
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_path_longest_prefix)
{
	struct config *cf = cfg_new();
	struct router *rt;
	const char *h = "api.own.example";

	add_server(cf, h, NULL, "/a/", NULL);
	add_server(cf, h, NULL, "/z", "/a/b/", NULL);
	add_server(cf, h, NULL, "/a/b/c", NULL);
	/* Nested prefixes in one server: its longest one is what competes. */
	add_server(cf, "n.example", NULL, "/n/", "/n/a/b/", "/n/a/", NULL);
	add_server(cf, "n.example", NULL, "/n/a/b", NULL);
	rt = router_new(cf);
	ck_route(rt, "n.example", "/n/a/b/c", ROUTE_SERVER, 3);
	ck_route(rt, "n.example", "/n/a/bc", ROUTE_SERVER, 4);
	ck_route(rt, "n.example", "/n/a/", ROUTE_SERVER, 3);
	ck_route(rt, h, "/a/b/c/d", ROUTE_SERVER, 2);
	ck_route(rt, h, "/a/b/c", ROUTE_SERVER, 2);
	ck_route(rt, h, "/a/b/x", ROUTE_SERVER, 1);
	ck_route(rt, h, "/a/b/", ROUTE_SERVER, 1);
	ck_route(rt, h, "/a/x", ROUTE_SERVER, 0);
	ck_route(rt, h, "/z", ROUTE_SERVER, 1);
	/* Raw byte prefixes: "/z" covers "/zebra" too. */
	ck_route(rt, h, "/zebra", ROUTE_SERVER, 1);
	/* Case matters in paths. */
	ck_none(rt, h, "/A/");
	ck_none(rt, h, "/a");
	ck_none(rt, h, "/");
	ck_none(rt, h, "");
	ck_none(rt, h, NULL);
	/* Only pathlen bytes count: the query is not part of the path. */
	{
		const char *p = "/a/b/c?x=1";
		struct route r = router_match(rt, h, p, 5);

		ck_assert_int_eq(r.kind, ROUTE_SERVER);
		ck_assert_uint_eq(r.index, 1);
		r = router_match(rt, h, "/a/?/a/b/c", 3);
		ck_assert_int_eq(r.kind, ROUTE_SERVER);
		ck_assert_uint_eq(r.index, 0);
	}
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_path_falls_to_server_without_paths)
{
	struct config *cf = cfg_new();
	struct router *rt;
	const char *h = "kms.own.example";

	add_server(cf, h, NULL, "/keymanagement/", NULL);
	add_server(cf, h, NULL, NULL);
	/* Listed first without paths: a matching prefix still beats it. */
	add_server(cf, "gms.own.example", NULL, NULL);
	add_server(cf, "gms.own.example", NULL, "/groups/", NULL);
	rt = router_new(cf);
	ck_route(rt, h, "/keymanagement/x", ROUTE_SERVER, 0);
	ck_route(rt, h, "/other", ROUTE_SERVER, 1);
	ck_route(rt, h, "/", ROUTE_SERVER, 1);
	ck_route(rt, h, NULL, ROUTE_SERVER, 1);
	ck_route(rt, "gms.own.example", "/groups/1", ROUTE_SERVER, 3);
	ck_route(rt, "gms.own.example", "/other", ROUTE_SERVER, 2);
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_path_falls_to_less_specific_host)
{
	struct config *cf = cfg_new();
	struct router *rt;

	/*
	 * (host specificity, path length) ranks all matching pairs: when no
	 * server of the exact name takes the path, a wildcard one may.
	 */
	add_server(cf, "api.own.example", NULL, "/only/", NULL);
	add_server(cf, "*.a.own.example", NULL, "/deep/", NULL);
	add_server(cf, "*.own.example", NULL, NULL);
	add_server(cf, "api.own.example", "*.b.example", NULL, "/v2/", NULL);
	add_partner(cf, "*.b.example", NULL);
	rt = router_new(cf);
	ck_route(rt, "api.own.example", "/only/x", ROUTE_SERVER, 0);
	ck_route(rt, "api.own.example", "/v2/x", ROUTE_SERVER, 3);
	ck_route(rt, "api.own.example", "/x", ROUTE_SERVER, 2);
	ck_route(rt, "x.a.own.example", "/deep/1", ROUTE_SERVER, 1);
	ck_route(rt, "x.a.own.example", "/shallow", ROUTE_SERVER, 2);
	/* No own server takes the path: the partner does. */
	ck_route(rt, "x.b.example", "/v2/", ROUTE_SERVER, 3);
	ck_route(rt, "x.b.example", "/v1/", ROUTE_PARTNER, 0);
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_ties_to_first)
{
	struct config *cf = cfg_new();
	struct router *rt;

	add_server(cf, "other.example", NULL, NULL);
	add_server(cf, "h.example", "*.w.example", NULL, NULL);
	add_server(cf, "*.w.example", "h.example", NULL, NULL);
	add_server(cf, "p.example", NULL, "/x", NULL);
	add_server(cf, "p.example", NULL, "/y", "/x", NULL);
	add_server(cf, "p.example", NULL, "/x", NULL);
	/* The same pattern twice in one server changes nothing. */
	add_server(cf, "d.example", "d.example", NULL, NULL);
	add_server(cf, "d.example", NULL, NULL);
	add_partner(cf, "*.q.example", NULL);
	add_partner(cf, "*.q.example", "r.example", NULL);
	add_partner(cf, "r.example", NULL);
	rt = router_new(cf);
	ck_route(rt, "h.example", "/", ROUTE_SERVER, 1);
	ck_route(rt, "a.w.example", "/", ROUTE_SERVER, 1);
	ck_route(rt, "p.example", "/x/1", ROUTE_SERVER, 3);
	ck_route(rt, "p.example", "/y", ROUTE_SERVER, 4);
	ck_route(rt, "d.example", "/", ROUTE_SERVER, 6);
	ck_route(rt, "a.q.example", "/", ROUTE_PARTNER, 0);
	ck_route(rt, "r.example", "/", ROUTE_PARTNER, 1);
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_idm_wins)
{
	struct config *cf = cfg_new();
	struct router *rt;
	struct route r;

	add_server(cf, "*.own.example", NULL, NULL);
	add_server(cf, "idms.own.example", NULL, "/", NULL);
	add_partner(cf, "*.idm.partner.example", NULL);
	set_idm(cf, "idms.own.example", "*.idm.partner.example", NULL);
	rt = router_new(cf);
	r = match(rt, "idms.own.example", "/");
	ck_assert_int_eq(r.kind, ROUTE_IDM);
	r = match(rt, "x.idm.partner.example", "/");
	ck_assert_int_eq(r.kind, ROUTE_IDM);
	ck_route(rt, "other.own.example", "/", ROUTE_SERVER, 0);
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_partners)
{
	struct config *cf = cfg_new();
	struct router *rt;

	add_server(cf, "own.example", "*.shared.example", NULL, NULL);
	add_partner(cf, "*.p0.example", NULL);
	add_partner(cf, "*.b.p0.example", "exact.p0.example", NULL);
	add_partner(cf, "*.shared.example", "own.example", NULL);
	rt = router_new(cf);
	ck_route(rt, "x.p0.example", "/", ROUTE_PARTNER, 0);
	ck_route(rt, "y.b.p0.example", "/", ROUTE_PARTNER, 1);
	ck_route(rt, "exact.p0.example", "/", ROUTE_PARTNER, 1);
	ck_route(rt, "b.p0.example", "/", ROUTE_PARTNER, 0);
	/* Own servers come before partners. */
	ck_route(rt, "own.example", "/", ROUTE_SERVER, 0);
	ck_route(rt, "x.shared.example", "/", ROUTE_SERVER, 0);
	ck_none(rt, "p0.example", "/");
	router_free(rt);
	cfg_free(cf);
}
END_TEST

START_TEST(test_unknown)
{
	struct config *cf = cfg_new();
	struct router *rt;

	rt = router_new(cf);
	ck_none(rt, "a.example", "/");
	ck_none(rt, "", "/");
	router_free(rt);

	add_server(cf, "a.example", NULL, NULL);
	add_partner(cf, "*.b.example", NULL);
	set_idm(cf, "c.example", NULL);
	rt = router_new(cf);
	ck_none(rt, "z.example", "/");
	ck_none(rt, "a.example.evil", "/");
	ck_none(rt, "evila.example", "/");
	ck_none(rt, "c.example.evil", "/");
	ck_none(rt, "", "/");
	ck_none(rt, "127.0.0.1", "/");
	router_free(rt);
	router_free(NULL);
	cfg_free(cf);
}
END_TEST

START_TEST(test_many)
{
	struct config *cf = cfg_new();
	struct router *rt;
	char h[64], p[64], q[64], o[64];
	size_t i, wild, n = 1000;

	/* Inserted in an order unlike the sorted one. */
	for (i = 0; i < n; i++) {
		size_t k = (i * 7919) % n;

		snprintf(h, sizeof(h), "svc%zu.own.example", k);
		snprintf(q, sizeof(q), "*.z%zu.own.example", k);
		snprintf(p, sizeof(p), "/p%zu/", k);
		snprintf(o, sizeof(o), "z%zu.partner.example", k);
		if (k % 2)
			add_server(cf, h, q, NULL, p, NULL);
		else
			add_server(cf, h, q, NULL, NULL);
		add_partner(cf, o, NULL);
	}
	wild = add_server(cf, "*.own.example", NULL, NULL);
	/* Many servers on one host, told apart only by path. */
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "/s/%zu/", i);
		add_server(cf, "paths.example", NULL, p, NULL);
	}
	rt = router_new(cf);
	for (i = 0; i < n; i++) {
		size_t k = (i * 7919) % n;

		snprintf(h, sizeof(h), "svc%zu.own.example", k);
		snprintf(p, sizeof(p), "/p%zu/x", k);
		ck_route(rt, h, p, ROUTE_SERVER, i);
		if (k % 2)
			ck_route(rt, h, "/", ROUTE_SERVER, wild);
		else
			ck_route(rt, h, "/", ROUTE_SERVER, i);
		/* The paths hold for every host of the server. */
		snprintf(h, sizeof(h), "a.b.z%zu.own.example", k);
		ck_route(rt, h, p, ROUTE_SERVER, i);
		if (k % 2)
			ck_route(rt, h, "/", ROUTE_SERVER, wild);
		else
			ck_route(rt, h, "/", ROUTE_SERVER, i);
		snprintf(h, sizeof(h), "z%zu.own.example", k);
		ck_route(rt, h, "/", ROUTE_SERVER, wild);
		snprintf(h, sizeof(h), "z%zu.partner.example", k);
		ck_route(rt, h, "/", ROUTE_PARTNER, i);
		snprintf(h, sizeof(h), "a.z%zu.partner.example", k);
		ck_none(rt, h, "/");
		snprintf(h, sizeof(h), "svc%zu.own.example", k + n);
		ck_route(rt, h, "/", ROUTE_SERVER, wild);
		snprintf(p, sizeof(p), "/s/%zu/y", i);
		ck_route(rt, "paths.example", p, ROUTE_SERVER, wild + 1 + i);
	}
	ck_none(rt, "paths.example", "/s/");
	ck_none(rt, "own.example", "/");
	router_free(rt);
	cfg_free(cf);
}
END_TEST

static Suite *
router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("match");

	tcase_add_test(tc, test_exact_beats_wildcard);
	tcase_add_test(tc, test_longer_wildcard_wins);
	tcase_add_test(tc, test_wildcard_not_bare_suffix);
	tcase_add_test(tc, test_odd_patterns_match_nothing);
	tcase_add_test(tc, test_path_longest_prefix);
	tcase_add_test(tc, test_path_falls_to_server_without_paths);
	tcase_add_test(tc, test_path_falls_to_less_specific_host);
	tcase_add_test(tc, test_ties_to_first);
	tcase_add_test(tc, test_idm_wins);
	tcase_add_test(tc, test_partners);
	tcase_add_test(tc, test_unknown);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(router_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
