#!/usr/bin/env bash
# The main job: builds and installs normalize, starts a throwaway cluster,
# creates the extension and shows what it does: the demo source in the plan's
# current state, the whole pipeline in one call (reconciled, repaired, given
# a history, features, training sets and quality checks), the ML-readiness
# report before and after (also written as an HTML page: readiness-report.html
# in the clone, or the file NZ_REPORT names), then the seeded generators for
# the plan's distributions and their validation inside the database.
# Installs what it needs from Debian.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$NZ_ROOT"

nz_install_packages
nz_build_and_install
nz_cluster_start

nz_psql -q -c "CREATE DATABASE normalize_demo"
report=${NZ_REPORT:-$NZ_ROOT/readiness-report.html}
nz_psql -d normalize_demo -v report_file="$report" <<'SQL'
\set QUIET on
\pset footer off
CREATE EXTENSION normalize;
\echo
\echo '== normalize installed'
SELECT extname AS extension, extversion AS version, extnamespace::regnamespace AS schema
  FROM pg_extension WHERE extname = 'normalize';

\echo '== Phase 1: the demo source, in the state of the plan''s Current State Assessment'
SELECT * FROM normalize.create_demo_source('saas_raw', seed => 1);
SELECT entity, relation, columns_found FROM normalize.use_sources('saas_raw');

\echo '== The "before" picture (normalize.assess_sources), abridged'
SELECT entity, metric, value, detail FROM normalize.assess_sources()
 WHERE metric IN ('rows', 'account references joining as they stand', 'account ID types', 'distinct tiers',
                  'share with zero MRR', 'rows with positive MRR', 'mean health score', 'mean engagement score')
    OR (metric = 'distinct snapshot dates' AND entity = 'subscriptions');

\echo '== Rule discovery: how each reference spells the IDs it points at, best rule first'
SELECT entity, reference, rule, parameter, linked, total, round(share::numeric, 3) AS share
  FROM normalize.suggest_id_rules() WHERE rank = 1;

\echo '== The whole pipeline in one call: a NOTICE per phase, committed after each'
\set QUIET off
CALL normalize.run_pipeline(seed => 42, months => 24, as_of => '2025-06-18', orphan_policy => 'quarantine');
\set QUIET on
SELECT phase, status, seconds, summary FROM normalize.pipeline_phases
 WHERE run_id = (SELECT max(run_id) FROM normalize.pipeline_runs) ORDER BY position;

\echo '== Phase 1: every relationship of the normalized tables linked'
SELECT * FROM normalize.validate_relationships();

\echo '== Scored against the demo''s ground truth'
SELECT g.entity,
       count(*) FILTER (WHERE NOT g.orphan) AS linkable,
       count(*) FILTER (WHERE NOT g.orphan AND m.account_key = normalize.stable_key('account', g.customer_id::text)) AS linked_right,
       count(*) FILTER (WHERE m.account_key <> normalize.stable_key('account', g.customer_id::text)) AS linked_wrong,
       count(*) FILTER (WHERE g.orphan) AS orphans,
       count(*) FILTER (WHERE g.orphan AND m.status = 'quarantined') AS quarantined
  FROM saas_raw.ground_truth AS g
  LEFT JOIN normalize.id_map AS m ON m.entity = g.entity AND m.source_id = g.source_id
 GROUP BY g.entity ORDER BY g.entity;

\echo '== Phase 2: the placeholder values repaired from the profiles, with provenance'
SELECT table_name, column_name, finding, action, rows, replaced, observed_distinct, repaired_distinct
  FROM normalize.repair_summary ORDER BY table_name, column_name;
SELECT mrr_source, tier, count(*) AS accounts, round(avg(mrr)) AS mean_mrr
  FROM normalize.accounts GROUP BY 1, 2 ORDER BY 1, 2;

\echo '== Phase 3: 24 months of account, device and user history ending at the plan''s date, and its lifecycle events'
SELECT event, count(*) AS events FROM normalize.lifecycle_events GROUP BY event ORDER BY event;
SELECT a.tier, count(DISTINCT s.account_key) AS accounts,
       count(DISTINCT s.account_key) FILTER (WHERE s.status = 'churned') AS churned_in_window,
       round(avg(s.mrr) FILTER (WHERE s.month = '2024-07-01')) AS mrr_a_year_ago,
       round(avg(s.mrr) FILTER (WHERE s.month = '2025-06-01')) AS mrr_now
  FROM normalize.account_snapshots AS s JOIN normalize.accounts AS a USING (account_key)
 GROUP BY a.tier ORDER BY a.tier;

\echo '== Phase 4: point-in-time features from a catalog (the views are generated from it)'
SET jit = off;
SELECT entity, count(*) AS features, count(DISTINCT source_metric) AS metrics,
       string_agg(DISTINCT window_size || ' ' || window_unit, ', ') AS windows
  FROM normalize.feature_catalog GROUP BY entity ORDER BY entity;
SELECT account_key, as_of, round(mrr::numeric, 2) AS mrr, round(revenue_growth_rate_3m::numeric, 4) AS growth_3m,
       round(product_adoption_velocity_3m::numeric, 2) AS adoption_3m,
       round(support_ticket_frequency_3m::numeric, 2) AS tickets_3m,
       round(payment_reliability_score_12m::numeric, 2) AS reliability_12m,
       round(device_healthy_share::numeric, 2) AS healthy_devices
  FROM normalize.customer_features_at('2025-06-18') ORDER BY account_key LIMIT 5;

\echo '== Phase 5: training sets with censored labels, grouped splits and balanced training'
SELECT 'churn' AS training_set, split, count(*) AS samples, count(*) FILTER (WHERE churned_90d) AS positives
  FROM normalize.churn_samples GROUP BY split
UNION ALL
SELECT 'device health', split, count(*), count(*) FILTER (WHERE failed_30d) FROM normalize.device_health_samples GROUP BY split
UNION ALL
SELECT 'clv', split, count(*), NULL FROM normalize.clv_samples GROUP BY split
ORDER BY 1, 2;

\echo '== Phase 6: quality checks (normalize.quality_checks), by category'
SELECT category, count(*) AS checks, count(*) FILTER (WHERE status = 'pass') AS pass,
       count(*) FILTER (WHERE status = 'warn') AS warn, count(*) FILTER (WHERE status = 'fail') AS fail
  FROM normalize.quality_checks() GROUP BY category
 ORDER BY array_position(ARRAY['completeness', 'type consistency', 'distributions', 'temporal', 'labels', 'leakage',
                               'feature coverage'], category);

\echo '== The ML-readiness report: the plan''s five success metrics, before and after'
SELECT metric, target, before, after, unit, CASE WHEN passed THEN 'pass' ELSE 'FAIL' END AS result
  FROM normalize.ml_readiness_report();
\pset format unaligned
\pset tuples_only on
\o :report_file
SELECT normalize.readiness_report_html();
\o
\pset format aligned
\pset tuples_only off
\echo '== The same report as a page, with charts (normalize.readiness_report_html()), written to' :report_file

\echo '== The plan''s appendix, shipped as data (normalize.distribution_profiles)'
SELECT name, family, params, lower, upper FROM normalize.distribution_profiles ORDER BY name;

\echo '== Seeded draws: 100,000 Tier 1 MRR values, lognormal(9.5, 0.8) truncated to [5000, 50000]'
SELECT count(*) AS n, round(min(x)) AS min, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)) AS median,
       round(avg(x)) AS mean, round(max(x)) AS max
  FROM normalize.random_lognormal(100000, 9.5, 0.8, seed => 42, lower => 5000, upper => 50000) AS x;

\echo '== Same seed, same values; another seed, other values'
SELECT run, seed, md5(string_agg(x::text, ',' ORDER BY i)) AS md5_of_1000_values
  FROM (VALUES (1, 'first call', 42), (2, 'second call', 42), (3, 'another seed', 43)) AS s(pos, run, seed),
       LATERAL normalize.random_normal(1000, 75, 15, seed => s.seed) WITH ORDINALITY AS t(x, i)
 GROUP BY pos, run, seed ORDER BY pos;

\echo '== Keyed draws: one reproducible value per entity, whatever the query around it'
SELECT 'acct-' || g AS account,
       round(normalize.draw('mrr_tier_2', 'acct-' || g, 42)::numeric, 2) AS mrr,
       round(normalize.draw('health_operational', 'acct-' || g, 42)::numeric, 1) AS device_health,
       round(normalize.draw('engagement_manager', 'acct-' || g, 42)::numeric, 1) AS engagement
  FROM generate_series(1, 5) AS g;

\echo '== Validation inside the database: each profile, 100,000 draws, one-sample Kolmogorov-Smirnov'
SELECT profile, family, n, round(statistic::numeric, 5) AS ks_statistic,
       round(p_value::numeric, 4) AS p_value, CASE WHEN passed THEN 'pass' ELSE 'FAIL' END AS result
  FROM normalize.validate_profiles(100000, 42);

\echo '== The test catches clamping: a normal(50, 8) clamped to [40, 60] against health_maintenance'
SELECT round((r).statistic::numeric, 4) AS ks_statistic, (r).p_value AS p_value
  FROM (SELECT normalize.ks_test(least(greatest(x, 40), 60), 'health_maintenance') AS r
          FROM normalize.random_normal(100000, 50, 8, seed => 1) AS x) AS t;

\echo '== Bad input gets a clear error'
\set ON_ERROR_STOP off
SELECT count(*) FROM normalize.random_lognormal(10, 4.5, 0.4, lower => 5000, upper => 50000);
SQL
nz_log "done; the cluster is stopped and removed on exit"
