/*
 * ticket: session-ticket keys for TLS resumption.  A key is used for
 * `rotation` seconds and accepted one period longer; each key is derived
 * from a master secret and the number of its period, so every worker (and
 * every instance of a domain given the same key file) computes the same
 * keys with no shared state and no lock.  Without a key file the master
 * secret is random per process start.
 */
#ifndef MCX_TICKET_H
#define MCX_TICKET_H

struct errlist;
struct ssl_ctx_st;
struct ticket_keys;

/* Reads the master secret from file (at least 32 bytes), or makes a
 * random one when file is NULL.  Errors go to errs at conf:line. */
struct ticket_keys *ticket_keys_new(const char *file, double rotation,
	    const char *conf, int line, struct errlist *errs);
void	ticket_keys_free(struct ticket_keys *);
/* Makes ctx encrypt and decrypt its tickets with these keys, and hands
 * them to ctx (freed with it).  Returns 0, or -1 with the OpenSSL error
 * queued (the keys are then still the caller's). */
int	ticket_install(struct ssl_ctx_st *, struct ticket_keys *);

#endif
