/* srclimit: per-source connection counts (see srclimit.h). */
#include <sys/random.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "srclimit.h"
#include "xalloc.h"

/* 64 Ki slots (256 KiB): far more than the sources of max_connections. */
#define SLOTS_LOG2	16
#define SLOTS		(1u << SLOTS_LOG2)

struct srclimit {
	atomic_uint count[SLOTS];
	uint64_t key[2];
};

/* splitmix64's finalizer: every input bit reaches every output bit. */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

struct srclimit *
srclimit_new(void)
{
	struct srclimit *sl = xcalloc(1, sizeof(*sl));

	if (getrandom(sl->key, sizeof(sl->key), 0) != (ssize_t)sizeof(sl->key)) {
		sl->key[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
		sl->key[1] = mix(sl->key[0] ^ (uint64_t)getpid());
	}
	return sl;
}

void
srclimit_free(struct srclimit *sl)
{
	free(sl);
}

/* The part of the address a limit applies to, as one 64-bit value with
 * the family in its top bits' mix. */
static uint64_t
source_key(const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	uint64_t v = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		memcpy(&v, &in->sin_addr, 4);
		return v | (4ULL << 56);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;

		if (memcmp(b, v4mapped, sizeof(v4mapped)) == 0) {
			memcpy(&v, b + 12, 4);
			return v | (4ULL << 56);
		}
		memcpy(&v, b, 8);	/* the /64 */
		return mix(v) ^ 6;
	}
	return 0;
}

bool
srclimit_take(struct srclimit *sl, const struct sockaddr *sa, unsigned max,
    struct srclimit_ticket *t)
{
	uint64_t k = source_key(sa);
	unsigned a, b;

	t->held = false;
	if (max == 0)
		return true;
	t->slot[0] = (uint32_t)(mix(k ^ sl->key[0]) & (SLOTS - 1));
	t->slot[1] = (uint32_t)(mix(k ^ sl->key[1]) & (SLOTS - 1));
	if (t->slot[1] == t->slot[0])	/* two distinct slots, always */
		t->slot[1] ^= 1;
	a = atomic_fetch_add_explicit(&sl->count[t->slot[0]], 1,
	    memory_order_relaxed);
	b = atomic_fetch_add_explicit(&sl->count[t->slot[1]], 1,
	    memory_order_relaxed);
	if (a >= max && b >= max) {
		atomic_fetch_sub_explicit(&sl->count[t->slot[0]], 1,
		    memory_order_relaxed);
		atomic_fetch_sub_explicit(&sl->count[t->slot[1]], 1,
		    memory_order_relaxed);
		return false;
	}
	t->held = true;
	return true;
}

void
srclimit_release(struct srclimit *sl, struct srclimit_ticket *t)
{
	if (!t->held)
		return;
	atomic_fetch_sub_explicit(&sl->count[t->slot[0]], 1,
	    memory_order_relaxed);
	atomic_fetch_sub_explicit(&sl->count[t->slot[1]], 1,
	    memory_order_relaxed);
	t->held = false;
}
