-- Phase 4: the feature catalog and the point-in-time feature views.
\set SHOW_CONTEXT never
SET jit = off;
-- The catalog: how many features of each kind per entity
SELECT entity, count(*) AS features, count(*) FILTER (WHERE window_size IS NOT NULL) AS windowed,
       count(DISTINCT source_metric) AS metrics, string_agg(DISTINCT window_size || ' ' || window_unit, ', ') AS windows
  FROM normalize.feature_catalog GROUP BY entity ORDER BY entity;
SELECT feature, source_metric, window_size, window_unit, aggregation, min_history, description
  FROM normalize.feature_catalog WHERE entity = 'customer' AND feature LIKE 'revenue_growth_rate%' ORDER BY position;

-- Bad input: nothing to compute from, an unknown entity, NULL dates
TRUNCATE normalize.history_info;
SELECT * FROM normalize.refresh_features();
SELECT count(*) FROM normalize.customer_features;
SELECT normalize.feature_view_sql('account');
SELECT count(*) FROM normalize.customer_features_at(NULL);
SELECT count(*) FROM normalize.device_features_at(NULL);
-- the generator's internals refuse what the catalog cannot hold
SELECT normalize.feature_expression('health', 'median', 30, 7, 7, NULL);
SELECT normalize.feature_expression('health', 'mean', 3, 7, 7, NULL);
-- what a feature reads from earlier rows, and where the packed array holds it
SELECT * FROM normalize.feature_reads('health', 'min', 30, 7, 7);
SELECT * FROM normalize.feature_reads('health', 'slope', 14, 7, 7);
SELECT * FROM normalize.feature_reads('health', 'change', 30, 7, 7);
SELECT count(*) AS reads FROM normalize.feature_reads('health', 'last', NULL, NULL, NULL);
SELECT normalize.feature_ref('health', 0, 7, NULL), normalize.feature_ref('health', 14, 7, ARRAY['usage', 'health']),
       normalize.feature_ref('health', 30, 7, ARRAY['health']);
SELECT normalize.feature_expression('health', 'max', 30, 7, 7, ARRAY['_bmax_health', '_n_health']);
-- a value read that was not packed is refused, not spliced in as nothing
SELECT normalize.feature_ref('health', 14, 7, ARRAY['usage']);
SELECT normalize.feature_expression('health', 'mean', 14, 7, 7, ARRAY['_n_health']);
-- a cadence of 0 divided by zero, and NULLs were spliced in as nothing
SELECT normalize.feature_ref('health', 3, 0, NULL);
SELECT normalize.feature_ref('health', -1, 1, NULL);
SELECT normalize.feature_ref(NULL, 1, 1, NULL);
SELECT normalize.feature_expression('health', 'mean', 14, 0, 7, NULL);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT normalize.feature_expression(NULL, 'mean', 14, 7, 7, NULL);
SELECT normalize.feature_expression('health', 'mean', 14, NULL, 7, NULL);
SELECT normalize.feature_expression('health', 'mean', 14, 7, NULL, NULL);
SELECT normalize.feature_expression('health', 'last', NULL, NULL, NULL, NULL);

-- On the demo pipeline
SELECT count(*) AS tables FROM normalize.create_demo_source('features_raw', seed => 1);
SELECT count(*) AS sources FROM normalize.use_sources('features_raw');
SELECT count(*) AS entities FROM normalize.reconcile_ids();
SELECT count(*) AS columns FROM normalize.repair_values(42);
SELECT count(*) AS tables FROM normalize.build_history(24, '2025-06-18', 42);
SELECT * FROM normalize.refresh_features();
-- The first account still active at as_of, over its last four cutoffs
SELECT account_key, as_of, round(mrr::numeric, 2) AS mrr, round(revenue_growth_rate_3m::numeric, 4) AS growth_3m,
       round(support_ticket_frequency_3m::numeric, 2) AS tickets_3m,
       round(payment_reliability_score_12m::numeric, 2) AS reliability_12m,
       round(device_healthy_share::numeric, 2) AS healthy_devices, round(user_mean_engagement::numeric, 1) AS engagement
  FROM normalize.customer_feature_store
 WHERE account_key = (SELECT min(account_key) FROM normalize.customer_feature_store WHERE as_of = '2025-06-18')
 ORDER BY as_of DESC LIMIT 4;
-- customer_features_at: each account's latest cutoff on or before the date
SELECT as_of, count(*) AS accounts FROM normalize.customer_features_at('2025-05-15') GROUP BY as_of ORDER BY as_of DESC LIMIT 3;
-- NULLs where the history is too short, by window
SELECT entity, coalesce(window_size || ' ' || window_unit, 'no window') AS window, count(*) AS features,
       round(avg(null_share)::numeric, 3) AS mean_null_share
  FROM normalize.feature_null_rates() AS r
  JOIN normalize.feature_catalog AS c USING (entity, feature)
 GROUP BY entity, window_size, window_unit ORDER BY entity, window_size NULLS FIRST;
-- A new history empties the stores
SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 42);
SELECT (SELECT count(*) FROM normalize.customer_feature_store) + (SELECT count(*) FROM normalize.device_feature_store)
       + (SELECT count(*) FROM normalize.user_feature_store) AS stored_rows;
-- The feature engine: what it writes into, and what it refuses
SELECT count(*) FROM normalize.refresh_features();
CREATE TABLE engine_devices (LIKE normalize.device_feature_store);
SELECT normalize.write_feature_rows('device', 'engine_devices') = (SELECT count(*) FROM normalize.device_feature_store)
       AS every_cutoff_written;
SELECT count(*) AS rows_differing
  FROM ((SELECT * FROM engine_devices EXCEPT SELECT * FROM normalize.device_feature_store)
        UNION ALL (SELECT * FROM normalize.device_feature_store EXCEPT SELECT * FROM engine_devices)) AS d;
-- with an index, rebuilt after the rows are in
CREATE INDEX ON engine_devices (device_key, as_of);
SELECT normalize.write_feature_rows('device', 'engine_devices') > 0 AS written_again;
SET enable_seqscan = off;
SELECT count(*) = 2 * (SELECT count(*) FROM normalize.device_feature_store) AS index_finds_both_copies
  FROM engine_devices WHERE device_key >= '';
RESET enable_seqscan;
SELECT normalize.write_feature_rows('devices', 'engine_devices');
SELECT normalize.write_feature_rows('customer', 'engine_devices');
CREATE TABLE engine_short (device_key text, as_of date);
SELECT normalize.write_feature_rows('device', 'engine_short');
ALTER TABLE engine_short ALTER COLUMN device_key TYPE varchar;
SELECT normalize.write_feature_rows('device', 'engine_short');
ALTER TABLE engine_short ADD COLUMN health float8;
SELECT normalize.write_feature_rows('device', 'engine_short');
CREATE TABLE engine_long (LIKE normalize.device_feature_store);
ALTER TABLE engine_long ADD COLUMN extra integer;
SELECT normalize.write_feature_rows('device', 'engine_long');
SELECT normalize.write_feature_rows('device', 'normalize.device_features');
SELECT normalize.write_feature_rows('device', 0);
CREATE FUNCTION engine_trigger() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER engine_trigger BEFORE INSERT ON engine_long FOR EACH ROW EXECUTE FUNCTION engine_trigger();
ALTER TABLE engine_long DROP COLUMN extra;
SELECT normalize.write_feature_rows('device', 'engine_long');
-- A dropped column among the features would shift those after it.
CREATE TABLE engine_dropped (LIKE normalize.device_feature_store);
ALTER TABLE engine_dropped ADD COLUMN spare float8;
ALTER TABLE engine_dropped DROP COLUMN spare;
SELECT normalize.write_feature_rows('device', 'engine_dropped');
DROP TRIGGER engine_trigger ON engine_long;
SELECT normalize.write_feature_rows(NULL, 'engine_long');
SELECT normalize.write_feature_rows('device', NULL);
-- The engine into a phase's staging table (stage_feature_rows), and one
-- range of keys of it (write_feature_part), refuse what it refuses.
SELECT normalize.stage_feature_rows(NULL, 'engine_long');
SELECT normalize.stage_feature_rows('device', NULL);
SELECT normalize.stage_feature_rows('devices', 'engine_long');
SELECT normalize.stage_feature_rows('device', 'engine_dropped');
SELECT normalize.write_feature_part(NULL, 'engine_long', NULL, NULL, NULL);
SELECT normalize.write_feature_part('device', NULL, NULL, NULL, NULL);
SELECT normalize.write_feature_part('device', 'engine_dropped', NULL, NULL, NULL);
-- from base rows of one's own, in any order: three devices' days, shuffled
CREATE TABLE engine_base AS
SELECT * FROM normalize.device_feature_base
 WHERE device_key IN (SELECT device_key FROM normalize.devices ORDER BY device_key LIMIT 3)
 ORDER BY md5(as_of::text || device_key);
TRUNCATE engine_devices;
SELECT normalize.write_feature_rows('device', 'engine_devices', 'engine_base') AS rows;
SELECT count(*) AS rows_differing
  FROM ((SELECT * FROM engine_devices
         EXCEPT SELECT * FROM normalize.device_feature_store WHERE device_key IN (SELECT device_key FROM engine_base))
        UNION ALL (SELECT * FROM normalize.device_feature_store WHERE device_key IN (SELECT device_key FROM engine_base)
                   EXCEPT SELECT * FROM engine_devices)) AS d;
-- One range of keys, from lower up to (not including) upper, as a worker
-- of stage_feature_rows writes it: the store's rows of those keys.
TRUNCATE engine_devices;
SELECT normalize.write_feature_part('device', 'engine_devices', 'engine_base',
                                    (SELECT min(device_key) FROM engine_base), (SELECT max(device_key) FROM engine_base))
       = (SELECT count(*) FROM normalize.device_feature_store
           WHERE device_key >= (SELECT min(device_key) FROM engine_base)
             AND device_key < (SELECT max(device_key) FROM engine_base)) AS rows_of_the_range;
SELECT count(DISTINCT device_key) AS devices_in_the_range FROM engine_devices;
-- a missing day, a repeated day, a NaN, a missing column
DELETE FROM engine_base WHERE device_key = (SELECT min(device_key) FROM engine_base) AND t = 5;
SELECT normalize.write_feature_rows('device', 'engine_devices', 'engine_base');
INSERT INTO engine_base SELECT * FROM engine_base WHERE device_key = (SELECT min(device_key) FROM engine_base) AND t = 4;
SELECT normalize.write_feature_rows('device', 'engine_devices', 'engine_base');
DELETE FROM engine_base WHERE device_key = (SELECT min(device_key) FROM engine_base);
UPDATE engine_base SET usage = 'NaN' WHERE t = 9 AND device_key = (SELECT min(device_key) FROM engine_base);
SELECT normalize.write_feature_rows('device', 'engine_devices', 'engine_base');
ALTER TABLE engine_base DROP COLUMN usage;
SELECT normalize.write_feature_rows('device', 'engine_devices', 'engine_base');
SELECT normalize.write_feature_rows('device', 'engine_devices', 0);
-- Comparing the stores with the views
SELECT feature, rows, differing FROM normalize.feature_store_disagreements('customer', 3)
 WHERE feature IS NULL OR differing > 0;
SELECT normalize.feature_store_disagreements('devices');
SELECT normalize.feature_store_disagreements(NULL);
SELECT normalize.feature_store_disagreements('device', 0);
SELECT (normalize.require_feature_entity('user')).base_view;
SELECT normalize.require_feature_entity('users');
SELECT normalize.require_feature_entity(NULL);
DROP TABLE engine_devices, engine_short, engine_long, engine_base;
DROP FUNCTION engine_trigger();
