/*
 * conn_fixture: the scaffolding of the connection-layer tests; see
 * conn_fixture.h.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "conn_fixture.h"

/* --- the loop --- */

struct conn_fx fx;
unsigned char pattern[BIG];
bool in_owner;

double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
}

void
run_for(double secs)
{
	double until = now_s() + secs;

	while (now_s() < until)
		PASS();
}

void
setup(void)
{
	struct timeval tv = { 0, 5000 };

	fx.base = event_base_new();
	ck_assert_ptr_nonnull(fx.base);
	fx.tick = event_new(fx.base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(fx.tick, &tv);
}

void
teardown(void)
{
	event_free(fx.tick);
	event_base_free(fx.base);
	SSL_CTX_free(fx.sctx);
	SSL_CTX_free(fx.cctx);
}

void
conn_fixture_init(void)
{
	signal(SIGPIPE, SIG_IGN);	/* as the proxy does (main.c) */
	for (size_t i = 0; i < BIG; i++)
		pattern[i] = (unsigned char)(i * 131 + (i >> 12));
}

TCase *
tcase(Suite *s, const char *name, void (*fixture)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, fixture, teardown);
	tcase_set_timeout(tc, 30);	/* 4 MiB through TLS under ASan */
	suite_add_tcase(s, tc);
	return tc;
}

/* --- the owner of a conn: what its callbacks saw --- */

/* Frees the conn from a callback, with a flush and a kick just made due:
 * events made due must go with it. */
static void
free_now(struct side *s)
{
	evbuffer_add(conn_output(s->c), "x", 1);
	conn_flush(s->c);
	conn_kick_read(s->c);
	conn_free(s->c);
	s->c = NULL;
}

static void
on_read(void *arg)
{
	struct side *s = arg;
	struct evbuffer *in = conn_input(s->c);

	ck_assert_msg(!in_owner, "on_read ran inside a conn_* call");
	s->reads++;
	if (evbuffer_get_length(in) > s->max_in)
		s->max_in = evbuffer_get_length(in);
	if (!s->keep)
		evbuffer_add_buffer(s->got, in);
	if (s->free_in == FREE_IN_READ)
		free_now(s);
}

static void
on_write(void *arg)
{
	struct side *s = arg;

	ck_assert_msg(!in_owner, "on_write ran inside a conn_* call");
	s->writes++;
	s->out_at_write = evbuffer_get_length(conn_output(s->c));
}

static void
on_event(void *arg, unsigned what)
{
	struct side *s = arg;

	ck_assert_msg(!in_owner, "on_event ran inside a conn_* call");
	s->events++;
	s->ev |= what;
	s->last = what;
	s->ev_at = now_s();
	if (what & (CONN_EV_EOF | CONN_EV_ERROR))
		s->got_at_end = evbuffer_get_length(s->got);
	if (s->free_in == FREE_IN_EVENT)
		free_now(s);
}

const struct conn_ops side_ops = { on_read, on_write, on_event };

void
side_init(struct side *s)
{
	memset(s, 0, sizeof(*s));
	s->got = evbuffer_new();
}

void
side_done(struct side *s)
{
	conn_free(s->c);
	evbuffer_free(s->got);
}

bool
consume(struct side *s)
{
	if (evbuffer_get_length(conn_input(s->c)) > 0) {
		evbuffer_add_buffer(s->got, conn_input(s->c));
		OWNER(conn_input_consumed(s->c));
	}
	return true;
}

/* --- sockets --- */

void
pair(int fds[2], int bufsize)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, fds), 0);
	for (int i = 0; bufsize != 0 && i < 2; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &bufsize,
		    sizeof(bufsize));
		setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &bufsize,
		    sizeof(bufsize));
	}
}

int
plain_conn(struct side *s, int bufsize)
{
	int fds[2];

	side_init(s);
	pair(fds, bufsize);
	OWNER(s->c = conn_accepted(fx.base, fds[0], NULL, &side_ops, s));
	ck_assert_ptr_nonnull(s->c);
	return fds[1];
}

int
loopback(struct sockaddr_in *sin, bool listening)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	if (listening)
		ck_assert_int_eq(listen(fd, 8), 0);
	return fd;
}

int
queued(int fd)
{
	int n = -1;

	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* --- bytes --- */

void
write_all(int fd, const void *p, size_t len)
{
	ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
}

bool
read_some(int fd, struct evbuffer *b, size_t max)
{
	char buf[16384];
	ssize_t n = read(fd, buf, max < sizeof(buf) ? max : sizeof(buf));

	ck_assert_msg(n > 0 || (n < 0 && errno == EAGAIN), "peer read: %zd", n);
	if (n > 0)
		evbuffer_add(b, buf, (size_t)n);
	return true;
}

void
check_pattern(struct evbuffer *b, size_t len)
{
	ck_assert_uint_eq(evbuffer_get_length(b), len);
	ck_assert_msg(memcmp(evbuffer_pullup(b, -1), pattern, len) == 0,
	    "bytes out of order, lost or corrupted");
}

bool
has(struct evbuffer *b, const char *text)
{
	size_t n = strlen(text);

	return evbuffer_get_length(b) == n &&
	    memcmp(evbuffer_pullup(b, -1), text, n) == 0;
}
