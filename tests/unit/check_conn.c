/*
 * check_conn: the connection layer (src/conn.c) on plain connections, on
 * real sockets and a real event loop per test (conn_fixture.h).  The conn
 * under test is the server side of a socketpair; the test plays the peer
 * with raw bytes.  The TLS tests are in check_conn_tls.c.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>

#include "conn.h"
#include "conn_fixture.h"

/* --- 1. plain connections --- */

START_TEST(plain_both_ways)
{
	struct side s;
	struct evbuffer *peer_got = evbuffer_new();
	int peer;

	peer = plain_conn(&s, 0);
	write_all(peer, "hello", 5);
	RUN_UNTIL(evbuffer_get_length(s.got) == 5);
	ck_assert(has(s.got, "hello"));
	ck_assert_int_eq(s.reads, 1);

	OWNER(evbuffer_add(conn_output(s.c), "world", 5); conn_flush(s.c));
	RUN_UNTIL(read_some(peer, peer_got, 100) &&
	    evbuffer_get_length(peer_got) == 5);
	ck_assert(has(peer_got, "world"));
	ck_assert_int_eq(s.events, 0);	/* plain: no CONNECTED */
	ck_assert_ptr_null(conn_ssl(s.c));

	/* The last bytes reach on_read before the EOF does, told once. */
	write_all(peer, "tail", 4);
	close(peer);
	RUN_UNTIL(s.events > 0);
	ck_assert_uint_eq(s.last, CONN_EV_EOF | CONN_EV_READING);
	ck_assert_uint_eq(s.got_at_end, 9);
	run_for(0.05);
	ck_assert_int_eq(s.events, 1);
	ck_assert_uint_eq(evbuffer_get_length(s.got), 9);
	evbuffer_free(peer_got);
	side_done(&s);
}
END_TEST

START_TEST(plain_large_partial_writes)
{
	struct side s;
	struct evbuffer *peer_got = evbuffer_new();
	const size_t low = 256 * 1024;
	int peer;

	peer = plain_conn(&s, SMALLBUF);
	conn_set_write_low(s.c, low);
	OWNER(evbuffer_add(conn_output(s.c), pattern, BIG); conn_flush(s.c));
	PASS();
	/* The socket took a part only: the rest waits for writability. */
	ck_assert_uint_gt(evbuffer_get_length(conn_output(s.c)), low);
	/* The peer reads slowly: at most 16 KiB a pass. */
	RUN_UNTIL(read_some(peer, peer_got, 16384) &&
	    evbuffer_get_length(peer_got) == BIG);
	check_pattern(peer_got, BIG);
	/* on_write ran once: when the output crossed the low mark. */
	ck_assert_int_eq(s.writes, 1);
	ck_assert_uint_le(s.out_at_write, low);

	/* Output that never went above the mark calls no on_write. */
	OWNER(evbuffer_add(conn_output(s.c), "small", 5); conn_flush(s.c));
	evbuffer_drain(peer_got, BIG);
	RUN_UNTIL(read_some(peer, peer_got, 100) &&
	    evbuffer_get_length(peer_got) == 5);
	ck_assert_int_eq(s.writes, 1);
	close(peer);
	evbuffer_free(peer_got);
	side_done(&s);
}
END_TEST

/* --- 2. back-pressure --- */

START_TEST(plain_back_pressure)
{
	struct side s;
	struct evbuffer *tx = evbuffer_new();
	const size_t high = 64 * 1024, total = 1024 * 1024;
	size_t held;
	int peer;

	peer = plain_conn(&s, 0);
	s.keep = true;
	OWNER(conn_set_read_high(s.c, high));
	evbuffer_add(tx, pattern, total);
	/* The peer writes until its socket is full and the conn stopped. */
	RUN_UNTIL(evbuffer_write(tx, peer) < 0 && errno == EAGAIN &&
	    evbuffer_get_length(conn_input(s.c)) >= high);
	held = evbuffer_get_length(conn_input(s.c));
	run_for(0.05);
	ck_assert_uint_eq(evbuffer_get_length(conn_input(s.c)), held);
	ck_assert_int_gt(queued(conn_fd(s.c)), 0);	/* left in the kernel */
	/* conn.h: "one read(2) ... takes up to CONN_READ_SIZE bytes". */
	ck_assert_msg(s.max_in <= high + CONN_READ_SIZE,
	    "input grew to %zu, past read_high + CONN_READ_SIZE = %zu",
	    s.max_in, high + CONN_READ_SIZE);

	/* The owner consumes: reading resumes, everything arrives. */
	RUN_UNTIL((evbuffer_write(tx, peer), consume(&s)) &&
	    evbuffer_get_length(s.got) == total);
	check_pattern(s.got, total);
	close(peer);
	evbuffer_free(tx);
	side_done(&s);
}
END_TEST

/* --- 3. kick and read_enable --- */

START_TEST(plain_kick_and_disable)
{
	struct side s;
	int peer;

	peer = plain_conn(&s, 0);
	OWNER(conn_kick_read(s.c));
	RUN_UNTIL(s.reads == 1);	/* from the loop, with no byte */
	ck_assert_uint_eq(evbuffer_get_length(s.got), 0);

	OWNER(conn_read_enable(s.c, false));
	write_all(peer, "later", 5);
	run_for(0.05);
	ck_assert_int_eq(s.reads, 1);
	ck_assert_int_eq(queued(conn_fd(s.c)), 5);	/* not even read */
	OWNER(conn_read_enable(s.c, true));
	RUN_UNTIL(s.reads == 2);
	ck_assert(has(s.got, "later"));
	close(peer);
	side_done(&s);
}
END_TEST

/* --- 4. deadlines --- */

START_TEST(read_timeout)
{
	struct side a, b;	/* a's peer stays silent, b's writes */
	double t0, last;
	int pa, pb;

	pa = plain_conn(&a, 0);
	pb = plain_conn(&b, 0);
	t0 = last = now_s();
	OWNER(conn_set_timeouts(a.c, 0.2, 0); conn_set_timeouts(b.c, 0.2, 0));
	/* For 0.7 s b's peer writes a byte every 0.1 s: each pushes b's
	 * deadline back.  a times out at 0.2 s, and only once. */
	while (now_s() - t0 < 0.7) {
		if (now_s() - last >= 0.1) {
			write_all(pb, "x", 1);
			last = now_s();
		}
		PASS();
	}
	ck_assert_int_eq(a.events, 1);
	ck_assert_uint_eq(a.last, CONN_EV_TIMEOUT | CONN_EV_READING);
	ck_assert_double_ge(a.ev_at - t0, 0.19);
	ck_assert_double_lt(a.ev_at - t0, 0.5);
	ck_assert_int_eq(b.events, 0);
	ck_assert_int_ge(b.reads, 5);
	/* Once b's peer falls silent, b's deadline comes. */
	RUN_UNTIL(b.events > 0);
	ck_assert_uint_eq(b.last, CONN_EV_TIMEOUT | CONN_EV_READING);
	ck_assert_double_ge(b.ev_at - last, 0.19);
	close(pa);
	close(pb);
	side_done(&a);
	side_done(&b);
}
END_TEST

/* --- 5. freeing from a callback (ASan watches) --- */

START_TEST(free_in_on_read)
{
	struct side s;
	int peer;

	peer = plain_conn(&s, 0);
	s.free_in = FREE_IN_READ;
	/* A kick and a flush are due in the same pass as the read. */
	write_all(peer, "x", 1);
	OWNER(evbuffer_add(conn_output(s.c), "queued", 6); conn_flush(s.c);
	    conn_kick_read(s.c));
	RUN_UNTIL(s.c == NULL);
	run_for(0.05);
	ck_assert_int_eq(s.reads, 1);
	ck_assert_int_eq(s.events, 0);
	close(peer);
	side_done(&s);
}
END_TEST

START_TEST(free_in_on_event)
{
	struct side e, w, t;
	int pe, pw, pt;

	/* At EOF. */
	pe = plain_conn(&e, 0);
	e.free_in = FREE_IN_EVENT;
	close(pe);
	RUN_UNTIL(e.c == NULL);
	ck_assert_uint_eq(e.last, CONN_EV_EOF | CONN_EV_READING);

	/* At a write error met by a flush (EPIPE), a kick also due. */
	pw = plain_conn(&w, 0);
	w.free_in = FREE_IN_EVENT;
	OWNER(conn_read_enable(w.c, false));
	close(pw);
	OWNER(evbuffer_add(conn_output(w.c), "lost", 4); conn_flush(w.c);
	    conn_kick_read(w.c));
	RUN_UNTIL(w.c == NULL);
	ck_assert_uint_eq(w.last, CONN_EV_ERROR | CONN_EV_WRITING);

	/* At a deadline. */
	pt = plain_conn(&t, 0);
	t.free_in = FREE_IN_EVENT;
	OWNER(conn_set_timeouts(t.c, 0.05, 0));
	RUN_UNTIL(t.c == NULL);
	run_for(0.1);
	ck_assert_int_eq(e.events + w.events + t.events, 3);
	close(pt);
	side_done(&e);
	side_done(&w);
	side_done(&t);
}
END_TEST

/* --- 6. connect refused --- */

/* The refusal is told from the loop, whether connect(2) meets it later
 * (TCP: a loopback port bound by the test, nobody listening) or at once
 * (AF_UNIX: a bound socket that does not listen refuses in connect). */
START_TEST(connect_refused)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len[2] = { sizeof(sin), sizeof(sun) };
	const struct sockaddr *sa[2] = { (struct sockaddr *)&sin,
	    (struct sockaddr *)&sun };
	int tcp = loopback(&sin, false);
	int un = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* Bound to an abstract name the kernel picks (autobind). */
	ck_assert_int_eq(bind(un, sa[1], sizeof(sa_family_t)), 0);
	ck_assert_int_eq(getsockname(un, (struct sockaddr *)&sun, &len[1]), 0);
	for (int i = 0; i < 2; i++) {
		struct side s;

		side_init(&s);
		OWNER(s.c = conn_connect(fx.base, sa[i], len[i], NULL,
		    &side_ops, &s));
		ck_assert_ptr_nonnull(s.c);
		RUN_UNTIL(s.events > 0);	/* OWNER: not from inside */
		ck_assert_uint_eq(s.last, CONN_EV_ERROR | CONN_EV_WRITING);
		ck_assert_int_eq(conn_errno(s.c), ECONNREFUSED);
		run_for(0.05);
		ck_assert_int_eq(s.events, 1);
		side_done(&s);
	}
	close(tcp);
	close(un);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("conn");
	TCase *tc;
	SRunner *sr;
	int failed;

	conn_fixture_init();
	tc = tcase(s, "plain", setup);
	tcase_add_test(tc, plain_both_ways);
	tcase_add_test(tc, plain_large_partial_writes);
	tc = tcase(s, "back_pressure", setup);
	tcase_add_test(tc, plain_back_pressure);
	tc = tcase(s, "kick", setup);
	tcase_add_test(tc, plain_kick_and_disable);
	tc = tcase(s, "deadlines", setup);
	tcase_add_test(tc, read_timeout);
	tc = tcase(s, "free_in_callback", setup);
	tcase_add_test(tc, free_in_on_read);
	tcase_add_test(tc, free_in_on_event);
	tc = tcase(s, "connect", setup);
	tcase_add_test(tc, connect_refused);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
