-- PostgreSQL session advisory lock on a random key: try to take it, and
-- release it if we got it; two statements, two round trips.
\set k random(1, 1000000)
SELECT pg_try_advisory_lock(:k) AS got \gset
\if :got
SELECT pg_advisory_unlock(:k);
\endif
