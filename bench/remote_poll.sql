-- Helpers for bench/remote.sh, created in its scratch server's bench
-- database.
--
-- remote_bench_samples(col, target, timeout_s): read lockable_stats.<col>
-- every 50 ms, on the server's clock, until it reaches target or timeout_s
-- seconds pass; one row per reading (epoch seconds, value).  A heartbeat
-- round's start is the last reading before the counter moved, its end the
-- first reading at target: the duration is exact to within 0.1 s.
CREATE FUNCTION remote_bench_samples(col text, target bigint, timeout_s float8)
RETURNS TABLE (t float8, v bigint)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	cur bigint;
BEGIN
	LOOP
		EXECUTE format('SELECT %I FROM lockable_stats', col) INTO cur;
		t := extract(epoch FROM clock_timestamp());
		v := cur;
		RETURN NEXT;
		EXIT WHEN cur >= target
			OR clock_timestamp() - t0 > make_interval(secs => timeout_s);
		PERFORM pg_sleep(0.05);
	END LOOP;
END
$$;
