--
-- Remote mode's SQL surface, without a service: the settings refuse what
-- cannot work, the token stays hidden, and an extension created at
-- version 1.0 keeps working with the new library until it is updated.
--
CREATE EXTENSION IF NOT EXISTS lockable;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- no service configured: remote mode cannot be turned on
SHOW lockable.remote_url;
SHOW lockable.remote;
SELECT pg_temp.err($$SET lockable.remote = on$$);
SHOW lockable.remote;
-- the service is the cluster's: not settable per session
SELECT pg_temp.err($$SET lockable.remote_url = 'http://127.0.0.1:1/v1'$$);
SELECT pg_temp.err($$SET lockable.remote_prefix = 'x'$$);
SELECT pg_temp.err($$SET lockable.remote_token = 'x'$$);

-- defaults and ranges of the remote settings
SELECT name, setting, unit, context, min_val, max_val
  FROM pg_settings
 WHERE name LIKE 'lockable.remote%'
 ORDER BY name;
-- out of range (ALTER SYSTEM checks the value before writing anything)
ALTER SYSTEM SET lockable.remote_timeout = '10ms';
ALTER SYSTEM SET lockable.remote_lease = '0';
ALTER SYSTEM SET lockable.remote_heartbeat_interval = '1ms';
ALTER SYSTEM SET lockable.remote_max_connections = 0;
ALTER SYSTEM SET lockable.remote_max_connections = 65;
ALTER SYSTEM SET lockable.remote_prefix = 'pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp!';

-- the token: superusers only, never listed
CREATE ROLE lockable_remote_plain;
SET ROLE lockable_remote_plain;
SELECT pg_temp.err($$SHOW lockable.remote_token$$);
SELECT count(*) AS listed FROM pg_settings WHERE name = 'lockable.remote_token';
RESET ROLE;
DROP ROLE lockable_remote_plain;

-- no remote lease exists, so the remote columns are all unset
SELECT lockable_acquire('remote-local') IS NOT NULL AS local_granted;
SELECT name, remote, remote_state, remote_heartbeat_at, remote_failures
  FROM lockable_leases WHERE name = 'remote-local';
SELECT remote_leases, remote_acquired, remote_lost FROM lockable_stats;
SELECT lockable_force_release('remote-local');

-- version 1.0 with the 1.1 library, then the update
DROP EXTENSION lockable;
CREATE EXTENSION lockable VERSION '1.0';
SELECT lockable_acquire('remote-upgrade') IS NOT NULL AS granted_on_1_0;
SELECT name, keepalive, waiters FROM lockable_leases WHERE name = 'remote-upgrade';
SELECT count(*) AS stats_columns FROM pg_attribute
 WHERE attrelid = 'lockable_stats'::regclass AND attnum > 0;
SELECT leases >= 1 AS stats_work, grace_until FROM lockable_stats;
ALTER EXTENSION lockable UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'lockable';
SELECT name, remote, remote_state FROM lockable_leases WHERE name = 'remote-upgrade';
SELECT attname FROM pg_attribute
 WHERE attrelid = 'lockable_stats'::regclass AND attname LIKE 'remote%'
 ORDER BY attnum;
SELECT lockable_force_release('remote-upgrade');
