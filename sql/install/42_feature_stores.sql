-- Phase 4: the feature stores, their refresh and their NULL rates.

-- For each entity: a stored copy of its features for fast training-set
-- builds, filled by refresh_features() and emptied whenever the history it
-- came from is replaced.
DO $do$
DECLARE
    e record;
BEGIN
    FOR e IN SELECT k.feature_entity AS entity, k.kind || '_key' AS key FROM @extschema@.entity_kinds AS k
              WHERE k.feature_entity IS NOT NULL ORDER BY k.position LOOP
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
#variable_conflict use_column
DECLARE
    e record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.history_info) THEN
        RAISE EXCEPTION 'there is no history to compute features from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.build_history() first.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.refresh_features'));
    PERFORM normalize.clear_outputs('features');
    FOR e IN SELECT k.entity, k.feature_entity FROM normalize.entity_kinds AS k
              WHERE k.feature_entity IS NOT NULL ORDER BY k.position LOOP
        table_name := e.feature_entity || '_feature_store';
        -- An entity without a source has no history: its store stays empty.
        IF normalize.is_registered(e.entity) THEN
            EXECUTE format('INSERT INTO normalize.%I SELECT * FROM normalize.%I', table_name, e.feature_entity || '_features');
            EXECUTE format('ANALYZE normalize.%I', table_name);
        END IF;
        EXECUTE format('SELECT count(*) FROM normalize.%I', table_name) INTO rows;
        SELECT count(*)::integer INTO features FROM normalize.feature_catalog AS c WHERE c.entity = e.feature_entity;
        RETURN NEXT;
    END LOOP;
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
    FOR e IN SELECT k.feature_entity AS entity, k.feature_entity || '_feature_store' AS store
               FROM normalize.entity_kinds AS k WHERE k.feature_entity IS NOT NULL ORDER BY k.position LOOP
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
