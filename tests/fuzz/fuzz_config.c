/*
 * fuzz_config: libFuzzer target for config_load() (src/config.c, ctab.c,
 * under libconfig).  The input is written to a file in a private folder
 * and loaded from there, as `mcxproxy -t FILE` would.  Every allocation is
 * released (config_free, errlist_fini), so a leak is a finding.
 *
 * Paths in the input are only checked with access(2) and stat(2), which
 * are cheap whatever they name.  An @include is the one way the loader
 * would read another file, and an input could include /dev/zero or a
 * FIFO and hang the run: such inputs are refused before loading.
 *
 * Checked beyond "no crash": a NULL result comes with errors, each a
 * "FILE:LINE: message" line, and a loaded configuration keeps the
 * promises config.h makes (defaults applied, values in range, roles and
 * TLS consistent, absolute paths, normalized hosts).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "fuzz_util.h"
#include "log.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

/*
 * libconfig 1.5 (Debian 12) leaks a string token that a syntax error
 * leaves behind: a file holding just `""` leaks its 64-byte buffer
 * (strbuf_append), `"" ]` a 1-byte one (libconfig_yylex).  Those are its
 * scanner's, not the loader's (which always calls config_destroy); a leak
 * of anything else, libconfig's settings included, still fails the run.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

/* ... and is not worth a report on every input that hits it. */
const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static const char *path;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	path = fz_file_init("fuzz_config", "fuzz.conf");
	/* Warnings ("settings ignored while enabled = false") are not
	 * findings; keep the fuzzer's output readable. */
	log_init(LOG_LEVEL_ERROR, LOG_ACCESS_OFF, LOG_FORMAT_TEXT, NULL);
	return 0;
}

static bool
contains_nocase(const uint8_t *d, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp((const char *)d + i, lit, k) == 0)
			return true;
	return false;
}

/* What host_normalize() makes: lower case, no trailing dot. */
static void
check_host(const char *what, const char *h)
{
	size_t n;

	if (h == NULL || (n = strlen(h)) == 0)
		fz_die("%s: empty host", what);
	if (h[n - 1] == '.')
		fz_die("%s: host \"%s\" keeps its trailing dot", what, h);
	for (const char *p = h; *p != '\0'; p++)
		if (isupper((unsigned char)*p))
			fz_die("%s: host \"%s\" is not lower case", what, h);
}

static void
check_path(const char *what, const char *p)
{
	if (p != NULL && p[0] != '/')
		fz_die("%s: path \"%s\" is not absolute", what, p);
}

static void
check_tls_client(const char *what, const struct tls_client_conf *t)
{
	check_path(what, t->ca);
	check_path(what, t->certificate);
	check_path(what, t->key);
	if ((t->certificate == NULL) != (t->key == NULL))
		fz_die("%s: a certificate without a key", what);
}

static void
check_loaded(const struct config *c)
{
	if (c->file == NULL || strcmp(c->file, path) != 0 || c->dir == NULL)
		fz_die("file \"%s\", dir \"%s\"", c->file ? c->file : "(null)",
		    c->dir ? c->dir : "(null)");
	check_host("domain", c->domain);
	if (c->workers < 1 || c->workers > 64)
		fz_die("workers %u", c->workers);
	if (c->limits.max_connections < 1 || c->limits.max_header_bytes < 1024 ||
	    c->limits.max_header_bytes > 1048576 ||
	    c->limits.max_header_fields < 1 || c->limits.max_header_fields > 10000 ||
	    c->limits.max_body_bytes > (1ULL << 62))
		fz_die("limits out of range");
	if (!(c->timeouts.tls_handshake > 0 && c->timeouts.request_header > 0 &&
	    c->timeouts.client_idle > 0 && c->timeouts.upstream_connect > 0 &&
	    c->timeouts.upstream_response > 0 && c->timeouts.drain > 0 &&
	    c->timeouts.tls_handshake <= 86400 && c->timeouts.request_header <= 86400 &&
	    c->timeouts.client_idle <= 86400 && c->timeouts.upstream_connect <= 86400 &&
	    c->timeouts.upstream_response <= 86400 && c->timeouts.drain <= 86400))
		fz_die("a timeout out of range");
	if (c->headers.via == NULL || c->headers.via[0] == '\0')
		fz_die("no Via pseudonym");
	if ((c->access == LOG_ACCESS_FILE) != (c->access_path != NULL))
		fz_die("access log file without a path, or the reverse");
	check_path("log.access", c->access_path);
	if (c->nlisteners == 0)
		fz_die("no listener");
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];
		const struct tls_server_conf *t = &l->tls;

		if (l->address == NULL || l->addr.len == 0)
			fz_die("listener %zu without an address", i);
		if (l->role == ROLE_UE && !t->enabled)
			fz_die("listener %zu: role ue without TLS", i);
		if (l->role == ROLE_PARTNER && (!t->enabled ||
		    t->client_auth != CLIENT_AUTH_REQUIRED || t->client_ca == NULL))
			fz_die("listener %zu: partner without required client "
			    "certificates", i);
		if ((l->role == ROLE_TRUSTED) != (l->nallow > 0))
			fz_die("listener %zu: allow list and role disagree", i);
		if (t->enabled && (t->certificate == NULL || t->key == NULL))
			fz_die("listener %zu: TLS without certificate and key", i);
		if (t->enabled && t->client_auth != CLIENT_AUTH_NONE &&
		    t->client_ca == NULL)
			fz_die("listener %zu: client_auth without client_ca", i);
		check_path("listener", t->certificate);
		check_path("listener", t->key);
		check_path("listener", t->client_ca);
		check_path("listener", t->psk);
		check_path("listener", t->crl);
		check_path("listener", t->ocsp_response);
		check_path("listener", t->ticket_key_file);
		for (size_t k = 0; k < t->ncertificates; k++) {
			check_path("listener", t->certificates[k].certificate);
			check_path("listener", t->certificates[k].key);
		}
	}
	for (size_t i = 0; i < c->nservers; i++) {
		const struct server_conf *s = &c->servers[i];

		if (s->name == NULL || s->nhosts == 0 || s->ntargets == 0)
			fz_die("server %zu without name, hosts or targets", i);
		for (size_t k = 0; k < s->nhosts; k++)
			check_host("server host", s->hosts[k]);
		for (size_t k = 0; k < s->npaths; k++)
			if (s->paths[k][0] != '/')
				fz_die("server path \"%s\"", s->paths[k]);
		for (size_t k = 0; k < s->ntargets; k++)
			if (s->targets[k].spec == NULL || s->targets[k].addr.len == 0)
				fz_die("server %zu: target %zu unset", i, k);
		check_tls_client("server tls", &s->tls);
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->servers[j].name, s->name) == 0)
				fz_die("server name \"%s\" twice", s->name);
	}
	for (size_t i = 0; i < c->npartners; i++) {
		const struct partner_conf *p = &c->partners[i];

		check_host("partner domain", p->domain);
		if (p->nhosts == 0 || p->nproxies == 0)
			fz_die("partner %zu without hosts or proxies", i);
		for (size_t k = 0; k < p->nhosts; k++)
			check_host("partner host", p->hosts[k]);
		check_tls_client("partner tls", &p->tls);
	}
	for (size_t i = 0; i < c->nidm_servers; i++)
		check_host("idm_servers", c->idm_servers[i]);
}

/*
 * Errors are "FILE:LINE: message\n" lines (LINE missing when the file could
 * not be read at all).  A message may quote a string from the file, and a
 * libconfig string may hold "\n": only the first line and the count of
 * lines can be checked.
 */
static void
check_errors(const struct errlist *e)
{
	const char *p = e->text, *nl;
	unsigned lines = 0;

	if (e->count == 0 || p == NULL || strlen(p) != e->len || e->len == 0 ||
	    p[e->len - 1] != '\n')
		fz_die("config_load failed without a proper error list");
	nl = strchr(p, '\n');
	if (memmem(p, (size_t)(nl - p), ": ", 2) == NULL)
		fz_die("error line without \"FILE:LINE: \": %s", p);
	for (; *p != '\0'; p++)
		lines += *p == '\n';
	if (lines < e->count)
		fz_die("%u errors in %u lines", e->count, lines);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errlist errs = { 0 };
	struct config *c;

	if (contains_nocase(data, size, "@include"))
		return -1;
	fz_file_write(data, size);
	c = config_load(path, &errs);
	if (c != NULL) {
		if (errs.count != 0 || errs.text != NULL)
			fz_die("loaded with %u errors", errs.count);
		check_loaded(c);
		config_free(c);
	} else
		check_errors(&errs);
	errlist_fini(&errs);
	return 0;
}
