/*
 * check_addr: "host:port" parsing and formatting, CIDR parsing and
 * matching, v4-mapped clients included.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "addr.h"

/* Parses s, which must be valid, and returns its sockaddr. */
static const struct sockaddr *
sa(const char *s)
{
	static struct addr a[4];
	static unsigned next;
	struct addr *p = &a[next++ % 4];
	const char *err = NULL;

	ck_assert_msg(addr_parse(s, p, &err) == 0, "%s: %s", s, err);
	return (const struct sockaddr *)&p->ss;
}

static void
format_is(const char *in, const char *want)
{
	char buf[ADDR_STRLEN];

	ck_assert_str_eq(addr_format(sa(in), buf, sizeof(buf)), want);
}

static void
parse_fails(const char *in, const char *want_err)
{
	struct addr a;
	const char *err = NULL;

	ck_assert_msg(addr_parse(in, &a, &err) == -1, "\"%s\" parsed", in);
	ck_assert_ptr_nonnull(err);
	if (want_err != NULL)
		ck_assert_msg(strstr(err, want_err) != NULL,
		    "\"%s\": error \"%s\" lacks \"%s\"", in, err, want_err);
}

START_TEST(test_parse_ipv4)
{
	struct addr a;
	const char *err = NULL;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.ss;

	ck_assert_int_eq(addr_parse("192.0.2.7:8080", &a, &err), 0);
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_int_eq(ntohs(sin->sin_port), 8080);
	ck_assert_uint_eq(sin->sin_addr.s_addr, htonl(0xc0000207));
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
	format_is("192.0.2.7:8080", "192.0.2.7:8080");
	format_is("10.0.0.1:1", "10.0.0.1:1");
	format_is("10.0.0.1:65535", "10.0.0.1:65535");
}
END_TEST

START_TEST(test_parse_ipv6)
{
	struct addr a;
	const char *err = NULL;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a.ss;

	ck_assert_int_eq(addr_parse("[2001:db8::1]:443", &a, &err), 0);
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_int_eq(ntohs(sin6->sin6_port), 443);
	ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in6));
	format_is("[2001:db8::1]:443", "[2001:db8::1]:443");
	format_is("[::1]:80", "[::1]:80");
	/* The canonical text, whatever was written. */
	format_is("[2001:0db8:0000::0001]:443", "[2001:db8::1]:443");
}
END_TEST

START_TEST(test_parse_wildcard)
{
	struct addr a;
	const char *err = NULL;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a.ss;

	ck_assert_int_eq(addr_parse("*:8443", &a, &err), 0);
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	ck_assert_int_eq(ntohs(sin6->sin6_port), 8443);
	format_is("*:8443", "[::]:8443");
	format_is("[::]:8443", "[::]:8443");
	format_is("0.0.0.0:80", "0.0.0.0:80");
}
END_TEST

START_TEST(test_parse_errors)
{
	parse_fails("192.0.2.7", "missing port");
	parse_fails("192.0.2.7:", "port");
	parse_fails("192.0.2.7:0", "port");
	parse_fails("192.0.2.7:65536", "port");
	parse_fails("192.0.2.7:99999999999", "port");
	parse_fails("192.0.2.7:8o", "port");
	parse_fails("192.0.2.7:-1", "port");
	parse_fails("::1:80", "brackets");
	parse_fails("[::1:80", "]");
	parse_fails("[::1]80", "missing port");
	parse_fails("[::1]", "missing port");
	parse_fails("localhost:80", "numeric");
	parse_fails("kms.example:80", "numeric");
	parse_fails("256.0.0.1:80", "numeric");
	parse_fails("[1.2.3.4]:80", "IPv6");
	parse_fails("[]:80", NULL);
	parse_fails(":80", NULL);
	parse_fails("", NULL);
	parse_fails("[*]:80", NULL);
}
END_TEST

START_TEST(test_format_host_and_mapped)
{
	char buf[ADDR_STRLEN];
	struct sockaddr_un sun;

	ck_assert_str_eq(addr_format_host(sa("192.0.2.7:1"), buf, sizeof(buf)),
	    "192.0.2.7");
	ck_assert_str_eq(addr_format_host(sa("[2001:db8::7]:1"), buf,
	    sizeof(buf)), "2001:db8::7");
	/* An IPv4 client on a dual-stack socket is shown as IPv4. */
	ck_assert_str_eq(addr_format_host(sa("[::ffff:192.0.2.7]:1"), buf,
	    sizeof(buf)), "192.0.2.7");
	format_is("[::ffff:192.0.2.7]:5060", "192.0.2.7:5060");

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_str_eq(addr_format((const struct sockaddr *)&sun, buf,
	    sizeof(buf)), "-");
	ck_assert_str_eq(addr_format_host((const struct sockaddr *)&sun, buf,
	    sizeof(buf)), "-");
}
END_TEST

START_TEST(test_format_truncates)
{
	char buf[8];

	addr_format(sa("[2001:db8::1]:443"), buf, sizeof(buf));
	ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
}
END_TEST

static struct cidr
cidr(const char *s)
{
	struct cidr c;
	const char *err = NULL;

	ck_assert_msg(cidr_parse(s, &c, &err) == 0, "%s: %s", s, err);
	return c;
}

static void
cidr_fails(const char *s)
{
	struct cidr c;
	const char *err = NULL;

	ck_assert_msg(cidr_parse(s, &c, &err) == -1, "\"%s\" parsed", s);
	ck_assert_ptr_nonnull(err);
}

START_TEST(test_cidr_parse)
{
	struct cidr c;

	c = cidr("10.0.0.0/24");
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_uint_eq(c.prefix, 24);
	c = cidr("::1/128");
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_uint_eq(c.prefix, 128);
	c = cidr("192.0.2.1");
	ck_assert_uint_eq(c.prefix, 32);
	c = cidr("2001:db8::1");
	ck_assert_uint_eq(c.prefix, 128);
	c = cidr("0.0.0.0/0");
	ck_assert_uint_eq(c.prefix, 0);
	/* A v4-mapped network is the IPv4 network it names. */
	c = cidr("::ffff:10.0.0.0/104");
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_uint_eq(c.prefix, 8);

	cidr_fails("10.0.0.0/33");
	cidr_fails("::/129");
	cidr_fails("10.0.0.0/");
	cidr_fails("10.0.0.0/x");
	cidr_fails("10.0.0.0/24x");
	cidr_fails("10.0.0.0/-1");
	cidr_fails("10.0.0/24");
	cidr_fails("example.com/24");
	cidr_fails("/24");
	cidr_fails("");
}
END_TEST

START_TEST(test_cidr_match_v4)
{
	struct cidr c = cidr("10.0.0.0/24");

	ck_assert(cidr_match(&c, sa("10.0.0.0:1")));
	ck_assert(cidr_match(&c, sa("10.0.0.255:1")));
	ck_assert(!cidr_match(&c, sa("10.0.1.0:1")));
	ck_assert(!cidr_match(&c, sa("11.0.0.1:1")));
	/* Not on a byte boundary. */
	c = cidr("192.168.0.0/23");
	ck_assert(cidr_match(&c, sa("192.168.1.255:1")));
	ck_assert(!cidr_match(&c, sa("192.168.2.0:1")));
	/* Host bits written by the operator are ignored. */
	c = cidr("10.0.0.77/24");
	ck_assert(cidr_match(&c, sa("10.0.0.200:1")));
	c = cidr("192.0.2.7");
	ck_assert(cidr_match(&c, sa("192.0.2.7:1")));
	ck_assert(!cidr_match(&c, sa("192.0.2.8:1")));
	c = cidr("0.0.0.0/0");
	ck_assert(cidr_match(&c, sa("203.0.113.9:1")));
	/* Families do not mix. */
	ck_assert(!cidr_match(&c, sa("[2001:db8::1]:1")));
}
END_TEST

START_TEST(test_cidr_match_v6)
{
	struct cidr c = cidr("2001:db8::/32");

	ck_assert(cidr_match(&c, sa("[2001:db8:ffff::1]:1")));
	ck_assert(!cidr_match(&c, sa("[2001:db9::1]:1")));
	ck_assert(!cidr_match(&c, sa("10.0.0.1:1")));
	c = cidr("::1/128");
	ck_assert(cidr_match(&c, sa("[::1]:1")));
	ck_assert(!cidr_match(&c, sa("[::2]:1")));
	c = cidr("2001:db8::/61");
	ck_assert(cidr_match(&c, sa("[2001:db8:0:7::1]:1")));
	ck_assert(!cidr_match(&c, sa("[2001:db8:0:8::1]:1")));
	/* "::/0" is any IPv6 client, not the IPv4 ones too. */
	c = cidr("::/0");
	ck_assert(cidr_match(&c, sa("[2001:db8::1]:1")));
	ck_assert(!cidr_match(&c, sa("[::ffff:10.0.0.1]:1")));
	ck_assert(!cidr_match(&c, sa("10.0.0.1:1")));
}
END_TEST

START_TEST(test_cidr_match_v4_mapped)
{
	struct cidr c = cidr("10.0.0.0/24");

	/* An IPv4 client as a dual-stack ("[::]:443") listener sees it. */
	ck_assert(cidr_match(&c, sa("[::ffff:10.0.0.9]:1")));
	ck_assert(!cidr_match(&c, sa("[::ffff:10.0.1.9]:1")));
	c = cidr("::ffff:10.0.0.0/120");
	ck_assert(cidr_match(&c, sa("10.0.0.9:1")));
	ck_assert(cidr_match(&c, sa("[::ffff:10.0.0.9]:1")));
	ck_assert(!cidr_match(&c, sa("10.0.1.9:1")));
	/* IPv4-compatible or other IPv6 addresses are not IPv4 clients. */
	c = cidr("0.0.0.0/0");
	ck_assert(!cidr_match(&c, sa("[::10.0.0.9]:1")));
	ck_assert(!cidr_match(&c, sa("[64:ff9b::10.0.0.9]:1")));
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_ipv4);
	tcase_add_test(tc, test_parse_ipv6);
	tcase_add_test(tc, test_parse_wildcard);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_format_host_and_mapped);
	tcase_add_test(tc, test_format_truncates);
	suite_add_tcase(s, tc);

	tc = tcase_create("cidr");
	tcase_add_test(tc, test_cidr_parse);
	tcase_add_test(tc, test_cidr_match_v4);
	tcase_add_test(tc, test_cidr_match_v6);
	tcase_add_test(tc, test_cidr_match_v4_mapped);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(addr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
