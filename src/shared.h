/*-------------------------------------------------------------------------
 *
 * shared.h
 *	  The shared state of lockable (shared.c): the partition locks, the
 *	  backend slots, the timer wheels, the counters, and the locking
 *	  protocol that governs all of it.
 *
 * Leases live in a partitioned shared hash table (dynahash, lease_table.c),
 * keyed by (database, name).  The table and everything attached to it is
 * protected as follows; this is the one place the protocol is written
 * down.  Rules 8 and 11 concern the structures of one file each and are
 * written there, beside them.
 *
 * LOCKING PROTOCOL
 *
 * 1. A lease belongs to partition (hashcode % LOCKABLE_NUM_PARTITIONS) of
 *	  its key, like the heavyweight lock manager's LockHashPartition().  The
 *	  partition's LWLock protects: the hash entry (insert, delete, every
 *	  field), the lease's wait queue, and the queue fields (next, state,
 *	  granted_token, ttl, roleid, pid, keepalive) of every backend slot
 *	  queued on that lease, the partition's timer wheel, keepalive list and
 *	  remote list (LockablePartition), and the partition's statistics
 *	  counters.  Reading takes the lock shared, anything else exclusive.
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
 * 4. Mutual exclusion: a name has at most one hash entry, and a plain
 *	  entry always has exactly one holder; the holders of a counting or
 *	  shared lease are member entries of its name's group (rule 13), each
 *	  held like a plain entry.  Every held entry (a local lease, a member,
 *	  or a remote one that is HELD) is on its partition's timer wheel, in the
 *	  slot of when the worker must next look at it: its deadline, or for a
 *	  keepalive lease the worker still renews, its renewal half a ttl
 *	  before (lease_due, lease_table.h); so the worker finds what is due
 *	  without scanning the table.  An entry is on the wheel exactly when
 *	  its deadline is not LOCKABLE_FOREVER.  A keepalive lease is also on
 *	  its holder's keepalive_leases list for its partition (rule 10).  An
 *	  entry whose deadline has passed is
 *	  expired: whoever finds it (acquire, heartbeat, release, the worker)
 *	  ends it under the partition lock before granting anything else.
 *
 * 5. Fairness: while a lease has queued waiters its entry is never
 *	  deleted.  Ending such a lease (release, expiry, force, end of a
 *	  keepalive session) hands it directly to the head of its wait queue,
 *	  and to the next ones for as long as each fits (a group's slots and
 *	  mode, rule 13): each waiter's slot is marked GRANTED with a fresh
 *	  token and its condition variable is signalled.  An acquire that finds
 *	  waiters queues behind them (or is refused) even when it would fit, so
 *	  newcomers cannot overtake waiters, waiters are served in arrival
 *	  order, and a queued non-shared waiter is not starved by shared ones.
 *	  A backend never queues on a name whose every holder is a keepalive
 *	  lease of its own session, or that is held in the other mode by one,
 *	  as it would wait for a holder that cannot end while it waits
 *	  (LEASE_OWN_KEEPALIVE; the caller raises a deadlock).
 *
 * 6. Fencing tokens come from one 64-bit atomic counter, fetched while the
 *	  partition lock of the lease being granted is held exclusively, so the
 *	  tokens of one name increase in grant order and every token is unique
 *	  across the cluster.  The counter only ever moves up: by one per grant,
 *	  and to the clock floor (rule 8) at a start and at the end of recovery,
 *	  with a compare-and-swap that never lowers it.
 *
 * 7. nleases counts hash entries, and the member entries promised to
 *	  queued waiters that want a group (slots > 1, or shared: the
 *	  caller of lockable_lease_enqueue_locked counts one), so that a
 *	  handoff under the partition lock always finds an entry free.  It is
 *	  incremented before an entry is kept or promised and decremented after
 *	  one is removed or a promise is dropped, all under the entry's
 *	  partition lock, and is never allowed above lockable.max_leases.
 *
 * 8. Durability: tokens_reserved, ttl_horizon, ttl_pending, grace_until,
 *	  recovery_pending and horizon_lock.  Written in horizon.c.
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
 *	  to find leases whose session is gone.  A session that ends sets its
 *	  slot's ended flag, then bumps sessions_ended; the worker, seeing the
 *	  count move, clears each set flag (exchange) and ends the leases in
 *	  that slot's keepalive_leases lists whose holder_session is no longer
 *	  the slot's session.  A lease is on a keepalive_leases list exactly
 *	  while it is keepalive; the list of partition p is under p's lock.
 *
 * 11. Remote leases: the remote fields of an entry, the partitions' remote
 *	  lists, nremote, remote_cv, and the lost ring under remote_lock.
 *	  Written in remote_lease.c.
 *
 * 12. What an entry keeps outside itself (lease_store.c): the part of its
 *	  name beyond LOCKABLE_NAME_INLINE bytes, in a chain of name pool
 *	  chunks, and a remote entry's remote fields, in a slot of the remote
 *	  side table.  Chunks and slots are taken and given back under their
 *	  pool's spinlock, held for nothing else and taken only inside a
 *	  partition lock; each belongs to one entry from its insertion to its
 *	  deletion, is written before the entry can be found, and is read and
 *	  written only under the entry's partition lock.
 *
 * 13. Counting and shared leases (slots > 1, or shared): the name's entry
 *	  is a group (LEASE_GROUP): it has no holder of its own, is never on the
 *	  wheel, and keeps the wait queue, the slots fixed by its first holder,
 *	  the mode of its holders (all shared, or all not) and the list of its
 *	  members.  Each holder is a member entry (LEASE_MEMBER) keyed by its
 *	  token, with a hash code of its own in its group's partition (the low
 *	  bits), so the group and its members are under one partition lock
 *	  while each member has a dynahash bucket of its own; a member points
 *	  to its group, which outlives it.  A group has at least one member,
 *	  or is deleted when its last member ends and nobody waits, or is
 *	  handed on (rule 5).  A
 *	  plain entry whose holder ended becomes a group for a first waiter
 *	  that wants one, and a group without members becomes plain again for
 *	  one that does not.  Ending a member deletes that entry only, so the
 *	  worker's walks of the wheel and the keepalive lists, which end the
 *	  entry they are at, stay valid.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_SHARED_H
#define LOCKABLE_SHARED_H

#include "lib/ilist.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "lockable.h"

#define LOCKABLE_NUM_PARTITIONS_LOG2	5
#define LOCKABLE_NUM_PARTITIONS		(1 << LOCKABLE_NUM_PARTITIONS_LOG2)

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
	pg_atomic_uint64 session;	/* see protocol rule 10 */
	pg_atomic_uint32 ended;		/* the session ended: its keepalive leases
								 * are for the worker to end (rule 10) */
	/* its keepalive leases, one list per partition, under that lock */
	dlist_head	keepalive_leases[LOCKABLE_NUM_PARTITIONS];
	/* protected by the partition lock of the lease queued on: */
	LockableWaitState state;
	int			next;			/* next slot in the same wait queue, or -1 */
	uint64		granted_token;
	int64		ttl;			/* what the waiter asked for */
	Oid			roleid;
	int			pid;
	int			slots;
	bool		shared;
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
	uint64		table_full;		/* acquires refused by lockable.max_leases */
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

/* Per-partition lists of leases, under the partition lock */
typedef struct LockablePartition
{
	dlist_head	wheel[LOCKABLE_WHEEL_SLOTS];
	int			nkeepalive;		/* keepalive leases in the partition */
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
	TimestampTz confirmed_at;	/* last successful acquire or heartbeat */
	TimestampTz lost_at;
	char		name[LOCKABLE_NAME_MAXLEN + 1]; /* without the prefix */
} LockableLost;

/* a field that starts a cache line of its own, where the compiler can say so */
#ifdef pg_attribute_aligned
#define LOCKABLE_CACHELINE_ALIGNED pg_attribute_aligned(PG_CACHE_LINE_SIZE)
#else
#define LOCKABLE_CACHELINE_ALIGNED
#endif

/*
 * The fields every acquire reads and almost nothing writes come first, on
 * a cache line of their own; next_token (written by every grant) and
 * nleases (by every new entry and every delete) each have one of their own
 * after them, so that the hot path's atomic read-modify-writes do not take
 * the read-mostly line away from the other backends.
 */
typedef struct LockableShared
{
	/* read-mostly */
	LWLockPadded *locks;		/* LOCKABLE_NUM_PARTITIONS partition locks */
	pg_atomic_uint64 tokens_reserved;	/* no token >= this was issued */
	int64		ttl_horizon;	/* no lease had a longer ttl, microseconds */
	int64		ttl_pending;	/* ttl horizon still to be recorded */
	LWLock	   *horizon_lock;	/* serialises writes of the horizon file */
	pg_atomic_uint64 grace_until;	/* LockableTime: no grant before this,
									 * after a crash or a failover; 0: none */
	pg_atomic_uint32 recovery_pending;	/* started in recovery from a copy:
										 * apply the grace when it ends */
	int64		recovery_grace; /* lockable.max_ttl at startup, microseconds */

	/* written by every grant */
	pg_atomic_uint64 next_token LOCKABLE_CACHELINE_ALIGNED;
	/* written by every new entry and every delete */
	pg_atomic_uint32 nleases LOCKABLE_CACHELINE_ALIGNED;

	pg_atomic_uint64 next_session LOCKABLE_CACHELINE_ALIGNED;
	pg_atomic_uint32 sessions_ended;	/* bumped by each session that ends
										 * (protocol rule 10) */
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

extern LockableShared *lockable_shared;

static inline LWLock *
lockable_partition_lock(uint32 hashcode)
{
	return &lockable_shared->locks[hashcode % LOCKABLE_NUM_PARTITIONS].lock;
}

static inline LockableCounters *
lockable_partition_stats(uint32 hashcode)
{
	return &lockable_shared->stats[hashcode % LOCKABLE_NUM_PARTITIONS].c;
}

static inline LockablePartition *
lockable_partition_of(uint32 hashcode)
{
	return &lockable_shared->parts[hashcode % LOCKABLE_NUM_PARTITIONS];
}

/*
 * Backends to signal once the partition lock is released (protocol rule
 * 3).  Most operations wake at most two; the sweep may wake many.
 */
typedef struct LockableWakeList
{
	bool		deleted;		/* a lease was deleted: tell any-waiters */
	bool		remote_ended;	/* a remote lease was let go of: tell
								 * remote waiters */
	bool		worker_kick;	/* the worker must look sooner than it may
								 * think: a remote lease to heartbeat or
								 * release, a keepalive renewal moved up */
	int			n;
	int			size;
	int		   *slots;
	int			local[4];
} LockableWakeList;

extern void lockable_shared_request_shmem(void);
extern void lockable_shared_startup(void);
extern void lockable_wake_init(LockableWakeList *wl);
extern void lockable_wake_add(LockableWakeList *wl, int slot);
extern void lockable_wake_send(LockableWakeList *wl);
extern void lockable_worker_wake(void);
extern int	lockable_my_slot(void);
extern uint64 lockable_my_session(void);
extern uint64 lockable_my_session_if_any(void);
extern void lockable_session_end(void);
extern void lockable_lock_all_partitions(LWLockMode mode);
extern void lockable_unlock_all_partitions(void);
extern void lockable_count_refused(uint32 hashcode);
extern void lockable_counters_sum(LockableCounters *sum);
extern void lockable_counters_zero(void);

#endif							/* LOCKABLE_SHARED_H */
