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

-- The feature engine: the features of every cutoff of an entity, computed
-- in C++ in one pass over its base rows in time order (its base view, or
-- base: a table or view with the base view's columns) and written into
-- target (a table with the columns of the entity's feature view, such as
-- its store). It gives the views' values: they stay the readable
-- definition of each feature, and a test holds the two to each other.
CREATE FUNCTION @extschema@.write_feature_rows(entity text, target regclass, base regclass DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_write_feature_rows'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.write_feature_rows(text, regclass, regclass) IS
    'Computes the features of entity (customer, device or user) at each cutoff with the feature engine, from its base view (or base, a relation with its columns), and appends them to target, a table with the columns of its feature view; returns the rows written';

-- write_feature_rows for a phase's staging table (stage_phase): with more
-- than one process, background workers write ranges of keys each, every
-- range committed on its own (run_in_parts), where the session has
-- written nothing yet. A failure leaves their rows in the staging table,
-- which the phase's next start drops; a table of the user's must come and
-- go with the transaction, so write_feature_rows never does this.
CREATE FUNCTION @extschema@.stage_feature_rows(entity text, target regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_stage_feature_rows'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stage_feature_rows(text, regclass) IS
    'Internal: write_feature_rows into a phase''s staging table, by background workers that commit a range of keys each where the transaction has written nothing yet; returns the rows written';

-- One range of keys of write_feature_rows, written by this process alone:
-- what each background worker of stage_feature_rows runs.
CREATE FUNCTION @extschema@.write_feature_part(entity text, target regclass, base regclass, lower text, upper text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_write_feature_part'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.write_feature_part(text, regclass, regclass, text, text) IS
    'Internal: appends to target the features of the entity''s keys from lower up to upper (NULL: no bound), on this process alone, as write_feature_rows does for all; returns the rows written';

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
    -- Built beside the stores readers use, and swapped in at the end.
    PERFORM normalize.stage_phase('features');
    FOR e IN SELECT k.entity, k.feature_entity FROM normalize.entity_kinds AS k
              WHERE k.feature_entity IS NOT NULL ORDER BY k.position LOOP
        table_name := e.feature_entity || '_feature_store';
        -- An entity without a source has no history: its store is empty.
        -- The staging store starts empty, so the rows written are its rows.
        rows := 0;
        IF normalize.is_registered(e.entity) THEN
            rows := normalize.stage_feature_rows(e.feature_entity, format('normalize.%I', 'next_' || table_name)::regclass);
        END IF;
        SELECT count(*)::integer INTO features FROM normalize.feature_catalog AS c WHERE c.entity = e.feature_entity;
        RETURN NEXT;
    END LOOP;
    PERFORM normalize.swap_in_phase('features');
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_features() IS
    'Stores customer_features, device_features and user_features in the *_feature_store tables, replacing what was there';

-- The store against its view: the rows of a sample of entities (all when
-- entities is NULL; the sample is the same for the same keys) recomputed by
-- the feature view and compared, feature by feature, with what the store
-- holds. The engine follows the views' arithmetic, so values are mostly the
-- same bits; a value counts as differing when it is NULL on one side only
-- or differs by more than 1e-9 of its size. The first row (feature NULL)
-- counts the rows found on one side only.
CREATE FUNCTION @extschema@.feature_store_disagreements(entity text, entities integer DEFAULT NULL)
RETURNS TABLE (feature text, rows bigint, differing bigint, max_relative_difference float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    k record;
    keys text[];
    counts bigint[];
    worst float8[];
    total bigint;
    one_sided bigint;
BEGIN
    SELECT x.feature_entity, x.kind || '_key' AS key, x.feature_entity || '_feature_store' AS store,
           x.feature_entity || '_features' AS view, x.table_name INTO k
      FROM normalize.require_feature_entity(entity) AS x;
    IF entities IS NOT NULL THEN
        PERFORM normalize.require_range('entities', entities, 1, 'infinity',
                                        'Pass how many entities to compare, or NULL for all of them.');
        -- The sample: the entities whose keys hash lowest, the same on every
        -- run, taken from the entity's table, so that an entity missing from
        -- the store can be drawn.
        EXECUTE format('SELECT array_agg(s.key) FROM (SELECT e.%1$I AS key FROM normalize.%2$I AS e
                                                       ORDER BY md5(e.%1$I), e.%1$I LIMIT $1) AS s', k.key, k.table_name)
           INTO keys USING entities;
    END IF;
    -- The keys as an array constant, so that the view's windows, which
    -- partition by the key, are computed for these entities only.
    EXECUTE format($q$
        SELECT count(*), count(*) FILTER (WHERE a.%1$I IS NULL OR b.%1$I IS NULL), ARRAY[%4$s], ARRAY[%5$s]
          FROM (SELECT * FROM normalize.%2$I WHERE $1 IS NULL OR %1$I = ANY ($1)) AS a
          FULL JOIN (SELECT * FROM normalize.%3$I WHERE $1 IS NULL OR %1$I = ANY ($1)) AS b USING (%1$I, as_of)$q$,
        k.key, k.store, k.view,
        (SELECT string_agg(CASE WHEN c.data_type = 'float8'
                                THEN format('count(*) FILTER (WHERE (a.%1$I IS NULL) <> (b.%1$I IS NULL)
                                                                 OR abs(a.%1$I - b.%1$I) > 1e-9 * greatest(abs(a.%1$I), abs(b.%1$I)))',
                                            c.feature)
                                ELSE format('count(*) FILTER (WHERE a.%1$I IS DISTINCT FROM b.%1$I)', c.feature) END,
                           ', ' ORDER BY c.position)
           FROM normalize.feature_catalog AS c WHERE c.entity = k.feature_entity),
        (SELECT string_agg(CASE WHEN c.data_type = 'float8'
                                THEN format('max(abs(a.%1$I - b.%1$I) / NULLIF(greatest(abs(a.%1$I), abs(b.%1$I)), 0))', c.feature)
                                ELSE 'NULL::float8' END,
                           ', ' ORDER BY c.position)
           FROM normalize.feature_catalog AS c WHERE c.entity = k.feature_entity))
       INTO total, one_sided, counts, worst USING keys;
    RETURN QUERY SELECT NULL::text, total, one_sided, NULL::float8;
    RETURN QUERY
    SELECT c.feature, total, counts[c.position], worst[c.position]
      FROM normalize.feature_catalog AS c WHERE c.entity = k.feature_entity ORDER BY c.position;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_store_disagreements(text, integer) IS
    'The store''s rows of a sample of entities (all when entities is NULL) against the feature view recomputed for them: rows compared and differing per feature (beyond 1e-9 relative), the first row (feature NULL) counting rows on one side only';

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
