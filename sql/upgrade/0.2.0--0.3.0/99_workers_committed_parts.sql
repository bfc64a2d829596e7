-- The heaviest statements of the history and the features run in parts,
-- written by background workers that commit each part apart
-- (run_in_parts), into staging tables that a worker made; the staging
-- tables are made ready for the swap (keys, statistics) by workers too,
-- and a failed phase's staging tables are dropped when its failure is
-- recorded. The quality checks' counts can use parallel workers, and the
-- balancing of the training sets joins each group by a hashable key.

CREATE OR REPLACE FUNCTION @extschema@.build_history(months integer DEFAULT 24, as_of date DEFAULT NULL,
                                         seed bigint DEFAULT 42,
                                         entities text[] DEFAULT ARRAY['account', 'device', 'user'])
RETURNS TABLE (table_name text, rows bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- The inserts call the simulators once per entity: compiling their plans
-- costs more than it saves.
SET jit = off
AS $$
DECLARE
    unrepaired bigint;
    unusable text;
    -- The rows each insert wrote: counting the tables again at the end
    -- would read the whole history once more.
    snapshots bigint;
    days bigint := 0;
    weeks bigint := 0;
    events bigint := 0;
    rollups bigint;
    devices_from text;
    users_from text;
    -- The rows of part $1 of $2: entities split by a hash of their key.
    in_part constant text := 'WHERE pg_catalog.abs(pg_catalog.hashtext(%s) OPERATOR(pg_catalog.%%) $2) OPERATOR(pg_catalog.=) $1';
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

    -- Built beside the tables readers use, and swapped in at the end.
    PERFORM normalize.stage_phase('history');
    -- Every write of the phase goes through run_in_parts, so that this
    -- session writes nothing before the swap and each statement's parts
    -- can go to background workers (which may write only while it has
    -- not). The devices' and users' histories are split by their keys
    -- (part_count). Their events are written first, from a call of the
    -- generators of their own: the generators give the same rows each
    -- time and cost a tenth of writing them, less than reading the
    -- written rows back. (No step is in progress then, so that the rows
    -- of the step that follows are counted once.)
    -- Devices, daily over the same window, ending at their repaired health,
    -- wearing as their type does.
    IF 'device' = ANY (entities) THEN
        devices_from := format(
            $q$FROM normalize.devices AS d
               CROSS JOIN LATERAL (
                     SELECT t.degradation, t.failure_rate FROM normalize.device_types AS t
                      WHERE t.device_type IN (d.device_type, '*')
                      ORDER BY t.device_type OPERATOR(pg_catalog.=) '*' LIMIT 1) AS wear
               CROSS JOIN LATERAL normalize.generate_device_history(
                     d.device_key, d.health_score::pg_catalog.float8, %s, %L::pg_catalog.date, %s,
                     wear.degradation, wear.failure_rate) AS h$q$,
            (as_of - (date_trunc('month', as_of) - make_interval(months => months - 1))::date) + 1, as_of, seed);
        PERFORM normalize.run_in_parts(
            $q$INSERT INTO normalize.next_lifecycle_events (entity, entity_key, event_date, event, detail)
               SELECT 'device', h.device_key, h.day, e.event,
                      pg_catalog.jsonb_build_object('health', pg_catalog.round(h.health::pg_catalog.numeric, 2))
               $q$ || devices_from || $q$
               CROSS JOIN LATERAL (VALUES ('maintenance', h.maintenance), ('failure', h.failure)) AS e(event, happened)
               $q$ || format(in_part, 'd.device_key') || ' AND e.happened',
            normalize.part_count());
        PERFORM normalize.begin_progress('history', 'device_days', (SELECT count(*) FROM normalize.devices)
                                         * ((as_of - (date_trunc('month', as_of) - make_interval(months => months - 1))::date) + 1));
        days := normalize.run_in_parts(
            $q$INSERT INTO normalize.next_device_days
               SELECT h.device_key, h.day, h.health, h.usage, h.temperature, h.errors, h.maintenance, h.failure
               $q$ || devices_from || ' ' || format(in_part, 'd.device_key'),
            normalize.part_count());
        PERFORM normalize.end_progress();
    END IF;
    -- Users, weekly over the same window, ending at their repaired engagement.
    IF 'user' = ANY (entities) THEN
        users_from := format(
            $q$FROM normalize.users AS u
               CROSS JOIN LATERAL normalize.generate_user_history(
                     u.user_key, COALESCE(u.role, 'standard'), u.engagement_score::pg_catalog.float8,
                     %s, %L::pg_catalog.date, %s) AS h$q$,
            ((as_of - (date_trunc('month', as_of) - make_interval(months => months - 1))::date) / 7) + 1, as_of, seed);
        PERFORM normalize.run_in_parts(
            $q$INSERT INTO normalize.next_lifecycle_events (entity, entity_key, event_date, event, detail)
               SELECT 'user', h.user_key, h.week, 'feature_adopted',
                      pg_catalog.jsonb_build_object('feature', h.adopted_feature, 'features_adopted', h.features_adopted)
               $q$ || users_from || ' ' || format(in_part, 'u.user_key') || ' AND h.adopted_feature IS NOT NULL',
            normalize.part_count());
        PERFORM normalize.begin_progress('history', 'user_weeks', (SELECT count(*) FROM normalize.users)
                                         * (((as_of - (date_trunc('month', as_of) - make_interval(months => months - 1))::date) / 7) + 1));
        weeks := normalize.run_in_parts(
            $q$INSERT INTO normalize.next_user_weeks
               SELECT h.user_key, h.week, h.engagement, h.logins, h.sessions, h.features_adopted, h.adopted_feature
               $q$ || users_from || ' ' || format(in_part, 'u.user_key'),
            normalize.part_count());
        PERFORM normalize.end_progress();
    END IF;
    -- The accounts, in one part: their generator reads them all. The
    -- simulator marks each month's event; a signup in the window's first
    -- month is one the snapshots alone could not show.
    PERFORM normalize.begin_progress('history', 'account_snapshots', (SELECT count(*) FROM normalize.accounts) * months);
    snapshots := normalize.run_in_parts(format(
        $q$WITH info AS (
               INSERT INTO normalize.next_history_info (months, window_start, as_of, seed)
               VALUES (%1$s, %2$L::pg_catalog.date, %3$L::pg_catalog.date, %4$s)),
           snapshots AS (
               INSERT INTO normalize.next_account_snapshots
               SELECT h.account_key, h.month, h.tier, h.mrr, h.seats, h.active_users, h.support_tickets,
                      h.late_payments, h.failed_payments, h.status, h.event
                 FROM normalize.generate_histories('normalize.accounts', %1$s, %3$L::pg_catalog.date, %4$s) AS h
               RETURNING account_key, month, tier, mrr, event),
           events AS (
               INSERT INTO normalize.next_lifecycle_events (entity, entity_key, event_date, event, detail)
               SELECT 'account', s.account_key, s.month, s.event,
                      pg_catalog.jsonb_build_object('tier', s.tier, 'mrr', pg_catalog.round(s.mrr::pg_catalog.numeric, 2))
                 FROM snapshots AS s
                WHERE s.event IS NOT NULL)
           SELECT pg_catalog.count(*) FROM snapshots$q$,
        months, (date_trunc('month', as_of) - make_interval(months => months - 1))::date, as_of, seed), 1);
    -- (Counted by a worker too: a lock of this session's on the table
    -- would hold up the worker that builds its key.)
    events := normalize.run_in_parts('SELECT pg_catalog.count(*) FROM normalize.next_lifecycle_events', 1);
    rollups := normalize.run_in_parts(format('SELECT normalize.fill_account_rollups(%L, %L, %L, %L::pg_catalog.date)',
                                             'normalize.next_account_rollups', 'normalize.next_device_days',
                                             'normalize.next_user_weeks', as_of), 1);
    PERFORM normalize.end_progress();
    -- With their statistics (the features are computed from these tables
    -- right after, before autovacuum has looked at them, and without them
    -- the planner takes the one row of history_info for a thousand).
    PERFORM normalize.swap_in_phase('history');
    RETURN QUERY
    VALUES ('account_snapshots'::text, snapshots), ('device_days', days), ('user_weeks', weeks),
           ('lifecycle_events', events), ('account_rollups', rollups);
END
$$;
COMMENT ON FUNCTION @extschema@.build_history(integer, date, bigint, text[]) IS
    'Replaces the simulated history: monthly snapshots of every normalized, repaired account, daily ones of every device and weekly ones of every user, ending at as_of, and their lifecycle events';

-- write_feature_rows for a phase's staging table (stage_phase): with more
-- than one process, background workers write ranges of keys each, every
-- range committed on its own (run_in_parts), where the session has
-- written nothing yet. A failure leaves their rows in the staging table,
-- which the phase's next start drops; a table of the user's must come and
-- go with the transaction, so write_feature_rows never does this.
CREATE OR REPLACE FUNCTION @extschema@.stage_feature_rows(entity text, target regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_stage_feature_rows'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.stage_feature_rows(text, regclass) IS
    'Internal: write_feature_rows into a phase''s staging table, by background workers that commit a range of keys each where the transaction has written nothing yet; returns the rows written';

-- One range of keys of write_feature_rows, written by this process alone:
-- what each background worker of stage_feature_rows runs.
CREATE OR REPLACE FUNCTION @extschema@.write_feature_part(entity text, target regclass, base regclass, lower text, upper text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_write_feature_part'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.write_feature_part(text, regclass, regclass, text, text) IS
    'Internal: appends to target the features of the entity''s keys from lower up to upper (NULL: no bound), on this process alone, as write_feature_rows does for all; returns the rows written';

CREATE OR REPLACE FUNCTION @extschema@.refresh_features()
RETURNS TABLE (table_name text, rows bigint, features integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'
-- The feature queries hold hundreds of expressions: compiling them with JIT
-- takes longer than running them.
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    e record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM normalize.history_info) THEN
        RAISE EXCEPTION 'there is no history to compute features from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.build_history() first.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.refresh_features'));
    -- Built beside the stores readers use, and swapped in at the end.
    PERFORM normalize.stage_phase('features');
    FOR e IN SELECT k.entity, k.feature_entity FROM normalize.entity_kinds AS k
              WHERE k.feature_entity IS NOT NULL ORDER BY k.position LOOP
        table_name := e.feature_entity || '_feature_store';
        -- An entity without a source has no history: its store is empty.
        -- The staging store starts empty, so the rows written are its rows.
        rows := 0;
        IF normalize.is_registered(e.entity) THEN
            rows := normalize.stage_feature_rows(e.feature_entity, format('normalize.%I', 'next_' || table_name)::regclass);
        END IF;
        SELECT count(*)::integer INTO features FROM normalize.feature_catalog AS c WHERE c.entity = e.feature_entity;
        RETURN NEXT;
    END LOOP;
    PERFORM normalize.swap_in_phase('features');
END
$$;
COMMENT ON FUNCTION @extschema@.refresh_features() IS
    'Stores customer_features, device_features and user_features in the *_feature_store tables, replacing what was there';

-- Writes the candidate samples (a relation with the sample table's
-- columns) into target, down-sampling the negatives of the training split
-- (and of the other splits when asked) to a positive rate, per group when
-- a group column is given: the negatives kept are those whose (seed, key,
-- cutoff) draw ranks first, and they weigh what the dropped ones did. A
-- NULL rate keeps every candidate. The rows are written once, never
-- deleted or updated after.
CREATE OR REPLACE FUNCTION @extschema@.balance_samples(candidates regclass, target regclass, key_column text, label text,
                                            group_column text, positive_rate float8, all_splits boolean, seed bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grp text := coalesce('c.' || quote_ident(group_column), 'NULL::text');
    columns text;
BEGIN
    IF candidates IS NULL OR target IS NULL OR key_column IS NULL OR label IS NULL OR all_splits IS NULL
       OR seed IS NULL THEN
        RAISE EXCEPTION '% must not be NULL',
              CASE WHEN candidates IS NULL THEN 'candidates' WHEN target IS NULL THEN 'target'
                   WHEN key_column IS NULL THEN 'key_column' WHEN label IS NULL THEN 'label'
                   WHEN all_splits IS NULL THEN 'all_splits' ELSE 'seed' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'balance_samples is a step of normalize.build_training_sets(); call that.';
    END IF;
    -- The kept negatives are positives * (1 - rate) / rate, and their weight
    -- divides by that: a rate of 0 divides by zero, 1 keeps none, and the
    -- rest of (0, 1) is the only sense it has.
    IF NOT (positive_rate > 0 AND positive_rate < 1) THEN
        RAISE EXCEPTION 'positive_rate must be in (0, 1), got %', positive_rate
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of positives wanted in the training split, or NULL to keep the natural rate.';
    END IF;
    IF positive_rate IS NULL THEN
        EXECUTE format('INSERT INTO %s SELECT * FROM %s', target, candidates);
        RETURN;
    END IF;
    PERFORM normalize.drop_temp_table('nz_balance');
    EXECUTE format($q$
        CREATE TEMP TABLE nz_balance ON COMMIT DROP AS
        SELECT c.split, %3$s AS grp, count(*) FILTER (WHERE c.%2$I) AS positives,
               count(*) FILTER (WHERE NOT c.%2$I) AS negatives,
               ceil(count(*) FILTER (WHERE c.%2$I) * (1 - %4$s) / %4$s) AS keep
          FROM %1$s AS c WHERE c.split = 'train' OR %5$L
         GROUP BY c.split, %3$s$q$,
        candidates, label, grp, positive_rate, all_splits);
    -- The target's columns in its order, the weight computed in its place.
    SELECT string_agg(CASE WHEN a.attname = 'sample_weight'
                           THEN 'CASE WHEN w.keep < w.negatives AND NOT c.' || quote_ident(label)
                                || ' THEN w.negatives::float8 / w.keep ELSE c.sample_weight END'
                           ELSE 'c.' || quote_ident(a.attname) END, ', ' ORDER BY a.attnum)
      INTO columns
      FROM pg_attribute AS a WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped;
    -- The negatives subject to the down-sampling numbered in draw order,
    -- the other candidates passed through.
    EXECUTE format($q$
        INSERT INTO %1$s
        SELECT %7$s
          FROM (SELECT c.*, %5$s AS grp, NULL::bigint AS r
                  FROM %2$s AS c WHERE c.%4$I OR NOT (c.split = 'train' OR %8$L)
                UNION ALL
                SELECT c.*, %5$s,
                       row_number() OVER (PARTITION BY c.split, %5$s
                                          ORDER BY normalize.random_uniform_for(c.%3$I || '@' || c.as_of, 0, 1, %6$s,
                                                                                'sample', 'balance'),
                                                   c.%3$I, c.as_of)
                  FROM %2$s AS c WHERE NOT c.%4$I AND (c.split = 'train' OR %8$L)) AS c
          -- (A group's equality in a form the join can hash on: the
          -- candidates would otherwise meet every group of their split.)
          LEFT JOIN nz_balance AS w ON w.split = c.split AND coalesce(w.grp, '') = coalesce(c.grp, '')
                                   AND (w.grp IS NULL) = (c.grp IS NULL) AND w.positives > 0
         WHERE c.r IS NULL OR w.split IS NULL OR c.r <= w.keep$q$,
        target, candidates, key_column, label, grp, seed, columns, all_splits);
END
$$;
COMMENT ON FUNCTION @extschema@.balance_samples(regclass, regclass, text, text, text, float8, boolean, bigint) IS
    'Internal: writes candidate samples into a sample table with deterministic down-sampling of negatives to a positive rate, and restoring weights, during build_training_sets';

-- Counts the rows of from_sql (a relation or a parenthesized query with an
-- alias) and those for which `failing` holds, with the first five distinct
-- failing keys: the shape every row-level check reports.
CREATE OR REPLACE FUNCTION @extschema@.quality_count(from_sql text, key_sql text, failing text,
                                          OUT total bigint, OUT failing_rows bigint, OUT sample_keys text[])
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Counts alone, which the planner can split among parallel workers (an
    -- ordered aggregate of the keys would keep the scan on one process);
    -- the keys of the first failing rows in a second pass, only when
    -- there are any.
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE coalesce(%2$s, false)) FROM %1$s', from_sql, failing)
       INTO total, failing_rows;
    sample_keys := ARRAY[]::text[];
    IF failing_rows > 0 THEN
        EXECUTE format('SELECT coalesce(array_agg(s.k ORDER BY s.k), ARRAY[]::text[])
                          FROM (SELECT DISTINCT (%2$s)::text AS k FROM %1$s WHERE coalesce(%3$s, false)
                                 ORDER BY 1 LIMIT 5) AS s',
                       from_sql, key_sql, failing)
           INTO sample_keys;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.quality_count(text, text, text) IS
    'Internal: rows, failing rows and a sample of failing keys of one row-level quality check';

-- The checks that read a whole feature store, in one pass over it: its
-- rows, those missing a required feature of the catalog (with the first
-- five of their keys) and those dated after the history's as_of (none
-- counted without a history). quality_checks makes them once for its two
-- steps that use them (the store of the device features is the largest
-- table), in the temp table nz_store_checks; a step called alone makes its
-- own.
CREATE OR REPLACE FUNCTION @extschema@.store_check_counts(entity text, OUT total bigint, OUT missing_required bigint,
                                               OUT sample_keys text[], OUT after_history bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    cond text;
BEGIN
    IF entity IS NULL THEN
        RAISE EXCEPTION 'entity must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass customer, device or user.';
    END IF;
    SELECT x.* INTO e FROM normalize.checked_feature_entities() AS x WHERE x.entity = store_check_counts.entity;
    IF e IS NULL THEN
        RAISE EXCEPTION 'entity must be a feature entity whose source is registered, got "%"', entity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See normalize.checked_feature_entities().';
    END IF;
    SELECT string_agg(format('%I IS NULL', c.feature), ' OR ') INTO cond
      FROM normalize.feature_catalog AS c WHERE c.entity = e.entity AND c.required;
    -- Counts that parallel workers can share, and the keys in a second
    -- pass only when rows miss a feature (as quality_count does).
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE coalesce(%1$s, false)), count(*) FILTER (WHERE as_of > $1)
                      FROM normalize.%2$I',
                   coalesce(cond, 'false'), e.store)
       INTO total, missing_required, after_history
      USING (SELECT h.as_of FROM normalize.history_info AS h);
    sample_keys := ARRAY[]::text[];
    IF missing_required > 0 THEN
        EXECUTE format('SELECT coalesce(array_agg(s.k ORDER BY s.k), ARRAY[]::text[])
                          FROM (SELECT DISTINCT (%1$I || '' @ '' || as_of)::text AS k FROM normalize.%3$I
                                 WHERE coalesce(%2$s, false) ORDER BY 1 LIMIT 5) AS s',
                       e.key, cond, e.store)
           INTO sample_keys;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.store_check_counts(text) IS
    'Internal: one pass over a feature store for quality_checks: rows, rows missing a required feature (and some of their keys), rows after the history';

-- A statement run once per part ($1 the part, from 0; $2 the parts), in
-- background workers when the caller's transaction has written nothing
-- yet, each part committed on its own (see src/glue/committed_parts.hpp);
-- otherwise in the caller, part after part. The phases write their
-- heaviest tables so, from every core.
CREATE OR REPLACE FUNCTION @extschema@.run_in_parts(statement text, parts integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'nz_run_in_parts'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.run_in_parts(text, integer) IS
    'Internal: runs a statement once per part ($1 the part from 0, $2 the parts), in background workers that commit each part when the transaction has written nothing yet, else in this session; returns the rows written (a command''s, or the sum of a query''s bigint column)';

-- The parts a phase splits its heaviest statements into: several per
-- process, so that a process done early takes another part.
CREATE OR REPLACE FUNCTION @extschema@.part_count()
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
CREATE OR REPLACE FUNCTION @extschema@.stage_phase(phase text)
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
CREATE OR REPLACE FUNCTION @extschema@.ready_staging_table(t text)
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
CREATE OR REPLACE FUNCTION @extschema@.swap_in_phase(phase text)
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

-- The staging tables a phase left (its workers' parts are committed, and
-- the phase's rollback did not take them back); returns how many.
CREATE OR REPLACE FUNCTION @extschema@.discard_staging(phase text)
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

