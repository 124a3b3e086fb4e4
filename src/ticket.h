/*
 * ticket: session-ticket keys for TLS resumption.  A key is used for
 * `rotation` seconds and accepted one period longer; each key is derived
 * from a master secret and the number of its period, so every worker (and
 * every instance of a domain given the same key file) computes the same
 * keys with no shared state and no lock.  Without a key file the master
 * secret is random per process start.
 *
 * A key file lists up to 16 master secrets, one per line, oldest first.
 * One encrypts: the only one, else the second-to-last; the last one is
 * only announced (every instance learns it before any encrypts with it),
 * and every one decrypts.  A ticket's name tells its master (a
 * fingerprint) and period, so decrypting picks its key at once; a master
 * no longer listed means a full handshake.  A file that is not printable
 * text (an older binary secret) is one master, named as before.
 */
#ifndef MCX_TICKET_H
#define MCX_TICKET_H

#include <stddef.h>

struct errlist;
struct ssl_ctx_st;
struct ticket_keys;

#define TICKET_KEYS_MAX	16	/* master secrets in one key file */

/* Reads the master secrets from file, or makes a random one when file is
 * NULL.  Errors go to errs: about the file as a whole at conf:line, about
 * one of its lines at file:LINE. */
struct ticket_keys *ticket_keys_new(const char *file, double rotation,
	    const char *conf, int line, struct errlist *errs);
void	ticket_keys_free(struct ticket_keys *);
/* How many master secrets k holds. */
size_t	ticket_keys_count(const struct ticket_keys *);
/* Makes ctx encrypt and decrypt its tickets with these keys, and hands
 * them to ctx (freed with it).  Returns 0, or -1 with the OpenSSL error
 * queued (the keys are then still the caller's). */
int	ticket_install(struct ssl_ctx_st *, struct ticket_keys *);
/* A worker thread ends: wipes the keys it derived (they outlive the
 * secrets otherwise, until newer ones push them out of its cache). */
void	ticket_thread_end(void);

#endif
