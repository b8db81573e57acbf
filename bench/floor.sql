-- Floor: the cheapest statement, one round trip per transaction.
SELECT 1;
