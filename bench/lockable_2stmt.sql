-- lockable lease on a random name: acquire (default ttl, no wait), and
-- release it with its token if we got it; two statements, two round trips.
-- The name is the bind parameter itself (the decimal text of k), as an
-- application would send it; the advisory-lock pair gets its key the same
-- way.  COALESCE(..., 0): a busy name gives NULL, which \gset cannot carry.
\set k random(1, 1000000)
SELECT COALESCE(lockable_acquire(:k), 0) AS tok \gset
\if :tok > 0
SELECT lockable_release(:k, :tok);
\endif
