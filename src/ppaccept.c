/* ppaccept: waiting for a balancer's PROXY protocol header (see ppaccept.h). */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "config.h"
#include "duration.h"
#include "log.h"
#include "loop.h"
#include "ppaccept.h"
#include "proxyproto.h"
#include "runtime.h"
#include "session.h"
#include "srclimit.h"
#include "stats.h"
#include "xalloc.h"

struct ppwait {
	struct loop *lp;
	struct loop_gen *g;	/* the generation it was accepted under */
	size_t li;		/* its listener there */
	int fd;
	struct sockaddr_storage peer;	/* the balancer */
	socklen_t peerlen;
	struct event *rd;
	struct event *timer;	/* timeouts.proxy_header, from accept */
	struct ppwait *prev, *next;
	size_t have;		/* header bytes read so far */
	size_t cap;		/* of buf */
	unsigned char *buf;	/* small, or grown (a long v2 header) */
	/* Enough for any v1 line and a v2 header with IP addresses and a
	 * few TLVs: a pending connection holds no more until it needs it. */
	unsigned char small[256];
};

/* One warning per second per loop at most: a flood of bad headers must
 * not become a flood of log lines (the counters have them all). */
static _Thread_local time_t logged_at;
static _Thread_local unsigned quiet;

static void
warn_limited(const struct ppwait *w, const char *what)
{
	const struct listener_conf *lc = &w->g->rt->cfg->listeners[w->li];
	char buf[ADDR_STRLEN];
	time_t now = time(NULL);

	if (now == logged_at) {
		quiet++;
		return;
	}
	log_warnx("listener %s: connection from balancer %s closed: %s%s",
	    lc->address, addr_format((const struct sockaddr *)&w->peer, buf,
	    sizeof(buf)), what, quiet ? " (and earlier ones not logged; see "
	    "/metrics)" : "");
	logged_at = now;
	quiet = 0;
}

bool
ppaccept_from_balancer(const struct listener_conf *lc, const struct sockaddr *sa)
{
	const struct cidr *v = lc->nproxy_from > 0 ? lc->proxy_from : lc->allow;
	size_t n = lc->nproxy_from > 0 ? lc->nproxy_from : lc->nallow;

	for (size_t i = 0; i < n; i++)
		if (cidr_match(&v[i], sa))
			return true;
	return false;
}

/* Unlinks and frees w; the fd and generation are the caller's to close or
 * hand on. */
static void
detach(struct ppwait *w)
{
	struct loop *lp = w->lp;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		lp->ppwaits = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	if (w->rd != NULL)
		event_free(w->rd);
	if (w->timer != NULL)
		event_free(w->timer);
	if (w->buf != w->small)
		free(w->buf);
	atomic_fetch_sub(&lp->shared->connections, 1);
	free(w);
}

/* The one way a waiting connection ends without becoming a session. */
static void
drop(struct ppwait *w, enum pp_error why, const char *what)
{
	struct loop *lp = w->lp;
	struct loop_gen *g = w->g;
	int fd = w->fd;

	if (why < PP_ERR_N) {
		stats_add(&lp->stats.pp_errors[why], 1);
		warn_limited(w, what);
	}
	detach(w);
	close(fd);
	loop_gen_put(lp, g);
	/* A draining loop may have been waiting for this one. */
	loop_session_gone(lp);
}

/*
 * allow names the clients only when proxy_from names the balancers
 * (otherwise it was checked against the balancer at accept).  A header
 * without an address (v2 LOCAL, v1 UNKNOWN, a UNIX or unspecified
 * family) leaves the balancer as the client, and the balancer then has
 * to be in allow too: else any client of a balancer's UNIX frontend
 * would pass a trusted listener's allow unchecked.
 */
static bool
client_allowed(const struct listener_conf *lc, const struct sockaddr *sa)
{
	if (lc->nproxy_from == 0 || lc->nallow == 0)
		return true;
	for (size_t i = 0; i < lc->nallow; i++)
		if (cidr_match(&lc->allow[i], sa))
			return true;
	return false;
}

static void
complete(struct ppwait *w, const struct pp_header *h)
{
	struct loop *lp = w->lp;
	struct loop_gen *g = w->g;
	const struct config *cfg = g->rt->cfg;
	const struct listener_conf *lc = &cfg->listeners[w->li];
	const struct sockaddr *client;
	struct sockaddr_storage ss;
	struct srclimit_ticket ticket;
	char cbuf[ADDR_STRLEN], what[128];
	socklen_t clen;
	size_t li = w->li;
	int fd = w->fd;

	stats_add(&lp->stats.pp_headers[h->version == 1 ?
	    (h->has_addr ? PPH_V1_PROXY : PPH_V1_UNKNOWN) :
	    (h->local ? PPH_V2_LOCAL : PPH_V2_PROXY)], 1);
	if (h->has_addr) {
		ss = h->src;
		clen = h->srclen;
	} else {
		ss = w->peer;
		clen = w->peerlen;
	}
	client = (const struct sockaddr *)&ss;
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("listener %s: PROXY v%u from %s: client %s%s%s%s%s"
		    "%s%s%s", lc->address, h->version,
		    addr_format((const struct sockaddr *)&w->peer, what,
		    sizeof(what)), h->has_addr ? addr_format(client, cbuf,
		    sizeof(cbuf)) : "(balancer's own connection)",
		    h->authority[0] ? " authority=" : "", h->authority,
		    h->alpn[0] ? " alpn=" : "", h->alpn,
		    h->ssl ? (h->ssl_verified ? " ssl=verified" : " ssl=yes") : "",
		    h->crc_checked ? " crc=ok" : "",
		    h->unique_id_len ? " unique_id" : "");
	if (!client_allowed(lc, client)) {
		snprintf(what, sizeof(what), "client %s not in allow",
		    addr_format(client, cbuf, sizeof(cbuf)));
		stats_add(&lp->stats.refused[REFUSED_ALLOW], 1);
		drop(w, PP_ERR_ADDRESS, what);
		return;
	}
	if (!srclimit_take(lp->shared->srclimit, client,
	    cfg->limits.max_connections_per_source, &ticket)) {
		snprintf(what, sizeof(what), "limits.max_connections_per_source "
		    "(%u) reached for client %s",
		    cfg->limits.max_connections_per_source,
		    addr_format(client, cbuf, sizeof(cbuf)));
		stats_add(&lp->stats.refused[REFUSED_PER_SOURCE], 1);
		warn_limited(w, what);
		drop(w, PP_ERR_N, NULL);
		return;
	}
	detach(w);
	session_accept_gen(lp, g, li, fd, client, clen, &ticket);
	loop_session_gone(lp);	/* in case the session could not be made */
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ppwait *w = arg;
	struct pp_header h;
	enum pp_error err;
	const char *why;
	ssize_t n;
	long r;

	(void)what;
	/* Peek first: the bytes after the header (a TLS ClientHello, an
	 * HTTP request) must stay in the socket for the session. */
	n = recv(fd, w->buf + w->have, w->cap - w->have, MSG_PEEK);
	if (n == 0) {
		drop(w, PP_ERR_CLOSED, "closed before the PROXY header ended");
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		drop(w, PP_ERR_CLOSED, strerror(errno));
		return;
	}
	r = pp_parse(w->buf, w->have + (size_t)n, &h, &err, &why);
	if (r < 0) {
		drop(w, err, why);
		return;
	}
	/* Complete: take exactly the rest of the header.  Incomplete: every
	 * byte seen belongs to the header, so take them all (else the
	 * level-triggered read event would fire again at once). */
	n = r > 0 ? (ssize_t)((size_t)r - w->have) : n;
	if (recv(fd, w->buf + w->have, (size_t)n, 0) != n) {
		drop(w, PP_ERR_CLOSED, "the PROXY header could not be read");
		return;
	}
	w->have += (size_t)n;
	if (r > 0) {
		complete(w, &h);
		return;
	}
	/* Full and still incomplete: only a v2 header with long TLVs gets
	 * here (pp_parse bounds it by PP_MAX_HEADER). */
	if (w->have == w->cap) {
		unsigned char *big = xmalloc(PP_MAX_HEADER);

		memcpy(big, w->buf, w->have);
		w->buf = big;
		w->cap = PP_MAX_HEADER;
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drop(arg, PP_ERR_TIMEOUT, "no complete PROXY header within "
	    "timeouts.proxy_header");
}

void
ppaccept_start(struct loop *lp, size_t li, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct ppwait *w = xcalloc(1, sizeof(*w));
	struct timeval tv;

	w->lp = lp;
	w->g = loop_gen_get(lp);
	w->li = li;
	w->fd = fd;
	w->buf = w->small;
	w->cap = sizeof(w->small);
	if ((size_t)salen > sizeof(w->peer))
		salen = sizeof(w->peer);
	memcpy(&w->peer, sa, (size_t)salen);
	w->peerlen = salen;
	w->rd = event_new(lp->base, fd, EV_READ | EV_PERSIST, read_cb, w);
	w->timer = evtimer_new(lp->base, timer_cb, w);
	w->next = lp->ppwaits;
	if (lp->ppwaits != NULL)
		lp->ppwaits->prev = w;
	lp->ppwaits = w;
	atomic_fetch_add(&lp->shared->connections, 1);
	if (w->rd == NULL || w->timer == NULL) {
		log_warnx("listener %s: cannot set up a connection",
		    w->g->rt->cfg->listeners[li].address);
		drop(w, PP_ERR_N, NULL);
		return;
	}
	tv = duration_tv(w->g->rt->cfg->timeouts.proxy_header);
	evtimer_add(w->timer, &tv);
	event_add(w->rd, NULL);
}

void
ppaccept_close_all(struct loop *lp)
{
	while (lp->ppwaits != NULL)
		drop(lp->ppwaits, PP_ERR_N, NULL);
}
