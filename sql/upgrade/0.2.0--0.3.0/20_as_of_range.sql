-- The last day of a history must keep every day of it a date PostgreSQL
-- holds, and, for a stored history, inside timestamp's range, which the
-- later phases compute in: build_history and run_pipeline refuse another
-- as_of naming the range (the generators check theirs in C).

-- True, or an error naming as_of and the range, for the last day of a
-- stored history of `months` months. Its rows are dates, but the history,
-- the features, the training sets and the checks compute on timestamp,
-- whose range (4714-11-24 BC to 294276 AD) is narrower than date's: the
-- window's first month must start in January 4713 BC or later (its first
-- week may start in the December before, whose month must be in range too,
-- and a time zone moves midnight by up to a day), and as_of must come 13
-- months before timestamp ends (the CLV labels look 12 months past a
-- cutoff in as_of's month).
CREATE FUNCTION @extschema@.require_history_as_of(as_of date, months integer)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
AS $$
DECLARE
    earliest constant date := ('4713-01-01 BC'::date + make_interval(months => months - 1))::date;
    latest constant date := '294275-11-30';
BEGIN
    IF NOT (as_of >= earliest AND as_of <= latest) THEN
        RAISE EXCEPTION 'as_of must be between % and % for a history of % month%, got %',
                        earliest, latest, months, CASE WHEN months = 1 THEN '' ELSE 's' END, as_of
            USING ERRCODE = 'datetime_field_overflow',
                  HINT = 'The history, its features and training sets compute on timestamp, which starts in 4714 BC and '
                         'ends in 294276 AD: pass an as_of in that range, or a shorter history.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.require_history_as_of(date, integer) IS
    'Internal: true if as_of can end a stored history of that many months, else an error naming the range';

CREATE OR REPLACE FUNCTION @extschema@.build_history(months integer DEFAULT 24, as_of date DEFAULT CURRENT_DATE,
                                         seed bigint DEFAULT 42,
                                         entities text[] DEFAULT ARRAY['account', 'device', 'user'])
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unrepaired bigint;
BEGIN
    IF months IS NULL OR as_of IS NULL OR seed IS NULL OR entities IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
              CASE WHEN months IS NULL THEN 'months' WHEN as_of IS NULL THEN 'as_of'
                   WHEN seed IS NULL THEN 'seed' ELSE 'entities' END
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave the argument out for its default.';
    END IF;
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
    SELECT count(*) INTO unrepaired FROM normalize.accounts WHERE NOT (mrr > 0) OR mrr IS NULL OR tier IS NULL;
    SELECT unrepaired + count(*) INTO unrepaired FROM normalize.devices
     WHERE NOT (health_score BETWEEN 0 AND 100) OR health_score IS NULL;
    SELECT unrepaired + count(*) INTO unrepaired FROM normalize.users
     WHERE NOT (engagement_score BETWEEN 0 AND 100) OR engagement_score IS NULL;
    IF NOT EXISTS (SELECT 1 FROM normalize.device_types WHERE device_type = '*') THEN
        RAISE EXCEPTION 'normalize.device_types has no row ''*'' for the device types without a row of their own'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Insert one, such as (''*'', 0.12, 0.004).';
    END IF;
    IF unrepaired > 0 THEN
        RAISE EXCEPTION '% accounts, devices or users have no usable current state', unrepaired
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.repair_values() first: the history ends at each account''s repaired state.';
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

-- No SET search_path here: a procedure with SET clauses may not commit.
-- The body only calls the functions above, whose paths are pinned, with
-- qualified names.
CREATE OR REPLACE PROCEDURE @extschema@.run_pipeline(seed bigint DEFAULT 42, months integer DEFAULT 24,
                                          as_of date DEFAULT CURRENT_DATE,
                                          orphan_policy text DEFAULT 'quarantine',
                                          restart boolean DEFAULT false)
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
    IF seed IS NULL OR months IS NULL OR as_of IS NULL OR orphan_policy IS NULL OR restart IS NULL THEN
        RAISE EXCEPTION 'run_pipeline: seed, months, as_of, orphan_policy and restart must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave an argument out for its default.';
    END IF;
    -- Refused before any phase runs, rather than when the history's is
    -- reached (an invalid months is the history phase's to report).
    IF months OPERATOR(pg_catalog.>=) 1 AND months OPERATOR(pg_catalog.<=) 600 THEN
        PERFORM normalize.require_history_as_of(as_of, months);
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
                                                                  'orphan_policy', orphan_policy),
                                    restart);
    COMMIT;
    LOOP
        phase := normalize.pipeline_next_phase(run);
        EXIT WHEN phase IS NULL;
        COMMIT;  -- "running" is visible to other sessions from here
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
COMMENT ON PROCEDURE @extschema@.run_pipeline(bigint, integer, date, text, boolean) IS
    'Runs the whole pipeline on the registered sources (reconcile, repair, history, features, training sets, quality checks), committing after each phase; one run at a time; resumes an unfinished run with the same arguments';
