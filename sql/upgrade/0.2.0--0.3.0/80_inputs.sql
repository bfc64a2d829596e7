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

CREATE OR REPLACE FUNCTION @extschema@.pipeline_begin(arguments jsonb, restart boolean)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    holder integer;
    last record;
    run bigint;
    fingerprint text;
BEGIN
    IF NOT normalize.pipeline_lock() THEN
        holder := normalize.pipeline_lock_holder();
        RAISE EXCEPTION 'normalize.run_pipeline is already running in this database'
            USING ERRCODE = 'lock_not_available',
                  DETAIL = format('Session %s holds the pipeline''s lock.', coalesce(holder::text, '(unknown)')),
                  HINT = 'Wait for it to finish: SELECT * FROM normalize.pipeline_status shows how far it got.';
    END IF;

    SELECT * INTO last FROM normalize.pipeline_runs AS r ORDER BY r.run_id DESC LIMIT 1;
    fingerprint := normalize.input_fingerprint();
    IF NOT restart AND last.run_id IS NOT NULL AND last.status <> 'done' AND last.arguments = pipeline_begin.arguments
       AND last.inputs IS DISTINCT FROM fingerprint THEN
        RAISE NOTICE 'run_pipeline: the sources or the settings changed since run % started; starting over', last.run_id
            USING HINT = 'Resuming would mix tables built from the old inputs with the new.';
    ELSIF NOT restart AND last.run_id IS NOT NULL AND last.status <> 'done' AND last.arguments = pipeline_begin.arguments THEN
        run := last.run_id;
        UPDATE normalize.pipeline_runs AS r
           SET status = 'running', finished_at = NULL, error = NULL, backend_pid = pg_backend_pid()
         WHERE r.run_id = run;
        UPDATE normalize.pipeline_phases AS p SET status = 'pending', error = NULL
         WHERE p.run_id = run AND p.status <> 'done';
        RAISE NOTICE 'run_pipeline: resuming run % from phase %', run,
            (SELECT p.phase FROM normalize.pipeline_phases AS p WHERE p.run_id = run AND p.status <> 'done'
              ORDER BY p.position LIMIT 1);
        RETURN run;
    END IF;
    INSERT INTO normalize.pipeline_runs (arguments, status, inputs) VALUES (pipeline_begin.arguments, 'running', fingerprint)
    RETURNING run_id INTO run;
    IF last.run_id IS NOT NULL AND last.status <> 'done' THEN
        UPDATE normalize.pipeline_runs AS r SET status = 'failed', finished_at = coalesce(r.finished_at, clock_timestamp()),
               error = coalesce(r.error, 'superseded by run ' || run || ' before it finished')
         WHERE r.run_id = last.run_id;
        UPDATE normalize.pipeline_phases AS p SET status = 'failed', error = 'the run stopped in this phase'
         WHERE p.run_id = last.run_id AND p.status = 'running';
    END IF;
    INSERT INTO normalize.pipeline_phases (run_id, position, phase)
    SELECT run, p.position, p.phase
      FROM unnest(ARRAY['reconcile', 'repair', 'history', 'features', 'training', 'quality'])
           WITH ORDINALITY AS p(phase, position);
    RAISE NOTICE 'run_pipeline: run % started', run;
    RETURN run;
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_begin(jsonb, boolean) IS
    'Internal: takes run_pipeline''s lock and starts a run, or resumes the last unfinished one with the same arguments';

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

