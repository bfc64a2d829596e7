
-- The training-set views, as they were, over the regenerated feature views.
DO $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT x.* FROM jsonb_to_recordset(pg_catalog.current_setting('normalize_upgrade.views')::jsonb)
                             AS x(position integer, name text, definition text, description text)
              WHERE x.name IN ('churn_training_set', 'clv_training_set', 'device_health_training_set')
              ORDER BY x.position DESC LOOP
        EXECUTE format('CREATE VIEW @extschema@.%I AS %s', v.name, v.definition);
        EXECUTE format('COMMENT ON VIEW @extschema@.%I IS %L', v.name, v.description);
    END LOOP;
END
$$;

