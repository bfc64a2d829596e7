-- The whole pipeline in one call: CALL normalize.run_pipeline(...) runs the
-- six phases in order and commits after each, logging as it goes, so that
-- another session can watch it and a failed or cancelled run resumes from
-- the phase that did not finish.

-- The phases in their order: the tables each replaces, and the earlier
-- phases each is built on. Replacing a phase's output empties what every
-- phase built on it wrote, read from here (clear_outputs) rather than
-- from a list in each phase; run_pipeline runs them in this order.
CREATE TABLE @extschema@.pipeline_phase_kinds (
    phase    text PRIMARY KEY,
    position integer NOT NULL UNIQUE,
    writes   text[] NOT NULL,
    built_on text[] NOT NULL,
    CHECK (NOT phase = ANY (built_on))
);
COMMENT ON TABLE @extschema@.pipeline_phase_kinds IS
    'The phase registry: each phase of the pipeline in order, the tables it replaces, and the phases it is built on';
COMMENT ON COLUMN @extschema@.pipeline_phase_kinds.writes IS
    'Tables of schema normalize the phase empties and fills (repair also rewrites columns of the normalized tables)';
COMMENT ON COLUMN @extschema@.pipeline_phase_kinds.built_on IS
    'The phases whose results this phase reads: replacing theirs empties this one''s';
INSERT INTO @extschema@.pipeline_phase_kinds (phase, position, writes, built_on) VALUES
    ('reconcile', 1, ARRAY['accounts', 'locations', 'subscriptions', 'devices', 'users', 'campaigns', 'account_map',
                           'unlinked_rows', 'quarantine', 'key_collisions', 'key_case', 'reconciliation_rules',
                           'source_metrics'], '{}'),
    ('repair', 2, ARRAY['repair_summary'], ARRAY['reconcile']),
    ('history', 3, ARRAY['history_info', 'account_snapshots', 'device_days', 'user_weeks', 'lifecycle_events',
                         'account_rollups'],
     ARRAY['reconcile', 'repair']),
    ('features', 4, ARRAY['customer_feature_store', 'device_feature_store', 'user_feature_store'], ARRAY['history']),
    ('training', 5, ARRAY['churn_samples', 'clv_samples', 'device_health_samples', 'training_info'],
     ARRAY['history', 'features']),
    ('quality', 6, '{}', ARRAY['reconcile', 'repair', 'history', 'features', 'training']);

-- The phase and every phase built on it, directly or not, in order, with
-- the tables each replaces. An unknown phase is an error.
CREATE FUNCTION @extschema@.phases_from(phase text)
RETURNS TABLE (name text, writes text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF phases_from.phase IS NULL THEN
        RAISE EXCEPTION 'phase must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'The phases are reconcile, repair, history, features, training and quality.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM normalize.pipeline_phase_kinds AS k WHERE k.phase = phases_from.phase) THEN
        RAISE EXCEPTION 'phase must be one of normalize.pipeline_phase_kinds, got "%"', phases_from.phase
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The phases are reconcile, repair, history, features, training and quality.';
    END IF;
    RETURN QUERY
    WITH RECURSIVE downstream AS (
        SELECT k.phase FROM normalize.pipeline_phase_kinds AS k WHERE k.phase = phases_from.phase
        UNION
        SELECT k.phase FROM normalize.pipeline_phase_kinds AS k JOIN downstream AS d ON d.phase = ANY (k.built_on))
    SELECT k.phase, k.writes FROM normalize.pipeline_phase_kinds AS k JOIN downstream AS d USING (phase)
     ORDER BY k.position;
END
$$;
COMMENT ON FUNCTION @extschema@.phases_from(text) IS
    'Internal: the phase and every phase built on it, directly or not (per pipeline_phase_kinds), in order, with the tables each replaces';

-- Empties the tables of the phases after phase that are built on it, in
-- one TRUNCATE (the caller holds their locks, or takes them here), and the
-- phase's own unless keep_own. Returns those later phases whose tables
-- held rows: what the caller has thrown away.
CREATE FUNCTION @extschema@.empty_phases_from(phase text, keep_own boolean)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tables text;
    cleared text[] := '{}';
    p record;
    has_rows boolean;
BEGIN
    IF keep_own IS NULL THEN
        RAISE EXCEPTION 'keep_own must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass true to keep the phase''s own tables.';
    END IF;
    FOR p IN SELECT x.name, x.writes FROM normalize.phases_from(empty_phases_from.phase) AS x
              WHERE cardinality(x.writes) > 0 AND NOT (keep_own AND x.name = empty_phases_from.phase) LOOP
        IF p.name <> empty_phases_from.phase THEN
            EXECUTE 'SELECT EXISTS (' || (SELECT string_agg(format('SELECT FROM normalize.%I', w), ' UNION ALL ')
                                            FROM unnest(p.writes) AS w) || ')'
               INTO has_rows;
            IF has_rows THEN
                cleared := cleared || p.name;
            END IF;
        END IF;
        tables := concat_ws(', ', tables, (SELECT string_agg(format('normalize.%I', w), ', ') FROM unnest(p.writes) AS w));
    END LOOP;
    -- (A phase that writes nothing, with nothing built on it: quality.)
    IF tables IS NOT NULL THEN
        EXECUTE 'TRUNCATE ' || tables;
    END IF;
    RETURN cleared;
END
$$;
COMMENT ON FUNCTION @extschema@.empty_phases_from(text, boolean) IS
    'Internal: empties the tables of every phase built on phase (per pipeline_phase_kinds), and phase''s own unless keep_own; returns the later phases whose results were thrown away';

-- For the phases that write in place (reconcile rewrites the normalized
-- tables, repair updates them): empties what the phase replaces and
-- everything built on it, at the phase's start.
CREATE FUNCTION @extschema@.clear_outputs(phase text)
RETURNS text[]
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN normalize.empty_phases_from(phase, false);
COMMENT ON FUNCTION @extschema@.clear_outputs(text) IS
    'Internal: empties the tables a phase replaces and those of every phase built on it (per pipeline_phase_kinds); returns the later phases whose results were thrown away';

-- The processes a phase may use: the features' engine splits the entities
-- among them, and the staging tables' indexes are built with them.
CREATE FUNCTION @extschema@.worker_count()
RETURNS integer
AS 'MODULE_PATHNAME', 'nz_worker_count'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.worker_count() IS
    'The processes a phase uses: the setting normalize.workers, or with 0 (its default) one per core of the machine; within max_parallel_workers + 1';

-- A statement run once per part ($1 the part, from 0; $2 the parts), in
-- background workers when the caller's transaction has written nothing
-- yet, each part committed on its own (see src/glue/committed_parts.hpp);
-- otherwise in the caller, part after part. The phases write their
-- heaviest tables so, from every core.
CREATE FUNCTION @extschema@.run_in_parts(statement text, parts integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_run_in_parts'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.run_in_parts(text, integer) IS
    'Internal: runs a statement once per part ($1 the part from 0, $2 the parts), in background workers that commit each part when the transaction has written nothing yet, else in this session; returns the rows written (a command''s, or the sum of a query''s bigint column)';

-- The parts a phase splits its heaviest statements into: several per
-- process, so that a process done early takes another part.
CREATE FUNCTION @extschema@.part_count()
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN normalize.worker_count() OPERATOR(pg_catalog.=) 1 THEN 1
            ELSE 4 OPERATOR(pg_catalog.*) normalize.worker_count() END;
COMMENT ON FUNCTION @extschema@.part_count() IS
    'Internal: the parts a phase splits its heaviest statements into (run_in_parts): four per process, or one with one process';

-- The phases that build beside: history, features and training write their
-- results into staging tables (next_<table>, made like the table each
-- replaces), and swap them in at their end (swap_in_phase). Until then
-- readers see the previous results, whole, without waiting. The staging
-- tables are made by a worker of run_in_parts, committed, so that workers
-- can write into them; other sessions can see them, empty or filling,
-- until the swap. A phase that failed leaves them (its workers' rows are
-- committed): the phase's next start drops them, and run_pipeline drops
-- them when a phase fails (discard_staging).
-- The staging tables start without indexes: swap_in_phase builds them once
-- the rows are in, a sorted build that can use the parallel maintenance
-- workers, at about half of what keeping them up row by row costs.
CREATE FUNCTION @extschema@.stage_phase(phase text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ddl text;
BEGIN
    SELECT string_agg(CASE WHEN to_regclass(format('normalize.%I', 'next_' || t)) IS NOT NULL
                           THEN format('DROP TABLE normalize.%I; ', 'next_' || t) ELSE '' END
                      || format('CREATE TABLE normalize.%I (LIKE normalize.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                                 INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)', 'next_' || t, t),
                      '; ')
      INTO ddl
      FROM normalize.phases_from(stage_phase.phase) AS x CROSS JOIN LATERAL unnest(x.writes) AS t
     WHERE x.name = stage_phase.phase;
    IF ddl IS NOT NULL THEN
        PERFORM normalize.run_in_parts(ddl, 1);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.stage_phase(text) IS
    'Internal: makes the staging tables (next_<table>) a phase builds its results in, each like the table it replaces';

-- A staging table made ready for the swap: the indexes of the table it
-- replaces (a key as a key), built now that the rows are in, and its
-- statistics. One table per call, so that swap_in_phase can hand the
-- tables to background workers (run_in_parts), several at once.
CREATE FUNCTION @extschema@.ready_staging_table(t text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    def text;
BEGIN
    IF to_regclass(format('normalize.%I', 'next_' || t)) IS NULL OR to_regclass(format('normalize.%I', t)) IS NULL THEN
        RAISE EXCEPTION 'there is no staging table normalize.% for normalize.%', quote_ident('next_' || t), quote_ident(t)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'normalize.stage_phase() makes a phase''s staging tables.';
    END IF;
    -- (A staging table given indexes of its own keeps them: the swap
    -- checks that they are its table's.)
    FOR def IN SELECT CASE WHEN c.oid IS NOT NULL
                           THEN format('ALTER TABLE normalize.%I ADD %s', 'next_' || t, pg_get_constraintdef(c.oid))
                           ELSE format('CREATE %sINDEX ON normalize.%I%s', CASE WHEN i.indisunique THEN 'UNIQUE ' END,
                                       'next_' || t, substr(d.def, strpos(d.def, ' USING ')))
                      END
                 FROM pg_index AS i
                CROSS JOIN LATERAL (SELECT pg_get_indexdef(i.indexrelid) AS def) AS d
                 LEFT JOIN pg_constraint AS c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                                             AND c.contype IN ('p', 'u', 'x')
                WHERE i.indrelid = format('normalize.%I', t)::regclass
                  AND NOT EXISTS (SELECT FROM pg_index AS x
                                   WHERE x.indrelid = format('normalize.%I', 'next_' || t)::regclass)
                ORDER BY i.indexrelid LOOP
        EXECUTE def;
    END LOOP;
    EXECUTE format('ANALYZE normalize.%I', 'next_' || t);
END
$$;
COMMENT ON FUNCTION @extschema@.ready_staging_table(text) IS
    'Internal: builds on the staging table next_<t> the indexes of normalize.<t> and analyzes it, before the swap';

-- The staged results in, in one instant: the staging tables' indexes
-- (each like one of its table's, a key as a key) and statistics are made
-- first, then every table the phase replaces and every table
-- built on them is locked, the later phases' emptied, and each staging
-- table's storage swapped with its table's (swap_table_storage) and
-- dropped. The lock is held from here to the commit: milliseconds.
-- Readers that come while the lock is asked for queue behind the request,
-- and a query in progress may hold a table for long: so the request gives
-- up after 100 ms, then 200, 400 and 800 at most, with a pause between
-- tries that lets the queue through. After 30 s of tries it waits as long
-- as it takes, saying so; a lock_timeout the session set bounds it all.
-- Returns the later phases whose results were thrown away.
CREATE FUNCTION @extschema@.swap_in_phase(phase text)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    own text[];
    tables text;
    cleared text[];
    t text;
    session_timeout text := current_setting('lock_timeout');
    give_up timestamptz;
    stop_trying timestamptz;
    tries integer := 0;
    by_size text[];
BEGIN
    SELECT x.writes INTO own FROM normalize.phases_from(swap_in_phase.phase) AS x WHERE x.name = swap_in_phase.phase;
    FOREACH t IN ARRAY own LOOP
        IF to_regclass(format('normalize.%I', 'next_' || t)) IS NULL THEN
            RAISE EXCEPTION 'phase % has no staging table normalize.%', phase, quote_ident('next_' || t)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'swap_in_phase ends a phase that began with normalize.stage_phase(); the phases call both.';
        END IF;
    END LOOP;
    -- Each table made ready by a process of its own where they may run
    -- apart, the largest first; or here, one after the other. One process
    -- per table: its index builds take parallel workers only here.
    -- (By the rows inserted, which takes no lock: a lock of this session's
    -- on a staging table would hold up a worker's key.)
    SELECT array_agg(w ORDER BY pg_stat_get_tuples_inserted(format('normalize.%I', 'next_' || w)::regclass) DESC, w)
      INTO by_size FROM unnest(own) AS w;
    IF by_size IS NOT NULL THEN
        PERFORM set_config('max_parallel_maintenance_workers', (normalize.worker_count() - 1)::text, true);
        PERFORM normalize.run_in_parts(format('SELECT normalize.ready_staging_table((%L::pg_catalog.text[])[$1 OPERATOR(pg_catalog.+) 1])',
                                              by_size),
                                       cardinality(by_size));
    END IF;
    SELECT string_agg(format('normalize.%I', w), ', ')
      INTO tables FROM normalize.phases_from(swap_in_phase.phase) AS x CROSS JOIN LATERAL unnest(x.writes) AS w;
    IF tables IS NULL THEN
        RETURN '{}';  -- a phase that writes nothing, with nothing built on it: quality
    END IF;
    IF session_timeout::interval > interval '0' THEN
        give_up := clock_timestamp() + session_timeout::interval;
    END IF;
    stop_trying := clock_timestamp() + interval '30 seconds';
    LOOP
        BEGIN
            IF clock_timestamp() < stop_trying THEN
                PERFORM set_config('lock_timeout', least(100 * 2 ^ tries, 800) || 'ms', true);
            ELSE
                RAISE NOTICE 'phase % has tried for 30 s to lock its tables between reads: it now waits for the reads in progress, and new ones wait for it',
                             phase;
                PERFORM set_config('lock_timeout', session_timeout, true);
            END IF;
            EXECUTE 'LOCK TABLE ' || tables || ' IN ACCESS EXCLUSIVE MODE';
            EXIT;
        EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
            IF clock_timestamp() >= give_up THEN
                RAISE EXCEPTION 'phase % could not lock its tables to swap its results in within lock_timeout (%)',
                                phase, session_timeout
                    USING ERRCODE = 'lock_not_available',
                          HINT = 'A long query holds one of them; raise lock_timeout, or set it to 0 to wait.';
            END IF;
            tries := tries + 1;
            PERFORM pg_sleep(0.05);
        END;
    END LOOP;
    PERFORM set_config('lock_timeout', session_timeout, true);
    cleared := normalize.empty_phases_from(phase, true);
    FOREACH t IN ARRAY own LOOP
        PERFORM normalize.swap_table_storage(format('normalize.%I', t)::regclass,
                                             format('normalize.%I', 'next_' || t)::regclass);
        EXECUTE format('DROP TABLE normalize.%I', 'next_' || t);
    END LOOP;
    RETURN cleared;
END
$$;
COMMENT ON FUNCTION @extschema@.swap_in_phase(text) IS
    'Internal: swaps a phase''s staging tables in for the tables they replace and empties the later phases'' tables, under a lock held only to the commit; returns the later phases whose results were thrown away';

CREATE FUNCTION @extschema@.swap_table_storage(target regclass, staging regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'nz_swap_table_storage'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.swap_table_storage(regclass, regclass) IS
    'Internal: trades the storage (heap, TOAST, indexes) and statistics of a table of normalize and a staging table made like it in this transaction; the step that ends a phase';

CREATE TABLE @extschema@.pipeline_runs (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    arguments   jsonb NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    backend_pid integer NOT NULL DEFAULT pg_backend_pid(),
    error       text,
    inputs      text
);
COMMENT ON TABLE @extschema@.pipeline_runs IS
    'One row per CALL normalize.run_pipeline(): its arguments, status and, if it failed, why; a resumed run keeps its row';
COMMENT ON COLUMN @extschema@.pipeline_runs.inputs IS
    'input_fingerprint() when the run started: it resumes only while its inputs are unchanged';

CREATE TABLE @extschema@.pipeline_phases (
    run_id      bigint NOT NULL REFERENCES @extschema@.pipeline_runs ON DELETE CASCADE,
    position    integer NOT NULL,
    phase       text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    started_at  timestamptz,
    finished_at timestamptz,
    seconds     numeric,
    summary     text,
    error       text,
    PRIMARY KEY (run_id, position),
    UNIQUE (run_id, phase)
);
COMMENT ON TABLE @extschema@.pipeline_phases IS
    'The phases of each pipeline run as they go: pending, running, done (with what they did and how long it took) or failed (with the error); readable by other sessions while a run is under way';

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

-- What a run reads, in one digest: the registrations, the rows of every
-- registered relation, and the tables of settings the phases follow. A
-- run resumes only while it is unchanged. Read in fixed settings, so that
-- the session's TimeZone or DateStyle does not change the text hashed.
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

-- Takes the pipeline's lock for this session, then starts a run or resumes
-- the last one. A run resumes when it did not finish (failed, or still
-- marked running by a CALL that ended with an error or a session that is
-- gone: holding the lock, no other run can be under way) and was called
-- with the same arguments on the same inputs (input_fingerprint);
-- otherwise, or with restart, a new run starts from the first phase.
-- Returns the run's id.
CREATE FUNCTION @extschema@.pipeline_begin(arguments jsonb, restart boolean)
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
    SELECT run, k.position, k.phase FROM normalize.pipeline_phase_kinds AS k ORDER BY k.position;
    RAISE NOTICE 'run_pipeline: run % started', run;
    RETURN run;
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_begin(jsonb, boolean) IS
    'Internal: takes run_pipeline''s lock and starts a run, or resumes the last unfinished one with the same arguments';

-- The next phase of the run to do (NULL when all are done), marked running.
CREATE FUNCTION @extschema@.pipeline_next_phase(run bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    next_phase text;
BEGIN
    UPDATE normalize.pipeline_phases AS p
       SET status = 'running', started_at = clock_timestamp(), finished_at = NULL, seconds = NULL
     WHERE (p.run_id, p.position) = (SELECT q.run_id, q.position FROM normalize.pipeline_phases AS q
                                      WHERE q.run_id = run AND q.status <> 'done' ORDER BY q.position LIMIT 1)
    RETURNING p.phase INTO next_phase;
    RETURN next_phase;
END
$$;
COMMENT ON FUNCTION @extschema@.pipeline_next_phase(bigint) IS
    'Internal: marks the run''s next unfinished phase running and returns its name, or NULL when the run is complete';

-- Runs one phase with the run's arguments and records it as done, in the
-- caller's transaction: the phase's work and its "done" commit together.
CREATE FUNCTION @extschema@.pipeline_run_phase(run bigint, phase text)
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

-- The staging tables a phase left (its workers' parts are committed, and
-- the phase's rollback did not take them back); returns how many.
CREATE FUNCTION @extschema@.discard_staging(phase text)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
    dropped integer := 0;
BEGIN
    FOR t IN SELECT w FROM normalize.phases_from(discard_staging.phase) AS x CROSS JOIN LATERAL unnest(x.writes) AS w
              WHERE x.name = discard_staging.phase
                AND to_regclass(format('normalize.%I', 'next_' || w)) IS NOT NULL LOOP
        EXECUTE format('DROP TABLE normalize.%I', 'next_' || t);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION @extschema@.discard_staging(text) IS
    'Internal: drops the staging tables (next_<table>) a failed phase left behind; returns how many';

-- Records a failed phase (in a transaction of its own, after the phase's
-- was rolled back) and drops what it staged; the lock is given up once that record commits.
CREATE FUNCTION @extschema@.pipeline_fail(run bigint, phase text, message text)
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
CREATE FUNCTION @extschema@.pipeline_finish(run bigint)
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

-- The steps running now, in every session of this database, with their
-- rows done and to do (the planner's estimate: the history tables are
-- analyzed as they are built). A long step reports itself in its
-- session's application_name, which pg_stat_activity shows to everyone
-- while the step's transaction is still open.
CREATE VIEW @extschema@.pipeline_progress AS
SELECT a.pid, m[1] AS phase, m[2] AS step, m[3]::bigint AS rows_done, m[4]::bigint AS rows_to_do,
       round(100.0 * m[3]::numeric / NULLIF(m[4]::numeric, 0), 1) AS percent,
       pg_catalog.now() - a.query_start AS running_for
  FROM pg_catalog.pg_stat_activity AS a
 CROSS JOIN LATERAL pg_catalog.regexp_match(a.application_name, '^normalize: (\S+) (\S+) (\d+)/(\d+)$') AS m
 WHERE a.datname = pg_catalog.current_database() AND m IS NOT NULL;
COMMENT ON VIEW @extschema@.pipeline_progress IS
    'The pipeline steps running now in any session of this database: phase, step, rows done, rows to do (estimated), percent and time running';

-- A step whose rows are made one entity at a time by the history
-- generators reports them into pipeline_progress: begun with its rows to
-- do, ended (or ended with its transaction) when its statement is done.
CREATE FUNCTION @extschema@.begin_progress(phase text, step text, rows_to_do bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'nz_begin_progress'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.begin_progress(text, text, bigint) IS
    'Internal: begins a step of a phase, with its rows to do, that the history generators count into pipeline_progress as they make rows';

CREATE FUNCTION @extschema@.end_progress()
RETURNS void
AS 'MODULE_PATHNAME', 'nz_end_progress'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.end_progress() IS
    'Internal: ends the step begun by begin_progress and puts the session''s application_name back';

-- No SET search_path here: a procedure with SET clauses may not commit.
-- The body only calls the functions above, whose paths are pinned, with
-- qualified names.
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
