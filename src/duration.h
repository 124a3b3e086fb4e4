/* duration: configuration seconds (a double) as a struct timeval. */
#ifndef MCX_DURATION_H
#define MCX_DURATION_H

#include <sys/time.h>

static inline struct timeval
duration_tv(double seconds)
{
	struct timeval tv;

	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	return tv;
}

#endif
