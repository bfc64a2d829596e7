-- Workers: the features' engine splits the entities among the processes
-- normalize.workers allows (worker_count), and run_pipeline takes their
-- number for a run.

DROP PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean, float8, float8);

-- The processes a phase may use: the features' engine splits the entities
-- among them, and the staging tables' indexes are built with them.
CREATE OR REPLACE FUNCTION @extschema@.worker_count()
RETURNS integer
AS 'MODULE_PATHNAME', 'nz_worker_count'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.worker_count() IS
    'The processes a phase uses: the setting normalize.workers, or with 0 (its default) one per core of the machine; within max_parallel_workers + 1';


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
