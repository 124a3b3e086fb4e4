/*
 * check_bufpool: the per-thread free lists behind libevent's chains and
 * OpenSSL's record buffers.  A freed block of a pooled size serves the
 * next request of its class; what a thread keeps stays under
 * BUFPOOL_KEEP; the end of a thread gives everything back.  Built with
 * AddressSanitizer nothing is kept, and the tests check that instead.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "bufpool.h"

/* What OpenSSL 3.0 asks for its read and write record buffers. */
#define RBUF	16712
#define WBUF	16584

/* The address of the first chain's data after adding n bytes to a new
 * evbuffer, which is then freed (its chain goes back). */
static void *
chain_of_new_buffer(size_t n)
{
	struct evbuffer *b = evbuffer_new();
	struct evbuffer_iovec v;
	char bytes[2048];
	void *p;

	memset(bytes, 'x', sizeof(bytes));
	ck_assert_int_eq(evbuffer_add(b, bytes, n), 0);
	ck_assert_int_eq(evbuffer_peek(b, -1, NULL, &v, 1), 1);
	p = v.iov_base;
	evbuffer_free(b);
	return p;
}

START_TEST(small_chains_reused)
{
	/* A head-sized chain (1 KiB, one above glibc's per-thread cache)
	 * and a 2 KiB one come back from the list. */
	void *a = chain_of_new_buffer(100), *b = chain_of_new_buffer(100);
	void *c = chain_of_new_buffer(1500), *d = chain_of_new_buffer(1500);

	if (bufpool_pooling()) {
		ck_assert_ptr_eq(a, b);
		ck_assert_ptr_eq(c, d);
		ck_assert_uint_gt(bufpool_kept(), 0);
	} else
		ck_assert_uint_eq(bufpool_kept(), 0);
}
END_TEST

START_TEST(ssl_record_buffers_reused)
{
	unsigned char *r = OPENSSL_malloc(RBUF), *w;

	ck_assert_ptr_nonnull(r);
	memset(r, 1, RBUF);
	OPENSSL_free(r);
	/* The write buffer's size is of the same class. */
	w = OPENSSL_malloc(WBUF);
	ck_assert_ptr_nonnull(w);
	memset(w, 2, WBUF);
	if (bufpool_pooling())
		ck_assert_ptr_eq(w, r);
	/* Grown past the class, a pooled block keeps its bytes. */
	w = OPENSSL_realloc(w, 3 * RBUF);
	ck_assert_ptr_nonnull(w);
	for (size_t i = 0; i < WBUF; i++)
		ck_assert_uint_eq(w[i], 2);
	OPENSSL_free(w);
	/* Other sizes work as ever. */
	r = OPENSSL_zalloc(100);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r[99], 0);
	OPENSSL_free(r);
}
END_TEST

START_TEST(kept_bounded_and_given_back)
{
	enum { N = BUFPOOL_KEEP / (16 * 1024) + 16 };
	void **p = calloc(N, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < N; i++)
		ck_assert_ptr_nonnull(p[i] = OPENSSL_malloc(RBUF));
	for (int i = 0; i < N; i++)
		OPENSSL_free(p[i]);
	if (bufpool_pooling()) {
		/* Full, and never beyond the bound. */
		ck_assert_uint_le(bufpool_kept(), BUFPOOL_KEEP);
		ck_assert_uint_gt(bufpool_kept(), BUFPOOL_KEEP - 20 * 1024);
	} else
		ck_assert_uint_eq(bufpool_kept(), 0);
	bufpool_thread_end();
	ck_assert_uint_eq(bufpool_kept(), 0);
	free(p);
}
END_TEST

static Suite *
bufpool_suite(void)
{
	Suite *s = suite_create("bufpool");
	TCase *tc = tcase_create("lists");

	tcase_add_test(tc, small_chains_reused);
	tcase_add_test(tc, ssl_record_buffers_reused);
	tcase_add_test(tc, kept_bounded_and_given_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	/* Before any libevent or OpenSSL allocation, as in main.c. */
	bufpool_install();
	sr = srunner_create(bufpool_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
