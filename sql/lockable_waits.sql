--
-- Waits that could never end, and waits too long for the clock.
--
-- A keepalive lease lives as long as its session, so a session that waits
-- for a lease it holds itself with keepalive would wait for itself (until
-- lockable.max_hold, a day by default): that is a deadlock, reported at
-- once with 40P01.  A plain lease held by the same backend is not: it ends
-- by its ttl, and behind a pooler it may be another client's.
--
-- A wait longer than the clock can count waits as wait => NULL does.
--
CREATE EXTENSION IF NOT EXISTS lockable;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- a wait that does not end fails the statement instead of hanging the test
SET statement_timeout = '5s';

-- a keepalive lease of this session
SELECT lockable_acquire('mine', '1 min', keepalive => true) AS mine \gset

-- trying once is refused, as for any lease that is held
SELECT lockable_acquire('mine') IS NULL AS refused;
-- waiting for it cannot end while this session waits: 40P01 at once
SELECT pg_temp.err($$SELECT lockable_acquire('mine', wait => NULL)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('mine', wait => '1 hour', keepalive => true)$$);
-- the lease is untouched, and nobody is left queued
SELECT token = :mine AS still_mine, waiters FROM lockable_leases WHERE name = 'mine';

-- lockable_acquire_any: every name of the pool is this session's own
SELECT lockable_acquire('mine-2', '1 min', keepalive => true) IS NOT NULL AS mine_2;
SELECT pg_temp.err($$SELECT * FROM lockable_acquire_any(ARRAY['mine', 'mine-2', 'mine'], wait => NULL)$$);
SELECT name IS NULL AS refused FROM lockable_acquire_any(ARRAY['mine', 'mine-2']);
-- a free name in the pool is granted as usual
SELECT name FROM lockable_acquire_any(ARRAY['mine', 'mine-2', 'pool-free'], wait => NULL);
-- a name held by a plain lease can come free: waiting for the pool is fine
SELECT lockable_acquire('plain', '1 min') IS NOT NULL AS plain;
SELECT name IS NULL AS refused
  FROM lockable_acquire_any(ARRAY['mine', 'plain'], wait => '100 ms');

-- the messages say why, and what to do
\set VERBOSITY default
SELECT lockable_acquire('mine', wait => NULL);
SELECT * FROM lockable_acquire_any(ARRAY['mine', 'mine-2'], wait => '1 s');
\set VERBOSITY terse

-- a plain lease held by this same backend is waited for: it ends by its ttl
SELECT lockable_acquire('short', '300 ms') AS short \gset
SELECT lockable_acquire('short', wait => NULL) > :short AS got_it_after_its_ttl;

-- a wait longer than the clock can count (now + wait overflows) waits, here
-- until the 300 ms lease expires, instead of giving up at once
SELECT lockable_acquire('short-2', '300 ms') AS short_2 \gset
SELECT lockable_acquire('short-2', wait => '2562047788 hours') > :short_2
       AS waited_past_the_clock;
SELECT lockable_acquire('short-3', '300 ms') IS NOT NULL AS short_3;
SELECT name AS waited_past_the_clock
  FROM lockable_acquire_any(ARRAY['short-3'], wait => '2562047788 hours');

RESET statement_timeout;
SELECT count(lockable_force_release(name)) AS released
  FROM lockable_leases
 WHERE name IN ('mine', 'mine-2', 'pool-free', 'plain', 'short', 'short-2', 'short-3');
