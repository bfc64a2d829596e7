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

CREATE FUNCTION @extschema@.repair_values(seed bigint DEFAULT 42)
RETURNS SETOF @extschema@.repair_summary
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col record;
    finding text;
    stats record;
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
    TRUNCATE normalize.repair_summary;

    -- Observed values are kept beside the repaired ones, once: a second run
    -- starts from the same observations and gives the same result.
    UPDATE normalize.accounts SET mrr_observed = mrr, tier_observed = tier WHERE mrr_source = 'observed' AND tier_source = 'observed';
    UPDATE normalize.devices SET health_score_observed = health_score, uptime_observed = uptime
     WHERE health_score_source = 'observed' AND uptime_source = 'observed';
    UPDATE normalize.users SET engagement_score_observed = engagement_score WHERE engagement_score_source = 'observed';

    -- Accounts: revenue is the sum of the account's paying subscriptions
    -- where there are any (derived); otherwise, when the observed column is
    -- degenerate, the tier is drawn from tier_mix and the revenue from that
    -- tier's profile (generated). The tier follows from the revenue. A
    -- numeric NaN or Infinity is no revenue (NaN compares above every
    -- number, so "> 0" alone would keep it).
    SELECT count(*) AS n, count(*) FILTER (WHERE mrr_observed IS NULL) AS n_null,
           count(*) FILTER (WHERE mrr_observed = 0) AS n_zero, count(DISTINCT mrr_observed) AS n_distinct,
           avg(mrr_observed) AS mean
      INTO stats FROM normalize.accounts;
    finding := normalize.column_finding(stats.n, stats.n_null, stats.n_zero, stats.n_distinct, false);
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
               CASE WHEN finding IS NULL AND a.mrr_observed >= 0 AND a.mrr_observed < 'Infinity' THEN 'observed'
                    WHEN p.mrr IS NOT NULL THEN 'derived' ELSE 'generated' END AS source
          FROM normalize.accounts AS a LEFT JOIN paying AS p USING (account_key)),
    drawn AS (
        SELECT d.account_key, d.source, d.paying_mrr,
               CASE WHEN d.source = 'generated' THEN
                   (SELECT m.tier FROM mix AS m
                     WHERE m.upto >= normalize.random_uniform_for(d.account_key, 0, 1, seed, 'account', 'tier')
                     ORDER BY m.upto LIMIT 1) END AS drawn_tier
          FROM decided AS d)
    UPDATE normalize.accounts AS a
       SET mrr = CASE x.source WHEN 'observed' THEN a.mrr_observed
                               WHEN 'derived' THEN x.paying_mrr
                               ELSE round(normalize.draw('mrr_tier_' || substr(x.drawn_tier, 6), a.account_key, seed,
                                                         'account', 'mrr')::numeric, 2) END,
           mrr_source = x.source,
           tier = CASE x.source WHEN 'generated' THEN x.drawn_tier
                                WHEN 'derived' THEN normalize.tier_for_mrr(x.paying_mrr)
                                ELSE coalesce(a.tier_observed, normalize.tier_for_mrr(a.mrr_observed)) END,
           tier_source = CASE x.source WHEN 'generated' THEN 'generated'
                                       WHEN 'derived' THEN 'derived'
                                       ELSE CASE WHEN a.tier_observed IS NULL THEN 'derived' ELSE 'observed' END END
      FROM drawn AS x WHERE x.account_key = a.account_key;
    INSERT INTO normalize.repair_summary
    SELECT 'accounts', 'mrr', coalesce(finding, 'plausible'),
           CASE WHEN finding IS NULL THEN 'kept observed values'
                ELSE 'sum of paying subscriptions where known, else drawn from the tier''s profile' END,
           stats.n, count(*) FILTER (WHERE a.mrr_source <> 'observed'), count(*) FILTER (WHERE a.mrr_source = 'observed'),
           stats.n_distinct, round(stats.mean, 2), count(DISTINCT a.mrr), round(avg(a.mrr), 2)
      FROM normalize.accounts AS a;
    SELECT count(*) AS n, count(DISTINCT tier_observed) AS n_distinct INTO stats FROM normalize.accounts;
    INSERT INTO normalize.repair_summary
    SELECT 'accounts', 'tier',
           coalesce(normalize.column_finding(stats.n, 0, 0, stats.n_distinct, true), 'plausible'),
           'follows the revenue; drawn from tier_mix where the revenue is unknown',
           stats.n, count(*) FILTER (WHERE a.tier_source <> 'observed'), count(*) FILTER (WHERE a.tier_source = 'observed'),
           stats.n_distinct, NULL, count(DISTINCT a.tier), NULL
      FROM normalize.accounts AS a;

    -- Device and user scores: a degenerate column is drawn again as a whole
    -- from the profile of each row's context; otherwise only missing values
    -- and values outside 0-100 are.
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
    LOOP
        EXECUTE format($q$
            SELECT count(*) AS n, count(*) FILTER (WHERE %1$I IS NULL) AS n_null,
                   count(*) FILTER (WHERE %1$I = 0) AS n_zero, count(DISTINCT %1$I) AS n_distinct,
                   avg(%1$I) AS mean
              FROM normalize.%2$I$q$, col.column_name || '_observed', col.table_name)
          INTO stats;
        finding := normalize.column_finding(stats.n, stats.n_null, stats.n_zero, stats.n_distinct, false);
        EXECUTE format($q$
            UPDATE normalize.%1$I AS t
               SET %2$I = CASE WHEN %5$L::text IS NULL AND t.%3$I BETWEEN 0 AND 100 THEN t.%3$I
                               ELSE round(normalize.draw(%6$s, t.%7$I, %8$s, %9$L, %2$L)::numeric, 2) END,
                   %4$I = CASE WHEN %5$L::text IS NULL AND t.%3$I BETWEEN 0 AND 100 THEN 'observed'
                               ELSE 'generated' END
            $q$, col.table_name, col.column_name, col.column_name || '_observed', col.column_name || '_source',
                 finding, col.profile_sql, col.key_column, seed, col.kind);
        EXECUTE format($q$
            INSERT INTO normalize.repair_summary
            SELECT %1$L, %2$L, %3$L, %4$L, %5$s, count(*) FILTER (WHERE %6$I = 'generated'),
                   count(*) FILTER (WHERE %6$I = 'observed'), %7$s, round(%8$s::numeric, 2),
                   count(DISTINCT %2$I), round(avg(%2$I), 2)
              FROM normalize.%1$I$q$,
            col.table_name, col.column_name, coalesce(finding, 'plausible'),
            CASE WHEN finding IS NULL THEN 'kept values in 0-100; missing or out-of-range ones ' || col.how
                 ELSE col.how END,
            stats.n, col.column_name || '_source', stats.n_distinct, coalesce(stats.mean::text, 'NULL'));
    END LOOP;

    RETURN QUERY SELECT * FROM normalize.repair_summary ORDER BY table_name, column_name;
END
$$;
COMMENT ON FUNCTION @extschema@.repair_values(bigint) IS
    'Replaces degenerate values of the normalized tables with keyed draws from the profiles (MRR by tier, health by status, engagement by role, uptime), keeping the observed values and their provenance';
