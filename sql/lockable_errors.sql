--
-- Bad input gets a clear error with a fitting SQLSTATE, never a silent
-- NULL; and nothing held is disturbed by it.
--
CREATE EXTENSION IF NOT EXISTS lockable;

-- report SQLSTATE and message of a statement that fails
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT lockable_acquire('held') AS held \gset

-- names
SELECT pg_temp.err($$SELECT lockable_acquire(NULL)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('')$$);
SELECT pg_temp.err($$SELECT lockable_acquire(repeat('x', 201))$$);
SELECT pg_temp.err($$SELECT lockable_acquire(repeat('é', 101))$$);
SELECT pg_temp.err($$SELECT lockable_heartbeat(NULL, 1)$$);
SELECT pg_temp.err($$SELECT lockable_release('', 1)$$);
SELECT pg_temp.err($$SELECT lockable_force_release(repeat('x', 201))$$);

-- tokens
SELECT pg_temp.err($$SELECT lockable_heartbeat('held', NULL)$$);
SELECT pg_temp.err($$SELECT lockable_release('held', NULL)$$);

-- ttl
SELECT pg_temp.err($$SELECT lockable_acquire('a', '0')$$);
SELECT pg_temp.err($$SELECT lockable_acquire('a', '-1 s')$$);
SELECT pg_temp.err($$SELECT lockable_acquire('a', '2 hours')$$);
SELECT pg_temp.err($$SELECT lockable_acquire('a', '170000000 years')$$);
SELECT pg_temp.err($$SELECT lockable_heartbeat('held', 1, '0')$$);
SELECT pg_temp.err($$SELECT lockable_heartbeat('held', 1, '1 day')$$);

-- wait and keepalive
SELECT pg_temp.err($$SELECT lockable_acquire('a', wait => '-1 s')$$);
SELECT pg_temp.err($$SELECT lockable_acquire('a', keepalive => NULL)$$);

-- lockable.max_ttl bounds every ttl, including the default
SET lockable.max_ttl = '10s';
SELECT pg_temp.err($$SELECT lockable_acquire('a', '11 s')$$);
SELECT lockable_acquire('a', '10 s') IS NOT NULL AS ten_seconds_ok;
SELECT pg_temp.err($$SELECT lockable_acquire('b')$$);
RESET lockable.max_ttl;

-- the messages carry details and hints
\set VERBOSITY default
SELECT lockable_acquire(repeat('x', 201));
SELECT lockable_acquire('a', '2 hours');
SELECT lockable_acquire('a', wait => '-1 s');

-- settings out of range, or not settable here
SELECT pg_temp.err($$SET lockable.default_ttl = 0$$);
SELECT pg_temp.err($$SET lockable.default_ttl = '-5s'$$);
SELECT pg_temp.err($$SET lockable.max_ttl = 0$$);
SELECT pg_temp.err($$SET lockable.max_hold = -1$$);
SELECT pg_temp.err($$SET lockable.worker_naptime = 100$$);
SELECT pg_temp.err($$SET lockable.max_leases = 10$$);
SELECT pg_temp.err($$SET lockable.no_such_setting = 1$$);
-- (ALTER SYSTEM cannot run inside a function)
ALTER SYSTEM SET lockable.worker_naptime = 1;
ALTER SYSTEM SET lockable.max_leases = 0;
ALTER SYSTEM SET lockable.max_hold = '-1s';

-- none of that disturbed the lease that was held
SELECT lockable_heartbeat('held', :held) AS still_held;

-- roles: only members of the owning role renew or release, token or not
CREATE ROLE lockable_alice;
CREATE ROLE lockable_bob;
CREATE ROLE lockable_carol IN ROLE lockable_alice;
SET ROLE lockable_alice;
SELECT lockable_acquire('alices') AS alices \gset
SELECT token IS NOT NULL AS owner_sees_token, owner FROM lockable_leases WHERE name = 'alices';
SET ROLE lockable_bob;
SELECT token IS NULL AS others_see_no_token, owner FROM lockable_leases WHERE name = 'alices';
SELECT pg_temp.err(format('SELECT lockable_heartbeat(%L, %s)', 'alices', :alices));
SELECT pg_temp.err(format('SELECT lockable_release(%L, %s)', 'alices', :alices));
SELECT lockable_release('alices', :alices + 1000) AS wrong_token_is_just_false;
SELECT pg_temp.err($$SELECT lockable_force_release('alices')$$);
SELECT pg_temp.err($$SELECT lockable_stats_reset()$$);
SET ROLE lockable_carol;
SELECT token IS NOT NULL AS member_sees_token FROM lockable_leases WHERE name = 'alices';
SELECT lockable_heartbeat('alices', :alices) AS member_renews;
SELECT lockable_release('alices', :alices) AS member_releases;
RESET ROLE;

DROP ROLE lockable_alice, lockable_bob, lockable_carol;
SELECT lockable_release('held', :held) AS released;
