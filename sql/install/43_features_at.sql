-- Phase 4: the features known at a date, each entity's row of its latest
-- cutoff on or before it (its as_of column says which), from the store
-- when it has been refreshed, else computed. JIT is off: compiling the
-- hundreds of expressions costs more than it saves. (A file of its own:
-- the functions return the feature views' row types, so the upgrade from
-- 0.1.0, which regenerates the views, replays it.)
DO $do$
DECLARE
    e record;
BEGIN
    FOR e IN SELECT k.feature_entity AS entity, k.kind || '_key' AS key, k.kind AS noun
               FROM @extschema@.entity_kinds AS k WHERE k.feature_entity IS NOT NULL ORDER BY k.position LOOP
        EXECUTE format($f$
            CREATE FUNCTION @extschema@.%1$I(as_of date)
            RETURNS SETOF @extschema@.%2$I
            LANGUAGE sql STABLE STRICT PARALLEL SAFE
            SET search_path = pg_catalog, pg_temp
            SET jit = off
            AS $body$
                SELECT DISTINCT ON (f.%4$I) f.*
                  FROM (SELECT * FROM @extschema@.%3$I
                        UNION ALL
                        SELECT * FROM @extschema@.%2$I WHERE NOT EXISTS (SELECT 1 FROM @extschema@.%3$I)) AS f
                 WHERE f.as_of <= $1
                 ORDER BY f.%4$I, f.as_of DESC
            $body$$f$,
            e.entity || '_features_at', e.entity || '_features', e.entity || '_feature_store', e.key);
        EXECUTE format('COMMENT ON FUNCTION @extschema@.%I(date) IS %L', e.entity || '_features_at',
                       format('Each %s''s features at its latest cutoff on or before as_of (from the store when refreshed)',
                              e.noun));
    END LOOP;
END
$do$;
