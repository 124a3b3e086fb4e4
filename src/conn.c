/*
 * conn: the connection layer (see conn.h).
 *
 * Interest: the read event is registered while the connection wants to
 * read (or a handshake or a blocked SSL_write needs bytes), the write event
 * while the socket refused output (or a connect, a handshake or a blocked
 * SSL_read needs writability).  update_interest() is the one place that
 * compares what is wanted with what is registered, so epoll_ctl runs only
 * on a real change.
 *
 * Deadlines: one timer per connection, armed lazily.  Progress only
 * records the time (coarse monotonic clock, no system call); when the
 * timer fires early because of progress it is armed again for the rest.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn_priv.h"
#include "xalloc.h"

static bool
reading_wanted(const struct conn *c)
{
	if (c->failed)
		return false;
	if (c->write_wants_read)
		return true;
	switch (c->state) {
	case CS_CONNECTING:
		return false;
	case CS_HANDSHAKE:
		return c->hs_read;
	case CS_OPEN:
		break;
	}
	return c->want_read && !c->eof &&
	    (c->read_high == 0 || evbuffer_get_length(c->in) < c->read_high);
}

static bool
writing_wanted(const struct conn *c)
{
	if (c->failed)
		return false;
	if (c->read_wants_write)
		return true;
	switch (c->state) {
	case CS_CONNECTING:
		return true;
	case CS_HANDSHAKE:
		return c->hs_write;
	case CS_OPEN:
		break;
	}
	return c->wblocked && evbuffer_get_length(c->out) > 0;
}

static void arm_timer(struct conn *);

static void
update_interest(struct conn *c)
{
	bool r = reading_wanted(c), w = writing_wanted(c);

	if (r != c->rev_on) {
		if (r) {
			event_add(&c->rev, NULL);
			c->rd_since = conn_now_ms();
		} else
			event_del(&c->rev);
		c->rev_on = r;
	}
	if (w != c->wev_on) {
		if (w) {
			event_add(&c->wev, NULL);
			c->wr_since = conn_now_ms();
		} else
			event_del(&c->wev);
		c->wev_on = w;
	}
	if (c->rto > 0 || c->wto > 0)
		arm_timer(c);
}

/* The earliest deadline running, or 0. */
static int64_t
next_deadline(const struct conn *c)
{
	int64_t t = 0;

	if (c->rto > 0 && c->rev_on)
		t = c->rd_since + c->rto;
	if (c->wto > 0 && c->wev_on && (t == 0 || c->wr_since + c->wto < t))
		t = c->wr_since + c->wto;
	return t;
}

static void
arm_timer(struct conn *c)
{
	int64_t t = next_deadline(c), d;
	struct timeval tv;

	/* A timer already due sooner fires, finds progress, re-arms. */
	if (t == 0 || (c->t_at != 0 && c->t_at <= t))
		return;
	d = t - conn_now_ms();
	if (d < 0)
		d = 0;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
	evtimer_add(&c->tev, &tv);
	c->t_at = t;
}

/* Reports an event from the loop (never from inside a conn_* call). */
static void
report_later(struct conn *c, unsigned what)
{
	c->pending |= what;
	c->reported |= what & (CONN_EV_ERROR | CONN_EV_EOF);
	event_active(&c->wev, EV_TIMEOUT, 1);
}

static void
really_free(struct conn *c)
{
	free(c);
}

/* After running an owner's callback: false when the connection is gone. */
static bool
alive(struct conn *c)
{
	return !c->dead;
}

static void
leave(struct conn *c)
{
	if (--c->busy == 0 && c->dead)
		really_free(c);
}

/*
 * Writes what it can; tells the owner of an error, or that the output fell
 * to the low mark after having been above it.  Call within busy.
 */
static void
write_and_report(struct conn *c)
{
	size_t before = evbuffer_get_length(c->out), after;

	if (!conn_do_write(c)) {
		update_interest(c);
		c->reported |= CONN_EV_ERROR;
		c->ops->on_event(c->arg, CONN_EV_ERROR | CONN_EV_WRITING);
		return;
	}
	update_interest(c);
	after = evbuffer_get_length(c->out);
	if (before > c->write_low && after <= c->write_low)
		c->ops->on_write(c->arg);
}

/*
 * The write itself runs from the loop, later in the same pass: every
 * flush of a pass goes out in one write, a callback never runs inside
 * the owner's call, and no epoll interest changes for it.
 */
void
conn_flush(struct conn *c)
{
	if (c->flush_due || c->dead || c->failed)
		return;
	c->flush_due = true;
	event_active(&c->wev, EV_TIMEOUT, 1);
}

/* --- handshake and connect --- */

/* Runs the TLS handshake; reports CONNECTED or an error.  Call within
 * busy. */
static void
handshake(struct conn *c)
{
	int r;

	c->hs_read = c->hs_write = false;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->state = CS_OPEN;
		c->wr_since = c->rd_since = conn_now_ms();
		update_interest(c);
		c->ops->on_event(c->arg, CONN_EV_CONNECTED);
		if (!alive(c))
			return;
		/* Read-ahead may hold a request that came with the last
		 * handshake flight; output may have been queued meanwhile. */
		if (SSL_has_pending(c->ssl))
			conn_input_consumed(c);
		conn_flush(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->hs_read = true;
		break;
	case SSL_ERROR_WANT_WRITE:
		c->hs_write = true;
		break;
	case SSL_ERROR_SYSCALL:
		c->err = errno;
		/* FALLTHROUGH */
	default:
		conn_ssl_failed(c);
		update_interest(c);
		c->reported |= CONN_EV_ERROR;
		c->ops->on_event(c->arg, CONN_EV_ERROR | CONN_EV_READING);
		return;
	}
	update_interest(c);
}

/* The TCP connect finished (writable): check how, go on with TLS. */
static void
connected(struct conn *c)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e == EINPROGRESS || e == EINTR)
		return;		/* not yet: still writing_wanted() */
	if (e != 0) {
		c->err = e;
		c->failed = true;
		update_interest(c);
		c->ops->on_event(c->arg, CONN_EV_ERROR | CONN_EV_WRITING);
		return;
	}
	if (c->ssl == NULL) {
		c->state = CS_OPEN;
		c->wr_since = c->rd_since = conn_now_ms();
		update_interest(c);
		c->ops->on_event(c->arg, CONN_EV_CONNECTED);
		if (alive(c))
			conn_flush(c);
		return;
	}
	c->state = CS_HANDSHAKE;
	handshake(c);
}

/* --- loop callbacks --- */

/* Reads, then tells the owner: bytes first, then EOF or error. */
static void
read_and_report(struct conn *c, bool kicked)
{
	size_t added = conn_do_read(c);

	update_interest(c);
	if (added > 0 || kicked) {
		c->ops->on_read(c->arg);
		if (!alive(c))
			return;
	}
	if (c->failed && !(c->reported & CONN_EV_ERROR)) {
		c->reported |= CONN_EV_ERROR;	/* once */
		update_interest(c);
		c->ops->on_event(c->arg, CONN_EV_ERROR | CONN_EV_READING);
	} else if (c->eof && !(c->reported & CONN_EV_EOF)) {
		c->reported |= CONN_EV_EOF;
		update_interest(c);
		c->ops->on_event(c->arg, CONN_EV_EOF | CONN_EV_READING);
	}
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	bool kicked = c->kick, forced = c->force;

	(void)fd;
	c->busy++;
	c->kick = c->force = false;
	if (c->state == CS_HANDSHAKE) {
		/* A kick after a failed handshake must not run (and report)
		 * it again. */
		if (!c->failed)
			handshake(c);
		goto out;
	}
	if (c->write_wants_read) {
		c->write_wants_read = false;
		write_and_report(c);
		if (!alive(c) || c->failed)
			goto out;
	}
	if (c->state != CS_OPEN)
		goto out;
	/* A kick alone reads nothing: the bytes are in the input already. */
	if ((what & EV_READ) || forced)
		read_and_report(c, kicked);
	else if (kicked) {
		c->ops->on_read(c->arg);
	}
out:
	leave(c);
}

static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	c->busy++;
	c->flush_due = false;
	if (c->pending != 0) {
		/* An error met inside a conn_* call, reported now. */
		unsigned ev = c->pending;

		c->pending = 0;
		c->ops->on_event(c->arg, ev);
		goto out;
	}
	if (c->failed)
		goto out;
	switch (c->state) {
	case CS_CONNECTING:
		if (what & EV_WRITE)
			connected(c);
		goto out;
	case CS_HANDSHAKE:
		if (what & EV_WRITE)
			handshake(c);
		goto out;
	case CS_OPEN:
		break;
	}
	if (c->read_wants_write && (what & EV_WRITE)) {
		c->read_wants_write = false;
		read_and_report(c, false);
		if (!alive(c) || c->failed)
			goto out;
	}
	/* A socket that refused output says when it takes more: a flush
	 * meanwhile would only meet EAGAIN. */
	if (c->wblocked && !(what & EV_WRITE))
		goto out;
	if (!c->write_wants_read && evbuffer_get_length(c->out) > 0)
		write_and_report(c);
out:
	leave(c);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int64_t now = conn_now_ms();
	unsigned ev = 0;

	(void)fd;
	(void)what;
	c->t_at = 0;
	if (c->rto > 0 && c->rev_on && now - c->rd_since >= c->rto) {
		ev = CONN_EV_TIMEOUT | CONN_EV_READING;
		c->rto = 0;	/* reported once: the owner decides */
	} else if (c->wto > 0 && c->wev_on && now - c->wr_since >= c->wto) {
		ev = CONN_EV_TIMEOUT | CONN_EV_WRITING;
		c->wto = 0;
	}
	if (ev == 0) {
		arm_timer(c);	/* progress since: wait for the rest */
		return;
	}
	c->busy++;
	c->ops->on_event(c->arg, ev);
	if (alive(c))
		arm_timer(c);
	leave(c);
}

/* --- life --- */

static struct conn *
conn_new(struct event_base *base, int fd, SSL *ssl, enum conn_state st,
    const struct conn_ops *ops, void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL) {
		if (c != NULL && c->in != NULL)
			evbuffer_free(c->in);
		free(c);
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->ssl = ssl;
	c->state = st;
	c->ops = ops;
	c->arg = arg;
	c->want_read = true;
	event_assign(&c->rev, base, fd, EV_READ | EV_PERSIST, read_cb, c);
	event_assign(&c->wev, base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	evtimer_assign(&c->tev, base, timer_cb, c);
	if (ssl != NULL) {
		/* One read(2) takes several records when they are there;
		 * a peer's FIN without close_notify reads as EOF (the
		 * framing of HTTP/1.1 tells a cut response apart). */
		SSL_set_read_ahead(ssl, 1);
		SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
		SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		if (SSL_set_fd(ssl, fd) != 1) {
			conn_free(c);
			return NULL;
		}
	}
	return c;
}

struct conn *
conn_accepted(struct event_base *base, int fd, SSL *ssl,
    const struct conn_ops *ops, void *arg)
{
	struct conn *c = conn_new(base, fd, ssl,
	    ssl != NULL ? CS_HANDSHAKE : CS_OPEN, ops, arg);

	if (c == NULL)
		return NULL;
	if (ssl != NULL) {
		SSL_set_accept_state(ssl);
		c->hs_read = true;	/* the ClientHello comes first */
	}
	update_interest(c);
	return c;
}

struct conn *
conn_connect(struct event_base *base, const struct sockaddr *sa,
    socklen_t salen, SSL *ssl, const struct conn_ops *ops, void *arg)
{
	struct conn *c;
	int fd, one = 1, e;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		SSL_free(ssl);
		errno = e;
		return NULL;
	}
	/* Requests go out at once, not after a delayed ACK (Nagle). */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = conn_new(base, fd, ssl, CS_CONNECTING, ops, arg);
	if (c == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (ssl != NULL)
		SSL_set_connect_state(ssl);
	if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
		/* Refused at once (loopback): reported from the loop, as a
		 * connect that fails later would be. */
		c->err = errno;
		c->failed = true;
		report_later(c, CONN_EV_ERROR | CONN_EV_WRITING);
		return c;
	}
	update_interest(c);
	return c;
}

void
conn_free(struct conn *c)
{
	if (c == NULL || c->dead)
		return;
	event_del(&c->rev);
	event_del(&c->wev);
	event_del(&c->tev);
	SSL_free(c->ssl);		/* the fd is ours (SSL_set_fd) */
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	c->in = c->out = NULL;
	c->dead = true;
	if (c->busy == 0)
		really_free(c);
}

/* --- settings --- */

void
conn_set_ops(struct conn *c, const struct conn_ops *ops, void *arg)
{
	c->ops = ops;
	c->arg = arg;
}

struct evbuffer *
conn_input(struct conn *c)
{
	return c->in;
}

struct evbuffer *
conn_output(struct conn *c)
{
	return c->out;
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

SSL *
conn_ssl(const struct conn *c)
{
	return c->ssl;
}

unsigned long
conn_ssl_error(const struct conn *c)
{
	return c->ssl_err;
}

int
conn_errno(const struct conn *c)
{
	return c->err;
}

void
conn_set_read_high(struct conn *c, size_t high)
{
	c->read_high = high;
	conn_input_consumed(c);
}

void
conn_set_write_low(struct conn *c, size_t low)
{
	c->write_low = low;
}

void
conn_read_enable(struct conn *c, bool on)
{
	c->want_read = on;
	conn_input_consumed(c);
}

/* Also whenever reading may have turned on: plaintext OpenSSL holds
 * would otherwise wait for a socket that has nothing more to say. */
void
conn_input_consumed(struct conn *c)
{
	update_interest(c);
	if (c->rev_on && c->ssl != NULL && SSL_has_pending(c->ssl)) {
		c->force = true;
		event_active(&c->rev, EV_TIMEOUT, 1);
	}
}

void
conn_kick_read(struct conn *c)
{
	c->kick = true;
	event_active(&c->rev, EV_TIMEOUT, 1);
}

void
conn_set_timeouts(struct conn *c, double read_s, double write_s)
{
	int64_t now = conn_now_ms();

	c->rto = read_s > 0 ? (int64_t)(read_s * 1000 + 0.5) : 0;
	c->wto = write_s > 0 ? (int64_t)(write_s * 1000 + 0.5) : 0;
	if (c->rto == 0 && read_s > 0)
		c->rto = 1;
	if (c->wto == 0 && write_s > 0)
		c->wto = 1;
	c->rd_since = c->wr_since = now;
	if (c->rto > 0 || c->wto > 0)
		arm_timer(c);
}

void
conn_close_notify(struct conn *c)
{
	if (c->ssl != NULL && c->state == CS_OPEN && !c->failed &&
	    c->ssl_wlen == 0 && SSL_is_init_finished(c->ssl)) {
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
}

void
conn_shutdown_write(struct conn *c)
{
	conn_close_notify(c);
	if (c->fd >= 0)
		(void)shutdown(c->fd, SHUT_WR);
}

void
conn_reset_on_close(struct conn *c)
{
	struct linger lg = { 1, 0 };

	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}
