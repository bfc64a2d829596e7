-- Rule choice (issue 18, classes 1 and 6): a rule without a free
-- parameter is preferred to an offset unless the offset links clearly
-- more (ambiguity_margin); offsets the rows cannot tell apart are marked
-- ambiguous and link nothing until the user declares the rule in the new
-- id_rule_overrides (kept by pg_dump); devices' locations are told apart
-- by the share linked to the device's own account. min_share gates only
-- offsets, and run_pipeline passes min_share and ambiguity_margin on.

CREATE TABLE @extschema@.id_rule_overrides (
    entity      text NOT NULL,
    reference   text NOT NULL,
    rule        text NOT NULL CHECK (rule IN ('exact', 'normalized', 'number', 'offset', 'none')),
    "offset"    bigint,
    source      text,
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (entity, reference),
    FOREIGN KEY (entity, reference) REFERENCES @extschema@.reference_kinds (entity, reference),
    CHECK (("offset" IS NOT NULL) = (rule = 'offset'))
);
COMMENT ON TABLE @extschema@.id_rule_overrides IS
    'User-declared linking rules: the rule a reference links by, in place of the one discovery would choose (none: only the crosswalk links it); applies while source is NULL or names the registered relation';
COMMENT ON COLUMN @extschema@.id_rule_overrides.source IS
    'The schema-qualified relation the rule was declared for; NULL: whatever relation is registered for the entity';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.id_rule_overrides', '');

ALTER TABLE @extschema@.reconciliation_rules
    ADD COLUMN consistent bigint,
    ADD COLUMN status text NOT NULL DEFAULT 'not used' CHECK (status IN ('used', 'declared', 'ambiguous', 'not used'));
UPDATE @extschema@.reconciliation_rules SET status = 'used' WHERE chosen;
ALTER TABLE @extschema@.reconciliation_rules ALTER COLUMN status DROP DEFAULT;
COMMENT ON COLUMN @extschema@.reconciliation_rules.consistent IS
    'Of the rows linked, those whose target belongs to the row''s own account (devices.location: the location is the device''s account''s); counted when the rows linked alone do not decide';
COMMENT ON COLUMN @extschema@.reconciliation_rules.status IS
    'used: chosen from the data; declared: given in id_rule_overrides; ambiguous: one of the rules the data could not tell apart, none of which links; not used';

CREATE FUNCTION @extschema@.require_rule_thresholds(min_share float8, ambiguity_margin float8)
RETURNS void
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (min_share > 0 AND min_share <= 1) THEN
        RAISE EXCEPTION 'min_share must be in (0, 1], got %', min_share
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of a column''s rows an offset rule must link to be used, such as 0.5.';
    END IF;
    IF NOT (ambiguity_margin >= 0 AND ambiguity_margin < 1) THEN
        RAISE EXCEPTION 'ambiguity_margin must be in [0, 1), got %', ambiguity_margin
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of a column''s rows within which two rules count as equally good, such as 0.1.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_rule_thresholds(float8, float8) IS
    'Internal: raises a clear error unless min_share is in (0, 1] and ambiguity_margin in [0, 1)';

CREATE FUNCTION @extschema@.declared_rule(entity text, reference text, OUT rule text, OUT "offset" bigint)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    registered text;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO o FROM normalize.id_rule_overrides AS x
     WHERE x.entity = declared_rule.entity AND x.reference = declared_rule.reference;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT s.relation::text INTO registered FROM normalize.sources AS s WHERE s.entity = declared_rule.entity;
    IF o.source IS NOT NULL AND to_regclass(o.source) IS DISTINCT FROM registered::regclass THEN
        RAISE NOTICE 'the rule declared for %.% applies to %, not to the registered %; it is not used',
                     entity, reference, o.source, coalesce(registered, '(none)')
            USING HINT = 'Update or delete its row in normalize.id_rule_overrides.';
        RETURN;
    END IF;
    rule := o.rule;
    "offset" := o."offset";
END
$$;
COMMENT ON FUNCTION @extschema@.declared_rule(text, text) IS
    'Internal: the rule id_rule_overrides declares for a reference, when it applies to the registered source';

CREATE OR REPLACE FUNCTION @extschema@.create_demo_source(
    schema_name text DEFAULT 'saas_raw',
    seed bigint DEFAULT 1,
    replace boolean DEFAULT false,
    scale integer DEFAULT 1)
RETURNS TABLE (table_name text, row_count bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- generate_series over computed bounds is costed at 1000 rows per call, which
-- makes tiny scales look huge: JIT would spend half a second compiling.
SET jit = off
AS $fn$
DECLARE
    -- Arguments, copied so that no SQL text below can confuse them with columns.
    v_schema  text := create_demo_source.schema_name;
    v_seed    bigint := create_demo_source.seed;
    v_replace boolean := create_demo_source.replace;
    v_scale   integer := create_demo_source.scale;
    -- The plan's volumes, times scale.
    n_customers        bigint;
    n_subscriptions    bigint;
    n_sub_orphans      bigint;   -- account_id matches no customer
    n_sub_paid         bigint;   -- mrr > 0
    n_sub_early        bigint;   -- snapshot 2025-06-17
    n_devices          bigint;
    n_dev_unlocated    bigint;   -- location_id IS NULL
    n_dev_high         bigint;   -- health 0.52 (the rest 0.20): mean 0.25
    n_dev_early        bigint;
    n_users            bigint;
    n_user_orphans     bigint;   -- account_id IS NULL
    n_user_high        bigint;   -- engagement 0.50 (the rest 0.25): mean 0.33
    n_user_admins      bigint;
    n_user_managers    bigint;
    n_locations        bigint;
    n_campaigns        bigint;
    -- Customer weights: a shared "size" times a per-table share, as
    -- positive integers so that cumulative sums are exact.
    weight_sql constant text :=
        '1 + floor(100 * normalize.random_lognormal_for(c::text, 0, 1, $1, 0, 100, ''demo_customers'', ''size'')'
        ' * normalize.random_lognormal_for(c::text, 0, 0.5, $1, 0, 10, ''demo_customers'', %L))::bigint';
    tables constant text[] := ARRAY['customers', 'subscriptions', 'devices', 'users',
                                    'locations', 'campaigns', 'ground_truth'];
    t text;
    kind "char";
    counts bigint[] := '{}';
    n bigint;
BEGIN
    -- Arguments -----------------------------------------------------------
    IF v_schema IS NULL THEN
        RAISE EXCEPTION 'schema_name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the schema to create the demo tables in, such as ''saas_raw''.';
    END IF;
    IF v_schema = '' THEN
        RAISE EXCEPTION 'schema_name must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the schema to create the demo tables in, such as ''saas_raw''.';
    END IF;
    IF octet_length(v_schema) > 63 THEN
        RAISE EXCEPTION 'schema_name must be at most 63 bytes long, got "%" (% bytes)', v_schema, octet_length(v_schema)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Longer names would be truncated; pass a shorter schema name.';
    END IF;
    IF v_schema IN ('normalize', 'pg_catalog', 'information_schema') OR v_schema LIKE 'pg\_%' THEN
        RAISE EXCEPTION 'schema_name must not be a system or extension schema, got "%"', v_schema
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass a schema of your own, such as ''saas_raw''.';
    END IF;
    IF v_seed IS NULL THEN
        RAISE EXCEPTION 'seed must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass any integer, such as 1; the same seed gives the same tables.';
    END IF;
    IF v_replace IS NULL THEN
        RAISE EXCEPTION 'replace must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass true to drop and recreate existing demo tables, false to refuse.';
    END IF;
    IF v_scale IS NULL THEN
        RAISE EXCEPTION 'scale must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass 1 for the plan''s volumes (100 customers), or a multiple up to 10000.';
    END IF;
    IF v_scale < 1 OR v_scale > 10000 THEN
        RAISE EXCEPTION 'scale must be between 1 and 10000, got %', v_scale
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass 1 for the plan''s volumes (100 customers); every count is multiplied by scale.';
    END IF;

    n_customers     := 100 * v_scale;
    n_subscriptions := 441 * v_scale;
    n_sub_orphans   := 13 * v_scale;
    n_sub_paid      := 241 * v_scale;
    n_sub_early     := round(n_subscriptions * 0.4);
    n_devices       := 1205 * v_scale;
    n_dev_unlocated := round(n_devices * 0.04);
    n_dev_high      := round(n_devices * 0.15625);     -- 0.20 + 0.32 p = 0.25
    n_dev_early     := round(n_devices * 0.35);
    n_users         := 337 * v_scale;
    n_user_orphans  := round(n_users * 0.04);
    n_user_high     := 108 * v_scale;                  -- (108 * 0.50 + 229 * 0.25) / 337 = 0.3301
    n_user_admins   := round(n_users * 0.10);
    n_user_managers := round(n_users * 0.25);
    n_locations     := 241 * v_scale;
    n_campaigns     := 310 * v_scale;

    -- Existing tables -----------------------------------------------------
    FOREACH t IN ARRAY tables LOOP
        SELECT c.relkind INTO kind
          FROM pg_class AS c JOIN pg_namespace AS s ON s.oid = c.relnamespace
         WHERE s.nspname = v_schema AND c.relname = t;
        CONTINUE WHEN NOT FOUND;
        IF kind NOT IN ('r', 'p') THEN
            RAISE EXCEPTION '%.% exists and is not a table', quote_ident(v_schema), quote_ident(t)
                USING ERRCODE = 'wrong_object_type',
                      HINT = 'Drop or rename it, or pass another schema_name.';
        END IF;
        IF NOT v_replace THEN
            RAISE EXCEPTION 'table %.% already exists', quote_ident(v_schema), quote_ident(t)
                USING ERRCODE = 'duplicate_table',
                      HINT = 'Pass replace => true to drop and recreate the demo tables, or pass another schema_name.';
        END IF;
        -- No CASCADE: objects built on the demo tables make this fail rather than vanish.
        EXECUTE format('DROP TABLE %I.%I', v_schema, t);
    END LOOP;

    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = v_schema) THEN
        EXECUTE format('CREATE SCHEMA %I', v_schema);
    END IF;

    -- Tables: the raw ones have no keys besides customers' (they are messy on purpose).
    EXECUTE format($ddl$
        CREATE TABLE %1$I.customers (
            customer_id   integer PRIMARY KEY,
            name          text,
            tier          text,
            mrr           numeric,
            industry      text,
            country       text,
            created_at    date,
            snapshot_date date);
        CREATE TABLE %1$I.subscriptions (
            subscription_id varchar,
            account_id      varchar,
            plan            text,
            mrr             numeric,
            status          text,
            start_date      date,
            snapshot_date   date);
        CREATE TABLE %1$I.devices (
            device_id     varchar,
            account_id    varchar,
            location_id   integer,
            device_type   text,
            status        text,
            health_score  numeric,
            uptime        numeric,
            snapshot_date date);
        CREATE TABLE %1$I.users (
            user_id          integer,
            account_id       varchar,
            role             text,
            engagement_score numeric,
            last_login       date,
            snapshot_date    date);
        CREATE TABLE %1$I.locations (
            location_id   integer,
            account_id    integer,
            name          text,
            city          text,
            country       text,
            snapshot_date date);
        CREATE TABLE %1$I.campaigns (
            campaign_id   varchar,
            account_id    varchar,
            name          text,
            channel       text,
            budget        numeric,
            start_date    date,
            snapshot_date date);
        CREATE TABLE %1$I.ground_truth (
            entity      text NOT NULL,
            source_id   text NOT NULL,
            customer_id integer,
            location_id integer,
            orphan      boolean NOT NULL,
            CHECK (orphan = (customer_id IS NULL)));
        COMMENT ON TABLE %1$I.customers IS %2$L;
        COMMENT ON TABLE %1$I.subscriptions IS %3$L;
        COMMENT ON TABLE %1$I.devices IS %4$L;
        COMMENT ON TABLE %1$I.users IS %5$L;
        COMMENT ON TABLE %1$I.locations IS %6$L;
        COMMENT ON TABLE %1$I.campaigns IS %7$L;
        COMMENT ON TABLE %1$I.ground_truth IS %8$L;
        $ddl$, v_schema,
        'Demo raw (messy) data from normalize.create_demo_source: customers, IDs 0-99 per scale, all Tier 4 with $0 MRR',
        'Demo raw (messy) data from normalize.create_demo_source: subscriptions, account_id = 10000000 + customer ID as VARCHAR, some orphaned',
        'Demo raw (messy) data from normalize.create_demo_source: devices, account_id like ''ACCT-0042'', health only 0.20 or 0.52, some without a location',
        'Demo raw (messy) data from normalize.create_demo_source: users, account_id zero-padded and space-padded in mixed ways, some NULL',
        'Demo raw (messy) data from normalize.create_demo_source: locations, account_id the plain INTEGER customer ID',
        'Demo raw (messy) data from normalize.create_demo_source: campaigns, account_id like ''cust_42''',
        'Ground truth of the demo source, for scoring reconciliation: for each row of subscriptions, devices, users, '
        'locations and campaigns (entity = table name, source_id = the row''s ID as text), the customer it truly '
        'belongs to (NULL and orphan for true orphans) and, for devices, the true location (NULL when it has none)');

    -- customers -------------------------------------------------------------
    EXECUTE format($q$
        INSERT INTO %I.customers (customer_id, name, tier, mrr, industry, country, created_at, snapshot_date)
        SELECT c,
               'Customer ' || lpad(c::text, greatest(4, length(c::text)), '0'),
               'Tier 4',
               0,
               (ARRAY['Manufacturing', 'Logistics', 'Retail', 'Healthcare', 'Energy',
                      'Agriculture', 'Hospitality', 'Education', 'Construction', 'Utilities'])
                   [1 + floor(normalize.random_uniform_for(c::text, 0, 10, $1, 'demo_customers', 'industry'))::int],
               (ARRAY['United States', 'United States', 'United States', 'Canada', 'United Kingdom',
                      'Germany', 'France', 'Netherlands', 'Australia', 'Spain'])
                   [1 + floor(normalize.random_uniform_for(c::text, 0, 10, $1, 'demo_customers', 'country'))::int],
               date '2025-06-18' - 30
                   - floor(normalize.random_uniform_for(c::text, 0, 1800, $1, 'demo_customers', 'created_at'))::int,
               date '2025-06-18'
          FROM generate_series(0, $2 - 1) AS c
         ORDER BY c
        $q$, v_schema)
        USING v_seed, n_customers;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || n;

    -- locations: every customer has one, the rest go to bigger customers.
    -- Most are in the customer's own country (the same keyed draw as the
    -- customer's country gives it back without a join).
    EXECUTE format($q$
        WITH weighted AS (
            SELECT c, %2$s AS w FROM generate_series(0, $2 - 1) AS c
        ), cumulative AS (
            SELECT c, w, sum(w) OVER (ORDER BY c) AS hi, sum(w) OVER () AS total FROM weighted
        ), unit AS (
            SELECT c, i
              FROM cumulative,
                   generate_series(1, (1 + div(hi * $3, total) - div((hi - w) * $3, total))::int) AS i
        ), numbered AS (
            SELECT row_number() OVER (ORDER BY normalize.random_uniform_for(c || '/' || i, 0, 1, $1,
                                                                            'demo_locations', 'order'), c, i) AS l,
                   c
              FROM unit
        ), drawn AS (
            SELECT l, c,
                   CASE WHEN normalize.random_uniform_for(l::text, 0, 1, $1, 'demo_locations', 'abroad') < 0.2
                        THEN 1 + floor(normalize.random_uniform_for(l::text, 0, 10, $1, 'demo_locations', 'country'))::int
                        ELSE 1 + floor(normalize.random_uniform_for(c::text, 0, 10, $1, 'demo_customers', 'country'))::int
                   END AS country,
                   floor(normalize.random_uniform_for(l::text, 0, 2, $1, 'demo_locations', 'city'))::int AS city,
                   1 + floor(normalize.random_uniform_for(l::text, 0, 7, $1, 'demo_locations', 'kind'))::int AS kind
              FROM numbered
        ), gen AS MATERIALIZED (
            SELECT l, c,
                   (ARRAY['New York', 'Chicago', 'Austin', 'Denver', 'Seattle', 'Boston', 'Toronto', 'Vancouver',
                          'London', 'Manchester', 'Berlin', 'Munich', 'Paris', 'Lyon', 'Amsterdam', 'Rotterdam',
                          'Sydney', 'Melbourne', 'Madrid', 'Barcelona'])[2 * country - 1 + city] AS city,
                   (ARRAY['United States', 'United States', 'United States', 'Canada', 'United Kingdom',
                          'Germany', 'France', 'Netherlands', 'Australia', 'Spain'])[country] AS country,
                   kind
              FROM drawn
        ), raw AS (
            INSERT INTO %1$I.locations (location_id, account_id, name, city, country, snapshot_date)
            SELECT l, c,
                   city || ' ' || (ARRAY['Warehouse', 'Plant', 'Office', 'Depot', 'Store', 'Clinic', 'Site'])[kind],
                   city, country, date '2025-06-17'
              FROM gen ORDER BY l
        )
        INSERT INTO %1$I.ground_truth (entity, source_id, customer_id, location_id, orphan)
        SELECT 'locations', l::text, c, NULL, false FROM gen ORDER BY l
        $q$, v_schema, format(weight_sql, 'locations_share'))
        USING v_seed, n_customers, n_locations - n_customers;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || n;

    -- subscriptions: every customer has one, the rest go to bigger customers;
    -- orphans point past the last customer.
    EXECUTE format($q$
        WITH weighted AS (
            SELECT c, created_at, %2$s AS w FROM %1$I.customers AS cu (c, name, tier, mrr, industry, country, created_at)
        ), cumulative AS (
            SELECT c, created_at, w, sum(w) OVER (ORDER BY c) AS hi, sum(w) OVER () AS total FROM weighted
        ), unit AS (
            SELECT c, i, c || '/' || i AS k, 10000000 + c AS account, created_at AS since
              FROM cumulative,
                   generate_series(1, (1 + div(hi * $3, total) - div((hi - w) * $3, total))::int) AS i
            UNION ALL
            SELECT NULL, i, 'orphan/' || i,
                   10000000 + $2 + floor(normalize.random_uniform_for('orphan/' || i, 0, 4 * $4, $1,
                                                                      'demo_subscriptions', 'account'))::bigint,
                   date '2025-06-18' - 1500
              FROM generate_series(1, $4) AS i
        ), flagged AS (
            SELECT unit.*,
                   row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_subscriptions', 'paid'),
                                               c NULLS LAST, i) <= $5 AS paid,
                   row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_subscriptions', 'snapshot'),
                                               c NULLS LAST, i) <= $6 AS early
              FROM unit
        ), numbered AS (
            -- The last window, so rows leave it in ID order.
            SELECT row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_subscriptions', 'order'),
                                               c NULLS LAST, i) AS s,
                   c, account, since, paid, early
              FROM flagged
        ), drawn AS (
            SELECT s, c, account, since, paid, early,
                   normalize.random_uniform_for(s::text, 0, 1, $1, 'demo_subscriptions', 'status') AS u_status,
                   normalize.random_uniform_for(s::text, 0, 1, $1, 'demo_subscriptions', 'start') AS u_start,
                   -- numeric, so that the shares add up exactly
                   round(normalize.random_uniform_for(s::text, 0.2, 1, $1, 'demo_subscriptions', 'share')::numeric, 12) AS share
              FROM numbered
        ), counted AS (
            -- A customer's paying, not cancelled subscriptions share its
            -- true revenue, which follows the appendix: a tier drawn with
            -- the weights of normalize.tier_mix as shipped, then the tier's
            -- lognormal. Summing them back recovers it to the cent.
            SELECT d.*, d.paid AND d.u_status < 0.96 AND d.c IS NOT NULL AS counts,
                   sum(d.share) FILTER (WHERE d.paid AND d.u_status < 0.96) OVER (PARTITION BY d.c) AS shares,
                   sum(d.share) FILTER (WHERE d.paid AND d.u_status < 0.96) OVER (PARTITION BY d.c ORDER BY d.s) AS shares_upto
              FROM drawn AS d
        ), revenue AS (
            SELECT c, round(CASE WHEN u < 0.05 THEN normalize.random_lognormal_for(c::text, 9.5, 0.8, $1, 5000, 50000, 'demo_customers', 'mrr')
                                 WHEN u < 0.20 THEN normalize.random_lognormal_for(c::text, 7.8, 0.6, $1, 1000, 5000, 'demo_customers', 'mrr')
                                 WHEN u < 0.50 THEN normalize.random_lognormal_for(c::text, 6.2, 0.5, $1, 200, 1000, 'demo_customers', 'mrr')
                                 ELSE normalize.random_lognormal_for(c::text, 4.5, 0.4, $1, 50, 200, 'demo_customers', 'mrr')
                            END::numeric, 2) AS total
              FROM (SELECT DISTINCT c, normalize.random_uniform_for(c::text, 0, 1, $1, 'demo_customers', 'tier') AS u
                      FROM counted WHERE counts) AS t
        ), priced AS (
            -- Each counted subscription gets its cumulative share rounded
            -- minus the one before, so the shares add up to the total.
            SELECT k.s, k.c, k.account, k.since, k.paid, k.early, k.u_status, k.u_start,
                   CASE WHEN k.counts
                        THEN round(r.total * k.shares_upto / k.shares, 2)
                             - round(r.total * (k.shares_upto - k.share) / k.shares, 2)
                        WHEN k.paid
                        THEN round(normalize.random_lognormal_for(k.s::text, 4.8, 0.9, $1, 29, 2000,
                                                                  'demo_subscriptions', 'mrr')::numeric)
                        ELSE 0 END AS mrr
              FROM counted AS k LEFT JOIN revenue AS r ON r.c = k.c AND k.counts
        ), gen AS MATERIALIZED (
            SELECT s, c,
                   'SUB-' || lpad(s::text, greatest(6, length(s::text)), '0') AS subscription_id,
                   account::text AS account_id,
                   CASE WHEN paid THEN CASE WHEN mrr < 100 THEN 'starter' WHEN mrr < 500 THEN 'professional'
                                            ELSE 'enterprise' END
                        WHEN u_status < 0.45 THEN 'trial'
                        WHEN u_status < 0.80 THEN CASE WHEN u_status < 0.70 THEN 'starter' ELSE 'professional' END
                        ELSE 'free' END AS plan,
                   mrr,
                   CASE WHEN paid THEN CASE WHEN u_status < 0.88 THEN 'active' WHEN u_status < 0.96 THEN 'past_due'
                                            ELSE 'cancelled' END
                        WHEN u_status < 0.45 THEN 'trial'
                        WHEN u_status < 0.80 THEN 'cancelled'
                        ELSE 'active' END AS status,
                   CASE WHEN NOT paid AND u_status < 0.45   -- trials are recent
                        THEN date '2025-06-18' - floor(u_start * 30)::int
                        ELSE since + floor(u_start * (date '2025-06-18' - since + 1))::int END AS start_date,
                   CASE WHEN early THEN date '2025-06-17' ELSE date '2025-06-18' END AS snapshot_date
              FROM priced
        ), raw AS (
            INSERT INTO %1$I.subscriptions (subscription_id, account_id, plan, mrr, status, start_date, snapshot_date)
            SELECT subscription_id, account_id, plan, mrr, status, start_date, snapshot_date FROM gen ORDER BY s
        )
        INSERT INTO %1$I.ground_truth (entity, source_id, customer_id, location_id, orphan)
        SELECT 'subscriptions', subscription_id, c, NULL, c IS NULL FROM gen ORDER BY s
        $q$, v_schema, format(weight_sql, 'subscriptions_share'))
        USING v_seed, n_customers, n_subscriptions - n_sub_orphans - n_customers, n_sub_orphans,
              n_sub_paid, n_sub_early;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || n;

    -- devices: most are spread over locations (and belong to the location's
    -- customer); the unlocated ones are spread over customers.
    EXECUTE format($q$
        WITH located AS (
            SELECT location_id AS l, account_id AS c,
                   1 + floor(100 * normalize.random_lognormal_for(location_id::text, 0, 0.8, $1, 0, 100,
                                                                  'demo_locations', 'devices_share'))::bigint AS w
              FROM %1$I.locations
        ), located_cumulative AS (
            SELECT l, c, w, sum(w) OVER (ORDER BY l) AS hi, sum(w) OVER () AS total FROM located
        ), weighted AS (
            SELECT c, %2$s AS w FROM generate_series(0, $2 - 1) AS c
        ), cumulative AS (
            SELECT c, w, sum(w) OVER (ORDER BY c) AS hi, sum(w) OVER () AS total FROM weighted
        ), unit AS (
            SELECT c, l, i, 'L' || l || '/' || i AS k
              FROM located_cumulative,
                   generate_series(1, (div(hi * $3, total) - div((hi - w) * $3, total))::int) AS i
            UNION ALL
            SELECT c, NULL, i, 'C' || c || '/' || i
              FROM cumulative,
                   generate_series(1, (div(hi * $4, total) - div((hi - w) * $4, total))::int) AS i
        ), flagged AS (
            SELECT unit.*,
                   row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_devices', 'health'),
                                               l NULLS LAST, c, i) <= $5 AS high,
                   row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_devices', 'snapshot'),
                                               l NULLS LAST, c, i) <= $6 AS early
              FROM unit
        ), numbered AS (
            -- The last window, so rows leave it in ID order.
            SELECT row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_devices', 'order'),
                                               l NULLS LAST, c, i) AS d,
                   c, l, high, early
              FROM flagged
        ), drawn AS (
            SELECT d, c, l, high, early,
                   normalize.random_uniform_for(d::text, 0, 1, $1, 'demo_devices', 'type') AS u_type,
                   normalize.random_uniform_for(d::text, 0, 1, $1, 'demo_devices', 'status') AS u_status
              FROM numbered
        ), gen AS MATERIALIZED (
            SELECT d, c, l,
                   'DEV-' || lpad(d::text, greatest(5, length(d::text)), '0') AS device_id,
                   'ACCT-' || lpad(c::text, greatest(4, length(c::text)), '0') AS account_id,
                   CASE WHEN u_type < 0.50 THEN 'sensor' WHEN u_type < 0.70 THEN 'camera'
                        WHEN u_type < 0.85 THEN 'gateway' ELSE 'controller' END AS device_type,
                   CASE WHEN u_status < 0.85 THEN 'operational' WHEN u_status < 0.95 THEN 'maintenance'
                        ELSE 'critical' END AS status,
                   CASE WHEN high THEN 0.52 ELSE 0.20 END AS health_score,
                   CASE WHEN early THEN date '2025-06-17' ELSE date '2025-06-18' END AS snapshot_date
              FROM drawn
        ), raw AS (
            INSERT INTO %1$I.devices (device_id, account_id, location_id, device_type, status,
                                      health_score, uptime, snapshot_date)
            SELECT device_id, account_id, l, device_type, status, health_score, 99.9, snapshot_date
              FROM gen ORDER BY d
        )
        INSERT INTO %1$I.ground_truth (entity, source_id, customer_id, location_id, orphan)
        SELECT 'devices', device_id, c, l, false FROM gen ORDER BY d
        $q$, v_schema, format(weight_sql, 'devices_share'))
        USING v_seed, n_customers, n_devices - n_dev_unlocated, n_dev_unlocated, n_dev_high, n_dev_early;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || n;

    -- users: spread over customers; the orphans have no account at all.
    EXECUTE format($q$
        WITH weighted AS (
            SELECT c, %2$s AS w FROM generate_series(0, $2 - 1) AS c
        ), cumulative AS (
            SELECT c, w, sum(w) OVER (ORDER BY c) AS hi, sum(w) OVER () AS total FROM weighted
        ), unit AS (
            SELECT c, i, c || '/' || i AS k
              FROM cumulative,
                   generate_series(1, (div(hi * $3, total) - div((hi - w) * $3, total))::int) AS i
            UNION ALL
            SELECT NULL, i, 'orphan/' || i FROM generate_series(1, $4) AS i
        ), flagged AS (
            SELECT unit.*,
                   row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_users', 'role'),
                                               c NULLS LAST, i) AS role_rank,
                   row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_users', 'engagement'),
                                               c NULLS LAST, i) <= $5 AS high
              FROM unit
        ), numbered AS (
            -- The last window, so rows leave it in ID order.
            SELECT row_number() OVER (ORDER BY normalize.random_uniform_for(k, 0, 1, $1, 'demo_users', 'order'),
                                               c NULLS LAST, i) AS u,
                   c, role_rank, high
              FROM flagged
        ), drawn AS (
            SELECT u, c, role_rank, high,
                   normalize.random_uniform_for(u::text, 0, 1, $1, 'demo_users', 'format') AS u_format,
                   c::text AS t
              FROM numbered
        ), gen AS MATERIALIZED (
            SELECT u, c,
                   CASE WHEN u_format < 0.40 THEN t
                        WHEN u_format < 0.60 THEN lpad(t, greatest(4, length(t)), '0')
                        WHEN u_format < 0.72 THEN lpad(t, greatest(5, length(t)), '0')
                        WHEN u_format < 0.82 THEN ' ' || t
                        WHEN u_format < 0.90 THEN t || ' '
                        WHEN u_format < 0.95 THEN lpad(t, greatest(4, length(t)), '0') || ' '
                        ELSE ' ' || lpad(t, greatest(5, length(t)), '0') END AS account_id,
                   CASE WHEN role_rank <= $6 THEN 'admin' WHEN role_rank <= $6 + $7 THEN 'manager'
                        ELSE 'standard' END AS role,
                   CASE WHEN high THEN 0.50 ELSE 0.25 END AS engagement_score,
                   date '2025-06-18'
                       - floor(normalize.random_exponential_for(u::text, 1.0 / 12, $1, 0, 365,
                                                                'demo_users', 'last_login'))::int AS last_login
              FROM drawn
        ), raw AS (
            INSERT INTO %1$I.users (user_id, account_id, role, engagement_score, last_login, snapshot_date)
            SELECT u, account_id, role, engagement_score, last_login, date '2025-06-18' FROM gen ORDER BY u
        )
        INSERT INTO %1$I.ground_truth (entity, source_id, customer_id, location_id, orphan)
        SELECT 'users', u::text, c, NULL, c IS NULL FROM gen ORDER BY u
        $q$, v_schema, format(weight_sql, 'users_share'))
        USING v_seed, n_customers, n_users - n_user_orphans, n_user_orphans, n_user_high,
              n_user_admins, n_user_managers;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || n;

    -- campaigns: spread over customers.
    EXECUTE format($q$
        WITH weighted AS (
            SELECT c, %2$s AS w FROM generate_series(0, $2 - 1) AS c
        ), cumulative AS (
            SELECT c, w, sum(w) OVER (ORDER BY c) AS hi, sum(w) OVER () AS total FROM weighted
        ), unit AS (
            SELECT c, i
              FROM cumulative,
                   generate_series(1, (div(hi * $3, total) - div((hi - w) * $3, total))::int) AS i
        ), numbered AS (
            SELECT row_number() OVER (ORDER BY normalize.random_uniform_for(c || '/' || i, 0, 1, $1,
                                                                            'demo_campaigns', 'order'), c, i) AS m,
                   c
              FROM unit
        ), gen AS MATERIALIZED (
            SELECT m, c,
                   'CMP-' || lpad(m::text, greatest(4, length(m::text)), '0') AS campaign_id,
                   (ARRAY['Spring Promo', 'Product Launch', 'Webinar Series', 'Customer Upsell', 'Renewal Push',
                          'Trade Show', 'Brand Awareness', 'Partner Co-op'])
                       [1 + floor(normalize.random_uniform_for(m::text, 0, 8, $1, 'demo_campaigns', 'theme'))::int]
                       AS theme,
                   (ARRAY['email', 'email', 'search', 'search', 'social', 'events', 'display', 'partner'])
                       [1 + floor(normalize.random_uniform_for(m::text, 0, 8, $1, 'demo_campaigns', 'channel'))::int]
                       AS channel,
                   round(normalize.random_lognormal_for(m::text, 7.8, 1.0, $1, 100, 250000,
                                                        'demo_campaigns', 'budget')::numeric, -1) AS budget,
                   date '2025-06-18'
                       - floor(normalize.random_uniform_for(m::text, 0, 540, $1, 'demo_campaigns', 'start'))::int
                       AS start_date
              FROM numbered
        ), raw AS (
            INSERT INTO %1$I.campaigns (campaign_id, account_id, name, channel, budget, start_date, snapshot_date)
            SELECT campaign_id, 'cust_' || c,
                   theme || ' Q' || extract(quarter FROM start_date) || ' ' || extract(year FROM start_date),
                   channel, budget, start_date, date '2025-06-18'
              FROM gen ORDER BY m
        )
        INSERT INTO %1$I.ground_truth (entity, source_id, customer_id, location_id, orphan)
        SELECT 'campaigns', campaign_id, c, NULL, false FROM gen ORDER BY m
        $q$, v_schema, format(weight_sql, 'campaigns_share'))
        USING v_seed, n_customers, n_campaigns;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || n;

    -- Indexed once filled: one sorted build is several times faster than
    -- 2.5 million index insertions at scale 1000.
    EXECUTE format('ALTER TABLE %I.ground_truth ADD PRIMARY KEY (entity, source_id)', v_schema);

    -- The demo documents the subscriptions' offset (the table's comment, the
    -- plan): with dense IDs, offsets 10000000 and 10000001 link nearly as
    -- many rows and reconcile_ids would not choose. It is declared for this
    -- relation only, and a user's own declaration is left alone.
    IF EXISTS (SELECT 1 FROM normalize.id_rule_overrides AS o
                WHERE o.entity = 'subscriptions' AND o.reference = 'account'
                  AND o.note NOT LIKE 'documented by normalize.create_demo_source%') THEN
        RAISE NOTICE 'normalize.id_rule_overrides already declares a rule for subscriptions.account; the demo''s was not recorded'
            USING HINT = format('reconcile_ids will report the demo''s subscriptions ambiguous unless that row declares offset 10000000 for %I.subscriptions.', v_schema);
    ELSE
        INSERT INTO normalize.id_rule_overrides AS o (entity, reference, rule, "offset", source, note)
        VALUES ('subscriptions', 'account', 'offset', 10000000, format('%I.subscriptions', v_schema),
                'documented by normalize.create_demo_source: account_id = 10000000 + customer ID')
        ON CONFLICT (entity, reference) DO UPDATE SET rule = excluded.rule, "offset" = excluded."offset",
                                                      source = excluded.source, note = excluded.note;
    END IF;

    -- counts holds customers, locations, subscriptions, devices, users, campaigns.
    RETURN QUERY
        SELECT x.name, x.n
          FROM unnest(tables,
                      ARRAY[counts[1], counts[3], counts[4], counts[5], counts[2], counts[6],
                            counts[2] + counts[3] + counts[4] + counts[5] + counts[6]])
               WITH ORDINALITY AS x(name, n, position)
         ORDER BY x.position;
END
$fn$;
COMMENT ON FUNCTION @extschema@.create_demo_source(text, bigint, boolean, integer) IS
    'Creates, in schema_name, the six raw demo tables in the state of the plan''s Current State Assessment (customers, subscriptions, devices, users, locations, campaigns; every count times scale) and their ground_truth, and declares the subscriptions'' documented offset in id_rule_overrides; the same seed gives the same bytes; replace drops and recreates existing tables';

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

DROP PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean);
CREATE PROCEDURE @extschema@.run_pipeline(seed bigint DEFAULT 42, months integer DEFAULT 24,
                                          as_of date DEFAULT NULL,
                                          orphan_policy text DEFAULT 'quarantine',
                                          restart boolean DEFAULT false, min_share float8 DEFAULT 0.5,
                                          ambiguity_margin float8 DEFAULT 0.1)
LANGUAGE plpgsql
AS $$
DECLARE
    run bigint;
    phase text;
    failure text;
    failure_state text;
    failure_detail text;
    failure_hint text;
BEGIN
    IF seed IS NULL OR months IS NULL OR orphan_policy IS NULL OR restart IS NULL
       OR min_share IS NULL OR ambiguity_margin IS NULL THEN
        RAISE EXCEPTION 'run_pipeline: seed, months, orphan_policy, restart, min_share and ambiguity_margin must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave an argument out for its default.';
    END IF;
    -- Without as_of, the history ends at the sources' latest snapshot, not
    -- on the day the pipeline happens to run.
    IF as_of IS NULL THEN
        PERFORM normalize.require_sources();
        as_of := normalize.latest_snapshot('sources');
    END IF;
    -- Refused before any phase runs, rather than when the history's is
    -- reached (an invalid months is the history phase's to report).
    IF months OPERATOR(pg_catalog.>=) 1 AND months OPERATOR(pg_catalog.<=) 600 THEN
        PERFORM normalize.require_history_as_of(as_of, months);
    END IF;
    PERFORM normalize.require_rule_thresholds(min_share, ambiguity_margin);
    -- The first statement of a transaction starts with it: a later one is
    -- inside a transaction block, where the commits after each phase fail.
    IF pg_catalog.statement_timestamp() OPERATOR(pg_catalog.<>) pg_catalog.transaction_timestamp() THEN
        RAISE EXCEPTION 'run_pipeline cannot run inside a transaction block'
            USING ERRCODE = 'active_sql_transaction',
                  HINT = 'CALL it on its own, outside BEGIN ... COMMIT: it commits after each phase.';
    END IF;
    PERFORM normalize.require_sources();
    run := normalize.pipeline_begin(pg_catalog.jsonb_build_object('seed', seed, 'months', months, 'as_of', as_of,
                                                                  'orphan_policy', orphan_policy,
                                                                  'min_share', min_share,
                                                                  'ambiguity_margin', ambiguity_margin),
                                    restart);
    COMMIT;
    LOOP
        phase := normalize.pipeline_next_phase(run);
        EXIT WHEN phase IS NULL;
        COMMIT;  -- "running" is visible to other sessions from here
        BEGIN
            PERFORM normalize.pipeline_run_phase(run, phase);
        EXCEPTION
            WHEN query_canceled OR others THEN
                GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, failure_state = RETURNED_SQLSTATE,
                                        failure_detail = PG_EXCEPTION_DETAIL, failure_hint = PG_EXCEPTION_HINT;
        END;
        IF failure_state IS NOT NULL THEN
            PERFORM normalize.pipeline_fail(run, phase, failure);
            COMMIT;
            RAISE EXCEPTION 'run_pipeline: phase % failed: %', phase, failure
                USING ERRCODE = failure_state,
                      DETAIL = pg_catalog.btrim(pg_catalog.concat_ws(' ', failure_detail,
                                                    'The phases before it are done and committed; this one left nothing behind.')),
                      HINT = pg_catalog.btrim(pg_catalog.concat_ws(' ', failure_hint,
                                                  'CALL normalize.run_pipeline() again with the same arguments to resume from this phase, or with restart => true to start over.'));
        END IF;
        COMMIT;
    END LOOP;
    PERFORM normalize.pipeline_finish(run);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean, float8, float8) IS
    'Runs the whole pipeline on the registered sources (reconcile, repair, history, features, training sets, quality checks), committing after each phase; one run at a time; resumes an unfinished run with the same arguments; min_share and ambiguity_margin are reconcile_ids''';

-- Shipped rows: the trigger that marks rows as the user's is held off.
ALTER TABLE @extschema@.quality_thresholds DISABLE TRIGGER quality_thresholds_user_rows;
INSERT INTO @extschema@.quality_thresholds (check_name, category, comparison, threshold, severity, description, shipped) VALUES
    ('source rows linked', 'completeness', '>=', 0.95, 'warn',
     'Share of an entity''s source rows (superseded snapshots and duplicates aside) linked by a rule or the crosswalk', true),
    ('reference rule decided', 'completeness', '>=', 1, 'fail',
     'Whether the rows of a reference decided its rule (an undecided one links nothing until declared in id_rule_overrides)', true);
ALTER TABLE @extschema@.quality_thresholds ENABLE TRIGGER quality_thresholds_user_rows;

