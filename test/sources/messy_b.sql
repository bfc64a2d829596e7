-- messy_b: a CRM's export, the text-ID world. Built in the schema named by
-- psql variable src:
--     psql -v src=messy_b -f test/sources/messy_b.sql
-- then registered by messy_b_register.sql. Columns keep the CRM's
-- CamelCase names; the truth_* tables say, row by row, what the right
-- answer is. Deterministic: every choice is a hash of the row's number.
--
-- What is messy here, and why:
-- - customers: case-sensitive 15-character CRM IDs (0015g00000AbCdE), three
--   of which have a twin that differs only by case on the same snapshot
--   (two customers, not one); legacy GUID customers, in pairs that differ
--   only by where a zero sits (01ab0000-... and 1a0b0000-...), some written
--   in braces; IDs with letters beyond ASCII (ÄRZTEKAMMER-NORD beside the
--   ASCII ARZTEKAMMER-NORD, another customer); two IDs over 3,000 bytes that
--   share all but their last bytes; one ID exported with a trailing
--   no-break space in May and without it in June (one customer); two rows
--   exported twice. Snapshots are timestamptz stamped late in the evening
--   in New York, which is the next day in UTC. MRR is missing or 0 for a
--   fifth of them, real elsewhere.
-- - subscriptions: references with trailing blanks, leading blanks, a
--   trailing no-break space, GUIDs with and without braces; references to
--   deleted customers, NULL and ''; one subscription twice on one day with
--   two different amounts; statuses CANCELLED, Cancelled, ' cancelled ',
--   TRIAL, Past_Due, and two the vocabulary does not know. Stamped in
--   Tokyo time.
-- - locations: GUID IDs in lower case, and named sites whose IDs have
--   letters beyond ASCII (ŁÓDŹ-01) beside ASCII look-alikes (LODZ-01, another
--   site).
-- - devices: the site reference is the GUID in upper case and braces for
--   half of them, the named sites in lower case; health readings real, but
--   -1 and 999 where the sensor failed; uptime a real percentage; eight
--   rows exported twice; states the vocabulary partly does not know.
-- - users: engagement on a 0-1 scale, a few missing.
-- - campaigns: only about 30% name a customer; the rest name CRM leads
--   (00Q...), which are not customers: orphans.
-- - customers_long_ids: the customers plus one whose ID is 3,200 bytes that
--   do not compress (a chain of digests); registered by the test on its own.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE SCHEMA :"src";
SET search_path = :"src", pg_catalog;

CREATE FUNCTION pg_temp.h(purpose text, n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT ('x' || substr(md5(purpose || ':' || n), 1, 8))::bit(32)::bigint $$;
-- A CRM ID: a fixed 10-character head and five characters of 62, case
-- significant. Starting with digits, no number rule can read a number in it.
CREATE FUNCTION pg_temp.crm_id(head text, purpose text, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT head || string_agg(substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
                                     1 + (pg_temp.h(purpose || i, n) % 62)::int, 1), '' ORDER BY i)
      FROM generate_series(1, 5) AS i $$;
-- A GUID from a digest, lower case: 8-4-4-4-12.
CREATE FUNCTION pg_temp.guid(purpose text, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT substr(m, 1, 8) || '-' || substr(m, 9, 4) || '-4' || substr(m, 14, 3) || '-8' || substr(m, 18, 3) || '-' || substr(m, 21, 12)
      FROM md5(purpose || ':' || n) AS m $$;
CREATE TEMP TABLE nbsp AS SELECT E'\u00a0'::text AS c;

-- The customers: n, the ID on the latest snapshot, the ID on the older one
-- (where it differs), and what kind of ID it is.
CREATE TEMP TABLE cust (n integer, id text, old_id text, kind text);
INSERT INTO cust SELECT n, pg_temp.crm_id('0015g00000', 'crm', n), NULL, 'crm' FROM generate_series(1, 270) AS n;
-- Twins that differ only by case: two customers on the same snapshot.
INSERT INTO cust SELECT 270 + t.i, upper(c.id), NULL, 'case twin' FROM cust AS c CROSS JOIN generate_series(1, 3) AS t(i) WHERE c.n = t.i;
-- GUID pairs differing only by a zero's place: 0abc.... and ab0c....
INSERT INTO cust
SELECT 273 + 2 * i - 1 + p,
       CASE p WHEN 0 THEN '0' || x.abc ELSE substr(x.abc, 1, 2) || '0' || substr(x.abc, 3, 1) END
       || '0000-' || substr(g, 10),
       NULL, 'guid'
  FROM generate_series(1, 5) AS i CROSS JOIN generate_series(0, 1) AS p
 CROSS JOIN LATERAL (SELECT translate(substr(md5('abc' || i), 1, 3), '0', 'f') AS abc, pg_temp.guid('legacy', i) AS g) AS x;
-- Letters beyond ASCII, and an ASCII look-alike that is another customer.
INSERT INTO cust VALUES (284, 'ÄRZTEKAMMER-NORD', NULL, 'intl'), (285, 'ARZTEKAMMER-NORD', NULL, 'intl'),
                        (286, 'ŁÓDŹ-HANDEL-01', NULL, 'intl'), (287, 'МИР-ТЕЛЕКОМ', NULL, 'intl');
-- Over 3,000 bytes, the same but for the last letter.
INSERT INTO cust SELECT 287 + i, 'urn:crm:account:' || repeat('eu-central/tenant-0042/', 130) || 'acct-' || chr(96 + i), NULL, 'long'
  FROM generate_series(1, 2) AS i;
-- A trailing no-break space in May's export, none in June's.
INSERT INTO cust SELECT 290, '0015g00000NbSpX', '0015g00000NbSpX' || nbsp.c, 'nbsp' FROM nbsp;

DO $$
BEGIN
    -- The generated CRM IDs must be distinct even ignoring case, but for
    -- the twins made on purpose: otherwise the truth would be wrong.
    IF (SELECT count(DISTINCT lower(id)) FROM cust WHERE kind = 'crm') <> 270 THEN
        RAISE EXCEPTION 'messy_b: two generated CRM IDs collide; change the generator';
    END IF;
END $$;

CREATE TEMP TABLE cust_facts AS
SELECT c.*, t AS tier_n,
       CASE WHEN c.n % 10 < 2 THEN 'missing' WHEN c.n % 10 = 2 THEN 'zero' ELSE 'real' END AS mrr_kind,
       round((ARRAY[5000, 1000, 200, 50])[t]
             + ((ARRAY[50000, 5000, 1000, 200])[t] - (ARRAY[5000, 1000, 200, 50])[t])
               * (pg_temp.h('mrr', c.n) % 900 + 50) / 1000.0, 2) AS real_mrr,
       c.n % 40 = 0 AS churned, c.n % 45 = 1 AS new_in_june
  FROM cust AS c
 CROSS JOIN LATERAL (SELECT CASE WHEN pg_temp.h('tier', c.n) % 100 < 6 THEN 1 WHEN pg_temp.h('tier', c.n) % 100 < 22 THEN 2
                                 WHEN pg_temp.h('tier', c.n) % 100 < 50 THEN 3 ELSE 4 END AS t) AS x;

CREATE TABLE customers (
    "Id"          text,
    "AccountName" text,
    "Segment"     text,
    "MRR__c"      numeric(12, 2),
    "Industry"    text,
    "BillingCountry" text,
    "CreatedDate" timestamptz,
    "SnapshotTs"  timestamptz
);
-- June for all but the churned; May for all but the new. Stamped between
-- 23:10 and 23:50 in New York: the next day in UTC.
INSERT INTO customers
SELECT CASE WHEN snap.month = 5 THEN coalesce(c.old_id, c.id) ELSE c.id END,
       'Account ' || c.n,
       replace((ARRAY['Tier #', 'TIER_#', 'tier #', 'T#', 'Tier-#', ' TIER # '])[1 + pg_temp.h('tierspell', c.n) % 6], '#', c.tier_n::text),
       CASE WHEN snap.month = 5 AND NOT c.churned THEN round(c.real_mrr * 0.95, 2)
            ELSE CASE c.mrr_kind WHEN 'missing' THEN NULL WHEN 'zero' THEN 0 ELSE c.real_mrr END END,
       (ARRAY['software', 'retail', 'health', 'logistics', 'finance'])[1 + pg_temp.h('industry', c.n) % 5],
       (ARRAY['US', 'CA', 'DE', 'PL', 'RU'])[1 + pg_temp.h('country', c.n) % 5],
       -- Created minutes either side of midnight in New York.
       (TIMESTAMP '2021-06-01 00:00:00' + make_interval(days => c.n * 3, mins => (pg_temp.h('created', c.n) % 41)::int - 20))
           AT TIME ZONE 'America/New_York',
       (snap.day + TIME '23:10' + make_interval(mins => (pg_temp.h('snapmin', c.n) % 41)::int)) AT TIME ZONE 'America/New_York'
  FROM cust_facts AS c
 CROSS JOIN LATERAL (VALUES (5, DATE '2025-05-31', NOT c.new_in_june), (6, DATE '2025-06-30', NOT c.churned)) AS snap(month, day, present)
 WHERE snap.present;
-- Exported twice.
INSERT INTO customers SELECT * FROM customers WHERE "Id" IN (SELECT id FROM cust WHERE n IN (5, 6))
   AND "SnapshotTs" > TIMESTAMPTZ '2025-06-15 00:00:00+00';

-- A copy with one more customer whose ID is 3,200 bytes of digests, which
-- no compression shrinks.
CREATE TABLE customers_long_ids AS SELECT * FROM customers;
INSERT INTO customers_long_ids ("Id", "AccountName", "Segment", "MRR__c", "SnapshotTs")
SELECT (SELECT string_agg(md5('long' || i), '' ORDER BY i) FROM generate_series(1, 100) AS i), 'Account long', 'Tier 4', 99,
       TIMESTAMPTZ '2025-06-30 23:30:00-04';

-- Subscriptions: one or two per customer.
CREATE TEMP TABLE subs AS
SELECT c.n, k, c.n * 10 + k AS s, c.kind, c.id, c.churned
  FROM cust_facts AS c CROSS JOIN LATERAL generate_series(1, 1 + (pg_temp.h('nsubs', c.n) % 2)::int) AS k;
CREATE TEMP TABLE sub_status AS
SELECT s.s, x.canonical,
       CASE x.canonical
           WHEN 'active' THEN (ARRAY['Active', 'ACTIVE'])[1 + pg_temp.h('sp', s.s) % 2]
           WHEN 'cancelled' THEN (ARRAY['CANCELLED', 'Cancelled', ' cancelled '])[1 + pg_temp.h('sp', s.s) % 3]
           WHEN 'trial' THEN 'TRIAL'
           WHEN 'past_due' THEN 'Past_Due'
           ELSE x.unknown END AS spelling
  FROM subs AS s
 CROSS JOIN LATERAL (SELECT CASE WHEN s.churned THEN 'cancelled'
                                 WHEN pg_temp.h('status', s.s) % 20 < 12 THEN 'active'
                                 WHEN pg_temp.h('status', s.s) % 20 < 15 THEN 'cancelled'
                                 WHEN pg_temp.h('status', s.s) % 20 < 17 THEN 'trial'
                                 WHEN pg_temp.h('status', s.s) % 20 < 19 THEN 'past_due'
                                 ELSE 'unknown' END AS canonical,
                            CASE WHEN s.s % 2 = 0 THEN 'Suspended' ELSE 'pending-renewal' END AS unknown) AS x;
CREATE TABLE subscriptions (
    "SubscriptionId" text,
    "AccountId"      text,
    "Plan"           text,
    "Status"         text,
    "MRR"            numeric(10, 2),
    "StartDate"      timestamptz,
    "SnapshotTs"     timestamptz
);
INSERT INTO subscriptions
SELECT 'SUB-' || lpad(s.s::text, 5, '0'),
       CASE s.kind
           WHEN 'crm' THEN CASE pg_temp.h('fmt', s.s) % 20
                               WHEN 0 THEN s.id || ' ' WHEN 1 THEN s.id || '  ' WHEN 2 THEN s.id || ' '
                               WHEN 3 THEN '  ' || s.id WHEN 4 THEN ' ' || s.id
                               WHEN 5 THEN s.id || nbsp.c WHEN 6 THEN s.id || nbsp.c WHEN 7 THEN s.id || nbsp.c
                               ELSE s.id END
           -- The braced GUIDs referenced bare, the bare ones in braces.
           WHEN 'guid' THEN CASE WHEN s.n % 2 = 0 THEN '{' || s.id || '}' ELSE s.id END
           WHEN 'intl' THEN s.id || ' '
           WHEN 'nbsp' THEN s.id || nbsp.c
           ELSE s.id END,
       (ARRAY['Starter', 'Growth', 'Scale'])[1 + pg_temp.h('plan', s.s) % 3],
       st.spelling,
       round(25 + (pg_temp.h('submrr', s.s) % 150000) / 100.0, 2),
       -- Started minutes either side of midnight in Tokyo.
       (TIMESTAMP '2024-03-01 00:00:00' + make_interval(days => (pg_temp.h('start', s.s) % 420)::int,
                                                        mins => (pg_temp.h('startmin', s.s) % 41)::int - 20))
           AT TIME ZONE 'Asia/Tokyo',
       TIMESTAMP '2025-06-30 08:30:00' AT TIME ZONE 'Asia/Tokyo'
  FROM subs AS s JOIN sub_status AS st USING (s) CROSS JOIN nbsp;
-- The odd GUID customers are stored in braces (and referenced bare, above);
-- the even ones bare (and referenced in braces).
UPDATE customers SET "Id" = '{' || "Id" || '}'
 WHERE "Id" IN (SELECT id FROM cust WHERE kind = 'guid' AND n % 2 = 1);
UPDATE customers_long_ids SET "Id" = '{' || "Id" || '}'
 WHERE "Id" IN (SELECT id FROM cust WHERE kind = 'guid' AND n % 2 = 1);
-- Orphans: deleted customers' IDs, NULL and ''.
INSERT INTO subscriptions
SELECT 'SUB-X' || n,
       CASE WHEN n <= 12 THEN pg_temp.crm_id('0015g00000', 'deleted', n) WHEN n <= 16 THEN NULL ELSE '' END,
       'Starter', 'Active', 30, TIMESTAMPTZ '2025-01-10 00:00:00+00', TIMESTAMP '2025-06-30 08:30:00' AT TIME ZONE 'Asia/Tokyo'
  FROM generate_series(1, 18) AS n;
-- One subscription twice on one day, with two amounts.
INSERT INTO subscriptions ("SubscriptionId", "AccountId", "Plan", "Status", "MRR", "StartDate", "SnapshotTs")
SELECT "SubscriptionId", "AccountId", "Plan", "Status", "MRR" + 100, "StartDate", "SnapshotTs"
  FROM subscriptions WHERE "SubscriptionId" = 'SUB-00071';

-- Locations: two GUID sites per CRM customer, and named sites.
-- lowered: how the devices spell a named site (written out, not lower(),
-- whose letters beyond ASCII depend on the database's locale).
CREATE TEMP TABLE loc AS
SELECT c.n AS owner, k, pg_temp.guid('site', c.n * 10 + k) AS id, 'guid' AS kind, NULL::text AS lowered
  FROM cust AS c CROSS JOIN generate_series(1, 2) AS k WHERE c.kind = 'crm';
INSERT INTO loc VALUES (1, 3, 'ŁÓDŹ-01', 'named', 'łódź-01'), (2, 3, 'LODZ-01', 'named', 'lodz-01'),
                       (3, 3, 'ÅRHUS-02', 'named', 'århus-02'), (4, 3, 'AARHUS-02', 'named', 'aarhus-02');
CREATE TABLE locations (
    "SiteId"    text,
    "AccountId" text,
    "SiteName"  text,
    "City"      text,
    "Country"   text
);
INSERT INTO locations
SELECT l.id, c.id, 'Site ' || l.owner || '/' || l.k,
       (ARRAY['New York', 'Toronto', 'Berlin', 'Łódź', 'Aarhus'])[1 + pg_temp.h('city', l.owner * 10 + l.k) % 5], NULL
  FROM loc AS l JOIN cust AS c ON c.n = l.owner;

-- Devices: three per CRM customer, each at one of its customer's sites,
-- some at none.
CREATE TEMP TABLE dev AS
SELECT (c.n - 1) * 3 + j AS d, c.n AS owner, c.id AS account,
       CASE WHEN ((c.n - 1) * 3 + j) % 30 = 0 THEN NULL
            WHEN c.n <= 4 AND j = 3 THEN 3
            ELSE 1 + (pg_temp.h('site', (c.n - 1) * 3 + j) % 2)::int END AS site_k,
       CASE WHEN ((c.n - 1) * 3 + j) % 53 = 0 THEN 'fault low' WHEN ((c.n - 1) * 3 + j) % 59 = 0 THEN 'fault high'
            ELSE 'real' END AS health_kind,
       CASE WHEN ((c.n - 1) * 3 + j) % 43 = 0 THEN 'unknown'
            WHEN pg_temp.h('dstatus', (c.n - 1) * 3 + j) % 10 < 7 THEN 'operational'
            WHEN pg_temp.h('dstatus', (c.n - 1) * 3 + j) % 10 < 9 THEN 'maintenance' ELSE 'critical' END AS status
  FROM cust AS c CROSS JOIN generate_series(1, 3) AS j WHERE c.kind = 'crm';
CREATE TABLE devices (
    "DeviceId"   text,
    "AccountId"  text,
    "SiteId"     text,
    "Model"      text,
    "State"      text,
    "Health"     numeric(6, 2),
    "UptimePct"  numeric(5, 2),
    "SnapshotTs" timestamptz
);
INSERT INTO devices
SELECT 'dev-' || v.d,
       CASE WHEN v.d % 7 = 0 THEN v.account || '   ' ELSE v.account END,
       CASE WHEN l.kind = 'named' THEN l.lowered
            WHEN v.d % 2 = 0 THEN '{' || upper(l.id) || '}' ELSE l.id END,
       (ARRAY['sensor', 'camera', 'gateway', 'controller'])[1 + pg_temp.h('model', v.d) % 4],
       CASE v.status
           WHEN 'operational' THEN (ARRAY['OPERATIONAL', 'Operational'])[1 + pg_temp.h('dsp', v.d) % 2]
           WHEN 'maintenance' THEN (ARRAY['Maintenance', 'MAINTENANCE'])[1 + pg_temp.h('dsp', v.d) % 2]
           WHEN 'critical' THEN 'CRITICAL'
           ELSE (ARRAY['crit', 'RMA'])[1 + v.d % 2] END,
       CASE v.health_kind WHEN 'fault low' THEN -1 WHEN 'fault high' THEN 999
            ELSE 5 + (pg_temp.h('hv', v.d) % 9400) / 100.0 END,
       90 + (pg_temp.h('up', v.d) % 1000) / 100.0,
       TIMESTAMPTZ '2025-06-30 12:00:00+00'
  FROM dev AS v LEFT JOIN loc AS l ON l.owner = v.owner AND l.k = v.site_k;
-- Exported twice.
INSERT INTO devices SELECT * FROM devices WHERE "DeviceId" IN ('dev-10', 'dev-100', 'dev-200', 'dev-300', 'dev-400',
                                                              'dev-500', 'dev-600', 'dev-700');

-- Users: two per CRM customer, engagement on a 0-1 scale.
CREATE TEMP TABLE usr AS
SELECT (c.n - 1) * 2 + j AS u, c.n AS owner, c.id AS account,
       CASE WHEN ((c.n - 1) * 2 + j) % 47 = 0 THEN 'unknown'
            WHEN pg_temp.h('role', (c.n - 1) * 2 + j) % 10 < 2 THEN 'admin'
            WHEN pg_temp.h('role', (c.n - 1) * 2 + j) % 10 < 5 THEN 'manager' ELSE 'standard' END AS role,
       ((c.n - 1) * 2 + j) % 37 = 0 AS engagement_missing
  FROM cust AS c CROSS JOIN generate_series(1, 2) AS j WHERE c.kind = 'crm';
CREATE TABLE users (
    "UserId"          text,
    "AccountId"       text,
    "Profile"         text,
    "EngagementScore" numeric(4, 3),
    "LastLoginTs"     timestamptz,
    "SnapshotTs"      timestamptz
);
INSERT INTO users
SELECT 'user.' || v.u || '@example.com', v.account,
       CASE v.role WHEN 'admin' THEN 'Admin' WHEN 'manager' THEN 'MANAGER'
                   WHEN 'standard' THEN (ARRAY['Standard', 'standard'])[1 + v.u % 2] ELSE 'Viewer' END,
       CASE WHEN v.engagement_missing THEN NULL ELSE round(0.02 + (pg_temp.h('ev', v.u) % 970) / 1000.0, 3) END,
       TIMESTAMPTZ '2025-06-10 00:00:00+00' + make_interval(days => (pg_temp.h('seen', v.u) % 20)::int,
                                                           mins => (pg_temp.h('seenmin', v.u) % 31)::int - 15),
       TIMESTAMPTZ '2025-06-30 12:00:00+00'
  FROM usr AS v;

-- Campaigns: a third name a customer, the rest a lead.
CREATE TABLE campaigns (
    "CampaignId" text,
    "AccountId"  text,
    "Channel"    text,
    "Budget"     numeric(10, 2),
    "StartDate"  date
);
INSERT INTO campaigns
SELECT 'CMP-' || n,
       CASE WHEN pg_temp.h('tocustomer', n) % 100 < 30 THEN (SELECT c.id FROM cust AS c WHERE c.n = 1 + (pg_temp.h('cc', n) % 270)::int)
            ELSE pg_temp.crm_id('00Q5g00000', 'lead', n) END,
       (ARRAY['email', 'search', 'social'])[1 + pg_temp.h('channel', n) % 3],
       round(200 + (pg_temp.h('budget', n) % 300000) / 100.0, 2), DATE '2025-02-01' + (n % 100)
  FROM generate_series(1, 300) AS n;

-- The truth ----------------------------------------------------------------

CREATE TABLE truth_customers (raw_id text, customer text);
INSERT INTO truth_customers SELECT DISTINCT "Id", NULL FROM customers_long_ids;
UPDATE truth_customers AS t SET customer = 'B' || c.n FROM cust AS c
 WHERE t.raw_id IN (c.id, c.old_id, '{' || c.id || '}');
-- The customer only customers_long_ids has.
UPDATE truth_customers SET customer = 'B-long' WHERE customer IS NULL AND length(raw_id) = 3200;

CREATE TABLE truth_rows (entity text, source_id text, customer text, location text);
INSERT INTO truth_rows
SELECT 'subscriptions', 'SUB-' || lpad(s.s::text, 5, '0'), 'B' || s.n, NULL FROM subs AS s;
INSERT INTO truth_rows SELECT 'subscriptions', 'SUB-X' || n, NULL, NULL FROM generate_series(1, 18) AS n;
INSERT INTO truth_rows SELECT 'locations', l.id, 'B' || l.owner, NULL FROM loc AS l;
INSERT INTO truth_rows
SELECT 'devices', 'dev-' || v.d, 'B' || v.owner, CASE WHEN v.site_k IS NOT NULL THEN 'S' || v.owner || '/' || v.site_k END
  FROM dev AS v;
INSERT INTO truth_rows SELECT 'users', 'user.' || v.u || '@example.com', 'B' || v.owner, NULL FROM usr AS v;
INSERT INTO truth_rows
SELECT 'campaigns', r."CampaignId", 'B' || c.n, NULL FROM campaigns AS r LEFT JOIN cust AS c ON c.id = r."AccountId";

CREATE TABLE truth_locations (raw_id text, location text, customer text);
INSERT INTO truth_locations SELECT l.id, 'S' || l.owner || '/' || l.k, 'B' || l.owner FROM loc AS l;

CREATE TABLE truth_values (table_name text, column_name text, source_id text, placeholder boolean,
                           expected_source text, expected numeric);
INSERT INTO truth_values
SELECT 'devices', 'health_score', r."DeviceId", r."Health" NOT BETWEEN 0 AND 100,
       CASE WHEN r."Health" BETWEEN 0 AND 100 THEN 'observed' ELSE 'generated' END,
       CASE WHEN r."Health" BETWEEN 0 AND 100 THEN r."Health" END
  FROM (SELECT DISTINCT "DeviceId", "Health" FROM devices) AS r;
INSERT INTO truth_values
SELECT 'devices', 'uptime', r."DeviceId", false, 'observed', r."UptimePct"
  FROM (SELECT DISTINCT "DeviceId", "UptimePct" FROM devices) AS r;
-- Engagement on a 0-1 scale is real: it must come back times 100, marked
-- rescaled; a missing one is drawn.
INSERT INTO truth_values
SELECT 'users', 'engagement_score', r."UserId", r."EngagementScore" IS NULL,
       CASE WHEN r."EngagementScore" IS NULL THEN 'generated' ELSE 'rescaled' END, r."EngagementScore" * 100
  FROM users AS r;
-- Revenue of each customer's latest row: missing or 0 is a placeholder,
-- replaced by what its paying subscriptions (active, past due) add up to,
-- or drawn where there are none. The subscription listed twice with two
-- amounts belongs to a customer whose revenue is real, so no sum depends
-- on which amount is right.
INSERT INTO truth_values
SELECT 'accounts', 'mrr', CASE WHEN c.churned THEN coalesce(c.old_id, c.id) ELSE c.id END, c.mrr_kind <> 'real',
       CASE WHEN c.mrr_kind = 'real' THEN 'observed' WHEN p.paying IS NOT NULL THEN 'derived' ELSE 'generated' END,
       CASE WHEN c.mrr_kind = 'real' THEN c.real_mrr ELSE p.paying END
  FROM cust_facts AS c
  LEFT JOIN (SELECT s.n, sum(r."MRR") AS paying
               FROM subs AS s JOIN sub_status AS st USING (s)
               JOIN subscriptions AS r ON r."SubscriptionId" = 'SUB-' || lpad(s.s::text, 5, '0')
              WHERE st.canonical IN ('active', 'past_due')
              GROUP BY s.n) AS p USING (n);
-- The raw IDs of the GUID customers stored in braces.
UPDATE truth_values AS t SET source_id = '{' || t.source_id || '}'
  FROM cust AS c WHERE t.table_name = 'accounts' AND t.source_id = c.id AND c.kind = 'guid' AND c.n % 2 = 1;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM truth_values AS t JOIN subs AS s ON t.source_id = s.id
                WHERE t.table_name = 'accounts' AND s.s = 71 AND t.expected_source <> 'observed') THEN
        RAISE EXCEPTION 'messy_b: the conflicting subscription must belong to a customer with real revenue';
    END IF;
END $$;

CREATE TABLE truth_categories (category text, spelling text, canonical text);
INSERT INTO truth_categories
SELECT DISTINCT 'customer tier', r."Segment", 'Tier ' || c.tier_n
  FROM customers AS r JOIN cust_facts AS c ON r."Id" IN (c.id, c.old_id, '{' || c.id || '}');
INSERT INTO truth_categories SELECT DISTINCT 'subscription status', st.spelling, st.canonical FROM sub_status AS st;
INSERT INTO truth_categories VALUES ('subscription status', 'Active', 'active');
INSERT INTO truth_categories
SELECT DISTINCT 'device status', r."State", v.status FROM devices AS r JOIN dev AS v ON r."DeviceId" = 'dev-' || v.d;
INSERT INTO truth_categories
SELECT DISTINCT 'user role', r."Profile", v.role FROM users AS r JOIN usr AS v ON r."UserId" = 'user.' || v.u || '@example.com';
DELETE FROM truth_categories AS a USING truth_categories AS b
 WHERE a.ctid > b.ctid AND a.category = b.category AND a.spelling = b.spelling;

-- Where each category spelling sits: every raw row (what assess_sources
-- reads), and the spelling on each entity's kept row (latest snapshot),
-- by the raw ID the normalized tables carry.
CREATE VIEW truth_category_rows AS
SELECT 'customer tier' AS category, "Id" AS source_id, "SnapshotTs" AS snapshot, "Segment" AS spelling FROM customers
UNION ALL SELECT 'subscription status', "SubscriptionId", "SnapshotTs", "Status" FROM subscriptions
UNION ALL SELECT 'device status', "DeviceId", "SnapshotTs", "State" FROM devices
UNION ALL SELECT 'user role', "UserId", "SnapshotTs", "Profile" FROM users;
CREATE VIEW truth_category_kept AS
SELECT DISTINCT r.category, r.source_id, r.spelling
  FROM truth_category_rows AS r
 WHERE r.snapshot = (SELECT max(x.snapshot) FROM truth_category_rows AS x
                      WHERE x.category = r.category AND x.source_id = r.source_id);

CREATE TABLE truth_duplicates (entity text, source_id text, kind text, extra_rows integer);
INSERT INTO truth_duplicates SELECT 'customers', c.id, 'exact', 1 FROM cust AS c WHERE c.n IN (5, 6);
INSERT INTO truth_duplicates VALUES ('subscriptions', 'SUB-00071', 'conflict', 1);
INSERT INTO truth_duplicates
SELECT 'devices', d, 'exact', 1
  FROM unnest(ARRAY['dev-10', 'dev-100', 'dev-200', 'dev-300', 'dev-400', 'dev-500', 'dev-600', 'dev-700']) AS d;

CREATE TABLE truth_facts (fact text PRIMARY KEY, value text);
INSERT INTO truth_facts VALUES
    -- June 30 in New York (the customers' zone), though July 1 in UTC.
    ('as_of', '2025-06-30'),
    ('superseded customers', (SELECT count(*) FROM customers AS r
                               WHERE r."SnapshotTs" < TIMESTAMPTZ '2025-06-15 00:00:00+00'
                                 AND EXISTS (SELECT 1 FROM customers AS x JOIN truth_customers AS a ON a.raw_id = x."Id"
                                              JOIN truth_customers AS b ON b.raw_id = r."Id"
                                             WHERE a.customer = b.customer AND x."SnapshotTs" > TIMESTAMPTZ '2025-06-15 00:00:00+00'))::text);

DROP TABLE cust, cust_facts, subs, sub_status, loc, dev, usr, nbsp;
RESET search_path;
RESET client_min_messages;
