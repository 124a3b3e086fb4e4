/*
 * jsonw: the bounded JSON object writer (see jsonw.h).  Every write is
 * checked against the room left before any byte of it is stored, and the
 * closing brace is kept aside from the start, so the object can always
 * be closed: cutting never leaves invalid JSON behind.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"

/*
 * The length of the valid UTF-8 sequence at p (2 to 4 bytes), or 0 when
 * p[0] does not start one within n bytes.  The second byte's range is
 * what excludes overlong forms (E0, F0), surrogates (ED) and code points
 * past U+10FFFF (F4): RFC 3629 section 4.
 */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;	/* ASCII, a continuation byte, C0, C1, F5..FF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

size_t
jsonw_escape(char *out, size_t size, const char *in, size_t len, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0, n, m;
	char esc[6];
	const char *src;

	while (i < len) {
		n = 1;
		src = esc;
		esc[0] = '\\';
		m = 2;
		switch (p[i]) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (p[i] >= 0x20 && p[i] < 0x7f) {
				src = in + i;
				m = 1;
			} else if (p[i] >= 0x80 &&
			    (n = utf8_len(p + i, len - i)) > 0) {
				src = in + i;
				m = n;
			} else {
				/* Control characters, DEL (a terminal could
				 * act on it) and stray bytes. */
				n = 1;
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[p[i] >> 4];
				esc[5] = hex[p[i] & 0xf];
				m = 6;
			}
			break;
		}
		if (m > size - o)
			break;
		memcpy(out + o, src, m);
		o += m;
		i += n;
	}
	if (used != NULL)
		*used = i;
	return o;
}

size_t
jsonw_prefix(const char *in, size_t len, size_t max)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t j;

	if (len <= max)
		return len;
	/* A sequence is at most 4 bytes: only the last 3 before the cut can
	 * start one that the cut would split. */
	for (j = max; j > 0 && max - j < 3; j--)
		if (p[j - 1] >= 0xc2 && j - 1 + utf8_len(p + j - 1,
		    len - (j - 1)) > max)
			return j - 1;
	return max;
}

void
jsonw_begin(struct jsonw *w, char *buf, size_t size)
{
	w->buf = buf;
	w->cap = size - 1;
	w->len = 0;
	w->buf[w->len++] = '{';
}

size_t
jsonw_end(struct jsonw *w)
{
	w->buf[w->len++] = '}';
	return w->len;
}

/* Writes [,]"key": when it fits with need more bytes for the value. */
static bool
member(struct jsonw *w, const char *key, size_t need)
{
	size_t klen = strlen(key), comma = w->len > 1 ? 1 : 0;

	if (comma + klen + 3 + need > w->cap - w->len)
		return false;
	if (comma)
		w->buf[w->len++] = ',';
	w->buf[w->len++] = '"';
	memcpy(w->buf + w->len, key, klen);
	w->len += klen;
	w->buf[w->len++] = '"';
	w->buf[w->len++] = ':';
	return true;
}

/* A value already formatted as JSON text. */
static void
raw(struct jsonw *w, const char *key, const char *v, size_t n)
{
	if (!member(w, key, n))
		return;
	memcpy(w->buf + w->len, v, n);
	w->len += n;
}

void
jsonw_null(struct jsonw *w, const char *key)
{
	raw(w, key, "null", 4);
}

void
jsonw_strn(struct jsonw *w, const char *key, const char *s, size_t len)
{
	if (s == NULL) {
		jsonw_null(w, key);
		return;
	}
	if (!member(w, key, 2))
		return;
	w->buf[w->len++] = '"';
	w->len += jsonw_escape(w->buf + w->len, w->cap - w->len - 1, s, len,
	    NULL);
	w->buf[w->len++] = '"';
}

void
jsonw_str(struct jsonw *w, const char *key, const char *s)
{
	jsonw_strn(w, key, s, s != NULL ? strlen(s) : 0);
}

void
jsonw_uint(struct jsonw *w, const char *key, unsigned long long v)
{
	char num[24];
	int n;

	n = snprintf(num, sizeof(num), "%llu", v);
	raw(w, key, num, (size_t)n);
}

/* The program never calls setlocale(), so "%f" writes a '.' as JSON
 * wants, whatever LC_NUMERIC says. */
void
jsonw_fixed(struct jsonw *w, const char *key, double v, int decimals)
{
	char num[48];
	int n;

	n = isfinite(v) ? snprintf(num, sizeof(num), "%.*f", decimals, v) : -1;
	if (n < 0 || (size_t)n >= sizeof(num))
		jsonw_null(w, key);
	else
		raw(w, key, num, (size_t)n);
}
