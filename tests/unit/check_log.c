/*
 * check_log: the access line (src/log.c, log_access_line) in both
 * formats.  The text line must stay byte for byte what scripts parse;
 * the JSON line must carry the same values, typed, with missing ones as
 * null, and stay one bounded JSON object whatever a client sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "log.h"

/* 2024-05-01T12:00:00.123Z */
static const struct timespec when = { 1714564800, 123456789 };

static const char odd_path[] = "/a%20b/\"q\"\\x\x01\xc3\xa9\xff?k=v";

static struct log_exchange
full(void)
{
	return (struct log_exchange){
		.id = "0a1b2c3d0100000001",
		.client = "127.0.0.1:40000",
		.listener = "ue",
		.route = "kms",
		.target = "127.0.0.1:8080",
		.method = "GET",
		.host = "kms.mcx.own.example",
		.path = odd_path,
		.path_len = 16,		/* "?k=v" is the query: not part of it */
		.status = 200,
		.req_bytes = 12,
		.resp_bytes = 3456,
		.time_ms = 1.5,
		.upstream_ms = 0.25,
		.tls = "TLSv1.3",
		.peer = "sip:alice@mcx.own.example",
		.proto = "http/1.1",
		.up_proto = "h2",
	};
}

static void
expect_line(enum log_access_format f, const struct log_exchange *x,
    const char *want)
{
	char buf[4096];
	size_t n;

	n = log_access_line(buf, sizeof(buf), f, x, &when);
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_msg(strcmp(buf, want) == 0, "expected\n%s\ngot\n%s", want,
	    buf);
}

START_TEST(text_unchanged)
{
	struct log_exchange x = full();

	expect_line(LOG_FORMAT_TEXT, &x, "id=0a1b2c3d0100000001 "
	    "client=127.0.0.1:40000 listener=ue route=kms "
	    "target=127.0.0.1:8080 method=GET host=kms.mcx.own.example "
	    "path=\"/a%20b/\"q\"\\x\x01\xc3\xa9\xff\" status=200 req_bytes=12 "
	    "resp_bytes=3456 time_ms=1.500 upstream_ms=0.250 tls=TLSv1.3 "
	    "peer=sip:alice@mcx.own.example proto=http/1.1 up_proto=h2");
	/* What the proxy answers itself before routing. */
	x = (struct log_exchange){ .id = "0a1b2c3d0100000002",
	    .client = "[::1]:40001", .listener = "trusted", .status = 400,
	    .time_ms = 0.0126, .upstream_ms = -1, .note = "bad request" };
	expect_line(LOG_FORMAT_TEXT, &x, "id=0a1b2c3d0100000002 "
	    "client=[::1]:40001 listener=trusted route=- target=- method=- "
	    "host=- path=\"\" status=400 req_bytes=0 resp_bytes=0 "
	    "time_ms=0.013 upstream_ms=-1.000 tls=- peer=- proto=- up_proto=- "
	    "note=\"bad request\"");
}
END_TEST

START_TEST(json_fields)
{
	struct log_exchange x = full();

	expect_line(LOG_FORMAT_JSON, &x, "{\"time\":\"2024-05-01T12:00:00.123Z\","
	    "\"request_id\":\"0a1b2c3d0100000001\","
	    "\"client\":\"127.0.0.1:40000\",\"listener\":\"ue\","
	    "\"route\":\"kms\",\"target\":\"127.0.0.1:8080\","
	    "\"method\":\"GET\",\"host\":\"kms.mcx.own.example\","
	    "\"path\":\"/a%20b/\\\"q\\\"\\\\x\\u0001\xc3\xa9\\u00ff\","
	    "\"status\":200,\"req_bytes\":12,\"resp_bytes\":3456,"
	    "\"duration_ms\":1.500,\"upstream_ms\":0.250,\"tls\":\"TLSv1.3\","
	    "\"peer\":\"sip:alice@mcx.own.example\",\"protocol\":\"http/1.1\","
	    "\"upstream_protocol\":\"h2\",\"note\":null}");
}
END_TEST

START_TEST(json_missing_values)
{
	struct log_exchange x = { .status = 499, .upstream_ms = -1,
	    .note = "client closed: \"reset\"\n" };
	const struct timespec epoch = { 0, 999999999 };
	char buf[4096];

	expect_line(LOG_FORMAT_JSON, &x, "{\"time\":\"2024-05-01T12:00:00.123Z\","
	    "\"request_id\":null,\"client\":null,\"listener\":null,"
	    "\"route\":null,\"target\":null,\"method\":null,\"host\":null,"
	    "\"path\":null,\"status\":499,\"req_bytes\":0,\"resp_bytes\":0,"
	    "\"duration_ms\":0.000,\"upstream_ms\":null,\"tls\":null,"
	    "\"peer\":null,\"protocol\":null,\"upstream_protocol\":null,"
	    "\"note\":\"client closed: \\\"reset\\\"\\n\"}");
	/* Milliseconds are cut, not rounded up into the next second. */
	log_access_line(buf, sizeof(buf), LOG_FORMAT_JSON, &x, &epoch);
	ck_assert_msg(strncmp(buf, "{\"time\":\"1970-01-01T00:00:00.999Z\",",
	    35) == 0, "got %s", buf);
	/* The same second again (the date part is cached), then another. */
	log_access_line(buf, sizeof(buf), LOG_FORMAT_JSON, &x,
	    &(struct timespec){ 0, 5000000 });
	ck_assert_msg(strncmp(buf, "{\"time\":\"1970-01-01T00:00:00.005Z\",",
	    35) == 0, "got %s", buf);
	log_access_line(buf, sizeof(buf), LOG_FORMAT_JSON, &x,
	    &(struct timespec){ 86399, 0 });
	ck_assert_msg(strncmp(buf, "{\"time\":\"1970-01-01T23:59:59.000Z\",",
	    35) == 0, "got %s", buf);
}
END_TEST

/* The path keeps 256 bytes in both formats; JSON cuts it between two
 * characters, so a character straddling the bound goes whole. */
START_TEST(path_bound)
{
	struct log_exchange x = full();
	char path[600], buf[4096], want[400];
	const char *p, *q;

	memset(path, 'a', sizeof(path));
	path[0] = '/';
	memcpy(path + 255, "\xe2\x82\xac", 3);	/* bytes 255..257 */
	x.path = path;
	x.path_len = sizeof(path);
	log_access_line(buf, sizeof(buf), LOG_FORMAT_JSON, &x, &when);
	p = strstr(buf, "\"path\":\"");
	ck_assert_ptr_nonnull(p);
	p += 8;
	q = strchr(p, '"');
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(q - p, 255);
	ck_assert(memcmp(p, path, 255) == 0);
	log_access_line(buf, sizeof(buf), LOG_FORMAT_TEXT, &x, &when);
	snprintf(want, sizeof(want), "path=\"%.256s\" ", path);
	ck_assert_ptr_nonnull(strstr(buf, want));
}
END_TEST

/*
 * The worst a client can do: every byte of the path and of a PSK or
 * certificate identity escaped six times over.  The line still fits the
 * buffer, whole, and ends with the last member.
 */
START_TEST(json_worst_case)
{
	struct log_exchange x = full();
	char path[1024], peer[128], buf[4096];
	size_t n;

	memset(path, 0x01, sizeof(path));
	memset(peer, 0xff, sizeof(peer) - 1);
	peer[sizeof(peer) - 1] = '\0';
	x.path = path;
	x.path_len = sizeof(path);
	x.peer = peer;
	x.note = "upstream timeout";
	n = log_access_line(buf, sizeof(buf), LOG_FORMAT_JSON, &x, &when);
	ck_assert_uint_lt(n, sizeof(buf) - 1);	/* room for the newline */
	ck_assert_ptr_nonnull(strstr(buf, ",\"note\":\"upstream timeout\"}"));
	/* A smaller buffer loses members at the end, never the braces. */
	n = log_access_line(buf, 600, LOG_FORMAT_JSON, &x, &when);
	ck_assert_uint_lt(n, 600);
	ck_assert_int_eq(buf[0], '{');
	ck_assert_int_eq(buf[n - 1], '}');
	ck_assert_int_eq(buf[n], '\0');
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("access line");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, text_unchanged);
	tcase_add_test(tc, json_fields);
	tcase_add_test(tc, json_missing_values);
	tcase_add_test(tc, path_bound);
	tcase_add_test(tc, json_worst_case);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
