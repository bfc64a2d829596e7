-- Phase 1 of the plan: reconciliation itself. Stages each source's distinct
-- reference values, picks a rule per reference and maps the values in temp
-- tables, then rebuilds the normalized tables in one transaction, so a
-- failure leaves the previous result in place.

-- The distinct reference values a rule matches to targets: in C++, with
-- the targets grouped once by the key the rule compares (see
-- core::match_values).
CREATE FUNCTION @extschema@.match_id_values(rule text, "offset" bigint, refs text[], ref_rows bigint[],
                                            target_ids text[], target_keys text[], keep_case boolean DEFAULT false)
RETURNS TABLE (raw text, rows bigint, target_key text, matches bigint)
AS 'MODULE_PATHNAME', 'nz_match_id_values'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.match_id_values(text, bigint, text[], bigint[], text[], text[], boolean) IS
    'Internal: for each reference value, the smallest key among the targets a rule (exact, normalized, number, offset) matches it to, and how many match; the normalized rule keeps case when keep_case';

-- DROP TABLE IF EXISTS without the NOTICE: reconcile_ids may run twice in
-- one transaction, and its temp tables live until commit.
CREATE FUNCTION @extschema@.drop_temp_table(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass(format('pg_temp.%I', name)) IS NOT NULL THEN
        EXECUTE format('DROP TABLE pg_temp.%I', name);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.drop_temp_table(text) IS
    'Internal: drops a temp table of this session if it exists, quietly';

-- The reconciliation's thresholds, checked once for reconcile_ids,
-- run_pipeline and the steps between.
CREATE FUNCTION @extschema@.require_rule_thresholds(min_share float8, ambiguity_margin float8)
RETURNS void
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (min_share > 0 AND min_share <= 1) THEN
        RAISE EXCEPTION 'min_share must be in (0, 1], got %', min_share
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of a column''s rows an offset rule must link to be used, such as 0.5.';
    END IF;
    IF NOT (ambiguity_margin >= 0 AND ambiguity_margin < 1) THEN
        RAISE EXCEPTION 'ambiguity_margin must be in [0, 1), got %', ambiguity_margin
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of a column''s rows within which two rules count as equally good, such as 0.1.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_rule_thresholds(float8, float8) IS
    'Internal: raises a clear error unless min_share is in (0, 1] and ambiguity_margin in [0, 1)';

-- The rule the user declared for a reference in id_rule_overrides, if
-- it applies to the registered source (a declaration made for another
-- relation is reported and left out). rule is NULL when there is none.
CREATE FUNCTION @extschema@.declared_rule(entity text, reference text, OUT rule text, OUT "offset" bigint)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    registered text;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO o FROM normalize.id_rule_overrides AS x
     WHERE x.entity = declared_rule.entity AND x.reference = declared_rule.reference;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT s.relation::text INTO registered FROM normalize.sources AS s WHERE s.entity = declared_rule.entity;
    IF o.source IS NOT NULL AND to_regclass(o.source) IS DISTINCT FROM registered::regclass THEN
        RAISE NOTICE 'the rule declared for %.% applies to %, not to the registered %; it is not used',
                     entity, reference, o.source, coalesce(registered, '(none)')
            USING HINT = 'Update or delete its row in normalize.id_rule_overrides.';
        RETURN;
    END IF;
    rule := o.rule;
    "offset" := o."offset";
END
$$;
COMMENT ON FUNCTION @extschema@.declared_rule(text, text) IS
    'Internal: the rule id_rule_overrides declares for a reference, when it applies to the registered source';

-- For a reference whose target belongs to an account (devices.location:
-- locations have one), how many of the rows each candidate rule links
-- point to a target of the row's own account, the account being the one
-- the row's account reference linked to (map account_map). Written to
-- reconciliation_rules.consistent for the rules listed. A rule linking as
-- many rows as another, but to other accounts' locations, is then told
-- apart.
CREATE FUNCTION @extschema@.score_consistency(entity text, reference text, rules text[], "offsets" bigint[],
                                              refs text[], ref_rows bigint[], targets text, account_map text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    target_ids text[];
    target_keys text[];
    keep_case boolean;
    n bigint;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = score_consistency.entity AND k.reference = score_consistency.reference;
    SELECT coalesce(bool_or(c.keep_case), false) INTO keep_case FROM normalize.key_case AS c WHERE c.entity = ref.target_entity;
    EXECUTE format('SELECT coalesce(array_agg(t.raw), ''{}''), coalesce(array_agg(t.target_key::text), ''{}'') FROM %I AS t',
                   targets)
       INTO target_ids, target_keys;
    PERFORM normalize.drop_temp_table('nz_pairs');
    -- The same sample as rule_candidates scores, above 20,000 values.
    EXECUTE format($q$
        CREATE TEMP TABLE nz_pairs ON COMMIT DROP AS
        SELECT s.account_id::text AS account_raw, s.%1$I::text AS raw, count(*) AS rows
          FROM (%2$s) AS s
         WHERE s.%1$I IS NOT NULL
           AND (cardinality($1) <= 20000
                OR abs(hashtext(s.%1$I::text)::bigint) %% ceil(cardinality($1) / 20000.0)::bigint = 0)
         GROUP BY 1, 2$q$, ref.source_column, normalize.source_query(entity))
    USING refs;
    FOR i IN 1 .. cardinality(rules) LOOP
        EXECUTE format($q$
            SELECT coalesce(sum(p.rows), 0)
              FROM nz_pairs AS p
              JOIN %1$I AS a ON a.raw = p.account_raw
              JOIN normalize.match_id_values($1, $2, $3, $4, $5, $6, $7) AS m ON m.raw = p.raw AND m.matches = 1
              JOIN %2$I AS t ON t.target_key = m.target_key
             WHERE t.account_key = a.target_key$q$, account_map, targets)
           INTO n
        USING rules[i], coalesce(offsets[i], 0), refs, ref_rows, target_ids, target_keys, keep_case;
        UPDATE normalize.reconciliation_rules AS r SET consistent = n
         WHERE r.entity = score_consistency.entity AND r.reference = score_consistency.reference
           AND r.rule = rules[i] AND r.parameter IS NOT DISTINCT FROM offsets[i]::text;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.score_consistency(text, text, text[], bigint[], text[], bigint[], text, text) IS
    'Internal: counts, per candidate rule, the rows whose linked target belongs to the row''s own account, during reconcile_ids';

-- The rules among a reference's candidates in reconciliation_rules that
-- the data cannot tell apart from the best: eligible ones (a rule without a
-- parameter that links anything; an offset that links at least min_share
-- of the rows) scoring within margin of the rows of the best, best first.
-- The score is the rows linked, or, once counted for some rule, the rows
-- linked consistently with the row's account (0 for a rule not counted).
CREATE FUNCTION @extschema@.rule_contenders(entity text, reference text, min_share float8, margin float8)
RETURNS TABLE (rule text, parameter text, score bigint, total bigint)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH candidates AS (
        SELECT r.* FROM normalize.reconciliation_rules AS r
         WHERE r.entity = rule_contenders.entity AND r.reference = rule_contenders.reference),
    eligible AS (
        SELECT c.rule, c.parameter, c.total,
               CASE WHEN EXISTS (SELECT 1 FROM candidates AS x WHERE x.consistent IS NOT NULL)
                    THEN coalesce(c.consistent, 0) ELSE c.linked END AS score
          FROM candidates AS c
         WHERE c.rule <> 'crosswalk' AND c.linked > 0
           AND (c.rule <> 'offset' OR c.linked >= rule_contenders.min_share * c.total))
    SELECT e.rule, e.parameter, e.score, e.total
      FROM eligible AS e
     WHERE e.score > 0 AND e.score >= (SELECT max(x.score) FROM eligible AS x) - rule_contenders.margin * e.total
     ORDER BY e.score DESC, array_position(ARRAY['exact', 'normalized', 'number', 'offset'], e.rule),
              abs(e.parameter::numeric) NULLS FIRST
$$;
COMMENT ON FUNCTION @extschema@.rule_contenders(text, text, float8, float8) IS
    'Internal: the candidate rules of a reference within the ambiguity margin of the best, best first, during reconcile_ids';

-- Whether the rows linked leave a doubt that counting the links to the
-- row's own account's targets could settle: an offset scores above every
-- rule without a parameter among the contenders, and another contender,
-- or such a rule outside them, links rows too.
CREATE FUNCTION @extschema@.rule_in_doubt(entity text, reference text, min_share float8, margin float8)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(max(c.score) FILTER (WHERE c.rule = 'offset'), -1)
               > coalesce(max(c.score) FILTER (WHERE c.rule <> 'offset'), -1)
           AND (count(*) > 1 OR EXISTS (SELECT 1 FROM normalize.reconciliation_rules AS r
                                         WHERE r.entity = rule_in_doubt.entity AND r.reference = rule_in_doubt.reference
                                           AND r.rule IN ('exact', 'normalized', 'number') AND r.linked > 0))
      FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c
$$;
COMMENT ON FUNCTION @extschema@.rule_in_doubt(text, text, float8, float8) IS
    'Internal: whether an offset rivals the best rule of a reference closely enough to count links by account, during reconcile_ids';

-- Picks the rule a reference links by, from its candidates in
-- reconciliation_rules, and records the verdict in their status. A rule
-- without a free
-- parameter (exact, normalized, number) is preferred: an offset is used
-- only when it scores more than margin of the rows above it. When only
-- offsets are left and two of them are within the margin, the data do not
-- decide: they are marked ambiguous (NOTICE), and only what a rule
-- without a parameter matches links. Returns the rule and its parameter,
-- or NULLs.
CREATE FUNCTION @extschema@.choose_rule(entity text, reference text, min_share float8, margin float8,
                                        OUT rule text, OUT parameter text)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plain record;
    rival record;
    n integer;
    listed text;
BEGIN
    SELECT c.* INTO plain FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c
     WHERE c.rule <> 'offset' LIMIT 1;
    IF plain.rule IS NOT NULL THEN
        rule := plain.rule;
        -- Preferred, but said: an offset that links a few more rows may be
        -- the true rule on dense IDs.
        SELECT c.* INTO rival FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c
         WHERE c.rule = 'offset' AND c.score > plain.score LIMIT 1;
        IF rival.rule IS NOT NULL THEN
            RAISE NOTICE '%.% links by %, though offset % links % more of its % rows', entity, reference, plain.rule,
                         rival.parameter, rival.score - plain.score, plain.total
                USING HINT = 'If the offset is right, declare it in normalize.id_rule_overrides.';
        END IF;
    ELSE
        SELECT count(*), string_agg(format('%s (%s of %s rows)', concat_ws(' ', c.rule, c.parameter), c.score, c.total), ', ')
          INTO n, listed
          FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c;
        IF n = 1 THEN
            SELECT c.rule, c.parameter INTO rule, parameter
              FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c;
        ELSIF n > 1 THEN
            UPDATE normalize.reconciliation_rules AS r SET status = 'ambiguous'
              FROM normalize.rule_contenders(choose_rule.entity, choose_rule.reference, min_share, margin) AS c
             WHERE r.entity = choose_rule.entity AND r.reference = choose_rule.reference
               AND r.rule = c.rule AND r.parameter IS NOT DISTINCT FROM c.parameter;
            -- The values a rule without a parameter matches are the same
            -- IDs: they still link, whatever the others are.
            SELECT r.rule, r.linked, r.total INTO plain FROM normalize.reconciliation_rules AS r
             WHERE r.entity = choose_rule.entity AND r.reference = choose_rule.reference
               AND r.rule IN ('exact', 'normalized', 'number') AND r.linked > 0
             ORDER BY r.linked DESC, array_position(ARRAY['exact', 'normalized', 'number'], r.rule) LIMIT 1;
            rule := plain.rule;
            RAISE NOTICE 'the rows of %.% do not decide between %: %', entity, reference, listed,
                         CASE WHEN plain.rule IS NULL THEN 'nothing links by them'
                              ELSE format('only the %s of its %s rows the %s rule matches link', plain.linked, plain.total, plain.rule) END
                USING HINT = format('Declare the right rule in normalize.id_rule_overrides, such as (entity, reference, rule, "offset") = (%L, %L, ''offset'', N), or link the values in normalize.id_crosswalk.',
                                    entity, reference);
        END IF;
    END IF;
    IF rule IS NOT NULL THEN
        UPDATE normalize.reconciliation_rules AS r SET chosen = true, status = 'used'
         WHERE r.entity = choose_rule.entity AND r.reference = choose_rule.reference
           AND r.rule = choose_rule.rule AND r.parameter IS NOT DISTINCT FROM choose_rule.parameter;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.choose_rule(text, text, float8, float8) IS
    'Internal: picks a reference''s rule from its scored candidates, or marks the close ones ambiguous, during reconcile_ids';

-- Resolves one reference of one entity: scores the rules on its staged raw
-- values refs (ref_rows rows each) against the targets in temp table
-- `targets` (raw, target_key), takes the rule declared for it or picks
-- one (choose_rule; when the rows linked do not decide and the targets
-- belong to accounts, by the rows linked to their own account's target,
-- with account_map the row's account links), and writes temp table
-- `map`: one row per distinct raw value with its target, the rule
-- (crosswalk first), or the reason it has none. Returns the rule used (''
-- when none).
CREATE FUNCTION @extschema@.resolve_reference(entity text, reference text, refs text[], ref_rows bigint[],
                                              targets text, min_share float8, margin float8, account_map text,
                                              map text)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    declared record;
    best_rule text;
    best_parameter text;
    target_kind text;
    target_ids text[];
    target_keys text[];
    keep_case boolean;
    undecided text;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    PERFORM normalize.require_rule_thresholds(min_share, margin);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = resolve_reference.entity AND k.reference = resolve_reference.reference;
    SELECT e.kind INTO target_kind FROM normalize.entity_kinds AS e WHERE e.entity = ref.target_entity;
    SELECT coalesce(bool_or(c.keep_case), false) INTO keep_case FROM normalize.key_case AS c WHERE c.entity = ref.target_entity;

    -- The targets come prepared (raw, target_key): rule scoring and the
    -- value map read them instead of staging them per reference.
    EXECUTE format('SELECT coalesce(array_agg(t.raw), ''{}''), coalesce(array_agg(t.target_key::text), ''{}'') FROM %I AS t',
                   targets)
       INTO target_ids, target_keys;
    INSERT INTO normalize.reconciliation_rules
    SELECT ref.entity, ref.reference, c.rule, c.parameter, c.linked, c.total, false, NULL, 'not used'
      FROM normalize.rule_candidates(ref.entity, ref.reference, refs, ref_rows, target_ids, keep_case) AS c;

    declared := normalize.declared_rule(entity, reference);
    IF declared.rule IS NOT NULL THEN
        best_rule := declared.rule;
        best_parameter := declared."offset"::text;
        IF NOT EXISTS (SELECT 1 FROM normalize.reconciliation_rules AS r WHERE r.entity = ref.entity AND r.reference = ref.reference
                          AND r.rule = best_rule AND r.parameter IS NOT DISTINCT FROM best_parameter) THEN
            INSERT INTO normalize.reconciliation_rules
            SELECT ref.entity, ref.reference, best_rule, best_parameter,
                   coalesce(sum(m.rows) FILTER (WHERE m.matches = 1), 0), coalesce(sum(m.rows), 0), false, NULL, 'not used'
              FROM normalize.match_id_values(CASE WHEN best_rule = 'none' THEN 'exact' ELSE best_rule END,
                                             coalesce(declared."offset", 0), refs, ref_rows,
                                             CASE WHEN best_rule = 'none' THEN '{}'::text[] ELSE target_ids END,
                                             CASE WHEN best_rule = 'none' THEN '{}'::text[] ELSE target_keys END,
                                             keep_case) AS m;
        END IF;
        UPDATE normalize.reconciliation_rules AS r SET chosen = true, status = 'declared'
         WHERE r.entity = ref.entity AND r.reference = ref.reference
           AND r.rule = best_rule AND r.parameter IS NOT DISTINCT FROM best_parameter;
    ELSE
        -- Counting each rule's links to the row's own account's targets is
        -- a join per rule: done only when the rows linked leave a doubt.
        -- The best rule without a parameter is counted too, contender or
        -- not: an offset may link more rows only by landing on others'.
        IF account_map <> '' AND normalize.rule_in_doubt(entity, reference, min_share, margin) THEN
            PERFORM normalize.score_consistency(entity, reference, array_agg(c.rule), array_agg(c.parameter::bigint),
                                                refs, ref_rows, targets, account_map)
               FROM (SELECT x.rule, x.parameter FROM normalize.rule_contenders(entity, reference, min_share, margin) AS x
                     UNION
                     (SELECT r.rule, r.parameter FROM normalize.reconciliation_rules AS r
                       WHERE r.entity = ref.entity AND r.reference = ref.reference
                         AND r.rule IN ('exact', 'normalized', 'number') AND r.linked > 0
                       ORDER BY r.linked DESC, array_position(ARRAY['exact', 'normalized', 'number'], r.rule) LIMIT 1)) AS c;
        END IF;
        SELECT c.rule, c.parameter INTO best_rule, best_parameter
          FROM normalize.choose_rule(entity, reference, min_share, margin) AS c;
        IF best_rule IS NULL AND EXISTS (SELECT 1 FROM normalize.reconciliation_rules AS r WHERE r.entity = ref.entity
                                            AND r.reference = ref.reference AND r.status = 'ambiguous') THEN
            undecided := 'ambiguous rule';
        ELSIF best_rule IS NULL AND EXISTS (SELECT 1 FROM unnest(refs) AS v WHERE v IS NOT NULL) THEN
            RAISE NOTICE 'no rule links %.%: no offset links % of its rows, and no other rule any', entity,
                         ref.source_column, min_share
                USING HINT = 'See normalize.suggest_id_rules(), and add links to normalize.id_crosswalk.';
        END IF;
    END IF;

    -- Without a rule, nothing to match against.
    IF best_rule IS NULL OR best_rule = 'none' THEN
        target_ids := '{}';
        target_keys := '{}';
    END IF;
    PERFORM normalize.drop_temp_table(map);
    -- A reference whose targets belong to accounts (a device's location)
    -- gets each target's account too: the load then needs one join per
    -- row for it, not two.
    EXECUTE format($q$
        CREATE TEMP TABLE %1$I ON COMMIT DROP AS
        WITH by_rule AS (
                SELECT * FROM normalize.match_id_values(%2$L, %3$s, $1, $2, $3, $4, $5)),
             crosswalk AS (
                SELECT x.raw_value AS raw, t.target_key
                  FROM normalize.id_crosswalk AS x
                  LEFT JOIN %5$I AS t ON t.target_key = normalize.stable_key(%6$L, x.target_id, $5)
                 WHERE x.entity = %7$L AND x.reference = %8$L),
             mapped AS (
        SELECT b.raw, b.rows,
               CASE WHEN x.raw IS NOT NULL THEN x.target_key
                    WHEN b.matches = 1 THEN b.target_key END AS target_key,
               CASE WHEN x.raw IS NOT NULL THEN 'crosswalk'
                    WHEN b.matches = 1 THEN %9$L END AS rule,
               CASE WHEN x.raw IS NOT NULL AND x.target_key IS NULL THEN 'crosswalk target not found'
                    WHEN x.raw IS NOT NULL THEN NULL
                    WHEN normalize.normalize_id(b.raw) IS NULL THEN 'missing ' || %8$L || ' reference'
                    WHEN %4$s IS NOT TRUE THEN %10$L
                    WHEN b.matches > 1 THEN 'ambiguous reference'
                    WHEN b.matches = 0 THEN 'no matching ' || %8$L END AS reason
          FROM by_rule AS b
          LEFT JOIN crosswalk AS x ON x.raw = b.raw)
        SELECT m.* %11$s FROM mapped AS m %12$s
        $q$,
        map, CASE WHEN best_rule IS NULL OR best_rule = 'none' THEN 'exact' ELSE best_rule END,
        coalesce(best_parameter::bigint, 0),
        CASE WHEN best_rule IS NULL OR best_rule = 'none' THEN 'false' ELSE 'true' END,
        targets, target_kind, ref.entity, ref.reference,
        CASE WHEN best_rule IS NULL THEN NULL ELSE concat_ws(' ', best_rule, best_parameter) END,
        CASE WHEN best_rule = 'none' THEN 'no crosswalk link (rule declared none)'
             ELSE coalesce(undecided, 'no rule links this column') END,
        CASE WHEN account_map <> '' THEN ', t.account_key AS target_account' ELSE '' END,
        CASE WHEN account_map <> '' THEN format('LEFT JOIN %I AS t ON t.target_key = m.target_key', targets) ELSE '' END)
    USING refs, ref_rows, target_ids, target_keys, keep_case;
    EXECUTE format('ANALYZE %I', map);
    RETURN coalesce(concat_ws(' ', best_rule, best_parameter), '');
END
$$;
COMMENT ON FUNCTION @extschema@.resolve_reference(text, text, text[], bigint[], text, float8, float8, text, text) IS
    'Internal: picks the rule for one reference and maps its distinct raw values to targets, during reconcile_ids';

-- Stages the references of one entity for reconcile_ids: the distinct
-- values of each with their row counts (NULL included), from one scan of
-- the source.
CREATE FUNCTION @extschema@.stage_entity(entity text)
RETURNS TABLE (reference text, raw text[], rows bigint[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    aggs text;
    refs text[];
    ref_columns text[];
    staged "normalize".value_counts_result[];  -- quoted: NORMALIZE is a keyword where a type is expected
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT string_agg(format('normalize.value_counts(s.%I)', k.source_column), ', ' ORDER BY k.reference),
           array_agg(k.reference ORDER BY k.reference), array_agg(k.source_column ORDER BY k.reference)
      INTO aggs, refs, ref_columns
      FROM normalize.reference_kinds AS k WHERE k.entity = stage_entity.entity;
    IF aggs IS NULL THEN
        RETURN;
    END IF;
    -- The reference columns alone: the scan of the largest source is the
    -- dearest step of staging.
    EXECUTE format('SELECT ARRAY[%s] FROM (%s) AS s', aggs, normalize.source_query(entity, ref_columns)) INTO staged;
    FOR i IN 1 .. cardinality(refs) LOOP
        reference := refs[i];
        raw := (staged[i]).raw;
        rows := (staged[i]).rows;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.stage_entity(text) IS
    'Internal: the distinct values of each of an entity''s references with their rows, from one scan of its source, during reconcile_ids';

-- Adds a freshly loaded normalized table's primary key; false, and no
-- key, when some key occurs twice.
CREATE FUNCTION @extschema@.try_primary_key(tbl text, key text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE normalize.%I ADD CONSTRAINT %I PRIMARY KEY (%I)', tbl, tbl || '_pkey', key);
    RETURN true;
EXCEPTION WHEN unique_violation THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION @extschema@.try_primary_key(text, text) IS
    'Internal: adds a normalized table''s primary key, or returns false when a key occurs twice, during reconcile_ids';

-- Makes an entity's keys keep the case of its IDs when its source has IDs
-- that differ only by case within one snapshot, and records the decision
-- in key_case. Called only when some key occurs twice: otherwise no two
-- IDs can differ only by case.
CREATE FUNCTION @extschema@.settle_key_case(entity text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    variants text[];
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT * INTO e FROM normalize.entity_kinds AS k WHERE k.entity = settle_key_case.entity;
    SELECT v.ids INTO variants FROM normalize.case_variants(entity) AS v LIMIT 1;
    IF variants IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('UPDATE normalize.%I AS t SET %I = normalize.stable_key(%L, t.source_id, true)',
                   e.table_name, e.kind || '_key', e.kind);
    UPDATE normalize.unlinked_rows AS u SET entity_key = normalize.stable_key(e.kind, u.source_id, true)
     WHERE u.entity = settle_key_case.entity AND u.entity_key IS NOT NULL;
    UPDATE normalize.key_case AS c SET keep_case = true, example_ids = variants WHERE c.entity = settle_key_case.entity;
    RAISE NOTICE 'IDs of % differ only by case within one snapshot (such as %); its keys keep case',
                 entity, array_to_string(variants, ', ')
        USING HINT = 'normalize.key_case lists the entities whose keys keep case.';
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.settle_key_case(text) IS
    'Internal: makes an entity''s keys case-sensitive when its IDs differ only by case within one snapshot, during reconcile_ids';

-- Gives a freshly loaded normalized table its primary key. Keys that occur
-- more than once are settled first, one row kept per key:
-- - rows before the key's latest snapshot date are superseded;
-- - on that date, identical rows collapse to one (status duplicate), and
--   rows that differ keep the most complete (most non-NULL columns), then
--   the byte-smallest raw ID, then the byte-smallest row text; the others
--   are quarantined as a key collision.
-- Keys shared by distinct raw IDs, or by differing rows, are listed in
-- key_collisions, and said in a NOTICE. The kept row carries the key, so
-- the rows that reference it still link. Returns the rows removed.
CREATE FUNCTION @extschema@.settle_keys(entity text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbl text;
    key text;
    removed_rows bigint;
    shared record;
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT k.table_name, k.kind || '_key' INTO tbl, key FROM normalize.entity_kinds AS k WHERE k.entity = settle_keys.entity;
    INSERT INTO normalize.key_case (entity, keep_case) VALUES (entity, false);
    IF normalize.try_primary_key(tbl, key) THEN
        RETURN 0;
    END IF;
    IF normalize.settle_key_case(entity) AND normalize.try_primary_key(tbl, key) THEN
        RETURN 0;
    END IF;
    -- One statement: every step reads the table as it was loaded.
    EXECUTE format($q$
        WITH dup AS (
            SELECT t.%2$I AS k FROM normalize.%1$I AS t GROUP BY t.%2$I HAVING count(*) > 1),
        shared AS MATERIALIZED (
            SELECT t.ctid AS row_id, t.%2$I AS k, t.source_id COLLATE "C" AS source_id, t.snapshot_date,
                   t::text COLLATE "C" AS row_text,
                   (SELECT count(*) FROM json_each(row_to_json(t)) AS j WHERE j.value::text <> 'null') AS filled,
                   max(t.snapshot_date) OVER (PARTITION BY t.%2$I) AS latest
              FROM normalize.%1$I AS t JOIN dup AS d ON d.k = t.%2$I),
        ranked AS (
            SELECT r.*,
                   r.latest IS NULL OR r.snapshot_date IS NOT DISTINCT FROM r.latest AS on_latest,
                   row_number() OVER (PARTITION BY r.k
                                      ORDER BY (r.latest IS NULL OR r.snapshot_date IS NOT DISTINCT FROM r.latest) DESC,
                                               r.filled DESC, r.source_id, r.row_text) AS pick
              FROM shared AS r),
        per_key AS (
            SELECT r.k, count(DISTINCT r.source_id) AS ids,
                   count(DISTINCT r.row_text) FILTER (WHERE r.on_latest) AS versions,
                   array_agg(r.source_id ORDER BY r.source_id) AS source_ids,
                   min(r.source_id) FILTER (WHERE r.pick = 1) AS kept
              FROM ranked AS r GROUP BY r.k),
        fate AS (
            SELECT r.row_id, r.k, r.source_id,
                   CASE WHEN NOT r.on_latest THEN 'superseded'
                        WHEN p.versions = 1 THEN 'duplicate'
                        ELSE 'key collision' END AS fate
              FROM ranked AS r JOIN per_key AS p USING (k)
             WHERE r.pick > 1),
        removed AS (
            DELETE FROM normalize.%1$I AS t USING fate AS f
             WHERE t.ctid = f.row_id
            RETURNING f.k, f.source_id, f.fate),
        unlinked AS (
            INSERT INTO normalize.unlinked_rows (entity, source_id, entity_key, status)
            SELECT %3$L, r.source_id, r.k, CASE WHEN r.fate = 'key collision' THEN 'quarantined' ELSE r.fate END
              FROM removed AS r),
        quarantined AS (
            INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
            SELECT %3$L, r.source_id, NULL, r.source_id, r.fate, false FROM removed AS r WHERE r.fate = 'key collision'),
        collisions AS (
            INSERT INTO normalize.key_collisions (entity, entity_key, source_ids, kept_source_id, resolution)
            SELECT %3$L, p.k, p.source_ids, p.kept,
                   CASE WHEN p.versions > 1 THEN 'most complete row kept' ELSE 'latest snapshot kept' END
              FROM per_key AS p WHERE p.ids > 1 OR p.versions > 1)
        SELECT count(*) FROM removed
        $q$, tbl, key, entity)
       INTO removed_rows;
    FOR shared IN
        SELECT c.resolution, count(*) AS n,
               (array_agg(array_to_string(c.source_ids, ', ') ORDER BY c.entity_key))[1] AS example
          FROM normalize.key_collisions AS c WHERE c.entity = settle_keys.entity
         GROUP BY c.resolution ORDER BY c.resolution DESC
    LOOP
        IF shared.resolution = 'most complete row kept' THEN
            RAISE NOTICE '% % of % % shared by rows that differ on one snapshot date (such as %); the most complete row of each was kept',
                         shared.n, CASE WHEN shared.n = 1 THEN 'key' ELSE 'keys' END, entity,
                         CASE WHEN shared.n = 1 THEN 'is' ELSE 'are' END, shared.example
                USING HINT = 'normalize.key_collisions lists them and normalize.quarantine the rows left out; correct the source, or give the rows distinct snapshot dates, to decide otherwise.';
        ELSE
            RAISE NOTICE '% % of % % IDs spelled differently in different snapshots (such as %); the latest snapshot of each was kept',
                         shared.n, CASE WHEN shared.n = 1 THEN 'key' ELSE 'keys' END, entity,
                         CASE WHEN shared.n = 1 THEN 'joins' ELSE 'join' END, shared.example
                USING HINT = 'normalize.key_collisions lists them; if they are different entities, give them IDs that differ by more than case, blanks or zero padding.';
        END IF;
    END LOOP;
    EXECUTE format('ALTER TABLE normalize.%I ADD CONSTRAINT %I PRIMARY KEY (%I)', tbl, tbl || '_pkey', key);
    RETURN removed_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.settle_keys(text) IS
    'Internal: adds a normalized table''s primary key, first settling keys shared by several rows (superseded snapshots, duplicates, collisions), during reconcile_ids';

-- The orphan policies reconcile_ids and its steps know, checked in one
-- place.
CREATE FUNCTION @extschema@.require_orphan_policy(orphan_policy text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF orphan_policy IS NULL THEN
        RAISE EXCEPTION 'orphan_policy must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave the argument out for its default.';
    END IF;
    IF orphan_policy NOT IN ('quarantine', 'assign', 'drop') THEN
        RAISE EXCEPTION 'orphan_policy must be quarantine, assign or drop, got "%"', orphan_policy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'quarantine keeps orphans aside with the reason, assign links each to an account by a deterministic rule, drop leaves them out.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_orphan_policy(text) IS
    'Internal: raises a clear error unless orphan_policy is quarantine, assign or drop';

-- The temp tables the steps of reconcile_ids hand each other are named by
-- the caller: one that is not there is a mistake in the call.
CREATE FUNCTION @extschema@.require_staged(argument text, name text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR to_regclass('pg_temp.' || quote_ident(name)) IS NULL THEN
        RAISE EXCEPTION '% "%" is not a temp table of this session', argument, coalesce(name, 'NULL')
            USING ERRCODE = 'undefined_table',
                  HINT = 'The steps of normalize.reconcile_ids() read what it staged; call reconcile_ids.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_staged(text, text) IS
    'Internal: raises a clear error unless a step''s staged temp table exists, during reconcile_ids';

-- Empties what a reconciliation rebuilds, and what was built on it. The
-- keys and foreign keys of the normalized tables are dropped, to be added
-- again once the tables are loaded: one sort per primary key and one
-- validating join per foreign key, instead of work for every row.
CREATE FUNCTION @extschema@.clear_reconciliation()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    ALTER TABLE normalize.account_map DROP CONSTRAINT account_map_account_key_fkey;
    FOR r IN SELECT e.table_name, k.reference FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS e USING (entity) ORDER BY e.position, k.reference LOOP
        EXECUTE format('ALTER TABLE normalize.%I DROP CONSTRAINT %I', r.table_name,
                       format('%s_%s_fk', r.table_name, r.reference));
    END LOOP;
    FOR r IN SELECT e.table_name FROM normalize.entity_kinds AS e ORDER BY e.position LOOP
        EXECUTE format('ALTER TABLE normalize.%I DROP CONSTRAINT %I', r.table_name, r.table_name || '_pkey');
    END LOOP;
    DROP INDEX normalize.account_map_raw_value_key;
    -- The tables, and what was built on them: that describes entities and
    -- repaired values that are gone, and keeping it would mix two
    -- generations.
    IF cardinality(normalize.clear_outputs('reconcile')) > 0 THEN
        RAISE NOTICE 'the repaired values and the history of the previous reconciliation were cleared'
            USING HINT = 'Run normalize.repair_values() and normalize.build_history() again.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.clear_reconciliation() IS
    'Internal: empties the normalized tables, maps and what was built on them, and drops their keys, at the start of reconcile_ids';

-- Adds the foreign keys of the reloaded normalized tables, one per
-- reference (build_account_map adds the account map's).
CREATE FUNCTION @extschema@.restore_foreign_keys()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT e.table_name, k.reference, t.kind AS target_kind, t.table_name AS target_table
               FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS e USING (entity)
               JOIN normalize.entity_kinds AS t ON t.entity = k.target_entity
              ORDER BY e.position, k.reference LOOP
        EXECUTE format('ALTER TABLE normalize.%I ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES normalize.%I',
                       r.table_name, format('%s_%s_fk', r.table_name, r.reference), r.target_kind || '_key',
                       r.target_table);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.restore_foreign_keys() IS
    'Internal: adds the foreign keys of the normalized tables once reconcile_ids has loaded them';

-- The contract columns of an entity other than its IDs, as the
-- normalized table names them and as a source row r gives them.
CREATE FUNCTION @extschema@.loaded_columns(entity text, OUT cols text, OUT src_cols text)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(quote_ident(c.column_name), ', ' ORDER BY c.position),
           string_agg('r.' || quote_ident(c.column_name), ', ' ORDER BY c.position)
      FROM normalize.source_contract AS c WHERE c.entity = loaded_columns.entity AND c.type_class <> 'id'
$$;
COMMENT ON FUNCTION @extschema@.loaded_columns(text) IS
    'Internal: the non-ID contract columns of an entity, as column list and as source expressions, during reconcile_ids';

-- Loads the customers into accounts (a row without an ID is quarantined)
-- and settles the keys; returns the rows loaded. Nothing can be linked
-- without one.
CREATE FUNCTION @extschema@.load_customers()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    loaded bigint;
BEGIN
    c := normalize.loaded_columns('customers');
    EXECUTE format($q$
        WITH r AS MATERIALIZED (
            SELECT s.*, normalize.stable_key('account', s.customer_id) AS entity_key
              FROM (%1$s) AS s),
        accounts AS (
            INSERT INTO normalize.accounts (account_key, source_id, %2$s)
            SELECT r.entity_key, r.customer_id, %3$s FROM r WHERE r.entity_key IS NOT NULL),
        unlinked AS (
            INSERT INTO normalize.unlinked_rows (entity, source_id, entity_key, status)
            SELECT 'customers', r.customer_id, NULL, 'quarantined' FROM r WHERE r.entity_key IS NULL)
        INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
        SELECT 'customers', r.customer_id, NULL, r.customer_id, 'missing id', false
          FROM r WHERE r.entity_key IS NULL
        $q$, normalize.source_query('customers'), c.cols, c.src_cols);
    SELECT count(*) INTO loaded FROM normalize.accounts;
    loaded := loaded - normalize.settle_keys('customers');
    IF loaded = 0 THEN
        RAISE EXCEPTION 'the customers source has no usable rows'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Every account hangs off a customer; without one nothing can be linked.',
                  HINT = 'Check that the registered customers relation holds rows with customer IDs.';
    END IF;
    RETURN loaded;
END
$$;
COMMENT ON FUNCTION @extschema@.load_customers() IS
    'Internal: loads the customers source into accounts and settles their keys, during reconcile_ids';

-- Makes temp table `targets` (raw, target_key, account_key) of the loaded
-- locations, and `per_account` (account_key, target_key, idx, n), the
-- locations of each account numbered for the assign policy (empty under
-- another). Both are empty when no locations are registered.
CREATE FUNCTION @extschema@.stage_location_targets(orphan_policy text, targets text, per_account text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM normalize.require_orphan_policy(orphan_policy);
    PERFORM normalize.drop_temp_table(targets);
    EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS
                    SELECT l.source_id AS raw, l.location_key AS target_key, l.account_key FROM normalize.locations AS l',
                   targets);
    PERFORM normalize.drop_temp_table(per_account);
    EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS
                    SELECT t.account_key, t.target_key,
                           (row_number() OVER (PARTITION BY t.account_key ORDER BY t.target_key) - 1)::bigint AS idx,
                           count(*) OVER (PARTITION BY t.account_key) AS n
                      FROM %I AS t WHERE $1 = ''assign''', per_account, targets)
    USING orphan_policy;
    EXECUTE format('CREATE INDEX ON %I (account_key, idx)', per_account);
    EXECUTE format('ANALYZE %I', targets);
    EXECUTE format('ANALYZE %I', per_account);
END
$$;
COMMENT ON FUNCTION @extschema@.stage_location_targets(text, text, text) IS
    'Internal: stages the locations devices may link to, and per account for the assign policy, during reconcile_ids';

-- The source rows of an entity with their stable key (entity_key), the
-- key computed once per row: OFFSET 0 keeps the planner from pulling the
-- key up into both the filter on it and the output, which doubles the
-- dearest call of a load.
CREATE FUNCTION @extschema@.keyed_source_query(entity text)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- source_query refuses an entity without a source, known or not.
    SELECT format('SELECT s.*, normalize.stable_key(%L, s.%I) AS entity_key FROM (%s) AS s OFFSET 0',
                  k.kind, k.id_column, q.q)
      FROM normalize.source_query(keyed_source_query.entity) AS q(q)
      JOIN normalize.entity_kinds AS k ON k.entity = keyed_source_query.entity
$$;
COMMENT ON FUNCTION @extschema@.keyed_source_query(text) IS
    'Internal: the query of an entity''s source rows with their stable keys, during reconcile_ids';

-- The query (a WITH list ending in r) of every source row of an entity
-- with its key, its account (linked by account_map, or assigned from
-- accounts_ordered under the assign policy) and, for devices, its location
-- (by location_map, assigned from per_account) and why a link is missing.
CREATE FUNCTION @extschema@.entity_rows_query(entity text, orphan_policy text, n_accounts bigint, account_map text,
                                              location_map text, accounts_ordered text, per_account text)
RETURNS text
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
BEGIN
    PERFORM normalize.require_entity(entity);
    PERFORM normalize.require_orphan_policy(orphan_policy);
    SELECT * INTO e FROM normalize.entity_kinds AS k WHERE k.entity = entity_rows_query.entity;
    RETURN format($q$
        WITH r0 AS (
            SELECT s.*, CASE WHEN s.entity_key IS NULL THEN 'missing id' END AS fate,
                   m.target_key AS linked_key, m.rule AS linked_rule,
                   CASE WHEN s.account_id IS NULL THEN 'missing account reference' ELSE m.reason END AS reason
              FROM (%1$s) AS s
              LEFT JOIN %3$I AS m ON m.raw = s.account_id),
        r1 AS (
            SELECT r0.*,
                   -- A row held back by an undecided rule is not an orphan:
                   -- it waits for the user's word, and is not assigned.
                   CASE WHEN r0.linked_key IS NOT NULL THEN r0.linked_key
                        WHEN r0.fate IS NULL AND %4$L = 'assign' AND r0.reason IS DISTINCT FROM 'ambiguous rule' THEN
                            (SELECT a.account_key FROM %5$I AS a
                              WHERE a.idx = floor(normalize.random_uniform_for(r0.entity_key, 0, %6$s, 0, %2$L,
                                                                               'assign account'))::bigint)
                   END AS account_key
              FROM r0),
        r AS (
            SELECT r1.* %7$s FROM r1 %8$s)
        $q$,
        normalize.keyed_source_query(entity), e.kind, account_map, orphan_policy, accounts_ordered, n_accounts,
        CASE WHEN entity = 'devices' THEN format($l$,
               CASE WHEN lm.target_account = r1.account_key THEN lm.target_key
                    WHEN r1.fate IS NULL AND r1.account_key IS NOT NULL AND %1$L = 'assign'
                         AND lm.reason IS DISTINCT FROM 'ambiguous rule' THEN
                        (SELECT p.target_key FROM %3$I AS p
                          WHERE p.account_key = r1.account_key
                            AND p.idx = floor(normalize.random_uniform_for(r1.entity_key, 0, p.n, 0, 'device',
                                                                           'assign location'))::bigint)
               END AS location_key,
               CASE WHEN lm.target_account = r1.account_key THEN lm.rule END AS location_rule,
               CASE WHEN lm.target_key IS NOT NULL AND lm.target_account IS DISTINCT FROM r1.account_key
                    THEN 'location of another account'
                    WHEN r1.location_id IS NOT NULL AND lm.target_key IS NULL AND %2$L
                    THEN coalesce(lm.reason, 'no matching location')
               END AS location_reason$l$, orphan_policy, normalize.is_registered('locations'), per_account) ELSE '' END,
        CASE WHEN entity = 'devices' THEN format($l$
               LEFT JOIN %I AS lm ON lm.raw = r1.location_id$l$, location_map) ELSE '' END);
END
$$;
COMMENT ON FUNCTION @extschema@.entity_rows_query(text, text, bigint, text, text, text, text) IS
    'Internal: the query of an entity''s source rows with their keys, accounts, locations and issues, during reconcile_ids';

-- Loads the rows of an entity that have a key and an account into its
-- normalized table; returns how many.
CREATE FUNCTION @extschema@.load_entity(entity text, orphan_policy text, n_accounts bigint, account_map text,
                                        location_map text, accounts_ordered text, per_account text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    c record;
    loaded bigint;
BEGIN
    PERFORM normalize.require_entity(entity);
    PERFORM normalize.require_orphan_policy(orphan_policy);
    PERFORM normalize.require_staged('account_map', account_map);
    SELECT * INTO e FROM normalize.entity_kinds AS k WHERE k.entity = load_entity.entity;
    c := normalize.loaded_columns(entity);
    -- (The filter names entity_key, not fate: the planner guesses 0.5%
    -- for "CASE ... IS NULL" and would hash the wrong side of the joins.)
    EXECUTE normalize.entity_rows_query(entity, orphan_policy, n_accounts, account_map, location_map, accounts_ordered,
                                        per_account)
            || format($q$
        INSERT INTO normalize.%1$I (%2$I, account_key, source_id, source_account_ref, account_rule,
                                   account_assigned, account_issue, %3$s %4$s)
        SELECT r.entity_key, r.account_key, r.%5$I, r.account_id,
               coalesce(r.linked_rule, 'assigned'), r.linked_key IS NULL, r.reason, %6$s %7$s
          FROM r WHERE r.entity_key IS NOT NULL AND r.account_key IS NOT NULL
        $q$,
        e.table_name, e.kind || '_key', c.cols,
        CASE WHEN entity = 'devices'
             THEN ', location_key, source_location_ref, location_rule, location_assigned, location_issue' ELSE '' END,
        e.id_column, c.src_cols,
        CASE WHEN entity = 'devices'
             THEN $l$, r.location_key, r.location_id, coalesce(r.location_rule, CASE WHEN r.location_key IS NOT NULL THEN 'assigned' END),
                    r.location_key IS NOT NULL AND r.location_rule IS NULL, r.location_reason$l$ ELSE '' END);
    GET DIAGNOSTICS loaded = ROW_COUNT;
    RETURN loaded;
END
$$;
COMMENT ON FUNCTION @extschema@.load_entity(text, text, bigint, text, text, text, text) IS
    'Internal: loads an entity''s linked (or assigned) source rows into its normalized table, during reconcile_ids';

-- The rows of an entity that did not load, for the id map and the
-- quarantine: a second, narrow pass over the source (rows that loaded
-- with an issue carry it in account_issue / location_issue).
CREATE FUNCTION @extschema@.record_unlinked_rows(entity text, orphan_policy text, account_map text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
BEGIN
    PERFORM normalize.require_entity(entity);
    PERFORM normalize.require_orphan_policy(orphan_policy);
    PERFORM normalize.require_staged('account_map', account_map);
    SELECT * INTO e FROM normalize.entity_kinds AS k WHERE k.entity = record_unlinked_rows.entity;
    EXECUTE format($q$
        WITH u AS MATERIALIZED (
            SELECT s.%1$I AS source_id, s.entity_key, s.account_id,
                   CASE WHEN s.entity_key IS NULL THEN 'missing id' END AS fate,
                   CASE WHEN s.account_id IS NULL THEN 'missing account reference' ELSE m.reason END AS reason
              FROM (%2$s) AS s
              LEFT JOIN %3$I AS m ON m.raw = s.account_id
             WHERE s.entity_key IS NULL
                OR (m.target_key IS NULL AND (%4$L <> 'assign' OR m.reason = 'ambiguous rule'))),
        -- Rows held back by an undecided rule are quarantined whatever
        -- the orphan policy: they are not orphans, and must not vanish.
        ids AS (
            INSERT INTO normalize.unlinked_rows (entity, source_id, entity_key, status)
            SELECT %5$L, u.source_id, u.entity_key,
                   CASE WHEN u.fate IS NOT NULL OR u.reason = 'ambiguous rule' THEN 'quarantined' ELSE %6$L END
              FROM u)
        INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
        SELECT %5$L, u.source_id, NULL, u.source_id, u.fate, false FROM u WHERE u.fate IS NOT NULL
        UNION ALL
        SELECT %5$L, u.source_id, 'account', u.account_id, u.reason, false
          FROM u WHERE u.fate IS NULL AND (%4$L <> 'drop' OR u.reason = 'ambiguous rule')
        $q$,
        e.id_column, normalize.keyed_source_query(entity), account_map, orphan_policy, entity,
        CASE orphan_policy WHEN 'drop' THEN 'dropped' ELSE 'quarantined' END);
END
$$;
COMMENT ON FUNCTION @extschema@.record_unlinked_rows(text, text, text) IS
    'Internal: records the source rows of an entity that did not load, in unlinked_rows and the quarantine, during reconcile_ids';

-- Links kept with an issue (an assigned account, a location lost),
-- recorded once the rows are settled. A loaded row has an account issue
-- only when it was assigned or its value's map entry links with a reason:
-- without either, the table is not scanned for them.
CREATE FUNCTION @extschema@.record_link_issues(entity text, orphan_policy text, account_map text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    account_issues boolean;
    issues text;
BEGIN
    PERFORM normalize.require_entity(entity);
    PERFORM normalize.require_orphan_policy(orphan_policy);
    PERFORM normalize.require_staged('account_map', account_map);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I AS m WHERE m.target_key IS NOT NULL AND m.reason IS NOT NULL)',
                   account_map)
       INTO account_issues;
    issues := concat_ws(' UNION ALL ',
        CASE WHEN account_issues OR orphan_policy = 'assign' THEN format($q$
            SELECT %1$L, t.source_id, 'account', t.source_account_ref, t.account_issue, true
              FROM normalize.%1$I AS t WHERE t.account_issue IS NOT NULL$q$, entity) END,
        CASE WHEN entity = 'devices' THEN $q$
            SELECT 'devices', t.source_id, 'location', t.source_location_ref, t.location_issue, true
              FROM normalize.devices AS t WHERE t.location_issue IS NOT NULL$q$ END);
    IF issues <> '' THEN
        EXECUTE 'INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)' || issues;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.record_link_issues(text, text, text) IS
    'Internal: records the links an entity''s loaded rows kept with an issue (assigned, lost), during reconcile_ids';

-- The master account map: every customer's own ID, and every raw
-- reference value a rule or the crosswalk linked, from the value map of
-- each entity's account reference (entities[i] in maps[i]); assigned
-- orphans are not a meaning of their value.
CREATE FUNCTION @extschema@.build_account_map(entities text[], maps text[])
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cardinality(entities) IS DISTINCT FROM cardinality(maps) THEN
        RAISE EXCEPTION 'entities and maps must have the same length, got % and %', cardinality(entities), cardinality(maps)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'build_account_map is a step of normalize.reconcile_ids(); call that.';
    END IF;
    INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
    SELECT 'customers', a.source_id, a.account_key, 'primary', 1 FROM normalize.accounts AS a;
    FOR i IN 1 .. coalesce(cardinality(entities), 0) LOOP
        EXECUTE format('INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
                        SELECT %L, m.raw, m.target_key, m.rule, m.rows FROM %I AS m WHERE m.target_key IS NOT NULL',
                       entities[i], maps[i]);
    END LOOP;
    CREATE UNIQUE INDEX account_map_raw_value_key ON normalize.account_map (entity, md5(raw_value));
    ALTER TABLE normalize.account_map
        ADD CONSTRAINT account_map_account_key_fkey FOREIGN KEY (account_key) REFERENCES normalize.accounts;
END
$$;
COMMENT ON FUNCTION @extschema@.build_account_map(text[], text[]) IS
    'Internal: fills the master account map from the customers and the account references'' value maps, during reconcile_ids';

-- What reconcile_ids returns, counted from what was written rather than by
-- rescanning the tables: loaded rows (loaded: entity -> rows), the
-- assigned ones among them (their issue is in the quarantine, kept), the
-- unlinked rows, and the rule of each account reference (rules: entity ->
-- rule). An entity without a source has a row too, without counts, so
-- that its absence is seen.
CREATE FUNCTION @extschema@.reconcile_counts(loaded jsonb, rules jsonb)
RETURNS TABLE (entity text, source_rows bigint, linked bigint, assigned bigint, quarantined bigint,
               dropped bigint, superseded bigint, duplicates bigint, account_rule text)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ek.entity,
           l.rows + coalesce(u.n, 0),
           l.rows - coalesce(q.assigned, 0),
           CASE WHEN l.rows IS NOT NULL THEN coalesce(q.assigned, 0) END,
           CASE WHEN l.rows IS NOT NULL THEN coalesce(u.quarantined, 0) END,
           CASE WHEN l.rows IS NOT NULL THEN coalesce(u.dropped, 0) END,
           CASE WHEN l.rows IS NOT NULL THEN coalesce(u.superseded, 0) END,
           CASE WHEN l.rows IS NOT NULL THEN coalesce(u.duplicates, 0) END,
           CASE WHEN l.rows IS NULL THEN 'not registered' WHEN ek.required THEN 'primary' ELSE rules ->> ek.entity END
      FROM normalize.entity_kinds AS ek
      LEFT JOIN (SELECT j.key AS entity, j.value::bigint AS rows FROM jsonb_each_text(loaded) AS j) AS l
        ON l.entity = ek.entity
      LEFT JOIN (SELECT x.entity, count(*) AS n,
                        count(*) FILTER (WHERE x.status = 'quarantined') AS quarantined,
                        count(*) FILTER (WHERE x.status = 'dropped') AS dropped,
                        count(*) FILTER (WHERE x.status = 'superseded') AS superseded,
                        count(*) FILTER (WHERE x.status = 'duplicate') AS duplicates
                   FROM normalize.unlinked_rows AS x GROUP BY x.entity) AS u ON u.entity = ek.entity
      LEFT JOIN (SELECT y.entity, count(*) AS assigned FROM normalize.quarantine AS y
                  WHERE y.kept AND y.reference = 'account' GROUP BY y.entity) AS q ON q.entity = ek.entity
     ORDER BY ek.position
$$;
COMMENT ON FUNCTION @extschema@.reconcile_counts(jsonb, jsonb) IS
    'Internal: the rows of each entity linked, assigned, quarantined, dropped, superseded and duplicate, and its account rule, as reconcile_ids returns them';

CREATE FUNCTION @extschema@.reconcile_ids(orphan_policy text DEFAULT 'quarantine', min_share float8 DEFAULT 0.5,
                                          ambiguity_margin float8 DEFAULT 0.1)
RETURNS TABLE (entity text, source_rows bigint, linked bigint, assigned bigint, quarantined bigint,
               dropped bigint, superseded bigint, duplicates bigint, account_rule text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- A batch over whole tables: hash the keys and build the primary keys in
-- memory rather than in temp files.
SET work_mem = '256MB'
SET maintenance_work_mem = '512MB'
AS $$
DECLARE
    e record;
    staged record;
    rules jsonb := '{}';
    loaded jsonb := '{}';
    n_accounts bigint;
    n_loaded bigint;
    account_raw text[];
    account_rows bigint[];
    location_raw text[];
    location_rows bigint[];
    account_map text;
    mapped text[] := '{}';
    maps text[] := '{}';
    step_started timestamptz := clock_timestamp();
BEGIN
    -- Not STRICT: a NULL here is a mistake to report, not a no-op.
    PERFORM normalize.require_orphan_policy(orphan_policy);
    IF min_share IS NULL OR ambiguity_margin IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN min_share IS NULL THEN 'min_share' ELSE 'ambiguity_margin' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave the argument out for its default.';
    END IF;
    PERFORM normalize.require_rule_thresholds(min_share, ambiguity_margin);
    PERFORM normalize.require_sources();
    -- Two reconciliations at once would interleave their TRUNCATEs.
    PERFORM pg_advisory_xact_lock(hashtext('normalize.reconcile_ids'));
    PERFORM normalize.clear_reconciliation();

    -- The temp tables below are this function's, named here and handed to
    -- each step that reads them.
    n_accounts := normalize.load_customers();
    loaded := jsonb_build_object('customers', n_accounts);
    PERFORM normalize.drop_temp_table('nz_targets_customers');
    CREATE TEMP TABLE nz_targets_customers ON COMMIT DROP AS
        SELECT a.source_id AS raw, a.account_key AS target_key FROM normalize.accounts AS a;
    PERFORM normalize.drop_temp_table('nz_accounts_ordered');
    -- Numbered for the assign policy only; empty under the others.
    CREATE TEMP TABLE nz_accounts_ordered ON COMMIT DROP AS
        SELECT (row_number() OVER (ORDER BY a.account_key) - 1)::bigint AS idx, a.account_key
          FROM normalize.accounts AS a WHERE orphan_policy = 'assign';
    CREATE UNIQUE INDEX ON nz_accounts_ordered (idx);
    ANALYZE nz_targets_customers;
    ANALYZE nz_accounts_ordered;
    RAISE DEBUG 'reconcile_ids: customers in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);

    -- Entities without a source are skipped: their tables stay empty, and
    -- the report says they were not available.
    FOR e IN SELECT * FROM normalize.entity_kinds AS k
              WHERE NOT k.required AND normalize.is_registered(k.entity) ORDER BY k.position LOOP
        account_raw := NULL; account_rows := NULL;
        location_raw := NULL; location_rows := NULL;
        FOR staged IN SELECT * FROM normalize.stage_entity(e.entity) LOOP
            IF staged.reference = 'account' THEN
                account_raw := staged.raw;
                account_rows := staged.rows;
            ELSIF staged.reference = 'location' THEN
                location_raw := staged.raw;
                location_rows := staged.rows;
            END IF;
        END LOOP;

        -- The account reference: rule, value map.
        account_map := format('nz_map_%s_account', e.entity);
        rules := rules || jsonb_build_object(e.entity,
                                             normalize.resolve_reference(e.entity, 'account', account_raw, account_rows,
                                                                         'nz_targets_customers', min_share,
                                                                         ambiguity_margin, '', account_map));
        mapped := mapped || e.entity;
        maps := maps || account_map;
        -- Devices' locations: chosen together with the account, by the
        -- devices a rule links to a location of their own account. No
        -- locations registered: the devices keep their raw references.
        IF e.entity = 'devices' THEN
            PERFORM normalize.stage_location_targets(orphan_policy, 'nz_targets_locations', 'nz_locations_per_account');
            PERFORM normalize.drop_temp_table('nz_map_devices_location');
            IF normalize.is_registered('locations') THEN
                rules := rules || jsonb_build_object('devices.location',
                                                     normalize.resolve_reference('devices', 'location', location_raw,
                                                                                 location_rows, 'nz_targets_locations',
                                                                                 min_share, ambiguity_margin, account_map,
                                                                                 'nz_map_devices_location'));
            ELSE
                CREATE TEMP TABLE nz_map_devices_location ON COMMIT DROP AS
                    SELECT NULL::text AS raw, NULL::bigint AS rows, NULL::varchar AS target_key, NULL::text AS rule,
                           NULL::text AS reason, NULL::varchar AS target_account
                     WHERE false;
            END IF;
        END IF;

        n_loaded := normalize.load_entity(e.entity, orphan_policy, n_accounts, account_map, 'nz_map_devices_location',
                                          'nz_accounts_ordered', 'nz_locations_per_account');
        -- Staging counted every source row under its account reference,
        -- NULL included: when all of them loaded, none is left to record.
        IF n_loaded <> (SELECT coalesce(sum(r), 0) FROM unnest(account_rows) AS r) THEN
            PERFORM normalize.record_unlinked_rows(e.entity, orphan_policy, account_map);
        END IF;
        n_loaded := n_loaded - normalize.settle_keys(e.entity);
        loaded := loaded || jsonb_build_object(e.entity, n_loaded);
        PERFORM normalize.record_link_issues(e.entity, orphan_policy, account_map);
        RAISE DEBUG 'reconcile_ids: % in % ms', e.entity, round(extract(epoch FROM clock_timestamp() - step_started) * 1000);
    END LOOP;

    -- The tables of entities without a source stay empty, keyed as always.
    PERFORM normalize.try_primary_key(k.table_name, k.kind || '_key')
       FROM normalize.entity_kinds AS k WHERE NOT normalize.is_registered(k.entity) ORDER BY k.position;
    PERFORM normalize.restore_foreign_keys();
    RAISE DEBUG 'reconcile_ids: keys in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);
    PERFORM normalize.build_account_map(mapped, maps);
    RAISE DEBUG 'reconcile_ids: maps in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);
    RETURN QUERY SELECT * FROM normalize.reconcile_counts(loaded, rules);
END
$$;
COMMENT ON FUNCTION @extschema@.reconcile_ids(text, float8, float8) IS
    'Links every source row to its account by the crosswalk, then the rule declared in id_rule_overrides or the one the data show (a reference whose rows do not decide between two rules is reported ambiguous and not linked), and rebuilds the normalized tables, the account map and the id map; orphans are quarantined, assigned or dropped';
