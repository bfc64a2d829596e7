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
SELECT normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, NULL, false, 42);
-- a positive rate of 0 divided by zero, and other degenerate arguments
-- passed silently
SELECT normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, 0, false, 42);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, 1, false, 42);
SELECT normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, -1, false, 42);
SELECT normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, 'NaN', false, 42);
SELECT normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, 0.2, NULL, 42);
SELECT normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, 0.2, false, NULL);
SELECT * FROM normalize.assign_splits('grouped', 'NaN', 0.15, 'normalize.accounts');
SELECT * FROM normalize.assign_splits('time', 0.7, 0.5, 'normalize.accounts');
SELECT * FROM normalize.assign_splits('grouped', -1, 0.15, 'normalize.accounts');
SELECT * FROM normalize.assign_splits('grouped', 0.7, 0.15, NULL);
SELECT * FROM normalize.assign_splits(NULL, 0.7, 0.15, 'normalize.accounts');
