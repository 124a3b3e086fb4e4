/*
 * check_evbase: evbase_free() (src/evbase.c) frees bufferevents that were
 * freed while a deferred callback of theirs was still queued.  The
 * allocations libevent makes are counted through its memory hooks: every
 * one must be gone after evbase_free().  (event_base_free() alone leaves
 * the bufferevent and its buffers allocated in both cases below.)
 */
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "evbase.h"

static long live;	/* libevent allocations not yet freed */

static void *
count_malloc(size_t n)
{
	void *p = malloc(n);

	if (p != NULL)
		live++;
	return p;
}

static void *
count_realloc(void *old, size_t n)
{
	void *p = realloc(old, n);

	if (old == NULL && p != NULL)
		live++;
	return p;
}

static void
count_free(void *p)
{
	if (p != NULL)
		live--;
	free(p);
}

static void
ignore_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)arg;
}

/* Takes nothing and ends the loop, as a worker stopping mid-exchange. */
static void
read_then_stop(struct bufferevent *bev, void *arg)
{
	(void)arg;
	event_base_loopbreak(bufferevent_get_base(bev));
}

/* A socket bufferevent over one end of a socket pair; *peer gets the other. */
static struct bufferevent *
pair_bev(struct event_base *base, int *peer)
{
	int sv[2];
	struct bufferevent *bev;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(bev);
	bufferevent_setcb(bev, ignore_read, NULL, NULL, NULL);
	*peer = sv[1];
	return bev;
}

/*
 * A read callback left the input at its high watermark with reading on:
 * libevent queued the callback again (deferred), and the loop ended
 * before it ran.
 */
START_TEST(full_input_then_free)
{
	struct event_base *base = event_base_new();
	int peer;
	struct bufferevent *bev = pair_bev(base, &peer);

	bufferevent_setcb(bev, read_then_stop, NULL, NULL, NULL);
	bufferevent_setwatermark(bev, EV_READ, 0, 4);
	bufferevent_enable(bev, EV_READ);
	ck_assert_int_eq(write(peer, "12345678", 8), 8);
	ck_assert_int_eq(event_base_loop(base, 0), 0);
	ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_input(bev)), 4);
	bufferevent_free(bev);
	evbase_free(base);
	ck_assert_int_eq(live, 0);
	close(peer);
}
END_TEST

/* The client case: a deferred read for pipelined input, then a close. */
START_TEST(deferred_trigger_then_free)
{
	struct event_base *base = event_base_new();
	int peer;
	struct bufferevent *bev = pair_bev(base, &peer);

	bufferevent_enable(bev, EV_READ);
	bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
	    BEV_TRIG_DEFER_CALLBACKS);
	bufferevent_free(bev);
	evbase_free(base);
	ck_assert_int_eq(live, 0);
	close(peer);
}
END_TEST

START_TEST(null_is_nothing)
{
	evbase_free(NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("evbase");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	/* Before libevent allocates anything; each test is a new process. */
	event_set_mem_functions(count_malloc, count_realloc, count_free);
	tcase_add_test(tc, full_input_then_free);
	tcase_add_test(tc, deferred_trigger_then_free);
	tcase_add_test(tc, null_is_nothing);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
