/* lockable--1.0--1.1.sql: remote mode (leases kept on a lockable.dev-compatible service) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockable UPDATE TO '1.1'" to load this file. \quit

-- lockable_leases gains the remote columns, and shows lost remote leases
DROP VIEW lockable_leases;
DROP FUNCTION lockable_leases();

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
    OUT waiters integer,
    OUT remote boolean,
    OUT remote_state text,
    OUT remote_heartbeat_at timestamptz,
    OUT remote_failures integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lockable_leases'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW lockable_leases AS
    SELECT * FROM lockable_leases();

COMMENT ON VIEW lockable_leases IS
'live leases of the current database, and its remote leases (held, being acquired or released, or lately lost); token is shown only to members of the owning role';

GRANT SELECT ON lockable_leases TO PUBLIC;

-- lockable_stats gains the remote counters
DROP VIEW lockable_stats;
DROP FUNCTION lockable_stats();

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
    OUT grace_until timestamptz,
    OUT remote_leases bigint,
    OUT remote_acquired bigint,
    OUT remote_refused bigint,
    OUT remote_errors bigint,
    OUT remote_heartbeats bigint,
    OUT remote_heartbeat_errors bigint,
    OUT remote_lost bigint,
    OUT remote_released bigint,
    OUT remote_release_errors bigint,
    OUT remote_connections bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'lockable_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW lockable_stats AS
    SELECT * FROM lockable_stats();

COMMENT ON VIEW lockable_stats IS
'lease counters of the whole server since the last lockable_stats_reset()';

GRANT SELECT ON lockable_stats TO PUBLIC;
