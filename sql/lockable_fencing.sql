--
-- Fencing enforced in the database: lockable_check / lockable_is_held guard
-- writes so that a holder that lost its lease cannot write any more.
--
CREATE EXTENSION IF NOT EXISTS lockable;

-- report SQLSTATE and message of a statement that fails
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- The worked example of the README: the report row may only be written by
-- the current holder of the lease 'report', who passes its token along.
CREATE TABLE report (
    id          int PRIMARY KEY,
    body        text,
    lease_token bigint NOT NULL
);

CREATE FUNCTION report_fence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lockable_check('report', NEW.lease_token);
    RETURN NEW;
END $$;

CREATE TRIGGER report_fence BEFORE INSERT OR UPDATE ON report
    FOR EACH ROW EXECUTE FUNCTION report_fence();

-- holder A takes the lease and writes
SELECT lockable_acquire('report', ttl => '200 ms') AS a \gset
INSERT INTO report VALUES (1, 'written by A', :a);
SELECT lockable_is_held('report', :a) AS a_holds;

-- A pauses past its ttl; B takes the lease and writes
SELECT pg_sleep(0.3);
SELECT lockable_acquire('report', ttl => '1 min') AS b \gset
UPDATE report SET body = 'written by B', lease_token = :b WHERE id = 1;

-- A wakes up and writes again: rejected inside the same statement
SELECT lockable_is_held('report', :a) AS a_holds;
SELECT regexp_replace(pg_temp.err(format(
    'UPDATE report SET body = %L, lease_token = %s WHERE id = 1',
    'written by A, late', :a)), 'token \d+', 'token N');
SELECT body, lease_token = :b AS by_b FROM report;

-- after B releases, B's own token no longer passes either
SELECT lockable_release('report', :b);
SELECT regexp_replace(pg_temp.err(format(
    'UPDATE report SET body = %L, lease_token = %s WHERE id = 1',
    'written by B, after release', :b)), 'token \d+', 'token N');

-- the same guard as a row-level security policy
CREATE TABLE report2 (id int, body text, lease_token bigint);
ALTER TABLE report2 ENABLE ROW LEVEL SECURITY;
ALTER TABLE report2 FORCE ROW LEVEL SECURITY;
CREATE POLICY holder_writes ON report2
    USING (true)
    WITH CHECK (lockable_is_held('report', lease_token));
CREATE ROLE lockable_writer;
GRANT SELECT, INSERT ON report2 TO lockable_writer;
SET ROLE lockable_writer;   -- superusers bypass row-level security
SELECT lockable_acquire('report') AS c \gset
INSERT INTO report2 VALUES (1, 'by the holder', :c);
SELECT pg_temp.err(format('INSERT INTO report2 VALUES (2, %L, %s)', 'by a stale holder', :a));
SELECT lockable_release('report', :c);
SELECT pg_temp.err(format('INSERT INTO report2 VALUES (3, %L, %s)', 'by the holder after release', :c));
SELECT id, body FROM report2;
RESET ROLE;

-- bad input
SELECT pg_temp.err($$SELECT lockable_check(NULL, 1)$$);
SELECT pg_temp.err($$SELECT lockable_check('report', NULL)$$);
SELECT pg_temp.err($$SELECT lockable_is_held('', 1)$$);
SELECT lockable_is_held('never-acquired', 1) AS never;

DROP TABLE report, report2;
DROP FUNCTION report_fence();
DROP ROLE lockable_writer;
