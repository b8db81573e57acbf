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

-- lockable_run: run COMMAND only while holding the lease NAME; skip (false)
-- if someone else holds it.  The one-liner a pg_cron job schedules.
--
-- The lease is a keepalive lease (renewed by the worker while the command
-- runs, ended with the session if the backend dies) taken without waiting,
-- and released when the command ends, normally or by an error (including
-- a cancel or statement_timeout).  SECURITY INVOKER: the command runs with
-- the caller's rights and search_path.  It runs inside this function, in
-- the caller's transaction and in a subtransaction of it, so it cannot
-- COMMIT or ROLLBACK (a procedure that does fails with 2D000), nor run
-- VACUUM, CREATE INDEX CONCURRENTLY or anything else that refuses to run
-- in a transaction block.  The lease is released when the command returns,
-- before the caller's transaction commits: call it as a statement of its
-- own, as a pg_cron job does, so that the gap is only the commit.
CREATE FUNCTION lockable_run(name text, command text,
                             ttl interval DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $lockable_run$
DECLARE
    tok bigint;
    holder record;
    why text;
BEGIN
    IF lockable_run.name IS NULL THEN
        RAISE EXCEPTION 'lease name must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lockable_run.command IS NULL THEN
        RAISE EXCEPTION 'command must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lockable_run.command ~ '^\s*$' THEN
        RAISE EXCEPTION 'command must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    tok := @extschema@.lockable_acquire(lockable_run.name, lockable_run.ttl,
                                        '0', true);

    IF tok IS NULL THEN
        SELECT l.pid, l.acquired_at INTO holder
          FROM @extschema@.lockable_leases l
         WHERE l.name = lockable_run.name;
        IF FOUND AND holder.pid = pg_backend_pid() THEN
            why := format('is held by this session (pid %s, since %s); leases are not re-entrant',
                          holder.pid, holder.acquired_at);
        ELSIF FOUND AND holder.pid IS NULL THEN
            why := format('is held by a session from before the last restart (since %s)',
                          holder.acquired_at);
        ELSIF FOUND THEN
            why := format('is held by another session (pid %s, since %s)',
                          holder.pid, holder.acquired_at);
        ELSIF (SELECT s.grace_until IS NOT NULL FROM @extschema@.lockable_stats s) THEN
            why := format('is not granted before %s (grace period after a crash)',
                          (SELECT s.grace_until FROM @extschema@.lockable_stats s));
        ELSE
            why := 'was held by another session (released just now)';
        END IF;
        RAISE NOTICE 'lockable_run: lease "%" %; skipped', lockable_run.name, why;
        RAISE LOG 'lockable_run: lease "%" %; skipped', lockable_run.name, why;
        RETURN false;
    END IF;

    BEGIN
        EXECUTE lockable_run.command;
    EXCEPTION WHEN OTHERS OR query_canceled OR assert_failure THEN
        -- The lease is in shared memory, not rolled back with the
        -- subtransaction: end it before passing the error on.
        PERFORM @extschema@.lockable_release(lockable_run.name, tok);
        RAISE;
    END;

    IF NOT @extschema@.lockable_release(lockable_run.name, tok) THEN
        RAISE WARNING 'lockable_run: lease "%" was lost while the command ran', lockable_run.name
            USING DETAIL = 'It expired, was force-released or outlived lockable.max_hold; another session may have held it meanwhile.';
    END IF;
    RETURN true;
END
$lockable_run$;

COMMENT ON FUNCTION lockable_run(text, text, interval) IS
'run COMMAND while holding a keepalive lease NAME, released when it ends (also on error); false, with a NOTICE and a LOG line saying who holds it, if the lease is taken';
