-- The demo source: the six raw tables in exactly the state the plan's
-- "Current State Assessment" describes, plus the ground truth of which raw
-- row belongs to which customer, so that reconciliation can be scored.
--
-- Why it is built this way:
-- * Same seed, same bytes. Every random choice is a keyed draw
--   (normalize.random_*_for) named by (seed, kind, key, purpose); nothing
--   depends on row order, plan shape, the clock or random().
-- * Exact counts where the plan states them (241 paid subscriptions, 188
--   devices at 0.52, ...): rows are ranked on a seeded value and the first k
--   taken, never drawn by Bernoulli trials, so the aggregates hold for every
--   seed, not just on average.
-- * Set-based, no per-row loops, so scale 1000 (1.2M devices) takes well
--   under a minute. Rows are spread over their owners by cumulative integer
--   weights (owner k gets floor(E * W_k / W) - floor(E * W_k-1 / W) of E
--   rows, W_k the running sum), which gives skewed but exact totals; the rows
--   are then shuffled by a seeded value to get their IDs, so IDs say nothing
--   about owners. Integer weights keep the sums exact in any plan.
-- * The raw rows and their ground truth come from one materialized CTE in
--   one statement, so the truth cannot drift from the data.
-- * Dates are fixed relative to the plan's date, 2025-06-18; snapshots are
--   2025-06-17 and 2025-06-18.

-- Refuses arguments create_demo_source cannot use, naming each.
CREATE FUNCTION @extschema@.demo_check_arguments(schema_name text, seed bigint, replace boolean, scale integer)
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
CREATE FUNCTION @extschema@.demo_prepare_schema(schema_name text, replace boolean)
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
CREATE FUNCTION @extschema@.demo_create_tables(schema_name text)
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
CREATE FUNCTION @extschema@.demo_weight_sql(share text)
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
CREATE FUNCTION @extschema@.demo_customers(schema_name text, seed bigint, n_customers bigint)
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
CREATE FUNCTION @extschema@.demo_locations(schema_name text, seed bigint, n_customers bigint, n_extra bigint)
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
CREATE FUNCTION @extschema@.demo_subscriptions(schema_name text, seed bigint, n_customers bigint, n_owned_extra bigint, n_orphans bigint, n_paid bigint, n_early bigint)
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
CREATE FUNCTION @extschema@.demo_devices(schema_name text, seed bigint, n_customers bigint, n_located bigint, n_unlocated bigint, n_high bigint, n_early bigint)
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
CREATE FUNCTION @extschema@.demo_users(schema_name text, seed bigint, n_customers bigint, n_owned bigint, n_orphans bigint, n_high bigint, n_admins bigint, n_managers bigint)
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
CREATE FUNCTION @extschema@.demo_campaigns(schema_name text, seed bigint, n_customers bigint, n_campaigns bigint)
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
CREATE FUNCTION @extschema@.demo_declare_offset(schema_name text)
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

CREATE FUNCTION @extschema@.create_demo_source(
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
