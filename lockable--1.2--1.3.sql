/* lockable--1.2--1.3.sql: counting and shared leases */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockable UPDATE TO '1.3'" to load this file. \quit

-- lockable_acquire, lockable_acquire_any and lockable_run gain trailing
-- parameters.  A function cannot gain parameters in place, and a second
-- function beside the old one would make every call that leaves them out
-- ambiguous, so each is dropped and created again; so is the view
-- lockable_leases, which gains columns.  The privileges the database gave
-- on the old ones (a REVOKE from PUBLIC, a GRANT) are kept: they are saved
-- here and given to the new ones by lockable_copy_acl, which exists only
-- while this script runs.  A GRANT or REVOKE run by an extension script
-- also becomes the object's initial privilege (pg_init_privs), which
-- pg_dump takes as the extension's own and leaves out of the dump; so the
-- initial privileges are put back as this script set them, and a dump
-- still carries the database's REVOKE and GRANTs.

CREATE FUNCTION lockable_copy_acl(saved aclitem[], kind text, object text)
RETURNS void
LANGUAGE plpgsql
AS $lockable_copy_acl$
DECLARE
    item record;
    cls oid := CASE kind WHEN 'FUNCTION' THEN 'pg_proc'::regclass
                         ELSE 'pg_class'::regclass END;
    obj oid := CASE kind WHEN 'FUNCTION' THEN object::regprocedure::oid
                         ELSE object::regclass::oid END;
    init aclitem[];
BEGIN
    IF saved IS NULL THEN
        RETURN;                 -- the default privileges
    END IF;
    SELECT initprivs INTO init FROM pg_init_privs
     WHERE objoid = obj AND classoid = cls AND objsubid = 0;
    EXECUTE format('REVOKE ALL ON %s %s FROM PUBLIC', kind, object);
    FOR item IN SELECT * FROM aclexplode(saved) LOOP
        EXECUTE format('GRANT %s ON %s %s TO %s%s', item.privilege_type,
                       kind, object,
                       -- regrole's output is already quoted as needed
                       CASE WHEN item.grantee = 0 THEN 'PUBLIC'
                            ELSE item.grantee::regrole::text END,
                       CASE WHEN item.is_grantable THEN ' WITH GRANT OPTION'
                            ELSE '' END);
    END LOOP;
    IF init IS NULL THEN
        DELETE FROM pg_init_privs
         WHERE objoid = obj AND classoid = cls AND objsubid = 0;
    ELSE
        UPDATE pg_init_privs SET initprivs = init
         WHERE objoid = obj AND classoid = cls AND objsubid = 0;
    END IF;
    -- PostgreSQL 17 and later also record the roles named in initial
    -- privileges as dependencies (deptype 'i'): keep those of the roles
    -- the script's own name (its owner), drop those of the database's
    DELETE FROM pg_shdepend
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND classid = cls AND objid = obj AND objsubid = 0 AND deptype = 'i'
       AND refclassid = 'pg_authid'::regclass
       AND refobjid NOT IN (SELECT a.grantee FROM aclexplode(init) a
                            UNION SELECT a.grantor FROM aclexplode(init) a);
END
$lockable_copy_acl$;

SELECT set_config('lockable_upgrade.leases',
                  coalesce((SELECT relacl::text FROM pg_class
                             WHERE oid = 'lockable_leases'::regclass), ''), true);

SELECT set_config('lockable_upgrade.acquire', coalesce(proacl::text, ''), true),
       set_config('lockable_upgrade.acquire_any',
                  coalesce((SELECT proacl::text FROM pg_proc
                             WHERE oid = 'lockable_acquire_any(text[], interval, interval, boolean)'::regprocedure), ''), true),
       set_config('lockable_upgrade.run',
                  coalesce((SELECT proacl::text FROM pg_proc
                             WHERE oid = 'lockable_run(text, text, interval)'::regprocedure), ''), true)
  FROM pg_proc
 WHERE oid = 'lockable_acquire(text, interval, interval, boolean)'::regprocedure;

DROP FUNCTION lockable_acquire(text, interval, interval, boolean);

CREATE FUNCTION lockable_acquire(name text,
                                 ttl interval DEFAULT NULL,
                                 wait interval DEFAULT '0',
                                 keepalive boolean DEFAULT false,
                                 slots integer DEFAULT 1,
                                 shared boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lockable_acquire'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SUPPORT lockable_acquire_support;

COMMENT ON FUNCTION lockable_acquire(text, interval, interval, boolean, integer, boolean) IS
'take the lease NAME for TTL (one of SLOTS holders at once; SHARED holders only with each other); returns its fencing token, or NULL if it did not come free within WAIT';

SELECT lockable_copy_acl(nullif(current_setting('lockable_upgrade.acquire'), '')::aclitem[],
                         'FUNCTION', 'lockable_acquire(text, interval, interval, boolean, integer, boolean)');

DROP FUNCTION lockable_acquire_any(text[], interval, interval, boolean);

CREATE FUNCTION lockable_acquire_any(names text[],
                                     ttl interval DEFAULT NULL,
                                     wait interval DEFAULT '0',
                                     keepalive boolean DEFAULT false,
                                     slots integer DEFAULT 1,
                                     shared boolean DEFAULT false,
                                     OUT name text,
                                     OUT token bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'lockable_acquire_any'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lockable_acquire_any(text[], interval, interval, boolean, integer, boolean) IS
'take one free lease out of NAMES (the first free one in array order; each with SLOTS and SHARED); returns its name and token, or NULL if none came free within WAIT';

SELECT lockable_copy_acl(nullif(current_setting('lockable_upgrade.acquire_any'), '')::aclitem[],
                         'FUNCTION', 'lockable_acquire_any(text[], interval, interval, boolean, integer, boolean)');

-- ends one holder of a counting or shared lease
CREATE FUNCTION lockable_force_release(name text, token bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lockable_force_release'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lockable_force_release(text, bigint) IS
'administrators: end the holder of lease NAME with TOKEN, whoever it is';

COMMENT ON FUNCTION lockable_force_release(text) IS
'administrators: end the live lease NAME whoever holds it (every holder of a counting or shared lease)';

REVOKE ALL ON FUNCTION lockable_force_release(text, bigint) FROM PUBLIC;

-- lockable_leases gains the slots and shared columns.  The view runs its
-- function with the privileges of whoever selects from it, so the
-- function's EXECUTE is kept too.
SELECT set_config('lockable_upgrade.leases_fn', coalesce(proacl::text, ''), true)
  FROM pg_proc WHERE oid = 'lockable_leases()'::regprocedure;

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
    OUT remote_failures integer,
    OUT slots integer,
    OUT shared boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lockable_leases'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW lockable_leases AS
    SELECT * FROM lockable_leases();

COMMENT ON VIEW lockable_leases IS
'live leases of the current database, one row per holder, and its remote leases (held, being acquired or released, or lately lost); token is shown only to members of the owning role';

GRANT SELECT ON lockable_leases TO PUBLIC;

SELECT lockable_copy_acl(nullif(current_setting('lockable_upgrade.leases'), '')::aclitem[],
                         'TABLE', 'lockable_leases');
SELECT lockable_copy_acl(nullif(current_setting('lockable_upgrade.leases_fn'), '')::aclitem[],
                         'FUNCTION', 'lockable_leases()');

-- lockable_run gains slots: at most SLOTS runs of the command at once
DROP FUNCTION lockable_run(text, text, interval);

CREATE FUNCTION lockable_run(name text, command text,
                             ttl interval DEFAULT NULL,
                             slots integer DEFAULT 1)
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
                                        '0', true, lockable_run.slots);

    IF tok IS NULL THEN
        SELECT count(*) AS n, min(l.pid) AS pid, min(l.acquired_at) AS acquired_at,
               string_agg(coalesce(l.pid::text, 'restored'), ', '
                          ORDER BY l.acquired_at) AS pids
          INTO holder
          FROM @extschema@.lockable_leases l
         WHERE l.name = lockable_run.name;
        IF holder.n > 1 AND lockable_run.slots = 1 THEN
            why := format('is held by %s shared holders (pids %s)',
                          holder.n, holder.pids);
        ELSIF holder.n > 1 THEN
            why := format('has all of its slots taken (slots = %s; held by pids %s)',
                          lockable_run.slots, holder.pids);
        ELSIF holder.n = 1 AND holder.pid = pg_backend_pid() THEN
            why := format('is held by this session (pid %s, since %s); leases are not re-entrant',
                          holder.pid, holder.acquired_at);
        ELSIF holder.n = 1 AND holder.pid IS NULL THEN
            why := format('is held by a session from before the last restart (since %s)',
                          holder.acquired_at);
        ELSIF holder.n = 1 THEN
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

COMMENT ON FUNCTION lockable_run(text, text, interval, integer) IS
'run COMMAND while holding a keepalive lease NAME (one of SLOTS at once), released when it ends (also on error); false, with a NOTICE and a LOG line saying who holds it, if the lease is taken';

SELECT lockable_copy_acl(nullif(current_setting('lockable_upgrade.run'), '')::aclitem[],
                         'FUNCTION', 'lockable_run(text, text, interval, integer)');

DROP FUNCTION lockable_copy_acl(aclitem[], text, text);
