-- The phases that build beside (history, features, training) write into
-- staging tables and swap them in at their end: readers are not held up.
-- The history's generators count their rows into pipeline_progress, and
-- the training sets are written once (balance_samples takes candidates).

DROP FUNCTION @extschema@.balance_samples(text, text, text, text, float8, boolean, bigint);

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

CREATE OR REPLACE FUNCTION @extschema@.build_training_sets(
    seed bigint DEFAULT 42,
    train_share float8 DEFAULT 0.70,
    validation_share float8 DEFAULT 0.15,
    strategy text DEFAULT 'grouped',
    churn_positive_rate float8 DEFAULT 0.20,
    device_positive_rate float8 DEFAULT 0.20,
    balance_evaluation boolean DEFAULT false)
RETURNS TABLE (training_set text, split text, samples bigint, positives bigint, positive_share float8,
               weighted_positive_share float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    history date;
    arg text;
    split_input regclass;
BEGIN
    arg := CASE WHEN seed IS NULL THEN 'seed' WHEN train_share IS NULL THEN 'train_share'
                WHEN validation_share IS NULL THEN 'validation_share' WHEN strategy IS NULL THEN 'strategy'
                WHEN balance_evaluation IS NULL THEN 'balance_evaluation' END;
    IF arg IS NOT NULL THEN
        RAISE EXCEPTION '% must not be NULL', arg
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave the argument out for its default.';
    END IF;
    IF strategy NOT IN ('grouped', 'time') THEN
        RAISE EXCEPTION 'strategy must be grouped or time, got "%"', strategy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'grouped keeps each entity in one split; time trains on the earliest cutoffs.';
    END IF;
    IF NOT (train_share > 0 AND validation_share >= 0 AND train_share + validation_share < 1) THEN
        RAISE EXCEPTION 'train_share and validation_share must be positive and leave a share for test, got % and %',
                        train_share, validation_share
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Such as 0.70 and 0.15, leaving 0.15 for test.';
    END IF;
    IF NOT (coalesce(churn_positive_rate, 0.5) > 0 AND coalesce(churn_positive_rate, 0.5) < 1
            AND coalesce(device_positive_rate, 0.5) > 0 AND coalesce(device_positive_rate, 0.5) < 1) THEN
        RAISE EXCEPTION 'churn_positive_rate and device_positive_rate must be in (0, 1), got % and %',
                        churn_positive_rate, device_positive_rate
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the share of positives wanted in the training split, or NULL to keep the natural rate.';
    END IF;
    SELECT h.as_of INTO history FROM normalize.history_info AS h;
    IF history IS NULL OR NOT EXISTS (SELECT 1 FROM normalize.customer_feature_store) THEN
        RAISE EXCEPTION 'there are no stored features to build training sets from'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run normalize.build_history() and normalize.refresh_features() first.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('normalize.build_training_sets'));
    -- Built beside the tables readers use, and swapped in at the end.
    PERFORM normalize.stage_phase('training');
    INSERT INTO normalize.next_training_info VALUES (true, seed, strategy, train_share, validation_share,
                                                     churn_positive_rate, device_positive_rate);

    -- Churn: accounts active at the cutoff, with 90 days observed after it.
    -- The churn date is the first day of the churn month, after the cutoff
    -- of the month before.
    PERFORM normalize.drop_temp_table('nz_churn');
    CREATE TEMP TABLE nz_churn ON COMMIT DROP AS
    WITH churn AS (
        SELECT s.account_key, min(s.month) AS churned_on
          FROM normalize.account_snapshots AS s WHERE s.status = 'churned' GROUP BY s.account_key)
    SELECT f.account_key, f.as_of,
           coalesce(c.churned_on <= f.as_of + 30, false) AS churned_30d,
           coalesce(c.churned_on <= f.as_of + 60, false) AS churned_60d,
           coalesce(c.churned_on <= f.as_of + 90, false) AS churned_90d,
           normalize.random_uniform_for(f.account_key, 0, 1, seed, 'account', 'split') AS u,
           normalize.random_uniform_for(f.account_key || '@' || f.as_of, 0, 1, seed, 'account', 'balance') AS v
      FROM normalize.customer_feature_store AS f
      LEFT JOIN churn AS c ON c.account_key = f.account_key
     WHERE f.as_of + 90 <= history
       AND (c.churned_on IS NULL OR c.churned_on > f.as_of);
    PERFORM normalize.drop_temp_table('nz_split_input');
    CREATE TEMP TABLE nz_split_input ON COMMIT DROP AS
    SELECT c.account_key::varchar AS key, bool_or(c.churned_90d) OVER (PARTITION BY c.account_key)::text AS stratum,
           c.u, c.as_of
      FROM nz_churn AS c;
    -- Looked up when run: the table is made afresh by every build.
    split_input := to_regclass('pg_temp.nz_split_input');
    -- The candidates, then the samples kept of them, written once.
    PERFORM normalize.drop_temp_table('nz_candidates');
    CREATE TEMP TABLE nz_candidates ON COMMIT DROP AS
    SELECT c.account_key, c.as_of, s.split, c.churned_30d, c.churned_60d, c.churned_90d, 1::float8 AS sample_weight
      FROM nz_churn AS c
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = c.account_key AND s.as_of = c.as_of;
    PERFORM normalize.balance_samples(to_regclass('pg_temp.nz_candidates'), to_regclass('normalize.next_churn_samples'),
                                      'account_key', 'churned_90d', NULL, churn_positive_rate, balance_evaluation,
                                      seed);

    -- CLV: accounts active at the cutoff whose next 12 months are all
    -- observed; revenue after a churn is 0. Stratified by tier.
    PERFORM normalize.drop_temp_table('nz_clv');
    CREATE TEMP TABLE nz_clv ON COMMIT DROP AS
    SELECT f.account_key, f.as_of, s.tier,
           coalesce((SELECT sum(n.mrr) FROM normalize.account_snapshots AS n
                      WHERE n.account_key = f.account_key AND n.month > s.month
                        AND n.month <= s.month + interval '12 months'), 0) AS revenue_12m,
           normalize.random_uniform_for(f.account_key, 0, 1, seed, 'account', 'clv split') AS u
      FROM normalize.customer_feature_store AS f
      JOIN normalize.account_snapshots AS s
        ON s.account_key = f.account_key AND s.month = date_trunc('month', f.as_of)::date
     WHERE s.status = 'active'
       AND (s.month + interval '13 months' - interval '1 day')::date <= history;
    TRUNCATE nz_split_input;
    INSERT INTO nz_split_input
    SELECT c.account_key, a.tier, c.u, c.as_of
      FROM nz_clv AS c JOIN normalize.accounts AS a USING (account_key);
    INSERT INTO normalize.next_clv_samples
    SELECT c.account_key, c.as_of, s.split, c.tier, c.revenue_12m, 1
      FROM nz_clv AS c
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = c.account_key AND s.as_of = c.as_of;

    -- Device health: failures in the 7, 14 and 30 days after the cutoff;
    -- stratified and balanced by device type.
    -- Failures are rare: one scan of the history picks them out, and each
    -- failure names the 30 days before it whose first failure within 30
    -- days it may be; the cutoffs then join the earliest of each day,
    -- instead of three probes of the whole history (or one per cutoff).
    PERFORM normalize.drop_temp_table('nz_failures');
    CREATE TEMP TABLE nz_failures ON COMMIT DROP AS
    SELECT x.device_key, x.day - b.before AS as_of, min(x.day) AS first_failure
      FROM normalize.device_days AS x CROSS JOIN generate_series(1, 30) AS b(before)
     WHERE x.failure
     GROUP BY x.device_key, x.day - b.before;
    ANALYZE nz_failures;
    PERFORM normalize.drop_temp_table('nz_device');
    CREATE TEMP TABLE nz_device ON COMMIT DROP AS
    SELECT f.device_key, f.as_of, f.device_type,
           coalesce(n.first_failure <= f.as_of + 7, false) AS failed_7d,
           coalesce(n.first_failure <= f.as_of + 14, false) AS failed_14d,
           n.first_failure IS NOT NULL AS failed_30d,
           normalize.random_uniform_for(f.device_key, 0, 1, seed, 'device', 'split') AS u
      FROM normalize.device_feature_store AS f
      LEFT JOIN nz_failures AS n ON n.device_key = f.device_key AND n.as_of = f.as_of
     WHERE f.as_of + 30 <= history;
    -- Grouped, a device's split is the device's: one row per device goes to
    -- assign_splits (dated 'infinity'), about a hundredth of the rows of
    -- one per cutoff, and each cutoff takes its device's; by time, each
    -- cutoff has its own.
    TRUNCATE nz_split_input;
    INSERT INTO nz_split_input
    SELECT d.device_key, coalesce(min(d.device_type), '') || '/' || bool_or(d.failed_30d), min(d.u),
           'infinity'::date
      FROM nz_device AS d
     WHERE strategy = 'grouped'
     GROUP BY d.device_key
    UNION ALL
    SELECT d.device_key, coalesce(d.device_type, '') || '/' || bool_or(d.failed_30d) OVER (PARTITION BY d.device_key),
           d.u, d.as_of
      FROM nz_device AS d
     WHERE strategy <> 'grouped';
    PERFORM normalize.drop_temp_table('nz_candidates');
    CREATE TEMP TABLE nz_candidates ON COMMIT DROP AS
    SELECT d.device_key, d.as_of, s.split, d.device_type, d.failed_7d, d.failed_14d, d.failed_30d,
           1::float8 AS sample_weight
      FROM nz_device AS d
      JOIN normalize.assign_splits(strategy, train_share, validation_share, split_input) AS s
        ON s.key = d.device_key
       AND s.as_of = CASE WHEN strategy = 'grouped' THEN 'infinity'::date ELSE d.as_of END;
    PERFORM normalize.balance_samples(to_regclass('pg_temp.nz_candidates'),
                                      to_regclass('normalize.next_device_health_samples'),
                                      'device_key', 'failed_30d', 'device_type', device_positive_rate,
                                      balance_evaluation, seed);
    PERFORM normalize.swap_in_phase('training');

    RETURN QUERY
    SELECT x.* FROM (
    SELECT 'churn'::text AS set_name, c.split AS split_name, count(*), count(*) FILTER (WHERE c.churned_90d),
           avg(c.churned_90d::int::float8), sum(c.sample_weight * c.churned_90d::int) / sum(c.sample_weight)
      FROM normalize.churn_samples AS c GROUP BY c.split
    UNION ALL
    SELECT 'clv', c.split, count(*), NULL, NULL, NULL FROM normalize.clv_samples AS c GROUP BY c.split
    UNION ALL
    SELECT 'device_health', d.split, count(*), count(*) FILTER (WHERE d.failed_30d),
           avg(d.failed_30d::int::float8), sum(d.sample_weight * d.failed_30d::int) / sum(d.sample_weight)
      FROM normalize.device_health_samples AS d GROUP BY d.split) AS x
    ORDER BY x.set_name, array_position(ARRAY['train', 'validation', 'test'], x.split_name);
END
$$;
COMMENT ON FUNCTION @extschema@.build_training_sets(bigint, float8, float8, text, float8, float8, boolean) IS
    'Builds the churn, CLV and device health training sets from the feature stores: censored labels, grouped (or time) splits stratified as the plan asks, and deterministic down-sampling of negatives to the target positive rates with weights that restore the natural rate';

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

-- The phase and every phase built on it, directly or not, in order, with
-- the tables each replaces. An unknown phase is an error.
CREATE OR REPLACE FUNCTION @extschema@.phases_from(phase text)
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
CREATE OR REPLACE FUNCTION @extschema@.empty_phases_from(phase text, keep_own boolean)
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
CREATE OR REPLACE FUNCTION @extschema@.clear_outputs(phase text)
RETURNS text[]
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN normalize.empty_phases_from(phase, false);
COMMENT ON FUNCTION @extschema@.clear_outputs(text) IS
    'Internal: empties the tables a phase replaces and those of every phase built on it (per pipeline_phase_kinds); returns the later phases whose results were thrown away';

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

CREATE OR REPLACE FUNCTION @extschema@.swap_table_storage(target regclass, staging regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'nz_swap_table_storage'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.swap_table_storage(regclass, regclass) IS
    'Internal: trades the storage (heap, TOAST, indexes) and statistics of a table of normalize and a staging table made like it in this transaction; the step that ends a phase';

-- A step whose rows are made one entity at a time by the history
-- generators reports them into pipeline_progress: begun with its rows to
-- do, ended (or ended with its transaction) when its statement is done.
CREATE OR REPLACE FUNCTION @extschema@.begin_progress(phase text, step text, rows_to_do bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'nz_begin_progress'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.begin_progress(text, text, bigint) IS
    'Internal: begins a step of a phase, with its rows to do, that the history generators count into pipeline_progress as they make rows';

CREATE OR REPLACE FUNCTION @extschema@.end_progress()
RETURNS void
AS 'MODULE_PATHNAME', 'nz_end_progress'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION @extschema@.end_progress() IS
    'Internal: ends the step begun by begin_progress and puts the session''s application_name back';

