/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The monotonic clock that lease deadlines are measured on.
 *
 * Deadlines must not move when the wall clock is set, so they are kept as
 * microseconds of CLOCK_MONOTONIC, which is one clock for every process of
 * the machine.  Wall-clock timestamps are derived from it only for display
 * and for the state file.  How long the server was down is measured on the
 * machine's boot clock, never on the wall clock (lockable_clock_boot).
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

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
 * lockable_clock_wall_ns
 *		Nanoseconds of the wall clock since 2000-01-01 (PostgreSQL's epoch):
 *		the floor of fencing tokens at a start (horizon.c).  2^63 of them
 *		last until the year 2292.
 */
int64
lockable_clock_wall_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		elog(ERROR, "clock_gettime(CLOCK_REALTIME) failed: %m");
	return ((int64) ts.tv_sec -
			(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY) *
		INT64CONST(1000000000) + ts.tv_nsec;
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

/*
 * lockable_clock_boot
 *		Microseconds since the machine booted, counting time suspended
 *		(CLOCK_BOOTTIME), and the id of this boot of the kernel, into
 *		boot_id (LOCKABLE_BOOT_ID_LEN bytes, NUL-padded).  Two readings with
 *		the same boot id tell how much time passed between them whatever
 *		the wall clock did.  False, with both zeroed, where the clock or
 *		the id is not available (not Linux, /proc not mounted).
 */
bool
lockable_clock_boot(int64 *usec, char *boot_id)
{
	memset(boot_id, 0, LOCKABLE_BOOT_ID_LEN);
	*usec = 0;
#if defined(CLOCK_BOOTTIME)
	{
		struct timespec ts;
		int			fd;
		ssize_t		n;

		if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
			return false;
		fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
		if (fd < 0)
			return false;
		n = read(fd, boot_id, LOCKABLE_BOOT_ID_LEN - 1);
		close(fd);
		/* a UUID, then a newline */
		while (n > 0 && (boot_id[n - 1] == '\n' || boot_id[n - 1] == ' '))
			n--;
		if (n < 32)
		{
			memset(boot_id, 0, LOCKABLE_BOOT_ID_LEN);
			return false;
		}
		memset(boot_id + n, 0, LOCKABLE_BOOT_ID_LEN - n);
		*usec = (int64) ts.tv_sec * USECS_PER_SEC + ts.tv_nsec / 1000;
		return true;
	}
#else
	return false;
#endif
}
