-- The C++/Postgres boundary under cancel: a call for 10^9 values stops
-- within 2 seconds of statement_timeout = '1s', with SQLSTATE 57014, and the
-- session goes on working.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(8);

-- Runs a query that should be cancelled; returns the time until the cancel
-- arrived and the SQLSTATE, or NULL if it finished.
CREATE FUNCTION pg_temp.time_to_cancel(query text, OUT elapsed interval, OUT code text)
LANGUAGE plpgsql AS $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
    EXECUTE query;
EXCEPTION WHEN query_canceled THEN
    elapsed := clock_timestamp() - started;
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE;
END $$;

SET LOCAL statement_timeout = '1s';
SELECT elapsed AS srf_elapsed, code AS srf_sqlstate
  FROM pg_temp.time_to_cancel('SELECT count(*) FROM normalize.random_normal(1000000000)') \gset
SET LOCAL statement_timeout = '1s';
SELECT elapsed AS keyed_elapsed, code AS keyed_sqlstate
  FROM pg_temp.time_to_cancel($$SELECT count(normalize.random_lognormal_for(g::text, 4.5, 0.4))
                                  FROM generate_series(1, 1000000000) AS g$$) \gset
SET LOCAL statement_timeout = '1s';
SELECT elapsed AS ks_elapsed, code AS ks_sqlstate
  FROM pg_temp.time_to_cancel($$SELECT normalize.ks_test(x, 'normal', '{0,1}')
                                  FROM normalize.random_normal(1000000000) AS x$$) \gset
SET LOCAL statement_timeout = 0;

SELECT is(:'srf_sqlstate'::text, '57014', 'statement_timeout cancels a set-returning generator');
SELECT cmp_ok(:'srf_elapsed'::interval, '<', interval '2 seconds',
              'the cancel of 10^9 values lands within 2 seconds (took ' || :'srf_elapsed' || ')');
SELECT is(:'keyed_sqlstate'::text, '57014', 'statement_timeout cancels a keyed generator over many rows');
SELECT cmp_ok(:'keyed_elapsed'::interval, '<', interval '2 seconds',
              'the keyed cancel lands within 2 seconds (took ' || :'keyed_elapsed' || ')');
SELECT is(:'ks_sqlstate'::text, '57014', 'statement_timeout cancels a KS test');
SELECT cmp_ok(:'ks_elapsed'::interval, '<', interval '2 seconds',
              'the KS cancel lands within 2 seconds (took ' || :'ks_elapsed' || ')');

-- The session is still usable, and the generators still give their values.
SELECT is((SELECT count(*) FROM normalize.random_normal(1000)), 1000::bigint,
          'the session works after the cancels');
SELECT is((SELECT round(avg(x)::numeric, 1) FROM normalize.random_normal(100000, 10, 1, seed => 1) AS x),
          10.0, 'and the generators are unharmed');

SELECT * FROM finish();
ROLLBACK;
