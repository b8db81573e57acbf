/*-------------------------------------------------------------------------
 *
 * lockable.h
 *	  Declarations shared by the files of the lockable extension: the lease
 *	  table in shared memory and its locking protocol, the settings, the
 *	  monotonic clock and the background worker.
 *
 * Leases live in a partitioned shared hash table (dynahash), keyed by
 * (database, name).  The table and everything attached to it is protected
 * as follows; this is the one place the protocol is written down.
 *
 * LOCKING PROTOCOL
 *
 * 1. A lease belongs to partition (hashcode % LOCKABLE_NUM_PARTITIONS) of
 *	  its key, like the heavyweight lock manager's LockHashPartition().  The
 *	  partition's LWLock protects: the hash entry (insert, delete, every
 *	  field), the lease's wait queue, and the queue fields (next, state,
 *	  granted_token, ttl, roleid, pid, keepalive) of every backend slot
 *	  queued on that lease, the partition's timer wheel and keepalive list
 *	  (LockablePartition), and the partition's statistics counters.
 *	  Reading takes the lock shared, anything else exclusive.
 *
 * 2. A backend holds at most one partition lock at a time; so does the
 *	  worker, which sweeps one partition after another.  Only whole-table
 *	  scans (the lockable_leases view, the state file at shutdown, the
 *	  statistics) hold several, and they take them in ascending partition
 *	  order and release them all before doing anything else, as lock.c
 *	  does.  So there is no deadlock among partition locks.
 *
 * 3. Nothing slow happens under a partition lock: no sleeping, no I/O, no
 *	  catalog access (role membership is checked after releasing the lock
 *	  and the operation is repeated, keyed by the token), no ereport other
 *	  than after releasing, no ConditionVariableSignal/SetLatch.  Wake-ups
 *	  are collected in a LockableWakeList and sent after the lock is
 *	  released.
 *
 * 4. Mutual exclusion: a name has at most one hash entry, and an entry
 *	  always has exactly one holder.  Every entry is on its partition's
 *	  timer wheel, in the slot of its deadline (so the worker finds the
 *	  leases due without scanning the table), and a keepalive lease is also
 *	  on its partition's keepalive list.  An entry whose deadline has passed is
 *	  expired: whoever finds it (acquire, heartbeat, release, the worker)
 *	  ends it under the partition lock before granting anything else.
 *
 * 5. Fairness: while a lease has queued waiters its entry is never
 *	  deleted.  Ending such a lease (release, expiry, force, end of a
 *	  keepalive session) hands it directly to the head of its wait queue:
 *	  the waiter's slot is marked GRANTED with a fresh token and its
 *	  condition variable is signalled.  Newcomers therefore cannot overtake
 *	  waiters, and waiters are served in arrival order.  A backend never
 *	  queues on a keepalive lease of its own session, which could not end
 *	  while it waits (LEASE_OWN_KEEPALIVE; the caller raises a deadlock).
 *
 * 6. Fencing tokens come from one 64-bit atomic counter, fetched while the
 *	  partition lock of the lease being granted is held exclusively, so the
 *	  tokens of one name increase in grant order and every token is unique
 *	  across the cluster.  The counter only ever moves up: by one per grant,
 *	  and to the clock floor (rule 8) at a start and at the end of recovery,
 *	  with a compare-and-swap that never lowers it.
 *
 * 7. nleases counts hash entries.  It is incremented before an entry is
 *	  kept and decremented after one is removed, both under the entry's
 *	  partition lock, and is never allowed above lockable.max_leases.
 *
 * 8. Durability (persist.c).  tokens_reserved: no token at or above it has
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
 *	  from a copy (standby.signal, recovery.signal, backup_label) and
 *	  cleared under horizon_lock, after grace_until is set, by the first
 *	  process that sees recovery has ended (an acquirer, the worker, the
 *	  statistics); an acquirer checks it before it checks grace_until.
 *
 * 9. lockable_acquire_any waiters ("any-waiters") are not queued on a
 *	  lease; they count themselves in any_waiters and sleep on any_cv.
 *	  Whenever a local lease is deleted (it ended with nobody queued) while
 *	  any_waiters is non-zero, any_cv is broadcast after the partition lock
 *	  is released, and the any-waiters try their names again.  A backend
 *	  leaves the count on every way out of its wait: errors, and FATAL
 *	  through its exit callback.
 *
 * 10. LockableBackend.session is an atomic written only by the backend that
 *	  owns the slot (assigned at its first keepalive acquire, cleared at
 *	  exit); the worker compares it with a keepalive lease's holder_session
 *	  to find leases whose session is gone.
 *
 * 11. Remote leases (remote.c) are hash entries keyed by database
 *	  InvalidOid and the name the service knows (lockable.remote_prefix
 *	  followed by the caller's name), so there is at most one entry, and at
 *	  most one request in flight, per remote name in the cluster.  All their
 *	  fields are under the partition lock, like a local lease's.  The entry
 *	  belongs to the acquirer's database (remote_db): heartbeat, release,
 *	  force release and the checks of other databases do not see it (as
 *	  for a local lease), though its name is busy for them too.  An entry
 *	  goes PENDING (inserted by an acquiring backend, which then asks the
 *	  service with no lock held) -> HELD (the service said true; a token is
 *	  granted) -> RELEASING (the local lease ended: released, expired,
 *	  forced, session gone; off the wheel and the keepalive list, no longer
 *	  held by anyone) -> deleted (the worker's release answered, or the
 *	  remote lease must have run out).  A PENDING, HELD or RELEASING entry
 *	  makes other acquirers of that name busy, so this cluster never sends
 *	  an acquire for a name while its release is still to be sent.  Remote
 *	  leases never have local wait queues: remote waiters ask the service
 *	  again on a backoff (0.1 s doubling to 1 s), sleeping on remote_cv in
 *	  between.  remote_cv is broadcast, after the partition lock is
 *	  released, when an entry that had been granted (HELD or RELEASING) is
 *	  deleted, that is when this cluster lets go of a remote name; a waiter
 *	  asks at once then only if its own name was held here.  The deletion
 *	  of a PENDING entry (refused, failed) wakes nobody, and neither do
 *	  local leases: neither can free a remote name.
 *	  remote_busy_until > now means a request for the entry is in flight
 *	  (by the worker, or the acquiring backend): nobody else sends one.
 *	  The service does not tell holders apart, so no heartbeat or release
 *	  is sent that could arrive after the remote lease may have run out
 *	  (remote_ok + lockable.remote_lease, less lockable.remote_timeout);
 *	  past that the lease is lost (HELD) or simply deleted (RELEASING).
 *	  The lost-lease ring is under remote_lock, never taken together with a
 *	  partition lock.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_H
#define LOCKABLE_H

#include "lib/ilist.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "compat.h"

/* the extension's version: the Makefile takes it from lockable.control */
#ifndef LOCKABLE_VERSION
#error "LOCKABLE_VERSION must be defined (the Makefile does, from lockable.control)"
#endif

/* Longest lease name, in bytes.  Longer names are an error. */
#define LOCKABLE_NAME_MAXLEN	200

#define LOCKABLE_NUM_PARTITIONS_LOG2	5
#define LOCKABLE_NUM_PARTITIONS		(1 << LOCKABLE_NUM_PARTITIONS_LOG2)

/* Microseconds on CLOCK_MONOTONIC: deadlines, never shown to users */
typedef int64 LockableTime;

#define LOCKABLE_FOREVER	PG_INT64_MAX

/*
 * Timer wheel: a lease sits in slot (deadline / TICK) % SLOTS of its
 * partition.  The sweep visits the slots of the ticks that have passed and
 * ends the leases in them whose deadline has passed; leases due in a later
 * turn of the wheel stay, and are looked at again one turn later.  4096
 * slots of one second cover 68 minutes, more than the default
 * lockable.max_ttl, so a lease is normally looked at once, when it is due.
 * The wheels take 32 * 4096 * 16 bytes = 2 MB.  Expiry itself does not
 * wait for the sweep (protocol rule 4), so a coarse tick only delays when
 * an expired lease's memory is reused.
 */
#define LOCKABLE_WHEEL_SLOTS	4096
#define LOCKABLE_WHEEL_TICK		USECS_PER_SEC

/* Tokens are reserved durably in blocks of this many (see persist.c) */
#define LOCKABLE_TOKEN_BLOCK	((uint64) 1 << 22)

/*
 * Tokens continue from at least the wall clock in nanoseconds at every
 * start, and from this much more at a start from a copy or a lost horizon
 * and at the end of recovery: one hour (protocol rule 8, README "Fencing
 * tokens never go backwards").
 */
#define LOCKABLE_TOKEN_CLOCK_LEAD	((uint64) 3600 * 1000000000)

/* Where a lease stands with the remote service (protocol rule 11) */
typedef enum LeaseRemoteState
{
	LEASE_LOCAL = 0,			/* a local lease: no remote service involved */
	LEASE_REMOTE_PENDING,		/* the acquirer is asking the service */
	LEASE_REMOTE_HELD,			/* held here and on the service */
	LEASE_REMOTE_RELEASING		/* ended here; release on the service due */
} LeaseRemoteState;

/* Hash key.  Compared by lease_key_match(), so padding does not matter. */
typedef struct LeaseKey
{
	Oid			dbid;
	uint16		len;
	char		name[LOCKABLE_NAME_MAXLEN];
} LeaseKey;

/* A lease: one hash entry, held by exactly one holder */
typedef struct Lease
{
	LeaseKey	key;			/* hash key, must be first */
	uint32		hashcode;		/* hash of key, to delete during scans */
	bool		keepalive;		/* renewed by the worker while the session
								 * holder_session lives */
	bool		capped;			/* keepalive stopped at lockable.max_hold */
	int			pid;			/* process that acquired it; 0 if restored */
	Oid			owner;			/* role that acquired it */
	int			holder_slot;	/* backend slot of a keepalive holder */
	uint64		holder_session; /* session id of a keepalive holder */
	uint64		token;			/* fencing token */
	LockableTime acquired;		/* when granted */
	LockableTime deadline;		/* expires when the clock passes this */
	int64		ttl;			/* length of one renewal, microseconds */
	int64		renewals;		/* heartbeats and keepalive renewals */
	dlist_node	wheel_node;		/* in the timer wheel slot of deadline */
	dlist_node	keepalive_node; /* in the keepalive list, if keepalive */
	int			wait_head;		/* first queued backend slot, or -1 */
	int			wait_tail;		/* last queued backend slot, or -1 */
	int			nwaiters;
	/* remote leases only (protocol rule 11) */
	uint8		remote;			/* LeaseRemoteState */
	uint16		prefix_len;		/* leading bytes of key.name that are the
								 * lockable.remote_prefix */
	Oid			remote_db;		/* database of the acquirer */
	int			remote_failures;	/* heartbeat requests failed in a row */
	LockableTime remote_ok;		/* sent time of the last acquire or
								 * heartbeat the service said true to */
	LockableTime remote_next;	/* next heartbeat (or release) due */
	LockableTime remote_busy_until; /* a request is in flight until then */
	dlist_node	remote_node;	/* in the partition's remote list */
} Lease;

typedef enum LockableWaitState
{
	LOCKABLE_WAIT_NONE = 0,
	LOCKABLE_WAIT_QUEUED,		/* in a lease's wait queue */
	LOCKABLE_WAIT_GRANTED		/* handed the lease; granted_token is valid */
} LockableWaitState;

/* One per backend slot (MyBackendId - 1, or MyProcNumber on 17+) */
typedef struct LockableBackend
{
	ConditionVariable cv;		/* the backend sleeps here while queued */
	pg_atomic_uint64 session;	/* see protocol rule 8 */
	/* protected by the partition lock of the lease queued on: */
	LockableWaitState state;
	int			next;			/* next slot in the same wait queue, or -1 */
	uint64		granted_token;
	int64		ttl;			/* what the waiter asked for */
	Oid			roleid;
	int			pid;
	bool		keepalive;
} LockableBackend;

/* Statistics counters, one set per partition, under its lock */
typedef struct LockableCounters
{
	uint64		acquired;		/* leases granted */
	uint64		refused;		/* acquires that returned NULL */
	uint64		waited;			/* acquires that had to queue */
	uint64		expired;		/* leases that ended by their ttl */
	uint64		released;		/* lockable_release() that succeeded */
	uint64		forced;			/* lockable_force_release() that ended one */
	uint64		session_ended;	/* keepalive leases ended with their session */
	uint64		heartbeats;		/* lockable_heartbeat() that succeeded */
	uint64		heartbeats_failed;	/* lockable_heartbeat() that returned
									 * false */
	uint64		renewals;		/* keepalive renewals by the worker */
	uint64		full;			/* acquires refused by lockable.max_leases */
	uint64		remote_acquired;	/* the service said true to an acquire */
	uint64		remote_refused; /* ... and false */
	uint64		remote_errors;	/* acquire requests that failed */
	uint64		remote_heartbeats;	/* heartbeats the service said true to */
	uint64		remote_heartbeat_errors;	/* heartbeat requests that failed */
	uint64		remote_lost;	/* remote leases lost */
	uint64		remote_released;	/* releases sent and answered */
	uint64		remote_release_errors;	/* release requests that failed */
} LockableCounters;

typedef union LockablePartitionStats
{
	LockableCounters c;
	char		pad[2 * PG_CACHE_LINE_SIZE];	/* no false sharing */
} LockablePartitionStats;

/* Per-partition structures for the worker, under the partition lock */
typedef struct LockablePartition
{
	dlist_head	wheel[LOCKABLE_WHEEL_SLOTS];
	dlist_head	keepalive;		/* the partition's keepalive leases */
	dlist_head	remote;			/* the partition's remote leases */
	int64		swept_tick;		/* wheel swept up to this tick */
} LockablePartition;

/* A remote lease that was lost, for lockable_leases (protocol rule 11) */
#define LOCKABLE_LOST_RING	64

typedef struct LockableLost
{
	bool		used;
	bool		keepalive;
	Oid			dbid;			/* database of the acquirer */
	Oid			owner;
	int			pid;
	uint64		token;
	int64		ttl;
	int64		renewals;
	int			failures;
	TimestampTz acquired_at;
	TimestampTz remote_ok_at;	/* last successful acquire or heartbeat */
	TimestampTz lost_at;
	char		name[LOCKABLE_NAME_MAXLEN + 1]; /* without the prefix */
} LockableLost;

typedef struct LockableShared
{
	LWLockPadded *locks;		/* LOCKABLE_NUM_PARTITIONS partition locks */
	pg_atomic_uint64 next_token;
	pg_atomic_uint64 next_session;
	pg_atomic_uint32 nleases;
	pg_atomic_uint64 tokens_reserved;	/* no token >= this was issued */
	int64		ttl_horizon;	/* no lease had a longer ttl, microseconds */
	int64		ttl_pending;	/* ttl horizon still to be recorded */
	LWLock	   *horizon_lock;	/* serialises writes of the horizon file */
	pg_atomic_uint64 grace_until;	/* LockableTime: no grant before this,
									 * after a crash or a failover; 0: none */
	pg_atomic_uint32 recovery_pending;	/* started in recovery from a copy:
										 * apply the grace when it ends */
	int64		recovery_grace; /* lockable.max_ttl at startup, microseconds */
	pg_atomic_uint32 any_waiters;	/* backends in lockable_acquire_any waits */
	ConditionVariable any_cv;	/* broadcast when a lease is deleted */
	ConditionVariable remote_cv;	/* broadcast when a remote lease is let
									 * go of (protocol rule 11) */
	pg_atomic_uint32 nremote;	/* remote entries, in any state */
	LWLock	   *remote_lock;	/* protects lost[] and lost_next */
	pg_atomic_uint32 nlost;		/* used entries of lost[]; changed under
								 * remote_lock, read without it */
	int			lost_next;
	LockableLost lost[LOCKABLE_LOST_RING];
	pg_atomic_uint64 remote_connects;	/* connections the worker opened */
	Latch	   *worker_latch;	/* set by the worker; NULL when not running */
	int			worker_pid;
	int64		last_sweep_usec;	/* duration of the worker's last sweep */
	TimestampTz stats_reset;
	LockablePartitionStats stats[LOCKABLE_NUM_PARTITIONS];
	LockablePartition parts[LOCKABLE_NUM_PARTITIONS];
	int			nbackends;
	LockableBackend backends[FLEXIBLE_ARRAY_MEMBER];
} LockableShared;

/* What a caller asks for; built by lockable_lease_request() */
typedef struct LeaseRequest
{
	LeaseKey	key;
	uint32		hashcode;
	int64		ttl;			/* microseconds */
	Oid			roleid;
	bool		keepalive;
	bool		count_refusal;	/* count a busy try in the statistics */
	Oid			remote_db;		/* a remote lease's: the caller's database */
} LeaseRequest;

typedef enum LeaseAcquireResult
{
	LEASE_GRANTED,
	LEASE_BUSY,
	LEASE_QUEUED,
	LEASE_OWN_KEEPALIVE			/* busy, held by a keepalive lease of this
								 * very session: it cannot end while the
								 * session waits, so it never queues */
} LeaseAcquireResult;

typedef enum LeaseOpResult
{
	LEASE_OP_DONE,
	LEASE_OP_NOT_HELD,
	LEASE_OP_CHECK_OWNER		/* held with that token, by another role */
} LeaseOpResult;

/* A copy of one live lease, for the lockable_leases view */
typedef struct LeaseInfo
{
	char		name[LOCKABLE_NAME_MAXLEN + 1];
	Oid			dbid;
	uint64		token;
	Oid			owner;
	int			pid;
	bool		keepalive;
	LockableTime acquired;
	LockableTime deadline;
	int64		ttl;
	int64		renewals;
	int			nwaiters;
	uint8		remote;			/* LeaseRemoteState */
	int			prefix_len;
	int			remote_failures;
	LockableTime remote_ok;
} LeaseInfo;

/* Requests to the remote service (remote.c) */
typedef enum LockableRemoteOp
{
	LOCKABLE_REMOTE_ACQUIRE,
	LOCKABLE_REMOTE_HEARTBEAT,
	LOCKABLE_REMOTE_RELEASE
} LockableRemoteOp;

typedef enum LockableRemoteOutcome
{
	LOCKABLE_REMOTE_TRUE,		/* 2xx, {"response": true} */
	LOCKABLE_REMOTE_FALSE,		/* 2xx, {"response": false} */
	LOCKABLE_REMOTE_FAILED		/* anything else: see error */
} LockableRemoteOutcome;

/* One request the worker sends for a remote lease, and its answer */
typedef struct LockableRemoteJob
{
	LeaseKey	key;
	uint32		hashcode;
	uint64		token;
	LockableRemoteOp op;
	LockableTime sent_at;
	LockableRemoteOutcome outcome;
	char		error[256];
} LockableRemoteJob;

/* settings (lockable.c) */
extern PGDLLIMPORT int lockable_max_leases;
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

/* clock.c */
#define LOCKABLE_BOOT_ID_LEN	40
extern LockableTime lockable_clock_now(void);
extern int64 lockable_clock_wall_ns(void);
extern bool lockable_clock_boot(int64 *usec, char *boot_id);
extern TimestampTz lockable_clock_to_timestamptz(LockableTime t,
												 LockableTime now,
												 TimestampTz now_wall);

/* lease_table.c */
extern LockableShared *lockable_shared;
extern void lockable_table_request_shmem(void);
extern void lockable_table_startup(void);
extern void lockable_table_check_loaded(void);
extern int	lockable_my_slot(void);
extern uint64 lockable_my_session(void);
extern void lockable_session_end(void);
extern void lockable_lease_request(LeaseRequest *req, const char *name,
								   int len, int64 ttl, bool keepalive);
extern LeaseAcquireResult lockable_lease_try(LeaseRequest *req, bool enqueue,
											 uint64 *token,
											 LockableTime *busy_until);
extern LeaseAcquireResult lockable_lease_wait_check(LeaseRequest *req,
													LockableTime wait_deadline,
													uint64 *token,
													LockableTime *sleep_until);
extern void lockable_lease_wait_abandon(LeaseRequest *req);
extern LeaseOpResult lockable_lease_heartbeat(LeaseRequest *req, uint64 token,
											  int64 ttl, Oid member_of,
											  Oid *owner);
extern LeaseOpResult lockable_lease_release(LeaseRequest *req, uint64 token,
											Oid member_of, Oid *owner);
extern bool lockable_lease_force_release(LeaseRequest *req);
extern bool lockable_lease_is_held(LeaseRequest *req, uint64 token);
extern void lockable_lease_count_refused(LeaseRequest *req);
extern bool lockable_lease_restore(const LeaseKey *key, uint64 token,
								   Oid owner, int64 ttl,
								   LockableTime acquired,
								   LockableTime deadline, int64 renewals);
extern LeaseInfo *lockable_lease_snapshot(Oid dbid, int *nleases,
										  LockableTime *now);
extern void lockable_lease_sweep(LockableTime *next_due);
extern void lockable_stats_read(LockableCounters *sum);
extern void lockable_stats_reset(void);
extern void lockable_worker_wake(void);
extern void lockable_remote_key(LeaseRequest *req);
extern bool lockable_remote_begin(LeaseRequest *req, int prefix_len,
								  bool *held_here);
extern uint64 lockable_remote_finish(LeaseRequest *req,
									 LockableRemoteOutcome outcome,
									 LockableTime sent_at);
extern bool lockable_lease_exists(LeaseRequest *req, uint64 token);
extern int	lockable_remote_collect(LockableRemoteJob *jobs, int max,
									LockableTime *next_due);
extern void lockable_remote_apply(LockableRemoteJob *job);
extern void lockable_remote_lost_ack(uint64 token, Oid dbid);
extern LockableLost *lockable_remote_lost_snapshot(Oid dbid, int *n);

/* persist.c */
extern void lockable_persist_startup(void);
extern void lockable_horizon_check(int64 ttl);
extern void lockable_horizon_check_ttl(int64 ttl);
extern void lockable_horizon_maintain(void);
extern void lockable_recovery_end_check(void);
extern LockableTime lockable_grace_until(void);
extern void lockable_grace_passed(LockableTime seen);

/* remote.c */
extern int64 lockable_remote_interval_usec(void);
extern int64 lockable_remote_worker_timeout_usec(void);
extern LockableRemoteOutcome lockable_remote_call(LockableRemoteOp op,
												  const char *name, int len,
												  LockableTime *sent_at);
extern void lockable_remote_check_configured(void);
extern void lockable_remote_worker_start(LockableRemoteJob *jobs, int n);
extern int	lockable_remote_worker_capacity(void);
extern bool lockable_remote_worker_busy(void);
extern bool lockable_remote_worker_wait(long timeout_ms);
extern void lockable_remote_worker_reset(const char *error);

/* worker.c */
extern void lockable_worker_register(void);
extern PGDLLEXPORT void lockable_worker_main(Datum main_arg);

#endif							/* LOCKABLE_H */
