/*-------------------------------------------------------------------------
 *
 * lease_store.h
 *	  What a lease entry keeps outside itself (lease_store.c): the rest of
 *	  a long name, in the name pool, and a remote entry's remote fields, in
 *	  the remote side table (protocol rule 12 in shared.h).
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_LEASE_STORE_H
#define LOCKABLE_LEASE_STORE_H

#include "shared.h"

/* What a lease is looked up by: its database and its whole name */
typedef struct LeaseKey
{
	Oid			dbid;
	uint16		len;
	char		name[LOCKABLE_NAME_MAXLEN];
} LeaseKey;

/*
 * How an entry keeps its name: the first LOCKABLE_NAME_INLINE bytes in the
 * entry, the rest in a chain of chunks of LOCKABLE_NAME_CHUNK bytes of the
 * name pool.  Most names fit in the entry; a name of LOCKABLE_NAME_MAXLEN
 * bytes takes three chunks.
 */
#define LOCKABLE_NAME_INLINE	46
#define LOCKABLE_NAME_CHUNK		60

/*
 * A stand-in for a LeaseKey that means one entry itself (len is
 * LEASE_KEY_SELF): lockable_entry_key_match compares it by address, so an
 * entry is removed without its name being put together again.
 */
#define LEASE_KEY_SELF	0xFFFF

typedef struct LeaseKeySelf
{
	Oid			dbid;			/* unused */
	uint16		len;			/* LEASE_KEY_SELF */
	const void *self;			/* the entry's LeaseEntryKey */
} LeaseKeySelf;

/*
 * A member entry (one holder of a counting or shared lease) is keyed by its
 * token: len is LEASE_KEY_MEMBER, and the head holds the token and, after
 * it, a pointer to the group entry of the name (not compared).  A member's
 * hash code falls in its group's partition, so both are under one
 * partition lock (lease_table.c, member_hash).
 */
#define LEASE_KEY_MEMBER		0xFFFE
#define LEASE_KEY_MEMBER_GROUP	8	/* offset of the group in the head */

typedef struct LeaseKeyMember
{
	Oid			dbid;			/* the group's */
	uint16		len;			/* LEASE_KEY_MEMBER */
	uint64		token;
	const void *group;			/* the group's Lease */
} LeaseKeyMember;

/* The hash key in an entry; looked up with a LeaseKey */
typedef struct LeaseEntryKey
{
	Oid			dbid;
	uint16		len;
	char		head[LOCKABLE_NAME_INLINE];
	int32		tail;			/* first chunk of the rest of the name, or -1 */
} LeaseEntryKey;

struct Lease;

/* What only a remote entry needs (protocol rule 11) */
typedef struct LeaseRemote
{
	struct Lease *lease;		/* the entry; NULL while the slot is free */
	dlist_node	node;			/* in the partition's remote list */
	LockableTime confirmed;		/* sent time of the last acquire or
								 * heartbeat the service said true to */
	LockableTime next;			/* next heartbeat (or release) due */
	LockableTime busy_until;	/* a request is in flight until then */
	Oid			db;				/* database of the acquirer */
	int			failures;		/* heartbeat requests failed in a row */
	uint16		prefix_len;		/* leading bytes of the name that are the
								 * lockable.remote_prefix */
	int32		next_free;		/* next free slot, while free */
} LeaseRemote;

extern PGDLLIMPORT LeaseRemote *lockable_remote_slots;

extern Size lockable_store_shmem_size(void);
extern void lockable_store_startup(void);

extern int	lockable_entry_key_match(const void *key1, const void *key2,
									 Size keysize);
extern void *lockable_entry_key_copy(void *dest, const void *src,
									 Size keysize);
extern void lockable_entry_key_get(const LeaseEntryKey *e, LeaseKey *key);
extern char *lockable_entry_name_dup(const LeaseEntryKey *e);

extern int	lockable_name_chunks(int len);
extern int	lockable_name_pool_size(void);
extern bool lockable_name_store(const LeaseKey *key, int32 *tail);
extern void lockable_name_free_chain(int32 tail);

extern int32 lockable_remote_slot_take(struct Lease *lease);
extern void lockable_remote_slot_free(int32 slot);

/* Give the chunks of a removed entry's name back; most names have none */
static inline void
lockable_name_free(int32 tail)
{
	if (tail >= 0)
		lockable_name_free_chain(tail);
}

/* Give a removed remote entry's slot back; -1 (a local entry): nothing */
static inline void
lockable_remote_slot_give(int32 slot)
{
	if (slot >= 0)
		lockable_remote_slot_free(slot);
}

#endif							/* LOCKABLE_LEASE_STORE_H */
