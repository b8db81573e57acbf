/*-------------------------------------------------------------------------
 *
 * lease_sweep.c
 *	  The worker's pass over the lease table, one partition lock at a time:
 *	  end the leases whose deadline has passed, renew keepalive leases past
 *	  half their ttl, and end the keepalive leases of sessions that are
 *	  gone.  It costs what is due, not what is held: every held lease is on
 *	  its partition's timer wheel in the slot of lease_due() (protocol rule
 *	  4), and a session that ends marks its backend slot, whose keepalive
 *	  leases are listed per partition (rule 10).  This file calls only the
 *	  lease table, shared.c, settings and the clock.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/pg_list.h"

#include "lease_table.h"

/*
 * A keepalive lease that the sweep renewed, capped or handed to a
 * keepalive waiter is due again soon: within half its ttl, perhaps within
 * this very second, or at its deadline once capped.  It went to the tail
 * of its wheel slot, which the iteration in progress does not reach again
 * when it was the last node there, so lower *next_due for it here, or the
 * worker would sleep until the next second: a ttl under two seconds would
 * run out before its renewal, and a capped lease would be ended (and
 * counted as expired) up to a second after its deadline.
 */
static inline void
note_due(Lease *lease, LockableTime *next_due)
{
	if (lease->keepalive)
		*next_due = Min(*next_due, lease_due(lease));
}

/*
 * Act on a lease whose lease_due() has come: end it if its deadline has
 * passed or its keepalive session is gone; otherwise it is a keepalive
 * lease past half its ttl: renew it, or stop renewing it at
 * lockable.max_hold (its name then goes on *capped, for a warning).
 * Lowers *next_due to when the lease is due again if it is keepalive.
 */
static void
sweep_due_locked(Lease *lease, LockableTime now, int64 max_hold,
				 LockableCounters *stats, List **capped, LockableWakeList *wl,
				 LockableTime *next_due)
{
	LockableBackend *backends = lockable_shared->backends;

	if (lease->deadline <= now)
	{
		stats->expired++;
		if (lockable_lease_end_locked(lease, now, wl))
			note_due(lease, next_due);
	}
	else if (pg_atomic_read_u64(&backends[lease->holder_slot].session) != lease->holder_session)
	{
		stats->session_ended++;
		if (lockable_lease_end_locked(lease, now, wl))
			note_due(lease, next_due);
	}
	else if (max_hold > 0 && now - lease->acquired >= max_hold)
	{
		lockable_lease_cap_locked(lease);
		note_due(lease, next_due);
		*capped = lappend(*capped, lockable_entry_name_dup(lease_name_key(lease)));
	}
	else
	{
		lockable_lease_renew_locked(lease, now);
		note_due(lease, next_due);
	}
}

/*
 * Sweep one partition.  The wheel slots of the seconds that have passed
 * since the last sweep, and of the current second, are visited, and in
 * them only the leases that are due are acted on; leases due in a later
 * turn of the wheel stay.  Then the keepalive leases of the sessions in
 * ended[] are ended, from their holders' lists.  Lowers *next_due to the
 * next renewal due: that of each lease renewed or handed on here, of the
 * others due within the current second from its slot, else the next
 * second while the partition has keepalive leases.
 */
static void
sweep_partition(int p, int64 max_hold, const int *ended, int nended,
				LockableTime *next_due, List **capped, LockableWakeList *wl)
{
	LockablePartition *part = &lockable_shared->parts[p];
	LockableCounters *stats = &lockable_shared->stats[p].c;
	LockableBackend *backends = lockable_shared->backends;
	dlist_mutable_iter iter;
	LockableTime now;
	int64		now_tick;

	now = lockable_clock_now();
	now_tick = now / LOCKABLE_WHEEL_TICK;

	/* visit each slot at most once */
	for (int64 tick = Max(part->swept_tick + 1, now_tick - LOCKABLE_WHEEL_SLOTS + 1);
		 tick <= now_tick; tick++)
	{
		dlist_foreach_modify(iter, &part->wheel[tick % LOCKABLE_WHEEL_SLOTS])
		{
			Lease	   *lease = dlist_container(Lease, wheel_node, iter.cur);
			LockableTime due = lease_due(lease);

			if (due <= now)
				sweep_due_locked(lease, now, max_hold, stats, capped, wl,
								 next_due);
			else if (tick == now_tick && due / LOCKABLE_WHEEL_TICK == now_tick &&
					 lease->keepalive)
				*next_due = Min(*next_due, due);
		}
	}
	part->swept_tick = Max(part->swept_tick, now_tick - 1);

	for (int i = 0; i < nended; i++)
	{
		LockableBackend *b = &backends[ended[i]];

		dlist_foreach_modify(iter, &b->keepalive_leases[p])
		{
			Lease	   *lease = dlist_container(Lease, link.keepalive_node, iter.cur);

			/* the slot may have a new session already */
			if (pg_atomic_read_u64(&b->session) != lease->holder_session)
			{
				stats->session_ended++;
				if (lockable_lease_end_locked(lease, now, wl))
					note_due(lease, next_due);
			}
		}
	}

	if (part->nkeepalive > 0)
		*next_due = Min(*next_due, (now_tick + 1) * LOCKABLE_WHEEL_TICK);
}

/*
 * The backend slots whose sessions ended since the last call, palloc'd
 * (NULL if none).  In the worker only.
 */
static int *
ended_sessions(int *n)
{
	static uint32 seen = 0;
	uint32		ended = pg_atomic_read_u32(&lockable_shared->sessions_ended);
	int		   *slots;

	*n = 0;
	if (ended == seen)
		return NULL;
	seen = ended;
	slots = palloc(sizeof(int) * lockable_shared->nbackends);
	for (int i = 0; i < lockable_shared->nbackends; i++)
	{
		if (pg_atomic_exchange_u32(&lockable_shared->backends[i].ended, 0) != 0)
			slots[(*n)++] = i;
	}
	return slots;
}

/*
 * lockable_lease_sweep
 *		The worker's pass over the partitions (see sweep_partition).  Sets
 *		*next_due to when the worker should sweep again for a keepalive
 *		renewal (LOCKABLE_FOREVER if none).  Wake-ups and log messages come
 *		after the partition lock is released.
 */
void
lockable_lease_sweep(LockableTime *next_due)
{
	int64		max_hold = (int64) lockable_max_hold * USECS_PER_SEC;
	List	   *capped = NIL;
	ListCell   *lc;
	int		   *ended;
	int			nended;

	*next_due = LOCKABLE_FOREVER;
	ended = ended_sessions(&nended);
	if (pg_atomic_read_u32(&lockable_shared->nleases) != 0)
	{
		for (int p = 0; p < LOCKABLE_NUM_PARTITIONS; p++)
		{
			LWLock	   *lock = &lockable_shared->locks[p].lock;
			LockableWakeList wl;

			lockable_wake_init(&wl);
			LWLockAcquire(lock, LW_EXCLUSIVE);
			sweep_partition(p, max_hold, ended, nended, next_due, &capped, &wl);
			LWLockRelease(lock);
			lockable_wake_send(&wl);
		}
	}
	if (ended != NULL)
		pfree(ended);

	foreach(lc, capped)
		ereport(WARNING,
				(errmsg("lockable: keepalive of lease \"%s\" stopped after lockable.max_hold",
						(char *) lfirst(lc)),
				 errdetail("The lease now expires after its ttl unless it is renewed with lockable_heartbeat().")));
	list_free_deep(capped);
}
