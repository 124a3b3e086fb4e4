/* activation: sockets passed by systemd (see activation.h). */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "activation.h"
#include "addr.h"
#include "config.h"
#include "log.h"
#include "xalloc.h"

/*
 * Sockets passed by systemd, kept open for the life of the process: the
 * socket unit holds them too, and a reload that removes a listener and a
 * later one that brings it back must find the same socket (binding the
 * address again would fail: it is in use, by this very socket).
 */
struct inherited {
	int fd;
	struct addr addr;	/* getsockname */
	char *name;		/* from LISTEN_FDNAMES: the socket unit's */
};
static struct inherited *inherited;
static size_t ninherited;

int
activation_fd(const struct addr *a)
{
	for (size_t i = 0; i < ninherited; i++)
		if (addr_same((const struct sockaddr *)&inherited[i].addr.ss,
		    (const struct sockaddr *)&a->ss))
			return inherited[i].fd;
	return -1;
}

/*
 * One socket from systemd: a listening TCP socket, made non-blocking
 * (the workers' loops all watch it and only one wins each connection;
 * the others must get EAGAIN, not block), with its address.  A "[::]"
 * socket must take IPv4 too, as the proxy's own do.
 */
static int
inherit_one(struct inherited *in, const struct config *cfg, const char *path)
{
	const struct sockaddr *sa = (const struct sockaddr *)&in->addr.ss;
	char buf[ADDR_STRLEN];
	int fl, v6only = 0;
	socklen_t len = sizeof(v6only);
	size_t i;

	if (sd_is_socket(in->fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
		log_warnx("socket activation: descriptor %d (%s) is not a "
		    "listening stream socket; the socket unit may only have "
		    "ListenStream= lines for the listeners of %s", in->fd,
		    in->name, path);
		return -1;
	}
	in->addr.len = sizeof(in->addr.ss);
	if (getsockname(in->fd, (struct sockaddr *)&in->addr.ss,
	    &in->addr.len) < 0) {
		log_warn("socket activation: descriptor %d (%s): getsockname",
		    in->fd, in->name);
		return -1;
	}
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
		log_warnx("socket activation: descriptor %d (%s) is not a TCP "
		    "socket (a ListenStream= path?); listeners are "
		    "\"address:port\"", in->fd, in->name);
		return -1;
	}
	addr_format(sa, buf, sizeof(buf));
	for (i = 0; i < cfg->nlisteners; i++)
		if (addr_same(sa,
		    (const struct sockaddr *)&cfg->listeners[i].addr.ss))
			break;
	if (i == cfg->nlisteners) {
		if (cfg->has_admin && addr_same(sa,
		    (const struct sockaddr *)&cfg->admin.ss))
			log_warnx("socket activation: the socket unit passes %s "
			    "(%s), the admin address; the admin listener binds "
			    "its own socket: remove ListenStream=%s from the "
			    "socket unit", buf, in->name, buf);
		else
			log_warnx("socket activation: the socket unit passes %s "
			    "(%s), which no listener of %s has; make the socket "
			    "unit's ListenStream= lines and the listeners' "
			    "addresses the same", buf, in->name, path);
		return -1;
	}
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr) &&
	    (getsockopt(in->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) < 0 ||
	    v6only)) {
		log_warnx("socket activation: the socket %s (%s) is IPv6 only, "
		    "but listener %s (line %d) takes IPv4 clients too: set "
		    "BindIPv6Only=both in the socket unit", buf, in->name,
		    cfg->listeners[i].address, cfg->listeners[i].line);
		return -1;
	}
	if ((fl = fcntl(in->fd, F_GETFL)) < 0 ||
	    fcntl(in->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_warn("socket activation: %s: cannot make it non-blocking", buf);
		return -1;
	}
	log_info("listener %s (line %d): socket from systemd (descriptor %d, "
	    "%s), shared by the %u workers", cfg->listeners[i].address,
	    cfg->listeners[i].line, in->fd, in->name, cfg->workers);
	return 0;
}

int
activation_take(const struct config *cfg, const char *path)
{
	char **names = NULL;
	int n;

	/* 1: unset LISTEN_*, so that nothing we start takes them as its. */
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		errno = -n;
		log_warn("socket activation: LISTEN_FDS is invalid; ignored");
		return 0;
	}
	inherited = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*inherited));
	for (int i = 0; i < n; i++) {
		inherited[i].fd = SD_LISTEN_FDS_START + i;
		/* Without LISTEN_FDNAMES, libsystemd says "unknown". */
		inherited[i].name = names != NULL && names[i] != NULL ?
		    names[i] : xstrdup("unnamed");
	}
	ninherited = (size_t)n;
	free(names);
	for (size_t i = 0; i < ninherited; i++) {
		if (inherit_one(&inherited[i], cfg, path) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (addr_same((struct sockaddr *)&inherited[i].addr.ss,
			    (struct sockaddr *)&inherited[j].addr.ss)) {
				char buf[ADDR_STRLEN];

				log_warnx("socket activation: descriptors %d and "
				    "%d are both bound to %s; remove one from the "
				    "socket units", inherited[j].fd, inherited[i].fd,
				    addr_format((struct sockaddr *)&inherited[i].addr.ss,
				    buf, sizeof(buf)));
				return -1;
			}
	}
	return n;
}

void
activation_close(void)
{
	for (size_t i = 0; i < ninherited; i++) {
		close(inherited[i].fd);
		free(inherited[i].name);
	}
	free(inherited);
	inherited = NULL;
	ninherited = 0;
}

void
activation_warn_unused(const struct config *cfg)
{
	for (size_t i = 0; i < ninherited; i++) {
		const struct sockaddr *sa = (struct sockaddr *)&inherited[i].addr.ss;
		size_t j;
		char buf[ADDR_STRLEN];

		for (j = 0; j < cfg->nlisteners; j++)
			if (addr_same(sa,
			    (const struct sockaddr *)&cfg->listeners[j].addr.ss))
				break;
		if (j == cfg->nlisteners)
			log_warnx("listener %s: no longer configured, but systemd "
			    "keeps its socket (%s) listening: clients connect and "
			    "wait unanswered; remove its ListenStream= and restart "
			    "the socket unit", addr_format(sa, buf, sizeof(buf)),
			    inherited[i].name);
	}
}
