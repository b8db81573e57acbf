/*-------------------------------------------------------------------------
 *
 * persist.c
 *	  Leases that survive a clean restart, and the startup of persistence:
 *	  restoring leases or starting the grace period, setting the next
 *	  token (horizon.c keeps the durable horizon).
 *
 * In $PGDATA/pg_lockable:
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
 * After a start without a valid leases.state (a crash, an immediate
 * shutdown, a power loss, a corrupt or stale file), tokens continue from
 * the horizon's tokens_reserved, and no lease is granted for its
 * ttl_horizon (horizon.c).  A missing, stale or corrupt file is logged and
 * ignored; the server always starts.
 *
 * This file calls the lease table (to restore leases, and to copy them at
 * shutdown) and horizon.c; neither calls it.
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
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#include "horizon.h"
#include "lease_table.h"
#include "persist.h"

#define LOCKABLE_STATE_FILE		LOCKABLE_DIR "/leases.state"

#define STATE_MAGIC		0x4C4B4C53	/* "LKLS" */
#define STATE_VERSION	3			/* 1: no shutdown or boot clock fields;
									 * 2: no slots and shared */

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
	uint16		slots;			/* version 3; 0 in older files: 1 */
	uint16		shared;			/* version 3; 0 in older files */
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

/* What restoring the entries of a state file did, for the log */
typedef struct StateCounts
{
	int			restored;
	int			expired;		/* their deadline passed while down */
	int			dropped;		/* no room in the table or the name pool */
	int			skipped;		/* not restored: the start is in recovery */
} StateCounts;

/*
 * Read leases.state (and remove it: it belongs to one shutdown only).
 * Returns its contents, palloc'd, with its header and trailer, if it is
 * intact, belongs to this cluster and was written at the shutdown
 * pg_control shows; else NULL, and says why in the log.
 */
static char *
state_read(const ControlState *control, size_t *len, StateHeader *header,
		   size_t *header_len, StateTrailer *trailer)
{
	pg_crc32c	crc;
	bool		exists;
	char	   *buf;

	buf = lockable_read_whole_file(LOCKABLE_STATE_FILE, len, &exists);
	if (!exists)
		return NULL;
	/* read once: a later start must not find it again */
	if (unlink(LOCKABLE_STATE_FILE) != 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("lockable: could not remove file \"%s\": %m",
						LOCKABLE_STATE_FILE),
				 errdetail("It will not be restored again: it belongs to this shutdown only.")));
	if (buf == NULL)
		return NULL;

	memset(header, 0, sizeof(*header));
	if (*len < STATE_HEADER_V1_SIZE + sizeof(StateTrailer))
		goto corrupt;
	memcpy(header, buf, STATE_HEADER_V1_SIZE);
	if (header->magic != STATE_MAGIC ||
		header->version < 1 || header->version > STATE_VERSION)
		goto corrupt;
	*header_len = header->version == 1 ? STATE_HEADER_V1_SIZE : sizeof(StateHeader);
	if (*len < *header_len + sizeof(StateTrailer))
		goto corrupt;
	memcpy(header, buf, *header_len);
	memcpy(trailer, buf + *len - sizeof(*trailer), sizeof(*trailer));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, *len - sizeof(*trailer));
	COMP_CRC32C(crc, &trailer->count, sizeof(trailer->count));
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(crc, trailer->crc))
		goto corrupt;
	if (header->system_identifier != GetSystemIdentifier())
	{
		ereport(LOG,
				(errmsg("lockable: ignoring file \"%s\": it belongs to another database cluster",
						LOCKABLE_STATE_FILE)));
		pfree(buf);
		return NULL;
	}

	/*
	 * Only the shutdown pg_control shows may be restored: after a crash, or
	 * when the file was left from an earlier shutdown, its leases may have
	 * been released and granted again since.  (A version 1 file does not
	 * say which shutdown it belongs to; it is trusted after a clean one.)
	 */
	if (!control->clean ||
		(header->version >= 2 &&
		 (header->checkpoint != control->checkpoint ||
		  header->control_time != control->time)))
	{
		ereport(LOG,
				(errmsg("lockable: ignoring file \"%s\": it was not written at the last shutdown",
						LOCKABLE_STATE_FILE)));
		pfree(buf);
		return NULL;
	}
	return buf;

corrupt:
	ereport(LOG,
			(errmsg("lockable: ignoring corrupt file \"%s\"", LOCKABLE_STATE_FILE)));
	pfree(buf);
	return NULL;
}

/*
 * The time the server was down, if the boot clock can tell: the wall clock
 * may have been stepped meanwhile.  Otherwise it is not counted (0).
 */
static int64
state_downtime(const StateHeader *header)
{
	int64		boot_now;
	char		boot_id[LOCKABLE_BOOT_ID_LEN];

	if (header->version >= 2 && header->boot_id[0] != '\0' &&
		lockable_clock_boot(&boot_now, boot_id) &&
		strncmp(boot_id, header->boot_id, LOCKABLE_BOOT_ID_LEN) == 0 &&
		boot_now > header->boot_usec)
		return boot_now - header->boot_usec;
	return 0;
}

/*
 * Restore (or, if !restore, count) the entries of a state file read by
 * state_read, each with the time it had left at shutdown less the
 * downtime.  Returns false if an entry is corrupt; the ones before it
 * stay restored, as they are valid.
 */
static bool
state_restore_entries(const char *buf, size_t len, const StateHeader *header,
					  size_t header_len, int count, bool restore,
					  StateLoaded *st, StateCounts *counts)
{
	LockableTime now = lockable_clock_now();
	int64		downtime = state_downtime(header);
	size_t		end = len - sizeof(StateTrailer);
	size_t		pos = header_len;

	for (int i = 0; i < count; i++)
	{
		StateEntry	e;
		LeaseKey	key;
		int64		remaining;

		if (pos + sizeof(e) > end)
			return false;
		memcpy(&e, buf + pos, sizeof(e));
		pos += sizeof(e);
		if (e.len == 0 || e.len > LOCKABLE_NAME_MAXLEN ||
			pos + e.len > end || e.token >= header->next_token)
			return false;

		/* left at shutdown, less the downtime measured */
		remaining = e.deadline - header->written_at - downtime;
		if (remaining <= 0 || !restore)
		{
			/* a standby grants nothing: unexpired ones were a primary's */
			if (remaining <= 0)
				counts->expired++;
			else
				counts->skipped++;
			pos += e.len;
			continue;
		}
		memset(&key, 0, sizeof(key));
		key.dbid = e.dbid;
		key.len = e.len;
		memcpy(key.name, buf + pos, e.len);
		pos += e.len;

		st->ttl_need = Max(st->ttl_need, Max(e.ttl, remaining));
		if (e.slots == 0)
			e.slots = 1;
		if (e.slots > LOCKABLE_MAX_SLOTS || e.shared > 1)
			return false;
		if (lockable_lease_restore(&key, e.token, e.owner, e.ttl,
								   now - (header->written_at - e.acquired) - downtime,
								   now + remaining, e.renewals, e.slots,
								   e.shared != 0))
			counts->restored++;
		else
		{
			/* no room: nobody may take it until it would have expired */
			counts->dropped++;
			st->grace_until = Max(st->grace_until, now + remaining);
		}
	}

	/* a grace period that was running at shutdown runs on */
	if (header->grace_until != 0)
	{
		int64		remaining = header->grace_until - header->written_at - downtime;

		if (remaining > 0)
		{
			st->grace_until = Max(st->grace_until, now + remaining);
			st->ttl_need = Max(st->ttl_need, remaining);
		}
	}
	return true;
}

/*
 * Restore the leases of leases.state, if it is valid and was written at
 * the shutdown pg_control shows.  Returns true if it was, and fills *st.
 */
static bool
state_load(const ControlState *control, bool restore, StateLoaded *st)
{
	StateHeader header;
	StateTrailer trailer;
	StateCounts counts = {0};
	size_t		len;
	size_t		header_len;
	char	   *buf;
	bool		ok;

	buf = state_read(control, &len, &header, &header_len, &trailer);
	if (buf == NULL)
		return false;
	st->next_token = header.next_token;
	st->ttl_need = 0;
	st->grace_until = 0;
	ok = state_restore_entries(buf, len, &header, header_len, trailer.count,
							   restore, st, &counts);
	pfree(buf);
	if (!ok)
	{
		ereport(LOG,
				(errmsg("lockable: ignoring corrupt file \"%s\"", LOCKABLE_STATE_FILE)));
		return false;
	}

	ereport(LOG,
			(errmsg("lockable: restored %d leases from the last shutdown, %d had expired",
					counts.restored, counts.expired)));
	if (counts.skipped > 0)
		ereport(LOG,
				(errmsg("lockable: did not restore %d leases: the server starts in recovery",
						counts.skipped),
				 errdetail("A standby grants no lease (lockable.allow_on_standby is off), so the leases of the primary it was are not its own.")));
	if (counts.dropped > 0)
		ereport(WARNING,
				(errmsg("lockable: %d leases did not fit in lockable.max_leases = %d",
						counts.dropped, lockable_max_leases),
				 errdetail("Their names cannot be acquired until they would have expired.  (A long name also needs room in the pool of long names.)")));
	return true;
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
		e.slots = (uint16) l->slots;
		e.shared = l->shared ? 1 : 0;
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

	if (lockable_write_file_durably(LOCKABLE_STATE_FILE, buf.data, buf.len, &f))
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
 * Is this start that of a copy of another server that has not yet done
 * what the end of its recovery needs (lockable_recovery_end_check)?  One
 * that starts in recovery; a standby started without standby.signal, which
 * pg_control still shows in recovery and which ends its recovery at once;
 * or one stopped or crashed after it was promoted but before the check
 * ran, which the marker file written at its start in recovery shows.
 * *from_backup: a base backup's copy, before its recovery began.
 */
static bool
starts_in_recovery(const ControlState *control, bool *from_backup)
{
	*from_backup = file_exists(BACKUP_LABEL_FILE);
	return *from_backup || file_exists(STANDBY_SIGNAL_FILE) ||
		file_exists(RECOVERY_SIGNAL_FILE) || control->was_standby ||
		file_exists(LOCKABLE_RECOVERY_FILE);
}

/* Where tokens, ttls and grants stand at this start */
typedef struct StartupState
{
	uint64		next_token;
	int64		ttl_horizon;
	LockableTime grace_until;	/* carried over, or for leases that did not
								 * fit; 0: none */
	int64		crash_grace;	/* a crash grace period to start, or 0 */
	bool		copy;			/* this start may be of a copy, or lost its
								 * horizon: tokens an hour above the clock */
} StartupState;

/*
 * Work out the StartupState: from the leases of a clean shutdown
 * (restoring them), or from the horizon file after a crash.
 */
static void
startup_state(const ControlState *control, bool in_recovery,
			  bool from_backup, StartupState *ss)
{
	StateLoaded st;
	HorizonData h;
	bool		horizon_exists;
	bool		horizon_valid;
	bool		dir_exists = file_exists(LOCKABLE_DIR);

	memset(ss, 0, sizeof(*ss));
	ss->next_token = 1;
	horizon_valid = lockable_horizon_read(&h, &horizon_exists);
	if (horizon_valid)
		ss->ttl_horizon = h.ttl_horizon;

	/*
	 * A server that starts in recovery without lockable.allow_on_standby
	 * grants nothing, so the leases of a primary that is restarted as a
	 * standby (a switchover) are not restored: their holders' heartbeats
	 * must fail here, as the promoted server may grant the names.
	 */
	if (state_load(control, !in_recovery || lockable_allow_on_standby, &st))
	{
		/*
		 * clean shutdown: exact; the ttl horizon comes back down, but a copy
		 * in recovery keeps the horizon it carries, for the grace at its end
		 */
		ss->next_token = st.next_token;
		ss->ttl_horizon = st.ttl_need;
		if (in_recovery && horizon_valid)
			ss->ttl_horizon = Max(ss->ttl_horizon, h.ttl_horizon);
		ss->grace_until = st.grace_until;
	}
	else if (from_backup)
	{
		/*
		 * Nothing was granted by this copy yet; what the original granted
		 * is covered when recovery ends.
		 */
		if (horizon_valid)
			ss->next_token = h.tokens_reserved;
		ss->copy = true;
	}
	else if (horizon_valid)
	{
		ss->next_token = h.tokens_reserved;
		ss->crash_grace = h.ttl_horizon;
	}
	else if (dir_exists)
	{
		/* leases were granted, but how long is lost */
		ss->crash_grace = (int64) lockable_max_ttl * USECS_PER_SEC;
		ss->ttl_horizon = ss->crash_grace;
		ss->copy = true;
		ereport(LOG,
				(errmsg("lockable: the token horizon is lost; tokens continue from %llu",
						(unsigned long long) Max(ss->next_token, lockable_token_floor(true)))));
	}
	else
	{
		/* a new cluster, or pg_lockable/ was removed */
		ss->copy = true;
	}

	/*
	 * Any data directory may be a copy (a restored snapshot looks like a
	 * crash, a copy of a stopped server like a clean restart): never below
	 * the wall clock, and an hour above it when this start knows it.
	 */
	ss->next_token = Max(ss->next_token, lockable_token_floor(ss->copy));
}

/*
 * Put the StartupState into shared memory, and record durably where
 * tokens and ttls stand before anything is granted: restored leases must
 * be covered by the ttl horizon even if the horizon file was lost.  If
 * that fails, the file keeps its old horizon, which covers at least as
 * much for the ttl, and the reservation ends at the next token so that
 * the first grant (or the worker) writes it again.
 */
static void
startup_record(const StartupState *ss, bool in_recovery)
{
	LockableShared *s = lockable_shared;
	LockableTime grace_until = ss->grace_until;
	IOFailure	f;

	if (ss->crash_grace > 0)
	{
		if (lockable_crash_grace)
		{
			grace_until = Max(grace_until, lockable_clock_now() + ss->crash_grace);
			ereport(LOG,
					(errmsg("lockable: the server did not shut down cleanly; no lease will be granted for %lld ms",
							(long long) (ss->crash_grace / 1000)),
					 errdetail("Leases granted before the crash may still be in use until then (lockable.crash_grace).")));
		}
		else
			ereport(WARNING,
					(errmsg("lockable: the server did not shut down cleanly, and lockable.crash_grace is off: leases granted before the crash may be granted again at once")));
	}

	pg_atomic_write_u64(&s->next_token, ss->next_token);
	pg_atomic_write_u64(&s->grace_until, (uint64) grace_until);
	pg_atomic_write_u32(&s->recovery_pending, in_recovery ? 1 : 0);
	s->recovery_grace = (int64) lockable_max_ttl * USECS_PER_SEC;
	s->ttl_pending = 0;

	s->ttl_horizon = ss->ttl_horizon;
	if (lockable_horizon_write(ss->next_token + LOCKABLE_TOKEN_BLOCK,
							   ss->ttl_horizon, &f))
		pg_atomic_write_u64(&s->tokens_reserved,
							ss->next_token + LOCKABLE_TOKEN_BLOCK);
	else
	{
		pg_atomic_write_u64(&s->tokens_reserved, ss->next_token);
		ereport(WARNING,
				(errcode(lockable_io_errcode(&f)),
				 errmsg("lockable: could not reserve fencing tokens durably: " IO_FAILURE_FMT,
						IO_FAILURE_ARGS(&f)),
				 errdetail("No lease can be granted until the worker or an acquire writes \"%s\".",
						   LOCKABLE_HORIZON_FILE)));
	}

	/* kept until the end of recovery has been recorded */
	if (in_recovery && !file_exists(LOCKABLE_RECOVERY_FILE) &&
		!lockable_write_file_durably(LOCKABLE_RECOVERY_FILE, "", 0, &f))
		ereport(WARNING,
				(errcode(lockable_io_errcode(&f)),
				 errmsg("lockable: " IO_FAILURE_FMT, IO_FAILURE_ARGS(&f)),
				 errdetail("If this server is stopped after its promotion but before its first lease, its next start applies no failover grace period.")));
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
	ControlState control;
	StartupState ss;
	bool		from_backup;
	bool		in_recovery;

	control_read(&control);
	in_recovery = starts_in_recovery(&control, &from_backup);
	startup_state(&control, in_recovery, from_backup, &ss);
	startup_record(&ss, in_recovery);
	on_shmem_exit(state_dump, (Datum) 0);
}
