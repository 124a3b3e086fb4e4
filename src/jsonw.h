/*
 * jsonw: a bounded writer of one JSON object (RFC 8259) into a caller's
 * buffer, for log lines.  It never allocates and never writes past the
 * buffer.  Whatever the input (request targets come from hostile
 * clients), the result is valid JSON on one line: strings are escaped
 * (quote, backslash, control characters, and every byte that is not part
 * of valid UTF-8), and what does not fit is cut between two characters or
 * left out as a whole member, never half written.
 */
#ifndef MCX_JSONW_H
#define MCX_JSONW_H

#include <stdbool.h>
#include <stddef.h>

struct jsonw {
	char *buf;
	size_t cap;		/* usable bytes, the closing brace kept aside */
	size_t len;
};

/* Starts an object in buf (size >= 2; no NUL is written). */
void	jsonw_begin(struct jsonw *, char *buf, size_t size);
/* Closes the object; returns its length. */
size_t	jsonw_end(struct jsonw *);

/*
 * Members.  key is a literal of the program (letters, digits, '_'),
 * written as is.  A member whose key and smallest value do not fit is
 * left out; a string value is cut to what fits.
 */
void	jsonw_null(struct jsonw *, const char *key);
/* s NULL: null. */
void	jsonw_str(struct jsonw *, const char *key, const char *s);
void	jsonw_strn(struct jsonw *, const char *key, const char *s, size_t len);
void	jsonw_uint(struct jsonw *, const char *key, unsigned long long);
/* With that many decimals; NaN and infinities (not JSON) as null. */
void	jsonw_fixed(struct jsonw *, const char *key, double, int decimals);

/*
 * Escapes in[0..len) as the inside of a JSON string into out, at most
 * size bytes, and stops before the first character whose escaped form
 * does not fit.  Bytes that are not valid UTF-8 (RFC 3629: no overlong
 * forms, surrogates or code points past U+10FFFF) become \u00XX, so the
 * byte's value is kept.  Returns the bytes written; *used (if not NULL)
 * gets the input bytes consumed.
 */
size_t	jsonw_escape(char *out, size_t size, const char *in, size_t len,
	    size_t *used);
/* The longest prefix of in[0..len), at most max bytes, that does not end
 * inside a valid UTF-8 sequence: a bound on a field's input that keeps
 * its last character whole. */
size_t	jsonw_prefix(const char *in, size_t len, size_t max);

#endif
