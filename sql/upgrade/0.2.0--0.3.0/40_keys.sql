-- Keys (issue 18, class 7): IDs are normalized conservatively (zeros only
-- of a number, Unicode blanks and braces trimmed, letters beyond ASCII
-- lower-cased), case is kept for an entity whose IDs differ only by case
-- within one snapshot (key_case), over-long IDs get a digest key, and a
-- key shared by several rows keeps one of them by a documented rule
-- instead of quarantining them all (exact duplicates collapse), so that
-- the rows referencing it still link. Every shared key is reported in
-- key_collisions. Expression indexes over normalize_id or stable_key
-- need a REINDEX after this update: their values changed.

COMMENT ON FUNCTION @extschema@.normalize_id(text) IS
    'Canonical text of a raw ID: blanks (Unicode too) trimmed and braces around it dropped, lower-case, the leading zeros and a .000 tail of a number (after an optional prefix without digits) dropped; NULL when blank';

CREATE FUNCTION @extschema@.normalize_id(raw text, keep_case boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'nz_normalize_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_id(text, boolean) IS
    'Canonical text of a raw ID, as normalize_id(raw), with its case kept when keep_case';

COMMENT ON FUNCTION @extschema@.stable_key(text, text) IS
    'The deterministic key of an entity, kind:normalized-id (''account'', '' 0042'' gives ''account:42''); an ID over 256 bytes keeps its first 64 and a SHA-1 digest; NULL when the ID is blank';

CREATE FUNCTION @extschema@.stable_key(kind text, raw text, keep_case boolean)
RETURNS varchar
AS 'MODULE_PATHNAME', 'nz_stable_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.stable_key(text, text, boolean) IS
    'The deterministic key of an entity, as stable_key(kind, raw), with the ID''s case kept when keep_case (for sources whose IDs differ only by case)';

-- The entity vocabulary names each entity's normalized table.
ALTER TABLE @extschema@.entity_kinds ADD COLUMN table_name text;
UPDATE @extschema@.entity_kinds SET table_name = CASE entity WHEN 'customers' THEN 'accounts' ELSE entity END;
ALTER TABLE @extschema@.entity_kinds ALTER COLUMN table_name SET NOT NULL,
    ADD CONSTRAINT entity_kinds_table_name_key UNIQUE (table_name);
COMMENT ON TABLE @extschema@.entity_kinds IS
    'Each source entity, the kind its stable keys carry, its ID column, and its normalized table';

ALTER TABLE @extschema@.unlinked_rows DROP CONSTRAINT unlinked_rows_status_check,
    ADD CONSTRAINT unlinked_rows_status_check CHECK (status IN ('quarantined', 'dropped', 'superseded', 'duplicate'));

-- 0.2.0 quarantined every row of a shared key and kept none: its
-- collisions say so.
ALTER TABLE @extschema@.key_collisions ADD COLUMN kept_source_id text, ADD COLUMN resolution text;
UPDATE @extschema@.key_collisions SET resolution = 'all quarantined';
ALTER TABLE @extschema@.key_collisions ALTER COLUMN resolution SET NOT NULL,
    ADD CONSTRAINT key_collisions_resolution_check
        CHECK (resolution IN ('latest snapshot kept', 'most complete row kept', 'all quarantined'));
COMMENT ON TABLE @extschema@.key_collisions IS
    'Keys shared by distinct raw IDs or by rows that differ on one snapshot date: the raw IDs of every row sharing it, the one kept and by what rule (the others are superseded or quarantined)';

-- Whether an entity's keys keep the case of its IDs: they do when two IDs
-- of one snapshot differ only by case, which the source then means as two
-- entities (case-sensitive CRM IDs); references to it are matched with
-- case kept as well.
CREATE TABLE @extschema@.key_case (
    entity      text PRIMARY KEY,
    keep_case   boolean NOT NULL,
    example_ids text[]
);
COMMENT ON TABLE @extschema@.key_case IS
    'Per entity of the last reconciliation, whether its keys keep the case of its IDs, with IDs of one snapshot that differ only by case when they do';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.key_case', '');

-- The IDs of an entity's source that differ only by case within one
-- snapshot date (NULL dates count as one), grouped by their case-folded
-- form: what makes its keys keep case (see key_case).
CREATE FUNCTION @extschema@.case_variants(entity text)
RETURNS TABLE (folded text, snapshot_date date, ids text[])
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id_column text;
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT k.id_column INTO id_column FROM normalize.entity_kinds AS k WHERE k.entity = case_variants.entity;
    RETURN QUERY EXECUTE format($q$
        SELECT v.folded, v.snapshot_date, array_agg(DISTINCT v.raw ORDER BY v.raw)
          FROM (SELECT normalize.normalize_id(s.%1$I) AS folded, s.snapshot_date,
                       normalize.normalize_id(s.%1$I, true) AS cased, s.%1$I COLLATE "C" AS raw
                  FROM (%2$s) AS s) AS v
         WHERE v.folded IS NOT NULL
         GROUP BY v.folded, v.snapshot_date
        HAVING count(DISTINCT v.cased) > 1
         ORDER BY v.folded COLLATE "C", v.snapshot_date$q$,
        id_column, normalize.source_query(entity));
END
$$;
COMMENT ON FUNCTION @extschema@.case_variants(text) IS
    'The IDs of an entity''s source that differ only by case within one snapshot date, grouped by their case-folded form';

COMMENT ON VIEW @extschema@.id_map IS
    'One row per source row of every entity: its stable key, its account, and what became of it (linked, assigned, quarantined, dropped, superseded, duplicate)';

DROP FUNCTION @extschema@.score_id_rules(text[], bigint[], text[]);
-- The scores of the exact, normalized, number and offset rules for
-- reference values (with their row counts) against target IDs, computed in
-- C++ from hash sets of the targets. See rule_candidates.
CREATE FUNCTION @extschema@.score_id_rules(refs text[], ref_rows bigint[], targets text[], keep_case boolean DEFAULT false)
RETURNS TABLE (rule text, parameter text, linked bigint)
AS 'MODULE_PATHNAME', 'nz_score_id_rules'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.score_id_rules(text[], bigint[], text[], boolean) IS
    'Internal: how many rows each linking rule (exact, normalized, number, and the offsets found among the differences) links from reference values to target IDs; the normalized rule keeps case when keep_case';

DROP FUNCTION @extschema@.rule_candidates(text, text, text[], bigint[]);
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

CREATE OR REPLACE FUNCTION @extschema@.suggest_id_rules()
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

DROP FUNCTION @extschema@.match_id_values(text, bigint, text[], bigint[], text[], text[]);
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
CREATE OR REPLACE FUNCTION @extschema@.settle_keys(entity text)
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
