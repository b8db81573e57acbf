-- Contention: every client on one hot name, queueing until it is handed
-- the lease (wait up to 60 s; NULL would mean wait forever).
SELECT COALESCE(lockable_acquire('hot', wait => '60 seconds'), 0) AS tok \gset
\if :tok > 0
SELECT lockable_release('hot', :tok);
\endif
