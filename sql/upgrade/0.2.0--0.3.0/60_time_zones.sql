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

