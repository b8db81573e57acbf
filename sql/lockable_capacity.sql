--
-- Capacity: the lease table is a fixed-size shared hash.  However the
-- names fall across its partitions, it holds lockable.max_leases leases
-- and never takes shared memory beyond what it reserved at server start
-- (the slack that the lock manager relies on, which PostgreSQL shows as
-- <anonymous> in pg_shmem_allocations).
--
CREATE EXTENSION IF NOT EXISTS lockable;

SELECT size AS anon_before FROM pg_shmem_allocations WHERE name = '<anonymous>' \gset
-- (expired leases not yet swept count, and may be swept meanwhile)
SELECT max_leases - leases AS room FROM lockable_stats \gset

-- fill the table until it refuses
DO $$
DECLARE
    n int := 0;
BEGIN
    LOOP
        PERFORM lockable_acquire('cap-' || n, '5 min');
        n := n + 1;
    END LOOP;
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE 'full: %', SQLERRM;
END $$;

-- every slot could be used, and no shared memory was taken from the slack
SELECT count(*) >= :room AS every_slot_used
  FROM lockable_leases WHERE name LIKE 'cap-%';
SELECT size - :anon_before AS anonymous_growth
  FROM pg_shmem_allocations WHERE name = '<anonymous>';

SELECT count(lockable_force_release(name)) >= :room AS emptied
  FROM lockable_leases WHERE name LIKE 'cap-%';
