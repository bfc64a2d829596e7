-- Optional entities and the entity vocabulary (issue 18, class 9, and its
-- shape): a source needs only its customers; each phase does what the
-- registered entities allow, and the quality checks and the readiness
-- report say what was not available. entity_kinds also says which features
-- each entity carries, read by the feature generator and the checks
-- instead of lists written into each. quality_checks is a sequence of
-- steps, and its rows reach the report as an argument instead of through a
-- temp table; the steps of reconcile_ids and build_training_sets likewise
-- pass their data as arguments or through reconciliation_rules, never
-- through a temp table of a fixed name.

DROP FUNCTION @extschema@.reconcile_ids(text, float8);
DROP FUNCTION @extschema@.use_sources(text);
DROP FUNCTION @extschema@.assign_splits(text, float8, float8);
DROP FUNCTION @extschema@.resolve_reference(text, text, text[], bigint[], text, float8);
DROP FUNCTION @extschema@.source_query(text);

ALTER TABLE @extschema@.entity_kinds
    ADD COLUMN required boolean,
    ADD COLUMN feature_entity text UNIQUE,
    ADD COLUMN base_view text UNIQUE,
    ADD COLUMN cadence integer CHECK (cadence > 0),
    ADD COLUMN smallest_window integer CHECK (smallest_window > 0);
UPDATE @extschema@.entity_kinds AS k
   SET required = v.required, feature_entity = v.feature_entity, base_view = v.base_view, cadence = v.cadence,
       smallest_window = v.smallest_window
  FROM (VALUES ('customers', true, 'customer', 'customer_feature_base', 1, 3),
               ('locations', false, NULL, NULL, NULL, NULL),
               ('subscriptions', false, NULL, NULL, NULL, NULL),
               ('devices', false, 'device', 'device_feature_base', 7, 7),
               ('users', false, 'user', 'user_feature_base', 1, 4),
               ('campaigns', false, NULL, NULL, NULL, NULL))
       AS v(entity, required, feature_entity, base_view, cadence, smallest_window)
 WHERE k.entity = v.entity;
ALTER TABLE @extschema@.entity_kinds
    ALTER COLUMN required SET NOT NULL,
    ADD CHECK ((feature_entity IS NULL) = (base_view IS NULL) AND (feature_entity IS NULL) = (cadence IS NULL)
               AND (feature_entity IS NULL) = (smallest_window IS NULL));
COMMENT ON TABLE @extschema@.entity_kinds IS
    'The entity vocabulary: each source entity, the kind its stable keys carry, its ID column, its normalized table, whether a run needs its source, and the features built on it';
COMMENT ON COLUMN @extschema@.entity_kinds.required IS
    'Every other entity hangs off the customers; a source without some of the others is run on what it has';
COMMENT ON COLUMN @extschema@.entity_kinds.feature_entity IS
    'The entity of the feature catalog, views and stores built on it (customer_features, ...), if any';
COMMENT ON COLUMN @extschema@.entity_kinds.base_view IS
    'The view of one row per entity and period of history that its features are computed from';
COMMENT ON COLUMN @extschema@.entity_kinds.cadence IS
    'Periods of the base view between two feature cutoffs (devices: 7 days)';
COMMENT ON COLUMN @extschema@.entity_kinds.smallest_window IS
    'The shortest feature window, in periods of the base view';

ALTER TABLE @extschema@.quality_thresholds DISABLE TRIGGER quality_thresholds_user_rows;
INSERT INTO @extschema@.quality_thresholds (check_name, category, comparison, threshold, severity, description, shipped) VALUES
    ('optional sources registered', 'completeness', '>=', 1, 'warn',
     'Share of the optional entities (all but the customers) with a registered source; the others'' tables, features and training sets are empty', true);
ALTER TABLE @extschema@.quality_thresholds ENABLE TRIGGER quality_thresholds_user_rows;

-- One finding of a quality check, before its threshold is applied. ok is
-- the verdict where the check decides it itself (band checks, missing
-- inputs); otherwise observed is compared with the threshold. undecided:
-- too little data to say, reported as a warning.
CREATE TYPE @extschema@.quality_finding AS (
    check_name text, entity text, observed float8, failing_rows bigint, sample_keys text[], detail text,
    ok boolean, undecided boolean);
COMMENT ON TYPE @extschema@.quality_finding IS
    'Internal: one finding of a step of quality_checks, before its threshold is applied';

-- A row of quality_checks, for passing its result on as an argument.
CREATE TYPE @extschema@.quality_check AS (
    category text, entity text, check_name text, observed float8, threshold float8, status text,
    failing_rows bigint, sample_keys text[], detail text);
COMMENT ON TYPE @extschema@.quality_check IS
    'Internal: a row of quality_checks(), as ml_readiness_report and readiness_report_html pass them on';

-- account_map is unique by a digest of the raw value: a raw ID too long
-- for a btree row failed the whole reconciliation.
ALTER TABLE @extschema@.account_map DROP CONSTRAINT account_map_pkey;
CREATE UNIQUE INDEX account_map_raw_value_key ON @extschema@.account_map (entity, md5(raw_value));

CREATE OR REPLACE FUNCTION @extschema@.use_sources(schema_name text, time_zone text DEFAULT 'UTC')
RETURNS TABLE (entity text, relation regclass, columns_found integer, optional_missing text[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e text;
    missing text[] := '{}';
BEGIN
    PERFORM normalize.require_time_zone(time_zone);
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema_name) THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema_name
            USING ERRCODE = 'invalid_schema_name',
                  HINT = 'Pass the schema that holds the raw tables, such as the one normalize.create_demo_source() made.';
    END IF;
    IF to_regclass(format('%I.customers', schema_name)) IS NULL THEN
        RAISE EXCEPTION 'schema "%" has no table customers', schema_name
            USING ERRCODE = 'undefined_table',
                  DETAIL = 'Every other entity hangs off the customers.',
                  HINT = 'Register tables with other names one by one with normalize.register_source(entity, relation, columns).';
    END IF;
    -- The schema's tables replace every registration: an entity it lacks is
    -- no longer registered (its phases' outputs stay empty), rather than
    -- read from another schema left registered by an earlier call.
    FOR e IN SELECT k.entity FROM normalize.entity_kinds AS k ORDER BY k.position LOOP
        IF to_regclass(format('%I.%I', schema_name, e)) IS NULL THEN
            missing := missing || e;
            DELETE FROM normalize.sources AS s WHERE s.entity = e;
            CONTINUE;
        END IF;
        entity := e;
        relation := format('%I.%I', schema_name, e)::regclass;
        PERFORM normalize.register_source(e, relation, '{}', use_sources.time_zone);
        SELECT count(*)::integer INTO columns_found
          FROM jsonb_object_keys((SELECT s.columns FROM normalize.sources AS s WHERE s.entity = e));
        SELECT coalesce(array_agg(c.column_name ORDER BY c.position), '{}') INTO optional_missing
          FROM normalize.source_contract AS c
         WHERE c.entity = e AND NOT c.required
           AND NOT (SELECT s.columns FROM normalize.sources AS s WHERE s.entity = e) ? c.column_name;
        RETURN NEXT;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        RAISE NOTICE 'schema "%" has no tables for %: not registered', schema_name, array_to_string(missing, ', ')
            USING DETAIL = 'The pipeline runs on what is registered; the outputs built from these entities stay empty, and the readiness report says so.',
                  HINT = 'Register a table of another name with normalize.register_source(entity, relation, columns).';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.use_sources(text, text) IS
    'Registers the raw tables of a schema named as the entities (customers, which it needs, and any of subscriptions, devices, users, locations, campaigns) that follow the source contract, their timestamptz columns read as dates in time_zone; an entity without a table is no longer registered';

-- Takes an entity's source out of the registrations: the phases then run
-- without it.
CREATE OR REPLACE FUNCTION @extschema@.unregister_source(entity text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM normalize.require_entity(entity);
    IF (SELECT k.required FROM normalize.entity_kinds AS k WHERE k.entity = unregister_source.entity) THEN
        RAISE EXCEPTION 'the % source cannot be unregistered', entity
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Every other entity hangs off the customers.',
                  HINT = 'Register another relation in its place with normalize.register_source(entity, relation, columns).';
    END IF;
    DELETE FROM normalize.sources AS s WHERE s.entity = unregister_source.entity;
    IF FOUND THEN
        RAISE NOTICE 'the % source is no longer registered', entity
            USING HINT = 'The tables built from it stay until the pipeline runs again: CALL normalize.run_pipeline().';
    END IF;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.unregister_source(text) IS
    'Removes the registration of an entity''s source (true if there was one); the pipeline then runs without that entity';

-- Refuses arguments create_demo_source cannot use, naming each.
CREATE OR REPLACE FUNCTION @extschema@.demo_check_arguments(schema_name text, seed bigint, replace boolean, scale integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_schema  text := demo_check_arguments.schema_name;
    v_seed    bigint := demo_check_arguments.seed;
    v_replace boolean := demo_check_arguments.replace;
    v_scale   integer := demo_check_arguments.scale;
BEGIN
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
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_check_arguments(text, bigint, boolean, integer) IS
    'Internal: refuses the arguments create_demo_source cannot use';

-- Makes room for the demo tables in schema_name: the schema is created
-- when missing; a table of the demo's that exists is dropped when replace
-- is true, and refused otherwise.
CREATE OR REPLACE FUNCTION @extschema@.demo_prepare_schema(schema_name text, replace boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_schema  text := demo_prepare_schema.schema_name;
    v_replace boolean := demo_prepare_schema.replace;
    t text;
    kind "char";
BEGIN
    FOREACH t IN ARRAY ARRAY['customers', 'subscriptions', 'devices', 'users', 'locations', 'campaigns',
                             'ground_truth'] LOOP
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
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_prepare_schema(text, boolean) IS
    'Internal: creates the demo''s schema, or drops its existing demo tables when asked, for create_demo_source';

-- The demo's seven tables, empty, with their comments.
CREATE OR REPLACE FUNCTION @extschema@.demo_create_tables(schema_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_schema text := demo_create_tables.schema_name;
BEGIN
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
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_create_tables(text) IS
    'Internal: creates the demo''s empty raw tables and ground truth, for create_demo_source';

-- How much of a table's rows a customer gets: a shared "size" times a
-- per-table share, as a positive integer so that cumulative sums are
-- exact (SQL over c, the customer, and $1, the seed).
CREATE OR REPLACE FUNCTION @extschema@.demo_weight_sql(share text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT format(
        '1 + floor(100 * normalize.random_lognormal_for(c::text, 0, 1, $1, 0, 100, ''demo_customers'', ''size'')'
        ' * normalize.random_lognormal_for(c::text, 0, 0.5, $1, 0, 10, ''demo_customers'', %L))::bigint', share)
$fn$;
COMMENT ON FUNCTION @extschema@.demo_weight_sql(text) IS
    'Internal: the SQL of a customer''s weight in one demo table, for create_demo_source';

-- Fills the customers: IDs 0 to n_customers - 1, all Tier 4 with $0 MRR;
-- returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@.demo_customers(schema_name text, seed bigint, n_customers bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_schema text := demo_customers.schema_name;
    n bigint;
BEGIN
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
        USING seed, n_customers;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_customers(text, bigint, bigint) IS
    'Internal: writes the customers: IDs 0 to n_customers - 1, all Tier 4 with $0 MRR, for create_demo_source';

-- Fills the locations: one per customer and n_extra more for the bigger
-- ones, with their ground truth; returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@.demo_locations(schema_name text, seed bigint, n_customers bigint, n_extra bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_schema text := demo_locations.schema_name;
    n bigint;
BEGIN
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
        $q$, v_schema, normalize.demo_weight_sql('locations_share'))
        USING seed, n_customers, n_extra;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_locations(text, bigint, bigint, bigint) IS
    'Internal: writes the locations: one per customer and n_extra more for the bigger ones, with their ground truth, for create_demo_source';

-- Fills the subscriptions: one per customer, n_owned_extra more for the
-- bigger ones and n_orphans orphans; n_paid paying, n_early of the earlier
-- snapshot; with their ground truth; returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@.demo_subscriptions(schema_name text, seed bigint, n_customers bigint, n_owned_extra bigint, n_orphans bigint, n_paid bigint, n_early bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_schema text := demo_subscriptions.schema_name;
    n bigint;
BEGIN
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
        $q$, v_schema, normalize.demo_weight_sql('subscriptions_share'))
        USING seed, n_customers, n_owned_extra, n_orphans, n_paid, n_early;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_subscriptions(text, bigint, bigint, bigint, bigint, bigint, bigint) IS
    'Internal: writes the subscriptions: one per customer, n_owned_extra more for the bigger ones and n_orphans orphans; n_paid paying, n_early of the earlier snapshot; with their ground truth, for create_demo_source';

-- Fills the devices: n_located at locations, n_unlocated without one; n_high
-- at health 0.52, n_early of the earlier snapshot; with their ground truth;
-- returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@.demo_devices(schema_name text, seed bigint, n_customers bigint, n_located bigint, n_unlocated bigint, n_high bigint, n_early bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_schema text := demo_devices.schema_name;
    n bigint;
BEGIN
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
        $q$, v_schema, normalize.demo_weight_sql('devices_share'))
        USING seed, n_customers, n_located, n_unlocated, n_high, n_early;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_devices(text, bigint, bigint, bigint, bigint, bigint, bigint) IS
    'Internal: writes the devices: n_located at locations, n_unlocated without one; n_high at health 0.52, n_early of the earlier snapshot; with their ground truth, for create_demo_source';

-- Fills the users: n_owned spread over customers and n_orphans without an
-- account; n_high at engagement 0.50, n_admins admins and n_managers
-- managers; with their ground truth; returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@.demo_users(schema_name text, seed bigint, n_customers bigint, n_owned bigint, n_orphans bigint, n_high bigint, n_admins bigint, n_managers bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_schema text := demo_users.schema_name;
    n bigint;
BEGIN
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
        $q$, v_schema, normalize.demo_weight_sql('users_share'))
        USING seed, n_customers, n_owned, n_orphans, n_high, n_admins, n_managers;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_users(text, bigint, bigint, bigint, bigint, bigint, bigint, bigint) IS
    'Internal: writes the users: n_owned spread over customers and n_orphans without an account; n_high at engagement 0.50, n_admins admins and n_managers managers; with their ground truth, for create_demo_source';

-- Fills the campaigns, n_campaigns spread over customers, with their ground
-- truth; returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@.demo_campaigns(schema_name text, seed bigint, n_customers bigint, n_campaigns bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $fn$
DECLARE
    v_schema text := demo_campaigns.schema_name;
    n bigint;
BEGIN
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
        $q$, v_schema, normalize.demo_weight_sql('campaigns_share'))
        USING seed, n_customers, n_campaigns;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_campaigns(text, bigint, bigint, bigint) IS
    'Internal: writes the campaigns, n_campaigns spread over customers, with their ground truth, for create_demo_source';

-- Declares the demo's documented subscription offset for its relation,
-- unless the user declared a rule of their own.
CREATE OR REPLACE FUNCTION @extschema@.demo_declare_offset(schema_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_schema text := demo_declare_offset.schema_name;
BEGIN
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
END
$fn$;
COMMENT ON FUNCTION @extschema@.demo_declare_offset(text) IS
    'Internal: declares the demo subscriptions'' offset in id_rule_overrides, for create_demo_source';

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
    v_scale   integer := create_demo_source.scale;
    -- The plan's volumes, times scale (once scale is known to be in range).
    n_customers     bigint;
    n_subscriptions bigint;
    n_sub_orphans   bigint;   -- account_id matches no customer
    n_devices       bigint;
    n_dev_unlocated bigint;   -- location_id IS NULL
    n_users         bigint;
    n_user_orphans  bigint;   -- account_id IS NULL
    customers     bigint;
    locations     bigint;
    subscriptions bigint;
    devices       bigint;
    users         bigint;
    campaigns     bigint;
BEGIN
    PERFORM normalize.demo_check_arguments(v_schema, v_seed, create_demo_source.replace, v_scale);
    n_customers     := 100 * v_scale;
    n_subscriptions := 441 * v_scale;
    n_sub_orphans   := 13 * v_scale;
    n_devices       := 1205 * v_scale;
    n_dev_unlocated := round(n_devices * 0.04);
    n_users         := 337 * v_scale;
    n_user_orphans  := round(n_users * 0.04);
    PERFORM normalize.demo_prepare_schema(v_schema, create_demo_source.replace);
    PERFORM normalize.demo_create_tables(v_schema);
    customers := normalize.demo_customers(v_schema, v_seed, n_customers);
    locations := normalize.demo_locations(v_schema, v_seed, n_customers, 241 * v_scale - n_customers);
    -- 241 paying; four in ten of the earlier snapshot.
    subscriptions := normalize.demo_subscriptions(v_schema, v_seed, n_customers,
                                                  n_subscriptions - n_sub_orphans - n_customers, n_sub_orphans,
                                                  241 * v_scale, round(n_subscriptions * 0.4)::bigint);
    -- 0.20 + 0.32 p = 0.25: the plan's mean health.
    devices := normalize.demo_devices(v_schema, v_seed, n_customers, n_devices - n_dev_unlocated, n_dev_unlocated,
                                      round(n_devices * 0.15625)::bigint, round(n_devices * 0.35)::bigint);
    -- (108 * 0.50 + 229 * 0.25) / 337 = 0.3301: the plan's mean engagement.
    users := normalize.demo_users(v_schema, v_seed, n_customers, n_users - n_user_orphans, n_user_orphans,
                                  108 * v_scale, round(n_users * 0.10)::bigint, round(n_users * 0.25)::bigint);
    campaigns := normalize.demo_campaigns(v_schema, v_seed, n_customers, 310 * v_scale);
    -- Indexed once filled: one sorted build is several times faster than
    -- 2.5 million index insertions at scale 1000.
    EXECUTE format('ALTER TABLE %I.ground_truth ADD PRIMARY KEY (entity, source_id)', v_schema);
    PERFORM normalize.demo_declare_offset(v_schema);
    RETURN QUERY
        SELECT x.name, x.n
          FROM unnest(ARRAY['customers', 'subscriptions', 'devices', 'users', 'locations', 'campaigns', 'ground_truth'],
                      ARRAY[customers, subscriptions, devices, users, locations, campaigns,
                            locations + subscriptions + devices + users + campaigns])
               WITH ORDINALITY AS x(name, n, position)
         ORDER BY x.position;
END
$fn$;
COMMENT ON FUNCTION @extschema@.create_demo_source(text, bigint, boolean, integer) IS
    'Creates, in schema_name, the six raw demo tables in the state of the plan''s Current State Assessment (customers, subscriptions, devices, users, locations, campaigns; every count times scale) and their ground_truth, and declares the subscriptions'' documented offset in id_rule_overrides; the same seed gives the same bytes; replace drops and recreates existing tables';

-- Whether an entity has a registered source: the phases skip what a source
-- does not have, and say so, rather than read an empty table as "none".
CREATE OR REPLACE FUNCTION @extschema@.is_registered(entity text)
RETURNS boolean
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A misspelt name would read as "not registered": refused instead.
    PERFORM normalize.require_entity(entity);
    RETURN EXISTS (SELECT 1 FROM normalize.sources AS s WHERE s.entity = is_registered.entity);
END
$$;
COMMENT ON FUNCTION @extschema@.is_registered(text) IS
    'Whether a source is registered for an entity (customers, subscriptions, devices, users, locations, campaigns)';

-- The internal steps of reconciliation take an entity (and a reference)
-- by name; these refuse names that are not in the tables above.
CREATE OR REPLACE FUNCTION @extschema@.require_entity(entity text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF entity IS NULL THEN
        RAISE EXCEPTION 'entity must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM normalize.entity_kinds AS e WHERE e.entity = require_entity.entity) THEN
        RAISE EXCEPTION 'unknown entity "%"', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_entity(text) IS
    'Internal: raises a clear error unless entity names one of normalize.entity_kinds';

CREATE OR REPLACE FUNCTION @extschema@.require_sources()
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(e.entity, ', ' ORDER BY e.position) INTO missing
      FROM normalize.entity_kinds AS e
     WHERE e.required AND NOT EXISTS (SELECT 1 FROM normalize.sources AS s WHERE s.entity = e.entity);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no source is registered for %', missing
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'Every other entity hangs off the customers; the others are optional.',
                  HINT = 'Register the raw tables first with normalize.use_sources(schema) or normalize.register_source(entity, relation, columns).';
    END IF;
    -- A registered relation may have been dropped or altered since.
    PERFORM normalize.check_source(s.entity, s.relation,
                                   (SELECT coalesce(jsonb_object_agg(k, v), '{}')
                                      FROM jsonb_each_text(s.columns) AS j(k, v) WHERE k <> v))
       FROM normalize.sources AS s;
END
$$;
COMMENT ON FUNCTION @extschema@.require_sources() IS
    'Internal: raises a clear error unless a customers source is registered and every registered source still matches the contract';

-- The distinct values of one reference with their rows, for
-- suggest_id_rules (reconcile_ids stages all of an entity's at once).
CREATE OR REPLACE FUNCTION @extschema@.stage_reference(entity text, reference text)
RETURNS @extschema@.value_counts_result
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    staged "normalize".value_counts_result;  -- quoted: NORMALIZE is a keyword where a type is expected
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = stage_reference.entity AND k.reference = stage_reference.reference;
    EXECUTE format('SELECT (normalize.value_counts(s.%I)).* FROM (%s) AS s',
                   ref.source_column, normalize.source_query(entity, ARRAY[ref.source_column]))
       INTO staged;
    RETURN staged;
END
$$;
COMMENT ON FUNCTION @extschema@.stage_reference(text, text) IS
    'Internal: a reference''s distinct raw values with their rows, for suggest_id_rules';

-- The IDs of the entity a reference points to, distinct, from its source,
-- and whether they differ only by case (then the rules keep case).
CREATE OR REPLACE FUNCTION @extschema@.reference_targets(entity text, reference text, OUT ids text[], OUT keep_case boolean)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = reference_targets.entity AND k.reference = reference_targets.reference;
    EXECUTE format('SELECT coalesce(array_agg(DISTINCT s.%I), ''{}'') FROM (%s) AS s',
                   ref.target_column, normalize.source_query(ref.target_entity, ARRAY[ref.target_column]))
       INTO ids;
    keep_case := EXISTS (SELECT 1 FROM normalize.case_variants(ref.target_entity));
END
$$;
COMMENT ON FUNCTION @extschema@.reference_targets(text, text) IS
    'Internal: the distinct raw IDs a reference may point to, and whether they differ only by case, for suggest_id_rules';

-- For a reference whose target belongs to an account (devices.location:
-- locations have one), how many of the rows each candidate rule links
-- point to a target of the row's own account, the account being the one
-- the row's account reference linked to (map account_map). Written to
-- reconciliation_rules.consistent for the rules listed. A rule linking as
-- many rows as another, but to other accounts' locations, is then told
-- apart.
CREATE OR REPLACE FUNCTION @extschema@.score_consistency(entity text, reference text, rules text[], "offsets" bigint[],
                                              refs text[], ref_rows bigint[], targets text, account_map text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    target_ids text[];
    target_keys text[];
    keep_case boolean;
    n bigint;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = score_consistency.entity AND k.reference = score_consistency.reference;
    SELECT coalesce(bool_or(c.keep_case), false) INTO keep_case FROM normalize.key_case AS c WHERE c.entity = ref.target_entity;
    EXECUTE format('SELECT coalesce(array_agg(t.raw), ''{}''), coalesce(array_agg(t.target_key::text), ''{}'') FROM %I AS t',
                   targets)
       INTO target_ids, target_keys;
    PERFORM normalize.drop_temp_table('nz_pairs');
    -- The same sample as rule_candidates scores, above 20,000 values.
    EXECUTE format($q$
        CREATE TEMP TABLE nz_pairs ON COMMIT DROP AS
        SELECT s.account_id::text AS account_raw, s.%1$I::text AS raw, count(*) AS rows
          FROM (%2$s) AS s
         WHERE s.%1$I IS NOT NULL
           AND (cardinality($1) <= 20000
                OR abs(hashtext(s.%1$I::text)::bigint) %% ceil(cardinality($1) / 20000.0)::bigint = 0)
         GROUP BY 1, 2$q$, ref.source_column, normalize.source_query(entity))
    USING refs;
    FOR i IN 1 .. cardinality(rules) LOOP
        EXECUTE format($q$
            SELECT coalesce(sum(p.rows), 0)
              FROM nz_pairs AS p
              JOIN %1$I AS a ON a.raw = p.account_raw
              JOIN normalize.match_id_values($1, $2, $3, $4, $5, $6, $7) AS m ON m.raw = p.raw AND m.matches = 1
              JOIN %2$I AS t ON t.target_key = m.target_key
             WHERE t.account_key = a.target_key$q$, account_map, targets)
           INTO n
        USING rules[i], coalesce(offsets[i], 0), refs, ref_rows, target_ids, target_keys, keep_case;
        UPDATE normalize.reconciliation_rules AS r SET consistent = n
         WHERE r.entity = score_consistency.entity AND r.reference = score_consistency.reference
           AND r.rule = rules[i] AND r.parameter IS NOT DISTINCT FROM offsets[i]::text;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.score_consistency(text, text, text[], bigint[], text[], bigint[], text, text) IS
    'Internal: counts, per candidate rule, the rows whose linked target belongs to the row''s own account, during reconcile_ids';

-- The rules among a reference's candidates in reconciliation_rules that
-- the data cannot tell apart from the best: eligible ones (a rule without a
-- parameter that links anything; an offset that links at least min_share
-- of the rows) scoring within margin of the rows of the best, best first.
-- The score is the rows linked, or, once counted for some rule, the rows
-- linked consistently with the row's account (0 for a rule not counted).
CREATE OR REPLACE FUNCTION @extschema@.rule_contenders(entity text, reference text, min_share float8, margin float8)
RETURNS TABLE (rule text, parameter text, score bigint, total bigint)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH candidates AS (
        SELECT r.* FROM normalize.reconciliation_rules AS r
         WHERE r.entity = rule_contenders.entity AND r.reference = rule_contenders.reference),
    eligible AS (
        SELECT c.rule, c.parameter, c.total,
               CASE WHEN EXISTS (SELECT 1 FROM candidates AS x WHERE x.consistent IS NOT NULL)
                    THEN coalesce(c.consistent, 0) ELSE c.linked END AS score
          FROM candidates AS c
         WHERE c.rule <> 'crosswalk' AND c.linked > 0
           AND (c.rule <> 'offset' OR c.linked >= rule_contenders.min_share * c.total))
    SELECT e.rule, e.parameter, e.score, e.total
      FROM eligible AS e
     WHERE e.score > 0 AND e.score >= (SELECT max(x.score) FROM eligible AS x) - rule_contenders.margin * e.total
     ORDER BY e.score DESC, array_position(ARRAY['exact', 'normalized', 'number', 'offset'], e.rule),
              abs(e.parameter::numeric) NULLS FIRST
$$;
COMMENT ON FUNCTION @extschema@.rule_contenders(text, text, float8, float8) IS
    'Internal: the candidate rules of a reference within the ambiguity margin of the best, best first, during reconcile_ids';

-- Whether the rows linked leave a doubt that counting the links to the
-- row's own account's targets could settle: an offset scores above every
-- rule without a parameter among the contenders, and another contender,
-- or such a rule outside them, links rows too.
CREATE OR REPLACE FUNCTION @extschema@.rule_in_doubt(entity text, reference text, min_share float8, margin float8)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(max(c.score) FILTER (WHERE c.rule = 'offset'), -1)
               > coalesce(max(c.score) FILTER (WHERE c.rule <> 'offset'), -1)
           AND (count(*) > 1 OR EXISTS (SELECT 1 FROM normalize.reconciliation_rules AS r
                                         WHERE r.entity = rule_in_doubt.entity AND r.reference = rule_in_doubt.reference
                                           AND r.rule IN ('exact', 'normalized', 'number') AND r.linked > 0))
      FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c
$$;
COMMENT ON FUNCTION @extschema@.rule_in_doubt(text, text, float8, float8) IS
    'Internal: whether an offset rivals the best rule of a reference closely enough to count links by account, during reconcile_ids';

-- Picks the rule a reference links by, from its candidates in
-- reconciliation_rules, and records the verdict in their status. A rule
-- without a free
-- parameter (exact, normalized, number) is preferred: an offset is used
-- only when it scores more than margin of the rows above it. When only
-- offsets are left and two of them are within the margin, the data do not
-- decide: they are marked ambiguous (NOTICE), and only what a rule
-- without a parameter matches links. Returns the rule and its parameter,
-- or NULLs.
CREATE OR REPLACE FUNCTION @extschema@.choose_rule(entity text, reference text, min_share float8, margin float8,
                                        OUT rule text, OUT parameter text)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plain record;
    rival record;
    n integer;
    listed text;
BEGIN
    SELECT c.* INTO plain FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c
     WHERE c.rule <> 'offset' LIMIT 1;
    IF plain.rule IS NOT NULL THEN
        rule := plain.rule;
        -- Preferred, but said: an offset that links a few more rows may be
        -- the true rule on dense IDs.
        SELECT c.* INTO rival FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c
         WHERE c.rule = 'offset' AND c.score > plain.score LIMIT 1;
        IF rival.rule IS NOT NULL THEN
            RAISE NOTICE '%.% links by %, though offset % links % more of its % rows', entity, reference, plain.rule,
                         rival.parameter, rival.score - plain.score, plain.total
                USING HINT = 'If the offset is right, declare it in normalize.id_rule_overrides.';
        END IF;
    ELSE
        SELECT count(*), string_agg(format('%s (%s of %s rows)', concat_ws(' ', c.rule, c.parameter), c.score, c.total), ', ')
          INTO n, listed
          FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c;
        IF n = 1 THEN
            SELECT c.rule, c.parameter INTO rule, parameter
              FROM normalize.rule_contenders(entity, reference, min_share, margin) AS c;
        ELSIF n > 1 THEN
            UPDATE normalize.reconciliation_rules AS r SET status = 'ambiguous'
              FROM normalize.rule_contenders(choose_rule.entity, choose_rule.reference, min_share, margin) AS c
             WHERE r.entity = choose_rule.entity AND r.reference = choose_rule.reference
               AND r.rule = c.rule AND r.parameter IS NOT DISTINCT FROM c.parameter;
            -- The values a rule without a parameter matches are the same
            -- IDs: they still link, whatever the others are.
            SELECT r.rule, r.linked, r.total INTO plain FROM normalize.reconciliation_rules AS r
             WHERE r.entity = choose_rule.entity AND r.reference = choose_rule.reference
               AND r.rule IN ('exact', 'normalized', 'number') AND r.linked > 0
             ORDER BY r.linked DESC, array_position(ARRAY['exact', 'normalized', 'number'], r.rule) LIMIT 1;
            rule := plain.rule;
            RAISE NOTICE 'the rows of %.% do not decide between %: %', entity, reference, listed,
                         CASE WHEN plain.rule IS NULL THEN 'nothing links by them'
                              ELSE format('only the %s of its %s rows the %s rule matches link', plain.linked, plain.total, plain.rule) END
                USING HINT = format('Declare the right rule in normalize.id_rule_overrides, such as (entity, reference, rule, "offset") = (%L, %L, ''offset'', N), or link the values in normalize.id_crosswalk.',
                                    entity, reference);
        END IF;
    END IF;
    IF rule IS NOT NULL THEN
        UPDATE normalize.reconciliation_rules AS r SET chosen = true, status = 'used'
         WHERE r.entity = choose_rule.entity AND r.reference = choose_rule.reference
           AND r.rule = choose_rule.rule AND r.parameter IS NOT DISTINCT FROM choose_rule.parameter;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.choose_rule(text, text, float8, float8) IS
    'Internal: picks a reference''s rule from its scored candidates, or marks the close ones ambiguous, during reconcile_ids';

-- Stages the references of one entity for reconcile_ids: the distinct
-- values of each with their row counts (NULL included), from one scan of
-- the source.
CREATE OR REPLACE FUNCTION @extschema@.stage_entity(entity text)
RETURNS TABLE (reference text, raw text[], rows bigint[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    aggs text;
    refs text[];
    ref_columns text[];
    staged "normalize".value_counts_result[];  -- quoted: NORMALIZE is a keyword where a type is expected
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT string_agg(format('normalize.value_counts(s.%I)', k.source_column), ', ' ORDER BY k.reference),
           array_agg(k.reference ORDER BY k.reference), array_agg(k.source_column ORDER BY k.reference)
      INTO aggs, refs, ref_columns
      FROM normalize.reference_kinds AS k WHERE k.entity = stage_entity.entity;
    IF aggs IS NULL THEN
        RETURN;
    END IF;
    -- The reference columns alone: the scan of the largest source is the
    -- dearest step of staging.
    EXECUTE format('SELECT ARRAY[%s] FROM (%s) AS s', aggs, normalize.source_query(entity, ref_columns)) INTO staged;
    FOR i IN 1 .. cardinality(refs) LOOP
        reference := refs[i];
        raw := (staged[i]).raw;
        rows := (staged[i]).rows;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.stage_entity(text) IS
    'Internal: the distinct values of each of an entity''s references with their rows, from one scan of its source, during reconcile_ids';

-- The orphan policies reconcile_ids and its steps know, checked in one
-- place.
CREATE OR REPLACE FUNCTION @extschema@.require_orphan_policy(orphan_policy text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF orphan_policy IS NULL THEN
        RAISE EXCEPTION 'orphan_policy must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave the argument out for its default.';
    END IF;
    IF orphan_policy NOT IN ('quarantine', 'assign', 'drop') THEN
        RAISE EXCEPTION 'orphan_policy must be quarantine, assign or drop, got "%"', orphan_policy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'quarantine keeps orphans aside with the reason, assign links each to an account by a deterministic rule, drop leaves them out.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_orphan_policy(text) IS
    'Internal: raises a clear error unless orphan_policy is quarantine, assign or drop';

-- The temp tables the steps of reconcile_ids hand each other are named by
-- the caller: one that is not there is a mistake in the call.
CREATE OR REPLACE FUNCTION @extschema@.require_staged(argument text, name text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR to_regclass('pg_temp.' || quote_ident(name)) IS NULL THEN
        RAISE EXCEPTION '% "%" is not a temp table of this session', argument, coalesce(name, 'NULL')
            USING ERRCODE = 'undefined_table',
                  HINT = 'The steps of normalize.reconcile_ids() read what it staged; call reconcile_ids.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_staged(text, text) IS
    'Internal: raises a clear error unless a step''s staged temp table exists, during reconcile_ids';

-- Adds the foreign keys of the reloaded normalized tables, one per
-- reference (build_account_map adds the account map's).
CREATE OR REPLACE FUNCTION @extschema@.restore_foreign_keys()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT e.table_name, k.reference, t.kind AS target_kind, t.table_name AS target_table
               FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS e USING (entity)
               JOIN normalize.entity_kinds AS t ON t.entity = k.target_entity
              ORDER BY e.position, k.reference LOOP
        EXECUTE format('ALTER TABLE normalize.%I ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES normalize.%I',
                       r.table_name, format('%s_%s_fk', r.table_name, r.reference), r.target_kind || '_key',
                       r.target_table);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.restore_foreign_keys() IS
    'Internal: adds the foreign keys of the normalized tables once reconcile_ids has loaded them';

-- The contract columns of an entity other than its IDs, as the
-- normalized table names them and as a source row r gives them.
CREATE OR REPLACE FUNCTION @extschema@.loaded_columns(entity text, OUT cols text, OUT src_cols text)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(quote_ident(c.column_name), ', ' ORDER BY c.position),
           string_agg('r.' || quote_ident(c.column_name), ', ' ORDER BY c.position)
      FROM normalize.source_contract AS c WHERE c.entity = loaded_columns.entity AND c.type_class <> 'id'
$$;
COMMENT ON FUNCTION @extschema@.loaded_columns(text) IS
    'Internal: the non-ID contract columns of an entity, as column list and as source expressions, during reconcile_ids';

-- Loads the customers into accounts (a row without an ID is quarantined)
-- and settles the keys; returns the rows loaded. Nothing can be linked
-- without one.
CREATE OR REPLACE FUNCTION @extschema@.load_customers()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    loaded bigint;
BEGIN
    c := normalize.loaded_columns('customers');
    EXECUTE format($q$
        WITH r AS MATERIALIZED (
            SELECT s.*, normalize.stable_key('account', s.customer_id) AS entity_key
              FROM (%1$s) AS s),
        accounts AS (
            INSERT INTO normalize.accounts (account_key, source_id, %2$s)
            SELECT r.entity_key, r.customer_id, %3$s FROM r WHERE r.entity_key IS NOT NULL),
        unlinked AS (
            INSERT INTO normalize.unlinked_rows (entity, source_id, entity_key, status)
            SELECT 'customers', r.customer_id, NULL, 'quarantined' FROM r WHERE r.entity_key IS NULL)
        INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
        SELECT 'customers', r.customer_id, NULL, r.customer_id, 'missing id', false
          FROM r WHERE r.entity_key IS NULL
        $q$, normalize.source_query('customers'), c.cols, c.src_cols);
    SELECT count(*) INTO loaded FROM normalize.accounts;
    loaded := loaded - normalize.settle_keys('customers');
    IF loaded = 0 THEN
        RAISE EXCEPTION 'the customers source has no usable rows'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'Every account hangs off a customer; without one nothing can be linked.',
                  HINT = 'Check that the registered customers relation holds rows with customer IDs.';
    END IF;
    RETURN loaded;
END
$$;
COMMENT ON FUNCTION @extschema@.load_customers() IS
    'Internal: loads the customers source into accounts and settles their keys, during reconcile_ids';

-- Makes temp table `targets` (raw, target_key, account_key) of the loaded
-- locations, and `per_account` (account_key, target_key, idx, n), the
-- locations of each account numbered for the assign policy (empty under
-- another). Both are empty when no locations are registered.
CREATE OR REPLACE FUNCTION @extschema@.stage_location_targets(orphan_policy text, targets text, per_account text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM normalize.require_orphan_policy(orphan_policy);
    PERFORM normalize.drop_temp_table(targets);
    EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS
                    SELECT l.source_id AS raw, l.location_key AS target_key, l.account_key FROM normalize.locations AS l',
                   targets);
    PERFORM normalize.drop_temp_table(per_account);
    EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS
                    SELECT t.account_key, t.target_key,
                           (row_number() OVER (PARTITION BY t.account_key ORDER BY t.target_key) - 1)::bigint AS idx,
                           count(*) OVER (PARTITION BY t.account_key) AS n
                      FROM %I AS t WHERE $1 = ''assign''', per_account, targets)
    USING orphan_policy;
    EXECUTE format('CREATE INDEX ON %I (account_key, idx)', per_account);
    EXECUTE format('ANALYZE %I', targets);
    EXECUTE format('ANALYZE %I', per_account);
END
$$;
COMMENT ON FUNCTION @extschema@.stage_location_targets(text, text, text) IS
    'Internal: stages the locations devices may link to, and per account for the assign policy, during reconcile_ids';

-- Loads the rows of an entity that have a key and an account into its
-- normalized table; returns how many.
CREATE OR REPLACE FUNCTION @extschema@.load_entity(entity text, orphan_policy text, n_accounts bigint, account_map text,
                                        location_map text, accounts_ordered text, per_account text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    c record;
    loaded bigint;
BEGIN
    PERFORM normalize.require_entity(entity);
    PERFORM normalize.require_orphan_policy(orphan_policy);
    PERFORM normalize.require_staged('account_map', account_map);
    SELECT * INTO e FROM normalize.entity_kinds AS k WHERE k.entity = load_entity.entity;
    c := normalize.loaded_columns(entity);
    -- (The filter names entity_key, not fate: the planner guesses 0.5%
    -- for "CASE ... IS NULL" and would hash the wrong side of the joins.)
    EXECUTE normalize.entity_rows_query(entity, orphan_policy, n_accounts, account_map, location_map, accounts_ordered,
                                        per_account)
            || format($q$
        INSERT INTO normalize.%1$I (%2$I, account_key, source_id, source_account_ref, account_rule,
                                   account_assigned, account_issue, %3$s %4$s)
        SELECT r.entity_key, r.account_key, r.%5$I, r.account_id,
               coalesce(r.linked_rule, 'assigned'), r.linked_key IS NULL, r.reason, %6$s %7$s
          FROM r WHERE r.entity_key IS NOT NULL AND r.account_key IS NOT NULL
        $q$,
        e.table_name, e.kind || '_key', c.cols,
        CASE WHEN entity = 'devices'
             THEN ', location_key, source_location_ref, location_rule, location_assigned, location_issue' ELSE '' END,
        e.id_column, c.src_cols,
        CASE WHEN entity = 'devices'
             THEN $l$, r.location_key, r.location_id, coalesce(r.location_rule, CASE WHEN r.location_key IS NOT NULL THEN 'assigned' END),
                    r.location_key IS NOT NULL AND r.location_rule IS NULL, r.location_reason$l$ ELSE '' END);
    GET DIAGNOSTICS loaded = ROW_COUNT;
    RETURN loaded;
END
$$;
COMMENT ON FUNCTION @extschema@.load_entity(text, text, bigint, text, text, text, text) IS
    'Internal: loads an entity''s linked (or assigned) source rows into its normalized table, during reconcile_ids';

-- Links kept with an issue (an assigned account, a location lost),
-- recorded once the rows are settled. A loaded row has an account issue
-- only when it was assigned or its value's map entry links with a reason:
-- without either, the table is not scanned for them.
CREATE OR REPLACE FUNCTION @extschema@.record_link_issues(entity text, orphan_policy text, account_map text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    account_issues boolean;
    issues text;
BEGIN
    PERFORM normalize.require_entity(entity);
    PERFORM normalize.require_orphan_policy(orphan_policy);
    PERFORM normalize.require_staged('account_map', account_map);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I AS m WHERE m.target_key IS NOT NULL AND m.reason IS NOT NULL)',
                   account_map)
       INTO account_issues;
    issues := concat_ws(' UNION ALL ',
        CASE WHEN account_issues OR orphan_policy = 'assign' THEN format($q$
            SELECT %1$L, t.source_id, 'account', t.source_account_ref, t.account_issue, true
              FROM normalize.%1$I AS t WHERE t.account_issue IS NOT NULL$q$, entity) END,
        CASE WHEN entity = 'devices' THEN $q$
            SELECT 'devices', t.source_id, 'location', t.source_location_ref, t.location_issue, true
              FROM normalize.devices AS t WHERE t.location_issue IS NOT NULL$q$ END);
    IF issues <> '' THEN
        EXECUTE 'INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)' || issues;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.record_link_issues(text, text, text) IS
    'Internal: records the links an entity''s loaded rows kept with an issue (assigned, lost), during reconcile_ids';

-- The master account map: every customer's own ID, and every raw
-- reference value a rule or the crosswalk linked, from the value map of
-- each entity's account reference (entities[i] in maps[i]); assigned
-- orphans are not a meaning of their value.
CREATE OR REPLACE FUNCTION @extschema@.build_account_map(entities text[], maps text[])
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cardinality(entities) IS DISTINCT FROM cardinality(maps) THEN
        RAISE EXCEPTION 'entities and maps must have the same length, got % and %', cardinality(entities), cardinality(maps)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'build_account_map is a step of normalize.reconcile_ids(); call that.';
    END IF;
    INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
    SELECT 'customers', a.source_id, a.account_key, 'primary', 1 FROM normalize.accounts AS a;
    FOR i IN 1 .. coalesce(cardinality(entities), 0) LOOP
        EXECUTE format('INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
                        SELECT %L, m.raw, m.target_key, m.rule, m.rows FROM %I AS m WHERE m.target_key IS NOT NULL',
                       entities[i], maps[i]);
    END LOOP;
    CREATE UNIQUE INDEX account_map_raw_value_key ON normalize.account_map (entity, md5(raw_value));
    ALTER TABLE normalize.account_map
        ADD CONSTRAINT account_map_account_key_fkey FOREIGN KEY (account_key) REFERENCES normalize.accounts;
END
$$;
COMMENT ON FUNCTION @extschema@.build_account_map(text[], text[]) IS
    'Internal: fills the master account map from the customers and the account references'' value maps, during reconcile_ids';

-- What reconcile_ids returns, counted from what was written rather than by
-- rescanning the tables: loaded rows (loaded: entity -> rows), the
-- assigned ones among them (their issue is in the quarantine, kept), the
-- unlinked rows, and the rule of each account reference (rules: entity ->
-- rule). An entity without a source has a row too, without counts, so
-- that its absence is seen.
CREATE OR REPLACE FUNCTION @extschema@.reconcile_counts(loaded jsonb, rules jsonb)
RETURNS TABLE (entity text, source_rows bigint, linked bigint, assigned bigint, quarantined bigint,
               dropped bigint, superseded bigint, duplicates bigint, account_rule text)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ek.entity,
           l.rows + coalesce(u.n, 0),
           l.rows - coalesce(q.assigned, 0),
           CASE WHEN l.rows IS NOT NULL THEN coalesce(q.assigned, 0) END,
           CASE WHEN l.rows IS NOT NULL THEN coalesce(u.quarantined, 0) END,
           CASE WHEN l.rows IS NOT NULL THEN coalesce(u.dropped, 0) END,
           CASE WHEN l.rows IS NOT NULL THEN coalesce(u.superseded, 0) END,
           CASE WHEN l.rows IS NOT NULL THEN coalesce(u.duplicates, 0) END,
           CASE WHEN l.rows IS NULL THEN 'not registered' WHEN ek.required THEN 'primary' ELSE rules ->> ek.entity END
      FROM normalize.entity_kinds AS ek
      LEFT JOIN (SELECT j.key AS entity, j.value::bigint AS rows FROM jsonb_each_text(loaded) AS j) AS l
        ON l.entity = ek.entity
      LEFT JOIN (SELECT x.entity, count(*) AS n,
                        count(*) FILTER (WHERE x.status = 'quarantined') AS quarantined,
                        count(*) FILTER (WHERE x.status = 'dropped') AS dropped,
                        count(*) FILTER (WHERE x.status = 'superseded') AS superseded,
                        count(*) FILTER (WHERE x.status = 'duplicate') AS duplicates
                   FROM normalize.unlinked_rows AS x GROUP BY x.entity) AS u ON u.entity = ek.entity
      LEFT JOIN (SELECT y.entity, count(*) AS assigned FROM normalize.quarantine AS y
                  WHERE y.kept AND y.reference = 'account' GROUP BY y.entity) AS q ON q.entity = ek.entity
     ORDER BY ek.position
$$;
COMMENT ON FUNCTION @extschema@.reconcile_counts(jsonb, jsonb) IS
    'Internal: the rows of each entity linked, assigned, quarantined, dropped, superseded and duplicate, and its account rule, as reconcile_ids returns them';

CREATE OR REPLACE FUNCTION @extschema@.validate_relationships()
RETURNS TABLE (check_name text, total bigint, linked bigint, orphaned bigint, status text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- Every foreign key of the normalized tables, checked by a join rather
    -- than trusted to the constraint, so a disabled or dropped key shows.
    WITH held AS (
        SELECT q.entity FROM normalize.quarantine AS q
         WHERE q.reference = 'account' AND q.reason = 'ambiguous rule' AND NOT q.kept)
    SELECT v.check_name, v.total, v.linked, v.orphaned, v.status FROM (
    SELECT c.ord, c.check_name, c.total, c.linked, c.total - c.linked AS orphaned,
           CASE WHEN c.linked = c.total THEN 'pass' ELSE 'fail' END AS status
      FROM (
        -- Rows held back because the rows of their reference did not
        -- decide its rule should link, and count against: a relationship
        -- whose every row waits for the user's word does not pass as
        -- "nothing to check".
        SELECT 'subscriptions.account_key -> accounts' AS check_name, 1 AS ord, '{subscriptions}'::text[] AS needs,
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'subscriptions') AS total,
               count(a.account_key) AS linked
          FROM normalize.subscriptions AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'devices.account_key -> accounts', 2, '{devices}',
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'devices'), count(a.account_key)
          FROM normalize.devices AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        -- A device that names a location should have one: a location link
        -- lost (no match, another account's) counts against, so that
        -- losing them all cannot pass as "nothing to check".
        SELECT 'devices.location_key -> locations', 3, '{devices,locations}',
               count(*) FILTER (WHERE x.location_key IS NOT NULL OR normalize.normalize_id(x.source_location_ref) IS NOT NULL),
               count(l.location_key)
          FROM normalize.devices AS x LEFT JOIN normalize.locations AS l USING (location_key)
        UNION ALL
        SELECT 'devices.location_key -> a location of the device''s own account', 4, '{devices,locations}',
               count(*) FILTER (WHERE x.location_key IS NOT NULL OR normalize.normalize_id(x.source_location_ref) IS NOT NULL),
               count(l.location_key)
          FROM normalize.devices AS x
          LEFT JOIN normalize.locations AS l ON l.location_key = x.location_key AND l.account_key = x.account_key
        UNION ALL
        SELECT 'users.account_key -> accounts', 5, '{users}',
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'users'), count(a.account_key)
          FROM normalize.users AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'locations.account_key -> accounts', 6, '{locations}',
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'locations'), count(a.account_key)
          FROM normalize.locations AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'campaigns.account_key -> accounts', 7, '{campaigns}',
               count(*) + (SELECT count(*) FROM held WHERE held.entity = 'campaigns'), count(a.account_key)
          FROM normalize.campaigns AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'account_map.account_key -> accounts', 8, '{}', count(*), count(a.account_key)
          FROM normalize.account_map AS x LEFT JOIN normalize.accounts AS a USING (account_key)
      ) AS c
     -- A relationship of an entity without a source is not there to check
     -- (the readiness report names what was not registered).
     WHERE NOT EXISTS (SELECT 1 FROM unnest(c.needs) AS n WHERE NOT normalize.is_registered(n))
    UNION ALL
    -- What became of the source rows: linked or assigned rows are in the
    -- normalized tables; the rest are quarantined, dropped or superseded.
    SELECT 100 + e.position, format('source %s rows in the normalized tables', m.entity), count(*),
           count(*) FILTER (WHERE m.status IN ('linked', 'assigned')),
           count(*) FILTER (WHERE m.status IN ('quarantined', 'dropped')),
           'info'
      FROM normalize.id_map AS m
      JOIN normalize.entity_kinds AS e USING (entity)
     GROUP BY m.entity, e.position
    ) AS v ORDER BY v.ord
$$;
COMMENT ON FUNCTION @extschema@.validate_relationships() IS
    'One row per relationship of the normalized tables whose entities have sources (total: the rows that should link, a device that names a location and a row held back by an undecided rule included; linked, orphaned, pass/fail), and per source how many rows reached them';

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
    FOR e IN SELECT * FROM normalize.entity_kinds AS k ORDER BY k.position LOOP
        IF NOT normalize.is_registered(e.entity) THEN
            RETURN QUERY SELECT e.entity, 'rows'::text, NULL::numeric, 'not registered'::text;
            CONTINUE;
        END IF;
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
               JOIN normalize.entity_kinds AS ek USING (entity)
              WHERE normalize.is_registered(k.entity) AND normalize.is_registered(k.target_entity)
              ORDER BY ek.position, k.reference LOOP
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

    -- The synthetic values the plan lists, of the entities registered.
    RETURN QUERY EXECUTE format($f$
        SELECT 'customers', 'distinct tiers', count(DISTINCT s.tier)::numeric, string_agg(DISTINCT s.tier, ', ')
          FROM (%1$s) AS s
        UNION ALL
        SELECT 'customers', 'share with zero MRR', round(100.0 * count(*) FILTER (WHERE s.mrr = 0) / nullif(count(*), 0), 1),
               'percent of customers'
          FROM (%1$s) AS s
        $f$, normalize.source_query('customers'));
    IF normalize.is_registered('subscriptions') THEN
        RETURN QUERY EXECUTE format($f$
            SELECT 'subscriptions', 'rows with positive MRR', count(*) FILTER (WHERE s.mrr > 0)::numeric, NULL
              FROM (%1$s) AS s
            $f$, normalize.source_query('subscriptions'));
    END IF;
    IF normalize.is_registered('devices') THEN
        RETURN QUERY EXECUTE format($f$
            SELECT 'devices', 'mean health score', round(avg(s.health_score), 2),
                   count(DISTINCT s.health_score) || ' distinct values: ' ||
                   (SELECT string_agg(v::text, ', ' ORDER BY v) FROM (SELECT DISTINCT x.health_score AS v FROM (%1$s) AS x
                                                                       ORDER BY 1 LIMIT 5) AS d)
              FROM (%1$s) AS s
            $f$, normalize.source_query('devices'));
    END IF;
    IF normalize.is_registered('users') THEN
        RETURN QUERY EXECUTE format($f$
            SELECT 'users', 'mean engagement score', round(avg(s.engagement_score), 2),
                   count(DISTINCT s.engagement_score) || ' distinct values'
              FROM (%1$s) AS s
            $f$, normalize.source_query('users'));
    END IF;
    IF normalize.is_registered('devices') THEN
        RETURN QUERY EXECUTE format($f$
            SELECT 'devices', 'share without a location', round(100.0 * count(*) FILTER (WHERE s.location_id IS NULL) / nullif(count(*), 0), 1),
                   'percent of devices'
              FROM (%1$s) AS s
            $f$, normalize.source_query('devices'));
    END IF;

    -- Columns of categories: the values no spelling of the vocabulary
    -- matches (source_query passes them on as they are).
    FOR e IN SELECT c.* FROM normalize.source_contract AS c JOIN normalize.entity_kinds AS k USING (entity)
              WHERE c.category IS NOT NULL AND normalize.is_registered(c.entity) ORDER BY k.position, c.column_name LOOP
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

-- The share of NULLs of every feature, from the stores (refresh first).
CREATE OR REPLACE FUNCTION @extschema@.feature_null_rates()
RETURNS TABLE (entity text, feature text, rows bigint, nulls bigint, null_share float8, min_history integer,
               required boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    counts bigint[];
    total bigint;
BEGIN
    FOR e IN SELECT k.feature_entity AS entity, k.feature_entity || '_feature_store' AS store
               FROM normalize.entity_kinds AS k WHERE k.feature_entity IS NOT NULL ORDER BY k.position LOOP
        EXECUTE format('SELECT count(*), ARRAY[%s] FROM normalize.%I',
                       (SELECT string_agg(format('count(*) FILTER (WHERE %I IS NULL)', c.feature), ', '
                                          ORDER BY c.position)
                          FROM normalize.feature_catalog AS c WHERE c.entity = e.entity), e.store)
          INTO total, counts;
        RETURN QUERY
        SELECT c.entity, c.feature, total, counts[c.position],
               CASE WHEN total > 0 THEN counts[c.position]::float8 / total END, c.min_history, c.required
          FROM normalize.feature_catalog AS c WHERE c.entity = e.entity ORDER BY c.position;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_null_rates() IS
    'For every feature of the stores (refresh_features first): rows, NULLs and their share, with the history the feature needs';

-- Assigns splits to the samples of relation `samples` (key, stratum,
-- ordinal u in [0, 1), as_of): grouped, each stratum's entities ranked by u
-- and cut at the shares, so no entity is in two splits and every stratum
-- has the requested shares; or by time, the earliest cutoffs for training.
CREATE OR REPLACE FUNCTION @extschema@.assign_splits(strategy text, train_share float8, validation_share float8, samples regclass)
RETURNS TABLE (key varchar, as_of date, split text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
BEGIN
    -- Not STRICT: no split for want of an argument would look like no
    -- samples.
    IF strategy IS NULL OR train_share IS NULL OR validation_share IS NULL OR samples IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN strategy IS NULL THEN 'strategy'
                                                   WHEN train_share IS NULL THEN 'train_share'
                                                   WHEN validation_share IS NULL THEN 'validation_share' ELSE 'samples' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'assign_splits is a step of normalize.build_training_sets(); call that.';
    END IF;
    IF strategy NOT IN ('grouped', 'time') THEN
        RAISE EXCEPTION 'strategy must be grouped or time, got "%"', strategy
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- As build_training_sets checks them: the cuts below compare ranks with
    -- the shares, and a NaN share would put every sample in one split.
    IF NOT (train_share > 0 AND validation_share >= 0 AND train_share + validation_share < 1) THEN
        RAISE EXCEPTION 'train_share and validation_share must be positive and leave a share for test, got % and %',
                        train_share, validation_share
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Such as 0.70 and 0.15, leaving 0.15 for test.';
    END IF;
    SELECT string_agg(c, ', ' ORDER BY n) INTO missing
      FROM unnest(ARRAY['key', 'stratum', 'u', 'as_of']) WITH ORDINALITY AS x(c, n)
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute AS a
                        WHERE a.attrelid = samples AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'samples % lacks the columns %', samples, missing
            USING ERRCODE = 'undefined_column',
                  HINT = 'assign_splits is a step of normalize.build_training_sets(): it reads (key, stratum, u, as_of).';
    END IF;
    IF strategy = 'grouped' THEN
        RETURN QUERY EXECUTE format($q$
        WITH entities AS (
            SELECT DISTINCT i.key::varchar AS key, i.stratum::text AS stratum, i.u::float8 AS u FROM %1$s AS i),
        ranked AS (
            SELECT e.key, (row_number() OVER (PARTITION BY e.stratum ORDER BY e.u, e.key) - 0.5)
                          / count(*) OVER (PARTITION BY e.stratum) AS position
              FROM entities AS e)
        SELECT i.key::varchar, i.as_of::date,
               CASE WHEN r.position < $1 THEN 'train'
                    WHEN r.position < $1 + $2 THEN 'validation'
                    ELSE 'test' END
          FROM %1$s AS i JOIN ranked AS r ON r.key = i.key::varchar$q$, samples)
        USING train_share, validation_share;
    ELSE
        RETURN QUERY EXECUTE format($q$
        WITH ranked AS (
            SELECT i.key::varchar AS key, i.as_of::date AS as_of,
                   (rank() OVER (ORDER BY i.as_of) - 1)::float8 / count(*) OVER () AS position
              FROM %1$s AS i)
        SELECT r.key, r.as_of,
               CASE WHEN r.position < $1 THEN 'train'
                    WHEN r.position < $1 + $2 THEN 'validation'
                    ELSE 'test' END
          FROM ranked AS r$q$, samples)
        USING train_share, validation_share;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.assign_splits(text, float8, float8, regclass) IS
    'Internal: the split of every sample of a relation (key, stratum, u, as_of), during build_training_sets';

-- The values repair_values generates or keeps, each with the profile it is
-- drawn from and a label naming the column and group: MRR by tier, device
-- health by status, uptime, engagement by role. From the normalized tables,
-- or as the registered sources hold them (the "before"). Only groups whose
-- profile exists are returned.
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

-- The feature entities whose source is registered (an entity without one
-- has no history, so nothing of it is checked).
CREATE OR REPLACE FUNCTION @extschema@.checked_feature_entities()
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

-- Type consistency: category values known, key columns of one type, keys
-- that carry their kind, feature types that match the catalog.
CREATE OR REPLACE FUNCTION @extschema@.quality_type_consistency()
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
CREATE OR REPLACE FUNCTION @extschema@.quality_distributions()
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
CREATE OR REPLACE FUNCTION @extschema@.quality_temporal()
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
CREATE OR REPLACE FUNCTION @extschema@.quality_labels()
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

-- Feature coverage: the catalog's features present in each store.
CREATE OR REPLACE FUNCTION @extschema@.quality_feature_coverage()
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

CREATE OR REPLACE FUNCTION @extschema@.ml_readiness_report()
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

CREATE OR REPLACE FUNCTION @extschema@.readiness_report_html()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    h record;
    metrics text;
    checks text;
    results "normalize".quality_check[];  -- quoted: NORMALIZE is a keyword where a type is expected
    failing text;
    histograms text;
    churn text;
    missing text;
    splits text;
    balance text;
    confidence float8;
BEGIN
    PERFORM normalize.require_sources();
    SELECT * INTO h FROM normalize.history_info;
    -- The checks run once: the metrics and the tables below read them.
    results := ARRAY(SELECT ROW(q.*)::"normalize".quality_check FROM normalize.quality_checks() AS q);
    SELECT string_agg(format('<tr class="%s"><td>%s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td><td>%s</td><td>%s</td></tr>',
                             CASE WHEN r.passed THEN 'pass' ELSE 'fail' END, normalize.html_escape(r.metric),
                             normalize.html_escape(r.target), coalesce(r.before::text, '&mdash;'),
                             coalesce(r.after::text, '&mdash;'), normalize.html_escape(r.unit),
                             CASE WHEN r.passed THEN 'pass' ELSE 'FAIL' END), '')
      INTO metrics FROM normalize.readiness_metrics(results) AS r;
    SELECT string_agg(format('<tr><td>%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
                             normalize.html_escape(c.category), c.pass, c.warn, c.fail), '' ORDER BY c.pos)
      INTO checks
      FROM (SELECT q.category, count(*) FILTER (WHERE q.status = 'pass') AS pass,
                   count(*) FILTER (WHERE q.status = 'warn') AS warn, count(*) FILTER (WHERE q.status = 'fail') AS fail,
                   array_position(ARRAY['completeness', 'type consistency', 'distributions', 'temporal', 'labels',
                                        'leakage', 'feature coverage'], q.category) AS pos
              FROM unnest(results) AS q GROUP BY q.category) AS c;
    SELECT string_agg(format('<tr class="%s"><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td><td>%s</td></tr>',
                             q.status, normalize.html_escape(q.category), normalize.html_escape(q.entity),
                             normalize.html_escape(q.check_name), coalesce(round(q.observed::numeric, 4)::text, '&mdash;'),
                             normalize.html_escape(coalesce(q.detail, ''))), '')
      INTO failing FROM unnest(results) AS q WHERE q.status <> 'pass';

    -- Each repaired column against its profile, by group.
    WITH v AS (
        SELECT p.label, p.profile, p.value AS x FROM normalize.profile_values('normalized') AS p),
    g AS (
        SELECT v.label, p.family, normalize.profile_params(p.family, p.params) AS params,
               coalesce(p.lower, '-infinity') AS lower, coalesce(p.upper, 'infinity') AS upper, count(*) AS n,
               coalesce(p.lower, min(v.x)) AS lo,
               greatest(coalesce(p.upper, max(v.x)), coalesce(p.lower, min(v.x)) + 1e-9) AS hi
          FROM v JOIN normalize.distribution_profiles AS p ON p.name = v.profile
         GROUP BY v.label, p.family, p.params, p.lower, p.upper),
    obs AS (
        SELECT v.label, least(greatest(width_bucket(v.x, g.lo, g.hi, 20), 1), 20) AS i, count(*) AS c
          FROM v JOIN g USING (label) GROUP BY 1, 2),
    bins AS (
        SELECT g.label, g.lo, g.hi, b.i, coalesce(o.c, 0) AS c,
               g.n * (normalize.distribution_cdf(g.lo + (g.hi - g.lo) * b.i / 20, g.family, g.params, g.lower, g.upper)
                      - normalize.distribution_cdf(g.lo + (g.hi - g.lo) * (b.i - 1) / 20, g.family, g.params, g.lower, g.upper))
                   AS e
          FROM g CROSS JOIN generate_series(1, 20) AS b(i)
          LEFT JOIN obs AS o ON o.label = g.label AND o.i = b.i)
    SELECT string_agg(s.svg, '' ORDER BY s.label) INTO histograms
      FROM (SELECT b.label, normalize.svg_histogram(b.label, b.lo, b.hi, array_agg(b.c ORDER BY b.i),
                                                    array_agg(b.e ORDER BY b.i)) AS svg
              FROM bins AS b GROUP BY b.label, b.lo, b.hi) AS s;

    SELECT t.threshold INTO confidence FROM normalize.quality_thresholds AS t
     WHERE t.check_name = 'annual churn within the band';
    SELECT normalize.svg_bars(format('Annual churn by tier (accounts): simulated, its %s%% interval, the plan''s band',
                                     round(100 * confidence::numeric, 1)),
                              array_agg(c.tier || ' (' || c.accounts || ')' ORDER BY c.tier),
                              array_agg(c.rate ORDER BY c.tier), array_agg(c.band_low ORDER BY c.tier),
                              array_agg(c.band_high ORDER BY c.tier), array_agg(c.low ORDER BY c.tier),
                              array_agg(c.high ORDER BY c.tier), 'FM0.000')
      INTO churn FROM normalize.annual_churn_by_tier(coalesce(confidence, 0.99)) AS c;

    SELECT normalize.svg_bars('Missing values per feature family: share of stored values that are NULL',
                              array_agg(m.entity || ' ' || m.family ORDER BY m.entity, m.family),
                              array_agg(m.share ORDER BY m.entity, m.family), NULL, NULL, NULL, NULL, 'FM0.000')
      INTO missing
      FROM (SELECT c.entity, c.family, sum(r.nulls)::float8 / nullif(sum(r.rows), 0) AS share
              FROM normalize.feature_null_rates() AS r
              JOIN normalize.feature_catalog AS c ON c.entity = r.entity AND c.feature = r.feature
             GROUP BY c.entity, c.family) AS m;

    WITH s AS (
        SELECT 'churn' AS set_name, c.split, count(*) AS n, avg(c.churned_90d::int)::float8 AS positive
          FROM normalize.churn_samples AS c GROUP BY c.split
        UNION ALL
        SELECT 'clv', c.split, count(*), NULL FROM normalize.clv_samples AS c GROUP BY c.split
        UNION ALL
        SELECT 'device health', d.split, count(*), avg(d.failed_30d::int)::float8
          FROM normalize.device_health_samples AS d GROUP BY d.split),
    o AS (SELECT s.*, s.set_name || ' ' || s.split AS label,
                 array_position(ARRAY['train', 'validation', 'test'], s.split) AS pos FROM s)
    SELECT normalize.svg_bars('Samples per split', array_agg(o.label ORDER BY o.set_name, o.pos),
                              array_agg(o.n::float8 ORDER BY o.set_name, o.pos), NULL, NULL, NULL, NULL, 'FM999999990'),
           normalize.svg_bars('Class balance: positive share per split (churn in 90 days, failure in 30)',
                              array_agg(o.label ORDER BY o.set_name, o.pos) FILTER (WHERE o.positive IS NOT NULL),
                              array_agg(o.positive ORDER BY o.set_name, o.pos) FILTER (WHERE o.positive IS NOT NULL),
                              NULL, NULL, NULL, NULL, 'FM0.000')
      INTO splits, balance FROM o;

    RETURN format($html$<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>normalize: ML-readiness report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #1d2733; max-width: 1180px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccd; }
p.meta { color: #556; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; } td, th { border: 1px solid #ccd; padding: 0.3em 0.6em; text-align: left; }
th { background: #eef1f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.pass td:last-child { color: #176b2c; font-weight: 600; } tr.fail td, tr.fail td:last-child { color: #a4161a; font-weight: 600; }
tr.warn td { color: #8a5a00; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { background: #fafbfc; border: 1px solid #e1e4e8; }
svg .title { font-size: 11px; text-anchor: middle; font-weight: 600; fill: #1d2733; }
svg .tick, svg .label, svg .value { font-size: 10px; fill: #445; } svg .end { text-anchor: end; } svg .start { text-anchor: start; }
svg .axis { stroke: #889; } svg .bar { fill: #5b8def; } svg .band { fill: #f2c14e; fill-opacity: 0.45; }
svg .expected { fill: none; stroke: #d1495b; stroke-width: 2; } svg .whisker { stroke: #1d2733; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 1.2em; } .swatch { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle; margin-right: 0.3em; }
</style>
</head>
<body>
<h1>ML-readiness report</h1>
<p class="meta">%1$s</p>
<h2>The plan's five success metrics</h2>
<table id="metrics"><tr><th>metric</th><th>target</th><th>before</th><th>after</th><th>unit</th><th>result</th></tr>%2$s</table>
<h2>Quality checks</h2>
<table id="checks"><tr><th>category</th><th>pass</th><th>warn</th><th>fail</th></tr>%3$s</table>
%4$s
<h2>Generated distributions against their profiles</h2>
<p class="legend"><span><i class="swatch" style="background:#5b8def"></i>observed values</span><span><i class="swatch" style="background:#d1495b"></i>counts the profile expects</span></p>
<div class="charts" id="histograms">%5$s</div>
<h2>Churn by tier</h2>
<p class="legend"><span><i class="swatch" style="background:#5b8def"></i>simulated annual churn</span><span><i class="swatch" style="background:#f2c14e"></i>the plan's band</span><span><i class="swatch" style="background:#1d2733"></i>confidence interval</span></p>
<div class="charts" id="churn">%6$s</div>
<h2>Missing values per feature family</h2>
<div class="charts" id="missing">%7$s</div>
<h2>Split sizes and class balance</h2>
<div class="charts" id="splits">%8$s%9$s</div>
</body>
</html>
$html$,
        normalize.html_escape(CASE WHEN h IS NULL THEN 'no history built yet'
                                   ELSE format('History of %s months, %s to %s, seed %s; report generated %s.',
                                               h.months, h.window_start, h.as_of, h.seed,
                                               to_char(now(), 'YYYY-MM-DD HH24:MI TZ')) END),
        metrics, coalesce(checks, ''),
        CASE WHEN failing IS NULL THEN '<p>Every check passes.</p>'
             ELSE '<table id="failing"><tr><th>category</th><th>entity</th><th>check</th><th>observed</th><th>detail</th></tr>'
                  || failing || '</table>' END,
        coalesce(histograms, '<p>No repaired columns yet.</p>'),
        coalesce(churn, '<p>No history yet.</p>'), coalesce(missing, '<p>No features yet.</p>'),
        coalesce(splits, '<p>No training sets yet.</p>'), coalesce(balance, ''));
END
$$;
COMMENT ON FUNCTION @extschema@.readiness_report_html() IS
    'The ML-readiness report as one self-contained HTML page (inline SVG, no scripts): the five metrics, the quality checks, each generated distribution against its profile, churn by tier against the bands, missing values per feature family, split sizes and class balance';

