-- Columns of categories read through one vocabulary: statuses, roles and
-- tiers spelled in any case, with blanks, underscores or hyphens, map to
-- their canonical values; values the vocabulary does not know are kept as
-- they are and reported, never defaulted silently. On a source of this
-- test's own whose right answer is known row by row.
\set SHOW_CONTEXT never
SELECT normalize.fold_category(v) FROM unnest(ARRAY['CANCELLED', ' Past_Due ', 'in-Maintenance', 'TIER  1', E'\u00a0Admin', '  ']) AS v;

CREATE SCHEMA cat_raw;
CREATE TABLE cat_raw.customers (customer_id int, tier text, mrr numeric, snapshot_date date);
INSERT INTO cat_raw.customers
SELECT c, (ARRAY['TIER 1', ' tier-2', 't3', 'Gold', 'Tier 4'])[1 + c % 5], 0, DATE '2025-06-01'
  FROM generate_series(1, 10) AS c;
-- truth: whether the subscription's MRR is revenue.
CREATE TABLE cat_raw.subscriptions (subscription_id text, account_id int, mrr numeric, status text, snapshot_date date, paying boolean);
INSERT INTO cat_raw.subscriptions VALUES
    ('S1', 1, 100, 'CANCELLED', '2025-06-01', false),
    ('S2', 1, 200, 'Active ', '2025-06-01', true),
    ('S3', 2, 300, 'Cancelled', '2025-06-01', false),
    ('S4', 3, 400, 'TRIAL', '2025-06-01', false),
    ('S5', 3, 500, 'past due', '2025-06-01', true),
    ('S6', 4, 600, 'canceled', '2025-06-01', false),
    ('S7', 5, 700, 'Frozen', '2025-06-01', NULL),
    ('S8', 6, 800, NULL, '2025-06-01', true);
CREATE TABLE cat_raw.devices (device_id text, account_id int, status text, health_score numeric, snapshot_date date);
INSERT INTO cat_raw.devices VALUES
    ('D1', 1, 'OPERATIONAL', 0.2, '2025-06-01'), ('D2', 2, 'In-Maintenance', 0.2, '2025-06-01'),
    ('D3', 3, 'Critical', 0.52, '2025-06-01'), ('D4', 4, 'broken', 0.2, '2025-06-01');
CREATE TABLE cat_raw.users (user_id text, account_id int, role text, engagement_score numeric, snapshot_date date);
INSERT INTO cat_raw.users VALUES
    ('U1', 1, 'Admin', 0.25, '2025-06-01'), ('U2', 2, 'MANAGER', 0.25, '2025-06-01'),
    ('U3', 3, 'Standard', 0.25, '2025-06-01'), ('U4', 4, 'Owner', 0.25, '2025-06-01');
CREATE TABLE cat_raw.none (id text, account_id text, snapshot_date date);
SELECT count(*) FROM normalize.register_source('customers', 'cat_raw.customers');
SELECT count(*) FROM normalize.register_source('subscriptions', 'cat_raw.subscriptions');
SELECT count(*) FROM normalize.register_source('devices', 'cat_raw.devices');
SELECT count(*) FROM normalize.register_source('users', 'cat_raw.users');
SELECT count(*) FROM normalize.register_source('locations', 'cat_raw.none', '{"location_id": "id"}');
SELECT count(*) FROM normalize.register_source('campaigns', 'cat_raw.none', '{"campaign_id": "id"}');
DELETE FROM normalize.id_rule_overrides;

-- The before picture names the values nobody knows.
SELECT entity, metric, value, detail FROM normalize.assess_sources() WHERE metric LIKE '%values unknown' ORDER BY 1, 2;
SELECT entity, source_rows, linked FROM normalize.reconcile_ids() WHERE entity IN ('subscriptions', 'devices', 'users');
SELECT r.subscription_id, r.status AS raw, s.status FROM cat_raw.subscriptions AS r
  JOIN normalize.subscriptions AS s ON s.source_id = r.subscription_id ORDER BY 1;
SELECT r.device_id, r.status AS raw, d.status FROM cat_raw.devices AS r JOIN normalize.devices AS d ON d.source_id = r.device_id ORDER BY 1;
SELECT r.user_id, r.role AS raw, u.role FROM cat_raw.users AS r JOIN normalize.users AS u ON u.source_id = r.user_id ORDER BY 1;
SELECT entity, observed, status, failing_rows, sample_keys, detail FROM normalize.quality_checks()
 WHERE check_name = 'category values known' ORDER BY entity;

-- Revenue comes only from paying statuses: cancelled and trial
-- subscriptions, in any spelling, are not revenue, nor is an unknown one.
SELECT count(*) FROM normalize.repair_values(seed => 7);
SELECT a.source_id, a.mrr_source, a.mrr AS derived,
       (SELECT sum(s.mrr) FROM cat_raw.subscriptions AS s WHERE s.account_id::text = a.source_id AND s.paying) AS truth
  FROM normalize.accounts AS a WHERE a.mrr_source = 'derived' ORDER BY a.source_id::int;
SELECT a.source_id FROM normalize.accounts AS a
 WHERE a.mrr_source = 'derived' AND a.mrr IS DISTINCT FROM
       (SELECT sum(s.mrr) FROM cat_raw.subscriptions AS s WHERE s.account_id::text = a.source_id AND s.paying);

-- The user teaches the vocabulary; the unknown values are gone.
INSERT INTO normalize.category_spellings (category, spelling, value) VALUES
    ('subscription status', 'Frozen', 'paused'), ('customer tier', 'gold', 'Tier 1'),
    ('device status', 'BROKEN', 'critical'), ('user role', 'owner', 'admin');
SELECT category, spelling, value, shipped FROM normalize.category_spellings WHERE NOT shipped ORDER BY 1, 2;
SELECT count(*) FROM normalize.reconcile_ids();
SELECT entity, observed, status, detail FROM normalize.quality_checks()
 WHERE check_name = 'category values known' ORDER BY entity;
-- A user's row replaces the shipped one of the same value, whose other
-- spellings stay.
BEGIN;
INSERT INTO normalize.category_values (category, value, paying) VALUES ('subscription status', 'trial', true);
SELECT category, value, paying, shipped FROM normalize.category_values WHERE category = 'subscription status' AND value = 'trial';
SELECT count(*) FROM normalize.category_spellings WHERE value = 'trial';
ROLLBACK;
-- A spelling of a value that is not in the vocabulary is refused.
INSERT INTO normalize.category_spellings (category, spelling, value) VALUES ('user role', 'boss', 'chief');
DELETE FROM normalize.category_spellings WHERE NOT shipped;
DROP SCHEMA cat_raw CASCADE;
