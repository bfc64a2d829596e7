-- Phase 1 of the plan: rule discovery. Scores the rules that could link
-- each reference column to its target's IDs (the scoring itself is C++),
-- for suggest_id_rules() and for reconcile_ids().

-- The scores of the exact, normalized, number and offset rules for
-- reference values (with their row counts) against target IDs, computed in
-- C++ from hash sets of the targets. See rule_candidates.
CREATE FUNCTION @extschema@.score_id_rules(refs text[], ref_rows bigint[], targets text[], keep_case boolean DEFAULT false)
RETURNS TABLE (rule text, parameter text, linked bigint)
AS 'MODULE_PATHNAME', 'nz_score_id_rules'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.score_id_rules(text[], bigint[], text[], boolean) IS
    'Internal: how many rows each linking rule (exact, normalized, number, and the offsets found among the differences) links from reference values to target IDs; the normalized rule keeps case when keep_case';

-- The distinct values of a column with the rows holding each (NULL last,
-- when some row has none), from one pass: how the references of a source
-- are staged (stage_entity stages all of a source's in one scan).
CREATE TYPE @extschema@.value_counts_result AS (raw text[], rows bigint[]);
COMMENT ON TYPE @extschema@.value_counts_result IS
    'Internal: the distinct values of a column and the number of rows holding each, position by position';

CREATE FUNCTION @extschema@.value_counts_step(internal, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'nz_value_counts_step'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.value_counts_step(internal, text) IS
    'Transition function of value_counts(text)';

CREATE FUNCTION @extschema@.value_counts_final(internal)
RETURNS @extschema@.value_counts_result
AS 'MODULE_PATHNAME', 'nz_value_counts_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.value_counts_final(internal) IS
    'Final function of value_counts(text)';

CREATE AGGREGATE @extschema@.value_counts(value text) (
    SFUNC = @extschema@.value_counts_step,
    STYPE = internal,
    FINALFUNC = @extschema@.value_counts_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.value_counts(text) IS
    'Internal: the distinct values of a text column (compared byte by byte) and the rows holding each, in the order first seen, NULL last';

-- Candidate rules linking the raw values refs (with ref_rows rows each, as
-- value_counts gives them) to the target IDs targets: how many rows each
-- would link (keep_case: the target's IDs differ only by case, see
-- case_variants). Offsets are looked for among the differences
-- between the smallest and the largest numbers on both sides, and the power
-- of ten below the smallest reference when references and targets do not
-- overlap.
CREATE FUNCTION @extschema@.rule_candidates(entity text, reference text, refs text[], ref_rows bigint[],
                                            targets text[], keep_case boolean)
RETURNS TABLE (rule text, parameter text, linked bigint, total bigint)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n_total bigint;
    n_distinct bigint;
    step bigint;
    ref_raw text[];
    sample_rows bigint[];
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    IF cardinality(refs) <> cardinality(ref_rows) THEN
        RAISE EXCEPTION 'refs and ref_rows must have the same length, got % and %', cardinality(refs), cardinality(ref_rows)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass each reference value with its row count at the same position.';
    END IF;
    -- The counts are added up in bigint, here and by score_id_rules, which
    -- refuses the same.
    IF array_position(ref_rows, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'ref_rows must not contain NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Give every reference value its row count, as value_counts does.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(ref_rows) AS r WHERE r < 0) THEN
        RAISE EXCEPTION 'ref_rows must not be negative, got %', (SELECT min(r) FROM unnest(ref_rows) AS r)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give every reference value its row count, as value_counts does.';
    END IF;
    IF (SELECT sum(r) FROM unnest(ref_rows) AS r) > 9223372036854775807 THEN
        RAISE EXCEPTION 'ref_rows add up to more than 9223372036854775807'
            USING ERRCODE = 'numeric_value_out_of_range',
                  HINT = 'Pass the rows of each distinct value, as value_counts gives them.';
    END IF;
    -- Scoring a rule needs a few thousand distinct values, not all of them:
    -- above 20,000 a deterministic hash sample of about 20,000 is scored
    -- (linked and total then count the sampled rows). NULL values link
    -- nothing but count in the total; score_id_rules skips them.
    n_distinct := cardinality(refs);
    step := greatest(1, ceil(n_distinct / 20000.0))::bigint;
    IF step = 1 THEN
        ref_raw := refs;
        sample_rows := ref_rows;
        SELECT coalesce(sum(r), 0) INTO n_total FROM unnest(ref_rows) AS r;
    ELSE
        SELECT coalesce(array_agg(r.raw), '{}'), coalesce(array_agg(r.rows), '{}'), coalesce(sum(r.rows), 0)
          INTO ref_raw, sample_rows, n_total
          FROM unnest(refs, ref_rows) AS r(raw, rows)
         WHERE r.raw IS NULL OR abs(hashtext(r.raw)::bigint) % step = 0;
    END IF;
    rule := 'crosswalk'; parameter := NULL; total := n_total;
    SELECT coalesce(sum(r.rows), 0) INTO linked
      FROM unnest(ref_raw, sample_rows) AS r(raw, rows)
     WHERE EXISTS (SELECT 1 FROM normalize.id_crosswalk AS x
                    WHERE x.entity = rule_candidates.entity AND x.reference = rule_candidates.reference
                      AND x.raw_value = r.raw);
    RETURN NEXT;
    RETURN QUERY
    SELECT s.rule, s.parameter, s.linked, n_total FROM normalize.score_id_rules(ref_raw, sample_rows, targets, keep_case) AS s;
END
$$;
COMMENT ON FUNCTION @extschema@.rule_candidates(text, text, text[], bigint[], text[], boolean) IS
    'Internal: scores the candidate rules for a reference''s staged values against its target''s IDs';

-- The distinct values of one reference with their rows, for
-- suggest_id_rules (reconcile_ids stages all of an entity's at once).
CREATE FUNCTION @extschema@.stage_reference(entity text, reference text)
RETURNS @extschema@.value_counts_result
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    staged "normalize".value_counts_result;  -- quoted: NORMALIZE is a keyword where a type is expected
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = stage_reference.entity AND k.reference = stage_reference.reference;
    EXECUTE format('SELECT (normalize.value_counts(s.%I)).* FROM (%s) AS s',
                   ref.source_column, normalize.source_query(entity, ARRAY[ref.source_column]))
       INTO staged;
    RETURN staged;
END
$$;
COMMENT ON FUNCTION @extschema@.stage_reference(text, text) IS
    'Internal: a reference''s distinct raw values with their rows, for suggest_id_rules';

-- The IDs of the entity a reference points to, distinct, from its source,
-- and whether they differ only by case (then the rules keep case).
CREATE FUNCTION @extschema@.reference_targets(entity text, reference text, OUT ids text[], OUT keep_case boolean)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = reference_targets.entity AND k.reference = reference_targets.reference;
    EXECUTE format('SELECT coalesce(array_agg(DISTINCT s.%I), ''{}'') FROM (%s) AS s',
                   ref.target_column, normalize.source_query(ref.target_entity, ARRAY[ref.target_column]))
       INTO ids;
    keep_case := EXISTS (SELECT 1 FROM normalize.case_variants(ref.target_entity));
END
$$;
COMMENT ON FUNCTION @extschema@.reference_targets(text, text) IS
    'Internal: the distinct raw IDs a reference may point to, and whether they differ only by case, for suggest_id_rules';

CREATE FUNCTION @extschema@.suggest_id_rules()
RETURNS TABLE (entity text, reference text, source_column text, target text, rule text,
               parameter text, linked bigint, total bigint, share float8, rank integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    staged "normalize".value_counts_result;
    targets record;
BEGIN
    PERFORM normalize.require_sources();
    FOR ref IN
        SELECT k.* FROM normalize.reference_kinds AS k
          JOIN normalize.entity_kinds AS e USING (entity)
         ORDER BY e.position, k.reference
    LOOP
        staged := normalize.stage_reference(ref.entity, ref.reference);
        targets := normalize.reference_targets(ref.entity, ref.reference);
        RETURN QUERY
        SELECT ref.entity, ref.reference, (s.columns ->> ref.source_column),
               format('%s.%s', ref.target_entity, ref.target_column),
               c.rule, c.parameter, c.linked, c.total,
               CASE WHEN c.total > 0 THEN c.linked::float8 / c.total ELSE 0 END,
               (row_number() OVER (ORDER BY c.linked DESC,
                                   array_position(ARRAY['crosswalk', 'exact', 'normalized', 'number', 'offset'], c.rule),
                                   abs(c.parameter::numeric)))::integer
          FROM normalize.rule_candidates(ref.entity, ref.reference, staged.raw, staged.rows,
                                         targets.ids, targets.keep_case) AS c,
               normalize.sources AS s
         WHERE s.entity = ref.entity
         ORDER BY 10;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.suggest_id_rules() IS
    'For each reference column of each source, the candidate linking rules (exact, normalized, number, offset, crosswalk) with the share of rows each links, best first';
