/*
 * check_exchange: one request's trip (src/exchange.c) driven through its
 * two interfaces, with no session: a fake client side (struct client,
 * implementing exchange_client_ops, which frees the exchange from end,
 * fail and abort as the real session does) and the test playing the
 * origin server on a real loopback socket behind a real upstream pool.
 * Each test counts the bytes the origin received: a request refused
 * before or during its body must not reach it at all.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errlist.h"
#include "exchange.h"
#include "headers.h"
#include "h1.h"
#include "loop.h"
#include "runtime.h"

#include "conn_fixture.h"

/* --- the world: a configuration, a loop, an origin --- */

static char dir[256];
static struct runtime *rt;
static struct loop lp;
static struct loop_shared shared;
static int origin_lfd = -1;	/* listening */
static int origin_fd = -1;	/* the accepted upstream connection */
static int accepts;		/* connections the origin accepted */
static struct evbuffer *origin_got;	/* every byte the origin received */

#define MAX_BODY	100

static void
world_setup(void)
{
	struct sockaddr_in sin, closed;
	char path[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	struct errlist errs = { 0 };
	struct config *cf;
	int closed_fd;
	FILE *f;

	setup();
	conn_fixture_init();
	origin_lfd = loopback(&sin, true);
	closed_fd = loopback(&closed, false);	/* bound, not listening */
	snprintf(dir, sizeof(dir), "%s/check_exchange.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mcx.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	    "domain = \"mcx.own.example\";\n"
	    "limits = { max_body_bytes = %d; };\n"
	    "timeouts = { upstream_connect = 2.0; upstream_response = 5.0;"
	    " client_idle = 5.0; };\n"
	    "headers = { via = \"mcxproxy\"; };\n"
	    "listeners = ( { role = \"trusted\"; address = \"127.0.0.1:1\";"
	    " allow = [\"127.0.0.0/8\"]; } );\n"
	    "servers = (\n"
	    " { name = \"kms\"; hosts = [\"kms.mcx.own.example\"];"
	    " targets = [\"127.0.0.1:%u\"]; },\n"
	    " { name = \"gms\"; hosts = [\"gms.mcx.own.example\"];"
	    " targets = [\"127.0.0.1:%u\"]; } );\n",
	    MAX_BODY, ntohs(sin.sin_port), ntohs(closed.sin_port));
	fclose(f);
	cf = config_load(path, &errs);
	ck_assert_msg(cf != NULL, "config: %s", errs.text ? errs.text : "?");
	rt = runtime_new(cf, &errs);
	ck_assert_msg(rt != NULL, "runtime: %s", errs.text ? errs.text : "?");
	errlist_fini(&errs);
	/* The port stays bound (so refused) until the test ends. */
	(void)closed_fd;
	shared.srclimit = NULL;
	loop_init(&lp, 0, fx.base, rt, &shared);
	origin_got = evbuffer_new();
	remove(path);
	rmdir(dir);
}

static void
world_teardown(void)
{
	loop_fini(&lp);
	runtime_unref(rt);
	evbuffer_free(origin_got);
	teardown();
}

/* The origin accepts what is pending (non-blocking). */
static bool
origin_accept(void)
{
	int fd = accept4(origin_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return false;
	if (origin_fd >= 0)
		close(origin_fd);
	origin_fd = fd;
	accepts++;
	return true;
}

/* The origin reads what it holds.  False while nothing came in since. */
static bool
origin_read(void)
{
	size_t before = evbuffer_get_length(origin_got);

	if (origin_fd < 0 && !origin_accept())
		return false;
	(void)read_some(origin_fd, origin_got, 1 << 20);
	return evbuffer_get_length(origin_got) > before;
}

/* True once the origin's end of the connection saw EOF (or a reset). */
static bool
origin_closed(void)
{
	char buf[4096];
	ssize_t n;

	if (origin_fd < 0 && !origin_accept())
		return false;
	n = read(origin_fd, buf, sizeof(buf));
	if (n > 0)
		evbuffer_add(origin_got, buf, (size_t)n);
	return n == 0 || (n < 0 && errno != EAGAIN);
}

static bool
origin_has(const char *text)
{
	struct evbuffer_ptr p = evbuffer_search(origin_got, text,
	    strlen(text), NULL);

	return p.pos >= 0;
}

/* --- the fake client side --- */

struct client {
	struct evbuffer *in;		/* what the client sent */
	struct evbuffer *out;		/* what went to it */
	struct h1_parser *req;
	struct exchange *x;
	int heads, ends, fails, aborts, stalls, flushes;
	unsigned head_status, fail_status;
	char detail[256];
	size_t head_len;		/* the final response head's */
	bool chunked, close, close_after;
	bool body_in, body_out;		/* the idle limits asked for */
	size_t out_at_stall;
};

static struct client cl;

/* As the HTTP/1.1 session does: the body decoded from what was sent. */
static enum h1_status
c_body(void *arg, struct evbuffer *out, bool chunked, size_t limit,
    uint64_t *payload, unsigned *status, const char **why)
{
	struct client *c = arg;
	enum h1_status rc;

	rc = h1_body(c->req, c->in, out, chunked, limit, payload);
	if (rc == H1_ERROR) {
		*status = h1_error_status(c->req);
		*why = h1_error_reason(c->req);
	}
	return rc;
}

static void
c_consumed(void *arg)
{
	(void)arg;
}

static void
c_send_head(void *arg, const struct msg_response *rs,
    const struct field_list *fl, bool chunked, bool close)
{
	struct client *c = arg;
	size_t before = evbuffer_get_length(c->out);

	h1_write_response(c->out, rs, fl, chunked, close);
	if (rs->status >= 200) {
		c->head_len = evbuffer_get_length(c->out) - before;
		c->heads++;
		c->head_status = rs->status;
		c->chunked = chunked;
		c->close = close;
	}
}

static struct evbuffer *
c_body_out(void *arg)
{
	return ((struct client *)arg)->out;
}

static void
c_flush(void *arg)
{
	((struct client *)arg)->flushes++;
}

static void
c_timeouts(void *arg, bool body_in, bool body_out)
{
	struct client *c = arg;

	c->body_in = body_in;
	c->body_out = body_out;
}

static void
c_stalled(void *arg)
{
	struct client *c = arg;

	c->stalls++;
	c->out_at_stall = evbuffer_get_length(c->out);
}

/* end, fail and abort free the exchange, as the session may: ASan then
 * catches an exchange that goes on after them. */
static void
c_done(struct client *c)
{
	c->close_after = c->x->close_after;
	exchange_free(c->x);
	c->x = NULL;
}

static void
c_end(void *arg)
{
	struct client *c = arg;

	c->ends++;
	c_done(c);
}

static void
c_fail(void *arg, unsigned status, const char *detail, unsigned retry_after)
{
	struct client *c = arg;

	(void)retry_after;
	c->fails++;
	c->fail_status = status;
	snprintf(c->detail, sizeof(c->detail), "%s", detail);
	c_done(c);
}

static void
c_abort(void *arg, const char *detail)
{
	struct client *c = arg;

	c->aborts++;
	snprintf(c->detail, sizeof(c->detail), "%s", detail);
	c_done(c);
}

static const struct exchange_client_ops fake_ops = {
	.body = c_body,
	.consumed = c_consumed,
	.send_head = c_send_head,
	.body_out = c_body_out,
	.flush = c_flush,
	.timeouts = c_timeouts,
	.stalled = c_stalled,
	.end = c_end,
	.fail = c_fail,
	.abort = c_abort,
};

static void
client_setup(void)
{
	world_setup();
	memset(&cl, 0, sizeof(cl));
	cl.in = evbuffer_new();
	cl.out = evbuffer_new();
}

static void
client_teardown(void)
{
	exchange_free(cl.x);
	if (cl.req != NULL)
		h1_parser_free(cl.req);
	evbuffer_free(cl.in);
	evbuffer_free(cl.out);
	if (origin_fd >= 0)
		close(origin_fd);
	close(origin_lfd);
	world_teardown();
}

/* The client sends text (head, and whatever body bytes come with it); a
 * new exchange begins on its head, from a listener of the given role. */
static void
request(enum listener_role role, const char *text)
{
	struct exchange_client c = {
		.ops = &fake_ops,
		.arg = &cl,
		.role = role,
		.peer = "127.0.0.1:40000",
		.peer_host = "127.0.0.1",
		.peer_id = "",
	};
	struct exchange_request how = { 0 };
	const struct h1_head *h;
	struct msg_request rq;

	if (cl.req == NULL)
		cl.req = h1_parser_new(H1_REQUEST, 16384, 100);
	else
		h1_parser_reset(cl.req, false);
	evbuffer_add(cl.in, text, strlen(text));
	ck_assert_int_eq(h1_parse_head(cl.req, cl.in), H1_DONE);
	h = h1_head(cl.req);
	how.close = h->conn_close;
	how.h11 = h->minor >= 1;
	if (headers_request_msg(h, &rq, &how.target_error) < 0 &&
	    how.target_error == NULL)
		how.target_error = "invalid request target";
	cl.x = exchange_new(&lp, &c);
	exchange_begin(cl.x, &rq, &how);
}

/* More bytes from the client (a body's rest). */
static void
client_sends(const char *text)
{
	evbuffer_add(cl.in, text, strlen(text));
	exchange_client_readable(cl.x);
}

static bool
client_got(const char *text)
{
	struct evbuffer_ptr p = evbuffer_search(cl.out, text, strlen(text),
	    NULL);

	return p.pos >= 0;
}

#define KMS	"Host: kms.mcx.own.example\r\n"

/* --- tests --- */

START_TEST(get_is_forwarded_and_answered)
{
	request(ROLE_TRUSTED, "GET /keys?id=1 HTTP/1.1\r\n" KMS "\r\n");
	ck_assert_int_eq(cl.fails, 0);
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	ck_assert(origin_has("GET /keys?id=1 HTTP/1.1\r\n"));
	ck_assert(origin_has("Via: 1.1 mcxproxy\r\n"));
	write_all(origin_fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 43);
	RUN_UNTIL(cl.ends == 1);
	ck_assert_int_eq(cl.heads, 1);
	ck_assert_uint_eq(cl.head_status, 200);
	ck_assert(client_got("HTTP/1.1 200 OK\r\n"));
	ck_assert(client_got("\r\n\r\nhello"));
	ck_assert_int_eq(cl.fails + cl.aborts, 0);
	ck_assert(!cl.close_after);
}
END_TEST

START_TEST(keep_alive_reuses_the_upstream_connection)
{
	request(ROLE_TRUSTED, "GET /a HTTP/1.1\r\n" KMS "\r\n");
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	write_all(origin_fd, "HTTP/1.1 204 No Content\r\n\r\n", 27);
	RUN_UNTIL(cl.ends == 1);
	evbuffer_drain(origin_got, (size_t)-1);
	request(ROLE_TRUSTED, "GET /b HTTP/1.1\r\n" KMS "\r\n");
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	ck_assert(origin_has("GET /b HTTP/1.1\r\n"));
	write_all(origin_fd, "HTTP/1.1 204 No Content\r\n\r\n", 27);
	RUN_UNTIL(cl.ends == 2);
	ck_assert_int_eq(accepts, 1);
}
END_TEST

/* A GET sent on a reused connection that the server closes unanswered
 * goes again on a fresh one, with the same head (written anew: nothing
 * is kept for the retry). */
START_TEST(retry_sends_the_same_head)
{
	char *first, *again;
	size_t n;

	request(ROLE_TRUSTED, "GET /a HTTP/1.1\r\n" KMS "\r\n");
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	write_all(origin_fd, "HTTP/1.1 204 No Content\r\n\r\n", 27);
	RUN_UNTIL(cl.ends == 1);
	evbuffer_drain(origin_got, (size_t)-1);
	request(ROLE_TRUSTED, "GET /b?q=1 HTTP/1.1\r\n" KMS
	    "Accept: application/json\r\nX-Req: 7\r\n\r\n");
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	n = evbuffer_get_length(origin_got);
	first = calloc(1, n + 1);
	evbuffer_remove(origin_got, first, n);
	close(origin_fd);
	origin_fd = -1;
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	ck_assert_int_eq(accepts, 2);
	n = evbuffer_get_length(origin_got);
	again = calloc(1, n + 1);
	evbuffer_copyout(origin_got, again, n);
	ck_assert_str_eq(again, first);
	ck_assert(strstr(again, "GET /b?q=1 HTTP/1.1\r\n") == again);
	ck_assert(strstr(again, "X-Req: 7\r\n") != NULL);
	ck_assert(strstr(again, "Via: 1.1 mcxproxy\r\n") != NULL);
	write_all(origin_fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 40);
	RUN_UNTIL(cl.ends == 2);
	ck_assert_uint_eq(cl.head_status, 200);
	ck_assert_int_eq(cl.fails + cl.aborts, 0);
	free(first);
	free(again);
}
END_TEST

START_TEST(body_streams_with_its_head)
{
	request(ROLE_TRUSTED, "POST /k HTTP/1.1\r\n" KMS
	    "Content-Length: 10\r\n\r\n01234");
	RUN_UNTIL(origin_read() && origin_has("01234"));
	ck_assert(cl.body_in);
	client_sends("56789");
	RUN_UNTIL(origin_read() && origin_has("0123456789"));
	write_all(origin_fd, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 43);
	RUN_UNTIL(cl.ends == 1);
	ck_assert_uint_eq(cl.head_status, 201);
}
END_TEST

START_TEST(refusal_answers_without_upstream)
{
	/* A device cannot assert an identity (contract section 4). */
	request(ROLE_UE, "GET / HTTP/1.1\r\n" KMS
	    "X-3GPP-Asserted-Identity: sip:a@mcx.own.example\r\n\r\n");
	ck_assert_int_eq(cl.fails, 1);
	ck_assert_uint_eq(cl.fail_status, 403);
	request(ROLE_TRUSTED, "GET / HTTP/1.1\r\nHost: nobody.example\r\n\r\n");
	ck_assert_int_eq(cl.fails, 2);
	ck_assert_uint_eq(cl.fail_status, 421);
	/* A declared length over the limit: refused at the head. */
	request(ROLE_TRUSTED, "POST / HTTP/1.1\r\n" KMS
	    "Content-Length: 1000\r\n\r\n");
	ck_assert_int_eq(cl.fails, 3);
	ck_assert_uint_eq(cl.fail_status, 413);
	run_for(0.1);
	ck_assert(!origin_accept());
	ck_assert_int_eq(cl.ends + cl.aborts, 0);
}
END_TEST

/* A bad chunk size in the bytes that came with the head: the head that
 * was queued goes nowhere, and the stream closes. */
START_TEST(bad_chunk_reaches_no_upstream)
{
	request(ROLE_TRUSTED, "POST /k HTTP/1.1\r\n" KMS
	    "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
	RUN_UNTIL(cl.fails == 1);
	ck_assert_uint_eq(cl.fail_status, 400);
	ck_assert(cl.close_after);
	RUN_UNTIL(origin_closed());
	ck_assert_uint_eq(evbuffer_get_length(origin_got), 0);
}
END_TEST

/* A chunked body over limits.max_body_bytes in one piece: nothing. */
START_TEST(oversized_chunked_body_reaches_no_upstream)
{
	char req[512];

	snprintf(req, sizeof(req), "POST /k HTTP/1.1\r\n" KMS
	    "Transfer-Encoding: chunked\r\n\r\n%x\r\n%0*d\r\n0\r\n\r\n",
	    MAX_BODY + 1, MAX_BODY + 1, 0);
	request(ROLE_TRUSTED, req);
	RUN_UNTIL(cl.fails == 1);
	ck_assert_uint_eq(cl.fail_status, 413);
	RUN_UNTIL(origin_closed());
	ck_assert_uint_eq(evbuffer_get_length(origin_got), 0);
}
END_TEST

/* A body that turns bad after forwarding began: the upstream connection
 * closes (never reused), and the bad bytes do not follow. */
START_TEST(body_failing_late_closes_the_stream)
{
	request(ROLE_TRUSTED, "POST /k HTTP/1.1\r\n" KMS
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
	RUN_UNTIL(origin_read() && origin_has("hello\r\n"));
	client_sends("5\r\nworldXX");
	ck_assert_int_eq(cl.fails, 1);
	ck_assert_uint_eq(cl.fail_status, 400);
	RUN_UNTIL(origin_closed());
	ck_assert(!origin_has("world"));
}
END_TEST

START_TEST(unreachable_target_is_502)
{
	request(ROLE_TRUSTED, "GET / HTTP/1.1\r\nHost: gms.mcx.own.example\r\n\r\n");
	RUN_UNTIL(cl.fails == 1);
	ck_assert_uint_eq(cl.fail_status, 502);
	ck_assert_int_eq(cl.heads, 0);
}
END_TEST

START_TEST(bad_response_head_is_502)
{
	request(ROLE_TRUSTED, "GET / HTTP/1.1\r\n" KMS "\r\n");
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	write_all(origin_fd, "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", 33);
	RUN_UNTIL(cl.fails == 1);
	ck_assert_uint_eq(cl.fail_status, 502);
	ck_assert_int_eq(cl.heads, 0);
	RUN_UNTIL(origin_closed());
}
END_TEST

/* Cut in the middle of the body: the client side is told to abort (the
 * half-sent response cannot be finished). */
START_TEST(response_cut_mid_body_aborts)
{
	request(ROLE_TRUSTED, "GET / HTTP/1.1\r\n" KMS "\r\n");
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	write_all(origin_fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", 45);
	close(origin_fd);
	origin_fd = -2;		/* closed: origin_accept is not to run again */
	RUN_UNTIL(cl.aborts == 1);
	ck_assert_int_eq(cl.heads, 1);
	ck_assert(client_got("12345"));
	ck_assert_int_eq(cl.ends + cl.fails, 0);
}
END_TEST

/* A client that does not read: at most about OUT_HIGH waits for it, the
 * client side hears of the stall, and the rest follows as it reads. */
START_TEST(response_waits_for_the_client)
{
	static char chunk[65536];
	size_t total = 64u << 20, sent = 0, got = 0;
	char head[128];
	ssize_t n;

	memset(chunk, 'r', sizeof(chunk));
	request(ROLE_TRUSTED, "GET /big HTTP/1.1\r\n" KMS "\r\n");
	RUN_UNTIL(origin_read() && origin_has("\r\n\r\n"));
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", total);
	write_all(origin_fd, head, (size_t)n);
	/* The origin writes while it can; the client reads nothing.  The
	 * proxy's output fills, then its upstream input, then the socket. */
	for (int i = 0, blocked = 0; i < 4000 && blocked < 20; i++) {
		n = write(origin_fd, chunk, sizeof(chunk));
		if (n > 0)
			sent += (size_t)n;
		blocked = n > 0 ? 0 : blocked + 1;
		PASS();
	}
	ck_assert_int_gt(cl.stalls, 0);
	ck_assert_uint_le(evbuffer_get_length(cl.out), OUT_HIGH + IN_HIGH +
	    sizeof(head));
	ck_assert(sent < total);
	/* Now it reads: everything arrives, in order and complete. */
	while (cl.ends == 0) {
		ck_assert(cl.fails + cl.aborts == 0);
		got += evbuffer_get_length(cl.out);
		evbuffer_drain(cl.out, (size_t)-1);
		exchange_client_writable(cl.x);
		if (sent < total) {
			size_t want = total - sent < sizeof(chunk) ?
			    total - sent : sizeof(chunk);

			n = write(origin_fd, chunk, want);
			if (n > 0)
				sent += (size_t)n;
		}
		PASS();
	}
	got += evbuffer_get_length(cl.out);
	ck_assert_uint_eq(got, cl.head_len + total);
}
END_TEST

static Suite *
exchange_suite(void)
{
	Suite *s = suite_create("exchange");
	TCase *tc = tcase_create("exchange");

	tcase_add_checked_fixture(tc, client_setup, client_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, get_is_forwarded_and_answered);
	tcase_add_test(tc, keep_alive_reuses_the_upstream_connection);
	tcase_add_test(tc, retry_sends_the_same_head);
	tcase_add_test(tc, body_streams_with_its_head);
	tcase_add_test(tc, refusal_answers_without_upstream);
	tcase_add_test(tc, bad_chunk_reaches_no_upstream);
	tcase_add_test(tc, oversized_chunked_body_reaches_no_upstream);
	tcase_add_test(tc, body_failing_late_closes_the_stream);
	tcase_add_test(tc, unreachable_target_is_502);
	tcase_add_test(tc, bad_response_head_is_502);
	tcase_add_test(tc, response_cut_mid_body_aborts);
	tcase_add_test(tc, response_waits_for_the_client);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(exchange_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
