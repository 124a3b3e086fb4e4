/*
 * bufpool: per-thread free lists for libevent's buffer chains and
 * OpenSSL's record buffers (see bufpool.h).  Every libevent block carries
 * a header with its usable size, so that free and realloc know what they
 * hold; OpenSSL's blocks carry none (most of its allocations live as long
 * as a connection, and a header on each would cost every idle connection),
 * so its free asks malloc for the usable size instead.  Blocks wait on
 * the lists linked through their own memory.
 */
#include <stdalign.h>
#include <stddef.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "bufpool.h"

#if defined(__SANITIZE_ADDRESS__)
#define POOLING	0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOLING	0
#endif
#endif
#ifndef POOLING
#define POOLING	1
#endif

#define MIN_SHIFT	10		/* 1 KiB: a head, a small body */
#define MAX_SHIFT	16		/* 64 KiB */
#define NCLASS		(MAX_SHIFT - MIN_SHIFT + 1)

/* Before each block: its usable size, keeping malloc's alignment. */
struct head {
	alignas(max_align_t) size_t size;
};

struct free_block {
	struct free_block *next;
};

/*
 * OpenSSL's read and write record buffers: 16 KiB of payload and the
 * record's overhead (16,712 and 16,584 bytes with OpenSSL 3.0), taken and
 * given back on every record with SSL_MODE_RELEASE_BUFFERS.  Any request
 * from 16 KiB to SSL_BLOCK gets a block of SSL_BLOCK.
 */
#define SSL_MIN		(16u << 10)
#define SSL_BLOCK	(17u << 10)

static _Thread_local struct {
	struct free_block *list[NCLASS];
	struct free_block *ssl;		/* SSL_BLOCK blocks */
	size_t kept;			/* bytes on the lists */
} cache;

/* The class of a pooled size (a power of two from 1 to 64 KiB), or -1. */
static int
size_class(size_t n)
{
	if (n < ((size_t)1 << MIN_SHIFT) || n > ((size_t)1 << MAX_SHIFT) ||
	    (n & (n - 1)) != 0)
		return -1;
	return __builtin_ctzl(n) - MIN_SHIFT;
}

static void *
pool_malloc(size_t n)
{
	int c = size_class(n);
	struct head *h;

	if (POOLING && c >= 0 && cache.list[c] != NULL) {
		h = (struct head *)(void *)cache.list[c];
		cache.list[c] = cache.list[c]->next;
		cache.kept -= n;
	} else if ((h = malloc(sizeof(*h) + n)) == NULL)
		return NULL;
	h->size = n;
	return h + 1;
}

static void
pool_free(void *p)
{
	struct head *h;
	struct free_block *b;
	int c;

	if (p == NULL)
		return;
	h = (struct head *)p - 1;
	c = size_class(h->size);
	if (!POOLING || c < 0 || cache.kept + h->size > BUFPOOL_KEEP) {
		free(h);
		return;
	}
	cache.kept += h->size;
	b = (struct free_block *)(void *)h;
	b->next = cache.list[c];
	cache.list[c] = b;
}

static void *
pool_realloc(void *p, size_t n)
{
	void *q;
	size_t old;

	if (p == NULL)
		return pool_malloc(n);
	old = ((struct head *)p - 1)->size;
	if (size_class(old) >= 0 && n <= old)
		return p;		/* a pooled block keeps its size */
	if (size_class(old) < 0 && size_class(n) < 0) {
		struct head *h = realloc((struct head *)p - 1, sizeof(*h) + n);

		if (h == NULL)
			return NULL;
		h->size = n;
		return h + 1;
	}
	if ((q = pool_malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	pool_free(p);
	return q;
}

static void *
ssl_malloc(size_t n, const char *file, int line)
{
	struct free_block *b;

	(void)file;
	(void)line;
	if (n < SSL_MIN || n > SSL_BLOCK)
		return malloc(n);
	if ((b = cache.ssl) != NULL) {
		cache.ssl = b->next;
		cache.kept -= SSL_BLOCK;
		return b;
	}
	return malloc(SSL_BLOCK);
}

static void *
ssl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return realloc(p, n);
}

/* A block that can hold SSL_BLOCK bytes, and not much more, goes on the
 * list (whoever allocated it: any such block serves any request of the
 * class). */
static void
ssl_free(void *p, const char *file, int line)
{
	struct free_block *b = p;
	size_t usable;

	(void)file;
	(void)line;
	if (p == NULL)
		return;
	usable = malloc_usable_size(p);
	if (usable < SSL_BLOCK || usable >= SSL_BLOCK + 64 ||
	    cache.kept + SSL_BLOCK > BUFPOOL_KEEP) {
		free(p);
		return;
	}
	cache.kept += SSL_BLOCK;
	b->next = cache.ssl;
	cache.ssl = b;
}

void
bufpool_install(void)
{
	event_set_mem_functions(pool_malloc, pool_realloc, pool_free);
	/* Refused (0) once OpenSSL has allocated: then it keeps malloc, which
	 * costs time and nothing else. */
	if (POOLING)
		(void)CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free);
}

void
bufpool_thread_end(void)
{
	for (int c = 0; c < NCLASS; c++)
		while (cache.list[c] != NULL) {
			struct free_block *b = cache.list[c];

			cache.list[c] = b->next;
			free(b);
		}
	while (cache.ssl != NULL) {
		struct free_block *b = cache.ssl;

		cache.ssl = b->next;
		free(b);
	}
	cache.kept = 0;
}

bool
bufpool_pooling(void)
{
	return POOLING;
}

size_t
bufpool_kept(void)
{
	return cache.kept;
}
