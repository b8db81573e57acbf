/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The monotonic clock that lease deadlines are measured on.
 *
 * Deadlines must not move when the wall clock is set, so they are kept as
 * microseconds of CLOCK_MONOTONIC, which is one clock for every process of
 * the machine.  Wall-clock timestamps are derived from it only for display.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "lockable.h"

/*
 * lockable_clock_now
 *		Microseconds on the monotonic clock.  A vDSO call, not a syscall.
 */
LockableTime
lockable_clock_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		elog(ERROR, "clock_gettime(CLOCK_MONOTONIC) failed: %m");
	return (LockableTime) ts.tv_sec * USECS_PER_SEC + ts.tv_nsec / 1000;
}

/*
 * lockable_clock_to_timestamptz
 *		Express monotonic time t as wall-clock time, given one reading of
 *		both clocks taken together (now, now_wall).
 */
TimestampTz
lockable_clock_to_timestamptz(LockableTime t, LockableTime now,
							  TimestampTz now_wall)
{
	return now_wall + (t - now);
}
