--
-- Waits too long for the clock: a wait longer than the clock can count
-- waits as wait => NULL does.
--
CREATE EXTENSION IF NOT EXISTS lockable;

-- a wait that does not end fails the statement instead of hanging the test
SET statement_timeout = '5s';

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
  FROM lockable_leases WHERE name IN ('short-2', 'short-3');
