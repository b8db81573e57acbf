/*-------------------------------------------------------------------------
 *
 * lease_api.c
 *	  SQL-callable functions of lockable: acquire, heartbeat, release,
 *	  force release, the checks, the lockable_leases view and the
 *	  statistics.
 *
 * Only argument checks and fmgr are here, done before any lock is taken;
 * the work is done below: the lease table (lease_table.c), waiting
 * (lease_wait.c), remote leases (remote_lease.c), the horizon (horizon.c).
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/supportnodes.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "horizon.h"
#include "lease_wait.h"
#include "remote_lease.h"

PG_FUNCTION_INFO_V1(lockable_acquire);
PG_FUNCTION_INFO_V1(lockable_acquire_support);
PG_FUNCTION_INFO_V1(lockable_acquire_any);
PG_FUNCTION_INFO_V1(lockable_heartbeat);
PG_FUNCTION_INFO_V1(lockable_release);
PG_FUNCTION_INFO_V1(lockable_force_release);
PG_FUNCTION_INFO_V1(lockable_check);
PG_FUNCTION_INFO_V1(lockable_is_held);
PG_FUNCTION_INFO_V1(lockable_leases);
PG_FUNCTION_INFO_V1(lockable_stats);
PG_FUNCTION_INFO_V1(lockable_stats_reset_all);

static bool exit_callback_registered = false;

/*
 * At backend exit (normal, or FATAL from pg_terminate_backend): leave any
 * wait, end a remote claim, and let the worker end this session's
 * keepalive leases.
 */
static void
lockable_backend_exit(int code, Datum arg)
{
	lockable_wait_at_exit();
	lockable_remote_at_exit();
	lockable_session_end();
}

/*
 * First thing in every SQL function: error out unless lockable was
 * preloaded, and on the first call in this backend register the exit
 * callback that cleans up after waits and keepalive leases.
 */
static void
check_loaded_and_register_exit(void)
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
 * Check a ttl argument: NULL or missing (see lockable_acquire_support)
 * means fallback_usec (callers pass the default, or 0 for "the lease's
 * own"); otherwise positive and at most max_ttl.
 */
static int64
ttl_arg(FunctionCallInfo fcinfo, int argno, int64 fallback_usec)
{
	int64		ttl;
	int64		max = (int64) lockable_max_ttl * USECS_PER_SEC;

	if (argno >= PG_NARGS() || PG_ARGISNULL(argno))
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

/* The ttl, wait, keepalive, slots and shared arguments of the acquires */
typedef struct AcquireArgs
{
	int64		ttl;
	LockableTime wait_deadline; /* 0: try once; LOCKABLE_FOREVER: no limit */
	bool		keepalive;
	int			slots;
	bool		shared;
} AcquireArgs;

/*
 * The slots and shared arguments (4 and 5), of version 1.3; missing: 1
 * and false, the script's defaults.
 */
static void
acquire_slots_args(FunctionCallInfo fcinfo, AcquireArgs *args)
{
	args->slots = 1;
	args->shared = false;
	if (likely(PG_NARGS() <= 4))
		return;
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("slots must not be null"),
				 errhint("Use slots => 1 for a lease one holder at a time may hold.")));
	args->slots = PG_GETARG_INT32(4);
	if (args->slots < 1 || args->slots > LOCKABLE_MAX_SLOTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("slots must be between 1 and %d", LOCKABLE_MAX_SLOTS),
				 errdetail("slots was %d.", args->slots)));
	if (PG_NARGS() > 5)
	{
		if (PG_ARGISNULL(5))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("shared must not be null")));
		args->shared = PG_GETARG_BOOL(5);
	}
	if (lockable_remote && (args->slots > 1 || args->shared))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("remote mode does not support counting or shared leases"),
				 errdetail("The lockable.dev protocol has one holder per lease."),
				 errhint("Turn lockable.remote off for this call, or acquire with slots => 1 and shared => false.")));
}

/*
 * Trailing arguments that are missing take the install script's defaults
 * (ttl NULL, wait '0', keepalive false, slots 1, shared false):
 * lockable_acquire_support drops the ones that equal them, so these must
 * stay the same as the script's.
 */
static void
acquire_args(FunctionCallInfo fcinfo, AcquireArgs *args)
{
	args->ttl = ttl_arg(fcinfo, 1, (int64) lockable_default_ttl * 1000);
	if (PG_NARGS() <= 2)
		args->wait_deadline = 0;
	else if (PG_ARGISNULL(2))
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
	args->keepalive = false;
	if (PG_NARGS() > 3)
	{
		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("keepalive must not be null")));
		args->keepalive = PG_GETARG_BOOL(3);
	}
	acquire_slots_args(fcinfo, args);
}

/* A request for the slots and shared an acquire asked for */
static inline void
request_slots(LeaseRequest *req, const AcquireArgs *args)
{
	req->slots = args->slots;
	req->shared = args->shared;
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
 * lockable_acquire(name text, ttl interval, wait interval, keepalive bool,
 *				   slots int, shared bool)
 *		returns bigint: the lease's fencing token, or NULL if the lease is
 *		held by someone else and did not come free within wait.
 */
Datum
lockable_acquire(PG_FUNCTION_ARGS)
{
	static LeaseRequest req;	/* static: the exit callback may use it */
	AcquireArgs args;
	text	   *name;
	int			len;
	uint64		token;

	check_loaded_and_register_exit();
	check_may_grant();
	name = name_arg(fcinfo, 0, &len);
	acquire_args(fcinfo, &args);
	if (lockable_remote)
		token = lockable_remote_acquire(VARDATA_ANY(name), len, args.ttl,
										args.keepalive, args.wait_deadline);
	else
	{
		lockable_lease_request(&req, VARDATA_ANY(name), len, args.ttl,
							   args.keepalive);
		request_slots(&req, &args);
		if (!lockable_wait_prepare(&req, args.ttl, args.wait_deadline))
			PG_RETURN_NULL();
		token = lockable_wait_acquire(&req, args.wait_deadline);
	}
	if (token == 0)
		PG_RETURN_NULL();

	acquire_granted(&args);
	PG_RETURN_INT64((int64) token);
}

/*
 * lockable_acquire_support(internal) returns internal: the planner support
 * function of lockable_acquire (version 1.2 of the install scripts).
 *
 * The planner fills in every defaulted argument as a constant, and the
 * executor then walks and sets up each of them on every execution of the
 * statement, even a prepared one: for lockable_acquire(name) that was
 * about 270 of the instructions of an acquire.  Trailing arguments that
 * equal their defaults are dropped again here, once, when the statement is
 * planned; lockable_acquire (acquire_args) takes missing trailing
 * arguments as their defaults.  The call stays a call of the same
 * function, so its EXECUTE privilege and the plan's dependency on it are
 * as before.
 */
Datum
lockable_acquire_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	FuncExpr   *call;
	FuncExpr   *shorter;
	HeapTuple	proctup;
	Datum		datum;
	bool		isnull;
	List	   *defaults = NIL;
	int			nargs;
	int			first_default;
	int			keep;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	call = ((SupportRequestSimplify *) rawreq)->fcall;
	if (call->funcvariadic || call->funcretset)
		PG_RETURN_POINTER(NULL);

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(call->funcid));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", call->funcid);
	nargs = ((Form_pg_proc) GETSTRUCT(proctup))->pronargs;
	datum = SysCacheGetAttr(PROCOID, proctup, Anum_pg_proc_proargdefaults,
							&isnull);
	if (!isnull)
	{
		char	   *str = TextDatumGetCString(datum);

		defaults = castNode(List, stringToNode(str));
		pfree(str);
	}
	ReleaseSysCache(proctup);

	/* the planner has expanded the call to every parameter, in order */
	if (list_length(call->args) != nargs || defaults == NIL)
		PG_RETURN_POINTER(NULL);
	first_default = nargs - list_length(defaults);
	keep = nargs;
	while (keep > first_default &&
		   equal(list_nth(call->args, keep - 1),
				 list_nth(defaults, keep - 1 - first_default)))
		keep--;
	if (keep == nargs)
		PG_RETURN_POINTER(NULL);

	shorter = makeFuncExpr(call->funcid, call->funcresulttype,
						   list_truncate(list_copy(call->args), keep),
						   call->funccollid, call->inputcollid,
						   call->funcformat);
	shorter->location = call->location;
	PG_RETURN_POINTER(shorter);
}

/*
 * lockable_acquire_any(names text[], ttl, wait, keepalive, slots, shared) returns
 * (name text, token bigint): one lease out of names, the first free one in
 * array order, or NULL if none came free within wait (lease_wait.c).
 */
Datum
lockable_acquire_any(PG_FUNCTION_ARGS)
{
	AcquireArgs args;
	ArrayType  *array;
	Datum	   *elems;
	bool	   *elem_nulls;
	LeaseRequest *reqs;
	TupleDesc	tupdesc;
	uint64		token = 0;
	int			n;
	int			got;

	check_loaded_and_register_exit();
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
		request_slots(&reqs[i], &args);
		reqs[i].count_refusal = false;
	}
	if (n == 0)
		PG_RETURN_NULL();		/* an empty pool has nothing free */

	if (!lockable_wait_prepare(&reqs[0], args.ttl, args.wait_deadline))
		PG_RETURN_NULL();
	got = lockable_wait_acquire_any(reqs, n, args.wait_deadline, &token);
	if (got < 0)
	{
		lockable_count_refused(reqs[0].hashcode);
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
 * A heartbeat or release of the lease held with token: the local lease of
 * req's name, else the remote one of that name.  Role membership is
 * checked with no lock held, then the operation is repeated, keyed by the
 * token (see lockable_lease_holder_op).  A holder told that its lease is
 * not held any more has learnt of a loss: the lost ring forgets it.
 */
static LeaseOpResult
holder_op(LeaseHolderOp op, LeaseRequest *req, const char *name, int len,
		  uint64 token, int64 ttl)
{
	Oid			owner = InvalidOid;
	LeaseOpResult res;

	res = lockable_lease_holder_op(req, op, token, ttl, InvalidOid, &owner);
	if (res == LEASE_OP_NOT_HELD && lockable_remote_fallback(req, name, len))
		res = lockable_lease_holder_op(req, op, token, ttl, InvalidOid, &owner);
	if (res == LEASE_OP_CHECK_OWNER)
	{
		check_owner(owner, req);
		res = lockable_lease_holder_op(req, op, token, ttl, owner, &owner);
	}
	if (res == LEASE_OP_NOT_HELD)
		lockable_remote_lost_ack(token, MyDatabaseId);
	return res;
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

	check_loaded_and_register_exit();
	name = name_arg(fcinfo, 0, &len);
	token = token_arg(fcinfo, 1);
	ttl = ttl_arg(fcinfo, 2, 0);

	lockable_lease_request(&req, VARDATA_ANY(name), len, ttl, false);
	lockable_horizon_check_ttl(ttl);
	req.count_refusal = pg_atomic_read_u32(&lockable_shared->nremote) == 0;
	PG_RETURN_BOOL(holder_op(LEASE_HEARTBEAT, &req, VARDATA_ANY(name), len,
							 token, ttl) == LEASE_OP_DONE);
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
	LeaseOpResult res;

	check_loaded_and_register_exit();
	name = name_arg(fcinfo, 0, &len);
	token = token_arg(fcinfo, 1);

	lockable_lease_request(&req, VARDATA_ANY(name), len, 0, false);
	res = holder_op(LEASE_RELEASE, &req, VARDATA_ANY(name), len, token, 0);
	if (res == LEASE_OP_DONE && req.key.dbid == InvalidOid)
		lockable_remote_release_wait(&req, token);
	PG_RETURN_BOOL(res == LEASE_OP_DONE);
}

/*
 * lockable_force_release(name text) returns bool: end the live lease of
 * that name in this database, whoever holds it: every holder of a
 * counting or shared lease.  lockable_force_release(name text, token
 * bigint), of version 1.3, ends only the holder with that token.  EXECUTE
 * is revoked from PUBLIC by the install scripts.
 */
Datum
lockable_force_release(PG_FUNCTION_ARGS)
{
	LeaseRequest req;
	text	   *name;
	int			len;
	uint64		token = 0;

	check_loaded_and_register_exit();
	name = name_arg(fcinfo, 0, &len);
	if (PG_NARGS() > 1)
	{
		token = token_arg(fcinfo, 1);

		/*
		 * No grant has token 0 (the counter starts at 1), and to the table
		 * 0 means every holder: the one holder with token 0 is nobody.
		 */
		if (token == 0)
			PG_RETURN_BOOL(false);
	}
	lockable_lease_request(&req, VARDATA_ANY(name), len, 0, false);
	if (lockable_lease_force_release(&req, token))
		PG_RETURN_BOOL(true);
	/* a remote lease of that name, then; the worker lets go of it */
	PG_RETURN_BOOL(lockable_remote_fallback(&req, VARDATA_ANY(name), len) &&
				   lockable_lease_force_release(&req, token));
}

/*
 * Is the lease named by argument 0 held with the token of argument 1?
 */
static bool
held_with_args(FunctionCallInfo fcinfo, text **name, int *len, uint64 *token)
{
	LeaseRequest req;

	check_loaded_and_register_exit();
	*name = name_arg(fcinfo, 0, len);
	*token = token_arg(fcinfo, 1);
	lockable_lease_request(&req, VARDATA_ANY(*name), *len, 0, false);
	if (lockable_lease_is_held(&req, *token))
		return true;
	return lockable_remote_fallback(&req, VARDATA_ANY(*name), *len) &&
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

/* One row of lockable_leases, from a live lease or a lost one */
typedef struct LeaseRow
{
	const char *name;			/* without the remote prefix */
	uint64		token;			/* 0: none yet */
	Oid			owner;
	int			pid;			/* 0: restored after a restart */
	TimestampTz acquired;
	TimestampTz ends;			/* expires_at; lost_at of a lost lease */
	bool		ends_null;		/* remote, being acquired or let go of */
	int64		ttl;
	bool		keepalive;
	int64		renewals;
	int			nwaiters;
	int			slots;
	bool		shared;
	const char *remote_state;	/* NULL: a local lease */
	TimestampTz confirmed;		/* last acquire or heartbeat the service
								 * said true to */
	bool		confirmed_null;
	int			failures;
} LeaseRow;

#define LOCKABLE_LEASES_COLS 16
#define LOCKABLE_LEASES_COLS_1_1 14 /* 1.1 and 1.2: no slots, shared */
#define LOCKABLE_LEASES_COLS_1_0 10 /* 1.0: no remote columns */

/*
 * Add a row to the view's result.  natts is less than LOCKABLE_LEASES_COLS
 * while the extension is still at an older version: 14 columns in 1.1 and
 * 1.2, 10 in 1.0.
 */
static void
put_lease_row(ReturnSetInfo *rsinfo, int natts, const LeaseRow *r)
{
	Datum		values[LOCKABLE_LEASES_COLS];
	bool		nulls[LOCKABLE_LEASES_COLS];
	Interval   *ttl = palloc0(sizeof(Interval));
	bool		remote = r->remote_state != NULL;

	memset(nulls, 0, sizeof(nulls));
	ttl->time = r->ttl;
	values[0] = CStringGetTextDatum(r->name);
	if (r->token != 0 && is_member_of_role(GetUserId(), r->owner))
		values[1] = Int64GetDatum((int64) r->token);
	else
		nulls[1] = true;
	values[2] = ObjectIdGetDatum(r->owner);
	if (r->pid != 0)
		values[3] = Int32GetDatum(r->pid);
	else
		nulls[3] = true;
	values[4] = TimestampTzGetDatum(r->acquired);
	if (!r->ends_null)
		values[5] = TimestampTzGetDatum(r->ends);
	else
		nulls[5] = true;
	values[6] = IntervalPGetDatum(ttl);
	values[7] = BoolGetDatum(r->keepalive);
	values[8] = Int64GetDatum(r->renewals);
	values[9] = Int32GetDatum(r->nwaiters);
	if (natts >= LOCKABLE_LEASES_COLS_1_1)
	{
		values[10] = BoolGetDatum(remote);
		if (remote)
			values[11] = CStringGetTextDatum(r->remote_state);
		else
			nulls[11] = true;
		if (remote && !r->confirmed_null)
			values[12] = TimestampTzGetDatum(r->confirmed);
		else
			nulls[12] = true;
		if (remote)
			values[13] = Int32GetDatum(r->failures);
		else
			nulls[13] = true;
	}
	if (natts >= LOCKABLE_LEASES_COLS)
	{
		values[14] = Int32GetDatum(r->slots);
		values[15] = BoolGetDatum(r->shared);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
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
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LeaseInfo  *leases;
	LockableLost *lost;
	LockableTime now;
	TimestampTz now_wall;
	int			natts;
	int			n;
	int			nlost;

	check_loaded_and_register_exit();
	InitMaterializedSRF(fcinfo, 0);
	natts = Min(rsinfo->setDesc->natts, LOCKABLE_LEASES_COLS);

	leases = lockable_lease_snapshot(MyDatabaseId, &n, &now);
	now_wall = GetCurrentTimestamp();

	for (int i = 0; i < n; i++)
	{
		LeaseInfo  *l = &leases[i];
		bool		remote = l->remote != LEASE_LOCAL;
		LeaseRow	r;

		if (remote && natts < LOCKABLE_LEASES_COLS_1_1)
			continue;			/* extension not updated: local leases only */
		r.name = l->name + (remote ? l->prefix_len : 0);
		r.token = l->token;
		r.owner = l->owner;
		r.pid = l->pid;
		r.acquired = lockable_clock_to_timestamptz(l->acquired, now, now_wall);
		r.ends_null = l->deadline == LOCKABLE_FOREVER;
		r.ends = r.ends_null ? 0 :
			lockable_clock_to_timestamptz(l->deadline, now, now_wall);
		r.ttl = l->ttl;
		r.keepalive = l->keepalive;
		r.renewals = l->renewals;
		r.nwaiters = l->nwaiters;
		r.slots = l->slots;
		r.shared = l->shared;
		r.remote_state = remote_state_name(l->remote);
		r.confirmed_null = l->remote_confirmed == 0;
		r.confirmed = lockable_clock_to_timestamptz(l->remote_confirmed, now,
													now_wall);
		r.failures = l->remote_failures;
		put_lease_row(rsinfo, natts, &r);
	}

	if (natts < LOCKABLE_LEASES_COLS_1_1)
		return (Datum) 0;

	/* lost remote leases, until their holders have been told */
	lost = lockable_remote_lost_snapshot(MyDatabaseId, &nlost);
	for (int i = 0; i < nlost; i++)
	{
		LockableLost *l = &lost[i];
		LeaseRow	r;

		r.name = l->name;
		r.token = l->token;
		r.owner = l->owner;
		r.pid = l->pid;
		r.acquired = l->acquired_at;
		r.ends_null = false;
		r.ends = l->lost_at;	/* when it ended */
		r.ttl = l->ttl;
		r.keepalive = l->keepalive;
		r.renewals = l->renewals;
		r.nwaiters = 0;
		r.slots = 1;
		r.shared = false;
		r.remote_state = "lost";
		r.confirmed_null = false;
		r.confirmed = l->confirmed_at;
		r.failures = l->failures;
		put_lease_row(rsinfo, natts, &r);
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

	check_loaded_and_register_exit();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	lockable_counters_sum(&c);
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
	values[i++] = Int64GetDatum((int64) c.table_full);
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
 * The SQL function lockable_stats_reset() zeroes the counters.  Its C
 * name is lockable_stats_reset_all because the install scripts link it by
 * that name.  EXECUTE is revoked from PUBLIC by the install script.
 */
Datum
lockable_stats_reset_all(PG_FUNCTION_ARGS)
{
	check_loaded_and_register_exit();
	lockable_counters_zero();
	PG_RETURN_VOID();
}
