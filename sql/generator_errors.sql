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
