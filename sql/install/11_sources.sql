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
    category    text,
    PRIMARY KEY (entity, column_name)
);
COMMENT ON TABLE @extschema@.source_contract IS
    'The columns each source entity must (required) or may have, by logical name and type class';
COMMENT ON COLUMN @extschema@.source_contract.type_class IS
    'id: integer or text; number: any numeric type; date: date or timestamp; text: any type';
COMMENT ON COLUMN @extschema@.source_contract.category IS
    'For a column of categories, the vocabulary its values are read through (normalize.category_values)';

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
UPDATE @extschema@.source_contract AS c SET category = v.category
  FROM (VALUES ('customers', 'tier', 'customer tier'), ('subscriptions', 'status', 'subscription status'),
               ('devices', 'status', 'device status'), ('users', 'role', 'user role')) AS v(entity, column_name, category)
 WHERE c.entity = v.entity AND c.column_name = v.column_name;

CREATE TABLE @extschema@.sources (
    entity        text PRIMARY KEY,
    relation      regclass NOT NULL,
    columns       jsonb NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    time_zone     text NOT NULL DEFAULT 'UTC'
);
COMMENT ON TABLE @extschema@.sources IS
    'The registered raw tables: for each entity, the relation and which of its columns holds each contract column';
COMMENT ON COLUMN @extschema@.sources.time_zone IS
    'The time zone a timestamptz column of the source is read in as a date, so that dates do not depend on the session''s TimeZone';
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

-- Refuses a time zone PostgreSQL does not know, by name.
CREATE FUNCTION @extschema@.require_time_zone(time_zone text)
RETURNS void
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.timezone(time_zone, TIMESTAMPTZ '2000-01-01 00:00+00');
EXCEPTION WHEN invalid_parameter_value OR feature_not_supported THEN
    RAISE EXCEPTION 'time_zone "%" is not a known time zone', time_zone
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Pass a name from pg_timezone_names, such as UTC or Europe/Berlin.';
END
$$;
COMMENT ON FUNCTION @extschema@.require_time_zone(text) IS
    'Internal: raises a clear error unless time_zone names a time zone PostgreSQL knows';

CREATE FUNCTION @extschema@.register_source(entity text, relation regclass, columns jsonb DEFAULT '{}',
                                            time_zone text DEFAULT 'UTC')
RETURNS TABLE (column_name text, source_column text, source_type text, required boolean)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mapping jsonb;
BEGIN
    PERFORM normalize.require_time_zone(time_zone);
    SELECT jsonb_object_agg(c.column_name, c.source_column) INTO mapping
      FROM normalize.check_source(entity, relation, columns) AS c;
    INSERT INTO normalize.sources AS s (entity, relation, columns, time_zone)
    VALUES (register_source.entity, register_source.relation, mapping, register_source.time_zone)
    ON CONFLICT ON CONSTRAINT sources_pkey DO UPDATE
       SET relation = EXCLUDED.relation, columns = EXCLUDED.columns, registered_at = pg_catalog.now(),
           time_zone = EXCLUDED.time_zone;
    RETURN QUERY SELECT * FROM normalize.check_source(entity, relation, columns);
END
$$;
COMMENT ON FUNCTION @extschema@.register_source(text, regclass, jsonb, text) IS
    'Registers one raw table as an entity''s source; columns maps contract columns to the table''s own names; its timestamptz columns are read as dates in time_zone';

CREATE FUNCTION @extschema@.use_sources(schema_name text, time_zone text DEFAULT 'UTC')
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
CREATE FUNCTION @extschema@.unregister_source(entity text)
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

-- The SELECT that reads a registered source by contract column names, with
-- every column cast to its class's type (ids as text) and absent optional
-- columns as NULL. Every phase reads sources through it. A timestamptz is
-- taken as a date in the source's time zone, not the session's, and a
-- column of categories through its vocabulary (its canonical value, or the
-- raw one when the vocabulary does not know it: quality_checks reports
-- those). The vocabulary goes into the query as one jsonb constant: a
-- lookup in it costs less than a join per row of the largest sources.
-- Only the contract columns named in `columns` when given: a scan for a
-- few references then reads no more than it needs.
CREATE FUNCTION @extschema@.source_query(entity text, columns text[] DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src record;
    cols text;
    unknown text;
BEGIN
    IF entity IS NULL THEN
        RAISE EXCEPTION 'entity must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'The entities are customers, subscriptions, devices, users, locations and campaigns.';
    END IF;
    SELECT s.relation, s.columns, s.time_zone INTO src FROM normalize.sources AS s WHERE s.entity = source_query.entity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no source is registered for %', entity
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register the raw tables first with normalize.use_sources(schema) or normalize.register_source(...).';
    END IF;
    SELECT string_agg(format('"%s"', coalesce(c, 'NULL')), ', ') INTO unknown
      FROM unnest(columns) AS c
     WHERE c IS NULL OR NOT EXISTS (SELECT 1 FROM normalize.source_contract AS k
                                     WHERE k.entity = source_query.entity AND k.column_name = c);
    IF cardinality(columns) = 0 THEN
        RAISE EXCEPTION 'columns must name at least one contract column of %', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave columns out for every column, or name contract columns, such as {account_id}.';
    END IF;
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'columns names % which the % contract does not have', unknown, entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave columns out for every column, or name contract columns, such as {account_id}.';
    END IF;
    SELECT string_agg(
             CASE WHEN src.columns ? c.column_name AND c.type_class = 'date'
                       AND (SELECT a.atttypid FROM pg_attribute AS a
                             WHERE a.attrelid = src.relation AND a.attname = src.columns ->> c.column_name
                               AND NOT a.attisdropped) = 'timestamptz'::regtype
                  THEN format('(r.%I AT TIME ZONE %L)::date AS %I', src.columns ->> c.column_name,
                              src.time_zone, c.column_name)
                  WHEN src.columns ? c.column_name AND c.category IS NOT NULL
                  THEN format('coalesce(%L::jsonb ->> normalize.fold_category(r.%I::text), r.%I::text) AS %I',
                              (SELECT coalesce(jsonb_object_agg(l.spelling, l.value), '{}')
                                 FROM normalize.category_lookup AS l WHERE l.category = c.category),
                              src.columns ->> c.column_name, src.columns ->> c.column_name, c.column_name)
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
             ', ' ORDER BY c.position)
      INTO cols
      FROM normalize.source_contract AS c
     WHERE c.entity = source_query.entity AND (columns IS NULL OR c.column_name = ANY (columns));
    RETURN format('SELECT %s FROM %s AS r', cols, src.relation);
END
$$;
COMMENT ON FUNCTION @extschema@.source_query(text, text[]) IS
    'The SELECT that reads a registered source by contract column names and canonical types (only the columns named, when given)';
