-- The readiness report's "before" of the run itself (issue 18, class 10):
-- run_pipeline measures the sources as its reconcile phase reads them and
-- keeps the figures in source_metrics, so that the report compares the
-- inputs of one run with what that run built. And a faster reconcile_ids:
-- each source row's key computed once, categories mapped through one
-- constant instead of a join, the account of a device's location found
-- while its map is built.

CREATE TABLE @extschema@.source_metrics (
    metric      text PRIMARY KEY,
    value       numeric,
    run_id      bigint NOT NULL,
    measured_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE @extschema@.source_metrics IS
    'The readiness report''s "before" metrics, measured on the sources by the run that read them (its reconcile phase)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.source_metrics', '');

-- The SELECT that reads a registered source by contract column names, with
-- every column cast to its class's type (ids as text) and absent optional
-- columns as NULL. Every phase reads sources through it. A timestamptz is
-- taken as a date in the source's time zone, not the session's, and a
-- column of categories through its vocabulary (its canonical value, or the
-- raw one when the vocabulary does not know it: quality_checks reports
-- those). The vocabulary goes into the query as one jsonb constant: a
-- lookup in it costs less than a join per row of the largest sources.
-- Only the contract columns named in `columns` when given: a scan for a
-- few references then reads no more than it needs.
CREATE OR REPLACE FUNCTION @extschema@.source_query(entity text, columns text[] DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src record;
    cols text;
    unknown text;
BEGIN
    IF entity IS NULL THEN
        RAISE EXCEPTION 'entity must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
    SELECT s.relation, s.columns, s.time_zone INTO src FROM normalize.sources AS s WHERE s.entity = source_query.entity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no source is registered for %', entity
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register the raw tables first with normalize.use_sources(schema) or normalize.register_source(...).';
    END IF;
    SELECT string_agg(format('"%s"', coalesce(c, 'NULL')), ', ') INTO unknown
      FROM unnest(columns) AS c
     WHERE c IS NULL OR NOT EXISTS (SELECT 1 FROM normalize.source_contract AS k
                                     WHERE k.entity = source_query.entity AND k.column_name = c);
    IF cardinality(columns) = 0 THEN
        RAISE EXCEPTION 'columns must name at least one contract column of %', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave columns out for every column, or name contract columns, such as {account_id}.';
    END IF;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'columns names % which the % contract does not have', unknown, entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave columns out for every column, or name contract columns, such as {account_id}.';
    END IF;
    SELECT string_agg(
             CASE WHEN src.columns ? c.column_name AND c.type_class = 'date'
                       AND (SELECT a.atttypid FROM pg_attribute AS a
                             WHERE a.attrelid = src.relation AND a.attname = src.columns ->> c.column_name
                               AND NOT a.attisdropped) = 'timestamptz'::regtype
                  THEN format('(r.%I AT TIME ZONE %L)::date AS %I', src.columns ->> c.column_name,
                              src.time_zone, c.column_name)
                  WHEN src.columns ? c.column_name AND c.category IS NOT NULL
                  THEN format('coalesce(%L::jsonb ->> normalize.fold_category(r.%I::text), r.%I::text) AS %I',
                              (SELECT coalesce(jsonb_object_agg(l.spelling, l.value), '{}')
                                 FROM normalize.category_lookup AS l WHERE l.category = c.category),
                              src.columns ->> c.column_name, src.columns ->> c.column_name, c.column_name)
                  WHEN src.columns ? c.column_name
                  THEN format('r.%I::%s AS %I',
                               src.columns ->> c.column_name,
                              CASE c.type_class WHEN 'id' THEN 'text' WHEN 'number' THEN 'numeric'
                                                WHEN 'date' THEN 'date' ELSE 'text' END,
                              c.column_name)
                  ELSE format('NULL::%s AS %I',
                              CASE c.type_class WHEN 'id' THEN 'text' WHEN 'number' THEN 'numeric'
                                                WHEN 'date' THEN 'date' ELSE 'text' END,
                              c.column_name) END,
             ', ' ORDER BY c.position)
      INTO cols
      FROM normalize.source_contract AS c
     WHERE c.entity = source_query.entity AND (columns IS NULL OR c.column_name = ANY (columns));
    RETURN format('SELECT %s FROM %s AS r', cols, src.relation);
END
$$;
COMMENT ON FUNCTION @extschema@.source_query(text, text[]) IS
    'The SELECT that reads a registered source by contract column names and canonical types (only the columns named, when given)';

-- Resolves one reference of one entity: scores the rules on its staged raw
-- values refs (ref_rows rows each) against the targets in temp table
-- `targets` (raw, target_key), takes the rule declared for it or picks
-- one (choose_rule; when the rows linked do not decide and the targets
-- belong to accounts, by the rows linked to their own account's target,
-- with account_map the row's account links), and writes temp table
-- `map`: one row per distinct raw value with its target, the rule
-- (crosswalk first), or the reason it has none. Returns the rule used (''
-- when none).
CREATE OR REPLACE FUNCTION @extschema@.resolve_reference(entity text, reference text, refs text[], ref_rows bigint[],
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

-- The source rows of an entity with their stable key (entity_key), the
-- key computed once per row: OFFSET 0 keeps the planner from pulling the
-- key up into both the filter on it and the output, which doubles the
-- dearest call of a load.
CREATE OR REPLACE FUNCTION @extschema@.keyed_source_query(entity text)
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
CREATE OR REPLACE FUNCTION @extschema@.entity_rows_query(entity text, orphan_policy text, n_accounts bigint, account_map text,
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

-- The rows of an entity that did not load, for the id map and the
-- quarantine: a second, narrow pass over the source (rows that loaded
-- with an issue carry it in account_issue / location_issue).
CREATE OR REPLACE FUNCTION @extschema@.record_unlinked_rows(entity text, orphan_policy text, account_map text)
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

CREATE OR REPLACE FUNCTION @extschema@.reconcile_ids(orphan_policy text DEFAULT 'quarantine', min_share float8 DEFAULT 0.5,
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

-- The "before" of four of the plan's metrics, on the registered sources as
-- they stand: the share of source rows whose account reference joins a
-- customer ID as it is, the months their snapshot dates span, the contract
-- columns of the least-described feature entity, and the share of the
-- profile checks the raw values pass.
CREATE OR REPLACE FUNCTION @extschema@.measure_sources()
RETURNS TABLE (metric text, value numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
    WITH assessment AS MATERIALIZED (SELECT * FROM normalize.assess_sources())
    SELECT 'data completeness',
           (SELECT sum(j.value * r.value) / nullif(sum(r.value), 0)
              FROM assessment AS j
              JOIN assessment AS r ON r.entity = j.entity AND r.metric = 'rows'
             WHERE j.metric = 'account references joining as they stand')
    UNION ALL
    SELECT 'value realism',
           (SELECT round(100.0 * count(*) FILTER (WHERE k.p >= t.threshold) / nullif(count(*), 0), 1)
              FROM (SELECT (normalize.ks_test(v.value, v.profile)).p_value AS p
                      FROM normalize.profile_values('sources') AS v GROUP BY v.label, v.profile) AS k,
                   normalize.quality_thresholds AS t
             WHERE t.check_name = 'fits its profile')
    UNION ALL
    SELECT 'historical coverage',
           (SELECT count(DISTINCT date_trunc('month', x.v::timestamp))::numeric
              FROM assessment AS a,
                   LATERAL (SELECT unnest(regexp_matches(a.detail, '(\d{4}-\d{2}-\d{2})', 'g'))::date AS v) AS x
             WHERE a.metric = 'distinct snapshot dates')
    UNION ALL
    SELECT 'feature coverage',
           (SELECT min(c.n)::numeric
              FROM (SELECT s.entity, count(*) AS n FROM normalize.sources AS s, jsonb_object_keys(s.columns) AS k
                     WHERE s.entity IN (SELECT e.entity FROM normalize.entity_kinds AS e WHERE e.feature_entity IS NOT NULL)
                     GROUP BY s.entity) AS c)
$$;
COMMENT ON FUNCTION @extschema@.measure_sources() IS
    'The readiness report''s "before" metrics (data completeness, value realism, historical coverage, feature coverage), measured on the registered sources as they stand';

-- Keeps the "before" of the run that is reading the sources.
CREATE OR REPLACE FUNCTION @extschema@.record_source_metrics(run bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- (measure_sources refuses when no sources are registered.)
    DELETE FROM normalize.source_metrics;
    INSERT INTO normalize.source_metrics (metric, value, run_id)
    SELECT m.metric, m.value, run FROM normalize.measure_sources() AS m;
END
$$;
COMMENT ON FUNCTION @extschema@.record_source_metrics(bigint) IS
    'Internal: stores the readiness report''s "before" metrics of the sources as a run reads them, in its reconcile phase';

-- The plan's five success metrics, before (the registered sources, as
-- assess_sources sees them) and after (the checks given, those of
-- quality_checks: the HTML report reads them too, so they are run once).
CREATE OR REPLACE FUNCTION @extschema@.readiness_metrics(checks @extschema@.quality_check[])
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
    last_run record;
    before_values jsonb;
    measured_by_run boolean;
BEGIN
    IF checks IS NULL THEN
        RAISE EXCEPTION 'checks must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the rows of normalize.quality_checks(), or call normalize.ml_readiness_report().';
    END IF;
    PERFORM normalize.require_sources();
    -- "Before" is what the run that built these tables measured on the
    -- sources it read. Without that (the phases called by hand), the
    -- sources as they are now: said when they are not the last run's.
    SELECT r.run_id, r.inputs INTO last_run FROM normalize.pipeline_runs AS r
     WHERE r.status = 'done' ORDER BY r.run_id DESC LIMIT 1;
    before_values := (SELECT jsonb_object_agg(m.metric, m.value) FROM normalize.source_metrics AS m);
    measured_by_run := before_values IS NOT NULL;
    IF NOT measured_by_run THEN
        IF last_run.inputs IS NOT NULL AND last_run.inputs <> normalize.input_fingerprint() THEN
            RAISE NOTICE 'the sources or the settings changed since run % built these tables: "before" describes the sources as they are now',
                         last_run.run_id
                USING HINT = 'CALL normalize.run_pipeline() again for a report of one run''s inputs.';
        END IF;
        before_values := (SELECT jsonb_object_agg(m.metric, m.value) FROM normalize.measure_sources() AS m);
    END IF;
    n_before := (before_values ->> 'data completeness')::numeric;
    v_before := (before_values ->> 'value realism')::numeric;
    m_before := (before_values ->> 'historical coverage')::numeric;
    f_before := (before_values ->> 'feature coverage')::numeric;
    SELECT * INTO h FROM normalize.history_info;

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
           round(100 * (SELECT min(c.observed) FROM unnest(checks) AS c
                         WHERE c.check_name IN ('relationships linked', 'source rows linked'))::numeric, 1),
           'percent', NOT EXISTS (SELECT 1 FROM unnest(checks) AS c WHERE c.category = 'completeness' AND c.status = 'fail'),
           -- The rows that could not be linked are not in the relationships:
           -- the source rows count too, so that 100% never hides them.
           concat_ws('; ', 'before: source rows whose account reference joins a customer ID as it stands; after: the least linked of the relationships (a device naming a location should have one) and of each entity''s source rows (superseded snapshots and duplicates aside)',
                     CASE WHEN measured_by_run THEN 'every "before" as the run that built these tables read the sources'
                          ELSE 'every "before" on the sources as they are now' END,
                     (SELECT format('source rows linked: %s%% (least: %s; the others are listed in normalize.unlinked_rows)',
                                    round(100 * min(c.observed)::numeric, 1),
                                    (array_agg(c.entity ORDER BY c.observed, c.entity))[1])
                        FROM unnest(checks) AS c WHERE c.check_name = 'source rows linked'),
                     (SELECT 'undecided rules: ' || string_agg(c.entity, ', ') FROM unnest(checks) AS c
                       WHERE c.check_name = 'reference rule decided' AND c.status <> 'pass'),
                     (SELECT c.detail FROM unnest(checks) AS c
                       WHERE c.check_name = 'optional sources registered' AND c.status <> 'pass'));
    RETURN QUERY
    SELECT 'Value realism', 'all metrics within expected business ranges', v_before,
           round(100.0 * count(*) FILTER (WHERE c.status = 'pass') / nullif(count(*), 0), 1),
           'percent of checks', bool_and(c.status <> 'fail'),
           'share of the distribution checks that pass: each repaired column against its profile (KS), MRR within its tier''s range, scores within 0-100; before: the profile checks on the raw values'
      FROM unnest(checks) AS c WHERE c.category = 'distributions';
    RETURN QUERY
    SELECT 'Historical coverage', '24 months of consistent history', m_before,
           CASE WHEN h IS NULL THEN 0 ELSE h.months END::numeric, 'months',
           coalesce(h.months, 0) >= 24
               AND NOT EXISTS (SELECT 1 FROM unnest(checks) AS c WHERE c.category = 'temporal' AND c.status = 'fail'),
           CASE WHEN h IS NULL THEN 'no history yet'
                ELSE format('%s to %s; %s', h.window_start, h.as_of,
                            (SELECT string_agg(DISTINCT c.check_name || ': ' || c.status, ', ')
                               FROM unnest(checks) AS c WHERE c.category = 'temporal')) END;
    RETURN QUERY
    SELECT 'Feature coverage', '150+ engineered features per entity', f_before,
           min(c.observed)::numeric, 'features (least entity)', bool_and(c.status <> 'fail'),
           string_agg(c.entity || ': ' || c.observed, ', ' ORDER BY c.entity) || '; before: contract columns of the customers, devices and users sources'
      FROM unnest(checks) AS c WHERE c.category = 'feature coverage';
    RETURN QUERY
    SELECT 'Training set quality', '<1% missing values, proper class balance', NULL::numeric,
           CASE WHEN cells > 0 THEN round(100 * missing / cells, 2) END, 'percent missing',
           cells > 0 AND 100 * missing / cells < 1
               AND NOT EXISTS (SELECT 1 FROM unnest(checks) AS c
                                WHERE c.category IN ('labels', 'leakage') AND c.status = 'fail'),
           CASE WHEN cells = 0 THEN 'no training sets yet; the sources have none'
                ELSE format('missing values among the critical features of %s samples; labels: %s of %s checks pass; across all features of the stores %s%% of values are null, by design where a window is longer than the history; before: no training sets',
                            (SELECT count(*) FROM normalize.churn_samples) + (SELECT count(*) FROM normalize.clv_samples)
                                + (SELECT count(*) FROM normalize.device_health_samples),
                            (SELECT count(*) FILTER (WHERE c.status = 'pass') FROM unnest(checks) AS c WHERE c.category = 'labels'),
                            (SELECT count(*) FROM unnest(checks) AS c WHERE c.category = 'labels'), all_null) END;
END
$$;
COMMENT ON FUNCTION @extschema@.readiness_metrics(@extschema@.quality_check[]) IS
    'Internal: the readiness report''s five metrics from the given rows of quality_checks()';

