/*
 * healthcheck: the active health checks of one upstream pool's targets
 * (health.path).  Every health.interval each target is asked, on a new
 * connection made as the pool makes its own (same TLS context, server
 * name, client certificate and ALPN): HTTP/1.1 "GET path" with
 * Connection: close, or, for protocol "h2", a GET on one HTTP/2 stream.
 * A final status of 2xx or 3xx passes; any other status, a connect or
 * TLS failure, a broken or garbled answer, or none within the deadlines
 * fails.  Results go to the pool's target health (up_check_result).
 *
 * Each worker checks its own pools: the state is the worker's, like the
 * pool's, and needs no lock.  Check connections are not the pool's: they
 * carry no request and count in none of its gauges or limits.
 */
#ifndef MCX_HEALTHCHECK_H
#define MCX_HEALTHCHECK_H

struct hc_pool;
struct upstream_pool;

/* Starts checking p's targets (p->spec.health.path is set); the first
 * check of each comes after a random part of the interval, so that
 * workers and targets do not all fire together. */
struct hc_pool *hc_start(struct upstream_pool *p);
/* Stops the checks and closes those in flight (none reports after).
 * NULL is ignored. */
void	hc_stop(struct hc_pool *);

#endif
