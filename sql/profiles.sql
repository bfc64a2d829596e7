-- The plan's appendix as data: shipped profiles, drawing, and user edits.
\set SHOW_CONTEXT never
SELECT name, family, params, lower, upper, shipped
  FROM normalize.distribution_profiles ORDER BY name;

-- pg_dump keeps user rows only; shipped rows come back with CREATE EXTENSION
SELECT c.relname, x.cond
  FROM pg_extension AS e,
       unnest(e.extconfig, e.extcondition) AS x(oid, cond)
  JOIN pg_class AS c ON c.oid = x.oid
 WHERE e.extname = 'normalize';

-- sample_profile and draw
SELECT count(*), min(x) >= 50 AS above_lower, max(x) <= 200 AS below_upper, round(avg(x)::numeric, 0) AS mean
  FROM normalize.sample_profile('mrr_tier_4', 10000, 42) AS x;
SELECT round(x::numeric, 6) AS first_values FROM normalize.sample_profile('health_operational', 3, 42) AS x;
-- profiles of one family are independent for one seed
SELECT (SELECT array_agg(x) FROM normalize.sample_profile('mrr_tier_3', 5, 1) AS x)
    <> (SELECT array_agg(x) FROM normalize.sample_profile('mrr_tier_4', 5, 1) AS x) AS independent;
SELECT k, round(normalize.draw('engagement_manager', k, 42)::numeric, 6) AS engagement
  FROM unnest(ARRAY['user-1', 'user-2']) AS k;
-- draw is the keyed family function with the profile's name as purpose
SELECT normalize.draw('mrr_tier_1', 'acct-9', 3)
     = normalize.random_lognormal_for('acct-9', 9.5, 0.8, 3, 5000, 50000, purpose => 'mrr_tier_1') AS same;
SELECT normalize.draw('mrr_tier_1', 'acct-9', 3, purpose => 'other')
    <> normalize.draw('mrr_tier_1', 'acct-9', 3) AS purpose_matters;
-- one call per row over many keys, with profiles changing between rows
SELECT p, count(*), round(avg(normalize.draw(p, g::text, 1))::numeric, 0) AS mean
  FROM generate_series(1, 3000) AS g,
       unnest(ARRAY['health_critical', 'health_maintenance']) AS p
 GROUP BY p ORDER BY p;

-- Users add and edit profiles; an edited shipped row becomes the user's
INSERT INTO normalize.distribution_profiles (name, family, params, lower, upper, description)
VALUES ('seats_tier_1', 'gamma', '{"shape": 3, "scale": 20}', 5, 500, 'Seats of a Tier 1 account');
UPDATE normalize.distribution_profiles SET params = '{"mu": 4.6, "sigma": 0.4}' WHERE name = 'mrr_tier_4';
SELECT name, params, shipped FROM normalize.distribution_profiles
 WHERE name IN ('seats_tier_1', 'mrr_tier_4', 'mrr_tier_3') ORDER BY name;
SELECT round(avg(x)::numeric, 0) AS mean FROM normalize.sample_profile('seats_tier_1', 10000, 1) AS x;
-- a user row that names a shipped profile replaces it (as a restore does)
INSERT INTO normalize.distribution_profiles (name, family, params, lower, upper)
VALUES ('mrr_tier_3', 'lognormal', '{"mu": 6.3, "sigma": 0.5}', 200, 1000);
SELECT name, params, shipped FROM normalize.distribution_profiles WHERE name = 'mrr_tier_3';

-- Invalid rows are refused with the generators' own messages
INSERT INTO normalize.distribution_profiles (name, family, params) VALUES ('bad', 'weibull', '{}');
INSERT INTO normalize.distribution_profiles (name, family, params) VALUES ('bad', 'normal', '{"mean": 1}');
INSERT INTO normalize.distribution_profiles (name, family, params) VALUES ('bad', 'normal', '{"mean": 1, "sd": 2, "skew": 3}');
INSERT INTO normalize.distribution_profiles (name, family, params) VALUES ('bad', 'normal', '{"mean": 1, "sd": "2"}');
INSERT INTO normalize.distribution_profiles (name, family, params) VALUES ('bad', 'normal', '[1, 2]');
INSERT INTO normalize.distribution_profiles (name, family, params) VALUES ('bad', 'normal', '{"mean": 1, "sd": -2}');
INSERT INTO normalize.distribution_profiles (name, family, params, lower, upper) VALUES ('bad', 'normal', '{"mean": 1, "sd": 2}', 10, 0);
UPDATE normalize.distribution_profiles SET lower = 1e6 WHERE name = 'mrr_tier_2';

-- Unknown profiles
SELECT count(*) FROM normalize.sample_profile('mrr_tier_9', 10);
SELECT normalize.draw('no_such_profile', 'k');

-- Undo the edits for the tests that follow
DELETE FROM normalize.distribution_profiles WHERE name IN ('seats_tier_1', 'mrr_tier_3', 'mrr_tier_4');
INSERT INTO normalize.distribution_profiles (name, family, params, lower, upper, description)
VALUES ('mrr_tier_3', 'lognormal', '{"mu": 6.2, "sigma": 0.5}', 200, 1000, 'Monthly recurring revenue of a Tier 3 customer, USD'),
       ('mrr_tier_4', 'lognormal', '{"mu": 4.5, "sigma": 0.4}', 50, 200, 'Monthly recurring revenue of a Tier 4 customer, USD');
SELECT count(*) FROM normalize.distribution_profiles;
