-- As lockable_2stmt.sql, with slots => 8: a counting lease on a random
-- name, uncontended (what the counting path itself costs per pair, e.g.
-- bench/profile.sh callgrind counting_2stmt).
\set k random(1, 1000000)
SELECT COALESCE(lockable_acquire(:k, slots => 8), 0) AS tok \gset
\if :tok > 0
SELECT lockable_release(:k, :tok);
\endif
