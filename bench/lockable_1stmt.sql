-- lockable lease on a random name, acquired and released in one statement
-- (one round trip).  A busy name gives NULL; token 0 is never issued, so
-- the release then returns false instead of raising an error.
\set k random(1, 1000000)
SELECT lockable_release(:k, COALESCE(lockable_acquire(:k), 0));
