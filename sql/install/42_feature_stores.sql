-- Phase 4: the feature stores, their refresh and their NULL rates.

-- For each entity: a stored copy of its features for fast training-set
-- builds, filled by refresh_features() and emptied whenever the history it
-- came from is replaced.
DO $do$
DECLARE
    e record;
BEGIN
    FOR e IN SELECT * FROM (VALUES ('customer', 'account_key'), ('device', 'device_key'), ('user', 'user_key'))
                           AS v(entity, key) LOOP
        EXECUTE format('CREATE TABLE @extschema@.%1$I AS SELECT * FROM @extschema@.%2$I WITH NO DATA',
                       e.entity || '_feature_store', e.entity || '_features');
        EXECUTE format('ALTER TABLE @extschema@.%I ADD PRIMARY KEY (%I, as_of)', e.entity || '_feature_store', e.key);
        EXECUTE format('COMMENT ON TABLE @extschema@.%I IS %L', e.entity || '_feature_store',
                       e.entity || '_features as of the last refresh_features()');
    END LOOP;
END
$do$;

CREATE FUNCTION @extschema@.refresh_features()
RETURNS TABLE (table_name text, rows bigint, features integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'
-- The feature queries hold hundreds of expressions: compiling them with JIT
-- takes longer than running them.
SET jit = off
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.history_info) THEN
        RAISE EXCEPTION 'there is no history to compute features from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.build_history() first.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.refresh_features'));
    TRUNCATE normalize.customer_feature_store, normalize.device_feature_store, normalize.user_feature_store, normalize.churn_samples,
             normalize.clv_samples, normalize.device_health_samples, normalize.training_info;
    INSERT INTO normalize.customer_feature_store SELECT * FROM normalize.customer_features;
    INSERT INTO normalize.device_feature_store SELECT * FROM normalize.device_features;
    INSERT INTO normalize.user_feature_store SELECT * FROM normalize.user_features;
    ANALYZE normalize.customer_feature_store;
    ANALYZE normalize.device_feature_store;
    ANALYZE normalize.user_feature_store;
    RETURN QUERY
    SELECT 'customer_feature_store'::text, (SELECT count(*) FROM normalize.customer_feature_store),
           (SELECT count(*)::integer FROM normalize.feature_catalog AS c WHERE c.entity = 'customer')
    UNION ALL
    SELECT 'device_feature_store', (SELECT count(*) FROM normalize.device_feature_store),
           (SELECT count(*)::integer FROM normalize.feature_catalog AS c WHERE c.entity = 'device')
    UNION ALL
    SELECT 'user_feature_store', (SELECT count(*) FROM normalize.user_feature_store),
           (SELECT count(*)::integer FROM normalize.feature_catalog AS c WHERE c.entity = 'user');
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_features() IS
    'Stores customer_features, device_features and user_features in the *_feature_store tables, replacing what was there';

-- The share of NULLs of every feature, from the stores (refresh first).
CREATE FUNCTION @extschema@.feature_null_rates()
RETURNS TABLE (entity text, feature text, rows bigint, nulls bigint, null_share float8, min_history integer,
               required boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    counts bigint[];
    total bigint;
BEGIN
    FOR e IN SELECT * FROM (VALUES ('customer', 'customer_feature_store'), ('device', 'device_feature_store'),
                                   ('user', 'user_feature_store')) AS v(entity, store) LOOP
        EXECUTE format('SELECT count(*), ARRAY[%s] FROM normalize.%I',
                       (SELECT string_agg(format('count(*) FILTER (WHERE %I IS NULL)', c.feature), ', '
                                          ORDER BY c.position)
                          FROM normalize.feature_catalog AS c WHERE c.entity = e.entity), e.store)
          INTO total, counts;
        RETURN QUERY
        SELECT c.entity, c.feature, total, counts[c.position],
               CASE WHEN total > 0 THEN counts[c.position]::float8 / total END, c.min_history, c.required
          FROM normalize.feature_catalog AS c WHERE c.entity = e.entity ORDER BY c.position;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_null_rates() IS
    'For every feature of the stores (refresh_features first): rows, NULLs and their share, with the history the feature needs';
