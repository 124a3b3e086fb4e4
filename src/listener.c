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

#include "activation.h"
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
	return addr_same((const struct sockaddr *)&a->addr.ss,
	    (const struct sockaddr *)&b->addr.ss);
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
	if (old != NULL)
		activation_warn_unused(cfg);
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *c = &cfg->listeners[i];
		int fd, sfd;

		if (find_same(old, c) != NULL)
			continue;
		if ((sfd = activation_fd(&c->addr)) >= 0) {
			/* Each worker's loop accepts from its own descriptor
			 * of the one socket (and closes it when done). */
			for (unsigned k = 0; k < nworkers; k++) {
				fd = fcntl(sfd, F_DUPFD_CLOEXEC, 3);
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
	/* Backlog 0: the socket listens already (1024, or systemd's
	 * Backlog=); libevent's default would lower it to 128, on systemd's
	 * socket even after this process is gone. */
	l->evl = evconnlistener_new(lp->base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE, 0, fd);
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
