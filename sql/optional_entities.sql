-- A source needs only its customers: each phase does what the registered
-- entities allow, what is absent stays empty, and the checks and the
-- readiness report say so. On a small source of this test's own: 40
-- customers (IDs 'C-001'...), 90 subscriptions pointing at them by number
-- (two orphans), and a devices table that is there but not registered.
\set VERBOSITY terse
CREATE SCHEMA opt_raw;
CREATE TABLE opt_raw.customers AS
SELECT format('C-%s', lpad(g::text, 3, '0')) AS customer_id, 'customer ' || g AS name, 'Tier ' || (1 + g % 4) AS tier,
       0::numeric AS mrr, date '2023-01-01' + g * 9 AS created_at, date '2025-03-31' AS snapshot_date
  FROM generate_series(1, 40) AS g;
CREATE TABLE opt_raw.subscriptions AS
SELECT 1000 + g AS subscription_id, (1 + g % 42)::text AS account_id, 'plan ' || (g % 3) AS plan,
       (50 + (g * 37) % 400)::numeric AS mrr, CASE WHEN g % 9 = 0 THEN 'Cancelled' ELSE 'ACTIVE' END AS status,
       date '2024-01-01' + g AS start_date, date '2025-03-31' AS snapshot_date
  FROM generate_series(1, 90) AS g;
CREATE SCHEMA opt_side;
CREATE TABLE opt_side.devices AS
SELECT g AS device_id, (1 + g % 40)::text AS account_id, 'L' || g AS location_id, 'sensor' AS device_type,
       'operational' AS status, 70 + g % 20 AS health_score, 99.5 AS uptime, date '2025-03-31' AS snapshot_date
  FROM generate_series(1, 25) AS g;
-- The schema has no devices, users, locations or campaigns: said, and not
-- registered.
SELECT entity, relation FROM normalize.use_sources('opt_raw');
SELECT entity FROM normalize.sources ORDER BY entity;
-- A scan of a few references reads only their columns.
SELECT normalize.source_query('subscriptions', '{account_id}');
SELECT normalize.source_query('subscriptions', '{no_such_column, NULL}');
SELECT normalize.source_query('subscriptions', '{}');
-- Before: the entities without a source are named, and nothing else of
-- theirs is measured.
SELECT entity, metric, value, detail FROM normalize.assess_sources()
 WHERE detail = 'not registered' OR metric LIKE '%mean%' ORDER BY entity, metric;
-- The whole pipeline; as_of is the sources' latest snapshot.
SET client_min_messages = warning;
CALL normalize.run_pipeline(seed => 42, months => 12);
RESET client_min_messages;
SELECT months, as_of FROM normalize.history_info;
SELECT entity, status, count(*) FROM normalize.id_map GROUP BY entity, status ORDER BY entity, status;
SELECT * FROM normalize.validate_relationships();
SELECT (SELECT count(*) FROM normalize.devices) AS devices, (SELECT count(*) FROM normalize.device_days) AS device_days,
       (SELECT count(*) FROM normalize.user_weeks) AS user_weeks,
       (SELECT count(*) FROM normalize.device_feature_store) AS device_features,
       (SELECT count(*) FROM normalize.user_feature_store) AS user_features,
       (SELECT count(*) FROM normalize.device_health_samples) AS device_samples,
       (SELECT count(*) > 0 FROM normalize.customer_feature_store) AS customer_features,
       (SELECT count(*) > 0 FROM normalize.churn_samples) AS churn_samples;
-- Customer features rolled up from devices and users are unknown, not 0.
SELECT count(*) FILTER (WHERE device_count IS NOT NULL OR user_count IS NOT NULL) AS rolled_up
  FROM normalize.customer_feature_store;
SELECT table_name, column_name, finding FROM normalize.repair_summary ORDER BY 1, 2;
-- The checks cover what is there; one warns that the rest is not.
SELECT category, check_name, entity FROM normalize.quality_checks() WHERE entity ~ '^(device|user)' OR check_name LIKE 'optional%';
SELECT check_name, entity, status FROM normalize.quality_checks() WHERE status <> 'pass';
SELECT check_name, status, observed, failing_rows, detail FROM normalize.quality_checks()
 WHERE check_name = 'optional sources registered';
SELECT metric, passed, after, detail ~ 'not registered: locations, devices, users, campaigns' AS says_what_is_missing
  FROM normalize.ml_readiness_report() WHERE metric IN ('Data completeness', 'Feature coverage');
-- Devices registered without locations: they link to their accounts and
-- keep their raw location reference; no location link is counted lost.
SELECT count(*) FROM normalize.register_source('devices', 'opt_side.devices');
SET client_min_messages = warning;
SELECT entity, source_rows, linked, quarantined FROM normalize.reconcile_ids();
RESET client_min_messages;
SELECT count(*) AS devices, count(location_key) AS with_location, count(source_location_ref) AS naming_one,
       count(location_issue) AS with_issue
  FROM normalize.devices;
SELECT check_name, status FROM normalize.validate_relationships() WHERE check_name LIKE 'devices%';
-- Taking a registration back.
SELECT normalize.unregister_source('devices');
SELECT normalize.unregister_source('devices');
SELECT normalize.unregister_source('widgets');
SELECT normalize.is_registered('devices'), normalize.is_registered('customers');
-- Customers alone: revenue is drawn by tier, and the run completes.
SELECT normalize.unregister_source('subscriptions');
SET client_min_messages = warning;
CALL normalize.run_pipeline(seed => 42, months => 12, restart => true);
RESET client_min_messages;
SELECT mrr_source, count(*) FROM normalize.accounts GROUP BY 1 ORDER BY 1;
SELECT check_name, entity, status FROM normalize.quality_checks() WHERE status <> 'pass';
-- Customers are the minimum: they cannot be unregistered, and without
-- them nothing runs.
SELECT normalize.unregister_source('customers');
SELECT normalize.unregister_source(NULL);
SELECT normalize.is_registered('customer');
DELETE FROM normalize.sources WHERE entity = 'customers';
CALL normalize.run_pipeline(seed => 42, months => 12, restart => true);
CREATE SCHEMA opt_empty;
SELECT * FROM normalize.use_sources('opt_empty');
DROP SCHEMA opt_raw, opt_side, opt_empty CASCADE;
DELETE FROM normalize.sources;
