/* lockable--1.1--1.2.sql: a planner support function for lockable_acquire */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lockable UPDATE TO '1.2'" to load this file. \quit

-- Drops trailing arguments that equal their defaults from a planned call
-- of lockable_acquire, so that the executor does not set them up again on
-- every execution (see lockable_acquire_support in lease_api.c).  The
-- call, its privileges and its results stay those of lockable_acquire.
CREATE FUNCTION lockable_acquire_support(internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'lockable_acquire_support'
LANGUAGE C STRICT;

ALTER FUNCTION lockable_acquire(text, interval, interval, boolean)
    SUPPORT lockable_acquire_support;
