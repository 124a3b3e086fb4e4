/*
 * conn_fixture: the scaffolding the connection-layer tests share
 * (check_conn.c for plain connections, check_conn_tls.c for TLS): a real
 * event loop per test, the owner of a conn under test (struct side, whose
 * callbacks record what they saw), socket pairs, and byte helpers.
 *
 * The conn under test is the server side of a socketpair (or of a
 * loopback TCP pair); the test plays the peer.  The loop runs one pass at
 * a time (EVLOOP_ONCE; a 5 ms tick keeps a pass from blocking) until a
 * condition holds, within a time bound, so that a bug fails a test
 * instead of hanging it.  No sleeps.
 */
#ifndef MCX_CONN_FIXTURE_H
#define MCX_CONN_FIXTURE_H

#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "conn.h"

#define LIMIT_S		10.0		/* the longest any wait may take */
#define BIG		((size_t)4 << 20)
#define SMALLBUF	8192		/* SO_SNDBUF and SO_RCVBUF, asked for */

/* --- the loop --- */

/* One per test, made by setup(); the contexts only by a TLS setup (they
 * stay NULL otherwise), freed by teardown() either way. */
struct conn_fx {
	struct event_base *base;
	struct event *tick;
	SSL_CTX *sctx, *cctx;
};
extern struct conn_fx fx;

/* Bytes that show a shifted, lost or repeated block (filled by
 * conn_fixture_init()). */
extern unsigned char pattern[BIG];

/* Set around the test's own conn_* calls: no callback may run then. */
extern bool in_owner;
#define OWNER(calls) do { in_owner = true; calls; in_owner = false; } while (0)

double	now_s(void);

#define PASS()	event_base_loop(fx.base, EVLOOP_ONCE)

/* Passes until cond holds; fails after LIMIT_S.  cond may step the peer. */
#define RUN_UNTIL(cond) do {						\
	double until_ = now_s() + LIMIT_S;				\
	while (!(cond)) {						\
		ck_assert_msg(now_s() < until_, "gave up on: %s", #cond); \
		PASS();							\
	}								\
} while (0)

/* Runs the loop for a while: to see that something does NOT happen. */
void	run_for(double secs);

/* The checked fixture: a new event base with its tick, and its end. */
void	setup(void);
void	teardown(void);

/* Once, in main, before any test: ignores SIGPIPE (as the proxy does,
 * main.c) and fills the pattern. */
void	conn_fixture_init(void);

/* A test case in s with the given setup and teardown(). */
TCase *tcase(Suite *s, const char *name, void (*fixture)(void));

/* --- the owner of a conn: what its callbacks saw --- */

enum { FREE_NEVER, FREE_IN_READ, FREE_IN_EVENT };

struct side {
	struct conn *c;
	struct evbuffer *got;	/* what on_read took from the input */
	bool keep;		/* on_read leaves the input where it is */
	int free_in;		/* free the conn from this callback */
	int reads, writes, events;
	unsigned ev;		/* every flag on_event saw */
	unsigned last;		/* the last on_event */
	double ev_at;		/* ... and when */
	size_t got_at_end;	/* got's length when EOF or ERROR came */
	size_t max_in;		/* the largest input on_read saw */
	size_t out_at_write;	/* the output's length when on_write ran */
};

/* The callbacks; arg is the struct side. */
extern const struct conn_ops side_ops;

void	side_init(struct side *s);
void	side_done(struct side *s);

/* The owner takes the whole input and says so.  Returns true. */
bool	consume(struct side *s);

/* --- sockets --- */

/* A socketpair (fds[0] for the conn, fds[1] the peer's), with small
 * buffers when bufsize is not 0, so that writes come out partial. */
void	pair(int fds[2], int bufsize);

/* A plain conn on a new pair, owned by s; returns the peer's end. */
int	plain_conn(struct side *s, int bufsize);

/* A TCP socket on 127.0.0.1, port chosen by the kernel; listening, or
 * only bound (then a connect to it is refused). */
int	loopback(struct sockaddr_in *sin, bool listening);

/* Bytes the kernel still holds for fd. */
int	queued(int fd);

/* --- bytes --- */

void	write_all(int fd, const void *p, size_t len);

/* Reads at most max bytes of what fd holds into b.  Returns true. */
bool	read_some(int fd, struct evbuffer *b, size_t max);

/* b holds the first len bytes of the pattern, and nothing else. */
void	check_pattern(struct evbuffer *b, size_t len);

/* b holds text, and nothing else. */
bool	has(struct evbuffer *b, const char *text);

#endif
