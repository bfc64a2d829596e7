-- The demo source: normalize.create_demo_source() builds the six raw tables in
-- the state of the plan's Current State Assessment, plus their ground truth.
-- Every check shows counts, booleans or rounded aggregates, never raw random
-- rows; the few seeded aggregates pinned here change only if the generators do.
-- The tests use schema demo_raw, not the default saas_raw, so that they
-- neither depend on nor disturb what other tests leave there.
\set SHOW_CONTEXT never
SELECT pg_get_function_arguments('normalize.create_demo_source'::regproc) AS arguments,
       pg_get_function_result('normalize.create_demo_source'::regproc) AS result;
SELECT * FROM normalize.create_demo_source('demo_raw');

-- The plan's volumes
SELECT 'customers' AS t, count(*) FROM demo_raw.customers
UNION ALL SELECT 'subscriptions', count(*) FROM demo_raw.subscriptions
UNION ALL SELECT 'devices', count(*) FROM demo_raw.devices
UNION ALL SELECT 'users', count(*) FROM demo_raw.users
UNION ALL SELECT 'locations', count(*) FROM demo_raw.locations
UNION ALL SELECT 'campaigns', count(*) FROM demo_raw.campaigns;

-- 100 customers, IDs 0-99, all Tier 4, all $0 MRR, one snapshot
SELECT count(*), min(customer_id), max(customer_id), count(DISTINCT customer_id) AS distinct_ids,
       bool_and(tier = 'Tier 4') AS all_tier_4, bool_and(mrr = 0) AS all_zero_mrr,
       bool_and(name = 'Customer ' || lpad(customer_id::text, 4, '0')) AS names,
       count(DISTINCT snapshot_date) AS snapshots, max(created_at) < date '2025-06-18' AS created_before
  FROM demo_raw.customers;

-- 441 subscriptions, 241 with positive MRR, references in the 10000000+ range
SELECT count(*), count(*) FILTER (WHERE mrr > 0) AS positive_mrr, count(*) FILTER (WHERE mrr = 0) AS zero_mrr,
       min(mrr) FILTER (WHERE mrr > 0) > 0 AND max(mrr) <= 50000 AS plausible_prices,
       bool_and(account_id::bigint >= 10000000) AS offset_range,
       bool_and(account_id ~ '^1[0-9]{7}$') AS offset_format,
       bool_and(subscription_id ~ '^SUB-[0-9]{6}$') AS id_format,
       count(DISTINCT snapshot_date) AS snapshots
  FROM demo_raw.subscriptions;
SELECT status, count(*), count(*) FILTER (WHERE mrr > 0) AS paid
  FROM demo_raw.subscriptions GROUP BY status ORDER BY status;

-- 1,205 devices, health only 0.20 or 0.52, mean 0.25; uptime a placeholder
SELECT array_agg(DISTINCT health_score ORDER BY health_score) AS health_values,
       round(avg(health_score), 2) AS mean_health,
       count(*) FILTER (WHERE health_score = 0.52) AS at_0_52,
       count(DISTINCT uptime) AS uptime_values,
       bool_and(account_id ~ '^ACCT-[0-9]{4,}$') AS prefix_padded,
       bool_and(device_id ~ '^DEV-[0-9]{5}$') AS id_format,
       count(DISTINCT snapshot_date) AS snapshots
  FROM demo_raw.devices;
SELECT status, count(*) > 0 AS present FROM demo_raw.devices GROUP BY status ORDER BY status;
SELECT array_agg(DISTINCT device_type ORDER BY device_type) AS device_types FROM demo_raw.devices;

-- 337 users, mean engagement 0.33, three roles
SELECT count(*), round(avg(engagement_score), 2) AS mean_engagement,
       count(DISTINCT engagement_score) AS engagement_values,
       count(DISTINCT snapshot_date) AS snapshots
  FROM demo_raw.users;
SELECT role, count(*) FROM demo_raw.users GROUP BY role ORDER BY role;

-- 241 locations, 310 campaigns
SELECT count(*), count(DISTINCT location_id) AS distinct_ids, count(DISTINCT snapshot_date) AS snapshots
  FROM demo_raw.locations;
SELECT count(*), bool_and(account_id ~ '^cust_(0|[1-9][0-9]*)$') AS lower_case_prefix,
       bool_and(campaign_id ~ '^CMP-[0-9]{4}$') AS id_format, count(DISTINCT snapshot_date) AS snapshots
  FROM demo_raw.campaigns;

-- Account IDs are a mix of INTEGER and VARCHAR
SELECT table_name, data_type
  FROM information_schema.columns
 WHERE table_schema = 'demo_raw' AND column_name IN ('account_id', 'customer_id') AND table_name <> 'ground_truth'
 ORDER BY table_name;

-- Users' account references: zero padding and whitespace in mixed ways
SELECT count(*) FILTER (WHERE account_id ~ '^[1-9][0-9]*$|^0$') > 0 AS plain,
       count(*) FILTER (WHERE btrim(account_id) ~ '^0') > 0 AS zero_padded,
       count(*) FILTER (WHERE account_id ~ '^ ') > 0 AS leading_space,
       count(*) FILTER (WHERE account_id ~ ' $') > 0 AS trailing_space,
       bool_and(account_id ~ '^ *[0-9]+ *$') AS all_digits_and_spaces
  FROM demo_raw.users WHERE account_id IS NOT NULL;

-- Orphans and unlinked entities: a few percent each
SELECT 'subscriptions without a customer' AS what, count(*) AS n,
       round(100.0 * count(*) / (SELECT count(*) FROM demo_raw.subscriptions), 1) AS pct
  FROM demo_raw.subscriptions AS s
 WHERE NOT EXISTS (SELECT 1 FROM demo_raw.customers AS c WHERE c.customer_id = s.account_id::bigint - 10000000)
UNION ALL
SELECT 'devices without a location', count(*),
       round(100.0 * count(*) / (SELECT count(*) FROM demo_raw.devices), 1)
  FROM demo_raw.devices WHERE location_id IS NULL
UNION ALL
SELECT 'users without an account', count(*),
       round(100.0 * count(*) / (SELECT count(*) FROM demo_raw.users), 1)
  FROM demo_raw.users WHERE account_id IS NULL;

-- Every customer has a subscription and a location; the rest is skewed
SELECT (SELECT count(DISTINCT account_id) FROM demo_raw.subscriptions
         WHERE account_id::bigint - 10000000 < 100) AS customers_with_subscriptions,
       (SELECT count(DISTINCT account_id) FROM demo_raw.locations) AS customers_with_locations,
       (SELECT max(n) FROM (SELECT count(*) AS n FROM demo_raw.subscriptions GROUP BY account_id) AS x) > 4 AS skewed;

-- Ground truth: one row per raw row, consistent with every format
SELECT entity, count(*), count(*) FILTER (WHERE orphan) AS orphans,
       count(*) FILTER (WHERE location_id IS NOT NULL) AS with_location
  FROM demo_raw.ground_truth GROUP BY entity ORDER BY entity;
SELECT count(*) AS mismatches FROM demo_raw.subscriptions AS s
  JOIN demo_raw.ground_truth AS g ON g.entity = 'subscriptions' AND g.source_id = s.subscription_id
 WHERE (g.customer_id IS NOT NULL AND g.customer_id <> s.account_id::bigint - 10000000)
    OR (g.customer_id IS NULL AND s.account_id::bigint - 10000000 < 100);
SELECT count(*) AS mismatches FROM demo_raw.devices AS d
  JOIN demo_raw.ground_truth AS g ON g.entity = 'devices' AND g.source_id = d.device_id
 WHERE g.customer_id <> substr(d.account_id, 6)::integer OR g.location_id IS DISTINCT FROM d.location_id;
SELECT count(*) AS mismatches FROM demo_raw.users AS u
  JOIN demo_raw.ground_truth AS g ON g.entity = 'users' AND g.source_id = u.user_id::text
 WHERE g.customer_id IS DISTINCT FROM btrim(u.account_id)::integer;
SELECT count(*) AS mismatches FROM demo_raw.locations AS l
  JOIN demo_raw.ground_truth AS g ON g.entity = 'locations' AND g.source_id = l.location_id::text
 WHERE g.customer_id <> l.account_id;
SELECT count(*) AS mismatches FROM demo_raw.campaigns AS c
  JOIN demo_raw.ground_truth AS g ON g.entity = 'campaigns' AND g.source_id = c.campaign_id
 WHERE 'cust_' || g.customer_id <> c.account_id;

-- Every device's location belongs to the device's own customer
SELECT count(*) AS located, count(*) FILTER (WHERE l.account_id = g.customer_id) AS same_customer
  FROM demo_raw.devices AS d
  JOIN demo_raw.ground_truth AS g ON g.entity = 'devices' AND g.source_id = d.device_id
  JOIN demo_raw.locations AS l ON l.location_id = d.location_id;

-- Documented tables; keys only on customers and the ground truth
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented,
       (SELECT count(*) FROM pg_constraint AS k WHERE k.conrelid = c.oid AND k.contype IN ('p', 'f', 'u')) AS keys
  FROM pg_class AS c WHERE c.relnamespace = 'demo_raw'::regnamespace AND c.relkind = 'r'
 ORDER BY c.relname;

-- A few seeded aggregates: these change only if the generators do
SELECT (SELECT sum(mrr) FROM demo_raw.subscriptions) AS total_subscription_mrr,
       (SELECT count(DISTINCT account_id) FROM demo_raw.devices) AS customers_with_devices,
       (SELECT count(DISTINCT city) FROM demo_raw.locations) AS cities;

-- Same seed, same bytes; another seed, other bytes
CREATE FUNCTION pg_temp.table_md5(rel regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
    EXECUTE format('SELECT md5(string_agg(t::text, E''\n'' ORDER BY t::text COLLATE "C")) FROM %s AS t', rel)
       INTO result;
    RETURN result;
END $$;
SELECT table_name, row_count FROM normalize.create_demo_source('demo_same', seed => 1);
SELECT count(*) FROM normalize.create_demo_source('demo_other', seed => 2);
SELECT t, pg_temp.table_md5(format('demo_raw.%I', t)::regclass) = pg_temp.table_md5(format('demo_same.%I', t)::regclass) AS same_seed_same_bytes,
          pg_temp.table_md5(format('demo_raw.%I', t)::regclass) <> pg_temp.table_md5(format('demo_other.%I', t)::regclass) AS other_seed_other_bytes
  FROM unnest(ARRAY['customers', 'subscriptions', 'devices', 'users', 'locations', 'campaigns', 'ground_truth']) AS t;
-- the exact-count properties hold for another seed too
SELECT (SELECT count(*) FILTER (WHERE mrr > 0) FROM demo_other.subscriptions) AS positive_mrr,
       (SELECT round(avg(health_score), 2) FROM demo_other.devices) AS mean_health,
       (SELECT round(avg(engagement_score), 2) FROM demo_other.users) AS mean_engagement;

-- Existing tables: refused without replace, recreated identically with it
CREATE TEMP TABLE before AS
SELECT t, pg_temp.table_md5(format('demo_raw.%I', t)::regclass) AS md5
  FROM unnest(ARRAY['customers', 'subscriptions', 'devices', 'users', 'locations', 'campaigns', 'ground_truth']) AS t;
SELECT * FROM normalize.create_demo_source('demo_raw');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
DROP TABLE demo_same.users;
SELECT * FROM normalize.create_demo_source('demo_same', replace => false);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT count(*) FROM normalize.create_demo_source('demo_raw', replace => true);
SELECT count(*) FILTER (WHERE pg_temp.table_md5(format('demo_raw.%I', t)::regclass) = md5) AS identical FROM before;
SELECT count(*) FROM normalize.create_demo_source('demo_same', replace => true);
-- a view in the way is never dropped
CREATE SCHEMA demo_view;
CREATE VIEW demo_view.devices AS SELECT 1 AS device_id;
SELECT * FROM normalize.create_demo_source('demo_view', replace => true);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;

-- Any schema name is quoted, never interpreted
SELECT count(*) FROM normalize.create_demo_source('Demo "Raw"; DROP', seed => 1);
SELECT count(*) AS tables FROM pg_tables WHERE schemaname = 'Demo "Raw"; DROP';
SET client_min_messages = warning;
DROP SCHEMA "Demo ""Raw""; DROP" CASCADE;
RESET client_min_messages;

-- Scale multiplies every count; the plan's means still hold
SELECT * FROM normalize.create_demo_source('demo_scale_2', seed => 7, scale => 2);
SELECT (SELECT count(*) FILTER (WHERE mrr > 0) FROM demo_scale_2.subscriptions) AS positive_mrr,
       (SELECT min(customer_id) || '-' || max(customer_id) FROM demo_scale_2.customers) AS customer_ids,
       (SELECT count(*) FILTER (WHERE health_score = 0.52) FROM demo_scale_2.devices) AS at_0_52,
       (SELECT round(avg(health_score), 2) FROM demo_scale_2.devices) AS mean_health,
       (SELECT round(avg(engagement_score), 2) FROM demo_scale_2.users) AS mean_engagement,
       (SELECT count(*) FROM demo_scale_2.subscriptions AS s
         WHERE NOT EXISTS (SELECT 1 FROM demo_scale_2.customers AS c
                            WHERE c.customer_id = s.account_id::bigint - 10000000)) AS orphan_subscriptions;

-- Bad arguments: a clear error naming the argument
SELECT * FROM normalize.create_demo_source(NULL);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM normalize.create_demo_source('');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM normalize.create_demo_source('normalize');
SELECT * FROM normalize.create_demo_source('pg_catalog');
SELECT * FROM normalize.create_demo_source('information_schema');
SELECT * FROM normalize.create_demo_source('pg_demo');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM normalize.create_demo_source(repeat('x', 64));
SELECT * FROM normalize.create_demo_source('demo_bad', seed => NULL);
SELECT * FROM normalize.create_demo_source('demo_bad', replace => NULL);
SELECT * FROM normalize.create_demo_source('demo_bad', scale => NULL);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM normalize.create_demo_source('demo_bad', scale => 0);
SELECT * FROM normalize.create_demo_source('demo_bad', scale => 10001);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT count(*) AS schemas_left_behind FROM pg_namespace WHERE nspname = 'demo_bad';

SET client_min_messages = warning;
DROP SCHEMA demo_raw, demo_same, demo_other, demo_view, demo_scale_2 CASCADE;
