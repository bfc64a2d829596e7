-- A hostile object in public (functions and an operator shadowing the
-- built-ins the extension uses, found first on the caller's search_path)
-- does not change what the extension's functions return: they pin
-- search_path and qualify what they call.
\set ON_ERROR_STOP true
\set QUIET true
BEGIN;
SELECT plan(3);

CREATE TEMP VIEW calls AS
SELECT normalize.normalize_id(' ACCT-0042 ') AS normalized,
       normalize.stable_key('account', ' 0042 ') AS account_key,
       normalize.id_number('cust_42') AS id_number,
       normalize.tier_for_mrr(150) AS tier,
       normalize.html_escape('<b>"Tom''s"</b>') AS escaped,
       round((normalize.wilson_interval(5, 100, 0.95)).low::numeric, 6) AS wilson_low,
       round(normalize.random_normal_for('acct-1', 50, 5, seed => 42)::numeric, 6) AS keyed_draw,
       (SELECT count(*) FROM normalize.feature_catalog AS c WHERE c.entity OPERATOR(pg_catalog.=) 'device') AS device_features;
CREATE TEMP TABLE clean AS SELECT * FROM calls;

CREATE SCHEMA IF NOT EXISTS public;
CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE sql AS $$ SELECT 'hostile' $$;
CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'hostile' $$;
CREATE FUNCTION public.upper(text) RETURNS text LANGUAGE sql AS $$ SELECT 'hostile' $$;
CREATE FUNCTION public.replace(text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'hostile' $$;
CREATE FUNCTION public.sqrt(float8) RETURNS float8 LANGUAGE sql AS $$ SELECT -1::float8 $$;
CREATE FUNCTION public.hostile_eq(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_eq);
CREATE FUNCTION public.hostile_concat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'hostile' $$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_concat);
-- pgTAP itself falls to these (it builds SQL with ||): nothing of it runs
-- until the built-ins come first again.
SET LOCAL search_path = public, pg_catalog;
CREATE TEMP TABLE attacked AS SELECT * FROM calls;
CREATE TEMP TABLE in_place AS
SELECT btrim('x') AS trimmed, 'a'::text = 'a' AS equal, 'a'::text || 'b' AS joined;
SET LOCAL search_path = pg_catalog, public;

SELECT results_eq('SELECT * FROM in_place', $$VALUES ('hostile'::text, false, 'hostile'::text)$$,
                  'the hostile objects were in place and found first on that search_path');
SELECT results_eq('SELECT * FROM attacked', 'SELECT * FROM clean',
                  'the extension''s functions return the same with hostile objects first on the search path');
SELECT is_empty($$SELECT p.proname FROM pg_proc AS p
                   WHERE p.pronamespace = 'normalize'::regnamespace AND p.prosecdef$$,
                'no function is SECURITY DEFINER');

SELECT * FROM finish();
ROLLBACK;
