/*-------------------------------------------------------------------------
 *
 * lease_table.c
 *	  The lease table in shared memory: allocation, hashing, and every
 *	  operation on leases, each done under one partition lock.
 *
 * The locking protocol is written down in lockable.h.  Functions named
 * *_locked expect the caller to hold the partition lock of the lease they
 * are given, exclusively.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "lockable.h"

#define LOCKABLE_TRANCHE	"lockable"
#define LOCKABLE_HORIZON_TRANCHE	"lockable horizon"
#define LOCKABLE_REMOTE_TRANCHE	"lockable remote"

LockableShared *lockable_shared = NULL;
static HTAB *lease_htab = NULL;

/* this backend's session id, once it has needed one */
static uint64 my_session = 0;

/*
 * Backends to signal once the partition lock is released.  Most operations
 * wake at most two; the sweep may wake many.
 */
typedef struct LockableWakeList
{
	bool		deleted;		/* a lease was deleted: tell any-waiters */
	bool		remote_ended;	/* a remote lease was let go of: tell
								 * remote waiters */
	bool		remote_kick;	/* a remote lease needs the worker now */
	int			n;
	int			size;
	int		   *slots;
	int			local[4];
} LockableWakeList;

static void
wake_init(LockableWakeList *wl)
{
	wl->deleted = false;
	wl->remote_ended = false;
	wl->remote_kick = false;
	wl->n = 0;
	wl->size = lengthof(wl->local);
	wl->slots = wl->local;
}

static void
wake_add(LockableWakeList *wl, int slot)
{
	if (wl->n == wl->size)
	{
		int		   *grown = palloc(sizeof(int) * wl->size * 2);

		memcpy(grown, wl->slots, sizeof(int) * wl->n);
		if (wl->slots != wl->local)
			pfree(wl->slots);
		wl->slots = grown;
		wl->size *= 2;
	}
	wl->slots[wl->n++] = slot;
}

/* Signal everything collected.  Call with no partition lock held. */
static void
wake_send(LockableWakeList *wl)
{
	for (int i = 0; i < wl->n; i++)
		ConditionVariableSignal(&lockable_shared->backends[wl->slots[i]].cv);
	if (wl->deleted && pg_atomic_read_u32(&lockable_shared->any_waiters) > 0)
		ConditionVariableBroadcast(&lockable_shared->any_cv);
	if (wl->remote_ended)
		ConditionVariableBroadcast(&lockable_shared->remote_cv);
	if (wl->remote_kick)
		lockable_worker_wake();
	if (wl->slots != wl->local)
		pfree(wl->slots);
	wake_init(wl);
}

static inline LWLock *
partition_lock(uint32 hashcode)
{
	return &lockable_shared->locks[hashcode % LOCKABLE_NUM_PARTITIONS].lock;
}

static inline LockableCounters *
partition_stats(uint32 hashcode)
{
	return &lockable_shared->stats[hashcode % LOCKABLE_NUM_PARTITIONS].c;
}

static inline LockablePartition *
partition_of(uint32 hashcode)
{
	return &lockable_shared->parts[hashcode % LOCKABLE_NUM_PARTITIONS];
}

static inline dlist_head *
wheel_slot(LockablePartition *part, LockableTime deadline)
{
	return &part->wheel[(deadline / LOCKABLE_WHEEL_TICK) % LOCKABLE_WHEEL_SLOTS];
}

/* Give a lease a new deadline, moving it to the matching wheel slot */
static void
set_deadline_locked(Lease *lease, LockableTime deadline)
{
	LockablePartition *part = partition_of(lease->hashcode);
	dlist_head *from = wheel_slot(part, lease->deadline);
	dlist_head *to = wheel_slot(part, deadline);

	lease->deadline = deadline;
	if (from != to)
	{
		dlist_delete(&lease->wheel_node);
		dlist_push_tail(to, &lease->wheel_node);
	}
}

/* Set up a new hash entry, holderless, on the wheel at deadline */
static void
init_entry_locked(Lease *lease, uint32 hashcode, LockableTime deadline)
{
	lease->hashcode = hashcode;
	lease->keepalive = false;
	lease->remote = LEASE_LOCAL;
	lease->wait_head = lease->wait_tail = -1;
	lease->nwaiters = 0;
	lease->deadline = deadline;
	dlist_push_tail(wheel_slot(partition_of(hashcode), deadline),
					&lease->wheel_node);
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

static Size
lockable_shared_size(void)
{
	return add_size(offsetof(LockableShared, backends),
					mul_size(MaxBackends, sizeof(LockableBackend)));
}

/*
 * lockable_table_request_shmem
 *		From shmem_request_hook: ask for the memory and the partition locks.
 */
void
lockable_table_request_shmem(void)
{
	RequestAddinShmemSpace(add_size(MAXALIGN(lockable_shared_size()),
									hash_estimate_size(lockable_max_leases,
													   sizeof(Lease))));
	RequestNamedLWLockTranche(LOCKABLE_TRANCHE, LOCKABLE_NUM_PARTITIONS);
	RequestNamedLWLockTranche(LOCKABLE_HORIZON_TRANCHE, 1);
	RequestNamedLWLockTranche(LOCKABLE_REMOTE_TRANCHE, 1);
}

/*
 * lockable_table_startup
 *		From shmem_startup_hook: create or attach to the shared state.
 */
void
lockable_table_startup(void)
{
	bool		found;
	HASHCTL		info;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	lockable_shared = ShmemInitStruct("lockable", lockable_shared_size(),
									  &found);
	if (!found)
	{
		LockableShared *s = lockable_shared;

		memset(s, 0, lockable_shared_size());
		s->locks = GetNamedLWLockTranche(LOCKABLE_TRANCHE);
		pg_atomic_init_u64(&s->next_token, 1);
		pg_atomic_init_u64(&s->next_session, 1);
		pg_atomic_init_u32(&s->nleases, 0);
		pg_atomic_init_u32(&s->any_waiters, 0);
		pg_atomic_init_u32(&s->nremote, 0);
		pg_atomic_init_u64(&s->remote_connects, 0);
		s->remote_lock = &(GetNamedLWLockTranche(LOCKABLE_REMOTE_TRANCHE))->lock;
		s->lost_next = 0;
		pg_atomic_init_u32(&s->nlost, 0);
		ConditionVariableInit(&s->any_cv);
		ConditionVariableInit(&s->remote_cv);
		pg_atomic_init_u64(&s->tokens_reserved, 1);
		s->ttl_horizon = 0;
		s->ttl_pending = 0;
		s->horizon_lock = &(GetNamedLWLockTranche(LOCKABLE_HORIZON_TRANCHE))->lock;
		pg_atomic_init_u64(&s->grace_until, 0);
		pg_atomic_init_u32(&s->recovery_pending, 0);
		s->recovery_grace = 0;
		s->worker_latch = NULL;
		s->worker_pid = 0;
		s->stats_reset = GetCurrentTimestamp();
		s->nbackends = MaxBackends;
		for (int p = 0; p < LOCKABLE_NUM_PARTITIONS; p++)
		{
			LockablePartition *part = &s->parts[p];

			for (int i = 0; i < LOCKABLE_WHEEL_SLOTS; i++)
				dlist_init(&part->wheel[i]);
			dlist_init(&part->keepalive);
			dlist_init(&part->remote);
			/* nothing is due yet: start sweeping from now */
			part->swept_tick = lockable_clock_now() / LOCKABLE_WHEEL_TICK - 1;
		}
		for (int i = 0; i < MaxBackends; i++)
		{
			LockableBackend *b = &s->backends[i];

			ConditionVariableInit(&b->cv);
			pg_atomic_init_u64(&b->session, 0);
			b->state = LOCKABLE_WAIT_NONE;
			b->next = -1;
		}
	}

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

	LWLockRelease(AddinShmemInitLock);

	/* in the postmaster: restore leases, or start the crash grace period */
	if (!IsUnderPostmaster)
		lockable_persist_startup();
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
 * lockable_my_slot
 *		This backend's index into lockable_shared->backends.
 */
int
lockable_my_slot(void)
{
	int			slot;

	slot = lockable_proc_number();
	if (slot < 0 || slot >= lockable_shared->nbackends)
		elog(ERROR, "lockable: backend slot %d out of range", slot);
	return slot;
}

/*
 * lockable_my_session
 *		This session's id for keepalive leases, assigned on first use.
 */
uint64
lockable_my_session(void)
{
	if (my_session == 0)
	{
		my_session = pg_atomic_fetch_add_u64(&lockable_shared->next_session, 1);
		pg_atomic_write_u64(&lockable_shared->backends[lockable_my_slot()].session,
							my_session);
	}
	return my_session;
}

/*
 * lockable_session_end
 *		At backend exit: this session's keepalive leases are no longer kept
 *		alive.  The worker ends them at once.
 */
void
lockable_session_end(void)
{
	if (my_session == 0)
		return;
	pg_atomic_write_u64(&lockable_shared->backends[lockable_my_slot()].session, 0);
	my_session = 0;
	lockable_worker_wake();
}

/*
 * lockable_worker_wake
 *		Make the worker sweep now.  Harmless if it is not running.
 */
void
lockable_worker_wake(void)
{
	Latch	   *latch = lockable_shared->worker_latch;

	if (latch != NULL)
		SetLatch(latch);
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

/* Make a lease held by the given holder, with a fresh token */
static uint64
grant_locked(Lease *lease, int64 ttl, Oid roleid, int pid, int slot,
			 uint64 session, bool keepalive, LockableTime now)
{
	if (lease->keepalive)
		dlist_delete(&lease->keepalive_node);
	if (keepalive)
		dlist_push_tail(&partition_of(lease->hashcode)->keepalive,
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
	partition_stats(lease->hashcode)->acquired++;
	return lease->token;
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
	wake_add(wl, slot);

	/* the next in line now sleeps until this holder's deadline */
	if (lease->wait_head >= 0)
		wake_add(wl, lease->wait_head);
}

/*
 * End a lease: hand it to the next waiter, or delete it.  Returns true if
 * it was handed off; if false, the lease pointer must not be used again.
 */
static bool
end_locked(Lease *lease, LockableTime now, LockableWakeList *wl)
{
	if (lease->remote == LEASE_REMOTE_HELD)
	{
		/* the remote lock is let go of by the worker (protocol rule 11) */
		Assert(lease->wait_head < 0);
		dlist_delete(&lease->wheel_node);
		if (lease->keepalive)
			dlist_delete(&lease->keepalive_node);
		lease->keepalive = false;
		lease->remote = LEASE_REMOTE_RELEASING;
		lease->deadline = LOCKABLE_FOREVER;
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
	dlist_delete(&lease->wheel_node);
	if (lease->keepalive)
		dlist_delete(&lease->keepalive_node);
	hash_search_with_hash_value(lease_htab, &lease->key, lease->hashcode,
								HASH_REMOVE, NULL);
	pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
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
				wake_add(wl, lease->wait_head);
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
 * Find the entry of req's key, or make a new one (*found false) counted in
 * nleases.  When the table is full, releases the partition lock (held
 * exclusively by the caller) and raises an error naming
 * lockable.max_leases; nothing else is disturbed.
 */
static Lease *
enter_locked(LeaseRequest *req, bool *found)
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
		partition_stats(req->hashcode)->full++;
		LWLockRelease(partition_lock(req->hashcode));
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
	LWLock	   *lock = partition_lock(req->hashcode);
	LockableCounters *stats = partition_stats(req->hashcode);
	LockableWakeList wl;
	LeaseAcquireResult result;
	LockableTime now;
	Lease	   *lease;
	bool		found;

	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = enter_locked(req, &found);
	if (!found)
	{
		init_entry_locked(lease, req->hashcode, now + req->ttl);
		*token = grant_locked(lease, req->ttl, req->roleid, MyProcPid,
							  lockable_my_slot(),
							  req->keepalive ? lockable_my_session() : 0,
							  req->keepalive, now);
		LWLockRelease(lock);
		return LEASE_GRANTED;
	}

	if (lease->deadline <= now)
	{
		stats->expired++;
		if (lease->wait_head < 0)
		{
			/* expired and nobody waiting: it is ours */
			*token = grant_locked(lease, req->ttl, req->roleid, MyProcPid,
								  lockable_my_slot(),
								  req->keepalive ? lockable_my_session() : 0,
								  req->keepalive, now);
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
	wake_send(&wl);
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
	LWLock	   *lock = partition_lock(req->hashcode);
	int			slot = lockable_my_slot();
	LockableBackend *me = &lockable_shared->backends[slot];
	LockableWakeList wl;
	LeaseAcquireResult result;
	LockableTime now;
	Lease	   *lease;

	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (me->state == LOCKABLE_WAIT_GRANTED)
	{
		*token = me->granted_token;
		me->state = LOCKABLE_WAIT_NONE;
		LWLockRelease(lock);
		return LEASE_GRANTED;
	}

	lease = hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
										HASH_FIND, NULL);
	if (me->state != LOCKABLE_WAIT_QUEUED || lease == NULL)
	{
		LWLockRelease(lock);
		elog(ERROR, "lockable: backend is not queued on lease \"%.*s\"",
			 (int) req->key.len, req->key.name);
	}

	now = lockable_clock_now();
	if (lease->deadline <= now && lease->wait_head == slot)
	{
		partition_stats(req->hashcode)->expired++;
		handoff_locked(lease, now, &wl);
		Assert(me->state == LOCKABLE_WAIT_GRANTED);
		*token = me->granted_token;
		me->state = LOCKABLE_WAIT_NONE;
		result = LEASE_GRANTED;
	}
	else if (now >= wait_deadline)
	{
		dequeue_locked(lease, slot, &wl);
		partition_stats(req->hashcode)->refused++;
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
	wake_send(&wl);
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
	LWLock	   *lock = partition_lock(req->hashcode);
	int			slot = lockable_my_slot();
	LockableBackend *me = &lockable_shared->backends[slot];
	LockableWakeList wl;
	Lease	   *lease;

	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	lease = hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
										HASH_FIND, NULL);
	if (me->state == LOCKABLE_WAIT_QUEUED && lease != NULL)
		dequeue_locked(lease, slot, &wl);
	else if (me->state == LOCKABLE_WAIT_GRANTED && lease != NULL &&
			 lease->token == me->granted_token)
	{
		partition_stats(req->hashcode)->released++;
		end_locked(lease, lockable_clock_now(), &wl);
	}
	me->state = LOCKABLE_WAIT_NONE;
	me->next = -1;
	LWLockRelease(lock);
	wake_send(&wl);
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
	LWLock	   *lock = partition_lock(req->hashcode);
	Lease	   *lease;
	bool		found;

	LWLockAcquire(lock, LW_SHARED);
	lease = hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
										HASH_FIND, NULL);
	found = lease != NULL && lease->token == token && lease_visible(lease, req);
	if (found && live_only)
		found = lease_is_live(lease) && lease->deadline > lockable_clock_now();
	LWLockRelease(lock);
	return found;
}

/*
 * Find the lease held with token, for heartbeat and release.  An expired
 * lease found on the way is ended.  Returns NULL when not held with token,
 * and sets *check_owner when it is held by a role the caller has not been
 * shown to be a member of (member_of).
 */
static Lease *
find_held_locked(LeaseRequest *req, uint64 token, LockableTime now,
				 LockableWakeList *wl, Oid *owner)
{
	Lease	   *lease;

	lease = hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
										HASH_FIND, NULL);
	if (lease == NULL || lease->token != token || !lease_is_live(lease) ||
		!lease_visible(lease, req))
		return NULL;
	if (lease->deadline <= now)
	{
		partition_stats(req->hashcode)->expired++;
		end_locked(lease, now, wl);
		return NULL;
	}
	*owner = lease->owner;
	return lease;
}

/*
 * lockable_lease_heartbeat
 *		Extend the lease held with token to now + ttl (ttl 0: its own ttl).
 *
 * The caller passes member_of = InvalidOid first; on LEASE_OP_CHECK_OWNER
 * it checks membership in *owner without holding any lock and calls again
 * with member_of = *owner.  Tokens are unique, so the second call acts on
 * the same lease or finds it gone.
 */
LeaseOpResult
lockable_lease_heartbeat(LeaseRequest *req, uint64 token, int64 ttl,
						 Oid member_of, Oid *owner)
{
	LWLock	   *lock = partition_lock(req->hashcode);
	LockableCounters *stats = partition_stats(req->hashcode);
	LockableWakeList wl;
	LeaseOpResult result;
	LockableTime now;
	Lease	   *lease;

	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = find_held_locked(req, token, now, &wl, owner);
	if (lease == NULL)
	{
		if (req->count_refusal)
			stats->heartbeats_failed++;
		result = LEASE_OP_NOT_HELD;
	}
	else if (lease->owner != req->roleid && lease->owner != member_of)
		result = LEASE_OP_CHECK_OWNER;
	else
	{
		if (ttl > 0)
			lease->ttl = ttl;
		set_deadline_locked(lease, now + lease->ttl);
		lease->renewals++;
		stats->heartbeats++;
		result = LEASE_OP_DONE;
	}
	LWLockRelease(lock);
	wake_send(&wl);
	return result;
}

/*
 * lockable_lease_release
 *		Release the lease held with token; waiters get it at once.  The
 *		owner check works as for lockable_lease_heartbeat.
 */
LeaseOpResult
lockable_lease_release(LeaseRequest *req, uint64 token, Oid member_of,
					   Oid *owner)
{
	LWLock	   *lock = partition_lock(req->hashcode);
	LockableWakeList wl;
	LeaseOpResult result;
	LockableTime now;
	Lease	   *lease;

	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = find_held_locked(req, token, now, &wl, owner);
	if (lease == NULL)
		result = LEASE_OP_NOT_HELD;
	else if (lease->owner != req->roleid && lease->owner != member_of)
		result = LEASE_OP_CHECK_OWNER;
	else
	{
		partition_stats(req->hashcode)->released++;
		end_locked(lease, now, &wl);
		result = LEASE_OP_DONE;
	}
	LWLockRelease(lock);
	wake_send(&wl);
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
	LWLock	   *lock = partition_lock(req->hashcode);
	LockableCounters *stats = partition_stats(req->hashcode);
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	bool		ended = false;

	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
										HASH_FIND, NULL);
	if (lease != NULL && lease_is_live(lease) && lease_visible(lease, req))
	{
		ended = lease->deadline > now;
		if (ended)
			stats->forced++;
		else
			stats->expired++;
		end_locked(lease, now, &wl);
	}
	LWLockRelease(lock);
	wake_send(&wl);
	return ended;
}

/*
 * lockable_lease_count_refused
 *		Count an acquire that returned NULL without reaching the table.
 */
void
lockable_lease_count_refused(LeaseRequest *req)
{
	LWLock	   *lock = partition_lock(req->hashcode);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	partition_stats(req->hashcode)->refused++;
	LWLockRelease(lock);
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
	init_entry_locked(lease, hashcode, deadline);
	lease->capped = false;
	lease->pid = 0;
	lease->owner = owner;
	lease->holder_slot = -1;
	lease->holder_session = 0;
	lease->token = token;
	lease->acquired = acquired;
	lease->ttl = ttl;
	lease->renewals = renewals;
	return true;
}

static void
lock_all_partitions(LWLockMode mode)
{
	for (int i = 0; i < LOCKABLE_NUM_PARTITIONS; i++)
		LWLockAcquire(&lockable_shared->locks[i].lock, mode);
}

static void
unlock_all_partitions(void)
{
	for (int i = LOCKABLE_NUM_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&lockable_shared->locks[i].lock);
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

		lock_all_partitions(LW_SHARED);
		count = pg_atomic_read_u32(&lockable_shared->nleases);
		if (result != NULL && count <= (uint32) size)
			break;
		unlock_all_partitions();
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
		info->remote_ok = lease->remote_ok;
	}
	unlock_all_partitions();

	*nleases = n;
	return result;
}

/*
 * Sweep one partition: end the leases whose deadline has passed (from the
 * wheel slots of the ticks that have passed since the last sweep) and the
 * keepalive leases of sessions that are gone; renew live keepalive leases
 * past half their ttl.  Lowers *next_due to the next renewal due.
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
				end_locked(lease, now, wl);
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
			end_locked(lease, now, wl);
			continue;			/* a keepalive waiter's lease comes round again */
		}
		if (lease->deadline <= now)
		{
			stats->expired++;
			end_locked(lease, now, wl);
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
 *		see sweep_partition.  Its cost grows with the leases due, not with
 *		the leases held.  Sets *next_due to when the next keepalive renewal
 *		is due (LOCKABLE_FOREVER if none).  Wake-ups and log messages come
 *		after the partition lock is released.
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

		wake_init(&wl);
		LWLockAcquire(lock, LW_EXCLUSIVE);
		sweep_partition(p, max_hold, next_due, &capped, &wl);
		LWLockRelease(lock);
		wake_send(&wl);
	}

	foreach(lc, capped)
		ereport(WARNING,
				(errmsg("lockable: keepalive of lease \"%s\" stopped after lockable.max_hold",
						(char *) lfirst(lc)),
				 errdetail("The lease now expires after its ttl unless it is renewed with lockable_heartbeat().")));
	list_free_deep(capped);
}

/*
 * Remote leases: the acquiring backend's side (protocol rule 11)
 */

/*
 * lockable_remote_key
 *		Turn a request built by lockable_lease_request, whose name already
 *		carries lockable.remote_prefix, into the key of a remote lease.
 */
void
lockable_remote_key(LeaseRequest *req)
{
	req->remote_db = req->key.dbid;
	req->key.dbid = InvalidOid;
	req->hashcode = get_hash_value(lease_htab, &req->key);
}

/*
 * Take a remote entry out of the table.  No partition lock is released.
 * Remote waiters are told only when the entry had been granted (HELD or
 * RELEASING): a refused or failed acquire's PENDING entry going away frees
 * nothing (protocol rule 11).
 */
static void
delete_remote_locked(Lease *lease, LockableWakeList *wl)
{
	Assert(lease->remote != LEASE_LOCAL && lease->wait_head < 0);
	if (lease->remote == LEASE_REMOTE_HELD)
	{
		dlist_delete(&lease->wheel_node);
		if (lease->keepalive)
			dlist_delete(&lease->keepalive_node);
	}
	if (lease->remote != LEASE_REMOTE_PENDING)
		wl->remote_ended = true;
	dlist_delete(&lease->remote_node);
	hash_search_with_hash_value(lease_htab, &lease->key, lease->hashcode,
								HASH_REMOVE, NULL);
	pg_atomic_fetch_sub_u32(&lockable_shared->nleases, 1);
	pg_atomic_fetch_sub_u32(&lockable_shared->nremote, 1);
}

/*
 * lockable_remote_begin
 *		Claim a remote name for this backend's acquire request: insert a
 *		PENDING entry, which makes the name busy for everyone else in the
 *		cluster while we ask the service.  False if the name is busy here
 *		(held, being acquired, or being released); then *held_here says
 *		whether a lease of this cluster has it (held or being released), so
 *		that its end is worth waking up for, rather than another backend's
 *		acquire.  The caller must end the claim with lockable_remote_finish,
 *		on every path.
 */
bool
lockable_remote_begin(LeaseRequest *req, int prefix_len, bool *held_here)
{
	LWLock	   *lock = partition_lock(req->hashcode);
	LockableCounters *stats = partition_stats(req->hashcode);
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	bool		found;

	Assert(req->key.dbid == InvalidOid);
	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = enter_locked(req, &found);
	*held_here = false;
	if (found)
	{
		/* an expired remote lease is let go of, not taken over */
		if (lease->remote == LEASE_REMOTE_HELD && lease->deadline <= now)
		{
			stats->expired++;
			end_locked(lease, now, &wl);
		}
		*held_here = lease->remote != LEASE_REMOTE_PENDING;
		LWLockRelease(lock);
		wake_send(&wl);
		return false;
	}

	lease->hashcode = req->hashcode;
	lease->keepalive = false;
	lease->capped = false;
	lease->pid = MyProcPid;
	lease->owner = req->roleid;
	lease->holder_slot = -1;
	lease->holder_session = 0;
	lease->token = 0;			/* no token until the service says yes */
	lease->acquired = now;
	lease->deadline = LOCKABLE_FOREVER;
	lease->ttl = req->ttl;
	lease->renewals = 0;
	lease->wait_head = lease->wait_tail = -1;
	lease->nwaiters = 0;
	lease->remote = LEASE_REMOTE_PENDING;
	lease->prefix_len = (uint16) prefix_len;
	lease->remote_db = req->remote_db;
	lease->remote_failures = 0;
	lease->remote_ok = 0;
	lease->remote_next = LOCKABLE_FOREVER;
	lease->remote_busy_until = LOCKABLE_FOREVER;	/* ours until finished */
	dlist_push_tail(&partition_of(req->hashcode)->remote, &lease->remote_node);
	pg_atomic_fetch_add_u32(&lockable_shared->nremote, 1);
	LWLockRelease(lock);
	return true;
}

/*
 * lockable_remote_finish
 *		End a claim made by lockable_remote_begin with the service's answer
 *		to the acquire sent at sent_at.  On LOCKABLE_REMOTE_TRUE the entry
 *		becomes a lease held by this backend and its token is returned;
 *		otherwise the entry is removed and 0 is returned.
 */
uint64
lockable_remote_finish(LeaseRequest *req, LockableRemoteOutcome outcome,
					   LockableTime sent_at)
{
	LWLock	   *lock = partition_lock(req->hashcode);
	LockableCounters *stats = partition_stats(req->hashcode);
	LockableWakeList wl;
	LockableTime now;
	Lease	   *lease;
	uint64		token = 0;

	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = hash_search_with_hash_value(lease_htab, &req->key, req->hashcode,
										HASH_FIND, NULL);
	if (lease == NULL || lease->remote != LEASE_REMOTE_PENDING ||
		lease->pid != MyProcPid)
	{
		/* cannot happen: nobody else touches a PENDING entry */
		Assert(false);
		LWLockRelease(lock);
		return 0;
	}
	if (outcome == LOCKABLE_REMOTE_TRUE)
	{
		lease->remote = LEASE_REMOTE_HELD;
		lease->deadline = now + req->ttl;
		dlist_push_tail(wheel_slot(partition_of(lease->hashcode), lease->deadline),
						&lease->wheel_node);
		token = grant_locked(lease, req->ttl, req->roleid, MyProcPid,
							 lockable_my_slot(),
							 req->keepalive ? lockable_my_session() : 0,
							 req->keepalive, now);
		lease->remote_ok = sent_at;
		lease->remote_next = sent_at + lockable_remote_interval_usec();
		lease->remote_busy_until = 0;
		stats->remote_acquired++;
		wl.remote_kick = true;	/* the worker may sleep past the first
								 * heartbeat */
	}
	else
	{
		if (outcome == LOCKABLE_REMOTE_FALSE)
			stats->remote_refused++;
		else
			stats->remote_errors++;
		delete_remote_locked(lease, &wl);
	}
	LWLockRelease(lock);
	wake_send(&wl);
	return token;
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
 * Remote leases: the worker's side
 */

/* A copy of a remote lease being lost, for the log and the lost ring */
static LockableLost *
lost_copy_locked(Lease *lease, LockableTime now, TimestampTz now_wall)
{
	LockableLost *l = palloc0(sizeof(LockableLost));
	int			len = lease->key.len - lease->prefix_len;

	l->used = true;
	l->keepalive = lease->keepalive;
	l->dbid = lease->remote_db;
	l->owner = lease->owner;
	l->pid = lease->pid;
	l->token = lease->token;
	l->ttl = lease->ttl;
	l->renewals = lease->renewals;
	l->failures = lease->remote_failures;
	l->acquired_at = lockable_clock_to_timestamptz(lease->acquired, now, now_wall);
	l->remote_ok_at = lockable_clock_to_timestamptz(lease->remote_ok, now, now_wall);
	l->lost_at = now_wall;
	memcpy(l->name, lease->key.name + lease->prefix_len, len);
	l->name[len] = '\0';
	return l;
}

/*
 * Log lost leases and keep them in the lost ring.  No partition lock may
 * be held.
 */
static void
report_lost(List *lost, bool by_answer)
{
	ListCell   *lc;
	int			n = 0;

	if (lost == NIL)
		return;
	LWLockAcquire(lockable_shared->remote_lock, LW_EXCLUSIVE);
	foreach(lc, lost)
	{
		if (!lockable_shared->lost[lockable_shared->lost_next].used)
			pg_atomic_fetch_add_u32(&lockable_shared->nlost, 1);
		lockable_shared->lost[lockable_shared->lost_next] = *(LockableLost *) lfirst(lc);
		lockable_shared->lost_next = (lockable_shared->lost_next + 1) % LOCKABLE_LOST_RING;
	}
	LWLockRelease(lockable_shared->remote_lock);

	foreach(lc, lost)
	{
		LockableLost *l = lfirst(lc);

		if (++n > 10)
		{
			ereport(WARNING,
					(errmsg("lockable: %d more remote leases were lost",
							list_length(lost) - 10)));
			break;
		}
		if (by_answer)
			ereport(WARNING,
					(errmsg("lockable: remote lease \"%s\" was lost", l->name),
					 errdetail("The service answered false to a heartbeat: the lock ran out there, or was released or taken by another client.")));
		else
			ereport(WARNING,
					(errmsg("lockable: remote lease \"%s\" was lost", l->name),
					 errdetail("No heartbeat succeeded within lockable.remote_lease (%d ms); %d failed in a row.",
							   lockable_remote_lease, l->failures)));
	}
	list_free_deep(lost);
}

/*
 * lockable_remote_collect
 *		The worker's pass over the remote leases, one partition lock at a
 *		time: claim up to max heartbeats and releases that are due (filling
 *		jobs), let go of leases whose local lease ended, and end those whose
 *		remote lease must have run out.  Lowers *next_due to when the next
 *		request is due.  Returns the number of jobs.
 */
int
lockable_remote_collect(LockableRemoteJob *jobs, int max,
						LockableTime *next_due)
{
	int64		lease_len = (int64) lockable_remote_lease * 1000;
	int64		timeout = lockable_remote_worker_timeout_usec();
	int64		interval = lockable_remote_interval_usec();
	TimestampTz now_wall = GetCurrentTimestamp();
	List	   *lost = NIL;
	int			n = 0;

	if (pg_atomic_read_u32(&lockable_shared->nremote) == 0)
		return 0;

	for (int p = 0; p < LOCKABLE_NUM_PARTITIONS; p++)
	{
		LWLock	   *lock = &lockable_shared->locks[p].lock;
		LockablePartition *part = &lockable_shared->parts[p];
		LockableCounters *stats = &lockable_shared->stats[p].c;
		LockableWakeList wl;
		dlist_mutable_iter iter;
		LockableTime now;

		wake_init(&wl);
		LWLockAcquire(lock, LW_EXCLUSIVE);
		now = lockable_clock_now();
		dlist_foreach_modify(iter, &part->remote)
		{
			Lease	   *lease = dlist_container(Lease, remote_node, iter.cur);
			LockableTime last_send;
			LockableRemoteJob *job;

			if (lease->remote == LEASE_REMOTE_PENDING)
				continue;		/* its acquirer is still asking */
			if (lease->remote_busy_until > now)
			{
				*next_due = Min(*next_due, lease->remote_busy_until);
				continue;
			}
			if (lease->remote == LEASE_REMOTE_HELD && lease->deadline <= now)
			{
				stats->expired++;
				end_locked(lease, now, &wl);
			}

			/* no request may arrive after the remote lease could run out */
			last_send = lease->remote_ok + lease_len - timeout;
			if (now >= last_send)
			{
				if (lease->remote == LEASE_REMOTE_HELD)
				{
					stats->remote_lost++;
					lost = lappend(lost, lost_copy_locked(lease, now, now_wall));
				}
				delete_remote_locked(lease, &wl);
				continue;
			}
			if (lease->remote_next > now)
			{
				*next_due = Min(*next_due, Min(lease->remote_next, last_send));
				continue;
			}
			if (n >= max)
			{
				/* max 0: nothing can be sent; only losses are due */
				*next_due = Min(*next_due, max > 0 ? now : last_send);
				continue;
			}
			job = &jobs[n++];
			job->key = lease->key;
			job->hashcode = lease->hashcode;
			job->token = lease->token;
			job->op = lease->remote == LEASE_REMOTE_HELD ?
				LOCKABLE_REMOTE_HEARTBEAT : LOCKABLE_REMOTE_RELEASE;
			job->sent_at = now;
			job->outcome = LOCKABLE_REMOTE_FAILED;
			job->error[0] = '\0';
			lease->remote_busy_until = now + timeout + USECS_PER_SEC;
			/* the answer sets remote_next no sooner than this */
			*next_due = Min(*next_due, now + Min(interval, USECS_PER_SEC));
		}
		LWLockRelease(lock);
		wake_send(&wl);
	}
	report_lost(lost, false);
	return n;
}

/*
 * lockable_remote_apply
 *		The worker got the service's answer to a job from
 *		lockable_remote_collect: record it in the lease, if the lease is
 *		still the one the job was for (tokens are unique).
 */
void
lockable_remote_apply(LockableRemoteJob *job)
{
	LWLock	   *lock = partition_lock(job->hashcode);
	LockableCounters *stats = partition_stats(job->hashcode);
	int64		interval = lockable_remote_interval_usec();
	TimestampTz now_wall = GetCurrentTimestamp();
	LockableWakeList wl;
	LockableTime now;
	List	   *lost = NIL;
	Lease	   *lease;

	wake_init(&wl);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = lockable_clock_now();
	lease = hash_search_with_hash_value(lease_htab, &job->key, job->hashcode,
										HASH_FIND, NULL);
	if (lease == NULL || lease->token != job->token ||
		(lease->remote != LEASE_REMOTE_HELD &&
		 lease->remote != LEASE_REMOTE_RELEASING))
	{
		LWLockRelease(lock);
		return;
	}
	lease->remote_busy_until = 0;

	if (job->op == LOCKABLE_REMOTE_HEARTBEAT)
	{
		switch (job->outcome)
		{
			case LOCKABLE_REMOTE_TRUE:
				stats->remote_heartbeats++;
				lease->remote_ok = Max(lease->remote_ok, job->sent_at);
				lease->remote_failures = 0;
				if (lease->remote == LEASE_REMOTE_HELD)
					lease->remote_next = job->sent_at + interval;
				else
					wl.remote_kick = true;	/* released meanwhile */
				break;
			case LOCKABLE_REMOTE_FALSE:
				/* not ours any more: never send a release for it */
				if (lease->remote == LEASE_REMOTE_HELD)
				{
					stats->remote_lost++;
					lost = lappend(lost, lost_copy_locked(lease, now, now_wall));
				}
				delete_remote_locked(lease, &wl);
				break;
			case LOCKABLE_REMOTE_FAILED:
				stats->remote_heartbeat_errors++;
				lease->remote_failures++;
				if (lease->remote == LEASE_REMOTE_HELD)
					lease->remote_next = now + Min(interval, USECS_PER_SEC);
				break;
		}
	}
	else
	{
		Assert(job->op == LOCKABLE_REMOTE_RELEASE);
		if (job->outcome == LOCKABLE_REMOTE_FAILED)
		{
			stats->remote_release_errors++;
			lease->remote_next = now + Min(interval, USECS_PER_SEC);
		}
		else
		{
			stats->remote_released++;
			delete_remote_locked(lease, &wl);
		}
	}
	LWLockRelease(lock);
	wake_send(&wl);
	report_lost(lost, true);
}

/*
 * lockable_remote_lost_ack
 *		The holder of a lost lease has been told (a heartbeat or release
 *		with its token, in its database dbid, returned false): drop it from
 *		the lost ring.
 */
void
lockable_remote_lost_ack(uint64 token, Oid dbid)
{
	/* the ring is filled before a holder can learn of the loss */
	if (pg_atomic_read_u32(&lockable_shared->nlost) == 0)
		return;
	LWLockAcquire(lockable_shared->remote_lock, LW_EXCLUSIVE);
	for (int i = 0; i < LOCKABLE_LOST_RING; i++)
		if (lockable_shared->lost[i].used &&
			lockable_shared->lost[i].token == token &&
			lockable_shared->lost[i].dbid == dbid)
		{
			lockable_shared->lost[i].used = false;
			pg_atomic_fetch_sub_u32(&lockable_shared->nlost, 1);
		}
	LWLockRelease(lockable_shared->remote_lock);
}

/*
 * lockable_remote_lost_snapshot
 *		Copies of the lost ring's entries of database dbid, palloc'd.
 */
LockableLost *
lockable_remote_lost_snapshot(Oid dbid, int *n)
{
	LockableLost *result = palloc(sizeof(LockableLost) * LOCKABLE_LOST_RING);

	*n = 0;
	LWLockAcquire(lockable_shared->remote_lock, LW_SHARED);
	for (int i = 0; i < LOCKABLE_LOST_RING; i++)
		if (lockable_shared->lost[i].used && lockable_shared->lost[i].dbid == dbid)
			result[(*n)++] = lockable_shared->lost[i];
	LWLockRelease(lockable_shared->remote_lock);
	return result;
}

/*
 * lockable_stats_read
 *		Sum of the partitions' counters.
 */
void
lockable_stats_read(LockableCounters *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < LOCKABLE_NUM_PARTITIONS; i++)
	{
		LockableCounters *c = &lockable_shared->stats[i].c;

		LWLockAcquire(&lockable_shared->locks[i].lock, LW_SHARED);
		sum->acquired += c->acquired;
		sum->refused += c->refused;
		sum->waited += c->waited;
		sum->expired += c->expired;
		sum->released += c->released;
		sum->forced += c->forced;
		sum->session_ended += c->session_ended;
		sum->heartbeats += c->heartbeats;
		sum->heartbeats_failed += c->heartbeats_failed;
		sum->renewals += c->renewals;
		sum->full += c->full;
		sum->remote_acquired += c->remote_acquired;
		sum->remote_refused += c->remote_refused;
		sum->remote_errors += c->remote_errors;
		sum->remote_heartbeats += c->remote_heartbeats;
		sum->remote_heartbeat_errors += c->remote_heartbeat_errors;
		sum->remote_lost += c->remote_lost;
		sum->remote_released += c->remote_released;
		sum->remote_release_errors += c->remote_release_errors;
		LWLockRelease(&lockable_shared->locks[i].lock);
	}
}

/*
 * lockable_stats_reset
 *		Zero the counters.  Permission is checked by the caller.
 */
void
lockable_stats_reset(void)
{
	lock_all_partitions(LW_EXCLUSIVE);
	for (int i = 0; i < LOCKABLE_NUM_PARTITIONS; i++)
		memset(&lockable_shared->stats[i].c, 0, sizeof(LockableCounters));
	lockable_shared->stats_reset = GetCurrentTimestamp();
	pg_atomic_write_u64(&lockable_shared->remote_connects, 0);
	unlock_all_partitions();
}
