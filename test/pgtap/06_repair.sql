-- Phase 2 invariants, at ten times the demo's size so the tests have power:
-- repaired values follow their profiles, carry their provenance, and leave
-- the sources untouched.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(12);

SELECT count(*) FROM normalize.create_demo_source('tap_repair', seed => 5, scale => 10) \gset
SELECT md5(string_agg(d::text, ',' ORDER BY d.device_id)) AS devices_before FROM tap_repair.devices AS d \gset
SELECT count(*) FROM normalize.use_sources('tap_repair') \gset
SELECT count(*) FROM normalize.reconcile_ids() \gset
SELECT count(*) FROM normalize.repair_values(seed => 42) \gset

-- Each context's values pass a KS test against its own profile.
SELECT ok(p_value > 0.001, format('device health of %s devices follows %s (n = %s, p = %s)',
                                  status, profile, n, round(p_value::numeric, 4)))
  FROM (SELECT d.status, p.name AS profile, (normalize.ks_test(d.health_score::float8, p.name)).*
          FROM normalize.devices AS d
          JOIN normalize.distribution_profiles AS p
            ON p.name = CASE d.status WHEN 'operational' THEN 'health_operational'
                                      WHEN 'maintenance' THEN 'health_maintenance' ELSE 'health_critical' END
         GROUP BY d.status, p.name) AS t
 ORDER BY status;
SELECT ok(p_value > 0.001, format('engagement of %s users follows engagement_%s (n = %s, p = %s)',
                                  role, role, n, round(p_value::numeric, 4)))
  FROM (SELECT u.role, (normalize.ks_test(u.engagement_score::float8, 'engagement_' || u.role)).*
          FROM normalize.users AS u GROUP BY u.role) AS t
 ORDER BY role;
SELECT ok(p_value > 0.001, format('uptime follows device_uptime (n = %s, p = %s)', n, round(p_value::numeric, 4)))
  FROM (SELECT (normalize.ks_test(uptime::float8, 'device_uptime')).* FROM normalize.devices) AS t;
SELECT ok(p_value > 0.001, format('generated MRR of Tier 4 accounts follows mrr_tier_4 (n = %s, p = %s)',
                                  n, round(p_value::numeric, 4)))
  FROM (SELECT (normalize.ks_test(mrr::float8, 'mrr_tier_4')).* FROM normalize.accounts
         WHERE mrr_source = 'generated' AND tier = 'Tier 4') AS t;

-- Provenance.
SELECT is_empty($$SELECT account_key FROM normalize.accounts
                   WHERE mrr_source NOT IN ('observed', 'derived', 'generated') OR mrr_observed IS NULL$$,
                'every account says where its revenue came from and keeps the observed value');
SELECT cmp_ok((SELECT count(*) FROM normalize.accounts WHERE mrr_source = 'generated')::numeric
              / (SELECT count(*) FROM normalize.accounts), '<', 0.5::numeric,
              'revenue is derived from subscriptions for most accounts, drawn for the rest');
SELECT results_eq($$SELECT tier, count(*) FILTER (WHERE mrr_source = 'generated') > 0 FROM normalize.accounts
                     GROUP BY tier ORDER BY tier$$,
                  $$VALUES ('Tier 1', true), ('Tier 2', true), ('Tier 3', true), ('Tier 4', true)$$,
                  'tiers drawn from the mix reach every tier');
SELECT is((SELECT md5(string_agg(d::text, ',' ORDER BY d.device_id)) FROM tap_repair.devices AS d),
          :'devices_before', 'the source devices table is unchanged');

SELECT * FROM finish();
ROLLBACK;
