-- As lockable_2stmt.sql, but the name is built in SQL ('bench:' || k):
-- shows what the extra expression (text concatenation and int-to-text
-- coercion, set up at every execution) costs per pair.
\set k random(1, 1000000)
SELECT COALESCE(lockable_acquire('bench:' || :k), 0) AS tok \gset
\if :tok > 0
SELECT lockable_release('bench:' || :k, :tok);
\endif
