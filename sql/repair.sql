-- Phase 2: value repair on the reconciled demo source.
\set SHOW_CONTEXT never
-- Before reconciliation there is nothing to repair
TRUNCATE normalize.accounts CASCADE;
SELECT count(*) FROM normalize.repair_values();
SELECT count(*) AS tables FROM normalize.create_demo_source('repair_raw', seed => 1);
SELECT count(*) AS sources FROM normalize.use_sources('repair_raw');
SELECT count(*) AS entities FROM normalize.reconcile_ids();

-- What was found, and what was done
SELECT * FROM normalize.repair_values(seed => 42);

-- Provenance: every value says where it came from; the observed one is kept
SELECT mrr_source, tier_source, count(*), sum((mrr_observed = 0)::int) AS observed_zero FROM normalize.accounts GROUP BY 1, 2 ORDER BY 1, 2;
SELECT health_score_source, uptime_source, count(*), count(DISTINCT health_score_observed) AS observed_values FROM normalize.devices GROUP BY 1, 2;
SELECT engagement_score_source, count(*) FROM normalize.users GROUP BY 1;
-- derived revenue is the sum of the account's paying subscriptions
SELECT count(*) AS derived_accounts,
       count(*) FILTER (WHERE a.mrr = (SELECT sum(s.mrr) FROM normalize.subscriptions AS s
                                        WHERE s.account_key = a.account_key AND s.mrr > 0
                                          AND s.status IN ('active', 'past_due'))) AS equal_to_the_sum
  FROM normalize.accounts AS a WHERE a.mrr_source = 'derived';
-- the tier follows the revenue
SELECT count(*) FILTER (WHERE tier <> normalize.tier_for_mrr(mrr)) AS tier_disagrees_with_mrr FROM normalize.accounts;
-- NaN and the infinities are no revenue: NaN sorted above every tier's bound
SELECT normalize.tier_for_mrr('NaN');
SELECT normalize.tier_for_mrr('Infinity');
SELECT normalize.tier_for_mrr(-1) AS negative_is_below_every_tier;
-- a column's counts: none negative, none more than the rows they count
SELECT normalize.column_finding(100, 0, 0, -1, false);
SELECT normalize.column_finding(100, 101, 0, 0, false);
SELECT normalize.column_finding(100, 10, 95, 1, false);
SELECT normalize.column_finding(NULL, 0, 0, 0, false);
SELECT normalize.column_finding(100, 0, 0, 50, NULL);
SELECT normalize.column_finding(-9223372036854775808, 0, 0, 0, false);

-- The plan's synthetic-value problems are gone
SELECT count(*) FILTER (WHERE mrr = 0) AS zero_mrr, count(DISTINCT tier) AS tiers FROM normalize.accounts;
SELECT count(DISTINCT health_score) > 100 AS many_health_values, round(avg(health_score)) AS mean_health,
       min(health_score) >= 10 AND max(health_score) <= 95 AS within_profiles
  FROM normalize.devices;
SELECT status, min(health_score) >= p.lower AND max(health_score) <= p.upper AS within_profile
  FROM normalize.devices AS d
  JOIN normalize.distribution_profiles AS p
    ON p.name = CASE d.status WHEN 'operational' THEN 'health_operational' WHEN 'maintenance' THEN 'health_maintenance'
                              ELSE 'health_critical' END
 GROUP BY status, p.lower, p.upper ORDER BY status;
SELECT role, round(avg(engagement_score)) AS mean_engagement FROM normalize.users GROUP BY role ORDER BY role;

-- Repair is reproducible: a second run changes nothing; another seed, other values
CREATE TEMP TABLE first_run AS SELECT md5(string_agg(d::text, ',' ORDER BY device_key)) AS devices FROM normalize.devices AS d;
SELECT count(*) FROM normalize.repair_values(seed => 42);
SELECT (SELECT devices FROM first_run) = md5(string_agg(d::text, ',' ORDER BY device_key)) AS same FROM normalize.devices AS d;
SELECT count(*) FROM normalize.repair_values(seed => 43);
SELECT (SELECT devices FROM first_run) <> md5(string_agg(d::text, ',' ORDER BY device_key)) AS differs FROM normalize.devices AS d;

-- A plausible column keeps its observed values; only missing and out-of-range ones are drawn
CREATE VIEW repair_raw.devices_real AS
SELECT device_id, account_id, location_id, device_type, status, uptime, snapshot_date,
       CASE WHEN substr(device_id, 5)::int % 100 = 0 THEN NULL
            WHEN substr(device_id, 5)::int % 101 = 0 THEN 150
            ELSE 40 + substr(device_id, 5)::int % 55 END::numeric AS health_score
  FROM repair_raw.devices;
SELECT count(*) FROM normalize.register_source('devices', 'repair_raw.devices_real');
SELECT count(*) AS entities FROM normalize.reconcile_ids();
SELECT table_name, column_name, finding, replaced, kept FROM normalize.repair_values() WHERE column_name = 'health_score';
SELECT health_score_source, count(*), count(*) FILTER (WHERE health_score_observed IS NULL OR health_score_observed > 100) AS implausible
  FROM normalize.devices GROUP BY 1 ORDER BY 1;

-- Bad input
SELECT count(*) FROM normalize.repair_values(NULL);
