-- Phase 4: the feature catalog and the point-in-time feature views, on the
-- demo pipeline (seeds 1 and 42, history to 2025-06-18).
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(27);
-- Hundreds of expressions per query: JIT compiling them costs more than it saves.
SET LOCAL jit = off;

\ir fixture_check.psql

-- The catalog and the views are one: every catalog row is a column, in
-- order, of the right type, and every column (past the key and as_of) a row.
SELECT set_eq(
    format($$SELECT c.attname::text, c.attnum - 2, format_type(c.atttypid, c.atttypmod)
               FROM pg_attribute AS c WHERE c.attrelid = 'normalize.%s_features'::regclass AND c.attnum > 2
                AND NOT c.attisdropped$$, e),
    format($$SELECT feature, position, CASE data_type WHEN 'float8' THEN 'double precision' ELSE data_type END
               FROM normalize.feature_catalog WHERE entity = %L$$, e),
    format('%s_features has exactly the columns of the catalog', e))
  FROM unnest(ARRAY['customer', 'device', 'user']) AS e;
SELECT ok(n >= 150, format('%s: %s features in the catalog (at least 150)', entity, n))
  FROM (SELECT entity, count(*) AS n FROM normalize.feature_catalog GROUP BY entity) AS t ORDER BY entity;

SELECT is_empty($$
    SELECT name FROM (VALUES ('customer', 'revenue_growth_rate_3m'), ('customer', 'revenue_growth_rate_6m'),
                             ('customer', 'revenue_growth_rate_12m'), ('customer', 'product_adoption_velocity_3m'),
                             ('customer', 'support_ticket_frequency_3m'), ('customer', 'payment_reliability_score_12m'),
                             ('customer', 'tier_changes_to_date'), ('customer', 'device_healthy_share'),
                             ('customer', 'user_mean_engagement'), ('customer', 'active_user_ratio'),
                             ('device', 'health_trend_30d'), ('device', 'maintenance_interval_mean'),
                             ('device', 'usage_intensity_30d'), ('device', 'environmental_impact_30d'),
                             ('device', 'error_rate_30d'), ('device', 'days_since_maintenance'), ('device', 'failures_to_date'),
                             ('user', 'engagement_momentum_4w'), ('user', 'first_feature'), ('user', 'adoption_rate'),
                             ('user', 'weeks_to_first_adoption'), ('user', 'session_frequency_4w'),
                             ('user', 'session_regularity_12w'), ('user', 'session_recency_weeks'),
                             ('user', 'role_based_activity_index_4w')) AS v(entity, name)
     WHERE NOT EXISTS (SELECT 1 FROM normalize.feature_catalog AS c WHERE c.entity = v.entity AND c.feature = v.name)$$,
    'every feature the plan names is in the catalog');

SELECT is_empty($$SELECT entity, feature FROM normalize.feature_null_rates() WHERE nulls = rows$$,
                'no feature is NULL on every row of the demo');
SELECT is_empty($$SELECT entity, feature, null_share FROM normalize.feature_null_rates()
                   WHERE required AND null_share >= 0.01$$,
                'features the catalog marks required are missing on less than 1% of rows');

-- The spine: month ends for customers and users, every 7 days back from
-- as_of for devices; the last cutoff is as_of.
SELECT results_eq($$SELECT DISTINCT as_of FROM normalize.customer_feature_store ORDER BY 1 DESC LIMIT 3$$,
                  $$VALUES ('2025-06-18'::date), ('2025-05-31'), ('2025-04-30')$$,
                  'customer cutoffs are month ends, the last at as_of');
SELECT results_eq($$SELECT DISTINCT as_of FROM normalize.device_feature_store ORDER BY 1 DESC LIMIT 3$$,
                  $$VALUES ('2025-06-18'::date), ('2025-06-11'), ('2025-06-04')$$,
                  'device cutoffs fall every 7 days back from as_of');

-- The engine and the views agree: the stores, written by the feature
-- engine, against every row of the views (the definitions) recomputed.
SELECT is_empty($$(SELECT * FROM normalize.customer_feature_store EXCEPT SELECT * FROM normalize.customer_features)
                  UNION ALL (SELECT * FROM normalize.customer_features EXCEPT SELECT * FROM normalize.customer_feature_store)$$,
                'the engine''s customer features are the view''s, to the bit');
SELECT is((SELECT array_agg(coalesce(feature, '(rows)') || ': ' || differing ORDER BY feature NULLS FIRST)
             FILTER (WHERE differing > 0 OR feature IS NULL)
             FROM normalize.feature_store_disagreements(e)),
          ARRAY['(rows): 0'],
          format('the engine''s %s features agree with the view''s on every row and feature', e))
  FROM unnest(ARRAY['customer', 'device', 'user']) AS e;
SELECT ok((SELECT rows FROM normalize.feature_store_disagreements('device', 5) WHERE feature IS NULL)
          = (SELECT count(*) FROM normalize.device_feature_store
              WHERE device_key IN (SELECT device_key FROM normalize.devices ORDER BY md5(device_key), 1 LIMIT 5)),
          'a sample of 5 devices compares the rows of those 5');

-- customer_features_at: the latest cutoff on or before the date.
SELECT is((SELECT array[count(*) FILTER (WHERE as_of > '2025-05-15'), count(*) FILTER (WHERE as_of = '2025-04-30')]
             FROM normalize.customer_features_at('2025-05-15')),
          (SELECT array[0, count(*)] FROM normalize.customer_feature_store WHERE as_of = '2025-04-30'),
          'customer_features_at(2025-05-15) gives each account its latest cutoff on or before it');

-- Leakage: rewrite every history row known only after T; the features at T
-- do not move. T is a device cutoff, and the end of June for the others.
CREATE TEMP TABLE before_c AS SELECT * FROM normalize.customer_features WHERE as_of = '2024-06-30';
-- (A list of constants, so that the key reaches into the view's windows.)
SELECT string_agg(quote_literal(device_key), ', ') AS devices
  FROM (SELECT device_key FROM normalize.devices ORDER BY device_key LIMIT 40) AS d \gset
CREATE TEMP TABLE before_d AS
SELECT * FROM normalize.device_features WHERE as_of = '2024-06-26' AND device_key IN (:devices);
CREATE TEMP TABLE before_u AS SELECT * FROM normalize.user_features WHERE as_of = '2024-06-30';
-- The roll-up of each account's devices and users per month, which the
-- customers' base view joins, against the same computed here from the
-- history: a device by its row of the month's last day (or of as_of), a
-- user by the last week known by the month's end.
SELECT bag_eq($$
    WITH h AS (SELECT as_of FROM normalize.history_info),
    d AS (SELECT v.account_key, date_trunc('month', x.day)::date AS month, sum(x.failure::int)::float8 AS failures,
                 sum(x.errors)::float8 AS errors,
                 count(*) FILTER (WHERE x.day = h.as_of OR x.day = (date_trunc('month', x.day) + interval '1 month - 1 day')::date)::float8 AS n,
                 avg(x.health::numeric) FILTER (WHERE x.day = h.as_of OR x.day = (date_trunc('month', x.day) + interval '1 month - 1 day')::date)::float8 AS health
            FROM normalize.device_days AS x JOIN normalize.devices AS v USING (device_key) CROSS JOIN h
           GROUP BY 1, 2),
    u AS (SELECT DISTINCT ON (w.user_key, date_trunc('month', least(w.week + 6, h.as_of)))
                 v.account_key, date_trunc('month', least(w.week + 6, h.as_of))::date AS month, w.engagement
            FROM normalize.user_weeks AS w JOIN normalize.users AS v USING (user_key) CROSS JOIN h
           ORDER BY w.user_key, date_trunc('month', least(w.week + 6, h.as_of)), w.week DESC),
    um AS (SELECT u.account_key, u.month, count(*)::float8 AS n, avg(u.engagement::numeric)::float8 AS engagement
             FROM u GROUP BY 1, 2)
    SELECT account_key::text, month, d.failures, d.errors, d.n AS devices, d.health, um.n AS users, um.engagement
      FROM d FULL JOIN um USING (account_key, month)$$,
    $$SELECT r.account_key::text, r.month, r.device_failures, r.device_errors, r.device_count, r.device_mean_health,
             r.user_count, r.user_mean_engagement FROM normalize.account_rollups AS r$$,
    'account_rollups holds each account''s devices and users per month as they were at its end');
UPDATE normalize.account_snapshots
   SET mrr = mrr * 3 + 1, seats = seats + 5, active_users = 0, support_tickets = support_tickets + 9,
       late_payments = 1, failed_payments = 1, tier = 'Tier 1', event = 'upgrade'
 WHERE month > '2024-06-01';
UPDATE normalize.device_days
   SET health = 100 - health, usage = 1 - usage, temperature = temperature + 20, errors = errors + 7,
       maintenance = NOT maintenance, failure = NOT failure
 WHERE day > '2024-06-30';
UPDATE normalize.user_weeks
   SET engagement = 100 - engagement, logins = logins + 3, sessions = sessions + 11, features_adopted = 8,
       adopted_feature = 'sso'
 WHERE week + 6 > '2024-06-30';
-- The roll-up made again from the changed history, as build_history would.
TRUNCATE normalize.account_rollups;
SELECT normalize.fill_account_rollups('normalize.account_rollups', 'normalize.device_days', 'normalize.user_weeks',
                                      (SELECT as_of FROM normalize.history_info)) AS rollups \gset
SELECT is_empty($$(SELECT * FROM before_c EXCEPT SELECT * FROM normalize.customer_features WHERE as_of = '2024-06-30')
                  UNION ALL
                  (SELECT * FROM normalize.customer_features WHERE as_of = '2024-06-30' EXCEPT SELECT * FROM before_c)$$,
                'customer features at T are unchanged when everything after T changes');
SELECT is_empty($$(SELECT * FROM before_u EXCEPT SELECT * FROM normalize.user_features WHERE as_of = '2024-06-30')
                  UNION ALL
                  (SELECT * FROM normalize.user_features WHERE as_of = '2024-06-30' EXCEPT SELECT * FROM before_u)$$,
                'user features at T are unchanged when everything after T changes');
-- The customers' June rolls up their devices on June 30: the days after the
-- device cutoff change only now.
UPDATE normalize.device_days
   SET health = 100 - health, usage = 1 - usage, temperature = temperature + 20, errors = errors + 7,
       maintenance = NOT maintenance, failure = NOT failure
 WHERE day > '2024-06-26' AND day <= '2024-06-30';
CREATE TEMP TABLE after_d AS
SELECT * FROM normalize.device_features WHERE as_of = '2024-06-26' AND device_key IN (:devices);
SELECT is_empty($$(SELECT * FROM before_d EXCEPT SELECT * FROM after_d)
                  UNION ALL (SELECT * FROM after_d EXCEPT SELECT * FROM before_d)$$,
                'device features at T are unchanged when everything after T changes');
SELECT ok((SELECT count(*) FROM before_c) > 50 AND (SELECT count(*) FROM before_d) = 40
          AND (SELECT count(*) FROM before_u) > 100, 'the leakage checks compared real rows');

-- Hand-built histories: one account with revenue growing 10% a month and a
-- ticket count that cycles 0, 1, 2; one device whose health falls 0.1 a
-- day. The features are checked against values computed here, directly.
DELETE FROM normalize.account_snapshots WHERE account_key = 'account:7';
INSERT INTO normalize.account_snapshots
SELECT 'account:7', ('2023-07-01'::date + make_interval(months => i))::date, 'Tier 3', 500 * 1.1 ^ i, 10 + i, 5 + (i % 4),
       i % 3, (i % 5 = 0)::int, 0, 'active', NULL
  FROM generate_series(0, 23) AS i;
SELECT is((SELECT round(revenue_growth_rate_3m::numeric, 9) FROM normalize.customer_features
            WHERE account_key = 'account:7' AND as_of = '2025-05-31'),
          0.1::numeric, 'revenue_growth_rate_3m of a series growing 10% a month is 0.1');
SELECT is((SELECT array[round(mrr_mean_6m::numeric, 6), round(mrr_stddev_6m::numeric, 6), round(mrr_min_6m::numeric, 6),
                        round(mrr_max_6m::numeric, 6), round(seats_slope_12m::numeric, 9), support_tickets_sum_12m::numeric,
                        round(payment_reliability_score_12m::numeric, 9), round(mrr_pct_change_3m::numeric, 9)]
             FROM normalize.customer_features WHERE account_key = 'account:7' AND as_of = '2025-05-31'),
          (SELECT array[round(avg(mrr)::numeric, 6), round(stddev_samp(mrr)::numeric, 6), round(min(mrr)::numeric, 6),
                        round(max(mrr)::numeric, 6),
                        (SELECT round(regr_slope(seats, 12 * extract(year FROM month) + extract(month FROM month))::numeric, 9)
                           FROM normalize.account_snapshots
                          WHERE account_key = 'account:7' AND month BETWEEN '2024-06-01' AND '2025-05-01'),
                        (SELECT sum(support_tickets) FROM normalize.account_snapshots
                          WHERE account_key = 'account:7' AND month BETWEEN '2024-06-01' AND '2025-05-01'),
                        (SELECT round(avg((late_payments + failed_payments = 0)::int), 9) FROM normalize.account_snapshots
                          WHERE account_key = 'account:7' AND month BETWEEN '2024-06-01' AND '2025-05-01'),
                        round(1.1 ^ 3 - 1, 9)]
             FROM normalize.account_snapshots WHERE account_key = 'account:7' AND month BETWEEN '2024-12-01' AND '2025-05-01'),
          'mean, stddev, min, max over 6 months, seat slope, ticket count and payment reliability over 12 months, 3-month change');
SELECT is((SELECT array[mrr_mean_12m IS NULL, mrr_slope_12m IS NULL, mrr_mean_6m IS NOT NULL]
             FROM normalize.customer_features WHERE account_key = 'account:7' AND as_of = '2024-04-30'),
          array[true, true, true], 'a 12-month feature is NULL with 10 months of history, a 6-month one is not');

DELETE FROM normalize.device_days WHERE device_key = (SELECT min(device_key) FROM normalize.devices);
INSERT INTO normalize.device_days
SELECT (SELECT min(device_key) FROM normalize.devices), '2023-07-01'::date + i, 90 - 0.1 * i, 0.5, 20 + (i % 10),
       i % 4, i % 60 = 0, false
  FROM generate_series(0, 718) AS i;
SELECT is((SELECT array[round(health_trend_30d::numeric, 9), round(health_min_90d::numeric, 6), round(health_max_90d::numeric, 6),
                        round(errors_sum_30d::numeric, 6), round(temperature_mean_90d::numeric, 6), days_since_maintenance::numeric,
                        round(health_mean_7d::numeric, 6)]
             FROM normalize.device_features
            WHERE device_key = (SELECT min(device_key) FROM normalize.devices) AND as_of = '2025-06-18'),
          (SELECT array[-0.1, round(min(health) FILTER (WHERE day > '2025-06-18'::date - 90)::numeric, 6),
                        round(max(health) FILTER (WHERE day > '2025-06-18'::date - 90)::numeric, 6),
                        sum(errors) FILTER (WHERE day > '2025-06-18'::date - 30),
                        round(avg(temperature) FILTER (WHERE day > '2025-06-18'::date - 90)::numeric, 6),
                        ('2025-06-18'::date - max(day) FILTER (WHERE maintenance))::numeric,
                        round(avg(health) FILTER (WHERE day > '2025-06-18'::date - 7)::numeric, 6)]
             FROM normalize.device_days WHERE device_key = (SELECT min(device_key) FROM normalize.devices)),
          'device trend, 90-day min and max, 30-day error count, 90-day temperature, days since maintenance, 7-day mean');

-- A device missing from the store is found: the sample is drawn from the
-- devices, not from the store.
CREATE TEMP TABLE gone AS
SELECT count(*) AS n FROM normalize.device_feature_store
 WHERE device_key = (SELECT device_key FROM normalize.devices ORDER BY md5(device_key), 1 LIMIT 1);
DELETE FROM normalize.device_feature_store
 WHERE device_key = (SELECT device_key FROM normalize.devices ORDER BY md5(device_key), 1 LIMIT 1);
SELECT is((SELECT differing FROM normalize.feature_store_disagreements('device', 5) WHERE feature IS NULL),
          (SELECT n FROM gone WHERE n > 0),
          'a device whose rows are missing from the store counts each of them as a row on one side only');

SELECT * FROM finish();
ROLLBACK;
