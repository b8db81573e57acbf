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
