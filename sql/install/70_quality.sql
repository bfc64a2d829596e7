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
DECLARE
    h record;
    e record;
    r record;
    q record;
    cond text;
    n bigint;
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
    -- What should have linked and did: every source row that is not a
    -- superseded snapshot or a duplicate (a device's location reference is
    -- validate_relationships'). Rows kept aside (orphans, undecided rules)
    -- count against.
    INSERT INTO nz_checks (check_name, entity, observed, failing_rows, detail)
    SELECT 'source rows linked', m.entity, count(*) FILTER (WHERE m.status = 'linked')::float8 / nullif(count(*), 0),
           count(*) FILTER (WHERE m.status <> 'linked'),
           format('%s of %s rows linked%s', count(*) FILTER (WHERE m.status = 'linked'), count(*),
                  coalesce('; ' || string_agg(DISTINCT m.status, ', ') FILTER (WHERE m.status <> 'linked'), ''))
      FROM normalize.id_map AS m
      JOIN normalize.entity_kinds AS k USING (entity)
     WHERE m.status NOT IN ('superseded', 'duplicate')
     GROUP BY m.entity, k.position ORDER BY k.position;
    -- A reference whose rows did not decide between rules links nothing
    -- by them until the user declares one.
    INSERT INTO nz_checks (check_name, entity, observed, failing_rows, detail)
    SELECT 'reference rule decided', k.entity || '.' || k.reference,
           CASE WHEN bool_or(r.status = 'ambiguous') THEN 0 ELSE 1 END,
           (SELECT count(*) FROM normalize.quarantine AS q
             WHERE q.entity = k.entity AND q.reference = k.reference AND q.reason = 'ambiguous rule'),
           coalesce('undecided between ' || string_agg(concat_ws(' ', r.rule, r.parameter), ', ' ORDER BY r.linked DESC, r.parameter)
                                                FILTER (WHERE r.status = 'ambiguous'),
                    'links by ' || min(concat_ws(' ', r.rule, r.parameter) || CASE WHEN r.status = 'declared' THEN ' (declared)' ELSE '' END)
                                       FILTER (WHERE r.chosen),
                    'no rule links it')
      FROM normalize.reference_kinds AS k
      JOIN normalize.entity_kinds AS e USING (entity)
      LEFT JOIN normalize.reconciliation_rules AS r USING (entity, reference)
     GROUP BY k.entity, k.reference, e.position ORDER BY e.position, k.reference;

    -- Type consistency -----------------------------------------------------
    -- Columns of categories: a value the vocabulary does not know was kept
    -- as spelled, and no phase knows what it means.
    FOR e IN SELECT c.entity, c.column_name, c.category, k.table_name,
                    -- repair keeps the tier as read in tier_observed
                    CASE WHEN c.column_name = 'tier' THEN 'coalesce(t.tier_observed, t.tier)'
                         ELSE format('t.%I', c.column_name) END AS col
               FROM normalize.source_contract AS c JOIN normalize.entity_kinds AS k USING (entity)
              WHERE c.category IS NOT NULL ORDER BY k.position, c.column_name LOOP
        EXECUTE format('SELECT count(*) FROM normalize.%I AS t WHERE %s IS NOT NULL', e.table_name, e.col) INTO n;
        INSERT INTO nz_checks (check_name, entity, observed, failing_rows, sample_keys, detail)
        SELECT 'category values known', format('%s.%s', e.table_name, e.column_name),
               CASE WHEN n > 0 THEN 1 - coalesce(sum(u.rows), 0)::float8 / n ELSE 1 END, coalesce(sum(u.rows), 0),
               coalesce((array_agg(u.value ORDER BY u.rows DESC, u.value COLLATE "C"))[1:5], '{}'),
               format('%s of %s values known as a %s%s', n - coalesce(sum(u.rows), 0), n, e.category,
                      coalesce('; unknown: ' || string_agg(format('%s (%s)', u.value, u.rows), ', '
                                                           ORDER BY u.rows DESC, u.value COLLATE "C"), ''))
          FROM normalize.unknown_categories(format('normalize.%I', e.table_name)::regclass, e.col, e.category) AS u;
    END LOOP;
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
CREATE FUNCTION @extschema@.ml_readiness_report()
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
BEGIN
    PERFORM normalize.require_sources();
    -- "Before" is read from the sources as they are now, "after" from the
    -- tables the last run built: said when those are not the same inputs.
    SELECT r.run_id, r.inputs INTO last_run FROM normalize.pipeline_runs AS r
     WHERE r.status = 'done' ORDER BY r.run_id DESC LIMIT 1;
    IF last_run.inputs IS NOT NULL AND last_run.inputs <> normalize.input_fingerprint() THEN
        RAISE NOTICE 'the sources or the settings changed since run % built these tables: "before" describes the sources as they are now',
                     last_run.run_id
            USING HINT = 'CALL normalize.run_pipeline() again for a report of one run''s inputs.';
    END IF;
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
           round(100 * (SELECT min(c.observed) FROM nz_report_checks AS c
                         WHERE c.check_name = 'relationships linked')::numeric, 1),
           'percent', NOT EXISTS (SELECT 1 FROM nz_report_checks AS c WHERE c.category = 'completeness' AND c.status = 'fail'),
           -- The rows that could not be linked are not in the relationships;
           -- said here, so that 100% never hides them.
           concat_ws('; ', 'before: source rows whose account reference joins a customer ID as it stands; after: the least linked of the relationships (a device naming a location should have one)',
                     (SELECT format('source rows linked: %s%% (least: %s; the others are listed in normalize.unlinked_rows)',
                                    round(100 * min(c.observed)::numeric, 1),
                                    (array_agg(c.entity ORDER BY c.observed, c.entity))[1])
                        FROM nz_report_checks AS c WHERE c.check_name = 'source rows linked'),
                     (SELECT 'undecided rules: ' || string_agg(c.entity, ', ') FROM nz_report_checks AS c
                       WHERE c.check_name = 'reference rule decided' AND c.status <> 'pass'));
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
