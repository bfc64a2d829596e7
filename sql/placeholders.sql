-- Placeholders are found value by value, not only column by column: a
-- column of real scores with a run of 0s standing in for "unknown" keeps
-- its real scores; coarse measurements that take a handful of values are
-- kept; scores on a 0-1 scale are rescaled; and the user declares what the
-- data cannot decide. On a source of this test's own, where each row says
-- whether its value is real (truth).
\set SHOW_CONTEXT never
SELECT normalize.fills_its_grid(ARRAY[95, 96, 97, 98, 99]::numeric[]) AS integers_95_99,
       normalize.fills_its_grid(ARRAY[0.20, 0.52]::numeric[]) AS two_far_apart,
       normalize.fills_its_grid(ARRAY[1.5, 1.0, 2.0]::numeric[]) AS halves,
       normalize.fills_its_grid(ARRAY[7]::numeric[]) AS one_value;

CREATE SCHEMA ph_raw;
-- 200 customers: 120 record no revenue ($0) though 80 of those pay
-- through subscriptions; 80 record a real revenue.
CREATE TABLE ph_raw.customers (customer_id int, mrr numeric, snapshot_date date);
INSERT INTO ph_raw.customers
SELECT c, CASE WHEN c <= 120 THEN 0 ELSE 100 + c * 7 END, DATE '2025-06-01' FROM generate_series(1, 200) AS c;
CREATE TABLE ph_raw.subscriptions (subscription_id text, account_id int, mrr numeric, status text, snapshot_date date);
INSERT INTO ph_raw.subscriptions
SELECT 'S' || c, c, 50 + c, 'active', DATE '2025-06-01' FROM generate_series(1, 80) AS c;
-- 200 devices: health is 0 on 180 of them (no reading), real on 20;
-- uptime is a whole percentage from 95 to 99 on every device.
CREATE TABLE ph_raw.devices (device_id text, account_id int, status text, health_score numeric, uptime numeric,
                             snapshot_date date, real_health boolean);
INSERT INTO ph_raw.devices
SELECT 'D' || d, 1 + d % 200, 'operational', CASE WHEN d <= 180 THEN 0 ELSE 40 + d % 50 END, 95 + d % 5,
       DATE '2025-06-01', d > 180
  FROM generate_series(1, 200) AS d;
-- 100 users: engagement on a 0-1 scale, spread over many values.
CREATE TABLE ph_raw.users (user_id text, account_id int, role text, engagement_score numeric, snapshot_date date);
INSERT INTO ph_raw.users
SELECT 'U' || u, 1 + u % 200, 'standard', round((u % 97) / 100.0, 2), DATE '2025-06-01' FROM generate_series(1, 100) AS u;
CREATE TABLE ph_raw.none (id text, account_id text, snapshot_date date);
SELECT count(*) FROM normalize.register_source('customers', 'ph_raw.customers');
SELECT count(*) FROM normalize.register_source('subscriptions', 'ph_raw.subscriptions');
SELECT count(*) FROM normalize.register_source('devices', 'ph_raw.devices');
SELECT count(*) FROM normalize.register_source('users', 'ph_raw.users');
SELECT count(*) FROM normalize.register_source('locations', 'ph_raw.none', '{"location_id": "id"}');
SELECT count(*) FROM normalize.register_source('campaigns', 'ph_raw.none', '{"campaign_id": "id"}');
DELETE FROM normalize.id_rule_overrides;
SET client_min_messages = warning;
SELECT count(*) FROM normalize.reconcile_ids();
RESET client_min_messages;

SELECT table_name, column_name, finding, replaced, kept FROM normalize.repair_values(seed => 7) ORDER BY 1, 2;
-- Every real health score is kept, every 0 replaced; no row is both.
SELECT r.real_health, d.health_score_source, count(*),
       count(*) FILTER (WHERE d.health_score = r.health_score) AS equal_to_raw
  FROM ph_raw.devices AS r JOIN normalize.devices AS d ON d.source_id = r.device_id GROUP BY 1, 2 ORDER BY 1, 2;
-- Uptime takes five values, but they fill their grid: kept.
SELECT uptime_source, count(*), min(uptime), max(uptime) FROM normalize.devices GROUP BY 1;
-- Engagement is rescaled to 0-100, the same ranks.
SELECT engagement_score_source, count(*),
       count(*) FILTER (WHERE u.engagement_score = r.engagement_score * 100) AS times_100
  FROM ph_raw.users AS r JOIN normalize.users AS u ON u.source_id = r.user_id GROUP BY 1;
-- $0 is no revenue: derived from the paying subscriptions where there are
-- any (the right sum, every one), drawn elsewhere; the real revenues kept.
SELECT a.mrr_source, count(*),
       count(*) FILTER (WHERE a.mrr = (SELECT s.mrr FROM ph_raw.subscriptions AS s WHERE s.account_id::text = a.source_id))
           AS equal_to_subscription,
       count(*) FILTER (WHERE a.mrr = r.mrr) AS equal_to_raw, count(*) FILTER (WHERE a.mrr = 0) AS zero
  FROM normalize.accounts AS a JOIN ph_raw.customers AS r ON r.customer_id::text = a.source_id GROUP BY 1 ORDER BY 1;

-- A 50 among real scores may be real, or what a firmware reports before
-- its first reading: the data do not decide, the user declares it. Then
-- it is replaced row by row, beside the 0s found.
UPDATE ph_raw.devices SET health_score = 50 WHERE device_id IN ('D181', 'D182', 'D183');
INSERT INTO normalize.placeholder_values (table_name, column_name, value, note)
VALUES ('devices', 'health_score', 50, 'the firmware reports 50 before the first reading');
SELECT table_name, column_name, value, placeholder, shipped FROM normalize.placeholder_values ORDER BY shipped, 1, 2, 3;
SET client_min_messages = warning;
SELECT count(*) FROM normalize.reconcile_ids();
RESET client_min_messages;
SELECT table_name, column_name, finding, replaced, kept FROM normalize.repair_values(seed => 7)
 WHERE column_name = 'health_score';
SELECT count(*) FILTER (WHERE health_score_observed = 50 AND health_score_source = 'observed') AS fifty_kept,
       count(*) FILTER (WHERE health_score_observed IN (0, 50) AND health_score_source = 'generated') AS replaced
  FROM normalize.devices;

-- Declared real, $0 is kept: accounts without revenue then have none,
-- and the history refuses them, saying why and what to do.
BEGIN;
INSERT INTO normalize.placeholder_values (table_name, column_name, value, placeholder, note)
VALUES ('accounts', 'mrr', 0, false, 'free plans');
SELECT table_name, column_name, value, placeholder, shipped FROM normalize.placeholder_values WHERE table_name = 'accounts';
SELECT table_name, column_name, finding, replaced, kept FROM normalize.repair_values(seed => 7) WHERE column_name = 'mrr';
SELECT count(*) FROM normalize.build_history(3, '2025-06-01', 7);
ROLLBACK;
-- A value for a column that is not repaired is refused.
INSERT INTO normalize.placeholder_values (table_name, column_name, value) VALUES ('devices', 'status', 0);
SELECT * FROM normalize.scan_placeholders('devices', 'status', true);

-- Revenue outside every tier's range is a sentinel: replaced, and said
-- (999999.99 twice, -1 once). An account's known tier is kept where its
-- revenue has to be drawn, and the revenue drawn from that tier's profile.
-- A real revenue beyond the ranges is declared real.
DELETE FROM normalize.placeholder_values WHERE NOT shipped;
UPDATE ph_raw.customers SET mrr = 999999.99 WHERE customer_id IN (197, 198);
UPDATE ph_raw.customers SET mrr = -1 WHERE customer_id = 199;
ALTER TABLE ph_raw.customers ADD COLUMN tier text;
UPDATE ph_raw.customers SET tier = 'Tier ' || (1 + customer_id % 4);
SELECT count(*) FROM normalize.register_source('customers', 'ph_raw.customers');
SET client_min_messages = warning;
SELECT count(*) FROM normalize.reconcile_ids();
RESET client_min_messages;
SELECT table_name, column_name, finding, replaced, kept FROM normalize.repair_values(seed => 7) WHERE table_name = 'accounts';
SELECT source_id, mrr_observed, mrr_source, tier_observed, tier, tier_source,
       mrr BETWEEN p.lower AND p.upper AS within_its_tier
  FROM normalize.accounts JOIN normalize.distribution_profiles AS p ON p.name = 'mrr_' || lower(replace(tier, ' ', '_'))
 WHERE source_id IN ('150', '197', '198', '199') ORDER BY source_id;
INSERT INTO normalize.placeholder_values (table_name, column_name, value, placeholder, note)
VALUES ('accounts', 'mrr', 999999.99, false, 'a real enterprise account');
SELECT table_name, column_name, finding, replaced, kept FROM normalize.repair_values(seed => 7) WHERE column_name = 'mrr';
SELECT source_id, mrr, mrr_source FROM normalize.accounts WHERE source_id IN ('197', '198') ORDER BY source_id;

DELETE FROM normalize.placeholder_values WHERE NOT shipped;
SELECT table_name, column_name, value, placeholder, shipped FROM normalize.placeholder_values;
SET client_min_messages = warning;
SELECT count(*) FROM normalize.reconcile_ids();
RESET client_min_messages;
DROP SCHEMA ph_raw CASCADE;
