-- Workers: the features' engine splits the entities among the processes
-- normalize.workers allows (worker_count), the pipeline's phases use as
-- many for their parallel plans and index builds, and run_pipeline takes
-- their number for a run.

DROP PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean, float8, float8);

-- The processes a phase may use: the features' engine splits the entities
-- among them, and the staging tables' indexes are built with them.
CREATE OR REPLACE FUNCTION @extschema@.worker_count()
RETURNS integer
AS 'MODULE_PATHNAME', 'nz_worker_count'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.worker_count() IS
    'The processes a phase uses: the setting normalize.workers, or with 0 (its default) one per core of the machine; within max_parallel_workers + 1';

-- Runs one phase with the run's arguments and records it as done, in the
-- caller's transaction: the phase's work and its "done" commit together.
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
    IF NOT EXISTS (SELECT 1 FROM normalize.pipeline_phase_kinds AS k WHERE k.phase = pipeline_run_phase.phase) THEN
        RAISE EXCEPTION 'unknown pipeline phase "%"', phase
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The phases are reconcile, repair, history, features, training and quality.';
    END IF;
    -- The phase's statements use as many processes as its engine: parallel
    -- plans and index builds take worker_count() - 1 workers, none with
    -- one (until the function returns, as its other settings).
    PERFORM set_config('max_parallel_workers_per_gather', (normalize.worker_count() - 1)::text, true);
    PERFORM set_config('max_parallel_maintenance_workers', (normalize.worker_count() - 1)::text, true);
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
        -- The report's "before" is of the sources this run read.
        PERFORM normalize.record_source_metrics(run);
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


CREATE PROCEDURE @extschema@.run_pipeline(seed bigint DEFAULT 42, months integer DEFAULT 24,
                                          as_of date DEFAULT NULL,
                                          orphan_policy text DEFAULT 'quarantine',
                                          restart boolean DEFAULT false, min_share float8 DEFAULT 0.5,
                                          ambiguity_margin float8 DEFAULT 0.1, workers integer DEFAULT NULL)
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
    IF workers IS NOT NULL THEN
        PERFORM normalize.require_range('workers', workers, 1, 1024,
                                        'Pass the processes a phase may use, such as 2, or leave it out for the setting normalize.workers.');
    END IF;
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
        -- For this phase's transaction: the commit puts the setting back.
        -- Not an argument of the run: a run resumes with any number.
        IF workers IS NOT NULL THEN
            PERFORM pg_catalog.set_config('normalize.workers', workers::pg_catalog.text, true);
        END IF;
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
COMMENT ON PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean, float8, float8, integer) IS
    'Runs the whole pipeline on the registered sources (reconcile, repair, history, features, training sets, quality checks), committing after each phase; one run at a time; resumes an unfinished run with the same arguments; min_share and ambiguity_margin are reconcile_ids''; workers, the processes a phase may use (default: the setting normalize.workers), does not change the results';
