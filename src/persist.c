/*-------------------------------------------------------------------------
 *
 * persist.c
 *	  Leases and fencing tokens that survive restarts and crashes.
 *
 * Two files in $PGDATA/pg_lockable:
 *
 * leases.state is written by the postmaster when it exits after a clean
 * shutdown (as pg_stat_statements writes its file; "clean" meaning that
 * pg_control says so, so an immediate shutdown counts as a crash, as it
 * does for PostgreSQL's own recovery): every live plain lease with its
 * name, token, owner, ttl and wall-clock deadline, the next token, and a
 * crash grace period that is still running.  It is read, and removed, at
 * the next start.  Keepalive leases are not written: their sessions are
 * gone after a restart.
 *
 * horizon is written durably (fsync, durable_rename) whenever it must
 * grow, which is rare: it holds
 *	- tokens_reserved: no token at or above it has been issued.  Tokens are
 *	  reserved in blocks of LOCKABLE_TOKEN_BLOCK, by the worker before they
 *	  are needed, so the acquire path normally does no I/O.
 *	- ttl_horizon: no lease was ever granted or renewed with a longer ttl.
 *	  A new largest ttl is recorded before the lease is granted.
 *	It is also written at every start, once the next token is known and
 *	the restored leases are counted in the ttl horizon.
 *
 * After a start without a valid leases.state (a crash, an immediate
 * shutdown, a power loss, a corrupt file), tokens continue from
 * tokens_reserved, and no lease is granted for ttl_horizon: every lease
 * granted before the crash would have expired by then.  This is the grace
 * period of lockable.crash_grace; turning that off makes leases free at
 * once after a crash, which is unsafe and explicit.
 *
 * A missing, stale or corrupt file is logged and ignored; the server always
 * starts.  If the horizon cannot be read, tokens continue from the current
 * time in microseconds (larger than any count of grants) and the grace
 * period is lockable.max_ttl.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
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

#define STATE_MAGIC		0x4C4B4C53	/* "LKLS" */
#define HORIZON_MAGIC	0x4C4B4C48	/* "LKLH" */
#define FILE_VERSION	1

/* A backend extends the reservation itself when fewer are left than this */
#define LOCKABLE_TOKEN_MARGIN	(LOCKABLE_TOKEN_BLOCK / 4)

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
} StateHeader;

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

bool		lockable_crash_grace = true;

/*
 * Write data to path durably: a temporary file, fsync, durable_rename.
 * Returns false (after reporting at elevel) on failure.
 */
static bool
write_file_durably(const char *path, const void *data, size_t len, int elevel)
{
	char		tmp[MAXPGPATH];
	int			fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("lockable: could not create file \"%s\": %m", tmp)));
		return false;
	}
	errno = 0;
	if (write(fd, data, len) != len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("lockable: could not write file \"%s\": %m", tmp)));
		CloseTransientFile(fd);
		return false;
	}
	if (CloseTransientFile(fd) != 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("lockable: could not close file \"%s\": %m", tmp)));
		return false;
	}
	/* fsyncs the file and the directory */
	return durable_rename(tmp, path, elevel) == 0;
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

/*
 * Write the horizon file durably.  Returns false (reported at elevel) if
 * it could not be written.
 */
static bool
horizon_write(uint64 tokens_reserved, int64 ttl_horizon, int elevel)
{
	HorizonData h;

	memset(&h, 0, sizeof(h));
	h.magic = HORIZON_MAGIC;
	h.version = FILE_VERSION;
	h.tokens_reserved = tokens_reserved;
	h.ttl_horizon = ttl_horizon;
	h.crc = horizon_crc(&h);

	if (MakePGDirectory(LOCKABLE_DIR) < 0 && errno != EEXIST)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("lockable: could not create directory \"%s\": %m",
						LOCKABLE_DIR)));
		return false;
	}
	return write_file_durably(LOCKABLE_HORIZON_FILE, &h, sizeof(h), elevel);
}

/*
 * lockable_horizon_extend
 *		Durably record a token reservation reaching past the next token by
 *		a block, and a ttl horizon of at least ttl.  Raises an error if the
 *		file cannot be written: nothing may be granted beyond the horizon.
 *
 * Takes the horizon lock; the caller holds no partition lock.
 */
void
lockable_horizon_extend(int64 ttl)
{
	LockableShared *s = lockable_shared;
	uint64		next;
	uint64		reserved;
	int64		ttl_horizon;

	LWLockAcquire(s->horizon_lock, LW_EXCLUSIVE);
	next = pg_atomic_read_u64(&s->next_token);
	if (next + LOCKABLE_TOKEN_BLOCK / 2 < pg_atomic_read_u64(&s->tokens_reserved) &&
		ttl <= s->ttl_horizon)
	{
		LWLockRelease(s->horizon_lock);
		return;					/* someone else did it */
	}

	reserved = next + LOCKABLE_TOKEN_BLOCK;
	ttl_horizon = Max(ttl, s->ttl_horizon);
	(void) horizon_write(reserved, ttl_horizon, ERROR);

	pg_atomic_write_u64(&s->tokens_reserved, reserved);
	s->ttl_horizon = ttl_horizon;
	LWLockRelease(s->horizon_lock);
}

/*
 * lockable_horizon_check
 *		Before granting or renewing with ttl: is the horizon far enough?
 *		One comparison of shared values on the hot path; I/O only when the
 *		reservation is nearly used up or ttl is the largest ever.
 */
void
lockable_horizon_check(int64 ttl)
{
	LockableShared *s = lockable_shared;

	if (unlikely(ttl > s->ttl_horizon ||
				 pg_atomic_read_u64(&s->next_token) + LOCKABLE_TOKEN_MARGIN >=
				 pg_atomic_read_u64(&s->tokens_reserved)))
		lockable_horizon_extend(ttl);
}

/*
 * lockable_horizon_maintain
 *		From the worker: reserve the next block before backends need it.
 */
void
lockable_horizon_maintain(void)
{
	LockableShared *s = lockable_shared;

	if (pg_atomic_read_u64(&s->next_token) + LOCKABLE_TOKEN_BLOCK / 2 >=
		pg_atomic_read_u64(&s->tokens_reserved))
		lockable_horizon_extend(0);
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
	if (h->magic != HORIZON_MAGIC || h->version != FILE_VERSION ||
		!EQ_CRC32C(h->crc, horizon_crc(h)))
	{
		ereport(LOG,
				(errmsg("lockable: ignoring file \"%s\": wrong magic number, version or checksum",
						LOCKABLE_HORIZON_FILE)));
		return false;
	}
	return true;
}

/*
 * Restore the leases of leases.state, if it is valid.  Returns true if it
 * was; sets *next_token from it; *ttl_need to the longest time any
 * restored lease may still be held (the ttl horizon must cover it); and
 * *grace_until if a crash grace period was still running at shutdown, or
 * if a live lease could not be restored (the table is smaller now).
 */
static bool
state_load(uint64 *next_token, int64 *ttl_need, LockableTime *grace_until)
{
	StateHeader header;
	StateTrailer trailer;
	pg_crc32c	crc;
	size_t		len;
	size_t		pos;
	bool		exists;
	char	   *buf;
	TimestampTz now_wall = GetCurrentTimestamp();
	LockableTime now = lockable_clock_now();
	int			restored = 0;
	int			expired = 0;
	int			dropped = 0;

	buf = read_whole_file(LOCKABLE_STATE_FILE, &len, &exists);
	if (!exists)
		return false;
	/* read once: a later crash must not find it again */
	unlink(LOCKABLE_STATE_FILE);
	if (buf == NULL)
		return false;

	if (len < sizeof(StateHeader) + sizeof(StateTrailer))
		goto corrupt;
	memcpy(&header, buf, sizeof(header));
	memcpy(&trailer, buf + len - sizeof(trailer), sizeof(trailer));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, len - sizeof(trailer));
	COMP_CRC32C(crc, &trailer.count, sizeof(trailer.count));
	FIN_CRC32C(crc);
	if (header.magic != STATE_MAGIC || header.version != FILE_VERSION ||
		!EQ_CRC32C(crc, trailer.crc))
		goto corrupt;
	if (header.system_identifier != GetSystemIdentifier())
	{
		ereport(LOG,
				(errmsg("lockable: ignoring file \"%s\": it belongs to another database cluster",
						LOCKABLE_STATE_FILE)));
		pfree(buf);
		return false;
	}

	pos = sizeof(header);
	for (int i = 0; i < trailer.count; i++)
	{
		StateEntry e;
		LeaseKey	key;

		if (pos + sizeof(e) > len - sizeof(trailer))
			goto corrupt;
		memcpy(&e, buf + pos, sizeof(e));
		pos += sizeof(e);
		if (e.len == 0 || e.len > LOCKABLE_NAME_MAXLEN ||
			pos + e.len > len - sizeof(trailer) || e.token >= header.next_token)
			goto corrupt;

		if (e.deadline <= now_wall)
		{
			expired++;
			pos += e.len;
			continue;
		}
		memset(&key, 0, sizeof(key));
		key.dbid = e.dbid;
		key.len = e.len;
		memcpy(key.name, buf + pos, e.len);
		pos += e.len;

		*ttl_need = Max(*ttl_need, Max(e.ttl, e.deadline - now_wall));
		if (lockable_lease_restore(&key, e.token, e.owner, e.ttl,
								   now - (now_wall - e.acquired),
								   now + (e.deadline - now_wall),
								   e.renewals))
			restored++;
		else
		{
			/* no room: nobody may take it until it would have expired */
			dropped++;
			*grace_until = Max(*grace_until, now + (e.deadline - now_wall));
		}
	}
	pfree(buf);

	*next_token = header.next_token;
	if (header.grace_until > now_wall)
		*grace_until = Max(*grace_until, now + (header.grace_until - now_wall));
	ereport(LOG,
			(errmsg("lockable: restored %d leases from the last shutdown, %d had expired",
					restored, expired)));
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

/* Did the cluster just shut down cleanly (a shutdown checkpoint)? */
static bool
shut_down_cleanly(void)
{
	ControlFileData *control;
	bool		crc_ok;
	bool		clean;

	control = get_controlfile(DataDir, &crc_ok);
	clean = crc_ok && control->state == DB_SHUTDOWNED;
	pfree(control);
	return clean;
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
	LeaseInfo  *leases;
	LockableTime now;
	TimestampTz now_wall;
	int			n;

	if (code != 0 || lockable_shared == NULL)
		return;
	if (!shut_down_cleanly())
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
	header.version = FILE_VERSION;
	header.system_identifier = GetSystemIdentifier();
	header.next_token = pg_atomic_read_u64(&lockable_shared->next_token);
	header.written_at = now_wall;
	if (lockable_shared->grace_until > now)
		header.grace_until = lockable_clock_to_timestamptz(lockable_shared->grace_until,
														   now, now_wall);
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

	if (MakePGDirectory(LOCKABLE_DIR) < 0 && errno != EEXIST)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("lockable: could not create directory \"%s\": %m",
						LOCKABLE_DIR)));
		return;
	}
	if (write_file_durably(LOCKABLE_STATE_FILE, buf.data, buf.len, LOG))
		ereport(LOG,
				(errmsg("lockable: saved %d leases for the next start",
						trailer.count)));
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
	HorizonData h;
	bool		horizon_exists;
	bool		horizon_valid;
	bool		dir_exists;
	struct stat st;
	uint64		next_token = 1;
	LockableTime grace_until = 0;
	LockableTime now = lockable_clock_now();
	int64		grace = 0;
	int64		ttl_need = 0;

	dir_exists = (stat(LOCKABLE_DIR, &st) == 0);
	horizon_valid = horizon_read(&h, &horizon_exists);
	if (horizon_valid)
	{
		pg_atomic_write_u64(&s->tokens_reserved, h.tokens_reserved);
		s->ttl_horizon = h.ttl_horizon;
	}

	if (state_load(&next_token, &ttl_need, &grace_until))
	{
		/* clean shutdown: exact */
	}
	else if (horizon_valid)
	{
		next_token = h.tokens_reserved;
		grace = h.ttl_horizon;
	}
	else if (dir_exists)
	{
		/* leases were granted, but how many and how long is lost */
		next_token = (uint64) Max(GetCurrentTimestamp(), 1);
		grace = (int64) lockable_max_ttl * USECS_PER_SEC;
		ereport(LOG,
				(errmsg("lockable: the token horizon is lost; tokens continue from %llu",
						(unsigned long long) next_token)));
	}
	/* else: a new cluster, nothing was ever granted */

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
	s->grace_until = grace_until;

	/*
	 * Record durably where tokens and ttls stand before anything is granted:
	 * restored leases must be covered by the ttl horizon even if the horizon
	 * file was lost.  If that fails, the first grant tries again, since the
	 * reservation then ends at the next token.
	 */
	s->ttl_horizon = Max(s->ttl_horizon, ttl_need);
	if (horizon_write(next_token + LOCKABLE_TOKEN_BLOCK, s->ttl_horizon, LOG))
		pg_atomic_write_u64(&s->tokens_reserved, next_token + LOCKABLE_TOKEN_BLOCK);
	else
		pg_atomic_write_u64(&s->tokens_reserved, next_token);

	on_shmem_exit(state_dump, (Datum) 0);
}
