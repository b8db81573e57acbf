/*-------------------------------------------------------------------------
 *
 * lease_table.h
 *	  The lease table (lease_table.c): its entries, and the operations on
 *	  them, each done under one partition lock (protocol in shared.h).
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_LEASE_TABLE_H
#define LOCKABLE_LEASE_TABLE_H

#include "miscadmin.h"

#include "lease_store.h"

/* Where a lease stands with the remote service (protocol rule 11) */
typedef enum LeaseRemoteState
{
	LEASE_LOCAL = 0,			/* a local lease: no remote service involved */
	LEASE_REMOTE_PENDING,		/* the acquirer is asking the service */
	LEASE_REMOTE_HELD,			/* held here and on the service */
	LEASE_REMOTE_RELEASING		/* ended here; release on the service due */
} LeaseRemoteState;

/* What an entry of the lease table is (protocol rule 13 in shared.h) */
typedef enum LeaseKind
{
	LEASE_PLAIN = 0,			/* a lease with one holder: the entry itself */
	LEASE_GROUP,				/* the name of a counting or shared lease: no
								 * holder of its own; its holders are members */
	LEASE_MEMBER				/* one holder of a group, keyed by its token */
} LeaseKind;

/*
 * A lease: one hash entry.  A plain entry is held by exactly one holder,
 * itself; a group's holders are member entries, each like a plain entry in
 * everything about its holder (token, deadline, wheel, keepalive).  What
 * the hot path touches comes first; the rest of a long name and what only
 * a remote entry needs are kept outside (lease_store.h).
 */
typedef struct Lease
{
	LeaseEntryKey key;			/* hash key, must be first */
	uint32		hashcode;		/* hash of key (a member: of its group's) */
	bool		keepalive;		/* renewed by the worker while the session
								 * holder_session lives */
	bool		capped;			/* keepalive stopped at lockable.max_hold */
	uint8		remote;			/* LeaseRemoteState */
	uint8		kind;			/* LeaseKind */
	uint64		token;			/* fencing token */
	LockableTime deadline;		/* expires when the clock passes this */
	LockableTime acquired;		/* when granted */
	int64		ttl;			/* length of one renewal, microseconds */
	dlist_node	wheel_node;		/* in the timer wheel slot of lease_due() */
	union
	{
		struct
		{
			int			wait_head;	/* first queued backend slot, or -1 */
			int			wait_tail;	/* last queued backend slot, or -1 */
			int			nwaiters;
			int			nholders;	/* a group's members */
		}			q;			/* a plain entry or a group: its queue */
		dlist_node	member_node;	/* a member: in its group's members */
	}			u;
	int			pid;			/* process that acquired it; 0 if restored */
	Oid			owner;			/* role that acquired it */
	int			holder_slot;	/* backend slot of a keepalive holder */
	int32		remote_slot;	/* its LeaseRemote if remote, else -1 */
	uint64		holder_session; /* session id of a keepalive holder */
	int64		renewals;		/* heartbeats and keepalive renewals */
	union
	{
		dlist_node	keepalive_node; /* a keepalive holder: in its holder's
									 * keepalive_leases */
		dlist_head	members;	/* a group: its member entries */
	}			link;
	uint16		slots;			/* a group's count: holders at once */
	bool		shared;			/* a group: its holders are shared ones */
} Lease;

/* A member's group, kept in its key (lockable_entry_key_copy) */
static inline struct Lease *
lease_group(const Lease *member)
{
	Lease	   *group;

	Assert(member->kind == LEASE_MEMBER);
	memcpy(&group, member->key.head + LEASE_KEY_MEMBER_GROUP, sizeof(group));
	return group;
}

/* The entry that carries a holder's name: itself, or its group */
static inline const LeaseEntryKey *
lease_name_key(const Lease *lease)
{
	return lease->kind == LEASE_MEMBER ? &lease_group(lease)->key : &lease->key;
}

/*
 * When the worker must next look at a held lease (protocol rule 4): the
 * renewal of a keepalive lease it still renews, half a ttl before the
 * deadline, or else the deadline.
 */
static inline LockableTime
lease_due(const Lease *lease)
{
	if (lease->keepalive && !lease->capped)
		return lease->deadline - lease->ttl / 2;
	return lease->deadline;
}

/* The remote fields of a remote entry */
static inline LeaseRemote *
lease_remote(const Lease *lease)
{
	Assert(lease->remote_slot >= 0);
	return &lockable_remote_slots[lease->remote_slot];
}

/* What a caller asks for; built by lockable_lease_request() */
typedef struct LeaseRequest
{
	LeaseKey	key;
	uint32		hashcode;
	int64		ttl;			/* microseconds */
	Oid			roleid;
	bool		keepalive;
	int			slots;			/* holders the name may have at once */
	bool		shared;			/* a shared holder */
	bool		count_refusal;	/* count a busy try in the statistics */
	Oid			remote_db;		/* a remote lease's: the caller's database */
} LeaseRequest;

typedef enum LeaseAcquireResult
{
	LEASE_GRANTED,
	LEASE_BUSY,
	LEASE_QUEUED,
	LEASE_OWN_KEEPALIVE			/* busy, and every holder (or one held in
								 * the other mode) is a keepalive lease of
								 * this very session: it cannot end while
								 * the session waits, so it never queues */
} LeaseAcquireResult;

/* What a holder does with its lease, by its token */
typedef enum LeaseHolderOp
{
	LEASE_HEARTBEAT,
	LEASE_RELEASE
} LeaseHolderOp;

typedef enum LeaseOpResult
{
	LEASE_OP_DONE,
	LEASE_OP_NOT_HELD,
	LEASE_OP_CHECK_OWNER		/* held with that token, by another role */
} LeaseOpResult;

/* A copy of one live lease, for the lockable_leases view */
typedef struct LeaseInfo
{
	char		name[LOCKABLE_NAME_MAXLEN + 1];
	Oid			dbid;
	uint64		token;
	Oid			owner;
	int			pid;
	bool		keepalive;
	LockableTime acquired;
	LockableTime deadline;
	int64		ttl;
	int64		renewals;
	int			nwaiters;		/* of the name */
	int			slots;			/* of the name */
	bool		shared;
	uint8		remote;			/* LeaseRemoteState */
	int			prefix_len;		/* remote only, as are the next two */
	int			remote_failures;
	LockableTime remote_confirmed;
} LeaseInfo;

extern LockableTime lockable_group_deadline(Lease *group);

extern Lease *lockable_group_member_locked(Lease *group, uint64 token);

/*
 * The steps on one entry's holder, inline for the hot path of both
 * lease_table.c and lease_ops.c.  The caller holds the entry's partition
 * lock exclusively.
 */
static inline dlist_head *
lease_wheel_slot(LockablePartition *part, LockableTime deadline)
{
	return &part->wheel[(deadline / LOCKABLE_WHEEL_TICK) % LOCKABLE_WHEEL_SLOTS];
}

/*
 * Give a lease a new deadline, keeping it in the wheel slot of lease_due():
 * an entry is on the wheel exactly when its deadline is not
 * LOCKABLE_FOREVER (protocol rule 4).  Also after its ttl, keepalive or
 * capped changed, with its deadline as it is.
 */
static inline void
lease_set_deadline_locked(Lease *lease, LockableTime deadline)
{
	if (lease->deadline != LOCKABLE_FOREVER)
		dlist_delete(&lease->wheel_node);
	lease->deadline = deadline;
	if (deadline != LOCKABLE_FOREVER)
		dlist_push_tail(lease_wheel_slot(lockable_partition_of(lease->hashcode),
										 lease_due(lease)),
						&lease->wheel_node);
}

/* Make a lease keepalive for the session of backend slot */
static inline void
lease_keepalive_link_locked(Lease *lease, int slot, uint64 session)
{
	int			p = lease->hashcode % LOCKABLE_NUM_PARTITIONS;

	Assert(!lease->keepalive);
	dlist_push_tail(&lockable_shared->backends[slot].keepalive_leases[p],
					&lease->link.keepalive_node);
	lockable_shared->parts[p].nkeepalive++;
	lease->keepalive = true;
	lease->holder_slot = slot;
	lease->holder_session = session;
}

/* Take a lease off its holder's keepalive list, if it is on one */
static inline void
lease_keepalive_unlink_locked(Lease *lease)
{
	if (!lease->keepalive)
		return;
	dlist_delete(&lease->link.keepalive_node);
	lockable_partition_of(lease->hashcode)->nkeepalive--;
	lease->keepalive = false;
	lease->holder_slot = -1;
	lease->holder_session = 0;
}

/* Take a lease off the wheel and the keepalive list: nobody holds it now */
static inline void
lease_unlink_holder_locked(Lease *lease)
{
	lease_keepalive_unlink_locked(lease);
	lease_set_deadline_locked(lease, LOCKABLE_FOREVER);
}

/* Who is granted a lease: this backend (req), or a queued one */
typedef struct LeaseHolder
{
	int64		ttl;
	Oid			roleid;
	int			pid;
	int			slot;			/* backend slot; -1 if not keepalive */
	uint64		session;		/* 0 if not keepalive */
	bool		keepalive;
} LeaseHolder;

/* Make an entry held by the given holder, with the given fresh token */
static inline uint64
lease_grant_token_locked(Lease *lease, const LeaseHolder *h, uint64 token,
						 LockableTime now)
{
	lease_keepalive_unlink_locked(lease);
	if (h->keepalive)
		lease_keepalive_link_locked(lease, h->slot, h->session);
	lease->token = token;
	lease->acquired = now;
	lease->ttl = h->ttl;
	lease->owner = h->roleid;
	lease->pid = h->pid;
	lease->capped = false;
	lease->renewals = 0;
	lease_set_deadline_locked(lease, now + h->ttl);
	lockable_partition_stats(lease->hashcode)->acquired++;
	return token;
}

/* Make an entry held by the given holder, with a fresh token (rule 6) */
static inline uint64
lease_grant_holder_locked(Lease *lease, const LeaseHolder *h, LockableTime now)
{
	uint64		token = pg_atomic_fetch_add_u64(&lockable_shared->next_token, 1);

	return lease_grant_token_locked(lease, h, token, now);
}

/* This backend as the holder req asks for */
static inline void
lease_holder_of_request(LeaseHolder *h, const LeaseRequest *req)
{
	h->ttl = req->ttl;
	h->roleid = req->roleid;
	h->pid = MyProcPid;
	/* the backend slot and session matter only to a keepalive lease */
	h->keepalive = req->keepalive;
	h->slot = req->keepalive ? lockable_my_slot() : -1;
	h->session = req->keepalive ? lockable_my_session() : 0;
}

/* Does a request, or a waiter, need a group (protocol rule 13)? */
static inline bool
lease_wants_group(int slots, bool shared)
{
	return slots != 1 || shared;
}

/* Can a holder of this mode join the group's holders now? */
static inline bool
lease_group_fits(const Lease *group, bool shared)
{
	if (group->u.q.nholders == 0)
		return true;
	if (group->shared != shared)
		return false;
	/* shared holders of slots 1 are not counted */
	return (shared && group->slots == 1) || group->u.q.nholders < group->slots;
}

/* Held by someone (ignoring the deadline): local, or remote and HELD */
static inline bool
lease_is_live(Lease *lease)
{
	return lease->remote == LEASE_LOCAL || lease->remote == LEASE_REMOTE_HELD;
}

/* When the name's holder, or its first holder to go, ends */
static inline LockableTime
lease_name_deadline(Lease *lease)
{
	return lease->kind == LEASE_GROUP ? lockable_group_deadline(lease) : lease->deadline;
}

/* The holder of a name's entry with token: itself, a member, or NULL */
static inline Lease *
lease_holder_locked(Lease *lease, uint64 token)
{
	if (likely(lease->kind != LEASE_GROUP))
		return lease->token == token ? lease : NULL;
	return lockable_group_member_locked(lease, token);
}

/* setup */
extern void lockable_table_request_shmem(void);
extern void lockable_table_startup(void);
extern void lockable_table_check_loaded(void);

/* requests */
extern void lockable_lease_request(LeaseRequest *req, const char *name,
								   int len, int64 ttl, bool keepalive);
extern uint32 lockable_lease_key_hash(const LeaseKey *key);

/* lease_ops.c: a backend's operations, each under one partition lock */
extern LeaseAcquireResult lockable_lease_try(LeaseRequest *req, bool enqueue,
											 uint64 *token,
											 LockableTime *busy_until);
extern LeaseAcquireResult lockable_lease_wait_check(LeaseRequest *req,
													LockableTime wait_deadline,
													uint64 *token,
													LockableTime *sleep_until);
extern void lockable_lease_wait_abandon(LeaseRequest *req);
extern LeaseOpResult lockable_lease_holder_op(LeaseRequest *req,
											  LeaseHolderOp op, uint64 token,
											  int64 ttl, Oid member_of,
											  Oid *owner);
extern bool lockable_lease_force_release(LeaseRequest *req, uint64 token);
extern bool lockable_lease_is_held(LeaseRequest *req, uint64 token);
extern bool lockable_lease_exists(LeaseRequest *req, uint64 token);

/* the whole table, from lease_table.c */
extern bool lockable_lease_restore(const LeaseKey *key, uint64 token,
								   Oid owner, int64 ttl,
								   LockableTime acquired,
								   LockableTime deadline, int64 renewals,
								   int slots, bool shared);
extern LeaseInfo *lockable_lease_snapshot(Oid dbid, int *nleases,
										  LockableTime *now);

/* lease_sweep.c: the worker's pass */
extern void lockable_lease_sweep(LockableTime *next_due);

/*
 * The entry-level steps, for remote_lease.c, which keeps remote entries in
 * this table.  The caller holds the entry's partition lock exclusively.
 */
extern Lease *lockable_lease_find_locked(const LeaseKey *key, uint32 hashcode);
extern Lease *lockable_lease_enter_locked(LeaseRequest *req, bool *found);
extern void lockable_lease_init_locked(Lease *lease, uint32 hashcode);
extern uint64 lockable_lease_grant_locked(Lease *lease, LeaseRequest *req,
										  LockableTime now);
extern bool lockable_lease_end_locked(Lease *lease, LockableTime now,
									  LockableWakeList *wl);
extern void lockable_lease_remove_locked(Lease *lease);

/* the table's steps for lease_ops.c, under the entry's partition lock */
extern bool lockable_lease_reserve(int n);
extern void lockable_group_make_locked(Lease *lease, int slots, bool shared);
extern uint64 lockable_group_add_locked(Lease *group, const LeaseHolder *h,
										LockableTime now);
extern int	lockable_group_end_members_locked(Lease *group, LockableTime now,
											  bool all, int *forced,
											  LockableWakeList *wl);
extern void lockable_lease_grant_queue_locked(Lease *lease, LockableTime now,
											  LockableWakeList *wl);
extern bool lockable_lease_vacated_locked(Lease *lease, LockableTime now,
										  LockableWakeList *wl);
extern bool lockable_lease_own_keepalive(Lease *lease, uint64 session,
										 bool shared);
extern void lockable_lease_enqueue_locked(Lease *lease, LeaseRequest *req);
extern void lockable_lease_dequeue_locked(Lease *lease, int slot,
										  LockableTime now,
										  LockableWakeList *wl);

/* for lease_sweep.c */
extern void lockable_lease_renew_locked(Lease *lease, LockableTime now);
extern void lockable_lease_cap_locked(Lease *lease);

#endif							/* LOCKABLE_LEASE_TABLE_H */
