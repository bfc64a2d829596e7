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

-- Shipped rows: the trigger that marks rows as the user's is held off.
ALTER TABLE @extschema@.quality_thresholds DISABLE TRIGGER quality_thresholds_user_rows;
INSERT INTO @extschema@.quality_thresholds (check_name, category, comparison, threshold, severity, description, shipped) VALUES
    ('category values known', 'type consistency', '>=', 1, 'warn',
     'Share of a column of categories (status, role, tier) whose values the vocabulary knows (category_values, category_spellings)', true);
ALTER TABLE @extschema@.quality_thresholds ENABLE TRIGGER quality_thresholds_user_rows;

