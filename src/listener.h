/*
 * listener: the listening sockets of one worker, one per configured
 * listener.  Each is bound with SO_REUSEPORT so every worker has its own
 * accept queue, unless systemd passed the listener's socket (socket
 * activation, activation.h): then the workers share that one queue.
 * Accepting checks the trusted listener's allow list (or, with
 * proxy_protocol, that the peer is a balancer: ppaccept.h), closing before
 * a byte is read, and the global connection limit, and backs off for a
 * second when the process is out of file descriptors.
 */
#ifndef MCX_LISTENER_H
#define MCX_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct listener_conf;
struct loop;
struct listener;

/*
 * The main thread opens every listening socket, at start and on reload,
 * so that a port that cannot be bound fails the start (before privileges
 * are dropped) or the reload (the running configuration keeps serving)
 * rather than a worker.  Returns fds[k * nlisteners + i], worker k's socket
 * for listener i of cfg, or -1 where old (the running configuration, or
 * NULL) listens on the same address already: the workers keep that socket,
 * so its accept queues, and the connections waiting in them, carry over.
 * A listener with an inherited socket gets duplicates of it, one per
 * worker, instead of sockets of its own.  Returns NULL after logging.
 */
int	*listener_sockets_open(const struct config *cfg,
	    const struct config *old, unsigned nworkers);
/* Closes the sockets of fds (n entries; -1 skipped). */
void	listener_sockets_close(const int *fds, size_t n);
bool	listener_same_address(const struct listener_conf *,
	    const struct listener_conf *);

/* Starts accepting on fd (from listener_sockets_open) for listener index
 * of conf; returns NULL after logging (fd is closed). */
struct listener *listener_new(struct loop *, size_t index,
	    const struct listener_conf *conf, int fd);
/* A reload kept this listener's socket: its settings are now conf's. */
void	listener_update(struct listener *, size_t index,
	    const struct listener_conf *conf);
const struct listener_conf *listener_conf(const struct listener *);
/* Stops accepting and closes the socket. */
void	listener_free(struct listener *);

#endif
