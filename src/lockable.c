/*-------------------------------------------------------------------------
 *
 * lockable.c
 *	  Entry point of the lockable extension: settings, shared-memory hooks
 *	  and registration of the background worker.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "lockable.h"

PG_MODULE_MAGIC;

int			lockable_max_leases = 10000;
int			lockable_default_ttl = 60 * 1000;
int			lockable_max_ttl = 60 * 60;
int			lockable_max_hold = 24 * 60 * 60;
int			lockable_worker_naptime = 1000;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static void
lockable_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	lockable_table_request_shmem();
}

static void
lockable_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	lockable_table_startup();
}

/*
 * Settings that take effect at server start.  PostgreSQL refuses to define
 * them after startup, so they exist only when lockable is preloaded.
 */
static void
define_startup_settings(void)
{
	DefineCustomIntVariable("lockable.max_leases",
							"Maximum number of leases held at once, across all databases.",
							"Shared memory for this many leases is reserved at server start.",
							&lockable_max_leases,
							10000, 1, 100000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("lockable.crash_grace",
							 "After a crash, grant no lease until every lease granted before it would have expired.",
							 "Turning this off makes leases free at once after a crash, which lets two holders overlap.",
							 &lockable_crash_grace,
							 true,
							 PGC_POSTMASTER, 0,
							 NULL, NULL, NULL);
}

static void
define_settings(void)
{
	DefineCustomIntVariable("lockable.default_ttl",
							"Time-to-live of a lease when lockable_acquire() is given none.",
							NULL,
							&lockable_default_ttl,
							60 * 1000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.max_ttl",
							"Longest time-to-live a lease may be given.",
							NULL,
							&lockable_max_ttl,
							60 * 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.max_hold",
							"Longest time the worker keeps renewing a keepalive lease; 0 means no limit.",
							NULL,
							&lockable_max_hold,
							24 * 60 * 60, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.worker_naptime",
							"Time between two sweeps of the lease table by the background worker.",
							NULL,
							&lockable_worker_naptime,
							1000, 10, 60 * 60 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("lockable");
}

/*
 * _PG_init
 *		Define the settings; when preloaded, also reserve shared memory and
 *		register the worker.  Loaded any other way, the SQL functions raise
 *		an error saying so.
 */
void
_PG_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		define_startup_settings();
	define_settings();

	if (!process_shared_preload_libraries_in_progress)
		return;

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = lockable_shmem_request;
#else
	lockable_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = lockable_shmem_startup;

	lockable_worker_register();
}
