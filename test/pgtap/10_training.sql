-- Phase 5: the training sets' invariants on the demo pipeline.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(14);
SET LOCAL jit = off;

\ir fixture_check.psql

SELECT is_empty($$SELECT account_key FROM normalize.churn_samples GROUP BY account_key HAVING count(DISTINCT split) > 1
                  UNION ALL
                  SELECT account_key FROM normalize.clv_samples GROUP BY account_key HAVING count(DISTINCT split) > 1
                  UNION ALL
                  SELECT device_key FROM normalize.device_health_samples GROUP BY device_key HAVING count(DISTINCT split) > 1$$,
                'no entity is in two splits of a set');
SELECT ok(abs(avg(churned_90d::int) - 0.20) < 0.01,
          format('the churn training split is balanced to 20%% positives (%s)', round(avg(churned_90d::int), 4)))
  FROM normalize.churn_samples WHERE split = 'train';
SELECT ok(bool_and(abs(share - 0.20) < 0.01), 'the device training split is balanced to 20% positives per device type')
  FROM (SELECT device_type, avg(failed_30d::int) AS share FROM normalize.device_health_samples
         WHERE split = 'train' GROUP BY device_type) AS t;
SELECT ok(abs(weighted - natural_rate) < 0.02,
          format('sample weights restore the natural churn rate in training (%s weighted, %s in validation and test)',
                 round(weighted::numeric, 4), round(natural_rate::numeric, 4)))
  FROM (SELECT (SELECT sum(sample_weight * churned_90d::int) / sum(sample_weight) FROM normalize.churn_samples
                 WHERE split = 'train') AS weighted,
               (SELECT avg(churned_90d::int) FROM normalize.churn_samples WHERE split <> 'train') AS natural_rate) AS t;
SELECT is((SELECT count(*) FROM normalize.churn_samples WHERE split <> 'train' AND sample_weight <> 1), 0::bigint,
          'validation and test keep the natural rate, with weight 1');

-- Censoring and leakage: labels look only after the cutoff, and only
-- inside the observed history; no sample of an account churned by then.
SELECT is_empty($$SELECT s.* FROM normalize.churn_samples AS s, normalize.history_info AS h WHERE s.as_of + 90 > h.as_of$$,
                'no churn sample has a label window past the history''s as_of');
SELECT is_empty($$SELECT s.* FROM normalize.device_health_samples AS s, normalize.history_info AS h WHERE s.as_of + 30 > h.as_of$$,
                'no device sample has a label window past the history''s as_of');
SELECT is_empty($$SELECT s.* FROM normalize.churn_samples AS s
                   JOIN normalize.lifecycle_events AS e ON e.entity = 'account' AND e.entity_key = s.account_key
                    AND e.event = 'churn' AND e.event_date <= s.as_of$$,
                'no churn sample is of an account that had churned by its cutoff');
SELECT is_empty($$SELECT s.* FROM normalize.churn_samples AS s
                   WHERE s.churned_90d <> EXISTS (SELECT 1 FROM normalize.lifecycle_events AS e
                                                   WHERE e.entity = 'account' AND e.entity_key = s.account_key
                                                     AND e.event = 'churn' AND e.event_date > s.as_of
                                                     AND e.event_date <= s.as_of + 90)$$,
                'every churn label is a churn event in the 90 days after the cutoff, and every such event a label');
SELECT is_empty($$SELECT s.* FROM normalize.device_health_samples AS s
                   WHERE s.failed_30d <> EXISTS (SELECT 1 FROM normalize.lifecycle_events AS e
                                                  WHERE e.entity = 'device' AND e.entity_key = s.device_key
                                                    AND e.event = 'failure' AND e.event_date > s.as_of
                                                    AND e.event_date <= s.as_of + 30)$$,
                'every device label is a failure event in the 30 days after the cutoff, and every such event a label');
SELECT is((SELECT count(*) FROM normalize.churn_training_set), (SELECT count(*) FROM normalize.churn_samples),
          'every churn sample has its features at the cutoff');

-- Required features are present in the sets.
CREATE FUNCTION pg_temp.required_missing(set_name text, entity text) RETURNS TABLE (feature text, null_share float8)
LANGUAGE plpgsql AS $$
DECLARE c record;
BEGIN
    FOR c IN SELECT f.feature FROM normalize.feature_catalog AS f WHERE f.entity = required_missing.entity AND f.required LOOP
        EXECUTE format('SELECT %L::text, avg((%I IS NULL)::int)::float8 FROM normalize.%I', c.feature, c.feature, set_name)
          INTO feature, null_share;
        IF null_share >= 0.01 THEN RETURN NEXT; END IF;
    END LOOP;
END $$;
SELECT is_empty($$SELECT * FROM pg_temp.required_missing('churn_training_set', 'customer')
                  UNION ALL SELECT * FROM pg_temp.required_missing('clv_training_set', 'customer')
                  UNION ALL SELECT * FROM pg_temp.required_missing('device_health_training_set', 'device')$$,
                'every feature the catalog marks required is missing on less than 1% of each set''s rows');

-- Same seed, same sets.
CREATE TEMP TABLE first_build AS SELECT * FROM normalize.churn_samples;
SELECT count(*) FROM normalize.build_training_sets(42) \g /dev/null
SELECT is_empty($$(SELECT * FROM first_build EXCEPT SELECT * FROM normalize.churn_samples)
                  UNION ALL (SELECT * FROM normalize.churn_samples EXCEPT SELECT * FROM first_build)$$,
                'the same seed gives the same churn set');

-- The time-based option trains on the earliest cutoffs.
SELECT count(*) FROM normalize.build_training_sets(42, strategy => 'time', churn_positive_rate => NULL) \g /dev/null
SELECT ok((SELECT max(as_of) FROM normalize.churn_samples WHERE split = 'train')
            <= (SELECT min(as_of) FROM normalize.churn_samples WHERE split = 'validation')
          AND (SELECT max(as_of) FROM normalize.churn_samples WHERE split = 'validation')
            <= (SELECT min(as_of) FROM normalize.churn_samples WHERE split = 'test'),
          'strategy => time: training cutoffs come before validation ones, and those before test ones');

SELECT * FROM finish();
ROLLBACK;
