-- Released file, frozen: as built from commit 84a83cb38515. Never rebuilt or edited.
\echo Use "ALTER EXTENSION normalize UPDATE TO '0.2.0'" to load this file. \quit
-- normalize 0.1.0 -> 0.2.0. The build concatenates this directory's files
-- with the install files they name (see the Makefile). What changed, and
-- how the script brings a 0.1.0 database there:
--   * every key column is varchar COLLATE "C" (faster key builds, key
--     order independent of the server's locale): the views over them are
--     set aside, the columns altered, the views put back as they were;
--   * rule scoring and value matching are C++ (score_id_rules,
--     match_id_values), and reconcile_ids skips work it does not need: rule
--     discovery and reconcile_ids are replaced (sql/install/
--     13_rule_discovery.sql, 14_reconcile_ids.sql, replayed) and
--     rule_match_sql is dropped (15_dropped.sql);
--   * the feature views lag one packed array per shift: feature_view_sql is
--     replaced and the three feature views regenerated from it
--     (sql/install/41_feature_views.sql, replayed);
--   * Phase 6, the HTML report, run_pipeline and pg_dump of the results are
--     new (sql/install/70_quality.sql, 71_report_html.sql, 80_pipeline.sql,
--     90_results_dump.sql, as they are).

-- The views that read key columns, dependents first, with their
-- definitions and comments, to put back once the columns are altered. They
-- travel between this script's statements in a transaction-local setting:
-- a table made here would become part of the extension.
DO $$
DECLARE
    v record;
    c record;
BEGIN
    PERFORM pg_catalog.set_config('normalize_upgrade.views', (
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                   'position', w.position, 'name', w.name,
                   'definition', pg_catalog.pg_get_viewdef(format('@extschema@.%I', w.name)::regclass),
                   'description', pg_catalog.obj_description(format('@extschema@.%I', w.name)::regclass, 'pg_class')))::text
          FROM unnest(ARRAY['churn_training_set', 'clv_training_set', 'device_health_training_set', 'customer_features',
                            'device_features', 'user_features', 'customer_feature_base', 'device_feature_base',
                            'user_feature_base', 'id_map']) WITH ORDINALITY AS w(name, position)), true);
    -- They return the feature views' row types (sql/install/43_features_at.sql
    -- makes them again).
    DROP FUNCTION @extschema@.customer_features_at(date), @extschema@.device_features_at(date),
                  @extschema@.user_features_at(date);
    FOR v IN SELECT x.name FROM jsonb_to_recordset(pg_catalog.current_setting('normalize_upgrade.views')::jsonb)
                                AS x(position integer, name text)
              ORDER BY x.position LOOP
        EXECUTE format('DROP VIEW @extschema@.%I', v.name);
    END LOOP;
    FOR c IN SELECT cl.relname, a.attname
               FROM pg_catalog.pg_attribute AS a
               JOIN pg_catalog.pg_class AS cl ON cl.oid = a.attrelid
              WHERE cl.relnamespace = '@extschema@'::regnamespace AND cl.relkind = 'r'
                AND a.attnum > 0 AND NOT a.attisdropped AND a.attname ~ '_key$'
                AND a.atttypid = 'pg_catalog.varchar'::regtype
              ORDER BY cl.relname, a.attnum LOOP
        EXECUTE format('ALTER TABLE @extschema@.%I ALTER COLUMN %I TYPE varchar COLLATE "C"', c.relname, c.attname);
    END LOOP;
END
$$;

-- What 0.2.0 no longer has: value maps are matched in C++
-- (match_id_values), so the SQL expression builder of a rule is gone.
DROP FUNCTION @extschema@.rule_match_sql(text, text, text);
-- Staged reference values travel as arrays (value_counts) instead of temp
-- tables: the steps that read or wrote those tables take and return them.
DROP FUNCTION @extschema@.rule_candidates(text, text);
DROP FUNCTION @extschema@.stage_reference(text, text);
DROP FUNCTION @extschema@.resolve_reference(text, text, text, float8);
DROP FUNCTION @extschema@.stage_entity(text);
-- Phase 1 of the plan: rule discovery. Scores the rules that could link
-- each reference column to its target's IDs (the scoring itself is C++),
-- for suggest_id_rules() and for reconcile_ids().

-- The scores of the exact, normalized, number and offset rules for
-- reference values (with their row counts) against target IDs, computed in
-- C++ from hash sets of the targets. See rule_candidates.
CREATE OR REPLACE FUNCTION @extschema@.score_id_rules(refs text[], ref_rows bigint[], targets text[])
RETURNS TABLE (rule text, parameter text, linked bigint)
AS 'MODULE_PATHNAME', 'nz_score_id_rules'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.score_id_rules(text[], bigint[], text[]) IS
    'Internal: how many rows each linking rule (exact, normalized, number, and the offsets found among the differences) links from reference values to target IDs';

-- The distinct values of a column with the rows holding each (NULL last,
-- when some row has none), from one pass: how the references of a source
-- are staged (stage_entity stages all of a source's in one scan).
CREATE TYPE @extschema@.value_counts_result AS (raw text[], rows bigint[]);
COMMENT ON TYPE @extschema@.value_counts_result IS
    'Internal: the distinct values of a column and the number of rows holding each, position by position';

CREATE OR REPLACE FUNCTION @extschema@.value_counts_step(internal, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'nz_value_counts_step'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.value_counts_step(internal, text) IS
    'Transition function of value_counts(text)';

CREATE OR REPLACE FUNCTION @extschema@.value_counts_final(internal)
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

-- Stages one reference for rule_candidates: returns its values with their
-- rows, and puts its target's IDs in temp table nz_cand_targets.
CREATE OR REPLACE FUNCTION @extschema@.stage_reference(entity text, reference text)
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
    PERFORM normalize.drop_temp_table('nz_cand_targets');
    EXECUTE format('SELECT (normalize.value_counts(s.%I)).* FROM (%s) AS s',
                   ref.source_column, normalize.source_query(entity))
       INTO staged;
    EXECUTE format('CREATE TEMP TABLE nz_cand_targets ON COMMIT DROP AS
                    SELECT DISTINCT %I AS raw FROM (%s) AS s',
                   ref.target_column, normalize.source_query(ref.target_entity));
    RETURN staged;
END
$$;
COMMENT ON FUNCTION @extschema@.stage_reference(text, text) IS
    'Internal: a reference''s raw values with their rows, its target''s raw IDs staged in a temp table, for rule_candidates';

CREATE OR REPLACE FUNCTION @extschema@.suggest_id_rules()
RETURNS TABLE (entity text, reference text, source_column text, target text, rule text,
               parameter text, linked bigint, total bigint, share float8, rank integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    staged "normalize".value_counts_result;
BEGIN
    PERFORM normalize.require_sources();
    FOR ref IN
        SELECT k.* FROM normalize.reference_kinds AS k
          JOIN normalize.entity_kinds AS e USING (entity)
         ORDER BY e.position, k.reference
    LOOP
        staged := normalize.stage_reference(ref.entity, ref.reference);
        RETURN QUERY
        SELECT ref.entity, ref.reference, (s.columns ->> ref.source_column),
               format('%s.%s', ref.target_entity, ref.target_column),
               c.rule, c.parameter, c.linked, c.total,
               CASE WHEN c.total > 0 THEN c.linked::float8 / c.total ELSE 0 END,
               (row_number() OVER (ORDER BY c.linked DESC,
                                   array_position(ARRAY['crosswalk', 'exact', 'normalized', 'number', 'offset'], c.rule),
                                   abs(c.parameter::numeric)))::integer
          FROM normalize.rule_candidates(ref.entity, ref.reference, staged.raw, staged.rows) AS c,
               normalize.sources AS s
         WHERE s.entity = ref.entity
         ORDER BY 10;
        DROP TABLE nz_cand_targets;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.suggest_id_rules() IS
    'For each reference column of each source, the candidate linking rules (exact, normalized, number, offset, crosswalk) with the share of rows each links, best first';
-- Phase 1 of the plan: reconciliation itself. Stages each source's distinct
-- reference values, picks a rule per reference and maps the values in temp
-- tables, then rebuilds the normalized tables in one transaction, so a
-- failure leaves the previous result in place.

-- The distinct reference values a rule matches to targets: in C++, with
-- the targets grouped once by the key the rule compares (see
-- core::match_values).
CREATE OR REPLACE FUNCTION @extschema@.match_id_values(rule text, "offset" bigint, refs text[], ref_rows bigint[],
                                            target_ids text[], target_keys text[])
RETURNS TABLE (raw text, rows bigint, target_key text, matches bigint)
AS 'MODULE_PATHNAME', 'nz_match_id_values'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.match_id_values(text, bigint, text[], bigint[], text[], text[]) IS
    'Internal: for each reference value, the smallest key among the targets a rule (exact, normalized, number, offset) matches it to, and how many match';

-- DROP TABLE IF EXISTS without the NOTICE: reconcile_ids may run twice in
-- one transaction, and its temp tables live until commit.
CREATE OR REPLACE FUNCTION @extschema@.drop_temp_table(name text)
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

-- Stages the references of one entity for reconcile_ids: the distinct
-- values of each with their row counts (NULL included), from one scan of
-- the source.
CREATE OR REPLACE FUNCTION @extschema@.stage_entity(entity text)
RETURNS TABLE (reference text, raw text[], rows bigint[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    aggs text;
    refs text[];
    staged "normalize".value_counts_result[];  -- quoted: NORMALIZE is a keyword where a type is expected
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT string_agg(format('normalize.value_counts(s.%I)', k.source_column), ', ' ORDER BY k.reference),
           array_agg(k.reference ORDER BY k.reference)
      INTO aggs, refs
      FROM normalize.reference_kinds AS k WHERE k.entity = stage_entity.entity;
    IF aggs IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('SELECT ARRAY[%s] FROM (%s) AS s', aggs, normalize.source_query(entity)) INTO staged;
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

-- Gives a freshly loaded normalized table its primary key. Keys that occur
-- more than once (rare) are settled first: rows before a key's latest
-- snapshot date are superseded, and several rows on that date collide and
-- are all quarantined. Trying the key first keeps the common case at one
-- index build.
CREATE OR REPLACE FUNCTION @extschema@.settle_keys(entity text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    tbl text;
    key text;
    removed_rows bigint;
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT * INTO e FROM normalize.entity_kinds AS k WHERE k.entity = settle_keys.entity;
    tbl := CASE entity WHEN 'customers' THEN 'accounts' ELSE entity END;
    key := e.kind || '_key';
    BEGIN
        EXECUTE format('ALTER TABLE normalize.%I ADD CONSTRAINT %I PRIMARY KEY (%I)', tbl, tbl || '_pkey', key);
        RETURN 0;
    EXCEPTION WHEN unique_violation THEN
        NULL;  -- duplicates: settle them below, then add the key
    END;
    EXECUTE format($q$
        WITH dup AS (
            SELECT t.%2$I AS k, max(t.snapshot_date) AS latest
              FROM normalize.%1$I AS t GROUP BY t.%2$I HAVING count(*) > 1),
        rows AS (
            SELECT t.ctid AS row_id, t.%2$I AS k, t.source_id, t.snapshot_date, d.latest,
                   count(*) OVER (PARTITION BY t.%2$I, t.snapshot_date) AS same_day
              FROM normalize.%1$I AS t JOIN dup AS d ON d.k = t.%2$I),
        fate AS (
            SELECT r.row_id, r.k, r.source_id,
                   CASE WHEN r.latest IS NOT NULL AND r.snapshot_date IS DISTINCT FROM r.latest THEN 'superseded'
                        WHEN r.same_day > 1 THEN 'key collision' END AS fate
              FROM rows AS r),
        removed AS (
            DELETE FROM normalize.%1$I AS t USING fate AS f
             WHERE t.ctid = f.row_id AND f.fate IS NOT NULL
            RETURNING f.k, f.source_id, f.fate),
        unlinked AS (
            INSERT INTO normalize.unlinked_rows (entity, source_id, entity_key, status)
            SELECT %3$L, r.source_id, r.k, CASE WHEN r.fate = 'superseded' THEN 'superseded' ELSE 'quarantined' END
              FROM removed AS r)
        INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
        SELECT %3$L, r.source_id, NULL, r.source_id, r.fate, false FROM removed AS r WHERE r.fate = 'key collision'
        $q$, tbl, key, entity);
    SELECT count(*) INTO removed_rows FROM normalize.unlinked_rows AS u
     WHERE u.entity = settle_keys.entity AND (u.status = 'superseded' OR EXISTS (
           SELECT 1 FROM normalize.quarantine AS q
            WHERE q.entity = u.entity AND q.source_id = u.source_id AND q.reason = 'key collision'));
    EXECUTE format('ALTER TABLE normalize.%I ADD CONSTRAINT %I PRIMARY KEY (%I)', tbl, tbl || '_pkey', key);
    RETURN removed_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.settle_keys(text) IS
    'Internal: adds a normalized table''s primary key, first settling duplicate keys (superseded snapshots, collisions), during reconcile_ids';

CREATE OR REPLACE FUNCTION @extschema@.reconcile_ids(orphan_policy text DEFAULT 'quarantine', min_share float8 DEFAULT 0.5)
RETURNS TABLE (entity text, source_rows bigint, linked bigint, assigned bigint, quarantined bigint,
               dropped bigint, superseded bigint, account_rule text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- A batch over whole tables: hash the keys and build the primary keys in
-- memory rather than in temp files.
SET work_mem = '256MB'
SET maintenance_work_mem = '512MB'
AS $$
DECLARE
    e record;
    cols text;
    src_cols text;
    rules jsonb := '{}';
    n_accounts bigint;
    step_started timestamptz := clock_timestamp();
    rows_sql text;
    n_loaded bigint;
    n_source bigint;
    staged record;
    account_raw text[];
    account_rows bigint[];
    location_raw text[];
    location_rows bigint[];
    account_issues boolean;
    unresolved text := CASE orphan_policy WHEN 'drop' THEN 'dropped' ELSE 'quarantined' END;
BEGIN
    -- Not STRICT: a NULL here is a mistake to report, not a no-op.
    IF orphan_policy IS NULL OR min_share IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN orphan_policy IS NULL THEN 'orphan_policy' ELSE 'min_share' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave the argument out for its default.';
    END IF;
    IF orphan_policy NOT IN ('quarantine', 'assign', 'drop') THEN
        RAISE EXCEPTION 'orphan_policy must be quarantine, assign or drop, got "%"', orphan_policy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'quarantine keeps orphans aside with the reason, assign links each to an account by a deterministic rule, drop leaves them out.';
    END IF;
    IF NOT (min_share > 0 AND min_share <= 1) THEN
        RAISE EXCEPTION 'min_share must be in (0, 1], got %', min_share
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of a column''s rows a rule must link to be used, such as 0.5.';
    END IF;
    PERFORM normalize.require_sources();
    -- Two reconciliations at once would interleave their TRUNCATEs.
    PERFORM pg_advisory_xact_lock(hashtext('normalize.reconcile_ids'));

    PERFORM normalize.drop_temp_table('nz_rules');
    CREATE TEMP TABLE nz_rules (LIKE normalize.reconciliation_rules) ON COMMIT DROP;
    PERFORM normalize.drop_temp_table('nz_loaded');
    CREATE TEMP TABLE nz_loaded (entity text, rows bigint) ON COMMIT DROP;

    -- The tables are rebuilt from empty. Keys and foreign keys are dropped
    -- and re-added around the load: one sort per primary key and one
    -- validating join per foreign key, instead of work for every row.
    ALTER TABLE normalize.account_map DROP CONSTRAINT account_map_account_key_fkey;
    ALTER TABLE normalize.locations DROP CONSTRAINT locations_account_fk;
    ALTER TABLE normalize.subscriptions DROP CONSTRAINT subscriptions_account_fk;
    ALTER TABLE normalize.devices DROP CONSTRAINT devices_account_fk, DROP CONSTRAINT devices_location_fk;
    ALTER TABLE normalize.users DROP CONSTRAINT users_account_fk;
    ALTER TABLE normalize.campaigns DROP CONSTRAINT campaigns_account_fk;
    ALTER TABLE normalize.accounts DROP CONSTRAINT accounts_pkey;
    ALTER TABLE normalize.locations DROP CONSTRAINT locations_pkey;
    ALTER TABLE normalize.subscriptions DROP CONSTRAINT subscriptions_pkey;
    ALTER TABLE normalize.devices DROP CONSTRAINT devices_pkey;
    ALTER TABLE normalize.users DROP CONSTRAINT users_pkey;
    ALTER TABLE normalize.campaigns DROP CONSTRAINT campaigns_pkey;
    ALTER TABLE normalize.account_map DROP CONSTRAINT account_map_pkey;
    TRUNCATE normalize.account_map, normalize.devices, normalize.locations, normalize.subscriptions,
             normalize.users, normalize.campaigns, normalize.accounts, normalize.unlinked_rows,
             normalize.quarantine, normalize.key_collisions, normalize.reconciliation_rules;
    -- What was built on the previous tables describes entities and repaired
    -- values that are gone: keeping it would mix two generations.
    IF EXISTS (SELECT 1 FROM normalize.account_snapshots) OR EXISTS (SELECT 1 FROM normalize.device_days)
       OR EXISTS (SELECT 1 FROM normalize.user_weeks) OR EXISTS (SELECT 1 FROM normalize.repair_summary) THEN
        RAISE NOTICE 'the repaired values and the history of the previous reconciliation were cleared'
            USING HINT = 'Run normalize.repair_values() and normalize.build_history() again.';
    END IF;
    TRUNCATE normalize.repair_summary, normalize.account_snapshots, normalize.device_days, normalize.user_weeks,
             normalize.lifecycle_events, normalize.history_info, normalize.customer_feature_store,
             normalize.device_feature_store, normalize.user_feature_store, normalize.churn_samples,
             normalize.clv_samples, normalize.device_health_samples, normalize.training_info;

    FOR e IN SELECT * FROM normalize.entity_kinds ORDER BY position LOOP
        -- Nothing carried over from the previous entity.
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
        SELECT string_agg(quote_ident(c.column_name), ', ' ORDER BY c.position),
               string_agg('r.' || quote_ident(c.column_name), ', ' ORDER BY c.position)
          INTO cols, src_cols
          FROM normalize.source_contract AS c WHERE c.entity = e.entity AND c.type_class <> 'id';

        IF e.entity = 'customers' THEN
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
                $q$, normalize.source_query('customers'), cols, src_cols);
            SELECT count(*) INTO n_loaded FROM normalize.accounts;
            n_loaded := n_loaded - normalize.settle_keys('customers');
            INSERT INTO nz_loaded VALUES ('customers', n_loaded);
            SELECT count(*) INTO n_accounts FROM normalize.accounts;
            IF n_accounts = 0 THEN
                RAISE EXCEPTION 'the customers source has no usable rows'
                    USING ERRCODE = 'no_data_found',
                          DETAIL = 'Every account hangs off a customer; without one nothing can be linked.',
                          HINT = 'Check that the registered customers relation holds rows with customer IDs.';
            END IF;
            PERFORM normalize.drop_temp_table('nz_targets_customers');
            CREATE TEMP TABLE nz_targets_customers ON COMMIT DROP AS
                SELECT a.source_id AS raw, a.account_key AS target_key FROM normalize.accounts AS a;
            PERFORM normalize.drop_temp_table('nz_accounts_ordered');
            CREATE TEMP TABLE nz_accounts_ordered ON COMMIT DROP AS
                SELECT (row_number() OVER (ORDER BY a.account_key) - 1)::bigint AS idx, a.account_key
                  FROM normalize.accounts AS a;
            CREATE UNIQUE INDEX ON nz_accounts_ordered (idx);
            ANALYZE nz_targets_customers;
            ANALYZE nz_accounts_ordered;
            RAISE DEBUG 'reconcile_ids: customers in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);
            CONTINUE;
        END IF;

        -- The account reference: rule, value map.
        rules := rules || jsonb_build_object(e.entity,
                                             normalize.resolve_reference(e.entity, 'account', account_raw, account_rows,
                                                                         'nz_targets_customers', min_share));

        IF e.entity = 'devices' THEN
            PERFORM normalize.drop_temp_table('nz_targets_locations');
            CREATE TEMP TABLE nz_targets_locations ON COMMIT DROP AS
                SELECT l.source_id AS raw, l.location_key AS target_key, l.account_key
                  FROM normalize.locations AS l;
            PERFORM normalize.drop_temp_table('nz_locations_per_account');
            -- Only the assign policy draws from it; otherwise it stays empty.
            CREATE TEMP TABLE nz_locations_per_account ON COMMIT DROP AS
                SELECT t.account_key, t.target_key,
                       (row_number() OVER (PARTITION BY t.account_key ORDER BY t.target_key) - 1)::bigint AS idx,
                       count(*) OVER (PARTITION BY t.account_key) AS n
                  FROM nz_targets_locations AS t
                 WHERE orphan_policy = 'assign';
            CREATE INDEX ON nz_locations_per_account (account_key, idx);
            ANALYZE nz_targets_locations;
            ANALYZE nz_locations_per_account;
            rules := rules || jsonb_build_object('devices.location',
                                                 normalize.resolve_reference('devices', 'location', location_raw, location_rows,
                                                                             'nz_targets_locations', min_share));
            -- The location's account travels with the map, so each device
            -- row needs one join for its location, not two.
            CREATE TEMP TABLE nz_map_devices_location_acct ON COMMIT DROP AS
                SELECT m.*, t.account_key AS target_account
                  FROM nz_map_devices_location AS m
                  LEFT JOIN nz_targets_locations AS t ON t.target_key = m.target_key;
            DROP TABLE nz_map_devices_location;
            ALTER TABLE nz_map_devices_location_acct RENAME TO nz_map_devices_location;
            ANALYZE nz_map_devices_location;
        END IF;

        -- Every row's fate, account and (for devices) location, as a query
        -- run twice: once streaming the linked rows into the normalized
        -- table, once collecting the few others for the id map and the
        -- quarantine. Cheaper than materializing every row once.
        rows_sql := format($q$
            WITH r0 AS (
                SELECT s.*, k.entity_key, CASE WHEN k.entity_key IS NULL THEN 'missing id' END AS fate,
                       m.target_key AS linked_key, m.rule AS linked_rule,
                       CASE WHEN s.account_id IS NULL THEN 'missing account reference' ELSE m.reason END AS reason
                  FROM (%2$s) AS s
                 CROSS JOIN LATERAL (SELECT normalize.stable_key(%3$L, s.%4$I) AS entity_key) AS k
                  LEFT JOIN %6$I AS m ON m.raw = s.account_id),
            r1 AS (
                SELECT r0.*,
                       CASE WHEN r0.linked_key IS NOT NULL THEN r0.linked_key
                            WHEN r0.fate IS NULL AND %7$L = 'assign' THEN
                                (SELECT a.account_key FROM nz_accounts_ordered AS a
                                  WHERE a.idx = floor(normalize.random_uniform_for(r0.entity_key, 0, %8$s, 0, %3$L,
                                                                                   'assign account'))::bigint)
                       END AS account_key
                  FROM r0),
            r AS (
                SELECT r1.* %9$s FROM r1 %10$s)
            $q$,
            NULL, normalize.source_query(e.entity), e.kind, e.id_column,
            NULL, format('nz_map_%s_account', e.entity),
            orphan_policy, n_accounts,
            CASE WHEN e.entity = 'devices' THEN format($l$,
                   CASE WHEN lm.target_account = r1.account_key THEN lm.target_key
                        WHEN r1.fate IS NULL AND r1.account_key IS NOT NULL AND %1$L = 'assign' THEN
                            (SELECT p.target_key FROM nz_locations_per_account AS p
                              WHERE p.account_key = r1.account_key
                                AND p.idx = floor(normalize.random_uniform_for(r1.entity_key, 0, p.n, 0, 'device',
                                                                               'assign location'))::bigint)
                   END AS location_key,
                   CASE WHEN lm.target_account = r1.account_key THEN lm.rule END AS location_rule,
                   CASE WHEN lm.target_key IS NOT NULL AND lm.target_account IS DISTINCT FROM r1.account_key
                        THEN 'location of another account'
                        WHEN r1.location_id IS NOT NULL AND lm.target_key IS NULL THEN coalesce(lm.reason, 'no matching location')
                   END AS location_reason$l$, orphan_policy) ELSE '' END,
            CASE WHEN e.entity = 'devices' THEN $l$
                   LEFT JOIN nz_map_devices_location AS lm ON lm.raw = r1.location_id$l$ ELSE '' END);

        -- (The filter names entity_key, not fate: the planner guesses 0.5%
        -- for "CASE ... IS NULL" and would hash the wrong side of the joins.)
        EXECUTE rows_sql || format($q$
            INSERT INTO normalize.%1$I (%2$I, account_key, source_id, source_account_ref, account_rule,
                                       account_assigned, account_issue, %3$s %4$s)
            SELECT r.entity_key, r.account_key, r.%5$I, r.account_id,
                   coalesce(r.linked_rule, 'assigned'), r.linked_key IS NULL, r.reason, %6$s %7$s
              FROM r WHERE r.entity_key IS NOT NULL AND r.account_key IS NOT NULL
            $q$,
            e.entity, e.kind || '_key', cols,
            CASE WHEN e.entity = 'devices'
                 THEN ', location_key, source_location_ref, location_rule, location_assigned, location_issue' ELSE '' END,
            e.id_column, src_cols,
            CASE WHEN e.entity = 'devices'
                 THEN $l$, r.location_key, r.location_id, coalesce(r.location_rule, CASE WHEN r.location_key IS NOT NULL THEN 'assigned' END),
                        r.location_key IS NOT NULL AND r.location_rule IS NULL, r.location_reason$l$ ELSE '' END);
        GET DIAGNOSTICS n_loaded = ROW_COUNT;

        -- The rows that did not load: a second, narrow pass over the source.
        -- (Rows that loaded with an issue, such as an assigned account, carry
        -- it in account_issue / location_issue.) Staging counted every source
        -- row under its account reference, NULL included: when all of them
        -- loaded, there is nothing to look for.
        SELECT coalesce(sum(r), 0) INTO n_source FROM unnest(account_rows) AS r;
        IF n_loaded <> n_source THEN
            EXECUTE format($q$
                WITH u AS MATERIALIZED (
                    SELECT s.%1$I AS source_id, k.entity_key, s.account_id,
                           CASE WHEN k.entity_key IS NULL THEN 'missing id' END AS fate,
                           CASE WHEN s.account_id IS NULL THEN 'missing account reference' ELSE m.reason END AS reason
                      FROM (%2$s) AS s
                     CROSS JOIN LATERAL (SELECT normalize.stable_key(%3$L, s.%1$I) AS entity_key) AS k
                      LEFT JOIN %4$I AS m ON m.raw = s.account_id
                     WHERE k.entity_key IS NULL OR (%5$L <> 'assign' AND m.target_key IS NULL)),
                ids AS (
                    INSERT INTO normalize.unlinked_rows (entity, source_id, entity_key, status)
                    SELECT %6$L, u.source_id, u.entity_key,
                           CASE WHEN u.fate IS NOT NULL THEN 'quarantined' ELSE %7$L END
                      FROM u)
                INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
                SELECT %6$L, u.source_id, NULL, u.source_id, u.fate, false FROM u WHERE u.fate IS NOT NULL
                UNION ALL
                SELECT %6$L, u.source_id, 'account', u.account_id, u.reason, false
                  FROM u WHERE u.fate IS NULL AND %5$L <> 'drop'
                $q$,
                e.id_column, normalize.source_query(e.entity), e.kind, format('nz_map_%s_account', e.entity),
                orphan_policy, e.entity, unresolved);
        END IF;
        n_loaded := n_loaded - normalize.settle_keys(e.entity);
        INSERT INTO nz_loaded VALUES (e.entity, n_loaded);
        -- Links kept with an issue, recorded once the rows are settled. A
        -- loaded row has an account issue only when it was assigned or its
        -- value's map entry links with a reason: without either, the table
        -- is not scanned for them.
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I AS m WHERE m.target_key IS NOT NULL AND m.reason IS NOT NULL)',
                       format('nz_map_%s_account', e.entity))
           INTO account_issues;
        rows_sql := concat_ws(' UNION ALL ',
            CASE WHEN account_issues OR orphan_policy = 'assign' THEN format($q$
                SELECT %1$L, t.source_id, 'account', t.source_account_ref, t.account_issue, true
                  FROM normalize.%1$I AS t WHERE t.account_issue IS NOT NULL$q$, e.entity) END,
            CASE WHEN e.entity = 'devices' THEN $q$
                SELECT 'devices', t.source_id, 'location', t.source_location_ref, t.location_issue, true
                  FROM normalize.devices AS t WHERE t.location_issue IS NOT NULL$q$ END);
        IF rows_sql <> '' THEN
            EXECUTE 'INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)' || rows_sql;
        END IF;
        RAISE DEBUG 'reconcile_ids: % in % ms', e.entity, round(extract(epoch FROM clock_timestamp() - step_started) * 1000);
    END LOOP;

    ALTER TABLE normalize.locations ADD CONSTRAINT locations_account_fk
        FOREIGN KEY (account_key) REFERENCES normalize.accounts;
    ALTER TABLE normalize.subscriptions ADD CONSTRAINT subscriptions_account_fk
        FOREIGN KEY (account_key) REFERENCES normalize.accounts;
    ALTER TABLE normalize.devices ADD CONSTRAINT devices_account_fk
        FOREIGN KEY (account_key) REFERENCES normalize.accounts,
        ADD CONSTRAINT devices_location_fk FOREIGN KEY (location_key) REFERENCES normalize.locations;
    ALTER TABLE normalize.users ADD CONSTRAINT users_account_fk
        FOREIGN KEY (account_key) REFERENCES normalize.accounts;
    ALTER TABLE normalize.campaigns ADD CONSTRAINT campaigns_account_fk
        FOREIGN KEY (account_key) REFERENCES normalize.accounts;
    RAISE DEBUG 'reconcile_ids: keys in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);

    -- The master account map: every customer's own ID, and every raw
    -- reference value a rule or the crosswalk linked (assigned orphans are
    -- not a meaning of their value).
    INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
    SELECT 'customers', a.source_id, a.account_key, 'primary', 1 FROM normalize.accounts AS a;
    FOR e IN SELECT k.entity FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS ek USING (entity)
              WHERE k.reference = 'account' ORDER BY ek.position LOOP
        EXECUTE format('INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
                        SELECT %L, m.raw, m.target_key, m.rule, m.rows FROM %I AS m WHERE m.target_key IS NOT NULL',
                       e.entity, format('nz_map_%s_account', e.entity));
    END LOOP;
    ALTER TABLE normalize.account_map ADD CONSTRAINT account_map_pkey PRIMARY KEY (entity, raw_value),
        ADD CONSTRAINT account_map_account_key_fkey FOREIGN KEY (account_key) REFERENCES normalize.accounts;

    INSERT INTO normalize.key_collisions (entity, entity_key, source_ids)
    SELECT u.entity, u.entity_key, array_agg(u.source_id ORDER BY u.source_id)
      FROM normalize.unlinked_rows AS u
     WHERE u.status = 'quarantined'
       AND EXISTS (SELECT 1 FROM normalize.quarantine AS q
                    WHERE q.entity = u.entity AND q.source_id = u.source_id AND q.reason = 'key collision')
     GROUP BY u.entity, u.entity_key;
    INSERT INTO normalize.reconciliation_rules SELECT * FROM nz_rules;
    RAISE DEBUG 'reconcile_ids: maps in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);

    -- Counted from what was written, not by rescanning the tables: loaded
    -- rows, the assigned ones among them (their issue is in the
    -- quarantine, kept), and the unlinked rows.
    RETURN QUERY
    SELECT ek.entity,
           l.rows + coalesce(u.n, 0),
           l.rows - coalesce(q.assigned, 0),
           coalesce(q.assigned, 0),
           coalesce(u.quarantined, 0),
           coalesce(u.dropped, 0),
           coalesce(u.superseded, 0),
           CASE WHEN ek.entity = 'customers' THEN 'primary' ELSE rules ->> ek.entity END
      FROM normalize.entity_kinds AS ek
      JOIN nz_loaded AS l ON l.entity = ek.entity
      LEFT JOIN (SELECT x.entity, count(*) AS n,
                        count(*) FILTER (WHERE x.status = 'quarantined') AS quarantined,
                        count(*) FILTER (WHERE x.status = 'dropped') AS dropped,
                        count(*) FILTER (WHERE x.status = 'superseded') AS superseded
                   FROM normalize.unlinked_rows AS x GROUP BY x.entity) AS u ON u.entity = ek.entity
      LEFT JOIN (SELECT y.entity, count(*) AS assigned FROM normalize.quarantine AS y
                  WHERE y.kept AND y.reference = 'account' GROUP BY y.entity) AS q ON q.entity = ek.entity
     ORDER BY ek.position;
END
$$;
COMMENT ON FUNCTION @extschema@.reconcile_ids(text, float8) IS
    'Links every source row to its account with the best discovered rule (crosswalk first), and rebuilds the normalized tables, the account map and the id map; orphans are quarantined, assigned or dropped';

-- The views the feature views read, and the id map, as they were.
DO $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT x.* FROM jsonb_to_recordset(pg_catalog.current_setting('normalize_upgrade.views')::jsonb)
                             AS x(position integer, name text, definition text, description text)
              WHERE x.name IN ('id_map', 'customer_feature_base', 'device_feature_base', 'user_feature_base')
              ORDER BY x.position DESC LOOP
        EXECUTE format('CREATE VIEW @extschema@.%I AS %s', v.name, v.definition);
        EXECUTE format('COMMENT ON VIEW @extschema@.%I IS %L', v.name, v.description);
    END LOOP;
END
$$;

-- Phase 4: the feature views, generated from the catalog by
-- feature_view_sql. (Kept in a file of its own: the upgrade from 0.1.0
-- replays it to regenerate the views.)

-- The SELECT of an entity's feature view, from its catalog rows.
CREATE OR REPLACE FUNCTION @extschema@.feature_view_sql(entity text)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text;
    key text;
    cadence integer;
    smallest integer;
    running text;
    features text;
    packed text[];
    r record;
    shifts text;
    aligned text;
BEGIN
    CASE entity
        WHEN 'customer' THEN base := 'customer_feature_base'; key := 'account_key'; cadence := 1; smallest := 3;
        WHEN 'device' THEN base := 'device_feature_base'; key := 'device_key'; cadence := 7; smallest := 7;
        WHEN 'user' THEN base := 'user_feature_base'; key := 'user_key'; cadence := 1; smallest := 4;
        ELSE RAISE EXCEPTION 'entity must be customer, device or user, got "%"', entity
                 USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    SELECT string_agg(format('count(%1$I) OVER c AS %2$I, sum(%1$I) OVER c AS %3$I, sum(%1$I * %1$I) OVER c AS %4$I, '
                             'sum(t * %1$I) OVER c AS %5$I, min(%1$I) OVER s AS %6$I, max(%1$I) OVER s AS %7$I',
                             m, '_n_' || m, '_s1_' || m, '_s2_' || m, '_sx_' || m, '_bmin_' || m, '_bmax_' || m),
                      ', ' ORDER BY m)
      INTO running
      FROM (SELECT DISTINCT c.source_metric AS m FROM normalize.feature_catalog AS c
             WHERE c.entity = feature_view_sql.entity AND c.aggregation <> 'last') AS metrics;
    SELECT string_agg(format('(%s)::%s AS %I',
                             normalize.feature_expression(c.source_metric, c.aggregation, c.window_size, cadence, smallest),
                             c.data_type, c.feature), ', ' ORDER BY c.position)
      INTO features
      FROM normalize.feature_catalog AS c WHERE c.entity = feature_view_sql.entity;
    -- Every value a feature reads some periods back is packed, once per
    -- row, into one array, and each distinct shift lags that array: a few
    -- window calls per row instead of one per (value, shift).
    SELECT array_agg(DISTINCT x[1] ORDER BY x[1]) INTO packed
      FROM (SELECT regexp_matches(features, 'lag\(([a-z0-9_]+), [0-9]+\) OVER w', 'g') AS x
            UNION ALL
            SELECT regexp_matches(features, '([a-z0-9_]+)__lag[0-9]+', 'g')) AS refs;
    FOR r IN SELECT DISTINCT x[1] AS col, x[2]::integer AS k
               FROM regexp_matches(features, 'lag\(([a-z0-9_]+), ([0-9]+)\) OVER w', 'g') AS x LOOP
        features := replace(features, format('lag(%s, %s) OVER w', r.col, r.k),
                            format('(__a%s)[%s]', r.k, array_position(packed, r.col)));
    END LOOP;
    FOR r IN SELECT DISTINCT x[1] AS col, x[2]::integer AS k
               FROM regexp_matches(features, '([a-z0-9_]+)__lag([0-9]+)', 'g') AS x LOOP
        features := regexp_replace(features, '\m' || r.col || '__lag' || r.k || '\M',
                                   format('(__lag%s)[%s]', r.k, array_position(packed, r.col)), 'g');
    END LOOP;
    SELECT string_agg(format('lag(__arr, %1$s) OVER o AS __lag%1$s', k), ', ' ORDER BY k) INTO shifts
      FROM (SELECT DISTINCT x[1]::integer AS k FROM regexp_matches(features, '\(__lag([0-9]+)\)', 'g') AS x) AS s;
    SELECT string_agg(format('lag(__arr, %1$s) OVER w AS __a%1$s', k), ', ' ORDER BY k) INTO aligned
      FROM (SELECT DISTINCT x[1]::integer AS k FROM regexp_matches(features, '\(__a([0-9]+)\)', 'g') AS x) AS s;
    RETURN format($q$
SELECT %1$I, as_of, %2$s
  FROM (SELECT l3.* %9$s
          FROM (SELECT l2.* %3$s
                  FROM (SELECT l1.*, %10$s AS __arr
                          FROM (SELECT b.*, %4$s
                                  FROM %5$I.%6$I AS b
                                WINDOW o AS (PARTITION BY b.%1$I ORDER BY b.t),
                                       c AS (o ROWS UNBOUNDED PRECEDING), s AS (o ROWS %7$s PRECEDING)) AS l1) AS l2
                WINDOW o AS (PARTITION BY l2.%1$I ORDER BY l2.t)) AS l3
         WHERE %8$s
        WINDOW w AS (PARTITION BY %1$I ORDER BY t)) AS l4
 WHERE is_cutoff$q$,
        key, features, coalesce(', ' || shifts, ''), running, 'normalize', base, smallest - 1,
        CASE WHEN cadence > 1 THEN 'is_cutoff' ELSE 'true' END, coalesce(', ' || aligned, ''),
        coalesce('ARRAY[' || (SELECT string_agg(format('%I::float8', p), ', ' ORDER BY i)
                                FROM unnest(packed) WITH ORDINALITY AS u(p, i)) || ']', 'NULL::float8[]'));
END
$$;
COMMENT ON FUNCTION @extschema@.feature_view_sql(text) IS
    'Internal: the SQL of customer_features, device_features or user_features, generated from the feature catalog';

-- The feature views: generated here, once, from the catalog.
DO $$
BEGIN
    EXECUTE 'CREATE VIEW @extschema@.customer_features AS ' || @extschema@.feature_view_sql('customer');
    EXECUTE 'CREATE VIEW @extschema@.device_features AS ' || @extschema@.feature_view_sql('device');
    EXECUTE 'CREATE VIEW @extschema@.user_features AS ' || @extschema@.feature_view_sql('user');
END
$$;
COMMENT ON VIEW @extschema@.customer_features IS
    'Point-in-time customer features, one row per account and month-end cutoff (the last at the history''s as_of); see feature_catalog';
COMMENT ON VIEW @extschema@.device_features IS
    'Point-in-time device features, one row per device and cutoff (every 7 days back from the history''s as_of); see feature_catalog';
COMMENT ON VIEW @extschema@.user_features IS
    'Point-in-time user features, one row per user and month-end cutoff; see feature_catalog';
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
    FOR e IN SELECT * FROM (VALUES ('customer', 'account_key', 'account'), ('device', 'device_key', 'device'),
                                   ('user', 'user_key', 'user')) AS v(entity, key, noun) LOOP
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

-- The training-set views, as they were, over the regenerated feature views.
DO $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT x.* FROM jsonb_to_recordset(pg_catalog.current_setting('normalize_upgrade.views')::jsonb)
                             AS x(position integer, name text, definition text, description text)
              WHERE x.name IN ('churn_training_set', 'clv_training_set', 'device_health_training_set')
              ORDER BY x.position DESC LOOP
        EXECUTE format('CREATE VIEW @extschema@.%I AS %s', v.name, v.definition);
        EXECUTE format('COMMENT ON VIEW @extschema@.%I IS %L', v.name, v.description);
    END LOOP;
END
$$;

-- Phase 6 of the plan: data quality. quality_checks() measures the
-- normalized tables, the history, the feature stores and the training sets
-- against thresholds kept as data; ml_readiness_report() sums them up as the
-- plan's five success metrics, before (the sources) and after.

CREATE TABLE @extschema@.quality_thresholds (
    check_name  text PRIMARY KEY,
    category    text NOT NULL CHECK (category IN ('completeness', 'type consistency', 'distributions', 'temporal',
                                                  'labels', 'leakage', 'feature coverage')),
    -- How the observed value must relate to the threshold to pass: at least
    -- (>=), at most (<=), or, for rates with a band, a confidence interval
    -- at level `threshold` that overlaps the band (in band).
    comparison  text NOT NULL CHECK (comparison IN ('>=', '<=', 'in band')),
    threshold   float8 NOT NULL,
    -- A breach fails the check, or only warns.
    severity    text NOT NULL DEFAULT 'fail' CHECK (severity IN ('fail', 'warn')),
    description text NOT NULL,
    shipped     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.quality_thresholds IS
    'The thresholds of normalize.quality_checks(), one row per check; edit them to tighten or relax a check (pg_dump keeps edited rows)';
COMMENT ON COLUMN @extschema@.quality_thresholds.threshold IS
    'For share checks, the share of rows that must pass (a "mostly" share); for counts, the most allowed; for p-values, the least; for band checks, the confidence level';
INSERT INTO @extschema@.quality_thresholds (check_name, category, comparison, threshold, severity, description, shipped) VALUES
    ('critical features present', 'completeness', '>=', 1, 'fail',
     'Share of feature-store rows with every required (critical) feature of the catalog present', true),
    ('relationships linked', 'completeness', '>=', 1, 'fail',
     'Share of rows whose foreign key finds its parent (validate_relationships)', true),
    ('key columns of one type', 'type consistency', '<=', 1, 'fail',
     'Distinct types (with collation) among the key columns of the extension''s tables', true),
    ('keys carry their kind', 'type consistency', '>=', 1, 'fail',
     'Share of key values that start with their entity''s kind, such as ''account:''', true),
    ('feature types match the catalog', 'type consistency', '<=', 0, 'fail',
     'Feature-store columns whose type differs from the catalog''s data_type', true),
    ('fits its profile', 'distributions', '>=', 0.001, 'fail',
     'Kolmogorov-Smirnov p-value of a generated or repaired column against its profile', true),
    ('mrr within its tier''s range', 'distributions', '>=', 0.99, 'fail',
     'Share of accounts whose MRR lies within the range of its tier''s profile', true),
    ('scores within 0-100', 'distributions', '>=', 1, 'fail',
     'Share of scores (health, uptime, engagement) between 0 and 100', true),
    ('no snapshots after churn', 'temporal', '<=', 0, 'fail',
     'Account snapshots dated after the account''s churn month', true),
    ('no events after churn', 'temporal', '<=', 0, 'fail',
     'Lifecycle events of an account dated after its churn', true),
    ('no gaps', 'temporal', '<=', 0, 'fail',
     'Entities whose history misses a period between its first and last', true),
    ('history covers the months', 'temporal', '>=', 1, 'fail',
     'Share of accounts older than the window with a snapshot in every month of it, or up to their churn', true),
    ('positive rate per split', 'labels', '>=', 0.01, 'fail',
     'Share of positive labels in each split of a classification set', true),
    ('positive rate per tier', 'labels', '>=', 0.001, 'warn',
     'Share of churn-90d positives among each tier''s samples', true),
    ('annual churn within the band', 'labels', 'in band', 0.99, 'fail',
     'Simulated annual churn of each tier: the Wilson interval at this level must overlap the plan''s band', true),
    ('labels censored', 'labels', '<=', 0, 'fail',
     'Samples whose label window runs past the history, or that start after the entity churned', true),
    ('point-in-time values', 'leakage', '<=', 0, 'fail',
     'Feature-store rows whose last-value features differ from what was known at their cutoff', true),
    ('no features after the history', 'leakage', '<=', 0, 'fail',
     'Feature-store rows dated after the history''s as_of', true),
    ('features per entity', 'feature coverage', '>=', 150, 'fail',
     'Features of the catalog present in the entity''s feature store', true);
CREATE TRIGGER quality_thresholds_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.quality_thresholds
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('check_name');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.quality_thresholds', 'WHERE NOT shipped');

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
    p := k::float8 / n;
    centre := (p + z * z / (2 * n)) / (1 + z * z / n);
    half := z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / (1 + z * z / n);
    low := greatest(0, centre - half);
    high := least(1, centre + half);
END
$$;
COMMENT ON FUNCTION @extschema@.wilson_interval(bigint, bigint, float8) IS
    'The Wilson score interval of a proportion: k successes in n trials, at a confidence level such as 0.99';

-- Simulated annual churn per tier over the last twelve months of the
-- history: the accounts active at its start, by their tier then, how many
-- churned since, the Wilson interval at `confidence`, and the plan's band.
CREATE OR REPLACE FUNCTION @extschema@.annual_churn_by_tier(confidence float8)
RETURNS TABLE (tier text, accounts bigint, churned bigint, rate float8, low float8, high float8,
               band_low float8, band_high float8)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- Checked here, not only by wilson_interval: with no history there are
    -- no rows to call it on.
    PERFORM normalize.require_between('confidence', confidence, 0, 1);
    RETURN QUERY
    SELECT b.tier, b.n, b.k, b.k::float8 / nullif(b.n, 0), w.low, w.high, b.lower, b.upper
      FROM (SELECT s.tier, p.lower, p.upper, count(*) AS n,
                   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM normalize.account_snapshots AS x
                                                   WHERE x.account_key = s.account_key AND x.status = 'churned'
                                                     AND x.month > s.month)) AS k
              FROM normalize.account_snapshots AS s
              JOIN normalize.history_info AS h
                ON s.month = (date_trunc('month', h.as_of) - interval '12 months')::date
              JOIN normalize.distribution_profiles AS p
                ON p.name = 'churn_annual_' || lower(replace(s.tier, ' ', '_'))
             WHERE s.status = 'active'
             GROUP BY s.tier, p.lower, p.upper) AS b
     CROSS JOIN LATERAL normalize.wilson_interval(b.k, b.n, confidence) AS w
     ORDER BY b.tier;
END
$$;
COMMENT ON FUNCTION @extschema@.annual_churn_by_tier(float8) IS
    'Simulated annual churn of each tier over the last twelve months of the history, with its Wilson interval at a confidence level and the plan''s band';

-- The values repair_values generates or keeps, each with the profile it is
-- drawn from and a label naming the column and group: MRR by tier, device
-- health by status, uptime, engagement by role. From the normalized tables,
-- or as the registered sources hold them (the "before"). Only groups whose
-- profile exists are returned.
CREATE OR REPLACE FUNCTION @extschema@.profile_values(origin text)
RETURNS TABLE (label text, profile text, value float8)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    accounts text := 'normalize.accounts';
    devices text := 'normalize.devices';
    users text := 'normalize.users';
BEGIN
    IF origin = 'sources' THEN
        PERFORM normalize.require_sources();
        accounts := format('(%s)', normalize.source_query('customers'));
        devices := format('(%s)', normalize.source_query('devices'));
        users := format('(%s)', normalize.source_query('users'));
    ELSIF origin <> 'normalized' THEN
        RAISE EXCEPTION 'origin must be normalized or sources, got "%"', origin
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'normalized reads the repaired tables, sources the registered raw ones.';
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT v.label, v.profile, v.x
          FROM (SELECT 'accounts.mrr, ' || a.tier AS label, 'mrr_' || lower(replace(a.tier, ' ', '_')) AS profile,
                       a.mrr::float8 AS x
                  FROM %1$s AS a
                UNION ALL
                SELECT 'devices.health_score, ' || d.status, 'health_' || d.status, d.health_score::float8 FROM %2$s AS d
                UNION ALL
                SELECT 'devices.uptime', 'device_uptime', d.uptime::float8 FROM %2$s AS d
                UNION ALL
                SELECT 'users.engagement_score, ' || u.role, 'engagement_' || u.role, u.engagement_score::float8
                  FROM %3$s AS u) AS v
         WHERE v.x IS NOT NULL
           AND EXISTS (SELECT 1 FROM normalize.distribution_profiles AS p WHERE p.name = v.profile)
        $q$, accounts, devices, users);
END
$$;
COMMENT ON FUNCTION @extschema@.profile_values(text) IS
    'The repaired values (origin normalized) or the raw ones (origin sources), each with the profile it should follow: MRR by tier, health by status, uptime, engagement by role';

-- Counts the rows of from_sql (a relation or a parenthesized query with an
-- alias) and those for which `failing` holds, with the first five distinct
-- failing keys: the shape every row-level check reports.
CREATE OR REPLACE FUNCTION @extschema@.quality_count(from_sql text, key_sql text, failing text,
                                          OUT total bigint, OUT failing_rows bigint, OUT sample_keys text[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- One pass: the rows can be a join over views that is costly to run.
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE q.f),
                           coalesce((array_agg(DISTINCT q.k ORDER BY q.k) FILTER (WHERE q.f))[1:5], ARRAY[]::text[])
                      FROM (SELECT (%2$s)::text AS k, coalesce(%3$s, false) AS f FROM %1$s) AS q',
                   from_sql, key_sql, failing)
       INTO total, failing_rows, sample_keys;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_count(text, text, text) IS
    'Internal: rows, failing rows and a sample of failing keys of one row-level quality check';

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
DECLARE
    h record;
    e record;
    r record;
    q record;
    cond text;
    have_features boolean;
    have_training boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.accounts) THEN
        RAISE EXCEPTION 'there is nothing to check: the normalized tables are empty'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.reconcile_ids() first, or CALL normalize.run_pipeline().';
    END IF;
    SELECT * INTO h FROM normalize.history_info;
    have_features := EXISTS (SELECT 1 FROM normalize.customer_feature_store);
    have_training := EXISTS (SELECT 1 FROM normalize.training_info);

    PERFORM normalize.drop_temp_table('nz_checks');
    -- ok: the verdict where the check decides it itself (band checks, and
    -- missing inputs); otherwise observed is compared with the threshold.
    -- undecided: too little data to say, reported as a warning.
    CREATE TEMP TABLE nz_checks (
        id bigserial, check_name text, entity text, observed float8, failing_rows bigint, sample_keys text[],
        detail text, ok boolean, undecided boolean NOT NULL DEFAULT false) ON COMMIT DROP;

    -- Completeness ---------------------------------------------------------
    FOR e IN SELECT x.entity, x.key FROM (VALUES ('customer', 'account_key'), ('device', 'device_key'),
                                                 ('user', 'user_key')) AS x(entity, key) LOOP
        IF NOT have_features THEN
            INSERT INTO nz_checks (check_name, entity, detail, ok)
            VALUES ('critical features present', e.entity || ' features',
                    'no features yet: run normalize.refresh_features()', false);
            CONTINUE;
        END IF;
        SELECT string_agg(format('%I IS NULL', c.feature), ' OR ') INTO cond
          FROM normalize.feature_catalog AS c WHERE c.entity = e.entity AND c.required;
        SELECT * INTO q FROM normalize.quality_count(format('normalize.%I', e.entity || '_feature_store'),
                                                     format('%I || '' @ '' || as_of', e.key), coalesce(cond, 'false'));
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
        VALUES ('critical features present', e.entity || ' features',
                CASE WHEN q.total > 0 THEN 1 - q.failing_rows::float8 / q.total END, q.failing_rows, q.sample_keys,
                format('%s rows; %s required features', q.total,
                       (SELECT count(*) FROM normalize.feature_catalog AS c WHERE c.entity = e.entity AND c.required)));
    END LOOP;
    INSERT INTO nz_checks (check_name, entity, observed, failing_rows, detail)
    SELECT 'relationships linked', v.check_name, CASE WHEN v.total > 0 THEN v.linked::float8 / v.total ELSE 1 END,
           v.orphaned, format('%s of %s rows linked', v.linked, v.total)
      FROM normalize.validate_relationships() AS v WHERE v.status IN ('pass', 'fail');

    -- Type consistency -----------------------------------------------------
    INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
    WITH k AS (
        SELECT c.relname || '.' || a.attname AS col,
               format_type(a.atttypid, a.atttypmod) || coalesce(' COLLATE "' || co.collname || '"', '') AS type_name
          FROM pg_attribute AS a
          JOIN pg_class AS c ON c.oid = a.attrelid
          LEFT JOIN pg_collation AS co ON co.oid = a.attcollation
         WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind = 'r'
           AND a.attnum > 0 AND NOT a.attisdropped AND a.attname ~ '_key$'),
    t AS (SELECT k.type_name, count(*) AS n FROM k GROUP BY k.type_name),
    main AS (SELECT t.type_name FROM t ORDER BY t.n DESC, t.type_name LIMIT 1)
    SELECT 'key columns of one type', 'all tables', (SELECT count(*) FROM t),
           (SELECT count(*) FROM k WHERE k.type_name <> (SELECT type_name FROM main)),
           ARRAY(SELECT k.col FROM k WHERE k.type_name <> (SELECT type_name FROM main) ORDER BY 1 LIMIT 5),
           (SELECT string_agg(t.type_name || ' (' || t.n || ' columns)', '; ' ORDER BY t.n DESC) FROM t);
    FOR e IN SELECT k.entity, k.kind, CASE k.entity WHEN 'customers' THEN 'accounts' ELSE k.entity END AS tbl
               FROM normalize.entity_kinds AS k ORDER BY k.position LOOP
        SELECT * INTO q FROM normalize.quality_count(format('normalize.%I', e.tbl), format('%I', e.kind || '_key'),
                                                     format('left(%I, %s) <> %L', e.kind || '_key',
                                                            length(e.kind) + 1, e.kind || ':'));
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
        VALUES ('keys carry their kind', e.tbl, CASE WHEN q.total > 0 THEN 1 - q.failing_rows::float8 / q.total ELSE 1 END,
                q.failing_rows, q.sample_keys, format('%s keys, each to start with %L', q.total, e.kind || ':'));
    END LOOP;
    INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
    SELECT 'feature types match the catalog', m.entity || ' features', count(*) FILTER (WHERE m.mismatch),
           count(*) FILTER (WHERE m.mismatch), (array_agg(m.feature ORDER BY m.position) FILTER (WHERE m.mismatch))[1:5],
           count(*) || ' features in the catalog'
      FROM (SELECT c.entity, c.feature::text AS feature, c.position,
                   a.attname IS NULL OR format_type(a.atttypid, a.atttypmod)
                                        <> CASE c.data_type WHEN 'float8' THEN 'double precision' ELSE 'text' END AS mismatch
              FROM normalize.feature_catalog AS c
              LEFT JOIN pg_attribute AS a
                ON a.attrelid = format('normalize.%I', c.entity || '_feature_store')::regclass
               AND a.attname = c.feature AND a.attnum > 0 AND NOT a.attisdropped) AS m
     GROUP BY m.entity;

    -- Distributions: what repair_values generated or kept, against the
    -- profiles it draws from.
    INSERT INTO nz_checks (check_name, entity, observed, detail, undecided)
    SELECT 'fits its profile', d.label, (d.ks).p_value,
           format('%s values against %s: D = %s', (d.ks).n, d.profile, round((d.ks).statistic::numeric, 4)),
           (d.ks).n < 5
      FROM (SELECT v.label, v.profile, normalize.ks_test(v.value, v.profile) AS ks
              FROM normalize.profile_values('normalized') AS v
             GROUP BY v.label, v.profile) AS d
     ORDER BY d.label;
    SELECT * INTO q FROM normalize.quality_count(
        '(SELECT a.account_key, a.mrr, p.lower, p.upper FROM normalize.accounts AS a
            JOIN normalize.distribution_profiles AS p ON p.name = ''mrr_'' || lower(replace(a.tier, '' '', ''_''))) AS x',
        'account_key', 'NOT (x.mrr >= coalesce(x.lower, ''-infinity'') AND x.mrr <= coalesce(x.upper, ''infinity''))');
    INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
    VALUES ('mrr within its tier''s range', 'accounts', CASE WHEN q.total > 0 THEN 1 - q.failing_rows::float8 / q.total END,
            q.failing_rows, q.sample_keys, format('%s accounts with a tier profile', q.total));
    FOR r IN SELECT * FROM (VALUES ('devices', 'health_score', 'device_key'), ('devices', 'uptime', 'device_key'),
                                   ('users', 'engagement_score', 'user_key'), ('device_days', 'health', 'device_key'),
                                   ('user_weeks', 'engagement', 'user_key')) AS x(tbl, col, key) LOOP
        SELECT * INTO q FROM normalize.quality_count(format('normalize.%I', r.tbl), format('%I', r.key),
                                                     format('NOT (%1$I >= 0 AND %1$I <= 100)', r.col));
        IF q.total > 0 THEN
            INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
            VALUES ('scores within 0-100', r.tbl || '.' || r.col, 1 - q.failing_rows::float8 / q.total,
                    q.failing_rows, q.sample_keys, format('%s values', q.total));
        END IF;
    END LOOP;

    -- Temporal consistency -------------------------------------------------
    IF h IS NULL THEN
        INSERT INTO nz_checks (check_name, entity, detail, ok)
        SELECT x.c, 'history', 'no history yet: run normalize.build_history()', false
          FROM unnest(ARRAY['no snapshots after churn', 'no events after churn', 'no gaps', 'history covers the months']) AS x(c);
    ELSE
        SELECT * INTO q FROM normalize.quality_count(
            '(SELECT s.account_key FROM normalize.account_snapshots AS s
                JOIN (SELECT c.account_key, min(c.month) AS churned FROM normalize.account_snapshots AS c
                       WHERE c.status = ''churned'' GROUP BY c.account_key) AS c
                  ON c.account_key = s.account_key AND s.month > c.churned) AS x', 'account_key', 'true');
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
        VALUES ('no snapshots after churn', 'account_snapshots', q.failing_rows, q.failing_rows, q.sample_keys,
                'snapshots dated after their account''s churn month');
        SELECT * INTO q FROM normalize.quality_count(
            '(SELECT v.entity_key FROM normalize.lifecycle_events AS v
                JOIN (SELECT c.entity_key, min(c.event_date) AS churned FROM normalize.lifecycle_events AS c
                       WHERE c.entity = ''account'' AND c.event = ''churn'' GROUP BY c.entity_key) AS c
                  ON c.entity_key = v.entity_key AND v.entity = ''account'' AND v.event_date > c.churned) AS x',
            'entity_key', 'true');
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
        VALUES ('no events after churn', 'lifecycle_events', q.failing_rows, q.failing_rows, q.sample_keys,
                'account events dated after the account''s churn');
        FOR r IN SELECT * FROM (VALUES
                    ('account_snapshots', 'account_key',
                     '(extract(year FROM age(max(month), min(month))) * 12 + extract(month FROM age(max(month), min(month))) + 1)'),
                    ('device_days', 'device_key', '(max(day) - min(day) + 1)'),
                    ('user_weeks', 'user_key', '((max(week) - min(week)) / 7 + 1)')) AS x(tbl, key, span) LOOP
            SELECT * INTO q FROM normalize.quality_count(
                format('(SELECT %1$I AS k, count(*) = %3$s AS complete FROM normalize.%2$I GROUP BY %1$I) AS x',
                       r.key, r.tbl, r.span), 'k', 'NOT x.complete');
            INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
            VALUES ('no gaps', r.tbl, q.failing_rows, q.failing_rows, q.sample_keys,
                    format('%s entities with history', q.total));
        END LOOP;
        SELECT * INTO q FROM normalize.quality_count(format(
            '(SELECT a.account_key,
                     count(s.month) AS months,
                     bool_or(s.status = ''churned'') AS churned,
                     min(s.month) AS first_month
                FROM normalize.accounts AS a
                LEFT JOIN normalize.account_snapshots AS s USING (account_key)
               WHERE a.created_at IS NULL OR a.created_at < %L
               GROUP BY a.account_key) AS x', h.window_start),
            'account_key', format('NOT (x.first_month = %L AND (x.months = %s OR x.churned))', h.window_start, h.months));
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
        VALUES ('history covers the months', 'account_snapshots',
                CASE WHEN q.total > 0 THEN 1 - q.failing_rows::float8 / q.total ELSE 1 END, q.failing_rows, q.sample_keys,
                format('%s accounts older than the window %s to %s (%s months)', q.total, h.window_start, h.as_of, h.months));
    END IF;

    -- Labels ---------------------------------------------------------------
    IF NOT have_training THEN
        INSERT INTO nz_checks (check_name, entity, detail, ok)
        SELECT x.c, 'training sets', 'no training sets yet: run normalize.build_training_sets()', false
          FROM unnest(ARRAY['positive rate per split', 'labels censored']) AS x(c);
    ELSE
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, detail)
        SELECT 'positive rate per split', x.set_name || ', ' || x.split, x.positives::float8 / x.n,
               NULL::bigint, format('%s positives of %s samples (%s)', x.positives, x.n, x.label)
          FROM (SELECT 'churn' AS set_name, 'churned_90d' AS label, c.split, count(*) AS n,
                       count(*) FILTER (WHERE c.churned_90d) AS positives
                  FROM normalize.churn_samples AS c GROUP BY c.split
                UNION ALL
                SELECT 'device health', 'failed_30d', d.split, count(*), count(*) FILTER (WHERE d.failed_30d)
                  FROM normalize.device_health_samples AS d GROUP BY d.split) AS x
         ORDER BY x.set_name, array_position(ARRAY['train', 'validation', 'test'], x.split);
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, detail)
        SELECT 'positive rate per tier', 'churn, ' || s.tier,
               (count(*) FILTER (WHERE c.churned_90d))::float8 / count(*), NULL::bigint,
               format('%s positives of %s samples (churned_90d, tier at the cutoff)',
                      count(*) FILTER (WHERE c.churned_90d), count(*))
          FROM normalize.churn_samples AS c
          JOIN normalize.account_snapshots AS s
            ON s.account_key = c.account_key AND s.month = date_trunc('month', c.as_of)::date
         GROUP BY s.tier ORDER BY s.tier;
        SELECT * INTO q FROM normalize.quality_count(format(
            '(SELECT c.account_key || '' @ '' || c.as_of AS k,
                     c.as_of + 90 > %1$L OR EXISTS (SELECT 1 FROM normalize.account_snapshots AS s
                                                    WHERE s.account_key = c.account_key AND s.status = ''churned''
                                                      AND s.month <= c.as_of) AS bad
                FROM normalize.churn_samples AS c
              UNION ALL
              SELECT c.account_key || '' @ '' || c.as_of,
                     (date_trunc(''month'', c.as_of) + interval ''13 months'' - interval ''1 day'')::date > %1$L
                FROM normalize.clv_samples AS c
              UNION ALL
              SELECT d.device_key || '' @ '' || d.as_of, d.as_of + 30 > %1$L
                FROM normalize.device_health_samples AS d) AS x', h.as_of), 'k', 'x.bad');
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
        VALUES ('labels censored', 'training sets', q.failing_rows, q.failing_rows, q.sample_keys,
                format('%s samples of the churn, CLV and device health sets', q.total));
    END IF;
    IF h IS NOT NULL THEN
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, detail, ok, undecided)
        SELECT 'annual churn within the band', b.tier, b.rate, NULL::bigint,
               format('%s of %s accounts churned within 12 months; %s%% interval [%s, %s]; band [%s, %s]',
                      b.churned, b.accounts, round(100 * t.threshold::numeric, 1), round(b.low::numeric, 3),
                      round(b.high::numeric, 3), b.band_low, b.band_high),
               CASE WHEN b.accounts > 0 THEN b.low <= b.band_high AND b.high >= b.band_low END,
               b.accounts = 0
          FROM (SELECT x.threshold FROM normalize.quality_thresholds AS x
                 WHERE x.check_name = 'annual churn within the band') AS t
         CROSS JOIN LATERAL normalize.annual_churn_by_tier(t.threshold) AS b
         ORDER BY b.tier;
    END IF;

    -- Leakage --------------------------------------------------------------
    IF NOT have_features THEN
        INSERT INTO nz_checks (check_name, entity, detail, ok)
        VALUES ('point-in-time values', 'feature stores', 'no features yet: run normalize.refresh_features()', false);
    ELSE
        FOR e IN SELECT x.entity, x.key FROM (VALUES ('customer', 'account_key'), ('device', 'device_key'),
                                                     ('user', 'user_key')) AS x(entity, key) LOOP
            SELECT string_agg(format('s.%I IS DISTINCT FROM b.%I', c.feature, c.source_metric), ' OR ' ORDER BY c.position)
              INTO cond
              FROM normalize.feature_catalog AS c WHERE c.entity = e.entity AND c.aggregation = 'last';
            SELECT * INTO q FROM normalize.quality_count(format(
                '(SELECT s.%1$I || '' @ '' || s.as_of AS k, b.%1$I IS NULL OR %2$s AS bad
                    FROM normalize.%3$I AS s
                    LEFT JOIN normalize.%4$I AS b ON b.%1$I = s.%1$I AND b.as_of = s.as_of AND b.is_cutoff) AS x',
                e.key, coalesce(cond, 'false'), e.entity || '_feature_store', e.entity || '_feature_base'), 'k', 'x.bad');
            INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
            VALUES ('point-in-time values', e.entity || ' features', q.failing_rows, q.failing_rows, q.sample_keys,
                    format('%s rows; their last values against what was known at each cutoff', q.total));
        END LOOP;
        IF h IS NOT NULL THEN
            INSERT INTO nz_checks (check_name, entity, observed, failing_rows, detail)
            SELECT 'no features after the history', x.entity || ' features', x.n, x.n,
                   format('rows dated after %s', h.as_of)
              FROM (SELECT 'customer' AS entity, count(*) FILTER (WHERE f.as_of > h.as_of) AS n
                      FROM normalize.customer_feature_store AS f
                    UNION ALL
                    SELECT 'device', count(*) FILTER (WHERE f.as_of > h.as_of) FROM normalize.device_feature_store AS f
                    UNION ALL
                    SELECT 'user', count(*) FILTER (WHERE f.as_of > h.as_of) FROM normalize.user_feature_store AS f) AS x;
        END IF;
    END IF;

    -- Feature coverage -----------------------------------------------------
    INSERT INTO nz_checks (check_name, entity, observed, detail)
    SELECT 'features per entity', c.entity || ' features', count(a.attname),
           count(*) || ' in the catalog, ' || count(a.attname) || ' in the feature store'
      FROM normalize.feature_catalog AS c
      LEFT JOIN pg_attribute AS a
        ON a.attrelid = format('normalize.%I', c.entity || '_feature_store')::regclass
       AND a.attname = c.feature AND a.attnum > 0 AND NOT a.attisdropped
     GROUP BY c.entity ORDER BY c.entity;

    RETURN QUERY
    SELECT t.category, c.entity, c.check_name, c.observed, t.threshold,
           CASE WHEN c.undecided THEN 'warn'
                WHEN coalesce(c.ok, CASE t.comparison WHEN '>=' THEN c.observed >= t.threshold
                                                      WHEN '<=' THEN c.observed <= t.threshold END, false)
                THEN 'pass'
                ELSE t.severity END,
           c.failing_rows, c.sample_keys, c.detail
      FROM nz_checks AS c
      JOIN normalize.quality_thresholds AS t ON t.check_name = c.check_name
     ORDER BY array_position(ARRAY['completeness', 'type consistency', 'distributions', 'temporal', 'labels',
                                   'leakage', 'feature coverage'], t.category), c.id;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_checks() IS
    'One row per data-quality check (completeness, type consistency, distributions, temporal consistency, labels, leakage, feature coverage): observed value, threshold from normalize.quality_thresholds, pass / warn / fail, failing rows and a sample of their keys';

-- The plan's five success metrics, before (the registered sources, as
-- assess_sources sees them) and after (the checks above).
CREATE OR REPLACE FUNCTION @extschema@.ml_readiness_report()
RETURNS TABLE (metric text, target text, before numeric, after numeric, unit text, passed boolean, detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    h record;
    n_before numeric;
    v_before numeric;
    m_before numeric;
    f_before numeric;
    missing numeric;
    cells numeric;
    all_null numeric;
    e record;
    cond text;
    n_required bigint;
    set_missing bigint;
    set_cells bigint;
BEGIN
    PERFORM normalize.require_sources();
    SELECT * INTO h FROM normalize.history_info;
    PERFORM normalize.drop_temp_table('nz_report_checks');
    CREATE TEMP TABLE nz_report_checks ON COMMIT DROP AS SELECT * FROM normalize.quality_checks();

    -- Before: the sources as they stand.
    PERFORM normalize.drop_temp_table('nz_assessment');
    CREATE TEMP TABLE nz_assessment ON COMMIT DROP AS SELECT * FROM normalize.assess_sources();
    SELECT sum(j.value * r.value) / nullif(sum(r.value), 0) INTO n_before
      FROM nz_assessment AS j
      JOIN nz_assessment AS r ON r.entity = j.entity AND r.metric = 'rows'
     WHERE j.metric = 'account references joining as they stand';
    SELECT count(DISTINCT date_trunc('month', d))::numeric INTO m_before
      FROM (SELECT x.v AS d FROM nz_assessment AS a,
                   LATERAL (SELECT unnest(regexp_matches(a.detail, '(\d{4}-\d{2}-\d{2})', 'g'))::date AS v) AS x
             WHERE a.metric = 'distinct snapshot dates') AS s;
    SELECT min(n)::numeric INTO f_before
      FROM (SELECT s.entity, count(*) AS n FROM normalize.sources AS s, jsonb_object_keys(s.columns) AS k
             WHERE s.entity IN ('customers', 'devices', 'users') GROUP BY s.entity) AS c;
    -- Value realism before: the same profile checks, on the raw values.
    SELECT round(100.0 * count(*) FILTER (WHERE k.p >= t.threshold) / nullif(count(*), 0), 1) INTO v_before
      FROM (SELECT (normalize.ks_test(v.value, v.profile)).p_value AS p
              FROM normalize.profile_values('sources') AS v GROUP BY v.label, v.profile) AS k,
           normalize.quality_thresholds AS t
     WHERE t.check_name = 'fits its profile';

    -- Training sets: missing values among the critical features of their
    -- samples, and (for the detail) among all features.
    missing := 0;
    cells := 0;
    FOR e IN SELECT * FROM (VALUES ('churn_training_set', 'customer'), ('clv_training_set', 'customer'),
                                   ('device_health_training_set', 'device')) AS x(view_name, entity) LOOP
        SELECT string_agg(format('(%I IS NULL)::int', c.feature), ' + '), count(*) INTO cond, n_required
          FROM normalize.feature_catalog AS c WHERE c.entity = e.entity AND c.required;
        EXECUTE format('SELECT coalesce(sum(%s), 0), count(*) * %s FROM normalize.%I', coalesce(cond, '0'), n_required,
                       e.view_name)
           INTO set_missing, set_cells;
        missing := missing + set_missing;
        cells := cells + set_cells;
    END LOOP;
    SELECT round(100.0 * sum(r.nulls) / nullif(sum(r.rows), 0), 1) INTO all_null FROM normalize.feature_null_rates() AS r;

    RETURN QUERY
    SELECT 'Data completeness', '100% of relationships linked', round(n_before, 1),
           round(100 * (SELECT min(c.observed) FROM nz_report_checks AS c WHERE c.check_name = 'relationships linked')::numeric, 1),
           'percent', NOT EXISTS (SELECT 1 FROM nz_report_checks AS c WHERE c.category = 'completeness' AND c.status = 'fail'),
           'before: source rows whose account reference joins a customer ID as it stands; after: the least linked foreign key';
    RETURN QUERY
    SELECT 'Value realism', 'all metrics within expected business ranges', v_before,
           round(100.0 * count(*) FILTER (WHERE c.status = 'pass') / nullif(count(*), 0), 1),
           'percent of checks', bool_and(c.status <> 'fail'),
           'share of the distribution checks that pass: each repaired column against its profile (KS), MRR within its tier''s range, scores within 0-100; before: the profile checks on the raw values'
      FROM nz_report_checks AS c WHERE c.category = 'distributions';
    RETURN QUERY
    SELECT 'Historical coverage', '24 months of consistent history', m_before,
           CASE WHEN h IS NULL THEN 0 ELSE h.months END::numeric, 'months',
           coalesce(h.months, 0) >= 24
               AND NOT EXISTS (SELECT 1 FROM nz_report_checks AS c WHERE c.category = 'temporal' AND c.status = 'fail'),
           CASE WHEN h IS NULL THEN 'no history yet'
                ELSE format('%s to %s; %s', h.window_start, h.as_of,
                            (SELECT string_agg(DISTINCT c.check_name || ': ' || c.status, ', ')
                               FROM nz_report_checks AS c WHERE c.category = 'temporal')) END;
    RETURN QUERY
    SELECT 'Feature coverage', '150+ engineered features per entity', f_before,
           min(c.observed)::numeric, 'features (least entity)', bool_and(c.status <> 'fail'),
           string_agg(c.entity || ': ' || c.observed, ', ' ORDER BY c.entity) || '; before: contract columns of the customers, devices and users sources'
      FROM nz_report_checks AS c WHERE c.category = 'feature coverage';
    RETURN QUERY
    SELECT 'Training set quality', '<1% missing values, proper class balance', NULL::numeric,
           CASE WHEN cells > 0 THEN round(100 * missing / cells, 2) END, 'percent missing',
           cells > 0 AND 100 * missing / cells < 1
               AND NOT EXISTS (SELECT 1 FROM nz_report_checks AS c
                                WHERE c.category IN ('labels', 'leakage') AND c.status = 'fail'),
           CASE WHEN cells = 0 THEN 'no training sets yet; the sources have none'
                ELSE format('missing values among the critical features of %s samples; labels: %s of %s checks pass; across all features of the stores %s%% of values are null, by design where a window is longer than the history; before: no training sets',
                            (SELECT count(*) FROM normalize.churn_samples) + (SELECT count(*) FROM normalize.clv_samples)
                                + (SELECT count(*) FROM normalize.device_health_samples),
                            (SELECT count(*) FILTER (WHERE c.status = 'pass') FROM nz_report_checks AS c WHERE c.category = 'labels'),
                            (SELECT count(*) FROM nz_report_checks AS c WHERE c.category = 'labels'), all_null) END;
END
$$;
COMMENT ON FUNCTION @extschema@.ml_readiness_report() IS
    'The plan''s five success metrics (data completeness, value realism, historical coverage, feature coverage, training set quality): target, before (the sources) and after, and whether each passes';
-- The readiness report as a page people can look at: one self-contained
-- HTML document (inline CSS and SVG, no scripts, no external assets), so it
-- can be mailed, archived or opened from a file.

CREATE OR REPLACE FUNCTION @extschema@.html_escape(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'),
               '''', '&#39;');
COMMENT ON FUNCTION @extschema@.html_escape(text) IS
    'Text made safe to place in HTML content or a quoted attribute';

-- A histogram of observed counts over equal bins from low to high, with
-- the counts the target distribution expects drawn over it as a line.
CREATE OR REPLACE FUNCTION @extschema@.svg_histogram(title text, low float8, high float8, observed bigint[], expected float8[])
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH dims AS (
        SELECT cardinality(observed) AS bins,
               greatest(1, (SELECT max(o) FROM unnest(observed) AS o),
                        (SELECT max(e) FROM unnest(expected) AS e)) AS top),
    bars AS (
        SELECT string_agg(format('<rect class="bar" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>',
                                 round((40 + (i - 1) * 300.0 / d.bins)::numeric, 2),
                                 round((170 - 140 * o / d.top)::numeric, 2),
                                 round((300.0 / d.bins - 1)::numeric, 2),
                                 round((140 * o / d.top)::numeric, 2),
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
                  @extschema@.html_escape(title), bars.svg, curve.points,
                  round(low::numeric, 2), round(high::numeric, 2), round(dims.top::numeric))
      FROM dims, bars, curve;
END;
COMMENT ON FUNCTION @extschema@.svg_histogram(text, float8, float8, bigint[], float8[]) IS
    'Internal: an inline SVG histogram of observed counts with the expected counts as a line, for readiness_report_html';

-- Horizontal bars, one per label, each with an optional band (drawn behind
-- it) and an optional interval (drawn as a whisker).
CREATE OR REPLACE FUNCTION @extschema@.svg_bars(title text, labels text[], vals float8[], band_low float8[], band_high float8[],
                                     whisker_low float8[], whisker_high float8[], value_format text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH rows AS (
        SELECT i, l, vals[i] AS v, band_low[i] AS bl, band_high[i] AS bh, whisker_low[i] AS wl, whisker_high[i] AS wh
          FROM unnest(labels) WITH ORDINALITY AS x(l, i)),
    dims AS (
        SELECT count(*) AS n,
               greatest(1e-9, max(greatest(coalesce(v, 0), coalesce(bh, 0), coalesce(wh, 0)))) AS top FROM rows),
    marks AS (
        SELECT string_agg(
                   format('<text x="150" y="%1$s" class="label end">%2$s</text>', 36 + (i - 1) * 24, @extschema@.html_escape(l))
                   || CASE WHEN bl IS NOT NULL AND bh IS NOT NULL THEN
                          format('<rect class="band" x="%s" y="%s" width="%s" height="18"><title>band %s to %s</title></rect>',
                                 round((156 + 300 * bl / d.top)::numeric, 2), 23 + (i - 1) * 24,
                                 round(greatest(1, 300 * (bh - bl) / d.top)::numeric, 2), bl, bh)
                      ELSE '' END
                   || format('<rect class="bar" x="156" y="%s" width="%s" height="12"><title>%s</title></rect>',
                             26 + (i - 1) * 24, round((300 * coalesce(v, 0) / d.top)::numeric, 2),
                             @extschema@.html_escape(l))
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
                  30 + dims.n * 24, @extschema@.html_escape(title), coalesce(marks.svg, ''))
      FROM dims, marks;
END;
COMMENT ON FUNCTION @extschema@.svg_bars(text, text[], float8[], float8[], float8[], float8[], float8[], text) IS
    'Internal: inline SVG horizontal bars with optional bands and intervals, for readiness_report_html';

CREATE OR REPLACE FUNCTION @extschema@.readiness_report_html()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    h record;
    metrics text;
    checks text;
    failing text;
    histograms text;
    churn text;
    missing text;
    splits text;
    balance text;
    confidence float8;
BEGIN
    PERFORM normalize.require_sources();
    SELECT * INTO h FROM normalize.history_info;
    SELECT string_agg(format('<tr class="%s"><td>%s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td><td>%s</td><td>%s</td></tr>',
                             CASE WHEN r.passed THEN 'pass' ELSE 'fail' END, normalize.html_escape(r.metric),
                             normalize.html_escape(r.target), coalesce(r.before::text, '&mdash;'),
                             coalesce(r.after::text, '&mdash;'), normalize.html_escape(r.unit),
                             CASE WHEN r.passed THEN 'pass' ELSE 'FAIL' END), '')
      INTO metrics FROM normalize.ml_readiness_report() AS r;
    -- ml_readiness_report left its checks in nz_report_checks.
    SELECT string_agg(format('<tr><td>%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
                             normalize.html_escape(c.category), c.pass, c.warn, c.fail), '' ORDER BY c.pos)
      INTO checks
      FROM (SELECT q.category, count(*) FILTER (WHERE q.status = 'pass') AS pass,
                   count(*) FILTER (WHERE q.status = 'warn') AS warn, count(*) FILTER (WHERE q.status = 'fail') AS fail,
                   array_position(ARRAY['completeness', 'type consistency', 'distributions', 'temporal', 'labels',
                                        'leakage', 'feature coverage'], q.category) AS pos
              FROM nz_report_checks AS q GROUP BY q.category) AS c;
    SELECT string_agg(format('<tr class="%s"><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td><td>%s</td></tr>',
                             q.status, normalize.html_escape(q.category), normalize.html_escape(q.entity),
                             normalize.html_escape(q.check_name), coalesce(round(q.observed::numeric, 4)::text, '&mdash;'),
                             normalize.html_escape(coalesce(q.detail, ''))), '')
      INTO failing FROM nz_report_checks AS q WHERE q.status <> 'pass';

    -- Each repaired column against its profile, by group.
    WITH v AS (
        SELECT p.label, p.profile, p.value AS x FROM normalize.profile_values('normalized') AS p),
    g AS (
        SELECT v.label, p.family, normalize.profile_params(p.family, p.params) AS params,
               coalesce(p.lower, '-infinity') AS lower, coalesce(p.upper, 'infinity') AS upper, count(*) AS n,
               coalesce(p.lower, min(v.x)) AS lo,
               greatest(coalesce(p.upper, max(v.x)), coalesce(p.lower, min(v.x)) + 1e-9) AS hi
          FROM v JOIN normalize.distribution_profiles AS p ON p.name = v.profile
         GROUP BY v.label, p.family, p.params, p.lower, p.upper),
    obs AS (
        SELECT v.label, least(greatest(width_bucket(v.x, g.lo, g.hi, 20), 1), 20) AS i, count(*) AS c
          FROM v JOIN g USING (label) GROUP BY 1, 2),
    bins AS (
        SELECT g.label, g.lo, g.hi, b.i, coalesce(o.c, 0) AS c,
               g.n * (normalize.distribution_cdf(g.lo + (g.hi - g.lo) * b.i / 20, g.family, g.params, g.lower, g.upper)
                      - normalize.distribution_cdf(g.lo + (g.hi - g.lo) * (b.i - 1) / 20, g.family, g.params, g.lower, g.upper))
                   AS e
          FROM g CROSS JOIN generate_series(1, 20) AS b(i)
          LEFT JOIN obs AS o ON o.label = g.label AND o.i = b.i)
    SELECT string_agg(s.svg, '' ORDER BY s.label) INTO histograms
      FROM (SELECT b.label, normalize.svg_histogram(b.label, b.lo, b.hi, array_agg(b.c ORDER BY b.i),
                                                    array_agg(b.e ORDER BY b.i)) AS svg
              FROM bins AS b GROUP BY b.label, b.lo, b.hi) AS s;

    SELECT t.threshold INTO confidence FROM normalize.quality_thresholds AS t
     WHERE t.check_name = 'annual churn within the band';
    SELECT normalize.svg_bars(format('Annual churn by tier (accounts): simulated, its %s%% interval, the plan''s band',
                                     round(100 * confidence::numeric, 1)),
                              array_agg(c.tier || ' (' || c.accounts || ')' ORDER BY c.tier),
                              array_agg(c.rate ORDER BY c.tier), array_agg(c.band_low ORDER BY c.tier),
                              array_agg(c.band_high ORDER BY c.tier), array_agg(c.low ORDER BY c.tier),
                              array_agg(c.high ORDER BY c.tier), 'FM0.000')
      INTO churn FROM normalize.annual_churn_by_tier(coalesce(confidence, 0.99)) AS c;

    SELECT normalize.svg_bars('Missing values per feature family: share of stored values that are NULL',
                              array_agg(m.entity || ' ' || m.family ORDER BY m.entity, m.family),
                              array_agg(m.share ORDER BY m.entity, m.family), NULL, NULL, NULL, NULL, 'FM0.000')
      INTO missing
      FROM (SELECT c.entity, c.family, sum(r.nulls)::float8 / nullif(sum(r.rows), 0) AS share
              FROM normalize.feature_null_rates() AS r
              JOIN normalize.feature_catalog AS c ON c.entity = r.entity AND c.feature = r.feature
             GROUP BY c.entity, c.family) AS m;

    WITH s AS (
        SELECT 'churn' AS set_name, c.split, count(*) AS n, avg(c.churned_90d::int)::float8 AS positive
          FROM normalize.churn_samples AS c GROUP BY c.split
        UNION ALL
        SELECT 'clv', c.split, count(*), NULL FROM normalize.clv_samples AS c GROUP BY c.split
        UNION ALL
        SELECT 'device health', d.split, count(*), avg(d.failed_30d::int)::float8
          FROM normalize.device_health_samples AS d GROUP BY d.split),
    o AS (SELECT s.*, s.set_name || ' ' || s.split AS label,
                 array_position(ARRAY['train', 'validation', 'test'], s.split) AS pos FROM s)
    SELECT normalize.svg_bars('Samples per split', array_agg(o.label ORDER BY o.set_name, o.pos),
                              array_agg(o.n::float8 ORDER BY o.set_name, o.pos), NULL, NULL, NULL, NULL, 'FM999999990'),
           normalize.svg_bars('Class balance: positive share per split (churn in 90 days, failure in 30)',
                              array_agg(o.label ORDER BY o.set_name, o.pos) FILTER (WHERE o.positive IS NOT NULL),
                              array_agg(o.positive ORDER BY o.set_name, o.pos) FILTER (WHERE o.positive IS NOT NULL),
                              NULL, NULL, NULL, NULL, 'FM0.000')
      INTO splits, balance FROM o;

    RETURN format($html$<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>normalize: ML-readiness report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #1d2733; max-width: 1180px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccd; }
p.meta { color: #556; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; } td, th { border: 1px solid #ccd; padding: 0.3em 0.6em; text-align: left; }
th { background: #eef1f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.pass td:last-child { color: #176b2c; font-weight: 600; } tr.fail td, tr.fail td:last-child { color: #a4161a; font-weight: 600; }
tr.warn td { color: #8a5a00; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { background: #fafbfc; border: 1px solid #e1e4e8; }
svg .title { font-size: 11px; text-anchor: middle; font-weight: 600; fill: #1d2733; }
svg .tick, svg .label, svg .value { font-size: 10px; fill: #445; } svg .end { text-anchor: end; } svg .start { text-anchor: start; }
svg .axis { stroke: #889; } svg .bar { fill: #5b8def; } svg .band { fill: #f2c14e; fill-opacity: 0.45; }
svg .expected { fill: none; stroke: #d1495b; stroke-width: 2; } svg .whisker { stroke: #1d2733; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 1.2em; } .swatch { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle; margin-right: 0.3em; }
</style>
</head>
<body>
<h1>ML-readiness report</h1>
<p class="meta">%1$s</p>
<h2>The plan's five success metrics</h2>
<table id="metrics"><tr><th>metric</th><th>target</th><th>before</th><th>after</th><th>unit</th><th>result</th></tr>%2$s</table>
<h2>Quality checks</h2>
<table id="checks"><tr><th>category</th><th>pass</th><th>warn</th><th>fail</th></tr>%3$s</table>
%4$s
<h2>Generated distributions against their profiles</h2>
<p class="legend"><span><i class="swatch" style="background:#5b8def"></i>observed values</span><span><i class="swatch" style="background:#d1495b"></i>counts the profile expects</span></p>
<div class="charts" id="histograms">%5$s</div>
<h2>Churn by tier</h2>
<p class="legend"><span><i class="swatch" style="background:#5b8def"></i>simulated annual churn</span><span><i class="swatch" style="background:#f2c14e"></i>the plan's band</span><span><i class="swatch" style="background:#1d2733"></i>confidence interval</span></p>
<div class="charts" id="churn">%6$s</div>
<h2>Missing values per feature family</h2>
<div class="charts" id="missing">%7$s</div>
<h2>Split sizes and class balance</h2>
<div class="charts" id="splits">%8$s%9$s</div>
</body>
</html>
$html$,
        normalize.html_escape(CASE WHEN h IS NULL THEN 'no history built yet'
                                   ELSE format('History of %s months, %s to %s, seed %s; report generated %s.',
                                               h.months, h.window_start, h.as_of, h.seed,
                                               to_char(now(), 'YYYY-MM-DD HH24:MI TZ')) END),
        metrics, coalesce(checks, ''),
        CASE WHEN failing IS NULL THEN '<p>Every check passes.</p>'
             ELSE '<table id="failing"><tr><th>category</th><th>entity</th><th>check</th><th>observed</th><th>detail</th></tr>'
                  || failing || '</table>' END,
        coalesce(histograms, '<p>No repaired columns yet.</p>'),
        coalesce(churn, '<p>No history yet.</p>'), coalesce(missing, '<p>No features yet.</p>'),
        coalesce(splits, '<p>No training sets yet.</p>'), coalesce(balance, ''));
END
$$;
COMMENT ON FUNCTION @extschema@.readiness_report_html() IS
    'The ML-readiness report as one self-contained HTML page (inline SVG, no scripts): the five metrics, the quality checks, each generated distribution against its profile, churn by tier against the bands, missing values per feature family, split sizes and class balance';
-- The whole pipeline in one call: CALL normalize.run_pipeline(...) runs the
-- six phases in order and commits after each, logging as it goes, so that
-- another session can watch it and a failed or cancelled run resumes from
-- the phase that did not finish.

CREATE TABLE @extschema@.pipeline_runs (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    arguments   jsonb NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    backend_pid integer NOT NULL DEFAULT pg_backend_pid(),
    error       text
);
COMMENT ON TABLE @extschema@.pipeline_runs IS
    'One row per CALL normalize.run_pipeline(): its arguments, status and, if it failed, why; a resumed run keeps its row';

CREATE TABLE @extschema@.pipeline_phases (
    run_id      bigint NOT NULL REFERENCES @extschema@.pipeline_runs ON DELETE CASCADE,
    position    integer NOT NULL,
    phase       text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    started_at  timestamptz,
    finished_at timestamptz,
    seconds     numeric,
    summary     text,
    error       text,
    PRIMARY KEY (run_id, position),
    UNIQUE (run_id, phase)
);
COMMENT ON TABLE @extschema@.pipeline_phases IS
    'The phases of each pipeline run as they go: pending, running, done (with what they did and how long it took) or failed (with the error); readable by other sessions while a run is under way';

-- Takes the pipeline's lock for this session, then starts a run or resumes
-- the last one. A run resumes when it did not finish (failed, or still
-- marked running by a session that is gone) and was called with the same
-- arguments; otherwise, or with restart, a new run starts from the first
-- phase. Returns the run's id.
CREATE OR REPLACE FUNCTION @extschema@.pipeline_begin(arguments jsonb, restart boolean)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    holder integer;
    last record;
    run bigint;
BEGIN
    -- A session-level lock: it outlives the commits between phases, and
    -- the server releases it if the session ends. A session that already
    -- holds it (an earlier call that failed before unlocking) keeps it.
    IF NOT EXISTS (SELECT 1 FROM pg_locks AS l
                    WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted
                      AND l.classid = 0 AND l.objid = 2125 AND l.objsubid = 1 AND l.database = (
                          SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())) THEN
        IF NOT pg_try_advisory_lock(2125) THEN
            SELECT l.pid INTO holder FROM pg_locks AS l
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 2125 AND l.objsubid = 1
             LIMIT 1;
            RAISE EXCEPTION 'normalize.run_pipeline is already running in this database'
                USING ERRCODE = 'lock_not_available',
                      DETAIL = format('Session %s holds the pipeline''s lock.', coalesce(holder::text, '(unknown)')),
                      HINT = 'Wait for it to finish: SELECT * FROM normalize.pipeline_phases shows how far it got.';
        END IF;
    END IF;

    SELECT * INTO last FROM normalize.pipeline_runs AS r ORDER BY r.run_id DESC LIMIT 1;
    IF NOT restart AND last.run_id IS NOT NULL AND last.status <> 'done' AND last.arguments = pipeline_begin.arguments THEN
        run := last.run_id;
        UPDATE normalize.pipeline_runs AS r
           SET status = 'running', finished_at = NULL, error = NULL, backend_pid = pg_backend_pid()
         WHERE r.run_id = run;
        UPDATE normalize.pipeline_phases AS p SET status = 'pending', error = NULL
         WHERE p.run_id = run AND p.status <> 'done';
        RAISE NOTICE 'run_pipeline: resuming run % from phase %', run,
            (SELECT p.phase FROM normalize.pipeline_phases AS p WHERE p.run_id = run AND p.status <> 'done'
              ORDER BY p.position LIMIT 1);
        RETURN run;
    END IF;
    IF last.run_id IS NOT NULL AND last.status <> 'done' THEN
        UPDATE normalize.pipeline_runs AS r SET status = 'failed', finished_at = coalesce(r.finished_at, clock_timestamp()),
               error = coalesce(r.error, 'superseded by run ' || (last.run_id + 1) || ' before it finished')
         WHERE r.run_id = last.run_id;
    END IF;
    INSERT INTO normalize.pipeline_runs (arguments, status) VALUES (pipeline_begin.arguments, 'running')
    RETURNING run_id INTO run;
    INSERT INTO normalize.pipeline_phases (run_id, position, phase)
    SELECT run, p.position, p.phase
      FROM unnest(ARRAY['reconcile', 'repair', 'history', 'features', 'training', 'quality'])
           WITH ORDINALITY AS p(phase, position);
    RAISE NOTICE 'run_pipeline: run % started', run;
    RETURN run;
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_begin(jsonb, boolean) IS
    'Internal: takes run_pipeline''s lock and starts a run, or resumes the last unfinished one with the same arguments';

-- The next phase of the run to do (NULL when all are done), marked running.
CREATE OR REPLACE FUNCTION @extschema@.pipeline_next_phase(run bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    next_phase text;
BEGIN
    UPDATE normalize.pipeline_phases AS p
       SET status = 'running', started_at = clock_timestamp(), finished_at = NULL, seconds = NULL
     WHERE (p.run_id, p.position) = (SELECT q.run_id, q.position FROM normalize.pipeline_phases AS q
                                      WHERE q.run_id = run AND q.status <> 'done' ORDER BY q.position LIMIT 1)
    RETURNING p.phase INTO next_phase;
    RETURN next_phase;
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_next_phase(bigint) IS
    'Internal: marks the run''s next unfinished phase running and returns its name, or NULL when the run is complete';

-- Runs one phase with the run's arguments and records it as done, in the
-- caller's transaction: the phase's work and its "done" commit together.
CREATE OR REPLACE FUNCTION @extschema@.pipeline_run_phase(run bigint, phase text)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a jsonb;
    outcome text;
    started timestamptz := clock_timestamp();
    elapsed numeric;
BEGIN
    IF phase NOT IN ('reconcile', 'repair', 'history', 'features', 'training', 'quality') THEN
        RAISE EXCEPTION 'unknown pipeline phase "%"', phase
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The phases are reconcile, repair, history, features, training and quality.';
    END IF;
    SELECT r.arguments INTO a FROM normalize.pipeline_runs AS r WHERE r.run_id = run;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no pipeline run %', run
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'normalize.pipeline_runs lists the runs; CALL normalize.run_pipeline() starts one.';
    END IF;
    CASE phase
    WHEN 'reconcile' THEN
        SELECT format('%s source rows: %s linked, %s assigned, %s quarantined, %s dropped',
                      sum(r.source_rows), sum(r.linked), sum(r.assigned), sum(r.quarantined), sum(r.dropped))
          INTO outcome FROM normalize.reconcile_ids(orphan_policy => a ->> 'orphan_policy') AS r;
    WHEN 'repair' THEN
        SELECT format('%s columns checked, %s values replaced, %s kept', count(*), sum(r.replaced), sum(r.kept))
          INTO outcome FROM normalize.repair_values(seed => (a ->> 'seed')::bigint) AS r;
    WHEN 'history' THEN
        SELECT string_agg(r.rows || ' ' || r.table_name, ', ') INTO outcome
          FROM normalize.build_history(months => (a ->> 'months')::integer, as_of => (a ->> 'as_of')::date,
                                       seed => (a ->> 'seed')::bigint) AS r;
    WHEN 'features' THEN
        SELECT string_agg(format('%s rows x %s features in %s', r.rows, r.features, r.table_name), ', ') INTO outcome
          FROM normalize.refresh_features() AS r;
    WHEN 'training' THEN
        SELECT string_agg(format('%s %s', x.samples, x.training_set), ', ') INTO outcome
          FROM (SELECT t.training_set, sum(t.samples) AS samples
                  FROM normalize.build_training_sets(seed => (a ->> 'seed')::bigint) AS t
                 GROUP BY t.training_set ORDER BY t.training_set) AS x;
        outcome := outcome || ' samples';
    WHEN 'quality' THEN
        SELECT format('%s checks: %s pass, %s warn, %s fail', count(*), count(*) FILTER (WHERE q.status = 'pass'),
                      count(*) FILTER (WHERE q.status = 'warn'), count(*) FILTER (WHERE q.status = 'fail'))
          INTO outcome FROM normalize.quality_checks() AS q;
    END CASE;
    elapsed := round(extract(epoch FROM clock_timestamp() - started)::numeric, 1);
    UPDATE normalize.pipeline_phases AS p
       SET status = 'done', finished_at = clock_timestamp(), seconds = elapsed,
           summary = outcome, error = NULL
     WHERE p.run_id = run AND p.phase = pipeline_run_phase.phase;
    RAISE NOTICE 'run_pipeline: % done in % s: %', phase, elapsed, outcome;
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_run_phase(bigint, text) IS
    'Internal: runs one phase of a pipeline run with its arguments and records what it did';

-- Records a failed phase (in a transaction of its own, after the phase's
-- was rolled back) and gives up the lock.
CREATE OR REPLACE FUNCTION @extschema@.pipeline_fail(run bigint, phase text, message text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE normalize.pipeline_phases AS p
       SET status = 'failed', finished_at = clock_timestamp(),
           seconds = round(extract(epoch FROM clock_timestamp() - p.started_at)::numeric, 1), error = message
     WHERE p.run_id = run AND p.phase = pipeline_fail.phase;
    UPDATE normalize.pipeline_runs AS r
       SET status = 'failed', finished_at = clock_timestamp(), error = format('%s: %s', phase, message)
     WHERE r.run_id = run;
    PERFORM pg_advisory_unlock(2125);
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_fail(bigint, text, text) IS
    'Internal: records the failed phase of a pipeline run and releases run_pipeline''s lock';

CREATE OR REPLACE FUNCTION @extschema@.pipeline_finish(run bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE normalize.pipeline_runs AS r SET status = 'done', finished_at = clock_timestamp() WHERE r.run_id = run;
    RAISE NOTICE 'run_pipeline: run % done in % s', run,
        (SELECT round(sum(p.seconds), 1) FROM normalize.pipeline_phases AS p WHERE p.run_id = run);
    PERFORM pg_advisory_unlock(2125);
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_finish(bigint) IS
    'Internal: marks a pipeline run done and releases run_pipeline''s lock';

-- No SET search_path here: a procedure with SET clauses may not commit.
-- The body only calls the functions above, whose paths are pinned, with
-- qualified names.
CREATE PROCEDURE @extschema@.run_pipeline(seed bigint DEFAULT 42, months integer DEFAULT 24,
                                          as_of date DEFAULT CURRENT_DATE,
                                          orphan_policy text DEFAULT 'quarantine',
                                          restart boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
    run bigint;
    phase text;
    failure text;
    failure_state text;
    failure_detail text;
    failure_hint text;
BEGIN
    IF seed IS NULL OR months IS NULL OR as_of IS NULL OR orphan_policy IS NULL OR restart IS NULL THEN
        RAISE EXCEPTION 'run_pipeline: seed, months, as_of, orphan_policy and restart must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave an argument out for its default.';
    END IF;
    -- The first statement of a transaction starts with it: a later one is
    -- inside a transaction block, where the commits after each phase fail.
    IF pg_catalog.statement_timestamp() OPERATOR(pg_catalog.<>) pg_catalog.transaction_timestamp() THEN
        RAISE EXCEPTION 'run_pipeline cannot run inside a transaction block'
            USING ERRCODE = 'active_sql_transaction',
                  HINT = 'CALL it on its own, outside BEGIN ... COMMIT: it commits after each phase.';
    END IF;
    PERFORM normalize.require_sources();
    run := normalize.pipeline_begin(pg_catalog.jsonb_build_object('seed', seed, 'months', months, 'as_of', as_of,
                                                                  'orphan_policy', orphan_policy),
                                    restart);
    COMMIT;
    LOOP
        phase := normalize.pipeline_next_phase(run);
        EXIT WHEN phase IS NULL;
        COMMIT;  -- "running" is visible to other sessions from here
        BEGIN
            PERFORM normalize.pipeline_run_phase(run, phase);
        EXCEPTION
            WHEN query_canceled OR others THEN
                GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_state = RETURNED_SQLSTATE,
                                        failure_detail = PG_EXCEPTION_DETAIL, failure_hint = PG_EXCEPTION_HINT;
        END;
        IF failure_state IS NOT NULL THEN
            PERFORM normalize.pipeline_fail(run, phase, failure);
            COMMIT;
            RAISE EXCEPTION 'run_pipeline: phase % failed: %', phase, failure
                USING ERRCODE = failure_state,
                      DETAIL = pg_catalog.btrim(pg_catalog.concat_ws(' ', failure_detail,
                                                    'The phases before it are done and committed; this one left nothing behind.')),
                      HINT = pg_catalog.btrim(pg_catalog.concat_ws(' ', failure_hint,
                                                  'CALL normalize.run_pipeline() again with the same arguments to resume from this phase, or with restart => true to start over.'));
        END IF;
        COMMIT;
    END LOOP;
    PERFORM normalize.pipeline_finish(run);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean) IS
    'Runs the whole pipeline on the registered sources (reconcile, repair, history, features, training sets, quality checks), committing after each phase; one run at a time; resumes an unfinished run with the same arguments';
-- pg_dump keeps the results too. The tables above belong to the extension,
-- and pg_dump leaves an extension's tables out unless they are marked: a
-- dump of a database that ran the pipeline would otherwise restore the
-- definitions without the normalized data, history, features, training
-- sets and run log that took it a while to build. (The editable
-- configuration tables are marked where they are created.)
-- One call per statement: each rewrites the extension's catalog row.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounts', 'locations', 'subscriptions', 'devices', 'users', 'campaigns', 'account_map',
                             'unlinked_rows', 'quarantine', 'key_collisions', 'reconciliation_rules', 'repair_summary',
                             'history_info', 'account_snapshots', 'device_days', 'user_weeks', 'lifecycle_events',
                             'customer_feature_store', 'device_feature_store', 'user_feature_store', 'training_info',
                             'churn_samples', 'clv_samples', 'device_health_samples', 'pipeline_runs', 'pipeline_phases',
                             'pipeline_runs_run_id_seq'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(format('@extschema@.%I', t)::regclass, '');
    END LOOP;
END
$$;
