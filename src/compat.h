/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between the PostgreSQL versions lockable supports
 *	  (15, 16, 17, 18 and 19), in one place.  No other file tests
 *	  PG_VERSION_NUM.
 *
 * Each block says what changed and in which release.  The code elsewhere
 * uses only the names defined here, the newest API's shape where one
 * exists:
 *
 *	lockable_proc_number		MyProcNumber (17+), MyBackendId - 1 (15, 16)
 *	lockable_wait_event(name)	a custom wait event (17+), or
 *								PG_WAIT_EXTENSION (15, 16)
 *	lockable_create_wait_event_set(n)
 *								CreateWaitEventSet, owned by
 *								CurrentResourceOwner (17+) or
 *								CurrentMemoryContext (15, 16)
 *	LOCKABLE_JSON_CB_RETURN, LOCKABLE_JSON_CB_OK
 *								semantic callbacks return an error code
 *								(16+) or nothing (15)
 *	lockable_json_lex_cstring(buf, s, len)
 *								makeJsonLexContextCstringLen, into a
 *								caller's buffer on 17+
 *	lockable_json_lex_free(lex)	freeJsonLexContext (17+), nothing before
 *	LOCKABLE_INTERVAL_NOT_FINITE(i)
 *								infinite intervals (17+); always false before
 *	LOCKABLE_SHMEM_INIT_HASH(...)
 *								ShmemInitHash; 19 dropped its init_size
 *	LOCKABLE_MODULE_MAGIC		PG_MODULE_MAGIC_EXT with name and version
 *								(18+), PG_MODULE_MAGIC before
 *	lockable_am_bgworker()		this process is a background worker
 *
 * PostgreSQL 16 is in no current Debian suite, so it is not tested; its
 * branches here were checked against the 16 headers (see README).
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_COMPAT_H
#define LOCKABLE_COMPAT_H

#include "common/jsonapi.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "utils/wait_event.h"

#if PG_VERSION_NUM < 150000
#error "lockable needs PostgreSQL 15 or later"
#endif

/*
 * Backend slots: 17 replaced BackendId (1-based) by ProcNumber (0-based).
 */
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#define lockable_proc_number()	((int) MyProcNumber)
#else
#include "storage/backendid.h"
#define lockable_proc_number()	((int) MyBackendId - 1)
#endif

/*
 * Wait events: 17 added custom wait events for extensions, shown by name in
 * pg_stat_activity.wait_event.  The id is allocated in shared memory on
 * first use (the same name always gets the same id), so cache it per
 * process: *cache starts at 0.
 */
static inline uint32
lockable_wait_event(const char *name, uint32 *cache)
{
#if PG_VERSION_NUM >= 170000
	if (*cache == 0)
		*cache = WaitEventExtensionNew(name);
	return *cache;
#else
	(void) name;
	(void) cache;
	return PG_WAIT_EXTENSION;
#endif
}

/*
 * Wait event sets: 17 made them resource-owned, so that an error escaping
 * a wait closes the epoll fd.  Pass CurrentResourceOwner (NULL outside a
 * transaction, as in a background worker's loop, leaves the set to the
 * caller, who must free it).
 */
#if PG_VERSION_NUM >= 170000
#define lockable_create_wait_event_set(nevents) \
	CreateWaitEventSet(CurrentResourceOwner, (nevents))
#else
#define lockable_create_wait_event_set(nevents) \
	CreateWaitEventSet(CurrentMemoryContext, (nevents))
#endif

/*
 * JSON: 16 made the semantic callbacks return JsonParseErrorType; 17 lets
 * the caller supply the lexer context and added freeJsonLexContext.
 */
#if PG_VERSION_NUM >= 160000
#define LOCKABLE_JSON_CB_RETURN JsonParseErrorType
#define LOCKABLE_JSON_CB_OK		return JSON_SUCCESS
#else
#define LOCKABLE_JSON_CB_RETURN void
#define LOCKABLE_JSON_CB_OK		return
#endif

#if PG_VERSION_NUM >= 170000
#define lockable_json_lex_cstring(buf, s, len) \
	makeJsonLexContextCstringLen((buf), (s), (len), PG_UTF8, true)
#define lockable_json_lex_free(lex)	freeJsonLexContext(lex)
#else
#define lockable_json_lex_cstring(buf, s, len) \
	((void) (buf), makeJsonLexContextCstringLen((s), (len), PG_UTF8, true))
#define lockable_json_lex_free(lex)	((void) (lex))
#endif

/*
 * Intervals: 17 added +/-infinity.
 */
#if PG_VERSION_NUM >= 170000
#define LOCKABLE_INTERVAL_NOT_FINITE(i) INTERVAL_NOT_FINITE(i)
#else
#define LOCKABLE_INTERVAL_NOT_FINITE(i) false
#endif

/*
 * Shared hash tables: 19 dropped ShmemInitHash's init_size argument (a
 * shared table is allocated at its full size anyway).
 */
#if PG_VERSION_NUM >= 190000
#define LOCKABLE_SHMEM_INIT_HASH(name, size, info, flags) \
	ShmemInitHash((name), (size), (info), (flags))
#else
#define LOCKABLE_SHMEM_INIT_HASH(name, size, info, flags) \
	ShmemInitHash((name), (size), (size), (info), (flags))
#endif

/*
 * Process kinds: 17 replaced IsBackgroundWorker by MyBackendType tests.
 */
#if PG_VERSION_NUM >= 170000
#define lockable_am_bgworker()	AmBackgroundWorkerProcess()
#else
#define lockable_am_bgworker()	IsBackgroundWorker
#endif

/*
 * The module's magic block: 18 lets it carry the name and version, shown
 * by pg_get_loaded_modules().
 */
#if PG_VERSION_NUM >= 180000
#define LOCKABLE_MODULE_MAGIC \
	PG_MODULE_MAGIC_EXT(.name = "lockable", .version = LOCKABLE_VERSION)
#else
#define LOCKABLE_MODULE_MAGIC PG_MODULE_MAGIC
#endif

#endif							/* LOCKABLE_COMPAT_H */
