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

CREATE OR REPLACE FUNCTION @extschema@.build_history(months integer DEFAULT 24, as_of date DEFAULT NULL,
                                         seed bigint DEFAULT 42,
                                         entities text[] DEFAULT ARRAY['account', 'device', 'user'])
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unrepaired bigint;
    unusable text;
BEGIN
    IF months IS NULL OR seed IS NULL OR entities IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
              CASE WHEN months IS NULL THEN 'months' WHEN seed IS NULL THEN 'seed' ELSE 'entities' END
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave the argument out for its default.';
    END IF;
    -- Without as_of, the history ends at the latest snapshot of the data,
    -- not on the day the function happens to run.
    as_of := coalesce(as_of, normalize.latest_snapshot('normalized'));
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
    PERFORM normalize.require_history_as_of(as_of, months);
    IF NOT EXISTS (SELECT 1 FROM normalize.accounts) THEN
        RAISE EXCEPTION 'there are no normalized accounts to build a history for'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.reconcile_ids() and normalize.repair_values() first.';
    END IF;
    -- What is unusable, table by table, with an example: the hint then
    -- says whether repair has yet to run or kept the values as real.
    SELECT sum(u.n), string_agg(format('%s %s (such as %s)', u.n, u.what, u.example), '; ')
      INTO unrepaired, unusable
      FROM (SELECT count(*) AS n, 'accounts without a positive MRR or a tier' AS what, min(a.account_key) AS example
              FROM normalize.accounts AS a WHERE NOT (a.mrr > 0) OR a.mrr IS NULL OR a.tier IS NULL
            UNION ALL
            SELECT count(*), 'devices without a health score in 0-100', min(d.device_key)
              FROM normalize.devices AS d WHERE NOT (d.health_score BETWEEN 0 AND 100) OR d.health_score IS NULL
            UNION ALL
            SELECT count(*), 'users without an engagement score in 0-100', min(u.user_key)
              FROM normalize.users AS u WHERE NOT (u.engagement_score BETWEEN 0 AND 100) OR u.engagement_score IS NULL) AS u
     WHERE u.n > 0;
    unrepaired := coalesce(unrepaired, 0);
    IF NOT EXISTS (SELECT 1 FROM normalize.device_types WHERE device_type = '*') THEN
        RAISE EXCEPTION 'normalize.device_types has no row ''*'' for the device types without a row of their own'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Insert one, such as (''*'', 0.12, 0.004).';
    END IF;
    IF unrepaired > 0 THEN
        RAISE EXCEPTION '% accounts, devices or users have no usable current state', unrepaired
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = unusable || '.',
                  HINT = CASE WHEN NOT EXISTS (SELECT 1 FROM normalize.repair_summary)
                              THEN 'Run normalize.repair_values() first: the history ends at each account''s repaired state.'
                              ELSE 'normalize.repair_values() kept these values as observed (see normalize.repair_summary): '
                                   'declare them placeholders in normalize.placeholder_values and repair again, or correct the source.' END;
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

