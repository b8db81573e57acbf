/*-------------------------------------------------------------------------
 *
 * persist.h
 *	  Leases that survive a clean restart, and the startup of persistence
 *	  (persist.c).
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_PERSIST_H
#define LOCKABLE_PERSIST_H

extern void lockable_persist_startup(void);

#endif							/* LOCKABLE_PERSIST_H */
