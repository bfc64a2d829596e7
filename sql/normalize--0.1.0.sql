-- Released file, frozen: as built from commit 80ab1de33e47. Never rebuilt or edited.
-- normalize install script, assembled by the Makefile from sql/install/*.sql
-- in name order (one file per plan phase).
\echo Use "CREATE EXTENSION normalize" to load this file. \quit
-- Phase 1 of the plan: deterministic ID rules. The C++ functions that read
-- raw IDs and make the keys of the normalized schema.

CREATE FUNCTION @extschema@.normalize_id(raw text)
RETURNS text
AS 'MODULE_PATHNAME', 'nz_normalize_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.normalize_id(text) IS
    'Canonical text of a raw ID: trimmed, lower-case, leading zeros of digit runs and a .000 tail dropped; NULL when blank';

CREATE FUNCTION @extschema@.id_number(raw text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_id_number'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.id_number(text) IS
    'The number of an ID made of an optional prefix and a number (''ACCT-0042'' gives 42); NULL otherwise';

CREATE FUNCTION @extschema@.id_prefix(raw text)
RETURNS text
AS 'MODULE_PATHNAME', 'nz_id_prefix'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.id_prefix(text) IS
    'The normalized prefix before the number of an ID (''ACCT-0042'' gives ''acct-''; a bare number gives ''''); NULL when the ID is not a prefixed number';

CREATE FUNCTION @extschema@.id_digits(raw text)
RETURNS integer
AS 'MODULE_PATHNAME', 'nz_id_digits'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.id_digits(text) IS
    'How many digits the number of an ID is spelled with, zero padding included (''ACCT-0042'' gives 4)';

CREATE FUNCTION @extschema@.stable_key(kind text, raw text)
RETURNS varchar
AS 'MODULE_PATHNAME', 'nz_stable_key'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.stable_key(text, text) IS
    'The deterministic key of an entity, kind:normalized-id (''account'', '' 0042'' gives ''account:42''); NULL when the ID is blank';

CREATE FUNCTION @extschema@.stable_key(kind text, raw bigint)
RETURNS varchar
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN normalize.stable_key(kind, raw::text);
COMMENT ON FUNCTION @extschema@.stable_key(text, bigint) IS
    'The deterministic key of an entity with a numeric ID';
-- Phase 1 of the plan: where the raw data is. The source contract says which
-- columns each of the six entities must or may have; registration checks a
-- table against it once, so that every later phase can read sources by
-- their logical column names. Sources are only ever read.

CREATE TABLE @extschema@.source_contract (
    entity      text NOT NULL,
    column_name text NOT NULL,
    required    boolean NOT NULL,
    type_class  text NOT NULL CHECK (type_class IN ('id', 'number', 'date', 'text')),
    description text NOT NULL,
    position    integer NOT NULL,
    PRIMARY KEY (entity, column_name)
);
COMMENT ON TABLE @extschema@.source_contract IS
    'The columns each source entity must (required) or may have, by logical name and type class';
COMMENT ON COLUMN @extschema@.source_contract.type_class IS
    'id: integer or text; number: any numeric type; date: date or timestamp; text: any type';

INSERT INTO @extschema@.source_contract (entity, column_name, required, type_class, position, description) VALUES
    ('customers', 'customer_id', true, 'id', 1, 'The customer''s ID, the account every other entity belongs to'),
    ('customers', 'name', false, 'text', 2, 'Customer name'),
    ('customers', 'tier', false, 'text', 3, 'Customer tier, such as ''Tier 1'''),
    ('customers', 'mrr', false, 'number', 4, 'Monthly recurring revenue'),
    ('customers', 'industry', false, 'text', 5, 'Industry'),
    ('customers', 'country', false, 'text', 6, 'Country'),
    ('customers', 'created_at', false, 'date', 7, 'When the customer signed up'),
    ('customers', 'snapshot_date', false, 'date', 8, 'The day the row describes'),
    ('subscriptions', 'subscription_id', true, 'id', 1, 'The subscription''s ID'),
    ('subscriptions', 'account_id', true, 'id', 2, 'Reference to the customer, in any format'),
    ('subscriptions', 'plan', false, 'text', 3, 'Plan name'),
    ('subscriptions', 'mrr', false, 'number', 4, 'Monthly recurring revenue of the subscription'),
    ('subscriptions', 'status', false, 'text', 5, 'Status, such as active or cancelled'),
    ('subscriptions', 'start_date', false, 'date', 6, 'Start of the subscription'),
    ('subscriptions', 'end_date', false, 'date', 7, 'End of the subscription'),
    ('subscriptions', 'snapshot_date', false, 'date', 8, 'The day the row describes'),
    ('devices', 'device_id', true, 'id', 1, 'The device''s ID'),
    ('devices', 'account_id', true, 'id', 2, 'Reference to the customer, in any format'),
    ('devices', 'location_id', false, 'id', 3, 'Reference to the location the device is at'),
    ('devices', 'device_type', false, 'text', 4, 'Device type'),
    ('devices', 'status', false, 'text', 5, 'Status: operational, maintenance or critical'),
    ('devices', 'health_score', false, 'number', 6, 'Health score'),
    ('devices', 'uptime', false, 'number', 7, 'Uptime'),
    ('devices', 'snapshot_date', false, 'date', 8, 'The day the row describes'),
    ('users', 'user_id', true, 'id', 1, 'The user''s ID'),
    ('users', 'account_id', true, 'id', 2, 'Reference to the customer, in any format'),
    ('users', 'role', false, 'text', 3, 'Role: admin, manager or standard'),
    ('users', 'engagement_score', false, 'number', 4, 'Engagement score'),
    ('users', 'last_login', false, 'date', 5, 'Last login'),
    ('users', 'snapshot_date', false, 'date', 6, 'The day the row describes'),
    ('locations', 'location_id', true, 'id', 1, 'The location''s ID'),
    ('locations', 'account_id', true, 'id', 2, 'Reference to the customer, in any format'),
    ('locations', 'name', false, 'text', 3, 'Location name'),
    ('locations', 'city', false, 'text', 4, 'City'),
    ('locations', 'country', false, 'text', 5, 'Country'),
    ('locations', 'snapshot_date', false, 'date', 6, 'The day the row describes'),
    ('campaigns', 'campaign_id', true, 'id', 1, 'The campaign''s ID'),
    ('campaigns', 'account_id', true, 'id', 2, 'Reference to the customer, in any format'),
    ('campaigns', 'name', false, 'text', 3, 'Campaign name'),
    ('campaigns', 'channel', false, 'text', 4, 'Channel, such as email or search'),
    ('campaigns', 'budget', false, 'number', 5, 'Budget'),
    ('campaigns', 'start_date', false, 'date', 6, 'Start of the campaign'),
    ('campaigns', 'snapshot_date', false, 'date', 7, 'The day the row describes');

CREATE TABLE @extschema@.sources (
    entity        text PRIMARY KEY,
    relation      regclass NOT NULL,
    columns       jsonb NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.sources IS
    'The registered raw tables: for each entity, the relation and which of its columns holds each contract column';
COMMENT ON COLUMN @extschema@.sources.columns IS
    'Contract column name -> the relation''s column name, for every contract column the relation has';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sources', '');

-- Checks a relation against the entity's contract and returns the resolved
-- mapping; raises one error listing everything that is missing or mistyped.
CREATE FUNCTION @extschema@.check_source(entity text, relation regclass, columns jsonb DEFAULT '{}')
RETURNS TABLE (column_name text, source_column text, source_type text, required boolean)
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    contract record;
    physical text;
    att record;
    missing text[] := '{}';
    mistyped text[] := '{}';
    unknown text;
    relkind "char";
    usable boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.source_contract AS c WHERE c.entity = check_source.entity) THEN
        RAISE EXCEPTION 'unknown entity "%"', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
    SELECT c.relkind INTO relkind FROM pg_class AS c WHERE c.oid = relation;
    IF relkind IS NULL THEN
        RAISE EXCEPTION 'the relation registered for % no longer exists', entity
            USING ERRCODE = 'undefined_table',
                  HINT = 'A registered source was dropped; register its replacement with normalize.register_source or normalize.use_sources.';
    END IF;
    IF relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION 'relation % is not a table or view', relation
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Register a table, a view, a materialized view or a foreign table.';
    END IF;
    IF jsonb_typeof(columns) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'columns must be a JSON object, got %', columns
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Map contract columns to the relation''s columns, such as {"account_id": "acct_ref"}.';
    END IF;
    SELECT string_agg(format('"%s"', k), ', ' ORDER BY k) INTO unknown
      FROM jsonb_object_keys(columns) AS k
     WHERE NOT EXISTS (SELECT 1 FROM normalize.source_contract AS c
                        WHERE c.entity = check_source.entity AND c.column_name = k);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'columns names % which the % contract does not have', unknown, entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The %s contract has: %s.', entity,
                                (SELECT string_agg(c.column_name, ', ' ORDER BY c.position)
                                   FROM normalize.source_contract AS c WHERE c.entity = check_source.entity));
    END IF;

    FOR contract IN
        SELECT c.column_name, c.required, c.type_class FROM normalize.source_contract AS c
         WHERE c.entity = check_source.entity ORDER BY c.position
    LOOP
        physical := coalesce(columns ->> contract.column_name, contract.column_name);
        SELECT a.attname::text AS name, a.atttypid, t.typcategory, format_type(a.atttypid, a.atttypmod) AS type_name
          INTO att
          FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid
         WHERE a.attrelid = relation AND a.attname = physical AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            IF contract.required OR columns ? contract.column_name THEN
                missing := missing || format('%s (as column "%s")', contract.column_name, physical);
            END IF;
            CONTINUE;
        END IF;
        usable := CASE contract.type_class
                      WHEN 'id' THEN att.typcategory IN ('N', 'S') OR att.atttypid = 'uuid'::regtype
                      WHEN 'number' THEN att.typcategory = 'N'
                      WHEN 'date' THEN att.atttypid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
                      ELSE true
                  END;
        IF NOT usable THEN
            mistyped := mistyped || format('%s ("%s" is %s, needs %s)', contract.column_name, physical,
                                           att.type_name,
                                           CASE contract.type_class
                                               WHEN 'id' THEN 'an integer or text type'
                                               WHEN 'number' THEN 'a numeric type'
                                               ELSE 'date, timestamp or timestamptz' END);
            CONTINUE;
        END IF;
        column_name := contract.column_name;
        source_column := att.name;
        source_type := att.type_name;
        required := contract.required;
        RETURN NEXT;
    END LOOP;

    IF cardinality(missing) > 0 OR cardinality(mistyped) > 0 THEN
        RAISE EXCEPTION '% cannot be registered as %', relation, entity
            USING ERRCODE = CASE WHEN cardinality(missing) > 0 THEN 'undefined_column' ELSE 'datatype_mismatch' END,
                  DETAIL = concat_ws(' ',
                      CASE WHEN cardinality(missing) > 0
                           THEN 'Missing: ' || array_to_string(missing, ', ') || '.' END,
                      CASE WHEN cardinality(mistyped) > 0
                           THEN 'Wrong type: ' || array_to_string(mistyped, ', ') || '.' END),
                  HINT = 'Name the relation''s columns with the columns argument, such as {"account_id": "acct_ref"}, or cast them in a view.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.check_source(text, regclass, jsonb) IS
    'Checks a relation against an entity''s source contract and returns which column holds each contract column; raises one error naming everything missing or mistyped';

CREATE FUNCTION @extschema@.register_source(entity text, relation regclass, columns jsonb DEFAULT '{}')
RETURNS TABLE (column_name text, source_column text, source_type text, required boolean)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mapping jsonb;
BEGIN
    SELECT jsonb_object_agg(c.column_name, c.source_column) INTO mapping
      FROM normalize.check_source(entity, relation, columns) AS c;
    INSERT INTO normalize.sources AS s (entity, relation, columns)
    VALUES (register_source.entity, register_source.relation, mapping)
    ON CONFLICT ON CONSTRAINT sources_pkey DO UPDATE
       SET relation = EXCLUDED.relation, columns = EXCLUDED.columns, registered_at = pg_catalog.now();
    RETURN QUERY SELECT * FROM normalize.check_source(entity, relation, columns);
END
$$;
COMMENT ON FUNCTION @extschema@.register_source(text, regclass, jsonb) IS
    'Registers one raw table as an entity''s source; columns maps contract columns to the table''s own names';

CREATE FUNCTION @extschema@.use_sources(schema_name text)
RETURNS TABLE (entity text, relation regclass, columns_found integer, optional_missing text[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e text;
    missing text[] := '{}';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema_name) THEN
        RAISE EXCEPTION 'schema "%" does not exist', schema_name
            USING ERRCODE = 'invalid_schema_name',
                  HINT = 'Pass the schema that holds the six raw tables, such as the one normalize.create_demo_source() made.';
    END IF;
    FOREACH e IN ARRAY ARRAY['customers', 'subscriptions', 'devices', 'users', 'locations', 'campaigns'] LOOP
        IF to_regclass(format('%I.%I', schema_name, e)) IS NULL THEN
            missing := missing || e;
        END IF;
    END LOOP;
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'schema "%" lacks the tables %', schema_name, array_to_string(missing, ', ')
            USING ERRCODE = 'undefined_table',
                  HINT = 'Register tables with other names one by one with normalize.register_source(entity, relation, columns).';
    END IF;
    FOREACH e IN ARRAY ARRAY['customers', 'subscriptions', 'devices', 'users', 'locations', 'campaigns'] LOOP
        entity := e;
        relation := format('%I.%I', schema_name, e)::regclass;
        PERFORM normalize.register_source(e, relation);
        SELECT count(*)::integer INTO columns_found
          FROM jsonb_object_keys((SELECT s.columns FROM normalize.sources AS s WHERE s.entity = e));
        SELECT coalesce(array_agg(c.column_name ORDER BY c.position), '{}') INTO optional_missing
          FROM normalize.source_contract AS c
         WHERE c.entity = e AND NOT c.required
           AND NOT (SELECT s.columns FROM normalize.sources AS s WHERE s.entity = e) ? c.column_name;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.use_sources(text) IS
    'Registers the six raw tables of a schema (customers, subscriptions, devices, users, locations, campaigns) that follow the source contract';

-- The SELECT that reads a registered source by contract column names, with
-- every column cast to its class's type (ids as text) and absent optional
-- columns as NULL. Every phase reads sources through it.
CREATE FUNCTION @extschema@.source_query(entity text)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src record;
    cols text;
BEGIN
    SELECT s.relation, s.columns INTO src FROM normalize.sources AS s WHERE s.entity = source_query.entity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no source is registered for %', entity
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register the raw tables first with normalize.use_sources(schema) or normalize.register_source(...).';
    END IF;
    SELECT string_agg(
             CASE WHEN src.columns ? c.column_name
                  THEN format('%s::%s AS %I',
                               quote_ident(src.columns ->> c.column_name),
                              CASE c.type_class WHEN 'id' THEN 'text' WHEN 'number' THEN 'numeric'
                                                WHEN 'date' THEN 'date' ELSE 'text' END,
                              c.column_name)
                  ELSE format('NULL::%s AS %I',
                              CASE c.type_class WHEN 'id' THEN 'text' WHEN 'number' THEN 'numeric'
                                                WHEN 'date' THEN 'date' ELSE 'text' END,
                              c.column_name) END,
             ', ' ORDER BY c.position)
      INTO cols
      FROM normalize.source_contract AS c
     WHERE c.entity = source_query.entity;
    RETURN format('SELECT %s FROM %s', cols, src.relation);
END
$$;
COMMENT ON FUNCTION @extschema@.source_query(text) IS
    'The SELECT that reads a registered source by contract column names and canonical types';
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
    'Creates, in schema_name, the six raw demo tables in the state of the plan''s Current State Assessment (customers, subscriptions, devices, users, locations, campaigns; every count times scale) and their ground_truth; the same seed gives the same bytes; replace drops and recreates existing tables';
-- Phase 1 of the plan: ID reconciliation. Discovers how each source's
-- references spell the IDs they point at, builds the master account map and
-- an id map for every entity, and fills the normalized tables with VARCHAR
-- keys and enforced foreign keys. Sources are only read.

-- The references the product resolves: each source's account reference to
-- the customers, and the devices' location reference.
CREATE TABLE @extschema@.reference_kinds (
    entity        text NOT NULL,
    reference     text NOT NULL,
    source_column text NOT NULL,
    target_entity text NOT NULL,
    target_column text NOT NULL,
    required      boolean NOT NULL,
    PRIMARY KEY (entity, reference)
);
COMMENT ON TABLE @extschema@.reference_kinds IS
    'The references between sources that reconciliation resolves; required references make a row an orphan when unresolved';
INSERT INTO @extschema@.reference_kinds VALUES
    ('subscriptions', 'account', 'account_id', 'customers', 'customer_id', true),
    ('devices', 'account', 'account_id', 'customers', 'customer_id', true),
    ('devices', 'location', 'location_id', 'locations', 'location_id', false),
    ('users', 'account', 'account_id', 'customers', 'customer_id', true),
    ('locations', 'account', 'account_id', 'customers', 'customer_id', true),
    ('campaigns', 'account', 'account_id', 'customers', 'customer_id', true);

CREATE TABLE @extschema@.entity_kinds (
    entity    text PRIMARY KEY,
    kind      text NOT NULL UNIQUE,
    id_column text NOT NULL,
    position  integer NOT NULL
);
COMMENT ON TABLE @extschema@.entity_kinds IS
    'Each source entity, the kind its stable keys carry, and its ID column';
INSERT INTO @extschema@.entity_kinds VALUES
    ('customers', 'account', 'customer_id', 1),
    ('locations', 'location', 'location_id', 2),
    ('subscriptions', 'subscription', 'subscription_id', 3),
    ('devices', 'device', 'device_id', 4),
    ('users', 'user', 'user_id', 5),
    ('campaigns', 'campaign', 'campaign_id', 6);

-- The internal steps of reconciliation take an entity (and a reference)
-- by name; these refuse names that are not in the tables above.
CREATE FUNCTION @extschema@.require_entity(entity text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF entity IS NULL OR NOT EXISTS (SELECT 1 FROM normalize.entity_kinds AS e WHERE e.entity = require_entity.entity) THEN
        RAISE EXCEPTION 'unknown entity "%"', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_entity(text) IS
    'Internal: raises a clear error unless entity names one of normalize.entity_kinds';

CREATE FUNCTION @extschema@.require_reference(entity text, reference text)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.reference_kinds AS k
                    WHERE k.entity = require_reference.entity AND k.reference = require_reference.reference) THEN
        RAISE EXCEPTION 'unknown reference %.%', coalesce(entity, 'NULL'), coalesce(reference, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The references are listed in normalize.reference_kinds, such as devices.location.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.require_reference(text, text) IS
    'Internal: raises a clear error unless (entity, reference) is one of normalize.reference_kinds';

CREATE TABLE @extschema@.id_crosswalk (
    entity     text NOT NULL,
    reference  text NOT NULL DEFAULT 'account',
    raw_value  text NOT NULL,
    target_id  text NOT NULL,
    note       text NOT NULL DEFAULT '',
    PRIMARY KEY (entity, reference, raw_value),
    FOREIGN KEY (entity, reference) REFERENCES @extschema@.reference_kinds (entity, reference)
);
COMMENT ON TABLE @extschema@.id_crosswalk IS
    'User-given links: the raw reference value raw_value of an entity points at the target''s raw ID target_id; takes precedence over discovered rules';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.id_crosswalk', '');

-- The normalized entity tables -----------------------------------------------

CREATE TABLE @extschema@.accounts (
    account_key   varchar PRIMARY KEY,
    source_id     text NOT NULL,
    name          text,
    tier          text,
    mrr           numeric,
    industry      text,
    country       text,
    created_at    date,
    snapshot_date date,
    -- Provenance, set by repair_values: the value as observed, and where the
    -- value in use came from (observed, derived from other data, generated).
    mrr_observed  numeric,
    mrr_source    text NOT NULL DEFAULT 'observed',
    tier_observed text,
    tier_source   text NOT NULL DEFAULT 'observed'
);
COMMENT ON TABLE @extschema@.accounts IS 'Normalized customers, keyed by stable_key(''account'', customer_id)';

CREATE TABLE @extschema@.locations (
    location_key       varchar PRIMARY KEY,
    account_key        varchar NOT NULL,
    source_id          text NOT NULL,
    source_account_ref text,
    account_rule       text NOT NULL,
    account_assigned   boolean NOT NULL DEFAULT false,
    account_issue      text,
    name               text,
    city               text,
    country            text,
    snapshot_date      date,
    CONSTRAINT locations_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts
);
COMMENT ON TABLE @extschema@.locations IS 'Normalized locations, linked to their account';

CREATE TABLE @extschema@.subscriptions (
    subscription_key   varchar PRIMARY KEY,
    account_key        varchar NOT NULL,
    source_id          text NOT NULL,
    source_account_ref text,
    account_rule       text NOT NULL,
    account_assigned   boolean NOT NULL DEFAULT false,
    account_issue      text,
    plan               text,
    mrr                numeric,
    status             text,
    start_date         date,
    end_date           date,
    snapshot_date      date,
    CONSTRAINT subscriptions_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts
);
COMMENT ON TABLE @extschema@.subscriptions IS 'Normalized subscriptions, linked to their account';

CREATE TABLE @extschema@.devices (
    device_key          varchar PRIMARY KEY,
    account_key         varchar NOT NULL,
    location_key        varchar,
    source_id           text NOT NULL,
    source_account_ref  text,
    account_rule        text NOT NULL,
    account_assigned    boolean NOT NULL DEFAULT false,
    account_issue       text,
    source_location_ref text,
    location_rule       text,
    location_assigned   boolean NOT NULL DEFAULT false,
    location_issue      text,
    device_type         text,
    status              text,
    health_score        numeric,
    uptime              numeric,
    snapshot_date       date,
    health_score_observed numeric,
    health_score_source text NOT NULL DEFAULT 'observed',
    uptime_observed     numeric,
    uptime_source       text NOT NULL DEFAULT 'observed',
    CONSTRAINT devices_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts,
    CONSTRAINT devices_location_fk FOREIGN KEY (location_key) REFERENCES @extschema@.locations
);
COMMENT ON TABLE @extschema@.devices IS 'Normalized devices, linked to their account and, where known, their location';

CREATE TABLE @extschema@.users (
    user_key           varchar PRIMARY KEY,
    account_key        varchar NOT NULL,
    source_id          text NOT NULL,
    source_account_ref text,
    account_rule       text NOT NULL,
    account_assigned   boolean NOT NULL DEFAULT false,
    account_issue      text,
    role               text,
    engagement_score   numeric,
    last_login         date,
    snapshot_date      date,
    engagement_score_observed numeric,
    engagement_score_source text NOT NULL DEFAULT 'observed',
    CONSTRAINT users_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts
);
COMMENT ON TABLE @extschema@.users IS 'Normalized users, linked to their account';

CREATE TABLE @extschema@.campaigns (
    campaign_key       varchar PRIMARY KEY,
    account_key        varchar NOT NULL,
    source_id          text NOT NULL,
    source_account_ref text,
    account_rule       text NOT NULL,
    account_assigned   boolean NOT NULL DEFAULT false,
    account_issue      text,
    name               text,
    channel            text,
    budget             numeric,
    start_date         date,
    snapshot_date      date,
    CONSTRAINT campaigns_account_fk FOREIGN KEY (account_key) REFERENCES @extschema@.accounts
);
COMMENT ON TABLE @extschema@.campaigns IS 'Normalized campaigns, linked to their account';

-- The maps and the record of what reconciliation did ------------------------

CREATE TABLE @extschema@.account_map (
    entity      text NOT NULL,
    raw_value   text NOT NULL,
    account_key varchar NOT NULL REFERENCES @extschema@.accounts,
    rule        text NOT NULL,
    rows        bigint NOT NULL,
    PRIMARY KEY (entity, raw_value)
);
COMMENT ON TABLE @extschema@.account_map IS
    'The master account mapping: every raw account ID or reference seen in a source, the account it denotes, and the rule that said so';

CREATE TABLE @extschema@.unlinked_rows (
    entity     text NOT NULL,
    source_id  text,
    entity_key varchar,
    status     text NOT NULL CHECK (status IN ('quarantined', 'dropped', 'superseded'))
);
COMMENT ON TABLE @extschema@.unlinked_rows IS
    'The source rows that did not reach the normalized tables, and why; id_map adds the rows that did';

CREATE TABLE @extschema@.quarantine (
    entity    text NOT NULL,
    source_id text,
    reference text,
    raw_value text,
    reason    text NOT NULL,
    kept      boolean NOT NULL
);
COMMENT ON TABLE @extschema@.quarantine IS
    'Rows (kept = false) or links (kept = true: the row stays, without the link) that reconciliation could not resolve, with the reason';

CREATE TABLE @extschema@.key_collisions (
    entity     text NOT NULL,
    entity_key varchar NOT NULL,
    source_ids text[] NOT NULL,
    PRIMARY KEY (entity, entity_key)
);
COMMENT ON TABLE @extschema@.key_collisions IS
    'Distinct source rows whose IDs normalize to one key on the same snapshot date; all of them are quarantined';

CREATE TABLE @extschema@.reconciliation_rules (
    entity    text NOT NULL,
    reference text NOT NULL,
    rule      text NOT NULL,
    parameter text,
    linked    bigint NOT NULL,
    total     bigint NOT NULL,
    chosen    boolean NOT NULL
);
COMMENT ON TABLE @extschema@.reconciliation_rules IS
    'The candidate rules of the last reconciliation, with the rows each links, and which one was used; over 20,000 distinct values, counts are of a deterministic sample';

-- The id map: one row per source row of every entity. Rows that reached the
-- normalized tables are read from them, so a reconciliation writes each
-- linked row once.
CREATE VIEW @extschema@.id_map AS
    SELECT 'customers'::text AS entity, a.source_id, a.account_key AS entity_key, a.account_key, 'linked'::text AS status
      FROM @extschema@.accounts AS a
    UNION ALL
    SELECT 'locations', l.source_id, l.location_key, l.account_key,
           CASE WHEN l.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.locations AS l
    UNION ALL
    SELECT 'subscriptions', x.source_id, x.subscription_key, x.account_key,
           CASE WHEN x.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.subscriptions AS x
    UNION ALL
    SELECT 'devices', d.source_id, d.device_key, d.account_key,
           CASE WHEN d.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.devices AS d
    UNION ALL
    SELECT 'users', u.source_id, u.user_key, u.account_key,
           CASE WHEN u.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.users AS u
    UNION ALL
    SELECT 'campaigns', c.source_id, c.campaign_key, c.account_key,
           CASE WHEN c.account_assigned THEN 'assigned' ELSE 'linked' END
      FROM @extschema@.campaigns AS c
    UNION ALL
    SELECT r.entity, r.source_id, r.entity_key, NULL::varchar, r.status
      FROM @extschema@.unlinked_rows AS r;
COMMENT ON VIEW @extschema@.id_map IS
    'One row per source row of every entity: its stable key, its account, and what became of it (linked, assigned, quarantined, dropped, superseded)';

-- Rule discovery -------------------------------------------------------------

-- Candidate rules linking the raw values in temp table nz_cand_refs (raw,
-- rows) to the IDs in nz_cand_targets (raw): how many rows each would link.
-- Offsets are looked for among the differences between the smallest and
-- the largest numbers on both sides, and the power of ten below the
-- smallest reference when references and targets do not overlap.
CREATE FUNCTION @extschema@.rule_candidates(entity text, reference text)
RETURNS TABLE (rule text, parameter text, linked bigint, total bigint)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n_total bigint;
    n_distinct bigint;
    step bigint;
    prepared boolean;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    -- Scoring a rule needs a few thousand distinct values, not all of them:
    -- above 20,000 a deterministic hash sample of about 20,000 is scored
    -- (linked and total then count the sampled rows).
    SELECT count(*) INTO n_distinct FROM nz_cand_refs;
    step := greatest(1, ceil(n_distinct / 20000.0))::bigint;
    CREATE TEMP TABLE nz_cand_r ON COMMIT DROP AS
        SELECT r.raw, r.rows, normalize.normalize_id(r.raw) AS norm, normalize.id_number(r.raw) AS num
          FROM nz_cand_refs AS r
         WHERE r.raw IS NOT NULL AND (step = 1 OR abs(hashtext(r.raw)::bigint) % step = 0);
    SELECT coalesce(sum(r.rows), 0) INTO n_total FROM nz_cand_refs AS r
     WHERE step = 1 OR r.raw IS NULL OR abs(hashtext(r.raw)::bigint) % step = 0;
    -- A caller that scores several references against one target may
    -- prepare nz_cand_t (raw, norm, num) once; otherwise it is built here.
    prepared := to_regclass('pg_temp.nz_cand_t') IS NOT NULL;
    IF NOT prepared THEN
        CREATE TEMP TABLE nz_cand_t ON COMMIT DROP AS
            SELECT DISTINCT t.raw, normalize.normalize_id(t.raw) AS norm, normalize.id_number(t.raw) AS num
              FROM nz_cand_targets AS t WHERE t.raw IS NOT NULL;
        ANALYZE nz_cand_t;
    END IF;
    ANALYZE nz_cand_r;

    rule := 'crosswalk'; parameter := NULL; total := n_total;
    SELECT coalesce(sum(r.rows), 0) INTO linked FROM nz_cand_r AS r
     WHERE EXISTS (SELECT 1 FROM normalize.id_crosswalk AS x
                    WHERE x.entity = rule_candidates.entity AND x.reference = rule_candidates.reference
                      AND x.raw_value = r.raw);
    RETURN NEXT;
    rule := 'exact';
    SELECT coalesce(sum(r.rows), 0) INTO linked FROM nz_cand_r AS r
     WHERE EXISTS (SELECT 1 FROM nz_cand_t AS t WHERE t.raw = r.raw);
    RETURN NEXT;
    rule := 'normalized';
    SELECT coalesce(sum(r.rows), 0) INTO linked FROM nz_cand_r AS r
     WHERE EXISTS (SELECT 1 FROM nz_cand_t AS t WHERE t.norm = r.norm);
    RETURN NEXT;
    rule := 'number';
    SELECT coalesce(sum(r.rows), 0) INTO linked FROM nz_cand_r AS r
     WHERE EXISTS (SELECT 1 FROM nz_cand_t AS t WHERE t.num = r.num);
    RETURN NEXT;

    rule := 'offset';
    RETURN QUERY
    WITH r_low AS (SELECT DISTINCT num FROM nz_cand_r WHERE num IS NOT NULL ORDER BY num LIMIT 200),
         t_low AS (SELECT DISTINCT num FROM nz_cand_t WHERE num IS NOT NULL ORDER BY num LIMIT 200),
         r_high AS (SELECT DISTINCT num FROM nz_cand_r WHERE num IS NOT NULL ORDER BY num DESC LIMIT 200),
         t_high AS (SELECT DISTINCT num FROM nz_cand_t WHERE num IS NOT NULL ORDER BY num DESC LIMIT 200),
         diffs AS (SELECT r.num - t.num AS k FROM r_low AS r, t_low AS t
                   UNION ALL
                   SELECT r.num - t.num FROM r_high AS r, t_high AS t),
         frequent AS (SELECT k FROM diffs WHERE k <> 0 GROUP BY k HAVING count(*) >= 2
                       ORDER BY count(*) DESC, abs(k) LIMIT 5),
         power AS (SELECT (10::numeric ^ floor(log(10, min(r.num)::numeric)))::bigint AS k
                     FROM nz_cand_r AS r
                   HAVING min(r.num) > 0
                      AND min(r.num) > (SELECT max(t.num) FROM nz_cand_t AS t)),
         candidates AS (SELECT k FROM frequent UNION SELECT k FROM power WHERE k IS NOT NULL)
    SELECT 'offset', c.k::text,
           (SELECT coalesce(sum(r.rows), 0) FROM nz_cand_r AS r
             WHERE EXISTS (SELECT 1 FROM nz_cand_t AS t WHERE t.num = r.num - c.k))::bigint,
           n_total
      FROM candidates AS c;
    DROP TABLE nz_cand_r;
    IF NOT prepared THEN
        DROP TABLE nz_cand_t;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.rule_candidates(text, text) IS
    'Internal: scores the candidate rules for the references staged in nz_cand_refs against the IDs in nz_cand_targets';

-- Stages one reference's values and its targets' IDs for rule_candidates.
CREATE FUNCTION @extschema@.stage_reference(entity text, reference text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = stage_reference.entity AND k.reference = stage_reference.reference;
    PERFORM normalize.drop_temp_table('nz_cand_refs');
    PERFORM normalize.drop_temp_table('nz_cand_targets');
    EXECUTE format('CREATE TEMP TABLE nz_cand_refs ON COMMIT DROP AS
                    SELECT %I AS raw, count(*) AS rows FROM (%s) AS s GROUP BY 1',
                   ref.source_column, normalize.source_query(entity));
    EXECUTE format('CREATE TEMP TABLE nz_cand_targets ON COMMIT DROP AS
                    SELECT DISTINCT %I AS raw FROM (%s) AS s',
                   ref.target_column, normalize.source_query(ref.target_entity));
END
$$;
COMMENT ON FUNCTION @extschema@.stage_reference(text, text) IS
    'Internal: stages a reference''s raw values and its target''s raw IDs in temp tables for rule_candidates';

CREATE FUNCTION @extschema@.suggest_id_rules()
RETURNS TABLE (entity text, reference text, source_column text, target text, rule text,
               parameter text, linked bigint, total bigint, share float8, rank integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
BEGIN
    PERFORM normalize.require_sources();
    FOR ref IN
        SELECT k.* FROM normalize.reference_kinds AS k
          JOIN normalize.entity_kinds AS e USING (entity)
         ORDER BY e.position, k.reference
    LOOP
        PERFORM normalize.stage_reference(ref.entity, ref.reference);
        RETURN QUERY
        SELECT ref.entity, ref.reference, (s.columns ->> ref.source_column),
               format('%s.%s', ref.target_entity, ref.target_column),
               c.rule, c.parameter, c.linked, c.total,
               CASE WHEN c.total > 0 THEN c.linked::float8 / c.total ELSE 0 END,
               (row_number() OVER (ORDER BY c.linked DESC,
                                   array_position(ARRAY['crosswalk', 'exact', 'normalized', 'number', 'offset'], c.rule),
                                   abs(c.parameter::numeric)))::integer
          FROM normalize.rule_candidates(ref.entity, ref.reference) AS c,
               normalize.sources AS s
         WHERE s.entity = ref.entity
         ORDER BY 10;
        DROP TABLE nz_cand_refs;
        DROP TABLE nz_cand_targets;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.suggest_id_rules() IS
    'For each reference column of each source, the candidate linking rules (exact, normalized, number, offset, crosswalk) with the share of rows each links, best first';

CREATE FUNCTION @extschema@.require_sources()
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(e.entity, ', ' ORDER BY e.position) INTO missing
      FROM normalize.entity_kinds AS e
     WHERE NOT EXISTS (SELECT 1 FROM normalize.sources AS s WHERE s.entity = e.entity);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no source is registered for %', missing
            USING ERRCODE = 'undefined_object',
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
    'Internal: raises a clear error unless all six sources are registered and still match the contract';
-- Phase 1 of the plan: reconciliation itself. Works on temp copies of the
-- sources (nz_src_<entity>), decides every row's fate in temp tables, and
-- only at the end replaces the normalized tables, so a failure leaves the
-- previous result in place.

-- The expression a rule compares, on the reference side, with the prepared
-- target column (raw for exact, norm for normalized, num for number and
-- offset).
CREATE FUNCTION @extschema@.rule_match_sql(rule text, parameter text, raw_sql text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE rule
    WHEN 'exact' THEN raw_sql
    WHEN 'normalized' THEN format('normalize.normalize_id(%s)', raw_sql)
    WHEN 'number' THEN format('normalize.id_number(%s)', raw_sql)
    WHEN 'offset' THEN format('(normalize.id_number(%s) - %s)', raw_sql, parameter::bigint)
END;
COMMENT ON FUNCTION @extschema@.rule_match_sql(text, text, text) IS
    'Internal: the SQL expression a linking rule compares on the reference side';

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

-- Resolves one reference of one entity: scores the rules on the raw values
-- staged in nz_cand_refs (raw, rows) against the targets in temp table
-- `targets` (raw, target_key), picks the best rule that links at least
-- min_share of the rows, and writes nz_map_<entity>_<reference>: one row per
-- distinct raw value with its target, the rule (crosswalk first), or the
-- reason it has none. Returns the rule used ('' when none).
CREATE FUNCTION @extschema@.resolve_reference(entity text, reference text, targets text, min_share float8)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    best record;
    map text := format('nz_map_%s_%s', entity, reference);
    target_kind text;
BEGIN
    PERFORM normalize.require_reference(entity, reference);
    SELECT * INTO ref FROM normalize.reference_kinds AS k
     WHERE k.entity = resolve_reference.entity AND k.reference = resolve_reference.reference;
    SELECT e.kind INTO target_kind FROM normalize.entity_kinds AS e WHERE e.entity = ref.target_entity;

    -- The targets come prepared (raw, target_key, norm, num): rule scoring
    -- and the value map read them instead of recomputing them per reference.
    EXECUTE format('CREATE TEMP VIEW nz_cand_t AS SELECT raw, norm, num FROM %I', targets);
    INSERT INTO nz_rules
    SELECT ref.entity, ref.reference, c.rule, c.parameter, c.linked, c.total, false
      FROM normalize.rule_candidates(ref.entity, ref.reference) AS c;
    DROP VIEW nz_cand_t;

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
    ELSIF EXISTS (SELECT 1 FROM nz_rules AS r WHERE r.entity = ref.entity AND r.reference = ref.reference
                     AND r.total > 0) THEN
        RAISE NOTICE 'no rule links at least % of %.%; its rows stay unlinked', min_share, entity, ref.source_column
            USING HINT = 'See normalize.suggest_id_rules(), and add links to normalize.id_crosswalk.';
    END IF;

    PERFORM normalize.drop_temp_table(map);
    EXECUTE format($q$
        CREATE TEMP TABLE %1$I ON COMMIT DROP AS
        WITH by_rule AS (
                SELECT r.raw, min(t.target_key) AS target_key, count(t.target_key) AS matches
                  FROM nz_cand_refs AS r
                  LEFT JOIN %3$I AS t
                    ON %4$s AND t.%2$s = %5$s
                 WHERE r.raw IS NOT NULL
                 GROUP BY r.raw),
             crosswalk AS (
                SELECT x.raw_value AS raw, t.target_key
                  FROM normalize.id_crosswalk AS x
                  LEFT JOIN %3$I AS t ON t.target_key = normalize.stable_key(%6$L, x.target_id)
                 WHERE x.entity = %7$L AND x.reference = %8$L)
        SELECT b.raw, r.rows,
               CASE WHEN x.raw IS NOT NULL THEN x.target_key
                    WHEN b.matches = 1 THEN b.target_key END AS target_key,
               CASE WHEN x.raw IS NOT NULL THEN 'crosswalk'
                    WHEN b.matches = 1 THEN %9$L END AS rule,
               CASE WHEN x.raw IS NOT NULL AND x.target_key IS NULL THEN 'crosswalk target not found'
                    WHEN x.raw IS NOT NULL THEN NULL
                    WHEN normalize.normalize_id(b.raw) IS NULL THEN 'missing ' || %8$L || ' reference'
                    WHEN %4$s IS NOT TRUE THEN 'no rule links this column'
                    WHEN b.matches > 1 THEN 'ambiguous reference'
                    WHEN b.matches = 0 THEN 'no matching ' || %8$L END AS reason
          FROM by_rule AS b
          JOIN nz_cand_refs AS r ON r.raw = b.raw
          LEFT JOIN crosswalk AS x ON x.raw = b.raw
        $q$,
        map,
        CASE best.rule WHEN 'normalized' THEN 'norm' WHEN 'number' THEN 'num' WHEN 'offset' THEN 'num' ELSE 'raw' END,
        targets,
        CASE WHEN best.rule IS NULL THEN 'false' ELSE 'true' END,
        coalesce(normalize.rule_match_sql(best.rule, best.parameter, 'r.raw'), 'NULL::text'),
        target_kind, ref.entity, ref.reference,
        CASE WHEN best.rule IS NULL THEN NULL ELSE concat_ws(' ', best.rule, best.parameter) END);
    EXECUTE format('ANALYZE %I', map);
    RETURN coalesce(concat_ws(' ', best.rule, best.parameter), '');
END
$$;
COMMENT ON FUNCTION @extschema@.resolve_reference(text, text, text, float8) IS
    'Internal: picks the rule for one reference and maps its distinct raw values to targets, during reconcile_ids';

-- Stages the references of one entity for reconcile_ids: the distinct
-- values of each with their row counts, in nz_refs_<entity>_<reference>,
-- from one scan of the source.
CREATE FUNCTION @extschema@.stage_entity(entity text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref record;
    sets text;
    grouping_cols text;
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT string_agg(format('(s.%I)', k.source_column), ', ' ORDER BY k.reference),
           string_agg(format('GROUPING(s.%1$I) AS %2$I, s.%1$I', k.source_column, 'g_' || k.reference), ', '
                      ORDER BY k.reference)
      INTO sets, grouping_cols
      FROM normalize.reference_kinds AS k WHERE k.entity = stage_entity.entity;
    IF sets IS NULL THEN
        RETURN;
    END IF;
    PERFORM normalize.drop_temp_table('nz_stage');
    EXECUTE format('CREATE TEMP TABLE nz_stage ON COMMIT DROP AS
                    SELECT %s, count(*) AS rows FROM (%s) AS s GROUP BY GROUPING SETS (%s)',
                   grouping_cols, normalize.source_query(entity), sets);
    FOR ref IN SELECT * FROM normalize.reference_kinds AS k WHERE k.entity = stage_entity.entity LOOP
        PERFORM normalize.drop_temp_table(format('nz_refs_%s_%s', entity, ref.reference));
        EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT %I AS raw, rows FROM nz_stage WHERE %I = 0',
                       format('nz_refs_%s_%s', entity, ref.reference), ref.source_column, 'g_' || ref.reference);
        EXECUTE format('ANALYZE %I', format('nz_refs_%s_%s', entity, ref.reference));
    END LOOP;
    DROP TABLE nz_stage;
END
$$;
COMMENT ON FUNCTION @extschema@.stage_entity(text) IS
    'Internal: stages the distinct values of an entity''s references, during reconcile_ids';

-- Gives a freshly loaded normalized table its primary key. Keys that occur
-- more than once (rare) are settled first: rows before a key's latest
-- snapshot date are superseded, and several rows on that date collide and
-- are all quarantined. Trying the key first keeps the common case at one
-- index build.
CREATE FUNCTION @extschema@.settle_keys(entity text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    tbl text;
    key text;
    removed_rows bigint;
BEGIN
    PERFORM normalize.require_entity(entity);
    SELECT * INTO e FROM normalize.entity_kinds AS k WHERE k.entity = settle_keys.entity;
    tbl := CASE entity WHEN 'customers' THEN 'accounts' ELSE entity END;
    key := e.kind || '_key';
    BEGIN
        EXECUTE format('ALTER TABLE normalize.%I ADD CONSTRAINT %I PRIMARY KEY (%I)', tbl, tbl || '_pkey', key);
        RETURN 0;
    EXCEPTION WHEN unique_violation THEN
        NULL;  -- duplicates: settle them below, then add the key
    END;
    EXECUTE format($q$
        WITH dup AS (
            SELECT t.%2$I AS k, max(t.snapshot_date) AS latest
              FROM normalize.%1$I AS t GROUP BY t.%2$I HAVING count(*) > 1),
        rows AS (
            SELECT t.ctid AS row_id, t.%2$I AS k, t.source_id, t.snapshot_date, d.latest,
                   count(*) OVER (PARTITION BY t.%2$I, t.snapshot_date) AS same_day
              FROM normalize.%1$I AS t JOIN dup AS d ON d.k = t.%2$I),
        fate AS (
            SELECT r.row_id, r.k, r.source_id,
                   CASE WHEN r.latest IS NOT NULL AND r.snapshot_date IS DISTINCT FROM r.latest THEN 'superseded'
                        WHEN r.same_day > 1 THEN 'key collision' END AS fate
              FROM rows AS r),
        removed AS (
            DELETE FROM normalize.%1$I AS t USING fate AS f
             WHERE t.ctid = f.row_id AND f.fate IS NOT NULL
            RETURNING f.k, f.source_id, f.fate),
        unlinked AS (
            INSERT INTO normalize.unlinked_rows (entity, source_id, entity_key, status)
            SELECT %3$L, r.source_id, r.k, CASE WHEN r.fate = 'superseded' THEN 'superseded' ELSE 'quarantined' END
              FROM removed AS r)
        INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
        SELECT %3$L, r.source_id, NULL, r.source_id, r.fate, false FROM removed AS r WHERE r.fate = 'key collision'
        $q$, tbl, key, entity);
    SELECT count(*) INTO removed_rows FROM normalize.unlinked_rows AS u
     WHERE u.entity = settle_keys.entity AND (u.status = 'superseded' OR EXISTS (
           SELECT 1 FROM normalize.quarantine AS q
            WHERE q.entity = u.entity AND q.source_id = u.source_id AND q.reason = 'key collision'));
    EXECUTE format('ALTER TABLE normalize.%I ADD CONSTRAINT %I PRIMARY KEY (%I)', tbl, tbl || '_pkey', key);
    RETURN removed_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.settle_keys(text) IS
    'Internal: adds a normalized table''s primary key, first settling duplicate keys (superseded snapshots, collisions), during reconcile_ids';

CREATE FUNCTION @extschema@.reconcile_ids(orphan_policy text DEFAULT 'quarantine', min_share float8 DEFAULT 0.5)
RETURNS TABLE (entity text, source_rows bigint, linked bigint, assigned bigint, quarantined bigint,
               dropped bigint, superseded bigint, account_rule text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- A batch over whole tables: hash the keys and build the primary keys in
-- memory rather than in temp files.
SET work_mem = '256MB'
SET maintenance_work_mem = '512MB'
AS $$
DECLARE
    e record;
    cols text;
    src_cols text;
    rules jsonb := '{}';
    n_accounts bigint;
    step_started timestamptz := clock_timestamp();
    rows_sql text;
    n_loaded bigint;
    unresolved text := CASE orphan_policy WHEN 'drop' THEN 'dropped' ELSE 'quarantined' END;
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
    CREATE TEMP TABLE nz_rules (LIKE normalize.reconciliation_rules) ON COMMIT DROP;
    PERFORM normalize.drop_temp_table('nz_loaded');
    CREATE TEMP TABLE nz_loaded (entity text, rows bigint) ON COMMIT DROP;

    -- The tables are rebuilt from empty. Keys and foreign keys are dropped
    -- and re-added around the load: one sort per primary key and one
    -- validating join per foreign key, instead of work for every row.
    ALTER TABLE normalize.account_map DROP CONSTRAINT account_map_account_key_fkey;
    ALTER TABLE normalize.locations DROP CONSTRAINT locations_account_fk;
    ALTER TABLE normalize.subscriptions DROP CONSTRAINT subscriptions_account_fk;
    ALTER TABLE normalize.devices DROP CONSTRAINT devices_account_fk, DROP CONSTRAINT devices_location_fk;
    ALTER TABLE normalize.users DROP CONSTRAINT users_account_fk;
    ALTER TABLE normalize.campaigns DROP CONSTRAINT campaigns_account_fk;
    ALTER TABLE normalize.accounts DROP CONSTRAINT accounts_pkey;
    ALTER TABLE normalize.locations DROP CONSTRAINT locations_pkey;
    ALTER TABLE normalize.subscriptions DROP CONSTRAINT subscriptions_pkey;
    ALTER TABLE normalize.devices DROP CONSTRAINT devices_pkey;
    ALTER TABLE normalize.users DROP CONSTRAINT users_pkey;
    ALTER TABLE normalize.campaigns DROP CONSTRAINT campaigns_pkey;
    ALTER TABLE normalize.account_map DROP CONSTRAINT account_map_pkey;
    TRUNCATE normalize.account_map, normalize.devices, normalize.locations, normalize.subscriptions,
             normalize.users, normalize.campaigns, normalize.accounts, normalize.unlinked_rows,
             normalize.quarantine, normalize.key_collisions, normalize.reconciliation_rules;
    -- What was built on the previous tables describes entities and repaired
    -- values that are gone: keeping it would mix two generations.
    IF EXISTS (SELECT 1 FROM normalize.account_snapshots) OR EXISTS (SELECT 1 FROM normalize.device_days)
       OR EXISTS (SELECT 1 FROM normalize.user_weeks) OR EXISTS (SELECT 1 FROM normalize.repair_summary) THEN
        RAISE NOTICE 'the repaired values and the history of the previous reconciliation were cleared'
            USING HINT = 'Run normalize.repair_values() and normalize.build_history() again.';
    END IF;
    TRUNCATE normalize.repair_summary, normalize.account_snapshots, normalize.device_days, normalize.user_weeks,
             normalize.lifecycle_events, normalize.history_info, normalize.customer_feature_store,
             normalize.device_feature_store, normalize.user_feature_store, normalize.churn_samples,
             normalize.clv_samples, normalize.device_health_samples, normalize.training_info;

    FOR e IN SELECT * FROM normalize.entity_kinds ORDER BY position LOOP
        PERFORM normalize.stage_entity(e.entity);
        SELECT string_agg(quote_ident(c.column_name), ', ' ORDER BY c.position),
               string_agg('r.' || quote_ident(c.column_name), ', ' ORDER BY c.position)
          INTO cols, src_cols
          FROM normalize.source_contract AS c WHERE c.entity = e.entity AND c.type_class <> 'id';

        IF e.entity = 'customers' THEN
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
                $q$, normalize.source_query('customers'), cols, src_cols);
            SELECT count(*) INTO n_loaded FROM normalize.accounts;
            n_loaded := n_loaded - normalize.settle_keys('customers');
            INSERT INTO nz_loaded VALUES ('customers', n_loaded);
            SELECT count(*) INTO n_accounts FROM normalize.accounts;
            IF n_accounts = 0 THEN
                RAISE EXCEPTION 'the customers source has no usable rows'
                    USING ERRCODE = 'no_data_found',
                          DETAIL = 'Every account hangs off a customer; without one nothing can be linked.',
                          HINT = 'Check that the registered customers relation holds rows with customer IDs.';
            END IF;
            PERFORM normalize.drop_temp_table('nz_targets_customers');
            CREATE TEMP TABLE nz_targets_customers ON COMMIT DROP AS
                SELECT a.source_id AS raw, a.account_key AS target_key,
                       normalize.normalize_id(a.source_id) AS norm, normalize.id_number(a.source_id) AS num
                  FROM normalize.accounts AS a;
            PERFORM normalize.drop_temp_table('nz_accounts_ordered');
            CREATE TEMP TABLE nz_accounts_ordered ON COMMIT DROP AS
                SELECT (row_number() OVER (ORDER BY a.account_key) - 1)::bigint AS idx, a.account_key
                  FROM normalize.accounts AS a;
            CREATE UNIQUE INDEX ON nz_accounts_ordered (idx);
            ANALYZE nz_targets_customers;
            ANALYZE nz_accounts_ordered;
            RAISE DEBUG 'reconcile_ids: customers in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);
            CONTINUE;
        END IF;

        -- The account reference: rule, value map.
        PERFORM normalize.drop_temp_table('nz_cand_refs');
        EXECUTE format('CREATE TEMP TABLE nz_cand_refs ON COMMIT DROP AS SELECT * FROM %I',
                       format('nz_refs_%s_account', e.entity));
        rules := rules || jsonb_build_object(e.entity,
                                             normalize.resolve_reference(e.entity, 'account', 'nz_targets_customers', min_share));
        DROP TABLE nz_cand_refs;

        IF e.entity = 'devices' THEN
            PERFORM normalize.drop_temp_table('nz_targets_locations');
            CREATE TEMP TABLE nz_targets_locations ON COMMIT DROP AS
                SELECT l.source_id AS raw, l.location_key AS target_key, l.account_key,
                       normalize.normalize_id(l.source_id) AS norm, normalize.id_number(l.source_id) AS num
                  FROM normalize.locations AS l;
            PERFORM normalize.drop_temp_table('nz_locations_per_account');
            -- Only the assign policy draws from it; otherwise it stays empty.
            CREATE TEMP TABLE nz_locations_per_account ON COMMIT DROP AS
                SELECT t.account_key, t.target_key,
                       (row_number() OVER (PARTITION BY t.account_key ORDER BY t.target_key) - 1)::bigint AS idx,
                       count(*) OVER (PARTITION BY t.account_key) AS n
                  FROM nz_targets_locations AS t
                 WHERE orphan_policy = 'assign';
            CREATE INDEX ON nz_locations_per_account (account_key, idx);
            ANALYZE nz_targets_locations;
            ANALYZE nz_locations_per_account;
            PERFORM normalize.drop_temp_table('nz_cand_refs');
            CREATE TEMP TABLE nz_cand_refs ON COMMIT DROP AS SELECT * FROM nz_refs_devices_location;
            rules := rules || jsonb_build_object('devices.location',
                                                 normalize.resolve_reference('devices', 'location', 'nz_targets_locations', min_share));
            DROP TABLE nz_cand_refs;
            -- The location's account travels with the map, so each device
            -- row needs one join for its location, not two.
            CREATE TEMP TABLE nz_map_devices_location_acct ON COMMIT DROP AS
                SELECT m.*, t.account_key AS target_account
                  FROM nz_map_devices_location AS m
                  LEFT JOIN nz_targets_locations AS t ON t.target_key = m.target_key;
            DROP TABLE nz_map_devices_location;
            ALTER TABLE nz_map_devices_location_acct RENAME TO nz_map_devices_location;
            ANALYZE nz_map_devices_location;
        END IF;

        -- Every row's fate, account and (for devices) location, as a query
        -- run twice: once streaming the linked rows into the normalized
        -- table, once collecting the few others for the id map and the
        -- quarantine. Cheaper than materializing every row once.
        rows_sql := format($q$
            WITH r0 AS (
                SELECT s.*, k.entity_key, CASE WHEN k.entity_key IS NULL THEN 'missing id' END AS fate,
                       m.target_key AS linked_key, m.rule AS linked_rule,
                       CASE WHEN s.account_id IS NULL THEN 'missing account reference' ELSE m.reason END AS reason
                  FROM (%2$s) AS s
                 CROSS JOIN LATERAL (SELECT normalize.stable_key(%3$L, s.%4$I) AS entity_key) AS k
                  LEFT JOIN %6$I AS m ON m.raw = s.account_id),
            r1 AS (
                SELECT r0.*,
                       CASE WHEN r0.linked_key IS NOT NULL THEN r0.linked_key
                            WHEN r0.fate IS NULL AND %7$L = 'assign' THEN
                                (SELECT a.account_key FROM nz_accounts_ordered AS a
                                  WHERE a.idx = floor(normalize.random_uniform_for(r0.entity_key, 0, %8$s, 0, %3$L,
                                                                                   'assign account'))::bigint)
                       END AS account_key
                  FROM r0),
            r AS (
                SELECT r1.* %9$s FROM r1 %10$s)
            $q$,
            NULL, normalize.source_query(e.entity), e.kind, e.id_column,
            NULL, format('nz_map_%s_account', e.entity),
            orphan_policy, n_accounts,
            CASE WHEN e.entity = 'devices' THEN format($l$,
                   CASE WHEN lm.target_account = r1.account_key THEN lm.target_key
                        WHEN r1.fate IS NULL AND r1.account_key IS NOT NULL AND %1$L = 'assign' THEN
                            (SELECT p.target_key FROM nz_locations_per_account AS p
                              WHERE p.account_key = r1.account_key
                                AND p.idx = floor(normalize.random_uniform_for(r1.entity_key, 0, p.n, 0, 'device',
                                                                               'assign location'))::bigint)
                   END AS location_key,
                   CASE WHEN lm.target_account = r1.account_key THEN lm.rule END AS location_rule,
                   CASE WHEN lm.target_key IS NOT NULL AND lm.target_account IS DISTINCT FROM r1.account_key
                        THEN 'location of another account'
                        WHEN r1.location_id IS NOT NULL AND lm.target_key IS NULL THEN coalesce(lm.reason, 'no matching location')
                   END AS location_reason$l$, orphan_policy) ELSE '' END,
            CASE WHEN e.entity = 'devices' THEN $l$
                   LEFT JOIN nz_map_devices_location AS lm ON lm.raw = r1.location_id$l$ ELSE '' END);

        -- (The filter names entity_key, not fate: the planner guesses 0.5%
        -- for "CASE ... IS NULL" and would hash the wrong side of the joins.)
        EXECUTE rows_sql || format($q$
            INSERT INTO normalize.%1$I (%2$I, account_key, source_id, source_account_ref, account_rule,
                                       account_assigned, account_issue, %3$s %4$s)
            SELECT r.entity_key, r.account_key, r.%5$I, r.account_id,
                   coalesce(r.linked_rule, 'assigned'), r.linked_key IS NULL, r.reason, %6$s %7$s
              FROM r WHERE r.entity_key IS NOT NULL AND r.account_key IS NOT NULL
            $q$,
            e.entity, e.kind || '_key', cols,
            CASE WHEN e.entity = 'devices'
                 THEN ', location_key, source_location_ref, location_rule, location_assigned, location_issue' ELSE '' END,
            e.id_column, src_cols,
            CASE WHEN e.entity = 'devices'
                 THEN $l$, r.location_key, r.location_id, coalesce(r.location_rule, CASE WHEN r.location_key IS NOT NULL THEN 'assigned' END),
                        r.location_key IS NOT NULL AND r.location_rule IS NULL, r.location_reason$l$ ELSE '' END);
        GET DIAGNOSTICS n_loaded = ROW_COUNT;

        -- The rows that did not load: a second, narrow pass over the source.
        -- (Rows that loaded with an issue, such as an assigned account, carry
        -- it in account_issue / location_issue.)
        EXECUTE format($q$
            WITH u AS MATERIALIZED (
                SELECT s.%1$I AS source_id, k.entity_key, s.account_id,
                       CASE WHEN k.entity_key IS NULL THEN 'missing id' END AS fate,
                       CASE WHEN s.account_id IS NULL THEN 'missing account reference' ELSE m.reason END AS reason
                  FROM (%2$s) AS s
                 CROSS JOIN LATERAL (SELECT normalize.stable_key(%3$L, s.%1$I) AS entity_key) AS k
                  LEFT JOIN %4$I AS m ON m.raw = s.account_id
                 WHERE k.entity_key IS NULL OR (%5$L <> 'assign' AND m.target_key IS NULL)),
            ids AS (
                INSERT INTO normalize.unlinked_rows (entity, source_id, entity_key, status)
                SELECT %6$L, u.source_id, u.entity_key,
                       CASE WHEN u.fate IS NOT NULL THEN 'quarantined' ELSE %7$L END
                  FROM u)
            INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
            SELECT %6$L, u.source_id, NULL, u.source_id, u.fate, false FROM u WHERE u.fate IS NOT NULL
            UNION ALL
            SELECT %6$L, u.source_id, 'account', u.account_id, u.reason, false
              FROM u WHERE u.fate IS NULL AND %5$L <> 'drop'
            $q$,
            e.id_column, normalize.source_query(e.entity), e.kind, format('nz_map_%s_account', e.entity),
            orphan_policy, e.entity, unresolved);
        n_loaded := n_loaded - normalize.settle_keys(e.entity);
        INSERT INTO nz_loaded VALUES (e.entity, n_loaded);
        -- Links kept with an issue, recorded once the rows are settled.
        EXECUTE format($q$
            INSERT INTO normalize.quarantine (entity, source_id, reference, raw_value, reason, kept)
            SELECT %1$L, t.source_id, 'account', t.source_account_ref, t.account_issue, true
              FROM normalize.%1$I AS t WHERE t.account_issue IS NOT NULL
            %2$s
            $q$, e.entity,
            CASE WHEN e.entity = 'devices' THEN $l$
            UNION ALL
            SELECT 'devices', t.source_id, 'location', t.source_location_ref, t.location_issue, true
              FROM normalize.devices AS t WHERE t.location_issue IS NOT NULL$l$ ELSE '' END);
        RAISE DEBUG 'reconcile_ids: % in % ms', e.entity, round(extract(epoch FROM clock_timestamp() - step_started) * 1000);
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
    RAISE DEBUG 'reconcile_ids: keys in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);

    -- The master account map: every customer's own ID, and every raw
    -- reference value a rule or the crosswalk linked (assigned orphans are
    -- not a meaning of their value).
    INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
    SELECT 'customers', a.source_id, a.account_key, 'primary', 1 FROM normalize.accounts AS a;
    FOR e IN SELECT k.entity FROM normalize.reference_kinds AS k
               JOIN normalize.entity_kinds AS ek USING (entity)
              WHERE k.reference = 'account' ORDER BY ek.position LOOP
        EXECUTE format('INSERT INTO normalize.account_map (entity, raw_value, account_key, rule, rows)
                        SELECT %L, m.raw, m.target_key, m.rule, m.rows FROM %I AS m WHERE m.target_key IS NOT NULL',
                       e.entity, format('nz_map_%s_account', e.entity));
    END LOOP;
    ALTER TABLE normalize.account_map ADD CONSTRAINT account_map_pkey PRIMARY KEY (entity, raw_value),
        ADD CONSTRAINT account_map_account_key_fkey FOREIGN KEY (account_key) REFERENCES normalize.accounts;

    INSERT INTO normalize.key_collisions (entity, entity_key, source_ids)
    SELECT u.entity, u.entity_key, array_agg(u.source_id ORDER BY u.source_id)
      FROM normalize.unlinked_rows AS u
     WHERE u.status = 'quarantined'
       AND EXISTS (SELECT 1 FROM normalize.quarantine AS q
                    WHERE q.entity = u.entity AND q.source_id = u.source_id AND q.reason = 'key collision')
     GROUP BY u.entity, u.entity_key;
    INSERT INTO normalize.reconciliation_rules SELECT * FROM nz_rules;
    RAISE DEBUG 'reconcile_ids: maps in % ms', round(extract(epoch FROM clock_timestamp() - step_started) * 1000);

    -- Counted from what was written, not by rescanning the tables: loaded
    -- rows, the assigned ones among them (their issue is in the
    -- quarantine, kept), and the unlinked rows.
    RETURN QUERY
    SELECT ek.entity,
           l.rows + coalesce(u.n, 0),
           l.rows - coalesce(q.assigned, 0),
           coalesce(q.assigned, 0),
           coalesce(u.quarantined, 0),
           coalesce(u.dropped, 0),
           coalesce(u.superseded, 0),
           CASE WHEN ek.entity = 'customers' THEN 'primary' ELSE rules ->> ek.entity END
      FROM normalize.entity_kinds AS ek
      JOIN nz_loaded AS l ON l.entity = ek.entity
      LEFT JOIN (SELECT x.entity, count(*) AS n,
                        count(*) FILTER (WHERE x.status = 'quarantined') AS quarantined,
                        count(*) FILTER (WHERE x.status = 'dropped') AS dropped,
                        count(*) FILTER (WHERE x.status = 'superseded') AS superseded
                   FROM normalize.unlinked_rows AS x GROUP BY x.entity) AS u ON u.entity = ek.entity
      LEFT JOIN (SELECT y.entity, count(*) AS assigned FROM normalize.quarantine AS y
                  WHERE y.kept AND y.reference = 'account' GROUP BY y.entity) AS q ON q.entity = ek.entity
     ORDER BY ek.position;
END
$$;
COMMENT ON FUNCTION @extschema@.reconcile_ids(text, float8) IS
    'Links every source row to its account with the best discovered rule (crosswalk first), and rebuilds the normalized tables, the account map and the id map; orphans are quarantined, assigned or dropped';
-- Phase 1 of the plan: verify that every join works, and measure the
-- sources as the plan's "Current State Assessment" does.

CREATE FUNCTION @extschema@.validate_relationships()
RETURNS TABLE (check_name text, total bigint, linked bigint, orphaned bigint, status text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- Every foreign key of the normalized tables, checked by a join rather
    -- than trusted to the constraint, so a disabled or dropped key shows.
    SELECT v.check_name, v.total, v.linked, v.orphaned, v.status FROM (
    SELECT c.ord, c.check_name, c.total, c.linked, c.total - c.linked AS orphaned,
           CASE WHEN c.linked = c.total THEN 'pass' ELSE 'fail' END AS status
      FROM (
        SELECT 'subscriptions.account_key -> accounts' AS check_name, 1 AS ord,
               count(*) AS total, count(a.account_key) AS linked
          FROM normalize.subscriptions AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'devices.account_key -> accounts', 2, count(*), count(a.account_key)
          FROM normalize.devices AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'devices.location_key -> locations', 3, count(x.location_key), count(l.location_key)
          FROM normalize.devices AS x LEFT JOIN normalize.locations AS l USING (location_key)
        UNION ALL
        SELECT 'devices.location_key -> a location of the device''s own account', 4,
               count(x.location_key), count(l.location_key)
          FROM normalize.devices AS x
          LEFT JOIN normalize.locations AS l ON l.location_key = x.location_key AND l.account_key = x.account_key
        UNION ALL
        SELECT 'users.account_key -> accounts', 5, count(*), count(a.account_key)
          FROM normalize.users AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'locations.account_key -> accounts', 6, count(*), count(a.account_key)
          FROM normalize.locations AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'campaigns.account_key -> accounts', 7, count(*), count(a.account_key)
          FROM normalize.campaigns AS x LEFT JOIN normalize.accounts AS a USING (account_key)
        UNION ALL
        SELECT 'account_map.account_key -> accounts', 8, count(*), count(a.account_key)
          FROM normalize.account_map AS x LEFT JOIN normalize.accounts AS a USING (account_key)
      ) AS c
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
    'One row per relationship of the normalized tables (total, linked, orphaned, pass/fail), and per source how many rows reached them';

CREATE FUNCTION @extschema@.assess_sources()
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
END
$$;
COMMENT ON FUNCTION @extschema@.assess_sources() IS
    'The "before" picture of the registered sources: counts, history depth, ID types, how references join as they stand, and the synthetic values the plan lists';
-- Phase 2 of the plan: statistically valid values. Seeded generators for
-- every family the plan's appendix names, the profiles table that holds the
-- appendix's distributions as data, and the functions that draw from them.
--
-- Every generator is IMMUTABLE: its output is a function of its arguments
-- alone (see "Random streams" in README.md). All are STRICT: a NULL argument
-- gives NULL (or, for the set-returning forms, no rows).

-- Families -----------------------------------------------------------------

CREATE FUNCTION @extschema@.family_parameters(family text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'nz_family_parameters'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.family_parameters(text) IS
    'The names of the parameters a distribution family takes, in the order params[] gives them';

CREATE FUNCTION @extschema@.check_distribution(
    family text,
    params float8[],
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity')
RETURNS boolean
AS 'MODULE_PATHNAME', 'nz_check_distribution'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.check_distribution(text, float8[], float8, float8) IS
    'True if the generators accept this family, parameters and range; otherwise raises the error they would raise';

CREATE FUNCTION @extschema@.distribution_cdf(
    x float8,
    family text,
    params float8[],
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_distribution_cdf'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.distribution_cdf(float8, text, float8[], float8, float8) IS
    'P(X <= x) for the family restricted to [lower, upper], computed with Boost.Math: the distribution the generators draw from';

-- Generators ---------------------------------------------------------------

CREATE FUNCTION @extschema@.random_normal(
    n bigint,
    mean float8 DEFAULT 0,
    sd float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_normal'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_normal(bigint, float8, float8, bigint, float8, float8) IS
    'n values of the normal distribution with the given mean and standard deviation, truncated to [lower, upper] (never clamped), from the stream of seed';

CREATE FUNCTION @extschema@.random_normal_for(
    key text,
    mean float8 DEFAULT 0,
    sd float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_normal_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_normal_for(text, float8, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the normal distribution with the given mean and standard deviation, truncated to [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_lognormal(
    n bigint,
    mu float8 DEFAULT 0,
    sigma float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_lognormal'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_lognormal(bigint, float8, float8, bigint, float8, float8) IS
    'n values of the log-normal distribution: exp of a normal with mean mu and standard deviation sigma, truncated to [lower, upper] (never clamped), from the stream of seed';

CREATE FUNCTION @extschema@.random_lognormal_for(
    key text,
    mu float8 DEFAULT 0,
    sigma float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_lognormal_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_lognormal_for(text, float8, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the log-normal distribution: exp of a normal with mean mu and standard deviation sigma, truncated to [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_beta(
    n bigint,
    alpha float8,
    beta float8,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 1)
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_beta'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_beta(bigint, float8, float8, bigint, float8, float8) IS
    'n values of the beta(alpha, beta) distribution on [0, 1], mapped linearly onto [lower, upper], from the stream of seed';

CREATE FUNCTION @extschema@.random_beta_for(
    key text,
    alpha float8,
    beta float8,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 1,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_beta_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_beta_for(text, float8, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the beta(alpha, beta) distribution on [0, 1], mapped linearly onto [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_gamma(
    n bigint,
    shape float8,
    scale float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_gamma'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_gamma(bigint, float8, float8, bigint, float8, float8) IS
    'n values of the gamma distribution with the given shape and scale (mean shape * scale), truncated to [lower, upper] (never clamped), from the stream of seed';

CREATE FUNCTION @extschema@.random_gamma_for(
    key text,
    shape float8,
    scale float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_gamma_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_gamma_for(text, float8, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the gamma distribution with the given shape and scale (mean shape * scale), truncated to [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_exponential(
    n bigint,
    rate float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_exponential'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_exponential(bigint, float8, bigint, float8, float8) IS
    'n values of the exponential distribution with the given rate (mean 1 / rate), truncated to [lower, upper] (never clamped), from the stream of seed';

CREATE FUNCTION @extschema@.random_exponential_for(
    key text,
    rate float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_exponential_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_exponential_for(text, float8, bigint, float8, float8, text, text) IS
    'The value for one key of the exponential distribution with the given rate (mean 1 / rate), truncated to [lower, upper]: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_uniform(
    n bigint,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 1,
    seed bigint DEFAULT 42)
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_uniform'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_uniform(bigint, float8, float8, bigint) IS
    'n values uniform on [lower, upper), from the stream of seed';

CREATE FUNCTION @extschema@.random_uniform_for(
    key text,
    lower float8 DEFAULT 0,
    upper float8 DEFAULT 1,
    seed bigint DEFAULT 42,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_uniform_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_uniform_for(text, float8, float8, bigint, text, text) IS
    'The value for one key of the uniform distribution on [lower, upper): the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_poisson(
    n bigint,
    lambda float8,
    seed bigint DEFAULT 42)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'nz_random_poisson'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_poisson(bigint, float8, bigint) IS
    'n counts from the Poisson distribution with mean lambda, from the stream of seed';

CREATE FUNCTION @extschema@.random_poisson_for(
    key text,
    lambda float8,
    seed bigint DEFAULT 42,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_random_poisson_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_poisson_for(text, float8, bigint, text, text) IS
    'The Poisson count with mean lambda for one key: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_bernoulli(
    n bigint,
    p float8,
    seed bigint DEFAULT 42)
RETURNS SETOF boolean
AS 'MODULE_PATHNAME', 'nz_random_bernoulli'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_bernoulli(bigint, float8, bigint) IS
    'n Bernoulli trials, each true with probability p, from the stream of seed';

CREATE FUNCTION @extschema@.random_bernoulli_for(
    key text,
    p float8,
    seed bigint DEFAULT 42,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS boolean
AS 'MODULE_PATHNAME', 'nz_random_bernoulli_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_bernoulli_for(text, float8, bigint, text, text) IS
    'The Bernoulli trial with probability p for one key: the first draw of stream (seed, kind, key, purpose)';

CREATE FUNCTION @extschema@.random_sample(
    family text,
    params float8[],
    n bigint,
    seed bigint DEFAULT 42,
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity')
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_random_sample'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_sample(text, float8[], bigint, bigint, float8, float8) IS
    'n values of the named family with parameters params (see family_parameters), restricted to [lower, upper]; the same values as the family''s own function';

CREATE FUNCTION @extschema@.random_sample_for(
    key text,
    family text,
    params float8[],
    seed bigint DEFAULT 42,
    lower float8 DEFAULT '-infinity',
    upper float8 DEFAULT 'infinity',
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_random_sample_for'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.random_sample_for(text, text, float8[], bigint, float8, float8, text, text) IS
    'The value for one key of the named family: the first draw of stream (seed, kind, key, purpose)';

-- Profiles: the plan's appendix as data ----------------------------------

-- Turns a profile's jsonb parameters into the float8[] the generators take,
-- in the family's order, and says exactly what is wrong when it cannot.
CREATE FUNCTION @extschema@.profile_params(family text, params jsonb)
RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    names text[] := normalize.family_parameters(family);
    unknown text;
    name text;
    result float8[] := '{}';
BEGIN
    IF jsonb_typeof(params) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object, got %', params
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Give the %s parameters by name, such as %s.', family,
                                (SELECT jsonb_object_agg(n, 1) FROM unnest(names) AS n));
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO unknown
      FROM jsonb_object_keys(params) AS k
     WHERE k <> ALL (names);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'params has keys that the % family does not take: %', family, unknown
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The %s family takes: %s.', family,
                                coalesce(array_to_string(names, ', '), 'no parameters'));
    END IF;
    FOREACH name IN ARRAY names LOOP
        IF jsonb_typeof(params -> name) IS DISTINCT FROM 'number' THEN
            RAISE EXCEPTION 'params must give % a number, got %', name,
                    coalesce((params -> name)::text, 'nothing')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('The %s family takes: %s.', family,
                                    array_to_string(names, ', '));
        END IF;
        result := result || (params ->> name)::float8;
    END LOOP;
    RETURN result;
END
$$;
COMMENT ON FUNCTION @extschema@.profile_params(text, jsonb) IS
    'The float8[] of a profile''s jsonb parameters in the family''s order; raises a clear error for missing, extra or non-numeric keys';

CREATE TABLE @extschema@.distribution_profiles (
    name        text PRIMARY KEY,
    family      text NOT NULL,
    params      jsonb NOT NULL,
    lower       float8,
    upper       float8,
    description text NOT NULL DEFAULT '',
    shipped     boolean NOT NULL DEFAULT false,
    CONSTRAINT distribution_profiles_valid CHECK (
        @extschema@.check_distribution(
            family, @extschema@.profile_params(family, params),
            coalesce(lower, '-infinity'), coalesce(upper, 'infinity')))
);
COMMENT ON TABLE @extschema@.distribution_profiles IS
    'Named distributions the pipeline draws from: the plan''s appendix as shipped, editable by users';
COMMENT ON COLUMN @extschema@.distribution_profiles.params IS
    'Parameters by name, as family_parameters(family) lists them, such as {"mu": 9.5, "sigma": 0.8}';
COMMENT ON COLUMN @extschema@.distribution_profiles.lower IS
    'Truncation bound (beta: the value 0 maps to; uniform: the support); NULL for none';
COMMENT ON COLUMN @extschema@.distribution_profiles.upper IS
    'Truncation bound (beta: the value 1 maps to; uniform: the support); NULL for none';
COMMENT ON COLUMN @extschema@.distribution_profiles.shipped IS
    'True for rows as the extension installed them; any edit makes the row the user''s';

INSERT INTO @extschema@.distribution_profiles
    (name, family, params, lower, upper, description, shipped)
VALUES
    ('mrr_tier_1', 'lognormal', '{"mu": 9.5, "sigma": 0.8}', 5000, 50000,
     'Monthly recurring revenue of a Tier 1 customer, USD', true),
    ('mrr_tier_2', 'lognormal', '{"mu": 7.8, "sigma": 0.6}', 1000, 5000,
     'Monthly recurring revenue of a Tier 2 customer, USD', true),
    ('mrr_tier_3', 'lognormal', '{"mu": 6.2, "sigma": 0.5}', 200, 1000,
     'Monthly recurring revenue of a Tier 3 customer, USD', true),
    ('mrr_tier_4', 'lognormal', '{"mu": 4.5, "sigma": 0.4}', 50, 200,
     'Monthly recurring revenue of a Tier 4 customer, USD', true),
    ('device_health', 'normal', '{"mean": 75, "sd": 15}', 0, 100,
     'Health score of a device whose status is unknown, 0-100', true),
    ('health_operational', 'beta', '{"alpha": 4, "beta": 1.5}', 60, 95,
     'Health score of an operational device, 0-100', true),
    ('health_maintenance', 'normal', '{"mean": 50, "sd": 5}', 40, 60,
     'Health score of a device in maintenance, 0-100', true),
    ('health_critical', 'exponential', '{"rate": 0.1}', 10, 40,
     'Health score of a critical device, 0-100', true),
    ('device_uptime', 'beta', '{"alpha": 9, "beta": 1}', 0, 100,
     'Uptime of a device, percent', true),
    ('engagement_admin', 'beta', '{"alpha": 4, "beta": 1.2}', 70, 95,
     'Engagement score of an admin user, 0-100', true),
    ('engagement_manager', 'normal', '{"mean": 65, "sd": 10}', 50, 80,
     'Engagement score of a manager, 0-100', true),
    ('engagement_standard', 'gamma', '{"shape": 2, "scale": 15}', 20, 70,
     'Engagement score of a standard user, 0-100', true),
    ('churn_annual_tier_1', 'uniform', '{}', 0.05, 0.10,
     'Annual churn rate of Tier 1 customers', true),
    ('churn_annual_tier_2', 'uniform', '{}', 0.10, 0.15,
     'Annual churn rate of Tier 2 customers', true),
    ('churn_annual_tier_3', 'uniform', '{}', 0.15, 0.25,
     'Annual churn rate of Tier 3 customers', true),
    ('churn_annual_tier_4', 'uniform', '{}', 0.25, 0.40,
     'Annual churn rate of Tier 4 customers', true);

-- A user's row (a new one, or an edited shipped one) is the user's from then
-- on. pg_dump keeps user rows only; on restore, CREATE EXTENSION inserts the
-- shipped rows first and the dump's user rows then replace them by name.
-- Shared by every table the extension ships rows in and users may edit
-- (profiles, tier mix). The trigger's argument names the key column.
CREATE FUNCTION @extschema@.mark_user_rows()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('DELETE FROM %I.%I WHERE %I = ($1).%I AND shipped',
                       TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[0])
          USING NEW;
    END IF;
    NEW.shipped := false;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.mark_user_rows() IS
    'Trigger: rows written by users are theirs, and replace a shipped row with the same key (the trigger argument names the key column)';

CREATE TRIGGER distribution_profiles_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.distribution_profiles
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('name');

SELECT pg_catalog.pg_extension_config_dump('@extschema@.distribution_profiles', 'WHERE NOT shipped');

CREATE FUNCTION @extschema@.sample_profile(profile text, n bigint, seed bigint DEFAULT 42)
RETURNS SETOF float8
AS 'MODULE_PATHNAME', 'nz_sample_profile'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.sample_profile(text, bigint, bigint) IS
    'n values from a named profile, from stream (seed, series, '''', profile): profiles sampled with one seed are independent';

CREATE FUNCTION @extschema@.draw(
    profile text,
    key text,
    seed bigint DEFAULT 42,
    kind text DEFAULT '',
    purpose text DEFAULT '')
RETURNS float8
AS 'MODULE_PATHNAME', 'nz_draw'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.draw(text, text, bigint, text, text) IS
    'The value of a named profile for one key: the first draw of stream (seed, kind, key, purpose), purpose defaulting to the profile''s name';
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
-- only its missing or out-of-range values are replaced.
CREATE FUNCTION @extschema@.column_finding(n bigint, n_null bigint, n_zero bigint, n_distinct bigint,
                                           categorical boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE
    WHEN n = 0 THEN NULL
    WHEN n_null = n THEN 'all missing'
    WHEN NOT categorical AND n_zero = n - n_null THEN 'all zero'
    WHEN n_distinct = 1 THEN 'constant'
    -- A continuous metric over many rows takes many values; a handful is a placeholder.
    WHEN NOT categorical AND n >= 50 AND n_distinct <= 5 THEN format('only %s distinct values', n_distinct)
END;
COMMENT ON FUNCTION @extschema@.column_finding(bigint, bigint, bigint, bigint, boolean) IS
    'Why a column is degenerate (all missing, all zero, constant, a handful of distinct values), or NULL';

-- The tier an amount of monthly revenue falls in, from the mrr_tier_<n>
-- profiles' lower bounds: Tier 1 from its lower bound up, ..., Tier 4 below.
CREATE FUNCTION @extschema@.tier_for_mrr(mrr numeric)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT 'Tier ' || substr(p.name, 10)
           FROM normalize.distribution_profiles AS p
          WHERE p.name ~ '^mrr_tier_[1-3]$' AND mrr >= p.lower
          ORDER BY p.name LIMIT 1),
        'Tier 4')
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
    -- tier's profile (generated). The tier follows from the revenue.
    SELECT count(*) AS n, count(*) FILTER (WHERE mrr_observed IS NULL) AS n_null,
           count(*) FILTER (WHERE mrr_observed = 0) AS n_zero, count(DISTINCT mrr_observed) AS n_distinct,
           avg(mrr_observed) AS mean
      INTO stats FROM normalize.accounts;
    finding := normalize.column_finding(stats.n, stats.n_null, stats.n_zero, stats.n_distinct, false);
    WITH paying AS (
        SELECT s.account_key, sum(s.mrr) AS mrr
          FROM normalize.subscriptions AS s
         WHERE s.mrr > 0 AND coalesce(s.status, 'active') NOT IN ('cancelled', 'canceled', 'churned', 'trial', 'inactive')
         GROUP BY s.account_key),
    mix AS (
        SELECT m.tier, sum(m.weight) OVER (ORDER BY m.position) / sum(m.weight) OVER () AS upto
          FROM normalize.tier_mix AS m),
    decided AS (
        SELECT a.account_key, p.mrr AS paying_mrr,
               CASE WHEN finding IS NULL AND a.mrr_observed >= 0 THEN 'observed'
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
             $p$CASE t.status WHEN 'operational' THEN 'health_operational' WHEN 'maintenance' THEN 'health_maintenance'
                              WHEN 'critical' THEN 'health_critical' ELSE 'device_health' END$p$,
             'drawn from the profile of the device''s status'),
            ('devices', 'uptime', 'device_key', 'device', $p$'device_uptime'$p$, 'drawn from device_uptime'),
            ('users', 'engagement_score', 'user_key', 'user',
             $p$CASE t.role WHEN 'admin' THEN 'engagement_admin' WHEN 'manager' THEN 'engagement_manager'
                            ELSE 'engagement_standard' END$p$,
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
-- Phase 3 of the plan: history. The account simulator (C++) as a
-- set-returning function, deterministic in (seed, account key), so it can be
-- called over a whole table or per row with CROSS JOIN LATERAL.

CREATE FUNCTION @extschema@.generate_history(
    account_key text,
    tier text,
    mrr float8,
    months integer DEFAULT 24,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    created_at date DEFAULT NULL,
    growth float8 DEFAULT 0.01,
    seasonality float8 DEFAULT 0.03)
RETURNS TABLE (account_key text, month date, tier text, mrr float8, seats integer, active_users integer,
               support_tickets integer, late_payments integer, failed_payments integer, status text,
               event text)
AS 'MODULE_PATHNAME', 'nz_generate_history'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.generate_history(text, text, float8, integer, date, bigint, date, float8, float8) IS
    'Monthly history of one account ending at as_of in its current tier and revenue (unless it churns): upgrades, downgrades, growth with seasonality, seats, active users, tickets, payments, and churn from the tier''s annual band moved by latent health';

-- The history tables. They hang off the normalized accounts by key; the
-- link is checked by validate_history() rather than declared, because
-- reconcile_ids rebuilds the accounts (and its keys) from scratch.
CREATE TABLE @extschema@.account_snapshots (
    account_key     varchar NOT NULL,
    month           date NOT NULL,
    tier            text NOT NULL,
    mrr             float8 NOT NULL,
    seats           integer NOT NULL,
    active_users    integer NOT NULL,
    support_tickets integer NOT NULL,
    late_payments   integer NOT NULL,
    failed_payments integer NOT NULL,
    status          text NOT NULL CHECK (status IN ('active', 'churned')),
    event           text,
    PRIMARY KEY (account_key, month)
);
COMMENT ON TABLE @extschema@.account_snapshots IS
    'Simulated monthly snapshots of every account (generated values), from build_history()';

CREATE TABLE @extschema@.lifecycle_events (
    entity     text NOT NULL,
    entity_key varchar NOT NULL,
    event_date date NOT NULL,
    event      text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (entity, entity_key, event_date, event)
);
COMMENT ON TABLE @extschema@.lifecycle_events IS
    'Business events of the simulated history (signup, upgrade, downgrade, churn, ...), each matching a change in the snapshots';

CREATE TABLE @extschema@.device_days (
    device_key  varchar NOT NULL,
    day         date NOT NULL,
    health      float8 NOT NULL,
    usage       float8 NOT NULL,
    temperature float8 NOT NULL,
    errors      integer NOT NULL,
    maintenance boolean NOT NULL,
    failure     boolean NOT NULL,
    PRIMARY KEY (device_key, day)
);
COMMENT ON TABLE @extschema@.device_days IS
    'Simulated daily history of every device (generated values), from build_history()';

CREATE TABLE @extschema@.user_weeks (
    user_key         varchar NOT NULL,
    week             date NOT NULL,
    engagement       float8 NOT NULL,
    logins           integer NOT NULL,
    sessions         integer NOT NULL,
    features_adopted integer NOT NULL,
    adopted_feature  text,
    PRIMARY KEY (user_key, week)
);
COMMENT ON TABLE @extschema@.user_weeks IS
    'Simulated weekly history of every user (generated values), from build_history()';

-- The parameters of the stored history, for what is computed from it (the
-- feature spine ends at as_of).
CREATE TABLE @extschema@.history_info (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    months       integer NOT NULL,
    window_start date NOT NULL,
    as_of        date NOT NULL,
    seed         bigint NOT NULL,
    built_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.history_info IS
    'The months, window start, as_of and seed of the history build_history() stored last (one row, or none)';

-- How each device type wears: the simulator's degradation and failure
-- hazard per type, as data. The row '*' covers every type without a row of
-- its own (and devices without a type).
CREATE TABLE @extschema@.device_types (
    device_type  text PRIMARY KEY,
    degradation  float8 NOT NULL CHECK (degradation >= 0 AND degradation <= 10),
    failure_rate float8 NOT NULL CHECK (failure_rate >= 0 AND failure_rate <= 0.1),
    description  text,
    shipped      boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.device_types IS
    'Wear of each device type in the simulated history: health points lost per day at full use, and the daily failure hazard at health 60; the row ''*'' covers the other types';
COMMENT ON COLUMN @extschema@.device_types.degradation IS
    'Health points (0-100 scale) lost per day at full use, before heat and noise';
COMMENT ON COLUMN @extschema@.device_types.failure_rate IS
    'Daily failure hazard at health 60; it grows by e for every 8 points below';
INSERT INTO @extschema@.device_types (device_type, degradation, failure_rate, description, shipped) VALUES
    ('sensor',     0.09, 0.003, 'Low-power field sensors: slow wear, rare failures', true),
    ('camera',     0.13, 0.004, 'Cameras: moving parts and heat', true),
    ('gateway',    0.16, 0.005, 'Network gateways: run hot and under constant load', true),
    ('controller', 0.08, 0.006, 'Controllers: wear slowly but fail hard when they do', true),
    ('*',          0.12, 0.004, 'Any other type, and devices without one', true);
CREATE TRIGGER device_types_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.device_types
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('device_type');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.device_types', 'WHERE NOT shipped');

CREATE FUNCTION @extschema@.build_history(months integer DEFAULT 24, as_of date DEFAULT CURRENT_DATE,
                                         seed bigint DEFAULT 42,
                                         entities text[] DEFAULT ARRAY['account', 'device', 'user'])
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unrepaired bigint;
BEGIN
    IF months IS NULL OR as_of IS NULL OR seed IS NULL OR entities IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
              CASE WHEN months IS NULL THEN 'months' WHEN as_of IS NULL THEN 'as_of'
                   WHEN seed IS NULL THEN 'seed' ELSE 'entities' END
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave the argument out for its default.';
    END IF;
    -- Accounts always: everything else hangs off them. Leaving devices or
    -- users out keeps their history empty (their features and roll-ups are
    -- then NULL), for when only the accounts' history is wanted at scale.
    IF NOT (entities <@ ARRAY['account', 'device', 'user'] AND 'account' = ANY (entities)) THEN
        RAISE EXCEPTION 'entities must hold ''account'' and may hold ''device'' and ''user'', got %', entities
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave it out for all three, or pass ARRAY[''account''] for the accounts'' history alone.';
    END IF;
    IF months < 1 OR months > 600 THEN
        RAISE EXCEPTION 'months must be between 1 and 600, got %', months
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Ask for the length of the history in months, such as 24.';
    END IF;
    IF NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite date, got %', as_of
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the last day of the history, such as current_date.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM normalize.accounts) THEN
        RAISE EXCEPTION 'there are no normalized accounts to build a history for'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.reconcile_ids() and normalize.repair_values() first.';
    END IF;
    SELECT count(*) INTO unrepaired FROM normalize.accounts WHERE NOT (mrr > 0) OR mrr IS NULL OR tier IS NULL;
    SELECT unrepaired + count(*) INTO unrepaired FROM normalize.devices
     WHERE NOT (health_score BETWEEN 0 AND 100) OR health_score IS NULL;
    SELECT unrepaired + count(*) INTO unrepaired FROM normalize.users
     WHERE NOT (engagement_score BETWEEN 0 AND 100) OR engagement_score IS NULL;
    IF NOT EXISTS (SELECT 1 FROM normalize.device_types WHERE device_type = '*') THEN
        RAISE EXCEPTION 'normalize.device_types has no row ''*'' for the device types without a row of their own'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Insert one, such as (''*'', 0.12, 0.004).';
    END IF;
    IF unrepaired > 0 THEN
        RAISE EXCEPTION '% accounts, devices or users have no usable current state', unrepaired
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.repair_values() first: the history ends at each account''s repaired state.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.build_history'));

    TRUNCATE normalize.account_snapshots, normalize.device_days, normalize.user_weeks, normalize.lifecycle_events,
             normalize.history_info, normalize.customer_feature_store, normalize.device_feature_store,
             normalize.user_feature_store, normalize.churn_samples,
             normalize.clv_samples, normalize.device_health_samples, normalize.training_info;
    INSERT INTO normalize.history_info (months, window_start, as_of, seed)
    VALUES (months, (date_trunc('month', as_of) - make_interval(months => months - 1))::date, as_of, seed);
    INSERT INTO normalize.account_snapshots
    SELECT h.account_key, h.month, h.tier, h.mrr, h.seats, h.active_users, h.support_tickets,
           h.late_payments, h.failed_payments, h.status, h.event
      FROM normalize.generate_histories('normalize.accounts', months, as_of, seed) AS h;
    -- The simulator marks each month's event; a signup in the window's
    -- first month is one the snapshots alone could not show.
    INSERT INTO normalize.lifecycle_events (entity, entity_key, event_date, event, detail)
    SELECT 'account', s.account_key, s.month, s.event,
           jsonb_build_object('tier', s.tier, 'mrr', round(s.mrr::numeric, 2))
      FROM normalize.account_snapshots AS s
     WHERE s.event IS NOT NULL;
    -- Devices, daily over the same window, ending at their repaired health,
    -- wearing as their type does.
    IF 'device' = ANY (entities) THEN
        INSERT INTO normalize.device_days
        SELECT h.device_key, h.day, h.health, h.usage, h.temperature, h.errors, h.maintenance, h.failure
          FROM normalize.devices AS d
         CROSS JOIN LATERAL (
               SELECT t.degradation, t.failure_rate FROM normalize.device_types AS t
                WHERE t.device_type IN (d.device_type, '*')
                ORDER BY t.device_type = '*' LIMIT 1) AS wear
         CROSS JOIN LATERAL normalize.generate_device_history(
                   d.device_key, d.health_score::float8,
                   (as_of - (date_trunc('month', as_of) - make_interval(months => months - 1))::date) + 1,
                   as_of, seed, wear.degradation, wear.failure_rate) AS h;
        INSERT INTO normalize.lifecycle_events (entity, entity_key, event_date, event, detail)
        SELECT 'device', x.device_key, x.day, e.event, jsonb_build_object('health', round(x.health::numeric, 2))
          FROM normalize.device_days AS x
         CROSS JOIN LATERAL (VALUES ('maintenance', x.maintenance), ('failure', x.failure)) AS e(event, happened)
         WHERE e.happened;
    END IF;
    -- Users, weekly over the same window, ending at their repaired engagement.
    IF 'user' = ANY (entities) THEN
        INSERT INTO normalize.user_weeks
        SELECT h.user_key, h.week, h.engagement, h.logins, h.sessions, h.features_adopted, h.adopted_feature
          FROM normalize.users AS u
         CROSS JOIN LATERAL normalize.generate_user_history(
                   u.user_key, coalesce(u.role, 'standard'), u.engagement_score::float8,
                   ((as_of - (date_trunc('month', as_of) - make_interval(months => months - 1))::date) / 7) + 1,
                   as_of, seed) AS h;
        INSERT INTO normalize.lifecycle_events (entity, entity_key, event_date, event, detail)
        SELECT 'user', w.user_key, w.week, 'feature_adopted', jsonb_build_object('feature', w.adopted_feature,
                                                                                 'features_adopted', w.features_adopted)
          FROM normalize.user_weeks AS w WHERE w.adopted_feature IS NOT NULL;
    END IF;
    RETURN QUERY
    SELECT 'account_snapshots'::text, count(*) FROM normalize.account_snapshots
    UNION ALL
    SELECT 'device_days', count(*) FROM normalize.device_days
    UNION ALL
    SELECT 'user_weeks', count(*) FROM normalize.user_weeks
    UNION ALL
    SELECT 'lifecycle_events', count(*) FROM normalize.lifecycle_events;
END
$$;
COMMENT ON FUNCTION @extschema@.build_history(integer, date, bigint, text[]) IS
    'Replaces the simulated history: monthly snapshots of every normalized, repaired account, daily ones of every device and weekly ones of every user, ending at as_of, and their lifecycle events';

CREATE FUNCTION @extschema@.generate_device_history(
    device_key text,
    health float8,
    days integer DEFAULT 730,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    degradation float8 DEFAULT 0.12,
    failure_rate float8 DEFAULT 0.004)
RETURNS TABLE (device_key text, day date, health float8, usage float8, temperature float8, errors integer,
               maintenance boolean, failure boolean)
AS 'MODULE_PATHNAME', 'nz_generate_device_history'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.generate_device_history(text, float8, integer, date, bigint, float8, float8) IS
    'Daily history of one device ending at as_of at its current health: degradation with use and heat, maintenance, errors, and failures whose hazard rises as health falls';

CREATE FUNCTION @extschema@.generate_user_history(
    user_key text,
    role text,
    engagement float8,
    weeks integer DEFAULT 104,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    created_at date DEFAULT NULL,
    features text[] DEFAULT ARRAY['dashboards', 'alerts', 'reports', 'integrations', 'api', 'automations',
                                  'sso', 'audit_log'])
RETURNS TABLE (user_key text, week date, engagement float8, logins integer, sessions integer,
               features_adopted integer, adopted_feature text)
AS 'MODULE_PATHNAME', 'nz_generate_user_history'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.generate_user_history(text, text, float8, integer, date, bigint, date, text[]) IS
    'Weekly history of one user ending at as_of at the current engagement: an engagement trajectory with momentum, logins and sessions that follow it, and features adopted in catalogue order, faster for engaged users and admins';

CREATE FUNCTION @extschema@.generate_histories(
    accounts regclass,
    months integer DEFAULT 24,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    growth float8 DEFAULT 0.01,
    seasonality float8 DEFAULT 0.03)
RETURNS TABLE (account_key text, month date, tier text, mrr float8, seats integer, active_users integer,
               support_tickets integer, late_payments integer, failed_payments integer, status text,
               event text)
AS 'MODULE_PATHNAME', 'nz_generate_histories'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.generate_histories(regclass, integer, date, bigint, float8, float8) IS
    'The histories of every account of a relation (columns account_key, tier, mrr, optionally created_at) in one call: for each account, the rows generate_history gives it';
-- Phase 4 of the plan: features. Each entity has a base view of one row per
-- period of its history (customers: months, devices: days, users: weeks)
-- holding the metrics known at the end of that period; the feature catalog
-- lists what is computed from each metric over which windows; the feature
-- views are generated from the catalog, so the two cannot drift apart.
--
-- Point in time: a base row holds only what is known when its period ends
-- (a month's snapshot at the month's end, a week at its Sunday, a day at
-- its end), and every feature of a row is computed from that row and the
-- rows before it. A feature at as_of T therefore reads nothing after T.

-- Averages across entities are taken in numeric: a float8 sum depends on
-- the order rows arrive in, which changes with the plan, and features must
-- be the same bytes on every run.

-- Customers: one row per account and month, known at the month's end (the
-- last month at the history's as_of), with its users and devices rolled up
-- as they were then.
CREATE VIEW @extschema@.customer_feature_base AS
WITH info AS (
    SELECT h.as_of FROM @extschema@.history_info AS h),
snap AS (
    SELECT s.*, least((s.month + interval '1 month' - interval '1 day')::date, i.as_of) AS known_at
      FROM @extschema@.account_snapshots AS s CROSS JOIN info AS i),
device_month AS (
    SELECT d.account_key, date_trunc('month', x.day)::date AS month,
           sum(x.failure::int)::float8 AS device_failures, sum(x.errors)::float8 AS device_errors,
           count(*) FILTER (WHERE x.day = least((date_trunc('month', x.day) + interval '1 month' - interval '1 day')::date, i.as_of))::float8 AS device_count,
           (avg(x.health::numeric) FILTER (WHERE x.day = least((date_trunc('month', x.day) + interval '1 month' - interval '1 day')::date, i.as_of)))::float8 AS device_mean_health,
           avg((x.health >= 60)::int::float8) FILTER (WHERE x.day = least((date_trunc('month', x.day) + interval '1 month' - interval '1 day')::date, i.as_of)) AS device_healthy_share
      FROM @extschema@.device_days AS x
      JOIN @extschema@.devices AS d ON d.device_key = x.device_key
     CROSS JOIN info AS i
     GROUP BY d.account_key, date_trunc('month', x.day)),
user_week AS (
    SELECT u.account_key, w.sessions, w.engagement, w.logins,
           date_trunc('month', least(w.week + 6, i.as_of))::date AS month,
           row_number() OVER (PARTITION BY w.user_key, date_trunc('month', least(w.week + 6, i.as_of))
                              ORDER BY w.week DESC) AS recency
      FROM @extschema@.user_weeks AS w
      JOIN @extschema@.users AS u ON u.user_key = w.user_key
     CROSS JOIN info AS i),
user_month AS (
    SELECT uw.account_key, uw.month, sum(uw.sessions)::float8 AS user_sessions,
           count(*) FILTER (WHERE uw.recency = 1)::float8 AS user_count,
           (avg(uw.engagement::numeric) FILTER (WHERE uw.recency = 1))::float8 AS user_mean_engagement,
           avg((uw.logins > 0)::int::float8) FILTER (WHERE uw.recency = 1) AS user_active_share
      FROM user_week AS uw GROUP BY uw.account_key, uw.month)
SELECT s.account_key, s.known_at AS as_of, true AS is_cutoff,
       row_number() OVER o AS t,
       s.mrr, s.seats::float8 AS seats, s.active_users::float8 AS active_users,
       s.active_users::float8 / NULLIF(s.seats, 0) AS active_user_ratio,
       substr(s.tier, 6)::float8 AS tier_number,
       s.mrr / NULLIF(s.seats, 0) AS mrr_per_seat,
       dm.device_mean_health, dm.device_healthy_share, um.user_mean_engagement, um.user_active_share,
       s.support_tickets::float8 AS support_tickets, s.late_payments::float8 AS late_payments,
       s.failed_payments::float8 AS failed_payments,
       (s.late_payments + s.failed_payments = 0)::int::float8 AS payment_on_time,
       (s.event IS NOT DISTINCT FROM 'upgrade')::int::float8 AS upgrades,
       (s.event IS NOT DISTINCT FROM 'downgrade')::int::float8 AS downgrades,
       dm.device_failures, dm.device_errors, um.user_sessions,
       dm.device_count, um.user_count,
       CASE WHEN a.created_at <= s.known_at
            THEN (12 * extract(year FROM age(s.known_at, a.created_at)) + extract(month FROM age(s.known_at, a.created_at)))::float8
       END AS tenure_months,
       (count(*) OVER c)::float8 AS months_observed,
       (count(*) FILTER (WHERE s.event IN ('upgrade', 'downgrade')) OVER c)::float8 AS tier_changes_to_date,
       (12 * extract(year FROM age(s.month, max(s.month) FILTER (WHERE s.event IN ('upgrade', 'downgrade')) OVER c))
        + extract(month FROM age(s.month, max(s.month) FILTER (WHERE s.event IN ('upgrade', 'downgrade')) OVER c)))::float8
           AS months_since_tier_change,
       (min(substr(s.tier, 6)::int) OVER c)::float8 AS best_tier_to_date,
       max(s.mrr) OVER c AS mrr_peak_to_date,
       s.mrr / NULLIF(max(s.mrr) OVER c, 0) AS mrr_share_of_peak
  FROM snap AS s
  JOIN @extschema@.accounts AS a ON a.account_key = s.account_key
  LEFT JOIN device_month AS dm ON dm.account_key = s.account_key AND dm.month = s.month
  LEFT JOIN user_month AS um ON um.account_key = s.account_key AND um.month = s.month
WINDOW o AS (PARTITION BY s.account_key ORDER BY s.month), c AS (o ROWS UNBOUNDED PRECEDING);
COMMENT ON VIEW @extschema@.customer_feature_base IS
    'One row per account and month of the history, with the metrics known at the month''s end (users and devices rolled up as they were then): what the customer features are computed from';

-- Devices: one row per device and day; the cutoffs fall every 7 days,
-- counting back from the history's as_of.
CREATE VIEW @extschema@.device_feature_base AS
SELECT x.device_key, x.day AS as_of, (i.as_of - x.day) % 7 = 0 AS is_cutoff,
       row_number() OVER o AS t,
       x.health, x.usage, x.temperature,
       greatest(x.temperature - 25, 0) AS heat_exposure,
       x.health - lag(x.health) OVER o AS health_change,
       x.usage * (1 + 0.03 * greatest(x.temperature - 25, 0)) AS load,
       x.errors::float8 AS errors, x.maintenance::int::float8 AS maintenance, x.failure::int::float8 AS failure,
       (x.day - max(x.day) FILTER (WHERE x.maintenance) OVER c)::float8 AS days_since_maintenance,
       (x.day - max(x.day) FILTER (WHERE x.failure) OVER c)::float8 AS days_since_failure,
       (count(*) FILTER (WHERE x.maintenance) OVER c)::float8 AS maintenances_to_date,
       (count(*) FILTER (WHERE x.failure) OVER c)::float8 AS failures_to_date,
       ((max(x.day) FILTER (WHERE x.maintenance) OVER c) - (min(x.day) FILTER (WHERE x.maintenance) OVER c))::float8
           / NULLIF(count(*) FILTER (WHERE x.maintenance) OVER c - 1, 0) AS maintenance_interval_mean,
       (count(*) OVER c)::float8 AS days_observed,
       d.device_type
  FROM @extschema@.device_days AS x
  JOIN @extschema@.devices AS d ON d.device_key = x.device_key
 CROSS JOIN @extschema@.history_info AS i
WINDOW o AS (PARTITION BY x.device_key ORDER BY x.day), c AS (o ROWS UNBOUNDED PRECEDING);
COMMENT ON VIEW @extschema@.device_feature_base IS
    'One row per device and day of the history, with its metrics; cutoffs every 7 days back from the history''s as_of: what the device features are computed from';

-- Users: one row per user and week, known at the week's Sunday; a month's
-- cutoff is the last week known by the month's end.
CREATE VIEW @extschema@.user_feature_base AS
WITH w AS (
    SELECT x.*, u.role, least(x.week + 6, i.as_of) AS known_at, i.as_of AS history_as_of
      FROM @extschema@.user_weeks AS x
      JOIN @extschema@.users AS u ON u.user_key = x.user_key
     CROSS JOIN @extschema@.history_info AS i)
SELECT w.user_key,
       least((date_trunc('month', w.known_at) + interval '1 month' - interval '1 day')::date, w.history_as_of) AS as_of,
       coalesce(date_trunc('month', lead(w.known_at) OVER o) > date_trunc('month', w.known_at), true) AS is_cutoff,
       row_number() OVER o AS t,
       w.engagement, w.logins::float8 AS logins, w.sessions::float8 AS sessions,
       w.sessions::float8 / NULLIF(w.logins, 0) AS sessions_per_login,
       w.engagement / NULLIF(avg(w.engagement::numeric) OVER (PARTITION BY w.role, w.week), 0)::float8 AS role_activity_index,
       w.features_adopted::float8 AS features_adopted,
       (w.logins > 0)::int::float8 AS active_week,
       (w.adopted_feature IS NOT NULL)::int::float8 AS adoption,
       (count(*) OVER c)::float8 AS weeks_observed,
       ((w.week - max(w.week) FILTER (WHERE w.logins > 0) OVER c) / 7)::float8 AS weeks_since_active,
       ((w.week - max(w.week) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c) / 7)::float8 AS weeks_since_adoption,
       ((min(w.week) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c - min(w.week) OVER c) / 7)::float8
           AS weeks_to_first_adoption,
       w.features_adopted::float8 / count(*) OVER c AS adoption_rate,
       (array_agg(w.adopted_feature) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c)[1] AS first_feature,
       (array_agg(w.adopted_feature) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c)[2] AS second_feature,
       (array_agg(w.adopted_feature) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c)[3] AS third_feature,
       w.role
  FROM w
WINDOW o AS (PARTITION BY w.user_key ORDER BY w.week), c AS (o ROWS UNBOUNDED PRECEDING);
COMMENT ON VIEW @extschema@.user_feature_base IS
    'One row per user and week of the history, known at the week''s Sunday, with its metrics; a month''s cutoff is the last week known by its end: what the user features are computed from';

-- The catalog ------------------------------------------------------------------

CREATE TABLE @extschema@.feature_catalog (
    entity        text NOT NULL CHECK (entity IN ('customer', 'device', 'user')),
    feature       text NOT NULL,
    family        text NOT NULL,
    source_metric text NOT NULL,
    window_size   integer,
    window_unit   text CHECK (window_unit IN ('month', 'day', 'week')),
    aggregation   text NOT NULL CHECK (aggregation IN ('last', 'mean', 'min', 'max', 'stddev', 'slope', 'change',
                                                         'pct_change', 'growth_rate', 'sum')),
    data_type     text NOT NULL CHECK (data_type IN ('float8', 'text')),
    min_history   integer,
    required      boolean NOT NULL,
    description   text NOT NULL,
    position      integer NOT NULL,
    PRIMARY KEY (entity, feature),
    UNIQUE (entity, position),
    CHECK ((window_size IS NULL) = (aggregation = 'last'))
);
COMMENT ON TABLE @extschema@.feature_catalog IS
    'Every feature of customer_features, device_features and user_features: its metric, window, aggregation, type, the history it needs (NULL before that) and what it means; the views are generated from it';

-- The metrics of the base views and how each is aggregated: level metrics
-- (a state) get mean, min, max, stddev, slope, change and percent change;
-- count metrics (events per period) get sum, mean and slope; both get their
-- last value; point metrics (already cumulative, or categories) only that.
CREATE TEMP TABLE nz_metrics (entity text, metric text, kind text, family text, data_type text, required boolean,
                              description text, position serial);
INSERT INTO nz_metrics (entity, metric, kind, family, data_type, required, description) VALUES
    ('customer', 'mrr', 'level', 'revenue', 'float8', true, 'monthly recurring revenue'),
    ('customer', 'seats', 'level', 'adoption', 'float8', true, 'seats'),
    ('customer', 'active_users', 'level', 'adoption', 'float8', true, 'active users'),
    ('customer', 'active_user_ratio', 'level', 'adoption', 'float8', true, 'active users per seat'),
    ('customer', 'tier_number', 'level', 'tier', 'float8', true, 'tier number (1 = largest)'),
    ('customer', 'mrr_per_seat', 'level', 'revenue', 'float8', true, 'revenue per seat'),
    ('customer', 'device_mean_health', 'level', 'devices', 'float8', false, 'mean health of the account''s devices at the month''s end'),
    ('customer', 'device_healthy_share', 'level', 'devices', 'float8', false, 'share of the account''s devices with health of at least 60'),
    ('customer', 'user_mean_engagement', 'level', 'users', 'float8', false, 'mean engagement of the account''s users'),
    ('customer', 'user_active_share', 'level', 'users', 'float8', false, 'share of the account''s users who logged in during their last week'),
    ('customer', 'support_tickets', 'count', 'support', 'float8', true, 'support tickets per month'),
    ('customer', 'late_payments', 'count', 'payments', 'float8', true, 'late payments per month'),
    ('customer', 'failed_payments', 'count', 'payments', 'float8', true, 'failed payments per month'),
    ('customer', 'payment_on_time', 'count', 'payments', 'float8', true, 'months without a late or failed payment'),
    ('customer', 'upgrades', 'count', 'tier', 'float8', true, 'tier upgrades'),
    ('customer', 'downgrades', 'count', 'tier', 'float8', true, 'tier downgrades'),
    ('customer', 'device_failures', 'count', 'devices', 'float8', false, 'failures of the account''s devices per month'),
    ('customer', 'device_errors', 'count', 'devices', 'float8', false, 'errors of the account''s devices per month'),
    ('customer', 'user_sessions', 'count', 'users', 'float8', false, 'sessions of the account''s users per month'),
    ('customer', 'device_count', 'point', 'devices', 'float8', false, 'devices of the account with a history at the month''s end'),
    ('customer', 'user_count', 'point', 'users', 'float8', false, 'users of the account with a history in the month'),
    ('customer', 'tenure_months', 'point', 'lifecycle', 'float8', false, 'whole months since signup'),
    ('customer', 'months_observed', 'point', 'lifecycle', 'float8', true, 'months of history so far'),
    ('customer', 'tier_changes_to_date', 'point', 'tier', 'float8', true, 'upgrades and downgrades so far'),
    ('customer', 'months_since_tier_change', 'point', 'tier', 'float8', false, 'months since the last upgrade or downgrade (NULL: none seen)'),
    ('customer', 'best_tier_to_date', 'point', 'tier', 'float8', true, 'the largest tier held so far (lowest number)'),
    ('customer', 'mrr_peak_to_date', 'point', 'revenue', 'float8', true, 'the highest MRR so far'),
    ('customer', 'mrr_share_of_peak', 'point', 'revenue', 'float8', true, 'MRR as a share of its highest so far'),

    ('device', 'health', 'level', 'health', 'float8', true, 'health score (0-100)'),
    ('device', 'usage', 'level', 'usage', 'float8', true, 'usage intensity (0-1)'),
    ('device', 'temperature', 'level', 'environment', 'float8', true, 'temperature (degrees C)'),
    ('device', 'heat_exposure', 'level', 'environment', 'float8', true, 'degrees above 25 C'),
    ('device', 'health_change', 'level', 'health', 'float8', false, 'day-on-day change of health'),
    ('device', 'load', 'level', 'usage', 'float8', true, 'usage weighted by heat'),
    ('device', 'errors', 'count', 'errors', 'float8', true, 'errors per day'),
    ('device', 'maintenance', 'count', 'maintenance', 'float8', true, 'maintenance visits'),
    ('device', 'failure', 'count', 'failures', 'float8', true, 'failures'),
    ('device', 'days_since_maintenance', 'point', 'maintenance', 'float8', false, 'days since the last maintenance (NULL: none seen)'),
    ('device', 'days_since_failure', 'point', 'failures', 'float8', false, 'days since the last failure (NULL: none seen)'),
    ('device', 'maintenances_to_date', 'point', 'maintenance', 'float8', true, 'maintenance visits so far'),
    ('device', 'failures_to_date', 'point', 'failures', 'float8', true, 'failures so far'),
    ('device', 'maintenance_interval_mean', 'point', 'maintenance', 'float8', false, 'mean days between maintenance visits so far (NULL: fewer than two)'),
    ('device', 'days_observed', 'point', 'lifecycle', 'float8', true, 'days of history so far'),
    ('device', 'device_type', 'point', 'lifecycle', 'text', true, 'device type'),

    ('user', 'engagement', 'level', 'engagement', 'float8', true, 'engagement score (0-100)'),
    ('user', 'logins', 'level', 'sessions', 'float8', true, 'logins per week'),
    ('user', 'sessions', 'level', 'sessions', 'float8', true, 'sessions per week'),
    ('user', 'sessions_per_login', 'level', 'sessions', 'float8', false, 'sessions per login'),
    ('user', 'role_activity_index', 'level', 'role', 'float8', true, 'engagement relative to the mean of the same role that week'),
    ('user', 'features_adopted', 'level', 'adoption', 'float8', true, 'features adopted so far'),
    ('user', 'active_week', 'count', 'sessions', 'float8', true, 'weeks with a login'),
    ('user', 'adoption', 'count', 'adoption', 'float8', true, 'features adopted'),
    ('user', 'weeks_observed', 'point', 'lifecycle', 'float8', true, 'weeks of history so far'),
    ('user', 'weeks_since_active', 'point', 'sessions', 'float8', false, 'weeks since the last week with a login (recency; NULL: none seen)'),
    ('user', 'weeks_since_adoption', 'point', 'adoption', 'float8', false, 'weeks since the last feature adopted (NULL: none yet)'),
    ('user', 'weeks_to_first_adoption', 'point', 'adoption', 'float8', false, 'weeks from the first observed week to the first feature adopted'),
    ('user', 'adoption_rate', 'point', 'adoption', 'float8', true, 'features adopted per week observed'),
    ('user', 'first_feature', 'point', 'adoption', 'text', false, 'the first feature adopted'),
    ('user', 'second_feature', 'point', 'adoption', 'text', false, 'the second feature adopted'),
    ('user', 'third_feature', 'point', 'adoption', 'text', false, 'the third feature adopted'),
    ('user', 'role', 'point', 'role', 'text', false, 'role');

CREATE TEMP TABLE nz_windows (entity text, window_size integer, unit text, suffix text);
INSERT INTO nz_windows VALUES
    ('customer', 3, 'month', 'm'), ('customer', 6, 'month', 'm'), ('customer', 12, 'month', 'm'),
    ('device', 7, 'day', 'd'), ('device', 30, 'day', 'd'), ('device', 90, 'day', 'd'),
    ('user', 4, 'week', 'w'), ('user', 12, 'week', 'w'), ('user', 26, 'week', 'w');

CREATE TEMP TABLE nz_aggregations (kind text, aggregation text, position integer, description text);
INSERT INTO nz_aggregations VALUES
    ('level', 'mean', 1, 'mean of %s over the last %s %ss'),
    ('level', 'min', 2, 'lowest %s over the last %s %ss'),
    ('level', 'max', 3, 'highest %s over the last %s %ss'),
    ('level', 'stddev', 4, 'standard deviation of %s over the last %s %ss'),
    ('level', 'slope', 5, 'linear trend of %s per period over the last %s %ss'),
    ('level', 'change', 6, 'change of %s against %s %ss before'),
    ('level', 'pct_change', 7, 'relative change of %s against %s %ss before (NULL when that was 0)'),
    ('count', 'sum', 1, 'total %s in the last %s %ss'),
    ('count', 'mean', 2, 'mean %s per period over the last %s %ss'),
    ('count', 'slope', 3, 'linear trend of %s per period over the last %s %ss');

INSERT INTO @extschema@.feature_catalog (entity, feature, family, source_metric, window_size, window_unit, aggregation,
                                         data_type, min_history, required, description, position)
SELECT entity, feature, family, metric, window_size, unit, aggregation, data_type, min_history, required, description,
       row_number() OVER (PARTITION BY entity ORDER BY m_position, w_position, a_position)
  FROM (
    SELECT m.entity, m.metric AS feature, m.family, m.metric, NULL::integer AS window_size, NULL::text AS unit,
           'last' AS aggregation, m.data_type, NULL::integer AS min_history, m.required,
           upper(left(m.description, 1)) || substr(m.description, 2) || ', at the cutoff' AS description,
           m.position AS m_position, 0 AS w_position, 0 AS a_position
      FROM nz_metrics AS m
    UNION ALL
    SELECT m.entity, format('%s_%s_%s%s', m.metric, a.aggregation, w.window_size, w.suffix), m.family, m.metric,
           w.window_size, w.unit, a.aggregation, m.data_type,
           CASE WHEN a.aggregation IN ('change', 'pct_change') THEN w.window_size + 1 ELSE w.window_size END,
           false, format(a.description, m.description, w.window_size, w.unit),
           m.position, w.window_size, a.position
      FROM nz_metrics AS m
      JOIN nz_windows AS w ON w.entity = m.entity
      JOIN nz_aggregations AS a ON a.kind = m.kind
    UNION ALL
    -- The plan's revenue growth rate: compound monthly growth.
    SELECT 'customer', format('revenue_growth_rate_%sm', w.window_size), 'revenue', 'mrr', w.window_size, 'month',
           'growth_rate', 'float8', w.window_size + 1, false,
           format('compound monthly growth rate of MRR over the last %s months (NULL unless MRR was positive then)', w.window_size),
           1, w.window_size, 8
      FROM nz_windows AS w WHERE w.entity = 'customer'
  ) AS f;

-- The plan's names for some of them.
UPDATE @extschema@.feature_catalog AS c SET feature = r.plan_name,
       description = c.description || ' (the plan''s ' || replace(r.plan_name, '_', ' ') || ')'
  FROM (VALUES
    ('customer', 'active_users_slope_3m', 'product_adoption_velocity_3m'),
    ('customer', 'active_users_slope_6m', 'product_adoption_velocity_6m'),
    ('customer', 'active_users_slope_12m', 'product_adoption_velocity_12m'),
    ('customer', 'support_tickets_mean_3m', 'support_ticket_frequency_3m'),
    ('customer', 'support_tickets_mean_6m', 'support_ticket_frequency_6m'),
    ('customer', 'support_tickets_mean_12m', 'support_ticket_frequency_12m'),
    ('customer', 'payment_on_time_mean_3m', 'payment_reliability_score_3m'),
    ('customer', 'payment_on_time_mean_6m', 'payment_reliability_score_6m'),
    ('customer', 'payment_on_time_mean_12m', 'payment_reliability_score_12m'),
    ('device', 'health_slope_7d', 'health_trend_7d'),
    ('device', 'health_slope_30d', 'health_trend_30d'),
    ('device', 'health_slope_90d', 'health_trend_90d'),
    ('device', 'usage_mean_7d', 'usage_intensity_7d'),
    ('device', 'usage_mean_30d', 'usage_intensity_30d'),
    ('device', 'usage_mean_90d', 'usage_intensity_90d'),
    ('device', 'heat_exposure_mean_30d', 'environmental_impact_30d'),
    ('device', 'heat_exposure_mean_90d', 'environmental_impact_90d'),
    ('device', 'errors_mean_30d', 'error_rate_30d'),
    ('device', 'errors_mean_90d', 'error_rate_90d'),
    ('user', 'engagement_change_4w', 'engagement_momentum_4w'),
    ('user', 'engagement_change_12w', 'engagement_momentum_12w'),
    ('user', 'sessions_mean_4w', 'session_frequency_4w'),
    ('user', 'sessions_mean_12w', 'session_frequency_12w'),
    ('user', 'sessions_stddev_12w', 'session_regularity_12w'),
    ('user', 'role_activity_index_mean_4w', 'role_based_activity_index_4w'),
    ('user', 'role_activity_index_mean_12w', 'role_based_activity_index_12w'),
    ('user', 'adoption_sum_12w', 'feature_adoption_velocity_12w'),
    ('user', 'weeks_since_active', 'session_recency_weeks')
  ) AS r(entity, feature, plan_name)
 WHERE c.entity = r.entity AND c.feature = r.feature;
DROP TABLE nz_metrics, nz_windows, nz_aggregations;

-- The view generator ---------------------------------------------------------

-- A value k rows back: the column itself, a lag over the rows at hand, or
-- (when k is not a multiple of the rows between cutoffs) a lag taken
-- before the rows were thinned to the cutoffs, named <column>__lag<k>.
CREATE FUNCTION @extschema@.feature_ref(col text, k integer, cadence integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN k = 0 THEN quote_ident(col)
            WHEN k % cadence = 0 THEN format('lag(%I, %s) OVER w', col, k / cadence)
            ELSE quote_ident(col || '__lag' || k) END;
COMMENT ON FUNCTION @extschema@.feature_ref(text, integer, integer) IS
    'Internal: the SQL for a column k rows back, for the feature view generator';

-- The SQL of one windowed feature over the running sums (_n_, _s1_, _s2_,
-- _sx_ of each metric) and the running minimum and maximum over the
-- smallest window (_bmin_, _bmax_): sums over a window are differences of
-- running sums, and the minimum over a window is the least of a few
-- smallest-window minima that cover it. Each is O(1) per row, where
-- framed window aggregates over daily rows would cost the window's length.
CREATE FUNCTION @extschema@.feature_expression(metric text, aggregation text, n integer, cadence integer, smallest integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s1 text := format('(%s - coalesce(%s, 0))', quote_ident('_s1_' || metric), normalize.feature_ref('_s1_' || metric, n, cadence));
    s2 text := format('(%s - coalesce(%s, 0))', quote_ident('_s2_' || metric), normalize.feature_ref('_s2_' || metric, n, cadence));
    sx text := format('(%s - coalesce(%s, 0))', quote_ident('_sx_' || metric), normalize.feature_ref('_sx_' || metric, n, cadence));
    complete text := format('(%s - coalesce(%s, 0)) = %s', quote_ident('_n_' || metric),
                            normalize.feature_ref('_n_' || metric, n, cadence), n);
    back text := normalize.feature_ref(metric, n, cadence);
    offsets integer[];
BEGIN
    IF aggregation = 'last' THEN
        RETURN quote_ident(metric);
    END IF;
    IF aggregation NOT IN ('mean', 'sum', 'stddev', 'slope', 'min', 'max', 'change', 'pct_change', 'growth_rate')
       OR n IS NULL OR n < 2 OR cadence < 1 OR smallest < 1 OR smallest > n THEN
        RAISE EXCEPTION 'no windowed feature is % over % periods (cadence %, smallest window %)',
                        aggregation, n, cadence, smallest
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The aggregations and windows of normalize.feature_catalog are the ones the generator knows.';
    END IF;
    SELECT array_agg(k ORDER BY k) INTO offsets
      FROM (SELECT generate_series(0, n - smallest, smallest) AS k
            UNION SELECT n - smallest) AS o;
    RETURN CASE aggregation
        WHEN 'mean' THEN format('CASE WHEN %s THEN %s / %s END', complete, s1, n)
        WHEN 'sum' THEN format('CASE WHEN %s THEN %s END', complete, s1)
        WHEN 'stddev' THEN format('CASE WHEN %s THEN sqrt(greatest(0, (%s - %s ^ 2 / %s) / %s)) END',
                                  complete, s2, s1, n, n - 1)
        WHEN 'slope' THEN format('CASE WHEN %s THEN (%s - (t - %s) * %s) / %s END',
                                 complete, sx, (n - 1) / 2.0, s1, n * (n * n - 1) / 12.0)
        WHEN 'min' THEN format('CASE WHEN %s THEN least(%s) END', complete,
                               (SELECT string_agg(normalize.feature_ref('_bmin_' || metric, k, cadence), ', ')
                                  FROM unnest(offsets) AS k))
        WHEN 'max' THEN format('CASE WHEN %s THEN greatest(%s) END', complete,
                               (SELECT string_agg(normalize.feature_ref('_bmax_' || metric, k, cadence), ', ')
                                  FROM unnest(offsets) AS k))
        WHEN 'change' THEN format('%I - %s', metric, back)
        WHEN 'pct_change' THEN format('(%1$I - %2$s) / NULLIF(abs(%2$s), 0)', metric, back)
        WHEN 'growth_rate' THEN format('CASE WHEN %1$I > 0 AND %2$s > 0 THEN power(%1$I / %2$s, 1.0 / %3$s) - 1 END',
                                       metric, back, n)
    END;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_expression(text, text, integer, integer, integer) IS
    'Internal: the SQL of one windowed feature over running sums, for the feature view generator';

-- The SELECT of an entity's feature view, from its catalog rows.
CREATE FUNCTION @extschema@.feature_view_sql(entity text)
RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text;
    key text;
    cadence integer;
    smallest integer;
    running text;
    features text;
    names text;
    lags text;
BEGIN
    CASE entity
        WHEN 'customer' THEN base := 'customer_feature_base'; key := 'account_key'; cadence := 1; smallest := 3;
        WHEN 'device' THEN base := 'device_feature_base'; key := 'device_key'; cadence := 7; smallest := 7;
        WHEN 'user' THEN base := 'user_feature_base'; key := 'user_key'; cadence := 1; smallest := 4;
        ELSE RAISE EXCEPTION 'entity must be customer, device or user, got "%"', entity
                 USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    SELECT string_agg(format('count(%1$I) OVER c AS %2$I, sum(%1$I) OVER c AS %3$I, sum(%1$I * %1$I) OVER c AS %4$I, '
                             'sum(t * %1$I) OVER c AS %5$I, min(%1$I) OVER s AS %6$I, max(%1$I) OVER s AS %7$I',
                             m, '_n_' || m, '_s1_' || m, '_s2_' || m, '_sx_' || m, '_bmin_' || m, '_bmax_' || m),
                      ', ' ORDER BY m)
      INTO running
      FROM (SELECT DISTINCT c.source_metric AS m FROM normalize.feature_catalog AS c
             WHERE c.entity = feature_view_sql.entity AND c.aggregation <> 'last') AS metrics;
    SELECT string_agg(format('(%s)::%s AS %I',
                             normalize.feature_expression(c.source_metric, c.aggregation, c.window_size, cadence, smallest),
                             c.data_type, c.feature), ', ' ORDER BY c.position),
           string_agg(quote_ident(c.feature), ', ' ORDER BY c.position)
      INTO features, names
      FROM normalize.feature_catalog AS c WHERE c.entity = feature_view_sql.entity;
    -- The lags that must be taken before the rows are thinned to cutoffs.
    SELECT string_agg(DISTINCT format('lag(%I, %s) OVER o AS %I', x[1], x[2], x[1] || '__lag' || x[2]), ', ')
      INTO lags
      FROM regexp_matches(features, '([a-z0-9_]+)__lag([0-9]+)', 'g') AS x;
    RETURN format($q$
SELECT %1$I, as_of, %2$s
  FROM (SELECT %1$I, as_of, is_cutoff, %3$s
          FROM (SELECT l1.* %4$s
                  FROM (SELECT b.*, %5$s
                          FROM %6$I.%7$I AS b
                        WINDOW o AS (PARTITION BY b.%1$I ORDER BY b.t),
                               c AS (o ROWS UNBOUNDED PRECEDING), s AS (o ROWS %8$s PRECEDING)) AS l1
                WINDOW o AS (PARTITION BY l1.%1$I ORDER BY l1.t)) AS l2
         WHERE %9$s
        WINDOW w AS (PARTITION BY %1$I ORDER BY t)) AS l3
 WHERE is_cutoff$q$,
        key, names, features, coalesce(', ' || lags, ''), running, 'normalize', base, smallest - 1,
        CASE WHEN cadence > 1 THEN 'is_cutoff' ELSE 'true' END);
END
$$;
COMMENT ON FUNCTION @extschema@.feature_view_sql(text) IS
    'Internal: the SQL of customer_features, device_features or user_features, generated from the feature catalog';

-- The feature views: generated here, once, from the catalog.
DO $$
BEGIN
    EXECUTE 'CREATE VIEW @extschema@.customer_features AS ' || @extschema@.feature_view_sql('customer');
    EXECUTE 'CREATE VIEW @extschema@.device_features AS ' || @extschema@.feature_view_sql('device');
    EXECUTE 'CREATE VIEW @extschema@.user_features AS ' || @extschema@.feature_view_sql('user');
END
$$;
COMMENT ON VIEW @extschema@.customer_features IS
    'Point-in-time customer features, one row per account and month-end cutoff (the last at the history''s as_of); see feature_catalog';
COMMENT ON VIEW @extschema@.device_features IS
    'Point-in-time device features, one row per device and cutoff (every 7 days back from the history''s as_of); see feature_catalog';
COMMENT ON VIEW @extschema@.user_features IS
    'Point-in-time user features, one row per user and month-end cutoff; see feature_catalog';

-- For each entity: a stored copy of its features for fast training-set
-- builds, filled by refresh_features() and emptied whenever the history it
-- came from is replaced; and the features known at a date, each entity's
-- row of its latest cutoff on or before it (its as_of column says which),
-- from the store when it has been refreshed, else computed. JIT is off:
-- compiling the hundreds of expressions costs more than it saves.
DO $do$
DECLARE
    e record;
BEGIN
    FOR e IN SELECT * FROM (VALUES ('customer', 'account_key', 'account'), ('device', 'device_key', 'device'),
                                   ('user', 'user_key', 'user')) AS v(entity, key, noun) LOOP
        EXECUTE format('CREATE TABLE @extschema@.%1$I AS SELECT * FROM @extschema@.%2$I WITH NO DATA',
                       e.entity || '_feature_store', e.entity || '_features');
        EXECUTE format('ALTER TABLE @extschema@.%I ADD PRIMARY KEY (%I, as_of)', e.entity || '_feature_store', e.key);
        EXECUTE format('COMMENT ON TABLE @extschema@.%I IS %L', e.entity || '_feature_store',
                       e.entity || '_features as of the last refresh_features()');
        EXECUTE format($f$
            CREATE FUNCTION @extschema@.%1$I(as_of date)
            RETURNS SETOF @extschema@.%2$I
            LANGUAGE sql STABLE STRICT PARALLEL SAFE
            SET search_path = pg_catalog, pg_temp
            SET jit = off
            AS $body$
                SELECT DISTINCT ON (f.%4$I) f.*
                  FROM (SELECT * FROM @extschema@.%3$I
                        UNION ALL
                        SELECT * FROM @extschema@.%2$I WHERE NOT EXISTS (SELECT 1 FROM @extschema@.%3$I)) AS f
                 WHERE f.as_of <= $1
                 ORDER BY f.%4$I, f.as_of DESC
            $body$$f$,
            e.entity || '_features_at', e.entity || '_features', e.entity || '_feature_store', e.key);
        EXECUTE format('COMMENT ON FUNCTION @extschema@.%I(date) IS %L', e.entity || '_features_at',
                       format('Each %s''s features at its latest cutoff on or before as_of (from the store when refreshed)',
                              e.noun));
    END LOOP;
END
$do$;

CREATE FUNCTION @extschema@.refresh_features()
RETURNS TABLE (table_name text, rows bigint, features integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'
-- The feature queries hold hundreds of expressions: compiling them with JIT
-- takes longer than running them.
SET jit = off
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.history_info) THEN
        RAISE EXCEPTION 'there is no history to compute features from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.build_history() first.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.refresh_features'));
    TRUNCATE normalize.customer_feature_store, normalize.device_feature_store, normalize.user_feature_store, normalize.churn_samples,
             normalize.clv_samples, normalize.device_health_samples, normalize.training_info;
    INSERT INTO normalize.customer_feature_store SELECT * FROM normalize.customer_features;
    INSERT INTO normalize.device_feature_store SELECT * FROM normalize.device_features;
    INSERT INTO normalize.user_feature_store SELECT * FROM normalize.user_features;
    ANALYZE normalize.customer_feature_store;
    ANALYZE normalize.device_feature_store;
    ANALYZE normalize.user_feature_store;
    RETURN QUERY
    SELECT 'customer_feature_store'::text, (SELECT count(*) FROM normalize.customer_feature_store),
           (SELECT count(*)::integer FROM normalize.feature_catalog AS c WHERE c.entity = 'customer')
    UNION ALL
    SELECT 'device_feature_store', (SELECT count(*) FROM normalize.device_feature_store),
           (SELECT count(*)::integer FROM normalize.feature_catalog AS c WHERE c.entity = 'device')
    UNION ALL
    SELECT 'user_feature_store', (SELECT count(*) FROM normalize.user_feature_store),
           (SELECT count(*)::integer FROM normalize.feature_catalog AS c WHERE c.entity = 'user');
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_features() IS
    'Stores customer_features, device_features and user_features in the *_feature_store tables, replacing what was there';

-- The share of NULLs of every feature, from the stores (refresh first).
CREATE FUNCTION @extschema@.feature_null_rates()
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
    FOR e IN SELECT * FROM (VALUES ('customer', 'customer_feature_store'), ('device', 'device_feature_store'),
                                   ('user', 'user_feature_store')) AS v(entity, store) LOOP
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
-- Phase 5 of the plan: labeled training sets. Samples are (entity, cutoff)
-- pairs of the feature stores; labels look only after the cutoff, features
-- only at or before it. A sample whose label window runs past the history's
-- as_of is left out (censored), as is one of an account that had churned by
-- its cutoff.

-- The samples, labels, split and weight of each set; the features are
-- joined from the stores by the *_training_set views.
CREATE TABLE @extschema@.churn_samples (
    account_key   varchar NOT NULL,
    as_of         date NOT NULL,
    split         text NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    churned_30d   boolean NOT NULL,
    churned_60d   boolean NOT NULL,
    churned_90d   boolean NOT NULL,
    sample_weight float8 NOT NULL,
    PRIMARY KEY (account_key, as_of)
);
COMMENT ON TABLE @extschema@.churn_samples IS
    'Churn samples of the last build_training_sets(): account, cutoff, split, labels and weight';

CREATE TABLE @extschema@.clv_samples (
    account_key   varchar NOT NULL,
    as_of         date NOT NULL,
    split         text NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    tier          text NOT NULL,
    revenue_12m   float8 NOT NULL,
    sample_weight float8 NOT NULL,
    PRIMARY KEY (account_key, as_of)
);
COMMENT ON TABLE @extschema@.clv_samples IS
    'Customer lifetime value samples of the last build_training_sets(): revenue over the 12 months after the cutoff (0 after churn)';

CREATE TABLE @extschema@.device_health_samples (
    device_key    varchar NOT NULL,
    as_of         date NOT NULL,
    split         text NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    device_type   text,
    failed_7d     boolean NOT NULL,
    failed_14d    boolean NOT NULL,
    failed_30d    boolean NOT NULL,
    sample_weight float8 NOT NULL,
    PRIMARY KEY (device_key, as_of)
);
COMMENT ON TABLE @extschema@.device_health_samples IS
    'Device health samples of the last build_training_sets(): device, cutoff, split, failure labels and weight';

CREATE TABLE @extschema@.training_info (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seed                 bigint NOT NULL,
    strategy             text NOT NULL,
    train_share          float8 NOT NULL,
    validation_share     float8 NOT NULL,
    churn_positive_rate  float8,
    device_positive_rate float8,
    built_at             timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.training_info IS
    'The parameters of the last build_training_sets() (one row, or none)';

-- Assigns splits in temp table nz_split_input (key, stratum, ordinal u in
-- [0, 1), cutoff): grouped, each stratum's entities ranked by u and cut at
-- the shares, so no entity is in two splits and every stratum has the
-- requested shares; or by time, the earliest cutoffs for training.
CREATE FUNCTION @extschema@.assign_splits(strategy text, train_share float8, validation_share float8)
RETURNS TABLE (key varchar, as_of date, split text)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF strategy NOT IN ('grouped', 'time') THEN
        RAISE EXCEPTION 'strategy must be grouped or time, got "%"', strategy
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('pg_temp.nz_split_input') IS NULL THEN
        RAISE EXCEPTION 'there are no samples staged to split'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'assign_splits is a step of normalize.build_training_sets(); call that.';
    END IF;
    IF strategy = 'grouped' THEN
        RETURN QUERY
        WITH entities AS (
            SELECT DISTINCT i.key, i.stratum, i.u FROM nz_split_input AS i),
        ranked AS (
            SELECT e.key, (row_number() OVER (PARTITION BY e.stratum ORDER BY e.u, e.key) - 0.5)
                          / count(*) OVER (PARTITION BY e.stratum) AS position
              FROM entities AS e)
        SELECT i.key, i.as_of,
               CASE WHEN r.position < train_share THEN 'train'
                    WHEN r.position < train_share + validation_share THEN 'validation'
                    ELSE 'test' END
          FROM nz_split_input AS i JOIN ranked AS r ON r.key = i.key;
    ELSE
        RETURN QUERY
        WITH ranked AS (
            SELECT i.key, i.as_of,
                   (rank() OVER (ORDER BY i.as_of) - 1)::float8 / count(*) OVER () AS position
              FROM nz_split_input AS i)
        SELECT r.key, r.as_of,
               CASE WHEN r.position < train_share THEN 'train'
                    WHEN r.position < train_share + validation_share THEN 'validation'
                    ELSE 'test' END
          FROM ranked AS r;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.assign_splits(text, float8, float8) IS
    'Internal: the split of every sample staged in nz_split_input, during build_training_sets';

CREATE FUNCTION @extschema@.build_training_sets(
    seed bigint DEFAULT 42,
    train_share float8 DEFAULT 0.70,
    validation_share float8 DEFAULT 0.15,
    strategy text DEFAULT 'grouped',
    churn_positive_rate float8 DEFAULT 0.20,
    device_positive_rate float8 DEFAULT 0.20,
    balance_evaluation boolean DEFAULT false)
RETURNS TABLE (training_set text, split text, samples bigint, positives bigint, positive_share float8,
               weighted_positive_share float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    history date;
    arg text;
BEGIN
    arg := CASE WHEN seed IS NULL THEN 'seed' WHEN train_share IS NULL THEN 'train_share'
                WHEN validation_share IS NULL THEN 'validation_share' WHEN strategy IS NULL THEN 'strategy'
                WHEN balance_evaluation IS NULL THEN 'balance_evaluation' END;
    IF arg IS NOT NULL THEN
        RAISE EXCEPTION '% must not be NULL', arg
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave the argument out for its default.';
    END IF;
    IF strategy NOT IN ('grouped', 'time') THEN
        RAISE EXCEPTION 'strategy must be grouped or time, got "%"', strategy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'grouped keeps each entity in one split; time trains on the earliest cutoffs.';
    END IF;
    IF NOT (train_share > 0 AND validation_share >= 0 AND train_share + validation_share < 1) THEN
        RAISE EXCEPTION 'train_share and validation_share must be positive and leave a share for test, got % and %',
                        train_share, validation_share
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Such as 0.70 and 0.15, leaving 0.15 for test.';
    END IF;
    IF NOT (coalesce(churn_positive_rate, 0.5) > 0 AND coalesce(churn_positive_rate, 0.5) < 1
            AND coalesce(device_positive_rate, 0.5) > 0 AND coalesce(device_positive_rate, 0.5) < 1) THEN
        RAISE EXCEPTION 'churn_positive_rate and device_positive_rate must be in (0, 1), got % and %',
                        churn_positive_rate, device_positive_rate
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of positives wanted in the training split, or NULL to keep the natural rate.';
    END IF;
    SELECT h.as_of INTO history FROM normalize.history_info AS h;
    IF history IS NULL OR NOT EXISTS (SELECT 1 FROM normalize.customer_feature_store) THEN
        RAISE EXCEPTION 'there are no stored features to build training sets from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.build_history() and normalize.refresh_features() first.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.build_training_sets'));
    TRUNCATE normalize.churn_samples, normalize.clv_samples, normalize.device_health_samples, normalize.training_info;
    INSERT INTO normalize.training_info VALUES (true, seed, strategy, train_share, validation_share,
                                                churn_positive_rate, device_positive_rate);

    -- Churn: accounts active at the cutoff, with 90 days observed after it.
    -- The churn date is the first day of the churn month, after the cutoff
    -- of the month before.
    PERFORM normalize.drop_temp_table('nz_churn');
    CREATE TEMP TABLE nz_churn ON COMMIT DROP AS
    WITH churn AS (
        SELECT s.account_key, min(s.month) AS churned_on
          FROM normalize.account_snapshots AS s WHERE s.status = 'churned' GROUP BY s.account_key)
    SELECT f.account_key, f.as_of,
           coalesce(c.churned_on <= f.as_of + 30, false) AS churned_30d,
           coalesce(c.churned_on <= f.as_of + 60, false) AS churned_60d,
           coalesce(c.churned_on <= f.as_of + 90, false) AS churned_90d,
           normalize.random_uniform_for(f.account_key, 0, 1, seed, 'account', 'split') AS u,
           normalize.random_uniform_for(f.account_key || '@' || f.as_of, 0, 1, seed, 'account', 'balance') AS v
      FROM normalize.customer_feature_store AS f
      LEFT JOIN churn AS c ON c.account_key = f.account_key
     WHERE f.as_of + 90 <= history
       AND (c.churned_on IS NULL OR c.churned_on > f.as_of);
    PERFORM normalize.drop_temp_table('nz_split_input');
    CREATE TEMP TABLE nz_split_input ON COMMIT DROP AS
    SELECT c.account_key::varchar AS key, bool_or(c.churned_90d) OVER (PARTITION BY c.account_key)::text AS stratum,
           c.u, c.as_of
      FROM nz_churn AS c;
    INSERT INTO normalize.churn_samples
    SELECT c.account_key, c.as_of, s.split, c.churned_30d, c.churned_60d, c.churned_90d, 1
      FROM nz_churn AS c
      JOIN normalize.assign_splits(strategy, train_share, validation_share) AS s
        ON s.key = c.account_key AND s.as_of = c.as_of;
    PERFORM normalize.balance_samples('churn_samples', 'account_key', 'churned_90d', NULL, churn_positive_rate,
                                      balance_evaluation, seed);

    -- CLV: accounts active at the cutoff whose next 12 months are all
    -- observed; revenue after a churn is 0. Stratified by tier.
    PERFORM normalize.drop_temp_table('nz_clv');
    CREATE TEMP TABLE nz_clv ON COMMIT DROP AS
    SELECT f.account_key, f.as_of, s.tier,
           coalesce((SELECT sum(n.mrr) FROM normalize.account_snapshots AS n
                      WHERE n.account_key = f.account_key AND n.month > s.month
                        AND n.month <= s.month + interval '12 months'), 0) AS revenue_12m,
           normalize.random_uniform_for(f.account_key, 0, 1, seed, 'account', 'clv split') AS u
      FROM normalize.customer_feature_store AS f
      JOIN normalize.account_snapshots AS s
        ON s.account_key = f.account_key AND s.month = date_trunc('month', f.as_of)::date
     WHERE s.status = 'active'
       AND (s.month + interval '13 months' - interval '1 day')::date <= history;
    TRUNCATE nz_split_input;
    INSERT INTO nz_split_input
    SELECT c.account_key, a.tier, c.u, c.as_of
      FROM nz_clv AS c JOIN normalize.accounts AS a USING (account_key);
    INSERT INTO normalize.clv_samples
    SELECT c.account_key, c.as_of, s.split, c.tier, c.revenue_12m, 1
      FROM nz_clv AS c
      JOIN normalize.assign_splits(strategy, train_share, validation_share) AS s
        ON s.key = c.account_key AND s.as_of = c.as_of;

    -- Device health: failures in the 7, 14 and 30 days after the cutoff;
    -- stratified and balanced by device type.
    PERFORM normalize.drop_temp_table('nz_device');
    CREATE TEMP TABLE nz_device ON COMMIT DROP AS
    SELECT f.device_key, f.as_of, f.device_type,
           EXISTS (SELECT 1 FROM normalize.device_days AS x WHERE x.device_key = f.device_key AND x.failure
                      AND x.day > f.as_of AND x.day <= f.as_of + 7) AS failed_7d,
           EXISTS (SELECT 1 FROM normalize.device_days AS x WHERE x.device_key = f.device_key AND x.failure
                      AND x.day > f.as_of AND x.day <= f.as_of + 14) AS failed_14d,
           EXISTS (SELECT 1 FROM normalize.device_days AS x WHERE x.device_key = f.device_key AND x.failure
                      AND x.day > f.as_of AND x.day <= f.as_of + 30) AS failed_30d,
           normalize.random_uniform_for(f.device_key, 0, 1, seed, 'device', 'split') AS u
      FROM normalize.device_feature_store AS f
     WHERE f.as_of + 30 <= history;
    TRUNCATE nz_split_input;
    INSERT INTO nz_split_input
    SELECT d.device_key, coalesce(d.device_type, '') || '/' || bool_or(d.failed_30d) OVER (PARTITION BY d.device_key),
           d.u, d.as_of
      FROM nz_device AS d;
    INSERT INTO normalize.device_health_samples
    SELECT d.device_key, d.as_of, s.split, d.device_type, d.failed_7d, d.failed_14d, d.failed_30d, 1
      FROM nz_device AS d
      JOIN normalize.assign_splits(strategy, train_share, validation_share) AS s
        ON s.key = d.device_key AND s.as_of = d.as_of;
    PERFORM normalize.balance_samples('device_health_samples', 'device_key', 'failed_30d', 'device_type',
                                      device_positive_rate, balance_evaluation, seed);

    RETURN QUERY
    SELECT x.* FROM (
    SELECT 'churn'::text AS set_name, c.split AS split_name, count(*), count(*) FILTER (WHERE c.churned_90d),
           avg(c.churned_90d::int::float8), sum(c.sample_weight * c.churned_90d::int) / sum(c.sample_weight)
      FROM normalize.churn_samples AS c GROUP BY c.split
    UNION ALL
    SELECT 'clv', c.split, count(*), NULL, NULL, NULL FROM normalize.clv_samples AS c GROUP BY c.split
    UNION ALL
    SELECT 'device_health', d.split, count(*), count(*) FILTER (WHERE d.failed_30d),
           avg(d.failed_30d::int::float8), sum(d.sample_weight * d.failed_30d::int) / sum(d.sample_weight)
      FROM normalize.device_health_samples AS d GROUP BY d.split) AS x
    ORDER BY x.set_name, array_position(ARRAY['train', 'validation', 'test'], x.split_name);
END
$$;
COMMENT ON FUNCTION @extschema@.build_training_sets(bigint, float8, float8, text, float8, float8, boolean) IS
    'Builds the churn, CLV and device health training sets from the feature stores: censored labels, grouped (or time) splits stratified as the plan asks, and deterministic down-sampling of negatives to the target positive rates with weights that restore the natural rate';

-- Down-samples the negatives of a sample table's training split (and of
-- the other splits when asked) to a positive rate, per group when a group
-- column is given, keeping the negatives whose (seed, key, cutoff) draw
-- ranks first; the kept negatives weigh what the dropped ones did.
CREATE FUNCTION @extschema@.balance_samples(sample_table text, key_column text, label text, group_column text,
                                            positive_rate float8, all_splits boolean, seed bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF positive_rate IS NULL THEN
        RETURN;
    END IF;
    PERFORM normalize.drop_temp_table('nz_balance');
    EXECUTE format($q$
        CREATE TEMP TABLE nz_balance ON COMMIT DROP AS
        SELECT t.split, %4$s AS grp, count(*) FILTER (WHERE t.%3$I) AS positives,
               count(*) FILTER (WHERE NOT t.%3$I) AS negatives,
               ceil(count(*) FILTER (WHERE t.%3$I) * (1 - %5$s) / %5$s) AS keep
          FROM normalize.%1$I AS t WHERE t.split = 'train' OR %7$L
         GROUP BY t.split, %4$s$q$,
        sample_table, key_column, label, coalesce('t.' || quote_ident(group_column), 'NULL::text'),
        positive_rate, seed, all_splits);
    EXECUTE format($q$
        WITH negatives AS (
            SELECT t.%2$I AS k, t.as_of, t.split, %4$s AS grp,
                   row_number() OVER (PARTITION BY t.split, %4$s
                                      ORDER BY normalize.random_uniform_for(t.%2$I || '@' || t.as_of, 0, 1, %6$s,
                                                                            'sample', 'balance'), t.%2$I, t.as_of) AS r
              FROM normalize.%1$I AS t WHERE NOT t.%3$I AND (t.split = 'train' OR %7$L))
        DELETE FROM normalize.%1$I AS t USING negatives AS n, nz_balance AS w
         WHERE t.%2$I = n.k AND t.as_of = n.as_of AND w.split = n.split AND w.grp IS NOT DISTINCT FROM n.grp
           AND w.positives > 0 AND n.r > w.keep$q$,
        sample_table, key_column, label, coalesce('t.' || quote_ident(group_column), 'NULL::text'),
        positive_rate, seed, all_splits);
    EXECUTE format($q$
        UPDATE normalize.%1$I AS t SET sample_weight = w.negatives::float8 / w.keep
          FROM nz_balance AS w
         WHERE NOT t.%3$I AND w.split = t.split AND w.grp IS NOT DISTINCT FROM %4$s AND w.positives > 0
           AND w.keep < w.negatives$q$,
        sample_table, key_column, label, coalesce('t.' || quote_ident(group_column), 'NULL::text'));
END
$$;
COMMENT ON FUNCTION @extschema@.balance_samples(text, text, text, text, float8, boolean, bigint) IS
    'Internal: deterministic down-sampling of negatives to a positive rate, with restoring weights, during build_training_sets';

-- The training sets, ready for COPY ... TO: split, keys, labels, weight,
-- then every feature of the entity, in catalog order.
DO $$
DECLARE
    customer_cols text := (SELECT string_agg('f.' || quote_ident(c.feature), ', ' ORDER BY c.position)
                             FROM @extschema@.feature_catalog AS c WHERE c.entity = 'customer');
    device_cols text := (SELECT string_agg('f.' || quote_ident(c.feature), ', ' ORDER BY c.position)
                           FROM @extschema@.feature_catalog AS c WHERE c.entity = 'device');
BEGIN
    EXECUTE format('CREATE VIEW @extschema@.churn_training_set AS
        SELECT s.split, s.account_key, s.as_of, s.churned_30d, s.churned_60d, s.churned_90d, s.sample_weight, %s
          FROM @extschema@.churn_samples AS s
          JOIN @extschema@.customer_feature_store AS f ON f.account_key = s.account_key AND f.as_of = s.as_of',
        customer_cols);
    EXECUTE format('CREATE VIEW @extschema@.clv_training_set AS
        SELECT s.split, s.account_key, s.as_of, s.tier, s.revenue_12m, s.sample_weight, %s
          FROM @extschema@.clv_samples AS s
          JOIN @extschema@.customer_feature_store AS f ON f.account_key = s.account_key AND f.as_of = s.as_of',
        customer_cols);
    EXECUTE format('CREATE VIEW @extschema@.device_health_training_set AS
        SELECT s.split, s.device_key, s.as_of, s.failed_7d, s.failed_14d, s.failed_30d, s.sample_weight, %s
          FROM @extschema@.device_health_samples AS s
          JOIN @extschema@.device_feature_store AS f ON f.device_key = s.device_key AND f.as_of = s.as_of',
        device_cols);
END
$$;
COMMENT ON VIEW @extschema@.churn_training_set IS
    'The churn training set: split, account, cutoff, churned_30d/60d/90d, sample weight, and the customer features at the cutoff';
COMMENT ON VIEW @extschema@.clv_training_set IS
    'The CLV training set: split, account, cutoff, tier, revenue over the next 12 months, sample weight, and the customer features';
COMMENT ON VIEW @extschema@.device_health_training_set IS
    'The device health training set: split, device, cutoff, failed_7d/14d/30d, sample weight, and the device features';
-- Phase 6 of the plan, the statistics it stands on: one-sample
-- Kolmogorov-Smirnov tests against a family or a profile, truncation
-- included, with Boost.Math's CDFs.

CREATE TYPE @extschema@.ks_result AS (
    statistic float8,
    n         bigint,
    p_value   float8
);
COMMENT ON TYPE @extschema@.ks_result IS
    'A Kolmogorov-Smirnov test: D = sup |F_n - F|, the sample size, and the asymptotic p-value';

CREATE FUNCTION @extschema@.ks_accum(internal, float8, text, float8[])
RETURNS internal
AS 'MODULE_PATHNAME', 'nz_ks_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ks_accum(internal, float8, text, float8[]) IS
    'Transition function of ks_test(value, family, params)';

CREATE FUNCTION @extschema@.ks_accum(internal, float8, text, float8[], float8, float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'nz_ks_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ks_accum(internal, float8, text, float8[], float8, float8) IS
    'Transition function of ks_test(value, family, params, lower, upper)';

CREATE FUNCTION @extschema@.ks_accum_profile(internal, float8, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'nz_ks_accum_profile'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ks_accum_profile(internal, float8, text) IS
    'Transition function of ks_test(value, profile)';

CREATE FUNCTION @extschema@.ks_final(internal)
RETURNS @extschema@.ks_result
AS 'MODULE_PATHNAME', 'nz_ks_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.ks_final(internal) IS
    'Final function of the ks_test aggregates';

CREATE AGGREGATE @extschema@.ks_test(value float8, family text, params float8[]) (
    SFUNC = @extschema@.ks_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.ks_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.ks_test(float8, text, float8[]) IS
    'One-sample Kolmogorov-Smirnov test of the values against a family with parameters params';

CREATE AGGREGATE @extschema@.ks_test(value float8, family text, params float8[],
                                     lower float8, upper float8) (
    SFUNC = @extschema@.ks_accum,
    STYPE = internal,
    FINALFUNC = @extschema@.ks_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.ks_test(float8, text, float8[], float8, float8) IS
    'One-sample Kolmogorov-Smirnov test of the values against a family restricted to [lower, upper]';

CREATE AGGREGATE @extschema@.ks_test(value float8, profile text) (
    SFUNC = @extschema@.ks_accum_profile,
    STYPE = internal,
    FINALFUNC = @extschema@.ks_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE @extschema@.ks_test(float8, text) IS
    'One-sample Kolmogorov-Smirnov test of the values against a named profile';

-- True, or an error naming the argument, for a value that must lie strictly
-- between two bounds; lets SQL-language functions check their arguments.
CREATE FUNCTION @extschema@.require_between(argument text, value float8, low float8, high float8)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (value > low AND value < high) THEN
        RAISE EXCEPTION '% must be between % and %, got %', argument, low, high, coalesce(value::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Pass a value strictly between %s and %s.', low, high);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.require_between(text, float8, float8, float8) IS
    'Internal: true if low < value < high, else an error naming the argument';

CREATE FUNCTION @extschema@.validate_profiles(
    n bigint DEFAULT 100000,
    seed bigint DEFAULT 42,
    alpha float8 DEFAULT 0.01)
RETURNS TABLE (profile text, family text, n bigint, statistic float8, p_value float8,
               passed boolean)
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.name, p.family, (t.r).n, (t.r).statistic, (t.r).p_value, (t.r).p_value >= alpha
      FROM normalize.distribution_profiles AS p
     CROSS JOIN LATERAL (
            SELECT normalize.ks_test(x, p.name) AS r
              FROM normalize.sample_profile(p.name, n, seed) AS x) AS t
     WHERE normalize.require_between('alpha', alpha, 0, 1)
     ORDER BY p.name
$$;
COMMENT ON FUNCTION @extschema@.validate_profiles(bigint, bigint, float8) IS
    'Draws n values from every profile and tests them against the profile''s own distribution; passed when p_value >= alpha';
