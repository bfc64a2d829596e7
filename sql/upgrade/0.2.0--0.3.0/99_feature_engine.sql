-- The feature engine (issue 19): the features of each cutoff computed in
-- C++ in one pass over the base rows, written by write_feature_rows;
-- refresh_features takes that path, and feature_store_disagreements holds
-- the stores to the views, which stay the definitions. pipeline_progress
-- shows the steps running now, with their rows done and to do.

-- The steps running now, in every session of this database, with their
-- rows done and to do (the planner's estimate: the history tables are
-- analyzed as they are built). A long step reports itself in its
-- session's application_name, which pg_stat_activity shows to everyone
-- while the step's transaction is still open.
CREATE VIEW @extschema@.pipeline_progress AS
SELECT a.pid, m[1] AS phase, m[2] AS step, m[3]::bigint AS rows_done, m[4]::bigint AS rows_to_do,
       round(100.0 * m[3]::numeric / NULLIF(m[4]::numeric, 0), 1) AS percent,
       pg_catalog.now() - a.query_start AS running_for
  FROM pg_catalog.pg_stat_activity AS a
 CROSS JOIN LATERAL pg_catalog.regexp_match(a.application_name, '^normalize: (\S+) (\S+) (\d+)/(\d+)$') AS m
 WHERE a.datname = pg_catalog.current_database() AND m IS NOT NULL;
COMMENT ON VIEW @extschema@.pipeline_progress IS
    'The pipeline steps running now in any session of this database: phase, step, rows done, rows to do (estimated), percent and time running';

-- The leakage check compares a sample of each store with the feature
-- views recomputed, every feature, instead of the last values of every
-- row against the whole base views.
ALTER TABLE @extschema@.quality_thresholds DISABLE TRIGGER quality_thresholds_user_rows;
UPDATE @extschema@.quality_thresholds
   SET description = 'Feature values of a sample of 200 entities that differ from the feature views recomputed from what was known at each cutoff'
 WHERE check_name = 'point-in-time values' AND shipped;
ALTER TABLE @extschema@.quality_thresholds ENABLE TRIGGER quality_thresholds_user_rows;

-- The feature functions take a feature entity by name: this refuses any
-- other and gives its row of entity_kinds.
CREATE OR REPLACE FUNCTION @extschema@.require_feature_entity(entity text)
RETURNS @extschema@.entity_kinds
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record;
BEGIN
    IF entity IS NULL THEN
        RAISE EXCEPTION 'entity must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a feature entity of normalize.entity_kinds.';
    END IF;
    SELECT * INTO k FROM normalize.entity_kinds AS x WHERE x.feature_entity = require_feature_entity.entity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'entity must be %, got "%"',
                        (SELECT regexp_replace(string_agg(x.feature_entity, ', ' ORDER BY x.position), ', ([^,]*)$', ' or \1')
                           FROM normalize.entity_kinds AS x),
                        entity
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a feature entity of normalize.entity_kinds.';
    END IF;
    RETURN k;
END
$$;
COMMENT ON FUNCTION @extschema@.require_feature_entity(text) IS
    'Internal: the row of normalize.entity_kinds of a feature entity (customer, device, user), or a clear error';

-- The feature engine: the features of every cutoff of an entity, computed
-- in C++ in one pass over its base rows in time order (its base view, or
-- base: a table or view with the base view's columns) and written into
-- target (a table with the columns of the entity's feature view, such as
-- its store). It gives the views' values: they stay the readable
-- definition of each feature, and a test holds the two to each other.
CREATE OR REPLACE FUNCTION @extschema@.write_feature_rows(entity text, target regclass, base regclass DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_write_feature_rows'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.write_feature_rows(text, regclass, regclass) IS
    'Computes the features of entity (customer, device or user) at each cutoff with the feature engine, from its base view (or base, a relation with its columns), and appends them to target, a table with the columns of its feature view; returns the rows written';

-- The store against its view: the rows of a sample of entities (all when
-- entities is NULL; the sample is the same for the same keys) recomputed by
-- the feature view and compared, feature by feature, with what the store
-- holds. The engine follows the views' arithmetic, so values are mostly the
-- same bits; a value counts as differing when it is NULL on one side only
-- or differs by more than 1e-9 of its size. The first row (feature NULL)
-- counts the rows found on one side only.
CREATE OR REPLACE FUNCTION @extschema@.feature_store_disagreements(entity text, entities integer DEFAULT NULL)
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

