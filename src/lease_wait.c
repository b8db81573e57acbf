/*-------------------------------------------------------------------------
 *
 * lease_wait.c
 *	  Waiting for leases: in a lease's wait queue (woken by the handoff of
 *	  protocol rule 5), for any lease of a pool (rule 9), and through the
 *	  grace period after a crash or a failover; lock_timeout for all of
 *	  them.
 *
 * Like PostgreSQL's proc.c beside lock.c: the lease table (lease_table.c)
 * queues and grants under its partition locks, and this file sleeps, with
 * no lock held.  It calls the table and horizon.c; neither calls it.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/timeout.h"

#include "horizon.h"
#include "lease_wait.h"

/* the request this backend is queued on, for cleanup at exit */
static LeaseRequest *waiting_on = NULL;

/* counted in any_waiters (protocol rule 9), likewise */
static bool any_waiting = false;

/*
 * lockable_acquire_wait_event
 *		The wait event of every wait of an acquire.
 */
uint32
lockable_acquire_wait_event(void)
{
	static uint32 wait_event = 0;

	return lockable_wait_event("LockableAcquire", &wait_event);
}

/*
 * lockable_sleep_ms
 *		Milliseconds from now until until, rounded up, for WaitLatch and
 *		ConditionVariableTimedSleep: -1 (no timeout) for LOCKABLE_FOREVER,
 *		and at most INT_MAX, which is all a wait event set accepts; a longer
 *		wait wakes up after INT_MAX ms (24 days), and the caller sleeps
 *		again.
 */
long
lockable_sleep_ms(LockableTime until, LockableTime now)
{
	int64		usec;

	if (until == LOCKABLE_FOREVER)
		return -1;
	if (until <= now)
		return 0;
	usec = until - now;
	if (usec >= (int64) INT_MAX * 1000)
		return INT_MAX;
	return (long) ((usec + 999) / 1000);
}

/*
 * lockable_lock_wait_begin, lockable_lock_wait_end
 *		lock_timeout applies to every wait of lockable_acquire.
 *		lockable_lock_wait_end must follow on every path that can raise an
 *		error (PG_CATCH or PG_FINALLY): an error caught by the caller (a
 *		PL/pgSQL exception block) would otherwise leave the timer armed, and
 *		it would cancel whatever statement runs when it fires.
 */
void
lockable_lock_wait_begin(void)
{
	if (LockTimeout > 0)
		enable_timeout_after(LOCK_TIMEOUT, LockTimeout);
}

void
lockable_lock_wait_end(void)
{
	if (get_timeout_active(LOCK_TIMEOUT))
		disable_timeout(LOCK_TIMEOUT, false);
}

/*
 * After a crash or a failover no lease is granted until grace_until (see
 * horizon.c).  Sleep until then, or until wait_deadline; returns false if
 * the wait ran out first.  Interrupts raise errors out of here as from any
 * lock wait.
 */
static bool
sleep_through_grace(LockableTime wait_deadline)
{
	bool		passed = false;

	for (;;)
	{
		LockableTime grace_until = lockable_grace_until();
		LockableTime now = lockable_clock_now();
		LockableTime until;

		if (grace_until == 0 || now >= grace_until)
		{
			lockable_grace_passed(grace_until);
			passed = true;
			break;
		}
		if (now >= wait_deadline)
			break;
		until = Min(grace_until, wait_deadline);
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 lockable_sleep_ms(until, now),
						 lockable_acquire_wait_event());
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return passed;
}

/* sleep_through_grace under lock_timeout */
static bool
wait_out_grace(LockableTime wait_deadline)
{
	bool		passed;

	lockable_lock_wait_begin();
	PG_TRY();
	{
		passed = sleep_through_grace(wait_deadline);
	}
	PG_FINALLY();
	{
		lockable_lock_wait_end();
	}
	PG_END_TRY();
	return passed;
}

/*
 * lockable_wait_prepare
 *		What every acquire does before trying: wait out a crash grace period
 *		(false, counted as a refusal, if the wait ran out first) and make
 *		sure the durable horizon covers a grant with ttl.
 */
bool
lockable_wait_prepare(LeaseRequest *req, int64 ttl, LockableTime wait_deadline)
{
	lockable_recovery_end_check();
	if (unlikely(lockable_grace_until() != 0) &&
		!wait_out_grace(wait_deadline))
	{
		lockable_count_refused(req->hashcode);
		return false;
	}
	lockable_horizon_check(ttl);
	return true;
}

/*
 * Sleep in the wait queue until the lease comes to us or wait_deadline
 * passes.  Interrupts (cancel, statement_timeout, lock_timeout,
 * termination) raise an error out of ConditionVariableTimedSleep; then we
 * leave the queue, passing the lease on if it reached us meanwhile.
 */
static bool
wait_for_lease(LeaseRequest *req, LockableTime wait_deadline, uint64 *token)
{
	LockableBackend *me = &lockable_shared->backends[lockable_my_slot()];
	LeaseAcquireResult res = LEASE_QUEUED;

	waiting_on = req;
	lockable_lock_wait_begin();

	PG_TRY();
	{
		ConditionVariablePrepareToSleep(&me->cv);
		for (;;)
		{
			LockableTime sleep_until;
			LockableTime now;
			long		timeout_ms;

			/* the lease may come to us by expiry: a grant like any other */
			lockable_horizon_check(0);
			res = lockable_lease_wait_check(req, wait_deadline, token,
											&sleep_until);
			if (res != LEASE_QUEUED)
				break;

			now = lockable_clock_now();
			timeout_ms = lockable_sleep_ms(sleep_until, now);
			if (timeout_ms != 0)
				(void) ConditionVariableTimedSleep(&me->cv, timeout_ms,
												   lockable_acquire_wait_event());
		}
	}
	PG_CATCH();
	{
		ConditionVariableCancelSleep();
		lockable_lock_wait_end();
		lockable_lease_wait_abandon(req);
		waiting_on = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();

	ConditionVariableCancelSleep();
	lockable_lock_wait_end();
	waiting_on = NULL;
	return res == LEASE_GRANTED;
}

/*
 * Raise the error for a wait on leases that this session holds itself with
 * keepalive (LEASE_OWN_KEEPALIVE): they end with the session, so the wait
 * could only end by lockable.max_hold.  name is NULL for a whole pool of
 * lockable_acquire_any.
 */
static void
own_keepalive_deadlock(const char *name, int len)
{
	if (name != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
				 errmsg("deadlock detected"),
				 errdetail("This session holds lease \"%.*s\" with keepalive, so the lease cannot end while the session waits for it.",
						   len, name),
				 errhint("Leases are not re-entrant: use the token this session already holds, or release the lease first.")));
	ereport(ERROR,
			(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
			 errmsg("deadlock detected"),
			 errdetail("This session holds every lease of the pool with keepalive, so none of them can end while the session waits for one."),
			 errhint("Leases are not re-entrant: use the tokens this session already holds, or release a lease of the pool first.")));
}

/*
 * lockable_wait_acquire
 *		Acquire req's lease, queueing and sleeping until wait_deadline (0:
 *		try once; LOCKABLE_FOREVER: no limit).  Returns the token, or 0 if
 *		the lease did not come free in time.  req must outlive the call (it
 *		is static in the caller): the exit callback may use it.
 */
uint64
lockable_wait_acquire(LeaseRequest *req, LockableTime wait_deadline)
{
	LeaseAcquireResult res;
	uint64		token = 0;

	res = lockable_lease_try(req, wait_deadline != 0, &token, NULL);
	if (res == LEASE_OWN_KEEPALIVE)
	{
		if (wait_deadline != 0)
			own_keepalive_deadlock(req->key.name, req->key.len);
		return 0;
	}
	if (res == LEASE_QUEUED &&
		!wait_for_lease(req, wait_deadline, &token))
		res = LEASE_BUSY;
	if (res == LEASE_BUSY)
		return 0;
	return token;
}

/*
 * Waiting for "some lease ended": count ourselves in any_waiters and get
 * ready to sleep on any_cv, which is broadcast when a lease is deleted
 * while any_waiters is non-zero (protocol rule 9).  any_wait_end must
 * follow on every path: PG_FINALLY for errors, the exit callback for FATAL
 * (pg_terminate_backend), which unwinds nothing.  It does nothing when we
 * are not counted, so running it twice is harmless.
 */
static void
any_wait_begin(void)
{
	Assert(!any_waiting);
	pg_atomic_fetch_add_u32(&lockable_shared->any_waiters, 1);
	any_waiting = true;
	ConditionVariablePrepareToSleep(&lockable_shared->any_cv);
}

static void
any_wait_end(void)
{
	if (!any_waiting)
		return;
	ConditionVariableCancelSleep();
	pg_atomic_fetch_sub_u32(&lockable_shared->any_waiters, 1);
	any_waiting = false;
}

/*
 * Try each of the names once, in order.  Returns the index of the one
 * granted, or -1 with *earliest set to the soonest deadline among them.
 * If the caller would wait and every name is held with keepalive by this
 * very session, none can come free while it waits: raise the deadlock.
 */
static int
try_each(LeaseRequest *reqs, int n, bool wait, uint64 *token,
		 LockableTime *earliest)
{
	int			own = 0;

	*earliest = LOCKABLE_FOREVER;
	for (int i = 0; i < n; i++)
	{
		LockableTime busy_until = LOCKABLE_FOREVER;

		switch (lockable_lease_try(&reqs[i], false, token, &busy_until))
		{
			case LEASE_GRANTED:
				return i;
			case LEASE_OWN_KEEPALIVE:
				own++;
				break;
			default:
				break;
		}
		*earliest = Min(*earliest, busy_until);
	}
	if (wait && own == n)
		own_keepalive_deadlock(NULL, 0);
	return -1;
}

/*
 * lockable_wait_acquire_any
 *		One lease out of reqs (n > 0), the first free one in their order,
 *		waiting until wait_deadline (as for lockable_wait_acquire).  Returns
 *		its index, with *token, or -1.
 *
 * A waiter is not queued on the leases (it cannot stand in N queues);
 * it sleeps on any_cv, which is broadcast whenever a lease with no queued
 * waiter ends, and until the soonest deadline among the names, then tries
 * them all again.  Backends queued on one name by lockable_acquire are
 * served before it.
 */
int
lockable_wait_acquire_any(LeaseRequest *reqs, int n,
						  LockableTime wait_deadline, uint64 *token)
{
	ConditionVariable *cv = &lockable_shared->any_cv;
	LockableTime earliest;
	int			got;

	got = try_each(reqs, n, wait_deadline != 0, token, &earliest);
	if (got >= 0 || wait_deadline == 0)
		return got;

	lockable_lock_wait_begin();
	any_wait_begin();
	PG_TRY();
	{
		/* a lease may have ended before we counted ourselves */
		got = try_each(reqs, n, true, token, &earliest);
		while (got < 0)
		{
			LockableTime now = lockable_clock_now();
			LockableTime until = Min(earliest, wait_deadline);

			if (now >= wait_deadline)
				break;
			if (until > now)
				(void) ConditionVariableTimedSleep(cv,
												   lockable_sleep_ms(until, now),
												   lockable_acquire_wait_event());
			got = try_each(reqs, n, true, token, &earliest);
		}
	}
	PG_FINALLY();
	{
		any_wait_end();
		lockable_lock_wait_end();
	}
	PG_END_TRY();
	return got;
}

/*
 * lockable_wait_at_exit
 *		From the backend's exit callback (normal exit, or FATAL from
 *		pg_terminate_backend, which runs no PG_FINALLY): leave any wait.
 */
void
lockable_wait_at_exit(void)
{
	if (waiting_on != NULL)
	{
		lockable_lease_wait_abandon(waiting_on);
		waiting_on = NULL;
	}
	any_wait_end();
}
