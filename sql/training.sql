-- Phase 5: the training sets' bad input (their invariants are in pgTAP).
\set SHOW_CONTEXT never
TRUNCATE normalize.history_info;
SELECT * FROM normalize.build_training_sets();
SELECT * FROM normalize.build_training_sets(seed => NULL);
SELECT * FROM normalize.build_training_sets(strategy => 'random');
SELECT * FROM normalize.build_training_sets(train_share => 0.9, validation_share => 0.1);
SELECT * FROM normalize.build_training_sets(churn_positive_rate => 1.5);
-- the internal steps, called on their own
SELECT * FROM normalize.assign_splits('random', 0.7, 0.15, 'normalize.accounts');
SELECT * FROM normalize.assign_splits('grouped', 0.7, 0.15, 'normalize.accounts');
-- balance_samples writes the candidates it keeps: all of them at no rate;
-- at 0.5, of the training split's 2 positives and 6 negatives, 2
-- negatives weighing 3 each, and the other splits as they are.
CREATE TEMP TABLE bal_candidates (LIKE normalize.churn_samples);
CREATE TEMP TABLE bal_target (LIKE normalize.churn_samples);
INSERT INTO bal_candidates
SELECT 'account:' || i, '2025-01-31', CASE WHEN i <= 8 THEN 'train' ELSE 'test' END, i IN (1, 2), i IN (1, 2), i IN (1, 2), 1
  FROM generate_series(1, 10) AS i;
SELECT normalize.balance_samples('bal_candidates', 'bal_target', 'account_key', 'churned_90d', NULL, NULL, false, 42);
SELECT count(*) AS kept FROM bal_target;
TRUNCATE bal_target;
SELECT normalize.balance_samples('bal_candidates', 'bal_target', 'account_key', 'churned_90d', NULL, 0.5, false, 42);
SELECT split, churned_90d, count(*), sum(sample_weight) FROM bal_target GROUP BY 1, 2 ORDER BY 1, 2;
-- a positive rate of 0 divided by zero, and other degenerate arguments
-- passed silently
SELECT normalize.balance_samples('bal_candidates', 'bal_target', 'account_key', 'churned_90d', NULL, 0, false, 42);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT normalize.balance_samples('bal_candidates', 'bal_target', 'account_key', 'churned_90d', NULL, 1, false, 42);
SELECT normalize.balance_samples('bal_candidates', 'bal_target', 'account_key', 'churned_90d', NULL, -1, false, 42);
SELECT normalize.balance_samples('bal_candidates', 'bal_target', 'account_key', 'churned_90d', NULL, 'NaN', false, 42);
SELECT normalize.balance_samples('bal_candidates', 'bal_target', 'account_key', 'churned_90d', NULL, 0.2, NULL, 42);
SELECT normalize.balance_samples('bal_candidates', 'bal_target', 'account_key', 'churned_90d', NULL, 0.2, false, NULL);
SELECT normalize.balance_samples(NULL, 'bal_target', 'account_key', 'churned_90d', NULL, 0.2, false, 42);
SELECT * FROM normalize.assign_splits('grouped', 'NaN', 0.15, 'normalize.accounts');
SELECT * FROM normalize.assign_splits('time', 0.7, 0.5, 'normalize.accounts');
SELECT * FROM normalize.assign_splits('grouped', -1, 0.15, 'normalize.accounts');
SELECT * FROM normalize.assign_splits('grouped', 0.7, 0.15, NULL);
SELECT * FROM normalize.assign_splits(NULL, 0.7, 0.15, 'normalize.accounts');
