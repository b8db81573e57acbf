-- The do-it-yourself lease table (UNLOGGED table): take the row if it is free or
-- expired, then delete it with our token; two statements, two commits.
-- The name is the bind parameter itself, as for lockable.
\set k random(1, 1000000)
\set tok random(1, 1000000000000)
INSERT INTO lease_unlogged AS l (name, token, expires_at)
    VALUES (:k, :tok, now() + interval '60 seconds')
    ON CONFLICT (name) DO UPDATE
        SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
        WHERE l.expires_at < now();
DELETE FROM lease_unlogged WHERE name = :k AND token = :tok;
