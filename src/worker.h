/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The lockable background worker (worker.c).
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_WORKER_H
#define LOCKABLE_WORKER_H

#include "fmgr.h"

extern void lockable_worker_register(void);
extern PGDLLEXPORT void lockable_worker_main(Datum main_arg);

#endif							/* LOCKABLE_WORKER_H */
