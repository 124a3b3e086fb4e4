/*
 * check_config: loading the configuration file.  Every test writes its
 * files into a fresh mkdtemp folder (certificates are dummies: only their
 * readability is checked here) and asserts on the values, the defaults
 * and the exact "FILE:LINE: message" of each error.
 */
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "host.h"

static char base[200];		/* this test case's folder */
static char dir[256];		/* this test's folder, inside base */
static char conf[512];		/* dir/mcx.conf */
static struct errlist errs;
static struct config *cf;

static void
write_file(const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * Unchecked: runs in the parent, so the folder goes away even when a
 * failed test's child exits before its own teardown.
 */
static void
setup_base(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(base, sizeof(base), "%s/check_config.XXXXXX",
	    tmp != NULL && *tmp != '\0' && strlen(tmp) < 100 ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		abort();
}

static void
teardown_base(void)
{
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	char path[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tls", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	write_file("tls/cert.pem", "dummy\n");
	write_file("tls/key.pem", "dummy\n");
	write_file("tls/ca.pem", "dummy\n");
	write_file("tls/ue.psk", "ue1:00112233445566778899aabbccddeeff\n");
	snprintf(conf, sizeof(conf), "%s/mcx.conf", dir);
	memset(&errs, 0, sizeof(errs));
	cf = NULL;
}

static void
teardown(void)
{
	config_free(cf);
	cf = NULL;
	errlist_fini(&errs);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct config *
load(const char *text)
{
	config_free(cf);
	errlist_fini(&errs);
	write_file("mcx.conf", text);
	cf = config_load(conf, &errs);
	return cf;
}

static void
expect_ok(const char *text)
{
	ck_assert_msg(load(text) != NULL, "unexpected errors:\n%s", errs.text);
	ck_assert_uint_eq(errs.count, 0);
}

/* The load fails, and one of its errors is exactly "conf:line: msg". */
static void
expect_error(const char *text, int line, const char *msg)
{
	char want[2048];

	ck_assert_msg(load(text) == NULL, "loaded, expected \"%d: %s\"", line,
	    msg);
	ck_assert_uint_gt(errs.count, 0);
	snprintf(want, sizeof(want), "%s:%d: %s\n", conf, line, msg);
	ck_assert_msg(strstr(errs.text, want) != NULL,
	    "expected:\n%sgot:\n%s", want, errs.text);
}

static char *
in_dir(const char *rel)
{
	static char path[PATH_MAX];
	char *real = realpath(dir, NULL);

	snprintf(path, sizeof(path), "%s/%s", real, rel);
	free(real);
	return path;
}

static unsigned
port_of(const struct addr *a)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;

	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

#define DOMAIN	"domain = \"mcx.own.example\";\n"
#define TRUSTED	"listeners = ( { role = \"trusted\"; " \
		"address = \"127.0.0.1:8080\"; " \
		"allow = [\"127.0.0.0/8\"]; } );\n"
#define MINIMAL	DOMAIN TRUSTED		/* two lines */

START_TEST(test_minimal_defaults)
{
	char *real = realpath(dir, NULL);

	expect_ok(MINIMAL);
	ck_assert_str_eq(cf->file, conf);
	ck_assert_str_eq(cf->dir, real);
	free(real);
	ck_assert_str_eq(cf->domain, "mcx.own.example");
	ck_assert_uint_ge(cf->workers, 1);
	ck_assert_uint_le(cf->workers, 64);
	ck_assert_ptr_null(cf->user);
	ck_assert_ptr_null(cf->group);
	ck_assert_int_eq(cf->log_level, LOG_LEVEL_INFO);
	ck_assert_int_eq(cf->access, LOG_ACCESS_STDERR);
	ck_assert_ptr_null(cf->access_path);
	ck_assert_int_eq(cf->access_format, LOG_FORMAT_TEXT);
	ck_assert_uint_eq(cf->limits.max_connections, 20000);
	ck_assert_uint_eq(cf->limits.max_header_bytes, 16384);
	ck_assert_uint_eq(cf->limits.max_body_bytes, 16777216);
	ck_assert_uint_eq(cf->limits.max_header_fields, 100);
	ck_assert_double_eq(cf->timeouts.tls_handshake, 10);
	ck_assert_double_eq(cf->timeouts.request_header, 10);
	ck_assert_double_eq(cf->timeouts.client_idle, 60);
	ck_assert_double_eq(cf->timeouts.upstream_connect, 3);
	ck_assert_double_eq(cf->timeouts.upstream_response, 30);
	ck_assert_double_eq(cf->timeouts.drain, 30);
	ck_assert_int_eq(cf->headers.forwarded, FORWARDED_OFF);
	ck_assert_str_eq(cf->headers.via, "mcxproxy");
	ck_assert_uint_eq(cf->nlisteners, 1);
	ck_assert_int_eq(cf->listeners[0].role, ROLE_TRUSTED);
	ck_assert_str_eq(cf->listeners[0].address, "127.0.0.1:8080");
	ck_assert(!cf->listeners[0].tls.enabled);
	ck_assert_uint_eq(cf->listeners[0].nallow, 1);
	ck_assert_int_eq(cf->listeners[0].line, 2);
	ck_assert(!cf->has_admin);
	ck_assert_uint_eq(cf->nservers, 0);
	ck_assert_uint_eq(cf->npartners, 0);
	ck_assert_uint_eq(cf->nidm_servers, 0);
}
END_TEST

static const char full[] =
    "domain = \"MCX.Own.Example.\";\n"					/* 1 */
    "workers = 4;\n"
    "user = \"mcxproxy\"; group = \"mcxgroup\";\n"
    "log = { level = \"debug\"; access = \"access.log\";"
    " access_format = \"json\"; };\n"
    "limits = { max_connections = 100; max_header_bytes = 8192;\n"	/* 5 */
    "  max_body_bytes = 4294967296L; max_header_fields = 50; };\n"
    "timeouts = { tls_handshake = 2.5; request_header = 4;\n"
    "  client_idle = 120.0; upstream_connect = 1;\n"
    "  upstream_response = 45.5; drain = 5; };\n"
    "headers = { forwarded = \"both\"; via = \"edge-1.mcx\"; };\n"	/* 10 */
    "listeners = (\n"
    "  { role = \"ue\"; address = \"[::]:443\";\n"
    "    tls = { certificate = \"tls/cert.pem\"; key = \"tls/key.pem\";\n"
    "      client_auth = \"required\"; client_ca = \"tls/ca.pem\";\n"
    "      psk = \"tls/ue.psk\"; }; },\n"	/* 15 */
    "  { role = \"trusted\"; address = \"10.0.0.1:8080\";\n"
    "    allow = [\"10.0.0.0/24\", \"::1/128\"]; },\n"
    "  { role = \"partner\"; address = \"*:8443\";\n"
    "    tls = { certificate = \"tls/cert.pem\"; key = \"tls/key.pem\";\n"
    "      client_ca = \"tls/ca.pem\"; }; }\n"
    ");\n"
    "admin = { address = \"127.0.0.1:9090\"; };\n"
    "servers = (\n"
    "  { name = \"kms\"; hosts = [\"KMS.mcx.own.example\","
    " \"*.Wild.Example\"];\n"
    "    paths = [\"/keymanagement/\", \"/kms/\"];\n"			/* 25 */
    "    targets = [\"10.0.1.10:8080\", \"[2001:db8::10]:8443\"];\n"
    "    tls = { enabled = true; ca = \"tls/ca.pem\"; server_name ="
    " \"KMS.internal\";\n"
    "      certificate = \"tls/cert.pem\"; key = \"tls/key.pem\"; };\n"
    "    pool = { max_idle = 0; max_connections = 64; };\n"
    "    health = { path = \"/health\"; interval = 2; fails = 5; }; },\n"
    "  { name = \"gms\"; hosts = \"gms.mcx.own.example\";\n"
    "    targets = [\"10.0.1.20:8080\"]; }\n"
    ");\n"
    "partners = (\n"
    "  { domain = \"mcx.partner.example\"; hosts ="
    " [\"*.mcx.partner.example\"];\n"	/* 35 */
    "    proxy = [\"192.0.2.10:8443\"];\n"
    "    tls = { ca = \"tls/ca.pem\"; server_name ="
    " \"proxy.mcx.partner.example\"; };\n"
    "    pool = { max_idle = 4; };\n"
    "    asserted_identity = \"reject\"; },\n"
    "  { domain = \"other.example\"; hosts = [\"other.example\"];\n"	/* 40 */
    "    proxy = \"192.0.2.20:443\"; }\n"
    ");\n"
    "idm_servers = [\"idms.mcx.own.example\", \"*.idm.example\"];\n";

START_TEST(test_full_round_trip)
{
	const struct listener_conf *l;
	const struct server_conf *s;
	const struct partner_conf *p;

	expect_ok(full);
	ck_assert_str_eq(cf->domain, "mcx.own.example");
	ck_assert_uint_eq(cf->workers, 4);
	ck_assert_str_eq(cf->user, "mcxproxy");
	ck_assert_str_eq(cf->group, "mcxgroup");
	ck_assert_int_eq(cf->log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(cf->access, LOG_ACCESS_FILE);
	ck_assert_str_eq(cf->access_path, in_dir("access.log"));
	ck_assert_int_eq(cf->access_format, LOG_FORMAT_JSON);
	ck_assert_uint_eq(cf->limits.max_connections, 100);
	ck_assert_uint_eq(cf->limits.max_header_bytes, 8192);
	ck_assert_uint_eq(cf->limits.max_body_bytes, 4294967296ULL);
	ck_assert_uint_eq(cf->limits.max_header_fields, 50);
	ck_assert_double_eq(cf->timeouts.tls_handshake, 2.5);
	ck_assert_double_eq(cf->timeouts.request_header, 4);
	ck_assert_double_eq(cf->timeouts.client_idle, 120);
	ck_assert_double_eq(cf->timeouts.upstream_connect, 1);
	ck_assert_double_eq(cf->timeouts.upstream_response, 45.5);
	ck_assert_double_eq(cf->timeouts.drain, 5);
	ck_assert_int_eq(cf->headers.forwarded, FORWARDED_BOTH);
	ck_assert_str_eq(cf->headers.via, "edge-1.mcx");

	ck_assert_uint_eq(cf->nlisteners, 3);
	l = &cf->listeners[0];
	ck_assert_int_eq(l->role, ROLE_UE);
	ck_assert_int_eq(l->line, 12);
	ck_assert_str_eq(l->address, "[::]:443");
	ck_assert_int_eq(l->addr.ss.ss_family, AF_INET6);
	ck_assert_uint_eq(port_of(&l->addr), 443);
	ck_assert(l->tls.enabled);
	ck_assert_int_eq(l->tls.line, 13);
	ck_assert_str_eq(l->tls.certificate, in_dir("tls/cert.pem"));
	ck_assert_str_eq(l->tls.key, in_dir("tls/key.pem"));
	ck_assert_int_eq(l->tls.client_auth, CLIENT_AUTH_REQUIRED);
	ck_assert_str_eq(l->tls.client_ca, in_dir("tls/ca.pem"));
	ck_assert_str_eq(l->tls.psk, in_dir("tls/ue.psk"));
	ck_assert_uint_eq(l->nallow, 0);
	l = &cf->listeners[1];
	ck_assert_int_eq(l->role, ROLE_TRUSTED);
	ck_assert_int_eq(l->line, 16);
	ck_assert(!l->tls.enabled);
	ck_assert_uint_eq(l->nallow, 2);
	ck_assert_int_eq(l->allow[0].family, AF_INET);
	ck_assert_uint_eq(l->allow[0].prefix, 24);
	ck_assert_int_eq(l->allow[1].family, AF_INET6);
	ck_assert_uint_eq(l->allow[1].prefix, 128);
	l = &cf->listeners[2];
	ck_assert_int_eq(l->role, ROLE_PARTNER);
	ck_assert_str_eq(l->address, "*:8443");
	ck_assert_int_eq(l->addr.ss.ss_family, AF_INET6);
	/* Partner listeners require client certificates by default. */
	ck_assert_int_eq(l->tls.client_auth, CLIENT_AUTH_REQUIRED);
	ck_assert_ptr_null(l->tls.psk);

	ck_assert(cf->has_admin);
	ck_assert_uint_eq(port_of(&cf->admin), 9090);

	ck_assert_uint_eq(cf->nservers, 2);
	s = &cf->servers[0];
	ck_assert_str_eq(s->name, "kms");
	ck_assert_int_eq(s->line, 24);
	ck_assert_uint_eq(s->nhosts, 2);
	ck_assert_str_eq(s->hosts[0], "kms.mcx.own.example");
	ck_assert_str_eq(s->hosts[1], "*.wild.example");
	ck_assert_uint_eq(s->npaths, 2);
	ck_assert_str_eq(s->paths[0], "/keymanagement/");
	ck_assert_str_eq(s->paths[1], "/kms/");
	ck_assert_uint_eq(s->ntargets, 2);
	ck_assert_str_eq(s->targets[0].spec, "10.0.1.10:8080");
	ck_assert_uint_eq(port_of(&s->targets[0].addr), 8080);
	ck_assert_str_eq(s->targets[1].spec, "[2001:db8::10]:8443");
	ck_assert_int_eq(s->targets[1].addr.ss.ss_family, AF_INET6);
	ck_assert(s->tls.enabled);
	ck_assert_str_eq(s->tls.ca, in_dir("tls/ca.pem"));
	ck_assert_str_eq(s->tls.server_name, "kms.internal");
	ck_assert_str_eq(s->tls.certificate, in_dir("tls/cert.pem"));
	ck_assert_str_eq(s->tls.key, in_dir("tls/key.pem"));
	ck_assert_int_eq(s->tls.line, 27);
	ck_assert_uint_eq(s->pool.max_idle, 0);
	ck_assert_uint_eq(s->pool.max_connections, 64);
	ck_assert_str_eq(s->health.path, "/health");
	ck_assert_double_eq(s->health.interval, 2);
	ck_assert_uint_eq(s->health.fails, 5);
	s = &cf->servers[1];
	ck_assert_str_eq(s->name, "gms");
	ck_assert_int_eq(s->line, 31);
	ck_assert_uint_eq(s->nhosts, 1);
	ck_assert_str_eq(s->hosts[0], "gms.mcx.own.example");
	ck_assert_uint_eq(s->npaths, 0);
	ck_assert(!s->tls.enabled);
	ck_assert_ptr_null(s->tls.ca);
	ck_assert_uint_eq(s->pool.max_idle, 32);
	ck_assert_uint_eq(s->pool.max_connections, 512);
	ck_assert_ptr_null(s->health.path);
	ck_assert_double_eq(s->health.interval, 5);
	ck_assert_uint_eq(s->health.fails, 3);

	ck_assert_uint_eq(cf->npartners, 2);
	p = &cf->partners[0];
	ck_assert_str_eq(p->domain, "mcx.partner.example");
	ck_assert_int_eq(p->line, 35);
	ck_assert_str_eq(p->hosts[0], "*.mcx.partner.example");
	ck_assert_uint_eq(p->nproxies, 1);
	ck_assert_str_eq(p->proxies[0].spec, "192.0.2.10:8443");
	ck_assert(p->tls.enabled);
	ck_assert_str_eq(p->tls.server_name, "proxy.mcx.partner.example");
	ck_assert_ptr_null(p->tls.certificate);
	ck_assert_uint_eq(p->pool.max_idle, 4);
	ck_assert_uint_eq(p->pool.max_connections, 512);
	ck_assert_int_eq(p->asserted_identity, IDENTITY_REJECT);
	p = &cf->partners[1];
	ck_assert(p->tls.enabled);	/* the default toward partners */
	ck_assert_ptr_null(p->tls.ca);
	ck_assert_int_eq(p->asserted_identity, IDENTITY_STRIP);
	ck_assert_uint_eq(p->nproxies, 1);
	ck_assert_uint_eq(port_of(&p->proxies[0].addr), 443);

	ck_assert_uint_eq(cf->nidm_servers, 2);
	ck_assert_str_eq(cf->idm_servers[0], "idms.mcx.own.example");
	ck_assert_str_eq(cf->idm_servers[1], "*.idm.example");
}
END_TEST

START_TEST(test_shipped_example_parses)
{
	const char *srcdir = getenv("top_srcdir");
	char path[PATH_MAX];

	/* Its files live under /etc/mcxproxy: only their errors may show. */
	snprintf(path, sizeof(path), "%s/etc/mcxproxy.conf",
	    srcdir != NULL ? srcdir : ".");
	if (access(path, R_OK) == -1)
		return;
	cf = config_load(path, &errs);
	if (cf != NULL)
		return;
	for (char *line = strtok(errs.text, "\n"); line != NULL;
	    line = strtok(NULL, "\n"))
		ck_assert_msg(strstr(line, ": cannot read ") != NULL ||
		    strstr(line, ": access log folder ") != NULL,
		    "unexpected error in the shipped example: %s", line);
}
END_TEST

START_TEST(test_syntax_error)
{
	char want[PATH_MAX + 64];

	ck_assert_ptr_null(load(DOMAIN "workers = ;\n" TRUSTED));
	ck_assert_uint_eq(errs.count, 1);
	snprintf(want, sizeof(want), "%s:2: syntax error\n", conf);
	ck_assert_str_eq(errs.text, want);
	expect_error(MINIMAL "workers = 1;\nworkers = 2;\n", 4,
	    "duplicate setting name");
}
END_TEST

START_TEST(test_missing_file)
{
	char want[PATH_MAX + 64];

	snprintf(conf, sizeof(conf), "%s/absent.conf", dir);
	cf = config_load(conf, &errs);
	ck_assert_ptr_null(cf);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or "
	    "directory\n", conf);
	ck_assert_str_eq(errs.text, want);
}
END_TEST

START_TEST(test_unknown_keys)
{
	expect_error(MINIMAL "wrokers = 4;\n", 3,
	    "unknown setting \"wrokers\"");
	expect_error(DOMAIN
	    "listeners = (\n"
	    "  { role = \"trusted\"; address = \"127.0.0.1:80\";\n"
	    "    alow = [\"127.0.0.1\"]; allow = \"127.0.0.1\"; } );\n", 4,
	    "unknown setting \"alow\" in listeners.[0]");
	expect_error(MINIMAL "limits = {\n  max_body = 5; };\n", 4,
	    "unknown setting \"max_body\" in limits");
	expect_error(MINIMAL
	    "servers = ( { name = \"a\"; hosts = [\"a.example\"];\n"
	    "  targets = [\"10.0.0.1:80\"];\n"
	    "  tls = { enabled = true; verify = false; }; } );\n", 5,
	    "unknown setting \"verify\" in servers.[0].tls");
}
END_TEST

START_TEST(test_required)
{
	expect_error(TRUSTED, 1, "missing setting \"domain\"");
	expect_error(DOMAIN, 1, "missing setting \"listeners\"");
	expect_error(DOMAIN "\nlisteners = ();\n", 3,
	    "listeners must not be empty");
	expect_error(DOMAIN "listeners = (\n { address = \"[::1]:80\"; } );\n",
	    3, "missing setting \"role\" in listeners.[0]");
	expect_error(MINIMAL "servers = ( { name = \"a\";\n"
	    " hosts = []; } );\n", 4, "servers.[0].hosts must not be empty");
	expect_error(MINIMAL "servers = ( { name = \"a\";\n"
	    " hosts = [\"a.example\"]; } );\n", 3,
	    "missing setting \"targets\" in servers.[0]");
	expect_error(MINIMAL "partners = ( { domain = \"p.example\";\n"
	    " hosts = [\"p.example\"]; } );\n", 3,
	    "missing setting \"proxy\" in partners.[0]");
	expect_error(MINIMAL "admin = { };\n", 3,
	    "missing setting \"address\" in admin");
}
END_TEST

START_TEST(test_ranges)
{
	expect_error(MINIMAL "limits = { max_header_bytes = 100; };\n", 3,
	    "limits.max_header_bytes must be from 1024 to 1048576, not 100");
	expect_error(MINIMAL "limits = { max_header_bytes = 1048577; };\n", 3,
	    "limits.max_header_bytes must be from 1024 to 1048576, "
	    "not 1048577");
	expect_error(MINIMAL "workers = 65;\n", 3,
	    "workers must be from 0 to 64, not 65");
	expect_error(MINIMAL "limits = { max_body_bytes = -1; };\n", 3,
	    "limits.max_body_bytes must be from 0 to 4611686018427387904, "
	    "not -1");
	expect_error(MINIMAL "limits = {\n max_body_bytes = "
	    "4611686018427387905L; };\n", 4, "limits.max_body_bytes must be "
	    "from 0 to 4611686018427387904, not 4611686018427387905");
	expect_error(MINIMAL "servers = ( { name = \"a\"; "
	    "hosts = \"a.example\";"
	    " targets = \"10.0.0.1:80\";\n pool = { max_connections = 0; };\n"
	    " health = { fails = 1001; }; } );\n", 4,
	    "servers.[0].pool.max_connections must be from 1 to 1000000, "
	    "not 0");
	ck_assert_ptr_nonnull(strstr(errs.text, ":5: servers.[0].health.fails "
	    "must be from 1 to 1000, not 1001\n"));
	expect_error(MINIMAL "timeouts = { drain = 0; };\n", 3,
	    "timeouts.drain must be a number of seconds, more than 0 and at "
	    "most 86400");
	expect_error(MINIMAL "timeouts = { drain = -1.5; };\n", 3,
	    "timeouts.drain must be a number of seconds, more than 0 and at "
	    "most 86400");
	expect_error(MINIMAL "timeouts = { client_idle = 86400.5; };\n", 3,
	    "timeouts.client_idle must be a number of seconds, more than 0 "
	    "and at most 86400");

	/* The edges themselves are allowed. */
	expect_ok(MINIMAL "limits = { max_body_bytes = 0; "
	    "max_header_bytes = 1024; };\ntimeouts = { drain = 86400; "
	    "client_idle = 0.001; };\n");
	ck_assert_uint_eq(cf->limits.max_body_bytes, 0);
	ck_assert_double_eq(cf->timeouts.client_idle, 0.001);
	expect_ok(MINIMAL "limits = { max_body_bytes = 4611686018427387904L; "
	    "};\n");
	ck_assert_uint_eq(cf->limits.max_body_bytes, 1ULL << 62);
}
END_TEST

START_TEST(test_int_wrap)
{
	/* libconfig 1.5 reads 4294967296 as 0 without the L suffix. */
	expect_error(MINIMAL "limits = { max_body_bytes = 4294967296; };\n", 3,
	    "limits.max_body_bytes: integers past 2147483647 need an \"L\" "
	    "suffix (libconfig reads them wrapped)");
	expect_error(MINIMAL "limits = {\n  max_connections= 4294987296; };\n",
	    4, "limits.max_connections: integers past 2147483647 need an "
	    "\"L\" suffix (libconfig reads them wrapped)");
	expect_ok(MINIMAL "limits = { max_body_bytes = 2147483647; "
	    "max_connections = 0x10; };\n");
	ck_assert_uint_eq(cf->limits.max_body_bytes, 2147483647);
	ck_assert_uint_eq(cf->limits.max_connections, 16);
}
END_TEST

START_TEST(test_types)
{
	expect_error(MINIMAL "workers = \"4\";\n", 3,
	    "workers must be an integer");
	expect_error(MINIMAL "workers = 4.0;\n", 3,
	    "workers must be an integer");
	expect_error(MINIMAL "timeouts = { drain = \"5\"; };\n", 3,
	    "timeouts.drain must be a number of seconds, more than 0 and at "
	    "most 86400");
	expect_error(MINIMAL "log = { level = 3; };\n", 3,
	    "log.level must be a string");
	expect_error(MINIMAL "domain2 = 1;\nuser = \"\";\n", 4,
	    "user must not be empty");
	expect_error(MINIMAL "servers = ( { name = \"a\"; hosts = 5;\n"
	    " targets = [\"10.0.0.1:80\"]; tls = { enabled = 1; }; } );\n", 3,
	    "servers.[0].hosts must be a list of strings");
	ck_assert_ptr_nonnull(strstr(errs.text,
	    ":4: servers.[0].tls.enabled must be true or false\n"));
	/* libconfig refuses mixed arrays itself; lists may mix. */
	expect_error(MINIMAL "idm_servers = [\"a.example\", 5];\n", 3,
	    "mismatched element type in array");
	expect_error(MINIMAL "idm_servers = (\"a.example\",\n 5);\n", 4,
	    "idm_servers must be a list of strings");
	expect_error(DOMAIN "listeners = { role = \"ue\"; };\n", 2,
	    "listeners must be a list of groups: ( { ... }, ... )");
	expect_error(MINIMAL "limits = 5;\n", 3,
	    "limits must be a group: { ... }");
	expect_error(MINIMAL "log = { level = \"verbose\"; };\n", 3,
	    "log.level must be \"error\", \"warn\", \"info\" or \"debug\", "
	    "not \"verbose\"");
}
END_TEST

START_TEST(test_enums)
{
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"client\"; address = \"[::]:443\"; } );\n", 3,
	    "listeners.[0].role must be \"ue\", \"trusted\" or \"partner\", "
	    "not \"client\"");
	expect_error(MINIMAL "headers = { forwarded = \"yes\"; };\n", 3,
	    "headers.forwarded must be \"off\", \"x-forwarded-for\", "
	    "\"forwarded\" or \"both\", not \"yes\"");
	expect_error(MINIMAL "partners = ( { domain = \"p.example\";\n"
	    " hosts = \"p.example\"; proxy = \"192.0.2.1:443\";\n"
	    " asserted_identity = \"drop\"; } );\n", 5,
	    "partners.[0].asserted_identity must be \"strip\", \"pass\" or "
	    "\"reject\", not \"drop\"");
	expect_ok(MINIMAL "headers = { forwarded = \"x-forwarded-for\"; };\n"
	    "log = { level = \"error\"; access = \"off\"; };\n");
	ck_assert_int_eq(cf->headers.forwarded, FORWARDED_XFF);
	ck_assert_int_eq(cf->log_level, LOG_LEVEL_ERROR);
	ck_assert_int_eq(cf->access, LOG_ACCESS_OFF);
	expect_ok(MINIMAL "headers = { forwarded = \"forwarded\"; };\n"
	    "log = { level = \"warn\"; access = \"syslog\"; };\n");
	ck_assert_int_eq(cf->headers.forwarded, FORWARDED_RFC7239);
	ck_assert_int_eq(cf->log_level, LOG_LEVEL_WARN);
	ck_assert_int_eq(cf->access, LOG_ACCESS_SYSLOG);
	expect_error(MINIMAL "log = { access = \"stderr\";\n"
	    "  access_format = \"xml\"; };\n", 4,
	    "log.access_format must be \"text\" or \"json\", not \"xml\"");
	expect_error(MINIMAL "log = { access_format = \"JSON\"; };\n", 3,
	    "log.access_format must be \"text\" or \"json\", not \"JSON\"");
	expect_error(MINIMAL "log = { access_format = 1; };\n", 3,
	    "log.access_format must be a string");
	expect_ok(MINIMAL "log = { access = \"syslog\"; "
	    "access_format = \"json\"; };\n");
	ck_assert_int_eq(cf->access, LOG_ACCESS_SYSLOG);
	ck_assert_int_eq(cf->access_format, LOG_FORMAT_JSON);
	expect_ok(MINIMAL "log = { access_format = \"text\"; };\n");
	ck_assert_int_eq(cf->access_format, LOG_FORMAT_TEXT);
}
END_TEST

/* HTTP/2 keys (issue 11): protocols, pool streams, ALPN, limits.h2. */
START_TEST(test_http2_keys)
{
	expect_ok(MINIMAL "servers = ( { name = \"kms\"; hosts = \"k.example\";\n"
	    " targets = \"127.0.0.1:8001\"; } );\n"
	    "timeouts = { client_idle = 42; };\n");
	ck_assert_int_eq(cf->servers[0].protocol, PROTO_HTTP1);
	ck_assert_uint_eq(cf->servers[0].pool.max_streams, 100);
	ck_assert(cf->servers[0].pool.ping_interval == 30);
	/* Idle pooled connections: timeouts.client_idle, as before. */
	ck_assert(cf->servers[0].pool.idle_timeout == 42);
	ck_assert_uint_eq(cf->listeners[0].nalpn, 1);
	ck_assert_int_eq(cf->listeners[0].alpn[0], PROTO_HTTP1);
	ck_assert_uint_eq(cf->limits.h2.max_concurrent_streams, 100);
	ck_assert_uint_eq(cf->limits.h2.initial_window, 65535);

	expect_ok(DOMAIN "listeners = ( { role = \"ue\"; address = \"[::]:443\";\n"
	    " tls = { certificate = \"tls/cert.pem\"; key = \"tls/key.pem\"; };\n"
	    " alpn = [\"h2\", \"http/1.1\"]; } );\n"
	    "limits = { h2 = { max_concurrent_streams = 7;\n"
	    " initial_window = 1048576; }; };\n"
	    "servers = ( { name = \"kms\"; hosts = \"k.example\";\n"
	    " targets = \"127.0.0.1:8001\"; protocol = \"h2\";\n"
	    " pool = { max_streams = 10; ping_interval = 2.5;\n"
	    " idle_timeout = 9; }; } );\n"
	    "partners = ( { domain = \"p.example\"; hosts = \"p.example\";\n"
	    " proxy = \"192.0.2.1:443\"; protocol = \"h2\"; } );\n");
	ck_assert_uint_eq(cf->listeners[0].nalpn, 2);
	ck_assert_int_eq(cf->listeners[0].alpn[0], PROTO_H2);
	ck_assert_int_eq(cf->listeners[0].alpn[1], PROTO_HTTP1);
	ck_assert_uint_eq(cf->limits.h2.max_concurrent_streams, 7);
	ck_assert_uint_eq(cf->limits.h2.initial_window, 1048576);
	ck_assert_int_eq(cf->servers[0].protocol, PROTO_H2);
	ck_assert_uint_eq(cf->servers[0].pool.max_streams, 10);
	ck_assert(cf->servers[0].pool.ping_interval == 2.5);
	ck_assert(cf->servers[0].pool.idle_timeout == 9);
	ck_assert_int_eq(cf->partners[0].protocol, PROTO_H2);

	expect_error(MINIMAL "servers = ( { name = \"kms\"; hosts = \"k.example\";\n"
	    " targets = \"127.0.0.1:8001\"; protocol = \"h3\"; } );\n", 4,
	    "servers.[0].protocol must be \"http/1.1\" or \"h2\", not \"h3\"");
	expect_error(MINIMAL "servers = ( { name = \"kms\"; hosts = \"k.example\";\n"
	    " targets = \"127.0.0.1:8001\"; pool = { max_streams = 0; }; } );\n",
	    4, "servers.[0].pool.max_streams must be from 1 to 10000, not 0");
	expect_error(DOMAIN "listeners = ( { role = \"trusted\";\n"
	    " address = \"127.0.0.1:8080\"; allow = [\"127.0.0.0/8\"];\n"
	    " alpn = [\"h2\"]; } );\n", 4,
	    "alpn \"h2\" needs tls on the listener: HTTP/2 is offered to "
	    "clients over TLS only (no h2c)");
	expect_error(DOMAIN "listeners = ( { role = \"trusted\";\n"
	    " address = \"127.0.0.1:8080\"; allow = [\"127.0.0.0/8\"];\n"
	    " alpn = [\"http/1.1\", \"spdy/3\"]; } );\n", 4,
	    "listeners.[0].alpn must be \"http/1.1\" or \"h2\", not \"spdy/3\"");
	expect_error(DOMAIN "listeners = ( { role = \"trusted\";\n"
	    " address = \"127.0.0.1:8080\"; allow = [\"127.0.0.0/8\"];\n"
	    " alpn = [\"http/1.1\", \"http/1.1\"]; } );\n", 4,
	    "listeners.[0].alpn lists \"http/1.1\" twice");
	expect_error(MINIMAL "limits = { h2 = { initial_window = 0; }; };\n", 3,
	    "limits.h2.initial_window must be from 1 to 2147483647, not 0");
}
END_TEST

START_TEST(test_listener_tls)
{
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"ue\"; address = \"[::]:443\"; } );\n", 3,
	    "listener role \"ue\" requires tls: TLS is mandatory on HTTP-1");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"partner\"; address = \"[::]:443\";\n"
	    "    tls = { enabled = false; }; } );\n", 3,
	    "listener role \"partner\" requires tls: partner proxies are "
	    "authenticated by their certificates");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"partner\"; address = \"[::]:443\";\n"
	    "    tls = { certificate = \"tls/cert.pem\"; key = \"tls/key.pem\";\n"
	    "            client_auth = \"optional\"; client_ca = \"tls/ca.pem\"; };"
	    " } );\n", 4,
	    "listener role \"partner\" requires client_auth \"required\": a "
	    "partner is known by the domain its certificate names");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"partner\"; address = \"[::]:443\";\n"
	    "    tls = { certificate = \"tls/cert.pem\"; key = \"tls/key.pem\";"
	    " }; } );\n", 4,
	    "listener role \"partner\" needs client_ca: the CA that signs the "
	    "partners' proxy certificates");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"ue\"; address = \"[::]:443\";\n"
	    "    tls = { key = \"tls/key.pem\"; }; } );\n", 4,
	    "missing setting \"certificate\" in listeners.[0].tls");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"ue\"; address = \"[::]:443\";\n"
	    "    tls = { certificate = \"tls/cert.pem\"; key ="
	    " \"tls/key.pem\";\n"
	    "            client_auth = \"required\"; }; } );\n", 4,
	    "client_auth \"required\" needs client_ca in listeners.[0].tls");
	/* tls is optional on trusted listeners. */
	expect_ok(DOMAIN "listeners = (\n"
	    "  { role = \"trusted\"; address = \"[::1]:8443\";\n"
	    "    allow = \"::1\";\n"
	    "    tls = { certificate = \"tls/cert.pem\"; key ="
	    " \"tls/key.pem\"; };"
	    " } );\n");
	ck_assert(cf->listeners[0].tls.enabled);
	ck_assert_int_eq(cf->listeners[0].tls.client_auth, CLIENT_AUTH_NONE);
}
END_TEST

START_TEST(test_trusted_allow)
{
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\"; } );\n", 3,
	    "listener role \"trusted\" requires a non-empty allow list of "
	    "source networks");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\";\n"
	    "    allow = []; } );\n", 3,
	    "listener role \"trusted\" requires a non-empty allow list of "
	    "source networks");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\";\n"
	    "    allow = [\"10.0.0.0/24\",\n"
	    "             \"10.0.0.0/33\"]; } );\n", 5,
	    "invalid network \"10.0.0.0/33\" in listeners.[0].allow: prefix "
	    "length must be from 0 to 32");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"ue\"; address = \"[::]:443\";\n"
	    "    tls = { certificate = \"tls/cert.pem\"; key ="
	    " \"tls/key.pem\"; };\n"
	    "    allow = [\"10.0.0.0/8\"]; } );\n", 5,
	    "allow is only for listeners of role \"trusted\", or with "
	    "proxy_protocol (the balancers)");
}
END_TEST

START_TEST(test_proxy_protocol)
{
	expect_ok(DOMAIN "timeouts = { drain_grace = 0; };\n"
	    "listeners = (\n"
	    "  { role = \"ue\"; address = \"[::]:443\";\n"
	    "    tls = { certificate = \"tls/cert.pem\"; key ="
	    " \"tls/key.pem\"; };\n"
	    "    proxy_protocol = true; allow = [\"10.0.9.0/29\"]; },\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\";\n"
	    "    proxy_protocol = true; proxy_from = [\"10.0.9.1\"];\n"
	    "    allow = [\"10.0.0.0/24\"]; },\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:81\";\n"
	    "    allow = [\"10.0.0.0/24\"]; } );\n");
	ck_assert(cf->listeners[0].proxy_protocol);
	ck_assert_uint_eq(cf->listeners[0].nallow, 1);
	ck_assert_uint_eq(cf->listeners[0].nproxy_from, 0);
	ck_assert(cf->listeners[1].proxy_protocol);
	ck_assert_uint_eq(cf->listeners[1].nproxy_from, 1);
	ck_assert(!cf->listeners[2].proxy_protocol);
	ck_assert(cf->timeouts.proxy_header == 3.0);
	ck_assert(cf->timeouts.drain_grace == 0.0);
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\";\n"
	    "    proxy_protocol = true; allow = [\"10.0.0.0/24\"]; } );\n", 3,
	    "listener role \"trusted\" with proxy_protocol needs proxy_from "
	    "(the balancers); allow then admits the clients the headers carry");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"partner\"; address = \"10.0.0.1:80\";\n"
	    "    tls = { certificate = \"tls/cert.pem\"; key ="
	    " \"tls/key.pem\"; client_ca = \"tls/cert.pem\"; };\n"
	    "    proxy_protocol = true; } );\n", 3,
	    "proxy_protocol needs the balancers' addresses: proxy_from = "
	    "[\"10.0.0.0/24\"] (or allow, when proxy_from is absent); a PROXY "
	    "header from anyone else would let them forge client addresses");
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\";\n"
	    "    allow = [\"10.0.0.0/24\"];\n"
	    "    proxy_from = [\"10.0.9.1\"]; } );\n", 5,
	    "proxy_from needs proxy_protocol = true");
	expect_error(DOMAIN "timeouts = { proxy_header = 0; };\n"
	    "listeners = (\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\";\n"
	    "    allow = [\"10.0.0.0/24\"]; } );\n", 2,
	    "timeouts.proxy_header must be a number of seconds, more than 0 "
	    "and at most 86400");
	expect_error(DOMAIN "timeouts = { drain_grace = -1; };\n"
	    "listeners = (\n"
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\";\n"
	    "    allow = [\"10.0.0.0/24\"]; } );\n", 2,
	    "timeouts.drain_grace must be a number of seconds, 0 or more and "
	    "at most 86400");
}
END_TEST

START_TEST(test_addresses)
{
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"trusted\"; address = \"localhost:80\";\n"
	    "    allow = \"127.0.0.1\"; } );\n", 3,
	    "invalid address \"localhost:80\" in listeners.[0].address: host "
	    "must be a numeric IP address (names are not resolved)");
	expect_error(MINIMAL "admin = { address = \"127.0.0.1\"; };\n", 3,
	    "invalid address \"127.0.0.1\" in admin.address: missing port "
	    "(\"host:port\")");
	expect_error(MINIMAL "servers = ( { name = \"a\"; "
	    "hosts = \"a.example\";\n"
	    "  targets = [\"10.0.0.1:80\",\n"
	    "             \"10.0.0.2:0\"]; } );\n", 5,
	    "invalid address \"10.0.0.2:0\" in servers.[0].targets: port must "
	    "be a number from 1 to 65535");
}
END_TEST

START_TEST(test_duplicates)
{
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"trusted\"; address = \"[::]:80\"; allow = \"::1\";"
	    " },\n"
	    "  { role = \"trusted\"; address = \"*:80\"; allow = \"::1\"; }"
	    " );\n",
	    4, "listener address \"*:80\" is already used at line 3");
	expect_error(MINIMAL "admin = {\n address = \"127.0.0.1:8080\"; };\n",
	    3, "admin address is already used by the listener at line 2");
	expect_error(MINIMAL "servers = (\n"
	    "  { name = \"a\"; hosts = \"a.example\"; targets ="
	    " \"10.0.0.1:80\"; },\n"
	    "  { name = \"a\"; hosts = \"b.example\"; targets ="
	    " \"10.0.0.1:80\"; }"
	    ");\n", 5, "server name \"a\" is already used at line 4");
	expect_error(MINIMAL "servers = (\n"
	    "  { name = \"a\"; hosts = \"A.example\"; targets ="
	    " \"10.0.0.1:80\"; },\n"
	    "  { name = \"b\"; hosts = \"a.example\"; targets ="
	    " \"10.0.0.1:80\"; }"
	    ");\n", 5, "server \"b\" repeats a route of server \"a\" (line 4) "
	    "for host \"a.example\": give them different paths");
	expect_error(MINIMAL "servers = (\n"
	    "  { name = \"a\"; hosts = \"a.example\"; paths = [\"/x/\","
	    " \"/y/\"];"
	    " targets = \"10.0.0.1:80\"; },\n"
	    "  { name = \"b\"; hosts = \"a.example\"; paths = \"/y/\";"
	    " targets = \"10.0.0.1:80\"; } );\n", 5,
	    "server \"b\" repeats a route of server \"a\" (line 4) for host "
	    "\"a.example\": give them different paths");
	/* The same host split by paths, or by path and default, is fine. */
	expect_ok(MINIMAL "servers = (\n"
	    "  { name = \"a\"; hosts = \"a.example\"; paths = \"/x/\";"
	    " targets = \"10.0.0.1:80\"; },\n"
	    "  { name = \"b\"; hosts = \"a.example\"; paths = \"/y/\";"
	    " targets = \"10.0.0.1:80\"; },\n"
	    "  { name = \"c\"; hosts = \"a.example\"; targets ="
	    " \"10.0.0.1:80\"; }"
	    " );\n");
	expect_error(MINIMAL "partners = (\n"
	    "  { domain = \"p.example\"; hosts = \"*.p.example\";"
	    " proxy = \"192.0.2.1:443\"; },\n"
	    "  { domain = \"P.example\"; hosts = \"*.p.example\";"
	    " proxy = \"192.0.2.2:443\"; } );\n", 5,
	    "partner domain \"p.example\" is already used at line 4");
	ck_assert_ptr_nonnull(strstr(errs.text, ":5: host \"*.p.example\" "
	    "already belongs to the partner at line 4\n"));
}
END_TEST

/* An IdM host listed as a server or partner host too is refused by -t;
 * a server wildcard that also covers the IdM name is fine (IdM wins). */
START_TEST(test_idm_not_a_destination)
{
	expect_error(MINIMAL "servers = (\n"
	    "  { name = \"kms\"; hosts = [\"kms.example\", \"idms.example\"];"
	    " targets = \"10.0.0.1:80\"; } );\n"
	    "idm_servers = [\"idms.example\"];\n", 5,
	    "IdM host \"idms.example\" is also a host of server \"kms\" "
	    "(line 4): CSC-1 goes directly to the IdM server, never through "
	    "the proxy");
	expect_error(MINIMAL "partners = (\n"
	    "  { domain = \"p.example\"; hosts = \"*.p.example\";"
	    " proxy = \"192.0.2.1:443\"; } );\n"
	    "idm_servers = \"*.p.example\";\n", 5,
	    "IdM host \"*.p.example\" is also a host of partner \"p.example\" "
	    "(line 4): CSC-1 goes directly to the IdM server, never through "
	    "the proxy");
	expect_ok(MINIMAL "servers = (\n"
	    "  { name = \"all\"; hosts = \"*.example\";"
	    " targets = \"10.0.0.1:80\"; } );\n"
	    "idm_servers = [\"idms.example\"];\n");
}
END_TEST

START_TEST(test_files)
{
	char msg[PATH_MAX + 128];

	snprintf(msg, sizeof(msg), "cannot read certificate \"%s\": No such "
	    "file or directory", in_dir("tls/missing.pem"));
	expect_error(DOMAIN "listeners = (\n"
	    "  { role = \"ue\"; address = \"[::]:443\";\n"
	    "    tls = { certificate = \"tls/missing.pem\";\n"
	    "            key = \"tls/key.pem\"; }; } );\n", 4, msg);
	expect_error(MINIMAL "servers = ( { name = \"a\"; "
	    "hosts = \"a.example\";\n"
	    "  targets = \"10.0.0.1:80\";\n"
	    "  tls = { enabled = true; ca = \"/nonexistent/ca.pem\"; }; } );\n",
	    5, "cannot read ca \"/nonexistent/ca.pem\": No such file or "
	    "directory");
	expect_error(MINIMAL "servers = ( { name = \"a\"; "
	    "hosts = \"a.example\";\n"
	    "  targets = \"10.0.0.1:80\";\n"
	    "  tls = { certificate = \"tls/cert.pem\"; }; } );\n",
	    5, "certificate and key go together in servers.[0].tls");
	snprintf(msg, sizeof(msg), "access log folder \"%s\": No such file or "
	    "directory", in_dir("logs"));
	expect_error(MINIMAL "log = { access = \"logs/access.log\"; };\n", 3,
	    msg);
	snprintf(msg, sizeof(msg), "access log \"%s\" is a folder",
	    in_dir("tls"));
	expect_error(MINIMAL "log = { access = \"tls\"; };\n", 3, msg);
}
END_TEST

START_TEST(test_relative_to_config_folder)
{
	char cwd[PATH_MAX];

	/* Whatever the working folder, paths follow the file's folder. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir("/"), 0);
	expect_ok(DOMAIN "listeners = (\n"
	    "  { role = \"ue\"; address = \"[::]:443\";\n"
	    "    tls = { certificate = \"tls/cert.pem\";\n"
	    "            key = \"./tls/key.pem\"; }; } );\n");
	ck_assert_str_eq(cf->listeners[0].tls.certificate,
	    in_dir("tls/cert.pem"));
	ck_assert_str_eq(cf->listeners[0].tls.key, in_dir("./tls/key.pem"));

	/* A relative configuration path still gives absolute file paths. */
	ck_assert_int_eq(chdir(dir), 0);
	config_free(cf);
	cf = config_load("mcx.conf", &errs);
	ck_assert_msg(cf != NULL, "%s", errs.text);
	ck_assert_int_eq(cf->listeners[0].tls.certificate[0], '/');
	ck_assert_str_eq(cf->listeners[0].tls.certificate,
	    in_dir("tls/cert.pem"));
	ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

START_TEST(test_include)
{
	char msg[PATH_MAX + 64];

	write_file("servers.conf", "servers = (\n"
	    "  { name = \"a\"; hosts = \"a.example\";\n"
	    "    targets = \"10.0.0.1:80\"; bogus = 1; } );\n");
	ck_assert_ptr_null(load(MINIMAL "@include \"servers.conf\"\n"));
	snprintf(msg, sizeof(msg), "%s/servers.conf:3: unknown setting "
	    "\"bogus\" in servers.[0]\n", dir);
	ck_assert_msg(strstr(errs.text, msg) != NULL || strstr(errs.text,
	    "/servers.conf:3: unknown setting \"bogus\" in servers.[0]\n"),
	    "got:\n%s", errs.text);
}
END_TEST

START_TEST(test_names_and_paths)
{
	expect_error(MINIMAL "servers = ( { name = \"k m s\";\n"
	    " hosts = \"a.example\"; targets = \"10.0.0.1:80\"; } );\n", 3,
	    "servers.[0].name \"k m s\" must be a token: letters, digits, "
	    "\".\", \"-\" and \"_\"");
	expect_error(MINIMAL "headers = { via = \"my proxy\"; };\n", 3,
	    "headers.via \"my proxy\" must be a token: letters, digits, "
	    "\".\", \"-\" and \"_\"");
	expect_error("domain = \"*.own.example\";\n" TRUSTED, 1,
	    "domain \"*.own.example\" is not a valid host name or IP literal");
	expect_error(MINIMAL "servers = ( { name = \"a\";\n"
	    " hosts = [\"ok.example\", \"a..example\", \"*\", \"x.example:80\","
	    " \"*.[::1]\", \"b_c.example\"];\n"
	    " targets = \"10.0.0.1:80\"; } );\n", 4,
	    "invalid host pattern \"a..example\" in servers.[0].hosts");
	ck_assert_ptr_nonnull(strstr(errs.text,
	    ":4: invalid host pattern \"*\" in servers.[0].hosts\n"));
	ck_assert_ptr_nonnull(strstr(errs.text,
	    ":4: invalid host pattern \"x.example:80\" in "
	    "servers.[0].hosts\n"));
	ck_assert_ptr_nonnull(strstr(errs.text,
	    ":4: invalid host pattern \"*.[::1]\" in servers.[0].hosts\n"));
	ck_assert_ptr_null(strstr(errs.text, "b_c.example"));
	ck_assert_uint_eq(errs.count, 4);
	expect_error(MINIMAL "servers = ( { name = \"a\"; "
	    "hosts = \"a.example\";\n"
	    " paths = [\"/ok/\", \"nope/\"]; targets = \"10.0.0.1:80\";\n"
	    " health = { path = \"health\"; }; } );\n", 4,
	    "invalid path \"nope/\" in servers.[0].paths: a path prefix starts "
	    "with \"/\" and has no spaces");
	ck_assert_ptr_nonnull(strstr(errs.text, ":5: servers.[0].health.path "
	    "\"health\" must start with \"/\" and have no spaces\n"));
	expect_ok(MINIMAL "servers = ( { name = \"a\";\n"
	    " hosts = [\"[2001:DB8::1]\", \"192.0.2.1\", \"Trailing.Dot.\"];\n"
	    " targets = \"10.0.0.1:80\"; } );\n");
	ck_assert_str_eq(cf->servers[0].hosts[0], "[2001:db8::1]");
	ck_assert_str_eq(cf->servers[0].hosts[1], "192.0.2.1");
	ck_assert_str_eq(cf->servers[0].hosts[2], "trailing.dot");
}
END_TEST

START_TEST(test_collects_every_error)
{
	ck_assert_ptr_null(load(DOMAIN
	    "workers = 1000;\n"						/* 2 */
	    "listeners = (\n"
	    "  { role = \"ue\"; address = \"[::]:443\"; },\n"		/* 4 */
	    "  { role = \"trusted\"; address = \"10.0.0.1:80\";\n"
	    "    allow = \"10.0.0.0/8\"; colour = \"red\"; } );\n"	/* 6 */
	    "timeouts = { drain = 0; };\n"));				/* 7 */
	ck_assert_uint_eq(errs.count, 4);
	ck_assert_ptr_nonnull(strstr(errs.text, ":2: workers must be"));
	ck_assert_ptr_nonnull(strstr(errs.text, ":4: listener role \"ue\""));
	ck_assert_ptr_nonnull(strstr(errs.text, ":6: unknown setting "
	    "\"colour\" in listeners.[1]"));
	ck_assert_ptr_nonnull(strstr(errs.text, ":7: timeouts.drain must"));
}
END_TEST

START_TEST(test_errlist)
{
	struct errlist e = { 0 };

	errlist_add(&e, "a.conf", 3, "bad %s", "thing");
	errlist_add(&e, "a.conf", 0, "no line");
	ck_assert_uint_eq(e.count, 2);
	ck_assert_str_eq(e.text, "a.conf:3: bad thing\na.conf: no line\n");
	ck_assert_uint_eq(e.len, strlen(e.text));
	errlist_fini(&e);
	ck_assert_ptr_null(e.text);
	ck_assert_uint_eq(e.count, 0);
	config_free(NULL);
}
END_TEST

static void
norm_is(const char *in, const char *want)
{
	char out[256];
	bool ok = host_normalize(in, strlen(in), out, sizeof(out));

	if (want == NULL) {
		ck_assert_msg(!ok, "\"%s\" normalized to \"%s\"", in, out);
		return;
	}
	ck_assert_msg(ok, "\"%s\" rejected", in);
	ck_assert_str_eq(out, want);
}

START_TEST(test_normalize_host)
{
	char out[16], small[8], big[300];

	norm_is("Example.COM", "example.com");
	norm_is("example.com.", "example.com");
	norm_is("example.com:443", "example.com");
	norm_is("example.com.:8080", "example.com");
	norm_is("example.com:", "example.com");
	norm_is("under_score.example", "under_score.example");
	norm_is("xn--bcher-kva.example", "xn--bcher-kva.example");
	norm_is("192.0.2.1:80", "192.0.2.1");
	norm_is("[::1]:443", "[::1]");
	norm_is("[::1]", "[::1]");
	norm_is("[2001:DB8:0::1]:8443", "[2001:db8::1]");
	norm_is("localhost", "localhost");

	norm_is("", NULL);
	norm_is(".", NULL);
	norm_is(".example.com", NULL);
	norm_is("a..example", NULL);
	norm_is("example.com..", NULL);
	norm_is("exa mple.com", NULL);
	norm_is("exa/mple.com", NULL);
	norm_is("*.example.com", NULL);
	norm_is("example.com:x", NULL);
	norm_is("example.com:65536", NULL);
	norm_is("example.com:80:80", NULL);
	norm_is("::1", NULL);
	norm_is("[::1", NULL);
	norm_is("[::1]x", NULL);
	norm_is("[::1]:x", NULL);
	norm_is("[example.com]", NULL);
	norm_is("[fe80::1%25eth0]", NULL);
	norm_is("user@example.com", NULL);

	/* A label of 64 characters, a name of 254. */
	memset(big, 'a', 64);
	big[64] = '\0';
	norm_is(big, NULL);
	big[63] = '\0';
	norm_is(big, big);
	memset(big, 'a', 254);
	for (int i = 50; i < 254; i += 50)
		big[i] = '.';
	big[254] = '\0';
	norm_is(big, NULL);

	/* The length is honoured: no NUL needed, none read past. */
	ck_assert(host_normalize("a.example.com", 9, out, sizeof(out)));
	ck_assert_str_eq(out, "a.example");
	ck_assert(!host_normalize("abc\0def", 7, out, sizeof(out)));
	/* Too small an output is a refusal, not a truncation. */
	ck_assert(host_normalize("abcdefg", 7, small, sizeof(small)));
	ck_assert(!host_normalize("abcdefgh", 8, small, sizeof(small)));
	ck_assert(!host_normalize("[2001:db8::1]", 13, small,
	    sizeof(small)));
}
END_TEST

START_TEST(test_host_match)
{
	ck_assert(host_match("kms.example", "kms.example"));
	ck_assert(host_match("kms.example", "KMS.Example"));
	ck_assert(!host_match("kms.example", "kms.example.org"));
	ck_assert(!host_match("kms.example", "x.kms.example"));
	ck_assert(host_match("*.example", "kms.example"));
	ck_assert(host_match("*.example", "a.b.example"));
	ck_assert(!host_match("*.example", "example"));
	ck_assert(!host_match("*.example", ".example"));
	ck_assert(!host_match("*.example", "badexample"));
	ck_assert(!host_match("*.example", "kms.example.org"));
	ck_assert(host_match("[::1]", "[::1]"));
	ck_assert(host_match("192.0.2.1", "192.0.2.1"));
	ck_assert(!host_match("192.0.2.1", "192.0.2.10"));
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_unchecked_fixture(tc, setup_base, teardown_base);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_minimal_defaults);
	tcase_add_test(tc, test_full_round_trip);
	tcase_add_test(tc, test_shipped_example_parses);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_required);
	tcase_add_test(tc, test_ranges);
	tcase_add_test(tc, test_int_wrap);
	tcase_add_test(tc, test_types);
	tcase_add_test(tc, test_enums);
	tcase_add_test(tc, test_http2_keys);
	tcase_add_test(tc, test_listener_tls);
	tcase_add_test(tc, test_trusted_allow);
	tcase_add_test(tc, test_proxy_protocol);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_idm_not_a_destination);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_relative_to_config_folder);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_names_and_paths);
	tcase_add_test(tc, test_collects_every_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("hosts");
	tcase_add_test(tc, test_errlist);
	tcase_add_test(tc, test_normalize_host);
	tcase_add_test(tc, test_host_match);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
