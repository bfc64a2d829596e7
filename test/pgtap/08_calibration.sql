-- Calibration of Phases 2 and 3 at 100 times the demo's size, so that the
-- statistics have power: 10,000 accounts, 120,500 devices, 33,700 users,
-- reconciled, repaired and simulated with fixed seeds. The eleven
-- distribution checks (ks_test) hold together at the 1% level: each at
-- 0.01 / 11 (Bonferroni), so that a correct simulator fails one of them for
-- about one seed in a hundred. A wrong distribution gives p-values far
-- below that at these sizes (a lognormal of the wrong tier: p < 1e-40).
--
-- The history is simulated with the calls build_history makes, read at
-- as_of, rather than stored: 120,500 devices x 719 days is 86M rows.
\set ON_ERROR_STOP true
\set QUIET true
\set alpha '(0.01 / 11)'
BEGIN;
SELECT plan(22);

SELECT is((SELECT count(*) FROM normalize.create_demo_source('calibration_raw', 1, scale => 100)), 7::bigint,
          'the demo source at scale 100 is created');
DO $$
BEGIN
    PERFORM normalize.use_sources('calibration_raw');
    PERFORM count(*) FROM normalize.reconcile_ids();
    PERFORM count(*) FROM normalize.repair_values(42);
END
$$;
SELECT is((SELECT array[(SELECT count(*) FROM normalize.accounts), (SELECT count(*) FROM normalize.devices),
                        (SELECT count(*) FROM normalize.users)]),
          array[10000, 120500, 32352]::bigint[],
          'reconciled and repaired: 10,000 accounts, 120,500 devices, 32,352 linked users');

CREATE TEMP TABLE account_history AS
SELECT * FROM normalize.generate_histories('normalize.accounts', 24, '2025-06-18', 42);

-- Annual churn, the simulator alone: 10,000 accounts per tier, in the tier
-- from before the window, active at its first month; the share that churns
-- in the twelve months after it.
CREATE TEMP TABLE simulated_churn AS
SELECT t.tier, avg(t.churned::int) AS annual, p.lower, p.upper
  FROM (SELECT k.tier, g, bool_or(x.status = 'churned' AND x.month BETWEEN '2023-08-01' AND '2024-07-01') AS churned
          FROM unnest(ARRAY['Tier 1', 'Tier 2', 'Tier 3', 'Tier 4']) AS k(tier), generate_series(1, 10000) AS g,
               LATERAL normalize.generate_history('calibration:' || g, k.tier, 100, 24, '2025-06-18', 42,
                                                  created_at => '2015-01-01') AS x
         GROUP BY k.tier, g
        HAVING bool_and(x.status = 'active' OR x.month > '2023-07-01')) AS t
  JOIN normalize.distribution_profiles AS p ON p.name = 'churn_annual_' || lower(replace(t.tier, ' ', '_'))
 GROUP BY t.tier, p.lower, p.upper;
SELECT ok(annual BETWEEN lower AND upper,
          format('%s: simulated annual churn %s lies in the band [%s, %s] (10,000 accounts)',
                 tier, round(annual, 4), lower, upper))
  FROM simulated_churn ORDER BY tier;

-- The same on the repaired demo, tier by tier. Tier 1 holds about 150
-- accounts here, so the check is that the rate is in the band or within
-- 2.58 standard errors of it (a two-sided test at the 1% level).
WITH cohort AS (
    SELECT s.account_key, s.tier,
           EXISTS (SELECT 1 FROM account_history AS c WHERE c.account_key = s.account_key AND c.status = 'churned'
                      AND c.month BETWEEN '2023-08-01' AND '2024-07-01') AS churned
      FROM account_history AS s WHERE s.month = '2023-07-01' AND s.status = 'active'),
rates AS (
    SELECT c.tier, count(*) AS n, avg(c.churned::int) AS annual, p.lower, p.upper
      FROM cohort AS c JOIN normalize.distribution_profiles AS p
        ON p.name = 'churn_annual_' || lower(replace(c.tier, ' ', '_'))
     GROUP BY c.tier, p.lower, p.upper)
SELECT ok(annual BETWEEN lower AND upper
          OR abs(annual - least(greatest(annual, lower), upper))
             <= 2.58 * sqrt(least(greatest(annual, lower), upper) * (1 - least(greatest(annual, lower), upper)) / n),
          format('%s on the repaired demo: annual churn %s of %s accounts is consistent with [%s, %s]',
                 tier, round(annual, 4), n, lower, upper))
  FROM rates ORDER BY tier;

-- Values at as_of against their profiles.
SELECT ok(p_value > :alpha, format('%s: MRR at as_of of %s surviving accounts fits mrr_%s (KS p = %s)',
                                 tier, n, lower(replace(tier, ' ', '_')), round(p_value::numeric, 4)))
  FROM (SELECT h.tier, (normalize.ks_test(h.mrr, 'mrr_' || lower(replace(h.tier, ' ', '_')))).*
          FROM account_history AS h WHERE h.month = '2025-06-01' AND h.status = 'active'
         GROUP BY h.tier) AS t
 ORDER BY tier;

SELECT ok(p_value > :alpha, format('%s devices: health at as_of fits health_%s (n = %s, KS p = %s)',
                                 status, status, n, round(p_value::numeric, 4)))
  FROM (SELECT d.status, (normalize.ks_test(h.health, 'health_' || d.status)).*
          FROM normalize.devices AS d
         CROSS JOIN LATERAL (
               SELECT t.degradation, t.failure_rate FROM normalize.device_types AS t
                WHERE t.device_type IN (d.device_type, '*') ORDER BY t.device_type = '*' LIMIT 1) AS wear
         CROSS JOIN LATERAL normalize.generate_device_history(d.device_key, d.health_score::float8, 719, '2025-06-18',
                                                             42, wear.degradation, wear.failure_rate) AS h
         WHERE h.day = '2025-06-18'
         GROUP BY d.status) AS t
 ORDER BY status;

SELECT ok(p_value > :alpha, format('device uptime fits device_uptime (n = %s, KS p = %s)', n, round(p_value::numeric, 4)))
  FROM (SELECT (normalize.ks_test(uptime::float8, 'device_uptime')).* FROM normalize.devices) AS t;

SELECT ok(p_value > :alpha, format('%s users: engagement at as_of fits engagement_%s (n = %s, KS p = %s)',
                                 role, role, n, round(p_value::numeric, 4)))
  FROM (SELECT u.role, (normalize.ks_test(h.engagement, 'engagement_' || u.role)).*
          FROM normalize.users AS u
         CROSS JOIN LATERAL normalize.generate_user_history(u.user_key, u.role, u.engagement_score::float8, 103,
                                                           '2025-06-18', 42) AS h
         WHERE h.week = '2025-06-16'
         GROUP BY u.role) AS t
 ORDER BY role;

-- Every account that exists for the whole window has all 24 months,
-- unless it churned; then it has every month up to its churn.
SELECT is_empty($$
    SELECT a.account_key, count(h.*), bool_or(h.status = 'churned')
      FROM normalize.accounts AS a LEFT JOIN account_history AS h USING (account_key)
     WHERE a.created_at < '2023-07-01'
     GROUP BY a.account_key
    HAVING count(h.*) <> CASE WHEN bool_or(h.status = 'churned')
                              THEN (12 * (extract(year FROM max(h.month)) - 2023) + extract(month FROM max(h.month)) - 7 + 1)::bigint
                              ELSE 24 END
        OR min(h.month) <> '2023-07-01'$$,
    'every account older than the window has 24 months, or every month up to its churn');

SELECT * FROM finish();
ROLLBACK;
