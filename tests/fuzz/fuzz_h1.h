/*
 * fuzz_h1: the driver fuzz_request and fuzz_response share.
 *
 * An input is a few option bytes and then a byte stream as a peer would
 * send it.  The driver feeds the stream to an h1 parser the way session.c
 * and exchange.c do: a head with h1_parse_head(), then the body through
 * h1_body() with the output drained after every call (as the upstream or
 * client socket would drain it), then the next pipelined message, until an
 * error or the end of the input, where the peer closes (h1_body_eof()).
 * It writes a transcript of what the proxy would have done: each head it
 * accepted, the body bytes it forwarded, how the stream ended.
 *
 * Every accepted head and every completed body is checked against a
 * strict reading of the raw bytes (RFC 9112), and a second feed of the
 * same bytes, cut differently, must give the same transcript.  Any
 * disagreement aborts with both sides printed.
 *
 * Option bytes (FZ_HDR of them, then the stream):
 *   [0] bits 0-1  mode: 0 one feed; 1 two feeds cut at P % (len + 1);
 *                 2 one feed of chains of 1 + P % 64 bytes; 3 byte by byte
 *       bit 2     out_chunked
 *       bits 3-4  max_head: 64, 256, 1024 or 16384
 *       bit 5     max_fields: 3 or 100
 *       bits 6-7  out_limit of the second feed: 1 MiB, 1, 16 or 4096
 *   [1..2]        P, little-endian
 *   [3]           responses: bit i set when the (i+1)-th final response
 *                 answers a HEAD request
 * Modes 1 to 3 compare against one feed with a 1 MiB out_limit.
 */
#ifndef MCX_FUZZ_H1_H
#define MCX_FUZZ_H1_H

#include <stddef.h>
#include <stdint.h>

#include "h1.h"

#define FZ_HDR	4

/* The whole fuzz target for one kind of message. */
int	fz_h1_input(enum h1_kind, const uint8_t *data, size_t size);

#endif
