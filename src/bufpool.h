/*
 * bufpool: libevent's buffer memory from per-thread free lists.
 *
 * Each read takes a buffer chain of 32 KiB (libevent rounds the 16.5 KiB a
 * read asks for up to a power of two), and the chain goes back when its
 * bytes are written or consumed.  From malloc, busy connections made the
 * worker's arena grow and shrink at its top again and again: glibc gives
 * the top back to the kernel (madvise) and the pages fault in anew on the
 * next request.  A keep-alive POST of 16 KiB cost 213 µs of CPU that way,
 * 58 µs with the arena left alone.  So blocks of 4 to 64 KiB (powers of
 * two: what libevent asks for its chains) are kept on a free list of the
 * thread that frees them, up to BUFPOOL_KEEP bytes per thread, and taken
 * from there first; every other size goes to malloc.  A worker thread never
 * takes a lock for it.  Blocks of 1 and 2 KiB are pooled too: the heads
 * of every request and response take one each, one size above what
 * glibc's per-thread cache keeps.
 *
 * OpenSSL's record buffers the same way: with SSL_MODE_RELEASE_BUFFERS
 * (an idle connection holds none) each record read or written takes and
 * frees a buffer of about 16.5 KiB, a size glibc serves from its shared
 * bins, not its per-thread cache.
 *
 * Built with AddressSanitizer, nothing is kept (every block goes back to
 * malloc, and OpenSSL keeps its own allocator), so that a use after free
 * of a chain or a record buffer is still found.
 */
#ifndef MCX_BUFPOOL_H
#define MCX_BUFPOOL_H

#include <stdbool.h>
#include <stddef.h>

#define BUFPOOL_KEEP	(4u << 20)	/* bytes kept per thread at most */

/* Routes libevent's and OpenSSL's allocations here.  Call before any
 * other libevent or OpenSSL call (event_set_mem_functions,
 * CRYPTO_set_mem_functions). */
void	bufpool_install(void);
/* Frees the blocks this thread keeps: at the end of every thread that
 * ran libevent code. */
void	bufpool_thread_end(void);
/* Whether blocks are kept at all (not under AddressSanitizer), and how
 * many bytes this thread keeps now. */
bool	bufpool_pooling(void);
size_t	bufpool_kept(void);

#endif
