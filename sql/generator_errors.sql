-- Every bad input gets a clear error naming the argument and its value.
-- n
SELECT count(*) FROM normalize.random_normal(-1);
SELECT count(*) FROM normalize.random_normal(10000000001);
-- scale parameters must be positive and finite
SELECT count(*) FROM normalize.random_normal(10, 0, 0);
SELECT count(*) FROM normalize.random_normal(10, 0, -1);
SELECT count(*) FROM normalize.random_normal(10, 'NaN', 1);
SELECT count(*) FROM normalize.random_normal(10, 0, 'Infinity');
SELECT count(*) FROM normalize.random_lognormal(10, 4.5, 0);
SELECT count(*) FROM normalize.random_lognormal(10, '-Infinity', 0.4);
SELECT count(*) FROM normalize.random_beta(10, 0, 1);
SELECT count(*) FROM normalize.random_beta(10, 1, -2);
SELECT count(*) FROM normalize.random_gamma(10, -2, 15);
SELECT count(*) FROM normalize.random_gamma(10, 2, 0);
SELECT count(*) FROM normalize.random_exponential(10, 0);
SELECT count(*) FROM normalize.random_exponential(10, 'NaN');
SELECT count(*) FROM normalize.random_poisson(10, -3);
SELECT count(*) FROM normalize.random_poisson(10, 1e16);
SELECT count(*) FROM normalize.random_bernoulli(10, 1.5);
SELECT count(*) FROM normalize.random_bernoulli(10, -0.1);
SELECT count(*) FROM normalize.random_bernoulli(10, 'NaN');
-- ranges
SELECT count(*) FROM normalize.random_normal(10, lower => 5, upper => 1);
SELECT count(*) FROM normalize.random_normal(10, lower => 1, upper => 1);
SELECT count(*) FROM normalize.random_normal(10, lower => 'NaN');
SELECT count(*) FROM normalize.random_normal(10, upper => 'NaN');
SELECT count(*) FROM normalize.random_normal(10, 0, 1, lower => 30, upper => 40);
SELECT count(*) FROM normalize.random_lognormal(10, 4.5, 0.4, lower => 5000, upper => 50000);
SELECT count(*) FROM normalize.random_gamma(10, 2, 15, lower => -10, upper => 0);
SELECT count(*) FROM normalize.random_beta(10, 4, 1.5, lower => 60, upper => 'Infinity');
SELECT count(*) FROM normalize.random_uniform(10, 1, 1);
SELECT count(*) FROM normalize.random_uniform(10, 0, 'Infinity');
-- the generic forms
SELECT count(*) FROM normalize.random_sample('weibull', '{1,2}', 10);
SELECT count(*) FROM normalize.random_sample('normal', '{0}', 10);
SELECT count(*) FROM normalize.random_sample('normal', '{0,1,2}', 10);
SELECT count(*) FROM normalize.random_sample('uniform', '{1}', 10, 42, 0, 1);
SELECT count(*) FROM normalize.random_sample('normal', ARRAY[0, NULL]::float8[], 10);
SELECT count(*) FROM normalize.random_sample('normal', '{{0,1}}', 10);
SELECT count(*) FROM normalize.random_sample('poisson', '{3}', 10, 42, 0, 10);
SELECT normalize.random_sample_for('k', 'gauss', '{0,1}');
-- case and blanks in a family name are not significant
SELECT normalize.random_sample_for('k', ' Normal', '{0,1}') = normalize.random_normal_for('k') AS same;
-- keyed forms validate the same way
SELECT normalize.random_normal_for('k', 0, -1);
SELECT normalize.random_beta_for('k', 4, 1.5, lower => 95, upper => 60);
SELECT normalize.random_poisson_for('k', 0);
SELECT normalize.check_distribution('gamma', '{2,15}', 100, 100.5);
SELECT normalize.check_distribution('gamma', '{2,15}', 1000, 1001);
SELECT normalize.distribution_cdf('NaN', 'normal', '{0,1}');
SELECT normalize.family_parameters('cauchy');
-- values that double precision cannot hold
SELECT normalize.distribution_cdf(0.5, 'beta', '{1e300,1e300}');
SELECT normalize.distribution_cdf(0.5, 'gamma', '{1e300,1e300}');
SELECT count(*) FROM normalize.random_gamma(3, 1e300, 1e300);
SELECT count(*) FROM normalize.random_lognormal(3, 700, 1);
SELECT count(*) FROM normalize.random_beta(3, 0.01, 1);
SELECT count(*) FROM normalize.random_uniform(3, -1e308, 1e308);
-- Shapes and means beyond what Boost.Math can evaluate (its incomplete
-- gamma gives up from about 2.09e10) are refused the same way by the
-- generators, the CDF, ks_test and the profiles' check, never XX000.
SELECT normalize.distribution_cdf(1e11, 'poisson', '{1e11}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT normalize.distribution_cdf(1e11, 'gamma', '{1e11,1}');
SELECT count(*) FROM normalize.random_gamma(3, 1e11, 1, 42, 0, 1e11);
SELECT normalize.ks_test(x, 'gamma', '{1e12,1}') FROM generate_series(1, 10) AS x;
SELECT normalize.distribution_cdf(0.5, 'beta', '{2,1e11}');
INSERT INTO normalize.distribution_profiles (name, family, params) VALUES ('too_big', 'gamma', '{"shape": 1e12, "scale": 1}');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- At the limit, CDFs and truncated draws (which invert the CDF) evaluate.
SELECT round(normalize.distribution_cdf(1e10, 'poisson', '{1e10}')::numeric, 5) AS poisson_cdf_at_the_limit;
SELECT round(normalize.distribution_cdf(1e10, 'gamma', '{1e10,1}')::numeric, 5) AS gamma_cdf_at_the_limit;
SELECT count(*), bool_and(x >= 1e10 + 5e5) AS in_range FROM normalize.random_gamma(5, 1e10, 1, 42, 1e10 + 5e5) AS x;
-- CDFs that Boost.Math computes through an intermediate that overflows
-- (tgamma of the shape, or of k + 1) are the exact 0 and 1.
SELECT normalize.distribution_cdf(1e-300, 'gamma', '{1000,1}') AS gamma_far_below;
SELECT normalize.distribution_cdf(1000, 'poisson', '{1e-10}') AS poisson_far_above;
-- Draws that double precision cannot hold: 22003, naming the distribution.
SELECT count(*) FROM normalize.random_gamma(3, 2, 1e308);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT count(*) FROM normalize.random_gamma(3, 1e-300, 1e300, 42, 1e-300, 1e300);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
