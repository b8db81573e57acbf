--
-- lockable_upgrade: version 1.1 keeps working with this library, and the
-- update to 1.2 adds the planner support function of lockable_acquire,
-- which drops trailing arguments equal to their defaults from a call
-- without changing what the call does.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS lockable;
RESET client_min_messages;
CREATE EXTENSION lockable VERSION '1.1';
SELECT lockable_acquire('upgrade-a') IS NOT NULL AS granted_on_1_1;
SELECT lockable_acquire('upgrade-b', ttl => '1 min', keepalive => true) IS NOT NULL
    AS named_on_1_1;
SELECT name, keepalive, ttl FROM lockable_leases
 WHERE name LIKE 'upgrade-%' ORDER BY name;
SELECT prosupport FROM pg_proc WHERE proname = 'lockable_acquire';

ALTER EXTENSION lockable UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
SELECT prosupport FROM pg_proc WHERE proname = 'lockable_acquire';
-- the leases taken on 1.1 are still held, and released with their tokens
SELECT lockable_is_held(name, token) AS still_held FROM lockable_leases
 WHERE name LIKE 'upgrade-%' ORDER BY name;
SELECT lockable_force_release('upgrade-a'), lockable_force_release('upgrade-b');

-- every form of the call still resolves and behaves as before
SELECT lockable_acquire('upgrade-c') AS tok \gset
SELECT lockable_acquire('upgrade-c') IS NULL AS busy;
SELECT lockable_release('upgrade-c', :tok);
SELECT lockable_acquire('upgrade-d', '1 min') IS NOT NULL AS positional_ttl;
SELECT lockable_acquire('upgrade-e', ttl => '2 min', keepalive => true) IS NOT NULL
    AS named;
SELECT lockable_acquire('upgrade-f', keepalive => true) IS NOT NULL AS named_skipping;
SELECT lockable_acquire(name => 'upgrade-g', wait => '10 ms') IS NOT NULL AS named_wait;
SELECT lockable_acquire('upgrade-h', NULL, '0', false) IS NOT NULL AS all_defaults;
SELECT name, keepalive, ttl FROM lockable_leases
 WHERE name LIKE 'upgrade-%' ORDER BY name;
SELECT count(lockable_force_release(name)) FROM lockable_leases
 WHERE name LIKE 'upgrade-%';

-- the plan keeps only the arguments that differ from their defaults
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x');
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x', NULL, '0', false);
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x', '1 min');
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x', keepalive => true);
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x', wait => NULL);

-- a prepared statement runs the shortened call on every execution
PREPARE acq(text) AS SELECT lockable_acquire($1) IS NOT NULL AS granted;
EXECUTE acq('upgrade-p1');
EXECUTE acq('upgrade-p2');
EXECUTE acq('upgrade-p3');
EXECUTE acq('upgrade-p4');
EXECUTE acq('upgrade-p5');
EXECUTE acq('upgrade-p6');
EXECUTE acq('upgrade-p7');
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE acq('upgrade-p8');
SELECT count(*) FROM lockable_leases WHERE name LIKE 'upgrade-p%';
DEALLOCATE acq;
SELECT count(lockable_force_release(name)) FROM lockable_leases
 WHERE name LIKE 'upgrade-%';

-- bad arguments are still refused, shortened or not
SELECT lockable_acquire(NULL);
SELECT lockable_acquire('upgrade-z', keepalive => NULL);
SELECT lockable_acquire('upgrade-z', '-1 s');

-- EXECUTE is still checked on lockable_acquire itself
CREATE ROLE lockable_upgrade_user;
REVOKE EXECUTE ON FUNCTION lockable_acquire(text, interval, interval, boolean)
  FROM PUBLIC;
SET ROLE lockable_upgrade_user;
SELECT lockable_acquire('upgrade-denied');
RESET ROLE;
GRANT EXECUTE ON FUNCTION lockable_acquire(text, interval, interval, boolean)
  TO PUBLIC;
DROP ROLE lockable_upgrade_user;
