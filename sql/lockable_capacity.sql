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

--
-- Long names: the first 46 bytes of a name are kept in its entry, the rest
-- in a pool of lockable.max_leases / 2 chunks of 60 bytes.  A name of 200
-- bytes takes three chunks.  Names still compare exactly, to the last byte.
--
SELECT repeat('n', 199) || 'a' AS long_a, repeat('n', 199) || 'b' AS long_b,
       repeat('n', 47) AS long_47, repeat('n', 46) AS short_46 \gset
SELECT lockable_acquire(:'long_a', '5 min') AS tok_a \gset
SELECT lockable_acquire(:'long_b', '5 min') IS NOT NULL AS last_byte_differs;
SELECT lockable_acquire(:'long_a', '5 min') IS NULL AS same_name_busy;
SELECT lockable_acquire(:'long_47', '5 min') IS NOT NULL AS longer_by_one_differs;
SELECT lockable_acquire(:'short_46', '5 min') IS NOT NULL AS inline_only;
SELECT name = :'long_a' AS whole_name_shown, length(name) FROM lockable_leases
 WHERE token = :tok_a;
SELECT lockable_is_held(:'long_a', :tok_a) AS held,
       lockable_heartbeat(:'long_a', :tok_a) AS heartbeat;
SELECT lockable_release(:'long_a', :tok_a) AS released;
SELECT lockable_acquire(:'long_a', '5 min') IS NOT NULL AS free_again;
SELECT count(lockable_force_release(name)) AS emptied
  FROM lockable_leases WHERE name LIKE 'nnn%';

-- fill the pool with 200-byte names until it refuses
CREATE TEMP TABLE long_held (name text, token bigint);
DO $$
DECLARE
    n int := 0;
    t bigint;
BEGIN
    LOOP
        BEGIN
            t := lockable_acquire(lpad(n::text, 200, 'x'), '5 min');
        EXCEPTION WHEN program_limit_exceeded THEN
            RAISE NOTICE 'full: %', SQLERRM;
            EXIT;
        END;
        INSERT INTO long_held VALUES (lpad(n::text, 200, 'x'), t);
        n := n + 1;
    END LOOP;
END $$;
-- the table had room; what is held was not disturbed
SELECT count(*) > 0 AS some_held, count(*) < 500 AS fewer_than_the_table_would_hold,
       bool_and(lockable_is_held(name, token)) AS all_still_held
  FROM long_held;
-- short names do not need the pool
SELECT lockable_acquire('short-while-pool-full', '5 min') IS NOT NULL AS short_name_ok;
-- releasing one long name gives its chunks back
SELECT lockable_release(name, token) AS released_one
  FROM long_held ORDER BY name LIMIT 1;
SELECT lockable_acquire(repeat('z', 200), '5 min') IS NOT NULL AS long_name_ok_again;
SELECT count(lockable_force_release(name)) > 0 AS emptied
  FROM lockable_leases WHERE name LIKE 'xxx%' OR name LIKE 'zzz%' OR name = 'short-while-pool-full';
