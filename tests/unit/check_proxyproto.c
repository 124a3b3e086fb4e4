/*
 * check_proxyproto: the PROXY protocol parser (src/proxyproto.c): v1 and
 * v2 headers as balancers send them, byte by byte (every prefix is
 * "incomplete"), exactly the header's length consumed, LOCAL and UNKNOWN,
 * TLVs (ALPN, authority, unique id, SSL, CRC32C), and the malformed
 * shapes that must be refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "proxyproto.h"

static const unsigned char sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A v2 header under construction. */
struct v2 {
	unsigned char b[PP_MAX_HEADER + 64];
	size_t n;
};

static void
v2_begin(struct v2 *v, unsigned char ver_cmd, unsigned char fam)
{
	memcpy(v->b, sig, 12);
	v->b[12] = ver_cmd;
	v->b[13] = fam;
	v->n = 16;
}

static void
v2_put(struct v2 *v, const void *p, size_t n)
{
	memcpy(v->b + v->n, p, n);
	v->n += n;
}

static void
v2_tlv(struct v2 *v, unsigned char type, const void *p, size_t n)
{
	unsigned char t[3] = { type, (unsigned char)(n >> 8), (unsigned char)n };

	v2_put(v, t, 3);
	v2_put(v, p, n);
}

/* Sets the length field; with crc, fills a CRC32C TLV put last. */
static void
v2_end(struct v2 *v, bool crc)
{
	size_t len = v->n - 16;

	v->b[14] = (unsigned char)(len >> 8);
	v->b[15] = (unsigned char)len;
	if (crc) {
		uint32_t c = pp_crc32c(0, v->b, v->n);

		v->b[v->n - 4] = (unsigned char)(c >> 24);
		v->b[v->n - 3] = (unsigned char)(c >> 16);
		v->b[v->n - 2] = (unsigned char)(c >> 8);
		v->b[v->n - 1] = (unsigned char)c;
	}
}

static void
v2_tcp4(struct v2 *v, const char *src, const char *dst, uint16_t sp,
    uint16_t dp)
{
	unsigned char a[12];

	ck_assert_int_eq(inet_pton(AF_INET, src, a), 1);
	ck_assert_int_eq(inet_pton(AF_INET, dst, a + 4), 1);
	a[8] = (unsigned char)(sp >> 8);
	a[9] = (unsigned char)sp;
	a[10] = (unsigned char)(dp >> 8);
	a[11] = (unsigned char)dp;
	v2_put(v, a, sizeof(a));
}

/* Parses buf whole; checks every shorter prefix is "incomplete". */
static long
parse_all(const void *buf, size_t len, struct pp_header *h, enum pp_error *err)
{
	const char *why = NULL;
	long r = pp_parse(buf, len, h, err, &why);

	if (r > 0)
		for (size_t n = 0; n < (size_t)r; n++) {
			struct pp_header t;

			ck_assert_msg(pp_parse(buf, n, &t, err, &why) == 0,
			    "prefix of %zu bytes is not incomplete", n);
		}
	if (r < 0)
		ck_assert_ptr_nonnull(why);
	return r;
}

static const char *
src_text(const struct pp_header *h, char *buf, size_t size)
{
	const void *a = h->src.ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)&h->src)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)&h->src)->sin6_addr;

	return inet_ntop(h->src.ss_family, a, buf, (socklen_t)size);
}

static unsigned
src_port(const struct pp_header *h)
{
	return ntohs(h->src.ss_family == AF_INET ?
	    ((const struct sockaddr_in *)&h->src)->sin_port :
	    ((const struct sockaddr_in6 *)&h->src)->sin6_port);
}

START_TEST(v1_tcp4_and_tcp6)
{
	static const char l4[] = "PROXY TCP4 192.0.2.7 198.51.100.2 56324 443\r\n";
	static const char l6[] = "PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n";
	char buf[256], text[64];
	struct pp_header h;
	enum pp_error err;

	/* The TLS ClientHello that follows is not part of the header. */
	snprintf(buf, sizeof(buf), "%s\x16\x03\x01", l4);
	ck_assert_int_eq(parse_all(buf, strlen(buf), &h, &err), strlen(l4));
	ck_assert_uint_eq(h.version, 1);
	ck_assert(h.has_addr);
	ck_assert_str_eq(src_text(&h, text, sizeof(text)), "192.0.2.7");
	ck_assert_uint_eq(src_port(&h), 56324);
	ck_assert_int_eq(parse_all(l6, strlen(l6), &h, &err), strlen(l6));
	ck_assert_str_eq(src_text(&h, text, sizeof(text)), "2001:db8::7");
	ck_assert_uint_eq(src_port(&h), 1);
}
END_TEST

START_TEST(v1_unknown)
{
	static const char l[] = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET";
	static const char bare[] = "PROXY UNKNOWN\r\n";
	struct pp_header h;
	enum pp_error err;

	ck_assert_int_eq(parse_all(l, strlen(l), &h, &err), strlen(l) - 3);
	ck_assert(!h.has_addr);
	ck_assert_int_eq(parse_all(bare, strlen(bare), &h, &err), strlen(bare));
	ck_assert(!h.has_addr);
}
END_TEST

START_TEST(v1_refused)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.7 198.51.100.2 56324 443\n",	/* LF only */
		"PROXY TCP4 192.0.2.7  198.51.100.2 56324 443\r\n",	/* two spaces */
		"PROXY TCP4 192.0.2.7 198.51.100.2 56324 443 \r\n",	/* trailing space */
		"PROXY TCP4 192.0.2.7 198.51.100.2 56324\r\n",		/* a field short */
		"PROXY TCP4 192.0.2.7 198.51.100.2 56324 443 x\r\n",	/* one too many */
		"PROXY TCP4 2001:db8::7 198.51.100.2 1 2\r\n",		/* v6 in TCP4 */
		"PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n",		/* v4 in TCP6 */
		"PROXY TCP4 192.0.2.7 198.51.100.2 65536 443\r\n",	/* port */
		"PROXY TCP4 192.0.2.7 198.51.100.2 0443 443\r\n",	/* leading 0 */
		"PROXY TCP4 192.0.2.7 198.51.100.2 -1 443\r\n",
		"PROXY TCP4 192.0.2.256 198.51.100.2 1 443\r\n",
		"PROXY UDP4 192.0.2.7 198.51.100.2 1 443\r\n",
		"PROXY tcp4 192.0.2.7 198.51.100.2 1 443\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.2 1 443\rX",
		"PROXY TCP4 192.0.2.7\t198.51.100.2 1 443\r\n",
		"PROXY\r\n",
		"PROXX TCP4",
		"GET / HTTP/1.1\r\n",
		"\x16\x03\x01\x00",					/* a ClientHello */
	};
	struct pp_header h;
	enum pp_error err;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(pp_parse((const unsigned char *)bad[i],
		    strlen(bad[i]), &h, &err, &why) == -1, "accepted: %s", bad[i]);
	ck_assert_int_eq(pp_parse((const unsigned char *)"GET", 3, &h, &err,
	    &why), -1);
	ck_assert_int_eq(err, PP_ERR_SIGNATURE);
}
END_TEST

START_TEST(v1_too_long)
{
	char l[160];
	struct pp_header h;
	enum pp_error err;
	const char *why;

	/* 107 bytes is the most a v1 line may take, CRLF included. */
	memset(l, 'a', sizeof(l));
	memcpy(l, "PROXY UNKNOWN ", 14);
	l[105] = '\r';
	l[106] = '\n';
	ck_assert_int_eq(pp_parse((unsigned char *)l, 107, &h, &err, &why), 107);
	memset(l, 'a', sizeof(l));
	memcpy(l, "PROXY UNKNOWN ", 14);
	l[106] = '\r';
	l[107] = '\n';
	ck_assert_int_eq(pp_parse((unsigned char *)l, 108, &h, &err, &why), -1);
	memset(l, 'a', sizeof(l));
	memcpy(l, "PROXY UNKNOWN ", 14);
	ck_assert_int_eq(pp_parse((unsigned char *)l, 106, &h, &err, &why), 0);
	ck_assert_int_eq(pp_parse((unsigned char *)l, 150, &h, &err, &why), -1);
}
END_TEST

START_TEST(v2_proxy_with_tlvs)
{
	static const unsigned char ssl[] = {
		0x07, 0, 0, 0, 0,			/* TLS, cert, verified */
		0x21, 0, 7, 'T', 'L', 'S', 'v', '1', '.', '3',
		0x22, 0, 3, 'u', 'e', '1',
	};
	struct v2 v;
	struct pp_header h;
	enum pp_error err;
	char text[64];

	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 40000, 443);
	v2_tlv(&v, 0x01, "h2", 2);
	v2_tlv(&v, 0x02, "ue.mcx.example", 14);
	v2_tlv(&v, 0x05, "\x01\x02\x03", 3);
	v2_tlv(&v, 0x20, ssl, sizeof(ssl));
	v2_tlv(&v, 0x04, "", 0);			/* NOOP */
	v2_tlv(&v, 0xe0, "custom", 6);			/* skipped */
	v2_tlv(&v, 0x03, "\0\0\0\0", 4);
	v2_end(&v, true);
	v2_put(&v, "\x16\x03\x01", 3);			/* what follows */
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), v.n - 3);
	ck_assert_uint_eq(h.version, 2);
	ck_assert(h.has_addr);
	ck_assert_str_eq(src_text(&h, text, sizeof(text)), "192.0.2.9");
	ck_assert_uint_eq(src_port(&h), 40000);
	ck_assert_str_eq(h.alpn, "h2");
	ck_assert_str_eq(h.authority, "ue.mcx.example");
	ck_assert_uint_eq(h.unique_id_len, 3);
	ck_assert(h.crc_checked);
	ck_assert(h.ssl && h.ssl_client_tls && h.ssl_client_cert && h.ssl_verified);
	ck_assert_str_eq(h.ssl_version, "TLSv1.3");
	ck_assert_str_eq(h.ssl_cn, "ue1");

	/* One bit changed anywhere: the CRC no longer matches. */
	v.n -= 3;
	v.b[20] ^= 1;
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	ck_assert_int_eq(err, PP_ERR_CRC);
}
END_TEST

START_TEST(v2_tcp6_and_local)
{
	unsigned char a[36];
	struct v2 v;
	struct pp_header h;
	enum pp_error err;
	char text[64];

	memset(a, 0, sizeof(a));
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::9", a), 1);
	a[32] = 0x01;
	a[33] = 0xbb;
	v2_begin(&v, 0x21, 0x21);
	v2_put(&v, a, sizeof(a));
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), v.n);
	ck_assert_str_eq(src_text(&h, text, sizeof(text)), "2001:db8::9");
	ck_assert_uint_eq(src_port(&h), 443);

	/* LOCAL: a balancer's health check; its addresses are ignored. */
	v2_begin(&v, 0x20, 0x00);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), 16);
	ck_assert(!h.has_addr);
	ck_assert(h.local);
	v2_begin(&v, 0x20, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), 28);
	ck_assert(!h.has_addr);
	/* UNSPEC and UNIX under PROXY: no IP address, the peer stands. */
	v2_begin(&v, 0x21, 0x00);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), 16);
	ck_assert(!h.has_addr);
}
END_TEST

START_TEST(v2_refused)
{
	struct v2 v;
	struct pp_header h;
	enum pp_error err;
	unsigned char big[300];

	/* version 1 in the v2 header; command 2 */
	v2_begin(&v, 0x11, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	v2_begin(&v, 0x22, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	/* UDP on a stream listener; an unknown family */
	v2_begin(&v, 0x21, 0x12);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	v2_begin(&v, 0x21, 0x41);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	/* shorter than the address block */
	v2_begin(&v, 0x21, 0x21);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	ck_assert_int_eq(err, PP_ERR_V2);
	/* a TLV running past the header, a cut TLV */
	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_put(&v, "\x02\x00\x09" "abc", 6);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_put(&v, "\x02\x00", 2);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	/* a unique id over 128 bytes, a CRC TLV of the wrong size, two CRC
	 * TLVs, a short SSL TLV */
	memset(big, 'x', sizeof(big));
	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_tlv(&v, 0x05, big, 129);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_tlv(&v, 0x03, "\0\0\0", 3);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_tlv(&v, 0x03, "\0\0\0\0", 4);
	v2_tlv(&v, 0x03, "\0\0\0\0", 4);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_tlv(&v, 0x20, "\x01\0\0", 3);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
	/* over PP_MAX_HEADER: refused from the fixed part alone */
	v2_begin(&v, 0x21, 0x11);
	v.b[14] = 0x10;
	v.b[15] = 0x00;
	ck_assert_int_eq(parse_all(v.b, 16, &h, &err), -1);
	ck_assert_int_eq(err, PP_ERR_TOO_LONG);
	/* a broken signature */
	v2_begin(&v, 0x21, 0x11);
	v.b[11] = 'X';
	ck_assert_int_eq(parse_all(v.b, 16, &h, &err), -1);
	ck_assert_int_eq(err, PP_ERR_SIGNATURE);
}
END_TEST

START_TEST(v2_informational_tlvs)
{
	/* A UTF-8 certificate name, a 200-byte ALPN, an authority with a
	 * control byte: logged cut and masked, never a refusal. */
	static const unsigned char ssl[] = {
		0x07, 0, 0, 0, 0,
		0x22, 0, 6, 'J', 0xc3, 0xbc, 'r', 'g', 'x',
	};
	unsigned char alpn[200];
	struct v2 v;
	struct pp_header h;
	enum pp_error err;

	memset(alpn, 'a', sizeof(alpn));
	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_tlv(&v, 0x01, alpn, sizeof(alpn));
	v2_tlv(&v, 0x02, "a\nb", 3);
	v2_tlv(&v, 0x20, ssl, sizeof(ssl));
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), v.n);
	ck_assert_uint_eq(strlen(h.alpn), sizeof(h.alpn) - 1);
	ck_assert_str_eq(h.authority, "a?b");
	ck_assert_str_eq(h.ssl_cn, "J??rgx");
	ck_assert(h.ssl_verified);
	/* An SSL sub-TLV running past its TLV is still refused. */
	v2_begin(&v, 0x21, 0x11);
	v2_tcp4(&v, "192.0.2.9", "198.51.100.2", 1, 2);
	v2_tlv(&v, 0x20, "\x01\0\0\0\0\x22\0\x09" "ab", 10);
	v2_end(&v, false);
	ck_assert_int_eq(parse_all(v.b, v.n, &h, &err), -1);
}
END_TEST

START_TEST(crc32c_known_value)
{
	/* The check value of CRC-32C (RFC 3720, B.4). */
	ck_assert_uint_eq(pp_crc32c(0, (const unsigned char *)"123456789", 9),
	    0xe3069283u);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("proxyproto");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, v1_tcp4_and_tcp6);
	tcase_add_test(tc, v1_unknown);
	tcase_add_test(tc, v1_refused);
	tcase_add_test(tc, v1_too_long);
	tcase_add_test(tc, v2_proxy_with_tlvs);
	tcase_add_test(tc, v2_tcp6_and_local);
	tcase_add_test(tc, v2_refused);
	tcase_add_test(tc, v2_informational_tlvs);
	tcase_add_test(tc, crc32c_known_value);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
