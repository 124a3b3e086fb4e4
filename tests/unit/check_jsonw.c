/*
 * check_jsonw: the bounded JSON writer (src/jsonw.c).  Escaping of
 * quotes, backslashes, control characters and bytes that are not valid
 * UTF-8; cuts at every possible bound, which must never split an escape
 * or a UTF-8 sequence; and objects that stay valid JSON whatever the
 * room, checked by a small validator written apart from the writer.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "jsonw.h"

/* Escapes all of in (len bytes) and compares with want. */
static void
expect_escape(const char *in, size_t len, const char *want)
{
	char out[512];
	size_t n, used;

	n = jsonw_escape(out, sizeof(out), in, len, &used);
	ck_assert_uint_eq(used, len);
	ck_assert_msg(n == strlen(want) && memcmp(out, want, n) == 0,
	    "expected \"%s\", got \"%.*s\"", want, (int)n, out);
}

#define ESC(lit, want)	expect_escape(lit, sizeof(lit) - 1, want)

START_TEST(escape_plain)
{
	ESC("", "");
	ESC("/one?x=1&y=%20", "/one?x=1&y=%20");
	ESC("a b~", "a b~");
}
END_TEST

START_TEST(escape_quote_backslash)
{
	ESC("\"", "\\\"");
	ESC("\\", "\\\\");
	ESC("/a\"b\\c\"", "/a\\\"b\\\\c\\\"");
}
END_TEST

START_TEST(escape_control)
{
	ESC("\n\r\t\b\f", "\\n\\r\\t\\b\\f");
	ESC("\x01\x1f", "\\u0001\\u001f");
	ESC("a\0b", "a\\u0000b");
	/* DEL is valid JSON, escaped so a terminal showing the log does not
	 * act on it. */
	ESC("\x7f", "\\u007f");
	ESC("\x1b[31m", "\\u001b[31m");
}
END_TEST

START_TEST(escape_valid_utf8)
{
	ESC("\xc3\xa9", "\xc3\xa9");			/* U+00E9 */
	ESC("\xc2\x80", "\xc2\x80");			/* U+0080, smallest of 2 */
	ESC("\xe2\x82\xac", "\xe2\x82\xac");		/* U+20AC */
	ESC("\xe0\xa0\x80", "\xe0\xa0\x80");		/* U+0800 */
	ESC("\xed\x9f\xbf", "\xed\x9f\xbf");		/* U+D7FF */
	ESC("\xee\x80\x80", "\xee\x80\x80");		/* U+E000 */
	ESC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");	/* U+1F600 */
	ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");	/* U+10FFFF */
}
END_TEST

START_TEST(escape_invalid_utf8)
{
	ESC("\x80", "\\u0080");				/* lone continuation */
	ESC("\xbf", "\\u00bf");
	ESC("\xc0\xaf", "\\u00c0\\u00af");		/* overlong '/' */
	ESC("\xc1\xbf", "\\u00c1\\u00bf");
	ESC("\xe0\x80\xaf", "\\u00e0\\u0080\\u00af");	/* overlong */
	ESC("\xf0\x80\x80\xaf", "\\u00f0\\u0080\\u0080\\u00af");
	ESC("\xed\xa0\x80", "\\u00ed\\u00a0\\u0080");	/* surrogate D800 */
	ESC("\xf4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080"); /* 110000 */
	ESC("\xf5\xff\xfe", "\\u00f5\\u00ff\\u00fe");
	ESC("\xc3" "A", "\\u00c3A");			/* no continuation */
	ESC("\xe2\x82", "\\u00e2\\u0082");		/* cut short */
	ESC("a\xe2\x82" "b", "a\\u00e2\\u0082b");
	/* Latin-1 as sent by some clients: each byte kept as its value. */
	ESC("caf\xe9", "caf\\u00e9");
}
END_TEST

/* Escapes a prefix bound: the out bytes are exactly the escape of the
 * input consumed, so nothing was half written. */
static void
expect_whole_units(const char *in, size_t len)
{
	char full[256], out[256 + 8], again[256];
	size_t nfull, n, used, nagain, size;

	nfull = jsonw_escape(full, sizeof(full), in, len, NULL);
	for (size = 0; size <= nfull; size++) {
		memset(out, '#', sizeof(out));
		n = jsonw_escape(out, size, in, len, &used);
		ck_assert_uint_le(n, size);
		ck_assert_int_eq(out[size], '#');	/* nothing past size */
		ck_assert_uint_le(used, len);
		nagain = jsonw_escape(again, sizeof(again), in, used, NULL);
		ck_assert_uint_eq(n, nagain);
		ck_assert(memcmp(out, again, n) == 0);
		ck_assert(memcmp(out, full, n) == 0);
		/* It stopped only because the next unit did not fit. */
		if (used < len)
			ck_assert_uint_lt(size - n, 6);
		else
			ck_assert_uint_eq(n, nfull);
	}
}

START_TEST(escape_bound)
{
	static const char mix[] = "a\"\\\x01\xc3\xa9\xe2\x82\xac\xf0\x9f\x98"
	    "\x80\xff\n/x";
	char out[8];
	size_t used;

	expect_whole_units(mix, sizeof(mix) - 1);
	/* Two bytes left are not enough for a 3-byte character. */
	ck_assert_uint_eq(jsonw_escape(out, 3, "a\xe2\x82\xac", 4, &used), 1);
	ck_assert_uint_eq(used, 1);
	/* Five bytes left are not enough for \u0001. */
	ck_assert_uint_eq(jsonw_escape(out, 5, "\x01", 1, &used), 0);
	ck_assert_uint_eq(used, 0);
	ck_assert_uint_eq(jsonw_escape(out, 1, "\"", 1, &used), 0);
	ck_assert_uint_eq(jsonw_escape(out, 0, "a", 1, &used), 0);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(prefix)
{
	/* a, é (2), € (3), 😀 (4) */
	static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	static const size_t want[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10 };
	size_t max;

	for (max = 0; max <= 10; max++)
		ck_assert_msg(jsonw_prefix(s, 10, max) == want[max],
		    "max %zu: %zu, expected %zu", max, jsonw_prefix(s, 10, max),
		    want[max]);
	ck_assert_uint_eq(jsonw_prefix(s, 10, 100), 10);
	ck_assert_uint_eq(jsonw_prefix("abcdef", 6, 4), 4);
	/* Invalid bytes are escaped one by one: any cut is fine. */
	ck_assert_uint_eq(jsonw_prefix("a\xff\xfe\xfd", 4, 2), 2);
	ck_assert_uint_eq(jsonw_prefix("a\xe2\x82" "b", 4, 2), 2);
	ck_assert_uint_eq(jsonw_prefix("a\xe2\x82", 3, 2), 2);
}
END_TEST

/* ---- a validator for what the writer produces --------------------------- */

static bool
is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* One raw character of a string at *p; decodes it to check its range. */
static bool
valid_char(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *s = *p;
	unsigned long cp;
	size_t n, i;

	if (s[0] < 0x20)
		return false;
	if (s[0] < 0x80) {
		*p = s + 1;
		return true;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4;
	else
		return false;
	cp = s[0] & (0x7f >> n);
	if ((size_t)(end - s) < n)
		return false;
	for (i = 1; i < n; i++) {
		if (!is_cont(s[i]))
			return false;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	*p = s + n;
	return true;
}

static bool
valid_string(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *s = *p;

	if (s >= end || *s++ != '"')
		return false;
	while (s < end && *s != '"') {
		if (*s == '\\') {
			if (end - s < 2)
				return false;
			if (s[1] == 'u') {
				if (end - s < 6 ||
				    strspn((const char *)s + 2,
				    "0123456789abcdef") < 4)
					return false;
				s += 6;
			} else if (strchr("\"\\/bfnrt", s[1]) != NULL &&
			    s[1] != '\0')
				s += 2;
			else
				return false;
		} else if (!valid_char(&s, end))
			return false;
	}
	if (s >= end)
		return false;
	*p = s + 1;
	return true;
}

/* The writer's subset: { "key": string | number | null, ... }. */
static bool
valid_object(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	bool first = true;

	if (p >= end || *p++ != '{')
		return false;
	while (p < end && *p != '}') {
		if (!first && *p++ != ',')
			return false;
		first = false;
		if (!valid_string(&p, end) || p >= end || *p++ != ':')
			return false;
		if (p < end && *p == '"') {
			if (!valid_string(&p, end))
				return false;
		} else if (end - p >= 4 && memcmp(p, "null", 4) == 0)
			p += 4;
		else if (p < end && ((*p >= '0' && *p <= '9') || *p == '-')) {
			p++;
			while (p < end && ((*p >= '0' && *p <= '9') ||
			    *p == '.'))
				p++;
		} else
			return false;
	}
	return p + 1 == end && *p == '}';
}

#define VALID(s)	valid_object(s, strlen(s))

START_TEST(validator_refuses)
{
	ck_assert(VALID("{}"));
	ck_assert(VALID("{\"a\":\"\\u00e9\",\"b\":null,\"c\":-1.5}"));
	ck_assert(!VALID("{\"a\":\"\x01\"}"));
	ck_assert(!VALID("{\"a\":\"\xc0\xaf\"}"));
	ck_assert(!VALID("{\"a\":\"\xed\xa0\x80\"}"));
	ck_assert(!VALID("{\"a\":\"\xc3\"}"));
	ck_assert(!VALID("{\"a\":\"\\\"}"));
	ck_assert(!VALID("{\"a\":\"\\u00e\"}"));
	ck_assert(!VALID("{\"a\":1"));
	ck_assert(!VALID("{\"a\":1,}"));
}
END_TEST

/* ---- the writer ---------------------------------------------------------- */

static const char hostile[] = "/a\"b\\c\x01\n\xc3\xa9\xe2\x82\xac\xff\x80"
    "\xf0\x9f\x98\x80%22";

/* Every kind of member, hostile string included. */
static size_t
write_all(char *buf, size_t size)
{
	struct jsonw w;

	jsonw_begin(&w, buf, size);
	jsonw_str(&w, "s", "x");
	jsonw_null(&w, "n");
	jsonw_uint(&w, "u", 18446744073709551615ULL);
	jsonw_fixed(&w, "f", 1.5, 3);
	jsonw_fixed(&w, "nan", NAN, 3);
	jsonw_str(&w, "z", NULL);
	jsonw_strn(&w, "h", hostile, sizeof(hostile) - 1);
	jsonw_uint(&w, "last", 7);
	return jsonw_end(&w);
}

START_TEST(writer_members)
{
	static const char want[] = "{\"s\":\"x\",\"n\":null,"
	    "\"u\":18446744073709551615,\"f\":1.500,\"nan\":null,\"z\":null,"
	    "\"h\":\"/a\\\"b\\\\c\\u0001\\n\xc3\xa9\xe2\x82\xac\\u00ff\\u0080"
	    "\xf0\x9f\x98\x80%22\",\"last\":7}";
	char buf[512];
	struct jsonw w;
	size_t n;

	n = write_all(buf, sizeof(buf));
	ck_assert_msg(n == sizeof(want) - 1 && memcmp(buf, want, n) == 0,
	    "got %.*s", (int)n, buf);
	ck_assert(valid_object(buf, n));

	jsonw_begin(&w, buf, 2);
	ck_assert_uint_eq(jsonw_end(&w), 2);
	ck_assert(memcmp(buf, "{}", 2) == 0);
	jsonw_begin(&w, buf, sizeof(buf));
	jsonw_fixed(&w, "ms", 12.3456, 3);
	jsonw_fixed(&w, "big", 1e300, 3);	/* wider than any duration */
	jsonw_strn(&w, "e", "", 0);
	n = jsonw_end(&w);
	ck_assert_msg(n == 31 && memcmp(buf, "{\"ms\":12.346,\"big\":null,"
	    "\"e\":\"\"}", n) == 0, "got %.*s", (int)n, buf);
}
END_TEST

/* At every size the object is valid, within the size, and what it holds
 * is the start of the full object's members. */
START_TEST(writer_bound)
{
	char full[512], buf[512];
	size_t nfull, n, size;

	nfull = write_all(full, sizeof(full));
	for (size = 2; size <= nfull; size++) {
		memset(buf, '#', sizeof(buf));
		n = write_all(buf, size);
		ck_assert_uint_le(n, size);
		ck_assert_int_eq(buf[size], '#');
		ck_assert_msg(valid_object(buf, n), "size %zu: %.*s", size,
		    (int)n, buf);
	}
	/* Room for "s" only: the later members are left out whole. */
	n = write_all(buf, 12);
	ck_assert_msg(n == 9 && memcmp(buf, "{\"s\":\"x\"}", 9) == 0,
	    "got %.*s", (int)n, buf);
	/* A string cut to the room, at a character boundary. */
	{
		struct jsonw w;

		jsonw_begin(&w, buf, 12);
		jsonw_str(&w, "p", "ab\xe2\x82\xac" "cd");
		n = jsonw_end(&w);
		ck_assert_msg(n == 10 && memcmp(buf, "{\"p\":\"ab\"}", n) == 0,
		    "got %.*s", (int)n, buf);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("jsonw");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("escape");
	tcase_add_test(tc, escape_plain);
	tcase_add_test(tc, escape_quote_backslash);
	tcase_add_test(tc, escape_control);
	tcase_add_test(tc, escape_valid_utf8);
	tcase_add_test(tc, escape_invalid_utf8);
	tcase_add_test(tc, escape_bound);
	tcase_add_test(tc, prefix);
	suite_add_tcase(s, tc);
	tc = tcase_create("writer");
	tcase_add_test(tc, validator_refuses);
	tcase_add_test(tc, writer_members);
	tcase_add_test(tc, writer_bound);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
