-- PostgreSQL session advisory lock on a random key, taken and released in
-- one statement (one round trip).
\set k random(1, 1000000)
SELECT CASE WHEN pg_try_advisory_lock(:k) THEN pg_advisory_unlock(:k) END;
