/*
 * listener: the listening sockets of one worker, one per configured
 * listener.  Each is bound with SO_REUSEPORT so every worker has its own
 * accept queue.  Accepting checks the trusted listener's allow list
 * (closing before a byte is read) and the global connection limit, and
 * backs off for a second when the process is out of file descriptors.
 */
#ifndef MCX_LISTENER_H
#define MCX_LISTENER_H

#include <stddef.h>

struct worker;
struct listener;

/* Binds and listens now; returns NULL after logging the reason. */
struct listener *listener_new(struct worker *, size_t index);
/* Stops accepting and closes the socket. */
void	listener_free(struct listener *);

#endif
