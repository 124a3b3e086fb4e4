/* psk: pre-shared key files (see psk.h). */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "errlist.h"
#include "psk.h"
#include "xalloc.h"

#define PSK_MIN	16	/* bytes: 128-bit keys at least */
#define PSK_MAX	64	/* bytes: what OpenSSL's PSK callbacks take */
#define ID_MAX	128	/* RFC 4279 allows 2^16 - 1; identities here are short */

struct psk_entry {
	char *identity;
	unsigned char key[PSK_MAX];
	size_t keylen;
};

struct psk_table {
	struct psk_entry *v;
	size_t n;
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses one "identity:hexkey" line into e; returns a static error or NULL. */
static const char *
parse_line(char *line, struct psk_entry *e)
{
	char *colon = strchr(line, ':'), *hex;
	size_t hl;

	if (colon == NULL)
		return "expected \"identity:hexkey\"";
	*colon = '\0';
	hex = colon + 1;
	hl = strlen(hex);
	if (colon == line)
		return "empty identity";
	if (strlen(line) > ID_MAX)
		return "identity longer than 128 bytes";
	if (hl % 2 != 0 || hl / 2 < PSK_MIN || hl / 2 > PSK_MAX)
		return "the key must be 32 to 128 hex digits (16 to 64 bytes)";
	for (size_t i = 0; i < hl; i += 2) {
		int hi = hexval((unsigned char)hex[i]), lo = hexval((unsigned char)hex[i + 1]);

		if (hi < 0 || lo < 0)
			return "the key is not hexadecimal";
		e->key[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	e->keylen = hl / 2;
	e->identity = xstrdup(line);
	return NULL;
}

struct psk_table *
psk_load(const char *path, struct errlist *errs)
{
	struct psk_table *t;
	FILE *f = fopen(path, "r");
	/*
	 * Whole lines, however long: fgets() into a fixed buffer cut a long
	 * line in two, and the tail of a long comment was read as a line of
	 * its own (a "retired" key in a comment became a key).  The buffer
	 * starts larger than any valid line, so getline() only moves it, and
	 * leaves an unwiped copy behind, for lines that are no key anyway.
	 */
	size_t cap = 1024;
	char *line = xmalloc(cap);
	ssize_t got;
	unsigned before = errs->count;
	int lineno = 0;

	if (f == NULL) {
		errlist_add(errs, path, 0, "cannot read PSK file: %s", strerror(errno));
		free(line);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	while ((got = getline(&line, &cap, f)) != -1) {
		size_t n = (size_t)got;
		struct psk_entry e = { 0 };
		const char *err;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
		    line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		/* The line is parsed as a C string: a NUL would silently
		 * drop the rest of it. */
		if (memchr(line, '\0', n) != NULL) {
			errlist_add(errs, path, lineno, "NUL byte in the line");
			continue;
		}
		if ((err = parse_line(line, &e)) != NULL) {
			errlist_add(errs, path, lineno, "%s", err);
			continue;
		}
		if (psk_find(t, e.identity, strlen(e.identity), &n) != NULL) {
			errlist_add(errs, path, lineno, "identity \"%s\" repeated",
			    e.identity);
			OPENSSL_cleanse(e.key, sizeof(e.key));
			free(e.identity);
			continue;
		}
		t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
		t->v[t->n++] = e;
		OPENSSL_cleanse(&e, sizeof(e));
	}
	OPENSSL_cleanse(line, cap);
	free(line);
	fclose(f);
	if (t->n == 0 && errs->count == before)
		errlist_add(errs, path, lineno, "no \"identity:hexkey\" line");
	if (errs->count != before) {
		psk_free(t);
		return NULL;
	}
	return t;
}

void
psk_free(struct psk_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		OPENSSL_cleanse(t->v[i].key, sizeof(t->v[i].key));
		free(t->v[i].identity);
	}
	free(t->v);
	free(t);
}

const unsigned char *
psk_find(const struct psk_table *t, const char *id, size_t len, size_t *keylen)
{
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->v[i].identity) == len &&
		    memcmp(t->v[i].identity, id, len) == 0) {
			*keylen = t->v[i].keylen;
			return t->v[i].key;
		}
	return NULL;
}
