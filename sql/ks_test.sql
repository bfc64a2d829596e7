-- One-sample Kolmogorov-Smirnov tests inside the database.
-- A sample from the family passes; the statistic and p-value are pinned.
SELECT round((r).statistic::numeric, 5) AS statistic, (r).n, round((r).p_value::numeric, 4) AS p_value
  FROM (SELECT normalize.ks_test(x, 'normal', '{75,15}') AS r
          FROM normalize.random_normal(10000, 75, 15, seed => 1) AS x) AS t;
-- truncation is part of the hypothesis
SELECT (r).n, (r).p_value > 0.01 AS passes
  FROM (SELECT normalize.ks_test(x, 'lognormal', '{4.5,0.4}', 50, 200) AS r
          FROM normalize.random_lognormal(10000, 4.5, 0.4, seed => 1, lower => 50, upper => 200) AS x) AS t;
-- ... so the untruncated family rejects the truncated sample
SELECT (r).p_value < 1e-6 AS rejected
  FROM (SELECT normalize.ks_test(x, 'lognormal', '{4.5,0.4}') AS r
          FROM normalize.random_lognormal(10000, 4.5, 0.4, seed => 1, lower => 50, upper => 200) AS x) AS t;
-- clamping instead of truncating piles mass on the bounds, and is caught
SELECT (r).p_value < 1e-6 AS clamping_caught
  FROM (SELECT normalize.ks_test(least(greatest(x, 40), 60), 'normal', '{50,5}', 40, 60) AS r
          FROM normalize.random_normal(10000, 50, 8, seed => 1) AS x) AS t;
-- a shifted sample is rejected
SELECT (r).p_value < 1e-6 AS shift_caught
  FROM (SELECT normalize.ks_test(x + 3, 'normal', '{75,15}') AS r
          FROM normalize.random_normal(10000, 75, 15, seed => 1) AS x) AS t;
-- against a profile, by name
SELECT (r).n, (r).p_value > 0.01 AS passes
  FROM (SELECT normalize.ks_test(x, 'engagement_standard') AS r
          FROM normalize.sample_profile('engagement_standard', 10000, 3) AS x) AS t;
-- as a grouped aggregate over a column
SELECT g, (normalize.ks_test(x, 'uniform', '{}', 0, 1)).p_value > 0.01 AS passes
  FROM (SELECT g, x FROM generate_series(1, 3) AS g,
               LATERAL normalize.random_uniform(2000, seed => g) AS x) AS t
 GROUP BY g ORDER BY g;
-- the aggregate ignores rows with a NULL argument, and is NULL over none
SELECT (normalize.ks_test(x, 'normal', '{0,1}')).n
  FROM (VALUES (0.1::float8), (NULL), (-0.3)) AS t(x);
SELECT normalize.ks_test(x, 'normal', '{0,1}') IS NULL AS empty_is_null
  FROM normalize.random_normal(0) AS x;
-- every shipped profile passes at 100,000 draws with a fixed seed
SELECT profile, family, n, passed FROM normalize.validate_profiles(100000, 42);

-- Errors
SELECT normalize.ks_test(x::float8, 'poisson', '{3}') FROM normalize.random_poisson(10, 3) AS x;
SELECT normalize.ks_test(x, 'normal', '{0,1}') FROM (VALUES (1::float8), ('NaN')) AS t(x);
SELECT normalize.ks_test(x, 'normal', '{0,-1}') FROM (VALUES (1::float8)) AS t(x);
SELECT normalize.ks_test(x, 'no_such_profile') FROM (VALUES (1::float8)) AS t(x);
\set SHOW_CONTEXT never
SELECT count(*) FROM normalize.validate_profiles(1000, 1, alpha => 2);
SELECT count(*) FROM normalize.validate_profiles(-1);
SELECT normalize.require_between('share', 0, 0, 1);
SELECT normalize.require_between('share', NULL, 0, 1);
SELECT normalize.require_between(NULL, 0.5, 0, 1);
SELECT normalize.require_between('share', 0.5, NULL, 1);
SELECT count(*) FROM normalize.validate_profiles(0);
SELECT normalize.require_range('n', 0, 1);
SELECT normalize.require_range('n', 11, 1, 10);
SELECT normalize.require_range('n', 'NaN', 1);
SELECT normalize.require_range('n', NULL, 1);
SELECT normalize.require_range(NULL, 1, 0);
SELECT normalize.require_range('n', 1, NULL);
SELECT normalize.require_range('n', 1, 0, NULL);
SELECT normalize.require_range('n', 'Infinity', 1) AS infinity_is_at_least_1;
