-- Phase 6: the quality checks pass on the demo pipeline, each category
-- fails when its data is broken on purpose, and the readiness report shows
-- the plan's five success metrics before and after.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(21);
SET LOCAL jit = off;

\ir fixture_check.psql

CREATE TEMP TABLE checks AS SELECT * FROM normalize.quality_checks();
SELECT is_empty($$SELECT check_name, entity, status, detail FROM checks WHERE status <> 'pass'$$,
                'every quality check passes on the demo pipeline');
SELECT set_eq($$SELECT DISTINCT category FROM checks$$,
              ARRAY['completeness', 'type consistency', 'distributions', 'temporal', 'labels', 'leakage', 'feature coverage'],
              'the checks cover the seven categories');

CREATE TEMP TABLE report AS SELECT * FROM normalize.ml_readiness_report();
SELECT is((SELECT count(*) FILTER (WHERE passed) FROM report), 5::bigint,
          'all five success metrics pass after the pipeline');
SELECT ok((SELECT before < 100 AND after < 100
                   AND after = (SELECT round(100 * min(c.observed)::numeric, 1) FROM checks AS c
                                 WHERE c.check_name IN ('relationships linked', 'source rows linked'))
              FROM report WHERE metric = 'Data completeness'),
          'before, references do not join as they stand; after, the least linked of the relationships and the source rows: the demo''s orphans count against');
SELECT ok((SELECT before = 0 AND after = 100 FROM report WHERE metric = 'Value realism'),
          'before, no raw column fits its profile; after, every distribution check passes');
SELECT ok((SELECT before <= 2 AND after = 24 FROM report WHERE metric = 'Historical coverage'),
          'before, at most two months of snapshots; after, 24');
SELECT ok((SELECT before < 150 AND after >= 150 FROM report WHERE metric = 'Feature coverage'),
          'before, a handful of columns per entity; after, at least 150 features');
SELECT ok((SELECT before IS NULL AND after < 1 FROM report WHERE metric = 'Training set quality'),
          'before, no training sets; after, under 1% missing values in their critical features');

-- Each category fails when its data is broken on purpose, and the failing
-- check names the broken rows. Each breakage is undone by rolling back a
-- subtransaction (a savepoint would also roll back pgTAP's own records).
CREATE FUNCTION pg_temp.when_broken(breakage text, check_name text, entity text,
                                    OUT status text, OUT failing_rows bigint, OUT sample_keys text[])
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE breakage;
        SELECT q.status, q.failing_rows, q.sample_keys INTO status, failing_rows, sample_keys
          FROM normalize.quality_checks() AS q
         WHERE q.check_name = when_broken.check_name AND q.entity = when_broken.entity;
        RAISE EXCEPTION 'undo' USING ERRCODE = 'U0001';
    EXCEPTION WHEN SQLSTATE 'U0001' THEN
        NULL;
    END;
END
$$;

SELECT results_eq($$SELECT status, failing_rows FROM pg_temp.when_broken(
                      'UPDATE normalize.customer_feature_store SET months_observed = NULL
                        WHERE (account_key, as_of) = (SELECT account_key, max(as_of) FROM normalize.customer_feature_store
                                                       GROUP BY account_key ORDER BY account_key LIMIT 1)',
                      'critical features present', 'customer features')$$,
                  $$VALUES ('fail', 1::bigint)$$,
                  'completeness: a NULL in a critical feature fails, one row');
SELECT results_eq($$SELECT status, failing_rows FROM pg_temp.when_broken(
                      'UPDATE normalize.device_feature_store SET as_of = as_of + 1000
                        WHERE (device_key, as_of) = (SELECT device_key, max(as_of) FROM normalize.device_feature_store
                                                      GROUP BY device_key ORDER BY device_key LIMIT 1)',
                      'no features after the history', 'device features')$$,
                  $$VALUES ('fail', 1::bigint)$$,
                  'leakage: a store row dated after the history fails, one row');
SELECT results_eq($$SELECT status, sample_keys FROM pg_temp.when_broken(
                      'ALTER TABLE normalize.lifecycle_events ALTER COLUMN entity_key TYPE text',
                      'key columns of one type', 'all tables')$$,
                  $$VALUES ('fail', ARRAY['lifecycle_events.entity_key'])$$,
                  'type consistency: a key column of another type fails and is named');
SELECT is((SELECT status FROM pg_temp.when_broken(
               'UPDATE normalize.devices SET health_score = least(greatest(health_score, 70), 90)
                 WHERE status = ''operational''',
               'fits its profile', 'devices.health_score, operational')), 'fail',
          'distributions: operational health clamped to [70, 90] fails its profile');
SELECT results_eq($$SELECT status, failing_rows FROM pg_temp.when_broken(
                      'INSERT INTO normalize.account_snapshots
                       SELECT s.account_key, (s.month + interval ''1 month'')::date, s.tier, s.mrr, s.seats,
                              s.active_users, 0, 0, 0, ''active'', NULL
                         FROM normalize.account_snapshots AS s
                        WHERE s.status = ''churned'' AND s.month < ''2025-06-01''
                        ORDER BY s.account_key LIMIT 1',
                      'no snapshots after churn', 'account_snapshots')$$,
                  $$VALUES ('fail', 1::bigint)$$,
                  'temporal: a snapshot after churn fails, one row');
SELECT is((SELECT status FROM pg_temp.when_broken(
               'UPDATE normalize.device_health_samples SET failed_30d = false WHERE split = ''test''',
               'positive rate per split', 'device health, test')), 'fail',
          'labels: a split without positives fails');
SELECT results_eq($$SELECT status, failing_rows FROM pg_temp.when_broken(
                      'UPDATE normalize.churn_samples SET as_of = ''2025-06-01''
                        WHERE (account_key, as_of) = (SELECT account_key, max(as_of) FROM normalize.churn_samples
                                                       GROUP BY account_key ORDER BY account_key LIMIT 1)',
                      'labels censored', 'training sets')$$,
                  $$VALUES ('fail', 1::bigint)$$,
                  'labels: a sample whose 90-day window runs past the history fails');
-- A leak: one row's MRR taken from the month after its cutoff, in an
-- account of the sample the check recomputes (the lowest hashes).
SELECT results_eq($$SELECT status, failing_rows FROM pg_temp.when_broken(
                      'UPDATE normalize.customer_feature_store AS f SET mrr = n.mrr + 1
                         FROM normalize.account_snapshots AS n
                        WHERE n.account_key = f.account_key
                          AND n.month = (date_trunc(''month'', f.as_of) + interval ''1 month'')::date
                          AND (f.account_key, f.as_of) = (SELECT account_key, min(as_of) FROM normalize.customer_feature_store
                                                           WHERE account_key = (SELECT account_key FROM normalize.accounts
                                                                                 ORDER BY md5(account_key), account_key LIMIT 1)
                                                           GROUP BY account_key)',
                      'point-in-time values', 'customer features')$$,
                  $$VALUES ('fail', 1::bigint)$$,
                  'leakage: a feature later than its cutoff fails, one row');
SELECT is((SELECT status FROM pg_temp.when_broken(
               'UPDATE normalize.quality_thresholds SET threshold = 400 WHERE check_name = ''features per entity''',
               'features per entity', 'customer features')), 'fail',
          'feature coverage: fails under a threshold the user raised above the catalog');
UPDATE normalize.quality_thresholds SET threshold = 150 WHERE check_name = 'features per entity';
SELECT is((SELECT shipped FROM normalize.quality_thresholds WHERE check_name = 'features per entity'), false,
          'an edited threshold becomes the user''s row (kept by pg_dump)');

-- "Before" is the run's own: measured as its reconcile phase read the
-- sources, it does not move when the sources do afterwards. Without it
-- (the phases called by hand) the report measures the sources as they are.
-- Last in the file: it deletes source rows.
SELECT is((SELECT count(*) FROM normalize.source_metrics
            WHERE run_id = (SELECT max(r.run_id) FROM normalize.pipeline_runs AS r)),
          4::bigint, 'the run recorded the four "before" metrics of the sources it read');
DELETE FROM tap_fixture.customers WHERE customer_id % 2 = 0;
CREATE TEMP TABLE report_later AS
    SELECT * FROM normalize.readiness_metrics(ARRAY(SELECT ROW(c.*)::"normalize".quality_check FROM checks AS c));
SELECT set_eq($$SELECT metric, before FROM report_later$$, $$SELECT metric, before FROM report$$,
              'once the sources change, the report''s "before" still describes the run''s sources');
DELETE FROM normalize.source_metrics;
SELECT ok((SELECT l.before < r.before
             FROM report AS r,
                  normalize.readiness_metrics(ARRAY(SELECT ROW(c.*)::"normalize".quality_check FROM checks AS c)) AS l
            WHERE r.metric = 'Data completeness' AND l.metric = r.metric),
          'without the run''s figures, "before" is measured on the sources as they are now');

SELECT * FROM finish();
ROLLBACK;
