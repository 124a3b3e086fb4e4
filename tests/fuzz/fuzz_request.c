/*
 * fuzz_request: libFuzzer target for the request path of src/h1.c, as
 * session.c drives it: heads, sized and chunked bodies through h1_body(),
 * pipelined requests, and the same bytes fed again cut differently (every
 * byte boundary, over runs).  The input layout and the checks are in
 * fuzz_h1.h.
 */
#include "fuzz_h1.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_h1_input(H1_REQUEST, data, size);
}
