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

#include "admin.h"
#include "config.h"
#include "log.h"
#include "runtime.h"
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
	struct worker **workers;
	unsigned nworkers;
	unsigned started;
	struct worker_shared *shared;
	struct event *watch;		/* while stopping: have workers ended? */
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

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *m = arg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (m->stopping)
			return;
		m->stopping = true;
		log_info("signal %d: stop accepting, finishing requests in flight",
		    (int)sig);
		/* Type=notify units: systemd shows "deactivating" from now. */
		sd_notify(0, "STOPPING=1\nSTATUS=draining");
		for (unsigned i = 0; i < m->nworkers; i++)
			worker_stop(m->workers[i]);
		watch_workers(-1, 0, m);
		break;
	case SIGUSR1:
		if (log_reopen() < 0)
			log_warn("cannot reopen the access log");
		break;
	case SIGHUP:
		log_warnx("SIGHUP: configuration reload is not implemented yet; "
		    "restart the service to apply changes");
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
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_warn("cannot drop privileges to %s", c->user);
		return -1;
	}
	return 0;
}

static int
serve(struct runtime *rt)
{
	const struct config *c = rt->cfg;
	struct worker_shared shared;
	struct main_state m = { 0 };
	struct admin *admin = NULL;
	struct event *sigs[4];
	const int signums[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	unsigned started = 0;
	int rc = 0;

	atomic_init(&shared.connections, 0);
	atomic_init(&shared.workers_done, 0);
	m.shared = &shared;
	m.base = event_base_new();
	if (m.base == NULL)
		fatalx("cannot create the main event loop");
	m.watch = evtimer_new(m.base, watch_workers, &m);
	m.nworkers = c->workers;
	m.workers = xcalloc(m.nworkers, sizeof(*m.workers));
	for (unsigned i = 0; i < m.nworkers; i++) {
		m.workers[i] = worker_new(i, rt, &shared);
		if (m.workers[i] == NULL) {
			rc = 1;
			goto out;
		}
	}
	if (c->has_admin && (admin = admin_new(m.base, &c->admin,
	    (struct worker *const *)m.workers, m.nworkers, &m.stopping)) == NULL) {
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
		    "%zu listeners", PACKAGE_VERSION, c->domain ? c->domain : "-",
		    m.nworkers, c->nlisteners);
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
	event_free(m.watch);
	event_base_free(m.base);
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
		runtime_free(rt);
		return 0;
	}
	if (log_init(rt->cfg->log_level, rt->cfg->access, rt->cfg->access_format,
	    rt->cfg->access_path) < 0) {
		fprintf(stderr, "mcxproxy: cannot open the access log \"%s\": %s\n",
		    rt->cfg->access_path, strerror(errno));
		runtime_free(rt);
		return 1;
	}
	event_set_log_callback(libevent_log);
	rc = serve(rt);
	runtime_free(rt);
	return rc;
}
