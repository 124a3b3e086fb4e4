/*
 * fuzz_h2: libFuzzer target for the client side of HTTP/2 (src/h2_down.c):
 * the input is what a client sends after the connection preface (which
 * the harness writes first, with an empty SETTINGS frame), fed to the
 * nghttp2 server session and to our callbacks: request heads become
 * exchanges under the configuration's rules (refusals, routing toward a
 * server that is never reached), bodies, resets, floods.  Each input is
 * fed twice: whole, and cut in two at a place the input chooses.  The
 * loop runs the deferred sends; what the proxy writes goes to the other
 * end of a socket pair, drained and dropped.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "errlist.h"
#include "exchange.h"
#include "fuzz_util.h"
#include "h2_down.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct event_base *base;
static struct loop lp;
static struct loop_shared shared;
static const struct config *cfg;
static unsigned logged;
static bool done;

static const char conf_text[] =
    "domain = \"mcx.own.example\";\n"
    "log = { level = \"error\"; access = \"off\"; };\n"
    "limits = { max_body_bytes = 4096; max_header_bytes = 4096;\n"
    "  max_header_fields = 32;\n"
    "  h2 = { max_concurrent_streams = 16; initial_window = 16384; }; };\n"
    "timeouts = { upstream_connect = 0.5; client_idle = 5; };\n"
    "listeners = ( { role = \"trusted\"; address = \"127.0.0.1:1\";\n"
    "  allow = [\"127.0.0.0/8\"]; } );\n"
    "servers = ( { name = \"kms\"; hosts = [\"kms.mcx.own.example\"];\n"
    "  paths = [\"/k/\"]; targets = [\"127.0.0.1:1\"]; } );\n"
    "idm_servers = [\"idms.mcx.own.example\"];\n";

static void
h_log(void *arg, struct exchange *x)
{
	(void)arg;
	if (x->status == 0)
		fz_die("an exchange ended without a status");
	logged++;
}

static void
h_done(void *arg, const char *reason)
{
	(void)arg;
	(void)reason;
	done = true;
}

static const struct h2down_ops ops = { .log = h_log, .done = h_done };

static void
dummy(void *arg)
{
	(void)arg;
}

static void
dummy_event(void *arg, unsigned what)
{
	(void)arg;
	(void)what;
}

static const struct conn_ops conn_ops = {
	.on_read = dummy,
	.on_write = dummy,
	.on_event = dummy_event,
};

static void
init(void)
{
	struct errlist errs = { 0 };
	struct config *cf;
	struct runtime *rt;
	const char *path = fz_file_init("fuzz_h2", "mcx.conf");

	fz_file_write((const uint8_t *)conf_text, sizeof(conf_text) - 1);
	log_init(LOG_LEVEL_ERROR, LOG_ACCESS_OFF, LOG_FORMAT_TEXT, NULL);
	if ((cf = config_load(path, &errs)) == NULL ||
	    (rt = runtime_new(cf, &errs)) == NULL)
		fz_die("config: %s", errs.text != NULL ? errs.text : "?");
	errlist_fini(&errs);
	cfg = cf;
	base = event_base_new();
	loop_init(&lp, 0, base, rt, &shared);
}

/* The client's preface and an empty SETTINGS frame. */
static const uint8_t preface[] =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    "\x00\x00\x00\x04\x00\x00\x00\x00\x00";

static void
run(const uint8_t *data, size_t size, size_t cut)
{
	struct exchange_client cl = {
		.role = ROLE_TRUSTED,
		.peer = "127.0.0.1:40000",
		.peer_host = "127.0.0.1",
		.peer_id = "",
		.tls = true,
	};
	struct h2down *d;
	struct conn *c;
	char sink[65536];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		fz_die("socketpair");
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if ((c = conn_accepted(base, sv[0], NULL, &conn_ops, NULL)) == NULL)
		fz_die("conn_accepted");
	done = false;
	d = h2down_new(&lp, c, cfg, &cl, &ops, NULL);
	evbuffer_add(conn_input(c), preface, sizeof(preface) - 1);
	evbuffer_add(conn_input(c), data, cut);
	h2down_read(d);
	for (int i = 0; i < 4 && !done; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
	}
	if (!done && cut < size) {
		evbuffer_add(conn_input(c), data + cut, size - cut);
		h2down_read(d);
		for (int i = 0; i < 4 && !done; i++) {
			event_base_loop(base, EVLOOP_NONBLOCK);
			while (read(sv[1], sink, sizeof(sink)) > 0)
				;
		}
	}
	h2down_free(d);
	conn_free(c);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut;

	if (base == NULL)
		init();
	run(data, size, size);
	/* The same bytes, in two reads. */
	cut = size > 0 ? data[0] % (size + 1) : 0;
	run(data, size, cut);
	return 0;
}
