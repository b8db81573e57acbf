-- Counting lease: every client on one hot name that 8 may hold at once,
-- no waiting (try once); as hot_lockable_try.sql with slots => 8.
SELECT COALESCE(lockable_acquire('hot_counting', slots => 8), 0) AS tok \gset
\if :tok > 0
SELECT lockable_release('hot_counting', :tok);
\endif
