/*
 * fuzz_proxyproto: libFuzzer target for pp_parse() (src/proxyproto.c).
 *
 * Beyond "no crash", the invariants ppaccept.c relies on when it reads a
 * header a few bytes at a time: a complete header's length is within the
 * input and PP_MAX_HEADER; every shorter prefix of it is "incomplete"
 * (never an error, never complete), so reading more can only finish it;
 * the header alone parses to the same length; a carried address is IPv4
 * or IPv6 with its length.
 */
#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_header h, h2;
	enum pp_error err;
	const char *why;
	long r, r2;

	r = pp_parse(data, size, &h, &err, &why);
	if (r < 0) {
		if ((unsigned)err >= PP_ERR_N || why == NULL)
			abort();
		return 0;
	}
	if (r == 0) {
		if (size >= PP_MAX_HEADER)
			abort();
		return 0;
	}
	if ((size_t)r > size || r > PP_MAX_HEADER)
		abort();
	if (h.has_addr && !((h.src.ss_family == AF_INET &&
	    h.srclen == sizeof(struct sockaddr_in)) ||
	    (h.src.ss_family == AF_INET6 &&
	    h.srclen == sizeof(struct sockaddr_in6))))
		abort();
	if (h.version != 1 && h.version != 2)
		abort();
	for (size_t n = 0; n < (size_t)r; n++)
		if (pp_parse(data, n, &h2, &err, &why) != 0)
			abort();
	r2 = pp_parse(data, (size_t)r, &h2, &err, &why);
	if (r2 != r || h2.has_addr != h.has_addr ||
	    (h.has_addr && memcmp(&h.src, &h2.src, h.srclen) != 0))
		abort();
	return 0;
}
