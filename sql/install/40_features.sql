-- Phase 4 of the plan: features. Each entity has a base view of one row per
-- period of its history (customers: months, devices: days, users: weeks)
-- holding the metrics known at the end of that period; the feature catalog
-- lists what is computed from each metric over which windows; the feature
-- views are generated from the catalog, so the two cannot drift apart.
--
-- Point in time: a base row holds only what is known when its period ends
-- (a month's snapshot at the month's end, a week at its Sunday, a day at
-- its end), and every feature of a row is computed from that row and the
-- rows before it. A feature at as_of T therefore reads nothing after T.

-- Averages across entities are taken in numeric: a float8 sum depends on
-- the order rows arrive in, which changes with the plan, and features must
-- be the same bytes on every run.

-- Customers: one row per account and month, known at the month's end (the
-- last month at the history's as_of), with its users and devices rolled up
-- as they were then (account_rollups, written with the history by
-- fill_account_rollups).
CREATE VIEW @extschema@.customer_feature_base AS
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
COMMENT ON VIEW @extschema@.customer_feature_base IS
    'One row per account and month of the history, with the metrics known at the month''s end (users and devices rolled up as they were then): what the customer features are computed from';

-- Devices: one row per device and day; the cutoffs fall every 7 days,
-- counting back from the history's as_of.
CREATE VIEW @extschema@.device_feature_base AS
SELECT x.device_key, x.day AS as_of, (i.as_of - x.day) % 7 = 0 AS is_cutoff,
       row_number() OVER o AS t,
       x.health, x.usage, x.temperature,
       greatest(x.temperature - 25, 0) AS heat_exposure,
       x.health - lag(x.health) OVER o AS health_change,
       x.usage * (1 + 0.03 * greatest(x.temperature - 25, 0)) AS load,
       x.errors::float8 AS errors, x.maintenance::int::float8 AS maintenance, x.failure::int::float8 AS failure,
       (x.day - max(x.day) FILTER (WHERE x.maintenance) OVER c)::float8 AS days_since_maintenance,
       (x.day - max(x.day) FILTER (WHERE x.failure) OVER c)::float8 AS days_since_failure,
       (count(*) FILTER (WHERE x.maintenance) OVER c)::float8 AS maintenances_to_date,
       (count(*) FILTER (WHERE x.failure) OVER c)::float8 AS failures_to_date,
       ((max(x.day) FILTER (WHERE x.maintenance) OVER c) - (min(x.day) FILTER (WHERE x.maintenance) OVER c))::float8
           / NULLIF(count(*) FILTER (WHERE x.maintenance) OVER c - 1, 0) AS maintenance_interval_mean,
       (count(*) OVER c)::float8 AS days_observed,
       d.device_type
  FROM @extschema@.device_days AS x
  JOIN @extschema@.devices AS d ON d.device_key = x.device_key
 CROSS JOIN @extschema@.history_info AS i
WINDOW o AS (PARTITION BY x.device_key ORDER BY x.day), c AS (o ROWS UNBOUNDED PRECEDING);
COMMENT ON VIEW @extschema@.device_feature_base IS
    'One row per device and day of the history, with its metrics; cutoffs every 7 days back from the history''s as_of: what the device features are computed from';

-- Users: one row per user and week, known at the week's Sunday; a month's
-- cutoff is the last week known by the month's end.
CREATE VIEW @extschema@.user_feature_base AS
WITH w AS (
    SELECT x.*, u.role, least(x.week + 6, i.as_of) AS known_at, i.as_of AS history_as_of
      FROM @extschema@.user_weeks AS x
      JOIN @extschema@.users AS u ON u.user_key = x.user_key
     CROSS JOIN @extschema@.history_info AS i)
SELECT w.user_key,
       least((date_trunc('month', w.known_at) + interval '1 month' - interval '1 day')::date, w.history_as_of) AS as_of,
       coalesce(date_trunc('month', lead(w.known_at) OVER o) > date_trunc('month', w.known_at), true) AS is_cutoff,
       row_number() OVER o AS t,
       w.engagement, w.logins::float8 AS logins, w.sessions::float8 AS sessions,
       w.sessions::float8 / NULLIF(w.logins, 0) AS sessions_per_login,
       w.engagement / NULLIF(avg(w.engagement::numeric) OVER (PARTITION BY w.role, w.week), 0)::float8 AS role_activity_index,
       w.features_adopted::float8 AS features_adopted,
       (w.logins > 0)::int::float8 AS active_week,
       (w.adopted_feature IS NOT NULL)::int::float8 AS adoption,
       (count(*) OVER c)::float8 AS weeks_observed,
       ((w.week - max(w.week) FILTER (WHERE w.logins > 0) OVER c) / 7)::float8 AS weeks_since_active,
       ((w.week - max(w.week) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c) / 7)::float8 AS weeks_since_adoption,
       ((min(w.week) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c - min(w.week) OVER c) / 7)::float8
           AS weeks_to_first_adoption,
       w.features_adopted::float8 / count(*) OVER c AS adoption_rate,
       (array_agg(w.adopted_feature) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c)[1] AS first_feature,
       (array_agg(w.adopted_feature) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c)[2] AS second_feature,
       (array_agg(w.adopted_feature) FILTER (WHERE w.adopted_feature IS NOT NULL) OVER c)[3] AS third_feature,
       w.role
  FROM w
WINDOW o AS (PARTITION BY w.user_key ORDER BY w.week), c AS (o ROWS UNBOUNDED PRECEDING);
COMMENT ON VIEW @extschema@.user_feature_base IS
    'One row per user and week of the history, known at the week''s Sunday, with its metrics; a month''s cutoff is the last week known by its end: what the user features are computed from';

-- The catalog ------------------------------------------------------------------

CREATE TABLE @extschema@.feature_catalog (
    entity        text NOT NULL CHECK (entity IN ('customer', 'device', 'user')),
    feature       text NOT NULL,
    family        text NOT NULL,
    source_metric text NOT NULL,
    window_size   integer,
    window_unit   text CHECK (window_unit IN ('month', 'day', 'week')),
    aggregation   text NOT NULL CHECK (aggregation IN ('last', 'mean', 'min', 'max', 'stddev', 'slope', 'change',
                                                         'pct_change', 'growth_rate', 'sum')),
    data_type     text NOT NULL CHECK (data_type IN ('float8', 'text')),
    min_history   integer,
    required      boolean NOT NULL,
    description   text NOT NULL,
    position      integer NOT NULL,
    PRIMARY KEY (entity, feature),
    UNIQUE (entity, position),
    CHECK ((window_size IS NULL) = (aggregation = 'last'))
);
COMMENT ON TABLE @extschema@.feature_catalog IS
    'Every feature of customer_features, device_features and user_features: its metric, window, aggregation, type, the history it needs (NULL before that) and what it means; the views are generated from it';

-- The metrics of the base views and how each is aggregated: level metrics
-- (a state) get mean, min, max, stddev, slope, change and percent change;
-- count metrics (events per period) get sum, mean and slope; both get their
-- last value; point metrics (already cumulative, or categories) only that.
CREATE TEMP TABLE nz_metrics (entity text, metric text, kind text, family text, data_type text, required boolean,
                              description text, position serial);
INSERT INTO nz_metrics (entity, metric, kind, family, data_type, required, description) VALUES
    ('customer', 'mrr', 'level', 'revenue', 'float8', true, 'monthly recurring revenue'),
    ('customer', 'seats', 'level', 'adoption', 'float8', true, 'seats'),
    ('customer', 'active_users', 'level', 'adoption', 'float8', true, 'active users'),
    ('customer', 'active_user_ratio', 'level', 'adoption', 'float8', true, 'active users per seat'),
    ('customer', 'tier_number', 'level', 'tier', 'float8', true, 'tier number (1 = largest)'),
    ('customer', 'mrr_per_seat', 'level', 'revenue', 'float8', true, 'revenue per seat'),
    ('customer', 'device_mean_health', 'level', 'devices', 'float8', false, 'mean health of the account''s devices at the month''s end'),
    ('customer', 'device_healthy_share', 'level', 'devices', 'float8', false, 'share of the account''s devices with health of at least 60'),
    ('customer', 'user_mean_engagement', 'level', 'users', 'float8', false, 'mean engagement of the account''s users'),
    ('customer', 'user_active_share', 'level', 'users', 'float8', false, 'share of the account''s users who logged in during their last week'),
    ('customer', 'support_tickets', 'count', 'support', 'float8', true, 'support tickets per month'),
    ('customer', 'late_payments', 'count', 'payments', 'float8', true, 'late payments per month'),
    ('customer', 'failed_payments', 'count', 'payments', 'float8', true, 'failed payments per month'),
    ('customer', 'payment_on_time', 'count', 'payments', 'float8', true, 'months without a late or failed payment'),
    ('customer', 'upgrades', 'count', 'tier', 'float8', true, 'tier upgrades'),
    ('customer', 'downgrades', 'count', 'tier', 'float8', true, 'tier downgrades'),
    ('customer', 'device_failures', 'count', 'devices', 'float8', false, 'failures of the account''s devices per month'),
    ('customer', 'device_errors', 'count', 'devices', 'float8', false, 'errors of the account''s devices per month'),
    ('customer', 'user_sessions', 'count', 'users', 'float8', false, 'sessions of the account''s users per month'),
    ('customer', 'device_count', 'point', 'devices', 'float8', false, 'devices of the account with a history at the month''s end'),
    ('customer', 'user_count', 'point', 'users', 'float8', false, 'users of the account with a history in the month'),
    ('customer', 'tenure_months', 'point', 'lifecycle', 'float8', false, 'whole months since signup'),
    ('customer', 'months_observed', 'point', 'lifecycle', 'float8', true, 'months of history so far'),
    ('customer', 'tier_changes_to_date', 'point', 'tier', 'float8', true, 'upgrades and downgrades so far'),
    ('customer', 'months_since_tier_change', 'point', 'tier', 'float8', false, 'months since the last upgrade or downgrade (NULL: none seen)'),
    ('customer', 'best_tier_to_date', 'point', 'tier', 'float8', true, 'the largest tier held so far (lowest number)'),
    ('customer', 'mrr_peak_to_date', 'point', 'revenue', 'float8', true, 'the highest MRR so far'),
    ('customer', 'mrr_share_of_peak', 'point', 'revenue', 'float8', true, 'MRR as a share of its highest so far'),

    ('device', 'health', 'level', 'health', 'float8', true, 'health score (0-100)'),
    ('device', 'usage', 'level', 'usage', 'float8', true, 'usage intensity (0-1)'),
    ('device', 'temperature', 'level', 'environment', 'float8', true, 'temperature (degrees C)'),
    ('device', 'heat_exposure', 'level', 'environment', 'float8', true, 'degrees above 25 C'),
    ('device', 'health_change', 'level', 'health', 'float8', false, 'day-on-day change of health'),
    ('device', 'load', 'level', 'usage', 'float8', true, 'usage weighted by heat'),
    ('device', 'errors', 'count', 'errors', 'float8', true, 'errors per day'),
    ('device', 'maintenance', 'count', 'maintenance', 'float8', true, 'maintenance visits'),
    ('device', 'failure', 'count', 'failures', 'float8', true, 'failures'),
    ('device', 'days_since_maintenance', 'point', 'maintenance', 'float8', false, 'days since the last maintenance (NULL: none seen)'),
    ('device', 'days_since_failure', 'point', 'failures', 'float8', false, 'days since the last failure (NULL: none seen)'),
    ('device', 'maintenances_to_date', 'point', 'maintenance', 'float8', true, 'maintenance visits so far'),
    ('device', 'failures_to_date', 'point', 'failures', 'float8', true, 'failures so far'),
    ('device', 'maintenance_interval_mean', 'point', 'maintenance', 'float8', false, 'mean days between maintenance visits so far (NULL: fewer than two)'),
    ('device', 'days_observed', 'point', 'lifecycle', 'float8', true, 'days of history so far'),
    ('device', 'device_type', 'point', 'lifecycle', 'text', true, 'device type'),

    ('user', 'engagement', 'level', 'engagement', 'float8', true, 'engagement score (0-100)'),
    ('user', 'logins', 'level', 'sessions', 'float8', true, 'logins per week'),
    ('user', 'sessions', 'level', 'sessions', 'float8', true, 'sessions per week'),
    ('user', 'sessions_per_login', 'level', 'sessions', 'float8', false, 'sessions per login'),
    ('user', 'role_activity_index', 'level', 'role', 'float8', true, 'engagement relative to the mean of the same role that week'),
    ('user', 'features_adopted', 'level', 'adoption', 'float8', true, 'features adopted so far'),
    ('user', 'active_week', 'count', 'sessions', 'float8', true, 'weeks with a login'),
    ('user', 'adoption', 'count', 'adoption', 'float8', true, 'features adopted'),
    ('user', 'weeks_observed', 'point', 'lifecycle', 'float8', true, 'weeks of history so far'),
    ('user', 'weeks_since_active', 'point', 'sessions', 'float8', false, 'weeks since the last week with a login (recency; NULL: none seen)'),
    ('user', 'weeks_since_adoption', 'point', 'adoption', 'float8', false, 'weeks since the last feature adopted (NULL: none yet)'),
    ('user', 'weeks_to_first_adoption', 'point', 'adoption', 'float8', false, 'weeks from the first observed week to the first feature adopted'),
    ('user', 'adoption_rate', 'point', 'adoption', 'float8', true, 'features adopted per week observed'),
    ('user', 'first_feature', 'point', 'adoption', 'text', false, 'the first feature adopted'),
    ('user', 'second_feature', 'point', 'adoption', 'text', false, 'the second feature adopted'),
    ('user', 'third_feature', 'point', 'adoption', 'text', false, 'the third feature adopted'),
    ('user', 'role', 'point', 'role', 'text', false, 'role');

CREATE TEMP TABLE nz_windows (entity text, window_size integer, unit text, suffix text);
INSERT INTO nz_windows VALUES
    ('customer', 3, 'month', 'm'), ('customer', 6, 'month', 'm'), ('customer', 12, 'month', 'm'),
    ('device', 7, 'day', 'd'), ('device', 30, 'day', 'd'), ('device', 90, 'day', 'd'),
    ('user', 4, 'week', 'w'), ('user', 12, 'week', 'w'), ('user', 26, 'week', 'w');

CREATE TEMP TABLE nz_aggregations (kind text, aggregation text, position integer, description text);
INSERT INTO nz_aggregations VALUES
    ('level', 'mean', 1, 'mean of %s over the last %s %ss'),
    ('level', 'min', 2, 'lowest %s over the last %s %ss'),
    ('level', 'max', 3, 'highest %s over the last %s %ss'),
    ('level', 'stddev', 4, 'standard deviation of %s over the last %s %ss'),
    ('level', 'slope', 5, 'linear trend of %s per period over the last %s %ss'),
    ('level', 'change', 6, 'change of %s against %s %ss before'),
    ('level', 'pct_change', 7, 'relative change of %s against %s %ss before (NULL when that was 0)'),
    ('count', 'sum', 1, 'total %s in the last %s %ss'),
    ('count', 'mean', 2, 'mean %s per period over the last %s %ss'),
    ('count', 'slope', 3, 'linear trend of %s per period over the last %s %ss');

INSERT INTO @extschema@.feature_catalog (entity, feature, family, source_metric, window_size, window_unit, aggregation,
                                         data_type, min_history, required, description, position)
SELECT entity, feature, family, metric, window_size, unit, aggregation, data_type, min_history, required, description,
       row_number() OVER (PARTITION BY entity ORDER BY m_position, w_position, a_position)
  FROM (
    SELECT m.entity, m.metric AS feature, m.family, m.metric, NULL::integer AS window_size, NULL::text AS unit,
           'last' AS aggregation, m.data_type, NULL::integer AS min_history, m.required,
           upper(left(m.description, 1)) || substr(m.description, 2) || ', at the cutoff' AS description,
           m.position AS m_position, 0 AS w_position, 0 AS a_position
      FROM nz_metrics AS m
    UNION ALL
    SELECT m.entity, format('%s_%s_%s%s', m.metric, a.aggregation, w.window_size, w.suffix), m.family, m.metric,
           w.window_size, w.unit, a.aggregation, m.data_type,
           CASE WHEN a.aggregation IN ('change', 'pct_change') THEN w.window_size + 1 ELSE w.window_size END,
           false, format(a.description, m.description, w.window_size, w.unit),
           m.position, w.window_size, a.position
      FROM nz_metrics AS m
      JOIN nz_windows AS w ON w.entity = m.entity
      JOIN nz_aggregations AS a ON a.kind = m.kind
    UNION ALL
    -- The plan's revenue growth rate: compound monthly growth.
    SELECT 'customer', format('revenue_growth_rate_%sm', w.window_size), 'revenue', 'mrr', w.window_size, 'month',
           'growth_rate', 'float8', w.window_size + 1, false,
           format('compound monthly growth rate of MRR over the last %s months (NULL unless MRR was positive then)', w.window_size),
           1, w.window_size, 8
      FROM nz_windows AS w WHERE w.entity = 'customer'
  ) AS f;

-- The plan's names for some of them.
UPDATE @extschema@.feature_catalog AS c SET feature = r.plan_name,
       description = c.description || ' (the plan''s ' || replace(r.plan_name, '_', ' ') || ')'
  FROM (VALUES
    ('customer', 'active_users_slope_3m', 'product_adoption_velocity_3m'),
    ('customer', 'active_users_slope_6m', 'product_adoption_velocity_6m'),
    ('customer', 'active_users_slope_12m', 'product_adoption_velocity_12m'),
    ('customer', 'support_tickets_mean_3m', 'support_ticket_frequency_3m'),
    ('customer', 'support_tickets_mean_6m', 'support_ticket_frequency_6m'),
    ('customer', 'support_tickets_mean_12m', 'support_ticket_frequency_12m'),
    ('customer', 'payment_on_time_mean_3m', 'payment_reliability_score_3m'),
    ('customer', 'payment_on_time_mean_6m', 'payment_reliability_score_6m'),
    ('customer', 'payment_on_time_mean_12m', 'payment_reliability_score_12m'),
    ('device', 'health_slope_7d', 'health_trend_7d'),
    ('device', 'health_slope_30d', 'health_trend_30d'),
    ('device', 'health_slope_90d', 'health_trend_90d'),
    ('device', 'usage_mean_7d', 'usage_intensity_7d'),
    ('device', 'usage_mean_30d', 'usage_intensity_30d'),
    ('device', 'usage_mean_90d', 'usage_intensity_90d'),
    ('device', 'heat_exposure_mean_30d', 'environmental_impact_30d'),
    ('device', 'heat_exposure_mean_90d', 'environmental_impact_90d'),
    ('device', 'errors_mean_30d', 'error_rate_30d'),
    ('device', 'errors_mean_90d', 'error_rate_90d'),
    ('user', 'engagement_change_4w', 'engagement_momentum_4w'),
    ('user', 'engagement_change_12w', 'engagement_momentum_12w'),
    ('user', 'sessions_mean_4w', 'session_frequency_4w'),
    ('user', 'sessions_mean_12w', 'session_frequency_12w'),
    ('user', 'sessions_stddev_12w', 'session_regularity_12w'),
    ('user', 'role_activity_index_mean_4w', 'role_based_activity_index_4w'),
    ('user', 'role_activity_index_mean_12w', 'role_based_activity_index_12w'),
    ('user', 'adoption_sum_12w', 'feature_adoption_velocity_12w'),
    ('user', 'weeks_since_active', 'session_recency_weeks')
  ) AS r(entity, feature, plan_name)
 WHERE c.entity = r.entity AND c.feature = r.feature;
DROP TABLE nz_metrics, nz_windows, nz_aggregations;

-- The view generator ---------------------------------------------------------

-- What one feature reads from earlier rows: each value it takes k > 0
-- rows back. The view generator packs all of an entity's such values into
-- one array per row and lags that array once per distinct k, so it needs
-- the list before it writes any feature's SQL; feature_expression takes
-- its references from the same list. The arguments are checked here.
CREATE FUNCTION @extschema@.feature_reads(metric text, aggregation text, n integer, cadence integer, smallest integer)
RETURNS TABLE (col text, k integer)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Checked before any SQL is built from them: a NULL would be spliced in
    -- as nothing, and a cadence of 0 would divide by zero.
    IF metric IS NULL OR aggregation IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN metric IS NULL THEN 'metric' ELSE 'aggregation' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a metric and an aggregation of normalize.feature_catalog.';
    END IF;
    IF aggregation = 'last' THEN
        RETURN;
    END IF;
    PERFORM normalize.require_range('cadence', cadence, 1, 'infinity',
                                    'Pass the rows between two cutoffs, such as 7 for weekly cutoffs of daily rows.');
    IF aggregation NOT IN ('mean', 'sum', 'stddev', 'slope', 'min', 'max', 'change', 'pct_change', 'growth_rate')
       OR n IS NULL OR n < 2 OR smallest IS NULL OR smallest < 1 OR smallest > n THEN
        RAISE EXCEPTION 'no windowed feature is % over % periods (cadence %, smallest window %)',
                        aggregation, n, cadence, smallest
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The aggregations and windows of normalize.feature_catalog are the ones the generator knows.';
    END IF;
    IF aggregation IN ('change', 'pct_change', 'growth_rate') THEN
        RETURN QUERY VALUES (metric, n);
        RETURN;
    END IF;
    -- The window's count of known values: a window is NULL unless complete.
    RETURN QUERY VALUES ('_n_' || metric, n);
    RETURN QUERY
    SELECT x.prefix || metric, n
      FROM unnest(CASE aggregation WHEN 'stddev' THEN ARRAY['_s1_', '_s2_'] WHEN 'slope' THEN ARRAY['_s1_', '_sx_']
                                   WHEN 'min' THEN ARRAY[]::text[] WHEN 'max' THEN ARRAY[]::text[]
                                   ELSE ARRAY['_s1_'] END) AS x(prefix);
    -- The smallest-window extremes that cover the window, the row's own
    -- (k = 0) aside.
    IF aggregation IN ('min', 'max') THEN
        RETURN QUERY
        SELECT '_b' || aggregation || '_' || metric, o.k
          FROM (SELECT generate_series(smallest, n - smallest, smallest) AS k UNION SELECT n - smallest) AS o
         WHERE o.k > 0 ORDER BY o.k;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_reads(text, text, integer, integer, integer) IS
    'Internal: the values one windowed feature reads some rows back (column, rows back), for the feature view generator';

-- A value k rows back in the feature view: the column itself, or its place
-- in the row's packed array (packed lists the array's values), lagged over
-- the cutoff rows (__a<k / cadence>) when k is a multiple of the rows
-- between cutoffs, or before the rows were thinned to the cutoffs
-- (__lag<k>) when not.
CREATE FUNCTION @extschema@.feature_ref(col text, k integer, cadence integer, packed text[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    place integer;
BEGIN
    PERFORM normalize.require_range('k', k, 0, 'infinity', 'Pass how many rows back, 0 for the row itself.');
    PERFORM normalize.require_range('cadence', cadence, 1, 'infinity',
                                    'Pass the rows between two cutoffs, such as 7 for weekly cutoffs of daily rows.');
    IF col IS NULL THEN
        RAISE EXCEPTION 'col must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the name of a column of the view.';
    END IF;
    IF k = 0 THEN
        RETURN quote_ident(col);
    END IF;
    place := array_position(packed, col);
    IF place IS NULL THEN
        RAISE EXCEPTION 'col "%" is not among the packed values %', col, coalesce(packed::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pack every value normalize.feature_reads lists for the entity''s features.';
    END IF;
    RETURN CASE WHEN k % cadence = 0 THEN format('(__a%s)[%s]', k / cadence, place)
                ELSE format('(__lag%s)[%s]', k, place) END;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_ref(text, integer, integer, text[]) IS
    'Internal: the SQL for a column k rows back in the feature view, from its place among the packed values';

-- The SQL of one windowed feature over the running sums (_n_, _s1_, _s2_,
-- _sx_ of each metric) and the running minimum and maximum over the
-- smallest window (_bmin_, _bmax_): sums over a window are differences of
-- running sums, and the minimum over a window is the least of a few
-- smallest-window minima that cover it. Each is O(1) per row, where
-- framed window aggregates over daily rows would cost the window's length.
-- The values from earlier rows are those feature_reads lists, placed in
-- the packed array.
CREATE FUNCTION @extschema@.feature_expression(metric text, aggregation text, n integer, cadence integer, smallest integer,
                                               packed text[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    back jsonb;
    s1 text;
    s2 text;
    sx text;
    complete text;
    extremes text;
BEGIN
    -- The SQL of each value read n rows back, by column; feature_reads
    -- checks the arguments.
    SELECT coalesce(jsonb_object_agg(r.col, normalize.feature_ref(r.col, r.k, cadence, packed)) FILTER (WHERE r.k = n),
                    '{}')
      INTO back
      FROM normalize.feature_reads(metric, aggregation, n, cadence, smallest) AS r;
    IF aggregation = 'last' THEN
        RETURN quote_ident(metric);
    END IF;
    IF aggregation IN ('min', 'max') THEN
        SELECT quote_ident('_b' || aggregation || '_' || metric)
               || string_agg(', ' || normalize.feature_ref(r.col, r.k, cadence, packed), '' ORDER BY r.k)
          INTO extremes
          FROM normalize.feature_reads(metric, aggregation, n, cadence, smallest) AS r
         WHERE r.col = '_b' || aggregation || '_' || metric;
        -- A window as small as the smallest: the row's own extreme alone.
        extremes := coalesce(extremes, quote_ident('_b' || aggregation || '_' || metric));
    END IF;
    complete := format('(%s - coalesce(%s, 0)) = %s', quote_ident('_n_' || metric), back ->> ('_n_' || metric), n);
    s1 := format('(%s - coalesce(%s, 0))', quote_ident('_s1_' || metric), back ->> ('_s1_' || metric));
    s2 := format('(%s - coalesce(%s, 0))', quote_ident('_s2_' || metric), back ->> ('_s2_' || metric));
    sx := format('(%s - coalesce(%s, 0))', quote_ident('_sx_' || metric), back ->> ('_sx_' || metric));
    RETURN CASE aggregation
        WHEN 'mean' THEN format('CASE WHEN %s THEN %s / %s END', complete, s1, n)
        WHEN 'sum' THEN format('CASE WHEN %s THEN %s END', complete, s1)
        WHEN 'stddev' THEN format('CASE WHEN %s THEN sqrt(greatest(0, (%s - %s ^ 2 / %s) / %s)) END',
                                  complete, s2, s1, n, n - 1)
        WHEN 'slope' THEN format('CASE WHEN %s THEN (%s - (t - %s) * %s) / %s END',
                                 complete, sx, (n - 1) / 2.0, s1, n * (n * n - 1) / 12.0)
        -- The row's own smallest-window extreme, then those further back,
        -- nearest first.
        WHEN 'min' THEN format('CASE WHEN %s THEN least(%s) END', complete, extremes)
        WHEN 'max' THEN format('CASE WHEN %s THEN greatest(%s) END', complete, extremes)
        WHEN 'change' THEN format('%I - %s', metric, back ->> metric)
        WHEN 'pct_change' THEN format('(%1$I - %2$s) / NULLIF(abs(%2$s), 0)', metric, back ->> metric)
        WHEN 'growth_rate' THEN format('CASE WHEN %1$I > 0 AND %2$s > 0 THEN power(%1$I / %2$s, 1.0 / %3$s) - 1 END',
                                       metric, back ->> metric, n)
    END;
END
$$;
COMMENT ON FUNCTION @extschema@.feature_expression(text, text, integer, integer, integer, text[]) IS
    'Internal: the SQL of one windowed feature over running sums, for the feature view generator';
