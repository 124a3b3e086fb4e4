/* listener: per-worker accepting sockets (see listener.h). */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "session.h"
#include "ppaccept.h"
#include "srclimit.h"
#include "stats.h"
#include "xalloc.h"

struct listener {
	struct loop *lp;
	size_t index;
	const struct listener_conf *conf;
	struct evconnlistener *evl;
	struct event *backoff;
	time_t refusal_logged;		/* second of the last refusal line */
	unsigned refusals_quiet;	/* refusals not logged since */
};

/*
 * Closes a connection refused at accept, before any byte is read.  One
 * log line per second at most: a flood of refusals (what the limits are
 * for) must not become a flood of log lines.
 */
static void
refuse(struct listener *l, int fd, const struct sockaddr *sa,
    enum stats_refusal why)
{
	const struct config *cfg = l->lp->cur->rt->cfg;
	char buf[ADDR_STRLEN], what[96];
	struct timeval now;

	close(fd);
	stats_add(&l->lp->stats.refused[why], 1);
	event_base_gettimeofday_cached(l->lp->base, &now);
	if (now.tv_sec == l->refusal_logged) {
		l->refusals_quiet++;
		return;
	}
	if (why == REFUSED_ALLOW)
		snprintf(what, sizeof(what), "not in allow");
	else if (why == REFUSED_MAX)
		snprintf(what, sizeof(what), "limits.max_connections (%u) reached",
		    cfg->limits.max_connections);
	else
		snprintf(what, sizeof(what), "limits.max_connections_per_source "
		    "(%u) reached for this address",
		    cfg->limits.max_connections_per_source);
	log_warnx("listener %s: connection from %s closed: %s%s", l->conf->address,
	    addr_format(sa, buf, sizeof(buf)), what, l->refusals_quiet ?
	    " (and earlier refusals not logged; see /metrics)" : "");
	l->refusal_logged = now.tv_sec;
	l->refusals_quiet = 0;
}

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener *l = arg;
	const struct config *cfg = l->lp->cur->rt->cfg;
	struct srclimit_ticket ticket;

	if (l->conf->proxy_protocol) {
		/* Only balancers; allow and the per-source limit apply to
		 * the client their header names (ppaccept.c). */
		if (!ppaccept_from_balancer(l->conf, sa)) {
			refuse(l, fd, sa, REFUSED_ALLOW);
			return;
		}
	} else if (l->conf->nallow > 0) {
		bool ok = false;

		for (size_t i = 0; i < l->conf->nallow && !ok; i++)
			ok = cidr_match(&l->conf->allow[i], sa);
		if (!ok) {
			refuse(l, fd, sa, REFUSED_ALLOW);
			return;
		}
	}
	if (atomic_load(&l->lp->shared->connections) >= cfg->limits.max_connections) {
		refuse(l, fd, sa, REFUSED_MAX);
		return;
	}
	if (l->conf->proxy_protocol) {
		ppaccept_start(l->lp, l->index, fd, sa, (socklen_t)salen);
		return;
	}
	if (!srclimit_take(l->lp->shared->srclimit, sa,
	    cfg->limits.max_connections_per_source, &ticket)) {
		refuse(l, fd, sa, REFUSED_PER_SOURCE);
		return;
	}
	session_accept(l->lp, l->index, fd, sa, (socklen_t)salen, &ticket);
}

static void
backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	evconnlistener_enable(l->evl);
}

static void
error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval one = { 1, 0 };

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* Out of descriptors: pause accepting rather than spin. */
		log_warnx("listener %s: accept: %s; pausing for 1s (raise LimitNOFILE?)",
		    l->conf->address, strerror(err));
		evconnlistener_disable(evl);
		evtimer_add(l->backoff, &one);
		return;
	}
	log_warnx("listener %s: accept: %s", l->conf->address, strerror(err));
}

/*
 * reuseport: one socket of this worker's group.  Without it the socket is
 * a probe: SO_REUSEPORT would let another process (of the same user)
 * share the port silently and take a share of the connections, so the
 * first worker first checks that nobody else listens there.
 */
static int
make_socket(const struct listener_conf *c, bool reuseport)
{
	int fd, one = 1;
	const struct sockaddr *sa = (const struct sockaddr *)&c->addr.ss;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) < 0))
		goto fail;
	if (sa->sa_family == AF_INET6) {
		int v6only = 0;	/* "[::]" takes IPv4 too */

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only)) < 0)
			goto fail;
	}
	if (bind(fd, sa, c->addr.len) < 0 ||
	    (reuseport && listen(fd, 1024) < 0))
		goto fail;
	return fd;
fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

bool
listener_same_address(const struct listener_conf *a,
    const struct listener_conf *b)
{
	return a->addr.len == b->addr.len &&
	    memcmp(&a->addr.ss, &b->addr.ss, a->addr.len) == 0;
}

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

static bool
sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    x->sin6_scope_id == y->sin6_scope_id &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static const struct inherited *
find_inherited(const struct listener_conf *c)
{
	for (size_t i = 0; i < ninherited; i++)
		if (sockaddr_equal((const struct sockaddr *)&inherited[i].addr.ss,
		    (const struct sockaddr *)&c->addr.ss))
			return &inherited[i];
	return NULL;
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
		if (sockaddr_equal(sa,
		    (const struct sockaddr *)&cfg->listeners[i].addr.ss))
			break;
	if (i == cfg->nlisteners) {
		if (cfg->has_admin && sockaddr_equal(sa,
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
listener_inherit(const struct config *cfg, const char *path)
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
			if (sockaddr_equal((struct sockaddr *)&inherited[i].addr.ss,
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
listener_inherited_close(void)
{
	for (size_t i = 0; i < ninherited; i++) {
		close(inherited[i].fd);
		free(inherited[i].name);
	}
	free(inherited);
	inherited = NULL;
	ninherited = 0;
}

static const struct listener_conf *
find_same(const struct config *old, const struct listener_conf *c)
{
	for (size_t i = 0; old != NULL && i < old->nlisteners; i++)
		if (listener_same_address(&old->listeners[i], c))
			return &old->listeners[i];
	return NULL;
}

int *
listener_sockets_open(const struct config *cfg, const struct config *old,
    unsigned nworkers)
{
	size_t n = cfg->nlisteners * nworkers;
	int *fds = xcalloc(n ? n : 1, sizeof(*fds));

	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (size_t i = 0; old != NULL && i < ninherited; i++) {
		const struct sockaddr *sa = (struct sockaddr *)&inherited[i].addr.ss;
		size_t j;
		char buf[ADDR_STRLEN];

		for (j = 0; j < cfg->nlisteners; j++)
			if (sockaddr_equal(sa,
			    (const struct sockaddr *)&cfg->listeners[j].addr.ss))
				break;
		if (j == cfg->nlisteners)
			log_warnx("listener %s: no longer configured, but systemd "
			    "keeps its socket (%s) listening: clients connect and "
			    "wait unanswered; remove its ListenStream= and restart "
			    "the socket unit", addr_format(sa, buf, sizeof(buf)),
			    inherited[i].name);
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *c = &cfg->listeners[i];
		const struct inherited *in;
		int fd;

		if (find_same(old, c) != NULL)
			continue;
		if ((in = find_inherited(c)) != NULL) {
			/* Each worker's loop accepts from its own descriptor
			 * of the one socket (and closes it when done). */
			for (unsigned k = 0; k < nworkers; k++) {
				fd = fcntl(in->fd, F_DUPFD_CLOEXEC, 3);
				if (fd < 0) {
					log_warn("listener %s (line %d): cannot "
					    "duplicate the socket from systemd",
					    c->address, c->line);
					goto fail;
				}
				fds[k * cfg->nlisteners + i] = fd;
			}
			continue;
		}
		if ((fd = make_socket(c, false)) < 0) {
			log_warn("listener %s (line %d): cannot listen (is another "
			    "process using it?%s)", c->address, c->line,
			    geteuid() != 0 ? " ports below 1024 need "
			    "CAP_NET_BIND_SERVICE" : "");
			goto fail;
		}
		close(fd);
		for (unsigned k = 0; k < nworkers; k++) {
			fd = make_socket(c, true);
			if (fd < 0) {
				log_warn("listener %s (line %d): cannot listen",
				    c->address, c->line);
				goto fail;
			}
			fds[k * cfg->nlisteners + i] = fd;
		}
	}
	return fds;
fail:
	listener_sockets_close(fds, n);
	free(fds);
	return NULL;
}

void
listener_sockets_close(const int *fds, size_t n)
{
	for (size_t i = 0; fds != NULL && i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

struct listener *
listener_new(struct loop *lp, size_t index, const struct listener_conf *c,
    int fd)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->lp = lp;
	l->index = index;
	l->conf = c;
	l->evl = evconnlistener_new(lp->base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (l->evl == NULL) {
		log_warnx("listener %s: cannot watch the socket", c->address);
		close(fd);
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->evl, error_cb);
	l->backoff = evtimer_new(lp->base, backoff_cb, l);
	return l;
}

void
listener_update(struct listener *l, size_t index, const struct listener_conf *c)
{
	l->index = index;
	l->conf = c;
}

const struct listener_conf *
listener_conf(const struct listener *l)
{
	return l->conf;
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	evconnlistener_free(l->evl);
	event_free(l->backoff);
	free(l);
}
