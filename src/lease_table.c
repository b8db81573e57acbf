/*-------------------------------------------------------------------------
 *
 * lease_table.c
 *	  The lease table in shared memory: hashing, and every operation on
 *	  local leases (grant, renew, end, expire, the wait queues' handoff and
 *	  the timer wheel), each done under one partition lock.
 *
 * The locking protocol is written down in shared.h.  Functions named
 * *_locked expect the caller to hold the partition lock of the lease they
 * are given, exclusively.  Remote leases are entries of this table too;
 * their states are remote_lease.c's, which uses the *_locked steps
 * exported here.  This file calls only shared.c, settings and the clock.
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
 * Give a lease a new deadline, keeping it in the matching wheel slot: an
 * entry is on the wheel exactly when its deadline is not LOCKABLE_FOREVER
 * (protocol rule 4).
 */
static void
set_deadline_locked(Lease *lease, LockableTime deadline)
{
	LockablePartition *part = lockable_partition_of(lease->hashcode);
	dlist_head *from = NULL;
	dlist_head *to = NULL;

	if (lease->deadline != LOCKABLE_FOREVER)
		from = wheel_slot(part, lease->deadline);
	if (deadline != LOCKABLE_FOREVER)
		to = wheel_slot(part, deadline);
	lease->deadline = deadline;
	if (from != to)
	{
		if (from != NULL)
			dlist_delete(&lease->wheel_node);
		if (to != NULL)
			dlist_push_tail(to, &lease->wheel_node);
	}
}

/* Take a lease off the wheel and the keepalive list: nobody holds it now */
static void
unlink_holder_locked(Lease *lease)
{
	set_deadline_locked(lease, LOCKABLE_FOREVER);
	if (lease->keepalive)
		dlist_delete(&lease->keepalive_node);
	lease->keepalive = false;
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
	lease->prefix_len = 0;
	lease->remote_db = InvalidOid;
	lease->remote_failures = 0;
	lease->remote_confirmed = 0;
	lease->remote_next = LOCKABLE_FOREVER;
	lease->remote_busy_until = 0;
}

/* Hash only the bytes of the name that are used */
static uint32
lease_key_hash(const void *key, Size keysize)
{
	const LeaseKey *k = (const LeaseKey *) key;

	return hash_combine(murmurhash32(k->dbid),
						hash_bytes((const unsigned char *) k->name, k->len));
}

/* Names match exactly, byte for byte; never by prefix or by hash */
static int
lease_key_match(const void *key1, const void *key2, Size keysize)
{
	const LeaseKey *a = (const LeaseKey *) key1;
	const LeaseKey *b = (const LeaseKey *) key2;

	if (a->dbid != b->dbid || a->len != b->len)
		return 1;
	return memcmp(a->name, b->name, a->len);
}

/*
 * lockable_table_request_shmem
 *		From shmem_request_hook: ask for the memory of the hash table.
 */
void
lockable_table_request_shmem(void)
{
	RequestAddinShmemSpace(hash_estimate_size(lockable_max_leases,
											  sizeof(Lease)));
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

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(LeaseKey);
	info.entrysize = sizeof(Lease);
	info.hash = lease_key_hash;
	info.match = lease_key_match;
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
										  HASH_COMPARE | HASH_PARTITION |
										  HASH_FIXED_SIZE);
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
	if (lease->keepalive)
		dlist_delete(&lease->keepalive_node);
	if (keepalive)
		dlist_push_tail(&lockable_partition_of(lease->hashcode)->keepalive,
						&lease->keepalive_node);
	lease->token = pg_atomic_fetch_add_u64(&lockable_shared->next_token, 1);
	lease->acquired = now;
	set_deadline_locked(lease, now + ttl);
	lease->ttl = ttl;
	lease->owner = roleid;
	lease->pid = pid;
	lease->keepalive = keepalive;
	lease->capped = false;
	lease->holder_slot = keepalive ? slot : -1;
	lease->holder_session = keepalive ? session : 0;
	lease->renewals = 0;
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
	return grant_locked(lease, req->ttl, req->roleid, MyProcPid,
						lockable_my_slot(),
						req->keepalive ? lockable_my_session() : 0,
						req->keepalive, now);
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
	Assert(lease->wait_head < 0);
	unlink_holder_locked(lease);
	hash_search_with_hash_value(lease_htab, &lease->key, lease->hashcode,
								HASH_REMOVE, NULL);
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
		lease->remote_next = now;
		wl->remote_kick = true;
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
 *		full, releases the partition lock (held exclusively by the caller)
 *		and raises an error naming lockable.max_leases; nothing else is
 *		disturbed.
 */
Lease *
lockable_lease_enter_locked(LeaseRequest *req, bool *found)
{
	Lease	   *lease;

	lease = hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
										HASH_ENTER_NULL, found);
	if (*found)
		return lease;
	if (lease != NULL &&
		pg_atomic_fetch_add_u32(&lockable_shared->nleases, 1) >= (uint32) lockable_max_leases)
	{
		pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
		hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
									HASH_REMOVE, NULL);
		lease = NULL;
	}
	if (lease == NULL)
	{
		lockable_partition_stats(req->hashcode)->table_full++;
		LWLockRelease(lockable_partition_lock(req->hashcode));
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
	return lease->remote == LEASE_LOCAL || lease->remote_db == req->remote_db;
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
		if (ttl > 0)
			lease->ttl = ttl;
		set_deadline_locked(lease, now + lease->ttl);
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
 *		a lease saved at the last shutdown.  False if the table is full.
 */
bool
lockable_lease_restore(const LeaseKey *key, uint64 token, Oid owner,
					   int64 ttl, LockableTime acquired, LockableTime deadline,
					   int64 renewals)
{
	uint32		hashcode = get_hash_value(lease_htab, key);
	Lease	   *lease;
	bool		found;

	Assert(!IsUnderPostmaster);
	if (pg_atomic_read_u32(&lockable_shared->nleases) >= (uint32) lockable_max_leases)
		return false;
	lease = hash_search_with_hash_value(lease_htab, key, hashcode,
										HASH_ENTER_NULL, &found);
	if (lease == NULL || found)
		return lease != NULL;
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
			!(lease->remote != LEASE_LOCAL && lease->remote_db == dbid))
			continue;
		if (lease_is_live(lease) && lease->deadline <= *now)
			continue;
		Assert(n < size);
		info = &result[n++];
		memcpy(info->name, lease->key.name, lease->key.len);
		info->name[lease->key.len] = '\0';
		info->dbid = lease->key.dbid;
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
		info->prefix_len = lease->prefix_len;
		info->remote_failures = lease->remote_failures;
		info->remote_confirmed = lease->remote_confirmed;
	}
	lockable_unlock_all_partitions();

	*nleases = n;
	return result;
}

/*
 * Sweep one partition: end the leases whose deadline has passed (from the
 * wheel slots of the ticks that have passed since the last sweep) and the
 * keepalive leases of sessions that are gone; renew live keepalive leases
 * past half their ttl.  The wheel is visited only where leases are due;
 * the keepalive list is walked whole, every pass.  Lowers *next_due to
 * the next renewal due.
 */
static void
sweep_partition(int p, int64 max_hold, LockableTime *next_due,
				List **capped, LockableWakeList *wl)
{
	LockablePartition *part = &lockable_shared->parts[p];
	LockableCounters *stats = &lockable_shared->stats[p].c;
	LockableBackend *backends = lockable_shared->backends;
	dlist_mutable_iter iter;
	LockableTime now;
	int64		now_tick;

	now = lockable_clock_now();
	now_tick = now / LOCKABLE_WHEEL_TICK;

	/* ticks before now_tick are over; visit each slot at most once */
	for (int64 tick = Max(part->swept_tick + 1, now_tick - LOCKABLE_WHEEL_SLOTS);
		 tick < now_tick; tick++)
	{
		dlist_foreach_modify(iter, &part->wheel[tick % LOCKABLE_WHEEL_SLOTS])
		{
			Lease	   *lease = dlist_container(Lease, wheel_node, iter.cur);

			/* leases due in a later turn of the wheel stay */
			if (lease->deadline <= now)
			{
				stats->expired++;
				lockable_lease_end_locked(lease, now, wl);
			}
		}
	}
	part->swept_tick = Max(part->swept_tick, now_tick - 1);

	dlist_foreach_modify(iter, &part->keepalive)
	{
		Lease	   *lease = dlist_container(Lease, keepalive_node, iter.cur);
		LockableTime renew_at;

		if (pg_atomic_read_u64(&backends[lease->holder_slot].session) != lease->holder_session)
		{
			stats->session_ended++;
			lockable_lease_end_locked(lease, now, wl);
			continue;			/* a keepalive waiter's lease comes round again */
		}
		if (lease->deadline <= now)
		{
			stats->expired++;
			lockable_lease_end_locked(lease, now, wl);
			continue;
		}
		if (lease->capped)
			continue;
		if (max_hold > 0 && now - lease->acquired >= max_hold)
		{
			lease->capped = true;
			*capped = lappend(*capped, pnstrdup(lease->key.name, lease->key.len));
			continue;
		}
		renew_at = lease->deadline - lease->ttl / 2;
		if (renew_at <= now)
		{
			set_deadline_locked(lease, now + lease->ttl);
			lease->renewals++;
			stats->renewals++;
			renew_at = lease->deadline - lease->ttl / 2;
		}
		*next_due = Min(*next_due, renew_at);
	}
}

/*
 * lockable_lease_sweep
 *		The worker's pass over the partitions, one partition lock at a time:
 *		see sweep_partition.  Expiry costs what is due (the wheel), but
 *		every keepalive lease is looked at on every pass.  Sets *next_due to
 *		when the next keepalive renewal is due (LOCKABLE_FOREVER if none).
 *		Wake-ups and log messages come after the partition lock is released.
 */
void
lockable_lease_sweep(LockableTime *next_due)
{
	int64		max_hold = (int64) lockable_max_hold * USECS_PER_SEC;
	List	   *capped = NIL;
	ListCell   *lc;

	*next_due = LOCKABLE_FOREVER;
	if (pg_atomic_read_u32(&lockable_shared->nleases) == 0)
		return;

	for (int p = 0; p < LOCKABLE_NUM_PARTITIONS; p++)
	{
		LWLock	   *lock = &lockable_shared->locks[p].lock;
		LockableWakeList wl;

		lockable_wake_init(&wl);
		LWLockAcquire(lock, LW_EXCLUSIVE);
		sweep_partition(p, max_hold, next_due, &capped, &wl);
		LWLockRelease(lock);
		lockable_wake_send(&wl);
	}

	foreach(lc, capped)
		ereport(WARNING,
				(errmsg("lockable: keepalive of lease \"%s\" stopped after lockable.max_hold",
						(char *) lfirst(lc)),
				 errdetail("The lease now expires after its ttl unless it is renewed with lockable_heartbeat().")));
	list_free_deep(capped);
}
