-- Phase 1 of the plan: rule discovery. Scores the rules that could link
-- each reference column to its target's IDs (the scoring itself is C++),
-- for suggest_id_rules() and for reconcile_ids().

-- The scores of the exact, normalized, number and offset rules for
-- reference values (with their row counts) against target IDs, computed in
-- C++ from hash sets of the targets. See rule_candidates.
CREATE FUNCTION @extschema@.score_id_rules(refs text[], ref_rows bigint[], targets text[])
RETURNS TABLE (rule text, parameter text, linked bigint)
AS 'MODULE_PATHNAME', 'nz_score_id_rules'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.score_id_rules(text[], bigint[], text[]) IS
    'Internal: how many rows each linking rule (exact, normalized, number, and the offsets found among the differences) links from reference values to target IDs';

-- Candidate rules linking the raw values in temp table nz_cand_refs (raw,
-- rows) to the IDs in nz_cand_targets (raw): how many rows each would link.
-- Offsets are looked for among the differences between the smallest and
-- the largest numbers on both sides, and the power of ten below the
-- smallest reference when references and targets do not overlap.
CREATE FUNCTION @extschema@.rule_candidates(entity text, reference text)
RETURNS TABLE (rule text, parameter text, linked bigint, total bigint)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n_total bigint;
    n_distinct bigint;
    step bigint;
    ref_raw text[];
    ref_rows bigint[];
    target_raw text[];
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    -- Scoring a rule needs a few thousand distinct values, not all of them:
    -- above 20,000 a deterministic hash sample of about 20,000 is scored
    -- (linked and total then count the sampled rows).
    SELECT count(*) INTO n_distinct FROM nz_cand_refs;
    step := greatest(1, ceil(n_distinct / 20000.0))::bigint;
    SELECT coalesce(array_agg(r.raw), '{}'), coalesce(array_agg(r.rows), '{}') INTO ref_raw, ref_rows
      FROM nz_cand_refs AS r
     WHERE r.raw IS NOT NULL AND (step = 1 OR abs(hashtext(r.raw)::bigint) % step = 0);
    SELECT coalesce(sum(r.rows), 0) INTO n_total FROM nz_cand_refs AS r
     WHERE step = 1 OR r.raw IS NULL OR abs(hashtext(r.raw)::bigint) % step = 0;
    -- A caller that scores several references against one target may
    -- prepare nz_cand_t (raw, ...) once; otherwise the targets are read here.
    IF to_regclass('pg_temp.nz_cand_t') IS NOT NULL THEN
        SELECT coalesce(array_agg(t.raw), '{}') INTO target_raw FROM nz_cand_t AS t;
    ELSE
        SELECT coalesce(array_agg(t.raw), '{}') INTO target_raw FROM nz_cand_targets AS t;
    END IF;

    rule := 'crosswalk'; parameter := NULL; total := n_total;
    SELECT coalesce(sum(r.rows), 0) INTO linked
      FROM unnest(ref_raw, ref_rows) AS r(raw, rows)
     WHERE EXISTS (SELECT 1 FROM normalize.id_crosswalk AS x
                    WHERE x.entity = rule_candidates.entity AND x.reference = rule_candidates.reference
                      AND x.raw_value = r.raw);
    RETURN NEXT;
    RETURN QUERY
    SELECT s.rule, s.parameter, s.linked, n_total FROM normalize.score_id_rules(ref_raw, ref_rows, target_raw) AS s;
END
$$;
COMMENT ON FUNCTION @extschema@.rule_candidates(text, text) IS
    'Internal: scores the candidate rules for the references staged in nz_cand_refs against the IDs in nz_cand_targets';

-- Stages one reference's values and its targets' IDs for rule_candidates.
CREATE FUNCTION @extschema@.stage_reference(entity text, reference text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = stage_reference.entity AND k.reference = stage_reference.reference;
    PERFORM normalize.drop_temp_table('nz_cand_refs');
    PERFORM normalize.drop_temp_table('nz_cand_targets');
    EXECUTE format('CREATE TEMP TABLE nz_cand_refs ON COMMIT DROP AS
                    SELECT %I AS raw, count(*) AS rows FROM (%s) AS s GROUP BY 1',
                   ref.source_column, normalize.source_query(entity));
    EXECUTE format('CREATE TEMP TABLE nz_cand_targets ON COMMIT DROP AS
                    SELECT DISTINCT %I AS raw FROM (%s) AS s',
                   ref.target_column, normalize.source_query(ref.target_entity));
END
$$;
COMMENT ON FUNCTION @extschema@.stage_reference(text, text) IS
    'Internal: stages a reference''s raw values and its target''s raw IDs in temp tables for rule_candidates';

CREATE FUNCTION @extschema@.suggest_id_rules()
RETURNS TABLE (entity text, reference text, source_column text, target text, rule text,
               parameter text, linked bigint, total bigint, share float8, rank integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    PERFORM normalize.require_sources();
    FOR ref IN
        SELECT k.* FROM normalize.reference_kinds AS k
          JOIN normalize.entity_kinds AS e USING (entity)
         ORDER BY e.position, k.reference
    LOOP
        PERFORM normalize.stage_reference(ref.entity, ref.reference);
        RETURN QUERY
        SELECT ref.entity, ref.reference, (s.columns ->> ref.source_column),
               format('%s.%s', ref.target_entity, ref.target_column),
               c.rule, c.parameter, c.linked, c.total,
               CASE WHEN c.total > 0 THEN c.linked::float8 / c.total ELSE 0 END,
               (row_number() OVER (ORDER BY c.linked DESC,
                                   array_position(ARRAY['crosswalk', 'exact', 'normalized', 'number', 'offset'], c.rule),
                                   abs(c.parameter::numeric)))::integer
          FROM normalize.rule_candidates(ref.entity, ref.reference) AS c,
               normalize.sources AS s
         WHERE s.entity = ref.entity
         ORDER BY 10;
        DROP TABLE nz_cand_refs;
        DROP TABLE nz_cand_targets;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.suggest_id_rules() IS
    'For each reference column of each source, the candidate linking rules (exact, normalized, number, offset, crosswalk) with the share of rows each links, best first';
