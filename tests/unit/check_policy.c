/*
 * check_policy: the request shapes refused as CSC-1 (src/policy.c), on
 * heads parsed the realistic way by h1.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>

#include "h1.h"
#include "headers.h"
#include "policy.h"

/* Parses one request head and answers policy_is_oauth_exchange for it. */
static bool
oauth(const char *req)
{
	struct h1_parser *p = h1_parser_new(H1_REQUEST, 16384, 100);
	struct evbuffer *in = evbuffer_new();
	struct req_target t;
	const char *why = NULL;
	bool r;

	evbuffer_add(in, req, strlen(req));
	ck_assert_msg(h1_parse_head(p, in) == H1_DONE, "cannot parse: %s", req);
	ck_assert_msg(headers_parse_target(h1_head(p), &t, &why) == 0, "%s", why);
	r = policy_is_oauth_exchange(h1_head(p), &t);
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
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
