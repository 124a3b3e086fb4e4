/*
 * check_srclimit: per-source connection counts (src/srclimit.c): the
 * limit, release, what counts as one source (IPv4, IPv4-mapped IPv6, an
 * IPv6 /64), and no limit at 0.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <check.h>

#include "srclimit.h"

static struct sockaddr_in6
addr6(const char *text)
{
	struct sockaddr_in6 a;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
	return a;
}

static struct sockaddr_in
addr4(const char *text)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, text, &a.sin_addr), 1);
	return a;
}

#define SA(x) ((const struct sockaddr *)(const void *)&(x))

START_TEST(limit_and_release)
{
	struct srclimit *sl = srclimit_new();
	struct sockaddr_in a = addr4("192.0.2.1"), b = addr4("192.0.2.2");
	struct srclimit_ticket t[4], tb;

	ck_assert(srclimit_take(sl, SA(a), 3, &t[0]));
	ck_assert(srclimit_take(sl, SA(a), 3, &t[1]));
	ck_assert(srclimit_take(sl, SA(a), 3, &t[2]));
	ck_assert(!srclimit_take(sl, SA(a), 3, &t[3]));
	ck_assert(!t[3].held);
	/* Another address is not affected (its two slots are not both a's). */
	ck_assert(srclimit_take(sl, SA(b), 3, &tb));
	srclimit_release(sl, &t[0]);
	ck_assert(!t[0].held);
	srclimit_release(sl, &t[0]);	/* twice: ignored */
	ck_assert(srclimit_take(sl, SA(a), 3, &t[3]));
	ck_assert(!srclimit_take(sl, SA(a), 3, &t[0]));
	/* A refused take left nothing counted. */
	for (int i = 1; i < 4; i++)
		srclimit_release(sl, &t[i]);
	for (int i = 0; i < 3; i++)
		ck_assert(srclimit_take(sl, SA(a), 3, &t[i]));
	srclimit_free(sl);
}
END_TEST

START_TEST(what_is_one_source)
{
	struct srclimit *sl = srclimit_new();
	struct sockaddr_in v4 = addr4("198.51.100.7");
	struct sockaddr_in6 mapped = addr6("::ffff:198.51.100.7");
	struct sockaddr_in6 p1 = addr6("2001:db8:1:2::1");
	struct sockaddr_in6 p2 = addr6("2001:db8:1:2:ffff::9");
	struct sockaddr_in6 other = addr6("2001:db8:1:3::1");
	struct srclimit_ticket t;

	ck_assert(srclimit_take(sl, SA(v4), 1, &t));
	ck_assert(!srclimit_take(sl, SA(mapped), 1, &t));
	ck_assert(srclimit_take(sl, SA(p1), 1, &t));
	ck_assert(!srclimit_take(sl, SA(p2), 1, &t));	/* same /64 */
	ck_assert(srclimit_take(sl, SA(other), 1, &t));	/* next /64 */
	srclimit_free(sl);
}
END_TEST

START_TEST(zero_is_no_limit)
{
	struct srclimit *sl = srclimit_new();
	struct sockaddr_in a = addr4("203.0.113.5");
	struct srclimit_ticket t;

	for (int i = 0; i < 1000; i++) {
		ck_assert(srclimit_take(sl, SA(a), 0, &t));
		ck_assert(!t.held);
	}
	ck_assert(srclimit_take(sl, SA(a), 1, &t));
	srclimit_free(sl);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("srclimit");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, limit_and_release);
	tcase_add_test(tc, what_is_one_source);
	tcase_add_test(tc, zero_is_no_limit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
