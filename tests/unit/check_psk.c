/*
 * check_psk: PSK files (src/psk.c): parsing, lookup, and the FILE:LINE
 * errors `mcxproxy -t` prints for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "psk.h"

#define KEY32 "00112233445566778899aabbccddeeff"

static char path[64];

/* Writes len bytes of text, NULs included, to a new file at path. */
static void
write_bytes(const char *text, size_t len)
{
	int fd;
	FILE *f;

	strcpy(path, "/tmp/check_psk.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

static void
write_file(const char *text)
{
	write_bytes(text, strlen(text));
}

START_TEST(good_file)
{
	struct errlist errs = { 0 };
	struct psk_table *t;
	const unsigned char *k;
	size_t len = 0;

	write_file("# comment\n\nalice:" KEY32 "\r\nbob:" KEY32 KEY32 "  \n");
	t = psk_load(path, &errs);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(errs.count, 0);
	k = psk_find(t, "alice", 5, &len);
	ck_assert_ptr_nonnull(k);
	ck_assert_uint_eq(len, 16);
	ck_assert_uint_eq(k[0], 0x00);
	ck_assert_uint_eq(k[15], 0xff);
	ck_assert_ptr_nonnull(psk_find(t, "bob", 3, &len));
	ck_assert_uint_eq(len, 32);
	/* Exact identities only: no prefix, no case folding. */
	ck_assert_ptr_null(psk_find(t, "alic", 4, &len));
	ck_assert_ptr_null(psk_find(t, "Alice", 5, &len));
	ck_assert_ptr_null(psk_find(t, "alicex", 6, &len));
	psk_free(t);
	unlink(path);
}
END_TEST

START_TEST(bad_lines)
{
	struct errlist errs = { 0 };
	char want[160];

	write_file("alice\n"			/* 1 */
	    ":" KEY32 "\n"			/* 2 */
	    "bob:0011\n"			/* 3: too short */
	    "carol:" KEY32 "a\n"		/* 4: odd length */
	    "dave:" "0g112233445566778899aabbccddeeff\n" /* 5 */
	    "alice2:" KEY32 "\n"		/* 6: fine */
	    "alice2:" KEY32 "\n");		/* 7: repeated */
	ck_assert_ptr_null(psk_load(path, &errs));
	ck_assert_uint_eq(errs.count, 6);
	snprintf(want, sizeof(want), "%s:1: expected \"identity:hexkey\"\n", path);
	ck_assert_ptr_nonnull(strstr(errs.text, want));
	snprintf(want, sizeof(want), "%s:2: empty identity\n", path);
	ck_assert_ptr_nonnull(strstr(errs.text, want));
	snprintf(want, sizeof(want), "%s:3: the key must be 32 to 128 hex digits", path);
	ck_assert_ptr_nonnull(strstr(errs.text, want));
	snprintf(want, sizeof(want), "%s:4: the key must be", path);
	ck_assert_ptr_nonnull(strstr(errs.text, want));
	snprintf(want, sizeof(want), "%s:5: the key is not hexadecimal\n", path);
	ck_assert_ptr_nonnull(strstr(errs.text, want));
	snprintf(want, sizeof(want), "%s:7: identity \"alice2\" repeated\n", path);
	ck_assert_ptr_nonnull(strstr(errs.text, want));
	errlist_fini(&errs);
	unlink(path);
}
END_TEST

START_TEST(empty_and_missing)
{
	struct errlist errs = { 0 };

	write_file("# only a comment\n");
	ck_assert_ptr_null(psk_load(path, &errs));
	ck_assert_ptr_nonnull(strstr(errs.text, "no \"identity:hexkey\" line"));
	errlist_fini(&errs);
	unlink(path);
	ck_assert_ptr_null(psk_load("/nonexistent/ue.psk", &errs));
	ck_assert_ptr_nonnull(strstr(errs.text, "cannot read PSK file"));
	errlist_fini(&errs);
}
END_TEST

/* Loading len bytes of text fails with one error, "PATH:want". */
static void
expect_one_error(const char *text, size_t len, const char *want)
{
	struct errlist errs = { 0 };
	char line[160];

	write_bytes(text, len);
	ck_assert_ptr_null(psk_load(path, &errs));
	ck_assert_uint_eq(errs.count, 1);
	snprintf(line, sizeof(line), "%s:%s", path, want);
	ck_assert_msg(strstr(errs.text, line) != NULL, "%s", errs.text);
	errlist_fini(&errs);
	unlink(path);
}

/*
 * Found by fuzz_psk (its reference reading of the format; the inputs are
 * seeds in tests/fuzz/corpus/psk).  psk_load() read lines with fgets()
 * into 512 bytes: a longer line was cut, and its tail read as a line of
 * its own, so a key quoted at the end of a long comment became a key; a
 * NUL ended a line early and the rest of it was ignored.
 */
START_TEST(long_and_nul_lines)
{
	static const char nul[] = "# ok\0 in a comment\nalice:" KEY32 "\0junk\n";
	struct errlist errs = { 0 };
	struct psk_table *t;
	char text[1200];
	size_t len = 0;

	/* A comment whose key starts at byte 512, where fgets() cut. */
	memset(text, 0, sizeof(text));
	strcpy(text, "# retired: ");
	memset(text + strlen(text), '-', 511 - strlen(text));
	strcat(text, "eve:" KEY32 "\nalice:" KEY32 "\n");
	write_file(text);
	t = psk_load(path, &errs);
	ck_assert_msg(t != NULL, "%s", errs.text ? errs.text : "");
	ck_assert_ptr_null(psk_find(t, "eve", 3, &len));
	ck_assert_ptr_nonnull(psk_find(t, "alice", 5, &len));
	psk_free(t);
	unlink(path);

	/* A key line past 512 bytes is refused whole, as one line. */
	snprintf(text, sizeof(text), "bob:%0600d\nalice:" KEY32 "\n", 0);
	expect_one_error(text, strlen(text), "1: the key must be");
	/* "alice:KEY\0junk": refused, not read as "alice:KEY". */
	expect_one_error(nul, sizeof(nul) - 1, "2: NUL byte in the line\n");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("psk");
	TCase *tc = tcase_create("file");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, good_file);
	tcase_add_test(tc, bad_lines);
	tcase_add_test(tc, empty_and_missing);
	tcase_add_test(tc, long_and_nul_lines);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
