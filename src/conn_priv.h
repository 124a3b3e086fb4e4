/*
 * conn_priv: what the connection layer's two files share.  conn.c runs
 * the connection (interest, deadlines, callbacks, life); conn_io.c moves
 * bytes between the socket or OpenSSL and the buffers.  Nothing outside
 * the connection layer includes this.
 */
#ifndef MCX_CONN_PRIV_H
#define MCX_CONN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event_struct.h>
#include <openssl/ssl.h>

#include "conn.h"

enum conn_state {
	CS_CONNECTING,		/* TCP connect running */
	CS_HANDSHAKE,		/* TLS handshake running */
	CS_OPEN,
};

struct conn {
	int fd;
	SSL *ssl;
	enum conn_state state;
	struct event rev, wev, tev;
	bool rev_on, wev_on;		/* registered with the loop */
	struct evbuffer *in, *out;
	const struct conn_ops *ops;
	void *arg;
	size_t read_high;
	size_t write_low;
	bool want_read;			/* the owner's wish */
	bool eof;			/* the peer closed: nothing more to read */
	bool failed;			/* an error was met: no more I/O */
	bool wblocked;			/* the socket refused output */
	bool hs_read, hs_write;		/* what the handshake waits for */
	bool read_wants_write;		/* SSL_read needs writability */
	bool write_wants_read;		/* SSL_write needs readability */
	bool kick;			/* run on_read without new bytes */
	bool flush_due;			/* conn_flush: write later in this pass */
	bool force;			/* read: OpenSSL holds plaintext */
	unsigned pending;		/* event to report from the loop */
	unsigned reported;		/* EOF, ERROR: told the owner once */
	/* An SSL_write to repeat with the same length and bytes: while it
	 * is not 0, out may grow but must not be drained (only a
	 * connection that is then closed may drop its output). */
	size_t ssl_wlen;
	unsigned long ssl_err;
	int err;
	int64_t rto, wto;		/* deadlines, ms (0: none) */
	int64_t rd_since, wr_since;	/* last progress, ms */
	int64_t t_at;			/* timer expiry, ms (0: not armed) */
	unsigned busy;			/* callbacks running */
	bool dead;			/* conn_free called while busy */
};

/* Coarse monotonic milliseconds: progress only records a time. */
static inline int64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads up to the read mark; the bytes added (eof or failed set). */
size_t	conn_do_read(struct conn *);
/* Writes what the socket takes; false after an error (failed set). */
bool	conn_do_write(struct conn *);
/* Remembers the first OpenSSL error and marks the connection failed. */
void	conn_ssl_failed(struct conn *);

#endif
