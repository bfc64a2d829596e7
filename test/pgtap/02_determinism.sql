-- Determinism: the same arguments give the same bytes in every plan shape.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(30);

-- Same seed, same md5; another seed, another md5 -- for every generator.
CREATE TEMP TABLE calls (name text, call text);
INSERT INTO calls VALUES
    ('random_normal', 'normalize.random_normal(5000, 75, 15, seed => %s)'),
    ('random_lognormal', 'normalize.random_lognormal(5000, 4.5, 0.4, seed => %s, lower => 50, upper => 200)'),
    ('random_beta', 'normalize.random_beta(5000, 4, 1.5, seed => %s, lower => 60, upper => 95)'),
    ('random_gamma', 'normalize.random_gamma(5000, 2, 15, seed => %s, lower => 20, upper => 70)'),
    ('random_exponential', 'normalize.random_exponential(5000, 0.1, seed => %s, lower => 10, upper => 40)'),
    ('random_uniform', 'normalize.random_uniform(5000, 0, 1, seed => %s)'),
    ('random_poisson', 'normalize.random_poisson(5000, 3, seed => %s)'),
    ('random_bernoulli', 'normalize.random_bernoulli(5000, 0.2, seed => %s)'),
    ('random_sample', 'normalize.random_sample(''gamma'', ''{2,15}'', 5000, %s)'),
    ('sample_profile', 'normalize.sample_profile(''mrr_tier_1'', 5000, %s)');

CREATE FUNCTION pg_temp.md5_of(call text, seed bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
    EXECUTE format('SELECT md5(string_agg(x::text, '','' ORDER BY i)) FROM %s WITH ORDINALITY AS t(x, i)',
                   format(call, seed)) INTO result;
    RETURN result;
END $$;

SELECT is(pg_temp.md5_of(call, 7), pg_temp.md5_of(call, 7), name || ': same seed, same values')
  FROM calls ORDER BY name;
SELECT isnt(pg_temp.md5_of(call, 7), pg_temp.md5_of(call, 8), name || ': another seed, other values')
  FROM calls ORDER BY name;

-- A forced-parallel plan gives the serial plan's values.
CREATE TABLE public.nz_keys AS SELECT 'acct-' || g AS k FROM generate_series(1, 100000) AS g;
ANALYZE public.nz_keys;

-- The keyed checksum is an order-free sum of per-row hashes, so that a
-- partial aggregate evaluates the generator inside the workers.
\set keyed_checksum 'SELECT sum((''x'' || left(md5(k || ''='' || normalize.random_lognormal_for(k, 4.5, 0.4, seed => 3, lower => 50, upper => 200)::text), 15))::bit(60)::bigint) FROM public.nz_keys'

SET LOCAL max_parallel_workers_per_gather = 0;
SELECT md5(string_agg(x::text, ',' ORDER BY i)) AS srf_serial
  FROM normalize.random_normal(20000, seed => 3) WITH ORDINALITY AS t(x, i) \gset
:keyed_checksum \gset keyed_serial_

-- PostgreSQL 16 renamed force_parallel_mode to debug_parallel_query (15
-- knows only the old name, 16 and later only the new one).
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS parallel_guc \gset
SET LOCAL :parallel_guc = on;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;

CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) ' || query INTO result;
    RETURN result::text;
END $$;

SELECT md5(string_agg(x::text, ',' ORDER BY i)) AS srf_parallel
  FROM normalize.random_normal(20000, seed => 3) WITH ORDINALITY AS t(x, i) \gset
:keyed_checksum \gset keyed_parallel_

SELECT ok(plan ~ 'PARTIAL sum\(.*random_lognormal_for' AND plan ~ '"Workers Launched": [1-9]',
          'the keyed generator runs inside parallel workers')
  FROM pg_temp.plan_of(:'keyed_checksum') AS plan;
SELECT ok(plan ~ '"Single Copy": true' AND plan ~ '"Workers Launched": [1-9]',
          'the set-returning generator runs inside a parallel worker')
  FROM pg_temp.plan_of('SELECT count(*) FROM normalize.random_normal(20000, seed => 3)') AS plan;
SELECT is(:'srf_parallel'::text, :'srf_serial'::text, 'a set-returning generator gives the same values in a parallel worker');
SELECT is(:'keyed_parallel_sum'::numeric, :'keyed_serial_sum'::numeric, 'a keyed generator gives the same values in a parallel scan');

RESET :parallel_guc;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- The keyed form gives a key the same value whatever the query around it.
CREATE TEMP TABLE reference AS
SELECT k, normalize.draw('health_operational', k, 11) AS v FROM public.nz_keys;

SELECT is_empty($$
    SELECT r.k FROM reference AS r
      JOIN (SELECT k, normalize.draw('health_operational', k, 11) AS v
              FROM public.nz_keys ORDER BY k DESC LIMIT 500) AS t USING (k)
     WHERE r.v <> t.v$$,
    'the same values in reverse order under LIMIT');
SELECT is_empty($$
    SELECT r.k FROM reference AS r
      JOIN (SELECT k, normalize.draw('health_operational', k, 11) AS v
              FROM public.nz_keys WHERE k LIKE 'acct-7%') AS t USING (k)
     WHERE r.v <> t.v$$,
    'the same values for a filtered subset');
SELECT is_empty($$
    WITH m AS MATERIALIZED (SELECT k FROM public.nz_keys ORDER BY md5(k) LIMIT 2000)
    SELECT r.k FROM reference AS r JOIN m USING (k)
     WHERE r.v <> normalize.draw('health_operational', m.k, 11)$$,
    'the same values in shuffled order through a join');
CREATE TEMP TABLE updated AS SELECT k, NULL::float8 AS v FROM public.nz_keys WHERE k LIKE 'acct-9%';
UPDATE updated SET v = normalize.draw('health_operational', k, 11);
SELECT is_empty($$SELECT u.k FROM updated AS u JOIN reference AS r USING (k) WHERE u.v <> r.v$$,
    'the same values written by UPDATE');

-- Split across partitions and generated separately, the halves give the whole.
CREATE TABLE public.nz_parts (k text) PARTITION BY HASH (k);
CREATE TABLE public.nz_parts_0 PARTITION OF public.nz_parts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE public.nz_parts_1 PARTITION OF public.nz_parts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO public.nz_parts SELECT k FROM public.nz_keys;
SELECT is(
    (SELECT md5(string_agg(v::text, ',' ORDER BY k)) FROM (
        SELECT k, normalize.random_gamma_for(k, 2, 15, seed => 5, kind => 'account') AS v FROM public.nz_parts_0
        UNION ALL
        SELECT k, normalize.random_gamma_for(k, 2, 15, seed => 5, kind => 'account') FROM public.nz_parts_1) AS t),
    (SELECT md5(string_agg(normalize.random_gamma_for(k, 2, 15, seed => 5, kind => 'account')::text, ',' ORDER BY k))
       FROM public.nz_keys),
    'partitions generated separately give the values of the whole table');
SELECT cmp_ok((SELECT count(*) FROM public.nz_parts_0), '>', 0::bigint, 'both partitions hold keys');

SELECT * FROM finish();
ROLLBACK;
