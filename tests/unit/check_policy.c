/*
 * check_policy: contract section 4 (src/policy.c): the verdict of
 * policy_decide() for a table of requests from each kind of listener, and
 * the request shapes refused as CSC-1, on heads parsed the realistic way
 * by h1.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>

#include "config.h"
#include "h1.h"
#include "headers.h"
#include "msg.h"
#include "policy.h"
#include "router.h"

/* Parses one request head and answers policy_is_oauth_exchange for it. */
static bool
oauth(const char *req)
{
	struct h1_parser *p = h1_parser_new(H1_REQUEST, 16384, 100);
	struct evbuffer *in = evbuffer_new();
	struct msg_request t;
	const char *why = NULL;
	bool r;

	evbuffer_add(in, req, strlen(req));
	ck_assert_msg(h1_parse_head(p, in) == H1_DONE, "cannot parse: %s", req);
	ck_assert_msg(headers_request_msg(h1_head(p), &t, &why) == 0, "%s", why);
	r = policy_is_oauth_exchange(&t);
	evbuffer_free(in);
	h1_parser_free(p);
	return r;
}

#define H "Host: idms.example\r\n"

START_TEST(authorization_requests)
{
	ck_assert(oauth("GET /authorize?response_type=code&client_id=mcx&scope=openid HTTP/1.1\r\n" H "\r\n"));
	ck_assert(oauth("GET /a?client_id=mcx&state=1&response_type=code HTTP/1.1\r\n" H "\r\n"));
	ck_assert(oauth("GET https://idms.example/auth?RESPONSE_TYPE=code&Client_Id=x HTTP/1.1\r\n" H "\r\n"));
	/* One of the two is not enough; a parameter must start the name. */
	ck_assert(!oauth("GET /authorize?response_type=code HTTP/1.1\r\n" H "\r\n"));
	ck_assert(!oauth("GET /authorize?client_id=mcx HTTP/1.1\r\n" H "\r\n"));
	ck_assert(!oauth("GET /x?my_response_type=code&xclient_id=1 HTTP/1.1\r\n" H "\r\n"));
	/* In the path, not the query: not an authorization request. */
	ck_assert(!oauth("GET /response_type=code/client_id=1 HTTP/1.1\r\n" H "\r\n"));
}
END_TEST

START_TEST(token_requests)
{
	ck_assert(oauth("POST /token HTTP/1.1\r\n" H "Content-Type: application/x-www-form-urlencoded\r\n\r\n"));
	ck_assert(oauth("POST /oauth2/token/ HTTP/1.1\r\n" H "Content-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8\r\n\r\n"));
	ck_assert(oauth("POST /as/token.oauth2 HTTP/1.1\r\n" H "Content-Type: application/x-www-form-urlencoded\r\n\r\n"));
	/* Not a form, not POST, or not a token path. */
	ck_assert(!oauth("POST /token HTTP/1.1\r\n" H "Content-Type: application/xml\r\n\r\n"));
	ck_assert(!oauth("POST /token HTTP/1.1\r\n" H "\r\n"));
	ck_assert(!oauth("GET /token HTTP/1.1\r\n" H "\r\n"));
	ck_assert(!oauth("POST /keymanagement/identity/v1/init HTTP/1.1\r\n" H "Content-Type: application/x-www-form-urlencoded\r\n\r\n"));
	ck_assert(!oauth("POST /tokens-are-not/here HTTP/1.1\r\n" H "Content-Type: application/x-www-form-urlencoded\r\n\r\n"));
}
END_TEST

/* The realistic MC traffic the proxy must let through. */
START_TEST(mc_traffic_passes)
{
	ck_assert(!oauth("POST /keymanagement/identity/v1/keyprov HTTP/1.1\r\n" H "Content-Type: application/xml\r\nContent-Length: 0\r\n\r\n"));
	ck_assert(!oauth("GET /org.openmobilealliance.groups/users/sip:alice@mcx.own.example/index HTTP/1.1\r\n" H "\r\n"));
	ck_assert(!oauth("GET /x?client_id=1 HTTP/1.1\r\n" H "\r\n"));
}
END_TEST

/* --- policy_decide --- */

/* A domain with two own servers, two partners and an IdM server; only
 * what the router and the policy read is filled. */
static char s_kms[] = "kms", s_gms[] = "gms", s_kms_host[] = "kms.mcx.own.example",
    s_kms_path[] = "/keymanagement/", s_gms_host[] = "gms.mcx.own.example",
    s_apps[] = "*.apps.mcx.own.example", s_strip[] = "mcx.strip.example",
    s_strip_hosts[] = "*.mcx.strip.example", s_reject[] = "mcx.reject.example",
    s_reject_hosts[] = "*.mcx.reject.example", s_idms[] = "idms.mcx.own.example";
static char *kms_hosts[] = { s_kms_host };
static char *kms_paths[] = { s_kms_path };
static char *gms_hosts[] = { s_gms_host, s_apps };
static char *strip_hosts[] = { s_strip_hosts };
static char *reject_hosts[] = { s_reject_hosts };
static char *idms[] = { s_idms };
static struct server_conf servers[] = {
	{ .name = s_kms, .hosts = kms_hosts, .nhosts = 1,
	  .paths = kms_paths, .npaths = 1 },
	{ .name = s_gms, .hosts = gms_hosts, .nhosts = 2 },
};
static struct partner_conf partners[] = {
	{ .domain = s_strip, .hosts = strip_hosts, .nhosts = 1,
	  .asserted_identity = IDENTITY_STRIP },
	{ .domain = s_reject, .hosts = reject_hosts, .nhosts = 1,
	  .asserted_identity = IDENTITY_REJECT },
};

static struct config *
domain_cfg(void)
{
	static struct config c;

	c.servers = servers;
	c.nservers = 2;
	c.partners = partners;
	c.npartners = 2;
	c.idm_servers = idms;
	c.nidm_servers = 1;
	c.limits.max_body_bytes = 64;
	return &c;
}

enum { NO_PARTNER = -1, STRIP = 0, REJECT = 1 };
#define FWD_SERVER(i)	0, VERDICT_SERVER, i, COUNT_NONE, false
#define FWD_PARTNER(i)	0, VERDICT_PARTNER, i, COUNT_NONE, false
#define REFUSED(st, count, close)	st, VERDICT_REFUSE, 0, count, close
#define AI	"X-3GPP-Asserted-Identity: sip:alice@mcx.own.example\r\n"
#define KMS	"Host: kms.mcx.own.example\r\n"
#define GMS	"Host: gms.mcx.own.example\r\n"
#define FORM	"Content-Type: application/x-www-form-urlencoded\r\n"

static const struct dcase {
	const char *name;
	enum listener_role role;
	int partner;		/* partner listener: who it is, or NO_PARTNER */
	const char *req;	/* a request head */
	unsigned status;	/* 0: forwarded */
	enum verdict_kind kind;
	size_t index;
	enum verdict_count count;
	bool close;
	const char *host;	/* the normalised host, when it matters */
} dcases[] = {
	/* Step 4: own servers, by host, then path. */
	{ "ue to kms", ROLE_UE, NO_PARTNER,
	  "GET /keymanagement/identity/v1/init HTTP/1.1\r\n" KMS "\r\n",
	  FWD_SERVER(0), "kms.mcx.own.example" },
	{ "ue to gms", ROLE_UE, NO_PARTNER, "GET /groups HTTP/1.1\r\n" GMS "\r\n",
	  FWD_SERVER(1), NULL },
	{ "wildcard host", ROLE_UE, NO_PARTNER,
	  "GET / HTTP/1.1\r\nHost: x.apps.mcx.own.example\r\n\r\n",
	  FWD_SERVER(1), NULL },
	{ "host case and port are not part of the name", ROLE_UE, NO_PARTNER,
	  "GET / HTTP/1.1\r\nHost: GMS.Mcx.Own.Example:8443\r\n\r\n",
	  FWD_SERVER(1), "gms.mcx.own.example" },
	{ "kms host outside its paths", ROLE_UE, NO_PARTNER,
	  "GET /other HTTP/1.1\r\n" KMS "\r\n", REFUSED(421, COUNT_NONE, false), NULL },
	{ "absolute-form authority wins over Host", ROLE_UE, NO_PARTNER,
	  "GET https://gms.mcx.own.example/g HTTP/1.1\r\nHost: nowhere.example\r\n\r\n",
	  FWD_SERVER(1), "gms.mcx.own.example" },
	/* Step 6: anything else. */
	{ "unknown host", ROLE_UE, NO_PARTNER,
	  "GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
	  REFUSED(421, COUNT_NONE, false), NULL },
	{ "CONNECT", ROLE_UE, NO_PARTNER,
	  "CONNECT gms.mcx.own.example:443 HTTP/1.1\r\n" GMS "\r\n",
	  REFUSED(405, COUNT_NONE, true), NULL },
	{ "CONNECT before the identity check", ROLE_UE, NO_PARTNER,
	  "CONNECT gms.mcx.own.example:443 HTTP/1.1\r\n" GMS AI "\r\n",
	  REFUSED(405, COUNT_NONE, true), NULL },
	/* Step 1: a target that cannot be split. */
	{ "asterisk-form outside OPTIONS", ROLE_UE, NO_PARTNER,
	  "GET * HTTP/1.1\r\n" GMS "\r\n", REFUSED(400, COUNT_NONE, true), NULL },
	{ "userinfo", ROLE_UE, NO_PARTNER,
	  "GET https://u@gms.mcx.own.example/ HTTP/1.1\r\n" GMS "\r\n",
	  REFUSED(400, COUNT_NONE, true), NULL },
	/* Step 2: the listener's role. */
	{ "ue asserting an identity", ROLE_UE, NO_PARTNER,
	  "GET /groups HTTP/1.1\r\n" GMS AI "\r\n",
	  REFUSED(403, COUNT_IDENTITY, false), NULL },
	{ "ue asserting an identity, any case", ROLE_UE, NO_PARTNER,
	  "GET /groups HTTP/1.1\r\n" GMS "x-3gpp-ASSERTED-identity: \r\n\r\n",
	  REFUSED(403, COUNT_IDENTITY, false), NULL },
	{ "identity refused before CSC-1", ROLE_UE, NO_PARTNER,
	  "GET / HTTP/1.1\r\nHost: idms.mcx.own.example\r\n" AI "\r\n",
	  REFUSED(403, COUNT_IDENTITY, false), NULL },
	{ "trusted asserting an identity", ROLE_TRUSTED, NO_PARTNER,
	  "GET /groups HTTP/1.1\r\n" GMS AI "\r\n", FWD_SERVER(1), NULL },
	{ "partner certificate naming no partner", ROLE_PARTNER, NO_PARTNER,
	  "GET /groups HTTP/1.1\r\n" GMS "\r\n", REFUSED(403, COUNT_NONE, false), NULL },
	{ "partner (strip) asserting an identity", ROLE_PARTNER, STRIP,
	  "GET /groups HTTP/1.1\r\n" GMS AI "\r\n", FWD_SERVER(1), NULL },
	{ "partner (reject) asserting an identity", ROLE_PARTNER, REJECT,
	  "GET /groups HTTP/1.1\r\n" GMS AI "\r\n",
	  REFUSED(403, COUNT_IDENTITY, false), NULL },
	{ "partner (reject) without an identity", ROLE_PARTNER, REJECT,
	  "GET /groups HTTP/1.1\r\n" GMS "\r\n", FWD_SERVER(1), NULL },
	/* Step 5, and no transit. */
	{ "ue to a partner's host", ROLE_UE, NO_PARTNER,
	  "GET /g HTTP/1.1\r\nHost: gms.mcx.strip.example\r\n\r\n",
	  FWD_PARTNER(0), NULL },
	{ "trusted to a partner's host", ROLE_TRUSTED, NO_PARTNER,
	  "GET /g HTTP/1.1\r\nHost: gms.mcx.reject.example\r\n\r\n",
	  FWD_PARTNER(1), NULL },
	{ "partner to a partner's host (transit)", ROLE_PARTNER, STRIP,
	  "GET /g HTTP/1.1\r\nHost: gms.mcx.reject.example\r\n\r\n",
	  REFUSED(403, COUNT_NONE, false), NULL },
	/* Step 3: CSC-1. */
	{ "IdM host", ROLE_UE, NO_PARTNER,
	  "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: idms.mcx.own.example\r\n\r\n",
	  REFUSED(403, COUNT_CSC1, false), NULL },
	{ "IdM host from a trusted entity", ROLE_TRUSTED, NO_PARTNER,
	  "GET / HTTP/1.1\r\nHost: idms.mcx.own.example\r\n\r\n",
	  REFUSED(403, COUNT_CSC1, false), NULL },
	{ "authorization request to an own server", ROLE_UE, NO_PARTNER,
	  "GET /auth?response_type=code&client_id=mcx HTTP/1.1\r\n" GMS "\r\n",
	  REFUSED(403, COUNT_CSC1, false), NULL },
	{ "token request to a partner's host", ROLE_UE, NO_PARTNER,
	  "POST /token HTTP/1.1\r\nHost: idm.mcx.strip.example\r\n" FORM
	  "Content-Length: 3\r\n\r\n", REFUSED(403, COUNT_CSC1, false), NULL },
	/* The body limit, known from the head. */
	{ "Content-Length over the limit", ROLE_UE, NO_PARTNER,
	  "POST /groups HTTP/1.1\r\n" GMS "Content-Length: 65\r\n\r\n",
	  REFUSED(413, COUNT_NONE, true), NULL },
	{ "Content-Length at the limit", ROLE_UE, NO_PARTNER,
	  "POST /groups HTTP/1.1\r\n" GMS "Content-Length: 64\r\n\r\n",
	  FWD_SERVER(1), NULL },
	{ "chunked: the limit applies while it streams", ROLE_UE, NO_PARTNER,
	  "POST /groups HTTP/1.1\r\n" GMS "Transfer-Encoding: chunked\r\n\r\n",
	  FWD_SERVER(1), NULL },
	{ "over the limit, but refused for its host first", ROLE_UE, NO_PARTNER,
	  "POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 65\r\n\r\n",
	  REFUSED(421, COUNT_NONE, false), NULL },
};

static void
decide_case(const struct router *rt, const struct dcase *d)
{
	struct h1_parser *p = h1_parser_new(H1_REQUEST, 16384, 100);
	struct evbuffer *in = evbuffer_new();
	struct msg_request rq;
	struct policy_in pin = {
		.cfg = domain_cfg(),
		.router = rt,
		.role = d->role,
		.partner = d->partner == NO_PARTNER ? NULL : &partners[d->partner],
		.rq = &rq,
	};
	struct verdict v;
	const char *why = NULL;

	evbuffer_add(in, d->req, strlen(d->req));
	ck_assert_msg(h1_parse_head(p, in) == H1_DONE, "%s: cannot parse", d->name);
	if (headers_request_msg(h1_head(p), &rq, &why) < 0)
		pin.target_error = why;
	policy_decide(&pin, &v);
	if (d->status == 0) {
		ck_assert_msg(v.kind == d->kind && v.index == d->index,
		    "%s: verdict %d/%zu (%u %s), want %d/%zu", d->name, v.kind,
		    v.index, v.status, v.reason ? v.reason : "", d->kind, d->index);
	} else {
		ck_assert_msg(v.kind == VERDICT_REFUSE && v.status == d->status,
		    "%s: verdict %d status %u, want %u", d->name, v.kind,
		    v.status, d->status);
		ck_assert_msg(v.reason != NULL && v.reason[0] != '\0',
		    "%s: no reason", d->name);
	}
	ck_assert_msg(v.count == d->count, "%s: count %d, want %d", d->name,
	    v.count, d->count);
	ck_assert_msg(v.close == d->close, "%s: close %d", d->name, v.close);
	if (d->host != NULL)
		ck_assert_str_eq(v.host, d->host);
	evbuffer_free(in);
	h1_parser_free(p);
}

START_TEST(decide_table)
{
	struct router *rt = router_new(domain_cfg());

	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++)
		decide_case(rt, &dcases[i]);
	router_free(rt);
}
END_TEST


int
main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("oauth");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, authorization_requests);
	tcase_add_test(tc, token_requests);
	tcase_add_test(tc, mc_traffic_passes);
	suite_add_tcase(s, tc);
	tc = tcase_create("decide");
	tcase_add_test(tc, decide_table);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
