/*-------------------------------------------------------------------------
 *
 * remote_lease.h
 *	  Remote leases (remote_lease.c): leases taken on a lockable.dev-
 *	  compatible lock service, kept as entries of the lease table.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_REMOTE_LEASE_H
#define LOCKABLE_REMOTE_LEASE_H

#include "http.h"
#include "lease_table.h"

/* a backend's side */
extern uint64 lockable_remote_acquire(const char *name, int len, int64 ttl,
									  bool keepalive,
									  LockableTime wait_deadline);
extern bool lockable_remote_fallback(LeaseRequest *req, const char *name,
									 int len);
extern void lockable_remote_release_wait(LeaseRequest *req, uint64 token);
extern void lockable_remote_at_exit(void);
extern void lockable_remote_lost_ack(uint64 token, Oid dbid);
extern LockableLost *lockable_remote_lost_snapshot(Oid dbid, int *n);

/* the worker's side */
extern int	lockable_remote_collect(LockableHttpRequest *jobs, int max,
									LockableTime *next_due);
extern void lockable_remote_apply(const LockableHttpRequest *job);

#endif							/* LOCKABLE_REMOTE_LEASE_H */
