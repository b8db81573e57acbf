/*-------------------------------------------------------------------------
 *
 * horizon.c
 *	  Fencing tokens and ttls that survive restarts, crashes, failovers and
 *	  disk errors: the durable horizon in $PGDATA/pg_lockable/horizon, the
 *	  clock floor of tokens, the grace period, the end of recovery; and the
 *	  durable file writes that persist.c uses for leases.state too.
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
 * The rule of the locking protocol these follow (rule 8) is written
 * below; the others are in shared.h.
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
#include "miscadmin.h"
#include "storage/fd.h"

#include "horizon.h"

/*
 * PROTOCOL RULE 8 (the rest of the locking protocol is in shared.h).
 *
 * 8. Durability.  tokens_reserved: no token at or above it has
 *	  been issued by this server, and pg_lockable/horizon says so.
 *	  ttl_horizon: no lease that may still be held was granted or renewed
 *	  with a longer ttl, and the file says so.  Both change only under
 *	  horizon_lock (or in the postmaster at startup, alone): they grow only
 *	  after the file has been written with the new values (a failed write
 *	  leaves them as they were), so the hot path may read them without the
 *	  lock; they are lowered only at startup (the ttl horizon, to what the
 *	  restored leases need) or to force the next grant to write
 *	  (tokens_reserved = next_token, after a failed write at startup or at
 *	  the end of recovery).
 *	  ttl_pending is a ttl horizon still to be recorded (set at the end of
 *	  recovery); every write of the file records Max(ttl_horizon,
 *	  ttl_pending).
 *	  Who checks what, before taking a partition lock:
 *	  - an acquire (lockable_horizon_check): next_token + LOCKABLE_TOKEN_MARGIN
 *		< tokens_reserved and its ttl <= ttl_horizon, or it writes the file
 *		first, and fails with a disk or I/O error (class 53 or 58) if it
 *		cannot;
 *	  - a heartbeat (lockable_horizon_check_ttl): its ttl only; no token is
 *		issued;
 *	  - release, force_release, the worker's sweep and session ends: nothing.
 *		The tokens they issue hand a lease to a waiter, and each waiter ran
 *		the acquire check before it queued.  At most MaxBackends backends
 *		are between their check and their grant or queued, and
 *		LOCKABLE_TOKEN_MARGIN is more than twice MAX_BACKENDS, so no token
 *		reaches tokens_reserved.
 *	  The worker writes the next block when half of it is left, so the
 *	  checks normally find it done; when a write fails it retries once a
 *	  second and keeps sweeping.  No I/O happens under a partition lock.
 *	  The clock floor: at every start next_token is raised to at least the
 *	  wall clock in nanoseconds, and to LOCKABLE_TOKEN_CLOCK_LEAD more at
 *	  a start that knows it uses a copy or lost its horizon and at the end
 *	  of recovery (a promotion, or a restored backup reaching its end), since
 *	  a copy of this data directory (or a lost pg_lockable/) may hold an
 *	  older horizon than the tokens issued.
 *	  grace_until (0: none) is set at startup, and at the end of recovery
 *	  under horizon_lock, only ever to a later time (compare-and-swap), and
 *	  cleared with a compare-and-swap by the first acquirer that finds it
 *	  passed, so a grace period set meanwhile is never cleared.
 *	  recovery_pending is set at startup when the server starts in recovery
 *	  from a copy (standby.signal, recovery.signal, backup_label, a
 *	  pg_control still in archive recovery, or pg_lockable/recovery_pending
 *	  left by an earlier such start whose end was not recorded) and
 *	  cleared under horizon_lock, after grace_until is set, by the first
 *	  process that sees recovery has ended (an acquirer, the worker, the
 *	  statistics); an acquirer checks it before it checks grace_until.
 */

#define HORIZON_MAGIC	0x4C4B4C48	/* "LKLH" */
#define HORIZON_VERSION	1

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

/* A SQLSTATE of class 53 (insufficient resources) or 58 (system error) */
int
lockable_io_errcode(const IOFailure *f)
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
bool
lockable_write_file_durably(const char *path, const void *data, size_t len,
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
char *
lockable_read_whole_file(const char *path, size_t *len, bool *exists)
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
bool
lockable_horizon_write(uint64 tokens_reserved, int64 ttl_horizon,
					   IOFailure *f)
{
	HorizonData h;

	memset(&h, 0, sizeof(h));
	h.magic = HORIZON_MAGIC;
	h.version = HORIZON_VERSION;
	h.tokens_reserved = tokens_reserved;
	h.ttl_horizon = ttl_horizon;
	h.crc = horizon_crc(&h);
	return lockable_write_file_durably(LOCKABLE_HORIZON_FILE, &h, sizeof(h), f);
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
	ok = lockable_horizon_write(reserved, ttl_horizon, f);
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
				(errcode(lockable_io_errcode(&f)),
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
				(errcode(lockable_io_errcode(&f)),
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
				(errcode(lockable_io_errcode(&f)),
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
uint64
lockable_token_floor(bool copy)
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
	IOFailure	unlink_failure;
	int64		grace;
	uint64		next;
	uint64		reserved;
	bool		written;

	/* the hot path: every acquire comes here */
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
	raise_next_token(lockable_token_floor(true));
	next = pg_atomic_read_u64(&s->next_token);

	reserved = Max(pg_atomic_read_u64(&s->tokens_reserved),
				   next + LOCKABLE_TOKEN_BLOCK);
	written = lockable_horizon_write(reserved, Max(s->ttl_horizon, s->ttl_pending), &f);
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
	unlink_failure.what = NULL;
	if (written && unlink(LOCKABLE_RECOVERY_FILE) != 0 && errno != ENOENT)
		io_failed(&unlink_failure, "remove", LOCKABLE_RECOVERY_FILE);

	pg_write_barrier();
	pg_atomic_write_u32(&s->recovery_pending, 0);
	LWLockRelease(s->horizon_lock);

	if (!written)
		ereport(WARNING,
				(errcode(lockable_io_errcode(&f)),
				 errmsg("lockable: could not record the horizon at the end of recovery: " IO_FAILURE_FMT,
						IO_FAILURE_ARGS(&f)),
				 errdetail("No lease is granted until it is written.")));
	else if (unlink_failure.what != NULL)
		ereport(WARNING,
				(errcode(lockable_io_errcode(&unlink_failure)),
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
bool
lockable_horizon_read(HorizonData *h, bool *exists)
{
	size_t		len;
	char	   *buf = lockable_read_whole_file(LOCKABLE_HORIZON_FILE, &len, exists);

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
