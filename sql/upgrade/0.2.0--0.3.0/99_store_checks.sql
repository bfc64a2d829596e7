-- The quality checks read each feature store once: quality_checks counts,
-- in one pass over each (store_check_counts), what its steps check of a
-- whole store (rows missing a required feature, rows after the history),
-- and the steps take the counts from there (store_checks).

-- The checks that read a whole feature store, in one pass over it: its
-- rows, those missing a required feature of the catalog (with the first
-- five of their keys) and those dated after the history's as_of (none
-- counted without a history). quality_checks makes them once for its two
-- steps that use them (the store of the device features is the largest
-- table), in the temp table nz_store_checks; a step called alone makes its
-- own.
CREATE OR REPLACE FUNCTION @extschema@.store_check_counts(entity text, OUT total bigint, OUT missing_required bigint,
                                               OUT sample_keys text[], OUT after_history bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    cond text;
BEGIN
    IF entity IS NULL THEN
        RAISE EXCEPTION 'entity must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass customer, device or user.';
    END IF;
    SELECT x.* INTO e FROM normalize.checked_feature_entities() AS x WHERE x.entity = store_check_counts.entity;
    IF e IS NULL THEN
        RAISE EXCEPTION 'entity must be a feature entity whose source is registered, got "%"', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See normalize.checked_feature_entities().';
    END IF;
    SELECT string_agg(format('%I IS NULL', c.feature), ' OR ') INTO cond
      FROM normalize.feature_catalog AS c WHERE c.entity = e.entity AND c.required;
    -- Counts that parallel workers can share, and the keys in a second
    -- pass only when rows miss a feature (as quality_count does).
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE coalesce(%1$s, false)), count(*) FILTER (WHERE as_of > $1)
                      FROM normalize.%2$I',
                   coalesce(cond, 'false'), e.store)
       INTO total, missing_required, after_history
      USING (SELECT h.as_of FROM normalize.history_info AS h);
    sample_keys := ARRAY[]::text[];
    IF missing_required > 0 THEN
        EXECUTE format('SELECT coalesce(array_agg(s.k ORDER BY s.k), ARRAY[]::text[])
                          FROM (SELECT DISTINCT (%1$I || '' @ '' || as_of)::text AS k FROM normalize.%3$I
                                 WHERE coalesce(%2$s, false) ORDER BY 1 LIMIT 5) AS s',
                       e.key, cond, e.store)
           INTO sample_keys;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.store_check_counts(text) IS
    'Internal: one pass over a feature store for quality_checks: rows, rows missing a required feature (and some of their keys), rows after the history';

-- The counts of store_check_counts as quality_checks made them for this
-- call (nz_store_checks exists only while it runs), or made now.
CREATE OR REPLACE FUNCTION @extschema@.store_checks(entity text, OUT total bigint, OUT missing_required bigint,
                                         OUT sample_keys text[], OUT after_history bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_temp.nz_store_checks') IS NOT NULL THEN
        EXECUTE 'SELECT c.total, c.missing_required, c.sample_keys, c.after_history
                   FROM pg_temp.nz_store_checks AS c WHERE c.entity = $1'
           INTO total, missing_required, sample_keys, after_history USING entity;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    SELECT * INTO total, missing_required, sample_keys, after_history FROM normalize.store_check_counts(entity);
END
$$;
COMMENT ON FUNCTION @extschema@.store_checks(text) IS
    'Internal: store_check_counts of an entity as quality_checks made them for its steps, or made now';

-- Completeness: critical features present, relationships and source rows
-- linked, reference rules decided.
CREATE OR REPLACE FUNCTION @extschema@.quality_completeness()
RETURNS SETOF @extschema@.quality_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    e record;
    q record;
BEGIN
    FOR e IN SELECT * FROM normalize.checked_feature_entities() LOOP
        IF NOT EXISTS (SELECT 1 FROM normalize.customer_feature_store) THEN
            RETURN NEXT ROW('critical features present', e.entity || ' features', NULL, NULL, NULL,
                            'no features yet: run normalize.refresh_features()', false, false)::"normalize".quality_finding;
            CONTINUE;
        END IF;
        SELECT * INTO q FROM normalize.store_checks(e.entity);
        RETURN NEXT ROW('critical features present', e.entity || ' features',
                        CASE WHEN q.total > 0 THEN 1 - q.missing_required::float8 / q.total END, q.missing_required, q.sample_keys,
                        format('%s rows; %s required features', q.total,
                               (SELECT count(*) FROM normalize.feature_catalog AS c
                                 WHERE c.entity = e.entity AND c.required)), NULL, false)::"normalize".quality_finding;
    END LOOP;
    RETURN QUERY
    SELECT 'relationships linked', v.check_name, CASE WHEN v.total > 0 THEN v.linked::float8 / v.total ELSE 1 END,
           v.orphaned, NULL::text[], format('%s of %s rows linked', v.linked, v.total), NULL::boolean, false
      FROM normalize.validate_relationships() AS v WHERE v.status IN ('pass', 'fail');
    -- What should have linked and did: every source row that is not a
    -- superseded snapshot or a duplicate (a device's location reference is
    -- validate_relationships'). Rows kept aside (orphans, undecided rules)
    -- count against.
    RETURN QUERY
    SELECT 'source rows linked', m.entity, count(*) FILTER (WHERE m.status = 'linked')::float8 / nullif(count(*), 0),
           count(*) FILTER (WHERE m.status <> 'linked'), NULL::text[],
           format('%s of %s rows linked%s', count(*) FILTER (WHERE m.status = 'linked'), count(*),
                  coalesce('; ' || string_agg(DISTINCT m.status, ', ') FILTER (WHERE m.status <> 'linked'), '')),
           NULL::boolean, false
      FROM normalize.id_map AS m
      JOIN normalize.entity_kinds AS k USING (entity)
     WHERE m.status NOT IN ('superseded', 'duplicate')
     GROUP BY m.entity, k.position ORDER BY k.position;
    -- A reference whose rows did not decide between rules links nothing
    -- by them until the user declares one.
    RETURN QUERY
    SELECT 'reference rule decided', k.entity || '.' || k.reference,
           CASE WHEN bool_or(r.status = 'ambiguous') THEN 0 ELSE 1 END::float8,
           (SELECT count(*) FROM normalize.quarantine AS x
             WHERE x.entity = k.entity AND x.reference = k.reference AND x.reason = 'ambiguous rule'),
           NULL::text[],
           coalesce('undecided between ' || string_agg(concat_ws(' ', r.rule, r.parameter), ', ' ORDER BY r.linked DESC, r.parameter)
                                                FILTER (WHERE r.status = 'ambiguous'),
                    'links by ' || min(concat_ws(' ', r.rule, r.parameter) || CASE WHEN r.status = 'declared' THEN ' (declared)' ELSE '' END)
                                       FILTER (WHERE r.chosen),
                    'no rule links it'),
           NULL::boolean, false
      FROM normalize.reference_kinds AS k
      JOIN normalize.entity_kinds AS e USING (entity)
      LEFT JOIN normalize.reconciliation_rules AS r USING (entity, reference)
     WHERE normalize.is_registered(k.entity) AND normalize.is_registered(k.target_entity)
     GROUP BY k.entity, k.reference, e.position ORDER BY e.position, k.reference;
    -- The entities the source does not have: their tables, features and
    -- training sets are empty, which nothing else would say.
    RETURN QUERY
    SELECT 'optional sources registered', 'sources',
           count(*) FILTER (WHERE normalize.is_registered(k.entity))::float8 / count(*),
           count(*) FILTER (WHERE NOT normalize.is_registered(k.entity)), NULL::text[],
           coalesce('not registered: ' || string_agg(k.entity, ', ' ORDER BY k.position)
                                              FILTER (WHERE NOT normalize.is_registered(k.entity))
                    || '; their tables, features and training sets are empty',
                    'every entity has a source'),
           NULL::boolean, false
      FROM normalize.entity_kinds AS k WHERE NOT k.required;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_completeness() IS
    'Internal: the completeness findings of quality_checks';

-- Leakage: stored features against what was known at their cutoff, and
-- nothing dated after the history.
CREATE OR REPLACE FUNCTION @extschema@.quality_leakage()
RETURNS SETOF @extschema@.quality_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    h record;
    e record;
    q record;
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.customer_feature_store) THEN
        RETURN NEXT ROW('point-in-time values', 'feature stores', NULL, NULL, NULL,
                        'no features yet: run normalize.refresh_features()', false, false)::"normalize".quality_finding;
        RETURN;
    END IF;
    SELECT * INTO h FROM normalize.history_info;
    -- The stores against an independent recomputation: the feature views
    -- (the definitions, each row reading only what was known at its
    -- cutoff) for a sample of entities, every feature. The whole store
    -- again would cost the features phase over.
    FOR e IN SELECT * FROM normalize.checked_feature_entities() LOOP
        SELECT max(d.rows) FILTER (WHERE d.feature IS NULL) AS compared,
               max(d.differing) FILTER (WHERE d.feature IS NULL) AS one_sided,
               sum(d.differing) AS failing,
               string_agg(d.feature || ' (' || d.differing || ')', ', ' ORDER BY d.differing DESC, d.feature)
                   FILTER (WHERE d.feature IS NOT NULL AND d.differing > 0) AS features
          INTO q
          FROM normalize.feature_store_disagreements(e.entity, 200) AS d;
        RETURN NEXT ROW('point-in-time values', e.entity || ' features', q.failing, q.failing, NULL,
                        format('%s rows of a sample of up to 200 entities recomputed by the feature views, every '
                               'feature; differing: %s', q.compared,
                               concat_ws('; ', q.features, CASE WHEN q.one_sided > 0 THEN q.one_sided || ' rows on one side only' END,
                                         CASE WHEN q.failing = 0 THEN 'none' END)),
                        NULL, false)::"normalize".quality_finding;
    END LOOP;
    IF h IS NOT NULL THEN
        FOR e IN SELECT * FROM normalize.checked_feature_entities() LOOP
            n := (normalize.store_checks(e.entity)).after_history;
            RETURN NEXT ROW('no features after the history', e.entity || ' features', n, n, NULL,
                            format('rows dated after %s', h.as_of), NULL, false)::"normalize".quality_finding;
        END LOOP;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_leakage() IS
    'Internal: the leakage findings of quality_checks';

CREATE OR REPLACE FUNCTION @extschema@.quality_checks()
RETURNS TABLE (category text, entity text, check_name text, observed float8, threshold float8, status text,
               failing_rows bigint, sample_keys text[], detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- The leakage checks join the base views, whose expressions are many:
-- compiling them costs more than running them.
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.accounts) THEN
        RAISE EXCEPTION 'there is nothing to check: the normalized tables are empty'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.reconcile_ids() first, or CALL normalize.run_pipeline().';
    END IF;
    -- The checks that read a whole feature store, made in one pass over each
    -- for the two steps that use them.
    PERFORM normalize.drop_temp_table('nz_store_checks');
    CREATE TEMP TABLE nz_store_checks ON COMMIT DROP AS
    SELECT e.entity, c.* FROM normalize.checked_feature_entities() AS e
     CROSS JOIN LATERAL normalize.store_check_counts(e.entity) AS c
     WHERE EXISTS (SELECT 1 FROM normalize.customer_feature_store);
    -- Each step's findings in the order it gives them; the threshold says
    -- how each is judged.
    RETURN QUERY
    SELECT t.category, c.entity, c.check_name, c.observed, t.threshold,
           CASE WHEN c.undecided THEN 'warn'
                WHEN coalesce(c.ok, CASE t.comparison WHEN '>=' THEN c.observed >= t.threshold
                                                      WHEN '<=' THEN c.observed <= t.threshold END, false)
                THEN 'pass'
                ELSE t.severity END,
           c.failing_rows, c.sample_keys, c.detail
      FROM (SELECT 1 AS step, f.* FROM normalize.quality_completeness() WITH ORDINALITY AS f
            UNION ALL SELECT 2, f.* FROM normalize.quality_type_consistency() WITH ORDINALITY AS f
            UNION ALL SELECT 3, f.* FROM normalize.quality_distributions() WITH ORDINALITY AS f
            UNION ALL SELECT 4, f.* FROM normalize.quality_temporal() WITH ORDINALITY AS f
            UNION ALL SELECT 5, f.* FROM normalize.quality_labels() WITH ORDINALITY AS f
            UNION ALL SELECT 6, f.* FROM normalize.quality_leakage() WITH ORDINALITY AS f
            UNION ALL SELECT 7, f.* FROM normalize.quality_feature_coverage() WITH ORDINALITY AS f) AS c
      JOIN normalize.quality_thresholds AS t ON t.check_name = c.check_name
     ORDER BY array_position(ARRAY['completeness', 'type consistency', 'distributions', 'temporal', 'labels',
                                   'leakage', 'feature coverage'], t.category), c.step, c.ordinality;
    DROP TABLE pg_temp.nz_store_checks;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_checks() IS
    'One row per data-quality check (completeness, type consistency, distributions, temporal consistency, labels, leakage, feature coverage): observed value, threshold from normalize.quality_thresholds, pass / warn / fail, failing rows and a sample of their keys';

