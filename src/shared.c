/*-------------------------------------------------------------------------
 *
 * shared.c
 *	  The shared state of lockable: LockableShared, its locks, the backend
 *	  slots and session ids, the wake-ups sent after a partition lock is
 *	  released, the worker's latch and the statistics counters.
 *
 * The structures and the locking protocol are in shared.h.  The lease
 * table itself (the hash entries) is lease_table.c's.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/shmem.h"

#include "shared.h"

#define LOCKABLE_TRANCHE	"lockable"
#define LOCKABLE_HORIZON_TRANCHE	"lockable horizon"
#define LOCKABLE_REMOTE_TRANCHE	"lockable remote"

LockableShared *lockable_shared = NULL;

/* this backend's session id, once it has needed one */
static uint64 my_session = 0;

static Size
lockable_shared_size(void)
{
	return add_size(offsetof(LockableShared, backends),
					mul_size(MaxBackends, sizeof(LockableBackend)));
}

/*
 * lockable_shared_request_shmem
 *		From shmem_request_hook: ask for the memory and the locks.
 */
void
lockable_shared_request_shmem(void)
{
	RequestAddinShmemSpace(MAXALIGN(lockable_shared_size()));
	RequestNamedLWLockTranche(LOCKABLE_TRANCHE, LOCKABLE_NUM_PARTITIONS);
	RequestNamedLWLockTranche(LOCKABLE_HORIZON_TRANCHE, 1);
	RequestNamedLWLockTranche(LOCKABLE_REMOTE_TRANCHE, 1);
}

/*
 * lockable_shared_startup
 *		From shmem_startup_hook, under AddinShmemInitLock: create or attach
 *		to the shared state.
 */
void
lockable_shared_startup(void)
{
	bool		found;

	lockable_shared = ShmemInitStruct("lockable", lockable_shared_size(),
									  &found);
	if (!found)
	{
		LockableShared *s = lockable_shared;

		memset(s, 0, lockable_shared_size());
		s->locks = GetNamedLWLockTranche(LOCKABLE_TRANCHE);
		pg_atomic_init_u64(&s->next_token, 1);
		pg_atomic_init_u64(&s->next_session, 1);
		pg_atomic_init_u32(&s->nleases, 0);
		pg_atomic_init_u32(&s->sessions_ended, 0);
		pg_atomic_init_u32(&s->any_waiters, 0);
		pg_atomic_init_u32(&s->nremote, 0);
		pg_atomic_init_u64(&s->remote_connects, 0);
		s->remote_lock = &(GetNamedLWLockTranche(LOCKABLE_REMOTE_TRANCHE))->lock;
		s->lost_next = 0;
		pg_atomic_init_u32(&s->nlost, 0);
		ConditionVariableInit(&s->any_cv);
		ConditionVariableInit(&s->remote_cv);
		pg_atomic_init_u64(&s->tokens_reserved, 1);
		s->ttl_horizon = 0;
		s->ttl_pending = 0;
		s->horizon_lock = &(GetNamedLWLockTranche(LOCKABLE_HORIZON_TRANCHE))->lock;
		pg_atomic_init_u64(&s->grace_until, 0);
		pg_atomic_init_u32(&s->recovery_pending, 0);
		s->recovery_grace = 0;
		s->worker_latch = NULL;
		s->worker_pid = 0;
		s->stats_reset = GetCurrentTimestamp();
		s->nbackends = MaxBackends;
		for (int p = 0; p < LOCKABLE_NUM_PARTITIONS; p++)
		{
			LockablePartition *part = &s->parts[p];

			for (int i = 0; i < LOCKABLE_WHEEL_SLOTS; i++)
				dlist_init(&part->wheel[i]);
			part->nkeepalive = 0;
			dlist_init(&part->remote);
			/* nothing is due yet: start sweeping from now */
			part->swept_tick = lockable_clock_now() / LOCKABLE_WHEEL_TICK - 1;
		}
		for (int i = 0; i < MaxBackends; i++)
		{
			LockableBackend *b = &s->backends[i];

			ConditionVariableInit(&b->cv);
			pg_atomic_init_u64(&b->session, 0);
			pg_atomic_init_u32(&b->ended, 0);
			for (int p = 0; p < LOCKABLE_NUM_PARTITIONS; p++)
				dlist_init(&b->keepalive_leases[p]);
			b->state = LOCKABLE_WAIT_NONE;
			b->next = -1;
		}
	}
}

void
lockable_wake_init(LockableWakeList *wl)
{
	wl->deleted = false;
	wl->remote_ended = false;
	wl->worker_kick = false;
	wl->n = 0;
	wl->size = lengthof(wl->local);
	wl->slots = wl->local;
}

void
lockable_wake_add(LockableWakeList *wl, int slot)
{
	if (wl->n == wl->size)
	{
		int		   *grown = palloc(sizeof(int) * wl->size * 2);

		memcpy(grown, wl->slots, sizeof(int) * wl->n);
		if (wl->slots != wl->local)
			pfree(wl->slots);
		wl->slots = grown;
		wl->size *= 2;
	}
	wl->slots[wl->n++] = slot;
}

/*
 * lockable_wake_send
 *		Signal everything collected.  Call with no partition lock held.
 */
void
lockable_wake_send(LockableWakeList *wl)
{
	for (int i = 0; i < wl->n; i++)
		ConditionVariableSignal(&lockable_shared->backends[wl->slots[i]].cv);
	if (wl->deleted && pg_atomic_read_u32(&lockable_shared->any_waiters) > 0)
		ConditionVariableBroadcast(&lockable_shared->any_cv);
	if (wl->remote_ended)
		ConditionVariableBroadcast(&lockable_shared->remote_cv);
	if (wl->worker_kick)
		lockable_worker_wake();
	if (wl->slots != wl->local)
		pfree(wl->slots);
	lockable_wake_init(wl);
}

/*
 * lockable_worker_wake
 *		Make the worker sweep now.  Harmless if it is not running.
 */
void
lockable_worker_wake(void)
{
	Latch	   *latch = lockable_shared->worker_latch;

	if (latch != NULL)
		SetLatch(latch);
}

/*
 * lockable_my_slot
 *		This backend's index into lockable_shared->backends.
 */
int
lockable_my_slot(void)
{
	int			slot;

	slot = lockable_proc_number();
	if (slot < 0 || slot >= lockable_shared->nbackends)
		elog(ERROR, "lockable: backend slot %d out of range", slot);
	return slot;
}

/*
 * lockable_my_session
 *		This session's id for keepalive leases, assigned on first use.
 */
uint64
lockable_my_session(void)
{
	if (my_session == 0)
	{
		my_session = pg_atomic_fetch_add_u64(&lockable_shared->next_session, 1);
		pg_atomic_write_u64(&lockable_shared->backends[lockable_my_slot()].session,
							my_session);
	}
	return my_session;
}

/*
 * lockable_my_session_if_any
 *		This session's id, or 0 if it has not needed one yet.
 */
uint64
lockable_my_session_if_any(void)
{
	return my_session;
}

/*
 * lockable_session_end
 *		At backend exit: this session's keepalive leases are no longer kept
 *		alive.  The worker ends them at once (protocol rule 10).
 */
void
lockable_session_end(void)
{
	LockableBackend *b;

	if (my_session == 0)
		return;
	b = &lockable_shared->backends[lockable_my_slot()];
	pg_atomic_write_u64(&b->session, 0);
	pg_atomic_write_u32(&b->ended, 1);
	pg_atomic_fetch_add_u32(&lockable_shared->sessions_ended, 1);
	my_session = 0;
	lockable_worker_wake();
}

/* Whole-table scans take every partition lock, in order (protocol rule 2) */
void
lockable_lock_all_partitions(LWLockMode mode)
{
	for (int i = 0; i < LOCKABLE_NUM_PARTITIONS; i++)
		LWLockAcquire(&lockable_shared->locks[i].lock, mode);
}

void
lockable_unlock_all_partitions(void)
{
	for (int i = LOCKABLE_NUM_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&lockable_shared->locks[i].lock);
}

/*
 * lockable_count_refused
 *		Count an acquire that returned NULL without reaching the table, in
 *		the partition of hashcode.
 */
void
lockable_count_refused(uint32 hashcode)
{
	LWLock	   *lock = lockable_partition_lock(hashcode);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	lockable_partition_stats(hashcode)->refused++;
	LWLockRelease(lock);
}

/*
 * lockable_counters_sum
 *		Sum of the partitions' counters.
 */
void
lockable_counters_sum(LockableCounters *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < LOCKABLE_NUM_PARTITIONS; i++)
	{
		LockableCounters *c = &lockable_shared->stats[i].c;

		LWLockAcquire(&lockable_shared->locks[i].lock, LW_SHARED);
		sum->acquired += c->acquired;
		sum->refused += c->refused;
		sum->waited += c->waited;
		sum->expired += c->expired;
		sum->released += c->released;
		sum->forced += c->forced;
		sum->session_ended += c->session_ended;
		sum->heartbeats += c->heartbeats;
		sum->heartbeats_failed += c->heartbeats_failed;
		sum->renewals += c->renewals;
		sum->table_full += c->table_full;
		sum->remote_acquired += c->remote_acquired;
		sum->remote_refused += c->remote_refused;
		sum->remote_errors += c->remote_errors;
		sum->remote_heartbeats += c->remote_heartbeats;
		sum->remote_heartbeat_errors += c->remote_heartbeat_errors;
		sum->remote_lost += c->remote_lost;
		sum->remote_released += c->remote_released;
		sum->remote_release_errors += c->remote_release_errors;
		LWLockRelease(&lockable_shared->locks[i].lock);
	}
}

/*
 * lockable_counters_zero
 *		Zero the counters and note when (lockable_stats_reset()).
 *		Permission is checked by the caller.
 */
void
lockable_counters_zero(void)
{
	lockable_lock_all_partitions(LW_EXCLUSIVE);
	for (int i = 0; i < LOCKABLE_NUM_PARTITIONS; i++)
		memset(&lockable_shared->stats[i].c, 0, sizeof(LockableCounters));
	lockable_shared->stats_reset = GetCurrentTimestamp();
	pg_atomic_write_u64(&lockable_shared->remote_connects, 0);
	lockable_unlock_all_partitions();
}
