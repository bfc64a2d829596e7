-- normalize 0.1.0 -> 0.2.0. The build concatenates this directory's files
-- with the install files they name (see the Makefile). What changed, and
-- how the script brings a 0.1.0 database there:
--   * every key column is varchar COLLATE "C" (faster key builds, key
--     order independent of the server's locale): the views over them are
--     set aside, the columns altered, the views put back as they were;
--   * rule scoring and value matching are C++ (score_id_rules,
--     match_id_values), and reconcile_ids skips work it does not need: rule
--     discovery and reconcile_ids are replaced (sql/install/
--     13_rule_discovery.sql, 14_reconcile_ids.sql, replayed) and
--     rule_match_sql is dropped (15_dropped.sql);
--   * the feature views lag one packed array per shift: feature_view_sql is
--     replaced and the three feature views regenerated from it
--     (sql/install/41_feature_views.sql, replayed);
--   * Phase 6, the HTML report, run_pipeline and pg_dump of the results are
--     new (sql/install/70_quality.sql, 71_report_html.sql, 80_pipeline.sql,
--     90_results_dump.sql, as they are).

-- The views that read key columns, dependents first, with their
-- definitions and comments, to put back once the columns are altered. They
-- travel between this script's statements in a transaction-local setting:
-- a table made here would become part of the extension.
DO $$
DECLARE
    v record;
    c record;
BEGIN
    PERFORM pg_catalog.set_config('normalize_upgrade.views', (
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                   'position', w.position, 'name', w.name,
                   'definition', pg_catalog.pg_get_viewdef(format('@extschema@.%I', w.name)::regclass),
                   'description', pg_catalog.obj_description(format('@extschema@.%I', w.name)::regclass, 'pg_class')))::text
          FROM unnest(ARRAY['churn_training_set', 'clv_training_set', 'device_health_training_set', 'customer_features',
                            'device_features', 'user_features', 'customer_feature_base', 'device_feature_base',
                            'user_feature_base', 'id_map']) WITH ORDINALITY AS w(name, position)), true);
    -- They return the feature views' row types (sql/install/43_features_at.sql
    -- makes them again).
    DROP FUNCTION @extschema@.customer_features_at(date), @extschema@.device_features_at(date),
                  @extschema@.user_features_at(date);
    FOR v IN SELECT x.name FROM jsonb_to_recordset(pg_catalog.current_setting('normalize_upgrade.views')::jsonb)
                                AS x(position integer, name text)
              ORDER BY x.position LOOP
        EXECUTE format('DROP VIEW @extschema@.%I', v.name);
    END LOOP;
    FOR c IN SELECT cl.relname, a.attname
               FROM pg_catalog.pg_attribute AS a
               JOIN pg_catalog.pg_class AS cl ON cl.oid = a.attrelid
              WHERE cl.relnamespace = '@extschema@'::regnamespace AND cl.relkind = 'r'
                AND a.attnum > 0 AND NOT a.attisdropped AND a.attname ~ '_key$'
                AND a.atttypid = 'pg_catalog.varchar'::regtype
              ORDER BY cl.relname, a.attnum LOOP
        EXECUTE format('ALTER TABLE @extschema@.%I ALTER COLUMN %I TYPE varchar COLLATE "C"', c.relname, c.attname);
    END LOOP;
END
$$;
