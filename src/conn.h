/*
 * conn: one TCP connection, plain or TLS, toward a client or an upstream.
 * It owns the socket, the optional SSL (driven over the raw fd), the
 * input and output buffers, the readiness interest registered with the
 * event loop, and the connection's read and write deadlines.  Owners (the
 * client session, the upstream pool) see bytes in conn_input(), append
 * to conn_output() and call conn_flush(); the rest is this layer's.
 *
 * Behaviour, in one place (it replaces libevent's bufferevents, whose
 * workarounds it makes unnecessary):
 * - Reading: one read(2), or SSL_read() with read-ahead, takes up to
 *   CONN_READ_SIZE bytes.  After a read that did not fill the space, and
 *   with no plaintext left inside OpenSSL, the socket is taken as drained:
 *   no second read(2) to meet EAGAIN.  Level-triggered epoll reports what
 *   the kernel still holds on the next pass.
 * - Back-pressure: reading stops while the input holds conn_set_read_high()
 *   bytes or more; once the owner consumed some, conn_input_consumed()
 *   resumes it, and also reads again while OpenSSL holds plaintext (the
 *   socket, already drained, would never wake the connection for it).
 * - Writing: conn_flush() writes at once (writev, or SSL_write of records
 *   of up to 16 KiB joined from the output), and asks the loop for
 *   writability only for what the socket would not take.  So a keep-alive
 *   connection in steady state never changes its epoll interest.
 * - Callbacks never run from inside a conn_* call made by the owner: errors
 *   met while flushing are reported from the loop.  An owner may free the
 *   connection from any of its callbacks (conn_free is then deferred
 *   until the callback returns).
 */
#ifndef MCX_CONN_H
#define MCX_CONN_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct event_base;
struct ssl_st;

#define CONN_READ_SIZE	(16 * 1024 + 512)	/* bytes asked of one read */
#define CONN_TLS_RECORD	16384			/* most plaintext in a record */

/* What on_event reports (flags). */
enum {
	CONN_EV_READING = 0x01,		/* ... while reading */
	CONN_EV_WRITING = 0x02,		/* ... while writing */
	CONN_EV_EOF = 0x10,		/* the peer closed (close_notify or FIN) */
	CONN_EV_ERROR = 0x20,		/* socket or TLS error */
	CONN_EV_TIMEOUT = 0x40,		/* a deadline passed */
	CONN_EV_CONNECTED = 0x80,	/* connect and TLS handshake done */
};

struct conn_ops {
	/* New bytes are in the input (or conn_kick_read() was called). */
	void	(*on_read)(void *arg);
	/* The output fell to the low mark after the socket had been full. */
	void	(*on_write)(void *arg);
	void	(*on_event)(void *arg, unsigned what);
};

struct conn;

/*
 * An accepted socket (fd is owned from now on; ssl, if any, too, in the
 * server role).  The TLS handshake starts at once; CONN_EV_CONNECTED
 * follows it (plain connections need no such event and get none).
 * Returns NULL (fd closed, ssl freed) when out of memory.
 */
struct conn *conn_accepted(struct event_base *, int fd, struct ssl_st *ssl,
	    const struct conn_ops *, void *arg);
/*
 * Connects to sa (then runs the TLS handshake when ssl is given, in the
 * client role; ssl is owned from now on).  CONN_EV_CONNECTED, or an
 * error, is reported through ops.  Returns NULL with errno set when no
 * socket could even be started (ssl freed).
 */
struct conn *conn_connect(struct event_base *, const struct sockaddr *,
	    socklen_t, struct ssl_st *ssl, const struct conn_ops *, void *arg);
/* Closes the socket and frees everything, buffered bytes included. */
void	conn_free(struct conn *);

void	conn_set_ops(struct conn *, const struct conn_ops *, void *arg);
struct evbuffer *conn_input(struct conn *);
struct evbuffer *conn_output(struct conn *);
int	conn_fd(const struct conn *);
/* NULL for a plain connection. */
struct ssl_st *conn_ssl(const struct conn *);
/* The first OpenSSL error that failed the connection, or 0. */
unsigned long conn_ssl_error(const struct conn *);
/* The errno of a failed socket call, or 0. */
int	conn_errno(const struct conn *);

/* Reading pauses at high bytes of input (0: no limit). */
void	conn_set_read_high(struct conn *, size_t high);
/* on_write runs when the output falls to low bytes. */
void	conn_set_write_low(struct conn *, size_t low);
/* The owner wants to read, or not (on from creation). */
void	conn_read_enable(struct conn *, bool on);
/* See the top of the file. */
void	conn_input_consumed(struct conn *);
/* Runs on_read from the loop soon, without new bytes: for bytes that
 * wait in the input already (a pipelined request). */
void	conn_kick_read(struct conn *);

/*
 * Deadlines in seconds (0: none).  Reading: while the owner wants to read
 * and reading is not paused, no byte for that long.  Writing: while
 * output waits (or a connect or handshake needs the socket), no progress
 * for that long.  Each restarts here and on progress.
 */
void	conn_set_timeouts(struct conn *, double read_s, double write_s);

/* Writes the output now, as far as the socket takes it. */
void	conn_flush(struct conn *);
/* Sends close_notify (TLS, when the handshake is done and no write is
 * half done), then a FIN. */
void	conn_shutdown_write(struct conn *);
/* Sends close_notify only (the close that follows sends the FIN). */
void	conn_close_notify(struct conn *);
/* The close will reset the connection (SO_LINGER 0): for a plain
 * connection whose response was cut, a FIN could pass for its end. */
void	conn_reset_on_close(struct conn *);

#endif
