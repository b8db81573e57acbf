-- Shared lease: every client takes one hot name in shared mode (readers
-- only, no writer; shared holders are unlimited with the default slots).
SELECT COALESCE(lockable_acquire('hot_shared', shared => true), 0) AS tok \gset
\if :tok > 0
SELECT lockable_release('hot_shared', :tok);
\endif
