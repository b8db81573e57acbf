--
-- The lockable_leases and lockable_stats views.
--
CREATE EXTENSION IF NOT EXISTS lockable;

\d lockable_leases
\d lockable_stats

SELECT lockable_acquire('view-a', '1 min') AS a \gset
SELECT lockable_acquire('view-b', '2 min', keepalive => true) AS b \gset

SELECT name, token IN (:a, :b) AS token_shown, owner = current_user::regrole AS owner,
       pid = pg_backend_pid() AS pid, ttl, keepalive, renewals, waiters,
       expires_at - acquired_at AS lasts,
       acquired_at BETWEEN now() - '1 min'::interval AND clock_timestamp() AS acquired_recently
  FROM lockable_leases WHERE name LIKE 'view-%' ORDER BY name;

-- an expired lease is not shown, even before the worker removes it
SELECT lockable_acquire('view-short', '50 ms') IS NOT NULL AS got;
SELECT pg_sleep(0.1);
SELECT count(*) AS shown FROM lockable_leases WHERE name = 'view-short';

-- released leases disappear
SELECT lockable_release('view-a', :a), lockable_release('view-b', :b);
SELECT count(*) AS left_over FROM lockable_leases WHERE name LIKE 'view-%';
