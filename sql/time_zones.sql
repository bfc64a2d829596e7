-- Dates from a source's timestamptz columns are taken in the time zone the
-- source was registered with (UTC unless said), never the session's: the
-- same source gives the same tables under any TimeZone.
\set SHOW_CONTEXT never
CREATE SCHEMA tz_raw;
-- Snapshots stamped a few minutes either side of midnight UTC.
CREATE TABLE tz_raw.customers AS
SELECT c AS customer_id, 'Customer ' || c AS name,
       TIMESTAMPTZ '2025-03-01 00:00:00+00' + make_interval(mins => (c % 7) * 10 - 30) AS created_at,
       TIMESTAMPTZ '2025-06-01 00:00:00+00' + make_interval(mins => (c % 5) * 10 - 20) AS snapshot_date
  FROM generate_series(1, 50) AS c;
CREATE TABLE tz_raw.subscriptions AS
SELECT 'S-' || c AS subscription_id, c::text AS account_id, 100 * c AS mrr,
       TIMESTAMPTZ '2025-01-31 23:50:00+00' + make_interval(mins => c) AS start_date,
       TIMESTAMPTZ '2025-06-01 00:00:00+00' - make_interval(mins => c) AS snapshot_date
  FROM generate_series(1, 50) AS c;
CREATE TABLE tz_raw.none (id text, account_id text, snapshot_date date);
SELECT count(*) FROM normalize.register_source('customers', 'tz_raw.customers');
SELECT count(*) FROM normalize.register_source('subscriptions', 'tz_raw.subscriptions');
SELECT count(*) FROM normalize.register_source('devices', 'tz_raw.none', '{"device_id": "id"}');
SELECT count(*) FROM normalize.register_source('users', 'tz_raw.none', '{"user_id": "id"}');
SELECT count(*) FROM normalize.register_source('locations', 'tz_raw.none', '{"location_id": "id"}');
SELECT count(*) FROM normalize.register_source('campaigns', 'tz_raw.none', '{"campaign_id": "id"}');
DELETE FROM normalize.id_rule_overrides;

CREATE TEMP TABLE digests (zone text, accounts text, subscriptions text);
SET TimeZone = 'Pacific/Kiritimati';
SELECT count(*) FROM normalize.reconcile_ids();
INSERT INTO digests
SELECT current_setting('TimeZone'),
       (SELECT md5(string_agg(a::text, E'\n' ORDER BY a.account_key COLLATE "C")) FROM normalize.accounts AS a),
       (SELECT md5(string_agg(s::text, E'\n' ORDER BY s.subscription_key COLLATE "C")) FROM normalize.subscriptions AS s);
SET TimeZone = 'America/Adak';
SELECT count(*) FROM normalize.reconcile_ids();
INSERT INTO digests
SELECT current_setting('TimeZone'),
       (SELECT md5(string_agg(a::text, E'\n' ORDER BY a.account_key COLLATE "C")) FROM normalize.accounts AS a),
       (SELECT md5(string_agg(s::text, E'\n' ORDER BY s.subscription_key COLLATE "C")) FROM normalize.subscriptions AS s);
SELECT count(DISTINCT accounts) AS account_versions, count(DISTINCT subscriptions) AS subscription_versions FROM digests;
-- The dates are the UTC ones.
SELECT min(snapshot_date), max(snapshot_date), min(created_at), max(created_at) FROM normalize.accounts;
SELECT min(start_date), max(start_date) FROM normalize.subscriptions;
RESET TimeZone;

-- Registered in Tokyo's time, the same instants fall on later dates.
SELECT count(*) FROM normalize.register_source('customers', 'tz_raw.customers', '{}', 'Asia/Tokyo');
SELECT entity, time_zone FROM normalize.sources WHERE entity IN ('customers', 'subscriptions') ORDER BY entity;
SELECT count(*) FROM normalize.reconcile_ids();
SELECT min(snapshot_date), max(snapshot_date), min(created_at), max(created_at) FROM normalize.accounts;
-- A zone PostgreSQL does not know is refused.
SELECT * FROM normalize.register_source('customers', 'tz_raw.customers', '{}', 'Mars/Olympus_Mons');
SELECT * FROM normalize.use_sources('tz_raw', 'not a zone');
DROP SCHEMA tz_raw CASCADE;
