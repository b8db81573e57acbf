-- Contention: every client on one hot advisory key, waiting for it.
SELECT pg_advisory_lock(42);
SELECT pg_advisory_unlock(42);
