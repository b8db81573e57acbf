/*-------------------------------------------------------------------------
 *
 * lease_table.c
 *	  The lease table in shared memory: hashing, and every operation on
 *	  local leases (grant, renew, end, expire, the wait queues' handoff and
 *	  the timer wheel), each done under one partition lock.  The worker's
 *	  sweep over them is lease_sweep.c's.
 *
 * The locking protocol is written down in shared.h.  Functions named
 * *_locked expect the caller to hold the partition lock of the lease they
 * are given, exclusively.  Remote leases are entries of this table too;
 * their states are remote_lease.c's, which uses the *_locked steps
 * exported here.  This file calls only shared.c, lease_store.c (names and
 * remote fields kept outside the entry), settings and the clock.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "lease_table.h"

static HTAB *lease_htab = NULL;

static inline dlist_head *
wheel_slot(LockablePartition *part, LockableTime deadline)
{
	return &part->wheel[(deadline / LOCKABLE_WHEEL_TICK) % LOCKABLE_WHEEL_SLOTS];
}

/*
 * Give a lease a new deadline, keeping it in the wheel slot of lease_due():
 * an entry is on the wheel exactly when its deadline is not
 * LOCKABLE_FOREVER (protocol rule 4).  Also after its ttl, keepalive or
 * capped changed, with its deadline as it is.
 */
static void
set_deadline_locked(Lease *lease, LockableTime deadline)
{
	if (lease->deadline != LOCKABLE_FOREVER)
		dlist_delete(&lease->wheel_node);
	lease->deadline = deadline;
	if (deadline != LOCKABLE_FOREVER)
		dlist_push_tail(wheel_slot(lockable_partition_of(lease->hashcode),
								   lease_due(lease)),
						&lease->wheel_node);
}

/* Make a lease keepalive for the session of backend slot */
static void
keepalive_link_locked(Lease *lease, int slot, uint64 session)
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
static void
keepalive_unlink_locked(Lease *lease)
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
static void
unlink_holder_locked(Lease *lease)
{
	keepalive_unlink_locked(lease);
	set_deadline_locked(lease, LOCKABLE_FOREVER);
}

/*
 * lockable_lease_init_locked
 *		Set up a new hash entry: holderless, with no token, off the wheel,
 *		local.  The caller grants it or fills it in.
 */
void
lockable_lease_init_locked(Lease *lease, uint32 hashcode)
{
	lease->hashcode = hashcode;
	lease->keepalive = false;
	lease->capped = false;
	lease->pid = 0;
	lease->owner = InvalidOid;
	lease->holder_slot = -1;
	lease->holder_session = 0;
	lease->token = 0;
	lease->acquired = 0;
	lease->deadline = LOCKABLE_FOREVER;
	lease->ttl = 0;
	lease->renewals = 0;
	lease->u.q.wait_head = lease->u.q.wait_tail = -1;
	lease->u.q.nwaiters = 0;
	lease->remote = LEASE_LOCAL;
	lease->remote_slot = -1;
	lease->kind = LEASE_PLAIN;
	lease->slots = 1;
	lease->shared = false;
}

/* Hash only the bytes of the name that are used */
static uint32
lease_key_hash(const void *key, Size keysize)
{
	const LeaseKey *k = (const LeaseKey *) key;

	return hash_combine(murmurhash32(k->dbid),
						hash_bytes((const unsigned char *) k->name, k->len));
}


/*
 * lockable_table_request_shmem
 *		From shmem_request_hook: ask for the memory of the hash table.
 */
void
lockable_table_request_shmem(void)
{
	RequestAddinShmemSpace(add_size(lockable_store_shmem_size(),
									hash_estimate_size(lockable_max_leases,
													   sizeof(Lease))));
}

/*
 * lockable_table_startup
 *		From shmem_startup_hook, under AddinShmemInitLock and after
 *		lockable_shared_startup: create or attach to the hash table.
 */
void
lockable_table_startup(void)
{
	HASHCTL		info;

	lockable_store_startup();

	/*
	 * Entries are looked up by a LeaseKey (the whole name) and keep an
	 * LeaseEntryKey (the head of the name; the rest is in the name pool).
	 */
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(LeaseEntryKey);
	info.entrysize = sizeof(Lease);
	info.hash = lease_key_hash;
	info.match = lockable_entry_key_match;
	info.keycopy = lockable_entry_key_copy;
	info.num_partitions = LOCKABLE_NUM_PARTITIONS;

	/*
	 * All lockable.max_leases entries are allocated here, spread over the
	 * partitions' free lists.  HASH_FIXED_SIZE makes a partition whose free
	 * list runs dry borrow from the others instead of taking more shared
	 * memory, which would eat the slack the lock manager relies on.
	 */
	lease_htab = LOCKABLE_SHMEM_INIT_HASH("lockable leases",
										  lockable_max_leases, &info,
										  HASH_ELEM | HASH_FUNCTION |
										  HASH_COMPARE | HASH_KEYCOPY |
										  HASH_PARTITION | HASH_FIXED_SIZE);
}

/*
 * lockable_table_check_loaded
 *		Error out unless the library was loaded at server start.
 */
void
lockable_table_check_loaded(void)
{
	if (lockable_shared == NULL || lease_htab == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lockable must be loaded via shared_preload_libraries"),
				 errdetail("Leases live in shared memory, which is set up when the server starts."),
				 errhint("Add lockable to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * lockable_lease_request
 *		Build the key and hash of a request.  name has been validated.
 */
void
lockable_lease_request(LeaseRequest *req, const char *name, int len,
					   int64 ttl, bool keepalive)
{
	Assert(len > 0 && len <= LOCKABLE_NAME_MAXLEN);
	req->key.dbid = MyDatabaseId;
	req->key.len = (uint16) len;
	memcpy(req->key.name, name, len);
	req->hashcode = get_hash_value(lease_htab, &req->key);
	req->ttl = ttl;
	req->roleid = GetUserId();
	req->keepalive = keepalive;
	req->slots = 1;
	req->shared = false;
	req->count_refusal = true;
	/* before any lock: a keepalive grant needs the slot and the session */
	if (keepalive)
		(void) lockable_my_session();
	req->remote_db = InvalidOid;
}

/*
 * lockable_lease_key_hash
 *		The hash code of a key, as the table computes it.
 */
uint32
lockable_lease_key_hash(const LeaseKey *key)
{
	return get_hash_value(lease_htab, key);
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
grant_token_locked(Lease *lease, const LeaseHolder *h, uint64 token,
				   LockableTime now)
{
	keepalive_unlink_locked(lease);
	if (h->keepalive)
		keepalive_link_locked(lease, h->slot, h->session);
	lease->token = token;
	lease->acquired = now;
	lease->ttl = h->ttl;
	lease->owner = h->roleid;
	lease->pid = h->pid;
	lease->capped = false;
	lease->renewals = 0;
	set_deadline_locked(lease, now + h->ttl);
	lockable_partition_stats(lease->hashcode)->acquired++;
	return token;
}

/* Make an entry held by the given holder, with a fresh token (rule 6) */
static inline uint64
grant_locked(Lease *lease, const LeaseHolder *h, LockableTime now)
{
	return grant_token_locked(lease,  h,
							  pg_atomic_fetch_add_u64(&lockable_shared->next_token, 1),
							  now);
}

/* This backend as the holder req asks for */
static inline void
holder_of_request(LeaseHolder *h, const LeaseRequest *req)
{
	h->ttl = req->ttl;
	h->roleid = req->roleid;
	h->pid = MyProcPid;
	/* the backend slot and session matter only to a keepalive lease */
	h->keepalive = req->keepalive;
	h->slot = req->keepalive ? lockable_my_slot() : -1;
	h->session = req->keepalive ? lockable_my_session() : 0;
}

/* A queued backend as the holder it asked to be */
static inline void
holder_of_waiter(LeaseHolder *h, int slot)
{
	LockableBackend *b = &lockable_shared->backends[slot];

	h->ttl = b->ttl;
	h->roleid = b->roleid;
	h->pid = b->pid;
	h->keepalive = b->keepalive;
	h->slot = b->keepalive ? slot : -1;
	h->session = b->keepalive ? pg_atomic_read_u64(&b->session) : 0;
}

/*
 * lockable_lease_grant_locked
 *		Make a lease held by this backend, as req asks; returns its token.
 */
uint64
lockable_lease_grant_locked(Lease *lease, LeaseRequest *req, LockableTime now)
{
	LeaseHolder h;

	holder_of_request(&h, req);
	return grant_locked(lease, &h, now);
}

/* Does a request, or a waiter, need a group (protocol rule 13)? */
static inline bool
wants_group(int slots, bool shared)
{
	return slots != 1 || shared;
}

/*
 * Count n more entries in nleases (protocol rule 7): a member entry about
 * to be made, or the one a waiter will hold.  False if that would pass
 * lockable.max_leases.
 */
static bool
reserve_entries(int n)
{
	if (pg_atomic_fetch_add_u32(&lockable_shared->nleases, n) + n > (uint32) lockable_max_leases)
	{
		pg_atomic_fetch_sub_u32(&lockable_shared->nleases, n);
		return false;
	}
	return true;
}

/* Can a holder of this mode join the group's holders now? */
static inline bool
group_fits(const Lease *group, bool shared)
{
	if (group->u.q.nholders == 0)
		return true;
	if (group->shared != shared)
		return false;
	/* shared holders of slots 1 are not counted */
	return (shared && group->slots == 1) || group->u.q.nholders < group->slots;
}

/* Make a holderless plain entry, or a new one, the group of its name */
static void
group_make_locked(Lease *lease, int slots, bool shared)
{
	Assert(lease->kind == LEASE_PLAIN && lease->deadline == LOCKABLE_FOREVER &&
		   !lease->keepalive);
	lease->kind = LEASE_GROUP;
	lease->slots = (uint16) slots;
	lease->shared = shared;
	lease->u.q.nholders = 0;
	lease->token = 0;
	dlist_init(&lease->link.members);
}

/*
 * Make a member of group keyed by token, holderless, in an entry already
 * counted in nleases.  The entry is always there: the table holds
 * lockable.max_leases entries, and nleases counts every one in use or
 * promised.  Should dynahash still fail (or the token be taken), NULL.
 */
static Lease *
member_insert_locked(Lease *group, uint64 token)
{
	LeaseKeyMember key = {group->key.dbid, LEASE_KEY_MEMBER, token, group};
	Lease	   *member;
	bool		found;

	Assert(group->kind == LEASE_GROUP);
	member = hash_search_with_hash_value(lease_htab, &key, group->hashcode,
										 HASH_ENTER_NULL, &found);
	if (member == NULL || found)
		return NULL;
	lockable_lease_init_locked(member, group->hashcode);
	member->kind = LEASE_MEMBER;
	member->slots = group->slots;
	member->shared = group->shared;
	dlist_push_tail(&group->link.members, &member->u.member_node);
	group->u.q.nholders++;
	return member;
}

/*
 * Add a member holding group for h, with a fresh token (rule 6); returns
 * the token, or 0 if no entry could be had.
 */
static uint64
member_add_locked(Lease *group, const LeaseHolder *h, LockableTime now)
{
	uint64		token = pg_atomic_fetch_add_u64(&lockable_shared->next_token, 1);
	Lease	   *member;

	Assert(group_fits(group, group->shared));
	member = member_insert_locked(group, token);
	if (member == NULL)
		return 0;
	return grant_token_locked(member, h, token, now);
}

/* Delete a member that ended; its group stays, perhaps with no holder */
static void
member_remove_locked(Lease *member, LockableWakeList *wl)
{
	LeaseKeyMember key;
	Lease	   *group = lease_group(member);

	key.dbid = group->key.dbid;
	key.len = LEASE_KEY_MEMBER;
	key.token = member->token;
	key.group = group;
	unlink_holder_locked(member);
	dlist_delete(&member->u.member_node);
	group->u.q.nholders--;
	if (hash_search_with_hash_value(lease_htab, &key, group->hashcode,
									HASH_REMOVE, NULL) == NULL)
		elog(PANIC, "lockable: member entry to remove not found");
	pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
	/* a slot came free: any-waiters try again (protocol rule 9) */
	wl->deleted = true;
}

/* Take the first backend off a lease's wait queue */
static int
queue_pop_locked(Lease *lease)
{
	int			slot = lease->u.q.wait_head;
	LockableBackend *b = &lockable_shared->backends[slot];

	Assert(slot >= 0 && b->state == LOCKABLE_WAIT_QUEUED);
	lease->u.q.wait_head = b->next;
	if (lease->u.q.wait_head < 0)
		lease->u.q.wait_tail = -1;
	lease->u.q.nwaiters--;
	b->next = -1;
	return slot;
}

/* Tell a waiter it was granted token */
static void
waiter_granted(int slot, uint64 token, LockableWakeList *wl)
{
	LockableBackend *b = &lockable_shared->backends[slot];

	b->granted_token = token;
	b->reserved = false;
	b->state = LOCKABLE_WAIT_GRANTED;
	lockable_wake_add(wl, slot);
}

/*
 * Grant a name that has room to the waiters at the head of its queue, in
 * arrival order, for as long as the next one fits (protocol rule 5): a
 * holderless plain entry goes to its first waiter, and becomes a group if
 * that waiter wants one; a group with no holder left becomes plain again
 * for a waiter that wants no group.  The next in line is woken to sleep
 * until the new holders' deadlines.
 */
static void
grant_queue_locked(Lease *lease, LockableTime now, LockableWakeList *wl)
{
	while (lease->u.q.wait_head >= 0)
	{
		LockableBackend *b = &lockable_shared->backends[lease->u.q.wait_head];
		LeaseHolder h;
		uint64		token;
		int			slot;

		if (lease->kind == LEASE_GROUP && lease->u.q.nholders == 0 &&
			!wants_group(b->slots, b->shared))
		{
			/* no member left: plain again, with nothing to move */
			lease->kind = LEASE_PLAIN;
			lease->slots = 1;
			lease->shared = false;
		}
		if (lease->kind == LEASE_PLAIN)
		{
			Assert(lease->deadline == LOCKABLE_FOREVER);
			if (wants_group(b->slots, b->shared))
				group_make_locked(lease, b->slots, b->shared);
			else
			{
				slot = queue_pop_locked(lease);
				holder_of_waiter(&h, slot);
				waiter_granted(slot, grant_locked(lease, &h, now), wl);
				break;
			}
		}
		if (!group_fits(lease, b->shared))
			break;
		if (lease->u.q.nholders == 0)
			lease->shared = b->shared;
		holder_of_waiter(&h, lease->u.q.wait_head);
		token = member_add_locked(lease, &h, now);
		if (token == 0)
			break;				/* it stays queued, and tries again */
		if (h.keepalive)
			wl->worker_kick = true; /* its first renewal may come soon */
		slot = queue_pop_locked(lease);
		waiter_granted(slot, token, wl);
	}

	/* the next in line now sleeps until the new holders' deadlines */
	if (lease->u.q.wait_head >= 0)
		lockable_wake_add(wl, lease->u.q.wait_head);
}

/*
 * lockable_lease_remove_locked
 *		Delete a plain entry or a group nobody holds or waits for from the
 *		table.  The lease pointer must not be used again.
 */
void
lockable_lease_remove_locked(Lease *lease)
{
	LeaseKeySelf self = {InvalidOid, LEASE_KEY_SELF, &lease->key};
	int32		tail = lease->key.tail;

	Assert(lease->u.q.wait_head < 0 && lease->kind != LEASE_MEMBER);
	Assert(lease->kind != LEASE_GROUP || lease->u.q.nholders == 0);
	if (lease->kind == LEASE_PLAIN)
		unlink_holder_locked(lease);
	lockable_remote_slot_give(lease->remote_slot);
	if (hash_search_with_hash_value(lease_htab, &self, lease->hashcode,
									HASH_REMOVE, NULL) == NULL)
		elog(PANIC, "lockable: lease entry to remove not found");
	lockable_name_free(tail);
	pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
}

/*
 * After holders of a name left: grant it to its waiters, or delete it if
 * it has neither holders nor waiters.  Returns false if it was deleted.
 */
static bool
name_vacated_locked(Lease *lease, LockableTime now, LockableWakeList *wl)
{
	if (lease->u.q.wait_head >= 0)
	{
		grant_queue_locked(lease, now, wl);
		return true;
	}
	if (lease->kind == LEASE_GROUP && lease->u.q.nholders > 0)
		return true;
	lockable_lease_remove_locked(lease);
	wl->deleted = true;
	return false;
}

/*
 * End one member without granting anything yet: the caller ends the
 * others it must and then calls name_vacated_locked on the group.
 */
static void
member_end_locked(Lease *member, LockableWakeList *wl)
{
	member_remove_locked(member, wl);
}

/*
 * lockable_lease_end_locked
 *		End a holder (a plain entry, or a member): hand the name to the
 *		next waiters that fit, or delete it; a remote lease that is HELD
 *		becomes RELEASING, for the worker to let go of on the service
 *		(protocol rule 11).  Returns true if the entry given is still
 *		there; if false, the lease pointer must not be used again.
 */
bool
lockable_lease_end_locked(Lease *lease, LockableTime now, LockableWakeList *wl)
{
	if (lease->remote == LEASE_REMOTE_HELD)
	{
		Assert(lease->u.q.wait_head < 0);
		unlink_holder_locked(lease);
		lease->remote = LEASE_REMOTE_RELEASING;
		lease_remote(lease)->next = now;
		wl->worker_kick = true;
		return true;
	}
	Assert(lease->remote == LEASE_LOCAL);
	if (unlikely(lease->kind == LEASE_MEMBER))
	{
		Lease	   *group = lease_group(lease);

		member_end_locked(lease, wl);
		(void) name_vacated_locked(group, now, wl);
		return false;
	}
	Assert(lease->kind == LEASE_PLAIN);
	unlink_holder_locked(lease);
	return name_vacated_locked(lease, now, wl);
}

/*
 * End the members of a group whose deadline has passed (all of them if
 * all: a force release, counted as such), without granting; returns how
 * many it ended, and sets *forced to how many of them were live.
 */
static int
group_end_members_locked(Lease *group, LockableTime now, bool all,
						 int *forced, LockableWakeList *wl)
{
	LockableCounters *stats = lockable_partition_stats(group->hashcode);
	dlist_mutable_iter iter;
	int			ended = 0;

	*forced = 0;
	dlist_foreach_modify(iter, &group->link.members)
	{
		Lease	   *member = dlist_container(Lease, u.member_node, iter.cur);

		if (member->deadline <= now)
			stats->expired++;
		else if (all)
		{
			stats->forced++;
			(*forced)++;
		}
		else
			continue;
		member_end_locked(member, wl);
		ended++;
	}
	return ended;
}

/* The earliest deadline of a group's members */
static LockableTime
group_deadline(Lease *group)
{
	LockableTime earliest = LOCKABLE_FOREVER;
	dlist_iter	iter;

	dlist_foreach(iter, &group->link.members)
		earliest = Min(earliest,
					   dlist_container(Lease, u.member_node, iter.cur)->deadline);
	return earliest;
}

/* When the name's holder, or its first holder to go, ends */
static inline LockableTime
name_deadline(Lease *lease)
{
	return lease->kind == LEASE_GROUP ? group_deadline(lease) : lease->deadline;
}

/* Is every holder of the name a keepalive lease of session? */
static bool
held_by_own_keepalive(Lease *lease, uint64 session)
{
	dlist_iter	iter;

	if (session == 0)
		return false;
	if (lease->kind != LEASE_GROUP)
		return lease->keepalive && lease->holder_session == session;
	if (lease->u.q.nholders == 0)
		return false;
	dlist_foreach(iter, &lease->link.members)
	{
		Lease	   *member = dlist_container(Lease, u.member_node, iter.cur);

		if (!member->keepalive || member->holder_session != session)
			return false;
	}
	return true;
}

/* The holder of a name's entry with token: itself, a member, or NULL */
static Lease *
holder_by_token_locked(Lease *lease, uint64 token)
{
	LeaseKeyMember key;
	Lease	   *member;

	if (likely(lease->kind != LEASE_GROUP))
		return lease->token == token ? lease : NULL;
	key.dbid = lease->key.dbid;
	key.len = LEASE_KEY_MEMBER;
	key.token = token;
	key.group = lease;
	member = hash_search_with_hash_value(lease_htab, &key, lease->hashcode,
										 HASH_FIND, NULL);
	return member != NULL && lease_group(member) == lease ? member : NULL;
}

/* Append a backend to a lease's wait queue */
static void
enqueue_locked(Lease *lease, LeaseRequest *req, bool reserved)
{
	int			slot = lockable_my_slot();
	LockableBackend *b = &lockable_shared->backends[slot];

	b->state = LOCKABLE_WAIT_QUEUED;
	b->next = -1;
	b->ttl = req->ttl;
	b->roleid = req->roleid;
	b->pid = MyProcPid;
	b->keepalive = req->keepalive;
	b->slots = req->slots;
	b->shared = req->shared;
	b->reserved = reserved;
	b->granted_token = 0;
	if (lease->u.q.wait_tail >= 0)
		lockable_shared->backends[lease->u.q.wait_tail].next = slot;
	else
		lease->u.q.wait_head = slot;
	lease->u.q.wait_tail = slot;
	lease->u.q.nwaiters++;
}

/* Take a backend out of a lease's wait queue, ungranted */
static void
dequeue_locked(Lease *lease, int slot, LockableTime now, LockableWakeList *wl)
{
	LockableBackend *backends = lockable_shared->backends;
	int			prev = -1;

	for (int cur = lease->u.q.wait_head; cur >= 0; prev = cur, cur = backends[cur].next)
	{
		if (cur != slot)
			continue;
		if (prev >= 0)
			backends[prev].next = backends[cur].next;
		else
		{
			lease->u.q.wait_head = backends[cur].next;
			/* a new head sleeps until the holder's deadline: tell it */
			if (lease->u.q.wait_head >= 0)
				lockable_wake_add(wl, lease->u.q.wait_head);
		}
		if (lease->u.q.wait_tail == slot)
			lease->u.q.wait_tail = prev;
		lease->u.q.nwaiters--;
		break;
	}
	backends[slot].next = -1;
	backends[slot].state = LOCKABLE_WAIT_NONE;
	if (backends[slot].reserved)
	{
		pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
		backends[slot].reserved = false;
	}

	/* a head that did not fit has left: those behind it may fit now */
	if (prev < 0 && lease->kind == LEASE_GROUP)
		grant_queue_locked(lease, now, wl);
}

/*
 * lockable_lease_find_locked
 *		The entry of key, or NULL.  The caller holds its partition lock, in
 *		either mode.
 */
Lease *
lockable_lease_find_locked(const LeaseKey *key, uint32 hashcode)
{
	return hash_search_with_hash_value(lease_htab, key, hashcode,
									   HASH_FIND, NULL);
}

/*
 * lockable_lease_enter_locked
 *		Find the entry of req's key, or make a new one (*found false,
 *		nothing set but the key) counted in nleases.  When the table is
 *		full, or the name pool has too few chunks for a long name, releases
 *		the partition lock (held exclusively by the caller) and raises an
 *		error naming the limit; nothing else is disturbed.
 */
Lease *
lockable_lease_enter_locked(LeaseRequest *req, bool *found)
{
	Lease	   *lease = NULL;
	int32		tail = -1;
	bool		names_full = false;

	/*
	 * A long name takes its chunks before its entry exists, so that every
	 * entry holds its whole name for lockable_entry_key_match: look first.
	 */
	if (lockable_name_chunks(req->key.len) > 0)
	{
		lease = hash_search_with_hash_value(lease_htab, &req->key,
											req->hashcode, HASH_FIND, found);
		if (*found)
			return lease;
		names_full = !lockable_name_store(&req->key, &tail);
	}
	if (!names_full)
	{
		lease = hash_search_with_hash_value(lease_htab, &req->key,
											req->hashcode, HASH_ENTER_NULL,
											found);
		if (lease != NULL && *found)
			return lease;
	}
	if (lease != NULL)
	{
		lease->key.tail = tail;
		if (pg_atomic_fetch_add_u32(&lockable_shared->nleases, 1) >= (uint32) lockable_max_leases)
		{
			pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
			hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
										HASH_REMOVE, NULL);
			lease = NULL;
		}
	}
	if (lease == NULL)
	{
		lockable_name_free(tail);
		lockable_partition_stats(req->hashcode)->table_full++;
		LWLockRelease(lockable_partition_lock(req->hashcode));
		if (names_full)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many long lease names"),
					 errdetail("Names longer than %d bytes keep the rest in a pool of %d chunks of %d bytes (one for every second lease of lockable.max_leases); a name of %d bytes needs %d, and too few are free.",
							   LOCKABLE_NAME_INLINE, lockable_name_pool_size(),
							   LOCKABLE_NAME_CHUNK, (int) req->key.len,
							   lockable_name_chunks(req->key.len)),
					 errhint("Use shorter names, release leases with long names, or increase lockable.max_leases and restart the server.")));
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many leases"),
				 errdetail("All %d lease slots are in use.",
						   lockable_max_leases),
				 errhint("Release leases, or increase lockable.max_leases and restart the server.")));
	}
	return lease;
}

/*
 * Raise an error for an acquire, after releasing the partition lock and
 * sending the wake-ups collected so far.
 */
static void
acquire_error_locked(LeaseRequest *req, Lease *lease, LockableWakeList *wl)
{
	int			held = lease != NULL ? (lease->kind == LEASE_GROUP ? lease->slots : 1) : 0;

	if (lease == NULL)
		lockable_partition_stats(req->hashcode)->table_full++;
	LWLockRelease(lockable_partition_lock(req->hashcode));
	lockable_wake_send(wl);
	if (lease != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lease \"%.*s\" is held with slots = %d",
						(int) req->key.len, req->key.name, held),
				 errdetail("This acquire asked for slots = %d; all holders of a name use the same slots.",
						   req->slots),
				 errhint("Acquire it with slots => %d, or wait until nobody holds or waits for it.",
						 held)));
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("too many leases"),
			 errdetail("All %d lease slots are in use; a counting or shared lease takes one for its name and one for each holder and waiter.",
					   lockable_max_leases),
			 errhint("Release leases, or increase lockable.max_leases and restart the server.")));
}

/*
 * The slow part of lockable_lease_try: the name is a group, or req wants
 * one (slots > 1, or shared).  Called with the partition lock held, which
 * it releases; a new entry (!found) is holderless.
 */
static LeaseAcquireResult
try_group_locked(LeaseRequest *req, Lease *lease, bool found, bool enqueue,
				 uint64 *token, LockableTime *busy_until, LockableTime now,
				 LockableWakeList *wl)
{
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	bool		want = wants_group(req->slots, req->shared);
	LeaseAcquireResult result;
	LeaseHolder h;

	/* end what has expired, so that only live holders count */
	if (found && lease->kind == LEASE_PLAIN && lease->deadline <= now)
	{
		stats->expired++;
		if (!lockable_lease_end_locked(lease, now, wl))
			lease = NULL;
	}
	else if (found && lease->kind == LEASE_GROUP &&
			 (lease->slots != req->slots || lease->u.q.wait_head >= 0 ||
			  !want || !group_fits(lease, req->shared)))
	{
		int			forced;

		/* it would be refused: end what expired first, which may make room */
		if (group_end_members_locked(lease, now, false, &forced, wl) > 0 &&
			!name_vacated_locked(lease, now, wl))
			lease = NULL;
	}
	if (lease == NULL)
	{
		/* nobody holds it any more: the entry was deleted; a new one */
		lease = lockable_lease_enter_locked(req, &found);
		if (found)
			elog(PANIC, "lockable: lease entry found after it was deleted");
		lockable_lease_init_locked(lease, req->hashcode);
	}
	if (!found)
	{
		/* a new entry, holderless */
		if (!want)
		{
			*token = lockable_lease_grant_locked(lease, req, now);
			LWLockRelease(lock);
			lockable_wake_send(wl);
			return LEASE_GRANTED;
		}
		group_make_locked(lease, req->slots, req->shared);
	}

	if ((lease->kind == LEASE_GROUP ? lease->slots : 1) != req->slots)
		acquire_error_locked(req, lease, wl);

	/* nobody waits, and there is room: a new member */
	if (lease->kind == LEASE_GROUP && lease->u.q.wait_head < 0 &&
		group_fits(lease, req->shared) && want)
	{
		if (!reserve_entries(1))
		{
			/* a group just made has no holder: delete it again */
			(void) name_vacated_locked(lease, now, wl);
			acquire_error_locked(req, NULL, wl);
		}
		if (lease->u.q.nholders == 0)
			lease->shared = req->shared;
		holder_of_request(&h, req);
		*token = member_add_locked(lease, &h, now);
		if (*token != 0)
		{
			LWLockRelease(lock);
			lockable_wake_send(wl);
			return LEASE_GRANTED;
		}
		pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
		(void) name_vacated_locked(lease, now, wl);
		acquire_error_locked(req, NULL, wl);
	}
	/* a group has a holder here: one without is deleted or granted */
	Assert(lease->kind == LEASE_PLAIN || lease->u.q.nholders > 0);

	if (held_by_own_keepalive(lease, lockable_my_session_if_any()))
	{
		if (!enqueue && req->count_refusal)
			stats->refused++;
		result = LEASE_OWN_KEEPALIVE;
	}
	else if (enqueue)
	{
		if (want && !reserve_entries(1))
			acquire_error_locked(req, NULL, wl);
		enqueue_locked(lease, req, want);
		stats->waited++;
		result = LEASE_QUEUED;
	}
	else
	{
		if (req->count_refusal)
			stats->refused++;
		result = LEASE_BUSY;
	}
	if (busy_until != NULL && result != LEASE_QUEUED)
		*busy_until = name_deadline(lease);
	LWLockRelease(lock);
	lockable_wake_send(wl);
	return result;
}

/*
 * lockable_lease_try
 *		Try once to acquire; if the lease is held and enqueue is true, join
 *		its wait queue (the caller then loops on lockable_lease_wait_check).
 *
 * Returns LEASE_GRANTED with *token set, LEASE_BUSY (with *busy_until, if
 * not NULL, set to the holder's deadline), or LEASE_QUEUED.  A lease held
 * with keepalive by this very session is LEASE_OWN_KEEPALIVE, never
 * queued on: it lasts as long as the session, so waiting for it would be
 * waiting for oneself.  Raises an error when the table is full, or when
 * the name is held with other slots.  This is the hot path: one hash
 * lookup under one partition lock, one clock read, no allocation; names
 * that are groups, and requests for one, take try_group_locked.
 */
LeaseAcquireResult
lockable_lease_try(LeaseRequest *req, bool enqueue, uint64 *token,
				   LockableTime *busy_until)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	uint64		my_session = lockable_my_session_if_any();
	LockableWakeList wl;
	LeaseAcquireResult result;
	LockableTime now;
	Lease	   *lease;
	bool		found;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_enter_locked(req, &found);
	if (unlikely(wants_group(req->slots, req->shared) ||
				 (found && lease->kind != LEASE_PLAIN)))
	{
		if (!found)
			lockable_lease_init_locked(lease, req->hashcode);
		return try_group_locked(req, lease, found, enqueue, token,
								busy_until, now, &wl);
	}
	if (!found)
	{
		lockable_lease_init_locked(lease, req->hashcode);
		*token = lockable_lease_grant_locked(lease, req, now);
		LWLockRelease(lock);
		return LEASE_GRANTED;
	}

	if (lease->deadline <= now)
	{
		stats->expired++;
		if (lease->u.q.wait_head < 0)
		{
			/* expired and nobody waiting: it is ours */
			*token = lockable_lease_grant_locked(lease, req, now);
			LWLockRelease(lock);
			return LEASE_GRANTED;
		}
		/* those who waited come first */
		unlink_holder_locked(lease);
		grant_queue_locked(lease, now, &wl);
		if (lease->kind != LEASE_PLAIN)
			return try_group_locked(req, lease, true, enqueue, token,
									busy_until, now, &wl);
	}

	if (lease->keepalive && my_session != 0 &&
		lease->holder_session == my_session)
	{
		if (!enqueue && req->count_refusal)
			stats->refused++;
		if (busy_until != NULL)
			*busy_until = lease->deadline;
		result = LEASE_OWN_KEEPALIVE;
	}
	else if (enqueue)
	{
		if (req->keepalive)
			(void) lockable_my_session();
		enqueue_locked(lease, req, false);
		stats->waited++;
		result = LEASE_QUEUED;
	}
	else
	{
		if (req->count_refusal)
			stats->refused++;
		if (busy_until != NULL)
			*busy_until = lease->deadline;
		result = LEASE_BUSY;
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return result;
}

/*
 * lockable_lease_wait_check
 *		For a backend queued by lockable_lease_try: has the lease come to
 *		us, has our wait run out, or until when should we sleep?
 *
 * Returns LEASE_GRANTED with *token, LEASE_BUSY when wait_deadline has
 * passed (we have left the queue), or LEASE_QUEUED with *sleep_until.
 */
LeaseAcquireResult
lockable_lease_wait_check(LeaseRequest *req, LockableTime wait_deadline,
						  uint64 *token, LockableTime *sleep_until)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	int			slot = lockable_my_slot();
	LockableBackend *me = &lockable_shared->backends[slot];
	LockableWakeList wl;
	LeaseAcquireResult result;
	LockableTime now;
	Lease	   *lease;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (me->state == LOCKABLE_WAIT_GRANTED)
	{
		*token = me->granted_token;
		me->state = LOCKABLE_WAIT_NONE;
		LWLockRelease(lock);
		return LEASE_GRANTED;
	}

	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (me->state != LOCKABLE_WAIT_QUEUED || lease == NULL)
	{
		LWLockRelease(lock);
		elog(ERROR, "lockable: backend is not queued on lease \"%.*s\"",
			 (int) req->key.len, req->key.name);
	}

	/* the head ends what expired: the name may come to us */
	now = lockable_clock_now();
	if (lease->u.q.wait_head == slot && name_deadline(lease) <= now)
	{
		int			forced;

		if (lease->kind == LEASE_GROUP)
			(void) group_end_members_locked(lease, now, false, &forced, &wl);
		else
		{
			lockable_partition_stats(req->hashcode)->expired++;
			unlink_holder_locked(lease);
		}
		(void) name_vacated_locked(lease, now, &wl);
	}
	if (me->state == LOCKABLE_WAIT_GRANTED)
	{
		*token = me->granted_token;
		me->state = LOCKABLE_WAIT_NONE;
		result = LEASE_GRANTED;
	}
	else if (now >= wait_deadline)
	{
		dequeue_locked(lease, slot, now, &wl);
		lockable_partition_stats(req->hashcode)->refused++;
		result = LEASE_BUSY;
	}
	else
	{
		*sleep_until = wait_deadline;
		if (lease->u.q.wait_head == slot)
			*sleep_until = Min(*sleep_until, name_deadline(lease));
		result = LEASE_QUEUED;
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return result;
}

/*
 * lockable_lease_wait_abandon
 *		The waiting backend is leaving (error, cancel, exit): leave the
 *		queue, or if the lease was handed to us meanwhile, pass it on, since
 *		nobody will ever learn its token.
 */
void
lockable_lease_wait_abandon(LeaseRequest *req)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	int			slot = lockable_my_slot();
	LockableBackend *me = &lockable_shared->backends[slot];
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	Lease	   *holder;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (me->state == LOCKABLE_WAIT_QUEUED && lease != NULL)
		dequeue_locked(lease, slot, now, &wl);
	else if (me->state == LOCKABLE_WAIT_GRANTED && lease != NULL &&
			 (holder = holder_by_token_locked(lease, me->granted_token)) != NULL)
	{
		lockable_partition_stats(req->hashcode)->released++;
		lockable_lease_end_locked(holder, now, &wl);
	}
	me->state = LOCKABLE_WAIT_NONE;
	me->next = -1;
	LWLockRelease(lock);
	lockable_wake_send(&wl);
}

/* Held by someone (ignoring the deadline): local, or remote and HELD */
static inline bool
lease_is_live(Lease *lease)
{
	return lease->remote == LEASE_LOCAL || lease->remote == LEASE_REMOTE_HELD;
}

/*
 * Does req's caller see the entry found by its key?  A local lease's key
 * carries its database; a remote lease belongs to its acquirer's
 * (protocol rule 11).
 */
static inline bool
lease_visible(Lease *lease, LeaseRequest *req)
{
	return lease->remote == LEASE_LOCAL || lease_remote(lease)->db == req->remote_db;
}

/*
 * Is there an entry of req's key with token?  If live_only, it must also
 * be held by someone (not being acquired or released) and not expired.
 */
static bool
lookup_token(LeaseRequest *req, uint64 token, bool live_only)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	Lease	   *lease;
	bool		found;

	LWLockAcquire(lock, LW_SHARED);
	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (lease != NULL)
		lease = holder_by_token_locked(lease, token);
	found = lease != NULL && lease_visible(lease, req);
	if (found && live_only)
		found = lease_is_live(lease) && lease->deadline > lockable_clock_now();
	LWLockRelease(lock);
	return found;
}

/*
 * Find the lease held with token, for heartbeat and release.  An expired
 * lease found on the way is ended.  Returns NULL when not held with token;
 * otherwise sets *owner, which the caller compares with the roles the
 * caller has been shown to be a member of.
 */
static Lease *
find_held_locked(LeaseRequest *req, uint64 token, LockableTime now,
				 LockableWakeList *wl, Oid *owner)
{
	Lease	   *lease;

	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (lease != NULL)
		lease = holder_by_token_locked(lease, token);
	if (lease == NULL || !lease_is_live(lease) || !lease_visible(lease, req))
		return NULL;
	if (lease->deadline <= now)
	{
		lockable_partition_stats(req->hashcode)->expired++;
		lockable_lease_end_locked(lease, now, wl);
		return NULL;
	}
	*owner = lease->owner;
	return lease;
}

/*
 * lockable_lease_holder_op
 *		A holder's heartbeat or release of the lease held with token.  A
 *		heartbeat extends it to now + ttl (ttl 0: its own ttl); a release
 *		ends it, and waiters get it at once.
 *
 * The caller passes member_of = InvalidOid first; on LEASE_OP_CHECK_OWNER
 * it checks membership in *owner without holding any lock and calls again
 * with member_of = *owner.  Tokens are unique, so the second call acts on
 * the same lease or finds it gone.
 */
LeaseOpResult
lockable_lease_holder_op(LeaseRequest *req, LeaseHolderOp op, uint64 token,
						 int64 ttl, Oid member_of, Oid *owner)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	LockableWakeList wl;
	LeaseOpResult result;
	LockableTime now;
	Lease	   *lease;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = find_held_locked(req, token, now, &wl, owner);
	if (lease == NULL)
	{
		if (op == LEASE_HEARTBEAT && req->count_refusal)
			stats->heartbeats_failed++;
		result = LEASE_OP_NOT_HELD;
	}
	else if (lease->owner != req->roleid && lease->owner != member_of)
		result = LEASE_OP_CHECK_OWNER;
	else if (op == LEASE_HEARTBEAT)
	{
		LockableTime due = lease_due(lease);

		if (ttl > 0)
			lease->ttl = ttl;
		set_deadline_locked(lease, now + lease->ttl);
		/* a shorter keepalive ttl: the worker may sleep past the renewal */
		if (lease->keepalive && lease_due(lease) < due)
			wl.worker_kick = true;
		lease->renewals++;
		stats->heartbeats++;
		result = LEASE_OP_DONE;
	}
	else
	{
		stats->released++;
		lockable_lease_end_locked(lease, now, &wl);
		result = LEASE_OP_DONE;
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return result;
}

/*
 * lockable_lease_force_release
 *		End the live lease of that name whoever holds it: every holder of a
 *		counting or shared lease, or with token not 0 only the holder with
 *		that token.  Waiters get it as after a release.  Permission is
 *		checked by the caller (EXECUTE on lockable_force_release).
 */
bool
lockable_lease_force_release(LeaseRequest *req, uint64 token)
{
	LWLock	   *lock = lockable_partition_lock(req->hashcode);
	LockableCounters *stats = lockable_partition_stats(req->hashcode);
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	bool		ended = false;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (lease != NULL && token != 0)
		lease = holder_by_token_locked(lease, token);
	if (lease != NULL && lease->kind == LEASE_GROUP)
	{
		int			forced;

		if (group_end_members_locked(lease, now, true, &forced, &wl) > 0)
			(void) name_vacated_locked(lease, now, &wl);
		ended = forced > 0;
	}
	else if (lease != NULL && lease_is_live(lease) && lease_visible(lease, req))
	{
		ended = lease->deadline > now;
		if (ended)
			stats->forced++;
		else
			stats->expired++;
		lockable_lease_end_locked(lease, now, &wl);
	}
	LWLockRelease(lock);
	lockable_wake_send(&wl);
	return ended;
}

/*
 * lockable_lease_is_held
 *		Is the lease held with token right now?  For fencing checks.
 */
bool
lockable_lease_is_held(LeaseRequest *req, uint64 token)
{
	return lookup_token(req, token, true);
}

/*
 * lockable_lease_exists
 *		Is there still an entry with that token, held or being released?
 */
bool
lockable_lease_exists(LeaseRequest *req, uint64 token)
{
	return lookup_token(req, token, false);
}

/*
 * lockable_lease_restore
 *		At startup, in the postmaster, before any backend exists: put back
 *		a lease saved at the last shutdown, or one holder of a counting or
 *		shared lease (slots > 1 or shared).  False if the table (or, for a
 *		long name, the name pool) is full.  A holder that does not fit the
 *		name as restored so far (a file not written by this code) is left
 *		out, as a plain lease's duplicate is.
 */
bool
lockable_lease_restore(const LeaseKey *key, uint64 token, Oid owner,
					   int64 ttl, LockableTime acquired, LockableTime deadline,
					   int64 renewals, int slots, bool shared)
{
	uint32		hashcode = get_hash_value(lease_htab, key);
	bool		group = wants_group(slots, shared);
	Lease	   *lease;
	bool		found;
	int32		tail;

	Assert(!IsUnderPostmaster);
	if (pg_atomic_read_u32(&lockable_shared->nleases) + (group ? 2 : 1) > (uint32) lockable_max_leases)
		return false;
	lease = hash_search_with_hash_value(lease_htab, key, hashcode, HASH_FIND,
										NULL);
	if (lease == NULL)
	{
		if (!lockable_name_store(key, &tail))
			return false;
		lease = hash_search_with_hash_value(lease_htab, key, hashcode,
											HASH_ENTER_NULL, &found);
		if (lease == NULL)
		{
			lockable_name_free(tail);
			return false;
		}
		lease->key.tail = tail;
		pg_atomic_fetch_add_u32(&lockable_shared->nleases, 1);
		lockable_lease_init_locked(lease, hashcode);
		if (group)
			group_make_locked(lease, slots, shared);
	}
	else if (!group || lease->kind != LEASE_GROUP || lease->slots != slots ||
			 lease->shared != shared)
		return true;
	if (group)
	{
		lease = member_insert_locked(lease, token);
		if (lease == NULL)
			return true;
		pg_atomic_fetch_add_u32(&lockable_shared->nleases, 1);
	}
	lease->owner = owner;
	lease->token = token;
	lease->acquired = acquired;
	lease->ttl = ttl;
	lease->renewals = renewals;
	set_deadline_locked(lease, deadline);
	return true;
}

/*
 * lockable_lease_snapshot
 *		Copies of the live leases of database dbid (all databases if
 *		InvalidOid), palloc'd, and the clock reading they were taken at.
 */
LeaseInfo *
lockable_lease_snapshot(Oid dbid, int *nleases, LockableTime *now)
{
	HASH_SEQ_STATUS scan;
	LeaseInfo  *result;
	Lease	   *lease;
	LeaseKey	key;
	int			size;
	int			n = 0;

	/*
	 * Allocate before locking, then check that the table did not grow past
	 * the allocation meanwhile.
	 */
	size = 0;
	result = NULL;
	for (;;)
	{
		uint32		count;

		lockable_lock_all_partitions(LW_SHARED);
		count = pg_atomic_read_u32(&lockable_shared->nleases);
		if (result != NULL && count <= (uint32) size)
			break;
		lockable_unlock_all_partitions();
		if (result != NULL)
			pfree(result);
		size = Min((int) count + 64, lockable_max_leases);
		result = MemoryContextAllocHuge(CurrentMemoryContext,
										sizeof(LeaseInfo) * Max(size, 1));
	}

	*now = lockable_clock_now();
	hash_seq_init(&scan, lease_htab);
	while ((lease = hash_seq_search(&scan)) != NULL)
	{
		LeaseInfo  *info;

		if (OidIsValid(dbid) &&
			lease->key.dbid != dbid &&
			!(lease->remote != LEASE_LOCAL && lease_remote(lease)->db == dbid))
			continue;
		if (lease->kind == LEASE_GROUP)
			continue;			/* its holders are its members */
		if (lease_is_live(lease) && lease->deadline <= *now)
			continue;
		Assert(n < size);
		info = &result[n++];
		lockable_entry_key_get(lease_name_key(lease), &key);
		memcpy(info->name, key.name, key.len);
		info->name[key.len] = '\0';
		info->dbid = key.dbid;
		info->token = lease->token;
		info->owner = lease->owner;
		info->pid = lease->pid;
		info->keepalive = lease->keepalive;
		info->acquired = lease->acquired;
		info->deadline = lease->deadline;
		info->ttl = lease->ttl;
		info->renewals = lease->renewals;
		info->nwaiters = lease->kind == LEASE_MEMBER ?
			lease_group(lease)->u.q.nwaiters : lease->u.q.nwaiters;
		info->slots = lease->slots;
		info->shared = lease->shared;
		info->remote = lease->remote;
		info->prefix_len = 0;
		info->remote_failures = 0;
		info->remote_confirmed = 0;
		if (lease->remote != LEASE_LOCAL)
		{
			LeaseRemote *r = lease_remote(lease);

			info->prefix_len = r->prefix_len;
			info->remote_failures = r->failures;
			info->remote_confirmed = r->confirmed;
		}
	}
	lockable_unlock_all_partitions();

	*nleases = n;
	return result;
}

/*
 * lockable_lease_renew_locked
 *		The worker's keepalive renewal of a lease: a new deadline one ttl
 *		from now.
 */
void
lockable_lease_renew_locked(Lease *lease, LockableTime now)
{
	set_deadline_locked(lease, now + lease->ttl);
	lease->renewals++;
	lockable_partition_stats(lease->hashcode)->renewals++;
}

/*
 * lockable_lease_cap_locked
 *		Stop renewing a keepalive lease (lockable.max_hold): from now on it
 *		is due at its deadline, as a plain lease.
 */
void
lockable_lease_cap_locked(Lease *lease)
{
	lease->capped = true;
	set_deadline_locked(lease, lease->deadline);
}
