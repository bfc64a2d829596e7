-- Phase 3: the account history simulator.
\set SHOW_CONTEXT never
-- One account, twelve months ending at the plan's date
SELECT month, tier, round(mrr::numeric, 2) AS mrr, seats, active_users, support_tickets, late_payments,
       failed_payments, status, event
  FROM normalize.generate_history('account:7', 'Tier 2', 2500, months => 12, as_of => '2025-06-18', seed => 42,
                                  created_at => '2020-01-15');
-- A signup inside the window starts the history there
SELECT min(month) AS first_month, count(*) AS months, min(event) AS first_event
  FROM normalize.generate_history('account:8', 'Tier 4', 90, months => 24, as_of => '2025-06-18',
                                  created_at => '2024-11-03');

-- Over many accounts: survivors end at their current state, churn is terminal
WITH h AS (
    SELECT g AS n, x.*
      FROM generate_series(1, 2000) AS g,
           LATERAL normalize.generate_history('account:' || g, 'Tier 4', 90, months => 24, as_of => '2025-06-18',
                                              created_at => '2020-01-01') AS x)
SELECT count(DISTINCT n) AS accounts,
       count(DISTINCT n) FILTER (WHERE status = 'churned') AS churned,
       bool_and(mrr = 90 AND tier = 'Tier 4') FILTER (WHERE month = '2025-06-01') AS survivors_end_at_current_state,
       count(*) FILTER (WHERE month > (SELECT max(month) FROM h AS c WHERE c.n = h.n AND c.status = 'churned')) AS after_churn
  FROM h;

-- Annual churn of Tier 4 accounts that exist for the whole year lies in its band
SELECT round(avg(churned::int), 2) AS annual_churn, p.lower AS band_low, p.upper AS band_high,
       avg(churned::int) BETWEEN p.lower AND p.upper AS in_band
  FROM (SELECT bool_or(x.status = 'churned') AS churned
          FROM generate_series(1, 4000) AS g,
               LATERAL normalize.generate_history('a' || g, 'Tier 4', 90, months => 12, as_of => '2025-06-18',
                                                  created_at => '2015-01-01') AS x
         GROUP BY g) AS t,
       normalize.distribution_profiles AS p
 WHERE p.name = 'churn_annual_tier_4'
 GROUP BY p.lower, p.upper;

-- Deterministic: the same account gives the same rows however it is called
SELECT (SELECT md5(string_agg(x::text, ',' ORDER BY month)) FROM normalize.generate_history('account:9', 'Tier 1', 12000, 24, '2025-06-18', 5) AS x)
     = (SELECT md5(string_agg(x::text, ',' ORDER BY month))
          FROM (VALUES ('account:9')) AS a(k),
               LATERAL normalize.generate_history(a.k, 'Tier 1', 12000, 24, '2025-06-18', 5) AS x) AS same;

-- Bad input
SELECT count(*) FROM normalize.generate_history('k', 'Tier 9', 100);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 0);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, months => 0);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, months => 100000);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, as_of => NULL);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, seed => NULL);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, as_of => 'infinity');
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, as_of => '2025-06-18', created_at => '2026-01-01');
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, growth => 2);
