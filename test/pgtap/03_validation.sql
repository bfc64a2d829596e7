-- Validation inside the database: the shipped profiles pass their own KS
-- test, the test catches the mistakes it exists for, and bad input gets the
-- right SQLSTATE.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(43);

-- Every shipped profile (16) passes at 100,000 draws with a fixed seed.
SELECT ok(passed, format('%s (%s) passes KS at %s draws: D = %s, p = %s',
                         profile, family, n, round(statistic::numeric, 5), round(p_value::numeric, 4)))
  FROM normalize.validate_profiles(100000, 42) ORDER BY profile;
SELECT is((SELECT count(*) FROM normalize.validate_profiles(1000, 1)), 16::bigint,
          'validate_profiles covers every profile');

-- Clamping is caught: an untruncated normal clamped to the maintenance
-- range fails against the truncated profile.
SELECT cmp_ok((SELECT (normalize.ks_test(least(greatest(x, 40), 60), 'health_maintenance')).p_value
                 FROM normalize.random_normal(20000, 50, 8, seed => 1) AS x),
              '<', 1e-6::float8, 'clamping instead of truncation fails the profile''s test');
-- A profile edited away from what was drawn fails.
UPDATE normalize.distribution_profiles SET params = '{"mu": 4.6, "sigma": 0.4}' WHERE name = 'mrr_tier_4';
SELECT cmp_ok((SELECT (normalize.ks_test(x, 'mrr_tier_4')).p_value
                 FROM normalize.random_lognormal(20000, 4.5, 0.4, seed => 1, lower => 50, upper => 200) AS x),
              '<', 1e-6::float8, 'a sample from other parameters fails');
-- The KS p-value is calibrated: across 200 samples of 500 from the family,
-- about 5% fall below 0.05.
SELECT ok((SELECT count(*) FILTER (WHERE (r).p_value < 0.05) BETWEEN 2 AND 22
             FROM (SELECT normalize.ks_test(x, 'gamma', '{2,15}', 20, 70) AS r
                     FROM generate_series(1, 200) AS s,
                          LATERAL normalize.random_gamma(500, 2, 15, seed => s, lower => 20, upper => 70) AS x
                    GROUP BY s) AS t),
          'under the null hypothesis, p < 0.05 about 5% of the time');

-- Bad input gets the right SQLSTATE and message.
SELECT throws_ok('SELECT count(*) FROM normalize.random_normal(-1)', '22023',
                 'n must be between 0 and 10000000000, got -1', 'negative n');
SELECT throws_ok('SELECT count(*) FROM normalize.random_normal(100000000000)', '22023', NULL, 'absurd n');
SELECT throws_ok('SELECT count(*) FROM normalize.random_normal(10, 0, 0)', '22023',
                 'sd must be positive, got 0', 'zero sd');
SELECT throws_ok('SELECT count(*) FROM normalize.random_lognormal(10, 4.5, -0.4)', '22023',
                 'sigma must be positive, got -0.4', 'negative sigma');
SELECT throws_ok('SELECT count(*) FROM normalize.random_beta(10, 0, 1)', '22023',
                 'alpha must be positive, got 0', 'zero alpha');
SELECT throws_ok('SELECT count(*) FROM normalize.random_beta(10, 1, ''NaN'')', '22023',
                 'beta must be a finite number, got NaN', 'NaN beta');
SELECT throws_ok('SELECT count(*) FROM normalize.random_gamma(10, 2, -15)', '22023',
                 'scale must be positive, got -15', 'negative scale');
SELECT throws_ok('SELECT count(*) FROM normalize.random_gamma(10, ''Infinity'', 15)', '22023',
                 'shape must be a finite number, got Infinity', 'infinite shape');
SELECT throws_ok('SELECT count(*) FROM normalize.random_exponential(10, -0.1)', '22023',
                 'rate must be positive, got -0.1', 'negative rate');
SELECT throws_ok('SELECT count(*) FROM normalize.random_bernoulli(10, 2)', '22023',
                 'p must be between 0 and 1, got 2', 'p above 1');
SELECT throws_ok('SELECT count(*) FROM normalize.random_poisson(10, 0)', '22023',
                 'lambda must be positive, got 0', 'zero lambda');
SELECT throws_ok('SELECT count(*) FROM normalize.random_normal(10, lower => 3, upper => 2)', '22023',
                 'lower must be less than upper, got lower = 3 and upper = 2', 'lower >= upper');
SELECT throws_ok('SELECT count(*) FROM normalize.random_normal(10, lower => 8, upper => 9)', '22023',
                 'the range [8, 9] holds almost no probability mass', 'a range without mass');
SELECT throws_ok('SELECT count(*) FROM normalize.random_sample(''cauchy'', ''{0,1}'', 10)', '22023',
                 'unknown distribution family "cauchy"', 'an unknown family');
SELECT throws_ok('SELECT count(*) FROM normalize.random_sample(''normal'', ARRAY[0, NULL]::float8[], 10)', '22004',
                 'params must not contain NULL', 'NULL inside params');
SELECT throws_ok('SELECT count(*) FROM normalize.sample_profile(''mrr_tier_0'', 10)', '42704',
                 'profile "mrr_tier_0" does not exist', 'an unknown profile');
SELECT throws_ok('SELECT normalize.draw(''mrr_tier_0'', ''k'')', '42704',
                 'profile "mrr_tier_0" does not exist', 'an unknown profile, keyed');
SELECT throws_ok($$INSERT INTO normalize.distribution_profiles (name, family, params) VALUES ('x', 'normal', '{"mean": 0}')$$,
                 '22023', 'params must give sd a number, got nothing', 'a profile missing a parameter');
SELECT throws_ok($$SELECT normalize.ks_test(x::float8, 'poisson', '{3}') FROM normalize.random_poisson(10, 3) AS x$$,
                 '22023', 'ks_test needs a continuous family, got poisson', 'KS against a discrete family');
SELECT throws_ok($$SELECT normalize.ks_test(x, 'normal', '{0,1}') FROM (VALUES ('NaN'::float8)) AS t(x)$$,
                 '22023', 'ks_test got a NaN value', 'KS over NaN');

SELECT throws_ok($$SELECT normalize.distribution_cdf(0.5, 'beta', '{1e300,1e300}')$$,
                 '22023', 'alpha must be at most 1e10, got 1e+300', 'a shape whose CDF Boost.Math cannot evaluate');
SELECT throws_ok($$SELECT normalize.distribution_cdf(1e11, 'poisson', '{1e11}')$$,
                 '22023', 'lambda must be at most 1e10, got 100000000000', 'a mean whose CDF Boost.Math cannot evaluate');
SELECT throws_ok('SELECT count(*) FROM normalize.random_gamma(3, 2, 1e308)',
                 '22003', NULL, 'a draw that overflows');

SELECT * FROM finish();
ROLLBACK;
