--
-- lockable_upgrade: versions 1.1 and 1.2 keep working with this library,
-- with their own signatures and view columns, until ALTER EXTENSION UPDATE.
-- The update to 1.2 adds the planner support function of lockable_acquire,
-- which drops trailing arguments equal to their defaults from a call
-- without changing what the call does.  The update to 1.3 (from 1.2, and
-- from 1.1 in one step) recreates lockable_acquire, lockable_acquire_any and
-- lockable_run with slots and shared: leases held across it stay held, the
-- privileges a user gave on the old functions carry over, and every call,
-- old and new, works afterwards.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS lockable;
RESET client_min_messages;
CREATE EXTENSION lockable VERSION '1.1';

-- The calls of 1.1 and 1.2, each with what it must do; one row per call.
CREATE FUNCTION pg_temp.old_forms() RETURNS TABLE (call text, ok boolean)
LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
    u bigint;
    a record;
BEGIN
    -- lockable_run's NOTICE names pids and times
    PERFORM set_config('client_min_messages', 'warning', true);
    call := 'lockable_acquire, 4 arguments';
    t := lockable_acquire('old-a', '1 min', '0', false);
    ok := t IS NOT NULL;
    RETURN NEXT;
    call := 'lockable_acquire, busy';
    ok := lockable_acquire('old-a', '1 min', '0', false) IS NULL;
    RETURN NEXT;
    call := 'lockable_acquire, named arguments';
    u := lockable_acquire(name => 'old-b', wait => '10 ms', keepalive => true);
    ok := u > t;
    RETURN NEXT;
    call := 'heartbeat, is_held, check';
    PERFORM lockable_check('old-a', t);
    ok := lockable_heartbeat('old-a', t, '2 min') AND lockable_is_held('old-a', t);
    RETURN NEXT;
    call := 'lockable_leases';
    ok := (SELECT count(*) = 2 AND bool_and(waiters = 0 AND NOT remote)
                  AND sum(renewals) = 1 AND bool_or(keepalive)
             FROM lockable_leases WHERE name IN ('old-a', 'old-b'));
    RETURN NEXT;
    call := 'release, force release';
    ok := lockable_release('old-a', t) AND NOT lockable_is_held('old-a', t)
          AND lockable_force_release('old-b') AND NOT lockable_is_held('old-b', u);
    RETURN NEXT;
    call := 'lockable_acquire_any, 4 arguments';
    SELECT * INTO a FROM lockable_acquire_any(ARRAY['old-c', 'old-d'], '1 min', '0', false);
    ok := a.name = 'old-c' AND a.token > u;
    RETURN NEXT;
    call := 'lockable_acquire_any, busy name skipped';
    SELECT * INTO a FROM lockable_acquire_any(ARRAY['old-c', 'old-d']);
    ok := a.name = 'old-d';
    RETURN NEXT;
    call := 'lockable_run, 3 arguments';
    ok := lockable_run('old-e', 'SELECT 1', '1 min')
          AND NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'old-e');
    RETURN NEXT;
    call := 'lockable_run, busy';
    ok := NOT lockable_run('old-c', 'SELECT 1');
    RETURN NEXT;
    PERFORM lockable_force_release('old-c'), lockable_force_release('old-d');
END $$;

-- The calls of 1.3, each with what it must do; one row per call.
CREATE FUNCTION pg_temp.new_forms() RETURNS TABLE (call text, ok boolean)
LANGUAGE plpgsql AS $$
DECLARE
    t1 bigint;
    t2 bigint;
    a record;
    b record;
BEGIN
    PERFORM set_config('client_min_messages', 'warning', true);
    call := 'lockable_acquire, slots';
    t1 := lockable_acquire('new-a', '1 min', slots => 2);
    t2 := lockable_acquire('new-a', '1 min', '0', false, 2, false);
    ok := t2 > t1 AND lockable_acquire('new-a', '1 min', slots => 2) IS NULL;
    RETURN NEXT;
    call := 'lockable_acquire, another slots';
    BEGIN
        PERFORM lockable_acquire('new-a', '1 min', slots => 3);
        ok := false;
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        ok := lockable_is_held('new-a', t1) AND lockable_is_held('new-a', t2);
    END;
    RETURN NEXT;
    call := 'lockable_leases, slots and shared';
    ok := (SELECT count(*) = 2 AND bool_and(slots = 2 AND NOT shared)
             FROM lockable_leases WHERE name = 'new-a');
    RETURN NEXT;
    call := 'force release, one holder';
    ok := lockable_force_release('new-a', t1) AND NOT lockable_is_held('new-a', t1)
          AND lockable_is_held('new-a', t2);
    RETURN NEXT;
    call := 'force release, all holders';
    ok := lockable_acquire('new-a', '1 min', slots => 2) > t2
          AND lockable_force_release('new-a')
          AND NOT EXISTS (SELECT FROM lockable_leases WHERE name = 'new-a');
    RETURN NEXT;
    call := 'lockable_acquire, shared';
    ok := lockable_acquire('new-b', '1 min', shared => true) IS NOT NULL
          AND lockable_acquire('new-b', '1 min', '0', false, 1, true) IS NOT NULL
          AND lockable_acquire('new-b', '1 min') IS NULL
          AND (SELECT count(*) = 2 AND bool_and(shared) FROM lockable_leases
                WHERE name = 'new-b');
    RETURN NEXT;
    call := 'lockable_acquire_any, slots and shared';
    SELECT * INTO a FROM lockable_acquire_any(ARRAY['new-c'], '1 min', '0', false, 2, false);
    SELECT * INTO b FROM lockable_acquire_any(ARRAY['new-c'], '1 min', slots => 2);
    ok := a.name = 'new-c' AND b.name = 'new-c' AND b.token > a.token
          AND (SELECT name FROM lockable_acquire_any(ARRAY['new-b'], shared => true)) = 'new-b';
    RETURN NEXT;
    call := 'lockable_run, slots';
    ok := lockable_run('new-c', 'SELECT 1', slots => 2) = false
          AND lockable_force_release('new-c', a.token)
          AND lockable_run('new-c', 'SELECT 1', '1 min', 2);
    RETURN NEXT;
    call := 'lockable_acquire, 4 arguments';
    t1 := lockable_acquire('new-d', '1 min', '0', false);
    ok := t1 IS NOT NULL AND lockable_acquire('new-d', '1 min', '0', false) IS NULL
          AND lockable_release('new-d', t1);
    RETURN NEXT;
    call := 'lockable_acquire_any, 4 arguments';
    SELECT * INTO a FROM lockable_acquire_any(ARRAY['new-d'], '1 min', '0', false);
    ok := a.name = 'new-d' AND lockable_release('new-d', a.token);
    RETURN NEXT;
    call := 'lockable_run, 3 arguments';
    ok := lockable_run('new-d', 'SELECT 1', '1 min');
    RETURN NEXT;
    PERFORM lockable_force_release(name) FROM lockable_leases WHERE name LIKE 'new-%';
END $$;

-- Leases held across an update: a plain one, a keepalive one, one from
-- lockable_acquire_any
CREATE TEMP TABLE held (name text, tok bigint);
CREATE FUNCTION pg_temp.hold_leases() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE held;
    INSERT INTO held SELECT 'held-plain', lockable_acquire('held-plain', '5 min');
    INSERT INTO held SELECT 'held-kept', lockable_acquire('held-kept', '5 min', keepalive => true);
    INSERT INTO held SELECT a.name, a.token FROM lockable_acquire_any(ARRAY['held-any'], '5 min') a;
    RETURN (SELECT count(tok) FROM held);
END $$;
-- (plpgsql: lockable_leases has no slots column until 1.3)
CREATE FUNCTION pg_temp.held_leases()
RETURNS TABLE (name text, held boolean, slots integer, shared boolean, keepalive boolean)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT h.name, lockable_is_held(h.name, h.tok), l.slots, l.shared, l.keepalive
      FROM held h JOIN lockable_leases l ON l.token = h.tok ORDER BY h.name;
END $$;
CREATE FUNCTION pg_temp.view_columns() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pg_attribute
     WHERE attrelid = 'lockable_leases'::regclass AND attnum > 0
$$;

-- The privileges a user set on the functions of the old version: only
-- lockable_upgrade_jobs may take leases and run commands.
CREATE ROLE lockable_upgrade_jobs;
CREATE ROLE lockable_upgrade_other;
CREATE FUNCTION pg_temp.restrict_to_jobs() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    REVOKE EXECUTE ON FUNCTION lockable_acquire(text, interval, interval, boolean) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION lockable_acquire(text, interval, interval, boolean)
      TO lockable_upgrade_jobs;
    REVOKE EXECUTE ON FUNCTION lockable_acquire_any(text[], interval, interval, boolean) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION lockable_acquire_any(text[], interval, interval, boolean)
      TO lockable_upgrade_jobs;
    REVOKE EXECUTE ON FUNCTION lockable_run(text, text, interval) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION lockable_run(text, text, interval)
      TO lockable_upgrade_jobs WITH GRANT OPTION;
    REVOKE SELECT ON lockable_leases FROM PUBLIC;
    GRANT SELECT ON lockable_leases TO lockable_upgrade_jobs;
END $$;
-- who may run what, as the catalog says
CREATE FUNCTION pg_temp.privileges()
RETURNS TABLE (function regprocedure, public_may boolean, jobs_may boolean,
               jobs_may_grant boolean)
LANGUAGE sql AS $$
    SELECT p.oid::regprocedure,
           has_function_privilege('public', p.oid, 'EXECUTE'),
           has_function_privilege('lockable_upgrade_jobs', p.oid, 'EXECUTE'),
           has_function_privilege('lockable_upgrade_jobs', p.oid, 'EXECUTE WITH GRANT OPTION')
      FROM pg_proc p
     WHERE p.proname IN ('lockable_acquire', 'lockable_acquire_any', 'lockable_run',
                         'lockable_force_release', 'lockable_release')
     ORDER BY p.proname, p.pronargs
$$;
-- and what pg_dump takes for the extension's own privileges: those of
-- its scripts (PUBLIC reads the view), never the database's GRANTs
CREATE FUNCTION pg_temp.init_privileges()
RETURNS TABLE (jobs_in_initial_privileges boolean,
               public_reads_view_initially boolean)
LANGUAGE sql AS $$
    SELECT EXISTS (SELECT FROM pg_init_privs i, aclexplode(i.initprivs) a
                    WHERE a.grantee = 'lockable_upgrade_jobs'::regrole),
           EXISTS (SELECT FROM pg_init_privs i, aclexplode(i.initprivs) a
                    WHERE i.objoid = 'lockable_leases'::regclass
                      AND i.classoid = 'pg_class'::regclass
                      AND a.grantee = 0 AND a.privilege_type = 'SELECT')
$$;
-- and on the view, which the update to 1.3 recreates too
CREATE FUNCTION pg_temp.view_privileges()
RETURNS TABLE (public_may_read boolean, jobs_may_read boolean)
LANGUAGE sql AS $$
    SELECT has_table_privilege('public', 'lockable_leases', 'SELECT'),
           has_table_privilege('lockable_upgrade_jobs', 'lockable_leases', 'SELECT')
$$;
-- and as the roles find out
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.calls_as(r text)
RETURNS TABLE (call text, result text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    call := 'lockable_acquire';
    result := pg_temp.err($q$SELECT lockable_release('acl', lockable_acquire('acl', slots => 2))$q$);
    RETURN NEXT;
    call := 'lockable_acquire_any';
    result := pg_temp.err($q$SELECT lockable_release(name, token) FROM lockable_acquire_any(ARRAY['acl'], shared => true)$q$);
    RETURN NEXT;
    call := 'lockable_run';
    result := pg_temp.err($q$SELECT lockable_run('acl', 'SELECT 1', slots => 2)$q$);
    RETURN NEXT;
    RESET ROLE;
END $$;

SELECT lockable_acquire('upgrade-a') IS NOT NULL AS granted_on_1_1;
SELECT lockable_acquire('upgrade-b', ttl => '1 min', keepalive => true) IS NOT NULL
    AS named_on_1_1;
SELECT name, keepalive, ttl FROM lockable_leases
 WHERE name LIKE 'upgrade-%' ORDER BY name;
SELECT prosupport FROM pg_proc WHERE proname = 'lockable_acquire';
-- every call of 1.1 works with this library
SELECT * FROM pg_temp.old_forms();

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

--
-- 1.2 -> 1.3
--
SELECT pg_temp.restrict_to_jobs();
SELECT * FROM pg_temp.privileges();
SELECT * FROM pg_temp.view_privileges();
-- every call of 1.2 works with this library, with the columns of 1.2
SELECT * FROM pg_temp.old_forms();
SELECT pg_temp.view_columns();
-- leases held across the update
SELECT pg_temp.hold_leases();

ALTER EXTENSION lockable UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
-- the leases are still held, as plain leases, and end with their tokens
SELECT * FROM pg_temp.held_leases();
SELECT count(*) FILTER (WHERE lockable_release(name, tok)) AS released FROM held;
-- the privileges carried over to the new functions, and to the view
SELECT * FROM pg_temp.privileges();
SELECT * FROM pg_temp.view_privileges();
SELECT * FROM pg_temp.init_privileges();
SELECT * FROM pg_temp.calls_as('lockable_upgrade_jobs');
SELECT * FROM pg_temp.calls_as('lockable_upgrade_other');
-- every call works, old and new
SELECT * FROM pg_temp.new_forms();
SELECT pg_temp.view_columns();
-- the support function still shortens the calls, slots and shared included
SELECT prosupport FROM pg_proc WHERE proname = 'lockable_acquire';
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x', NULL, '0', false, 1, false);
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x', slots => 2);
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x', shared => true);
EXPLAIN (VERBOSE, COSTS OFF) SELECT lockable_acquire('x', slots => NULL);

--
-- 1.1 -> 1.3, in one ALTER EXTENSION
--
DROP EXTENSION lockable;
CREATE EXTENSION lockable VERSION '1.1';
SELECT pg_temp.restrict_to_jobs();
SELECT pg_temp.hold_leases();

ALTER EXTENSION lockable UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
SELECT * FROM pg_temp.held_leases();
SELECT count(*) FILTER (WHERE lockable_release(name, tok)) AS released FROM held;
SELECT * FROM pg_temp.privileges();
SELECT * FROM pg_temp.view_privileges();
SELECT * FROM pg_temp.init_privileges();
SELECT * FROM pg_temp.calls_as('lockable_upgrade_jobs');
SELECT * FROM pg_temp.calls_as('lockable_upgrade_other');
SELECT * FROM pg_temp.new_forms();
SELECT pg_temp.view_columns();
SELECT prosupport FROM pg_proc WHERE proname = 'lockable_acquire';

DROP OWNED BY lockable_upgrade_jobs, lockable_upgrade_other;
DROP ROLE lockable_upgrade_jobs, lockable_upgrade_other;
SELECT count(*) AS left_over FROM lockable_leases;
