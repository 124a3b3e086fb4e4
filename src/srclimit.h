/*
 * srclimit: how many client connections each source address holds, across
 * all workers, for limits.max_connections_per_source.  A fixed table of
 * atomic counters, no lock: an address counts in two slots picked by two
 * keyed hashes (keys random per process, so a client cannot aim its
 * addresses at another's slots), and is refused only when both slots are
 * full: two addresses sharing one slot do not lock each other out unless
 * they also share the other.  IPv6 sources count per /64 (one subscriber's
 * prefix); IPv4-mapped IPv6 counts as IPv4.
 */
#ifndef MCX_SRCLIMIT_H
#define MCX_SRCLIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct sockaddr;
struct srclimit;

/* A connection's two slots, kept until it closes. */
struct srclimit_ticket {
	uint32_t slot[2];
	bool held;
};

struct srclimit *srclimit_new(void);
void	srclimit_free(struct srclimit *);
/*
 * Counts a new connection from sa.  max == 0: no limit (nothing counted).
 * Returns false, counting nothing, when sa already holds max.
 */
bool	srclimit_take(struct srclimit *, const struct sockaddr *sa, unsigned max,
	    struct srclimit_ticket *);
/* The connection closed; a ticket not held is ignored. */
void	srclimit_release(struct srclimit *, struct srclimit_ticket *);

#endif
