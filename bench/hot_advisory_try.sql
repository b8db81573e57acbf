-- Contention: every client on one hot advisory key, no waiting.
SELECT pg_try_advisory_lock(42) AS got \gset
\if :got
SELECT pg_advisory_unlock(42);
\endif
