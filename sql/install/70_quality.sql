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
    ('source rows linked', 'completeness', '>=', 0.95, 'warn',
     'Share of an entity''s source rows (superseded snapshots and duplicates aside) linked by a rule or the crosswalk', true),
    ('reference rule decided', 'completeness', '>=', 1, 'fail',
     'Whether the rows of a reference decided its rule (an undecided one links nothing until declared in id_rule_overrides)', true),
    ('optional sources registered', 'completeness', '>=', 1, 'warn',
     'Share of the optional entities (all but the customers) with a registered source; the others'' tables, features and training sets are empty', true),
    ('category values known', 'type consistency', '>=', 1, 'warn',
     'Share of a column of categories (status, role, tier) whose values the vocabulary knows (category_values, category_spellings)', true),
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
     'Feature values of a sample of 200 entities that differ from the feature views recomputed from what was known at each cutoff', true),
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
CREATE FUNCTION @extschema@.wilson_interval(k bigint, n bigint, confidence float8, OUT low float8, OUT high float8)
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

-- Simulated annual churn per tier over the last twelve months of the
-- history: the accounts active at its start, by their tier then, how many
-- churned since, the Wilson interval at `confidence`, and the plan's band.
CREATE FUNCTION @extschema@.annual_churn_by_tier(confidence float8)
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
CREATE FUNCTION @extschema@.profile_values(origin text)
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
        -- An entity without a source has no values (its normalized table,
        -- read with no rows, gives the columns).
        devices := CASE WHEN normalize.is_registered('devices') THEN format('(%s)', normalize.source_query('devices'))
                        ELSE '(SELECT * FROM normalize.devices WHERE false)' END;
        users := CASE WHEN normalize.is_registered('users') THEN format('(%s)', normalize.source_query('users'))
                      ELSE '(SELECT * FROM normalize.users WHERE false)' END;
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
                SELECT 'devices.health_score, ' || coalesce(d.status, '(none)'),
                       coalesce((SELECT c.profile FROM normalize.category_values AS c
                                  WHERE c.category = 'device status' AND c.value = d.status), 'device_health'),
                       d.health_score::float8
                  FROM %2$s AS d
                UNION ALL
                SELECT 'devices.uptime', 'device_uptime', d.uptime::float8 FROM %2$s AS d
                UNION ALL
                SELECT 'users.engagement_score, ' || coalesce(u.role, '(none)'),
                       coalesce((SELECT c.profile FROM normalize.category_values AS c
                                  WHERE c.category = 'user role' AND c.value = u.role), 'engagement_standard'),
                       u.engagement_score::float8
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
CREATE FUNCTION @extschema@.quality_count(from_sql text, key_sql text, failing text,
                                          OUT total bigint, OUT failing_rows bigint, OUT sample_keys text[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Counts alone, which the planner can split among parallel workers (an
    -- ordered aggregate of the keys would keep the scan on one process);
    -- the keys of the first failing rows in a second pass, only when
    -- there are any.
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE coalesce(%2$s, false)) FROM %1$s', from_sql, failing)
       INTO total, failing_rows;
    sample_keys := ARRAY[]::text[];
    IF failing_rows > 0 THEN
        EXECUTE format('SELECT coalesce(array_agg(s.k ORDER BY s.k), ARRAY[]::text[])
                          FROM (SELECT DISTINCT (%2$s)::text AS k FROM %1$s WHERE coalesce(%3$s, false)
                                 ORDER BY 1 LIMIT 5) AS s',
                       from_sql, key_sql, failing)
           INTO sample_keys;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_count(text, text, text) IS
    'Internal: rows, failing rows and a sample of failing keys of one row-level quality check';

-- One finding of a quality check, before its threshold is applied. ok is
-- the verdict where the check decides it itself (band checks, missing
-- inputs); otherwise observed is compared with the threshold. undecided:
-- too little data to say, reported as a warning.
CREATE TYPE @extschema@.quality_finding AS (
    check_name text, entity text, observed float8, failing_rows bigint, sample_keys text[], detail text,
    ok boolean, undecided boolean);
COMMENT ON TYPE @extschema@.quality_finding IS
    'Internal: one finding of a step of quality_checks, before its threshold is applied';

-- The feature entities whose source is registered (an entity without one
-- has no history, so nothing of it is checked).
CREATE FUNCTION @extschema@.checked_feature_entities()
RETURNS TABLE (entity text, key text, store text, base_view text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.feature_entity, k.kind || '_key', k.feature_entity || '_feature_store', k.base_view
      FROM normalize.entity_kinds AS k
     WHERE k.feature_entity IS NOT NULL AND normalize.is_registered(k.entity)
     ORDER BY k.position
$$;
COMMENT ON FUNCTION @extschema@.checked_feature_entities() IS
    'Internal: the feature entities (customer, device, user) whose source is registered, with their key, store and base view';

-- The checks that read a whole feature store, in one pass over it: its
-- rows, those missing a required feature of the catalog (with the first
-- five of their keys) and those dated after the history's as_of (none
-- counted without a history). quality_checks makes them once for its two
-- steps that use them (the store of the device features is the largest
-- table), in the temp table nz_store_checks; a step called alone makes its
-- own.
CREATE FUNCTION @extschema@.store_check_counts(entity text, OUT total bigint, OUT missing_required bigint,
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
CREATE FUNCTION @extschema@.store_checks(entity text, OUT total bigint, OUT missing_required bigint,
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
CREATE FUNCTION @extschema@.quality_completeness()
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

-- Type consistency: category values known, key columns of one type, keys
-- that carry their kind, feature types that match the catalog.
CREATE FUNCTION @extschema@.quality_type_consistency()
RETURNS SETOF @extschema@.quality_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    e record;
    q record;
    n bigint;
BEGIN
    -- Columns of categories: a value the vocabulary does not know was kept
    -- as spelled, and no phase knows what it means.
    FOR e IN SELECT c.entity, c.column_name, c.category, k.table_name,
                    -- repair keeps the tier as read in tier_observed
                    CASE WHEN c.column_name = 'tier' THEN 'coalesce(t.tier_observed, t.tier)'
                         ELSE format('t.%I', c.column_name) END AS col
               FROM normalize.source_contract AS c JOIN normalize.entity_kinds AS k USING (entity)
              WHERE c.category IS NOT NULL AND normalize.is_registered(c.entity)
              ORDER BY k.position, c.column_name LOOP
        EXECUTE format('SELECT count(*) FROM normalize.%I AS t WHERE %s IS NOT NULL', e.table_name, e.col) INTO n;
        RETURN QUERY
        SELECT 'category values known', format('%s.%s', e.table_name, e.column_name),
               CASE WHEN n > 0 THEN 1 - coalesce(sum(u.rows), 0)::float8 / n ELSE 1 END, coalesce(sum(u.rows), 0)::bigint,
               coalesce((array_agg(u.value ORDER BY u.rows DESC, u.value COLLATE "C"))[1:5], '{}'),
               format('%s of %s values known as a %s%s', n - coalesce(sum(u.rows), 0), n, e.category,
                      coalesce('; unknown: ' || string_agg(format('%s (%s)', u.value, u.rows), ', '
                                                           ORDER BY u.rows DESC, u.value COLLATE "C"), '')),
               NULL::boolean, false
          FROM normalize.unknown_categories(format('normalize.%I', e.table_name)::regclass, e.col, e.category) AS u;
    END LOOP;
    RETURN QUERY
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
    SELECT 'key columns of one type', 'all tables', (SELECT count(*) FROM t)::float8,
           (SELECT count(*) FROM k WHERE k.type_name <> (SELECT type_name FROM main)),
           ARRAY(SELECT k.col FROM k WHERE k.type_name <> (SELECT type_name FROM main) ORDER BY 1 LIMIT 5),
           (SELECT string_agg(t.type_name || ' (' || t.n || ' columns)', '; ' ORDER BY t.n DESC) FROM t),
           NULL::boolean, false;
    FOR e IN SELECT k.kind, k.table_name FROM normalize.entity_kinds AS k
              WHERE normalize.is_registered(k.entity) ORDER BY k.position LOOP
        SELECT * INTO q FROM normalize.quality_count(format('normalize.%I', e.table_name), format('%I', e.kind || '_key'),
                                                     format('left(%I, %s) <> %L', e.kind || '_key',
                                                            length(e.kind) + 1, e.kind || ':'));
        RETURN NEXT ROW('keys carry their kind', e.table_name,
                        CASE WHEN q.total > 0 THEN 1 - q.failing_rows::float8 / q.total ELSE 1 END,
                        q.failing_rows, q.sample_keys, format('%s keys, each to start with %L', q.total, e.kind || ':'),
                        NULL, false)::"normalize".quality_finding;
    END LOOP;
    RETURN QUERY
    SELECT 'feature types match the catalog', m.entity || ' features', (count(*) FILTER (WHERE m.mismatch))::float8,
           count(*) FILTER (WHERE m.mismatch), (array_agg(m.feature ORDER BY m.position) FILTER (WHERE m.mismatch))[1:5],
           count(*) || ' features in the catalog', NULL::boolean, false
      FROM (SELECT c.entity, c.feature::text AS feature, c.position,
                   a.attname IS NULL OR format_type(a.atttypid, a.atttypmod)
                                        <> CASE c.data_type WHEN 'float8' THEN 'double precision' ELSE 'text' END AS mismatch
              FROM normalize.feature_catalog AS c
              LEFT JOIN pg_attribute AS a
                ON a.attrelid = format('normalize.%I', c.entity || '_feature_store')::regclass
               AND a.attname = c.feature AND a.attnum > 0 AND NOT a.attisdropped) AS m
     GROUP BY m.entity;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_type_consistency() IS
    'Internal: the type-consistency findings of quality_checks';

-- Distributions: what repair_values generated or kept, against the
-- profiles it draws from; MRR within its tier's range; scores in 0-100.
CREATE FUNCTION @extschema@.quality_distributions()
RETURNS SETOF @extschema@.quality_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r record;
    q record;
BEGIN
    RETURN QUERY
    SELECT 'fits its profile', d.label, (d.ks).p_value, NULL::bigint, NULL::text[],
           format('%s values against %s: D = %s', (d.ks).n, d.profile, round((d.ks).statistic::numeric, 4)),
           NULL::boolean, (d.ks).n < 5
      FROM (SELECT v.label, v.profile, normalize.ks_test(v.value, v.profile) AS ks
              FROM normalize.profile_values('normalized') AS v
             GROUP BY v.label, v.profile) AS d
     ORDER BY d.label;
    SELECT * INTO q FROM normalize.quality_count(
        '(SELECT a.account_key, a.mrr, p.lower, p.upper FROM normalize.accounts AS a
            JOIN normalize.distribution_profiles AS p ON p.name = ''mrr_'' || lower(replace(a.tier, '' '', ''_''))) AS x',
        'account_key', 'NOT (x.mrr >= coalesce(x.lower, ''-infinity'') AND x.mrr <= coalesce(x.upper, ''infinity''))');
    RETURN NEXT ROW('mrr within its tier''s range', 'accounts', CASE WHEN q.total > 0 THEN 1 - q.failing_rows::float8 / q.total END,
                    q.failing_rows, q.sample_keys, format('%s accounts with a tier profile', q.total), NULL, false)::"normalize".quality_finding;
    FOR r IN SELECT * FROM (VALUES ('devices', 'health_score', 'device_key'), ('devices', 'uptime', 'device_key'),
                                   ('users', 'engagement_score', 'user_key'), ('device_days', 'health', 'device_key'),
                                   ('user_weeks', 'engagement', 'user_key')) AS x(tbl, col, key) LOOP
        SELECT * INTO q FROM normalize.quality_count(format('normalize.%I', r.tbl), format('%I', r.key),
                                                     format('NOT (%1$I >= 0 AND %1$I <= 100)', r.col));
        IF q.total > 0 THEN
            RETURN NEXT ROW('scores within 0-100', r.tbl || '.' || r.col, 1 - q.failing_rows::float8 / q.total,
                            q.failing_rows, q.sample_keys, format('%s values', q.total), NULL, false)::"normalize".quality_finding;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_distributions() IS
    'Internal: the distribution findings of quality_checks';

-- Temporal consistency of the history: nothing after churn, no gaps, the
-- months covered.
CREATE FUNCTION @extschema@.quality_temporal()
RETURNS SETOF @extschema@.quality_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    h record;
    r record;
    q record;
BEGIN
    SELECT * INTO h FROM normalize.history_info;
    IF h IS NULL THEN
        RETURN QUERY
        SELECT x.c, 'history', NULL::float8, NULL::bigint, NULL::text[], 'no history yet: run normalize.build_history()',
               false, false
          FROM unnest(ARRAY['no snapshots after churn', 'no events after churn', 'no gaps', 'history covers the months']) AS x(c);
        RETURN;
    END IF;
    SELECT * INTO q FROM normalize.quality_count(
        '(SELECT s.account_key FROM normalize.account_snapshots AS s
            JOIN (SELECT c.account_key, min(c.month) AS churned FROM normalize.account_snapshots AS c
                   WHERE c.status = ''churned'' GROUP BY c.account_key) AS c
              ON c.account_key = s.account_key AND s.month > c.churned) AS x', 'account_key', 'true');
    RETURN NEXT ROW('no snapshots after churn', 'account_snapshots', q.failing_rows, q.failing_rows, q.sample_keys,
                    'snapshots dated after their account''s churn month', NULL, false)::"normalize".quality_finding;
    SELECT * INTO q FROM normalize.quality_count(
        '(SELECT v.entity_key FROM normalize.lifecycle_events AS v
            JOIN (SELECT c.entity_key, min(c.event_date) AS churned FROM normalize.lifecycle_events AS c
                   WHERE c.entity = ''account'' AND c.event = ''churn'' GROUP BY c.entity_key) AS c
              ON c.entity_key = v.entity_key AND v.entity = ''account'' AND v.event_date > c.churned) AS x',
        'entity_key', 'true');
    RETURN NEXT ROW('no events after churn', 'lifecycle_events', q.failing_rows, q.failing_rows, q.sample_keys,
                    'account events dated after the account''s churn', NULL, false)::"normalize".quality_finding;
    FOR r IN SELECT * FROM (VALUES
                ('customers', 'account_snapshots', 'account_key',
                 '(extract(year FROM age(max(month), min(month))) * 12 + extract(month FROM age(max(month), min(month))) + 1)'),
                ('devices', 'device_days', 'device_key', '(max(day) - min(day) + 1)'),
                ('users', 'user_weeks', 'user_key', '((max(week) - min(week)) / 7 + 1)')) AS x(entity, tbl, key, span)
              WHERE normalize.is_registered(x.entity) LOOP
        SELECT * INTO q FROM normalize.quality_count(
            format('(SELECT %1$I AS k, count(*) = %3$s AS complete FROM normalize.%2$I GROUP BY %1$I) AS x',
                   r.key, r.tbl, r.span), 'k', 'NOT x.complete');
        RETURN NEXT ROW('no gaps', r.tbl, q.failing_rows, q.failing_rows, q.sample_keys,
                        format('%s entities with history', q.total), NULL, false)::"normalize".quality_finding;
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
    RETURN NEXT ROW('history covers the months', 'account_snapshots',
                    CASE WHEN q.total > 0 THEN 1 - q.failing_rows::float8 / q.total ELSE 1 END, q.failing_rows, q.sample_keys,
                    format('%s accounts older than the window %s to %s (%s months)', q.total, h.window_start, h.as_of, h.months),
                    NULL, false)::"normalize".quality_finding;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_temporal() IS
    'Internal: the temporal-consistency findings of quality_checks';

-- Labels: positive rates per split and tier, censoring, and the simulated
-- annual churn against the plan's bands.
CREATE FUNCTION @extschema@.quality_labels()
RETURNS SETOF @extschema@.quality_finding
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    h record;
    q record;
BEGIN
    SELECT * INTO h FROM normalize.history_info;
    IF NOT EXISTS (SELECT 1 FROM normalize.training_info) THEN
        RETURN QUERY
        SELECT x.c, 'training sets', NULL::float8, NULL::bigint, NULL::text[],
               'no training sets yet: run normalize.build_training_sets()', false, false
          FROM unnest(ARRAY['positive rate per split', 'labels censored']) AS x(c);
    ELSE
        RETURN QUERY
        SELECT 'positive rate per split', x.set_name || ', ' || x.split, x.positives::float8 / x.n,
               NULL::bigint, NULL::text[], format('%s positives of %s samples (%s)', x.positives, x.n, x.label),
               NULL::boolean, false
          FROM (SELECT 'churn' AS set_name, 'churned_90d' AS label, c.split, count(*) AS n,
                       count(*) FILTER (WHERE c.churned_90d) AS positives
                  FROM normalize.churn_samples AS c GROUP BY c.split
                UNION ALL
                SELECT 'device health', 'failed_30d', d.split, count(*), count(*) FILTER (WHERE d.failed_30d)
                  FROM normalize.device_health_samples AS d GROUP BY d.split) AS x
         ORDER BY x.set_name, array_position(ARRAY['train', 'validation', 'test'], x.split);
        RETURN QUERY
        SELECT 'positive rate per tier', 'churn, ' || s.tier,
               (count(*) FILTER (WHERE c.churned_90d))::float8 / count(*), NULL::bigint, NULL::text[],
               format('%s positives of %s samples (churned_90d, tier at the cutoff)',
                      count(*) FILTER (WHERE c.churned_90d), count(*)),
               NULL::boolean, false
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
        RETURN NEXT ROW('labels censored', 'training sets', q.failing_rows, q.failing_rows, q.sample_keys,
                        format('%s samples of the churn, CLV and device health sets', q.total), NULL, false)::"normalize".quality_finding;
    END IF;
    IF h IS NOT NULL THEN
        RETURN QUERY
        SELECT 'annual churn within the band', b.tier, b.rate, NULL::bigint, NULL::text[],
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
END
$$;
COMMENT ON FUNCTION @extschema@.quality_labels() IS
    'Internal: the label findings of quality_checks';

-- Leakage: stored features against what was known at their cutoff, and
-- nothing dated after the history.
CREATE FUNCTION @extschema@.quality_leakage()
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

-- Feature coverage: the catalog's features present in each store.
CREATE FUNCTION @extschema@.quality_feature_coverage()
RETURNS SETOF @extschema@.quality_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'features per entity', c.entity || ' features', count(a.attname)::float8, NULL::bigint, NULL::text[],
           count(*) || ' in the catalog, ' || count(a.attname) || ' in the feature store', NULL::boolean, false
      FROM normalize.feature_catalog AS c
      JOIN normalize.checked_feature_entities() AS e ON e.entity = c.entity
      LEFT JOIN pg_attribute AS a
        ON a.attrelid = format('normalize.%I', e.store)::regclass
       AND a.attname = c.feature AND a.attnum > 0 AND NOT a.attisdropped
     GROUP BY c.entity ORDER BY c.entity
$$;
COMMENT ON FUNCTION @extschema@.quality_feature_coverage() IS
    'Internal: the feature-coverage findings of quality_checks';

CREATE FUNCTION @extschema@.quality_checks()
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

-- A row of quality_checks, for passing its result on as an argument.
CREATE TYPE @extschema@.quality_check AS (
    category text, entity text, check_name text, observed float8, threshold float8, status text,
    failing_rows bigint, sample_keys text[], detail text);
COMMENT ON TYPE @extschema@.quality_check IS
    'Internal: a row of quality_checks(), as ml_readiness_report and readiness_report_html pass them on';

-- The readiness report's "before", as a run of the pipeline measured it on
-- the sources it read: the report of that run then compares its own inputs
-- with what it built, even once the sources have moved on. reconcile_ids
-- empties it (called by hand, the report measures the sources as they are).
CREATE TABLE @extschema@.source_metrics (
    metric      text PRIMARY KEY,
    value       numeric,
    run_id      bigint NOT NULL,
    measured_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE @extschema@.source_metrics IS
    'The readiness report''s "before" metrics, measured on the sources by the run that read them (its reconcile phase)';

-- The "before" of four of the plan's metrics, on the registered sources as
-- they stand: the share of source rows whose account reference joins a
-- customer ID as it is, the months their snapshot dates span, the contract
-- columns of the least-described feature entity, and the share of the
-- profile checks the raw values pass.
CREATE FUNCTION @extschema@.measure_sources()
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
CREATE FUNCTION @extschema@.record_source_metrics(run bigint)
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
CREATE FUNCTION @extschema@.readiness_metrics(checks @extschema@.quality_check[])
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

CREATE FUNCTION @extschema@.ml_readiness_report()
RETURNS TABLE (metric text, target text, before numeric, after numeric, unit text, passed boolean, detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
BEGIN
    -- Before the checks, which cost far more than this one.
    PERFORM normalize.require_sources();
    RETURN QUERY
    SELECT r.* FROM normalize.readiness_metrics(ARRAY(SELECT ROW(q.*)::"normalize".quality_check
                                                         FROM normalize.quality_checks() AS q)) AS r;
END
$$;
COMMENT ON FUNCTION @extschema@.ml_readiness_report() IS
    'The plan''s five success metrics (data completeness, value realism, historical coverage, feature coverage, training set quality): target, before (the sources) and after, and whether each passes';
