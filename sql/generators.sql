-- Generators: fixed seeds, rounded aggregates and pinned first values.
-- Aggregates are rounded so that the file pins the distribution, while the
-- first values (six decimals) pin the exact stream.

-- Pinned values of the series streams
SELECT round(x::numeric, 6) AS normal FROM normalize.random_normal(3, 0, 1, seed => 42) AS x;
SELECT round(x::numeric, 6) AS lognormal FROM normalize.random_lognormal(3, 4.5, 0.4, seed => 42, lower => 50, upper => 200) AS x;
SELECT round(x::numeric, 6) AS beta FROM normalize.random_beta(3, 4, 1.5, seed => 42, lower => 60, upper => 95) AS x;
SELECT round(x::numeric, 6) AS gamma FROM normalize.random_gamma(3, 2, 15, seed => 42, lower => 20, upper => 70) AS x;
SELECT round(x::numeric, 6) AS exponential FROM normalize.random_exponential(3, 0.1, seed => 42, lower => 10, upper => 40) AS x;
SELECT round(x::numeric, 6) AS uniform FROM normalize.random_uniform(3, 0, 10, seed => 42) AS x;
SELECT x AS poisson FROM normalize.random_poisson(5, 3, seed => 42) AS x;
SELECT x AS bernoulli FROM normalize.random_bernoulli(5, 0.5, seed => 42) AS x;

-- Distributions as aggregates over 20,000 values
SELECT count(*), round(avg(x)::numeric, 1) AS mean, round(stddev(x)::numeric, 1) AS sd
  FROM normalize.random_normal(20000, 75, 15, seed => 1) AS x;
SELECT count(*), round(avg(x)::numeric, 1) AS mean, min(x) >= 50 AS above_lower, max(x) <= 200 AS below_upper
  FROM normalize.random_lognormal(20000, 4.5, 0.4, seed => 1, lower => 50, upper => 200) AS x;
SELECT round(avg(x)::numeric, 1) AS mean, min(x) >= 60 AS above_lower, max(x) <= 95 AS below_upper
  FROM normalize.random_beta(20000, 4, 1.5, seed => 1, lower => 60, upper => 95) AS x;
SELECT round(avg(x)::numeric, 2) AS mean_is_alpha_over_sum FROM normalize.random_beta(20000, 2, 6, seed => 1) AS x;
SELECT round(avg(x)::numeric, 0) AS mean_is_shape_times_scale FROM normalize.random_gamma(20000, 2, 15, seed => 1) AS x;
SELECT round(avg(x)::numeric, 0) AS mean_is_one_over_rate FROM normalize.random_exponential(20000, 0.1, seed => 1) AS x;
SELECT round(avg(x)::numeric, 1) AS mean, round(variance(x)::numeric, 1) AS variance
  FROM normalize.random_poisson(20000, 3, seed => 1) AS x;
SELECT round(avg(x::int)::numeric, 2) AS share_true FROM normalize.random_bernoulli(20000, 0.2, seed => 1) AS x;
SELECT round(avg(x)::numeric, 2) AS mean, min(x) >= 0 AS above_lower, max(x) < 1 AS below_upper
  FROM normalize.random_uniform(20000, seed => 1) AS x;

-- Truncation in the far tails samples inside the range (inverse CDF)
SELECT min(x) >= 4 AS above_lower, max(x) <= 5 AS below_upper, round(avg(x)::numeric, 2) AS mean
  FROM normalize.random_normal(5000, 0, 1, seed => 3, lower => 4, upper => 5) AS x;
SELECT min(x) >= -6 AS above_lower, max(x) <= -4 AS below_upper, round(avg(x)::numeric, 2) AS mean
  FROM normalize.random_normal(5000, 0, 1, seed => 3, lower => -6, upper => -4) AS x;

-- Zero values is an empty set; the same n and seed give the same values
SELECT count(*) FROM normalize.random_normal(0) AS x;
SELECT (SELECT array_agg(x) FROM normalize.random_gamma(100, 2, 3, seed => 9) AS x)
     = (SELECT array_agg(x) FROM normalize.random_gamma(100, 2, 3, seed => 9) AS x) AS same;
-- a longer series starts with the shorter one
SELECT (SELECT array_agg(x) FROM normalize.random_normal(10, seed => 9) AS x)
     = (SELECT (array_agg(x))[1:10] FROM normalize.random_normal(1000, seed => 9) AS x) AS prefix;

-- random_sample takes the family by name and gives the family's own values
SELECT (SELECT array_agg(x) FROM normalize.random_sample('lognormal', ARRAY[4.5, 0.4], 50, 7, 50, 200) AS x)
     = (SELECT array_agg(x) FROM normalize.random_lognormal(50, 4.5, 0.4, 7, 50, 200) AS x) AS same_values;

-- Keyed forms: one value per key, pinned
SELECT k, round(normalize.random_normal_for(k, 75, 15, seed => 42)::numeric, 6) AS health
  FROM unnest(ARRAY['acct-1', 'acct-2', 'acct-3']) AS k;
SELECT round(normalize.random_lognormal_for('acct-1', 4.5, 0.4, seed => 42, lower => 50, upper => 200)::numeric, 6) AS lognormal,
       round(normalize.random_beta_for('acct-1', 4, 1.5, seed => 42, lower => 60, upper => 95)::numeric, 6) AS beta,
       round(normalize.random_gamma_for('acct-1', 2, 15, seed => 42, lower => 20, upper => 70)::numeric, 6) AS gamma,
       round(normalize.random_exponential_for('acct-1', 0.1, seed => 42, lower => 10, upper => 40)::numeric, 6) AS exponential,
       round(normalize.random_uniform_for('acct-1', 0, 10, seed => 42)::numeric, 6) AS uniform,
       normalize.random_poisson_for('acct-1', 3, seed => 42) AS poisson,
       normalize.random_bernoulli_for('acct-1', 0.5, seed => 42) AS bernoulli;
-- kind and purpose name different streams
SELECT count(DISTINCT v) AS distinct_values FROM (VALUES
    (normalize.random_normal_for('k', seed => 1)),
    (normalize.random_normal_for('k', seed => 1, kind => 'account')),
    (normalize.random_normal_for('k', seed => 1, purpose => 'mrr')),
    (normalize.random_normal_for('k', seed => 2)),
    (normalize.random_normal_for('k2', seed => 1))) AS t(v);
-- the empty purpose stands for the family's name
SELECT normalize.random_normal_for('k', seed => 1) = normalize.random_normal_for('k', seed => 1, purpose => 'normal') AS same;
SELECT normalize.random_sample_for('k', 'gamma', '{2,15}', 5) = normalize.random_gamma_for('k', 2, 15, 5) AS same;
-- keyed values over many keys follow the distribution
SELECT round(avg(v)::numeric, 1) AS mean, round(stddev(v)::numeric, 1) AS sd
  FROM (SELECT normalize.random_normal_for(g::text, 75, 15, seed => 5) AS v FROM generate_series(1, 20000) AS g) AS t;

-- STRICT: a NULL argument gives NULL, or no rows
SELECT count(*) FROM normalize.random_normal(NULL);
SELECT count(*) FROM normalize.random_normal(10, NULL, 1);
SELECT normalize.random_normal_for(NULL) IS NULL AS null_key;
SELECT normalize.random_normal_for('k', seed => NULL) IS NULL AS null_seed;

-- Family catalog
SELECT f, normalize.family_parameters(f) AS params
  FROM unnest(ARRAY['normal', 'lognormal', 'beta', 'gamma', 'exponential', 'uniform', 'poisson', 'bernoulli']) AS f;
SELECT round(normalize.distribution_cdf(0, 'normal', '{0,1}')::numeric, 6) AS half,
       round(normalize.distribution_cdf(77.5, 'beta', '{1,1}', 60, 95)::numeric, 6) AS mapped_half,
       normalize.distribution_cdf(50, 'lognormal', '{4.5,0.4}', 50, 200) AS at_lower,
       normalize.distribution_cdf(200, 'lognormal', '{4.5,0.4}', 50, 200) AS at_upper;
