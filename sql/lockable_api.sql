--
-- The SQL surface: acquire, heartbeat, release, expiry, waiting, fencing
-- tokens and force release, as one session sees them.
--
CREATE EXTENSION lockable;

-- a free name is granted, with a positive fencing token
SELECT lockable_acquire('job') AS t1 \gset
SELECT :t1 > 0 AS got_token;

-- held: another acquire is refused with NULL, not an error
SELECT lockable_acquire('job') IS NULL AS busy;

-- tokens strictly increase across names
SELECT lockable_acquire('other') AS t2 \gset
SELECT :t2 > :t1 AS increasing;

-- heartbeat needs the token; a non-NULL ttl becomes the lease's ttl
SELECT lockable_heartbeat('job', :t1) AS extended;
SELECT lockable_heartbeat('job', :t2) AS wrong_token;
SELECT lockable_heartbeat('job', :t1, '30 seconds') AS extended_30s;
SELECT ttl, renewals, expires_at - now() BETWEEN '29 s' AND '31 s' AS deadline_moved
  FROM lockable_leases WHERE name = 'job';

-- release needs the token too, and succeeds once
SELECT lockable_release('job', :t2) AS wrong_token;
SELECT lockable_release('job', :t1) AS released;
SELECT lockable_release('job', :t1) AS released_again;
SELECT lockable_heartbeat('job', :t1) AS heartbeat_after_release;

-- the next holder gets a greater token
SELECT lockable_acquire('job') AS t3 \gset
SELECT :t3 > :t2 AS increasing;

-- the default ttl comes from lockable.default_ttl
SET lockable.default_ttl = '5min';
SELECT lockable_acquire('default-ttl') IS NOT NULL AS got;
SELECT ttl FROM lockable_leases WHERE name = 'default-ttl';
RESET lockable.default_ttl;
SELECT lockable_acquire('default-ttl-2') IS NOT NULL AS got;
SELECT ttl FROM lockable_leases WHERE name = 'default-ttl-2';

-- names match exactly: case, trailing spaces, and the last of 200 bytes count
SELECT lockable_acquire('Job') IS NOT NULL AS upper_case,
       lockable_acquire('job ') IS NOT NULL AS trailing_space;
SELECT lockable_acquire(repeat('x', 199) || 'a') IS NOT NULL AS long_a,
       lockable_acquire(repeat('x', 199) || 'b') IS NOT NULL AS long_b,
       lockable_acquire(repeat('x', 199) || 'a') IS NULL AS long_a_busy;
-- 100 two-byte characters are 200 bytes: allowed
SELECT lockable_acquire(repeat('é', 100)) IS NOT NULL AS multibyte;

-- expiry is decided by time: no heartbeat, no revival, free at once
SELECT lockable_acquire('short', '100 ms') AS s1 \gset
SELECT pg_sleep(0.3);
SELECT lockable_heartbeat('short', :s1) AS revived;
SELECT lockable_acquire('short') AS s2 \gset
SELECT :s2 > :s1 AS reacquired;
SELECT lockable_release('short', :s1) AS stale_release;

-- a wait that runs out returns NULL; one that outlasts the holder's ttl wins
SELECT lockable_acquire('job', wait => '200 ms') IS NULL AS timed_out;
SELECT lockable_acquire('expiring', '300 ms') IS NOT NULL AS got;
SELECT lockable_acquire('expiring', wait => '10 s') IS NOT NULL AS got_after_expiry;

-- keepalive: the worker renews the lease while this session lives
SELECT lockable_acquire('kept', '1 s', keepalive => true) AS k \gset
SELECT pg_sleep(1.5);
SELECT lockable_heartbeat('kept', :k) AS still_held;
SELECT keepalive, renewals > 1 AS renewed FROM lockable_leases WHERE name = 'kept';
SELECT lockable_release('kept', :k) AS released;

-- force release ends a live lease whoever holds it
SELECT lockable_force_release('other') AS forced;
SELECT lockable_force_release('other') AS forced_again;
SELECT lockable_release('other', :t2) AS release_after_force;

-- counters moved
SELECT acquired >= 10 AS acquired, refused >= 2 AS refused, waited >= 2 AS waited,
       released >= 2 AS released, expired >= 2 AS expired, forced = 1 AS forced,
       heartbeats >= 3 AS heartbeats, heartbeats_failed >= 3 AS heartbeats_failed,
       renewals >= 1 AS renewals, table_full = 0 AS never_full,
       leases > 0 AS leases, max_leases = 1000 AS max_leases,
       worker_pid IS NOT NULL AS worker_running
  FROM lockable_stats;

-- the counters can be reset
SELECT lockable_stats_reset();
SELECT acquired, refused, released FROM lockable_stats;
