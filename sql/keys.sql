-- Keys: how raw IDs are normalized, when an entity's keys keep case, and
-- what becomes of source rows that share a key, on a small source of this
-- test's own whose right answer is known row by row.
\set SHOW_CONTEXT never

-- Zeros are dropped only from a number (alone or after a prefix without
-- digits): two GUID-like IDs that differ by a zero's place stay apart.
-- Blanks and invisible marks are shown as <U+code>: psql measures the
-- width of zero-width characters differently from one version to another.
SELECT (SELECT string_agg(CASE WHEN ascii(c) > 126 AND c !~ '[[:alpha:]]' THEN format('<U+%s>', upper(to_hex(ascii(c)))) ELSE c END, '')
          FROM regexp_split_to_table(raw, '') AS c) AS raw,
       normalize.normalize_id(raw), normalize.stable_key('device', raw)
  FROM unnest(ARRAY['01a20000-0000-4000', '1a020000-0000-4000', 'x-007-y-010', 'ACCT-0042', '0042.00',
                    '{ACCT-0042}', ' { 0042 } ', '{}', E'42\u00a0', E'\u3000ACCT-7\u2003', E'\ufeff42', E'a\u200bb',
                    'ÄRZTE-1', 'ŁÓDŹ', 'МИР-7', '0015g00000AbCdE']) AS raw;
-- Case is kept when asked.
SELECT normalize.normalize_id(' 0015g00000AbCdE ', true) AS cased, normalize.stable_key('account', 'ACCT-0042', true);
SELECT normalize.normalize_id('X', NULL) IS NULL AS strict;
-- An ID over 256 bytes is keyed by its first 64 bytes and a digest, so a
-- key stays far below the index limit; two long IDs that share the first
-- 64 bytes get different keys.
SELECT length(k), left(k, 10), right(k, 33)
  FROM (SELECT normalize.stable_key('device', repeat('x', 300)) AS k) AS s;
SELECT normalize.stable_key('device', repeat('x', 300)) <> normalize.stable_key('device', repeat('x', 299) || 'y') AS distinct_keys;
SELECT length(normalize.stable_key('device', repeat('x', 256))) AS kept_whole;
-- Character boundaries: the prefix of a long ID of two-byte letters is cut
-- between letters.
SELECT octet_length(split_part(normalize.stable_key('device', repeat('é', 200)), '~', 1)) AS prefix_bytes;

-- A source of this test: customers whose IDs are case-sensitive CRM IDs,
-- exact duplicate rows, rows that share a key but differ, an ID spelled
-- differently in two snapshots, and an over-long ID; subscriptions that
-- reference each customer, padded.
CREATE SCHEMA keys_raw;
CREATE TABLE keys_raw.customers (customer_id text, name text, tier text, mrr numeric, snapshot_date date);
INSERT INTO keys_raw.customers VALUES
    ('0015g00000AbCdE', 'upper', 'Tier 1', 100, '2025-06-01'),
    ('0015g00000abcde', 'lower', 'Tier 2', 200, '2025-06-01'),
    ('0015g00000XyZ', 'dup', 'Tier 1', 300, '2025-06-01'),
    ('0015g00000XyZ', 'dup', 'Tier 1', 300, '2025-06-01'),
    ('0015g00000XyZ', 'dup', 'Tier 1', 300, '2025-06-01'),
    ('C-77', 'conflict, complete', 'Tier 3', 70, '2025-06-01'),
    ('C-77', 'conflict, sparse', NULL, NULL, '2025-06-01'),
    ('C-0088', 'old spelling', 'Tier 1', 80, '2025-05-01'),
    ('C-88', 'new spelling', 'Tier 2', 88, '2025-06-01'),
    (repeat('L', 300), 'long id', 'Tier 1', 10, '2025-06-01');
-- truth: the customer each subscription belongs to, by name.
CREATE TABLE keys_raw.subscriptions (subscription_id text, account_id text, mrr numeric, snapshot_date date, truth text);
INSERT INTO keys_raw.subscriptions VALUES
    ('S1', '0015g00000AbCdE', 100, '2025-06-01', 'upper'),
    ('S2', ' 0015g00000abcde', 200, '2025-06-01', 'lower'),
    ('S3', '0015g00000XyZ', 300, '2025-06-01', 'dup'),
    ('S4', 'C-77', 70, '2025-06-01', 'conflict, complete'),
    ('S5', 'C-88', 88, '2025-06-01', 'new spelling'),
    ('S6', repeat('L', 300), 10, '2025-06-01', 'long id'),
    ('S7', '0015G00000ABCDE', 1, '2025-06-01', NULL);
CREATE TABLE keys_raw.none (id text, account_id text, snapshot_date date);
SELECT count(*) FROM normalize.register_source('customers', 'keys_raw.customers');
SELECT count(*) FROM normalize.register_source('subscriptions', 'keys_raw.subscriptions');
SELECT count(*) FROM normalize.register_source('devices', 'keys_raw.none', '{"device_id": "id"}');
SELECT count(*) FROM normalize.register_source('users', 'keys_raw.none', '{"user_id": "id"}');
SELECT count(*) FROM normalize.register_source('locations', 'keys_raw.none', '{"location_id": "id"}');
SELECT count(*) FROM normalize.register_source('campaigns', 'keys_raw.none', '{"campaign_id": "id"}');
-- The demo's declared offset is no concern of this source.
DELETE FROM normalize.id_rule_overrides;

SELECT * FROM normalize.case_variants('customers');
SELECT * FROM normalize.reconcile_ids() WHERE entity IN ('customers', 'subscriptions');
SELECT * FROM normalize.key_case WHERE entity IN ('customers', 'subscriptions') ORDER BY entity;
-- One account per customer, the kept row of each shared key
SELECT left(account_key, 30) AS account_key, left(source_id, 20) AS source_id, name, mrr FROM normalize.accounts ORDER BY account_key COLLATE "C";
SELECT entity, entity_key, source_ids, kept_source_id, resolution FROM normalize.key_collisions ORDER BY entity_key;
SELECT entity, source_id, status FROM normalize.id_map
 WHERE entity = 'customers' AND status <> 'linked' ORDER BY source_id COLLATE "C", status;
SELECT source_id, reason FROM normalize.quarantine WHERE entity = 'customers' ORDER BY 1, 2;
-- Every subscription links to the customer it names: padding is no
-- difference, case is one (S7 names no customer of this source).
SELECT r.subscription_id, r.truth, a.name, s.account_rule
  FROM keys_raw.subscriptions AS r
  LEFT JOIN normalize.subscriptions AS s ON s.source_id = r.subscription_id
  LEFT JOIN normalize.accounts AS a USING (account_key)
 ORDER BY 1;
SELECT entity, source_id, raw_value, reason FROM normalize.quarantine WHERE entity = 'subscriptions' ORDER BY 2;
-- The same with the rows in another order: the same tables.
CREATE TABLE keys_raw.customers_reversed AS SELECT * FROM keys_raw.customers ORDER BY name DESC, ctid DESC;
CREATE TEMP TABLE first_accounts AS SELECT a::text AS r FROM normalize.accounts AS a;
SELECT count(*) FROM normalize.register_source('customers', 'keys_raw.customers_reversed');
SELECT count(*) FROM normalize.reconcile_ids();
SELECT count(*) AS differing FROM ((SELECT a::text FROM normalize.accounts AS a EXCEPT SELECT r FROM first_accounts)
                                   UNION ALL (SELECT r FROM first_accounts EXCEPT SELECT a::text FROM normalize.accounts AS a)) AS d;
-- Without the lower-case twin, the IDs of one snapshot no longer differ
-- only by case: keys fold case, and S7 links by the normalized rule.
DELETE FROM keys_raw.customers_reversed WHERE customer_id = '0015g00000abcde';
SELECT count(*) FROM normalize.reconcile_ids();
SELECT * FROM normalize.key_case WHERE entity = 'customers';
SELECT s.source_id, s.account_key, s.account_rule FROM normalize.subscriptions AS s WHERE s.source_id IN ('S1', 'S2', 'S7') ORDER BY 1;
DROP SCHEMA keys_raw CASCADE;
