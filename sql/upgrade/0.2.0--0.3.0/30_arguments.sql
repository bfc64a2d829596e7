-- Degenerate arguments of the SQL helpers are refused with an error naming
-- the argument (require_range), where they divided by zero or passed
-- silently: cadences of 0, negative or NULL counts, shares outside (0, 1),
-- arrays of unequal lengths, NaN and infinite values; wilson_interval
-- computes in float8, and repair_values treats a NaN or infinite MRR as no
-- revenue.

-- True, or an error naming the argument, for a number that must lie in
-- [low, high] (high infinite: at least low); NULL and NaN never do. In
-- numeric, so that a bigint is quoted exactly, as the caller passed it.
CREATE FUNCTION @extschema@.require_range(argument text, value numeric, low numeric, high numeric DEFAULT 'infinity',
                                          hint text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A NULL bound would let every value through, and a NULL name would
    -- make the message say nothing: mistakes of the caller, said as such.
    IF argument IS NULL OR low IS NULL OR high IS NULL THEN
        RAISE EXCEPTION '% of require_range must not be NULL',
                        CASE WHEN argument IS NULL THEN 'argument' WHEN low IS NULL THEN 'low' ELSE 'high' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'require_range checks an argument of a normalize function: name it, and give both bounds.';
    END IF;
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', argument
            USING ERRCODE = 'null_value_not_allowed', HINT = coalesce(hint, 'Pass a number.');
    END IF;
    IF NOT (value >= low AND value <= high) THEN
        IF high = 'infinity' THEN
            RAISE EXCEPTION '% must be at least %, got %', argument, low, value
                USING ERRCODE = 'invalid_parameter_value', HINT = coalesce(hint, format('Pass a number of at least %s.', low));
        END IF;
        RAISE EXCEPTION '% must be between % and %, got %', argument, low, high, value
            USING ERRCODE = 'invalid_parameter_value', HINT = coalesce(hint, format('Pass a number from %s to %s.', low, high));
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.require_range(text, numeric, numeric, numeric, text) IS
    'Internal: true if low <= value <= high (NULL and NaN never are), else an error naming the argument';

-- Candidate rules linking the raw values refs (with ref_rows rows each, as
-- value_counts gives them) to the IDs in nz_cand_targets (raw): how many
-- rows each would link. Offsets are looked for among the differences
-- between the smallest and the largest numbers on both sides, and the power
-- of ten below the smallest reference when references and targets do not
-- overlap.
CREATE OR REPLACE FUNCTION @extschema@.rule_candidates(entity text, reference text, refs text[], ref_rows bigint[])
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
    target_raw text[];
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
    -- A caller that scores several references against one target may
    -- prepare nz_cand_t (raw, ...) once; otherwise the targets are read here.
    IF to_regclass('pg_temp.nz_cand_t') IS NOT NULL THEN
        SELECT coalesce(array_agg(t.raw), '{}') INTO target_raw FROM nz_cand_t AS t;
    ELSE
        SELECT coalesce(array_agg(t.raw), '{}') INTO target_raw FROM nz_cand_targets AS t;
    END IF;

    rule := 'crosswalk'; parameter := NULL; total := n_total;
    SELECT coalesce(sum(r.rows), 0) INTO linked
      FROM unnest(ref_raw, sample_rows) AS r(raw, rows)
     WHERE EXISTS (SELECT 1 FROM normalize.id_crosswalk AS x
                    WHERE x.entity = rule_candidates.entity AND x.reference = rule_candidates.reference
                      AND x.raw_value = r.raw);
    RETURN NEXT;
    RETURN QUERY
    SELECT s.rule, s.parameter, s.linked, n_total FROM normalize.score_id_rules(ref_raw, sample_rows, target_raw) AS s;
END
$$;
COMMENT ON FUNCTION @extschema@.rule_candidates(text, text, text[], bigint[]) IS
    'Internal: scores the candidate rules for a reference''s staged values against the IDs in nz_cand_targets';

-- Resolves one reference of one entity: scores the rules on its staged raw
-- values refs (ref_rows rows each) against the targets in temp table
-- `targets` (raw, target_key), picks the best rule that links at least
-- min_share of the rows, and writes nz_map_<entity>_<reference>: one row per
-- distinct raw value with its target, the rule (crosswalk first), or the
-- reason it has none. Returns the rule used ('' when none).
CREATE OR REPLACE FUNCTION @extschema@.resolve_reference(entity text, reference text, refs text[], ref_rows bigint[],
                                              targets text, min_share float8)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    best record;
    map text := format('nz_map_%s_%s', entity, reference);
    target_kind text;
    target_ids text[];
    target_keys text[];
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    IF NOT (min_share > 0 AND min_share <= 1) THEN
        RAISE EXCEPTION 'min_share must be in (0, 1], got %', min_share
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of a column''s rows a rule must link to be used, such as 0.5.';
    END IF;
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = resolve_reference.entity AND k.reference = resolve_reference.reference;
    SELECT e.kind INTO target_kind FROM normalize.entity_kinds AS e WHERE e.entity = ref.target_entity;

    -- The targets come prepared (raw, target_key): rule scoring and the
    -- value map read them instead of staging them per reference.
    EXECUTE format('CREATE TEMP VIEW nz_cand_t AS SELECT raw FROM %I', targets);
    INSERT INTO nz_rules
    SELECT ref.entity, ref.reference, c.rule, c.parameter, c.linked, c.total, false
      FROM normalize.rule_candidates(ref.entity, ref.reference, refs, ref_rows) AS c;
    DROP VIEW nz_cand_t;

    SELECT r.rule, r.parameter INTO best FROM nz_rules AS r
     WHERE r.entity = ref.entity AND r.reference = ref.reference AND r.rule <> 'crosswalk'
       AND r.linked > 0 AND r.linked >= min_share * r.total
     ORDER BY r.linked DESC,
              array_position(ARRAY['exact', 'normalized', 'number', 'offset'], r.rule),
              abs(r.parameter::numeric) NULLS FIRST
     LIMIT 1;
    IF FOUND THEN
        UPDATE nz_rules AS r SET chosen = true
         WHERE r.entity = ref.entity AND r.reference = ref.reference
           AND r.rule = best.rule AND r.parameter IS NOT DISTINCT FROM best.parameter;
    ELSIF EXISTS (SELECT 1 FROM nz_rules AS r WHERE r.entity = ref.entity AND r.reference = ref.reference
                     AND r.total > 0) THEN
        RAISE NOTICE 'no rule links at least % of %.%; its rows stay unlinked', min_share, entity, ref.source_column
            USING HINT = 'See normalize.suggest_id_rules(), and add links to normalize.id_crosswalk.';
    END IF;

    -- Without a rule, nothing to match against.
    target_ids := '{}';
    target_keys := '{}';
    IF best.rule IS NOT NULL THEN
        EXECUTE format('SELECT coalesce(array_agg(t.raw), ''{}''), coalesce(array_agg(t.target_key::text), ''{}'') FROM %I AS t',
                       targets)
           INTO target_ids, target_keys;
    END IF;
    PERFORM normalize.drop_temp_table(map);
    EXECUTE format($q$
        CREATE TEMP TABLE %1$I ON COMMIT DROP AS
        WITH by_rule AS (
                SELECT * FROM normalize.match_id_values(%2$L, %3$s, $1, $2, $3, $4)),
             crosswalk AS (
                SELECT x.raw_value AS raw, t.target_key
                  FROM normalize.id_crosswalk AS x
                  LEFT JOIN %5$I AS t ON t.target_key = normalize.stable_key(%6$L, x.target_id)
                 WHERE x.entity = %7$L AND x.reference = %8$L)
        SELECT b.raw, b.rows,
               CASE WHEN x.raw IS NOT NULL THEN x.target_key
                    WHEN b.matches = 1 THEN b.target_key END AS target_key,
               CASE WHEN x.raw IS NOT NULL THEN 'crosswalk'
                    WHEN b.matches = 1 THEN %9$L END AS rule,
               CASE WHEN x.raw IS NOT NULL AND x.target_key IS NULL THEN 'crosswalk target not found'
                    WHEN x.raw IS NOT NULL THEN NULL
                    WHEN normalize.normalize_id(b.raw) IS NULL THEN 'missing ' || %8$L || ' reference'
                    WHEN %4$s IS NOT TRUE THEN 'no rule links this column'
                    WHEN b.matches > 1 THEN 'ambiguous reference'
                    WHEN b.matches = 0 THEN 'no matching ' || %8$L END AS reason
          FROM by_rule AS b
          LEFT JOIN crosswalk AS x ON x.raw = b.raw
        $q$,
        map, coalesce(best.rule, 'exact'), coalesce(best.parameter::bigint, 0),
        CASE WHEN best.rule IS NULL THEN 'false' ELSE 'true' END,
        targets, target_kind, ref.entity, ref.reference,
        CASE WHEN best.rule IS NULL THEN NULL ELSE concat_ws(' ', best.rule, best.parameter) END)
    USING refs, ref_rows, target_ids, target_keys;
    EXECUTE format('ANALYZE %I', map);
    RETURN coalesce(concat_ws(' ', best.rule, best.parameter), '');
END
$$;
COMMENT ON FUNCTION @extschema@.resolve_reference(text, text, text[], bigint[], text, float8) IS
    'Internal: picks the rule for one reference and maps its distinct raw values to targets, during reconcile_ids';

-- What is wrong with a metric column as a whole. NULL when nothing is: then
-- only its missing or out-of-range values are replaced. The counts are a
-- column's: n rows, n_null of them NULL, n_zero zero and n_distinct distinct
-- values among the others.
CREATE OR REPLACE FUNCTION @extschema@.column_finding(n bigint, n_null bigint, n_zero bigint, n_distinct bigint,
                                           categorical boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF categorical IS NULL THEN
        RAISE EXCEPTION 'categorical must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass true for a column of categories, false for a metric.';
    END IF;
    PERFORM normalize.require_range('n', n, 0);
    PERFORM normalize.require_range('n_null', n_null, 0, n, 'Count the NULLs among the n rows.');
    PERFORM normalize.require_range('n_zero', n_zero, 0, n - n_null, 'Count the zeros among the rows that are not NULL.');
    PERFORM normalize.require_range('n_distinct', n_distinct, 0, n - n_null,
                                    'Count the distinct values among the rows that are not NULL.');
    RETURN CASE
        WHEN n = 0 THEN NULL
        WHEN n_null = n THEN 'all missing'
        WHEN NOT categorical AND n_zero = n - n_null THEN 'all zero'
        WHEN n_distinct = 1 THEN 'constant'
        -- A continuous metric over many rows takes many values; a handful is a placeholder.
        WHEN NOT categorical AND n >= 50 AND n_distinct <= 5 THEN format('only %s distinct values', n_distinct)
    END;
END
$$;
COMMENT ON FUNCTION @extschema@.column_finding(bigint, bigint, bigint, bigint, boolean) IS
    'Why a column is degenerate (all missing, all zero, constant, a handful of distinct values), or NULL';

-- The tier an amount of monthly revenue falls in, from the mrr_tier_<n>
-- profiles' lower bounds: Tier 1 from its lower bound up, ..., Tier 4 below.
-- NaN and the infinities are no amount (NaN would sort above every bound).
CREATE OR REPLACE FUNCTION @extschema@.tier_for_mrr(mrr numeric)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF mrr = 'NaN' OR abs(mrr) = 'Infinity' THEN
        RAISE EXCEPTION 'mrr must be a finite number, got %', mrr
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a monthly revenue, such as 1200.';
    END IF;
    RETURN coalesce(
        (SELECT 'Tier ' || substr(p.name, 10)
           FROM normalize.distribution_profiles AS p
          WHERE p.name ~ '^mrr_tier_[1-3]$' AND mrr >= p.lower
          ORDER BY p.name LIMIT 1),
        'Tier 4');
END
$$;
COMMENT ON FUNCTION @extschema@.tier_for_mrr(numeric) IS
    'The tier an amount of monthly revenue falls in, read from the lower bounds of the mrr_tier_1..3 profiles';

-- Down-samples the negatives of a sample table's training split (and of
-- the other splits when asked) to a positive rate, per group when a group
-- column is given, keeping the negatives whose (seed, key, cutoff) draw
-- ranks first; the kept negatives weigh what the dropped ones did.
CREATE OR REPLACE FUNCTION @extschema@.balance_samples(sample_table text, key_column text, label text, group_column text,
                                            positive_rate float8, all_splits boolean, seed bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF positive_rate IS NULL THEN
        RETURN;
    END IF;
    -- The kept negatives are positives * (1 - rate) / rate, and their weight
    -- divides by that: a rate of 0 divides by zero, 1 keeps none, and the
    -- rest of (0, 1) is the only sense it has.
    IF NOT (positive_rate > 0 AND positive_rate < 1) THEN
        RAISE EXCEPTION 'positive_rate must be in (0, 1), got %', positive_rate
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of positives wanted in the training split, or NULL to keep the natural rate.';
    END IF;
    IF sample_table IS NULL OR key_column IS NULL OR label IS NULL OR all_splits IS NULL OR seed IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
              CASE WHEN sample_table IS NULL THEN 'sample_table' WHEN key_column IS NULL THEN 'key_column'
                   WHEN label IS NULL THEN 'label' WHEN all_splits IS NULL THEN 'all_splits' ELSE 'seed' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'balance_samples is a step of normalize.build_training_sets(); call that.';
    END IF;
    PERFORM normalize.drop_temp_table('nz_balance');
    EXECUTE format($q$
        CREATE TEMP TABLE nz_balance ON COMMIT DROP AS
        SELECT t.split, %4$s AS grp, count(*) FILTER (WHERE t.%3$I) AS positives,
               count(*) FILTER (WHERE NOT t.%3$I) AS negatives,
               ceil(count(*) FILTER (WHERE t.%3$I) * (1 - %5$s) / %5$s) AS keep
          FROM normalize.%1$I AS t WHERE t.split = 'train' OR %7$L
         GROUP BY t.split, %4$s$q$,
        sample_table, key_column, label, coalesce('t.' || quote_ident(group_column), 'NULL::text'),
        positive_rate, seed, all_splits);
    EXECUTE format($q$
        WITH negatives AS (
            SELECT t.%2$I AS k, t.as_of, t.split, %4$s AS grp,
                   row_number() OVER (PARTITION BY t.split, %4$s
                                      ORDER BY normalize.random_uniform_for(t.%2$I || '@' || t.as_of, 0, 1, %6$s,
                                                                            'sample', 'balance'), t.%2$I, t.as_of) AS r
              FROM normalize.%1$I AS t WHERE NOT t.%3$I AND (t.split = 'train' OR %7$L))
        DELETE FROM normalize.%1$I AS t USING negatives AS n, nz_balance AS w
         WHERE t.%2$I = n.k AND t.as_of = n.as_of AND w.split = n.split AND w.grp IS NOT DISTINCT FROM n.grp
           AND w.positives > 0 AND n.r > w.keep$q$,
        sample_table, key_column, label, coalesce('t.' || quote_ident(group_column), 'NULL::text'),
        positive_rate, seed, all_splits);
    EXECUTE format($q$
        UPDATE normalize.%1$I AS t SET sample_weight = w.negatives::float8 / w.keep
          FROM nz_balance AS w
         WHERE NOT t.%3$I AND w.split = t.split AND w.grp IS NOT DISTINCT FROM %4$s AND w.positives > 0
           AND w.keep < w.negatives$q$,
        sample_table, key_column, label, coalesce('t.' || quote_ident(group_column), 'NULL::text'));
END
$$;
COMMENT ON FUNCTION @extschema@.balance_samples(text, text, text, text, float8, boolean, bigint) IS
    'Internal: deterministic down-sampling of negatives to a positive rate, with restoring weights, during build_training_sets';

-- True, or an error naming the argument, for a value that must lie strictly
-- between two bounds; lets SQL-language functions check their arguments.
CREATE OR REPLACE FUNCTION @extschema@.require_between(argument text, value float8, low float8, high float8)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- As in require_range: a NULL bound would let every value through.
    IF argument IS NULL OR low IS NULL OR high IS NULL THEN
        RAISE EXCEPTION '% of require_between must not be NULL',
                        CASE WHEN argument IS NULL THEN 'argument' WHEN low IS NULL THEN 'low' ELSE 'high' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'require_between checks an argument of a normalize function: name it, and give both bounds.';
    END IF;
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', argument
            USING ERRCODE = 'null_value_not_allowed', HINT = format('Pass a value strictly between %s and %s.', low, high);
    END IF;
    IF NOT (value > low AND value < high) THEN
        RAISE EXCEPTION '% must be between % and %, got %', argument, low, high, value
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Pass a value strictly between %s and %s.', low, high);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.require_between(text, float8, float8, float8) IS
    'Internal: true if low < value < high, else an error naming the argument';

CREATE OR REPLACE FUNCTION @extschema@.validate_profiles(
    n bigint DEFAULT 100000,
    seed bigint DEFAULT 42,
    alpha float8 DEFAULT 0.01)
RETURNS TABLE (profile text, family text, n bigint, statistic float8, p_value float8,
               passed boolean)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.name, p.family, (t.r).n, (t.r).statistic, (t.r).p_value, (t.r).p_value >= alpha
      FROM normalize.distribution_profiles AS p
     CROSS JOIN LATERAL (
            SELECT normalize.ks_test(x, p.name) AS r
              FROM normalize.sample_profile(p.name, n, seed) AS x) AS t
     WHERE normalize.require_between('alpha', alpha, 0, 1)
       AND normalize.require_range('n', n, 1, 10000000000, 'Ask for the number of values to draw from each profile, such as 100000.')
     ORDER BY p.name
$$;
COMMENT ON FUNCTION @extschema@.validate_profiles(bigint, bigint, float8) IS
    'Draws n values from every profile and tests them against the profile''s own distribution; passed when p_value >= alpha';

-- Wilson score interval of k successes in n trials at the given confidence:
-- unlike p +- z se, it stays inside [0, 1] and holds up for small n and
-- rates near 0, which is what a tier of a few accounts gives.
CREATE OR REPLACE FUNCTION @extschema@.wilson_interval(k bigint, n bigint, confidence float8, OUT low float8, OUT high float8)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p float8;
    z float8;
    trials float8;
    lo float8 := 0;
    hi float8 := 40;
    centre float8;
    half float8;
BEGIN
    IF NOT (confidence > 0 AND confidence < 1) THEN
        RAISE EXCEPTION 'confidence must be between 0 and 1, got %', confidence
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a level such as 0.99.';
    END IF;
    IF k < 0 OR n < 0 OR k > n THEN
        RAISE EXCEPTION 'k must be between 0 and n, got k = % and n = %', k, n
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the successes and the trials.';
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;
    -- z with P(Z <= z) = 1 - (1 - confidence) / 2, by bisection on the CDF
    -- the generators use.
    FOR i IN 1..80 LOOP
        z := (lo + hi) / 2;
        IF normalize.distribution_cdf(z, 'normal', ARRAY[0, 1]::float8[]) < 1 - (1 - confidence) / 2 THEN
            lo := z;
        ELSE
            hi := z;
        END IF;
    END LOOP;
    z := (lo + hi) / 2;
    -- In float8 throughout: 2 * n overflows bigint from n = 2^62.
    trials := n;
    p := k / trials;
    centre := (p + z * z / (2 * trials)) / (1 + z * z / trials);
    half := z * sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials);
    low := greatest(0, centre - half);
    high := least(1, centre + half);
END
$$;
COMMENT ON FUNCTION @extschema@.wilson_interval(bigint, bigint, float8) IS
    'The Wilson score interval of a proportion: k successes in n trials, at a confidence level such as 0.99';

-- A histogram of observed counts over equal bins from low to high, with
-- the counts the target distribution expects drawn over it as a line: one
-- expected count per bin, finite, and counts that are counts (checked, or
-- the chart would be drawn misaligned, or with NaN coordinates).
CREATE OR REPLACE FUNCTION @extschema@.svg_histogram(title text, low float8, high float8, observed bigint[], expected float8[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (low > '-infinity' AND high < 'infinity' AND low < high) THEN
        RAISE EXCEPTION 'low and high must be finite with low < high, got % and %', low, high
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the range the bins cover.';
    END IF;
    IF array_ndims(observed) > 1 OR array_ndims(expected) > 1 THEN
        RAISE EXCEPTION 'observed and expected must be one-dimensional arrays'
            USING ERRCODE = 'array_subscript_error', HINT = 'Pass one count per bin.';
    END IF;
    IF cardinality(observed) <> cardinality(expected) THEN
        RAISE EXCEPTION 'observed and expected must have the same length, got % and %',
                        cardinality(observed), cardinality(expected)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass one observed and one expected count per bin.';
    END IF;
    IF array_position(observed, NULL) IS NOT NULL OR array_position(expected, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'observed and expected must not contain NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass 0 for an empty bin.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(observed) AS o WHERE o < 0) THEN
        RAISE EXCEPTION 'observed must hold counts of at least 0, got %', (SELECT min(o) FROM unnest(observed) AS o)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the number of values in each bin.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(expected) AS e WHERE NOT (e > '-infinity' AND e < 'infinity')) THEN
        RAISE EXCEPTION 'expected must hold finite numbers'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the count the distribution expects in each bin.';
    END IF;
    RETURN (
    WITH dims AS (
        SELECT cardinality(observed) AS bins,
               greatest(1, (SELECT max(o) FROM unnest(observed) AS o),
                        (SELECT max(e) FROM unnest(expected) AS e)) AS top),
    bars AS (
        SELECT string_agg(format('<rect class="bar" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>',
                                 round((40 + (i - 1) * 300.0 / d.bins)::numeric, 2),
                                 round((170 - 140 * o::float8 / d.top)::numeric, 2),
                                 round((300.0 / d.bins - 1)::numeric, 2),
                                 round((140 * o::float8 / d.top)::numeric, 2),
                                 o || ' observed'), '' ORDER BY i) AS svg
          FROM dims AS d, unnest(observed) WITH ORDINALITY AS b(o, i)),
    curve AS (
        SELECT string_agg(format('%s,%s', round((40 + (i - 0.5) * 300.0 / d.bins)::numeric, 2),
                                 round((170 - 140 * e / d.top)::numeric, 2)), ' ' ORDER BY i) AS points
          FROM dims AS d, unnest(expected) WITH ORDINALITY AS c(e, i))
    SELECT format('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 360 200" width="360" height="200" role="img" aria-label="%1$s">'
                  '<text x="180" y="14" class="title">%1$s</text>'
                  '<line x1="40" y1="170" x2="340" y2="170" class="axis"/>%2$s'
                  '<polyline class="expected" points="%3$s"/>'
                  '<text x="40" y="186" class="tick">%4$s</text><text x="340" y="186" class="tick end">%5$s</text>'
                  '<text x="36" y="34" class="tick end">%6$s</text>'
                  '</svg>',
                  normalize.html_escape(title), bars.svg, curve.points,
                  round(low::numeric, 2), round(high::numeric, 2), round(dims.top::numeric))
      FROM dims, bars, curve);
END
$$;
COMMENT ON FUNCTION @extschema@.svg_histogram(text, float8, float8, bigint[], float8[]) IS
    'Internal: an inline SVG histogram of observed counts with the expected counts as a line, for readiness_report_html';

-- Horizontal bars, one per label, each with an optional band (drawn behind
-- it) and an optional interval (drawn as a whisker). Each series is NULL
-- (not drawn) or holds one value per label, NULL where it has none; a
-- shorter one would shift the bars against their labels.
CREATE OR REPLACE FUNCTION @extschema@.svg_bars(title text, labels text[], vals float8[], band_low float8[], band_high float8[],
                                     whisker_low float8[], whisker_high float8[], value_format text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    series record;
BEGIN
    IF value_format IS NULL THEN
        RAISE EXCEPTION 'value_format must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a to_char format for the values, such as ''FM0.000''.';
    END IF;
    IF array_ndims(labels) > 1 THEN
        RAISE EXCEPTION 'labels must be a one-dimensional array, got % dimensions', array_ndims(labels)
            USING ERRCODE = 'array_subscript_error', HINT = 'Pass one label per bar.';
    END IF;
    FOR series IN SELECT * FROM (VALUES ('vals', vals), ('band_low', band_low), ('band_high', band_high),
                                        ('whisker_low', whisker_low), ('whisker_high', whisker_high)) AS v(name, a)
                   WHERE v.a IS NOT NULL LOOP
        IF array_ndims(series.a) > 1 OR coalesce(cardinality(series.a), 0) <> coalesce(cardinality(labels), 0) THEN
            RAISE EXCEPTION '% must hold one value per label (%), got %', series.name, coalesce(cardinality(labels), 0),
                            cardinality(series.a)
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL for a series not drawn, and NULL for a label without a value.';
        END IF;
        IF EXISTS (SELECT 1 FROM unnest(series.a) AS x WHERE NOT (x > '-infinity' AND x < 'infinity')) THEN
            RAISE EXCEPTION '% must hold finite numbers or NULL', series.name
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL for a label without a value.';
        END IF;
    END LOOP;
    RETURN (
    WITH rows AS (
        SELECT i, l, vals[i] AS v, band_low[i] AS bl, band_high[i] AS bh, whisker_low[i] AS wl, whisker_high[i] AS wh
          FROM unnest(labels) WITH ORDINALITY AS x(l, i)),
    dims AS (
        SELECT count(*) AS n,
               greatest(1e-9, max(greatest(coalesce(v, 0), coalesce(bh, 0), coalesce(wh, 0)))) AS top FROM rows),
    marks AS (
        SELECT string_agg(
                   format('<text x="150" y="%1$s" class="label end">%2$s</text>', 36 + (i - 1) * 24, normalize.html_escape(l))
                   || CASE WHEN bl IS NOT NULL AND bh IS NOT NULL THEN
                          format('<rect class="band" x="%s" y="%s" width="%s" height="18"><title>band %s to %s</title></rect>',
                                 round((156 + 300 * bl / d.top)::numeric, 2), 23 + (i - 1) * 24,
                                 round(greatest(1, 300 * (bh - bl) / d.top)::numeric, 2), bl, bh)
                      ELSE '' END
                   || format('<rect class="bar" x="156" y="%s" width="%s" height="12"><title>%s</title></rect>',
                             26 + (i - 1) * 24, round((300 * coalesce(v, 0) / d.top)::numeric, 2),
                             normalize.html_escape(l))
                   || CASE WHEN wl IS NOT NULL AND wh IS NOT NULL THEN
                          format('<line class="whisker" x1="%1$s" x2="%2$s" y1="%3$s" y2="%3$s"/>',
                                 round((156 + 300 * wl / d.top)::numeric, 2), round((156 + 300 * wh / d.top)::numeric, 2),
                                 32 + (i - 1) * 24)
                      ELSE '' END
                   || format('<text x="%s" y="%s" class="value">%s</text>',
                             round((160 + 300 * greatest(coalesce(v, 0), coalesce(wh, 0)) / d.top)::numeric, 2),
                             36 + (i - 1) * 24, CASE WHEN v IS NULL THEN 'n/a' ELSE to_char(v, value_format) END),
                   '' ORDER BY i) AS svg
          FROM rows, dims AS d)
    SELECT format('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 560 %1$s" width="560" height="%1$s" role="img" aria-label="%2$s">'
                  '<text x="8" y="14" class="title start">%2$s</text>%3$s</svg>',
                  30 + dims.n * 24, normalize.html_escape(title), coalesce(marks.svg, ''))
      FROM dims, marks);
END
$$;
COMMENT ON FUNCTION @extschema@.svg_bars(text, text[], float8[], float8[], float8[], float8[], float8[], text) IS
    'Internal: inline SVG horizontal bars with optional bands and intervals, for readiness_report_html';
