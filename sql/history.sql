-- Phase 3: the account history simulator.
\set SHOW_CONTEXT never
-- One account, twelve months ending at the plan's date
SELECT month, tier, round(mrr::numeric, 2) AS mrr, seats, active_users, support_tickets, late_payments,
       failed_payments, status, event
  FROM normalize.generate_history('account:7', 'Tier 2', 2500, months => 12, as_of => '2025-06-18', seed => 42,
                                  created_at => '2020-01-15');
-- A signup inside the window starts the history there
SELECT min(month) AS first_month, count(*) AS months, (array_agg(event ORDER BY month))[1] AS first_event
  FROM normalize.generate_history('account:8', 'Tier 4', 90, months => 24, as_of => '2025-06-18',
                                  created_at => '2024-11-03');

-- Over many accounts: survivors end at their current state, churn is terminal
WITH h AS (
    SELECT g AS n, x.*, max(x.month) FILTER (WHERE x.status = 'churned') OVER (PARTITION BY g) AS churn_month
      FROM generate_series(1, 2000) AS g,
           LATERAL normalize.generate_history('account:' || g, 'Tier 4', 90, months => 24, as_of => '2025-06-18',
                                              created_at => '2020-01-01') AS x)
SELECT count(DISTINCT n) AS accounts,
       count(DISTINCT n) FILTER (WHERE status = 'churned') AS churned,
       bool_and(mrr = 90 AND tier = 'Tier 4') FILTER (WHERE month = '2025-06-01') AS survivors_end_at_current_state,
       count(*) FILTER (WHERE month > churn_month) AS after_churn
  FROM h;

-- Annual churn of Tier 4 accounts that exist for the whole year lies in its band
SELECT round(avg(churned::int), 2) AS annual_churn, p.lower AS band_low, p.upper AS band_high,
       avg(churned::int) BETWEEN p.lower AND p.upper AS in_band
  FROM (SELECT bool_or(x.status = 'churned') AS churned
          FROM generate_series(1, 4000) AS g,
               LATERAL normalize.generate_history('a' || g, 'Tier 4', 90, months => 12, as_of => '2025-06-18',
                                                  created_at => '2015-01-01') AS x
         GROUP BY g) AS t,
       normalize.distribution_profiles AS p
 WHERE p.name = 'churn_annual_tier_4'
 GROUP BY p.lower, p.upper;

-- A device's daily history
SELECT count(*) AS days, min(day) AS first_day, round(min(health)::numeric, 1) AS min_health,
       round(max(health)::numeric, 1) AS max_health, count(*) FILTER (WHERE maintenance) AS services,
       round(avg(usage)::numeric, 2) AS mean_usage
  FROM normalize.generate_device_history('device:dev-17', 72.5, 365, '2025-06-18', 42);
SELECT day, round(health::numeric, 2) AS health FROM normalize.generate_device_history('device:dev-17', 72.5, 365, '2025-06-18', 42)
 ORDER BY day DESC LIMIT 1;
-- devices that end in poor health fail more
SELECT h0 AS current_health, sum(failure::int) AS failures
  FROM (VALUES (25.0), (50.0), (85.0)) AS v(h0), generate_series(1, 200) AS g,
       LATERAL normalize.generate_device_history('d' || g, h0, 60, '2025-06-18', 42)
 GROUP BY h0 ORDER BY h0;
SELECT count(*) FROM normalize.generate_device_history('k', 101);
SELECT count(*) FROM normalize.generate_device_history('k', 50, 0);
SELECT count(*) FROM normalize.generate_device_history('k', 50, failure_rate => 1);
SELECT count(*) FROM normalize.generate_device_history('k', 50, seed => NULL);

-- A user's weekly history: weeks start on Monday, engagement ends at the current level,
-- features come one at a time in catalogue order
SELECT week, round(engagement::numeric, 1) AS engagement, logins, sessions, features_adopted, adopted_feature
  FROM normalize.generate_user_history('user:17', 'admin', 88.5, 8, '2025-06-18', 42, '2024-01-01');
SELECT role, round(avg(f), 1) AS features_after_two_years
  FROM (SELECT r AS role, max(h.features_adopted) AS f
          FROM unnest(ARRAY['admin', 'manager', 'standard']) AS r, generate_series(1, 300) AS g,
               LATERAL normalize.generate_user_history(r || g, r, CASE r WHEN 'admin' THEN 85 WHEN 'manager' THEN 65 ELSE 35 END,
                                                       104, '2025-06-18', 42, '2020-01-01') AS h
         GROUP BY r, g) AS t
 GROUP BY role ORDER BY role;
SELECT count(*) FILTER (WHERE adopted_feature IS DISTINCT FROM (ARRAY['a', 'b', 'c'])[features_adopted]
                          AND adopted_feature IS NOT NULL) AS out_of_order
  FROM generate_series(1, 200) AS g,
       LATERAL normalize.generate_user_history('u' || g, 'admin', 90, 200, '2025-06-18', 1, '2000-01-01', ARRAY['a', 'b', 'c']);
SELECT count(*) FROM normalize.generate_user_history('k', 'admin', -1);
SELECT count(*) FROM normalize.generate_user_history('k', 'admin', 50, weeks => 0);
SELECT count(*) FROM normalize.generate_user_history('k', 'admin', 50, features => ARRAY['a', NULL]);

-- Deterministic: the same account gives the same rows however it is called
SELECT (SELECT md5(string_agg(x::text, ',' ORDER BY month)) FROM normalize.generate_history('account:9', 'Tier 1', 12000, 24, '2025-06-18', 5) AS x)
     = (SELECT md5(string_agg(x::text, ',' ORDER BY month))
          FROM (VALUES ('account:9')) AS a(k),
               LATERAL normalize.generate_history(a.k, 'Tier 1', 12000, 24, '2025-06-18', 5) AS x) AS same;

-- Rows are written by patching a template tuple: keys of every length from
-- 9 to 140 bytes (one- and four-byte varlena headers) in one LATERAL call
-- site, signups, tier moves and churn. Each row carries its own key, and the
-- checksums are those recorded when every row was formed by heap_form_tuple.
SELECT count(*) AS rows, count(*) FILTER (WHERE h.account_key <> k) AS foreign_keys,
       md5(string_agg(h::text, ',' ORDER BY g, h.month)) AS accounts_md5
  FROM generate_series(1, 30000) AS g,
       LATERAL (SELECT 'account:' || g || repeat('x', g % 130) AS k) AS a,
       LATERAL normalize.generate_history(a.k, 'Tier ' || (1 + g % 4), 50 + g % 9000, 24, '2025-06-18', 42,
                                          CASE WHEN g % 3 = 0 THEN NULL ELSE date '2015-01-01' END) AS h;
SELECT md5(string_agg(h::text, ',' ORDER BY g, h.day)) AS devices_md5
  FROM generate_series(1, 300) AS g,
       LATERAL normalize.generate_device_history('device:' || g, 0.2 + (g % 7) / 10.0, 730, '2025-06-18', 42) AS h;
SELECT md5(string_agg(h::text, ',' ORDER BY g, h.week)) AS users_md5
  FROM generate_series(1, 3000) AS g,
       LATERAL normalize.generate_user_history('user:' || g, (ARRAY['admin', 'manager', 'standard'])[1 + g % 3],
                                               0.1 + (g % 8) / 10.0, 104, '2025-06-18', 42) AS h;

-- Bad input
SELECT count(*) FROM normalize.generate_history('k', 'Tier 9', 100);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 0);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, months => 0);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, months => 100000);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, as_of => NULL);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, seed => NULL);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, as_of => 'infinity');
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, as_of => '2025-06-18', created_at => '2026-01-01');
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, growth => 2);
-- NULL is no growth (generate_histories said so already), a tier's number
-- does not wrap around ('Tier 4294967298' was Tier 2), and revenue stays
-- where the seats it gives can be counted.
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, growth => NULL);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 100, seasonality => NULL);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 4294967298', 100);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 1e11);
SELECT count(*) FROM normalize.generate_history('k', 'Tier 2', 2000, 600, '2025-06-18', 42, '1900-01-01', -0.5, 0);
SELECT count(*) FROM normalize.generate_user_history('k', 'admin', 50, features => ARRAY[['a'], ['b']]);
-- Every day of a history must be a date PostgreSQL holds (4714-11-24 BC is
-- the first), or its rows could not be read back (COPY FROM, a restore):
-- as_of is refused, naming the range, for the history's length.
SELECT count(*) FROM normalize.generate_device_history('device:1', 80, 730, '4713-11-24 BC');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT count(*), min(day), bool_and(day::text::date = day) AS reads_back
  FROM normalize.generate_device_history('device:1', 80, 730, '4712-11-22 BC');
SELECT count(*), min(day) FROM normalize.generate_device_history('device:1', 80, 1, '4714-11-24 BC');
SELECT count(*) FROM normalize.generate_user_history('user:1', 'admin', 50, 104, '4713-11-24 BC');
SELECT count(*), min(week), bool_and(week::text::date = week) AS reads_back
  FROM normalize.generate_user_history('user:1', 'admin', 50, 104, '4712-11-14 BC', 42, '4714-11-24 BC');
SELECT count(*) FROM normalize.generate_history('account:1', 'Tier 2', 2000, 24, '4713-11-24 BC');
SELECT count(*), min(month), bool_and(month::text::date = month) AS reads_back
  FROM normalize.generate_history('account:1', 'Tier 2', 2000, 24, '4712-11-01 BC', 42, '4714-12-01 BC');
SELECT count(*) FROM normalize.generate_history('account:1', 'Tier 2', 2000, 1, '4714-11-30 BC');
-- At the other end, the last day PostgreSQL holds can end a history.
SELECT count(*), max(day) FROM normalize.generate_device_history('device:1', 80, 7, '5874897-12-31');
SELECT count(*), max(week) FROM normalize.generate_user_history('user:1', 'admin', 50, 2, '5874897-12-31', 42, '5874897-01-01');
SELECT count(*), max(month) FROM normalize.generate_history('account:1', 'Tier 2', 2000, 2, '5874897-12-31', 42, '5874897-01-01');

-- build_history: the whole normalized, repaired demo
TRUNCATE normalize.accounts CASCADE;
SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 42);
SELECT count(*) AS tables FROM normalize.create_demo_source('history_raw', seed => 1);
SELECT count(*) AS sources FROM normalize.use_sources('history_raw');
SELECT count(*) AS entities FROM normalize.reconcile_ids();
SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 42);
SELECT count(*) AS columns FROM normalize.repair_values(42);
SELECT * FROM normalize.build_history(months => 24, as_of => '2025-06-18', seed => 42);
SELECT event, count(*) FROM normalize.lifecycle_events GROUP BY event ORDER BY event;
-- Its roll-up step refuses a missing argument, and writes only into a
-- table with the roll-up's columns.
SELECT normalize.fill_account_rollups(NULL, 'normalize.device_days', 'normalize.user_weeks', '2025-06-18');
SELECT normalize.fill_account_rollups('normalize.account_rollups', 'normalize.device_days', 'normalize.user_weeks', NULL);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT normalize.fill_account_rollups('normalize.history_info', 'normalize.device_days', 'normalize.user_weeks',
                                      '2025-06-18');
CREATE TEMP TABLE rollups_again (LIKE normalize.account_rollups);
SELECT normalize.fill_account_rollups('rollups_again', 'normalize.device_days', 'normalize.user_weeks', '2025-06-18')
       = (SELECT count(*) FROM normalize.account_rollups) AS same_rows;
SELECT count(*) AS differing FROM (SELECT * FROM rollups_again EXCEPT SELECT * FROM normalize.account_rollups) AS x;
DROP TABLE rollups_again;
-- It analyzes what it wrote, which the features are planned on right after.
SELECT c.relname, c.reltuples = (SELECT count(*) FROM normalize.history_info) AS analyzed
  FROM pg_class AS c WHERE c.oid = 'normalize.history_info'::regclass
UNION ALL
SELECT c.relname, c.reltuples = (SELECT count(*) FROM normalize.account_snapshots)
  FROM pg_class AS c WHERE c.oid = 'normalize.account_snapshots'::regclass;

-- Consistency: contiguous months, nothing after churn, every tier change an event and every event a change
WITH s AS (
    SELECT x.*, lag(x.month) OVER w AS previous_month, lag(x.tier) OVER w AS previous_tier,
           lag(x.status) OVER w AS previous_status
      FROM normalize.account_snapshots AS x WINDOW w AS (PARTITION BY x.account_key ORDER BY x.month))
SELECT count(*) FILTER (WHERE previous_month IS NOT NULL AND month <> (previous_month + interval '1 month')::date) AS gaps,
       count(*) FILTER (WHERE previous_status = 'churned') AS after_churn,
       count(*) FILTER (WHERE previous_tier IS NOT NULL AND tier < previous_tier AND event IS DISTINCT FROM 'upgrade') AS unmarked_upgrades,
       count(*) FILTER (WHERE previous_tier IS NOT NULL AND tier > previous_tier AND event IS DISTINCT FROM 'downgrade') AS unmarked_downgrades,
       count(*) FILTER (WHERE event IN ('upgrade', 'downgrade') AND tier IS NOT DISTINCT FROM previous_tier) AS events_without_change,
       count(*) FILTER (WHERE (event = 'churn') <> (status = 'churned')) AS churn_mismatch
  FROM s;
SELECT count(*) AS events_without_snapshot FROM normalize.lifecycle_events AS e
 WHERE e.entity = 'account' AND NOT EXISTS (SELECT 1 FROM normalize.account_snapshots AS s
                    WHERE s.account_key = e.entity_key AND s.month = e.event_date AND s.event = e.event);
-- Survivors end at their repaired state; accounts older than the window have all 24 months
SELECT count(*) AS survivors,
       count(*) FILTER (WHERE s.tier = a.tier AND s.mrr = a.mrr::float8) AS at_current_state
  FROM normalize.accounts AS a JOIN normalize.account_snapshots AS s
    ON s.account_key = a.account_key AND s.month = '2025-06-01' AND s.status = 'active';
SELECT count(*) FILTER (WHERE n = 24) AS full_histories, count(*) FILTER (WHERE n < 24) AS shorter
  FROM (SELECT s.account_key, count(*) AS n, bool_or(s.status = 'churned') AS churned FROM normalize.account_snapshots AS s
         JOIN normalize.accounts AS a USING (account_key)
        WHERE a.created_at <= '2023-07-01' GROUP BY s.account_key) AS t WHERE NOT churned;
-- Same seed, same history; another seed, another
CREATE TEMP TABLE history_42 AS SELECT md5(string_agg(s::text, ',' ORDER BY account_key, month)) AS h FROM normalize.account_snapshots AS s;
SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 42);
SELECT (SELECT h FROM history_42) = md5(string_agg(s::text, ',' ORDER BY account_key, month)) AS same FROM normalize.account_snapshots AS s;
SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 43);
SELECT (SELECT h FROM history_42) <> md5(string_agg(s::text, ',' ORDER BY account_key, month)) AS differs FROM normalize.account_snapshots AS s;
-- Users: one row per week of their time in the window, ending at their repaired engagement
SELECT count(DISTINCT user_key) AS users, max(week) AS last_week FROM normalize.user_weeks;
SELECT count(*) FILTER (WHERE w.engagement::numeric = u.engagement_score) AS last_week_matches, count(*) AS users
  FROM normalize.users AS u JOIN normalize.user_weeks AS w ON w.user_key = u.user_key AND w.week = '2025-06-16';
SELECT count(*) AS user_events_without_a_week FROM normalize.lifecycle_events AS e
 WHERE e.entity = 'user' AND NOT EXISTS (
       SELECT 1 FROM normalize.user_weeks AS w WHERE w.user_key = e.entity_key AND w.week = e.event_date
          AND w.adopted_feature = e.detail ->> 'feature');

-- Devices: every device has one row per day of the window, ending at its repaired health
SELECT count(DISTINCT device_key) AS devices, min(day) AS first_day, max(day) AS last_day,
       count(*) / count(DISTINCT device_key) AS days_each
  FROM normalize.device_days;
SELECT count(*) FILTER (WHERE x.health::numeric = d.health_score) AS last_day_matches, count(*) AS devices
  FROM normalize.devices AS d JOIN normalize.device_days AS x ON x.device_key = d.device_key AND x.day = '2025-06-18';
-- failures come where health is low, and a failed device is serviced the next day
SELECT round(avg(health) FILTER (WHERE failure)) AS health_on_failure_days, round(avg(health)) AS health_overall
  FROM normalize.device_days;
SELECT count(*) FILTER (WHERE n.maintenance) AS serviced_next_day, count(*) AS failures_before_the_last_day
  FROM normalize.device_days AS f
  JOIN normalize.device_days AS n ON n.device_key = f.device_key AND n.day = f.day + 1
 WHERE f.failure;
SELECT count(*) AS device_events_without_a_day FROM normalize.lifecycle_events AS e
 WHERE e.entity = 'device' AND NOT EXISTS (
       SELECT 1 FROM normalize.device_days AS x WHERE x.device_key = e.entity_key AND x.day = e.event_date
          AND ((e.event = 'failure' AND x.failure) OR (e.event = 'maintenance' AND x.maintenance)));

-- Devices wear as their type does (normalize.device_types): failures per thousand device-days
SELECT d.device_type, t.degradation, t.failure_rate, round(avg(x.health)) AS mean_health,
       round(1000.0 * avg(x.failure::int), 1) AS failures_per_1000_days
  FROM normalize.device_days AS x
  JOIN normalize.devices AS d USING (device_key)
  JOIN normalize.device_types AS t ON t.device_type = d.device_type
 GROUP BY d.device_type, t.degradation, t.failure_rate ORDER BY t.failure_rate;

-- generate_histories: a whole table in one call, the same rows as one call per account
SELECT (SELECT md5(string_agg(h::text, ',' ORDER BY h.account_key, h.month))
          FROM normalize.generate_histories('normalize.accounts', 24, '2025-06-18', 42) AS h)
     = (SELECT md5(string_agg(h::text, ',' ORDER BY h.account_key, h.month))
          FROM normalize.accounts AS a
          CROSS JOIN LATERAL normalize.generate_history(a.account_key, a.tier, a.mrr::float8, 24, '2025-06-18', 42,
                                                        a.created_at) AS h) AS same_rows;
CREATE TEMP TABLE bad_accounts (account_key text, tier text, mrr float8);
INSERT INTO bad_accounts VALUES ('a', 'Tier 2', NULL);
SELECT count(*) FROM normalize.generate_histories('bad_accounts');
CREATE TABLE history_raw.no_mrr (account_key text, tier text);
SELECT count(*) FROM normalize.generate_histories('history_raw.no_mrr');
SELECT count(*) FROM normalize.generate_histories('normalize.accounts', months => 0);
SELECT count(*) FROM normalize.generate_histories('normalize.accounts', 24, '4713-11-24 BC');

-- Bad input
SELECT * FROM normalize.build_history(0);
SELECT * FROM normalize.build_history(10000);
-- Without as_of (or with NULL) the history ends at the latest snapshot
-- of the normalized tables, here 2025-06-18.
SELECT * FROM normalize.build_history(24, NULL);
SELECT as_of FROM normalize.history_info;
SELECT * FROM normalize.build_history(24, '2025-06-18', NULL);
SELECT * FROM normalize.build_history(24, 'infinity');
-- The later phases compute on timestamp, whose range is narrower than
-- date's: an as_of outside it is refused, naming the range.
SELECT * FROM normalize.build_history(24, '4713-11-24 BC');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM normalize.build_history(1, '294275-12-01');
SELECT * FROM normalize.build_history(1, '5874897-12-31');
-- the row '*' is needed for the types without a row
BEGIN;
DELETE FROM normalize.device_types WHERE device_type = '*';
SELECT * FROM normalize.build_history(24, '2025-06-18', 42);
ROLLBACK;

-- A new reconciliation clears what was built on the previous one
SELECT count(*) AS entities FROM normalize.reconcile_ids();
SELECT (SELECT count(*) FROM normalize.account_snapshots) AS snapshots, (SELECT count(*) FROM normalize.device_days) AS device_days,
       (SELECT count(*) FROM normalize.user_weeks) AS user_weeks, (SELECT count(*) FROM normalize.lifecycle_events) AS events,
       (SELECT count(*) FROM normalize.repair_summary) AS repair_findings;

-- The accounts' history alone: devices and users keep none
SELECT count(*) AS columns FROM normalize.repair_values(42);
SELECT * FROM normalize.build_history(24, '2025-06-18', 42, entities => ARRAY['account']);
SELECT * FROM normalize.build_history(24, '2025-06-18', 42, entities => ARRAY['device']);
SELECT * FROM normalize.build_history(24, '2025-06-18', 42, entities => NULL);

-- A new repair clears the history simulated to end at the previous one,
-- as the phase registry says; the normalized tables stay.
SELECT count(*) AS columns FROM normalize.repair_values(42);
SELECT (SELECT count(*) FROM normalize.account_snapshots) AS snapshots, (SELECT count(*) FROM normalize.history_info) AS history,
       (SELECT count(*) > 0 FROM normalize.accounts) AS accounts_kept;
SELECT phase, position, built_on FROM normalize.pipeline_phase_kinds ORDER BY position;
SELECT normalize.clear_outputs('widgets');
SELECT normalize.clear_outputs(NULL);
SELECT normalize.clear_outputs('quality') AS nothing_after_quality;

-- History, features and training build beside the tables readers use and
-- swap their results in at the end. The steps refuse what is not theirs.
SELECT normalize.empty_phases_from('history', NULL);
SELECT normalize.stage_phase('widgets');
SELECT normalize.swap_in_phase('history');
SELECT normalize.swap_table_storage(0, 'normalize.history_info');
-- With two processes, a worker makes the staging tables and commits them,
-- so that workers can write into them.
SET normalize.workers = 2;
BEGIN;
\set ON_ERROR_ROLLBACK on
-- The staging tables start without indexes: swap_in_phase builds them
-- once the rows are in.
SELECT normalize.stage_phase('history');
SELECT c.relname FROM pg_class AS c WHERE c.relnamespace = 'normalize'::regnamespace AND c.relname LIKE 'next\_%' ORDER BY 1;
SELECT normalize.swap_table_storage('normalize.history_info', 'normalize.history_info');
SELECT normalize.swap_table_storage('normalize.churn_training_set', 'normalize.next_history_info');
SELECT normalize.swap_table_storage('normalize.next_user_weeks', 'normalize.next_history_info');
SELECT normalize.swap_table_storage('normalize.history_info', 'normalize.account_snapshots');
SELECT normalize.swap_table_storage('normalize.history_info', 'normalize.next_account_snapshots');
CREATE TEMP TABLE temp_history_info (LIKE normalize.history_info);
SELECT normalize.swap_table_storage('normalize.history_info', 'temp_history_info');
CREATE TABLE normalize.history_info_without_key (LIKE normalize.history_info);
SELECT normalize.swap_table_storage('normalize.history_info', 'normalize.history_info_without_key');
-- Swapped: the table holds the staged rows and keeps its name, key and
-- the views on it; the staging table holds the old rows.
INSERT INTO normalize.next_history_info (months, window_start, as_of, seed) VALUES (3, '2025-04-01', '2025-06-18', 5);
SELECT normalize.swap_table_storage('normalize.history_info', 'normalize.next_history_info');
ALTER TABLE normalize.next_history_info ADD PRIMARY KEY (singleton);
SELECT normalize.swap_table_storage('normalize.history_info', 'normalize.next_history_info');
SELECT h.months, h.seed FROM normalize.history_info AS h;
SELECT count(*) AS old_rows FROM normalize.next_history_info;
INSERT INTO normalize.history_info (months, window_start, as_of, seed) VALUES (3, '2025-04-01', '2025-06-18', 5);
-- The whole phase's swap empties the later phases and drops the staging.
SELECT normalize.swap_in_phase('history') AS thrown_away;
-- Each table has its key again, built in the staging table before the swap.
SELECT i.indrelid::regclass AS table_name, i.indisprimary, i.indisvalid
  FROM pg_index AS i
 WHERE i.indrelid IN (SELECT format('normalize.%I', w)::regclass FROM normalize.phases_from('history') AS p
                       CROSS JOIN LATERAL unnest(p.writes) AS w WHERE p.name = 'history')
 ORDER BY i.indrelid::regclass::text;
SELECT count(*) AS staging_left FROM pg_class AS c WHERE c.relnamespace = 'normalize'::regnamespace AND c.relname LIKE 'next\_%';
\unset ON_ERROR_ROLLBACK
ROLLBACK;
-- The rollback took back the swap and the drop, not the worker's tables.
SELECT normalize.discard_staging('history') AS left_by_the_rollback;
RESET normalize.workers;
SELECT normalize.stage_phase('quality'), normalize.swap_in_phase('quality') AS nothing_to_swap;
-- The registry read from a phase on, and a progress step's name.
SELECT * FROM normalize.phases_from('history');
SELECT * FROM normalize.phases_from(NULL);
SELECT normalize.begin_progress('history', 'device days', -1);
SELECT normalize.begin_progress('history', NULL, 10) IS NULL AS strict;
BEGIN;
SET LOCAL application_name = 'before';
SELECT normalize.begin_progress('history', 'device days', 10);
SELECT current_setting('application_name') AS during;
SELECT normalize.end_progress();
SELECT current_setting('application_name') AS after;
ROLLBACK;
