
-- The views the feature views read, and the id map, as they were.
DO $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT x.* FROM jsonb_to_recordset(pg_catalog.current_setting('normalize_upgrade.views')::jsonb)
                             AS x(position integer, name text, definition text, description text)
              WHERE x.name IN ('id_map', 'customer_feature_base', 'device_feature_base', 'user_feature_base')
              ORDER BY x.position DESC LOOP
        EXECUTE format('CREATE VIEW @extschema@.%I AS %s', v.name, v.definition);
        EXECUTE format('COMMENT ON VIEW @extschema@.%I IS %L', v.name, v.description);
    END LOOP;
END
$$;

