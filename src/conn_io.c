/*
 * conn_io: the connection layer's byte movers (see conn_priv.h).  Reads
 * take up to CONN_READ_SIZE per call into the input; writes gather the
 * output into one writev, or one SSL_write of a record of up to 16 KiB.
 */
#include <sys/uio.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn_priv.h"

/* Remembers the first OpenSSL error and empties the thread's queue, so
 * that the next SSL_get_error() on this thread is not misled. */
void
conn_ssl_failed(struct conn *c)
{
	unsigned long e = ERR_peek_error();

	if (c->ssl_err == 0)
		c->ssl_err = e;
	ERR_clear_error();
	c->failed = true;
}

/* --- reading --- */

/*
 * Reads what the socket (or OpenSSL) holds, up to the read mark.  Returns
 * the bytes added; sets eof or failed.  One read(2) that does not fill
 * the space means the socket is drained (see conn.h).
 */
size_t
conn_do_read(struct conn *c)
{
	struct evbuffer_iovec v;
	size_t added = 0;
	int n;

	while (!c->eof && !c->failed &&
	    (c->read_high == 0 || evbuffer_get_length(c->in) < c->read_high)) {
		if (evbuffer_reserve_space(c->in, CONN_READ_SIZE, &v, 1) < 1) {
			c->err = ENOMEM;
			c->failed = true;
			break;
		}
		/* The chain may hold more room than asked (libevent rounds
		 * it up to a power of two): take CONN_READ_SIZE at most, so
		 * that the input stops near the read mark. */
		if (v.iov_len > CONN_READ_SIZE)
			v.iov_len = CONN_READ_SIZE;
		if (c->ssl != NULL) {
			n = SSL_read(c->ssl, v.iov_base, (int)v.iov_len);
			if (n > 0) {
				v.iov_len = (size_t)n;
				evbuffer_commit_space(c->in, &v, 1);
				added += (size_t)n;
				if (!SSL_has_pending(c->ssl))
					break;
				continue;
			}
			evbuffer_commit_space(c->in, &v, 0);
			switch (SSL_get_error(c->ssl, n)) {
			case SSL_ERROR_WANT_READ:
				break;
			case SSL_ERROR_WANT_WRITE:
				/* A KeyUpdate answer must go out first. */
				c->read_wants_write = true;
				break;
			case SSL_ERROR_ZERO_RETURN:
				c->eof = true;
				break;
			case SSL_ERROR_SYSCALL:
				c->err = errno;
				if (c->err == 0 && ERR_peek_error() == 0) {
					c->eof = true;	/* FIN without close_notify */
					break;
				}
				conn_ssl_failed(c);
				break;
			default:
				conn_ssl_failed(c);
				break;
			}
			break;
		}
		n = (int)read(c->fd, v.iov_base, v.iov_len);
		if (n > 0) {
			size_t want = v.iov_len;

			v.iov_len = (size_t)n;
			evbuffer_commit_space(c->in, &v, 1);
			added += (size_t)n;
			if ((size_t)n < want)
				break;
			continue;
		}
		evbuffer_commit_space(c->in, &v, 0);
		if (n == 0)
			c->eof = true;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			c->err = errno;
			c->failed = true;
		}
		break;
	}
	if (added > 0)
		c->rd_since = conn_now_ms();
	return added;
}

/* --- writing --- */

/*
 * The first n bytes of out, contiguous: in place when the first chain
 * holds them, else copied to a buffer of the thread (a response head and
 * its body are two chains; joining them in the evbuffer would allocate a
 * chain per response).  Valid until the next call.
 */
static const unsigned char *
record_bytes(struct evbuffer *out, size_t n)
{
	static _Thread_local unsigned char joined[CONN_TLS_RECORD];
	struct evbuffer_iovec v;

	if (evbuffer_peek(out, -1, NULL, &v, 1) >= 1 && v.iov_len >= n)
		return v.iov_base;
	evbuffer_copyout(out, joined, n);
	return joined;
}

/* Writes the output as far as the socket takes it; false on error. */
bool
conn_do_write(struct conn *c)
{
	size_t before = evbuffer_get_length(c->out);

	c->wblocked = false;
	if (c->ssl == NULL) {
		while (evbuffer_get_length(c->out) > 0) {
			size_t len = evbuffer_get_length(c->out);
			int n = evbuffer_write(c->out, c->fd);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					c->wblocked = true;
					break;
				}
				c->err = errno;
				c->failed = true;
				return false;
			}
			if ((size_t)n < len) {
				c->wblocked = true;	/* the socket is full */
				break;
			}
		}
	} else {
		while (evbuffer_get_length(c->out) > 0) {
			size_t len = evbuffer_get_length(c->out), n;
			const unsigned char *p;
			int r;

			/* One record of up to 16 KiB per SSL_write; a repeat
			 * must ask for the same length (and, the write buffer
			 * may move, the same bytes). */
			n = c->ssl_wlen != 0 ? c->ssl_wlen :
			    (len < CONN_TLS_RECORD ? len : CONN_TLS_RECORD);
			p = record_bytes(c->out, n);
			r = SSL_write(c->ssl, p, (int)n);
			if (r > 0) {
				c->ssl_wlen = 0;
				evbuffer_drain(c->out, (size_t)r);
				continue;
			}
			c->ssl_wlen = n;
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_WRITE:
				c->wblocked = true;
				break;
			case SSL_ERROR_WANT_READ:
				c->write_wants_read = true;
				break;
			case SSL_ERROR_SYSCALL:
				c->err = errno;
				/* FALLTHROUGH */
			default:
				conn_ssl_failed(c);
				return false;
			}
			break;
		}
	}
	if (evbuffer_get_length(c->out) < before)
		c->wr_since = conn_now_ms();
	return true;
}
