-- Phase 3 of the plan: history. The account simulator (C++) as a
-- set-returning function, deterministic in (seed, account key), so it can be
-- called over a whole table or per row with CROSS JOIN LATERAL.

CREATE FUNCTION @extschema@.generate_history(
    account_key text,
    tier text,
    mrr float8,
    months integer DEFAULT 24,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    created_at date DEFAULT NULL,
    growth float8 DEFAULT 0.01,
    seasonality float8 DEFAULT 0.03)
RETURNS TABLE (account_key text, month date, tier text, mrr float8, seats integer, active_users integer,
               support_tickets integer, late_payments integer, failed_payments integer, status text,
               event text)
AS 'MODULE_PATHNAME', 'nz_generate_history'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.generate_history(text, text, float8, integer, date, bigint, date, float8, float8) IS
    'Monthly history of one account ending at as_of in its current tier and revenue (unless it churns): upgrades, downgrades, growth with seasonality, seats, active users, tickets, payments, and churn from the tier''s annual band moved by latent health';

-- The history tables. They hang off the normalized accounts by key; the
-- link is checked by validate_history() rather than declared, because
-- reconcile_ids rebuilds the accounts (and its keys) from scratch.
CREATE TABLE @extschema@.account_snapshots (
    account_key     varchar COLLATE "C" NOT NULL,
    month           date NOT NULL,
    tier            text NOT NULL,
    mrr             float8 NOT NULL,
    seats           integer NOT NULL,
    active_users    integer NOT NULL,
    support_tickets integer NOT NULL,
    late_payments   integer NOT NULL,
    failed_payments integer NOT NULL,
    status          text NOT NULL CHECK (status IN ('active', 'churned')),
    event           text,
    PRIMARY KEY (account_key, month)
);
COMMENT ON TABLE @extschema@.account_snapshots IS
    'Simulated monthly snapshots of every account (generated values), from build_history()';

CREATE TABLE @extschema@.lifecycle_events (
    entity     text NOT NULL,
    entity_key varchar COLLATE "C" NOT NULL,
    event_date date NOT NULL,
    event      text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (entity, entity_key, event_date, event)
);
COMMENT ON TABLE @extschema@.lifecycle_events IS
    'Business events of the simulated history (signup, upgrade, downgrade, churn, ...), each matching a change in the snapshots';

CREATE TABLE @extschema@.device_days (
    device_key  varchar COLLATE "C" NOT NULL,
    day         date NOT NULL,
    health      float8 NOT NULL,
    usage       float8 NOT NULL,
    temperature float8 NOT NULL,
    errors      integer NOT NULL,
    maintenance boolean NOT NULL,
    failure     boolean NOT NULL,
    PRIMARY KEY (device_key, day)
);
COMMENT ON TABLE @extschema@.device_days IS
    'Simulated daily history of every device (generated values), from build_history()';

CREATE TABLE @extschema@.user_weeks (
    user_key         varchar COLLATE "C" NOT NULL,
    week             date NOT NULL,
    engagement       float8 NOT NULL,
    logins           integer NOT NULL,
    sessions         integer NOT NULL,
    features_adopted integer NOT NULL,
    adopted_feature  text,
    PRIMARY KEY (user_key, week)
);
COMMENT ON TABLE @extschema@.user_weeks IS
    'Simulated weekly history of every user (generated values), from build_history()';

-- Each account's devices and users rolled up per month, as they were at the
-- month's end: what the customer features read of them. Kept with the
-- history, once, so that the features of a range or a sample of accounts
-- read their own rows here instead of aggregating every device day.
CREATE TABLE @extschema@.account_rollups (
    account_key          varchar COLLATE "C" NOT NULL,
    month                date NOT NULL,
    device_failures      float8,
    device_errors        float8,
    device_count         float8,
    device_mean_health   float8,
    device_healthy_share float8,
    user_sessions        float8,
    user_count           float8,
    user_mean_engagement float8,
    user_active_share    float8,
    PRIMARY KEY (account_key, month)
);
COMMENT ON TABLE @extschema@.account_rollups IS
    'Each account''s devices and users rolled up per month of the history as they were at its end (the last month at as_of), from build_history()';

-- The parameters of the stored history, for what is computed from it (the
-- feature spine ends at as_of).
CREATE TABLE @extschema@.history_info (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    months       integer NOT NULL,
    window_start date NOT NULL,
    as_of        date NOT NULL,
    seed         bigint NOT NULL,
    built_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.history_info IS
    'The months, window start, as_of and seed of the history build_history() stored last (one row, or none)';

-- How each device type wears: the simulator's degradation and failure
-- hazard per type, as data. The row '*' covers every type without a row of
-- its own (and devices without a type).
CREATE TABLE @extschema@.device_types (
    device_type  text PRIMARY KEY,
    degradation  float8 NOT NULL CHECK (degradation >= 0 AND degradation <= 10),
    failure_rate float8 NOT NULL CHECK (failure_rate >= 0 AND failure_rate <= 0.1),
    description  text,
    shipped      boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.device_types IS
    'Wear of each device type in the simulated history: health points lost per day at full use, and the daily failure hazard at health 60; the row ''*'' covers the other types';
COMMENT ON COLUMN @extschema@.device_types.degradation IS
    'Health points (0-100 scale) lost per day at full use, before heat and noise';
COMMENT ON COLUMN @extschema@.device_types.failure_rate IS
    'Daily failure hazard at health 60; it grows by e for every 8 points below';
INSERT INTO @extschema@.device_types (device_type, degradation, failure_rate, description, shipped) VALUES
    ('sensor',     0.09, 0.003, 'Low-power field sensors: slow wear, rare failures', true),
    ('camera',     0.13, 0.004, 'Cameras: moving parts and heat', true),
    ('gateway',    0.16, 0.005, 'Network gateways: run hot and under constant load', true),
    ('controller', 0.08, 0.006, 'Controllers: wear slowly but fail hard when they do', true),
    ('*',          0.12, 0.004, 'Any other type, and devices without one', true);
CREATE TRIGGER device_types_user_rows
    BEFORE INSERT OR UPDATE ON @extschema@.device_types
    FOR EACH ROW EXECUTE FUNCTION @extschema@.mark_user_rows('device_type');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.device_types', 'WHERE NOT shipped');

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

-- The latest snapshot date of the registered sources (origin 'sources') or
-- of the normalized tables ('normalized'): where a history ends unless the
-- user says otherwise. An error when no row carries one.
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

CREATE FUNCTION @extschema@.build_history(months integer DEFAULT 24, as_of date DEFAULT NULL,
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

-- Writes into target (with account_rollups' columns) each account's device
-- days and user weeks rolled up per month, as known at the month's end: a
-- device counts in a month by its row of the month's last day, or of as_of
-- in the last month; a user by the last week known by the month's end (a
-- week is known on its Sunday, or at as_of). Returns the rows written.
CREATE FUNCTION @extschema@.fill_account_rollups(target regclass, days regclass, weeks regclass, as_of date)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- One aggregate over every device day: compiling its expressions costs
-- more than it saves at the demo's size, and little at a hundred times.
SET jit = off
AS $$
DECLARE
    n bigint;
    missing text;
BEGIN
    IF target IS NULL OR days IS NULL OR weeks IS NULL OR as_of IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN target IS NULL THEN 'target' WHEN days IS NULL THEN 'days'
                                                   WHEN weeks IS NULL THEN 'weeks' ELSE 'as_of' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'fill_account_rollups is a step of normalize.build_history(); call that.';
    END IF;
    SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) INTO missing
      FROM pg_attribute AS a
     WHERE a.attrelid = 'normalize.account_rollups'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND NOT EXISTS (SELECT 1 FROM pg_attribute AS b
                        WHERE b.attrelid = target AND b.attname = a.attname AND b.atttypid = a.atttypid
                          AND b.attnum > 0 AND NOT b.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'target % lacks the columns % of normalize.account_rollups', target, missing
            USING ERRCODE = 'undefined_column',
                  HINT = 'Pass a table made LIKE normalize.account_rollups.';
    END IF;
    -- Made by CREATE TABLE AS, which may read the history with parallel
    -- workers where INSERT ... SELECT may not, then copied (a row per
    -- account and month). Months are truncated as timestamps: the same
    -- dates as through timestamptz, without a time zone conversion for
    -- each device day.
    PERFORM normalize.drop_temp_table('nz_rollups');
    EXECUTE format($q$
        CREATE TEMP TABLE nz_rollups ON COMMIT DROP AS
        WITH device_month AS (
            SELECT d.account_key, date_trunc('month', x.day::timestamp)::date AS month,
                   sum(x.failure::int)::float8 AS device_failures, sum(x.errors)::float8 AS device_errors,
                   count(*) FILTER (WHERE x.day = $1 OR (x.day < $1 AND extract(day FROM x.day + 1) = 1))::float8
                       AS device_count,
                   (avg(x.health::numeric) FILTER (WHERE x.day = $1 OR (x.day < $1 AND extract(day FROM x.day + 1) = 1)))::float8
                       AS device_mean_health,
                   avg((x.health >= 60)::int::float8) FILTER (WHERE x.day = $1 OR (x.day < $1 AND extract(day FROM x.day + 1) = 1))
                       AS device_healthy_share
              FROM %1$s AS x
              JOIN normalize.devices AS d ON d.device_key = x.device_key
             GROUP BY d.account_key, date_trunc('month', x.day::timestamp)),
        user_week AS (
            SELECT u.account_key, w.sessions, w.engagement, w.logins,
                   date_trunc('month', least(w.week + 6, $1))::date AS month,
                   row_number() OVER (PARTITION BY w.user_key, date_trunc('month', least(w.week + 6, $1))
                                      ORDER BY w.week DESC) AS recency
              FROM %2$s AS w
              JOIN normalize.users AS u ON u.user_key = w.user_key),
        user_month AS (
            SELECT uw.account_key, uw.month, sum(uw.sessions)::float8 AS user_sessions,
                   count(*) FILTER (WHERE uw.recency = 1)::float8 AS user_count,
                   (avg(uw.engagement::numeric) FILTER (WHERE uw.recency = 1))::float8 AS user_mean_engagement,
                   avg((uw.logins > 0)::int::float8) FILTER (WHERE uw.recency = 1) AS user_active_share
              FROM user_week AS uw GROUP BY uw.account_key, uw.month)
        SELECT coalesce(dm.account_key, um.account_key) AS account_key, coalesce(dm.month, um.month) AS month,
               dm.device_failures, dm.device_errors, dm.device_count, dm.device_mean_health, dm.device_healthy_share,
               um.user_sessions, um.user_count, um.user_mean_engagement, um.user_active_share
          FROM device_month AS dm
          FULL JOIN user_month AS um ON um.account_key = dm.account_key AND um.month = dm.month$q$,
        days, weeks)
    USING as_of;
    EXECUTE format('INSERT INTO %s (account_key, month, device_failures, device_errors, device_count, device_mean_health,
                                    device_healthy_share, user_sessions, user_count, user_mean_engagement,
                                    user_active_share)
                    SELECT * FROM nz_rollups', target);
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE nz_rollups;
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.fill_account_rollups(regclass, regclass, regclass, date) IS
    'Internal: writes each account''s device days and user weeks rolled up per month as known at its end, during build_history';

CREATE FUNCTION @extschema@.generate_device_history(
    device_key text,
    health float8,
    days integer DEFAULT 730,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    degradation float8 DEFAULT 0.12,
    failure_rate float8 DEFAULT 0.004)
RETURNS TABLE (device_key text, day date, health float8, usage float8, temperature float8, errors integer,
               maintenance boolean, failure boolean)
AS 'MODULE_PATHNAME', 'nz_generate_device_history'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.generate_device_history(text, float8, integer, date, bigint, float8, float8) IS
    'Daily history of one device ending at as_of at its current health: degradation with use and heat, maintenance, errors, and failures whose hazard rises as health falls';

CREATE FUNCTION @extschema@.generate_user_history(
    user_key text,
    role text,
    engagement float8,
    weeks integer DEFAULT 104,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    created_at date DEFAULT NULL,
    features text[] DEFAULT ARRAY['dashboards', 'alerts', 'reports', 'integrations', 'api', 'automations',
                                  'sso', 'audit_log'])
RETURNS TABLE (user_key text, week date, engagement float8, logins integer, sessions integer,
               features_adopted integer, adopted_feature text)
AS 'MODULE_PATHNAME', 'nz_generate_user_history'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.generate_user_history(text, text, float8, integer, date, bigint, date, text[]) IS
    'Weekly history of one user ending at as_of at the current engagement: an engagement trajectory with momentum, logins and sessions that follow it, and features adopted in catalogue order, faster for engaged users and admins';

CREATE FUNCTION @extschema@.generate_histories(
    accounts regclass,
    months integer DEFAULT 24,
    as_of date DEFAULT CURRENT_DATE,
    seed bigint DEFAULT 42,
    growth float8 DEFAULT 0.01,
    seasonality float8 DEFAULT 0.03)
RETURNS TABLE (account_key text, month date, tier text, mrr float8, seats integer, active_users integer,
               support_tickets integer, late_payments integer, failed_payments integer, status text,
               event text)
AS 'MODULE_PATHNAME', 'nz_generate_histories'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.generate_histories(regclass, integer, date, bigint, float8, float8) IS
    'The histories of every account of a relation (columns account_key, tier, mrr, optionally created_at) in one call: for each account, the rows generate_history gives it';
