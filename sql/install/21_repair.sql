-- Phase 2 of the plan: replace the placeholder values of the normalized
-- tables with draws from the profiles, conditioned on each entity's context,
-- keyed on its stable key, and recorded with their provenance.

-- Tiers for accounts whose revenue is unknown, drawn with these weights:
-- few Tier 1, many Tier 4. Data, like the profiles.
CREATE TABLE @extschema@.tier_mix (
    tier        text PRIMARY KEY,
    weight      float8 NOT NULL CHECK (weight > 0 AND weight < 'infinity'),
    position    integer NOT NULL UNIQUE,
    shipped     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.tier_mix IS
    'The share of each tier among accounts whose revenue is unknown (weights, normalized when drawn)';
INSERT INTO @extschema@.tier_mix (tier, weight, position, shipped) VALUES
    ('Tier 1', 0.05, 1, true), ('Tier 2', 0.15, 2, true), ('Tier 3', 0.30, 3, true), ('Tier 4', 0.50, 4, true);

CREATE TRIGGER tier_mix_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.tier_mix
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('tier');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tier_mix', 'WHERE NOT shipped');

CREATE TABLE @extschema@.repair_summary (
    table_name        text NOT NULL,
    column_name       text NOT NULL,
    finding           text NOT NULL,
    action            text NOT NULL,
    rows              bigint NOT NULL,
    replaced          bigint NOT NULL,
    kept              bigint NOT NULL,
    observed_distinct bigint NOT NULL,
    observed_mean     numeric,
    repaired_distinct bigint NOT NULL,
    repaired_mean     numeric,
    PRIMARY KEY (table_name, column_name)
);
COMMENT ON TABLE @extschema@.repair_summary IS
    'What the last repair_values found in each column and what it did about it';

-- What is wrong with a metric column as a whole. NULL when nothing is: then
-- only its missing or out-of-range values are replaced. The counts are a
-- column's: n rows, n_null of them NULL, n_zero zero and n_distinct distinct
-- values among the others.
CREATE FUNCTION @extschema@.column_finding(n bigint, n_null bigint, n_zero bigint, n_distinct bigint,
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
CREATE FUNCTION @extschema@.tier_for_mrr(mrr numeric)
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

-- Values that stand for "unknown" in a column, declared by the user (or
-- shipped: no revenue recorded is $0), and values declared real that
-- detection must keep (placeholder false). Kept by pg_dump.
CREATE TABLE @extschema@.placeholder_values (
    table_name  text NOT NULL,
    column_name text NOT NULL,
    value       numeric NOT NULL,
    placeholder boolean NOT NULL DEFAULT true,
    note        text NOT NULL DEFAULT '',
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (table_name, column_name, value),
    CHECK ((table_name, column_name) IN (('accounts', 'mrr'), ('devices', 'health_score'), ('devices', 'uptime'),
                                         ('users', 'engagement_score')))
);
COMMENT ON TABLE @extschema@.placeholder_values IS
    'Values of a repaired column that are placeholders wherever they appear (placeholder), or real values detection must keep (not placeholder)';
INSERT INTO @extschema@.placeholder_values (table_name, column_name, value, placeholder, note, shipped) VALUES
    ('accounts', 'mrr', 0, true, 'no revenue recorded (the plan''s "$0 MRR"); derived from paying subscriptions, else drawn', true);
CREATE TRIGGER placeholder_values_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.placeholder_values
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('table_name', 'column_name', 'value');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.placeholder_values', 'WHERE NOT shipped');

-- Whether a handful of distinct values fill every step of their precision
-- between the least and the greatest (95, 96, 97, 98, 99): a measurement
-- rounded coarsely, not a placeholder. 0.20 and 0.52 leave 31 steps empty.
CREATE FUNCTION @extschema@.fills_its_grid(vals numeric[])
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(DISTINCT v) > 1
           AND (max(v) - min(v)) * power(10::numeric, max(scale(trim_scale(v)))) + 1 = count(DISTINCT v)
      FROM unnest(vals) AS v
     WHERE v IS NOT NULL
$$;
COMMENT ON FUNCTION @extschema@.fills_its_grid(numeric[]) IS
    'Internal: whether distinct values fill every step of their precision between their least and greatest (a coarse measurement rather than placeholders)';

-- What repair reads in one observed column: why the whole column is a
-- placeholder (column_finding, unless its few values fill their grid), or
-- else the values that are placeholders row by row (declared ones, and one
-- value holding half the rows or more while the others take three values
-- or more: the 0 or 50 that stands in for "unknown"); and whether the
-- values left are on a 0-1 scale where 0-100 is expected (scores only).
CREATE FUNCTION @extschema@.scan_placeholders(table_name text, column_name text, score boolean,
                                              OUT finding text, OUT placeholders numeric[], OUT kept numeric[],
                                              OUT unit_scale boolean, OUT n bigint, OUT n_distinct bigint,
                                              OUT mean numeric)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    dominant record;
BEGIN
    IF (table_name, column_name) NOT IN (('accounts', 'mrr'), ('devices', 'health_score'), ('devices', 'uptime'),
                                         ('users', 'engagement_score')) THEN
        RAISE EXCEPTION 'no repaired column %.%', table_name, column_name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The repaired columns are accounts.mrr, devices.health_score, devices.uptime and users.engagement_score.';
    END IF;
    SELECT coalesce(array_agg(p.value) FILTER (WHERE p.placeholder), '{}'), coalesce(array_agg(p.value) FILTER (WHERE NOT p.placeholder), '{}')
      INTO placeholders, kept
      FROM normalize.placeholder_values AS p
     WHERE p.table_name = scan_placeholders.table_name AND p.column_name = scan_placeholders.column_name;
    EXECUTE format($q$
        WITH c AS (SELECT t.%1$I AS x, count(*) AS rows FROM normalize.%2$I AS t GROUP BY t.%1$I)
        SELECT sum(c.rows)::bigint AS n, coalesce(sum(c.rows) FILTER (WHERE c.x IS NULL), 0)::bigint AS n_null,
               coalesce(sum(c.rows) FILTER (WHERE c.x = 0), 0)::bigint AS n_zero, count(c.x) AS n_distinct,
               sum(c.x * c.rows) / nullif(sum(c.rows) FILTER (WHERE c.x IS NOT NULL), 0) AS mean,
               array_agg(c.x) FILTER (WHERE c.x IS NOT NULL) AS vals
          FROM c$q$, column_name || '_observed', table_name)
      INTO s;
    n := coalesce(s.n, 0);
    n_distinct := s.n_distinct;
    mean := s.mean;
    finding := normalize.column_finding(n, s.n_null, s.n_zero, s.n_distinct, false);
    IF finding LIKE 'only % distinct values' AND normalize.fills_its_grid(s.vals) THEN
        finding := NULL;
    END IF;
    IF finding IS NULL THEN
        EXECUTE format($q$
            WITH c AS (SELECT t.%1$I AS x, count(*) AS rows FROM normalize.%2$I AS t
                        WHERE t.%1$I IS NOT NULL GROUP BY t.%1$I)
            SELECT c.x, c.rows, sum(c.rows) OVER () AS total, count(*) OVER () AS values
              FROM c ORDER BY c.rows DESC, c.x LIMIT 1$q$, column_name || '_observed', table_name)
          INTO dominant;
        IF dominant.rows * 2 >= dominant.total AND dominant.values - 1 >= 3 AND NOT dominant.x = ANY (kept)
           AND NOT dominant.x = ANY (placeholders) THEN
            placeholders := placeholders || dominant.x;
        END IF;
    END IF;
    IF finding IS NULL AND cardinality(placeholders) > 0 THEN
        SELECT array_agg(v ORDER BY v) INTO placeholders FROM unnest(placeholders) AS v;
        EXECUTE format('SELECT count(*) FROM normalize.%I AS t WHERE t.%I = ANY ($1)', table_name, column_name || '_observed')
           INTO s USING placeholders;
        IF s.count > 0 THEN
            finding := format('placeholder %s in %s of %s rows', array_to_string(placeholders, ', '), s.count, n);
        END IF;
    END IF;
    IF score AND finding IS NULL THEN
        EXECUTE format($q$
            SELECT count(DISTINCT t.%1$I) >= 3 AND max(t.%1$I) <= 1 AND min(t.%1$I) >= 0
              FROM normalize.%2$I AS t WHERE NOT t.%1$I = ANY ($1)$q$, column_name || '_observed', table_name)
          INTO unit_scale USING placeholders;
    END IF;
    unit_scale := coalesce(unit_scale, false);
    IF unit_scale THEN
        finding := 'on a 0-1 scale';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.scan_placeholders(text, text, boolean) IS
    'Internal: what repair_values finds in an observed column: a whole-column finding, the placeholder values row by row (declared, or one dominant value), and whether scores are on a 0-1 scale';

CREATE FUNCTION @extschema@.repair_values(seed bigint DEFAULT 42)
RETURNS SETOF @extschema@.repair_summary
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col record;
    scan record;
    whole boolean;
    tier_whole boolean;
    stats record;
    mrr_range record;
    beyond record;
BEGIN
    IF seed IS NULL THEN
        RAISE EXCEPTION 'seed must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave it out for the default, 42.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM normalize.accounts) THEN
        RAISE EXCEPTION 'the normalized tables are empty'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.reconcile_ids() first: repair works on the reconciled entities.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.repair_values'));
    -- The history was simulated to end at the repaired values that are
    -- about to change: keeping it would mix two generations.
    IF cardinality(normalize.clear_outputs('repair')) > 0 THEN
        RAISE NOTICE 'the history, features and training sets built on the previous repair were cleared'
            USING HINT = 'Run normalize.build_history() again.';
    END IF;

    -- Observed values are kept beside the repaired ones, once: a second run
    -- starts from the same observations and gives the same result.
    UPDATE normalize.accounts SET mrr_observed = mrr, tier_observed = tier WHERE mrr_source = 'observed' AND tier_source = 'observed';
    UPDATE normalize.devices SET health_score_observed = health_score, uptime_observed = uptime
     WHERE health_score_source = 'observed' AND uptime_source = 'observed';
    UPDATE normalize.users SET engagement_score_observed = engagement_score WHERE engagement_score_source = 'observed';

    -- Accounts: an observed revenue is kept unless it is a placeholder (the
    -- whole column degenerate, or the value declared or found one: $0 is,
    -- as shipped, or outside every tier's range); a placeholder is replaced
    -- by the sum of the account's paying subscriptions where there are any
    -- (derived), else drawn from the profile of the account's tier, its
    -- observed one when known, else one drawn from tier_mix (generated).
    -- The tier follows from a derived revenue. A numeric NaN or Infinity
    -- is no revenue (NaN compares above every number, so "> 0" alone would
    -- keep it).
    scan := normalize.scan_placeholders('accounts', 'mrr', false);
    whole := scan.finding IS NOT NULL AND scan.finding NOT LIKE 'placeholder %';
    SELECT count(*) AS n, count(DISTINCT tier_observed) AS n_distinct INTO stats FROM normalize.accounts;
    -- A tier column that is one value for all (the demo's "all Tier 4")
    -- says nothing of any account.
    tier_whole := normalize.column_finding(stats.n, 0, 0, stats.n_distinct, true) IS NOT NULL;
    -- Revenue outside every tier's range (999999.99, -1) is a sentinel,
    -- not a customer: the tiers' profiles say what revenue can be (a
    -- profile without a bound leaves that side open). Replaced values are
    -- counted below, so that real revenue beyond the ranges is not lost
    -- without a word.
    SELECT CASE WHEN bool_and(p.lower IS NOT NULL) THEN min(p.lower) ELSE '-Infinity' END AS lower,
           CASE WHEN bool_and(p.upper IS NOT NULL) THEN max(p.upper) ELSE 'Infinity' END AS upper
      INTO mrr_range
      FROM normalize.distribution_profiles AS p
     WHERE p.name IN (SELECT 'mrr_' || lower(replace(v.value, ' ', '_')) FROM normalize.category_values AS v
                       WHERE v.category = 'customer tier');
    mrr_range.lower := coalesce(mrr_range.lower, '-Infinity');
    mrr_range.upper := coalesce(mrr_range.upper, 'Infinity');
    WITH paying AS (
        SELECT s.account_key, sum(s.mrr) AS mrr
          FROM normalize.subscriptions AS s
         WHERE s.mrr > 0 AND s.mrr < 'Infinity'
           AND (s.status IS NULL OR EXISTS (SELECT 1 FROM normalize.category_values AS v
                                             WHERE v.category = 'subscription status' AND v.value = s.status AND v.paying))
         GROUP BY s.account_key),
    mix AS (
        SELECT m.tier, sum(m.weight) OVER (ORDER BY m.position) / sum(m.weight) OVER () AS upto
          FROM normalize.tier_mix AS m),
    decided AS (
        SELECT a.account_key, p.mrr AS paying_mrr,
               -- A tier the vocabulary does not know ('Gold') says nothing
               -- the history can use: the revenue decides it instead.
               EXISTS (SELECT 1 FROM normalize.category_values AS v
                        WHERE v.category = 'customer tier' AND v.value = a.tier_observed) AS tier_known,
               CASE WHEN a.mrr_observed = ANY (scan.kept)
                         OR (a.mrr_observed >= 0 AND a.mrr_observed < 'Infinity'
                             AND a.mrr_observed BETWEEN mrr_range.lower AND mrr_range.upper
                             AND NOT whole AND NOT a.mrr_observed = ANY (scan.placeholders)) THEN 'observed'
                    WHEN p.mrr IS NOT NULL THEN 'derived' ELSE 'generated' END AS source
          FROM normalize.accounts AS a LEFT JOIN paying AS p USING (account_key)),
    drawn AS (
        SELECT d.account_key, d.source, d.paying_mrr, d.tier_known,
               d.tier_known AND NOT tier_whole AS keep_tier,
               CASE WHEN d.source = 'generated' AND d.tier_known AND NOT tier_whole THEN a.tier_observed
                    WHEN d.source = 'generated' THEN
                   (SELECT m.tier FROM mix AS m
                     WHERE m.upto >= normalize.random_uniform_for(d.account_key, 0, 1, seed, 'account', 'tier')
                     ORDER BY m.upto LIMIT 1) END AS drawn_tier
          FROM decided AS d JOIN normalize.accounts AS a USING (account_key))
    UPDATE normalize.accounts AS a
       SET mrr = CASE x.source WHEN 'observed' THEN a.mrr_observed
                               WHEN 'derived' THEN x.paying_mrr
                               ELSE round(normalize.draw('mrr_tier_' || substr(x.drawn_tier, 6), a.account_key, seed,
                                                         'account', 'mrr')::numeric, 2) END,
           mrr_source = x.source,
           tier = CASE x.source WHEN 'generated' THEN x.drawn_tier
                                WHEN 'derived' THEN normalize.tier_for_mrr(x.paying_mrr)
                                WHEN 'observed' THEN CASE WHEN x.tier_known THEN a.tier_observed
                                                          ELSE normalize.tier_for_mrr(a.mrr_observed) END END,
           tier_source = CASE x.source WHEN 'generated' THEN CASE WHEN x.keep_tier THEN 'observed' ELSE 'generated' END
                                       WHEN 'derived' THEN 'derived'
                                       ELSE CASE WHEN x.tier_known THEN 'observed' ELSE 'derived' END END
      FROM drawn AS x WHERE x.account_key = a.account_key;
    SELECT count(*) AS n, min(a.mrr_observed) AS low, max(a.mrr_observed) AS high INTO beyond
      FROM normalize.accounts AS a
     WHERE NOT whole AND a.mrr_observed >= 0 AND a.mrr_observed < 'Infinity'
       AND NOT a.mrr_observed BETWEEN mrr_range.lower AND mrr_range.upper
       AND NOT a.mrr_observed = ANY (scan.kept) AND NOT a.mrr_observed = ANY (scan.placeholders);
    IF beyond.n > 0 THEN
        RAISE NOTICE '% accounts'' revenue lies outside every tier''s range (% to %), from % to %: replaced as placeholders',
                     beyond.n, mrr_range.lower, mrr_range.upper, beyond.low, beyond.high
            USING HINT = 'If they are real, declare the values real in normalize.placeholder_values (placeholder = false), or widen the bounds of the mrr_tier_* profiles.';
    END IF;
    INSERT INTO normalize.repair_summary
    SELECT 'accounts', 'mrr', coalesce(scan.finding, 'plausible'),
           CASE WHEN whole THEN 'sum of paying subscriptions where known, else drawn from the tier''s profile'
                ELSE 'kept observed values; placeholders (' || array_to_string(scan.placeholders, ', ')
                     || format('), missing ones and those outside every tier''s range (%s to %s): ', mrr_range.lower, mrr_range.upper)
                     || 'sum of paying subscriptions where known, else drawn from the tier''s profile' END,
           scan.n, count(*) FILTER (WHERE a.mrr_source <> 'observed'), count(*) FILTER (WHERE a.mrr_source = 'observed'),
           scan.n_distinct, round(scan.mean, 2), count(DISTINCT a.mrr), round(avg(a.mrr), 2)
      FROM normalize.accounts AS a;
    INSERT INTO normalize.repair_summary
    SELECT 'accounts', 'tier',
           coalesce(normalize.column_finding(stats.n, 0, 0, stats.n_distinct, true), 'plausible'),
           CASE WHEN tier_whole THEN 'follows the revenue; drawn from tier_mix where the revenue is unknown'
                ELSE 'kept where the vocabulary knows it, unless the revenue is derived from paying subscriptions; '
                     'otherwise follows the revenue, or is drawn from tier_mix where the revenue is unknown' END,
           stats.n, count(*) FILTER (WHERE a.tier_source <> 'observed'), count(*) FILTER (WHERE a.tier_source = 'observed'),
           stats.n_distinct, NULL, count(DISTINCT a.tier), NULL
      FROM normalize.accounts AS a;

    -- Device and user scores, drawn from the profile of each row's context
    -- where they are placeholders.
    FOR col IN
        SELECT * FROM (VALUES
            ('devices', 'health_score', 'device_key', 'device',
             $p$coalesce((SELECT v.profile FROM normalize.category_values AS v
                           WHERE v.category = 'device status' AND v.value = t.status), 'device_health')$p$,
             'drawn from the profile of the device''s status'),
            ('devices', 'uptime', 'device_key', 'device', $p$'device_uptime'$p$, 'drawn from device_uptime'),
            ('users', 'engagement_score', 'user_key', 'user',
             $p$coalesce((SELECT v.profile FROM normalize.category_values AS v
                           WHERE v.category = 'user role' AND v.value = t.role), 'engagement_standard')$p$,
             'drawn from the profile of the user''s role')
        ) AS v(table_name, column_name, key_column, kind, profile_sql, how)
        -- An entity without a source has no values to judge or repair.
        WHERE normalize.is_registered((SELECT k.entity FROM normalize.entity_kinds AS k WHERE k.table_name = v.table_name))
    LOOP
        -- Row by row: a value is kept (observed) unless it is missing,
        -- outside 0-100, a placeholder value, or in a column that is one as
        -- a whole; values declared real are kept whatever the column. Scores
        -- on a 0-1 scale are multiplied by 100 (rescaled).
        scan := normalize.scan_placeholders(col.table_name, col.column_name, true);
        whole := scan.finding IS NOT NULL AND scan.finding NOT LIKE 'placeholder %' AND NOT scan.unit_scale;
        EXECUTE format($q$
            UPDATE normalize.%1$I AS t
               SET %2$I = CASE x.source WHEN 'observed' THEN t.%3$I WHEN 'rescaled' THEN round(t.%3$I * 100, 2)
                               ELSE round(normalize.draw(%5$s, t.%6$I, %7$s, %8$L, %2$L)::numeric, 2) END,
                   %4$I = x.source
              FROM (SELECT s.ctid AS row_id,
                           CASE WHEN s.%3$I IS NULL THEN 'generated'
                                WHEN s.%3$I = ANY ($1) THEN 'observed'
                                WHEN $3 OR s.%3$I = ANY ($2) OR NOT s.%3$I BETWEEN 0 AND 100 THEN 'generated'
                                WHEN $4 THEN 'rescaled'
                                ELSE 'observed' END AS source
                      FROM normalize.%1$I AS s) AS x
             WHERE x.row_id = t.ctid
            $q$, col.table_name, col.column_name, col.column_name || '_observed', col.column_name || '_source',
                 col.profile_sql, col.key_column, seed, col.kind)
        USING scan.kept, scan.placeholders, whole, scan.unit_scale;
        EXECUTE format($q$
            INSERT INTO normalize.repair_summary
            SELECT %1$L, %2$L, %3$L, %4$L, %5$s, count(*) FILTER (WHERE %6$I = 'generated'),
                   count(*) FILTER (WHERE %6$I <> 'generated'), %7$s, round(%8$s::numeric, 2),
                   count(DISTINCT %2$I), round(avg(%2$I), 2)
              FROM normalize.%1$I$q$,
            col.table_name, col.column_name, coalesce(scan.finding, 'plausible'),
            CASE WHEN whole THEN col.how
                 WHEN scan.unit_scale THEN 'multiplied by 100 (rescaled); missing or out-of-range values ' || col.how
                 WHEN scan.finding IS NOT NULL THEN 'placeholder, missing and out-of-range values ' || col.how || '; the others kept'
                 ELSE 'kept values in 0-100; missing or out-of-range ones ' || col.how END,
            scan.n, col.column_name || '_source', scan.n_distinct, coalesce(scan.mean::text, 'NULL'));
    END LOOP;

    RETURN QUERY SELECT * FROM normalize.repair_summary ORDER BY table_name, column_name;
END
$$;
COMMENT ON FUNCTION @extschema@.repair_values(bigint) IS
    'Replaces placeholder values of the normalized tables, row by row (a degenerate column, declared placeholder values, a dominant value, missing or out-of-range ones), with keyed draws from the profiles (MRR by tier, health by status, engagement by role, uptime) or the paying subscriptions, keeping real values and their provenance; scores on a 0-1 scale are rescaled';
