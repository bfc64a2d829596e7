-- pg_dump keeps the results too. The tables above belong to the extension,
-- and pg_dump leaves an extension's tables out unless they are marked: a
-- dump of a database that ran the pipeline would otherwise restore the
-- definitions without the normalized data, history, features, training
-- sets and run log that took it a while to build. (The editable
-- configuration tables are marked where they are created.)
-- One call per statement: each rewrites the extension's catalog row.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounts', 'locations', 'subscriptions', 'devices', 'users', 'campaigns', 'account_map',
                             'unlinked_rows', 'quarantine', 'key_collisions', 'key_case',
                             'reconciliation_rules', 'repair_summary',
                             'history_info', 'account_snapshots', 'device_days', 'user_weeks', 'lifecycle_events',
                             'account_rollups',
                             'customer_feature_store', 'device_feature_store', 'user_feature_store', 'training_info',
                             'churn_samples', 'clv_samples', 'device_health_samples', 'source_metrics',
                             'pipeline_runs', 'pipeline_phases',
                             'pipeline_runs_run_id_seq'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('@extschema@.%I', t)::regclass, '');
    END LOOP;
END
$$;
