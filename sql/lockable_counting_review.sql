--
-- lockable_counting_review: defects found in a review of counting and
-- shared leases (version 1.3); each part failed before its fix.
--

--
-- The update to 1.3 gives the recreated functions the privileges the
-- database had given on the old ones, also to a role whose name needs
-- quoting.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS lockable;
RESET client_min_messages;
CREATE EXTENSION lockable VERSION '1.2';
CREATE ROLE "lk review-user";
REVOKE EXECUTE ON FUNCTION lockable_acquire(text, interval, interval, boolean)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lockable_acquire(text, interval, interval, boolean)
  TO "lk review-user";
ALTER EXTENSION lockable UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
SELECT has_function_privilege('lk review-user', 'lockable_acquire(text, interval, interval, boolean, integer, boolean)', 'EXECUTE') AS quoted_role_may_execute,
       has_function_privilege('public', 'lockable_acquire(text, interval, interval, boolean, integer, boolean)', 'EXECUTE') AS public_may_execute;
SET ROLE "lk review-user";
SELECT lockable_release('review-quoted', lockable_acquire('review-quoted'))
  AS quoted_role_may_acquire;
RESET ROLE;
DROP EXTENSION lockable;
DROP ROLE "lk review-user";
CREATE EXTENSION lockable;

--
-- The update to 1.3 recreates the view lockable_leases (and its function)
-- with the privileges the database had given on them: a REVOKE from PUBLIC
-- stays, and is not undone by the script's GRANT to PUBLIC.
--
DROP EXTENSION lockable;
CREATE EXTENSION lockable VERSION '1.2';
CREATE ROLE lk_review_reader;
CREATE ROLE lk_review_other;
REVOKE SELECT ON lockable_leases FROM PUBLIC;
GRANT SELECT ON lockable_leases TO lk_review_reader;
REVOKE EXECUTE ON FUNCTION lockable_leases() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lockable_leases() TO lk_review_reader;
ALTER EXTENSION lockable UPDATE TO '1.3';
SELECT has_table_privilege('lk_review_reader', 'lockable_leases', 'SELECT') AS reader_may_select,
       has_table_privilege('lk_review_other', 'lockable_leases', 'SELECT') AS other_may_select,
       has_function_privilege('lk_review_reader', 'lockable_leases()', 'EXECUTE') AS reader_may_execute,
       has_function_privilege('lk_review_other', 'lockable_leases()', 'EXECUTE') AS other_may_execute;
SET ROLE lk_review_reader;
SELECT count(*) FROM lockable_leases WHERE name LIKE 'review-%';
SET ROLE lk_review_other;
SELECT count(*) FROM lockable_leases WHERE name LIKE 'review-%';
RESET ROLE;
-- a database that changed nothing keeps the script's defaults
DROP EXTENSION lockable;
CREATE EXTENSION lockable VERSION '1.2';
ALTER EXTENSION lockable UPDATE TO '1.3';
SELECT has_table_privilege('lk_review_other', 'lockable_leases', 'SELECT') AS other_may_select,
       has_function_privilege('lk_review_other', 'lockable_leases()', 'EXECUTE') AS other_may_execute,
       has_function_privilege('lk_review_other', 'lockable_acquire(text, interval, interval, boolean, integer, boolean)', 'EXECUTE') AS other_may_acquire,
       has_function_privilege('lk_review_other', 'lockable_force_release(text, bigint)', 'EXECUTE') AS other_may_force;
DROP EXTENSION lockable;
DROP ROLE lk_review_reader;
DROP ROLE lk_review_other;
CREATE EXTENSION lockable;

--
-- lockable_force_release(name, token) ends only the holder with that
-- token; no holder has token 0, so it ends nobody (it ended every holder,
-- as lockable_force_release(name) does).
--
SELECT lockable_acquire('review-zero', slots => 2) IS NOT NULL AS first,
       lockable_acquire('review-zero', slots => 2) IS NOT NULL AS second;
SELECT lockable_force_release('review-zero', 0) AS forced_token_0;
SELECT count(*) AS holders_left FROM lockable_leases WHERE name = 'review-zero';
SELECT lockable_acquire('review-zero-plain') IS NOT NULL AS plain;
SELECT lockable_force_release('review-zero-plain', 0) AS forced_token_0;
SELECT count(*) AS holders_left FROM lockable_leases WHERE name = 'review-zero-plain';
SELECT lockable_is_held('review-zero', 0) AS held_0,
       lockable_heartbeat('review-zero', 0) AS heartbeat_0,
       lockable_release('review-zero', 0) AS release_0;
SELECT lockable_force_release('review-zero'), lockable_force_release('review-zero-plain');
SELECT count(*) AS review_leases_left FROM lockable_leases WHERE name LIKE 'review-%';

--
-- A session that holds a shared keepalive lease and waits for the name in
-- the other mode waits for itself: its own holder can never leave while
-- it waits.  That is 40P01 as soon as it would queue, also while another
-- holder is still there (here a shared holder with a short ttl, also of
-- this session, not keepalive): before, the wait began, the other holder
-- expired, and the session then waited for nothing but itself until its
-- wait ran out (for ever with wait => NULL), returning NULL.
--
SELECT lockable_acquire('review-upgrade', '1 min', keepalive => true, shared => true)
  IS NOT NULL AS keepalive_reader;
SELECT lockable_acquire('review-upgrade', '1 s', shared => true)
  IS NOT NULL AS short_reader;
\set VERBOSITY sqlstate
SELECT lockable_acquire('review-upgrade', '1 min', wait => '3 s') AS writer;
\set VERBOSITY default
SELECT count(*) FILTER (WHERE keepalive) AS keepalive_holders,
       max(waiters) AS waiters
  FROM lockable_leases WHERE name = 'review-upgrade';
-- without a wait it is only busy
SELECT lockable_acquire('review-upgrade', '1 min') IS NULL AS busy;
-- the other way round: a non-shared holder of a counting lease of 2 may
-- not wait for a shared one
SELECT lockable_acquire('review-upgrade-2', '1 min', keepalive => true, slots => 2)
  IS NOT NULL AS keepalive_holder;
SELECT lockable_acquire('review-upgrade-2', '1 s', slots => 2)
  IS NOT NULL AS short_holder;
\set VERBOSITY sqlstate
SELECT lockable_acquire('review-upgrade-2', '1 min', wait => '3 s', slots => 2,
                        shared => true) AS shared_waiter;
\set VERBOSITY default
-- while waiting for another slot of the same mode stays allowed
SELECT lockable_acquire('review-upgrade-2', '1 min', wait => '3 s', slots => 2)
  IS NOT NULL AS second_slot;
SELECT count(lockable_force_release(name)) FROM (SELECT DISTINCT name FROM lockable_leases WHERE name LIKE 'review-%') s;

--
-- The update to 1.3 run by a superuser that is not the bootstrap one: the
-- initial privileges of the view name its owner, and PostgreSQL 17 and
-- later record that as a dependency (deptype 'i'), which keeps the role
-- from being dropped while they name it.  lockable_copy_acl dropped every
-- such dependency of the objects it re-granted, the owner's too (on 15
-- and 16 there are none, and this holds trivially).
--
DROP EXTENSION lockable;
CREATE ROLE lk_review_dba SUPERUSER;
SET ROLE lk_review_dba;
CREATE EXTENSION lockable VERSION '1.2';
REVOKE SELECT ON lockable_leases FROM PUBLIC;
ALTER EXTENSION lockable UPDATE TO '1.3';
SELECT NOT EXISTS (SELECT FROM pg_shdepend WHERE deptype = 'i')
    OR EXISTS (SELECT FROM pg_shdepend
                WHERE deptype = 'i' AND refobjid = 'lk_review_dba'::regrole
                  AND classid = 'pg_class'::regclass
                  AND objid = 'lockable_leases'::regclass) AS owner_dependency_kept;
SELECT has_table_privilege('public', 'lockable_leases', 'SELECT') AS public_reads;
DROP EXTENSION lockable;
RESET ROLE;
DROP ROLE lk_review_dba;
CREATE EXTENSION lockable;
