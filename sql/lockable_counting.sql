--
-- Counting leases (slots => N: up to N holders of a name at once) and
-- shared leases (shared => true: reader/writer), as one session sees them.
-- What needs several sessions (queues, fairness, wake-ups, timeouts) is in
-- the isolation specs counting, shared and counting_timeouts.
--
-- Tokens and times are never printed: comparisons and booleans are.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS lockable;
RESET client_min_messages;
CREATE EXTENSION lockable;
SELECT extversion FROM pg_extension WHERE extname = 'lockable';

-- report SQLSTATE and message of a statement that fails
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the same, with the token numbers in the message hidden
CREATE FUNCTION pg_temp.err_no_tokens(q text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(pg_temp.err(q), 'token \d+', 'token N', 'g')
$$;

-- poll until lockable_stats.leases (entries in use, server-wide) is n;
-- false after 30 s.  Expired leases keep their entry until the worker
-- sweeps them.
CREATE FUNCTION pg_temp.await_entries(n bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 3000 LOOP
        IF (SELECT leases FROM lockable_stats) = n THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN false;
END $$;

-- the leases earlier tests left behind would expire while this one runs:
-- end them, so that every entry counted below is one of this test's
SELECT count(lockable_force_release(name)) >= 0 AS cleared FROM lockable_leases;
SELECT pg_temp.await_entries(0) AS table_empty;

-- the SQL surface
SELECT p.oid::regprocedure AS function, pg_get_function_arguments(p.oid) AS arguments
  FROM pg_proc p
 WHERE p.proname IN ('lockable_acquire', 'lockable_acquire_any',
                     'lockable_force_release', 'lockable_run')
 ORDER BY p.proname, p.pronargs;
SELECT has_function_privilege('public', 'lockable_force_release(text)', 'EXECUTE')
         AS public_may_force_all,
       has_function_privilege('public', 'lockable_force_release(text, bigint)', 'EXECUTE')
         AS public_may_force_one;
-- the two new columns of lockable_leases come last
SELECT attname, atttypid::regtype FROM pg_attribute
 WHERE attrelid = 'lockable_leases'::regclass AND attnum > 0
 ORDER BY attnum DESC LIMIT 2;

SELECT lockable_stats_reset();

--
-- slots => 3: three holders, each with its own token, in increasing order
--
SELECT lockable_acquire('count', '1 min', slots => 3) AS c1 \gset
SELECT lockable_acquire('count', '1 min', slots => 3) AS c2 \gset
SELECT lockable_acquire('count', '1 min', slots => 3) AS c3 \gset
SELECT :c1 < :c2 AND :c2 < :c3 AS tokens_increase;
-- the fourth is refused: NULL at once, and NULL after a wait
SELECT lockable_acquire('count', '1 min', slots => 3) IS NULL AS refused;
SELECT lockable_acquire('count', '1 min', '100 ms', slots => 3) IS NULL AS refused_after_wait;
-- one row per holder, with the name's slots, the mode and the queue
SELECT array_position(ARRAY[:c1, :c2, :c3], token) AS holder, slots, shared,
       waiters, keepalive, ttl, pid = pg_backend_pid() AS mine
  FROM lockable_leases WHERE name = 'count' ORDER BY token;
-- three holders take four entries: one each, and one for the name
SELECT leases FROM lockable_stats;

-- heartbeat, is_held and check work per holder, by token
SELECT lockable_heartbeat('count', :c2, '2 min') AS c2_renewed;
SELECT array_position(ARRAY[:c1, :c2, :c3], token) AS holder, ttl, renewals
  FROM lockable_leases WHERE name = 'count' ORDER BY token;
SELECT lockable_is_held('count', :c1) AS c1_held, lockable_is_held('count', :c2) AS c2_held,
       lockable_is_held('count', :c3) AS c3_held;
SELECT pg_temp.err(format('SELECT lockable_check(%L, %s)', 'count', :c3)) AS c3_check;

-- releasing one holder leaves the others held
SELECT lockable_release('count', :c2) AS c2_released;
SELECT lockable_release('count', :c2) AS c2_released_again;
SELECT lockable_is_held('count', :c1) AS c1_held, lockable_is_held('count', :c2) AS c2_held,
       lockable_is_held('count', :c3) AS c3_held;
SELECT lockable_heartbeat('count', :c2) AS c2_heartbeat;
SELECT pg_temp.err_no_tokens(format('SELECT lockable_check(%L, %s)', 'count', :c2)) AS c2_check;
SELECT pg_temp.err(format('SELECT lockable_check(%L, %s)', 'count', :c1)) AS c1_check;
SELECT count(*) AS holders, leases FROM lockable_leases, lockable_stats
 WHERE name = 'count' GROUP BY leases;
-- the free slot is granted again, with a token greater than any before
SELECT lockable_acquire('count', '1 min', slots => 3) AS c4 \gset
SELECT :c4 > :c3 AS tokens_increase;
SELECT lockable_acquire('count', '1 min', slots => 3) IS NULL AS full_again;

--
-- The first holder's slots hold while the name is held: another slots is
-- refused with 55000, naming both numbers, and disturbs nothing
--
SELECT pg_temp.err($$SELECT lockable_acquire('count', '1 min', slots => 5)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('count', '1 min', slots => 2)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('count')$$);
-- even one that would wait: refused at once, without queuing
SELECT pg_temp.err($$SELECT lockable_acquire('count', '1 min', '10 s', slots => 5)$$);
-- a plain lease is held with slots = 1
SELECT lockable_acquire('plain', '1 min') AS p1 \gset
SELECT pg_temp.err($$SELECT lockable_acquire('plain', '1 min', slots => 3)$$);
-- an explicit slots => 1 is the plain lease
SELECT lockable_acquire('plain', '1 min', slots => 1) IS NULL AS plain_is_slots_1;
\set VERBOSITY default
SELECT lockable_acquire('count', '1 min', slots => 5);
\set VERBOSITY terse
SELECT count(*) AS holders, bool_and(lockable_is_held(name, token)) AS all_held,
       max(waiters) AS waiters, min(slots) AS slots
  FROM lockable_leases WHERE name = 'count';
SELECT lockable_is_held('plain', :p1) AS plain_held;

-- once every holder has left, the next holder fixes the slots anew
SELECT lockable_release('count', :c1) AND lockable_release('count', :c3)
       AND lockable_release('count', :c4) AS all_released;
SELECT count(*) AS left_over FROM lockable_leases WHERE name = 'count';
SELECT lockable_acquire('count', '1 min', slots => 5) AS c5 \gset
SELECT :c5 > :c4 AS tokens_increase;
SELECT slots FROM lockable_leases WHERE name = 'count';
SELECT lockable_release('count', :c5) AS released;

--
-- bad slots and shared: 22004 and 22023, nothing taken, nothing disturbed
--
SELECT pg_temp.err($$SELECT lockable_acquire('bad', slots => NULL)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('bad', slots => 0)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('bad', slots => -1)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('bad', slots => 10001)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('bad', slots => 2147483647)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('bad', shared => NULL)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('bad', shared => NULL, slots => 3)$$);
-- on a name that is held, bad input is still bad input, not a mismatch
SELECT pg_temp.err($$SELECT lockable_acquire('plain', slots => 0)$$);
SELECT count(*) AS bad_taken FROM lockable_leases WHERE name = 'bad';
SELECT lockable_is_held('plain', :p1) AS plain_held;
-- the limits themselves are accepted
SELECT lockable_acquire('slots-max', '1 min', slots => 10000) AS m \gset
SELECT slots, shared FROM lockable_leases WHERE name = 'slots-max';
SELECT lockable_release('slots-max', :m) AS released;

--
-- shared => true: shared holders coexist; with slots 1 (the default) there
-- is no limit on them
--
CREATE TEMP TABLE readers (n int PRIMARY KEY, tok bigint);
INSERT INTO readers
SELECT n, lockable_acquire('rw', '1 min', shared => true) FROM generate_series(1, 50) n;
SELECT count(tok) AS granted, count(DISTINCT tok) AS distinct_tokens,
       bool_and(tok > prev) AS tokens_increase
  FROM (SELECT tok, lag(tok, 1, 0::bigint) OVER (ORDER BY n) AS prev FROM readers) r;
SELECT count(*) AS rows, bool_and(shared) AS shared, min(slots) AS slots, max(waiters) AS waiters
  FROM lockable_leases WHERE name = 'rw';
-- fifty shared holders take 51 entries (and plain one)
SELECT leases FROM lockable_stats;
-- a non-shared acquire is refused while any shared holder holds, waiting or not
SELECT lockable_acquire('rw', '1 min') IS NULL AS writer_refused;
SELECT lockable_acquire('rw', '1 min', '100 ms') IS NULL AS writer_refused_after_wait;
SELECT lockable_acquire('rw', '1 min', slots => 1, shared => false) IS NULL AS writer_refused;
-- shared holders heartbeat and release by token like any holder
SELECT lockable_heartbeat('rw', tok) AS renewed FROM readers WHERE n = 7;
SELECT count(*) FILTER (WHERE renewals = 1) AS renewed FROM lockable_leases WHERE name = 'rw';
-- the readers leave, all but one: the writer is still refused
SELECT count(*) FILTER (WHERE lockable_release('rw', tok)) AS released
  FROM readers WHERE n > 1;
SELECT lockable_acquire('rw', '1 min') IS NULL AS writer_refused;
-- the last one leaves: the writer gets it, and now readers are refused
SELECT lockable_release('rw', tok) AS released FROM readers WHERE n = 1;
SELECT lockable_acquire('rw', '1 min') AS w \gset
SELECT :w > max(tok) AS tokens_increase FROM readers;
SELECT lockable_acquire('rw', '1 min', shared => true) IS NULL AS reader_refused;
SELECT lockable_acquire('rw', '1 min', '100 ms', shared => true) IS NULL AS reader_refused_after_wait;
SELECT shared, slots FROM lockable_leases WHERE name = 'rw';
SELECT lockable_release('rw', :w) AS released;

-- shared with slots => 2: at most two shared holders
SELECT lockable_acquire('rs', '1 min', slots => 2, shared => true) AS r1 \gset
SELECT lockable_acquire('rs', '1 min', slots => 2, shared => true) AS r2 \gset
SELECT :r1 < :r2 AS tokens_increase;
SELECT lockable_acquire('rs', '1 min', slots => 2, shared => true) IS NULL AS third_refused;
SELECT lockable_acquire('rs', '1 min', slots => 2) IS NULL AS non_shared_refused;
SELECT pg_temp.err($$SELECT lockable_acquire('rs', '1 min', shared => true)$$);
SELECT count(*) AS rows, bool_and(shared) AS shared, min(slots) AS slots
  FROM lockable_leases WHERE name = 'rs';
SELECT lockable_release('rs', :r1) AS released;
SELECT lockable_acquire('rs', '1 min', slots => 2, shared => true) AS r3 \gset
SELECT :r3 > :r2 AS tokens_increase;

-- a counting non-shared name with a free slot still refuses shared holders
SELECT lockable_acquire('cn', '1 min', slots => 2) AS n1 \gset
SELECT lockable_acquire('cn', '1 min', slots => 2, shared => true) IS NULL AS shared_refused;
SELECT lockable_acquire('cn', '1 min', slots => 2) AS n2 \gset
SELECT :n2 > :n1 AS tokens_increase;
SELECT count(*) AS rows, bool_or(shared) AS any_shared FROM lockable_leases WHERE name = 'cn';

--
-- force release: of every holder of a name, or of one holder by token
--
SELECT lockable_acquire('fr', '1 min', slots => 3) AS f1 \gset
SELECT lockable_acquire('fr', '1 min', slots => 3) AS f2 \gset
SELECT lockable_acquire('fr', '1 min', slots => 3) AS f3 \gset
SELECT forced AS forced_before FROM lockable_stats \gset
SELECT lockable_force_release('fr', :f2) AS f2_forced;
SELECT lockable_force_release('fr', :f2) AS f2_forced_again;
SELECT lockable_force_release('fr', :f2 + 1000000) AS unknown_token;
SELECT lockable_is_held('fr', :f1) AS f1_held, lockable_is_held('fr', :f2) AS f2_held,
       lockable_is_held('fr', :f3) AS f3_held;
SELECT lockable_release('fr', :f2) AS f2_release_after_force;
SELECT lockable_force_release('fr') AS all_forced;
SELECT count(*) AS left_over FROM lockable_leases WHERE name = 'fr';
SELECT lockable_is_held('fr', :f1) AS f1_held, lockable_is_held('fr', :f3) AS f3_held;
SELECT lockable_force_release('fr') AS all_forced_again;
SELECT forced - :forced_before AS forced_holders FROM lockable_stats;
-- one holder of a shared name, and a plain lease, by token
SELECT lockable_force_release('rs', :r2) AS r2_forced;
SELECT count(*) AS rs_holders, bool_and(token = :r3) AS r3_left FROM lockable_leases
 WHERE name = 'rs';
SELECT lockable_force_release('plain', :p1 + 1) AS wrong_token;
SELECT lockable_force_release('plain', :p1) AS plain_forced;
-- bad input
SELECT pg_temp.err($$SELECT lockable_force_release(NULL, 1)$$);
SELECT pg_temp.err($$SELECT lockable_force_release('fr', NULL)$$);
SELECT pg_temp.err($$SELECT lockable_force_release('', 1)$$);
-- administrators only, both forms
CREATE ROLE lockable_counting_user;
SET ROLE lockable_counting_user;
SELECT pg_temp.err($$SELECT lockable_force_release('cn')$$);
SELECT pg_temp.err(format('SELECT lockable_force_release(%L, %s)', 'cn', :n1));
RESET ROLE;
DROP ROLE lockable_counting_user;
SELECT count(*) AS cn_holders FROM lockable_leases WHERE name = 'cn';
SELECT name, lockable_force_release(name) AS forced
  FROM (SELECT DISTINCT name FROM lockable_leases WHERE name IN ('cn', 'rs')) n ORDER BY name;

--
-- lockable_stats: the counters count holders
--
SELECT lockable_stats_reset();
SELECT lockable_acquire('stats', '1 min', slots => 2) AS s1 \gset
SELECT lockable_acquire('stats', '1 min', slots => 2) AS s2 \gset
SELECT lockable_acquire('stats', '1 min', slots => 2) IS NULL AS refused;
SELECT lockable_heartbeat('stats', :s1) AND lockable_heartbeat('stats', :s2) AS renewed;
SELECT lockable_release('stats', :s1) AND lockable_release('stats', :s2) AS released;
SELECT acquired, refused, released, heartbeats, forced, table_full FROM lockable_stats;

--
-- keepalive holders, and waits that could never end
--
SET statement_timeout = '10s';
-- the worker renews each keepalive holder
SELECT lockable_acquire('ka', '1 s', keepalive => true, slots => 2) AS k1 \gset
SELECT lockable_acquire('ka', '1 s', keepalive => true, slots => 2) AS k2 \gset
SELECT pg_sleep(1.5);
SELECT lockable_heartbeat('ka', :k1) AS k1_held, lockable_heartbeat('ka', :k2) AS k2_held;
SELECT count(*) FILTER (WHERE renewals > 1) AS renewed_by_the_worker, bool_and(keepalive)
  FROM lockable_leases WHERE name = 'ka';
-- every holder is this session's own keepalive holder: waiting is 40P01,
-- at once, in either mode
SELECT lockable_acquire('ka', '1 min', slots => 2) IS NULL AS refused;
SELECT pg_temp.err($$SELECT lockable_acquire('ka', '1 min', NULL, slots => 2)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('ka', '1 min', '1 hour', true, slots => 2)$$);
SELECT lockable_acquire('kas', '1 min', keepalive => true, shared => true) AS ks \gset
SELECT pg_temp.err($$SELECT lockable_acquire('kas', '1 min', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM lockable_acquire_any(ARRAY['ka', 'ka'], '1 min', NULL, slots => 2)$$);
SELECT count(*) AS holders, max(waiters) AS waiters FROM lockable_leases
 WHERE name IN ('ka', 'kas');
-- a holder that is not keepalive can end by its ttl: the wait is fine
SELECT lockable_acquire('ka-mixed', '1 min', keepalive => true, slots => 2) AS km \gset
SELECT lockable_acquire('ka-mixed', '300 ms', slots => 2) AS kp \gset
SELECT lockable_acquire('ka-mixed', '1 min', NULL, slots => 2) > :kp AS got_it_after_its_ttl;
RESET statement_timeout;
SELECT name, lockable_force_release(name) AS forced
  FROM (SELECT DISTINCT name FROM lockable_leases WHERE name IN ('ka', 'kas', 'ka-mixed')) n ORDER BY name;

--
-- lockable_acquire_any takes each name of the pool with the slots and mode
-- asked for
--
CREATE TEMP TABLE got_any (n serial, name text, tok bigint);
DO $$
BEGIN
    FOR i IN 1 .. 5 LOOP
        INSERT INTO got_any (name, tok)
        SELECT * FROM lockable_acquire_any(ARRAY['any-a', 'any-b'], '1 min', slots => 2);
    END LOOP;
END $$;
SELECT n, name, tok > lag(tok) OVER (ORDER BY n) AS tokens_increase FROM got_any ORDER BY n;
SELECT name, count(*) AS holders, min(slots) AS slots, bool_or(shared) AS shared
  FROM lockable_leases WHERE name LIKE 'any-%' GROUP BY name ORDER BY name;
-- shared: any-x is held exclusively, so any-s is the free one, and stays so
SELECT lockable_acquire('any-x', '1 min') IS NOT NULL AS any_x_held;
SELECT name, token IS NOT NULL AS got
  FROM lockable_acquire_any(ARRAY['any-x', 'any-s'], '1 min', shared => true);
SELECT name, token IS NOT NULL AS got
  FROM lockable_acquire_any(ARRAY['any-x', 'any-s'], '1 min', shared => true);
SELECT name, count(*) AS holders, bool_and(shared) AS shared
  FROM lockable_leases WHERE name IN ('any-x', 'any-s') GROUP BY name ORDER BY name;
-- a name held with other slots in the pool
SELECT pg_temp.err($$SELECT * FROM lockable_acquire_any(ARRAY['any-a', 'any-c'], '1 min', slots => 3)$$);
SELECT count(*) AS any_c_taken FROM lockable_leases WHERE name = 'any-c';
-- bad input
SELECT pg_temp.err($$SELECT * FROM lockable_acquire_any(ARRAY['any-bad'], slots => NULL)$$);
SELECT pg_temp.err($$SELECT * FROM lockable_acquire_any(ARRAY['any-bad'], slots => 0)$$);
SELECT pg_temp.err($$SELECT * FROM lockable_acquire_any(ARRAY['any-bad'], slots => 10001)$$);
SELECT pg_temp.err($$SELECT * FROM lockable_acquire_any(ARRAY['any-bad'], shared => NULL)$$);
SELECT count(*) AS any_bad_taken FROM lockable_leases WHERE name = 'any-bad';
SELECT name, lockable_force_release(name) AS forced
  FROM (SELECT DISTINCT name FROM lockable_leases WHERE name LIKE 'any-%') n ORDER BY name;

--
-- lockable_run with slots: the command runs in one of the slots, and is
-- skipped (false) when they are all taken
--
CREATE TEMP TABLE runs (n int, holders bigint, keepalive_holders bigint, slots int);
SELECT lockable_run('run', $$INSERT INTO runs
    SELECT 1, count(*), count(*) FILTER (WHERE keepalive), min(slots)
      FROM lockable_leases WHERE name = 'run'$$, slots => 2) AS ran;
SELECT * FROM runs ORDER BY n;
SELECT count(*) AS left_over FROM lockable_leases WHERE name = 'run';
-- one of the two slots is taken: the command runs in the other
SELECT lockable_acquire('run', '1 min', slots => 2) AS run1 \gset
SELECT lockable_run('run', $$INSERT INTO runs
    SELECT 2, count(*), count(*) FILTER (WHERE keepalive), min(slots)
      FROM lockable_leases WHERE name = 'run'$$, '1 min', 2) AS ran;
SELECT * FROM runs ORDER BY n;
-- both slots are taken: skipped, and the command did not run
SELECT lockable_acquire('run', '1 min', slots => 2) AS run2 \gset
SET client_min_messages = warning;
SELECT lockable_run('run', 'INSERT INTO runs VALUES (3)', slots => 2) AS ran;
RESET client_min_messages;
SELECT count(*) AS runs FROM runs;
-- another slots, bad slots: errors, and the holders are undisturbed
SELECT pg_temp.err($$SELECT lockable_run('run', 'INSERT INTO runs VALUES (4)', slots => 3)$$);
SELECT pg_temp.err($$SELECT lockable_run('run', 'INSERT INTO runs VALUES (4)')$$);
SELECT pg_temp.err($$SELECT lockable_run('run-bad', 'INSERT INTO runs VALUES (4)', slots => 0)$$);
SELECT pg_temp.err($$SELECT lockable_run('run-bad', 'INSERT INTO runs VALUES (4)', slots => NULL)$$);
SELECT count(*) AS runs FROM runs;
SELECT lockable_is_held('run', :run1) AND lockable_is_held('run', :run2) AS both_held;
SELECT count(*) AS run_bad_taken FROM lockable_leases WHERE name = 'run-bad';
-- a command that fails gives its slot back
SELECT lockable_release('run', :run2) AS released;
SELECT pg_temp.err($$SELECT lockable_run('run', 'SELECT 1/0', slots => 2)$$);
SELECT count(*) AS holders, bool_and(token = :run1) AS run1_left FROM lockable_leases
 WHERE name = 'run';
SELECT lockable_release('run', :run1) AS released;

--
-- Capacity: each holder takes one of lockable.max_leases entries, and a
-- counting or shared name one more while it is held.  A full table
-- refuses with 54000 and disturbs nothing held.
--
SELECT pg_temp.await_entries(0) AS table_empty;
CREATE TEMP TABLE cap (tok bigint);
DO $$
DECLARE
    t bigint;
BEGIN
    LOOP
        BEGIN
            t := lockable_acquire('cap', '5 min', slots => 10000);
        EXCEPTION WHEN program_limit_exceeded THEN
            RAISE NOTICE 'full: %', SQLERRM;
            EXIT;
        END;
        IF t IS NULL THEN
            RAISE NOTICE 'refused before the table was full';
            EXIT;
        END IF;
        INSERT INTO cap VALUES (t);
    END LOOP;
END $$;
SELECT count(*) = max_leases - 1 AS one_entry_per_holder_and_one_for_the_name,
       leases = max_leases AS full
  FROM cap, lockable_stats GROUP BY max_leases, leases;
SELECT pg_temp.err($$SELECT lockable_acquire('cap-plain', '5 min')$$);
SELECT pg_temp.err($$SELECT lockable_acquire('cap', '5 min', slots => 10000)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('cap-new', '5 min', slots => 2)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('cap-shared', '5 min', shared => true)$$);
-- one entry free: enough for a plain lease or one more holder of cap, not
-- for the first holder of another counting name
SELECT lockable_release('cap', max(tok)) AS released FROM cap;
DELETE FROM cap WHERE tok = (SELECT max(tok) FROM cap);
SELECT pg_temp.err($$SELECT lockable_acquire('cap-new', '5 min', slots => 2)$$);
SELECT pg_temp.err($$SELECT lockable_acquire('cap-shared', '5 min', shared => true)$$);
SELECT leases = max_leases - 1 AS one_free FROM lockable_stats;
SELECT lockable_acquire('cap-plain', '5 min') AS cp \gset
SELECT lockable_release('cap-plain', :cp) AS released;
-- three entries free: cap-new takes two (a holder and its name), then one
SELECT count(lockable_release('cap', tok)) AS released
  FROM (SELECT tok FROM cap ORDER BY tok DESC LIMIT 2) t;
DELETE FROM cap WHERE tok IN (SELECT tok FROM cap ORDER BY tok DESC LIMIT 2);
SELECT lockable_acquire('cap-new', '5 min', slots => 2) IS NOT NULL AS cap_new_1;
SELECT lockable_acquire('cap-new', '5 min', slots => 2) IS NOT NULL AS cap_new_2;
SELECT leases = max_leases AS full FROM lockable_stats;
-- cap-new is full too: waiting for it needs an entry, and there is none
SELECT pg_temp.err($$SELECT lockable_acquire('cap-new', '5 min', '100 ms', slots => 2)$$);
-- with one free, the wait takes it while it waits, and gives it back
SELECT lockable_release('cap', max(tok)) AS released FROM cap;
DELETE FROM cap WHERE tok = (SELECT max(tok) FROM cap);
SELECT lockable_acquire('cap-new', '5 min', '100 ms', slots => 2) IS NULL AS timed_out;
SELECT leases = max_leases - 1 AS one_free_again FROM lockable_stats;
-- what was held is still held
SELECT count(*) AS cap_holders_lost FROM cap WHERE NOT lockable_is_held('cap', tok);
SELECT count(*) AS cap_new_holders FROM lockable_leases WHERE name = 'cap-new';
SELECT table_full > 0 AS table_full_counted FROM lockable_stats;
SELECT lockable_force_release('cap') AS cap_forced, lockable_force_release('cap-new') AS cap_new_forced;
SELECT leases FROM lockable_stats;
DROP TABLE cap;
