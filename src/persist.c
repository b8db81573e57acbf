/*-------------------------------------------------------------------------
 *
 * persist.c
 *	  Leases and fencing tokens that survive restarts, crashes, failovers
 *	  and disk errors.
 *
 * Two files in $PGDATA/pg_lockable:
 *
 * leases.state is written by the postmaster when it exits after a clean
 * shutdown (as pg_stat_statements writes its file; "clean" meaning that
 * pg_control says so, shut down or shut down in recovery, so an immediate
 * shutdown counts as a crash, as it does for PostgreSQL's own recovery):
 * every live plain lease with its name, token, owner, ttl and remaining
 * time, the next token, and a crash grace period that is still running.
 * It records pg_control's checkpoint and time of that shutdown, and is
 * only restored at a start that finds pg_control as it left it, so a file
 * that could not be removed, or a copy of one, is never restored after a
 * crash.  It is read, and removed, at the next start.  Keepalive leases
 * are not written: their sessions are gone after a restart.
 *
 * Remaining times are kept as the time left at shutdown (deadline less
 * written_at, both taken from one reading of the clocks), never recomputed
 * from the wall clock at the next start: a clock stepped while the server
 * was down must not shorten a lease.  The time the server was down is
 * counted only when it can be measured without the wall clock: on the
 * machine's boot clock, if the machine did not reboot meanwhile (same boot
 * id).  Otherwise it is not counted, and a restored lease lasts its whole
 * remaining time from the start: longer than it would have, never shorter.
 *
 * horizon is written durably (fsync, rename, fsync of the directory)
 * whenever it must grow, which is rare: it holds
 *	- tokens_reserved: no token at or above it has been issued.  Tokens are
 *	  reserved in blocks of LOCKABLE_TOKEN_BLOCK, by the worker before they
 *	  are needed, so the acquire path normally does no I/O.
 *	- ttl_horizon: no lease that may still be held was granted or renewed
 *	  with a longer ttl.  A new largest ttl is recorded before the lease is
 *	  granted or renewed with it.
 *	It is also written at every start, once the next token is known and
 *	the ttl horizon is what the restored leases need (a clean start brings
 *	it back down: one lease granted for a year must not make every later
 *	crash block grants for a year).
 *
 * After a start without a valid leases.state (a crash, an immediate
 * shutdown, a power loss, a corrupt or stale file), tokens continue from
 * tokens_reserved, and no lease is granted for ttl_horizon: every lease
 * granted before the crash would have expired by then.  This is the grace
 * period of lockable.crash_grace; turning that off makes leases free at
 * once after a crash, which is unsafe and explicit.
 *
 * Copies.  A standby, or a data directory restored from a base backup,
 * holds a copy of pg_lockable/horizon that may be older than the tokens
 * the original went on to issue, and knows nothing of the leases it held.
 * So at every start tokens continue from at least the wall clock in
 * nanoseconds, and from an hour (LOCKABLE_TOKEN_CLOCK_LEAD) more at a
 * start that knows it uses a copy or lost its horizon, and again when
 * recovery ends (a promotion, or a restored backup becoming a primary).  A
 * counter that grows by one per grant, and by one reserved block (4 ms of
 * nanoseconds) at a crash restart, stays behind the wall clock, so the
 * copy's tokens are above the original's as long as their clocks agree to
 * within the hour.
 * When recovery ends, no lease is granted for the longest ttl the original
 * could have granted: lockable.max_ttl, or the copy's ttl horizon if that
 * is longer.  A standby's clean restart is a clean restart, not a crash.
 *
 * Disk errors never stop the engine: a failed write is retried by the
 * worker, reported at most once a minute, and only a grant or renewal that
 * needs a durable record it cannot get fails, with a disk (53) or I/O (58)
 * error.  A missing, stale or corrupt file is logged and ignored; the
 * server always starts.  If the horizon cannot be read, the grace period
 * is lockable.max_ttl.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "access/xlog.h"
#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#include "lockable.h"

#define LOCKABLE_DIR			"pg_lockable"
#define LOCKABLE_STATE_FILE		LOCKABLE_DIR "/leases.state"
#define LOCKABLE_HORIZON_FILE	LOCKABLE_DIR "/horizon"
#define LOCKABLE_RECOVERY_FILE	LOCKABLE_DIR "/recovery_pending"

#define STATE_MAGIC		0x4C4B4C53	/* "LKLS" */
#define HORIZON_MAGIC	0x4C4B4C48	/* "LKLH" */
#define HORIZON_VERSION	1
#define STATE_VERSION	2			/* 1: no shutdown or boot clock fields */

/* A backend extends the reservation itself when fewer are left than this */
#define LOCKABLE_TOKEN_MARGIN	(LOCKABLE_TOKEN_BLOCK / 4)

/*
 * Handoffs issue tokens without a check of their own (protocol rule 8):
 * the margin must exceed twice the number of backends, which is at most
 * MAX_BACKENDS = 2^18 - 1 on every supported version.
 */
StaticAssertDecl(LOCKABLE_TOKEN_MARGIN > 2 * ((1 << 18) - 1),
				 "LOCKABLE_TOKEN_MARGIN must exceed twice MAX_BACKENDS");

/* How often the worker retries a failed write, and reports failures */
#define RETRY_INTERVAL		USECS_PER_SEC
#define REPORT_INTERVAL		(60 * USECS_PER_SEC)

typedef struct HorizonData
{
	uint32		magic;
	uint32		version;
	uint64		tokens_reserved;
	int64		ttl_horizon;
	pg_crc32c	crc;			/* of the fields above */
} HorizonData;

typedef struct StateHeader
{
	uint32		magic;
	uint32		version;
	uint64		system_identifier;
	uint64		next_token;
	TimestampTz written_at;
	TimestampTz grace_until;	/* a crash grace period still running, or 0 */
	/* version 2: */
	XLogRecPtr	checkpoint;		/* pg_control's checkPoint and time at the */
	int64		control_time;	/* shutdown this file was written at */
	int64		boot_usec;		/* the boot clock at written_at ... */
	char		boot_id[LOCKABLE_BOOT_ID_LEN];	/* ... in this boot ("": none) */
} StateHeader;

/* a version 1 file's header ends before checkpoint */
#define STATE_HEADER_V1_SIZE	offsetof(StateHeader, checkpoint)

/* followed by len bytes of name */
typedef struct StateEntry
{
	Oid			dbid;
	Oid			owner;
	uint32		len;
	uint32		pad;
	uint64		token;
	int64		ttl;
	int64		renewals;
	TimestampTz acquired;
	TimestampTz deadline;
} StateEntry;

typedef struct StateTrailer
{
	int32		count;
	pg_crc32c	crc;			/* of everything before it, and count */
} StateTrailer;

/* Why the last write of a file failed */
typedef struct IOFailure
{
	const char *what;			/* "create", "write", ... */
	char		path[MAXPGPATH];
	int			err;			/* errno */
} IOFailure;

bool		lockable_crash_grace = true;

/* the worker's retries of a failed horizon write (only the worker uses it) */
static LockableTime retry_last = 0;
static LockableTime report_last = 0;
static int	failed_attempts = 0;	/* since the writes began to fail */
static bool write_failing = false;

static void
io_failed(IOFailure *f, const char *what, const char *path)
{
	f->err = errno;
	f->what = what;
	strlcpy(f->path, path, sizeof(f->path));
}

/* errmsg-style text of a failure, e.g. 'could not create file "x": ...' */
#define IO_FAILURE_FMT	"could not %s file \"%s\": %s"
#define IO_FAILURE_ARGS(f)	(f)->what, (f)->path, strerror((f)->err)

/* A SQLSTATE of class 53 (insufficient resources) or 58 (system error) */
static int
io_errcode(const IOFailure *f)
{
	switch (f->err)
	{
		case ENOSPC:
#ifdef EDQUOT
		case EDQUOT:
#endif
			return ERRCODE_DISK_FULL;
		case ENFILE:
		case EMFILE:
		case ENOMEM:
			return ERRCODE_INSUFFICIENT_RESOURCES;
		default:
			return ERRCODE_IO_ERROR;
	}
}

/*
 * Write data to path durably: a temporary file, fsync, rename, fsync of
 * the directory (what durable_rename does, done here step by step so that
 * each step's errno is kept for the caller's report).  Returns false, with
 * *f saying what failed, if it could not; reports nothing itself.  The
 * previous content of path stays as it was unless the rename happened.
 */
static bool
write_file_durably(const char *path, const void *data, size_t len,
				   IOFailure *f)
{
	char		tmp[MAXPGPATH];
	int			fd;

	if (MakePGDirectory(LOCKABLE_DIR) < 0 && errno != EEXIST)
	{
		io_failed(f, "create directory for", path);
		return false;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
	{
		io_failed(f, "create", tmp);
		return false;
	}
	errno = 0;
	if (write(fd, data, len) != len)
	{
		if (errno == 0)
			errno = ENOSPC;
		io_failed(f, "write", tmp);
		CloseTransientFile(fd);
		return false;
	}
	if (pg_fsync(fd) != 0)
	{
		io_failed(f, "fsync", tmp);
		CloseTransientFile(fd);
		return false;
	}
	if (CloseTransientFile(fd) != 0)
	{
		io_failed(f, "close", tmp);
		return false;
	}
	if (rename(tmp, path) != 0)
	{
		io_failed(f, "rename", tmp);
		return false;
	}
	fd = OpenTransientFile(LOCKABLE_DIR, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		io_failed(f, "open directory of", path);
		return false;
	}
	/* as fsync_fname_ext: some systems cannot fsync a directory */
	if (pg_fsync(fd) != 0 && errno != EBADF && errno != EINVAL)
	{
		io_failed(f, "fsync directory of", path);
		CloseTransientFile(fd);
		return false;
	}
	CloseTransientFile(fd);
	return true;
}

/*
 * Read a whole file.  Returns NULL if it does not exist (*exists = false)
 * or cannot be read (logged).
 */
static char *
read_whole_file(const char *path, size_t *len, bool *exists)
{
	struct stat st;
	char	   *buf;
	int			fd;

	*exists = false;
	if (stat(path, &st) != 0)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("lockable: could not stat file \"%s\": %m", path)));
		return NULL;
	}
	*exists = true;
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("lockable: could not open file \"%s\": %m", path)));
		return NULL;
	}
	buf = palloc_extended(st.st_size + 1, MCXT_ALLOC_HUGE);
	if (read(fd, buf, st.st_size) != st.st_size)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("lockable: could not read file \"%s\": %m", path)));
		CloseTransientFile(fd);
		pfree(buf);
		return NULL;
	}
	CloseTransientFile(fd);
	*len = st.st_size;
	return buf;
}

static pg_crc32c
horizon_crc(const HorizonData *h)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, h, offsetof(HorizonData, crc));
	FIN_CRC32C(crc);
	return crc;
}

/* Write the horizon file durably; false (see *f) if it could not be */
static bool
horizon_write(uint64 tokens_reserved, int64 ttl_horizon, IOFailure *f)
{
	HorizonData h;

	memset(&h, 0, sizeof(h));
	h.magic = HORIZON_MAGIC;
	h.version = HORIZON_VERSION;
	h.tokens_reserved = tokens_reserved;
	h.ttl_horizon = ttl_horizon;
	h.crc = horizon_crc(&h);
	return write_file_durably(LOCKABLE_HORIZON_FILE, &h, sizeof(h), f);
}

/*
 * Make the durable horizon reach at least min_left tokens past the next
 * token and cover ttl, unless it already does.  Returns false (see *f) if
 * the file could not be written; then nothing changes.
 *
 * Takes the horizon lock; the caller holds no partition lock.
 */
static bool
horizon_extend(int64 ttl, uint64 min_left, IOFailure *f)
{
	LockableShared *s = lockable_shared;
	uint64		next;
	uint64		reserved;
	int64		ttl_horizon;
	bool		ok;

	LWLockAcquire(s->horizon_lock, LW_EXCLUSIVE);
	next = pg_atomic_read_u64(&s->next_token);
	reserved = pg_atomic_read_u64(&s->tokens_reserved);
	if (next + min_left < reserved && ttl <= s->ttl_horizon &&
		s->ttl_pending <= s->ttl_horizon)
	{
		LWLockRelease(s->horizon_lock);
		return true;			/* someone else did it */
	}

	reserved = Max(reserved, next + LOCKABLE_TOKEN_BLOCK);
	ttl_horizon = Max(Max(ttl, s->ttl_horizon), s->ttl_pending);
	ok = horizon_write(reserved, ttl_horizon, f);
	if (ok)
	{
		pg_atomic_write_u64(&s->tokens_reserved, reserved);
		s->ttl_horizon = ttl_horizon;
	}
	LWLockRelease(s->horizon_lock);
	return ok;
}

/*
 * lockable_horizon_check
 *		Before an acquire grants (or queues) with ttl: are enough tokens
 *		reserved, and is ttl within the ttl horizon?  One comparison of
 *		shared values on the hot path; I/O only when the reservation is
 *		nearly used up (the worker normally renews it long before) or ttl
 *		is the largest ever.  If the file cannot be written, the grant
 *		cannot be made durable: a disk or I/O error.
 */
void
lockable_horizon_check(int64 ttl)
{
	LockableShared *s = lockable_shared;
	IOFailure	f;

	if (likely(ttl <= s->ttl_horizon &&
			   pg_atomic_read_u64(&s->next_token) + LOCKABLE_TOKEN_MARGIN <
			   pg_atomic_read_u64(&s->tokens_reserved)))
		return;
	if (!horizon_extend(ttl, LOCKABLE_TOKEN_MARGIN, &f))
		ereport(ERROR,
				(errcode(io_errcode(&f)),
				 ttl > s->ttl_horizon ?
				 errmsg("lockable: could not record the ttl horizon durably") :
				 errmsg("lockable: could not reserve fencing tokens durably"),
				 errdetail("Writing \"%s\" failed: " IO_FAILURE_FMT ".",
						   LOCKABLE_HORIZON_FILE, IO_FAILURE_ARGS(&f)),
				 errhint("Free disk space or fix the permissions of %s in the data directory.  Releases and heartbeats keep working meanwhile.",
						 LOCKABLE_DIR)));
}

/*
 * lockable_horizon_check_ttl
 *		Before a heartbeat renews with ttl: no token is issued, so only a
 *		ttl longer than any before needs the file written.
 */
void
lockable_horizon_check_ttl(int64 ttl)
{
	IOFailure	f;

	if (likely(ttl <= lockable_shared->ttl_horizon))
		return;
	if (!horizon_extend(ttl, 0, &f))
		ereport(ERROR,
				(errcode(io_errcode(&f)),
				 errmsg("lockable: could not record the ttl horizon durably"),
				 errdetail("Writing \"%s\" failed: " IO_FAILURE_FMT ".  The lease keeps its deadline.",
						   LOCKABLE_HORIZON_FILE, IO_FAILURE_ARGS(&f)),
				 errhint("Renew with a ttl no longer than %lld ms, or free disk space or fix the permissions of %s in the data directory.",
						 (long long) (lockable_shared->ttl_horizon / 1000),
						 LOCKABLE_DIR)));
}

/* The horizon is on disk as it should be: say so if writes had failed. */
static void
horizon_writes_recovered(void)
{
	if (write_failing)
		ereport(LOG,
				(errmsg("lockable: the horizon file is written again, after %d failed attempts",
						failed_attempts)));
	write_failing = false;
	failed_attempts = 0;
}

/*
 * lockable_horizon_maintain
 *		From the worker, each time round its loop: finish a recovery that
 *		ended, and reserve the next block of tokens before backends need
 *		it.  Never raises an error: a failed write is retried once a second
 *		and reported at most once a minute, and the worker goes on sweeping.
 */
void
lockable_horizon_maintain(void)
{
	LockableShared *s = lockable_shared;
	LockableTime now;
	IOFailure	f;

	lockable_recovery_end_check();

	if (pg_atomic_read_u64(&s->next_token) + LOCKABLE_TOKEN_BLOCK / 2 <
		pg_atomic_read_u64(&s->tokens_reserved) &&
		s->ttl_pending <= s->ttl_horizon)
	{
		horizon_writes_recovered(); /* a backend may have written it */
		return;
	}

	now = lockable_clock_now();
	if (write_failing && now - retry_last < RETRY_INTERVAL)
		return;
	retry_last = now;

	if (horizon_extend(0, LOCKABLE_TOKEN_BLOCK / 2, &f))
	{
		horizon_writes_recovered();
		return;
	}

	failed_attempts++;
	if (write_failing && now - report_last < REPORT_INTERVAL)
		return;
	{
		uint64		reserved = pg_atomic_read_u64(&s->tokens_reserved);
		uint64		next = pg_atomic_read_u64(&s->next_token);

		ereport(WARNING,
				(errcode(io_errcode(&f)),
				 errmsg("lockable: could not reserve fencing tokens durably: " IO_FAILURE_FMT,
						IO_FAILURE_ARGS(&f)),
				 errdetail("%llu reserved tokens are left before acquires fail; releases and heartbeats keep working.  The worker tries again every second and reports at most once a minute (%d attempts so far).",
						   (unsigned long long) (reserved > next + LOCKABLE_TOKEN_MARGIN ?
												 reserved - next - LOCKABLE_TOKEN_MARGIN : 0),
						   failed_attempts),
				 errhint("Free disk space or fix the permissions of %s in the data directory.",
						 LOCKABLE_DIR)));
	}
	write_failing = true;
	report_last = now;
}

/*
 * The least next token at a start: the wall clock in nanoseconds, and one
 * hour (LOCKABLE_TOKEN_CLOCK_LEAD) more when this server may be a copy of
 * another or has lost its own record, so that it is above every token the
 * other issued (see README, "Fencing tokens never go backwards").  On the
 * scale of nanoseconds a crash restart's jump to the end of the reserved
 * block (LOCKABLE_TOKEN_BLOCK) is 4 ms, and no server grants a lease a
 * nanosecond, so a token counter stays behind its wall clock.
 */
static uint64
token_floor(bool copy)
{
	uint64		floor = (uint64) Max(lockable_clock_wall_ns(), 0);

	return copy ? floor + LOCKABLE_TOKEN_CLOCK_LEAD : floor;
}

/* Raise the token counter to at least floor; never lowers it */
static void
raise_next_token(uint64 floor)
{
	pg_atomic_uint64 *next = &lockable_shared->next_token;
	uint64		cur = pg_atomic_read_u64(next);

	while (cur < floor && !pg_atomic_compare_exchange_u64(next, &cur, floor))
		;
}

/* Move grace_until to until, unless it is already later */
static void
extend_grace(LockableTime until)
{
	pg_atomic_uint64 *g = &lockable_shared->grace_until;
	uint64		cur = pg_atomic_read_u64(g);

	while (cur < (uint64) until &&
		   !pg_atomic_compare_exchange_u64(g, &cur, (uint64) until))
		;
}

/*
 * lockable_grace_until
 *		When the grace period ends on the monotonic clock; 0 if none.
 */
LockableTime
lockable_grace_until(void)
{
	return (LockableTime) pg_atomic_read_u64(&lockable_shared->grace_until);
}

/*
 * lockable_grace_passed
 *		An acquirer found the grace period seen (a lockable_grace_until()
 *		value) over: clear it, unless it was moved meanwhile.
 */
void
lockable_grace_passed(LockableTime seen)
{
	uint64		expected = (uint64) seen;

	(void) pg_atomic_compare_exchange_u64(&lockable_shared->grace_until,
										  &expected, 0);
}

/*
 * lockable_recovery_end_check
 *		If this server started in recovery from a copy and recovery has
 *		ended (promotion, or the end of a restored backup's recovery), do
 *		once what a failover needs before anything is granted: the grace
 *		period of the longest ttl the original could have granted, tokens
 *		above the original's.  Called by every acquire before it looks at
 *		the grace period, by the worker and by the statistics.
 *
 * Takes the horizon lock; the caller holds no partition lock.
 */
void
lockable_recovery_end_check(void)
{
	LockableShared *s = lockable_shared;
	IOFailure	f;
	IOFailure	unlink_failure = {0};
	int64		grace;
	uint64		next;
	uint64		reserved;
	bool		written;

	if (likely(pg_atomic_read_u32(&s->recovery_pending) == 0))
	{
		/* whoever cleared it set grace_until first */
		pg_read_barrier();
		return;
	}
	if (RecoveryInProgress())
		return;

	LWLockAcquire(s->horizon_lock, LW_EXCLUSIVE);
	if (pg_atomic_read_u32(&s->recovery_pending) == 0)
	{
		LWLockRelease(s->horizon_lock);
		return;
	}

	/*
	 * The longest ttl the original could have granted: lockable.max_ttl as
	 * configured (a session's SET here can only make it longer), or the
	 * ttl horizon of the copy if a longer ttl was already in use.
	 */
	grace = Max(Max(s->recovery_grace,
					(int64) lockable_max_ttl * USECS_PER_SEC),
				s->ttl_horizon);
	if (lockable_crash_grace)
	{
		extend_grace(lockable_clock_now() + grace);
		/* a crash during it must still wait it out */
		s->ttl_pending = Max(s->ttl_pending, grace);
	}
	raise_next_token(token_floor(true));
	next = pg_atomic_read_u64(&s->next_token);

	reserved = Max(pg_atomic_read_u64(&s->tokens_reserved),
				   next + LOCKABLE_TOKEN_BLOCK);
	written = horizon_write(reserved, Max(s->ttl_horizon, s->ttl_pending), &f);
	if (written)
	{
		pg_atomic_write_u64(&s->tokens_reserved, reserved);
		s->ttl_horizon = Max(s->ttl_horizon, s->ttl_pending);
	}
	else
	{
		/* the next grant writes it, or fails; the worker retries */
		pg_atomic_write_u64(&s->tokens_reserved, next);
	}

	/* a restart from here on needs no failover grace of its own */
	if (written && unlink(LOCKABLE_RECOVERY_FILE) != 0 && errno != ENOENT)
		io_failed(&unlink_failure, "remove", LOCKABLE_RECOVERY_FILE);

	pg_write_barrier();
	pg_atomic_write_u32(&s->recovery_pending, 0);
	LWLockRelease(s->horizon_lock);

	if (!written)
		ereport(WARNING,
				(errcode(io_errcode(&f)),
				 errmsg("lockable: could not record the horizon at the end of recovery: " IO_FAILURE_FMT,
						IO_FAILURE_ARGS(&f)),
				 errdetail("No lease is granted until it is written.")));
	else if (unlink_failure.what != NULL)
		ereport(WARNING,
				(errcode(io_errcode(&unlink_failure)),
				 errmsg("lockable: " IO_FAILURE_FMT, IO_FAILURE_ARGS(&unlink_failure)),
				 errdetail("The next start applies the failover grace period again.")));
	if (lockable_crash_grace)
		ereport(LOG,
				(errmsg("lockable: recovery ended; no lease will be granted for %lld ms",
						(long long) (grace / 1000)),
				 errdetail("Leases granted by the server this one was copied from may still be in use until then (lockable.max_ttl, or the longest ttl that server used; lockable.crash_grace).  Tokens continue from %llu.",
						   (unsigned long long) next)));
	else
		ereport(WARNING,
				(errmsg("lockable: recovery ended, and lockable.crash_grace is off: leases held on the server this one was copied from may be granted again at once"),
				 errdetail("Tokens continue from %llu.", (unsigned long long) next)));
}

/*
 * Read the horizon file.  Returns true if it exists and is valid.
 */
static bool
horizon_read(HorizonData *h, bool *exists)
{
	size_t		len;
	char	   *buf = read_whole_file(LOCKABLE_HORIZON_FILE, &len, exists);

	if (buf == NULL)
		return false;
	if (len != sizeof(HorizonData))
	{
		ereport(LOG,
				(errmsg("lockable: ignoring file \"%s\": it is %zu bytes long, expected %zu",
						LOCKABLE_HORIZON_FILE, len, sizeof(HorizonData))));
		pfree(buf);
		return false;
	}
	memcpy(h, buf, sizeof(HorizonData));
	pfree(buf);
	if (h->magic != HORIZON_MAGIC || h->version != HORIZON_VERSION ||
		!EQ_CRC32C(h->crc, horizon_crc(h)))
	{
		ereport(LOG,
				(errmsg("lockable: ignoring file \"%s\": wrong magic number, version or checksum",
						LOCKABLE_HORIZON_FILE)));
		return false;
	}
	return true;
}

/* pg_control as the last shutdown or crash left it */
typedef struct ControlState
{
	bool		clean;			/* shut down, or shut down in recovery */
	bool		was_standby;	/* last ran in archive recovery (a standby) */
	XLogRecPtr	checkpoint;
	int64		time;
} ControlState;

static void
control_read(ControlState *c)
{
	ControlFileData *control;
	bool		crc_ok;

	control = get_controlfile(DataDir, &crc_ok);
	c->clean = crc_ok && (control->state == DB_SHUTDOWNED ||
						  control->state == DB_SHUTDOWNED_IN_RECOVERY);
	c->was_standby = crc_ok && (control->state == DB_SHUTDOWNED_IN_RECOVERY ||
								control->state == DB_IN_ARCHIVE_RECOVERY);
	c->checkpoint = control->checkPoint;
	c->time = (int64) control->time;
	pfree(control);
}

/* What the restored state needs, for lockable_persist_startup */
typedef struct StateLoaded
{
	uint64		next_token;
	int64		ttl_need;		/* longest time a restored lease may be held,
								 * or a carried grace period may run */
	LockableTime grace_until;	/* a grace period carried over, or for
								 * leases that did not fit; 0: none */
} StateLoaded;

/*
 * Restore the leases of leases.state, if it is valid and was written at
 * the shutdown pg_control shows.  Returns true if it was, and fills *st.
 */
static bool
state_load(const ControlState *control, bool restore, StateLoaded *st)
{
	StateHeader header;
	StateTrailer trailer;
	pg_crc32c	crc;
	size_t		len;
	size_t		pos;
	size_t		header_len;
	bool		exists;
	char	   *buf;
	LockableTime now = lockable_clock_now();
	int64		boot_now;
	char		boot_id[LOCKABLE_BOOT_ID_LEN];
	int64		downtime = 0;
	int			restored = 0;
	int			expired = 0;
	int			dropped = 0;
	int			skipped = 0;

	buf = read_whole_file(LOCKABLE_STATE_FILE, &len, &exists);
	if (!exists)
		return false;
	/* read once: a later start must not find it again */
	if (unlink(LOCKABLE_STATE_FILE) != 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("lockable: could not remove file \"%s\": %m",
						LOCKABLE_STATE_FILE),
				 errdetail("It will not be restored again: it belongs to this shutdown only.")));
	if (buf == NULL)
		return false;

	memset(&header, 0, sizeof(header));
	if (len < STATE_HEADER_V1_SIZE + sizeof(StateTrailer))
		goto corrupt;
	memcpy(&header, buf, STATE_HEADER_V1_SIZE);
	if (header.magic != STATE_MAGIC ||
		(header.version != 1 && header.version != STATE_VERSION))
		goto corrupt;
	header_len = header.version == 1 ? STATE_HEADER_V1_SIZE : sizeof(StateHeader);
	if (len < header_len + sizeof(StateTrailer))
		goto corrupt;
	memcpy(&header, buf, header_len);
	memcpy(&trailer, buf + len - sizeof(trailer), sizeof(trailer));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, len - sizeof(trailer));
	COMP_CRC32C(crc, &trailer.count, sizeof(trailer.count));
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(crc, trailer.crc))
		goto corrupt;
	if (header.system_identifier != GetSystemIdentifier())
	{
		ereport(LOG,
				(errmsg("lockable: ignoring file \"%s\": it belongs to another database cluster",
						LOCKABLE_STATE_FILE)));
		pfree(buf);
		return false;
	}

	/*
	 * Only the shutdown pg_control shows may be restored: after a crash, or
	 * when the file was left from an earlier shutdown, its leases may have
	 * been released and granted again since.  (A version 1 file does not
	 * say which shutdown it belongs to; it is trusted after a clean one.)
	 */
	if (!control->clean ||
		(header.version >= 2 &&
		 (header.checkpoint != control->checkpoint ||
		  header.control_time != control->time)))
	{
		ereport(LOG,
				(errmsg("lockable: ignoring file \"%s\": it was not written at the last shutdown",
						LOCKABLE_STATE_FILE)));
		pfree(buf);
		return false;
	}

	/*
	 * The time the server was down, if the boot clock can tell: the wall
	 * clock may have been stepped meanwhile.  Otherwise it is not counted.
	 */
	now = lockable_clock_now();
	if (header.version >= 2 && header.boot_id[0] != '\0' &&
		lockable_clock_boot(&boot_now, boot_id) &&
		strncmp(boot_id, header.boot_id, LOCKABLE_BOOT_ID_LEN) == 0 &&
		boot_now > header.boot_usec)
		downtime = boot_now - header.boot_usec;

	st->next_token = header.next_token;
	st->ttl_need = 0;
	st->grace_until = 0;
	pos = header_len;
	for (int i = 0; i < trailer.count; i++)
	{
		StateEntry	e;
		LeaseKey	key;
		int64		remaining;

		if (pos + sizeof(e) > len - sizeof(trailer))
			goto corrupt;
		memcpy(&e, buf + pos, sizeof(e));
		pos += sizeof(e);
		if (e.len == 0 || e.len > LOCKABLE_NAME_MAXLEN ||
			pos + e.len > len - sizeof(trailer) || e.token >= header.next_token)
			goto corrupt;

		/* left at shutdown, less the downtime measured */
		remaining = e.deadline - header.written_at - downtime;
		if (remaining <= 0)
		{
			expired++;
			pos += e.len;
			continue;
		}
		if (!restore)
		{
			/* a standby grants nothing: these were a primary's */
			skipped++;
			pos += e.len;
			continue;
		}
		memset(&key, 0, sizeof(key));
		key.dbid = e.dbid;
		key.len = e.len;
		memcpy(key.name, buf + pos, e.len);
		pos += e.len;

		st->ttl_need = Max(st->ttl_need, Max(e.ttl, remaining));
		if (lockable_lease_restore(&key, e.token, e.owner, e.ttl,
								   now - (header.written_at - e.acquired) - downtime,
								   now + remaining, e.renewals))
			restored++;
		else
		{
			/* no room: nobody may take it until it would have expired */
			dropped++;
			st->grace_until = Max(st->grace_until, now + remaining);
		}
	}
	pfree(buf);

	if (header.grace_until != 0)
	{
		int64		remaining = header.grace_until - header.written_at - downtime;

		if (remaining > 0)
		{
			st->grace_until = Max(st->grace_until, now + remaining);
			st->ttl_need = Max(st->ttl_need, remaining);
		}
	}
	ereport(LOG,
			(errmsg("lockable: restored %d leases from the last shutdown, %d had expired",
					restored, expired)));
	if (skipped > 0)
		ereport(LOG,
				(errmsg("lockable: did not restore %d leases: the server starts in recovery",
						skipped),
				 errdetail("A standby grants no lease (lockable.allow_on_standby is off), so the leases of the primary it was are not its own.")));
	if (dropped > 0)
		ereport(WARNING,
				(errmsg("lockable: %d leases did not fit in lockable.max_leases = %d",
						dropped, lockable_max_leases),
				 errdetail("Their names cannot be acquired until they would have expired.")));
	return true;

corrupt:
	ereport(LOG,
			(errmsg("lockable: ignoring corrupt file \"%s\"", LOCKABLE_STATE_FILE)));
	pfree(buf);
	return false;
}

/*
 * At postmaster exit after a clean shutdown, write the live plain leases.
 * No other process runs then.  After a crash or an immediate shutdown the
 * table may be inconsistent (processes died in the middle of changing it)
 * and nothing is written: the next start treats it as a crash.
 */
static void
state_dump(int code, Datum arg)
{
	StringInfoData buf;
	StateHeader header;
	StateTrailer trailer;
	ControlState control;
	LeaseInfo  *leases;
	LockableTime now;
	LockableTime grace_until;
	TimestampTz now_wall;
	IOFailure	f;
	int64		boot_usec;
	int			n;

	if (code != 0 || lockable_shared == NULL)
		return;
	control_read(&control);
	if (!control.clean)
	{
		ereport(LOG,
				(errmsg("lockable: not saving leases: the server did not shut down cleanly")));
		return;
	}

	leases = lockable_lease_snapshot(InvalidOid, &n, &now);
	now_wall = GetCurrentTimestamp();

	initStringInfo(&buf);
	memset(&header, 0, sizeof(header));
	header.magic = STATE_MAGIC;
	header.version = STATE_VERSION;
	header.system_identifier = GetSystemIdentifier();
	header.next_token = pg_atomic_read_u64(&lockable_shared->next_token);
	header.written_at = now_wall;
	grace_until = lockable_grace_until();
	if (grace_until > now)
		header.grace_until = lockable_clock_to_timestamptz(grace_until, now,
														   now_wall);
	header.checkpoint = control.checkpoint;
	header.control_time = control.time;
	if (lockable_clock_boot(&boot_usec, header.boot_id))
		header.boot_usec = boot_usec - (lockable_clock_now() - now);
	appendBinaryStringInfo(&buf, (char *) &header, sizeof(header));

	trailer.count = 0;
	for (int i = 0; i < n; i++)
	{
		LeaseInfo  *l = &leases[i];
		StateEntry	e;

		if (l->keepalive)
			continue;			/* its session is gone */
		if (l->remote != LEASE_LOCAL)
			continue;			/* the service lets it go within its lease */
		memset(&e, 0, sizeof(e));
		e.dbid = l->dbid;
		e.owner = l->owner;
		e.len = strlen(l->name);
		e.token = l->token;
		e.ttl = l->ttl;
		e.renewals = l->renewals;
		e.acquired = lockable_clock_to_timestamptz(l->acquired, now, now_wall);
		e.deadline = lockable_clock_to_timestamptz(l->deadline, now, now_wall);
		appendBinaryStringInfo(&buf, (char *) &e, sizeof(e));
		appendBinaryStringInfo(&buf, l->name, e.len);
		trailer.count++;
	}

	INIT_CRC32C(trailer.crc);
	COMP_CRC32C(trailer.crc, buf.data, buf.len);
	COMP_CRC32C(trailer.crc, &trailer.count, sizeof(trailer.count));
	FIN_CRC32C(trailer.crc);
	appendBinaryStringInfo(&buf, (char *) &trailer, sizeof(trailer));

	if (write_file_durably(LOCKABLE_STATE_FILE, buf.data, buf.len, &f))
		ereport(LOG,
				(errmsg("lockable: saved %d leases for the next start",
						trailer.count)));
	else
		ereport(LOG,
				(errmsg("lockable: could not save leases: " IO_FAILURE_FMT,
						IO_FAILURE_ARGS(&f)),
				 errdetail("The next start counts as a crash.")));
}

/* Does a file exist in the data directory? */
static bool
file_exists(const char *name)
{
	struct stat st;

	return stat(name, &st) == 0;
}

/*
 * lockable_persist_startup
 *		In the postmaster, once the lease table exists: restore the leases
 *		of a clean shutdown, or start the grace period after a crash; set
 *		the next token; arrange for the state to be written at exit.
 */
void
lockable_persist_startup(void)
{
	LockableShared *s = lockable_shared;
	ControlState control;
	StateLoaded st;
	HorizonData h;
	IOFailure	f;
	bool		horizon_exists;
	bool		horizon_valid;
	bool		dir_exists;
	bool		from_backup;
	bool		in_recovery;
	bool		copy = false;
	uint64		next_token = 1;
	LockableTime grace_until = 0;
	LockableTime now = lockable_clock_now();
	int64		grace = 0;
	int64		ttl_horizon = 0;

	dir_exists = file_exists(LOCKABLE_DIR);
	control_read(&control);
	/* a base backup's copy, before its recovery began */
	from_backup = file_exists(BACKUP_LABEL_FILE);

	/*
	 * A copy of another server that has not yet done what the end of its
	 * recovery needs (lockable_recovery_end_check): one that starts in
	 * recovery; a standby started without standby.signal, which pg_control
	 * still shows in recovery and which ends its recovery at once; or one
	 * stopped or crashed after it was promoted but before the check ran,
	 * which the marker file written at its start in recovery shows.
	 */
	in_recovery = from_backup || file_exists(STANDBY_SIGNAL_FILE) ||
		file_exists(RECOVERY_SIGNAL_FILE) || control.was_standby ||
		file_exists(LOCKABLE_RECOVERY_FILE);

	horizon_valid = horizon_read(&h, &horizon_exists);
	if (horizon_valid)
		ttl_horizon = h.ttl_horizon;

	/*
	 * A server that starts in recovery without lockable.allow_on_standby
	 * grants nothing, so the leases of a primary that is restarted as a
	 * standby (a switchover) are not restored: their holders' heartbeats
	 * must fail here, as the promoted server may grant the names.
	 */
	if (state_load(&control, !in_recovery || lockable_allow_on_standby, &st))
	{
		/*
		 * clean shutdown: exact; the ttl horizon comes back down, but a copy
		 * in recovery keeps the horizon it carries, for the grace at its end
		 */
		next_token = st.next_token;
		ttl_horizon = st.ttl_need;
		if (in_recovery && horizon_valid)
			ttl_horizon = Max(ttl_horizon, h.ttl_horizon);
		grace_until = st.grace_until;
	}
	else if (from_backup)
	{
		/*
		 * Nothing was granted by this copy yet; what the original granted
		 * is covered when recovery ends.
		 */
		if (horizon_valid)
			next_token = h.tokens_reserved;
		copy = true;
	}
	else if (horizon_valid)
	{
		next_token = h.tokens_reserved;
		grace = h.ttl_horizon;
	}
	else if (dir_exists)
	{
		/* leases were granted, but how long is lost */
		grace = (int64) lockable_max_ttl * USECS_PER_SEC;
		ttl_horizon = grace;
		copy = true;
		ereport(LOG,
				(errmsg("lockable: the token horizon is lost; tokens continue from %llu",
						(unsigned long long) Max(next_token, token_floor(true)))));
	}
	else
	{
		/* a new cluster, or pg_lockable/ was removed */
		copy = true;
	}

	/*
	 * Any data directory may be a copy (a restored snapshot looks like a
	 * crash, a copy of a stopped server like a clean restart): never below
	 * the wall clock, and an hour above it when this start knows it.
	 */
	next_token = Max(next_token, token_floor(copy));

	if (grace > 0)
	{
		if (lockable_crash_grace)
		{
			grace_until = Max(grace_until, now + grace);
			ereport(LOG,
					(errmsg("lockable: the server did not shut down cleanly; no lease will be granted for %lld ms",
							(long long) (grace / 1000)),
					 errdetail("Leases granted before the crash may still be in use until then (lockable.crash_grace).")));
		}
		else
			ereport(WARNING,
					(errmsg("lockable: the server did not shut down cleanly, and lockable.crash_grace is off: leases granted before the crash may be granted again at once")));
	}

	pg_atomic_write_u64(&s->next_token, next_token);
	pg_atomic_write_u64(&s->grace_until, (uint64) grace_until);
	pg_atomic_write_u32(&s->recovery_pending, in_recovery ? 1 : 0);
	s->recovery_grace = (int64) lockable_max_ttl * USECS_PER_SEC;
	s->ttl_pending = 0;

	/*
	 * Record durably where tokens and ttls stand before anything is granted:
	 * restored leases must be covered by the ttl horizon even if the horizon
	 * file was lost.  If that fails, the file keeps its old horizon, which
	 * covers at least as much for the ttl, and the reservation ends at the
	 * next token so that the first grant (or the worker) writes it again.
	 */
	s->ttl_horizon = ttl_horizon;
	if (horizon_write(next_token + LOCKABLE_TOKEN_BLOCK, ttl_horizon, &f))
		pg_atomic_write_u64(&s->tokens_reserved, next_token + LOCKABLE_TOKEN_BLOCK);
	else
	{
		pg_atomic_write_u64(&s->tokens_reserved, next_token);
		ereport(WARNING,
				(errcode(io_errcode(&f)),
				 errmsg("lockable: could not reserve fencing tokens durably: " IO_FAILURE_FMT,
						IO_FAILURE_ARGS(&f)),
				 errdetail("No lease can be granted until the worker or an acquire writes \"%s\".",
						   LOCKABLE_HORIZON_FILE)));
	}

	/* kept until the end of recovery has been recorded */
	if (in_recovery && !file_exists(LOCKABLE_RECOVERY_FILE) &&
		!write_file_durably(LOCKABLE_RECOVERY_FILE, "", 0, &f))
		ereport(WARNING,
				(errcode(io_errcode(&f)),
				 errmsg("lockable: " IO_FAILURE_FMT, IO_FAILURE_ARGS(&f)),
				 errdetail("If this server is stopped after its promotion but before its first lease, its next start applies no failover grace period.")));

	on_shmem_exit(state_dump, (Datum) 0);
}
