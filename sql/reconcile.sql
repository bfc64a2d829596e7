-- Phase 1: registration, rule discovery, reconciliation and verification on
-- the demo source, the orphan policies, and every error message.
\set SHOW_CONTEXT never
SELECT count(*) AS tables FROM normalize.create_demo_source('saas_raw', seed => 1);

-- ID functions
SELECT raw, normalize.normalize_id(raw), normalize.id_number(raw), normalize.id_prefix(raw),
       normalize.id_digits(raw), normalize.stable_key('account', raw)
  FROM unnest(ARRAY['ACCT-0042', ' 00042 ', 'cust_42', '10000042', '42.000', 'DEV-00017', 'A 7b', '   ']) AS raw;
SELECT normalize.stable_key('account', 42::bigint) AS from_bigint;
SELECT normalize.stable_key('Account', '42');
SELECT normalize.stable_key('', '42');

-- Registration
SELECT * FROM normalize.use_sources('saas_raw');
SELECT entity, relation, columns FROM normalize.sources ORDER BY entity;

-- The "before" picture
SELECT * FROM normalize.assess_sources();

-- Rule scoring on its own: rows each rule links, NULLs skipped, and the
-- arrays it refuses
SELECT * FROM normalize.score_id_rules(ARRAY['10000042', ' 0042', 'ACCT-43', NULL, '10000044'],
                                       ARRAY[3, 2, 1, 9, 4]::bigint[], ARRAY['42', '43', '44', NULL]);
SELECT * FROM normalize.score_id_rules(ARRAY['1'], ARRAY[1, 2]::bigint[], ARRAY['1']);
SELECT * FROM normalize.score_id_rules(ARRAY[['1'], ['2']], ARRAY[1, 2]::bigint[], ARRAY['1']);
-- Row counts are counts: near 2^63 they added up to negative links, and a
-- negative or NULL one passed.
SELECT * FROM normalize.score_id_rules(ARRAY['1', '2'], ARRAY[9223372036854775807, 9223372036854775807], ARRAY['1', '2']);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM normalize.score_id_rules(ARRAY['1', '2'], ARRAY[9223372036854775806, 1], ARRAY['1', '2']) WHERE rule = 'exact';
SELECT * FROM normalize.score_id_rules(ARRAY['1', '2'], ARRAY[5, -1]::bigint[], ARRAY['1']);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM normalize.score_id_rules(ARRAY['1', '2'], ARRAY[5, NULL]::bigint[], ARRAY['1']);
SELECT * FROM normalize.score_id_rules('{}', '{}', ARRAY['1']);

-- Matching values under one rule: the smallest key among the matches
SELECT * FROM normalize.match_id_values('number', 0, ARRAY['42', 'ACCT-43', NULL, 'x'], ARRAY[1, 2, 3, 4]::bigint[],
                                        ARRAY['0042', '42', '43'], ARRAY['k:b', 'k:a', 'k:c']);
SELECT * FROM normalize.match_id_values('soundex', 0, ARRAY['42'], ARRAY[1]::bigint[], ARRAY['42'], ARRAY['k']);
SELECT * FROM normalize.match_id_values('exact', 0, ARRAY['42'], ARRAY[1]::bigint[], ARRAY['42'], ARRAY['k', 'l']);
SELECT * FROM normalize.match_id_values('exact', 0, ARRAY['42'], ARRAY[-1]::bigint[], ARRAY['42'], ARRAY['k']);
SELECT * FROM normalize.match_id_values('exact', 0, ARRAY['42'], ARRAY[NULL]::bigint[], ARRAY['42'], ARRAY['k']);

-- Staging: distinct values and their rows in the order first seen, NULL
-- last, bytes compared (case and blanks matter), long values kept whole;
-- two empty arrays over no rows; past the first table size
SELECT (normalize.value_counts(v ORDER BY n)).*
  FROM unnest(ARRAY['42', NULL, 'x', '42', ' 42', NULL, repeat('long-', 8) || '1', 'X',
                    repeat('long-', 8) || '1', repeat('long-', 8) || '2']) WITH ORDINALITY AS u(v, n);
SELECT (normalize.value_counts(v)).* FROM unnest('{}'::text[]) AS v;
SELECT length(c.raw[1]) AS first_length, c.raw[2], c.rows
  FROM (SELECT (normalize.value_counts(v ORDER BY n)).*
          FROM (VALUES (1, repeat('z', 10000)), (2, 'z'), (3, repeat('z', 10000))) AS t(n, v)) AS c;
SELECT cardinality(c.raw) AS distinct_values, c.raw[1] AS first, c.raw[5000] AS last,
       (SELECT sum(r) FROM unnest(c.rows) AS r) AS rows, (SELECT max(r) FROM unnest(c.rows) AS r) AS most
  FROM (SELECT (normalize.value_counts((g % 5000)::text)).* FROM generate_series(1, 20000) AS g) AS c;

-- Rule discovery finds the offset and the formats without being told
SELECT entity, reference, source_column, target, rule, parameter, linked, total, round(share::numeric, 3) AS share
  FROM normalize.suggest_id_rules() WHERE rank <= 2;

-- Reconciliation, quarantining orphans
SELECT * FROM normalize.reconcile_ids();
SELECT * FROM normalize.validate_relationships();
SELECT entity, reference, reason, kept, count(*) FROM normalize.quarantine GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;
SELECT entity, account_rule, count(*) FROM (
    SELECT 'subscriptions' AS entity, account_rule FROM normalize.subscriptions
    UNION ALL SELECT 'devices', account_rule FROM normalize.devices
    UNION ALL SELECT 'users', account_rule FROM normalize.users) AS t
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT * FROM normalize.account_map WHERE entity = 'subscriptions' ORDER BY raw_value LIMIT 3;

-- Scored against the ground truth: every linkable row on its true account,
-- none on a wrong one, every true orphan quarantined
SELECT g.entity,
       count(*) FILTER (WHERE NOT g.orphan) AS linkable,
       count(*) FILTER (WHERE NOT g.orphan AND m.account_key = normalize.stable_key('account', g.customer_id::text)) AS linked_right,
       count(*) FILTER (WHERE m.account_key IS DISTINCT FROM normalize.stable_key('account', g.customer_id::text)
                          AND m.account_key IS NOT NULL) AS linked_wrong,
       count(*) FILTER (WHERE g.orphan) AS orphans,
       count(*) FILTER (WHERE g.orphan AND m.status = 'quarantined') AS orphans_quarantined
  FROM saas_raw.ground_truth AS g
  LEFT JOIN normalize.id_map AS m ON m.entity = g.entity AND m.source_id = g.source_id
 GROUP BY g.entity ORDER BY g.entity;
SELECT count(*) FILTER (WHERE d.location_key IS NOT DISTINCT FROM normalize.stable_key('location', g.location_id::text)) AS right_location,
       count(*) AS devices
  FROM normalize.devices AS d JOIN saas_raw.ground_truth AS g ON g.entity = 'devices' AND g.source_id = d.source_id;

-- The other orphan policies
SELECT * FROM normalize.reconcile_ids('assign');
SELECT count(*) FILTER (WHERE account_assigned) AS assigned, count(*) FROM normalize.subscriptions;
SELECT count(*) FILTER (WHERE location_assigned) AS locations_assigned, count(location_key) AS with_location, count(*) FROM normalize.devices;
SELECT check_name, status FROM normalize.validate_relationships() WHERE status <> 'info';
SELECT * FROM normalize.reconcile_ids('drop');
SELECT count(*) AS quarantined_rows FROM normalize.quarantine WHERE NOT kept;

-- A crosswalk entry takes precedence over the rules
INSERT INTO normalize.id_crosswalk (entity, raw_value, target_id, note)
SELECT 'subscriptions', s.account_id, '7', 'resold through customer 7'
  FROM saas_raw.subscriptions AS s
  JOIN normalize.id_map AS m ON m.entity = 'subscriptions' AND m.source_id = s.subscription_id AND m.status = 'dropped'
 ORDER BY s.account_id LIMIT 1
RETURNING entity, raw_value, target_id;
SELECT entity, source_rows, linked, quarantined FROM normalize.reconcile_ids() WHERE entity = 'subscriptions';
SELECT account_key, account_rule FROM normalize.subscriptions WHERE account_rule = 'crosswalk';
DELETE FROM normalize.id_crosswalk;

-- A table whose columns have other names, through a view
CREATE VIEW saas_raw.campaigns_renamed AS SELECT campaign_id AS cid, account_id AS acct, channel AS medium FROM saas_raw.campaigns;
SELECT * FROM normalize.register_source('campaigns', 'saas_raw.campaigns_renamed', '{"campaign_id": "cid", "account_id": "acct", "channel": "medium"}');
SELECT entity, linked FROM normalize.reconcile_ids() WHERE entity = 'campaigns';
SELECT count(*) FILTER (WHERE channel IS NOT NULL) AS with_channel, count(*) FILTER (WHERE budget IS NULL) AS without_budget FROM normalize.campaigns;
SELECT count(*) FROM normalize.register_source('campaigns', 'saas_raw.campaigns');

-- Registration errors
SELECT * FROM normalize.use_sources('no_such_schema');
CREATE SCHEMA half_raw;
CREATE TABLE half_raw.customers (customer_id int);
SELECT * FROM normalize.use_sources('half_raw');
SELECT * FROM normalize.register_source('widgets', 'saas_raw.customers');
SELECT * FROM normalize.register_source('customers', 'saas_raw.users');
SELECT * FROM normalize.register_source('customers', 'saas_raw.nope');
CREATE TABLE half_raw.bad_customers (customer_id boolean, mrr text, created_at text);
SELECT * FROM normalize.register_source('customers', 'half_raw.bad_customers');
SELECT * FROM normalize.register_source('customers', 'saas_raw.customers', '{"customer_key": "customer_id"}');
SELECT * FROM normalize.register_source('customers', 'saas_raw.customers', '["customer_id"]');
SELECT * FROM normalize.register_source('customers', 'saas_raw.customers', '{"tier": "segment"}');
CREATE SEQUENCE half_raw.seq;
SELECT * FROM normalize.register_source('customers', 'half_raw.seq');

-- Reconciliation errors
SELECT * FROM normalize.reconcile_ids('maybe');
SELECT * FROM normalize.reconcile_ids('quarantine', 0);
SELECT * FROM normalize.reconcile_ids(NULL);

-- Messy IDs: NULL, shared by two differing rows of one snapshot date (the
-- most complete is kept), differing only by case from another on the same
-- date (so the keys of subscriptions keep case), superseded by a later
-- snapshot, and account references that are not numbers where the offset
-- rule applies. sql/keys.sql tests keys on a source of its own.
CREATE TABLE half_raw.customers2 AS SELECT * FROM saas_raw.customers;
INSERT INTO half_raw.customers2 (customer_id, name, snapshot_date) VALUES (NULL, 'no id', '2025-06-18');
CREATE TABLE half_raw.subscriptions2 AS SELECT * FROM saas_raw.subscriptions;
INSERT INTO half_raw.subscriptions2 (subscription_id, account_id, mrr, snapshot_date) VALUES
    ('SUB-000001', '10000001', 1, '2025-06-18'),
    ('sub-000001', '10000001', 2, '2025-06-18'),
    ('SUB-000002', '10000002', 3, '2020-01-01'),
    ('SUB-900001', 'not-a-number', 4, '2025-06-18'),
    ('SUB-900002', '', 5, '2025-06-18');
-- The copies keep the demo's numbering: its declared offset is made to
-- apply to whichever relation is registered.
UPDATE normalize.id_rule_overrides SET source = NULL WHERE entity = 'subscriptions';
SELECT count(*) FROM normalize.register_source('customers', 'half_raw.customers2');
SELECT count(*) FROM normalize.register_source('subscriptions', 'half_raw.subscriptions2');
SELECT * FROM normalize.reconcile_ids() WHERE entity IN ('customers', 'subscriptions');
SELECT entity, source_id, raw_value, reason FROM normalize.quarantine
 WHERE NOT kept AND (source_id IS NULL OR source_id ILIKE 'sub-0000%' OR source_id LIKE 'SUB-9%') ORDER BY 1, 2, 3;
SELECT * FROM normalize.key_collisions;
SELECT source_id, status FROM normalize.id_map WHERE entity = 'subscriptions' AND source_id IN ('SUB-000002') ORDER BY status;

-- An empty source of another entity is no error: it has no rows to link
CREATE TABLE half_raw.no_campaigns (LIKE saas_raw.campaigns);
SELECT count(*) FROM normalize.register_source('campaigns', 'half_raw.no_campaigns');
SELECT * FROM normalize.reconcile_ids() WHERE entity = 'campaigns';
SELECT count(*) FROM normalize.register_source('campaigns', 'saas_raw.campaigns');

-- A source dropped after registration, and an empty customers table
DROP TABLE half_raw.subscriptions2;
SELECT * FROM normalize.reconcile_ids();
SELECT count(*) FROM normalize.use_sources('saas_raw');
CREATE TABLE half_raw.no_customers (LIKE saas_raw.customers);
SELECT count(*) FROM normalize.register_source('customers', 'half_raw.no_customers');
SELECT * FROM normalize.reconcile_ids();
SELECT count(*) FROM normalize.use_sources('saas_raw');
DROP SCHEMA half_raw CASCADE;
DROP VIEW saas_raw.campaigns_renamed;
DELETE FROM normalize.sources;
SELECT * FROM normalize.suggest_id_rules();
SELECT * FROM normalize.assess_sources();
SELECT normalize.source_query('widgets');

-- The internal steps refuse names they do not know
SELECT * FROM normalize.stage_entity('widgets');
SELECT normalize.settle_keys('widgets');
SELECT normalize.stage_reference('devices', 'owner');
SELECT normalize.resolve_reference('devices', 'owner', '{}', '{}', 'nz_targets_customers', 0.5, 0.1, '', 'nz_map');
SELECT * FROM normalize.rule_candidates('widgets', 'account', '{}', '{}', '{}', false);
SELECT * FROM normalize.rule_candidates('devices', 'account', ARRAY['1', '2'], ARRAY[5]::bigint[], ARRAY['1'], false);
SELECT * FROM normalize.rule_candidates('devices', 'account', ARRAY['1', '2'], ARRAY[5, -5]::bigint[], ARRAY['1'], false);
SELECT * FROM normalize.rule_candidates('devices', 'account', ARRAY['1', '2'], ARRAY[5, NULL]::bigint[], ARRAY['1'], false);
SELECT * FROM normalize.rule_candidates('devices', 'account', ARRAY['1', '2'], ARRAY[9223372036854775807, 1]::bigint[], ARRAY['1'], false);
SELECT normalize.resolve_reference('devices', 'account', '{}', '{}', 'nz_targets_customers', 0, 0.1, '', 'nz_map');
SELECT normalize.resolve_reference('devices', 'account', '{}', '{}', 'nz_targets_customers', 'NaN', 0.1, '', 'nz_map');
SELECT normalize.resolve_reference('devices', 'account', '{}', '{}', 'nz_targets_customers', 0.5, 'NaN', '', 'nz_map');
SELECT normalize.require_entity(NULL);
-- The steps of reconcile_ids, called on their own with bad arguments.
SELECT normalize.require_orphan_policy('keep');
SELECT normalize.require_orphan_policy(NULL);
SELECT normalize.entity_rows_query('widgets', 'quarantine', 1, 'm', 'm', 'o', 'p');
SELECT normalize.load_entity('devices', 'keep', 1, 'm', 'm', 'o', 'p');
SELECT normalize.record_unlinked_rows('widgets', 'quarantine', 'm');
SELECT normalize.record_link_issues('devices', 'assign', 'no_such_map');
SELECT normalize.stage_location_targets('keep', 't', 'p');
SELECT normalize.keyed_source_query('widgets');
SELECT normalize.build_account_map('{campaigns}', '{}');
SELECT normalize.loaded_columns('widgets') IS NULL AS unknown_entity_has_no_columns;
SELECT normalize.source_query(NULL);
SELECT normalize.column_finding(0, 0, 0, 0, false) IS NULL AS empty_column_has_no_finding;
SELECT normalize.drop_temp_table('no_such_table');
SELECT normalize.mark_user_rows();
