/*
 * check_ticket: session-ticket key files (src/ticket.c): parsing, the
 * FILE:LINE errors `mcxproxy -t` prints for them, and which key encrypts
 * and which decrypt, seen through real TLS 1.2 and 1.3 handshakes between
 * SSL objects over BIO pairs: each server context gets its keys with
 * ticket_install(), as tls.c does, so the tickets go through OpenSSL and
 * the ticket key callback as they do in the proxy.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "ticket.h"

/* Master secrets as a key file holds them: one word of text each. */
#define KEY_A	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define KEY_B	"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define KEY_C	"C2xq0Vnq4y0Jm3Dq1ydm5fqN5kS4o9M3yGq6U4wN3b8uZxM1v9Yk2e7t0aQ1sLp"
#define CONF	"test.conf"
#define CONF_LINE 7

static char path[64];

/* Writes len bytes to a new file at path. */
static void
write_bytes(const void *text, size_t len)
{
	int fd;
	FILE *f;

	strcpy(path, "/tmp/check_ticket.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* The keys of a file holding text, or NULL with errors in errs. */
static struct ticket_keys *
load(const char *text, struct errlist *errs)
{
	struct ticket_keys *k;

	write_bytes(text, strlen(text));
	k = ticket_keys_new(path, 3600, CONF, CONF_LINE, errs);
	unlink(path);
	return k;
}

/* Loading text fails with exactly one error: "PATH:want" about a line of
 * the key file (keyfile), else "CONF:CONF_LINE: ...want...". */
static void
expect_one_error(const char *text, bool keyfile, const char *want)
{
	struct errlist errs = { 0 };
	char line[256];

	ck_assert_ptr_null(load(text, &errs));
	ck_assert_msg(errs.count == 1, "%u errors: %s", errs.count,
	    errs.text ? errs.text : "");
	if (keyfile)
		snprintf(line, sizeof(line), "%s:%s", path, want);
	else
		snprintf(line, sizeof(line), "%s:%d: ", CONF, CONF_LINE);
	ck_assert_msg(strncmp(errs.text, line, strlen(line)) == 0 &&
	    strstr(errs.text, want) != NULL, "want \"%s\" in: %s", want,
	    errs.text);
	errlist_fini(&errs);
}

/* --- parsing --- */

START_TEST(comments_and_blanks)
{
	struct errlist errs = { 0 };
	struct ticket_keys *k;

	k = load("# ticket keys, oldest first\n"
	    "\n"
	    "   " KEY_A "  \r\n"
	    "\t# retired: " KEY_C "\n"
	    "   \t \n"
	    KEY_B, &errs);		/* no final newline */
	ck_assert_msg(k != NULL, "%s", errs.text ? errs.text : "");
	ck_assert_uint_eq(errs.count, 0);
	ck_assert_uint_eq(ticket_keys_count(k), 2);
	ticket_keys_free(k);
}
END_TEST

START_TEST(bad_lines)
{
	struct errlist errs = { 0 };
	char want[160];

	ck_assert_ptr_null(load(KEY_A "\n"	/* 1 */
	    "short\n"				/* 2: too short */
	    "# fine\n"				/* 3 */
	    KEY_B " # new\n"			/* 4: a comment in the line */
	    KEY_A "\n"				/* 5: repeated */
	    KEY_C "\n", &errs));		/* 6: fine */
	ck_assert_msg(errs.count == 3, "%s", errs.text);
	snprintf(want, sizeof(want), "%s:2: a ticket key of 5 characters; it "
	    "needs 32 to 256", path);
	ck_assert_msg(strstr(errs.text, want) != NULL, "%s", errs.text);
	snprintf(want, sizeof(want), "%s:4: a ticket key is one word", path);
	ck_assert_msg(strstr(errs.text, want) != NULL, "%s", errs.text);
	snprintf(want, sizeof(want), "%s:5: the same ticket key as line 1",
	    path);
	ck_assert_msg(strstr(errs.text, want) != NULL, "%s", errs.text);
	/* No error shows a key. */
	ck_assert_ptr_null(strstr(errs.text, "AAAAAAAA"));
	errlist_fini(&errs);

	expect_one_error(KEY_A "\n" KEY_B "x\n" "0123456789012345678901234567890\n",
	    true, "3: a ticket key of 31 characters");
}
END_TEST

/* Non-ASCII in a text key file: a comment is fine, a key line is an error
 * at its line, a NUL an error; never a silent switch to one binary key. */
START_TEST(non_ascii_text)
{
	struct errlist errs = { 0 };
	struct ticket_keys *k;
	static const char nul[] = KEY_A "\n\0" KEY_B "\n";

	k = load("# cl\xc3\xa9s de session, la plus ancienne d'abord\n"
	    KEY_A "\n" KEY_B "\n", &errs);
	ck_assert_msg(k != NULL, "%s", errs.text ? errs.text : "");
	ck_assert_uint_eq(ticket_keys_count(k), 2);
	ticket_keys_free(k);
	expect_one_error("\xef\xbb\xbf" KEY_A "\n" KEY_B "\n", true,
	    "1: a ticket key is printable ASCII");
	write_bytes(nul, sizeof(nul) - 1);
	ck_assert_ptr_null(ticket_keys_new(path, 3600, CONF, CONF_LINE, &errs));
	unlink(path);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_ptr_nonnull(strstr(errs.text, "with a NUL byte"));
	errlist_fini(&errs);
}
END_TEST

START_TEST(too_many_keys)
{
	struct errlist errs = { 0 };
	struct ticket_keys *k;
	char text[(TICKET_KEYS_MAX + 2) * 96] = "";

	for (int i = 0; i < TICKET_KEYS_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "# key %d\nkey-%02d-%s\n", i, i, KEY_C);
	k = load(text, &errs);
	ck_assert_msg(k != NULL, "%s", errs.text ? errs.text : "");
	ck_assert_uint_eq(ticket_keys_count(k), TICKET_KEYS_MAX);
	ticket_keys_free(k);
	/* The 17th key is on line 2 * 16 + 1. */
	strcat(text, "key-16-" KEY_C "\n" "key-17-" KEY_C "\n");
	expect_one_error(text, true, "33: more than 16 ticket keys; remove "
	    "the oldest");
}
END_TEST

START_TEST(no_key)
{
	expect_one_error("", false, "ticket_key_file");
	expect_one_error("# only a comment\n\n", false, "ticket_key_file");
	expect_one_error("\n", false, "has no key");
}
END_TEST

START_TEST(missing_file)
{
	struct errlist errs = { 0 };

	ck_assert_ptr_null(ticket_keys_new("/nonexistent/tickets.key", 3600,
	    CONF, CONF_LINE, &errs));
	ck_assert_ptr_nonnull(strstr(errs.text, CONF ":7: cannot read "
	    "ticket_key_file \"/nonexistent/tickets.key\""));
	errlist_fini(&errs);
}
END_TEST

/* An older key file: random bytes (openssl rand 48 > FILE) are one
 * master, whatever newlines or '#' they hold. */
START_TEST(legacy_binary)
{
	struct errlist errs = { 0 };
	struct ticket_keys *k;
	unsigned char raw[48];

	ck_assert_int_eq(RAND_bytes(raw, sizeof(raw)), 1);
	/* Mostly bytes text does not have (as random bytes are, about
	 * 60 %; here all but two, so the test never flakes). */
	for (size_t i = 2; i < sizeof(raw); i++)
		raw[i] |= 0x80;
	raw[0] = '#';
	raw[1] = '\n';
	write_bytes(raw, sizeof(raw));
	k = ticket_keys_new(path, 3600, CONF, CONF_LINE, &errs);
	unlink(path);
	ck_assert_msg(k != NULL, "%s", errs.text ? errs.text : "");
	ck_assert_uint_eq(ticket_keys_count(k), 1);
	ticket_keys_free(k);

	/* Too short a binary file: reported as before, in bytes. */
	write_bytes(raw, 16);
	ck_assert_ptr_null(ticket_keys_new(path, 3600, CONF, CONF_LINE, &errs));
	unlink(path);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_ptr_nonnull(strstr(errs.text, CONF ":7: ticket_key_file"));
	ck_assert_ptr_nonnull(strstr(errs.text, "holds 16 bytes"));
	errlist_fini(&errs);
}
END_TEST

/* --- tickets through real handshakes --- */

static EVP_PKEY *pkey;
static X509 *cert;
static SSL_CTX *cctx;

/* A self-signed P-256 certificate and the client context. */
static void
tls_setup(void)
{
	X509_NAME *name;

	pkey = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(pkey);
	cert = X509_new();
	name = X509_get_subject_name(cert);
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_set_pubkey(cert, pkey);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(cert, name);
	ck_assert_int_gt(X509_sign(cert, pkey, EVP_sha256()), 0);
	cctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
}

static void
tls_teardown(void)
{
	SSL_CTX_free(cctx);
	X509_free(cert);
	EVP_PKEY_free(pkey);
}

/* A server context whose ticket keys come from a file holding text (or
 * len bytes of it when len > 0).  No session cache: a resumption here is
 * a ticket's doing. */
static SSL_CTX *
server(const char *text, size_t len)
{
	struct errlist errs = { 0 };
	struct ticket_keys *k;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(SSL_CTX_use_certificate(ctx, cert), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, pkey), 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	write_bytes(text, len > 0 ? len : strlen(text));
	k = ticket_keys_new(path, 3600, CONF, CONF_LINE, &errs);
	unlink(path);
	ck_assert_msg(k != NULL, "%s", errs.text ? errs.text : "");
	ck_assert_int_eq(ticket_install(ctx, k), 0);
	return ctx;
}

/* One step of an SSL's handshake; true once done. */
static bool
step(SSL *ssl)
{
	int rc = SSL_do_handshake(ssl), e;

	if (rc == 1)
		return true;
	e = SSL_get_error(ssl, rc);
	ck_assert_msg(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE,
	    "handshake failed: %d", e);
	return false;
}

/*
 * A handshake with sctx in version, offering the session in (NULL: none).
 * Returns whether the server resumed it; *out (when not NULL) gets the
 * client's session afterwards, with the ticket the server sent.
 */
static bool
handshake(SSL_CTX *sctx, int version, SSL_SESSION *in, SSL_SESSION **out)
{
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	BIO *cb, *sb;
	bool cdone = false, sdone = false, reused;
	unsigned char byte;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_min_proto_version(c, version);
	SSL_set_max_proto_version(c, version);
	if (in != NULL)
		ck_assert_int_eq(SSL_set_session(c, in), 1);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 20 && !(cdone && sdone); i++) {
		cdone = cdone || step(c);
		sdone = sdone || step(s);
	}
	ck_assert_msg(cdone && sdone, "handshake did not finish");
	/* TLS 1.3 tickets follow the handshake: the client reads them. */
	for (int i = 0; i < 2; i++)
		ck_assert_int_le(SSL_read(c, &byte, 1), 0);
	ERR_clear_error();
	ck_assert_int_eq(SSL_version(c), version);
	reused = SSL_session_reused(s) == 1;
	ck_assert_int_eq(SSL_session_reused(c), reused);
	if (out != NULL) {
		*out = SSL_get1_session(c);
		ck_assert_ptr_nonnull(*out);
		ck_assert_int_eq(SSL_SESSION_is_resumable(*out), 1);
	}
	/* A connection freed unclosed marks its session not resumable. */
	SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c);
	SSL_free(s);
	return reused;
}

/* A session from a full handshake with sctx. */
static SSL_SESSION *
ticket_of(SSL_CTX *sctx, int version)
{
	SSL_SESSION *sess;

	ck_assert(!handshake(sctx, version, NULL, &sess));
	return sess;
}

/* Whether sctx resumes sess. */
static bool
accepts(SSL_CTX *sctx, int version, SSL_SESSION *sess)
{
	return handshake(sctx, version, sess, NULL);
}

static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };

/*
 * The rotation of ticket.h: [A,B] encrypts with A (B is announced only),
 * [A,B,C] with B, [B,C] with B.  Every instance of a fleet in the middle
 * of a step accepts what any other issues; a ticket of a removed master
 * means a full handshake.
 */
START_TEST(rotation)
{
	int v = versions[_i];
	SSL_CTX *a = server("# one key\n" KEY_A "\n", 0);
	SSL_CTX *b = server(KEY_B "\n", 0);
	SSL_CTX *ab = server(KEY_A "\n\n# next\n" KEY_B "\n", 0);
	SSL_CTX *abc = server(KEY_A "\n" KEY_B "\n" KEY_C "\n", 0);
	SSL_CTX *bc = server(KEY_B "\r\n" KEY_C "\r\n", 0);
	SSL_SESSION *t_a = ticket_of(a, v), *t_ab = ticket_of(ab, v);
	SSL_SESSION *t_bc = ticket_of(bc, v), *t_abc = ticket_of(abc, v);
	SSL_SESSION *renewed;

	/* Step 1 of a rotation: [A,B] and [A,B,C] side by side. */
	ck_assert_msg(accepts(ab, v, t_ab), "[A,B] resumes its own ticket");
	ck_assert_msg(accepts(abc, v, t_ab), "[A,B,C] accepts [A,B]'s ticket");
	ck_assert_msg(accepts(ab, v, t_abc), "[A,B] accepts [A,B,C]'s ticket");
	/* Step 2: [A,B,C] and [B,C]. */
	ck_assert_msg(accepts(bc, v, t_abc), "[B,C] accepts [A,B,C]'s ticket");
	ck_assert_msg(accepts(abc, v, t_bc), "[A,B,C] accepts [B,C]'s ticket");
	/* [A,B] encrypts with A, not B: [B,C] and [B] lost A. */
	ck_assert_msg(!accepts(bc, v, t_ab), "[B,C] refuses [A,B]'s A ticket");
	ck_assert_msg(!accepts(b, v, t_ab), "[B] refuses [A,B]'s A ticket");
	ck_assert_msg(accepts(a, v, t_ab), "[A] accepts [A,B]'s A ticket");
	/* [A,B,C] and [B,C] encrypt with B, not C. */
	ck_assert_msg(accepts(b, v, t_abc), "[B] accepts [A,B,C]'s B ticket");
	ck_assert_msg(accepts(b, v, t_bc), "[B] accepts [B,C]'s B ticket");
	ck_assert_msg(!accepts(a, v, t_bc), "[A] refuses [B,C]'s B ticket");
	/* A removed master: a full handshake, not a failure. */
	ck_assert_msg(!accepts(bc, v, t_a), "[B,C] refuses [A]'s ticket");
	/* A ticket of a decrypt-only master is renewed with the encrypting
	 * one, so that it outlives the next removal. */
	ck_assert(handshake(abc, v, t_a, &renewed));
	ck_assert_msg(accepts(bc, v, renewed), "[A,B,C] renewed [A]'s ticket "
	    "with B");
	SSL_SESSION_free(renewed);

	SSL_SESSION_free(t_a);
	SSL_SESSION_free(t_ab);
	SSL_SESSION_free(t_bc);
	SSL_SESSION_free(t_abc);
	SSL_CTX_free(a);
	SSL_CTX_free(b);
	SSL_CTX_free(ab);
	SSL_CTX_free(abc);
	SSL_CTX_free(bc);
}
END_TEST

/* The first bytes of a TLS 1.2 session's ticket: its key name. */
static void
expect_name(SSL_SESSION *sess, const char *tag)
{
	const unsigned char *tick;
	size_t len;

	SSL_SESSION_get0_ticket(sess, &tick, &len);
	ck_assert_uint_ge(len, 16);
	ck_assert_msg(memcmp(tick, tag, strlen(tag)) == 0, "name not %s", tag);
}

/* A binary file is one master, its tickets named as before ("mcxtkt01"
 * and the period), so that older instances with the file accept them. */
START_TEST(legacy_tickets)
{
	unsigned char raw[48], big[200];
	SSL_CTX *l1, *l2, *a;
	SSL_SESSION *t_l, *t_a, *t13;

	ck_assert_int_eq(RAND_bytes(raw, sizeof(raw)), 1);
	raw[7] = 0;
	l1 = server((const char *)raw, sizeof(raw));
	l2 = server((const char *)raw, sizeof(raw));
	a = server(KEY_A "\n", 0);
	t_l = ticket_of(l1, TLS1_2_VERSION);
	t_a = ticket_of(a, TLS1_2_VERSION);
	expect_name(t_l, "mcxtkt01");
	expect_name(t_a, "mcx2");
	ck_assert(accepts(l2, TLS1_2_VERSION, t_l));
	t13 = ticket_of(l1, TLS1_3_VERSION);
	ck_assert(accepts(l2, TLS1_3_VERSION, t13));
	SSL_SESSION_free(t13);
	ck_assert(!accepts(a, TLS1_2_VERSION, t_l));
	ck_assert(!accepts(l2, TLS1_2_VERSION, t_a));
	SSL_SESSION_free(t_l);
	SSL_SESSION_free(t_a);
	SSL_CTX_free(l1);
	SSL_CTX_free(l2);
	SSL_CTX_free(a);

	/* As before, only the first 128 bytes of a longer file count. */
	ck_assert_int_eq(RAND_bytes(big, sizeof(big)), 1);
	big[0] = 0;
	l1 = server((const char *)big, sizeof(big));
	big[sizeof(big) - 1] ^= 1;
	l2 = server((const char *)big, sizeof(big));
	big[127] ^= 1;
	a = server((const char *)big, sizeof(big));
	t_l = ticket_of(l1, TLS1_2_VERSION);
	ck_assert(accepts(l2, TLS1_2_VERSION, t_l));
	ck_assert(!accepts(a, TLS1_2_VERSION, t_l));
	SSL_SESSION_free(t_l);
	SSL_CTX_free(l1);
	SSL_CTX_free(l2);
	SSL_CTX_free(a);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ticket");
	TCase *tc = tcase_create("file");
	TCase *tls = tcase_create("tls");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, comments_and_blanks);
	tcase_add_test(tc, bad_lines);
	tcase_add_test(tc, too_many_keys);
	tcase_add_test(tc, no_key);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, legacy_binary);
	tcase_add_test(tc, non_ascii_text);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tls, tls_setup, tls_teardown);
	tcase_add_loop_test(tls, rotation, 0, 2);
	tcase_add_test(tls, legacy_tickets);
	suite_add_tcase(s, tls);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
