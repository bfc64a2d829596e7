-- Inputs and defaults (issue 18, classes 5 and 10): a pipeline run records
-- a digest of what it reads (input_fingerprint) and resumes only while it
-- is unchanged; as_of defaults to the latest snapshot of the data instead
-- of the current date; validate_relationships counts a device that names
-- a location among those that should link to one.

ALTER TABLE @extschema@.pipeline_runs ADD COLUMN inputs text;
COMMENT ON COLUMN @extschema@.pipeline_runs.inputs IS
    'input_fingerprint() when the run started: it resumes only while its inputs are unchanged';

CREATE FUNCTION @extschema@.input_fingerprint()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
SET extra_float_digits = 3
AS $$
DECLARE
    s record;
    part text;
    parts text[] := '{}';
BEGIN
    FOR s IN SELECT x.* FROM normalize.sources AS x ORDER BY x.entity LOOP
        EXECUTE format('SELECT count(*) || '':'' || coalesce(sum(hashtextextended(r::text, 0)), 0) FROM %s AS r',
                       s.relation)
           INTO part;
        parts := parts || format('%s %s %s %s %s', s.entity, s.relation::text, s.columns, s.time_zone, part);
    END LOOP;
    FOREACH part IN ARRAY ARRAY['id_crosswalk', 'id_rule_overrides', 'category_values', 'category_spellings',
                                'distribution_profiles', 'tier_mix', 'device_types', 'quality_thresholds'] LOOP
        EXECUTE format('SELECT %L || '' '' || coalesce(string_agg(t::text, E''\n'' ORDER BY t::text COLLATE "C"), '''') FROM normalize.%I AS t',
                       part, part)
           INTO part;
        parts := parts || part;
    END LOOP;
    RETURN md5(array_to_string(parts, E'\n'));
END
$$;
COMMENT ON FUNCTION @extschema@.input_fingerprint() IS
    'A digest of what a pipeline run reads: the registered sources (registration and rows) and the tables of settings; a run resumes only while it is unchanged';

CREATE FUNCTION @extschema@.latest_snapshot(origin text)
RETURNS date
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    latest date;
    candidate date;
    e record;
BEGIN
    IF origin NOT IN ('sources', 'normalized') THEN
        RAISE EXCEPTION 'origin must be sources or normalized, got "%"', origin
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'sources reads the registered raw tables, normalized the reconciled ones.';
    END IF;
    FOR e IN SELECT k.* FROM normalize.entity_kinds AS k
               JOIN normalize.sources AS s USING (entity) ORDER BY k.position LOOP
        IF origin = 'sources' THEN
            EXECUTE format('SELECT max(s.snapshot_date) FROM (%s) AS s', normalize.source_query(e.entity)) INTO candidate;
        ELSE
            EXECUTE format('SELECT max(t.snapshot_date) FROM normalize.%I AS t', e.table_name) INTO candidate;
        END IF;
        latest := greatest(latest, candidate);
    END LOOP;
    IF latest IS NULL OR NOT isfinite(latest) THEN
        RAISE EXCEPTION 'the % carry no snapshot date to end the history at', CASE origin WHEN 'sources' THEN 'registered sources' ELSE 'normalized tables' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass as_of, the last day of the history, such as ''2025-06-18''.';
    END IF;
    RETURN latest;
END
$$;
COMMENT ON FUNCTION @extschema@.latest_snapshot(text) IS
    'The latest snapshot date of the registered sources (origin sources) or of the normalized tables (normalized), where a history ends by default';

