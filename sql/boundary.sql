-- The C++/Postgres boundary: cancels and timeouts stop long calls, and the
-- session stays usable afterwards.
SET statement_timeout = '1s';
SELECT count(*) FROM normalize.random_normal(1000000000);
SELECT count(*) FROM normalize.random_beta(1000000000, 2, 5);
SELECT count(*) FROM normalize.sample_profile('mrr_tier_1', 1000000000);
RESET statement_timeout;
SELECT 1 AS still_usable;
SELECT count(*) FROM normalize.random_normal(100);
-- an error in the middle of a transaction rolls back cleanly
BEGIN;
SELECT count(*) FROM normalize.random_normal(10);
SELECT count(*) FROM normalize.random_normal(10, sd => 0);
ROLLBACK;
SELECT count(*) FROM normalize.random_normal(10);
-- in the select list, as a value-per-row set function
SELECT normalize.random_poisson(3, 2, seed => 1) AS counts;
