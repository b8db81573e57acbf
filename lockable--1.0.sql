/* lockable--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lockable" to load this file. \quit

CREATE FUNCTION lockable_acquire(name text,
                                 ttl interval DEFAULT NULL,
                                 wait interval DEFAULT '0',
                                 keepalive boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lockable_acquire'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lockable_acquire(text, interval, interval, boolean) IS
'take the lease NAME for TTL; returns its fencing token, or NULL if it is held by someone else and did not come free within WAIT';

CREATE FUNCTION lockable_acquire_any(names text[],
                                     ttl interval DEFAULT NULL,
                                     wait interval DEFAULT '0',
                                     keepalive boolean DEFAULT false,
                                     OUT name text,
                                     OUT token bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'lockable_acquire_any'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lockable_acquire_any(text[], interval, interval, boolean) IS
'take one free lease out of NAMES (the first free one in array order); returns its name and token, or NULL if none came free within WAIT';

CREATE FUNCTION lockable_heartbeat(name text, token bigint,
                                   ttl interval DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lockable_heartbeat'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lockable_heartbeat(text, bigint, interval) IS
'extend the lease held with TOKEN to now + TTL (NULL: its own ttl); false if it is no longer held with that token';

CREATE FUNCTION lockable_release(name text, token bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lockable_release'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lockable_release(text, bigint) IS
'release the lease held with TOKEN; false if it is no longer held with that token';

CREATE FUNCTION lockable_force_release(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lockable_force_release'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lockable_force_release(text) IS
'administrators: end the live lease NAME whoever holds it';

REVOKE ALL ON FUNCTION lockable_force_release(text) FROM PUBLIC;

CREATE FUNCTION lockable_is_held(name text, token bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lockable_is_held'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION lockable_is_held(text, bigint) IS
'is the lease NAME held with TOKEN right now?';

CREATE FUNCTION lockable_check(name text, token bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'lockable_check'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION lockable_check(text, bigint) IS
'raise an error unless the lease NAME is held with TOKEN right now: a fencing guard for triggers and policies';

CREATE FUNCTION lockable_leases(
    OUT name text,
    OUT token bigint,
    OUT owner regrole,
    OUT pid integer,
    OUT acquired_at timestamptz,
    OUT expires_at timestamptz,
    OUT ttl interval,
    OUT keepalive boolean,
    OUT renewals bigint,
    OUT waiters integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lockable_leases'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW lockable_leases AS
    SELECT * FROM lockable_leases();

COMMENT ON VIEW lockable_leases IS
'live leases of the current database; token is shown only to members of the owning role';

GRANT SELECT ON lockable_leases TO PUBLIC;

CREATE FUNCTION lockable_stats(
    OUT leases bigint,
    OUT max_leases integer,
    OUT acquired bigint,
    OUT refused bigint,
    OUT waited bigint,
    OUT released bigint,
    OUT expired bigint,
    OUT forced bigint,
    OUT session_ended bigint,
    OUT heartbeats bigint,
    OUT heartbeats_failed bigint,
    OUT renewals bigint,
    OUT table_full bigint,
    OUT stats_reset timestamptz,
    OUT worker_pid integer,
    OUT last_sweep_ms double precision,
    OUT grace_until timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'lockable_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW lockable_stats AS
    SELECT * FROM lockable_stats();

COMMENT ON VIEW lockable_stats IS
'lease counters of the whole server since the last lockable_stats_reset()';

GRANT SELECT ON lockable_stats TO PUBLIC;

CREATE FUNCTION lockable_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'lockable_stats_reset_all'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION lockable_stats_reset() FROM PUBLIC;
