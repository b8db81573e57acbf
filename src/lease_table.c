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
					&lease->keepalive_node);
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
	dlist_delete(&lease->keepalive_node);
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
	lease->wait_head = lease->wait_tail = -1;
	lease->nwaiters = 0;
	lease->remote = LEASE_LOCAL;
	lease->remote_slot = -1;
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

/* Make a lease held by the given holder, with a fresh token */
static uint64
grant_locked(Lease *lease, int64 ttl, Oid roleid, int pid, int slot,
			 uint64 session, bool keepalive, LockableTime now)
{
	keepalive_unlink_locked(lease);
	if (keepalive)
		keepalive_link_locked(lease, slot, session);
	lease->token = pg_atomic_fetch_add_u64(&lockable_shared->next_token, 1);
	lease->acquired = now;
	lease->ttl = ttl;
	lease->owner = roleid;
	lease->pid = pid;
	lease->capped = false;
	lease->renewals = 0;
	set_deadline_locked(lease, now + ttl);
	lockable_partition_stats(lease->hashcode)->acquired++;
	return lease->token;
}

/*
 * lockable_lease_grant_locked
 *		Make a lease held by this backend, as req asks; returns its token.
 */
uint64
lockable_lease_grant_locked(Lease *lease, LeaseRequest *req, LockableTime now)
{
	/* the backend slot and session matter only to a keepalive lease */
	if (req->keepalive)
		return grant_locked(lease, req->ttl, req->roleid, MyProcPid,
							lockable_my_slot(), lockable_my_session(),
							true, now);
	return grant_locked(lease, req->ttl, req->roleid, MyProcPid, -1, 0,
						false, now);
}

/* Hand the lease to the first backend in its wait queue */
static void
handoff_locked(Lease *lease, LockableTime now, LockableWakeList *wl)
{
	int			slot = lease->wait_head;
	LockableBackend *b = &lockable_shared->backends[slot];

	Assert(slot >= 0 && b->state == LOCKABLE_WAIT_QUEUED);
	lease->wait_head = b->next;
	if (lease->wait_head < 0)
		lease->wait_tail = -1;
	lease->nwaiters--;
	b->next = -1;
	b->granted_token = grant_locked(lease, b->ttl, b->roleid, b->pid, slot,
									pg_atomic_read_u64(&b->session),
									b->keepalive, now);
	b->state = LOCKABLE_WAIT_GRANTED;
	lockable_wake_add(wl, slot);

	/* the next in line now sleeps until this holder's deadline */
	if (lease->wait_head >= 0)
		lockable_wake_add(wl, lease->wait_head);
}

/*
 * lockable_lease_remove_locked
 *		Delete an entry nobody waits for from the table.  The lease pointer
 *		must not be used again.
 */
void
lockable_lease_remove_locked(Lease *lease)
{
	LeaseKeySelf self = {InvalidOid, LEASE_KEY_SELF, &lease->key};
	int32		tail = lease->key.tail;

	Assert(lease->wait_head < 0);
	unlink_holder_locked(lease);
	lockable_remote_slot_give(lease->remote_slot);
	if (hash_search_with_hash_value(lease_htab, &self, lease->hashcode,
									HASH_REMOVE, NULL) == NULL)
		elog(PANIC, "lockable: lease entry to remove not found");
	lockable_name_free(tail);
	pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
}

/*
 * lockable_lease_end_locked
 *		End a lease: hand it to the next waiter, or delete it; a remote
 *		lease that is HELD becomes RELEASING, for the worker to let go of
 *		on the service (protocol rule 11).  Returns true if the entry is
 *		still there; if false, the lease pointer must not be used again.
 */
bool
lockable_lease_end_locked(Lease *lease, LockableTime now, LockableWakeList *wl)
{
	if (lease->remote == LEASE_REMOTE_HELD)
	{
		Assert(lease->wait_head < 0);
		unlink_holder_locked(lease);
		lease->remote = LEASE_REMOTE_RELEASING;
		lease_remote(lease)->next = now;
		wl->worker_kick = true;
		return true;
	}
	Assert(lease->remote == LEASE_LOCAL);
	if (lease->wait_head >= 0)
	{
		handoff_locked(lease, now, wl);
		return true;
	}
	lockable_lease_remove_locked(lease);
	wl->deleted = true;
	return false;
}

/* Append a backend to a lease's wait queue */
static void
enqueue_locked(Lease *lease, LeaseRequest *req)
{
	int			slot = lockable_my_slot();
	LockableBackend *b = &lockable_shared->backends[slot];

	b->state = LOCKABLE_WAIT_QUEUED;
	b->next = -1;
	b->ttl = req->ttl;
	b->roleid = req->roleid;
	b->pid = MyProcPid;
	b->keepalive = req->keepalive;
	b->granted_token = 0;
	if (lease->wait_tail >= 0)
		lockable_shared->backends[lease->wait_tail].next = slot;
	else
		lease->wait_head = slot;
	lease->wait_tail = slot;
	lease->nwaiters++;
}

/* Take a backend out of a lease's wait queue */
static void
dequeue_locked(Lease *lease, int slot, LockableWakeList *wl)
{
	LockableBackend *backends = lockable_shared->backends;
	int			prev = -1;

	for (int cur = lease->wait_head; cur >= 0; prev = cur, cur = backends[cur].next)
	{
		if (cur != slot)
			continue;
		if (prev >= 0)
			backends[prev].next = backends[cur].next;
		else
		{
			lease->wait_head = backends[cur].next;
			/* a new head sleeps until the holder's deadline: tell it */
			if (lease->wait_head >= 0)
				lockable_wake_add(wl, lease->wait_head);
		}
		if (lease->wait_tail == slot)
			lease->wait_tail = prev;
		lease->nwaiters--;
		break;
	}
	backends[slot].next = -1;
	backends[slot].state = LOCKABLE_WAIT_NONE;
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
 * lockable_lease_try
 *		Try once to acquire; if the lease is held and enqueue is true, join
 *		its wait queue (the caller then loops on lockable_lease_wait_check).
 *
 * Returns LEASE_GRANTED with *token set, LEASE_BUSY (with *busy_until, if
 * not NULL, set to the holder's deadline), or LEASE_QUEUED.  A lease held
 * with keepalive by this very session is LEASE_OWN_KEEPALIVE, never
 * queued on: it lasts as long as the session, so waiting for it would be
 * waiting for oneself.  Raises an error when the table is full.  This is
 * the hot path: one hash lookup under one partition lock, one clock read,
 * no allocation.
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
		if (lease->wait_head < 0)
		{
			/* expired and nobody waiting: it is ours */
			*token = lockable_lease_grant_locked(lease, req, now);
			LWLockRelease(lock);
			return LEASE_GRANTED;
		}
		/* those who waited come first */
		handoff_locked(lease, now, &wl);
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
		enqueue_locked(lease, req);
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

	now = lockable_clock_now();
	if (lease->deadline <= now && lease->wait_head == slot)
	{
		lockable_partition_stats(req->hashcode)->expired++;
		handoff_locked(lease, now, &wl);
		Assert(me->state == LOCKABLE_WAIT_GRANTED);
		*token = me->granted_token;
		me->state = LOCKABLE_WAIT_NONE;
		result = LEASE_GRANTED;
	}
	else if (now >= wait_deadline)
	{
		dequeue_locked(lease, slot, &wl);
		lockable_partition_stats(req->hashcode)->refused++;
		result = LEASE_BUSY;
	}
	else
	{
		*sleep_until = wait_deadline;
		if (lease->wait_head == slot && lease->deadline < *sleep_until)
			*sleep_until = lease->deadline;
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
	Lease	   *lease;

	lockable_wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	lease = lockable_lease_find_locked(&req->key, req->hashcode);
	if (me->state == LOCKABLE_WAIT_QUEUED && lease != NULL)
		dequeue_locked(lease, slot, &wl);
	else if (me->state == LOCKABLE_WAIT_GRANTED && lease != NULL &&
			 lease->token == me->granted_token)
	{
		lockable_partition_stats(req->hashcode)->released++;
		lockable_lease_end_locked(lease, lockable_clock_now(), &wl);
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
	found = lease != NULL && lease->token == token && lease_visible(lease, req);
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
	if (lease == NULL || lease->token != token || !lease_is_live(lease) ||
		!lease_visible(lease, req))
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
 *		End the live lease of that name whoever holds it.  Permission is
 *		checked by the caller (EXECUTE on lockable_force_release).
 */
bool
lockable_lease_force_release(LeaseRequest *req)
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
	if (lease != NULL && lease_is_live(lease) && lease_visible(lease, req))
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
 *		a lease saved at the last shutdown.  False if the table (or, for a
 *		long name, the name pool) is full.
 */
bool
lockable_lease_restore(const LeaseKey *key, uint64 token, Oid owner,
					   int64 ttl, LockableTime acquired, LockableTime deadline,
					   int64 renewals)
{
	uint32		hashcode = get_hash_value(lease_htab, key);
	Lease	   *lease;
	bool		found;
	int32		tail;

	Assert(!IsUnderPostmaster);
	if (pg_atomic_read_u32(&lockable_shared->nleases) >= (uint32) lockable_max_leases)
		return false;
	if (hash_search_with_hash_value(lease_htab, key, hashcode, HASH_FIND, NULL))
		return true;
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
		if (lease_is_live(lease) && lease->deadline <= *now)
			continue;
		Assert(n < size);
		info = &result[n++];
		lockable_entry_key_get(&lease->key, &key);
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
		info->nwaiters = lease->nwaiters;
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
