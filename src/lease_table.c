/*-------------------------------------------------------------------------
 *
 * lease_table.c
 *	  The lease table in shared memory: hashing, its entries (plain ones,
 *	  and the groups and members of counting and shared leases), and the
 *	  steps on them: grant, renew, end, the wait queues and their handoff,
 *	  the timer wheel; the table's restore and snapshot.  What a backend
 *	  asks for is lease_ops.c's, the worker's sweep lease_sweep.c's.
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

	lease_holder_of_request(&h, req);
	return lease_grant_holder_locked(lease, &h, now);
}

/*
 * Count n more entries in nleases (protocol rule 7): a member entry about
 * to be made, or the one a waiter will hold.  False if that would pass
 * lockable.max_leases.
 */
bool
lockable_lease_reserve(int n)
{
	if (pg_atomic_fetch_add_u32(&lockable_shared->nleases, n) + n > (uint32) lockable_max_leases)
	{
		pg_atomic_fetch_sub_u32(&lockable_shared->nleases, n);
		return false;
	}
	return true;
}

/* Make a holderless plain entry, or a new one, the group of its name */
void
lockable_group_make_locked(Lease *lease, int slots, bool shared)
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
 * A member's hash code: a bucket of its own, so that a group's members do
 * not make one long chain of dynahash's, in its group's partition, whose
 * lock covers both (the partition is the low bits, protocol rule 1).
 */
static inline uint32
member_hash(const Lease *group, uint64 token)
{
	uint32		h = hash_combine(group->hashcode,
								 murmurhash32((uint32) token ^ (uint32) (token >> 32)));

	return (h & ~(uint32) (LOCKABLE_NUM_PARTITIONS - 1)) |
		(group->hashcode & (LOCKABLE_NUM_PARTITIONS - 1));
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

	uint32		hashcode = member_hash(group, token);

	Assert(group->kind == LEASE_GROUP);
	member = hash_search_with_hash_value(lease_htab, &key, hashcode,
										 HASH_ENTER_NULL, &found);
	if (member == NULL || found)
		return NULL;
	lockable_lease_init_locked(member, hashcode);
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
uint64
lockable_group_add_locked(Lease *group, const LeaseHolder *h, LockableTime now)
{
	uint64		token = pg_atomic_fetch_add_u64(&lockable_shared->next_token, 1);
	Lease	   *member;

	Assert(lease_group_fits(group, group->shared));
	member = member_insert_locked(group, token);
	if (member == NULL)
		return 0;
	return lease_grant_token_locked(member, h, token, now);
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
	lease_unlink_holder_locked(member);
	dlist_delete(&member->u.member_node);
	group->u.q.nholders--;
	if (hash_search_with_hash_value(lease_htab, &key, member->hashcode,
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
void
lockable_lease_grant_queue_locked(Lease *lease, LockableTime now, LockableWakeList *wl)
{
	while (lease->u.q.wait_head >= 0)
	{
		LockableBackend *b = &lockable_shared->backends[lease->u.q.wait_head];
		LeaseHolder h;
		uint64		token;
		int			slot;

		if (lease->kind == LEASE_GROUP && lease->u.q.nholders == 0 &&
			!lease_wants_group(b->slots, b->shared))
		{
			/* no member left: plain again, with nothing to move */
			lease->kind = LEASE_PLAIN;
			lease->slots = 1;
			lease->shared = false;
		}
		if (lease->kind == LEASE_PLAIN)
		{
			Assert(lease->deadline == LOCKABLE_FOREVER);
			if (lease_wants_group(b->slots, b->shared))
				lockable_group_make_locked(lease, b->slots, b->shared);
			else
			{
				slot = queue_pop_locked(lease);
				holder_of_waiter(&h, slot);
				waiter_granted(slot, lease_grant_holder_locked(lease, &h, now), wl);
				break;
			}
		}
		if (!lease_group_fits(lease, b->shared))
			break;
		if (lease->u.q.nholders == 0)
			lease->shared = b->shared;
		holder_of_waiter(&h, lease->u.q.wait_head);
		token = lockable_group_add_locked(lease, &h, now);
		if (token == 0)
			break;				/* cannot be, with nleases counting every
								 * entry promised (rule 7); it would stay
								 * queued until its wait ends */
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
		lease_unlink_holder_locked(lease);
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
bool
lockable_lease_vacated_locked(Lease *lease, LockableTime now, LockableWakeList *wl)
{
	if (lease->u.q.wait_head >= 0)
	{
		lockable_lease_grant_queue_locked(lease, now, wl);
		return true;
	}
	if (lease->kind == LEASE_GROUP && lease->u.q.nholders > 0)
		return true;
	lockable_lease_remove_locked(lease);
	wl->deleted = true;
	return false;
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
		lease_unlink_holder_locked(lease);
		lease->remote = LEASE_REMOTE_RELEASING;
		lease_remote(lease)->next = now;
		wl->worker_kick = true;
		return true;
	}
	Assert(lease->remote == LEASE_LOCAL);
	if (unlikely(lease->kind == LEASE_MEMBER))
	{
		Lease	   *group = lease_group(lease);

		member_remove_locked(lease, wl);
		(void) lockable_lease_vacated_locked(group, now, wl);
		return false;
	}
	Assert(lease->kind == LEASE_PLAIN);
	if (likely(lease->u.q.wait_head < 0))
	{
		/* nobody waits: the common release */
		lockable_lease_remove_locked(lease);
		wl->deleted = true;
		return false;
	}
	lease_unlink_holder_locked(lease);
	lockable_lease_grant_queue_locked(lease, now, wl);
	return true;
}

/*
 * End the members of a group whose deadline has passed (all of them if
 * all: a force release, counted as such), without granting; returns how
 * many it ended, and sets *forced to how many of them were live.
 */
int
lockable_group_end_members_locked(Lease *group, LockableTime now, bool all,
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
		member_remove_locked(member, wl);
		ended++;
	}
	return ended;
}

/* The earliest deadline of a group's members */
LockableTime
lockable_group_deadline(Lease *group)
{
	LockableTime earliest = LOCKABLE_FOREVER;
	dlist_iter	iter;

	dlist_foreach(iter, &group->link.members)
		earliest = Min(earliest,
					   dlist_container(Lease, u.member_node, iter.cur)->deadline);
	return earliest;
}

/*
 * Would a request of mode shared, by session, wait for nothing but a
 * keepalive lease of session itself, which cannot end while it waits?  So
 * it would if every holder of the name is one, or if one of its holders
 * is one and the name is held in the other mode, or a waiter of the other
 * mode is queued (ahead of the request, which never overtakes it): that
 * holder must leave before the request can be granted, whoever else
 * leaves.
 */
bool
lockable_lease_own_keepalive(Lease *lease, uint64 session, bool shared)
{
	bool		conflict;
	bool		all_own = true;
	dlist_iter	iter;

	if (session == 0)
		return false;
	if (lease->kind != LEASE_GROUP)
		return lease->keepalive && lease->holder_session == session;
	if (lease->u.q.nholders == 0)
		return false;
	conflict = lease->shared != shared;
	/* a waiter of the other mode, ahead of it, needs every holder gone too */
	for (int b = lease->u.q.wait_head; b >= 0 && !conflict;
		 b = lockable_shared->backends[b].next)
		conflict = lockable_shared->backends[b].shared != lease->shared;
	dlist_foreach(iter, &lease->link.members)
	{
		Lease	   *member = dlist_container(Lease, u.member_node, iter.cur);

		if (member->keepalive && member->holder_session == session)
		{
			if (conflict)
				return true;
		}
		else
			all_own = false;
	}
	return all_own;
}

/* The member of a group with token, or NULL (see lease_holder_locked) */
Lease *
lockable_group_member_locked(Lease *lease, uint64 token)
{
	LeaseKeyMember key;
	Lease	   *member;

	Assert(lease->kind == LEASE_GROUP);
	key.dbid = lease->key.dbid;
	key.len = LEASE_KEY_MEMBER;
	key.token = token;
	key.group = lease;
	member = hash_search_with_hash_value(lease_htab, &key,
										 member_hash(lease, token),
										 HASH_FIND, NULL);
	return member != NULL && lease_group(member) == lease ? member : NULL;
}

/* Append a backend to a lease's wait queue */
void
lockable_lease_enqueue_locked(Lease *lease, LeaseRequest *req)
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
	b->granted_token = 0;
	if (lease->u.q.wait_tail >= 0)
		lockable_shared->backends[lease->u.q.wait_tail].next = slot;
	else
		lease->u.q.wait_head = slot;
	lease->u.q.wait_tail = slot;
	lease->u.q.nwaiters++;
}

/* Take a backend out of a lease's wait queue, ungranted */
void
lockable_lease_dequeue_locked(Lease *lease, int slot, LockableTime now, LockableWakeList *wl)
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
	/* the entry promised to a waiter of a group (rule 7) */
	if (lease_wants_group(backends[slot].slots, backends[slot].shared))
		pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);

	/* a head that did not fit has left: those behind it may fit now */
	if (prev < 0 && lease->kind == LEASE_GROUP)
		lockable_lease_grant_queue_locked(lease, now, wl);
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
	bool		group = lease_wants_group(slots, shared);
	Lease	   *lease;
	bool		found;
	int32		tail;

	Assert(!IsUnderPostmaster);
	lease = hash_search_with_hash_value(lease_htab, key, hashcode, HASH_FIND,
										NULL);

	/*
	 * A holder takes one entry; the first holder of a group also takes the
	 * group's.  A later holder of a group restored already needs only its
	 * own, or a table that was full at shutdown would lose its last holder
	 * (and hold back every grant until that holder's deadline).
	 */
	if (pg_atomic_read_u32(&lockable_shared->nleases) +
		(group && lease == NULL ? 2 : 1) > (uint32) lockable_max_leases)
		return false;
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
			lockable_group_make_locked(lease, slots, shared);
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
	lease_set_deadline_locked(lease, deadline);
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
	lease_set_deadline_locked(lease, now + lease->ttl);
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
	lease_set_deadline_locked(lease, lease->deadline);
}
