/*-------------------------------------------------------------------------
 *
 * lockable.h
 *	  What every file of the lockable extension shares: the limits, the
 *	  monotonic clock (clock.c) and the settings (settings.c).
 *
 * The files, and the direction of their calls (a file calls only files
 * below it; scripts/callgraph.sh checks this on the object files):
 *
 *	lockable.c		the module: _PG_init, shared memory hooks; it starts the
 *					shared state, the table and persistence in that order
 *	lease_api.c		the SQL functions: arguments and fmgr only
 *	worker.c		the background worker: drives the sweep, the remote
 *					leases' requests and the HTTP client
 *	persist.c		leases.state and the startup of persistence
 *	remote_lease.c	remote leases: their states, the lost ring, the
 *					acquire and release protocol
 *	lease_wait.c	waiting: in a lease's queue, for any of a pool, through
 *					the grace period; lock_timeout
 *	horizon.c		the durable token and ttl horizon, the grace period
 *	lease_table.c	local leases: grant, renew, end, expire, the wheel
 *	http.c			libcurl only: requests in, finished transfers out
 *	shared.c		the shared state, its locks, backend slots, counters
 *	settings.c, clock.c, compat.h (header only)
 *
 * The locking protocol is written once, in shared.h, where the shared
 * structures are defined.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_H
#define LOCKABLE_H

#include "utils/timestamp.h"

#include "compat.h"

/* the extension's version: the Makefile takes it from lockable.control */
#ifndef LOCKABLE_VERSION
#error "LOCKABLE_VERSION must be defined (the Makefile does, from lockable.control)"
#endif

/* Longest lease name, in bytes.  Longer names are an error. */
#define LOCKABLE_NAME_MAXLEN	200

/* Most holders a counting or shared lease may have at once (slots) */
#define LOCKABLE_MAX_SLOTS		10000

/* Microseconds on CLOCK_MONOTONIC: deadlines, never shown to users */
typedef int64 LockableTime;

#define LOCKABLE_FOREVER	PG_INT64_MAX

/* settings (settings.c) */
extern PGDLLIMPORT int lockable_max_leases;
extern PGDLLIMPORT int lockable_max_remote_leases;
extern PGDLLIMPORT int lockable_default_ttl;	/* milliseconds */
extern PGDLLIMPORT int lockable_max_ttl;	/* seconds */
extern PGDLLIMPORT int lockable_max_hold;	/* seconds, 0 = no cap */
extern PGDLLIMPORT int lockable_worker_naptime; /* milliseconds */
extern PGDLLIMPORT bool lockable_allow_on_standby;
extern PGDLLIMPORT bool lockable_crash_grace;
extern PGDLLIMPORT char *lockable_remote_url;
extern PGDLLIMPORT char *lockable_remote_token;
extern PGDLLIMPORT char *lockable_remote_prefix;
extern PGDLLIMPORT bool lockable_remote;
extern PGDLLIMPORT int lockable_remote_timeout;	/* milliseconds */
extern PGDLLIMPORT int lockable_remote_heartbeat_interval;	/* milliseconds */
extern PGDLLIMPORT int lockable_remote_lease;	/* milliseconds */
extern PGDLLIMPORT int lockable_remote_max_connections;

extern void lockable_settings_define(bool at_preload);
extern int64 lockable_remote_interval_usec(void);
extern int64 lockable_remote_retry_usec(void);
extern int64 lockable_remote_timeout_usec(void);
extern void lockable_remote_check_configured(void);

/* clock.c */
#define LOCKABLE_BOOT_ID_LEN	40
extern LockableTime lockable_clock_now(void);
extern int64 lockable_clock_wall_ns(void);
extern bool lockable_clock_boot(int64 *usec, char *boot_id);
extern TimestampTz lockable_clock_to_timestamptz(LockableTime t,
												 LockableTime now,
												 TimestampTz now_wall);

#endif							/* LOCKABLE_H */
