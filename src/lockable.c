/*-------------------------------------------------------------------------
 *
 * lockable.c
 *	  Entry point of the lockable extension: _PG_init, the shared-memory
 *	  hooks, and registration of the background worker.
 *
 * This is the top of the call graph (see lockable.h): it starts the shared
 * state, then the lease table, then persistence, which restores leases
 * into the table.  None of them calls back up here.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"

#include "lease_table.h"
#include "persist.h"
#include "worker.h"

LOCKABLE_MODULE_MAGIC;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static void
lockable_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	lockable_shared_request_shmem();
	lockable_table_request_shmem();
}

/*
 * Create or attach to the shared state and the lease table; in the
 * postmaster, then restore leases or start the crash grace period.
 */
static void
lockable_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	lockable_shared_startup();
	lockable_table_startup();
	LWLockRelease(AddinShmemInitLock);

	if (!IsUnderPostmaster)
		lockable_persist_startup();
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
	lockable_settings_define(process_shared_preload_libraries_in_progress);

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = lockable_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = lockable_shmem_startup;

	lockable_worker_register();
}
