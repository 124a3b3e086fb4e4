/*
 * mcxproxy: the HTTP proxy of one mission-critical trust domain.  main
 * reads the command line, loads and checks the configuration, starts the
 * worker threads and turns signals into actions.  It stays in the
 * foreground, as systemd expects.
 */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "activation.h"
#include "admin.h"
#include "bufpool.h"
#include "config.h"
#include "duration.h"
#include "listener.h"
#include "log.h"
#include "runtime.h"
#include "srclimit.h"
#include "stats.h"
#include "worker.h"
#include "xalloc.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/mcxproxy/mcxproxy.conf"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: mcxproxy [-c FILE]       run in the foreground\n"
	    "       mcxproxy -t [-c FILE]    check the configuration and exit\n"
	    "       mcxproxy -V              print the version\n"
	    "       mcxproxy -h              print this help\n"
	    "FILE defaults to %s\n", DEFAULT_CONFIG);
}

static void
libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

struct main_state {
	struct event_base *base;
	const char *path;		/* the configuration file */
	struct runtime *rt;		/* the current generation */
	struct worker **workers;
	const struct stats **stats;	/* each worker's, for the admin */
	unsigned nworkers;
	unsigned started;
	struct loop_shared *shared;
	struct event *watch;		/* while stopping: have workers ended? */
	struct event *grace;		/* timeouts.drain_grace after SIGTERM */
	struct event *reload_watch;	/* while reloading: have workers switched? */
	bool reloading;
	bool reload_again;		/* a SIGHUP came while reloading */
	bool stopping;			/* read by the admin's /healthz */
};

/* While draining, the main loop keeps serving the admin listener (503 on
 * /healthz) and ends once every worker's loop has. */
static void
watch_workers(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *m = arg;
	struct timeval tick = { 0, 50 * 1000 };

	if (atomic_load(&m->shared->workers_done) >= m->started) {
		event_base_loopbreak(m->base);
		return;
	}
	evtimer_add(m->watch, &tick);
}

/* Settings read once at start; a reload keeps the running values. */
static void
warn_restart_only(const struct config *run, const struct config *c)
{
#define DIFFERS(a, b) (((a) == NULL) != ((b) == NULL) || \
	((a) != NULL && strcmp((a), (b)) != 0))
	if (c->workers != run->workers)
		log_warnx("reload: \"workers\" changed; it applies at restart only");
	if (DIFFERS(c->user, run->user) || DIFFERS(c->group, run->group))
		log_warnx("reload: \"user\"/\"group\" changed; they apply at "
		    "restart only");
	if (c->log_level != run->log_level || c->access != run->access ||
	    DIFFERS(c->access_path, run->access_path))
		log_warnx("reload: \"log\" changed; it applies at restart only");
	if (c->has_admin != run->has_admin || (c->has_admin &&
	    (c->admin.len != run->admin.len ||
	    memcmp(&c->admin.ss, &run->admin.ss, c->admin.len) != 0)))
		log_warnx("reload: \"admin\" changed; it applies at restart only");
#undef DIFFERS
}

static void start_reload(struct main_state *);

/* Stops the workers' accepting and drains them (also the end of
 * timeouts.drain_grace). */
static void
stop_workers(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *m = arg;

	(void)fd;
	if (what != 0)
		log_info("timeouts.drain_grace over: stop accepting, finishing "
		    "requests in flight");
	for (unsigned i = 0; i < m->nworkers; i++)
		worker_stop(m->workers[i]);
	watch_workers(-1, 0, m);
}

/* A reload is complete once every worker serves the new generation. */
static void
watch_reload(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *m = arg;
	struct timeval tick = { 0, 10 * 1000 };

	for (unsigned i = 0; i < m->nworkers; i++)
		if (atomic_load(&m->workers[i]->applied) != m->rt->generation) {
			evtimer_add(m->reload_watch, &tick);
			return;
		}
	m->reloading = false;
	log_info("reload: every worker serves generation %u", m->rt->generation);
	sd_notifyf(0, "READY=1\nSTATUS=serving domain %s (generation %u)",
	    m->rt->cfg->domain ? m->rt->cfg->domain : "-", m->rt->generation);
	if (m->reload_again) {
		m->reload_again = false;
		start_reload(m);
	}
}

/*
 * SIGHUP: load and check the file, build the new generation (TLS contexts
 * read certificates and keys again: a renewed certificate behind a
 * symlink is picked up), open sockets for new listener addresses, and
 * hand it to every worker.  Any failure leaves the running generation
 * serving.
 */
static void
start_reload(struct main_state *m)
{
	struct errlist errs = { 0 };
	struct config *cfg;
	struct runtime *rt;
	int *fds;

	if (m->stopping)
		return;
	if (m->reloading) {
		m->reload_again = true;
		return;
	}
	log_info("reload: reading %s", m->path);
	sd_notify(0, "RELOADING=1\nSTATUS=reloading");
	cfg = config_load(m->path, &errs);
	rt = cfg ? runtime_new(cfg, &errs) : NULL;
	if (rt == NULL) {
		char *line, *save = NULL;

		for (line = strtok_r(errs.text, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			log_warnx("reload: %s", line);
		log_warnx("reload failed: generation %u keeps serving; fix the "
		    "file (mcxproxy -t) and send SIGHUP again",
		    m->rt->generation);
		errlist_fini(&errs);
		sd_notify(0, "READY=1\nSTATUS=reload failed; previous "
		    "configuration serving");
		return;
	}
	errlist_fini(&errs);
	rt->generation = m->rt->generation + 1;
	warn_restart_only(m->rt->cfg, rt->cfg);
	fds = listener_sockets_open(rt->cfg, m->rt->cfg, m->nworkers);
	if (fds == NULL) {
		log_warnx("reload failed: generation %u keeps serving",
		    m->rt->generation);
		runtime_unref(rt);
		sd_notify(0, "READY=1\nSTATUS=reload failed; previous "
		    "configuration serving");
		return;
	}
	/* Worker k's row of sockets starts at fds[k * nlisteners]; the worker
	 * copies it and owns those sockets from now. */
	for (unsigned k = 0; k < m->nworkers; k++)
		worker_reload(m->workers[k], rt, fds + k * rt->cfg->nlisteners);
	free(fds);
	runtime_unref(m->rt);
	m->rt = rt;
	m->reloading = true;
	log_info("reload: generation %u built from %s", rt->generation, m->path);
	watch_reload(-1, 0, m);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *m = arg;
	struct timeval tv;
	double grace;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (m->stopping) {
			/* A second signal cuts the grace short. */
			if (evtimer_pending(m->grace, NULL)) {
				evtimer_del(m->grace);
				stop_workers(-1, 0, m);
			}
			return;
		}
		m->stopping = true;
		atomic_store(&m->shared->leaving, true);
		/* Type=notify units: systemd shows "deactivating" from now. */
		sd_notify(0, "STOPPING=1\nSTATUS=draining");
		grace = m->rt->cfg->timeouts.drain_grace;
		if (grace > 0) {
			/* Behind a balancer: /healthz says 503 from now, and
			 * the listeners keep accepting until the balancer's
			 * checks have seen it, so that no connection it
			 * sends meanwhile is refused. */
			log_info("signal %d: /healthz answers 503; accepting for "
			    "%.1fs more (timeouts.drain_grace), then finishing "
			    "requests in flight", (int)sig, grace);
			tv = duration_tv(grace);
			evtimer_add(m->grace, &tv);
			for (unsigned i = 0; i < m->nworkers; i++)
				worker_leave(m->workers[i]);
			return;
		}
		log_info("signal %d: stop accepting, finishing requests in flight",
		    (int)sig);
		stop_workers(-1, 0, m);
		break;
	case SIGUSR1:
		if (log_reopen() < 0)
			log_warn("cannot reopen the access log");
		break;
	case SIGHUP:
		start_reload(m);
		break;
	}
}

static int
drop_privileges(const struct config *c)
{
	struct passwd *pw;
	struct group *gr;
	gid_t gid;

	if (geteuid() != 0 || c->user == NULL)
		return 0;
	if ((pw = getpwnam(c->user)) == NULL) {
		log_warnx("user \"%s\" does not exist (config \"user\")", c->user);
		return -1;
	}
	gid = pw->pw_gid;
	if (c->group != NULL) {
		if ((gr = getgrnam(c->group)) == NULL) {
			log_warnx("group \"%s\" does not exist (config \"group\")",
			    c->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	/* The access log was opened as root: keep it writable after a
	 * SIGUSR1 reopen of the same file. */
	if (log_chown(pw->pw_uid, gid) < 0)
		log_warn("cannot give the access log \"%s\" to %s", c->access_path,
		    c->user);
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_warn("cannot drop privileges to %s", c->user);
		return -1;
	}
	return 0;
}

static int
serve(struct runtime *rt, const char *path)
{
	const struct config *c = rt->cfg;
	struct loop_shared shared;
	struct main_state m = { 0 };
	struct admin *admin = NULL;
	struct event *sigs[4];
	const int signums[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	unsigned started = 0;
	int *fds, ninherited;
	int rc = 0;

	atomic_init(&shared.connections, 0);
	atomic_init(&shared.workers_done, 0);
	atomic_init(&shared.leaving, false);
	shared.srclimit = srclimit_new();
	m.shared = &shared;
	m.path = path;
	m.rt = runtime_ref(rt);
	m.base = event_base_new();
	if (m.base == NULL)
		fatalx("cannot create the main event loop");
	m.watch = evtimer_new(m.base, watch_workers, &m);
	m.grace = evtimer_new(m.base, stop_workers, &m);
	m.reload_watch = evtimer_new(m.base, watch_reload, &m);
	m.nworkers = c->workers;
	m.workers = xcalloc(m.nworkers, sizeof(*m.workers));
	m.stats = xcalloc(m.nworkers, sizeof(*m.stats));
	/* Sockets systemd passed (a .socket unit) before binding the others. */
	if ((ninherited = activation_take(c, path)) < 0 ||
	    (fds = listener_sockets_open(c, NULL, m.nworkers)) == NULL) {
		rc = 1;
		goto out;
	}
	for (unsigned k = 0; k < m.nworkers && rc == 0; k++) {
		int *row = fds + k * c->nlisteners;

		if ((m.workers[k] = worker_new(k, rt, row, &shared)) == NULL)
			rc = 1;
		else
			m.stats[k] = &m.workers[k]->loop.stats;
		/* The worker's now, or closed by worker_new when it failed. */
		for (size_t i = 0; i < c->nlisteners; i++)
			row[i] = -1;
	}
	listener_sockets_close(fds, c->nlisteners * m.nworkers);
	free(fds);
	if (rc != 0)
		goto out;
	if (c->has_admin && (admin = admin_new(m.base, &c->admin,
	    m.stats, m.nworkers, &m.stopping,
	    &m.rt)) == NULL) {
		rc = 1;
		goto out;
	}
	if (drop_privileges(c) < 0) {
		rc = 1;
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(m.base, signums[i], on_signal, &m);
		evsignal_add(sigs[i], NULL);
	}
	for (; started < m.nworkers; started++) {
		if (worker_start(m.workers[started]) < 0) {
			rc = 1;
			break;
		}
		m.started = started + 1;
	}
	if (rc == 0) {
		log_info("mcxproxy %s: serving domain \"%s\" with %u workers, "
		    "%zu listeners (%d with sockets from systemd)",
		    PACKAGE_VERSION, c->domain ? c->domain : "-", m.nworkers,
		    c->nlisteners, ninherited);
		/* Listeners are bound and workers run: Type=notify units are
		 * "active" only now (a no-op outside systemd). */
		sd_notifyf(0, "READY=1\nSTATUS=serving domain %s\nMAINPID=%lu",
		    c->domain ? c->domain : "-", (unsigned long)getpid());
		event_base_dispatch(m.base);
	} else {
		for (unsigned i = 0; i < started; i++)
			worker_stop(m.workers[i]);
	}
	for (unsigned i = 0; i < started; i++)
		worker_join(m.workers[i]);
	for (int i = 0; i < 4; i++)
		event_free(sigs[i]);
	if (rc == 0)
		log_info("stopped");
out:
	admin_free(admin);
	for (unsigned i = 0; i < m.nworkers; i++)
		worker_free(m.workers[i]);
	free(m.workers);
	free(m.stats);
	event_free(m.watch);
	event_free(m.grace);
	event_free(m.reload_watch);
	event_base_free(m.base);
	runtime_unref(m.rt);
	activation_close();
	stats_routes_free();
	srclimit_free(shared.srclimit);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	bool test = false;
	struct errlist errs = { 0 };
	struct config *cfg;
	struct runtime *rt;
	int ch, rc;

	while ((ch = getopt(argc, argv, "c:thV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("mcxproxy %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	bufpool_install();
	cfg = config_load(path, &errs);
	rt = cfg ? runtime_new(cfg, &errs) : NULL;
	if (rt == NULL) {
		fputs(errs.text ? errs.text : "configuration invalid\n", stderr);
		errlist_fini(&errs);
		return 1;
	}
	errlist_fini(&errs);
	if (test) {
		printf("configuration OK\n");
		runtime_unref(rt);
		return 0;
	}
	if (log_init(rt->cfg->log_level, rt->cfg->access, rt->cfg->access_format,
	    rt->cfg->access_path) < 0) {
		fprintf(stderr, "mcxproxy: cannot open the access log \"%s\": %s\n",
		    rt->cfg->access_path, strerror(errno));
		runtime_unref(rt);
		return 1;
	}
	event_set_log_callback(libevent_log);
	rc = serve(rt, path);
	runtime_unref(rt);
	bufpool_thread_end();
	return rc;
}
