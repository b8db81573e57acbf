-- Floor for the two-statement pairs: two trivial round trips.
SELECT 1;
SELECT 1;
