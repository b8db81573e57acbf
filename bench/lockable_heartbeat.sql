-- lockable: acquire, one heartbeat, release; three statements.
\set k random(1, 1000000)
SELECT COALESCE(lockable_acquire(:k), 0) AS tok \gset
\if :tok > 0
SELECT lockable_heartbeat(:k, :tok);
SELECT lockable_release(:k, :tok);
\endif
