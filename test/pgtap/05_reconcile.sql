-- Phase 1 invariants: the normalized schema, reconciliation scored against
-- the ground truth on the demo and on a second messy source built here with
-- other offsets, prefixes and paddings, idempotence, and sources untouched.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(54);

-- The normalized schema: keys, foreign keys, types.
SELECT has_table('normalize', t, 'normalized table ' || t)
  FROM unnest(ARRAY['accounts', 'subscriptions', 'devices', 'users', 'locations', 'campaigns',
                    'account_map', 'unlinked_rows', 'quarantine', 'key_collisions', 'id_crosswalk']) AS t;
SELECT has_view('normalize', 'id_map', 'the id map covers every source row');
SELECT col_is_pk('normalize', t, k, t || ' is keyed by ' || k)
  FROM (VALUES ('accounts', 'account_key'), ('subscriptions', 'subscription_key'), ('devices', 'device_key'),
               ('users', 'user_key'), ('locations', 'location_key'), ('campaigns', 'campaign_key')) AS v(t, k);
SELECT col_type_is('normalize', t, k, 'character varying', t || '.' || k || ' is VARCHAR')
  FROM (VALUES ('accounts', 'account_key'), ('subscriptions', 'account_key'), ('devices', 'location_key'),
               ('users', 'account_key'), ('locations', 'account_key'), ('campaigns', 'account_key')) AS v(t, k);
SELECT fk_ok('normalize', t, c, 'normalize', p, c, t || '.' || c || ' references ' || p)
  FROM (VALUES ('subscriptions', 'account_key', 'accounts'), ('devices', 'account_key', 'accounts'),
               ('devices', 'location_key', 'locations'), ('users', 'account_key', 'accounts'),
               ('locations', 'account_key', 'accounts'), ('campaigns', 'account_key', 'accounts'),
               ('account_map', 'account_key', 'accounts')) AS v(t, c, p);

-- Checksums of every source table, before anything runs.
CREATE FUNCTION pg_temp.checksum(schema_name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t text; result text := '';
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = schema_name ORDER BY 1 LOOP
        EXECUTE format('SELECT %L || md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %I.%I AS x',
                       t, E'\n', '', schema_name, t) INTO STRICT t;
        result := result || t || ';';
    END LOOP;
    RETURN result;
END $$;

SELECT count(*) FROM normalize.create_demo_source('tap_raw', seed => 3) \gset
SELECT pg_temp.checksum('tap_raw') AS demo_before \gset
SELECT count(*) FROM normalize.use_sources('tap_raw') \gset

-- Rule discovery, without being told.
SELECT is((SELECT rule || ' ' || coalesce(parameter, '') FROM normalize.suggest_id_rules()
            WHERE entity = 'subscriptions' AND rank = 1), 'offset 10000000',
          'the offset rule of the demo subscriptions is found');
SELECT set_eq($$SELECT entity, rule FROM normalize.suggest_id_rules() WHERE rank = 1 AND reference = 'account'$$,
              $$VALUES ('locations', 'exact'), ('subscriptions', 'offset'), ('devices', 'number'),
                       ('users', 'normalized'), ('campaigns', 'number')$$,
              'the prefix, padding and whitespace formats of the demo are found');

-- Reconciliation against the ground truth.
CREATE FUNCTION pg_temp.score(truth regclass) RETURNS TABLE (linkable bigint, right_links bigint,
                                                               wrong_links bigint, orphans bigint,
                                                               orphans_quarantined bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT count(*) FILTER (WHERE NOT g.orphan),
               count(*) FILTER (WHERE NOT g.orphan AND m.account_key = normalize.stable_key('account', g.customer_id::text)),
               count(*) FILTER (WHERE m.account_key IS NOT NULL
                                  AND m.account_key IS DISTINCT FROM normalize.stable_key('account', g.customer_id::text)),
               count(*) FILTER (WHERE g.orphan),
               count(*) FILTER (WHERE g.orphan AND m.status = 'quarantined')
          FROM %s AS g
          LEFT JOIN normalize.id_map AS m ON m.entity = g.entity AND m.source_id = g.source_id$q$, truth);
END $$;

SELECT count(*) FROM normalize.reconcile_ids() \gset
SELECT is(s.right_links, s.linkable, 'demo: every linkable row is linked to its true customer') FROM pg_temp.score('tap_raw.ground_truth') AS s;
SELECT is(s.wrong_links, 0::bigint, 'demo: no row is linked to a wrong customer') FROM pg_temp.score('tap_raw.ground_truth') AS s;
SELECT is(s.orphans_quarantined, s.orphans, 'demo: every true orphan is quarantined') FROM pg_temp.score('tap_raw.ground_truth') AS s;
SELECT cmp_ok(s.orphans, '>', 0::bigint, 'demo: there are orphans to find') FROM pg_temp.score('tap_raw.ground_truth') AS s;
SELECT is_empty($$SELECT * FROM normalize.validate_relationships() WHERE status = 'fail'$$,
                'demo: every foreign key of the normalized tables is 100% linked');
SELECT is((SELECT count(*) FROM normalize.devices AS d JOIN tap_raw.ground_truth AS g
             ON g.entity = 'devices' AND g.source_id = d.source_id
          WHERE d.location_key IS DISTINCT FROM normalize.stable_key('location', g.location_id::text)),
          0::bigint, 'demo: every device is at its true location, or at none when it has none');

-- Idempotence: a second run gives the same tables.
CREATE FUNCTION pg_temp.normalized_checksum() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(t || md5(x), ';' ORDER BY t) FROM (
        SELECT 'accounts' AS t, string_agg(a::text, E'\n' ORDER BY a.account_key) AS x FROM normalize.accounts AS a
        UNION ALL SELECT 'subscriptions', string_agg(s::text, E'\n' ORDER BY s.subscription_key) FROM normalize.subscriptions AS s
        UNION ALL SELECT 'devices', string_agg(d::text, E'\n' ORDER BY d.device_key) FROM normalize.devices AS d
        UNION ALL SELECT 'users', string_agg(u::text, E'\n' ORDER BY u.user_key) FROM normalize.users AS u
        UNION ALL SELECT 'locations', string_agg(l::text, E'\n' ORDER BY l.location_key) FROM normalize.locations AS l
        UNION ALL SELECT 'campaigns', string_agg(c::text, E'\n' ORDER BY c.campaign_key) FROM normalize.campaigns AS c
        UNION ALL SELECT 'account_map', string_agg(m::text, E'\n' ORDER BY m.entity, m.raw_value) FROM normalize.account_map AS m
        UNION ALL SELECT 'quarantine', string_agg(q::text, E'\n' ORDER BY q::text) FROM normalize.quarantine AS q) AS v
$$;
SELECT pg_temp.normalized_checksum() AS first_run \gset
SELECT count(*) FROM normalize.reconcile_ids() \gset
SELECT is(pg_temp.normalized_checksum(), :'first_run', 'reconciling again gives the same tables');

-- The other policies keep every foreign key whole.
SELECT count(*) FROM normalize.reconcile_ids('assign') \gset
SELECT is((SELECT count(*) FROM normalize.id_map WHERE status = 'quarantined' AND entity <> 'customers'),
          0::bigint, 'assign: no orphan is left out');
SELECT cmp_ok((SELECT count(*) FROM normalize.subscriptions WHERE account_assigned), '>', 0::bigint,
              'assign: assigned rows are flagged');
SELECT is_empty($$SELECT * FROM normalize.validate_relationships() WHERE status = 'fail'$$,
                'assign: every foreign key holds');
SELECT count(*) FROM normalize.reconcile_ids('drop') \gset
SELECT is((SELECT count(*) FROM normalize.id_map WHERE status = 'dropped'),
          (SELECT count(*) FROM tap_raw.ground_truth WHERE orphan), 'drop: exactly the true orphans are dropped');
SELECT is(pg_temp.checksum('tap_raw'), :'demo_before', 'no source table was written by the whole phase');

-- A second messy source, with other offsets, prefixes and paddings.
CREATE SCHEMA tap_messy;
CREATE TABLE tap_messy.customers (customer_id bigint, name text, snapshot_date date);
INSERT INTO tap_messy.customers SELECT 5000 + g, 'c' || g, '2025-01-01' FROM generate_series(0, 59) AS g;
-- subscriptions: a text prefix and an offset of 700000 at once; orphans beyond the customers
CREATE TABLE tap_messy.subscriptions (subscription_id int, account_id text, mrr numeric);
INSERT INTO tap_messy.subscriptions
SELECT g, 'SUBACC/' || (700000 + 5000 + (g % 64)), 10 FROM generate_series(1, 200) AS g;
-- devices: '#' separator and zero padding to eight digits
CREATE TABLE tap_messy.devices (device_id text, account_id varchar(20), location_id text);
INSERT INTO tap_messy.devices
SELECT 'd' || g, 'Cust#' || lpad((5000 + g % 60)::text, 8, '0'), 'LOC_' || lpad((g % 60)::text, 3, '0')
  FROM generate_series(1, 300) AS g;
-- users: zero padding inside surrounding blanks, and a few missing
CREATE TABLE tap_messy.users (user_id int, account_id varchar(16));
INSERT INTO tap_messy.users SELECT g, CASE WHEN g % 25 = 0 THEN NULL ELSE '  00' || (5000 + g % 60) || ' ' END
  FROM generate_series(1, 150) AS g;
-- locations: a numeric column
CREATE TABLE tap_messy.locations (location_id text, account_id numeric(12, 0));
INSERT INTO tap_messy.locations SELECT 'LOC_' || lpad(g::text, 3, '0'), 5000 + g FROM generate_series(0, 59) AS g;
-- campaigns: an upper-case prefix, some with an offset the rest do not have
CREATE TABLE tap_messy.campaigns (campaign_id text, account_id text);
INSERT INTO tap_messy.campaigns SELECT 'K' || g, 'CUSTOMER-' || (5000 + g % 60) FROM generate_series(1, 90) AS g;
CREATE TABLE tap_messy.ground_truth AS
    SELECT 'subscriptions' AS entity, subscription_id::text AS source_id,
           CASE WHEN g.n < 60 THEN 5000 + g.n END AS customer_id, g.n >= 60 AS orphan
      FROM (SELECT subscription_id, subscription_id % 64 AS n FROM tap_messy.subscriptions) AS g
    UNION ALL SELECT 'devices', device_id, 5000 + substr(device_id, 2)::int % 60, false FROM tap_messy.devices
    UNION ALL SELECT 'users', user_id::text, CASE WHEN user_id % 25 <> 0 THEN 5000 + user_id % 60 END, user_id % 25 = 0 FROM tap_messy.users
    UNION ALL SELECT 'locations', location_id, account_id::int, false FROM tap_messy.locations
    UNION ALL SELECT 'campaigns', campaign_id, 5000 + substr(campaign_id, 2)::int % 60, false FROM tap_messy.campaigns;
SELECT pg_temp.checksum('tap_messy') AS messy_before \gset

SELECT count(*) FROM normalize.use_sources('tap_messy') \gset
SELECT is((SELECT rule || ' ' || coalesce(parameter, '') FROM normalize.suggest_id_rules()
            WHERE entity = 'subscriptions' AND rank = 1), 'offset 700000',
          'messy: the offset 700000 behind a text prefix is found');
SELECT set_eq($$SELECT entity || '.' || reference, rule FROM normalize.suggest_id_rules() WHERE rank = 1$$,
              $$VALUES ('locations.account', 'exact'), ('subscriptions.account', 'offset'),
                       ('devices.account', 'number'), ('devices.location', 'exact'),
                       ('users.account', 'normalized'), ('campaigns.account', 'number')$$,
              'messy: the best rule of every reference is found');
-- Its customer IDs are dense (5000-5059): offsets 700000 and 700001 link
-- as many rows, and the data do not decide between them. Nothing is linked
-- by a guess; the subscriptions are reported, and the user declares the
-- offset.
SELECT count(*) FROM normalize.reconcile_ids() \gset
SELECT results_eq($$SELECT (SELECT count(*) FROM normalize.reconciliation_rules
                             WHERE entity = 'subscriptions' AND status = 'ambiguous') > 1,
                           (SELECT count(*) FROM normalize.subscriptions WHERE account_rule = 'offset'),
                           (SELECT count(*) FROM normalize.unlinked_rows WHERE entity = 'subscriptions')$$,
                  $$VALUES (true, 0::bigint, 200::bigint)$$,
                  'messy: dense offsets are reported ambiguous, and no subscription is linked by a guess');
INSERT INTO normalize.id_rule_overrides (entity, reference, rule, "offset", source)
VALUES ('subscriptions', 'account', 'offset', 700000, 'tap_messy.subscriptions')
ON CONFLICT (entity, reference) DO UPDATE SET rule = excluded.rule, "offset" = excluded."offset", source = excluded.source;
SELECT count(*) FROM normalize.reconcile_ids() \gset
SELECT is(s.right_links, s.linkable, 'messy: every linkable row is linked to its true customer') FROM pg_temp.score('tap_messy.ground_truth') AS s;
SELECT is(s.wrong_links, 0::bigint, 'messy: no row is linked to a wrong customer') FROM pg_temp.score('tap_messy.ground_truth') AS s;
SELECT is(s.orphans_quarantined, s.orphans, 'messy: every true orphan is quarantined') FROM pg_temp.score('tap_messy.ground_truth') AS s;
SELECT is((SELECT count(location_key) FROM normalize.devices), 300::bigint, 'messy: every device found its location');
SELECT is_empty($$SELECT * FROM normalize.validate_relationships() WHERE status = 'fail'$$,
                'messy: every foreign key of the normalized tables is 100% linked');
SELECT is(pg_temp.checksum('tap_messy'), :'messy_before', 'messy: no source table was written');

SELECT * FROM finish();
ROLLBACK;
