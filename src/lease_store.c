/*-------------------------------------------------------------------------
 *
 * lease_store.c
 *	  What a lease entry keeps outside itself, so that the entry stays
 *	  small: the part of a name beyond LOCKABLE_NAME_INLINE bytes, in a
 *	  pool of fixed-size chunks (a name is stored by its length), and the
 *	  fields only a remote entry needs, in a side table of
 *	  lockable.max_remote_leases slots.  Both are allocated whole at server
 *	  start and handed out from free lists under a spinlock of their own
 *	  (protocol rule 12 in shared.h).  This file calls only shared memory
 *	  and the settings.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/shmem.h"
#include "storage/spin.h"

#include "lease_store.h"

typedef struct NameChunk
{
	int32		next;			/* next chunk of the name, or of the free
								 * list; -1 at the end */
	char		bytes[LOCKABLE_NAME_CHUNK];
} NameChunk;

typedef struct NamePool
{
	slock_t		mutex;			/* protects free and nfree */
	int32		free;			/* first free chunk, or -1 */
	int32		nfree;
	int32		nchunks;
	NameChunk	chunks[FLEXIBLE_ARRAY_MEMBER];
} NamePool;

typedef struct RemoteTable
{
	slock_t		mutex;			/* protects free, and the lease and
								 * next_free of the slots */
	int32		free;			/* first free slot, or -1 */
	int32		nslots;
} RemoteTable;

static NamePool *name_pool = NULL;
static RemoteTable *remote_table = NULL;
LeaseRemote *lockable_remote_slots = NULL;

/* Chunks in the name pool: one for every second lease */
int
lockable_name_pool_size(void)
{
	return Max(lockable_max_leases / 2, 16);
}

static Size
name_pool_bytes(void)
{
	return add_size(offsetof(NamePool, chunks),
					mul_size(lockable_name_pool_size(), sizeof(NameChunk)));
}

static Size
remote_table_bytes(void)
{
	return add_size(MAXALIGN(sizeof(RemoteTable)),
					mul_size(lockable_max_remote_leases, sizeof(LeaseRemote)));
}

/*
 * lockable_store_shmem_size
 *		Shared memory for the name pool and the remote side table.
 */
Size
lockable_store_shmem_size(void)
{
	return add_size(MAXALIGN(name_pool_bytes()), MAXALIGN(remote_table_bytes()));
}

/*
 * lockable_store_startup
 *		From shmem_startup_hook, under AddinShmemInitLock: create or attach.
 */
void
lockable_store_startup(void)
{
	bool		found;

	name_pool = ShmemInitStruct("lockable names", name_pool_bytes(), &found);
	if (!found)
	{
		SpinLockInit(&name_pool->mutex);
		name_pool->nchunks = lockable_name_pool_size();
		for (int i = 0; i < name_pool->nchunks; i++)
			name_pool->chunks[i].next = i + 1 < name_pool->nchunks ? i + 1 : -1;
		name_pool->free = 0;
		name_pool->nfree = name_pool->nchunks;
	}

	remote_table = ShmemInitStruct("lockable remote leases",
								   remote_table_bytes(), &found);
	lockable_remote_slots = (LeaseRemote *)
		((char *) remote_table + MAXALIGN(sizeof(RemoteTable)));
	if (!found)
	{
		SpinLockInit(&remote_table->mutex);
		remote_table->nslots = lockable_max_remote_leases;
		for (int i = 0; i < remote_table->nslots; i++)
		{
			lockable_remote_slots[i].lease = NULL;
			lockable_remote_slots[i].next_free =
				i + 1 < remote_table->nslots ? i + 1 : -1;
		}
		remote_table->free = 0;
	}
}

/*
 * lockable_entry_key_match
 *		dynahash's comparison: key1 is an entry's key, key2 always a
 *		LeaseKey (dynahash passes the key searched for second), or a
 *		LeaseKeySelf naming the entry itself.  Names match exactly, byte for
 *		byte; never by prefix or by hash.
 */
int
lockable_entry_key_match(const void *key1, const void *key2, Size keysize)
{
	const LeaseEntryKey *a = (const LeaseEntryKey *) key1;
	const LeaseKey *b = (const LeaseKey *) key2;
	int			off;

	if (unlikely(b->len >= LEASE_KEY_MEMBER))
	{
		uint64		token;

		if (b->len == LEASE_KEY_SELF)
			return (const void *) a == ((const LeaseKeySelf *) key2)->self ? 0 : 1;
		if (a->len != LEASE_KEY_MEMBER)
			return 1;
		memcpy(&token, a->head, sizeof(token));
		return token == ((const LeaseKeyMember *) key2)->token ? 0 : 1;
	}
	if (a->dbid != b->dbid || a->len != b->len)
		return 1;
	if (memcmp(a->head, b->name, Min(a->len, LOCKABLE_NAME_INLINE)) != 0)
		return 1;
	off = LOCKABLE_NAME_INLINE;
	for (int32 c = a->tail; off < a->len; c = name_pool->chunks[c].next)
	{
		int			n = Min(a->len - off, LOCKABLE_NAME_CHUNK);

		Assert(c >= 0 && c < name_pool->nchunks);
		if (memcmp(name_pool->chunks[c].bytes, b->name + off, n) != 0)
			return 1;
		off += n;
	}
	return 0;
}

/*
 * lockable_entry_key_copy
 *		dynahash's copy of a new entry's key from the LeaseKey searched for:
 *		the head of the name only.  The caller stored the rest already
 *		(lockable_name_store) and sets the tail before it releases the
 *		partition lock.
 */
void *
lockable_entry_key_copy(void *dest, const void *src, Size keysize)
{
	LeaseEntryKey *e = (LeaseEntryKey *) dest;
	const LeaseKey *k = (const LeaseKey *) src;

	e->dbid = k->dbid;
	e->len = k->len;
	e->tail = -1;
	if (unlikely(k->len == LEASE_KEY_MEMBER))
	{
		const LeaseKeyMember *m = (const LeaseKeyMember *) src;

		memcpy(e->head, &m->token, sizeof(m->token));
		memcpy(e->head + LEASE_KEY_MEMBER_GROUP, &m->group, sizeof(m->group));
		return dest;
	}
	memcpy(e->head, k->name, Min(k->len, LOCKABLE_NAME_INLINE));
	return dest;
}

/*
 * lockable_entry_key_get
 *		The whole key of an entry.  Under the entry's partition lock.
 */
void
lockable_entry_key_get(const LeaseEntryKey *e, LeaseKey *key)
{
	int			off = Min(e->len, LOCKABLE_NAME_INLINE);

	key->dbid = e->dbid;
	key->len = e->len;
	memcpy(key->name, e->head, off);
	for (int32 c = e->tail; off < e->len; c = name_pool->chunks[c].next)
	{
		int			n = Min(e->len - off, LOCKABLE_NAME_CHUNK);

		memcpy(key->name + off, name_pool->chunks[c].bytes, n);
		off += n;
	}
}

/* An entry's name, NUL-terminated, palloc'd */
char *
lockable_entry_name_dup(const LeaseEntryKey *e)
{
	LeaseKey	key;

	lockable_entry_key_get(e, &key);
	return pnstrdup(key.name, key.len);
}

/* Chunks of the name pool a name of len bytes takes */
int
lockable_name_chunks(int len)
{
	if (len <= LOCKABLE_NAME_INLINE)
		return 0;
	return (len - LOCKABLE_NAME_INLINE + LOCKABLE_NAME_CHUNK - 1) /
		LOCKABLE_NAME_CHUNK;
}

/*
 * lockable_name_store
 *		Store the part of key's name beyond the entry's head in the name
 *		pool; *tail is its first chunk (-1 if the name needs none).  False
 *		if the pool has too few free chunks; nothing is taken then.
 */
bool
lockable_name_store(const LeaseKey *key, int32 *tail)
{
	int			need = lockable_name_chunks(key->len);
	int32		first;
	int32		c;
	int			off;

	*tail = -1;
	if (need == 0)
		return true;
	SpinLockAcquire(&name_pool->mutex);
	if (name_pool->nfree < need)
	{
		SpinLockRelease(&name_pool->mutex);
		return false;
	}
	first = c = name_pool->free;
	for (int i = 1; i < need; i++)
		c = name_pool->chunks[c].next;
	name_pool->free = name_pool->chunks[c].next;
	name_pool->nfree -= need;
	SpinLockRelease(&name_pool->mutex);

	/* the chain is ours now */
	name_pool->chunks[c].next = -1;
	off = LOCKABLE_NAME_INLINE;
	for (c = first; c >= 0; c = name_pool->chunks[c].next)
	{
		int			n = Min(key->len - off, LOCKABLE_NAME_CHUNK);

		memcpy(name_pool->chunks[c].bytes, key->name + off, n);
		off += n;
	}
	*tail = first;
	return true;
}

/*
 * lockable_name_free
 *		Give a chain of chunks (an entry's tail, after the entry was
 *		removed) back to the pool.
 */
void
lockable_name_free_chain(int32 tail)
{
	int32		last = tail;
	int			n = 1;

	Assert(tail >= 0);
	while (name_pool->chunks[last].next >= 0)
	{
		last = name_pool->chunks[last].next;
		n++;
	}
	SpinLockAcquire(&name_pool->mutex);
	name_pool->chunks[last].next = name_pool->free;
	name_pool->free = tail;
	name_pool->nfree += n;
	SpinLockRelease(&name_pool->mutex);
}

/*
 * lockable_remote_slot_take
 *		A free slot of the remote side table for a new remote entry, or -1
 *		if every one is in use.
 */
int32
lockable_remote_slot_take(struct Lease *lease)
{
	int32		slot;

	SpinLockAcquire(&remote_table->mutex);
	slot = remote_table->free;
	if (slot >= 0)
	{
		remote_table->free = lockable_remote_slots[slot].next_free;
		lockable_remote_slots[slot].lease = lease;
	}
	SpinLockRelease(&remote_table->mutex);
	return slot;
}

/* Give a remote entry's slot back (after the entry was removed) */
void
lockable_remote_slot_free(int32 slot)
{
	Assert(slot >= 0);
	SpinLockAcquire(&remote_table->mutex);
	lockable_remote_slots[slot].lease = NULL;
	lockable_remote_slots[slot].next_free = remote_table->free;
	remote_table->free = slot;
	SpinLockRelease(&remote_table->mutex);
}
