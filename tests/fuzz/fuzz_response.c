/*
 * fuzz_response: libFuzzer target for the response path of src/h1.c, as
 * exchange.c drives it: interim (1xx) heads then the final one, responses
 * to HEAD and to other methods, bodies by length, chunked or until the
 * upstream closes (h1_body_eof()), several responses on one connection,
 * and the same bytes fed again cut differently.  The input layout and the
 * checks are in fuzz_h1.h.
 */
#include "fuzz_h1.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_h1_input(H1_RESPONSE, data, size);
}
