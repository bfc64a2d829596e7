-- Categories (issue 18, class 4): one vocabulary for subscription status,
-- user role, device status and customer tier (category_values,
-- category_spellings, kept by pg_dump), through which source_query reads
-- those columns whatever their case and blanks; unknown values are kept and
-- reported by assess_sources and quality_checks. Revenue, health and
-- engagement profiles follow the vocabulary.

ALTER TABLE @extschema@.source_contract ADD COLUMN category text;
COMMENT ON COLUMN @extschema@.source_contract.category IS
    'For a column of categories, the vocabulary its values are read through (normalize.category_values)';
UPDATE @extschema@.source_contract AS c SET category = v.category
  FROM (VALUES ('customers', 'tier', 'customer tier'), ('subscriptions', 'status', 'subscription status'),
               ('devices', 'status', 'device status'), ('users', 'role', 'user role')) AS v(entity, column_name, category)
 WHERE c.entity = v.entity AND c.column_name = v.column_name;

CREATE OR REPLACE FUNCTION @extschema@.mark_user_rows()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('DELETE FROM %I.%I WHERE %s AND shipped', TG_TABLE_SCHEMA, TG_TABLE_NAME,
                       (SELECT string_agg(format('%I = ($1).%I', k, k), ' AND ') FROM unnest(TG_ARGV) AS k))
          USING NEW;
    END IF;
    NEW.shipped := false;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.mark_user_rows() IS
    'Trigger: rows written by users are theirs, and replace a shipped row with the same key (the trigger arguments name the key columns)';

CREATE FUNCTION @extschema@.fold_category(value text)
RETURNS text
AS 'MODULE_PATHNAME', 'nz_fold_category'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.fold_category(text) IS
    'A category spelling as the vocabulary compares it: lower case, blanks, underscores and hyphens trimmed and each inner run one blank (''Past_Due'' gives ''past due''); NULL when blank';

-- The canonical values, with what each means to the phases that read it.
CREATE TABLE @extschema@.category_values (
    category text NOT NULL CHECK (category IN ('subscription status', 'user role', 'device status', 'customer tier')),
    value    text NOT NULL,
    paying   boolean CHECK ((paying IS NOT NULL) = (category = 'subscription status')),
    profile  text CHECK (profile IS NULL OR category IN ('user role', 'device status')),
    shipped  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (category, value)
);
COMMENT ON TABLE @extschema@.category_values IS
    'The canonical values of each column of categories; paying: whether a subscription in that status earns its MRR; profile: the distribution profile a device''s health or a user''s engagement in it is drawn from';

INSERT INTO @extschema@.category_values (category, value, paying, profile, shipped) VALUES
    ('subscription status', 'active', true, NULL, true),
    ('subscription status', 'past_due', true, NULL, true),
    ('subscription status', 'trial', false, NULL, true),
    ('subscription status', 'paused', false, NULL, true),
    ('subscription status', 'cancelled', false, NULL, true),
    ('subscription status', 'churned', false, NULL, true),
    ('subscription status', 'inactive', false, NULL, true),
    ('user role', 'admin', NULL, 'engagement_admin', true),
    ('user role', 'manager', NULL, 'engagement_manager', true),
    ('user role', 'standard', NULL, 'engagement_standard', true),
    ('device status', 'operational', NULL, 'health_operational', true),
    ('device status', 'maintenance', NULL, 'health_maintenance', true),
    ('device status', 'critical', NULL, 'health_critical', true),
    ('customer tier', 'Tier 1', NULL, NULL, true),
    ('customer tier', 'Tier 2', NULL, NULL, true),
    ('customer tier', 'Tier 3', NULL, NULL, true),
    ('customer tier', 'Tier 4', NULL, NULL, true);

-- Other spellings of the canonical values (each value matches its own
-- spelling without a row here).
CREATE TABLE @extschema@.category_spellings (
    category text NOT NULL,
    spelling text NOT NULL,
    value    text NOT NULL,
    shipped  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (category, spelling),
    -- Deferred: a user's row that replaces a shipped value (see
    -- mark_user_rows) deletes it first.
    FOREIGN KEY (category, value) REFERENCES @extschema@.category_values ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED
);
COMMENT ON TABLE @extschema@.category_spellings IS
    'Other spellings of the canonical category values, compared after fold_category (''Canceled'', ''CANCELLED'' and ''cancelled'' are one spelling)';

INSERT INTO @extschema@.category_spellings (category, spelling, value, shipped) VALUES
    ('subscription status', 'canceled', 'cancelled', true),
    ('subscription status', 'trialing', 'trial', true),
    ('subscription status', 'in trial', 'trial', true),
    ('subscription status', 'overdue', 'past_due', true),
    ('user role', 'administrator', 'admin', true),
    ('user role', 'user', 'standard', true),
    ('user role', 'member', 'standard', true),
    ('device status', 'in maintenance', 'maintenance', true),
    ('customer tier', 'tier1', 'Tier 1', true),
    ('customer tier', 'tier2', 'Tier 2', true),
    ('customer tier', 'tier3', 'Tier 3', true),
    ('customer tier', 'tier4', 'Tier 4', true),
    ('customer tier', 't1', 'Tier 1', true),
    ('customer tier', 't2', 'Tier 2', true),
    ('customer tier', 't3', 'Tier 3', true),
    ('customer tier', 't4', 'Tier 4', true);

CREATE TRIGGER category_values_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.category_values
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('category', 'value');
CREATE TRIGGER category_spellings_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.category_spellings
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('category', 'spelling');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.category_values', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.category_spellings', 'WHERE NOT shipped');

-- Every spelling that reads as a canonical value, folded: the values'
-- own, then the listed ones. A spelling the user lists wins over a value
-- that folds the same way.
CREATE VIEW @extschema@.category_lookup AS
SELECT DISTINCT ON (x.category, x.spelling) x.category, x.spelling, x.value
  FROM (SELECT s.category, @extschema@.fold_category(s.spelling) AS spelling, s.value, 1 AS rank
          FROM @extschema@.category_spellings AS s
        UNION ALL
        SELECT v.category, @extschema@.fold_category(v.value), v.value, 2
          FROM @extschema@.category_values AS v) AS x
 WHERE x.spelling IS NOT NULL
 ORDER BY x.category, x.spelling, x.rank, x.value COLLATE "C";
COMMENT ON VIEW @extschema@.category_lookup IS
    'Each folded spelling of a category and the canonical value it reads as, as source_query maps them';

-- The values of a column of categories that the vocabulary does not know,
-- with their rows: value_sql is the column's expression over the rows of
-- relation tbl (alias t).
CREATE FUNCTION @extschema@.unknown_categories(tbl regclass, value_sql text, category text)
RETURNS TABLE (value text, rows bigint)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT x.v, count(*) FROM (SELECT (%1$s)::text AS v FROM %2$s AS t) AS x
         WHERE x.v IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM normalize.category_values AS c WHERE c.category = $1 AND c.value = x.v)
         GROUP BY x.v ORDER BY 2 DESC, x.v COLLATE "C"$q$, value_sql, tbl)
    USING category;
END
$$;
COMMENT ON FUNCTION @extschema@.unknown_categories(regclass, text, text) IS
    'Internal: the values of a column of categories (an expression over the relation''s rows, alias t) the vocabulary does not know, with their rows, most frequent first';

CREATE OR REPLACE FUNCTION @extschema@.source_query(entity text)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src record;
    cols text;
    joins text;
BEGIN
    SELECT s.relation, s.columns, s.time_zone INTO src FROM normalize.sources AS s WHERE s.entity = source_query.entity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no source is registered for %', entity
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register the raw tables first with normalize.use_sources(schema) or normalize.register_source(...).';
    END IF;
    SELECT string_agg(
             CASE WHEN src.columns ? c.column_name AND c.type_class = 'date'
                       AND (SELECT a.atttypid FROM pg_attribute AS a
                             WHERE a.attrelid = src.relation AND a.attname = src.columns ->> c.column_name
                               AND NOT a.attisdropped) = 'timestamptz'::regtype
                  THEN format('(r.%I AT TIME ZONE %L)::date AS %I', src.columns ->> c.column_name,
                              src.time_zone, c.column_name)
                  WHEN src.columns ? c.column_name AND c.category IS NOT NULL
                  THEN format('coalesce(%I.value, r.%I::text) AS %I', 'v_' || c.column_name,
                              src.columns ->> c.column_name, c.column_name)
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
             ', ' ORDER BY c.position),
           string_agg(format(' LEFT JOIN normalize.category_lookup AS %I ON %I.category = %L AND %I.spelling = normalize.fold_category(r.%I::text)',
                             'v_' || c.column_name, 'v_' || c.column_name, c.category, 'v_' || c.column_name,
                             src.columns ->> c.column_name), '' ORDER BY c.position)
                 FILTER (WHERE c.category IS NOT NULL AND src.columns ? c.column_name)
      INTO cols, joins
      FROM normalize.source_contract AS c
     WHERE c.entity = source_query.entity;
    RETURN format('SELECT %s FROM %s AS r%s', cols, src.relation, coalesce(joins, ''));
END
$$;
COMMENT ON FUNCTION @extschema@.source_query(text) IS
    'The SELECT that reads a registered source by contract column names and canonical types';

CREATE OR REPLACE FUNCTION @extschema@.assess_sources()
RETURNS TABLE (entity text, metric text, value numeric, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    q text;
BEGIN
    PERFORM normalize.require_sources();
    FOR e IN SELECT * FROM normalize.entity_kinds ORDER BY position LOOP
        q := normalize.source_query(e.entity);
        RETURN QUERY EXECUTE format($f$
            SELECT %1$L, 'rows', count(*)::numeric, NULL::text FROM (%2$s) AS s
            UNION ALL
            SELECT %1$L, 'distinct snapshot dates', count(DISTINCT s.snapshot_date)::numeric,
                   'history depth: ' || coalesce(to_char(min(s.snapshot_date), 'YYYY-MM-DD') || ' to ' ||
                                                 to_char(max(s.snapshot_date), 'YYYY-MM-DD'), 'no dates')
              FROM (%2$s) AS s
            UNION ALL
            SELECT %1$L, 'ID column type', NULL,
                   (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a
                     WHERE a.attrelid = src.relation AND a.attname = src.columns ->> %3$L)
              FROM normalize.sources AS src WHERE src.entity = %1$L
            $f$, e.entity, q, e.id_column);
    END LOOP;

    -- Account references: their type, their range, and how many match a
    -- customer ID as they stand (what a naive join would link).
    FOR e IN SELECT k.* FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS ek USING (entity) ORDER BY ek.position, k.reference LOOP
        RETURN QUERY EXECUTE format($f$
            WITH r AS (SELECT s.%3$I AS raw FROM (%1$s) AS s),
                 t AS (SELECT DISTINCT s.%5$I::text AS raw FROM (%4$s) AS s)
            SELECT %2$L, %6$L || ' reference type', NULL::numeric,
                   (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a
                     WHERE a.attrelid = src.relation AND a.attname = src.columns ->> %3$L)
              FROM normalize.sources AS src WHERE src.entity = %2$L
            UNION ALL
            SELECT %2$L, %6$L || ' references joining as they stand',
                   round(100.0 * count(*) FILTER (WHERE r.raw IN (SELECT raw FROM t)) / nullif(count(*), 0), 1),
                   'percent of rows; examples: ' || (SELECT string_agg(quote_literal(x.raw), ', ')
                                                      FROM (SELECT DISTINCT raw FROM r WHERE raw IS NOT NULL
                                                             ORDER BY raw LIMIT 3) AS x)
              FROM r
            UNION ALL
            SELECT %2$L, %6$L || ' references missing',
                   round(100.0 * count(*) FILTER (WHERE normalize.normalize_id(r.raw) IS NULL) / nullif(count(*), 0), 1),
                   'percent of rows'
              FROM r
            $f$, normalize.source_query(e.entity), e.entity, e.source_column,
                 normalize.source_query(e.target_entity), e.target_column, e.reference);
    END LOOP;

    -- One type for account IDs everywhere, or a mix (the plan's "mixed
    -- VARCHAR/INTEGER").
    RETURN QUERY
    WITH t AS (
        SELECT src.entity, format_type(a.atttypid, a.atttypmod) AS type_name
          FROM normalize.sources AS src
          JOIN normalize.reference_kinds AS k ON k.entity = src.entity AND k.reference = 'account'
          JOIN pg_attribute AS a ON a.attrelid = src.relation AND a.attname = src.columns ->> k.source_column
        UNION ALL
        SELECT src.entity, format_type(a.atttypid, a.atttypmod)
          FROM normalize.sources AS src
          JOIN pg_attribute AS a ON a.attrelid = src.relation AND a.attname = src.columns ->> 'customer_id'
         WHERE src.entity = 'customers')
    SELECT 'all'::text, 'account ID types'::text, count(DISTINCT t.type_name)::numeric,
           string_agg(DISTINCT t.type_name || ' (' || (SELECT string_agg(u.entity, ', ' ORDER BY u.entity)
                                                          FROM t AS u WHERE u.type_name = t.type_name) || ')', '; ')
      FROM t;

    -- The synthetic values the plan lists.
    RETURN QUERY EXECUTE format($f$
        SELECT 'customers', 'distinct tiers', count(DISTINCT s.tier)::numeric, string_agg(DISTINCT s.tier, ', ')
          FROM (%1$s) AS s
        UNION ALL
        SELECT 'customers', 'share with zero MRR', round(100.0 * count(*) FILTER (WHERE s.mrr = 0) / nullif(count(*), 0), 1),
               'percent of customers'
          FROM (%1$s) AS s
        UNION ALL
        SELECT 'subscriptions', 'rows with positive MRR', count(*) FILTER (WHERE s.mrr > 0)::numeric, NULL
          FROM (%2$s) AS s
        UNION ALL
        SELECT 'devices', 'mean health score', round(avg(s.health_score), 2),
               count(DISTINCT s.health_score) || ' distinct values: ' ||
               (SELECT string_agg(v::text, ', ' ORDER BY v) FROM (SELECT DISTINCT x.health_score AS v FROM (%3$s) AS x
                                                                   ORDER BY 1 LIMIT 5) AS d)
          FROM (%3$s) AS s
        UNION ALL
        SELECT 'users', 'mean engagement score', round(avg(s.engagement_score), 2),
               count(DISTINCT s.engagement_score) || ' distinct values'
          FROM (%4$s) AS s
        UNION ALL
        SELECT 'devices', 'share without a location', round(100.0 * count(*) FILTER (WHERE s.location_id IS NULL) / nullif(count(*), 0), 1),
               'percent of devices'
          FROM (%3$s) AS s
        $f$, normalize.source_query('customers'), normalize.source_query('subscriptions'),
             normalize.source_query('devices'), normalize.source_query('users'));

    -- Columns of categories: the values no spelling of the vocabulary
    -- matches (source_query passes them on as they are).
    FOR e IN SELECT c.* FROM normalize.source_contract AS c JOIN normalize.entity_kinds AS k USING (entity)
              WHERE c.category IS NOT NULL ORDER BY k.position, c.column_name LOOP
        RETURN QUERY EXECUTE format($f$
            SELECT %1$L::text, %2$L || ' values unknown', coalesce(sum(u.rows), 0)::numeric,
                   coalesce('rows: ' || string_agg(format('%%s (%%s)', u.value, u.rows), ', ' ORDER BY u.rows DESC, u.value COLLATE "C"),
                            'every value is a known ' || %3$L)
              FROM (SELECT x.v AS value, count(*) AS rows FROM (SELECT s.%4$I::text AS v FROM (%5$s) AS s) AS x
                     WHERE x.v IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM normalize.category_values AS c WHERE c.category = %3$L AND c.value = x.v)
                     GROUP BY x.v) AS u
            $f$, e.entity, e.column_name, e.category, e.column_name, normalize.source_query(e.entity));
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.assess_sources() IS
    'The "before" picture of the registered sources: counts, history depth, ID types, how references join as they stand, the synthetic values the plan lists, and category values the vocabulary does not know';

CREATE OR REPLACE FUNCTION @extschema@.repair_values(seed bigint DEFAULT 42)
RETURNS SETOF @extschema@.repair_summary
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col record;
    scan record;
    whole boolean;
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

    -- Accounts: an observed revenue is kept unless it is a placeholder (the
    -- whole column degenerate, or the value declared or found one: $0 is,
    -- as shipped); a placeholder is replaced by the sum of the account's
    -- paying subscriptions where there are any (derived), else the tier is
    -- drawn from tier_mix and the revenue from that tier's profile
    -- (generated). The tier follows from the revenue. A numeric NaN or
    -- Infinity is no revenue (NaN compares above every number, so "> 0"
    -- alone would keep it).
    scan := normalize.scan_placeholders('accounts', 'mrr', false);
    whole := scan.finding IS NOT NULL AND scan.finding NOT LIKE 'placeholder %';
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
               CASE WHEN a.mrr_observed >= 0 AND a.mrr_observed < 'Infinity'
                         AND (a.mrr_observed = ANY (scan.kept)
                              OR (NOT whole AND NOT a.mrr_observed = ANY (scan.placeholders))) THEN 'observed'
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
    SELECT 'accounts', 'mrr', coalesce(scan.finding, 'plausible'),
           CASE WHEN whole THEN 'sum of paying subscriptions where known, else drawn from the tier''s profile'
                ELSE 'kept observed values; placeholders (' || array_to_string(scan.placeholders, ', ')
                     || ') and missing ones: sum of paying subscriptions where known, else drawn from the tier''s profile' END,
           scan.n, count(*) FILTER (WHERE a.mrr_source <> 'observed'), count(*) FILTER (WHERE a.mrr_source = 'observed'),
           scan.n_distinct, round(scan.mean, 2), count(DISTINCT a.mrr), round(avg(a.mrr), 2)
      FROM normalize.accounts AS a;
    SELECT count(*) AS n, count(DISTINCT tier_observed) AS n_distinct INTO stats FROM normalize.accounts;
    INSERT INTO normalize.repair_summary
    SELECT 'accounts', 'tier',
           coalesce(normalize.column_finding(stats.n, 0, 0, stats.n_distinct, true), 'plausible'),
           'follows the revenue; drawn from tier_mix where the revenue is unknown',
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

-- Shipped rows: the trigger that marks rows as the user's is held off.
ALTER TABLE @extschema@.quality_thresholds DISABLE TRIGGER quality_thresholds_user_rows;
INSERT INTO @extschema@.quality_thresholds (check_name, category, comparison, threshold, severity, description, shipped) VALUES
    ('category values known', 'type consistency', '>=', 1, 'warn',
     'Share of a column of categories (status, role, tier) whose values the vocabulary knows (category_values, category_spellings)', true);
ALTER TABLE @extschema@.quality_thresholds ENABLE TRIGGER quality_thresholds_user_rows;

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
