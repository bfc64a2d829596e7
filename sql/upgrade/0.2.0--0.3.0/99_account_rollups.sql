-- The customers' monthly roll-up of their devices and users is kept with
-- the history (account_rollups, which build_history writes through
-- fill_account_rollups): the customer features of a range or a sample of
-- accounts then read their own rows, where the base view aggregated every
-- device day. A database with a history gets its roll-up here, from the
-- history it holds.

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
SELECT pg_catalog.pg_extension_config_dump('@extschema@.account_rollups', '');

-- Writes into target (with account_rollups' columns) each account's device
-- days and user weeks rolled up per month, as known at the month's end: a
-- device counts in a month by its row of the month's last day, or of as_of
-- in the last month; a user by the last week known by the month's end (a
-- week is known on its Sunday, or at as_of). Returns the rows written.
CREATE OR REPLACE FUNCTION @extschema@.fill_account_rollups(target regclass, days regclass, weeks regclass, as_of date)
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

CREATE OR REPLACE VIEW @extschema@.customer_feature_base AS
WITH info AS (
    SELECT h.as_of FROM @extschema@.history_info AS h),
snap AS (
    SELECT s.*, least((s.month + interval '1 month' - interval '1 day')::date, i.as_of) AS known_at
      FROM @extschema@.account_snapshots AS s CROSS JOIN info AS i)
SELECT s.account_key, s.known_at AS as_of, true AS is_cutoff,
       row_number() OVER o AS t,
       s.mrr, s.seats::float8 AS seats, s.active_users::float8 AS active_users,
       s.active_users::float8 / NULLIF(s.seats, 0) AS active_user_ratio,
       substr(s.tier, 6)::float8 AS tier_number,
       s.mrr / NULLIF(s.seats, 0) AS mrr_per_seat,
       r.device_mean_health, r.device_healthy_share, r.user_mean_engagement, r.user_active_share,
       s.support_tickets::float8 AS support_tickets, s.late_payments::float8 AS late_payments,
       s.failed_payments::float8 AS failed_payments,
       (s.late_payments + s.failed_payments = 0)::int::float8 AS payment_on_time,
       (s.event IS NOT DISTINCT FROM 'upgrade')::int::float8 AS upgrades,
       (s.event IS NOT DISTINCT FROM 'downgrade')::int::float8 AS downgrades,
       r.device_failures, r.device_errors, r.user_sessions,
       r.device_count, r.user_count,
       CASE WHEN a.created_at <= s.known_at
            THEN (12 * extract(year FROM age(s.known_at, a.created_at)) + extract(month FROM age(s.known_at, a.created_at)))::float8
       END AS tenure_months,
       (count(*) OVER c)::float8 AS months_observed,
       (count(*) FILTER (WHERE s.event IN ('upgrade', 'downgrade')) OVER c)::float8 AS tier_changes_to_date,
       (12 * extract(year FROM age(s.month, max(s.month) FILTER (WHERE s.event IN ('upgrade', 'downgrade')) OVER c))
        + extract(month FROM age(s.month, max(s.month) FILTER (WHERE s.event IN ('upgrade', 'downgrade')) OVER c)))::float8
           AS months_since_tier_change,
       (min(substr(s.tier, 6)::int) OVER c)::float8 AS best_tier_to_date,
       max(s.mrr) OVER c AS mrr_peak_to_date,
       s.mrr / NULLIF(max(s.mrr) OVER c, 0) AS mrr_share_of_peak
  FROM snap AS s
  JOIN @extschema@.accounts AS a ON a.account_key = s.account_key
  LEFT JOIN @extschema@.account_rollups AS r ON r.account_key = s.account_key AND r.month = s.month
WINDOW o AS (PARTITION BY s.account_key ORDER BY s.month), c AS (o ROWS UNBOUNDED PRECEDING);

SELECT @extschema@.fill_account_rollups('@extschema@.account_rollups', '@extschema@.device_days', '@extschema@.user_weeks', h.as_of)
  FROM @extschema@.history_info AS h;
