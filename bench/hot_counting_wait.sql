-- Counting lease: every client on one hot name that 8 may hold at once,
-- queueing for a slot (wait up to 60 s); as hot_lockable_wait.sql with
-- slots => 8.
SELECT COALESCE(lockable_acquire('hot_counting', wait => '60 seconds', slots => 8), 0) AS tok \gset
\if :tok > 0
SELECT lockable_release('hot_counting', :tok);
\endif
