-- Time zones (issue 18, class 8): a source's timestamptz columns are read
-- as dates in the time zone it was registered with (UTC by default), not
-- in the session's TimeZone, so that the same source gives the same
-- tables under any session.

ALTER TABLE @extschema@.sources ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
COMMENT ON COLUMN @extschema@.sources.time_zone IS
    'The time zone a timestamptz column of the source is read in as a date, so that dates do not depend on the session''s TimeZone';

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

DROP FUNCTION @extschema@.register_source(text, regclass, jsonb);
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

DROP FUNCTION @extschema@.use_sources(text);
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
        PERFORM normalize.register_source(e, relation, '{}', use_sources.time_zone);
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
COMMENT ON FUNCTION @extschema@.use_sources(text, text) IS
    'Registers the six raw tables of a schema (customers, subscriptions, devices, users, locations, campaigns) that follow the source contract, their timestamptz columns read as dates in time_zone';
