/*-------------------------------------------------------------------------
 *
 * horizon.h
 *	  The durable token and ttl horizon, the grace period after a crash or
 *	  a failover, and the durable file writes of pg_lockable (horizon.c).
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_HORIZON_H
#define LOCKABLE_HORIZON_H

#include "port/pg_crc32c.h"

#include "shared.h"

#define LOCKABLE_DIR			"pg_lockable"
#define LOCKABLE_HORIZON_FILE	LOCKABLE_DIR "/horizon"
/* there while a copy started in recovery has not recorded its end */
#define LOCKABLE_RECOVERY_FILE	LOCKABLE_DIR "/recovery_pending"

/* Tokens are reserved durably in blocks of this many */
#define LOCKABLE_TOKEN_BLOCK	((uint64) 1 << 22)

/*
 * Tokens continue from at least the wall clock in nanoseconds at every
 * start, and from this much more at a start from a copy or a lost horizon
 * and at the end of recovery: one hour (protocol rule 8, README "Fencing
 * tokens never go backwards").
 */
#define LOCKABLE_TOKEN_CLOCK_LEAD	((uint64) 3600 * 1000000000)

typedef struct HorizonData
{
	uint32		magic;
	uint32		version;
	uint64		tokens_reserved;
	int64		ttl_horizon;
	pg_crc32c	crc;			/* of the fields above */
} HorizonData;

/* Why the last write of a file failed */
typedef struct IOFailure
{
	const char *what;			/* "create", "write", ... */
	char		path[MAXPGPATH];
	int			err;			/* errno */
} IOFailure;

/* errmsg-style text of a failure, e.g. 'could not create file "x": ...' */
#define IO_FAILURE_FMT	"could not %s file \"%s\": %s"
#define IO_FAILURE_ARGS(f)	(f)->what, (f)->path, strerror((f)->err)

/* the hot path's checks, and the worker's upkeep */
extern void lockable_horizon_check(int64 ttl);
extern void lockable_horizon_check_ttl(int64 ttl);
extern void lockable_horizon_maintain(void);
extern void lockable_recovery_end_check(void);
extern LockableTime lockable_grace_until(void);
extern void lockable_grace_passed(LockableTime seen);

/* for persist.c, at startup and at shutdown */
extern int	lockable_io_errcode(const IOFailure *f);
extern bool lockable_write_file_durably(const char *path, const void *data,
										size_t len, IOFailure *f);
extern char *lockable_read_whole_file(const char *path, size_t *len,
									  bool *exists);
extern bool lockable_horizon_write(uint64 tokens_reserved, int64 ttl_horizon,
								   IOFailure *f);
extern bool lockable_horizon_read(HorizonData *h, bool *exists);
extern uint64 lockable_token_floor(bool copy);

#endif							/* LOCKABLE_HORIZON_H */
