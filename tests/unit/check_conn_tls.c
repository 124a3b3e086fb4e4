/*
 * check_conn_tls: the connection layer (src/conn.c) over TLS, on real
 * sockets and a real event loop per test (conn_fixture.h).  The conn under
 * test is the server side of a socketpair (or either side of a loopback
 * TCP pair); the test plays the peer: an SSL client over memory BIOs whose
 * records the test carries to the socket itself, so that it can cut a
 * record in two, stop in the middle of one, or hold bytes back.  The plain
 * connection tests are in check_conn.c.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conn.h"
#include "conn_fixture.h"

/* --- the certificate and the peer --- */

/* A self-signed P-256 certificate, and both contexts (TLS 1.2 to 1.3). */
static void
tls_setup(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);

	setup();
	ck_assert_ptr_nonnull(key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);

	fx.sctx = SSL_CTX_new(TLS_server_method());
	fx.cctx = SSL_CTX_new(TLS_client_method());
	ck_assert_int_eq(SSL_CTX_use_certificate(fx.sctx, x), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(fx.sctx, key), 1);
	SSL_CTX_set_min_proto_version(fx.sctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(fx.sctx, TLS1_3_VERSION);
	SSL_CTX_set_min_proto_version(fx.cctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(fx.cctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(fx.cctx, SSL_VERIFY_NONE, NULL);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* The peer: an SSL client over memory BIOs; the test moves its records
 * between the BIOs and the socket. */
struct tpeer {
	int fd;
	SSL *ssl;
	BIO *rbio, *wbio;	/* owned by ssl */
	struct evbuffer *tx;	/* records waiting for the socket */
	struct evbuffer *rx;	/* plaintext read */
	const char *first;	/* written right behind the client Finished */
	bool up;		/* handshake done */
};

/* Moves the records the peer's SSL wrote into b (not sent). */
static void
tp_take(struct tpeer *p, struct evbuffer *b)
{
	char buf[16384];
	int n;

	while ((n = BIO_read(p->wbio, buf, sizeof(buf))) > 0)
		evbuffer_add(b, buf, (size_t)n);
}

static void
tp_send(struct tpeer *p)
{
	tp_take(p, p->tx);
	while (evbuffer_get_length(p->tx) > 0 && evbuffer_write(p->tx, p->fd) > 0)
		;
}

static void
tp_write(struct tpeer *p, const void *data, size_t len)
{
	ck_assert_int_eq(SSL_write(p->ssl, data, (int)len), (int)len);
}

/* One step of the peer: feeds its SSL up to max bytes from the socket,
 * handshakes or reads, sends what it wrote.  Returns true (RUN_UNTIL). */
static bool
tp_step(struct tpeer *p, size_t max)
{
	char buf[16384];
	ssize_t n;
	int r;

	for (size_t took = 0; took < max; took += (size_t)n) {
		n = read(p->fd, buf, max - took < sizeof(buf) ?
		    max - took : sizeof(buf));
		if (n <= 0)
			break;
		BIO_write(p->rbio, buf, (int)n);
	}
	if (!p->up && (r = SSL_do_handshake(p->ssl)) != 1)
		ck_assert_int_eq(SSL_get_error(p->ssl, r), SSL_ERROR_WANT_READ);
	else if (!p->up) {
		p->up = true;
		if (p->first != NULL)
			tp_write(p, p->first, strlen(p->first));
	}
	while (p->up && (r = SSL_read(p->ssl, buf, sizeof(buf))) > 0)
		evbuffer_add(p->rx, buf, (size_t)r);
	ERR_clear_error();
	tp_send(p);
	return true;
}

/* A TLS conn on one end of a pair and the peer on the other; with the
 * handshake done (CONNECTED seen) when asked. */
static void
tls_conn(struct side *s, struct tpeer *p, int bufsize, bool handshake)
{
	int fds[2];

	side_init(s);
	pair(fds, bufsize);
	memset(p, 0, sizeof(*p));
	p->fd = fds[1];
	p->tx = evbuffer_new();
	p->rx = evbuffer_new();
	p->ssl = SSL_new(fx.cctx);
	p->rbio = BIO_new(BIO_s_mem());
	p->wbio = BIO_new(BIO_s_mem());
	SSL_set_bio(p->ssl, p->rbio, p->wbio);
	SSL_set_connect_state(p->ssl);
	OWNER(s->c = conn_accepted(fx.base, fds[0], SSL_new(fx.sctx),
	    &side_ops, s));
	ck_assert_ptr_nonnull(conn_ssl(s->c));
	if (!handshake)
		return;
	RUN_UNTIL(tp_step(p, SIZE_MAX) && p->up && s->events > 0);
	ck_assert_int_eq(s->events, 1);
	ck_assert_uint_eq(s->last, CONN_EV_CONNECTED);
}

static void
tls_done(struct side *s, struct tpeer *p)
{
	side_done(s);
	SSL_free(p->ssl);
	close(p->fd);
	evbuffer_free(p->tx);
	evbuffer_free(p->rx);
}

/* --- the tests --- */

START_TEST(tls_request_with_finished)
{
	struct side s;
	struct tpeer p;

	tls_conn(&s, &p, 0, false);
	/* The request leaves with the client Finished, in one write, and
	 * read-ahead takes both: the conn must not strand the request
	 * inside OpenSSL (the peer sends nothing more). */
	p.first = "GET / HTTP/1.1\r\n\r\n";
	RUN_UNTIL(tp_step(&p, SIZE_MAX) && evbuffer_get_length(s.got) > 0);
	ck_assert_uint_eq(s.ev, CONN_EV_CONNECTED);
	ck_assert(has(s.got, p.first));
	ck_assert_int_eq(SSL_version(conn_ssl(s.c)), TLS1_3_VERSION);

	OWNER(evbuffer_add(conn_output(s.c), "HTTP/1.1 204 \r\n\r\n", 17);
	    conn_flush(s.c));
	RUN_UNTIL(tp_step(&p, SIZE_MAX) && evbuffer_get_length(p.rx) == 17);
	tls_done(&s, &p);
}
END_TEST

START_TEST(tls_large_both_ways)
{
	struct side s;
	struct tpeer p;

	tls_conn(&s, &p, SMALLBUF, true);
	OWNER(evbuffer_add(conn_output(s.c), pattern, BIG); conn_flush(s.c));
	/* The peer sends 1 MiB meanwhile (its records wait in its tx). */
	for (size_t off = 0; off < BIG / 4; off += 16384)
		tp_write(&p, pattern + off, 16384);
	PASS();
	ck_assert_uint_gt(evbuffer_get_length(conn_output(s.c)), 0);
	/* A slow peer: 8 KiB of records a pass, so SSL_write meets a full
	 * socket again and again (WANT_WRITE) and must repeat itself. */
	RUN_UNTIL(tp_step(&p, 8192) && evbuffer_get_length(p.rx) == BIG &&
	    evbuffer_get_length(s.got) == BIG / 4);
	check_pattern(p.rx, BIG);
	check_pattern(s.got, BIG / 4);
	ck_assert_int_eq(s.writes, 1);	/* the output drained to 0, once */
	ck_assert_int_eq(s.events, 1);
	tls_done(&s, &p);
}
END_TEST

START_TEST(tls_partial_records)
{
	struct side s;
	struct tpeer p;
	struct evbuffer *rec = evbuffer_new();
	size_t half;

	tls_conn(&s, &p, 0, true);
	/* A record in two halves, loop passes between: the conn takes the
	 * first (SSL_read: WANT_READ) and says nothing until the second. */
	tp_write(&p, "split record", 12);
	tp_take(&p, rec);
	half = evbuffer_get_length(rec) / 2;
	write_all(p.fd, evbuffer_pullup(rec, -1), half);
	RUN_UNTIL(queued(conn_fd(s.c)) == 0);
	run_for(0.05);
	ck_assert_int_eq(s.reads, 0);
	write_all(p.fd, evbuffer_pullup(rec, -1) + half,
	    evbuffer_get_length(rec) - half);
	RUN_UNTIL(s.reads > 0);
	ck_assert(has(s.got, "split record"));

	/* Half a record, then a FIN: the end is told, no byte invented. */
	evbuffer_drain(rec, evbuffer_get_length(rec));
	tp_write(&p, "never complete", 14);
	tp_take(&p, rec);
	write_all(p.fd, evbuffer_pullup(rec, -1), evbuffer_get_length(rec) / 2);
	shutdown(p.fd, SHUT_WR);
	RUN_UNTIL(s.events > 1);
	ck_assert_msg(s.last == (CONN_EV_EOF | CONN_EV_READING) ||
	    s.last == (CONN_EV_ERROR | CONN_EV_READING), "event %#x", s.last);
	run_for(0.05);
	ck_assert_int_eq(s.events, 2);
	ck_assert_int_eq(s.reads, 1);
	ck_assert_uint_eq(evbuffer_get_length(s.got), 12);
	evbuffer_free(rec);
	tls_done(&s, &p);
}
END_TEST

START_TEST(tls_key_update_and_close_notify)
{
	struct side s;
	struct tpeer p;

	tls_conn(&s, &p, 0, true);
	/* The conn answers with its own KeyUpdate (from inside SSL_read);
	 * data must still flow both ways afterwards. */
	ck_assert_int_eq(SSL_key_update(p.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
	tp_write(&p, "after update", 12);
	RUN_UNTIL(tp_step(&p, SIZE_MAX) && evbuffer_get_length(s.got) == 12);
	ck_assert(has(s.got, "after update"));
	for (int round = 0; round < 2; round++) {
		evbuffer_drain(s.got, 100);
		evbuffer_drain(p.rx, 100);
		OWNER(evbuffer_add(conn_output(s.c), "pong", 4);
		    conn_flush(s.c));
		tp_write(&p, "ping", 4);
		RUN_UNTIL(tp_step(&p, SIZE_MAX) && has(p.rx, "pong") &&
		    has(s.got, "ping"));
	}
	ck_assert_uint_eq(s.ev, CONN_EV_CONNECTED);

	/* Last bytes and close_notify in one write: bytes first, then EOF. */
	tp_write(&p, "bye", 3);
	SSL_shutdown(p.ssl);
	tp_send(&p);
	RUN_UNTIL(s.events > 1);
	ck_assert_uint_eq(s.last, CONN_EV_EOF | CONN_EV_READING);
	ck_assert_uint_eq(s.got_at_end, 7);
	tls_done(&s, &p);
}
END_TEST

START_TEST(tls_back_pressure)
{
	struct side s;
	struct tpeer p;
	char rec[4000];

	tls_conn(&s, &p, 0, true);
	s.keep = true;
	OWNER(conn_set_read_high(s.c, 1000));
	/* Three records in one write: read-ahead takes them all in one
	 * read(2), the conn stops after the first. */
	for (int i = 0; i < 3; i++) {
		memset(rec, 'a' + i, sizeof(rec));
		tp_write(&p, rec, sizeof(rec));
	}
	tp_send(&p);
	RUN_UNTIL(s.reads == 1);
	run_for(0.05);
	ck_assert_int_eq(s.reads, 1);
	ck_assert_uint_eq(evbuffer_get_length(conn_input(s.c)), sizeof(rec));
	/* The rest is inside OpenSSL: no socket readiness will come. */
	ck_assert_int_eq(queued(conn_fd(s.c)), 0);
	ck_assert_int_eq(SSL_has_pending(conn_ssl(s.c)), 1);
	for (int reads = 1; reads < 3; reads++) {
		consume(&s);
		RUN_UNTIL(s.reads > reads);	/* the peer stays silent */
		ck_assert_uint_eq(evbuffer_get_length(conn_input(s.c)),
		    sizeof(rec));
	}
	consume(&s);
	ck_assert_uint_eq(evbuffer_get_length(s.got), 3 * sizeof(rec));
	ck_assert_int_eq(evbuffer_pullup(s.got, -1)[8000], 'c');
	tls_done(&s, &p);
}
END_TEST

START_TEST(tls_free_in_on_read)
{
	struct side s;
	struct tpeer p;

	/* Data and close_notify in one read: on_read frees the conn, so
	 * the EOF found in the same read must not be told to anyone. */
	tls_conn(&s, &p, 0, true);
	s.free_in = FREE_IN_READ;
	tp_write(&p, "bye", 3);
	SSL_shutdown(p.ssl);
	tp_send(&p);
	RUN_UNTIL(s.c == NULL);
	run_for(0.05);
	ck_assert_int_eq(s.events, 1);	/* CONNECTED only */
	tls_done(&s, &p);
}
END_TEST

/* The peer sends an HTTP request where the ClientHello should be. */
static void
bad_handshake(struct side *s, struct tpeer *p)
{
	const char *garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	tls_conn(s, p, 0, false);
	write_all(p->fd, garbage, strlen(garbage));
	RUN_UNTIL(s->events > 0);
	ck_assert_uint_eq(s->last, CONN_EV_ERROR | CONN_EV_READING);
	ck_assert_uint_ne(conn_ssl_error(s->c), 0);
}

START_TEST(tls_bad_handshake)
{
	struct side s;
	struct tpeer p;

	bad_handshake(&s, &p);
	run_for(0.05);
	ck_assert_int_eq(s.events, 1);
	ck_assert_int_eq(s.reads, 0);
	tls_done(&s, &p);
}
END_TEST

/* An ERROR is told once (conn.c: "reported: EOF, ERROR: told the owner
 * once"), even if the owner kicks the failed conn. */
START_TEST(tls_handshake_error_told_once)
{
	struct side s;
	struct tpeer p;

	bad_handshake(&s, &p);
	OWNER(conn_kick_read(s.c));
	run_for(0.05);
	ck_assert_msg(s.events == 1, "ERROR told %d times", s.events);
	tls_done(&s, &p);
}
END_TEST

START_TEST(tls_connect_client_role)
{
	struct side cl, sv;
	struct sockaddr_in sin;
	int lfd = loopback(&sin, true), fd;

	side_init(&cl);
	side_init(&sv);
	OWNER(cl.c = conn_connect(fx.base, (struct sockaddr *)&sin,
	    sizeof(sin), SSL_new(fx.cctx), &side_ops, &cl));
	ck_assert_ptr_nonnull(cl.c);
	/* Queued before the handshake: goes out right after it. */
	OWNER(evbuffer_add(conn_output(cl.c), "ping", 4); conn_flush(cl.c));
	RUN_UNTIL((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0);
	OWNER(sv.c = conn_accepted(fx.base, fd, SSL_new(fx.sctx), &side_ops,
	    &sv));
	RUN_UNTIL(cl.events > 0 && evbuffer_get_length(sv.got) == 4);
	ck_assert_uint_eq(cl.ev, CONN_EV_CONNECTED);
	ck_assert_uint_eq(sv.ev, CONN_EV_CONNECTED);
	ck_assert(has(sv.got, "ping"));
	OWNER(evbuffer_add(conn_output(sv.c), "pong", 4); conn_flush(sv.c));
	RUN_UNTIL(evbuffer_get_length(cl.got) == 4);
	ck_assert(has(cl.got, "pong"));
	/* close_notify and FIN: the server sees the end. */
	OWNER(conn_shutdown_write(cl.c));
	RUN_UNTIL(sv.events > 1);
	ck_assert_uint_eq(sv.last, CONN_EV_EOF | CONN_EV_READING);
	side_done(&cl);
	side_done(&sv);
	close(lfd);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("conn_tls");
	TCase *tc;
	SRunner *sr;
	int failed;

	conn_fixture_init();
	tc = tcase(s, "free_in_callback", tls_setup);
	tcase_add_test(tc, tls_free_in_on_read);
	tc = tcase(s, "tls", tls_setup);
	tcase_add_test(tc, tls_request_with_finished);
	tcase_add_test(tc, tls_large_both_ways);
	tcase_add_test(tc, tls_partial_records);
	tcase_add_test(tc, tls_key_update_and_close_notify);
	tcase_add_test(tc, tls_back_pressure);
	tcase_add_test(tc, tls_bad_handshake);
	tcase_add_test(tc, tls_handshake_error_told_once);
	tcase_add_test(tc, tls_connect_client_role);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
