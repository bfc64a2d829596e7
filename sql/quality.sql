-- Phase 6 and the pipeline: bad input gets a clear error.
\set VERBOSITY default
-- The Wilson interval: a value, and its bad input.
SELECT round(low::numeric, 4) AS low, round(high::numeric, 4) AS high FROM normalize.wilson_interval(5, 100, 0.95);
SELECT * FROM normalize.wilson_interval(0, 0, 0.99);
SELECT * FROM normalize.wilson_interval(5, 100, 1.5);
SELECT * FROM normalize.wilson_interval(7, 5, 0.99);
SELECT * FROM normalize.wilson_interval(NULL, 5, 0.99);
-- 2 * n overflowed bigint from n = 2^62
SELECT round(low::numeric, 4) AS low, round(high::numeric, 4) AS high FROM normalize.wilson_interval(4611686018427387904, 9223372036854775807, 0.95);
-- Annual churn by tier: the confidence level is checked even without a
-- history to compute it on.
SELECT * FROM normalize.annual_churn_by_tier(1.5);
SELECT * FROM normalize.annual_churn_by_tier(0);
SELECT count(*) FROM normalize.annual_churn_by_tier(NULL);
-- The values checked against the profiles come from the normalized tables
-- or the sources, nothing else.
SELECT * FROM normalize.profile_values('staging');
-- The HTML report escapes what it shows.
SELECT normalize.html_escape('<a href="x">Tom''s & Co</a>');
-- Nothing to check before reconciliation.
BEGIN;
TRUNCATE normalize.accounts CASCADE;
SELECT count(*) FROM normalize.quality_checks();
ROLLBACK;
-- Thresholds are data, checked on the way in.
UPDATE normalize.quality_thresholds SET comparison = '>' WHERE check_name = 'no gaps';
UPDATE normalize.quality_thresholds SET severity = 'fatal' WHERE check_name = 'no gaps';
INSERT INTO normalize.quality_thresholds (check_name, category, comparison, threshold, description)
VALUES ('my check', 'style', '>=', 1, 'not a category');
-- The pipeline's arguments.
CALL normalize.run_pipeline(seed => NULL);
CALL normalize.run_pipeline(months => NULL);
-- The processes a phase may use: the argument of a run, or the setting.
CALL normalize.run_pipeline(workers => 0);
SET normalize.workers = -1;
SET normalize.workers = 3;
SET max_parallel_workers = 1;
SELECT normalize.worker_count() AS within_max_parallel_workers;
SET max_parallel_workers = 0;
SELECT normalize.worker_count() AS one_when_no_workers;
RESET max_parallel_workers;
SELECT normalize.worker_count() AS as_set;
SET normalize.workers = 1;
SELECT normalize.worker_count() AS one;
RESET normalize.workers;
SELECT normalize.pipeline_run_phase(1, 'deploy');
SELECT normalize.pipeline_run_phase(-1, 'repair');
SELECT normalize.pipeline_next_phase(-1) AS no_phase_of_no_run;
-- The internal pieces of the checks and the page refuse or pass through
-- what they cannot use.
SELECT * FROM normalize.quality_count('normalize.accounts', 'account_key', 'no_such_column IS NULL');
SELECT * FROM normalize.store_check_counts('account');
SELECT * FROM normalize.store_checks(NULL);
SELECT normalize.svg_histogram('empty', 0, 1, '{}', '{}') LIKE '<svg%</svg>' AS empty_histogram_is_a_chart;
SELECT normalize.svg_histogram('t', 0, 1, NULL, '{1}') AS strict_histogram;
SELECT normalize.svg_bars('no rows', NULL, NULL, NULL, NULL, NULL, NULL, 'FM0.0') LIKE '<svg%</svg>' AS no_bars_is_a_chart;
-- One value per bin or bar: shorter arrays misaligned the chart (or
-- divided by zero bins), and NaN drew NaN coordinates.
SELECT normalize.svg_histogram('t', 0, 1, '{1,2}', '{1}');
SELECT normalize.svg_histogram('t', 0, 1, '{}', '{1}');
SELECT normalize.svg_histogram('t', 0, 1, '{1,-2}', '{1,1}');
SELECT normalize.svg_histogram('t', 0, 1, '{1,NULL}', '{1,1}');
SELECT normalize.svg_histogram('t', 0, 1, '{1,2}', '{1,NaN}');
SELECT normalize.svg_histogram('t', 1, 1, '{1}', '{1}');
SELECT normalize.svg_histogram('t', 'NaN', 1, '{1}', '{1}');
SELECT normalize.svg_histogram('t', 0, 1, '{{1,2}}', '{{1,2}}');
SELECT normalize.svg_histogram('t', 0, 1, '{9223372036854775807}', '{1}') LIKE '<svg%</svg>' AS huge_count_is_a_chart;
SELECT normalize.svg_bars('t', ARRAY['a', 'b'], ARRAY[1]::float8[], NULL, NULL, NULL, NULL, 'FM0.0');
SELECT normalize.svg_bars('t', ARRAY['a', 'b'], ARRAY[1, 2]::float8[], ARRAY[0, 1, 2]::float8[], NULL, NULL, NULL, 'FM0.0');
SELECT normalize.svg_bars('t', ARRAY['a', 'b'], ARRAY[1, 'NaN']::float8[], NULL, NULL, NULL, NULL, 'FM0.0');
SELECT normalize.svg_bars('t', NULL, ARRAY[1]::float8[], NULL, NULL, NULL, NULL, 'FM0.0');
SELECT normalize.svg_bars('t', ARRAY['a'], ARRAY[1]::float8[], NULL, NULL, NULL, NULL, NULL);
SELECT normalize.svg_bars('t', ARRAY[['a'], ['b']], NULL, NULL, NULL, NULL, NULL, 'FM0.0');
SELECT normalize.svg_bars('t', ARRAY['a', 'b'], ARRAY[1, NULL]::float8[], NULL, NULL, NULL, NULL, 'FM0.0') LIKE '%n/a%' AS a_missing_value_is_na;
-- Inside a transaction block it cannot commit after each phase.
SELECT count(*) FROM normalize.create_demo_source('quality_raw', replace => true);
SELECT count(*) FROM normalize.use_sources('quality_raw');
BEGIN;
CALL normalize.run_pipeline(as_of => '2025-06-18');
ROLLBACK;
-- Without registered sources.
DELETE FROM normalize.sources;
CALL normalize.run_pipeline(as_of => '2025-06-18');
SELECT * FROM normalize.ml_readiness_report();
SELECT normalize.readiness_report_html();
SELECT count(*) FROM normalize.profile_values('sources');
SELECT * FROM normalize.measure_sources();
SELECT normalize.record_source_metrics(1);
SELECT normalize.record_source_metrics(NULL) IS NULL AS no_run_no_record;
SELECT count(*) FROM normalize.use_sources('quality_raw');
-- The report's metrics need the checks' rows.
SELECT * FROM normalize.readiness_metrics(NULL);
-- Registered again: the raw values, and the profile each should follow.
SELECT profile, count(*) AS raw_values FROM normalize.profile_values('sources') GROUP BY profile ORDER BY profile;
SELECT count(*) AS runs FROM normalize.pipeline_runs;
