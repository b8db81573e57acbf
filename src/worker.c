/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The lockable background worker: sweeps expired leases and wakes their
 *	  waiters, renews keepalive leases while their sessions live, and ends
 *	  those whose sessions are gone.
 *
 * The worker needs shared memory only, no database connection.  It sleeps
 * on its latch until the next sweep (lockable.worker_naptime) or the next
 * keepalive renewal, whichever is sooner; backends set the latch when a
 * keepalive session ends or a keepalive lease needs renewing sooner than
 * the worker would otherwise wake.  It exits with code 1 on SIGTERM, so
 * the postmaster restarts it (except at shutdown).
 *
 * Each pass it also reserves the next block of fencing tokens before
 * backends need it, and finishes a recovery that ended (horizon.c).  Disk
 * errors never make it exit: a failed write is logged at most once a
 * minute and retried every second while the sweeps go on.
 *
 * It also keeps remote leases (remote_lease.c) alive on the lock service:
 * each pass claims the heartbeats and releases that are due and starts
 * them on the HTTP client (http.c), and while requests are in flight the
 * worker sleeps on the client's sockets and its latch together, so a slow
 * or dead service never delays the sweep of local leases.  The answers
 * are handed back to remote_lease.c.  The worker is the only file that
 * drives both; neither calls it.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "horizon.h"
#include "http.h"
#include "remote_lease.h"
#include "worker.h"

/*
 * lockable_worker_register
 *		From _PG_init, while shared_preload_libraries is being processed.
 */
void
lockable_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_PostmasterStart;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "lockable");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "lockable_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "lockable worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "lockable worker");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

static void
worker_detach(int code, Datum arg)
{
	lockable_shared->worker_latch = NULL;
	lockable_shared->worker_pid = 0;
}

/* Milliseconds from now until t, for WaitLatch */
static long
ms_until(LockableTime t, LockableTime now)
{
	if (t <= now)
		return 0;
	return Min((t - now + 999) / 1000, (LockableTime) lockable_worker_naptime);
}

/* Remote heartbeats and releases claimed in one pass, at most */
#define WORKER_MAX_JOBS		LOCKABLE_HTTP_MAX_TRANSFERS

/*
 * The worker's failures not yet logged; outside the client, which an error
 * throws away (lockable_http_reset).
 */
typedef struct RemoteFailureLog
{
	int			failures;		/* requests that failed */
	char		last_error[256];
	LockableTime logged_at;
	int			errors;			/* errors that reset the client */
	char		last_reset[256];
	LockableTime errors_logged_at;
} RemoteFailureLog;

static RemoteFailureLog failure_log;

/*
 * Failed requests are retried, and errors reset the client; say so at most
 * every 10 seconds each.
 */
static void
failures_report(void)
{
	RemoteFailureLog *f = &failure_log;
	LockableTime now = lockable_clock_now();

	if (f->errors > 0 && now - f->errors_logged_at >= 10 * USECS_PER_SEC)
	{
		ereport(LOG,
				(errmsg("lockable: the worker's remote requests failed with an error: %s",
						f->last_reset),
				 errdetail_plural("%d error since the last report. The requests in flight were given up and will be retried; local leases are swept as usual.",
								  "%d errors since the last report. The requests in flight were given up and will be retried; local leases are swept as usual.",
								  f->errors, f->errors)));
		f->errors = 0;
		f->errors_logged_at = now;
	}
	if (f->failures > 0 && now - f->logged_at >= 10 * USECS_PER_SEC)
	{
		ereport(LOG,
				(errmsg("lockable: %d remote requests failed and will be retried",
						f->failures),
				 errdetail("The last one: %s.", f->last_error)));
		f->failures = 0;
		f->logged_at = now;
	}
}

/*
 * Hand answers to remote_lease.c, noting the failures for the log (the
 * requests are retried there).
 */
static void
worker_apply(LockableHttpRequest *done, int n)
{
	for (int i = 0; i < n; i++)
	{
		LockableHttpRequest *r = &done[i];

		if (r->outcome == LOCKABLE_REMOTE_FAILED)
		{
			failure_log.failures++;
			snprintf(failure_log.last_error, sizeof(failure_log.last_error),
					 "%s of \"%.*s\": %s", lockable_http_op_name(r->op),
					 (int) r->len, r->name, r->error);
		}
		lockable_remote_apply(r);
	}
	failures_report();
}

/*
 * Claim and start the remote requests that are due, if there is room for
 * more in flight.  Lowers *remote_due to when the next one is due.
 */
static void
worker_remote_pass(LockableHttpRequest *jobs, LockableTime *remote_due)
{
	bool		url_set = lockable_remote_url[0] != '\0';
	int			room = url_set ? lockable_http_capacity() : 0;
	int			n;

	/* without a URL nothing is sent, but losses still come due */
	if (url_set && room == 0)
		return;
	*remote_due = LOCKABLE_FOREVER;
	n = lockable_remote_collect(jobs, Min(room, WORKER_MAX_JOBS), remote_due);
	if (n > 0)
		lockable_http_start(jobs, n);
}

/*
 * After an error escaped the worker's remote work (libcurl, the wait for
 * its sockets, memory): give up every request in flight, as failed (they
 * are retried as after a timeout), and throw the HTTP client away,
 * connections included.  The error is logged with the failures, at most
 * every 10 seconds.
 */
static void
worker_remote_reset(LockableHttpRequest *jobs, const char *error)
{
	failure_log.errors++;
	strlcpy(failure_log.last_reset, error, sizeof(failure_log.last_reset));
	worker_apply(jobs, lockable_http_reset(error, jobs, WORKER_MAX_JOBS));
}

/*
 * The remote part of one turn of the loop: claim and start the requests
 * that are due, then, while requests are in flight, wait for their
 * answers and the latch together until *next_due.  Returns true if it
 * waited, with *latch_set saying whether the latch was set.
 *
 * An error in here (libcurl, the wait event set, memory) must not end the
 * worker, or local leases would go unswept until the postmaster restarts
 * it: it is caught and logged (rate-limited), the requests in flight are
 * given up as failed and retried, the curl client is thrown away, and the
 * next remote pass is a second later.  No partition lock is held when an
 * error can happen here except in lockable_remote_collect and
 * lockable_remote_apply, and those are released as in any process's error
 * recovery.  jobs has room for WORKER_MAX_JOBS requests; it is free for
 * reuse whenever this is called.
 */
static bool
worker_remote_step(LockableHttpRequest *jobs, bool pass, LockableTime *remote_due,
				   LockableTime *next_due, bool *latch_set,
				   MemoryContext cxt)
{
	volatile bool waited = false;

	PG_TRY();
	{
		if (pg_atomic_read_u32(&lockable_shared->nremote) == 0)
			*remote_due = LOCKABLE_FOREVER; /* nothing remote to do */
		else
		{
			if (pass || *remote_due <= lockable_clock_now())
				worker_remote_pass(jobs, remote_due);
			/* with no room for more requests, only answers make room */
			if (!(lockable_http_busy() && lockable_http_capacity() == 0))
				*next_due = Min(*next_due, *remote_due);
		}
		if (lockable_http_busy())
		{
			*latch_set = lockable_http_wait(ms_until(*next_due,
													 lockable_clock_now()));
			waited = true;
			worker_apply(jobs, lockable_http_take_done(jobs, WORKER_MAX_JOBS));
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		LWLockReleaseAll();
		pgstat_report_wait_end();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		worker_remote_reset(jobs, edata->message ? edata->message : "?");
		FreeErrorData(edata);
		*remote_due = lockable_clock_now() + USECS_PER_SEC;
		*next_due = Min(*next_due, *remote_due);
		waited = false;
	}
	PG_END_TRY();
	return waited;
}

void
lockable_worker_main(Datum main_arg)
{
	MemoryContext sweep_cxt;
	LockableTime next_due = LOCKABLE_FOREVER;
	LockableTime remote_due = 0;
	LockableHttpRequest *jobs;
	bool		latch_set = true;
	uint32		main_wait_event = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	lockable_table_check_loaded();
	lockable_shared->worker_pid = MyProcPid;
	lockable_shared->worker_latch = MyLatch;
	before_shmem_exit(worker_detach, (Datum) 0);

	sweep_cxt = AllocSetContextCreate(TopMemoryContext, "lockable sweep",
									  ALLOCSET_DEFAULT_SIZES);

	jobs = MemoryContextAlloc(TopMemoryContext,
							  sizeof(LockableHttpRequest) * WORKER_MAX_JOBS);

	ereport(LOG, (errmsg("lockable worker started")));

	for (;;)
	{
		MemoryContext old;
		LockableTime start = lockable_clock_now();

		old = MemoryContextSwitchTo(sweep_cxt);
		lockable_horizon_maintain();
		lockable_lease_sweep(&next_due);
		lockable_shared->last_sweep_usec = lockable_clock_now() - start;

		/*
		 * Both waits reset the latch as soon as they return, before anything
		 * is looked at, so a wake-up sent while we work is kept for the next
		 * wait instead of being lost.
		 */
		if (!worker_remote_step(jobs, latch_set, &remote_due, &next_due,
								&latch_set, sweep_cxt))
		{
			latch_set = (WaitLatch(MyLatch,
								   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   ms_until(next_due, lockable_clock_now()),
								   lockable_wait_event("LockableWorkerMain",
													   &main_wait_event)) &
						 WL_LATCH_SET) != 0;
			if (latch_set)
				ResetLatch(MyLatch);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(sweep_cxt);
		CHECK_FOR_INTERRUPTS();

		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	/* exit code 1: restart me, unless the server is shutting down */
	proc_exit(1);
}
