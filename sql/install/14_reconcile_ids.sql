-- Phase 1 of the plan: reconciliation itself. Works on temp copies of the
-- sources (nz_src_<entity>), decides every row's fate in temp tables, and
-- only at the end replaces the normalized tables, so a failure leaves the
-- previous result in place.

-- The expression that a rule compares on each side: references are matched
-- to targets when ref_side(raw) = target_side(raw).
CREATE FUNCTION @extschema@.rule_match_sql(rule text, parameter text, side text, raw_sql text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE rule
    WHEN 'exact' THEN raw_sql
    WHEN 'normalized' THEN format('normalize.normalize_id(%s)', raw_sql)
    WHEN 'number' THEN format('normalize.id_number(%s)::text', raw_sql)
    WHEN 'offset' THEN CASE side
        WHEN 'reference' THEN format('(normalize.id_number(%s) - %s)::text', raw_sql, parameter::bigint)
        ELSE format('normalize.id_number(%s)::text', raw_sql) END
END;
COMMENT ON FUNCTION @extschema@.rule_match_sql(text, text, text, text) IS
    'Internal: the SQL expression a linking rule compares on the reference or the target side';

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

-- Resolves one reference of one entity: scores the rules, picks the best
-- one that links at least min_share of the rows, and writes
-- nz_link_<entity>_<reference> (row_no, target_key, rule, reason): the
-- crosswalk first, then the rule; reason says why a row has no target.
-- Targets come from temp table nz_targets_<target entity> (raw, target_key).
CREATE FUNCTION @extschema@.resolve_reference(entity text, reference text, min_share float8)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    best record;
    src text := 'nz_src_' || entity;
    targets text;
    link text := format('nz_link_%s_%s', entity, reference);
    target_kind text;
BEGIN
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = resolve_reference.entity AND k.reference = resolve_reference.reference;
    targets := 'nz_targets_' || ref.target_entity;
    SELECT e.kind INTO target_kind FROM normalize.entity_kinds AS e WHERE e.entity = ref.target_entity;

    PERFORM normalize.drop_temp_table('nz_cand_refs');
    PERFORM normalize.drop_temp_table('nz_cand_targets');
    EXECUTE format('CREATE TEMP TABLE nz_cand_refs ON COMMIT DROP AS
                    SELECT %I AS raw, count(*) AS rows FROM %I WHERE fate IS NULL GROUP BY 1',
                   ref.source_column, src);
    EXECUTE format('CREATE TEMP TABLE nz_cand_targets ON COMMIT DROP AS SELECT raw FROM %I', targets);
    INSERT INTO nz_rules
    SELECT ref.entity, ref.reference, c.rule, c.parameter, c.linked, c.total, false
      FROM normalize.rule_candidates(ref.entity, ref.reference) AS c;
    DROP TABLE nz_cand_refs;
    DROP TABLE nz_cand_targets;

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
    ELSE
        RAISE NOTICE 'no rule links at least % of %.%; its rows stay unlinked', min_share, entity, ref.source_column
            USING HINT = 'See normalize.suggest_id_rules(), and add links to normalize.id_crosswalk.';
    END IF;

    -- One row per distinct raw value: what it links to, and how.
    PERFORM normalize.drop_temp_table('nz_value_map');
    EXECUTE format($q$
        CREATE TEMP TABLE nz_value_map ON COMMIT DROP AS
        WITH refs AS (SELECT DISTINCT %1$I AS raw FROM %2$I WHERE fate IS NULL AND %1$I IS NOT NULL),
             by_rule AS (
                SELECT r.raw, min(t.target_key) AS target_key, count(t.target_key) AS matches
                  FROM refs AS r
                  LEFT JOIN (SELECT %3$s AS m, target_key FROM %4$I) AS t
                    ON %5$s AND t.m = %6$s
                 GROUP BY r.raw),
             crosswalk AS (
                SELECT x.raw_value AS raw, t.target_key
                  FROM normalize.id_crosswalk AS x
                  LEFT JOIN %4$I AS t ON t.target_key = normalize.stable_key(%7$L, x.target_id)
                 WHERE x.entity = %8$L AND x.reference = %9$L)
        SELECT r.raw,
               CASE WHEN x.raw IS NOT NULL THEN x.target_key
                    WHEN b.matches = 1 THEN b.target_key END AS target_key,
               CASE WHEN x.raw IS NOT NULL THEN 'crosswalk'
                    WHEN b.matches = 1 THEN %10$L END AS rule,
               CASE WHEN x.raw IS NOT NULL AND x.target_key IS NULL THEN 'crosswalk target not found'
                    WHEN x.raw IS NOT NULL THEN NULL
                    WHEN %5$s IS NOT TRUE THEN 'no rule links this column'
                    WHEN b.matches > 1 THEN 'ambiguous reference'
                    WHEN b.matches = 0 THEN 'no matching ' || %11$L END AS reason
          FROM refs AS r
          LEFT JOIN by_rule AS b ON b.raw = r.raw
          LEFT JOIN crosswalk AS x ON x.raw = r.raw
        $q$,
        ref.source_column, src,
        coalesce(normalize.rule_match_sql(best.rule, best.parameter, 'target', 'raw'), 'NULL::text'),
        targets,
        CASE WHEN best.rule IS NULL THEN 'false' ELSE 'true' END,
        coalesce(normalize.rule_match_sql(best.rule, best.parameter, 'reference', 'r.raw'), 'NULL::text'),
        target_kind, ref.entity, ref.reference,
        CASE WHEN best.rule IS NULL THEN NULL
             ELSE concat_ws(' ', best.rule, best.parameter) END,
        ref.reference);

    PERFORM normalize.drop_temp_table(link);
    EXECUTE format($q$
        CREATE TEMP TABLE %1$I ON COMMIT DROP AS
        SELECT s.row_no, m.target_key, m.rule,
               CASE WHEN normalize.normalize_id(s.%2$I) IS NULL THEN 'missing ' || %4$L || ' reference'
                    ELSE m.reason END AS reason
          FROM %3$I AS s
          LEFT JOIN nz_value_map AS m ON m.raw = s.%2$I
         WHERE s.fate IS NULL
        $q$, link, ref.source_column, src, ref.reference);
    EXECUTE format('CREATE INDEX ON %I (row_no)', link);
    EXECUTE format('ANALYZE %I', link);
    DROP TABLE nz_value_map;
    RETURN concat_ws(' ', best.rule, best.parameter);
END
$$;
COMMENT ON FUNCTION @extschema@.resolve_reference(text, text, float8) IS
    'Internal: resolves one reference of one entity during reconcile_ids';

CREATE FUNCTION @extschema@.reconcile_ids(orphan_policy text DEFAULT 'quarantine', min_share float8 DEFAULT 0.5)
RETURNS TABLE (entity text, source_rows bigint, linked bigint, assigned bigint, quarantined bigint,
               dropped bigint, superseded bigint, account_rule text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    cols text;
    rule_used text;
    src_cols text;
    rules jsonb := '{}';
    n_accounts bigint;
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
    PERFORM normalize.drop_temp_table('nz_quarantine');
    CREATE TEMP TABLE nz_rules (LIKE normalize.reconciliation_rules) ON COMMIT DROP;
    CREATE TEMP TABLE nz_quarantine (LIKE normalize.quarantine) ON COMMIT DROP;

    -- 1. Copy each source, with its stable key and the fate of rows whose
    --    key is missing, repeated on one snapshot date, or superseded by a
    --    later snapshot of the same entity.
    FOR e IN SELECT * FROM normalize.entity_kinds ORDER BY position LOOP
        PERFORM normalize.drop_temp_table('nz_src_' || e.entity);
        EXECUTE format($q$
            CREATE TEMP TABLE %1$I ON COMMIT DROP AS
            SELECT row_number() OVER () AS row_no, s.*, k.entity_key,
                   CASE WHEN k.entity_key IS NULL THEN 'missing id'
                        WHEN max(s.snapshot_date) OVER w_key IS NOT NULL
                         AND s.snapshot_date IS DISTINCT FROM max(s.snapshot_date) OVER w_key THEN 'superseded'
                        WHEN count(*) OVER w_date > 1 THEN 'key collision' END AS fate
              FROM (%2$s) AS s
             CROSS JOIN LATERAL (SELECT normalize.stable_key(%3$L, s.%4$I) AS entity_key) AS k
            WINDOW w_key AS (PARTITION BY k.entity_key),
                   w_date AS (PARTITION BY k.entity_key, s.snapshot_date)
            $q$, 'nz_src_' || e.entity, normalize.source_query(e.entity), e.kind, e.id_column);
        EXECUTE format('CREATE INDEX ON %I (row_no)', 'nz_src_' || e.entity);
        EXECUTE format('ANALYZE %I', 'nz_src_' || e.entity);
        EXECUTE format($q$
            INSERT INTO nz_quarantine (entity, source_id, reference, raw_value, reason, kept)
            SELECT %1$L, s.%2$I, NULL, s.%2$I, s.fate, false FROM %3$I AS s
             WHERE s.fate IN ('missing id', 'key collision')
            $q$, e.entity, e.id_column, 'nz_src_' || e.entity);
    END LOOP;

    -- 2. Accounts are the customers that survived step 1.
    PERFORM normalize.drop_temp_table('nz_targets_customers');
    CREATE TEMP TABLE nz_targets_customers ON COMMIT DROP AS
        SELECT s.customer_id AS raw, s.entity_key AS target_key FROM nz_src_customers AS s WHERE s.fate IS NULL;
    CREATE INDEX ON nz_targets_customers (target_key);
    ANALYZE nz_targets_customers;
    SELECT count(*) INTO n_accounts FROM nz_targets_customers;
    IF n_accounts = 0 THEN
        RAISE EXCEPTION 'the customers source has no usable rows'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Every account hangs off a customer; without one nothing can be linked.',
                  HINT = 'Check that the registered customers relation holds rows with customer IDs.';
    END IF;
    PERFORM normalize.drop_temp_table('nz_accounts_ordered');
    CREATE TEMP TABLE nz_accounts_ordered ON COMMIT DROP AS
        SELECT (row_number() OVER (ORDER BY t.target_key) - 1)::bigint AS idx, t.target_key
          FROM nz_targets_customers AS t;
    CREATE INDEX ON nz_accounts_ordered (idx);

    -- 3. Account references, then the orphan policy.
    FOR e IN SELECT k.entity, ek.kind FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS ek USING (entity)
              WHERE k.reference = 'account' ORDER BY ek.position LOOP
        rule_used := normalize.resolve_reference(e.entity, 'account', min_share);
        rules := rules || jsonb_build_object(e.entity, rule_used);
        PERFORM normalize.drop_temp_table('nz_acct_' || e.entity);
        EXECUTE format($q$
            CREATE TEMP TABLE %1$I ON COMMIT DROP AS
            SELECT l.row_no, s.entity_key,
                   CASE WHEN l.target_key IS NOT NULL THEN l.target_key
                        WHEN %3$L = 'assign' THEN a.target_key END AS account_key,
                   CASE WHEN l.target_key IS NOT NULL THEN l.rule
                        WHEN %3$L = 'assign' THEN 'assigned' END AS account_rule,
                   l.target_key IS NULL AND %3$L = 'assign' AS account_assigned,
                   l.reason
              FROM %2$I AS l
              JOIN %4$I AS s USING (row_no)
              LEFT JOIN nz_accounts_ordered AS a
                ON l.target_key IS NULL AND %3$L = 'assign'
               AND a.idx = floor(normalize.random_uniform_for(s.entity_key, 0, %5$s, 0, %6$L, 'assign account'))::bigint
            $q$, 'nz_acct_' || e.entity, format('nz_link_%s_account', e.entity), orphan_policy,
                 'nz_src_' || e.entity, n_accounts, e.kind);
        EXECUTE format('CREATE INDEX ON %I (row_no)', 'nz_acct_' || e.entity);
        EXECUTE format('ANALYZE %I', 'nz_acct_' || e.entity);
        IF orphan_policy <> 'drop' THEN
            EXECUTE format($q$
                INSERT INTO nz_quarantine (entity, source_id, reference, raw_value, reason, kept)
                SELECT %1$L, s.%2$I, 'account', s.account_id, a.reason, a.account_key IS NOT NULL
                  FROM %3$I AS a JOIN %4$I AS s USING (row_no)
                 WHERE a.reason IS NOT NULL
                $q$, e.entity, (SELECT id_column FROM normalize.entity_kinds AS k WHERE k.entity = e.entity),
                     'nz_acct_' || e.entity, 'nz_src_' || e.entity);
        END IF;
    END LOOP;

    -- 4. Locations that have an account are the devices' location targets.
    PERFORM normalize.drop_temp_table('nz_targets_locations');
    CREATE TEMP TABLE nz_targets_locations ON COMMIT DROP AS
        SELECT s.location_id AS raw, s.entity_key AS target_key, a.account_key
          FROM nz_src_locations AS s JOIN nz_acct_locations AS a USING (row_no)
         WHERE a.account_key IS NOT NULL;
    CREATE INDEX ON nz_targets_locations (target_key);
    ANALYZE nz_targets_locations;
    rules := rules || jsonb_build_object('devices.location', normalize.resolve_reference('devices', 'location', min_share));
    PERFORM normalize.drop_temp_table('nz_loc_devices');
    EXECUTE format($q$
        CREATE TEMP TABLE nz_loc_devices ON COMMIT DROP AS
        WITH linked AS (
            SELECT a.row_no, a.entity_key, a.account_key, s.location_id AS raw,
                   CASE WHEN t.account_key = a.account_key THEN l.target_key END AS location_key,
                   CASE WHEN t.account_key = a.account_key THEN l.rule END AS location_rule,
                   CASE WHEN l.target_key IS NOT NULL AND t.account_key IS DISTINCT FROM a.account_key
                        THEN 'location of another account'
                        WHEN l.target_key IS NULL AND s.location_id IS NOT NULL THEN coalesce(l.reason, 'no matching location')
                   END AS reason
              FROM nz_acct_devices AS a
              JOIN nz_src_devices AS s USING (row_no)
              LEFT JOIN nz_link_devices_location AS l USING (row_no)
              LEFT JOIN nz_targets_locations AS t ON t.target_key = l.target_key
             WHERE a.account_key IS NOT NULL),
        per_account AS (
            SELECT t.account_key, t.target_key,
                   (row_number() OVER (PARTITION BY t.account_key ORDER BY t.target_key) - 1)::bigint AS idx,
                   count(*) OVER (PARTITION BY t.account_key) AS n
              FROM nz_targets_locations AS t)
        SELECT d.row_no, d.raw, d.reason,
               coalesce(d.location_key, p.target_key) AS location_key,
               CASE WHEN d.location_key IS NOT NULL THEN d.location_rule
                    WHEN p.target_key IS NOT NULL THEN 'assigned' END AS location_rule,
               d.location_key IS NULL AND p.target_key IS NOT NULL AS location_assigned
          FROM linked AS d
          LEFT JOIN per_account AS p
            ON %1$L = 'assign' AND d.location_key IS NULL AND p.account_key = d.account_key
           AND p.idx = floor(normalize.random_uniform_for(d.entity_key, 0, p.n, 0, 'device', 'assign location'))::bigint
        $q$, orphan_policy);
    CREATE INDEX ON nz_loc_devices (row_no);
    ANALYZE nz_loc_devices;
    INSERT INTO nz_quarantine (entity, source_id, reference, raw_value, reason, kept)
    SELECT 'devices', s.device_id, 'location', l.raw, l.reason, true
      FROM nz_loc_devices AS l JOIN nz_src_devices AS s USING (row_no)
     WHERE l.reason IS NOT NULL;

    -- 5. Replace the normalized tables. The foreign keys are dropped and
    --    re-added around the load: one validating join per key instead of
    --    a trigger call per row.
    ALTER TABLE normalize.account_map DROP CONSTRAINT account_map_account_key_fkey;
    ALTER TABLE normalize.locations DROP CONSTRAINT locations_account_fk;
    ALTER TABLE normalize.subscriptions DROP CONSTRAINT subscriptions_account_fk;
    ALTER TABLE normalize.devices DROP CONSTRAINT devices_account_fk, DROP CONSTRAINT devices_location_fk;
    ALTER TABLE normalize.users DROP CONSTRAINT users_account_fk;
    ALTER TABLE normalize.campaigns DROP CONSTRAINT campaigns_account_fk;
    TRUNCATE normalize.account_map, normalize.devices, normalize.locations, normalize.subscriptions,
             normalize.users, normalize.campaigns, normalize.accounts, normalize.id_map,
             normalize.quarantine, normalize.key_collisions, normalize.reconciliation_rules;

    SELECT string_agg(quote_ident(c.column_name), ', ' ORDER BY c.position) INTO cols
      FROM normalize.source_contract AS c WHERE c.entity = 'customers' AND c.type_class <> 'id';
    EXECUTE format('INSERT INTO normalize.accounts (account_key, source_id, %1$s)
                    SELECT s.entity_key, s.customer_id, %2$s FROM nz_src_customers AS s WHERE s.fate IS NULL',
                   cols, (SELECT string_agg('s.' || quote_ident(c.column_name), ', ' ORDER BY c.position)
                            FROM normalize.source_contract AS c WHERE c.entity = 'customers' AND c.type_class <> 'id'));
    FOR e IN SELECT ek.entity, ek.kind, ek.id_column FROM normalize.entity_kinds AS ek
              WHERE ek.entity <> 'customers' ORDER BY ek.position LOOP
        SELECT string_agg(quote_ident(c.column_name), ', ' ORDER BY c.position),
               string_agg('s.' || quote_ident(c.column_name), ', ' ORDER BY c.position)
          INTO cols, src_cols
          FROM normalize.source_contract AS c WHERE c.entity = e.entity AND c.type_class <> 'id';
        EXECUTE format($q$
            INSERT INTO normalize.%1$I (%2$I, account_key, source_id, source_account_ref, account_rule,
                                       account_assigned, %3$s %4$s)
            SELECT s.entity_key, a.account_key, s.%5$I, s.account_id, a.account_rule, a.account_assigned,
                   %6$s %7$s
              FROM nz_src_%8$s AS s
              JOIN nz_acct_%8$s AS a USING (row_no)
              %9$s
             WHERE a.account_key IS NOT NULL
            $q$, e.entity, e.kind || '_key', cols,
                 CASE WHEN e.entity = 'devices'
                      THEN ', location_key, source_location_ref, location_rule, location_assigned' ELSE '' END,
                 e.id_column, src_cols,
                 CASE WHEN e.entity = 'devices'
                      THEN ', l.location_key, s.location_id, l.location_rule, l.location_assigned' ELSE '' END,
                 e.entity,
                 CASE WHEN e.entity = 'devices' THEN 'LEFT JOIN nz_loc_devices AS l USING (row_no)' ELSE '' END);
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

    -- 6. The maps and the record.
    INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
    SELECT 'customers', s.customer_id, s.entity_key, 'primary', 1 FROM nz_src_customers AS s WHERE s.fate IS NULL;
    FOR e IN SELECT k.entity, ek.id_column FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS ek USING (entity) WHERE k.reference = 'account' LOOP
        EXECUTE format($q$
            INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
            SELECT %1$L, s.account_id, a.account_key, a.account_rule, count(*)
              FROM nz_src_%1$s AS s JOIN nz_acct_%1$s AS a USING (row_no)
             WHERE a.account_key IS NOT NULL AND NOT a.account_assigned
             GROUP BY s.account_id, a.account_key, a.account_rule
            $q$, e.entity);
    END LOOP;
    ALTER TABLE normalize.account_map ADD CONSTRAINT account_map_account_key_fkey
        FOREIGN KEY (account_key) REFERENCES normalize.accounts;

    FOR e IN SELECT * FROM normalize.entity_kinds ORDER BY position LOOP
        EXECUTE format($q$
            INSERT INTO normalize.id_map (entity, source_id, entity_key, account_key, status)
            SELECT %1$L, s.%2$I, s.entity_key, %3$s,
                   CASE WHEN s.fate = 'superseded' THEN 'superseded'
                        WHEN s.fate IS NOT NULL THEN 'quarantined'
                        %4$s
                        ELSE 'linked' END
              FROM nz_src_%1$s AS s %5$s
            $q$, e.entity, e.id_column,
                 CASE WHEN e.entity = 'customers' THEN 'CASE WHEN s.fate IS NULL THEN s.entity_key END'
                      ELSE 'a.account_key' END,
                 CASE WHEN e.entity = 'customers' THEN ''
                      ELSE format($w$WHEN a.account_assigned THEN 'assigned'
                                     WHEN a.account_key IS NULL THEN %L$w$,
                                  CASE orphan_policy WHEN 'drop' THEN 'dropped' ELSE 'quarantined' END) END,
                 CASE WHEN e.entity = 'customers' THEN ''
                      ELSE format('LEFT JOIN nz_acct_%s AS a USING (row_no)', e.entity) END);
    END LOOP;

    INSERT INTO normalize.quarantine SELECT * FROM nz_quarantine;
    INSERT INTO normalize.key_collisions (entity, entity_key, source_ids)
    SELECT m.entity, m.entity_key, array_agg(m.source_id ORDER BY m.source_id)
      FROM normalize.id_map AS m
     WHERE m.status = 'quarantined' AND m.entity_key IS NOT NULL
       AND EXISTS (SELECT 1 FROM normalize.quarantine AS q
                    WHERE q.entity = m.entity AND q.source_id = m.source_id AND q.reason = 'key collision')
     GROUP BY m.entity, m.entity_key;
    INSERT INTO normalize.reconciliation_rules SELECT * FROM nz_rules;

    RETURN QUERY
    SELECT ek.entity,
           count(*),
           count(*) FILTER (WHERE m.status = 'linked'),
           count(*) FILTER (WHERE m.status = 'assigned'),
           count(*) FILTER (WHERE m.status = 'quarantined'),
           count(*) FILTER (WHERE m.status = 'dropped'),
           count(*) FILTER (WHERE m.status = 'superseded'),
           CASE WHEN ek.entity = 'customers' THEN 'primary' ELSE rules ->> ek.entity END
      FROM normalize.entity_kinds AS ek
      JOIN normalize.id_map AS m ON m.entity = ek.entity
     GROUP BY ek.entity, ek.position
     ORDER BY ek.position;
END
$$;
COMMENT ON FUNCTION @extschema@.reconcile_ids(text, float8) IS
    'Links every source row to its account with the best discovered rule (crosswalk first), and rebuilds the normalized tables, the account map and the id map; orphans are quarantined, assigned or dropped';
