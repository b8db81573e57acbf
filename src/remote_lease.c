/*-------------------------------------------------------------------------
 *
 * remote_lease.c
 *	  Remote leases: leases taken on a lockable.dev-compatible lock service
 *	  (lockable.remote), kept as entries of the lease table.  Their states
 *	  (PENDING, HELD, RELEASING), the acquiring backend's protocol (claim
 *	  the name here, ask the service, wait on a backoff), the worker's
 *	  heartbeats and releases, and the ring of lost leases.
 *
 * This file calls the lease table's entry-level steps, the wait helpers
 * (lease_wait.c) and the HTTP client (http.c); none of them calls back.
 *
 * PROTOCOL RULE 11 (the rest of the locking protocol is in shared.h).
 *
 * 11. Remote leases are hash entries keyed by database
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
 *	  (remote_confirmed + lockable.remote_lease, less lockable.remote_timeout);
 *	  past that the lease is lost (HELD) or simply deleted (RELEASING).
 *	  The lost-lease ring is under remote_lock, never taken together with a
 *	  partition lock.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "nodes/pg_list.h"

#include "lease_wait.h"
#include "remote_lease.h"

/* the remote name this backend is asking the service for, for cleanup */
static LeaseRequest *remote_pending = NULL;

/*
 * The acquiring backend's side
 */

/*
 * Build the request for the remote lease of name: its key is the name the
 * service knows, lockable.remote_prefix followed by name, in database
 * InvalidOid; the caller's database becomes remote_db.  Returns false if
 * that is too long (an error instead if error_if_long).
 */
static bool
remote_request(LeaseRequest *req, const char *name, int len, int64 ttl,
			   bool keepalive, int *prefix_len, bool error_if_long)
{
	char		buf[LOCKABLE_NAME_MAXLEN];
	int			plen = strlen(lockable_remote_prefix);

	if (plen + len > LOCKABLE_NAME_MAXLEN)
	{
		if (!error_if_long)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("lease name is too long"),
				 errdetail("With lockable.remote_prefix (%d bytes) the remote name is %d bytes long; the limit is %d bytes.",
						   plen, plen + len, LOCKABLE_NAME_MAXLEN)));
	}
	memcpy(buf, lockable_remote_prefix, plen);
	memcpy(buf + plen, name, len);
	lockable_lease_request(req, buf, plen + len, ttl, keepalive);
	req->remote_db = req->key.dbid;
	req->key.dbid = InvalidOid;
	req->hashcode = lockable_lease_key_hash(&req->key);
	*prefix_len = plen;
	return true;
}

/*
 * lockable_remote_fallback
 *		For heartbeat, release and the checks: turn req into the request
 *		for the remote lease of that name, if any remote lease exists and
 *		the remote name is not too long.  False if there is none to try.
 */
bool
lockable_remote_fallback(LeaseRequest *req, const char *name, int len)
{
	int			prefix_len;

	if (pg_atomic_read_u32(&lockable_shared->nremote) == 0)
		return false;
	return remote_request(req, name, len, 0, false, &prefix_len, false);
}

/*
 * Take a remote entry out of the table.  No partition lock is released.
 * Remote waiters are told only when the entry had been granted (HELD or
 * RELEASING): a refused or failed acquire's PENDING entry going away frees
 * nothing (protocol rule 11).
 */
static void
delete_remote_locked(Lease *lease, LockableWakeList *wl)
{
	Assert(lease->remote != LEASE_LOCAL && lease->u.q.wait_head < 0);
	if (lease->remote != LEASE_REMOTE_PENDING)
		wl->remote_ended = true;
	dlist_delete(&lease_remote(lease)->node);
	lockable_lease_remove_locked(lease);
	pg_atomic_fetch_sub_u32(&lockable_shared->nremote, 1);
}

/*
 * Claim a remote name for this backend's acquire request: insert a
 * PENDING entry, which makes the name busy for everyone else in the
 * cluster while we ask the service.  False if the name is busy here
 * (held, being acquired, or being released); then *held_here says whether
 * a lease of this cluster has it (held or being released), so that its
 * end is worth waking up for, rather than another backend's acquire.  The
 * caller must end the claim with remote_finish, on every path.
 */
static bool
remote_begin(LeaseRequest *req, int prefix_len, bool *held_here)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	LeaseRemote *remote;
	int32		slot;
	bool		found;

	Assert(req->key.dbid == InvalidOid);
	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_enter_locked(req, &found);
	*held_here = false;
	if (found)
	{
		/* an expired remote lease is let go of, not taken over */
		if (lease->remote == LEASE_REMOTE_HELD && lease->deadline <= now)
		{
			stats->expired++;
			lockable_lease_end_locked(lease, now, &wl);
		}
		*held_here = lease->remote != LEASE_REMOTE_PENDING;
		LWLockRelease(lock);
		lockable_wake_send(&wl);
		return false;
	}

	/* no token and no deadline until the service says yes */
	lockable_lease_init_locked(lease, req->hashcode);
	slot = lockable_remote_slot_take(lease);
	if (slot < 0)
	{
		lockable_lease_remove_locked(lease);
		stats->table_full++;
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many remote leases"),
				 errdetail("All %d remote lease slots are in use (held, being acquired or being released).",
						   lockable_max_remote_leases),
				 errhint("Release remote leases, or increase lockable.max_remote_leases and restart the server.")));
	}
	lease->remote_slot = slot;
	remote = lease_remote(lease);
	remote->failures = 0;
	remote->confirmed = 0;
	remote->next = LOCKABLE_FOREVER;
	lease->pid = MyProcPid;
	lease->owner = req->roleid;
	lease->acquired = now;
	lease->ttl = req->ttl;
	lease->remote = LEASE_REMOTE_PENDING;
	remote->prefix_len = (uint16) prefix_len;
	remote->db = req->remote_db;
	remote->busy_until = LOCKABLE_FOREVER;	/* ours until finished */
	dlist_push_tail(&lockable_partition_of(req->hashcode)->remote,
					&remote->node);
	pg_atomic_fetch_add_u32(&lockable_shared->nremote, 1);
	LWLockRelease(lock);
	return true;
}

/*
 * End a claim made by remote_begin with the service's answer to the
 * acquire sent at sent_at.  On LOCKABLE_REMOTE_TRUE the entry becomes a
 * lease held by this backend and its token is returned; otherwise the
 * entry is removed and 0 is returned.
 */
static uint64
remote_finish(LeaseRequest *req, LockableRemoteOutcome outcome,
			  LockableTime sent_at)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	uint64		token = 0;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (lease == NULL || lease->remote != LEASE_REMOTE_PENDING ||
		lease->pid != MyProcPid)
	{
		/* cannot happen: nobody else touches a PENDING entry */
		Assert(false);
		LWLockRelease(lock);
		return 0;
	}
	if (outcome == LOCKABLE_REMOTE_TRUE)
	{
		lease->remote = LEASE_REMOTE_HELD;
		token = lockable_lease_grant_locked(lease, req, now);
		lease_remote(lease)->confirmed = sent_at;
		lease_remote(lease)->next = sent_at + lockable_remote_interval_usec();
		lease_remote(lease)->busy_until = 0;
		stats->remote_acquired++;
		wl.worker_kick = true;	/* the worker may sleep past the first
								 * heartbeat */
	}
	else
	{
		if (outcome == LOCKABLE_REMOTE_FALSE)
			stats->remote_refused++;
		else
			stats->remote_errors++;
		delete_remote_locked(lease, &wl);
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return token;
}

/*
 * lockable_remote_at_exit
 *		From the backend's exit callback: end a claim left by an acquire
 *		that a FATAL error interrupted.
 */
void
lockable_remote_at_exit(void)
{
	if (remote_pending != NULL)
	{
		(void) remote_finish(remote_pending, LOCKABLE_REMOTE_FAILED, 0);
		remote_pending = NULL;
	}
}

/* Raise the error for an acquire request that failed (no true or false) */
static void
report_acquire_failed(const LockableHttpRequest *r)
{
	ereport(ERROR,
			(errcode(r->sqlstate),
			 errmsg("lockable: remote %s of \"%.*s\" failed: %s",
					lockable_http_op_name(r->op), (int) r->len, r->name,
					r->error),
			 errdetail("No lease was taken."),
			 r->status == 401 ?
			 errhint("Set lockable.remote_token, or LOCKABLE_AUTH_TOKEN in the server's environment, to the account token.") : 0));
}

/*
 * Ask the service once: claim the name here, send the acquire, and turn
 * the answer into a lease (its token) or nothing (0).  Errors leave no
 * local lease behind.  *held_here is set when nothing was sent because a
 * lease of this cluster has the name (see remote_begin).
 */
static uint64
remote_try(LeaseRequest *req, int prefix_len, bool *held_here)
{
	LockableHttpRequest r;

	if (!remote_begin(req, prefix_len, held_here))
		return 0;
	memset(&r, 0, sizeof(r));
	r.op = LOCKABLE_REMOTE_ACQUIRE;
	r.len = req->key.len;
	memcpy(r.name, req->key.name, req->key.len);
	remote_pending = req;
	PG_TRY();
	{
		lockable_http_call(&r);
		if (r.connects > 0)
			pg_atomic_fetch_add_u64(&lockable_shared->remote_connects,
									r.connects);
		if (r.outcome == LOCKABLE_REMOTE_FAILED)
			report_acquire_failed(&r);
	}
	PG_CATCH();
	{
		remote_pending = NULL;
		(void) remote_finish(req, LOCKABLE_REMOTE_FAILED, 0);
		PG_RE_THROW();
	}
	PG_END_TRY();
	remote_pending = NULL;
	return remote_finish(req, r.outcome, r.sent_at);
}

/*
 * Sleep on remote_cv until until (LOCKABLE_FOREVER: no limit); true if
 * woken by a remote lease of this cluster being let go of.
 */
static bool
remote_sleep(LockableTime until)
{
	long		timeout_ms = lockable_sleep_ms(until, lockable_clock_now());

	if (timeout_ms == 0)
		return false;
	return !ConditionVariableTimedSleep(&lockable_shared->remote_cv,
										timeout_ms,
										lockable_acquire_wait_event());
}

/*
 * A busy name is asked again until wait_deadline: 0.1 s after the last
 * answer, then twice as long each time up to every second (the official
 * client polls every second), and once more when the wait runs out.  It is
 * asked sooner only when a lease of this cluster had the name and has let
 * go of it on the service (protocol rule 11); nothing else wakes the
 * waiter early, not its own refusals nor other waiters' nor local leases.
 * Returns the token, or 0.
 */
static uint64
remote_wait(LeaseRequest *req, int prefix_len, bool held_here,
			LockableTime wait_deadline)
{
	int64		backoff = USECS_PER_SEC / 10;
	LockableTime next_try = lockable_clock_now() + backoff;
	uint64		token = 0;

	lockable_lock_wait_begin();
	ConditionVariablePrepareToSleep(&lockable_shared->remote_cv);
	PG_TRY();
	{
		for (;;)
		{
			bool		woken;
			bool		last;
			LockableTime now;

			woken = remote_sleep(Min(next_try, wait_deadline));
			CHECK_FOR_INTERRUPTS();
			now = lockable_clock_now();
			last = now >= wait_deadline;
			if (now < next_try && !last && !(woken && held_here))
				continue;		/* woken for another name: sleep on */
			token = remote_try(req, prefix_len, &held_here);
			if (token != 0 || last)
				break;
			if (now >= next_try)
			{
				backoff = Min(backoff * 2, USECS_PER_SEC);
				next_try = lockable_clock_now() + backoff;
			}
		}
	}
	PG_FINALLY();
	{
		ConditionVariableCancelSleep();
		lockable_lock_wait_end();
	}
	PG_END_TRY();
	return token;
}

/*
 * lockable_remote_acquire
 *		lockable_acquire in remote mode: the service decides.  Returns the
 *		token, or 0 if the name did not come free within wait_deadline (0:
 *		try once).  Raises an error when the service cannot be asked.
 */
uint64
lockable_remote_acquire(const char *name, int len, int64 ttl, bool keepalive,
						LockableTime wait_deadline)
{
	static LeaseRequest req;	/* static: remote_pending may point here */
	int			prefix_len;
	bool		held_here = false;
	uint64		token;

	lockable_remote_check_configured();
	remote_request(&req, name, len, ttl, keepalive, &prefix_len, true);
	if (!lockable_wait_prepare(&req, ttl, wait_deadline))
		return 0;

	token = remote_try(&req, prefix_len, &held_here);
	if (token == 0 && wait_deadline != 0)
		token = remote_wait(&req, prefix_len, held_here, wait_deadline);
	if (token == 0)
		lockable_count_refused(req.hashcode);
	return token;
}

/*
 * lockable_remote_release_wait
 *		After releasing a remote lease: wait (a little) for the worker to
 *		let go of it on the service, so that the caller can take it again
 *		at once.  The worker's deletion of the entry broadcasts remote_cv.
 */
void
lockable_remote_release_wait(LeaseRequest *req, uint64 token)
{
	LockableTime until = lockable_clock_now() +
		(int64) lockable_remote_timeout * 1000 + USECS_PER_SEC;

	ConditionVariablePrepareToSleep(&lockable_shared->remote_cv);
	PG_TRY();
	{
		while (lockable_lease_exists(req, token) &&
			   lockable_clock_now() < until)
			(void) remote_sleep(until);
	}
	PG_FINALLY();
	{
		ConditionVariableCancelSleep();
	}
	PG_END_TRY();
}

/*
 * The worker's side
 */

/* A copy of a remote lease being lost, for the log and the lost ring */
static LockableLost *
lost_copy_locked(Lease *lease, LockableTime now, TimestampTz now_wall)
{
	LockableLost *l = palloc0(sizeof(LockableLost));
	LeaseRemote *remote = lease_remote(lease);
	int			len = lease->key.len - remote->prefix_len;
	LeaseKey	key;

	l->used = true;
	l->keepalive = lease->keepalive;
	l->dbid = lease_remote(lease)->db;
	l->owner = lease->owner;
	l->pid = lease->pid;
	l->token = lease->token;
	l->ttl = lease->ttl;
	l->renewals = lease->renewals;
	l->failures = lease_remote(lease)->failures;
	l->acquired_at = lockable_clock_to_timestamptz(lease->acquired, now, now_wall);
	l->confirmed_at = lockable_clock_to_timestamptz(lease_remote(lease)->confirmed, now, now_wall);
	l->lost_at = now_wall;
	lockable_entry_key_get(&lease->key, &key);
	memcpy(l->name, key.name + remote->prefix_len, len);
	l->name[len] = '\0';
	return l;
}

/* Under the partition lock: a HELD lease is lost; keep a copy for later */
static void
lose_locked(Lease *lease, LockableCounters *stats, LockableTime now,
			TimestampTz now_wall, List **lost)
{
	if (lease->remote == LEASE_REMOTE_HELD)
	{
		stats->remote_lost++;
		*lost = lappend(*lost, lost_copy_locked(lease, now, now_wall));
	}
}

/*
 * Log lost leases and keep them in the lost ring.  No partition lock may
 * be held.
 */
static void
report_lost(List *lost, bool by_answer)
{
	ListCell   *lc;
	int			n = 0;

	if (lost == NIL)
		return;
	LWLockAcquire(lockable_shared->remote_lock, LW_EXCLUSIVE);
	foreach(lc, lost)
	{
		if (!lockable_shared->lost[lockable_shared->lost_next].used)
			pg_atomic_fetch_add_u32(&lockable_shared->nlost, 1);
		lockable_shared->lost[lockable_shared->lost_next] = *(LockableLost *) lfirst(lc);
		lockable_shared->lost_next = (lockable_shared->lost_next + 1) % LOCKABLE_LOST_RING;
	}
	LWLockRelease(lockable_shared->remote_lock);

	foreach(lc, lost)
	{
		LockableLost *l = lfirst(lc);

		if (++n > 10)
		{
			ereport(WARNING,
					(errmsg("lockable: %d more remote leases were lost",
							list_length(lost) - 10)));
			break;
		}
		if (by_answer)
			ereport(WARNING,
					(errmsg("lockable: remote lease \"%s\" was lost", l->name),
					 errdetail("The service answered false to a heartbeat: the lock ran out there, or was released or taken by another client.")));
		else
			ereport(WARNING,
					(errmsg("lockable: remote lease \"%s\" was lost", l->name),
					 errdetail("No heartbeat succeeded within lockable.remote_lease (%d ms); %d failed in a row.",
							   lockable_remote_lease, l->failures)));
	}
	list_free_deep(lost);
}

/*
 * One remote entry in the worker's pass, under its partition lock: end it
 * if expired, lose or delete it if no request may be sent any more, or
 * claim the heartbeat or release that is due as a job (if *n < max).
 * Lowers *next_due.
 */
static void
collect_one_locked(Lease *lease, LockableCounters *stats, LockableTime now,
				   TimestampTz now_wall, LockableHttpRequest *jobs, int max,
				   int *n, LockableTime *next_due, List **lost,
				   LockableWakeList *wl)
{
	int64		lease_len = (int64) lockable_remote_lease * 1000;
	int64		timeout = lockable_remote_timeout_usec();
	LockableTime last_send;
	LockableHttpRequest *job;
	LeaseKey	key;

	if (lease->remote == LEASE_REMOTE_PENDING)
		return;					/* its acquirer is still asking */
	if (lease_remote(lease)->busy_until > now)
	{
		*next_due = Min(*next_due, lease_remote(lease)->busy_until);
		return;
	}
	if (lease->remote == LEASE_REMOTE_HELD && lease->deadline <= now)
	{
		stats->expired++;
		lockable_lease_end_locked(lease, now, wl);
	}

	/* no request may arrive after the remote lease could run out */
	last_send = lease_remote(lease)->confirmed + lease_len - timeout;
	if (now >= last_send)
	{
		lose_locked(lease, stats, now, now_wall, lost);
		delete_remote_locked(lease, wl);
		return;
	}
	if (lease_remote(lease)->next > now)
	{
		*next_due = Min(*next_due, Min(lease_remote(lease)->next, last_send));
		return;
	}
	if (*n >= max)
	{
		/* max 0: nothing can be sent; only losses are due */
		*next_due = Min(*next_due, max > 0 ? now : last_send);
		return;
	}
	job = &jobs[(*n)++];
	job->op = lease->remote == LEASE_REMOTE_HELD ?
		LOCKABLE_REMOTE_HEARTBEAT : LOCKABLE_REMOTE_RELEASE;
	lockable_entry_key_get(&lease->key, &key);
	job->len = key.len;
	memcpy(job->name, key.name, key.len);
	job->tag = lease->token;
	job->sent_at = now;
	job->outcome = LOCKABLE_REMOTE_FAILED;
	job->error[0] = '\0';
	lease_remote(lease)->busy_until = now + timeout + USECS_PER_SEC;
	/* the answer sets remote_next no sooner than this */
	*next_due = Min(*next_due, now + lockable_remote_retry_usec());
}

/*
 * lockable_remote_collect
 *		The worker's pass over the remote leases, one partition lock at a
 *		time: claim up to max heartbeats and releases that are due (filling
 *		jobs, each tagged with its lease's token), let go of leases whose
 *		local lease ended, and end those whose remote lease must have run
 *		out.  Every remote entry is looked at on every pass.  Lowers
 *		*next_due to when the next request is due.  Returns the number of
 *		jobs.
 */
int
lockable_remote_collect(LockableHttpRequest *jobs, int max,
						LockableTime *next_due)
{
	TimestampTz now_wall = GetCurrentTimestamp();
	List	   *lost = NIL;
	int			n = 0;

	if (pg_atomic_read_u32(&lockable_shared->nremote) == 0)
		return 0;

	for (int p = 0; p < LOCKABLE_NUM_PARTITIONS; p++)
	{
		LWLock	   *lock = &lockable_shared->locks[p].lock;
		LockablePartition *part = &lockable_shared->parts[p];
		LockableCounters *stats = &lockable_shared->stats[p].c;
		LockableWakeList wl;
		dlist_mutable_iter iter;
		LockableTime now;

		lockable_wake_init(&wl);
		LWLockAcquire(lock, LW_EXCLUSIVE);
		now = lockable_clock_now();
		dlist_foreach_modify(iter, &part->remote)
			collect_one_locked(dlist_container(LeaseRemote, node, iter.cur)->lease,
							   stats, now, now_wall, jobs, max, &n, next_due,
							   &lost, &wl);
		LWLockRelease(lock);
		lockable_wake_send(&wl);
	}
	report_lost(lost, false);
	return n;
}

/*
 * lockable_remote_apply
 *		The worker got the service's answer to a job from
 *		lockable_remote_collect: record it in the lease, if the lease is
 *		still the one the job was for (tokens are unique).
 */
void
lockable_remote_apply(const LockableHttpRequest *job)
{
	LeaseKey	key;
	uint32		hashcode;
	LWLock	   *lock;
	LockableCounters *stats;
	TimestampTz now_wall = GetCurrentTimestamp();
	LockableWakeList wl;
	LockableTime now;
	List	   *lost = NIL;
	Lease	   *lease;

	if (job->connects > 0)
		pg_atomic_fetch_add_u64(&lockable_shared->remote_connects,
								job->connects);
	key.dbid = InvalidOid;
	key.len = job->len;
	memcpy(key.name, job->name, job->len);
	hashcode = lockable_lease_key_hash(&key);
	lock = lockable_partition_lock(hashcode);
	stats = lockable_partition_stats(hashcode);

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_find_locked(&key, hashcode);
	if (lease == NULL || lease->token != job->tag ||
		(lease->remote != LEASE_REMOTE_HELD &&
		 lease->remote != LEASE_REMOTE_RELEASING))
	{
		LWLockRelease(lock);
		return;
	}
	lease_remote(lease)->busy_until = 0;

	if (job->op == LOCKABLE_REMOTE_HEARTBEAT)
	{
		switch (job->outcome)
		{
			case LOCKABLE_REMOTE_TRUE:
				stats->remote_heartbeats++;
				lease_remote(lease)->confirmed = Max(lease_remote(lease)->confirmed, job->sent_at);
				lease_remote(lease)->failures = 0;
				if (lease->remote == LEASE_REMOTE_HELD)
					lease_remote(lease)->next = job->sent_at + lockable_remote_interval_usec();
				else
					wl.worker_kick = true;	/* released meanwhile */
				break;
			case LOCKABLE_REMOTE_FALSE:
				/* not ours any more: never send a release for it */
				lose_locked(lease, stats, now, now_wall, &lost);
				delete_remote_locked(lease, &wl);
				break;
			case LOCKABLE_REMOTE_FAILED:
				stats->remote_heartbeat_errors++;
				lease_remote(lease)->failures++;
				if (lease->remote == LEASE_REMOTE_HELD)
					lease_remote(lease)->next = now + lockable_remote_retry_usec();
				break;
		}
	}
	else
	{
		Assert(job->op == LOCKABLE_REMOTE_RELEASE);
		if (job->outcome == LOCKABLE_REMOTE_FAILED)
		{
			stats->remote_release_errors++;
			lease_remote(lease)->next = now + lockable_remote_retry_usec();
		}
		else
		{
			stats->remote_released++;
			delete_remote_locked(lease, &wl);
		}
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	report_lost(lost, true);
}

/*
 * lockable_remote_lost_ack
 *		The holder of a lost lease has been told (a heartbeat or release
 *		with its token, in its database dbid, returned false): drop it from
 *		the lost ring.
 */
void
lockable_remote_lost_ack(uint64 token, Oid dbid)
{
	/* the ring is filled before a holder can learn of the loss */
	if (pg_atomic_read_u32(&lockable_shared->nlost) == 0)
		return;
	LWLockAcquire(lockable_shared->remote_lock, LW_EXCLUSIVE);
	for (int i = 0; i < LOCKABLE_LOST_RING; i++)
		if (lockable_shared->lost[i].used &&
			lockable_shared->lost[i].token == token &&
			lockable_shared->lost[i].dbid == dbid)
		{
			lockable_shared->lost[i].used = false;
			pg_atomic_fetch_sub_u32(&lockable_shared->nlost, 1);
		}
	LWLockRelease(lockable_shared->remote_lock);
}

/*
 * lockable_remote_lost_snapshot
 *		Copies of the lost ring's entries of database dbid, palloc'd.
 */
LockableLost *
lockable_remote_lost_snapshot(Oid dbid, int *n)
{
	LockableLost *result = palloc(sizeof(LockableLost) * LOCKABLE_LOST_RING);

	*n = 0;
	LWLockAcquire(lockable_shared->remote_lock, LW_SHARED);
	for (int i = 0; i < LOCKABLE_LOST_RING; i++)
		if (lockable_shared->lost[i].used && lockable_shared->lost[i].dbid == dbid)
			result[(*n)++] = lockable_shared->lost[i];
	LWLockRelease(lockable_shared->remote_lock);
	return result;
}
