/*
 * check_readflow: readflow_update() (src/readflow.c) stops libevent 2.1
 * from running a read callback over and over while the input sits at its
 * high watermark and the callback cannot consume, and reading resumes
 * once the input was consumed below the mark.
 */
#include <sys/socket.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "evbase.h"
#include "readflow.h"

#define GIVE_UP	100	/* callbacks before a test calls it a busy loop */

struct reader {
	struct bufferevent *bev;
	bool use_readflow;
	bool paused;
	int calls;
};

/* Consumes nothing: the other side of the proxy is full. */
static void
on_read(struct bufferevent *bev, void *arg)
{
	struct reader *r = arg;

	if (++r->calls >= GIVE_UP)
		event_base_loopbreak(bufferevent_get_base(bev));
	if (r->use_readflow)
		readflow_update(bev, &r->paused);
}

static struct event_base *
setup(struct reader *r, bool use_readflow, int *peer)
{
	struct event_base *base = event_base_new();
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r->bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	r->use_readflow = use_readflow;
	r->paused = false;
	r->calls = 0;
	bufferevent_setcb(r->bev, on_read, NULL, NULL, r);
	bufferevent_setwatermark(r->bev, EV_READ, 0, 4);
	bufferevent_enable(r->bev, EV_READ);
	ck_assert_int_eq(write(sv[1], "12345678", 8), 8);
	*peer = sv[1];
	return base;
}

static size_t
input_length(const struct reader *r)
{
	return evbuffer_get_length(bufferevent_get_input(r->bev));
}

/* Why readflow exists: without it, the callback runs until given up. */
START_TEST(libevent_repeats_the_callback)
{
	struct reader r;
	int peer;
	struct event_base *base = setup(&r, false, &peer);

	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	ck_assert_int_ge(r.calls, GIVE_UP);
	bufferevent_free(r.bev);
	evbase_free(base);
	close(peer);
}
END_TEST

START_TEST(full_input_pauses_reading)
{
	struct reader r;
	int peer;
	struct event_base *base = setup(&r, true, &peer);

	/* 1: it ran the callback, then found no event left to wait for. */
	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.paused);
	ck_assert_int_eq(bufferevent_get_enabled(r.bev) & EV_READ, 0);
	ck_assert_uint_eq(input_length(&r), 4);
	/* Nothing queued, nothing to wait for. */
	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	ck_assert_int_eq(r.calls, 1);

	/* The other side drained: consume, and reading resumes. */
	evbuffer_drain(bufferevent_get_input(r.bev), 4);
	readflow_update(r.bev, &r.paused);
	ck_assert(!r.paused);
	ck_assert_int_ne(bufferevent_get_enabled(r.bev) & EV_READ, 0);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_int_eq(r.calls, 2);
	ck_assert_uint_eq(input_length(&r), 4);	/* the other 4 bytes */
	bufferevent_free(r.bev);
	evbase_free(base);
	close(peer);
}
END_TEST

/* Reading another owner turned off is not turned on. */
START_TEST(resumes_only_what_it_paused)
{
	struct reader r;
	int peer;
	struct event_base *base = setup(&r, true, &peer);

	bufferevent_disable(r.bev, EV_READ);
	readflow_update(r.bev, &r.paused);	/* input empty, not paused */
	ck_assert(!r.paused);
	ck_assert_int_eq(bufferevent_get_enabled(r.bev) & EV_READ, 0);
	bufferevent_free(r.bev);
	evbase_free(base);
	close(peer);
}
END_TEST

/* No high watermark (an idle pooled connection): never paused. */
START_TEST(no_watermark_no_pause)
{
	struct reader r;
	int peer;
	struct event_base *base = setup(&r, true, &peer);

	bufferevent_setwatermark(r.bev, EV_READ, 0, 0);
	ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(!r.paused);
	ck_assert_uint_eq(input_length(&r), 8);
	bufferevent_free(r.bev);
	evbase_free(base);
	close(peer);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("readflow");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, libevent_repeats_the_callback);
	tcase_add_test(tc, full_input_pauses_reading);
	tcase_add_test(tc, resumes_only_what_it_paused);
	tcase_add_test(tc, no_watermark_no_pause);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
