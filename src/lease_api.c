/*-------------------------------------------------------------------------
 *
 * lease_api.c
 *	  SQL-callable functions of lockable: acquire, heartbeat, release,
 *	  force release, the lockable_leases view and the statistics.
 *
 * Arguments are checked here, before any lock is taken; the lease table
 * (lease_table.c) does the work under its partition locks.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "lockable.h"

PG_FUNCTION_INFO_V1(lockable_acquire);
PG_FUNCTION_INFO_V1(lockable_acquire_any);
PG_FUNCTION_INFO_V1(lockable_heartbeat);
PG_FUNCTION_INFO_V1(lockable_release);
PG_FUNCTION_INFO_V1(lockable_force_release);
PG_FUNCTION_INFO_V1(lockable_check);
PG_FUNCTION_INFO_V1(lockable_is_held);
PG_FUNCTION_INFO_V1(lockable_leases);
PG_FUNCTION_INFO_V1(lockable_stats);
PG_FUNCTION_INFO_V1(lockable_stats_reset_all);

/* the request this backend is queued on, for cleanup at exit */
static LeaseRequest *waiting_on = NULL;

/* the remote name this backend is asking the service for, likewise */
static LeaseRequest *remote_pending = NULL;

/* counted in any_waiters (protocol rule 9), likewise */
static bool any_waiting = false;
static bool exit_callback_registered = false;

static void any_wait_end(void);

/*
 * At backend exit (normal, or FATAL from pg_terminate_backend): leave any
 * wait queue, and let the worker end this session's keepalive leases.
 */
static void
lockable_backend_exit(int code, Datum arg)
{
	if (waiting_on != NULL)
	{
		lockable_lease_wait_abandon(waiting_on);
		waiting_on = NULL;
	}
	if (remote_pending != NULL)
	{
		(void) lockable_remote_finish(remote_pending, LOCKABLE_REMOTE_FAILED, 0);
		remote_pending = NULL;
	}
	/* a FATAL error runs no PG_FINALLY */
	any_wait_end();
	lockable_session_end();
}

static void
check_ready(void)
{
	lockable_table_check_loaded();
	if (!exit_callback_registered)
	{
		before_shmem_exit(lockable_backend_exit, (Datum) 0);
		exit_callback_registered = true;
	}
}

/*
 * A hot standby has a lease table of its own, which the primary does not
 * see: a lease granted there would not keep out a holder on the primary.
 * So during recovery nothing is granted (locally or in remote mode) unless
 * lockable.allow_on_standby makes the standby a lock authority of its own.
 * Checked first by every function that grants.
 */
static void
check_may_grant(void)
{
	if (RecoveryInProgress() && !lockable_allow_on_standby)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot acquire a lease during recovery"),
				 errdetail("This server is a standby: its leases are its own, not the primary's, so a lease granted here would not keep out a holder on the primary."),
				 errhint("Acquire leases on the primary, or set lockable.allow_on_standby to make this standby a lock authority of its own.")));
}

/*
 * Check a lease name: not NULL, not empty, not too long.
 */
static void
check_name(text *name, int *len)
{
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lease name must not be null")));
	*len = VARSIZE_ANY_EXHDR(name);
	if (*len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease name must not be empty")));
	if (*len > LOCKABLE_NAME_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("lease name is too long"),
				 errdetail("The name is %d bytes long; the limit is %d bytes.",
						   *len, LOCKABLE_NAME_MAXLEN)));
}

static text *
name_arg(FunctionCallInfo fcinfo, int argno, int *len)
{
	text	   *name = PG_ARGISNULL(argno) ? NULL : PG_GETARG_TEXT_PP(argno);

	check_name(name, len);
	return name;
}

static uint64
token_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lease token must not be null"),
				 errhint("Pass the token that lockable_acquire() returned.")));
	return (uint64) PG_GETARG_INT64(argno);
}

/*
 * An interval as microseconds; a month counts 30 days and a day 24 hours,
 * as in interval comparison.
 */
static int64
interval_usec(Interval *span, const char *what)
{
	int64		usec;
	int64		days;

	if (LOCKABLE_INTERVAL_NOT_FINITE(span))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be finite", what)));
	days = (int64) span->month * DAYS_PER_MONTH + span->day;
	if (pg_mul_s64_overflow(days, USECS_PER_DAY, &usec) ||
		pg_add_s64_overflow(usec, span->time, &usec))
		ereport(ERROR,
				(errcode(ERRCODE_INTERVAL_FIELD_OVERFLOW),
				 errmsg("%s is out of range", what)));
	return usec;
}

/*
 * Check a ttl argument: NULL means fallback_usec (callers pass the default,
 * or 0 for "the lease's own"); otherwise positive and at most max_ttl.
 */
static int64
ttl_arg(FunctionCallInfo fcinfo, int argno, int64 fallback_usec)
{
	int64		ttl;
	int64		max = (int64) lockable_max_ttl * USECS_PER_SEC;

	if (PG_ARGISNULL(argno))
	{
		if (fallback_usec > max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lockable.default_ttl exceeds lockable.max_ttl"),
					 errdetail("lockable.default_ttl is %d ms; lockable.max_ttl is %d s.",
							   lockable_default_ttl, lockable_max_ttl),
					 errhint("Lower lockable.default_ttl or pass a ttl.")));
		return fallback_usec;
	}
	ttl = interval_usec(PG_GETARG_INTERVAL_P(argno), "ttl");
	if (ttl <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be positive")));
	if (ttl > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl exceeds lockable.max_ttl"),
				 errdetail("lockable.max_ttl is %d s.", lockable_max_ttl),
				 errhint("Use a shorter ttl and renew the lease with lockable_heartbeat(), or acquire it with keepalive => true.")));
	return ttl;
}

static uint32
acquire_wait_event(void)
{
	static uint32 wait_event = 0;

	return lockable_wait_event("LockableAcquire", &wait_event);
}

/*
 * Milliseconds from now until until, rounded up, for WaitLatch and
 * ConditionVariableTimedSleep: -1 (no timeout) for LOCKABLE_FOREVER, and
 * at most INT_MAX, which is all a wait event set accepts; a longer wait
 * wakes up after INT_MAX ms (24 days), and the caller sleeps again.
 */
static long
sleep_ms(LockableTime until, LockableTime now)
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
 * lock_timeout applies to every wait of lockable_acquire.  lock_wait_end
 * must follow on every path that can raise an error (PG_CATCH or
 * PG_FINALLY): an error caught by the caller (a PL/pgSQL exception block)
 * would otherwise leave the timer armed, and it would cancel whatever
 * statement runs when it fires.
 */
static void
lock_wait_begin(void)
{
	if (LockTimeout > 0)
		enable_timeout_after(LOCK_TIMEOUT, LockTimeout);
}

static void
lock_wait_end(void)
{
	if (get_timeout_active(LOCK_TIMEOUT))
		disable_timeout(LOCK_TIMEOUT, false);
}

/*
 * After a crash or a failover no lease is granted until grace_until (see
 * persist.c).  Sleep until then, or until wait_deadline; returns false if
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
						 sleep_ms(until, now), acquire_wait_event());
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

	lock_wait_begin();
	PG_TRY();
	{
		passed = sleep_through_grace(wait_deadline);
	}
	PG_FINALLY();
	{
		lock_wait_end();
	}
	PG_END_TRY();
	return passed;
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
	lock_wait_begin();

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
			timeout_ms = sleep_ms(sleep_until, now);
			if (timeout_ms != 0)
				(void) ConditionVariableTimedSleep(&me->cv, timeout_ms,
												   acquire_wait_event());
		}
	}
	PG_CATCH();
	{
		ConditionVariableCancelSleep();
		lock_wait_end();
		lockable_lease_wait_abandon(req);
		waiting_on = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();

	ConditionVariableCancelSleep();
	lock_wait_end();
	waiting_on = NULL;
	return res == LEASE_GRANTED;
}

/* The ttl, wait and keepalive arguments shared by the acquire functions */
typedef struct AcquireArgs
{
	int64		ttl;
	LockableTime wait_deadline; /* 0: try once; LOCKABLE_FOREVER: no limit */
	bool		keepalive;
} AcquireArgs;

static void
acquire_args(FunctionCallInfo fcinfo, AcquireArgs *args)
{
	args->ttl = ttl_arg(fcinfo, 1, (int64) lockable_default_ttl * 1000);
	if (PG_ARGISNULL(2))
		args->wait_deadline = LOCKABLE_FOREVER;
	else
	{
		int64		wait = interval_usec(PG_GETARG_INTERVAL_P(2), "wait");

		if (wait < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wait must not be negative"),
					 errhint("Use '0' to try once, or NULL to wait until the lease is free.")));
		if (wait == 0)
			args->wait_deadline = 0;
		else if (pg_add_s64_overflow(lockable_clock_now(), wait,
									 &args->wait_deadline))
			args->wait_deadline = LOCKABLE_FOREVER; /* beyond the clock */
	}
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("keepalive must not be null")));
	args->keepalive = PG_GETARG_BOOL(3);
}

/*
 * What every acquire does before trying: wait out a crash grace period
 * (false if the wait ran out first) and make sure the durable horizon
 * covers the grant.
 */
static bool
acquire_prepare(LeaseRequest *req, AcquireArgs *args)
{
	lockable_recovery_end_check();
	if (unlikely(lockable_grace_until() != 0) &&
		!wait_out_grace(args->wait_deadline))
	{
		lockable_lease_count_refused(req);
		return false;
	}
	lockable_horizon_check(args->ttl);
	return true;
}

/* After a keepalive grant: the worker may sleep longer than it can wait */
static void
acquire_granted(AcquireArgs *args)
{
	if (args->keepalive &&
		args->ttl / 2 < (int64) lockable_worker_naptime * 1000)
		lockable_worker_wake();
}

/*
 * Remote leases (remote.c, protocol rule 11 in lockable.h)
 */

/*
 * Build the request for the remote lease of name: its key is the name the
 * service knows, lockable.remote_prefix followed by name.  Returns false
 * if that is too long (an error instead if error_if_long).
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
	lockable_remote_key(req);
	*prefix_len = plen;
	return true;
}

/*
 * For heartbeat, release and the checks: the remote lease of that name, if
 * any remote lease exists and the name is not a local lease's.
 */
static bool
remote_fallback(LeaseRequest *req, const char *name, int len)
{
	int			prefix_len;

	if (pg_atomic_read_u32(&lockable_shared->nremote) == 0)
		return false;
	return remote_request(req, name, len, 0, false, &prefix_len, false);
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
 * Ask the service once: claim the name here, send the acquire, and turn
 * the answer into a lease (its token) or nothing (0).  Errors leave no
 * local lease behind.  *held_here is set when nothing was sent because a
 * lease of this cluster has the name (see lockable_remote_begin).
 */
static uint64
remote_try(LeaseRequest *req, int prefix_len, bool *held_here)
{
	LockableRemoteOutcome outcome = LOCKABLE_REMOTE_FAILED;
	LockableTime sent_at = 0;

	if (!lockable_remote_begin(req, prefix_len, held_here))
		return 0;
	remote_pending = req;
	PG_TRY();
	{
		outcome = lockable_remote_call(LOCKABLE_REMOTE_ACQUIRE,
									   req->key.name, req->key.len, &sent_at);
	}
	PG_CATCH();
	{
		remote_pending = NULL;
		(void) lockable_remote_finish(req, LOCKABLE_REMOTE_FAILED, 0);
		PG_RE_THROW();
	}
	PG_END_TRY();
	remote_pending = NULL;
	return lockable_remote_finish(req, outcome, sent_at);
}

/*
 * Sleep on remote_cv until until (LOCKABLE_FOREVER: no limit); true if
 * woken by a remote lease of this cluster being let go of.
 */
static bool
remote_sleep(LockableTime until)
{
	long		timeout_ms = sleep_ms(until, lockable_clock_now());

	if (timeout_ms == 0)
		return false;
	return !ConditionVariableTimedSleep(&lockable_shared->remote_cv,
										timeout_ms, acquire_wait_event());
}

/*
 * lockable_acquire in remote mode: the service decides.  A busy name is
 * asked again until wait runs out: 0.1 s after the last answer, then
 * twice as long each time up to every second (the official client polls
 * every second), and once more when wait runs out.  It is asked sooner
 * only when a lease of this cluster had the name and has let go of it on
 * the service (protocol rule 11); nothing else wakes the waiter early, not
 * its own refusals nor other waiters' nor local leases.
 */
static Datum
remote_acquire(FunctionCallInfo fcinfo, text *name, int len,
			   AcquireArgs *args)
{
	static LeaseRequest req;	/* static: remote_pending may point here */
	int			prefix_len;
	int64		backoff = USECS_PER_SEC / 10;
	bool		held_here = false;
	uint64		token;

	lockable_remote_check_configured();
	remote_request(&req, VARDATA_ANY(name), len, args->ttl, args->keepalive,
				   &prefix_len, true);
	if (!acquire_prepare(&req, args))
		PG_RETURN_NULL();

	token = remote_try(&req, prefix_len, &held_here);
	if (token == 0 && args->wait_deadline != 0)
	{
		LockableTime next_try = lockable_clock_now() + backoff;

		lock_wait_begin();
		ConditionVariablePrepareToSleep(&lockable_shared->remote_cv);
		PG_TRY();
		{
			for (;;)
			{
				bool		woken;
				bool		last;
				LockableTime now;

				woken = remote_sleep(Min(next_try, args->wait_deadline));
				CHECK_FOR_INTERRUPTS();
				now = lockable_clock_now();
				last = now >= args->wait_deadline;
				if (now < next_try && !last && !(woken && held_here))
					continue;	/* woken for another name: sleep on */
				token = remote_try(&req, prefix_len, &held_here);
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
			lock_wait_end();
		}
		PG_END_TRY();
	}
	if (token == 0)
	{
		lockable_lease_count_refused(&req);
		PG_RETURN_NULL();
	}
	acquire_granted(args);
	PG_RETURN_INT64((int64) token);
}

/*
 * After releasing a remote lease: wait (a little) for the worker to let go
 * of it on the service, so that the caller can take it again at once.
 * The worker's deletion of the entry broadcasts remote_cv.
 */
static void
remote_release_wait(LeaseRequest *req, uint64 token)
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
 * lockable_acquire(name text, ttl interval, wait interval, keepalive bool)
 *		returns bigint: the lease's fencing token, or NULL if the lease is
 *		held by someone else and did not come free within wait.
 */
Datum
lockable_acquire(PG_FUNCTION_ARGS)
{
	static LeaseRequest req;	/* static: waiting_on may point here */
	AcquireArgs args;
	text	   *name;
	int			len;
	uint64		token;
	LeaseAcquireResult res;

	check_ready();
	check_may_grant();
	name = name_arg(fcinfo, 0, &len);
	acquire_args(fcinfo, &args);
	if (lockable_remote)
		return remote_acquire(fcinfo, name, len, &args);

	lockable_lease_request(&req, VARDATA_ANY(name), len, args.ttl,
						   args.keepalive);
	if (!acquire_prepare(&req, &args))
		PG_RETURN_NULL();
	res = lockable_lease_try(&req, args.wait_deadline != 0, &token, NULL);
	if (res == LEASE_OWN_KEEPALIVE)
	{
		if (args.wait_deadline != 0)
			own_keepalive_deadlock(req.key.name, req.key.len);
		PG_RETURN_NULL();
	}
	if (res == LEASE_QUEUED &&
		!wait_for_lease(&req, args.wait_deadline, &token))
		res = LEASE_BUSY;
	if (res == LEASE_BUSY)
		PG_RETURN_NULL();

	acquire_granted(&args);
	PG_RETURN_INT64((int64) token);
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
 * lockable_acquire_any(names text[], ttl, wait, keepalive) returns
 * (name text, token bigint): one lease out of names, the first free one in
 * array order, or NULL if none came free within wait.
 *
 * A waiter is not queued on the leases (it cannot stand in N queues);
 * it sleeps on any_cv, which is broadcast whenever a lease with no queued
 * waiter ends, and until the soonest deadline among the names, then tries
 * them all again.  Backends queued on one name by lockable_acquire are
 * served before it.
 */
Datum
lockable_acquire_any(PG_FUNCTION_ARGS)
{
	AcquireArgs args;
	ArrayType  *array;
	Datum	   *elems;
	bool	   *elem_nulls;
	LeaseRequest *reqs;
	LockableTime earliest;
	TupleDesc	tupdesc;
	uint64		token = 0;
	int			n;
	int			got;

	check_ready();
	check_may_grant();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lease names must not be null")));
	array = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("lease names must be a one-dimensional array")));
	acquire_args(fcinfo, &args);
	if (lockable_remote)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lockable_acquire_any does not support remote mode"),
				 errhint("Turn lockable.remote off for this call, or try the names one by one with lockable_acquire().")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &n);
	reqs = palloc(sizeof(LeaseRequest) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		text	   *name = elem_nulls[i] ? NULL : DatumGetTextPP(elems[i]);
		int			len;

		check_name(name, &len);
		lockable_lease_request(&reqs[i], VARDATA_ANY(name), len, args.ttl,
							   args.keepalive);
		reqs[i].count_refusal = false;
	}
	if (n == 0)
		PG_RETURN_NULL();		/* an empty pool has nothing free */

	if (!acquire_prepare(&reqs[0], &args))
		PG_RETURN_NULL();
	got = try_each(reqs, n, args.wait_deadline != 0, &token, &earliest);

	if (got < 0 && args.wait_deadline != 0)
	{
		ConditionVariable *cv = &lockable_shared->any_cv;

		lock_wait_begin();
		any_wait_begin();
		PG_TRY();
		{
			/* a lease may have ended before we counted ourselves */
			got = try_each(reqs, n, true, &token, &earliest);
			while (got < 0)
			{
				LockableTime now = lockable_clock_now();
				LockableTime until = Min(earliest, args.wait_deadline);

				if (now >= args.wait_deadline)
					break;
				if (until > now)
					(void) ConditionVariableTimedSleep(cv, sleep_ms(until, now),
													   acquire_wait_event());
				got = try_each(reqs, n, true, &token, &earliest);
			}
		}
		PG_FINALLY();
		{
			any_wait_end();
			lock_wait_end();
		}
		PG_END_TRY();
	}

	if (got < 0)
	{
		lockable_lease_count_refused(&reqs[0]);
		PG_RETURN_NULL();
	}
	acquire_granted(&args);
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = elems[got];
		values[1] = Int64GetDatum((int64) token);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	}
}

/* Raise the error for a caller that is not a member of the lease's owner */
static void
check_owner(Oid owner, LeaseRequest *req)
{
	if (!is_member_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for lease \"%.*s\"",
						(int) req->key.len, req->key.name),
				 errdetail("Only members of role \"%s\" may renew or release this lease.",
						   GetUserNameFromId(owner, false))));
}

/*
 * lockable_heartbeat(name text, token bigint, ttl interval) returns bool:
 * true if the lease held with token now lasts until now + ttl (NULL: its
 * own ttl), false if it is no longer held with that token.
 */
Datum
lockable_heartbeat(PG_FUNCTION_ARGS)
{
	LeaseRequest req;
	text	   *name;
	int			len;
	uint64		token;
	int64		ttl;
	Oid			owner = InvalidOid;
	LeaseOpResult res;

	check_ready();
	name = name_arg(fcinfo, 0, &len);
	token = token_arg(fcinfo, 1);
	ttl = ttl_arg(fcinfo, 2, 0);

	lockable_lease_request(&req, VARDATA_ANY(name), len, ttl, false);
	lockable_horizon_check_ttl(ttl);
	req.count_refusal = pg_atomic_read_u32(&lockable_shared->nremote) == 0;
	res = lockable_lease_heartbeat(&req, token, ttl, InvalidOid, &owner);
	if (res == LEASE_OP_NOT_HELD &&
		remote_fallback(&req, VARDATA_ANY(name), len))
		res = lockable_lease_heartbeat(&req, token, ttl, InvalidOid, &owner);
	if (res == LEASE_OP_CHECK_OWNER)
	{
		check_owner(owner, &req);
		res = lockable_lease_heartbeat(&req, token, ttl, owner, &owner);
	}
	if (res == LEASE_OP_NOT_HELD)
		lockable_remote_lost_ack(token, MyDatabaseId);
	PG_RETURN_BOOL(res == LEASE_OP_DONE);
}

/*
 * lockable_release(name text, token bigint) returns bool: true if the
 * lease was held with token and is now released, false otherwise.
 */
Datum
lockable_release(PG_FUNCTION_ARGS)
{
	LeaseRequest req;
	text	   *name;
	int			len;
	uint64		token;
	Oid			owner = InvalidOid;
	LeaseOpResult res;

	check_ready();
	name = name_arg(fcinfo, 0, &len);
	token = token_arg(fcinfo, 1);

	lockable_lease_request(&req, VARDATA_ANY(name), len, 0, false);
	res = lockable_lease_release(&req, token, InvalidOid, &owner);
	if (res == LEASE_OP_NOT_HELD &&
		remote_fallback(&req, VARDATA_ANY(name), len))
		res = lockable_lease_release(&req, token, InvalidOid, &owner);
	if (res == LEASE_OP_CHECK_OWNER)
	{
		check_owner(owner, &req);
		res = lockable_lease_release(&req, token, owner, &owner);
	}
	if (res == LEASE_OP_NOT_HELD)
		lockable_remote_lost_ack(token, MyDatabaseId);
	else if (res == LEASE_OP_DONE && req.key.dbid == InvalidOid)
		remote_release_wait(&req, token);
	PG_RETURN_BOOL(res == LEASE_OP_DONE);
}

/*
 * lockable_force_release(name text) returns bool: end the live lease of
 * that name in this database, whoever holds it.  EXECUTE is revoked from
 * PUBLIC by the install script.
 */
Datum
lockable_force_release(PG_FUNCTION_ARGS)
{
	LeaseRequest req;
	text	   *name;
	int			len;

	check_ready();
	name = name_arg(fcinfo, 0, &len);
	lockable_lease_request(&req, VARDATA_ANY(name), len, 0, false);
	if (lockable_lease_force_release(&req))
		PG_RETURN_BOOL(true);
	/* a remote lease of that name, then; the worker lets go of it */
	PG_RETURN_BOOL(remote_fallback(&req, VARDATA_ANY(name), len) &&
				   lockable_lease_force_release(&req));
}

/*
 * Is the lease named by argument 0 held with the token of argument 1?
 */
static bool
held_with_args(FunctionCallInfo fcinfo, text **name, int *len, uint64 *token)
{
	LeaseRequest req;

	check_ready();
	*name = name_arg(fcinfo, 0, len);
	*token = token_arg(fcinfo, 1);
	lockable_lease_request(&req, VARDATA_ANY(*name), *len, 0, false);
	if (lockable_lease_is_held(&req, *token))
		return true;
	return remote_fallback(&req, VARDATA_ANY(*name), *len) &&
		lockable_lease_is_held(&req, *token);
}

/*
 * lockable_is_held(name text, token bigint) returns bool: is the lease
 * held with token right now?  For fencing in policies and CHECK-style
 * guards; anyone may ask.
 */
Datum
lockable_is_held(PG_FUNCTION_ARGS)
{
	text	   *name;
	int			len;
	uint64		token;

	PG_RETURN_BOOL(held_with_args(fcinfo, &name, &len, &token));
}

/*
 * lockable_check(name text, token bigint) returns void: raise an error
 * unless the lease is held with token right now, so that a holder that
 * lost its lease has its writes rejected (from a trigger, for example).
 */
Datum
lockable_check(PG_FUNCTION_ARGS)
{
	text	   *name;
	int			len;
	uint64		token;

	if (!held_with_args(fcinfo, &name, &len, &token))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("lease \"%.*s\" is not held with token " INT64_FORMAT,
						len, VARDATA_ANY(name), (int64) token),
				 errdetail("The lease expired, was released, or was taken by a newer holder."),
				 errhint("Acquire the lease again before writing.")));
	PG_RETURN_VOID();
}

static const char *
remote_state_name(uint8 state)
{
	switch ((LeaseRemoteState) state)
	{
		case LEASE_LOCAL:
			break;
		case LEASE_REMOTE_PENDING:
			return "acquiring";
		case LEASE_REMOTE_HELD:
			return "held";
		case LEASE_REMOTE_RELEASING:
			return "releasing";
	}
	return NULL;
}

/*
 * lockable_leases() returns the live leases of the current database, its
 * remote leases (held, being acquired, being let go of) and the remote
 * leases it lost lately.  The token is the capability to renew and
 * release, so it is shown only to members of the owning role.  Version 1.0
 * of the extension declares only the first ten columns.
 */
Datum
lockable_leases(PG_FUNCTION_ARGS)
{
#define LOCKABLE_LEASES_COLS 14
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LeaseInfo  *leases;
	LockableLost *lost;
	LockableTime now;
	TimestampTz now_wall;
	int			natts;
	int			n;
	int			nlost;

	check_ready();
	InitMaterializedSRF(fcinfo, 0);
	natts = Min(rsinfo->setDesc->natts, LOCKABLE_LEASES_COLS);

	leases = lockable_lease_snapshot(MyDatabaseId, &n, &now);
	now_wall = GetCurrentTimestamp();

	for (int i = 0; i < n; i++)
	{
		LeaseInfo  *l = &leases[i];
		Datum		values[LOCKABLE_LEASES_COLS];
		bool		nulls[LOCKABLE_LEASES_COLS];
		Interval   *ttl = palloc0(sizeof(Interval));
		bool		remote = l->remote != LEASE_LOCAL;

		if (remote && natts < LOCKABLE_LEASES_COLS)
			continue;			/* extension not updated: local leases only */
		memset(nulls, 0, sizeof(nulls));
		ttl->time = l->ttl;

		values[0] = CStringGetTextDatum(l->name + (remote ? l->prefix_len : 0));
		if (l->token != 0 && is_member_of_role(GetUserId(), l->owner))
			values[1] = Int64GetDatum((int64) l->token);
		else
			nulls[1] = true;
		values[2] = ObjectIdGetDatum(l->owner);
		if (l->pid != 0)
			values[3] = Int32GetDatum(l->pid);
		else
			nulls[3] = true;	/* restored after a restart */
		values[4] = TimestampTzGetDatum(lockable_clock_to_timestamptz(l->acquired, now, now_wall));
		if (l->deadline != LOCKABLE_FOREVER)
			values[5] = TimestampTzGetDatum(lockable_clock_to_timestamptz(l->deadline, now, now_wall));
		else
			nulls[5] = true;	/* remote, being acquired or let go of */
		values[6] = IntervalPGetDatum(ttl);
		values[7] = BoolGetDatum(l->keepalive);
		values[8] = Int64GetDatum(l->renewals);
		values[9] = Int32GetDatum(l->nwaiters);
		if (natts == LOCKABLE_LEASES_COLS)
		{
			values[10] = BoolGetDatum(remote);
			if (remote)
				values[11] = CStringGetTextDatum(remote_state_name(l->remote));
			else
				nulls[11] = true;
			if (remote && l->remote_ok != 0)
				values[12] = TimestampTzGetDatum(lockable_clock_to_timestamptz(l->remote_ok, now, now_wall));
			else
				nulls[12] = true;
			if (remote)
				values[13] = Int32GetDatum(l->remote_failures);
			else
				nulls[13] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	if (natts < LOCKABLE_LEASES_COLS)
		return (Datum) 0;

	/* lost remote leases, until their holders have been told */
	lost = lockable_remote_lost_snapshot(MyDatabaseId, &nlost);
	for (int i = 0; i < nlost; i++)
	{
		LockableLost *l = &lost[i];
		Datum		values[LOCKABLE_LEASES_COLS];
		bool		nulls[LOCKABLE_LEASES_COLS];
		Interval   *ttl = palloc0(sizeof(Interval));

		memset(nulls, 0, sizeof(nulls));
		ttl->time = l->ttl;
		values[0] = CStringGetTextDatum(l->name);
		if (is_member_of_role(GetUserId(), l->owner))
			values[1] = Int64GetDatum((int64) l->token);
		else
			nulls[1] = true;
		values[2] = ObjectIdGetDatum(l->owner);
		values[3] = Int32GetDatum(l->pid);
		values[4] = TimestampTzGetDatum(l->acquired_at);
		values[5] = TimestampTzGetDatum(l->lost_at);	/* when it ended */
		values[6] = IntervalPGetDatum(ttl);
		values[7] = BoolGetDatum(l->keepalive);
		values[8] = Int64GetDatum(l->renewals);
		values[9] = Int32GetDatum(0);
		values[10] = BoolGetDatum(true);
		values[11] = CStringGetTextDatum("lost");
		values[12] = TimestampTzGetDatum(l->remote_ok_at);
		values[13] = Int32GetDatum(l->failures);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * lockable_stats() returns one row of counters since the last reset.
 */
Datum
lockable_stats(PG_FUNCTION_ARGS)
{
#define LOCKABLE_STATS_COLS 27
	TupleDesc	tupdesc;
	LockableCounters c;
	Datum		values[LOCKABLE_STATS_COLS];
	bool		nulls[LOCKABLE_STATS_COLS];
	int			i = 0;

	check_ready();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	lockable_stats_read(&c);
	memset(nulls, 0, sizeof(nulls));
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u32(&lockable_shared->nleases));
	values[i++] = Int32GetDatum(lockable_max_leases);
	values[i++] = Int64GetDatum((int64) c.acquired);
	values[i++] = Int64GetDatum((int64) c.refused);
	values[i++] = Int64GetDatum((int64) c.waited);
	values[i++] = Int64GetDatum((int64) c.released);
	values[i++] = Int64GetDatum((int64) c.expired);
	values[i++] = Int64GetDatum((int64) c.forced);
	values[i++] = Int64GetDatum((int64) c.session_ended);
	values[i++] = Int64GetDatum((int64) c.heartbeats);
	values[i++] = Int64GetDatum((int64) c.heartbeats_failed);
	values[i++] = Int64GetDatum((int64) c.renewals);
	values[i++] = Int64GetDatum((int64) c.full);
	values[i++] = TimestampTzGetDatum(lockable_shared->stats_reset);
	if (lockable_shared->worker_pid != 0)
		values[i++] = Int32GetDatum(lockable_shared->worker_pid);
	else
		nulls[i++] = true;
	values[i++] = Float8GetDatum(lockable_shared->last_sweep_usec / 1000.0);
	{
		LockableTime grace_until;
		LockableTime now = lockable_clock_now();

		lockable_recovery_end_check();
		grace_until = lockable_grace_until();
		if (grace_until > now)
			values[i++] = TimestampTzGetDatum(lockable_clock_to_timestamptz(grace_until, now, GetCurrentTimestamp()));
		else
			nulls[i++] = true;
	}
	/* remote mode; version 1.0 of the extension stops before these */
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u32(&lockable_shared->nremote));
	values[i++] = Int64GetDatum((int64) c.remote_acquired);
	values[i++] = Int64GetDatum((int64) c.remote_refused);
	values[i++] = Int64GetDatum((int64) c.remote_errors);
	values[i++] = Int64GetDatum((int64) c.remote_heartbeats);
	values[i++] = Int64GetDatum((int64) c.remote_heartbeat_errors);
	values[i++] = Int64GetDatum((int64) c.remote_lost);
	values[i++] = Int64GetDatum((int64) c.remote_released);
	values[i++] = Int64GetDatum((int64) c.remote_release_errors);
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&lockable_shared->remote_connects));
	Assert(i == LOCKABLE_STATS_COLS);
	/* heap_form_tuple takes the first natts values */

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * lockable_stats_reset() zeroes the counters.  EXECUTE is revoked from
 * PUBLIC by the install script.
 */
Datum
lockable_stats_reset_all(PG_FUNCTION_ARGS)
{
	check_ready();
	lockable_stats_reset();
	PG_RETURN_VOID();
}
