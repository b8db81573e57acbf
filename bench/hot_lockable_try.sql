-- Contention: every client on one hot name, no waiting (try once).
SELECT COALESCE(lockable_acquire('hot'), 0) AS tok \gset
\if :tok > 0
SELECT lockable_release('hot', :tok);
\endif
