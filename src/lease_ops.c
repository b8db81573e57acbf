/*-------------------------------------------------------------------------
 *
 * lease_ops.c
 *	  What a backend does to the lease table, each operation under one
 *	  partition lock: acquire (the hot path, and the path of counting and
 *	  shared leases), wait in a queue and leave it, heartbeat and release,
 *	  force release, and the fencing checks.
 *
 * The locking protocol is written down in shared.h.  The entries and the
 * steps on them (grants, wait queues and handoffs, groups and their
 * members, the timer wheel) are lease_table.c's; this file calls only
 * lease_table.c, shared.c, settings and the clock.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "lease_table.h"

/*
 * Raise an error for an acquire, after releasing the partition lock and
 * sending the wake-ups collected so far.
 */
static void
acquire_error_locked(LeaseRequest *req, Lease *lease, LockableWakeList *wl)
{
	int			held = lease != NULL ? (lease->kind == LEASE_GROUP ? lease->slots : 1) : 0;

	if (lease == NULL)
		lockable_partition_stats(req->hashcode)->table_full++;
	LWLockRelease(lockable_partition_lock(req->hashcode));
	lockable_wake_send(wl);
	if (lease != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lease \"%.*s\" is held with slots = %d",
						(int) req->key.len, req->key.name, held),
				 errdetail("This acquire asked for slots = %d; all holders of a name use the same slots.",
						   req->slots),
				 errhint("Acquire it with slots => %d, or wait until nobody holds or waits for it.",
						 held)));
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("too many leases"),
			 errdetail("All %d lease slots are in use; a counting or shared lease takes one for its name and one for each holder and waiter.",
					   lockable_max_leases),
			 errhint("Release leases, or increase lockable.max_leases and restart the server.")));
}

/*
 * The slow part of lockable_lease_try: the name is a group, or req wants
 * one (slots > 1, or shared).  Called with the partition lock held, which
 * it releases; a new entry (!found) is holderless.
 */
static LeaseAcquireResult
try_group_locked(LeaseRequest *req, Lease *lease, bool found, bool enqueue,
				 uint64 *token, LockableTime *busy_until, LockableTime now,
				 LockableWakeList *wl)
{
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	bool		want = lease_wants_group(req->slots, req->shared);
	LeaseAcquireResult result;
	LeaseHolder h;

	/*
	 * End what has expired, so that only live holders count.  An entry
	 * left with neither holder nor waiter is taken over as it is, as a new
	 * one would be (deleting it and entering it again could find the table
	 * full meanwhile).
	 */
	if (found && lease->kind == LEASE_PLAIN && lease->deadline <= now)
	{
		stats->expired++;
		if (lease->u.q.wait_head < 0)
		{
			lease_unlink_holder_locked(lease);
			found = false;
		}
		else
			(void) lockable_lease_end_locked(lease, now, wl);
	}
	else if (found && lease->kind == LEASE_GROUP &&
			 (lease->slots != req->slots || lease->u.q.wait_head >= 0 ||
			  !want || !lease_group_fits(lease, req->shared)))
	{
		int			forced;

		/* it would be refused: end what expired first, which may make room */
		if (lockable_group_end_members_locked(lease, now, false, &forced, wl) > 0)
		{
			if (lease->u.q.nholders == 0 && lease->u.q.wait_head < 0)
			{
				/* holderless: a plain entry again, and taken over */
				lease->kind = LEASE_PLAIN;
				lease->slots = 1;
				lease->shared = false;
				found = false;
			}
			else
				(void) lockable_lease_vacated_locked(lease, now, wl);
		}
	}
	if (!found)
	{
		/* a new entry, or one taken over: holderless */
		if (!want)
		{
			*token = lockable_lease_grant_locked(lease, req, now);
			LWLockRelease(lock);
			lockable_wake_send(wl);
			return LEASE_GRANTED;
		}
		lockable_group_make_locked(lease, req->slots, req->shared);
	}

	if ((lease->kind == LEASE_GROUP ? lease->slots : 1) != req->slots)
		acquire_error_locked(req, lease, wl);

	/* nobody waits, and there is room: a new member */
	if (lease->kind == LEASE_GROUP && lease->u.q.wait_head < 0 &&
		lease_group_fits(lease, req->shared) && want)
	{
		if (!lockable_lease_reserve(1))
		{
			/* a group just made has no holder: delete it again */
			(void) lockable_lease_vacated_locked(lease, now, wl);
			acquire_error_locked(req, NULL, wl);
		}
		if (lease->u.q.nholders == 0)
			lease->shared = req->shared;
		lease_holder_of_request(&h, req);
		*token = lockable_group_add_locked(lease, &h, now);
		if (*token != 0)
		{
			LWLockRelease(lock);
			lockable_wake_send(wl);
			return LEASE_GRANTED;
		}
		pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
		(void) lockable_lease_vacated_locked(lease, now, wl);
		acquire_error_locked(req, NULL, wl);
	}
	/* a group has a holder here: one without is deleted or granted */
	Assert(lease->kind == LEASE_PLAIN || lease->u.q.nholders > 0);

	if (lockable_lease_own_keepalive(lease, lockable_my_session_if_any(),
									 req->shared))
	{
		if (!enqueue && req->count_refusal)
			stats->refused++;
		result = LEASE_OWN_KEEPALIVE;
	}
	else if (enqueue)
	{
		if (want && !lockable_lease_reserve(1))
			acquire_error_locked(req, NULL, wl);
		lockable_lease_enqueue_locked(lease, req);
		stats->waited++;
		result = LEASE_QUEUED;
	}
	else
	{
		if (req->count_refusal)
			stats->refused++;
		result = LEASE_BUSY;
	}
	if (busy_until != NULL && result != LEASE_QUEUED)
		*busy_until = lease_name_deadline(lease);
	LWLockRelease(lock);
	lockable_wake_send(wl);
	return result;
}

/*
 * lockable_lease_try
 *		Try once to acquire; if the lease is held and enqueue is true, join
 *		its wait queue (the caller then loops on lockable_lease_wait_check).
 *
 * Returns LEASE_GRANTED with *token set, LEASE_BUSY (with *busy_until, if
 * not NULL, set to the holder's deadline), or LEASE_QUEUED.  A lease held
 * with keepalive by this very session is LEASE_OWN_KEEPALIVE, never
 * queued on: it lasts as long as the session, so waiting for it would be
 * waiting for oneself.  Raises an error when the table is full, or when
 * the name is held with other slots.  This is the hot path: one hash
 * lookup under one partition lock, one clock read, no allocation; names
 * that are groups, and requests for one, take try_group_locked.
 */
LeaseAcquireResult
lockable_lease_try(LeaseRequest *req, bool enqueue, uint64 *token,
				   LockableTime *busy_until)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	uint64		my_session = lockable_my_session_if_any();
	LockableWakeList wl;
	LeaseAcquireResult result;
	LockableTime now;
	Lease	   *lease;
	bool		found;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_enter_locked(req, &found);
	if (unlikely(lease_wants_group(req->slots, req->shared) ||
				 (found && lease->kind != LEASE_PLAIN)))
	{
		if (!found)
			lockable_lease_init_locked(lease, req->hashcode);
		return try_group_locked(req, lease, found, enqueue, token,
								busy_until, now, &wl);
	}
	if (!found)
	{
		lockable_lease_init_locked(lease, req->hashcode);
		*token = lockable_lease_grant_locked(lease, req, now);
		LWLockRelease(lock);
		return LEASE_GRANTED;
	}

	if (lease->deadline <= now)
	{
		stats->expired++;
		if (lease->u.q.wait_head < 0)
		{
			/* expired and nobody waiting: it is ours */
			*token = lockable_lease_grant_locked(lease, req, now);
			LWLockRelease(lock);
			return LEASE_GRANTED;
		}
		/* those who waited come first */
		(void) lockable_lease_end_locked(lease, now, &wl);
		if (lease->kind != LEASE_PLAIN)
			return try_group_locked(req, lease, true, enqueue, token,
									busy_until, now, &wl);
	}

	if (lease->keepalive && my_session != 0 &&
		lease->holder_session == my_session)
	{
		if (!enqueue && req->count_refusal)
			stats->refused++;
		if (busy_until != NULL)
			*busy_until = lease->deadline;
		result = LEASE_OWN_KEEPALIVE;
	}
	else if (enqueue)
	{
		if (req->keepalive)
			(void) lockable_my_session();
		lockable_lease_enqueue_locked(lease, req);
		stats->waited++;
		result = LEASE_QUEUED;
	}
	else
	{
		if (req->count_refusal)
			stats->refused++;
		if (busy_until != NULL)
			*busy_until = lease->deadline;
		result = LEASE_BUSY;
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return result;
}

/*
 * lockable_lease_wait_check
 *		For a backend queued by lockable_lease_try: has the lease come to
 *		us, has our wait run out, or until when should we sleep?
 *
 * Returns LEASE_GRANTED with *token, LEASE_BUSY when wait_deadline has
 * passed (we have left the queue), or LEASE_QUEUED with *sleep_until.
 */
LeaseAcquireResult
lockable_lease_wait_check(LeaseRequest *req, LockableTime wait_deadline,
						  uint64 *token, LockableTime *sleep_until)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	int			slot = lockable_my_slot();
	LockableBackend *me = &lockable_shared->backends[slot];
	LockableWakeList wl;
	LeaseAcquireResult result;
	LockableTime now;
	Lease	   *lease;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (me->state == LOCKABLE_WAIT_GRANTED)
	{
		*token = me->granted_token;
		me->state = LOCKABLE_WAIT_NONE;
		LWLockRelease(lock);
		return LEASE_GRANTED;
	}

	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (me->state != LOCKABLE_WAIT_QUEUED || lease == NULL)
	{
		LWLockRelease(lock);
		elog(ERROR, "lockable: backend is not queued on lease \"%.*s\"",
			 (int) req->key.len, req->key.name);
	}

	/* the head ends what expired: the name may come to us */
	now = lockable_clock_now();
	if (lease->u.q.wait_head == slot && lease_name_deadline(lease) <= now)
	{
		int			forced;

		if (lease->kind == LEASE_GROUP)
		{
			(void) lockable_group_end_members_locked(lease, now, false, &forced, &wl);
			(void) lockable_lease_vacated_locked(lease, now, &wl);
		}
		else
		{
			lockable_partition_stats(req->hashcode)->expired++;
			(void) lockable_lease_end_locked(lease, now, &wl);
		}
	}
	if (me->state == LOCKABLE_WAIT_GRANTED)
	{
		*token = me->granted_token;
		me->state = LOCKABLE_WAIT_NONE;
		result = LEASE_GRANTED;
	}
	else if (now >= wait_deadline)
	{
		lockable_lease_dequeue_locked(lease, slot, now, &wl);
		lockable_partition_stats(req->hashcode)->refused++;
		result = LEASE_BUSY;
	}
	else
	{
		*sleep_until = wait_deadline;
		if (lease->u.q.wait_head == slot)
			*sleep_until = Min(*sleep_until, lease_name_deadline(lease));
		result = LEASE_QUEUED;
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return result;
}

/*
 * lockable_lease_wait_abandon
 *		The waiting backend is leaving (error, cancel, exit): leave the
 *		queue, or if the lease was handed to us meanwhile, pass it on, since
 *		nobody will ever learn its token.
 */
void
lockable_lease_wait_abandon(LeaseRequest *req)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	int			slot = lockable_my_slot();
	LockableBackend *me = &lockable_shared->backends[slot];
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	Lease	   *holder;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (me->state == LOCKABLE_WAIT_QUEUED && lease != NULL)
		lockable_lease_dequeue_locked(lease, slot, now, &wl);
	else if (me->state == LOCKABLE_WAIT_GRANTED && lease != NULL &&
			 (holder = lease_holder_locked(lease, me->granted_token)) != NULL)
	{
		lockable_partition_stats(req->hashcode)->released++;
		lockable_lease_end_locked(holder, now, &wl);
	}
	me->state = LOCKABLE_WAIT_NONE;
	me->next = -1;
	LWLockRelease(lock);
	lockable_wake_send(&wl);
}

/*
 * Does req's caller see the entry found by its key?  A local lease's key
 * carries its database; a remote lease belongs to its acquirer's
 * (protocol rule 11).
 */
static inline bool
lease_visible(Lease *lease, LeaseRequest *req)
{
	return lease->remote == LEASE_LOCAL || lease_remote(lease)->db == req->remote_db;
}

/*
 * Is there an entry of req's key with token?  If live_only, it must also
 * be held by someone (not being acquired or released) and not expired.
 */
static bool
lookup_token(LeaseRequest *req, uint64 token, bool live_only)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	Lease	   *lease;
	bool		found;

	LWLockAcquire(lock, LW_SHARED);
	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (lease != NULL)
		lease = lease_holder_locked(lease, token);
	found = lease != NULL && lease_visible(lease, req);
	if (found && live_only)
		found = lease_is_live(lease) && lease->deadline > lockable_clock_now();
	LWLockRelease(lock);
	return found;
}

/*
 * Find the lease held with token, for heartbeat and release.  An expired
 * lease found on the way is ended.  Returns NULL when not held with token;
 * otherwise sets *owner, which the caller compares with the roles the
 * caller has been shown to be a member of.
 */
static Lease *
find_held_locked(LeaseRequest *req, uint64 token, LockableTime now,
				 LockableWakeList *wl, Oid *owner)
{
	Lease	   *lease;

	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (lease != NULL)
		lease = lease_holder_locked(lease, token);
	if (lease == NULL || !lease_is_live(lease) || !lease_visible(lease, req))
		return NULL;
	if (lease->deadline <= now)
	{
		lockable_partition_stats(req->hashcode)->expired++;
		lockable_lease_end_locked(lease, now, wl);
		return NULL;
	}
	*owner = lease->owner;
	return lease;
}

/*
 * lockable_lease_holder_op
 *		A holder's heartbeat or release of the lease held with token.  A
 *		heartbeat extends it to now + ttl (ttl 0: its own ttl); a release
 *		ends it, and waiters get it at once.
 *
 * The caller passes member_of = InvalidOid first; on LEASE_OP_CHECK_OWNER
 * it checks membership in *owner without holding any lock and calls again
 * with member_of = *owner.  Tokens are unique, so the second call acts on
 * the same lease or finds it gone.
 */
LeaseOpResult
lockable_lease_holder_op(LeaseRequest *req, LeaseHolderOp op, uint64 token,
						 int64 ttl, Oid member_of, Oid *owner)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	LockableWakeList wl;
	LeaseOpResult result;
	LockableTime now;
	Lease	   *lease;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = find_held_locked(req, token, now, &wl, owner);
	if (lease == NULL)
	{
		if (op == LEASE_HEARTBEAT && req->count_refusal)
			stats->heartbeats_failed++;
		result = LEASE_OP_NOT_HELD;
	}
	else if (lease->owner != req->roleid && lease->owner != member_of)
		result = LEASE_OP_CHECK_OWNER;
	else if (op == LEASE_HEARTBEAT)
	{
		LockableTime due = lease_due(lease);

		if (ttl > 0)
			lease->ttl = ttl;
		lease_set_deadline_locked(lease, now + lease->ttl);
		/* a shorter keepalive ttl: the worker may sleep past the renewal */
		if (lease->keepalive && lease_due(lease) < due)
			wl.worker_kick = true;
		lease->renewals++;
		stats->heartbeats++;
		result = LEASE_OP_DONE;
	}
	else
	{
		stats->released++;
		lockable_lease_end_locked(lease, now, &wl);
		result = LEASE_OP_DONE;
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return result;
}

/*
 * lockable_lease_force_release
 *		End the live lease of that name whoever holds it: every holder of a
 *		counting or shared lease, or with token not 0 only the holder with
 *		that token.  Waiters get it as after a release.  Permission is
 *		checked by the caller (EXECUTE on lockable_force_release).
 */
bool
lockable_lease_force_release(LeaseRequest *req, uint64 token)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	bool		ended = false;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (lease != NULL && token != 0)
		lease = lease_holder_locked(lease, token);
	if (lease != NULL && lease->kind == LEASE_GROUP)
	{
		int			forced;

		if (lockable_group_end_members_locked(lease, now, true, &forced, &wl) > 0)
			(void) lockable_lease_vacated_locked(lease, now, &wl);
		ended = forced > 0;
	}
	else if (lease != NULL && lease_is_live(lease) && lease_visible(lease, req))
	{
		ended = lease->deadline > now;
		if (ended)
			stats->forced++;
		else
			stats->expired++;
		lockable_lease_end_locked(lease, now, &wl);
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return ended;
}

/*
 * lockable_lease_is_held
 *		Is the lease held with token right now?  For fencing checks.
 */
bool
lockable_lease_is_held(LeaseRequest *req, uint64 token)
{
	return lookup_token(req, token, true);
}

/*
 * lockable_lease_exists
 *		Is there still an entry with that token, held or being released?
 */
bool
lockable_lease_exists(LeaseRequest *req, uint64 token)
{
	return lookup_token(req, token, false);
}
