/*-------------------------------------------------------------------------
 *
 * lease_wait.h
 *	  Waiting for leases (lease_wait.c): in a lease's queue, for any lease
 *	  of a pool, through the grace period after a crash or a failover.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_LEASE_WAIT_H
#define LOCKABLE_LEASE_WAIT_H

#include "lease_table.h"

extern bool lockable_wait_prepare(LeaseRequest *req, int64 ttl,
								  LockableTime wait_deadline);
extern uint64 lockable_wait_acquire(LeaseRequest *req,
									LockableTime wait_deadline);
extern int	lockable_wait_acquire_any(LeaseRequest *reqs, int n,
									  LockableTime wait_deadline,
									  uint64 *token);
extern void lockable_wait_at_exit(void);

/* for other waits of an acquire (remote_lease.c) */
extern long lockable_sleep_ms(LockableTime until, LockableTime now);
extern uint32 lockable_acquire_wait_event(void);
extern void lockable_lock_wait_begin(void);
extern void lockable_lock_wait_end(void);

#endif							/* LOCKABLE_LEASE_WAIT_H */
