/*
 * activation: systemd socket activation.  The listening sockets a socket
 * unit passes (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) are kept here for
 * the life of the process: systemd holds them too, so connections that
 * arrive while the proxy restarts wait in the kernel's queue instead of
 * being refused, and a reload that removes a listener and a later one
 * that brings it back find the same socket (binding the address again
 * would fail: this very socket has it).  listener.c accepts on them in
 * place of binding its own.
 */
#ifndef MCX_ACTIVATION_H
#define MCX_ACTIVATION_H

struct addr;
struct config;

/*
 * Takes the sockets systemd passed (the variables are unset, so that
 * children do not see them) and matches each to the listener of cfg with
 * its address (path: cfg's file, for messages).  A socket that matches no
 * listener, or the admin listener's address (it binds its own), or that
 * is not a listening TCP socket, fails the start: -1 after logging.
 * Returns how many were inherited (0 outside socket activation).
 */
int	activation_take(const struct config *cfg, const char *path);
/* The inherited socket bound to a, or -1. */
int	activation_fd(const struct addr *a);
/* After a reload to cfg: warns about inherited sockets no listener uses
 * (systemd keeps them listening, so their clients would wait). */
void	activation_warn_unused(const struct config *cfg);
/* Closes the inherited sockets (at exit, once the workers have ended). */
void	activation_close(void);

#endif
