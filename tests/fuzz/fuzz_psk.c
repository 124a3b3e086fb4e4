/*
 * fuzz_psk: libFuzzer target for psk_load() (src/psk.c).  The input is
 * written to a file in a private folder and loaded from there.
 *
 * Beyond "no crash, no leak", the result is compared with a reference
 * reading of the format psk.h documents: lines end at LF; trailing CR,
 * SP and HTAB are not part of a line; blank lines and lines starting with
 * '#' are skipped; every other line is "identity:hexkey" with an identity
 * of 1 to 128 bytes before the first ':' and 32 to 128 hex digits after
 * it; an identity appears once; at least one key.  A line holding a NUL
 * is not text and is an error.  psk_load() must succeed exactly when the
 * reference does, with the same keys and no other.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_util.h"
#include "psk.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *path;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	path = fz_file_init("fuzz_psk", "keys.psk");
	return 0;
}

struct ref_key {
	const uint8_t *id;
	size_t idlen;
	uint8_t key[64];
	size_t keylen;
};

/* One non-blank, non-comment line s[0, n); false when it is invalid. */
static bool
ref_line(const uint8_t *s, size_t n, struct ref_key *k)
{
	const uint8_t *colon = memchr(s, ':', n), *hex;
	size_t hl;

	if (memchr(s, '\0', n) != NULL || colon == NULL || colon == s ||
	    colon - s > 128)
		return false;
	hex = colon + 1;
	hl = n - (size_t)(hex - s);
	if (hl % 2 != 0 || hl < 32 || hl > 128)
		return false;
	for (size_t i = 0; i < hl; i += 2) {
		int hi = fz_hexval(hex[i]), lo = fz_hexval(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		k->key[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	k->id = s;
	k->idlen = (size_t)(colon - s);
	k->keylen = hl / 2;
	return true;
}

/* The reference reading: the number of keys in *keys, or -1 for an
 * invalid file. */
static long
ref_load(const uint8_t *d, size_t size, struct ref_key **keys)
{
	size_t off = 0, n = 0;
	bool bad = false;

	*keys = NULL;
	while (off < size) {
		const uint8_t *s = d + off, *nl = memchr(s, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - s) : size - off;
		struct ref_key k;

		off += len + (nl != NULL);
		while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' ||
		    s[len - 1] == '\t'))
			len--;
		if (len == 0 || s[0] == '#')
			continue;
		if (!ref_line(s, len, &k)) {
			bad = true;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if ((*keys)[i].idlen == k.idlen &&
			    memcmp((*keys)[i].id, k.id, k.idlen) == 0)
				bad = true;
		*keys = realloc(*keys, (n + 1) * sizeof(**keys));
		if (*keys == NULL)
			abort();
		(*keys)[n++] = k;
	}
	return bad || n == 0 ? -1 : (long)n;
}

static bool
ref_has(const struct ref_key *keys, long n, const uint8_t *id, size_t len)
{
	for (long i = 0; i < n; i++)
		if (keys[i].idlen == len && memcmp(keys[i].id, id, len) == 0)
			return true;
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errlist errs = { 0 };
	struct psk_table *t;
	struct ref_key *keys;
	long nref;

	fz_file_write(data, size);
	t = psk_load(path, &errs);
	nref = ref_load(data, size, &keys);
	if ((t == NULL) != (errs.count > 0))
		fz_die("psk_load gave %s with %u errors", t ? "a table" : "NULL",
		    errs.count);
	if ((t == NULL) != (nref < 0))
		fz_die("psk_load %s a file the reference %s:\n%s", t ? "took" : "refused",
		    nref < 0 ? "refuses" : "takes", errs.text ? errs.text : "");
	for (long i = 0; i < nref; i++) {
		const unsigned char *k;
		size_t keylen = 0;

		k = psk_find(t, (const char *)keys[i].id, keys[i].idlen, &keylen);
		if (k == NULL || keylen != keys[i].keylen ||
		    memcmp(k, keys[i].key, keylen) != 0)
			fz_die("identity \"%.*s\": not the key of the file",
			    (int)keys[i].idlen, keys[i].id);
	}
	/* Nor a key the reference does not have: the table cannot be
	 * listed, so every run of up to 128 bytes before a ':' on a line is
	 * tried as an identity. */
	for (size_t i = 0; t != NULL && i < size; i++) {
		size_t keylen;

		if (data[i] != ':')
			continue;
		for (size_t j = i; j > 0 && i - j < 128 && data[j - 1] != '\n'; j--)
			if (psk_find(t, (const char *)data + j - 1, i - j + 1,
			    &keylen) != NULL &&
			    !ref_has(keys, nref, data + j - 1, i - j + 1))
				fz_die("psk_load took identity \"%.*s\", which no line "
				    "of the file gives", (int)(i - j + 1), data + j - 1);
	}
	free(keys);
	psk_free(t);
	errlist_fini(&errs);
	return 0;
}
