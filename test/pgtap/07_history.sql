-- The account history simulator is deterministic in (seed, account key):
-- the same rows across runs, in a parallel plan, per row or over a whole
-- table, and over a table split in two.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(10);

CREATE TABLE public.nz_hist_accounts AS
SELECT 'account:' || g AS account_key, 'Tier ' || (1 + g % 4) AS tier, (50 + g % 900)::float8 AS mrr
  FROM generate_series(1, 3000) AS g;
ANALYZE public.nz_hist_accounts;

\set history_checksum 'SELECT sum((''x'' || left(md5(h::text), 15))::bit(60)::bigint) FROM public.nz_hist_accounts AS a CROSS JOIN LATERAL normalize.generate_history(a.account_key, a.tier, a.mrr, 24, ''2025-06-18'', 42) AS h'

SET LOCAL max_parallel_workers_per_gather = 0;
:history_checksum \gset serial_
:history_checksum \gset again_

-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query (15
-- knows only the old name, 16 and later only the new one).
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS parallel_guc \gset
SET LOCAL :parallel_guc = on;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
:history_checksum \gset parallel_
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) ' || query INTO result;
    RETURN result::text;
END $$;
SELECT ok(plan ~ 'PARTIAL sum' AND plan ~ 'generate_history' AND plan ~ '"Workers Launched": [1-9]',
          'the simulator runs inside parallel workers')
  FROM pg_temp.plan_of(:'history_checksum') AS plan;
RESET :parallel_guc;
RESET max_parallel_workers_per_gather;

SELECT is(:'again_sum'::numeric, :'serial_sum'::numeric, 'the same rows on a second run');
SELECT is(:'parallel_sum'::numeric, :'serial_sum'::numeric, 'the same rows in a parallel plan');

-- Per row, one call per account in its own statement, against the table-wide result.
CREATE TEMP TABLE per_row (h text);
DO $$
DECLARE a record;
BEGIN
    FOR a IN SELECT * FROM public.nz_hist_accounts WHERE account_key LIKE 'account:1%' LOOP
        INSERT INTO per_row SELECT h::text FROM normalize.generate_history(a.account_key, a.tier, a.mrr, 24, '2025-06-18', 42) AS h;
    END LOOP;
END $$;
SELECT set_eq($$SELECT h FROM per_row$$,
              $$SELECT h::text FROM public.nz_hist_accounts AS a
                  CROSS JOIN LATERAL normalize.generate_history(a.account_key, a.tier, a.mrr, 24, '2025-06-18', 42) AS h
                 WHERE a.account_key LIKE 'account:1%'$$,
              'one call per account gives the rows of the whole-table call');

-- Split in two halves and generated separately.
SELECT is((SELECT sum(x) FROM (
              SELECT (SELECT sum(('x' || left(md5(h::text), 15))::bit(60)::bigint)
                        FROM public.nz_hist_accounts AS a
                        CROSS JOIN LATERAL normalize.generate_history(a.account_key, a.tier, a.mrr, 24, '2025-06-18', 42) AS h
                       WHERE hashtext(a.account_key) % 2 = 0) AS x
              UNION ALL
              SELECT (SELECT sum(('x' || left(md5(h::text), 15))::bit(60)::bigint)
                        FROM public.nz_hist_accounts AS a
                        CROSS JOIN LATERAL normalize.generate_history(a.account_key, a.tier, a.mrr, 24, '2025-06-18', 42) AS h
                       WHERE hashtext(a.account_key) % 2 <> 0)) AS halves),
          :'serial_sum'::numeric, 'two halves generated separately give the whole');

-- Devices and users: the same in a parallel plan and over two halves.
CREATE TABLE public.nz_hist_devices AS
SELECT 'device:' || g AS device_key, (5 + g % 95)::float8 AS health, 'user:' || g AS user_key,
       (ARRAY['admin', 'manager', 'standard'])[1 + g % 3] AS role, (g % 100)::float8 AS engagement
  FROM generate_series(1, 400) AS g;
ANALYZE public.nz_hist_devices;
\set device_checksum 'SELECT sum((''x'' || left(md5(h::text), 15))::bit(60)::bigint) FROM public.nz_hist_devices AS d CROSS JOIN LATERAL normalize.generate_device_history(d.device_key, d.health, 200, ''2025-06-18'', 42) AS h'
\set user_checksum 'SELECT sum((''x'' || left(md5(h::text), 15))::bit(60)::bigint) FROM public.nz_hist_devices AS d CROSS JOIN LATERAL normalize.generate_user_history(d.user_key, d.role, d.engagement, 52, ''2025-06-18'', 42) AS h'
SET LOCAL max_parallel_workers_per_gather = 0;
:device_checksum \gset device_serial_
:user_checksum \gset user_serial_
SET LOCAL :parallel_guc = on;
SET LOCAL max_parallel_workers_per_gather = 2;
:device_checksum \gset device_parallel_
:user_checksum \gset user_parallel_
SELECT ok(plan ~ 'generate_device_history' AND plan ~ '"Workers Launched": [1-9]',
          'the device simulator runs inside parallel workers')
  FROM pg_temp.plan_of(:'device_checksum') AS plan;
RESET :parallel_guc;
RESET max_parallel_workers_per_gather;
SELECT is(:'device_parallel_sum'::numeric, :'device_serial_sum'::numeric, 'device histories: the same rows in a parallel plan');
SELECT is(:'user_parallel_sum'::numeric, :'user_serial_sum'::numeric, 'user histories: the same rows in a parallel plan');
SELECT is((SELECT sum(('x' || left(md5(h::text), 15))::bit(60)::bigint)
             FROM (SELECT * FROM public.nz_hist_devices WHERE hashtext(device_key) % 2 = 0
                   UNION ALL SELECT * FROM public.nz_hist_devices WHERE hashtext(device_key) % 2 <> 0) AS d
            CROSS JOIN LATERAL normalize.generate_device_history(d.device_key, d.health, 200, '2025-06-18', 42) AS h),
          :'device_serial_sum'::numeric, 'device histories: two halves give the whole');
SELECT is((SELECT sum(('x' || left(md5(h::text), 15))::bit(60)::bigint)
             FROM (SELECT * FROM public.nz_hist_devices WHERE hashtext(user_key) % 2 = 0
                   UNION ALL SELECT * FROM public.nz_hist_devices WHERE hashtext(user_key) % 2 <> 0) AS d
            CROSS JOIN LATERAL normalize.generate_user_history(d.user_key, d.role, d.engagement, 52, '2025-06-18', 42) AS h),
          :'user_serial_sum'::numeric, 'user histories: two halves give the whole');

SELECT * FROM finish();
ROLLBACK;
