-- The readiness report's "before" of the run itself (issue 18, class 10):
-- run_pipeline measures the sources as its reconcile phase reads them and
-- keeps the figures in source_metrics, so that the report compares the
-- inputs of one run with what that run built. And a faster reconcile_ids:
-- each source row's key computed once, categories mapped through one
-- constant instead of a join, the account of a device's location found
-- while its map is built. build_history runs without JIT and analyzes the
-- history it wrote, which the features read at once; build_training_sets
-- finds each device cutoff's failures in a table of the failures alone.

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

-- Empties what a reconciliation rebuilds, and what was built on it. The
-- keys and foreign keys of the normalized tables are dropped, to be added
-- again once the tables are loaded: one sort per primary key and one
-- validating join per foreign key, instead of work for every row.
CREATE OR REPLACE FUNCTION @extschema@.clear_reconciliation()
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
    TRUNCATE normalize.account_map, normalize.devices, normalize.locations, normalize.subscriptions,
             normalize.users, normalize.campaigns, normalize.accounts, normalize.unlinked_rows,
             normalize.quarantine, normalize.key_collisions, normalize.key_case, normalize.reconciliation_rules,
             normalize.source_metrics;
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
END
$$;
COMMENT ON FUNCTION @extschema@.clear_reconciliation() IS
    'Internal: empties the normalized tables, maps and what was built on them, and drops their keys, at the start of reconcile_ids';

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

CREATE OR REPLACE FUNCTION @extschema@.build_history(months integer DEFAULT 24, as_of date DEFAULT NULL,
                                         seed bigint DEFAULT 42,
                                         entities text[] DEFAULT ARRAY['account', 'device', 'user'])
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- The inserts call the simulators once per entity: compiling their plans
-- costs more than it saves.
SET jit = off
AS $$
DECLARE
    unrepaired bigint;
    unusable text;
BEGIN
    IF months IS NULL OR seed IS NULL OR entities IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
              CASE WHEN months IS NULL THEN 'months' WHEN seed IS NULL THEN 'seed' ELSE 'entities' END
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave the argument out for its default.';
    END IF;
    -- Without as_of, the history ends at the latest snapshot of the data,
    -- not on the day the function happens to run.
    as_of := coalesce(as_of, normalize.latest_snapshot('normalized'));
    -- Accounts always: everything else hangs off them. Leaving devices or
    -- users out keeps their history empty (their features and roll-ups are
    -- then NULL), for when only the accounts' history is wanted at scale.
    IF NOT (entities <@ ARRAY['account', 'device', 'user'] AND 'account' = ANY (entities)) THEN
        RAISE EXCEPTION 'entities must hold ''account'' and may hold ''device'' and ''user'', got %', entities
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave it out for all three, or pass ARRAY[''account''] for the accounts'' history alone.';
    END IF;
    IF months < 1 OR months > 600 THEN
        RAISE EXCEPTION 'months must be between 1 and 600, got %', months
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Ask for the length of the history in months, such as 24.';
    END IF;
    IF NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite date, got %', as_of
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the last day of the history, such as current_date.';
    END IF;
    PERFORM normalize.require_history_as_of(as_of, months);
    IF NOT EXISTS (SELECT 1 FROM normalize.accounts) THEN
        RAISE EXCEPTION 'there are no normalized accounts to build a history for'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.reconcile_ids() and normalize.repair_values() first.';
    END IF;
    -- What is unusable, table by table, with an example: the hint then
    -- says whether repair has yet to run or kept the values as real.
    SELECT sum(u.n), string_agg(format('%s %s (such as %s)', u.n, u.what, u.example), '; ')
      INTO unrepaired, unusable
      FROM (SELECT count(*) AS n, 'accounts without a positive MRR or a tier' AS what, min(a.account_key) AS example
              FROM normalize.accounts AS a WHERE NOT (a.mrr > 0) OR a.mrr IS NULL OR a.tier IS NULL
            UNION ALL
            SELECT count(*), 'devices without a health score in 0-100', min(d.device_key)
              FROM normalize.devices AS d WHERE NOT (d.health_score BETWEEN 0 AND 100) OR d.health_score IS NULL
            UNION ALL
            SELECT count(*), 'users without an engagement score in 0-100', min(u.user_key)
              FROM normalize.users AS u WHERE NOT (u.engagement_score BETWEEN 0 AND 100) OR u.engagement_score IS NULL) AS u
     WHERE u.n > 0;
    unrepaired := coalesce(unrepaired, 0);
    IF NOT EXISTS (SELECT 1 FROM normalize.device_types WHERE device_type = '*') THEN
        RAISE EXCEPTION 'normalize.device_types has no row ''*'' for the device types without a row of their own'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Insert one, such as (''*'', 0.12, 0.004).';
    END IF;
    IF unrepaired > 0 THEN
        RAISE EXCEPTION '% accounts, devices or users have no usable current state', unrepaired
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = unusable || '.',
                  HINT = CASE WHEN NOT EXISTS (SELECT 1 FROM normalize.repair_summary)
                              THEN 'Run normalize.repair_values() first: the history ends at each account''s repaired state.'
                              ELSE 'normalize.repair_values() kept these values as observed (see normalize.repair_summary): '
                                   'declare them placeholders in normalize.placeholder_values and repair again, or correct the source.' END;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.build_history'));

    TRUNCATE normalize.account_snapshots, normalize.device_days, normalize.user_weeks, normalize.lifecycle_events,
             normalize.history_info, normalize.customer_feature_store, normalize.device_feature_store,
             normalize.user_feature_store, normalize.churn_samples,
             normalize.clv_samples, normalize.device_health_samples, normalize.training_info;
    INSERT INTO normalize.history_info (months, window_start, as_of, seed)
    VALUES (months, (date_trunc('month', as_of) - make_interval(months => months - 1))::date, as_of, seed);
    INSERT INTO normalize.account_snapshots
    SELECT h.account_key, h.month, h.tier, h.mrr, h.seats, h.active_users, h.support_tickets,
           h.late_payments, h.failed_payments, h.status, h.event
      FROM normalize.generate_histories('normalize.accounts', months, as_of, seed) AS h;
    -- The simulator marks each month's event; a signup in the window's
    -- first month is one the snapshots alone could not show.
    INSERT INTO normalize.lifecycle_events (entity, entity_key, event_date, event, detail)
    SELECT 'account', s.account_key, s.month, s.event,
           jsonb_build_object('tier', s.tier, 'mrr', round(s.mrr::numeric, 2))
      FROM normalize.account_snapshots AS s
     WHERE s.event IS NOT NULL;
    -- Devices, daily over the same window, ending at their repaired health,
    -- wearing as their type does.
    IF 'device' = ANY (entities) THEN
        INSERT INTO normalize.device_days
        SELECT h.device_key, h.day, h.health, h.usage, h.temperature, h.errors, h.maintenance, h.failure
          FROM normalize.devices AS d
         CROSS JOIN LATERAL (
               SELECT t.degradation, t.failure_rate FROM normalize.device_types AS t
                WHERE t.device_type IN (d.device_type, '*')
                ORDER BY t.device_type = '*' LIMIT 1) AS wear
         CROSS JOIN LATERAL normalize.generate_device_history(
                   d.device_key, d.health_score::float8,
                   (as_of - (date_trunc('month', as_of) - make_interval(months => months - 1))::date) + 1,
                   as_of, seed, wear.degradation, wear.failure_rate) AS h;
        INSERT INTO normalize.lifecycle_events (entity, entity_key, event_date, event, detail)
        SELECT 'device', x.device_key, x.day, e.event, jsonb_build_object('health', round(x.health::numeric, 2))
          FROM normalize.device_days AS x
         CROSS JOIN LATERAL (VALUES ('maintenance', x.maintenance), ('failure', x.failure)) AS e(event, happened)
         WHERE e.happened;
    END IF;
    -- Users, weekly over the same window, ending at their repaired engagement.
    IF 'user' = ANY (entities) THEN
        INSERT INTO normalize.user_weeks
        SELECT h.user_key, h.week, h.engagement, h.logins, h.sessions, h.features_adopted, h.adopted_feature
          FROM normalize.users AS u
         CROSS JOIN LATERAL normalize.generate_user_history(
                   u.user_key, coalesce(u.role, 'standard'), u.engagement_score::float8,
                   ((as_of - (date_trunc('month', as_of) - make_interval(months => months - 1))::date) / 7) + 1,
                   as_of, seed) AS h;
        INSERT INTO normalize.lifecycle_events (entity, entity_key, event_date, event, detail)
        SELECT 'user', w.user_key, w.week, 'feature_adopted', jsonb_build_object('feature', w.adopted_feature,
                                                                                 'features_adopted', w.features_adopted)
          FROM normalize.user_weeks AS w WHERE w.adopted_feature IS NOT NULL;
    END IF;
    -- The features are computed from these tables right after, before
    -- autovacuum has looked at them: without statistics the planner takes
    -- the one row of history_info for a thousand and the roll-ups spill.
    ANALYZE normalize.history_info, normalize.account_snapshots, normalize.device_days, normalize.user_weeks,
            normalize.lifecycle_events;
    RETURN QUERY
    SELECT 'account_snapshots'::text, count(*) FROM normalize.account_snapshots
    UNION ALL
    SELECT 'device_days', count(*) FROM normalize.device_days
    UNION ALL
    SELECT 'user_weeks', count(*) FROM normalize.user_weeks
    UNION ALL
    SELECT 'lifecycle_events', count(*) FROM normalize.lifecycle_events;
END
$$;
COMMENT ON FUNCTION @extschema@.build_history(integer, date, bigint, text[]) IS
    'Replaces the simulated history: monthly snapshots of every normalized, repaired account, daily ones of every device and weekly ones of every user, ending at as_of, and their lifecycle events';

CREATE OR REPLACE FUNCTION @extschema@.build_training_sets(
    seed bigint DEFAULT 42,
    train_share float8 DEFAULT 0.70,
    validation_share float8 DEFAULT 0.15,
    strategy text DEFAULT 'grouped',
    churn_positive_rate float8 DEFAULT 0.20,
    device_positive_rate float8 DEFAULT 0.20,
    balance_evaluation boolean DEFAULT false)
RETURNS TABLE (training_set text, split text, samples bigint, positives bigint, positive_share float8,
               weighted_positive_share float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    history date;
    arg text;
    split_input regclass;
BEGIN
    arg := CASE WHEN seed IS NULL THEN 'seed' WHEN train_share IS NULL THEN 'train_share'
                WHEN validation_share IS NULL THEN 'validation_share' WHEN strategy IS NULL THEN 'strategy'
                WHEN balance_evaluation IS NULL THEN 'balance_evaluation' END;
    IF arg IS NOT NULL THEN
        RAISE EXCEPTION '% must not be NULL', arg
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave the argument out for its default.';
    END IF;
    IF strategy NOT IN ('grouped', 'time') THEN
        RAISE EXCEPTION 'strategy must be grouped or time, got "%"', strategy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'grouped keeps each entity in one split; time trains on the earliest cutoffs.';
    END IF;
    IF NOT (train_share > 0 AND validation_share >= 0 AND train_share + validation_share < 1) THEN
        RAISE EXCEPTION 'train_share and validation_share must be positive and leave a share for test, got % and %',
                        train_share, validation_share
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Such as 0.70 and 0.15, leaving 0.15 for test.';
    END IF;
    IF NOT (coalesce(churn_positive_rate, 0.5) > 0 AND coalesce(churn_positive_rate, 0.5) < 1
            AND coalesce(device_positive_rate, 0.5) > 0 AND coalesce(device_positive_rate, 0.5) < 1) THEN
        RAISE EXCEPTION 'churn_positive_rate and device_positive_rate must be in (0, 1), got % and %',
                        churn_positive_rate, device_positive_rate
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of positives wanted in the training split, or NULL to keep the natural rate.';
    END IF;
    SELECT h.as_of INTO history FROM normalize.history_info AS h;
    IF history IS NULL OR NOT EXISTS (SELECT 1 FROM normalize.customer_feature_store) THEN
        RAISE EXCEPTION 'there are no stored features to build training sets from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.build_history() and normalize.refresh_features() first.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.build_training_sets'));
    TRUNCATE normalize.churn_samples, normalize.clv_samples, normalize.device_health_samples, normalize.training_info;
    INSERT INTO normalize.training_info VALUES (true, seed, strategy, train_share, validation_share,
                                                churn_positive_rate, device_positive_rate);

    -- Churn: accounts active at the cutoff, with 90 days observed after it.
    -- The churn date is the first day of the churn month, after the cutoff
    -- of the month before.
    PERFORM normalize.drop_temp_table('nz_churn');
    CREATE TEMP TABLE nz_churn ON COMMIT DROP AS
    WITH churn AS (
        SELECT s.account_key, min(s.month) AS churned_on
          FROM normalize.account_snapshots AS s WHERE s.status = 'churned' GROUP BY s.account_key)
    SELECT f.account_key, f.as_of,
           coalesce(c.churned_on <= f.as_of + 30, false) AS churned_30d,
           coalesce(c.churned_on <= f.as_of + 60, false) AS churned_60d,
           coalesce(c.churned_on <= f.as_of + 90, false) AS churned_90d,
           normalize.random_uniform_for(f.account_key, 0, 1, seed, 'account', 'split') AS u,
           normalize.random_uniform_for(f.account_key || '@' || f.as_of, 0, 1, seed, 'account', 'balance') AS v
      FROM normalize.customer_feature_store AS f
      LEFT JOIN churn AS c ON c.account_key = f.account_key
     WHERE f.as_of + 90 <= history
       AND (c.churned_on IS NULL OR c.churned_on > f.as_of);
    PERFORM normalize.drop_temp_table('nz_split_input');
    CREATE TEMP TABLE nz_split_input ON COMMIT DROP AS
    SELECT c.account_key::varchar AS key, bool_or(c.churned_90d) OVER (PARTITION BY c.account_key)::text AS stratum,
           c.u, c.as_of
      FROM nz_churn AS c;
    -- Looked up when run: the table is made afresh by every build.
    split_input := to_regclass('pg_temp.nz_split_input');
    INSERT INTO normalize.churn_samples
    SELECT c.account_key, c.as_of, s.split, c.churned_30d, c.churned_60d, c.churned_90d, 1
      FROM nz_churn AS c
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = c.account_key AND s.as_of = c.as_of;
    PERFORM normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, churn_positive_rate,
                                      balance_evaluation, seed);

    -- CLV: accounts active at the cutoff whose next 12 months are all
    -- observed; revenue after a churn is 0. Stratified by tier.
    PERFORM normalize.drop_temp_table('nz_clv');
    CREATE TEMP TABLE nz_clv ON COMMIT DROP AS
    SELECT f.account_key, f.as_of, s.tier,
           coalesce((SELECT sum(n.mrr) FROM normalize.account_snapshots AS n
                      WHERE n.account_key = f.account_key AND n.month > s.month
                        AND n.month <= s.month + interval '12 months'), 0) AS revenue_12m,
           normalize.random_uniform_for(f.account_key, 0, 1, seed, 'account', 'clv split') AS u
      FROM normalize.customer_feature_store AS f
      JOIN normalize.account_snapshots AS s
        ON s.account_key = f.account_key AND s.month = date_trunc('month', f.as_of)::date
     WHERE s.status = 'active'
       AND (s.month + interval '13 months' - interval '1 day')::date <= history;
    TRUNCATE nz_split_input;
    INSERT INTO nz_split_input
    SELECT c.account_key, a.tier, c.u, c.as_of
      FROM nz_clv AS c JOIN normalize.accounts AS a USING (account_key);
    INSERT INTO normalize.clv_samples
    SELECT c.account_key, c.as_of, s.split, c.tier, c.revenue_12m, 1
      FROM nz_clv AS c
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = c.account_key AND s.as_of = c.as_of;

    -- Device health: failures in the 7, 14 and 30 days after the cutoff;
    -- stratified and balanced by device type.
    -- Failures are rare: one scan of the history picks them out, and each
    -- cutoff then looks up its first failure in the 30 days after it in
    -- that small table, instead of three probes of the whole history.
    PERFORM normalize.drop_temp_table('nz_failures');
    CREATE TEMP TABLE nz_failures ON COMMIT DROP AS
    SELECT x.device_key, x.day FROM normalize.device_days AS x WHERE x.failure;
    CREATE INDEX ON nz_failures (device_key, day);
    ANALYZE nz_failures;
    PERFORM normalize.drop_temp_table('nz_device');
    CREATE TEMP TABLE nz_device ON COMMIT DROP AS
    SELECT f.device_key, f.as_of, f.device_type,
           coalesce(n.first_failure <= f.as_of + 7, false) AS failed_7d,
           coalesce(n.first_failure <= f.as_of + 14, false) AS failed_14d,
           n.first_failure IS NOT NULL AS failed_30d,
           normalize.random_uniform_for(f.device_key, 0, 1, seed, 'device', 'split') AS u
      FROM normalize.device_feature_store AS f
     CROSS JOIN LATERAL (SELECT min(x.day) AS first_failure FROM nz_failures AS x
                          WHERE x.device_key = f.device_key AND x.day > f.as_of AND x.day <= f.as_of + 30) AS n
     WHERE f.as_of + 30 <= history;
    TRUNCATE nz_split_input;
    INSERT INTO nz_split_input
    SELECT d.device_key, coalesce(d.device_type, '') || '/' || bool_or(d.failed_30d) OVER (PARTITION BY d.device_key),
           d.u, d.as_of
      FROM nz_device AS d;
    INSERT INTO normalize.device_health_samples
    SELECT d.device_key, d.as_of, s.split, d.device_type, d.failed_7d, d.failed_14d, d.failed_30d, 1
      FROM nz_device AS d
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = d.device_key AND s.as_of = d.as_of;
    PERFORM normalize.balance_samples('device_health_samples', 'device_key', 'failed_30d', 'device_type',
                                      device_positive_rate, balance_evaluation, seed);

    RETURN QUERY
    SELECT x.* FROM (
    SELECT 'churn'::text AS set_name, c.split AS split_name, count(*), count(*) FILTER (WHERE c.churned_90d),
           avg(c.churned_90d::int::float8), sum(c.sample_weight * c.churned_90d::int) / sum(c.sample_weight)
      FROM normalize.churn_samples AS c GROUP BY c.split
    UNION ALL
    SELECT 'clv', c.split, count(*), NULL, NULL, NULL FROM normalize.clv_samples AS c GROUP BY c.split
    UNION ALL
    SELECT 'device_health', d.split, count(*), count(*) FILTER (WHERE d.failed_30d),
           avg(d.failed_30d::int::float8), sum(d.sample_weight * d.failed_30d::int) / sum(d.sample_weight)
      FROM normalize.device_health_samples AS d GROUP BY d.split) AS x
    ORDER BY x.set_name, array_position(ARRAY['train', 'validation', 'test'], x.split_name);
END
$$;
COMMENT ON FUNCTION @extschema@.build_training_sets(bigint, float8, float8, text, float8, float8, boolean) IS
    'Builds the churn, CLV and device health training sets from the feature stores: censored labels, grouped (or time) splits stratified as the plan asks, and deterministic down-sampling of negatives to the target positive rates with weights that restore the natural rate';

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
    PERFORM normalize.require_sources();
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
    measured_by bigint;
    before_values jsonb;
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
    SELECT min(m.run_id) INTO measured_by FROM normalize.source_metrics AS m;
    IF measured_by IS NOT NULL THEN
        before_values := (SELECT jsonb_object_agg(m.metric, m.value) FROM normalize.source_metrics AS m);
    ELSE
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
                     CASE WHEN measured_by IS NOT NULL THEN 'every "before" as the run that built these tables read the sources'
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
          INTO outcome FROM normalize.reconcile_ids(orphan_policy => a ->> 'orphan_policy',
                                                    min_share => (a ->> 'min_share')::float8,
                                                    ambiguity_margin => (a ->> 'ambiguity_margin')::float8) AS r;
        -- The report's "before" is of the sources this run read.
        PERFORM normalize.record_source_metrics(run);
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

