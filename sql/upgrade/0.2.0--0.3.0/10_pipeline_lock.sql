-- run_pipeline's lock lives as long as the CALL that took it (pipeline_lock
-- and pipeline_unlock, in C): an error that ends the CALL anywhere gives it
-- up. A run left marked running reads as failed in pipeline_status.

-- run_pipeline's lock (see src/glue/pipeline_lock.cpp): held by the session
-- running a pipeline for as long as its CALL runs, given up when the
-- transaction that records the run's end commits, or when an error ends the
-- CALL anywhere.
CREATE FUNCTION @extschema@.pipeline_lock()
RETURNS boolean
AS 'MODULE_PATHNAME', 'nz_pipeline_lock'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.pipeline_lock() IS
    'Internal: takes run_pipeline''s lock for this session (true), or finds it held by another session (false); any error that ends the CALL gives it up';

CREATE FUNCTION @extschema@.pipeline_unlock()
RETURNS void
AS 'MODULE_PATHNAME', 'nz_pipeline_unlock'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.pipeline_unlock() IS
    'Internal: gives up run_pipeline''s lock when the current transaction ends';

-- The session that holds the pipeline's lock in this database, if any: the
-- one running a pipeline.
CREATE FUNCTION @extschema@.pipeline_lock_holder()
RETURNS integer
LANGUAGE sql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT l.pid FROM pg_locks AS l
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = 2125 AND l.objsubid = 1
           AND l.database = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
         LIMIT 1);
COMMENT ON FUNCTION @extschema@.pipeline_lock_holder() IS
    'Internal: the process ID of the session that holds run_pipeline''s lock in this database, or NULL';

-- Takes the pipeline's lock for this session, then starts a run or resumes
-- the last one. A run resumes when it did not finish (failed, or still
-- marked running by a CALL that ended with an error or a session that is
-- gone: holding the lock, no other run can be under way) and was called
-- with the same arguments; otherwise, or with restart, a new run starts from
-- the first phase. Returns the run's id.
CREATE OR REPLACE FUNCTION @extschema@.pipeline_begin(arguments jsonb, restart boolean)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    holder integer;
    last record;
    run bigint;
BEGIN
    IF NOT normalize.pipeline_lock() THEN
        holder := normalize.pipeline_lock_holder();
        RAISE EXCEPTION 'normalize.run_pipeline is already running in this database'
            USING ERRCODE = 'lock_not_available',
                  DETAIL = format('Session %s holds the pipeline''s lock.', coalesce(holder::text, '(unknown)')),
                  HINT = 'Wait for it to finish: SELECT * FROM normalize.pipeline_status shows how far it got.';
    END IF;

    SELECT * INTO last FROM normalize.pipeline_runs AS r ORDER BY r.run_id DESC LIMIT 1;
    IF NOT restart AND last.run_id IS NOT NULL AND last.status <> 'done' AND last.arguments = pipeline_begin.arguments THEN
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
    INSERT INTO normalize.pipeline_runs (arguments, status) VALUES (pipeline_begin.arguments, 'running')
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

-- Records a failed phase (in a transaction of its own, after the phase's
-- was rolled back); the lock is given up once that record commits.
CREATE OR REPLACE FUNCTION @extschema@.pipeline_fail(run bigint, phase text, message text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE normalize.pipeline_runs AS r
       SET status = 'failed', finished_at = clock_timestamp(), error = format('%s: %s', phase, message)
     WHERE r.run_id = run;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no pipeline run %', run
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'normalize.pipeline_runs lists the runs; CALL normalize.run_pipeline() starts one.';
    END IF;
    UPDATE normalize.pipeline_phases AS p
       SET status = 'failed', finished_at = clock_timestamp(),
           seconds = round(extract(epoch FROM clock_timestamp() - p.started_at)::numeric, 1), error = message
     WHERE p.run_id = run AND p.phase = pipeline_fail.phase;
    PERFORM normalize.discard_staging(phase);
    PERFORM normalize.pipeline_unlock();
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_fail(bigint, text, text) IS
    'Internal: records the failed phase of a pipeline run and releases run_pipeline''s lock when that commits';

-- Records the run as done; the lock is given up once that commits, so that
-- a session that takes it next sees the run finished.
CREATE OR REPLACE FUNCTION @extschema@.pipeline_finish(run bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE normalize.pipeline_runs AS r SET status = 'done', finished_at = clock_timestamp() WHERE r.run_id = run;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'there is no pipeline run %', run
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'normalize.pipeline_runs lists the runs; CALL normalize.run_pipeline() starts one.';
    END IF;
    RAISE NOTICE 'run_pipeline: run % done in % s', run,
        (SELECT round(sum(p.seconds), 1) FROM normalize.pipeline_phases AS p WHERE p.run_id = run);
    PERFORM normalize.pipeline_unlock();
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_finish(bigint) IS
    'Internal: marks a pipeline run done and releases run_pipeline''s lock when that commits';

-- The runs as they stand. A run still marked running whose session does not
-- hold the pipeline's lock has stopped: its CALL ended with an error that
-- left no record (a cancel between two phases, say), or its session ended.
-- It reads as failed, and calling run_pipeline with the same arguments
-- resumes it.
CREATE VIEW @extschema@.pipeline_status AS
SELECT r.run_id, s.status,
       (SELECT p.phase FROM @extschema@.pipeline_phases AS p
         WHERE p.run_id = r.run_id AND p.status <> 'done' ORDER BY p.position LIMIT 1) AS phase,
       r.started_at, r.finished_at, r.backend_pid,
       CASE WHEN s.stopped THEN format('the CALL running it (process %s) ended before it finished', r.backend_pid)
            ELSE r.error END AS error,
       r.arguments
  FROM @extschema@.pipeline_runs AS r
 CROSS JOIN LATERAL (
       SELECT x.stopped, CASE WHEN x.stopped THEN 'failed' ELSE r.status END AS status
         FROM (SELECT r.status = 'running'
                      AND r.backend_pid IS DISTINCT FROM @extschema@.pipeline_lock_holder() AS stopped) AS x) AS s;
COMMENT ON VIEW @extschema@.pipeline_status IS
    'Every pipeline run as it stands now: its status (a run marked running whose session no longer runs it reads as failed), the phase it is in or stopped in, and why it failed';
