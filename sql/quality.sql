-- Phase 6 and the pipeline: bad input gets a clear error.
\set VERBOSITY default
-- The Wilson interval: a value, and its bad input.
SELECT round(low::numeric, 4) AS low, round(high::numeric, 4) AS high FROM normalize.wilson_interval(5, 100, 0.95);
SELECT * FROM normalize.wilson_interval(0, 0, 0.99);
SELECT * FROM normalize.wilson_interval(5, 100, 1.5);
SELECT * FROM normalize.wilson_interval(7, 5, 0.99);
SELECT * FROM normalize.wilson_interval(NULL, 5, 0.99);
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
CALL normalize.run_pipeline(as_of => NULL);
SELECT normalize.pipeline_run_phase(1, 'deploy');
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
SELECT count(*) FROM normalize.use_sources('quality_raw');
SELECT count(*) AS runs FROM normalize.pipeline_runs;
