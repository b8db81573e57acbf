--
-- lockable_acquire_any: one free lease out of N, like a device pool.
--
CREATE EXTENSION IF NOT EXISTS lockable;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE devices (id text PRIMARY KEY, info jsonb);
INSERT INTO devices VALUES
    ('dev-a', '{"online": true}'),
    ('dev-b', '{"online": false}'),
    ('dev-c', '{"online": true}');

-- the first free one in array order, with a token
SELECT name, token IS NOT NULL AS got
  FROM lockable_acquire_any(ARRAY(SELECT id FROM devices
                                   WHERE info @> '{"online": true}' ORDER BY id));
-- dev-a is taken: the next call gets dev-c
SELECT name, token IS NOT NULL AS got
  FROM lockable_acquire_any(ARRAY(SELECT id FROM devices
                                   WHERE info @> '{"online": true}' ORDER BY id));
-- all online devices taken: NULL, as one row of NULLs
SELECT name IS NULL AS none, token IS NULL AS no_token
  FROM lockable_acquire_any(ARRAY['dev-a', 'dev-c']);
-- the leases are ordinary leases: heartbeat and release by name and token
SELECT lockable_heartbeat(name, token) AS heartbeat
  FROM lockable_leases WHERE name = 'dev-a';
SELECT lockable_release(name, token) AS released
  FROM lockable_leases WHERE name = 'dev-a';
SELECT name FROM lockable_acquire_any(ARRAY['dev-a', 'dev-c']);

-- ttl and keepalive apply to the lease handed out
SELECT name, (lockable_acquire_any(ARRAY['dev-b'], ttl => '5 min', keepalive => true)).token IS NOT NULL AS got
  FROM (VALUES ('dev-b')) v(name);
SELECT name, ttl, keepalive FROM lockable_leases WHERE name = 'dev-b';

-- waiting: an expiring lease in the pool comes free within the wait
SELECT lockable_acquire('pool-x', '200 ms') IS NOT NULL AS got,
       lockable_acquire('pool-y', '10 s') IS NOT NULL AS got;
SELECT name FROM lockable_acquire_any(ARRAY['pool-y', 'pool-x'], wait => '5 s');
-- and a wait that runs out returns NULL
SELECT name IS NULL AS none FROM lockable_acquire_any(ARRAY['pool-y', 'pool-x'], wait => '100 ms');

-- an empty pool has nothing free, even with a wait
SELECT name IS NULL AS none FROM lockable_acquire_any('{}', wait => NULL);
-- duplicates are harmless
SELECT name FROM lockable_acquire_any(ARRAY['dup', 'dup']);

-- bad input
SELECT pg_temp.err($$SELECT lockable_acquire_any(NULL)$$);
SELECT pg_temp.err($$SELECT lockable_acquire_any(ARRAY['ok', NULL])$$);
SELECT pg_temp.err($$SELECT lockable_acquire_any(ARRAY['ok', ''])$$);
SELECT pg_temp.err($$SELECT lockable_acquire_any(ARRAY['ok', repeat('x', 201)])$$);
SELECT pg_temp.err($$SELECT lockable_acquire_any(ARRAY[['a','b'],['c','d']])$$);
SELECT pg_temp.err($$SELECT lockable_acquire_any(ARRAY['ok'], ttl => '0')$$);
SELECT pg_temp.err($$SELECT lockable_acquire_any(ARRAY['ok'], wait => '-1 s')$$);
SELECT pg_temp.err($$SELECT lockable_acquire_any(ARRAY['ok'], keepalive => NULL)$$);
-- none of that took 'ok'
SELECT count(*) AS ok_taken FROM lockable_leases WHERE name = 'ok';

SELECT lockable_force_release(name) FROM lockable_leases
 WHERE name IN ('dev-a', 'dev-b', 'dev-c', 'pool-x', 'pool-y', 'dup') ORDER BY name;
DROP TABLE devices;
