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
SELECT normalize.feature_expression('health', 'median', 30, 7, 7);
SELECT normalize.feature_expression('health', 'mean', 3, 7, 7);
SELECT normalize.feature_ref('health', 0, 7), normalize.feature_ref('health', 14, 7), normalize.feature_ref('health', 30, 7);
-- a cadence of 0 divided by zero, and NULLs were spliced in as nothing
SELECT normalize.feature_ref('health', 3, 0);
SELECT normalize.feature_ref('health', -1, 1);
SELECT normalize.feature_expression('health', 'mean', 14, 0, 7);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT normalize.feature_expression(NULL, 'mean', 14, 7, 7);
SELECT normalize.feature_expression('health', 'mean', 14, NULL, 7);
SELECT normalize.feature_expression('health', 'mean', 14, 7, NULL);
SELECT normalize.feature_expression('health', 'last', NULL, NULL, NULL);

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
