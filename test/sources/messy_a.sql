-- messy_a: a billing system's export, the integer world. Built in the
-- schema named by psql variable src:
--     psql -v src=messy_a -f test/sources/messy_a.sql
-- then registered by messy_a_register.sql. Every table the product reads
-- has its own column names and types, as a real export would; the truth_*
-- tables say, row by row, what the right answer is, so that the product
-- can be scored rather than trusted. Deterministic: every choice is a hash
-- of the row's number (h below), never random().
--
-- What is messy here, and why:
-- - customers: dense integer IDs 1-240 (bigint), three monthly snapshots
--   (older rows superseded), five rows exported twice, one customer (77)
--   with two different rows on the same day, tiers spelled every way and
--   some the vocabulary cannot know; MRR that is 0 for half of them (the
--   billing system never filled it, though many pay through subscriptions),
--   -1 or 999999.99 for a few (sentinels outside every tier's range), real
--   elsewhere.
-- - subscriptions (text references): CUST-000017, cust-17, ' 00017 ',
--   '17 ', 'Cust 17'; references to deleted customers, NULL and ''; two
--   snapshots; rows exported twice; statuses spelled CANCELLED, Cancelled,
--   ' cancelled ', TRIAL, Past_Due ... and two the vocabulary does not know.
-- - campaigns (bigint references): the marketing tool adds 500 to the
--   customer ID, for customers 2-239 only: on dense IDs offsets 499, 500
--   and 501 link every row alike, so only the user can say which is right.
-- - locations: two per customer, neighbours belonging to different
--   customers, account references zero-padded text.
-- - devices (numeric references): the location reference is the location
--   ID + 10 behind a SITE- prefix, so the plain number rule links nearly
--   every device too, but to another customer's location; only offset 10
--   puts each device at a location of its own account. Health is 0 for
--   most devices (no reading yet) with real readings among them and a few
--   255s (sensor fault); uptime is a whole percentage 95-99, real.
-- - users (text references): only about a third name a customer (padded);
--   the rest carry another system's IDs, orphans. Engagement is 50 (the
--   app's default before any activity) for most, real for the others.
-- - timestamptz columns with values minutes either side of midnight.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE SCHEMA :"src";
SET search_path = :"src", pg_catalog;

-- A deterministic number in [0, 2^32) for (purpose, n).
CREATE FUNCTION pg_temp.h(purpose text, n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT ('x' || substr(md5(purpose || ':' || n), 1, 8))::bit(32)::bigint $$;
-- Eight letters, no digit: another system's ID that no number rule can read.
CREATE FUNCTION pg_temp.letters(purpose text, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT translate(substr(md5(purpose || ':' || n), 1, 8), '0123456789', 'ghijklmnop') $$;

-- The facts about each customer, from which the export and the truth are
-- both written.
CREATE TEMP TABLE cust AS
SELECT c,
       t AS tier_n,
       -- Half record no revenue, a few carry sentinels, the rest their real revenue.
       CASE WHEN c % 10 < 5 THEN 'zero' WHEN c % 40 = 9 THEN 'negative' WHEN c % 40 = 19 THEN 'sentinel'
            ELSE 'real' END AS mrr_kind,
       round((ARRAY[5000, 1000, 200, 50])[t]
             + ((ARRAY[50000, 5000, 1000, 200])[t] - (ARRAY[5000, 1000, 200, 50])[t])
               * (pg_temp.h('mrr', c) % 900 + 50) / 1000.0, 2) AS real_mrr,
       c % 30 = 0 AS churned
  FROM generate_series(1, 240) AS c
 CROSS JOIN LATERAL (SELECT CASE WHEN pg_temp.h('tier', c) % 100 < 6 THEN 1 WHEN pg_temp.h('tier', c) % 100 < 22 THEN 2
                                 WHEN pg_temp.h('tier', c) % 100 < 50 THEN 3 ELSE 4 END AS t) AS x;

-- How each customer's tier is spelled: eight ways, and two names the
-- vocabulary cannot know (Gold, Enterprise).
CREATE TEMP TABLE tier_spelling AS
SELECT c.c,
       CASE WHEN c.c % 37 = 0 THEN 'Gold' WHEN c.c % 53 = 0 THEN 'Enterprise'
            ELSE replace((ARRAY['Tier #', 'TIER_#', 'tier-#', 'T#', ' Tier # ', 'tier #', 'TIER #', 'Tier#'])
                         [1 + pg_temp.h('tierspell', c.c) % 8], '#', c.tier_n::text) END AS spelling
  FROM cust AS c;

CREATE TABLE customers (
    acct_no       bigint,
    acct_name     text,
    plan_tier     text,
    mrr           numeric(12, 2),
    industry      text,
    country       text,
    signup_ts     timestamptz,
    snapshot_date date
);
-- One row per snapshot the customer is in: the latest (June) for every
-- customer still there, May for one in four and for those gone by June,
-- April for one in eight and those gone. Older rows carry older values.
INSERT INTO customers
SELECT c.c, 'Customer ' || c.c, s.spelling,
       CASE WHEN snap.d < DATE '2025-06-30' AND NOT c.churned THEN round(c.real_mrr * 0.9, 2)
            ELSE CASE c.mrr_kind WHEN 'zero' THEN 0 WHEN 'negative' THEN -1 WHEN 'sentinel' THEN 999999.99
                                 ELSE c.real_mrr END END,
       (ARRAY['software', 'retail', 'health', 'logistics', 'finance'])[1 + pg_temp.h('industry', c.c) % 5],
       (ARRAY['DE', 'US', 'FR', 'GB', 'NL', 'JP'])[1 + pg_temp.h('country', c.c) % 6],
       -- Sign-ups minutes either side of midnight UTC.
       TIMESTAMPTZ '2022-01-01 00:00:00+00' + make_interval(days => (c.c * 3)::int,
                                                           mins => (pg_temp.h('signup', c.c) % 61)::int - 30),
       snap.d
  FROM cust AS c JOIN tier_spelling AS s USING (c)
 CROSS JOIN LATERAL (VALUES (DATE '2025-06-30', NOT c.churned),
                            (DATE '2025-05-31', c.c % 4 = 0 OR c.churned),
                            (DATE '2025-04-30', c.c % 8 = 0 OR c.churned)) AS snap(d, present)
 WHERE snap.present;
-- Exported twice: the same row, byte for byte.
INSERT INTO customers SELECT * FROM customers WHERE acct_no IN (11, 22, 33, 44, 55) AND snapshot_date = '2025-06-30';
-- Customer 77 twice on one day, from two systems: a sparse copy beside the
-- complete one.
INSERT INTO customers (acct_no, acct_name, plan_tier, mrr, industry, country, signup_ts, snapshot_date)
SELECT acct_no, 'Customer 77 (old CRM)', plan_tier, NULL, NULL, NULL, signup_ts, snapshot_date
  FROM customers WHERE acct_no = 77 AND snapshot_date = '2025-06-30';

-- Subscriptions: one to three per customer, in May and (for customers
-- still there) June.
CREATE TEMP TABLE subs AS
SELECT c.c, k, c.c * 10 + k AS s, c.churned
  FROM cust AS c CROSS JOIN LATERAL generate_series(1, 1 + (pg_temp.h('nsubs', c.c) % 3)::int) AS k;
CREATE TEMP TABLE sub_status AS
SELECT s.s, x.canonical,
       CASE x.canonical
           WHEN 'active' THEN (ARRAY['Active', 'ACTIVE', 'active '])[1 + pg_temp.h('sp', s.s) % 3]
           WHEN 'cancelled' THEN (ARRAY['CANCELLED', 'Cancelled', ' cancelled ', 'canceled'])[1 + pg_temp.h('sp', s.s) % 4]
           WHEN 'trial' THEN (ARRAY['TRIAL', 'trialing'])[1 + pg_temp.h('sp', s.s) % 2]
           WHEN 'past_due' THEN (ARRAY['Past_Due', 'PAST-DUE'])[1 + pg_temp.h('sp', s.s) % 2]
           ELSE x.unknown END AS spelling
  FROM subs AS s
 CROSS JOIN LATERAL (SELECT CASE WHEN s.churned THEN 'cancelled'
                                 WHEN pg_temp.h('status', s.s) % 20 < 11 THEN 'active'
                                 WHEN pg_temp.h('status', s.s) % 20 < 14 THEN 'cancelled'
                                 WHEN pg_temp.h('status', s.s) % 20 < 16 THEN 'trial'
                                 WHEN pg_temp.h('status', s.s) % 20 < 18 THEN 'past_due'
                                 ELSE 'unknown' END AS canonical,
                            CASE WHEN pg_temp.h('status', s.s) % 20 = 18 THEN 'Frozen' ELSE 'on hold' END AS unknown) AS x;

CREATE TABLE subscriptions (
    sub_ref        text,
    acct_ref       text,
    plan_name      text,
    monthly_amount numeric(10, 2),
    state          text,
    started_on     timestamptz,
    ended_on       date,
    snapshot_date  date
);
INSERT INTO subscriptions
SELECT 'S' || s.s,
       -- The reference, spelled one of five ways.
       CASE pg_temp.h('fmt', s.s) % 5
           WHEN 0 THEN 'CUST-' || lpad(s.c::text, 6, '0')
           WHEN 1 THEN 'cust-' || s.c
           WHEN 2 THEN ' ' || lpad(s.c::text, 5, '0') || ' '
           WHEN 3 THEN s.c || ' '
           ELSE 'Cust ' || s.c END,
       (ARRAY['basic', 'pro', 'enterprise'])[1 + pg_temp.h('plan', s.s) % 3],
       round(20 + (pg_temp.h('submrr', s.s) % 198000) / 100.0, 2),
       CASE WHEN snap.d = DATE '2025-05-31' AND NOT s.churned THEN 'Active' ELSE st.spelling END,
       -- Started minutes either side of midnight UTC.
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + make_interval(days => (pg_temp.h('start', s.s) % 400)::int,
                                                           mins => (pg_temp.h('startmin', s.s) % 41)::int - 20),
       CASE WHEN st.canonical = 'cancelled' THEN DATE '2025-05-15' END,
       snap.d
  FROM subs AS s JOIN sub_status AS st USING (s)
 CROSS JOIN LATERAL (VALUES (DATE '2025-05-31'), (DATE '2025-06-30')) AS snap(d)
 WHERE snap.d = DATE '2025-05-31' OR NOT s.churned;
-- Orphans: customers deleted before the export (241-255), and rows with no
-- reference at all.
INSERT INTO subscriptions
SELECT 'SX' || n, CASE WHEN n <= 15 THEN 'CUST-' || lpad((240 + n)::text, 6, '0') WHEN n <= 20 THEN NULL ELSE '' END,
       'basic', 49.00, 'Active', TIMESTAMPTZ '2025-02-01 00:00:00+00', NULL, DATE '2025-06-30'
  FROM generate_series(1, 22) AS n;
-- Exported twice.
INSERT INTO subscriptions SELECT * FROM subscriptions
 WHERE sub_ref IN ('S131', 'S631', 'S1131', 'S1631', 'S2131') AND snapshot_date = '2025-06-30';

-- Campaigns: the marketing tool's customer reference is the ID + 500, and
-- it has campaigns for customers 2-239 only; three have no reference.
CREATE TABLE campaigns (
    campaign_no   integer,
    customer_ref  bigint,
    campaign_name text,
    medium        text,
    spend         numeric(10, 2),
    launched      date,
    snapshot_date date
);
INSERT INTO campaigns
SELECT c, c + 500, 'Campaign for ' || c, (ARRAY['email', 'search', 'social', 'events'])[1 + pg_temp.h('medium', c) % 4],
       round(100 + (pg_temp.h('spend', c) % 500000) / 100.0, 2), DATE '2025-01-01' + (pg_temp.h('launch', c) % 150)::int,
       DATE '2025-06-30'
  FROM generate_series(2, 239) AS c;
INSERT INTO campaigns VALUES (1001, NULL, 'Unattributed 1', 'email', 50, '2025-03-01', '2025-06-30'),
                             (1002, NULL, 'Unattributed 2', 'search', 60, '2025-03-02', '2025-06-30'),
                             (1003, NULL, 'Unattributed 3', 'social', 70, '2025-03-03', '2025-06-30');

-- Locations: two per customer; location l belongs to customer (l-1) % 240 + 1,
-- so neighbouring IDs belong to different customers.
CREATE TABLE locations (
    location_id   integer,
    account_id    text,
    name          text,
    city          text,
    country       text,
    snapshot_date date
);
INSERT INTO locations
SELECT l, lpad(((l - 1) % 240 + 1)::text, 4, '0'), 'Site ' || l,
       (ARRAY['Berlin', 'Austin', 'Lyon', 'Leeds', 'Utrecht', 'Osaka'])[1 + pg_temp.h('city', l) % 6], NULL, DATE '2025-06-30'
  FROM generate_series(1, 480) AS l;

-- Devices: device d is at location (7d mod 480) + 1.
CREATE TEMP TABLE dev AS
SELECT d, l, (l - 1) % 240 + 1 AS c,
       CASE WHEN d % 25 = 0 THEN 'none' WHEN d % 97 = 0 THEN 'unknown' ELSE 'located' END AS loc_kind,
       CASE WHEN d % 61 = 0 THEN 'unknown'
            WHEN pg_temp.h('dstatus', d) % 10 < 7 THEN 'operational'
            WHEN pg_temp.h('dstatus', d) % 10 < 9 THEN 'maintenance' ELSE 'critical' END AS status,
       CASE WHEN d % 97 = 5 THEN 'fault' WHEN pg_temp.h('ph', d) % 10 < 6 THEN 'zero' ELSE 'real' END AS health_kind,
       d % 50 = 7 AS uptime_missing
  FROM generate_series(1, 1000) AS d CROSS JOIN LATERAL (SELECT (d * 7) % 480 + 1 AS l) AS x;
CREATE TABLE devices (
    device_id     text,
    account_id    numeric(10, 0),
    location_id   text,
    device_type   text,
    status        text,
    health_score  numeric(6, 2),
    uptime        integer,
    snapshot_date date
);
INSERT INTO devices
SELECT 'D-' || lpad(v.d::text, 5, '0'), v.c,
       CASE v.loc_kind WHEN 'none' THEN NULL WHEN 'unknown' THEN 'SITE-9999' ELSE 'SITE-' || lpad((v.l + 10)::text, 4, '0') END,
       (ARRAY['sensor', 'camera', 'gateway', 'controller'])[1 + pg_temp.h('dtype', v.d) % 4],
       CASE v.status
           WHEN 'operational' THEN (ARRAY['Operational', 'OPERATIONAL', 'operational '])[1 + pg_temp.h('dsp', v.d) % 3]
           WHEN 'maintenance' THEN (ARRAY['In_Maintenance', 'maintenance', 'MAINTENANCE'])[1 + pg_temp.h('dsp', v.d) % 3]
           WHEN 'critical' THEN (ARRAY['CRITICAL', 'Critical'])[1 + pg_temp.h('dsp', v.d) % 2]
           ELSE 'broken' END,
       CASE v.health_kind WHEN 'zero' THEN 0 WHEN 'fault' THEN 255
            ELSE CASE v.status WHEN 'operational' THEN 60 + (pg_temp.h('hv', v.d) % 3500) / 100.0
                               WHEN 'maintenance' THEN 40 + (pg_temp.h('hv', v.d) % 2000) / 100.0
                               WHEN 'critical' THEN 10 + (pg_temp.h('hv', v.d) % 3000) / 100.0
                               ELSE 30 + (pg_temp.h('hv', v.d) % 6000) / 100.0 END END,
       CASE WHEN v.uptime_missing THEN NULL ELSE 95 + (pg_temp.h('up', v.d) % 5)::int END,
       DATE '2025-06-30'
  FROM dev AS v;

-- Users: about a third name a customer, the rest another system's account.
CREATE TEMP TABLE usr AS
SELECT u, CASE WHEN pg_temp.h('linked', u) % 100 < 35 THEN (pg_temp.h('uacct', u) % 240 + 1)::int END AS c,
       CASE WHEN u % 41 = 0 THEN 'unknown'
            WHEN pg_temp.h('role', u) % 10 < 2 THEN 'admin'
            WHEN pg_temp.h('role', u) % 10 < 5 THEN 'manager' ELSE 'standard' END AS role,
       pg_temp.h('eng', u) % 100 < 65 AS default_engagement
  FROM generate_series(1, 600) AS u;
CREATE TABLE users (
    login         text,
    account_ref   text,
    user_role     text,
    engagement    numeric(5, 1),
    last_seen     timestamptz,
    snapshot_date date
);
INSERT INTO users
SELECT 'user' || v.u,
       CASE WHEN v.c IS NOT NULL THEN ' ' || lpad(v.c::text, 4, '0') ELSE 'ext:' || pg_temp.letters('ext', v.u) END,
       CASE v.role WHEN 'admin' THEN (ARRAY['Admin', 'admin', 'ADMIN'])[1 + pg_temp.h('rsp', v.u) % 3]
                   WHEN 'manager' THEN (ARRAY['MANAGER', 'Manager'])[1 + pg_temp.h('rsp', v.u) % 2]
                   WHEN 'standard' THEN (ARRAY['Standard', 'user', 'STANDARD'])[1 + pg_temp.h('rsp', v.u) % 3]
                   ELSE 'Owner' END,
       -- Real engagement never exactly 50, so that the truth is unambiguous.
       CASE WHEN v.default_engagement THEN 50
            ELSE CASE WHEN x.e = 50.0 THEN 50.3 ELSE x.e END END,
       -- Last seen minutes either side of midnight UTC.
       TIMESTAMPTZ '2025-06-01 00:00:00+00' + make_interval(days => (pg_temp.h('seen', v.u) % 29)::int,
                                                           mins => (pg_temp.h('seenmin', v.u) % 31)::int - 15),
       DATE '2025-06-30'
  FROM usr AS v CROSS JOIN LATERAL (SELECT round(5 + (pg_temp.h('ev', v.u) % 930) / 10.0, 1) AS e) AS x;

-- The truth ----------------------------------------------------------------

-- Every raw customer ID (as text, the way the product reads it) and the
-- customer it is.
CREATE TABLE truth_customers (raw_id text, customer text);
INSERT INTO truth_customers SELECT DISTINCT acct_no::text, 'A' || acct_no FROM customers;

-- Every other source row, by its raw ID: the customer it belongs to (NULL:
-- an orphan, which must link nowhere), and for devices the location.
CREATE TABLE truth_rows (entity text, source_id text, customer text, location text);
INSERT INTO truth_rows
SELECT DISTINCT 'subscriptions', sub_ref,
       CASE WHEN sub_ref LIKE 'SX%' THEN NULL ELSE 'A' || (substr(sub_ref, 2)::int / 10) END, NULL
  FROM subscriptions;
INSERT INTO truth_rows SELECT 'campaigns', campaign_no::text, CASE WHEN customer_ref IS NOT NULL THEN 'A' || (customer_ref - 500) END, NULL
  FROM campaigns;
INSERT INTO truth_rows SELECT 'locations', location_id::text, 'A' || ((location_id - 1) % 240 + 1), NULL FROM locations;
INSERT INTO truth_rows SELECT 'devices', 'D-' || lpad(d::text, 5, '0'), 'A' || c, CASE WHEN loc_kind = 'located' THEN 'L' || l END
  FROM dev;
INSERT INTO truth_rows SELECT 'users', 'user' || u, 'A' || c, NULL FROM usr;

-- Every raw location ID and the location it is.
CREATE TABLE truth_locations (raw_id text, location text, customer text);
INSERT INTO truth_locations SELECT location_id::text, 'L' || location_id, 'A' || ((location_id - 1) % 240 + 1) FROM locations;

-- Each repaired value, per row: placeholder or real; for real ones the
-- value that must stay and its provenance; for MRR placeholders the sum of
-- the paying subscriptions that must replace it (derived), or nothing to
-- derive from (generated).
CREATE TABLE truth_values (table_name text, column_name text, source_id text, placeholder boolean,
                           expected_source text, expected numeric);
INSERT INTO truth_values
SELECT 'devices', 'health_score', 'D-' || lpad(d::text, 5, '0'), health_kind <> 'real',
       CASE WHEN health_kind = 'real' THEN 'observed' ELSE 'generated' END, NULL
  FROM dev;
UPDATE truth_values AS t SET expected = r.health_score FROM devices AS r
 WHERE t.column_name = 'health_score' AND t.source_id = r.device_id AND NOT t.placeholder;
INSERT INTO truth_values
SELECT 'devices', 'uptime', r.device_id, r.uptime IS NULL, CASE WHEN r.uptime IS NULL THEN 'generated' ELSE 'observed' END,
       r.uptime
  FROM devices AS r;
INSERT INTO truth_values
SELECT 'users', 'engagement_score', r.login, r.engagement = 50, CASE WHEN r.engagement = 50 THEN 'generated' ELSE 'observed' END,
       CASE WHEN r.engagement <> 50 THEN r.engagement END
  FROM users AS r;
-- Revenue: the customer's kept row (the latest; for 77 the complete one).
-- A placeholder becomes the sum of the subscriptions that pay: a paying
-- status (active, past due) on their latest row, linked to the customer;
-- a subscription exported twice is one subscription.
INSERT INTO truth_values
SELECT 'accounts', 'mrr', c.c::text, c.mrr_kind <> 'real',
       CASE WHEN c.mrr_kind = 'real' THEN 'observed' WHEN p.paying IS NOT NULL THEN 'derived' ELSE 'generated' END,
       CASE WHEN c.mrr_kind = 'real' THEN c.real_mrr ELSE p.paying END
  FROM cust AS c
  LEFT JOIN (SELECT s.c, sum(r.monthly_amount) AS paying
               FROM subs AS s JOIN sub_status AS st USING (s)
               JOIN (SELECT DISTINCT sub_ref, monthly_amount FROM subscriptions WHERE snapshot_date = DATE '2025-06-30') AS r
                 ON r.sub_ref = 'S' || s.s
              WHERE st.canonical IN ('active', 'past_due') AND NOT s.churned
              GROUP BY s.c) AS p USING (c);

-- What each spelling of a category means: its canonical value, or
-- 'unknown' where no vocabulary could know it.
CREATE TABLE truth_categories (category text, spelling text, canonical text);
INSERT INTO truth_categories
SELECT DISTINCT 'customer tier', s.spelling,
       CASE WHEN s.spelling IN ('Gold', 'Enterprise') THEN 'unknown' ELSE 'Tier ' || c.tier_n END
  FROM tier_spelling AS s JOIN cust AS c USING (c);
INSERT INTO truth_categories
SELECT DISTINCT 'subscription status', st.spelling, st.canonical FROM sub_status AS st;
INSERT INTO truth_categories VALUES ('subscription status', 'Active', 'active');
INSERT INTO truth_categories
SELECT DISTINCT 'device status', r.status,
       CASE v.status WHEN 'unknown' THEN 'unknown' ELSE v.status END
  FROM devices AS r JOIN dev AS v ON r.device_id = 'D-' || lpad(v.d::text, 5, '0');
INSERT INTO truth_categories
SELECT DISTINCT 'user role', r.user_role, v.role
  FROM users AS r JOIN usr AS v ON r.login = 'user' || v.u;
DELETE FROM truth_categories AS a USING truth_categories AS b
 WHERE a.ctid > b.ctid AND a.category = b.category AND a.spelling = b.spelling;

-- Where each category spelling sits: every raw row (what assess_sources
-- reads), and the spelling on each entity's kept row (latest snapshot),
-- by the raw ID the normalized tables carry.
CREATE VIEW truth_category_rows AS
SELECT 'customer tier' AS category, acct_no::text AS source_id, snapshot_date, plan_tier AS spelling FROM customers
UNION ALL SELECT 'subscription status', sub_ref, snapshot_date, state FROM subscriptions
UNION ALL SELECT 'device status', device_id, snapshot_date, status FROM devices
UNION ALL SELECT 'user role', login, snapshot_date, user_role FROM users;
CREATE VIEW truth_category_kept AS
SELECT DISTINCT r.category, r.source_id, r.spelling
  FROM truth_category_rows AS r
 WHERE r.snapshot_date = (SELECT max(x.snapshot_date) FROM truth_category_rows AS x
                           WHERE x.category = r.category AND x.source_id = r.source_id);

-- Rows that are copies: exact (the same row again) or conflicting (the
-- same ID and day, other values); extra_rows is how many copies beyond one.
CREATE TABLE truth_duplicates (entity text, source_id text, kind text, extra_rows integer);
INSERT INTO truth_duplicates VALUES
    ('customers', '11', 'exact', 1), ('customers', '22', 'exact', 1), ('customers', '33', 'exact', 1),
    ('customers', '44', 'exact', 1), ('customers', '55', 'exact', 1), ('customers', '77', 'conflict', 1),
    ('subscriptions', 'S131', 'exact', 1), ('subscriptions', 'S631', 'exact', 1), ('subscriptions', 'S1131', 'exact', 1),
    ('subscriptions', 'S1631', 'exact', 1), ('subscriptions', 'S2131', 'exact', 1);

-- Facts about the source as a whole.
CREATE TABLE truth_facts (fact text PRIMARY KEY, value text);
INSERT INTO truth_facts VALUES
    -- The latest snapshot of any table: where the history ends by default.
    ('as_of', '2025-06-30'),
    -- The reference only the user can settle, and the rule that settles it.
    ('ambiguous reference', 'campaigns.account'),
    ('declared rule', 'campaigns|account|offset|500'),
    -- Older snapshot rows of the customers, replaced by a later one.
    ('superseded customers', (SELECT count(*) FROM customers AS r
                               WHERE r.snapshot_date < (SELECT max(x.snapshot_date) FROM customers AS x WHERE x.acct_no = r.acct_no))::text);

DROP TABLE cust, tier_spelling, subs, sub_status, dev, usr;
RESET search_path;
RESET client_min_messages;
