#!/usr/bin/env bash
# Bad-input battery: every SQL-callable function and procedure of schema
# normalize, listed from pg_proc, called with edge values of its argument
# types, in a bounded combinatorial design. Fails (TAP "not ok") on an error
# with SQLSTATE XX000 (internal_error), a backend crash, or a call that
# outlives statement_timeout by more than 2 seconds; every other SQLSTATE is
# an expected refusal. Prints counts as TAP comments and keeps one line per
# call in $NZ_ARTIFACTS/bad_inputs.log (the findings alone in
# bad_inputs.findings).
#
# Design (the Python below says more where it is done):
# - Functions come from the catalog, helpers included. Skipped, and only
#   these: functions with an `internal` argument (SQL cannot build such a
#   value; they are aggregates' support functions, reached through their
#   aggregates, which are called) and trigger functions (the executor refuses
#   to call them outside a trigger).
# - Each function has one or more good argument lists (baselines): a small
#   hand-kept table for the functions that need real values (families with
#   their params, profile and entity names, staged temp tables), else the
#   declared DEFAULTs, else a per-name and a per-type table.
# - Around each baseline: every argument in turn takes every edge value of
#   its type (the others good); for functions that do not write (not
#   VOLATILE), every pair of numeric, text or date arguments also takes the
#   same edge value at once (both 1e11, both NaN, both '4713-11-24 BC', ...).
#   Array arguments take structural edges (NULL, empty, {NULL}, a NULL
#   element, two dimensions, lower bound 0, one element more or fewer, so
#   arrays of unequal lengths, 100,000 elements) and the scalar edges as
#   elements. A database with ENCODING 'SQL_ASCII' takes invalid UTF-8 in
#   every text, text[] and jsonb argument (UTF8 databases refuse to build
#   such text at all).
# - Both databases hold the demo source, registered, and the whole pipeline
#   run on it over 2 months, so that the writing functions reach their real
#   code. Every call runs in a transaction that is rolled back, except
#   procedures (run_pipeline commits, and refuses to run inside a
#   transaction block): they run last, at top level.
# - statement_timeout is set per session (NZ_BAD_INPUTS_TIMEOUT, default 5
#   s) and each call's wall time is measured client-side. A call that has
#   not returned 20 s after its timeout is cancelled, then terminated, so
#   the battery never hangs. An edge that runs into statement_timeout alone
#   is not tried again in pairs or in the function's other baselines. At most NZ_BAD_INPUTS_MAX_CALLS calls (default
#   25000, above the design's 20,078; pairs are dropped first); the run
#   stops at NZ_BAD_INPUTS_BUDGET seconds (default 900) and fails if it
#   gets there. NZ_BAD_INPUTS_DRY_RUN=1 prints the design without running
#   it; NZ_BAD_INPUTS_SELFTEST=1 runs planted failures instead (an XX000, an
#   overrun, a crash) to show that each makes the battery fail.
# - One psql session per database runs the calls one at a time through a
#   pipe; markers written with \warn map each error (VERBOSITY verbose, so
#   with its SQLSTATE) to its call. A lost connection ends the session: the
#   call is recorded as a crash, the server log is read, the server waited
#   for, and a new session continues with the next call.
#
# Needs PGHOST/PGPORT/PGUSER of a running cluster (as superuser), NZ_PG_BIN,
# python3 (standard library only). The server log is read from
# NZ_SERVER_LOG, else $PGHOST/server.log (where scripts/lib.sh puts it),
# else pg_current_logfile(); without one, crashes are still seen as lost
# connections.
#
#   NZ_PG_BIN=... bash test/bad_inputs.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/tap.sh"
artifacts=${NZ_ARTIFACTS:-/tmp}
mkdir -p "$artifacts"
main=nz_bad_inputs
ascii=nz_bad_inputs_ascii

echo "1..8"
started=$(date +%s)
# Both databases: the extension, the demo source registered, the pipeline
# run over 2 months (about 10 s), and a few relations the regclass
# arguments take as edge values.
setup_db() {  # database
    psql_ -d "$1" >/dev/null 2>>"$artifacts/bad_inputs.setup.log" <<'SQL'
CREATE EXTENSION normalize;
SELECT count(*) FROM normalize.create_demo_source('saas_raw');
SELECT count(*) FROM normalize.use_sources('saas_raw');
CALL normalize.run_pipeline(seed => 42, months => 2, as_of => '2025-06-18');
CREATE TABLE public.bi_accounts AS
    SELECT account_key, tier, mrr, created_at FROM normalize.accounts ORDER BY account_key LIMIT 5;
CREATE TABLE public.bi_empty (customer_id text, account_id text, account_key text, tier text, mrr float8,
                              created_at date);
CREATE TABLE public.bi_wrong (customer_id boolean, account_id jsonb, account_key integer, tier integer, mrr text,
                              created_at text);
CREATE SEQUENCE public.bi_seq;
CREATE MATERIALIZED VIEW public.bi_matview AS SELECT 1 AS customer_id, 'x'::text AS account_key;
-- A tenth of the demo source (customers 0-9, the rows that belong to them
-- and the orphans), registered before the procedures run: each call of
-- run_pipeline runs all six phases on it in about 1.5 s, where on the whole
-- demo source every valid call would run into statement_timeout in the
-- features phase (5 s each) and never reach the phases after it.
CREATE SCHEMA bi_tiny;
CREATE VIEW bi_tiny.customers AS SELECT * FROM saas_raw.customers WHERE customer_id < 10;
DO $$
DECLARE
    e text;
    id text;
BEGIN
    FOR e, id IN VALUES ('subscriptions', 'subscription_id'), ('locations', 'location_id'), ('devices', 'device_id'),
                        ('users', 'user_id'), ('campaigns', 'campaign_id') LOOP
        EXECUTE format('CREATE VIEW bi_tiny.%I AS SELECT s.* FROM saas_raw.%I AS s
                          JOIN saas_raw.ground_truth AS g ON g.entity = %L AND g.source_id = s.%I::text
                         WHERE g.customer_id < 10 OR g.orphan', e, e, e, id);
    END LOOP;
END
$$;
SQL
}
psql_ -d postgres -c "DROP DATABASE IF EXISTS $main" -c "DROP DATABASE IF EXISTS $ascii" \
      -c "CREATE DATABASE $main" \
      -c "CREATE DATABASE $ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" 2>/dev/null
setup_ok=yes
setup_db "$main" || setup_ok="no: setting up $main failed"
[ "$setup_ok" = yes ] && { setup_db "$ascii" || setup_ok="no: setting up $ascii failed"; }
check "both databases hold the demo source and the pipeline's results" "yes" "$setup_ok"
[ "$setup_ok" = yes ] || { echo "Bail out! $setup_ok"; exit 1; }

server_log=${NZ_SERVER_LOG:-}
if [ -z "$server_log" ] && [ -f "${PGHOST:-}/server.log" ]; then server_log=$PGHOST/server.log; fi
if [ -z "$server_log" ]; then
    server_log=$(psql_ -d postgres -Atc "SELECT CASE WHEN pg_current_logfile() IS NULL THEN ''
                                                 WHEN pg_current_logfile() LIKE '/%' THEN pg_current_logfile()
                                                 ELSE current_setting('data_directory') || '/' || pg_current_logfile() END")
fi
[ -n "$server_log" ] && [ -r "$server_log" ] || { echo "# no readable server log: crashes are seen as lost connections only"; server_log=; }

counts=$artifacts/bad_inputs.counts
findings=$artifacts/bad_inputs.findings
rm -f "$counts" "$findings"
set +e
NZ_BI_MAIN=$main NZ_BI_ASCII=$ascii NZ_BI_SERVER_LOG=$server_log NZ_BI_COUNTS=$counts \
NZ_BI_FINDINGS=$findings NZ_BI_LOG=$artifacts/bad_inputs.log python3 - <<'PY'
import json, os, queue, re, signal, subprocess, sys, threading, time

PSQL = os.path.join(os.environ['NZ_PG_BIN'], 'psql')
MAIN, ASCII = os.environ['NZ_BI_MAIN'], os.environ['NZ_BI_ASCII']
TIMEOUT = float(os.environ.get('NZ_BAD_INPUTS_TIMEOUT', '5'))
MAX_CALLS = int(os.environ.get('NZ_BAD_INPUTS_MAX_CALLS', '25000'))
BUDGET = float(os.environ.get('NZ_BAD_INPUTS_BUDGET', '900'))
OVERRUN = 2.0          # a call may outlive statement_timeout by this much
HANG = 20.0            # after timeout + HANG the call is cancelled, then terminated
SERVER_LOG = os.environ.get('NZ_BI_SERVER_LOG') or None
AS_OF = '2025-06-18'   # replaces CURRENT_DATE defaults: the same calls every day
T0 = time.monotonic()


def psql_once(db, sql):
    out = subprocess.run([PSQL, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return out.stdout.strip()


# ---------------------------------------------------------------- catalog
CATALOG = r"""
SELECT json_agg(f ORDER BY f.name, f.identity) FROM (
  SELECT p.oid::regprocedure::text AS signature, p.proname AS name, p.prokind AS kind,
         p.provolatile AS volatility, p.proisstrict AS strict, p.prorettype::regtype::text AS rettype,
         pg_get_function_identity_arguments(p.oid) AS identity,
         coalesce((SELECT json_agg(json_build_object('name', coalesce(a.name, ''), 'type', format_type(a.type, NULL),
                                                     'default', pg_get_function_arg_default(p.oid, a.pos::int))
                                   ORDER BY a.pos)
                     FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                                 coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs::int])),
                                 p.proargnames) WITH ORDINALITY AS a(type, mode, name, pos)
                    WHERE a.mode IN ('i', 'b', 'v')), '[]') AS args
    FROM pg_proc AS p WHERE p.pronamespace = 'normalize'::regnamespace) AS f
"""
functions = json.loads(psql_once(MAIN, CATALOG))


def q(s):
    return "'" + s.replace("'", "''") + "'"


def sql_value(v, typ):
    if v is None:
        return 'NULL::' + typ
    if isinstance(v, list):
        elt = typ[:-2]
        if not v:
            return "'{}'::" + typ
        return 'ARRAY[%s]::%s' % (', '.join(sql_value(e, elt) for e in v), typ)
    return q(v) + '::' + typ


# Declared defaults, evaluated once into JSON so that arrays come back as
# lists and can be varied element by element.
defaults = sorted({a['default'] for f in functions for a in f['args'] if a['default']})
def_values = {}
if defaults:
    row = psql_once(MAIN, 'SELECT json_build_array(%s)' % ', '.join(
        'to_json((%s))' % d.replace('CURRENT_DATE', "'%s'::date" % AS_OF) for d in defaults))
    for d, v in zip(defaults, json.loads(row, parse_float=str, parse_int=str)):
        def_values[d] = v


def from_json(v, typ):
    if typ == 'jsonb':
        return v if v is None else json.dumps(v)
    if isinstance(v, list):
        return [from_json(e, typ[:-2]) for e in v]
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return v


# ---------------------------------------------------------------- edges
# Edge values are (label, SQL expression of the element). Labels are shared
# across types so that pairs of arguments can take "the same" edge value.
def lits(pairs):
    return [(l, 'NULL' if v is None else q(v)) for l, v in pairs]

INT_EDGES = lits([('null', None), ('0', '0'), ('-1', '-1'), ('1', '1'), ('max_i32', '2147483647'),
                  ('min_i32', '-2147483648'), ('1e5', '100000')])
# No legal large n (up to 10^10 is accepted): each would run to the timeout.
BIGINT_EDGES = lits([('null', None), ('0', '0'), ('-1', '-1'), ('1', '1'),
                     ('max_i64', '9223372036854775807'), ('min_i64', '-9223372036854775808'),
                     ('1e11', '100000000000'), ('1e12', '1000000000000')])
FLOAT_EDGES = lits([
    ('null', None), ('0', '0'), ('-0', '-0'), ('-1', '-1'), ('1', '1'), ('1e11', '1e11'), ('1e12', '1e12'),
    ('max_i64', '9223372036854775807'), ('min_i64', '-9223372036854775808'), ('1e308', '1e308'),
    ('-1e308', '-1e308'), ('nan', 'NaN'), ('inf', 'Infinity'), ('-inf', '-Infinity'), ('tiny', '4.9e-324'),
    ('1e-300', '1e-300')])
NUMERIC_EDGES = lits([
    ('null', None), ('0', '0'), ('-1', '-1'), ('1', '1'), ('1e11', '1e11'), ('1e12', '1e12'),
    ('max_i64', '9223372036854775807'), ('min_i64', '-9223372036854775808'), ('1e308', '1e308'),
    ('nan', 'NaN'), ('inf', 'Infinity'), ('-inf', '-Infinity'), ('1e1000', '1e1000'), ('-1e1000', '-1e1000'),
    ('1e-1000', '1e-1000')])
TEXT_EDGES = [
    ('null', 'NULL'), ('empty', "''"), ('space', "' '"), ('long', "repeat('x', 1048576)"),
    ('long_name', "repeat('a', 100)"), ('quote', q("it's")), ('dquote', q('say "hi"')),
    ('backslash', q('back\\slash\\')), ('injection', q("x'); DROP TABLE normalize.accounts; --")),
    ('format', q('%s %I %L %1$s %')), ('upper', q('CUSTOMERS')), ('padded', q('  customers  ')),
    ('num_max', q('9223372036854775807')), ('num_over', q('9223372036854775808')),
    ('num_min', q('-9223372036854775808')), ('num_long', "repeat('9', 400)"),
    ('prefix_over', q('acct-99999999999999999999')), ('zeros', q('0' * 40 + '1')), ('zero', q('0')),
    ('neg', q('-1')), ('nan', q('NaN')), ('inf', q('Infinity')), ('unicode', q('é✓😀')),
    ('control', "E'\\t\\n\\r\\x01'"), ('star', q('*')), ('dotted', q('public.x')),
    ('html', q('<script>alert("&")</script>'))]
# Only where the database encoding does not check: SQL_ASCII.
BAD_UTF8_EDGES = [
    ('utf8_ff', "E'\\xff'"), ('utf8_fffe', "E'\\xff\\xfe'"), ('utf8_truncated', "E'\\xc3'"),
    ('utf8_inside', "E'acct-\\x80\\xff42'"), ('utf8_surrogate', "E'\\xed\\xa0\\x80'"),
    ('utf8_over_max', "E'\\xf4\\x90\\x80\\x80'"), ('utf8_overlong', "E'\\xc0\\xaf'"),
    ('utf8_long', "repeat(E'\\xfe\\xff', 100000)")]
DATE_EDGES = lits([('null', None), ('bc', '4713-11-24 BC'), ('max', '5874897-12-31'), ('inf', 'infinity'),
                   ('-inf', '-infinity'), ('ad1', '0001-01-01'), ('y9999', '9999-12-31')])
BOOL_EDGES = lits([('null', None), ('true', 'true'), ('false', 'false')])
REGCLASS_EDGES = [
    ('null', 'NULL'), ('oid0', '0::oid'), ('dangling', '4294967295::oid'), ('catalog', q('pg_class')),
    ('view', q('pg_stat_activity')), ('index', q('pg_class_oid_index')), ('sequence', q('public.bi_seq')),
    ('matview', q('public.bi_matview')), ('empty_table', q('public.bi_empty')),
    ('wrong_types', q('public.bi_wrong')), ('normalized', q('normalize.accounts')), ('id_map', q('normalize.id_map')),
    ('source', q('saas_raw.subscriptions'))]
JSON_VALUES = [('null', 'null'), ('0', '0'), ('-1', '-1'), ('1e308', '1e308'), ('-1e308', '-1e308'),
               ('1e1000', '1e1000'), ('1e-1000', '1e-1000'), ('nan', '"NaN"'), ('inf', '"Infinity"'),
               ('empty', '""'), ('word', '"x"'), ('array', '[]'), ('object', '{}'), ('true', 'true'),
               ('quote', json.dumps("it's \"x\" \\")), ('long', json.dumps('x' * 100000))]

SCALAR = {'integer': INT_EDGES, 'bigint': BIGINT_EDGES, 'double precision': FLOAT_EDGES,
          'numeric': NUMERIC_EDGES, 'text': TEXT_EDGES, 'date': DATE_EDGES, 'boolean': BOOL_EDGES,
          'regclass': REGCLASS_EDGES}
DOMAIN = {'integer': 'num', 'bigint': 'num', 'double precision': 'num', 'numeric': 'num',
          'text': 'text', 'date': 'date'}
TYPE_GOOD = {'integer': '3', 'bigint': '3', 'double precision': '0.5', 'numeric': '100', 'text': 'x',
             'date': AS_OF, 'boolean': 'false', 'jsonb': '{}', 'regclass': 'saas_raw.customers',
             'text[]': ['a', 'b'], 'bigint[]': ['1', '2'], 'double precision[]': ['0.5', '1.5'],
             '"normalize".quality_check[]': ['(completeness,accounts,"relationships linked",1,1,pass,0,{},ok)']}
# Text pairs take a few of the text edges, not all of them.
PAIR_TEXT = {'null', 'empty', 'long', 'quote', 'num_max', 'unicode'}


def array_text(elems):
    return '{' + ','.join('NULL' if e is None else '"' + e.replace('\\', '\\\\').replace('"', '\\"') + '"'
                          for e in elems) + '}'


def scalar_edges(typ, good, bad_utf8=False):
    if typ == 'text' and bad_utf8:
        return [(l, '(%s)::text' % e) for l, e in BAD_UTF8_EDGES]
    return [(l, '(%s)::%s' % (e, typ)) for l, e in SCALAR[typ]]


def array_edges(typ, good, bad_utf8=False):
    elt = typ[:-2]
    good = list(good or [])
    g = [sql_value(e, elt) for e in good]
    out = []
    if not bad_utf8:
        one = good[0] if good else TYPE_GOOD[typ][0]
        out += [('null', 'NULL::' + typ), ('empty', "'{}'::" + typ), ('null_elem', 'ARRAY[NULL]::' + typ),
                ('with_null', 'ARRAY[%s]::%s' % (', '.join(g + ['NULL']), typ)),
                ('two_dim', 'ARRAY[ARRAY[%s], ARRAY[%s]]::%s' % (', '.join(g or [sql_value(one, elt)]),
                                                                  ', '.join(g or [sql_value(one, elt)]), typ)),
                ('lower_bound_0', '%s::%s' % (q('[0:%d]=%s' % (max(len(good), 1) - 1, array_text(good or [one]))),
                                              typ)),
                ('one_more', 'ARRAY[%s]::%s' % (', '.join(g + [sql_value(good[-1] if good else one, elt)]), typ)),
                ('one_fewer', 'ARRAY[%s]::%s' % (', '.join(g[:-1]), typ) if len(g) > 1 else "'{}'::" + typ),
                ('big', '(SELECT array_agg(g::%s) FROM generate_series(1, 100000) AS g)' % elt)]
    for label, e in scalar_edges(elt, None, bad_utf8):
        if label == 'null':
            continue
        if DOMAIN.get(elt) == 'num':      # every element takes the value: lengths stay equal
            elems = [e] * max(len(good), 1)
        else:                              # the last element takes it
            elems = g[:-1] + [e]
        out.append((label, 'ARRAY[%s]::%s' % (', '.join(elems), typ)))
    return out


def json_edges(good, bad_utf8=False):
    try:
        obj = json.loads(good) if good else {}
    except ValueError:
        obj = {}
    out = []
    keys = list(obj) if isinstance(obj, dict) else []
    def with_values(v):
        return '{' + ', '.join('%s: %s' % (json.dumps(k), v) for k in keys) + '}'
    if bad_utf8:
        # jsonb strings holding invalid UTF-8: through the parser as a key and
        # as a value, and built from text for every key of the good object
        for l, e in BAD_UTF8_EDGES:
            out.append((l + '_key', "('{\"' || %s || '\": 1}')::jsonb" % e))
            out.append((l + '_value', "('{\"%s\": \"' || %s || '\"}')::jsonb"
                        % ((keys[0] if keys else 'k').replace("'", "''"), e)))
            if keys:
                out.append((l + '_built', 'jsonb_build_object(%s)' % ', '.join('%s, %s' % (q(k), e) for k in keys)))
        return out
    out += [('null', 'NULL::jsonb'), ('empty_object', "'{}'::jsonb"), ('array', "'[]'::jsonb"),
            ('json_null', "'null'::jsonb"), ('string', "'\"x\"'::jsonb"), ('number', "'0'::jsonb"),
            ('empty_key', "'{\"\": 1}'::jsonb"),
            ('deep', "(repeat('[', 5000) || repeat(']', 5000))::jsonb"),
            ('big', "(SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 10000) AS g)")]
    if keys:
        for l, v in JSON_VALUES:
            out.append(('value_' + l, q(with_values(v)) + '::jsonb'))
        extra = dict(obj); extra['zzz_unknown'] = 1
        out.append(('extra_key', q(json.dumps(extra)) + '::jsonb'))
        fewer = dict(obj); fewer.pop(keys[0])
        out.append(('missing_key', q(json.dumps(fewer)) + '::jsonb'))
    return out


def edges_for(typ, good, bad_utf8=False):
    """None when the type has no edge table (reported, and a failure)."""
    if typ in SCALAR:
        if bad_utf8 and typ != 'text':
            return []
        return scalar_edges(typ, good, bad_utf8)
    if typ.endswith('[]') and typ[:-2] in SCALAR:
        if bad_utf8 and typ != 'text[]':
            return []
        return array_edges(typ, good, bad_utf8)
    if typ == 'jsonb':
        return json_edges(good, bad_utf8)
    if typ == CHECKS:
        return [] if bad_utf8 else checks_edges()
    return None


# The rows of quality_checks() as readiness_metrics takes them: structural
# edges, rows of NULLs and of extreme values, and the real checks.
CHECKS = '"normalize".quality_check[]'


def checks_edges():
    elt = CHECKS[:-2]
    row = lambda *v: 'ROW(%s)::%s' % (', '.join(v), elt)
    return [('null', 'NULL::' + CHECKS), ('empty', "'{}'::" + CHECKS), ('null_elem', 'ARRAY[NULL]::' + CHECKS),
            ('null_fields', 'ARRAY[%s]' % row(*['NULL'] * 9)),
            ('extremes', 'ARRAY[%s, %s]' % (
                row("'completeness'", "'x'", "'relationships linked'", "'NaN'", "'-Infinity'", "'fail'",
                    '-9223372036854775808', "'{}'", "repeat('x', 100000)"),
                row("'labels'", "''", "'source rows linked'", "'Infinity'", "'NaN'", "'pass'", 'NULL',
                    "ARRAY[NULL]::text[]", "'<script>'"))),
            ('real', 'ARRAY(SELECT ROW(q.*)::%s FROM normalize.quality_checks() AS q)' % elt)]


# ------------------------------------------------------------- baselines
# Hand-kept good argument lists, by function name or by name(identity);
# values are literals (text), lists of them for arrays.
# "_fixed" arguments keep their baseline value (the selector of a baseline,
# such as the family: its edges are taken in the first baseline only);
# "_prelude" runs in the call's transaction before it.
FAMILIES = [('normal', ['0', '1'], None), ('lognormal', ['0', '1'], None), ('beta', ['2', '3'], None),
            ('gamma', ['2', '3'], None), ('exponential', ['1'], None), ('uniform', [], ('0', '1')),
            ('poisson', ['4'], None), ('bernoulli', ['0.3'], None)]
PROFILE_JSON = {'normal': '{"mean": 0, "sd": 1}', 'lognormal': '{"mu": 0, "sigma": 1}',
                'beta': '{"alpha": 2, "beta": 3}', 'gamma': '{"shape": 2, "scale": 3}',
                'exponential': '{"rate": 1}', 'uniform': '{}', 'poisson': '{"lambda": 4}',
                'bernoulli': '{"p": 0.3}'}


def per_family(extra=None, json_params=False):
    out = []
    for i, (fam, params, bounds) in enumerate(FAMILIES):
        b = {'family': fam, 'params': PROFILE_JSON[fam] if json_params else params}
        if bounds and not json_params:
            b['lower'], b['upper'] = bounds
        b.update(extra or {})
        if i:
            b['_fixed'] = ['family']
        out.append(b)
    return out


def variants(key, values, base=None):
    """One baseline per value of a selector argument, edges taken in the first."""
    return [dict(base or {}, **{key: v}, **({'_fixed': [key]} if i else {})) for i, v in enumerate(values)]


def prelude_targets():
    return ('CREATE TEMP TABLE bi_targets ON COMMIT DROP AS '
            'SELECT a.source_id AS raw, a.account_key AS target_key FROM normalize.accounts AS a;')


RULES_STAGED = {'entity': 'subscriptions', 'reference': 'account', 'min_share': '0.5', 'margin': '0.1'}
# The targets of devices.location_id with their accounts, and the accounts'
# raw IDs, as reconcile_ids stages them.
LOCATIONS_STAGED = ('CREATE TEMP TABLE bi_locations ON COMMIT DROP AS '
                    'SELECT l.source_id AS raw, l.location_key AS target_key, l.account_key FROM normalize.locations AS l; '
                    'CREATE TEMP TABLE bi_accounts ON COMMIT DROP AS '
                    'SELECT a.source_id AS raw, a.account_key AS target_key FROM normalize.accounts AS a;')
# A value map of campaigns.account as resolve_reference writes it, and the
# accounts numbered for the assign policy, as reconcile_ids stages them.
MAP_STAGED = ('CREATE TEMP TABLE bi_map ON COMMIT DROP AS '
              'SELECT m.raw_value AS raw, m.rows, m.account_key AS target_key, m.rule, NULL::text AS reason, '
              'NULL::varchar AS target_account FROM normalize.account_map AS m WHERE m.entity = \'campaigns\'; '
              'CREATE TEMP TABLE bi_ord ON COMMIT DROP AS '
              'SELECT (row_number() OVER (ORDER BY a.account_key) - 1)::bigint AS idx, a.account_key '
              'FROM normalize.accounts AS a;')
ROWS_STAGED = {'entity': 'campaigns', 'orphan_policy': 'quarantine', 'n_accounts': '100', 'account_map': 'bi_map',
               'location_map': 'bi_map', 'accounts_ordered': 'bi_ord', 'per_account': 'bi_ord'}
# The demo's empty tables, for the steps of create_demo_source that fill them.
DEMO_TABLES = "CREATE SCHEMA bi_demo; SELECT normalize.demo_create_tables('bi_demo');"
SPLIT_INPUT = ("CREATE TEMP TABLE bi_split_input ON COMMIT DROP AS "
               "SELECT a.account_key::varchar AS key, a.tier AS stratum, 0.5::float8 AS u, date '2025-06-01' AS as_of "
               "FROM normalize.accounts AS a;")
HAND = {
    'random_beta': [{'alpha': '2', 'beta': '3'}], 'random_beta_for': [{'alpha': '2', 'beta': '3'}],
    'random_gamma': [{'shape': '2'}], 'random_gamma_for': [{'shape': '2'}],
    'random_poisson': [{'lambda': '4'}], 'random_poisson_for': [{'lambda': '4'}],
    'random_bernoulli': [{'p': '0.3'}], 'random_bernoulli_for': [{'p': '0.3'}],
    'random_sample': per_family(), 'random_sample_for': per_family(),
    'check_distribution': per_family(), 'distribution_cdf': per_family({'x': '0.5'}),
    'profile_params': per_family(json_params=True),
    'family_parameters': variants('family', [f for f, _, _ in FAMILIES]),
    'sample_profile': variants('profile', ['mrr_tier_1', 'health_operational', 'churn_annual_tier_1']),
    'draw': variants('profile', ['mrr_tier_1', 'health_operational', 'churn_annual_tier_1'], {'key': 'dev-17'}),
    'ks_test(value double precision, profile text)': [{'value': ['0.5', '0.9', '0.95'], 'profile': 'device_uptime'}],
    'ks_test(value double precision, family text, params double precision[])':
        [{'value': ['-1', '0', '0.5', '1'], 'family': 'normal', 'params': ['0', '1']}],
    'ks_test(value double precision, family text, params double precision[], lower double precision, '
    'upper double precision)': [{'value': ['-1', '0', '0.5', '1'], 'family': 'normal', 'params': ['0', '1'],
                                 'lower': '-2', 'upper': '2'}],
    'value_counts': [{'value': ['a', 'b', 'a']}],
    'normalize_id': [{'raw': 'ACCT-0042'}], 'id_number': [{'raw': 'ACCT-0042'}],
    'id_prefix': [{'raw': 'ACCT-0042'}], 'id_digits': [{'raw': 'ACCT-0042'}],
    'stable_key(kind text, raw text)': [{'kind': 'account', 'raw': 'ACCT-0042'}],
    'stable_key(kind text, raw bigint)': [{'kind': 'account', 'raw': '42'}],
    'check_source': [{'entity': 'customers', 'relation': 'saas_raw.customers',
                      'columns': '{"customer_id": "customer_id"}'},
                     {'entity': 'subscriptions', 'relation': 'saas_raw.subscriptions', '_fixed': ['entity']}],
    'register_source': [{'entity': 'customers', 'relation': 'saas_raw.customers',
                         'columns': '{"customer_id": "customer_id"}'},
                        {'entity': 'subscriptions', 'relation': 'saas_raw.subscriptions', '_fixed': ['entity']}],
    'use_sources': [{'schema_name': 'saas_raw'}],
    'source_query': [{'entity': 'subscriptions'}], 'require_entity': [{'entity': 'subscriptions'}],
    'stage_entity': [{'entity': 'devices'}],
    'require_orphan_policy': [{'orphan_policy': 'assign'}],
    'require_staged': [{'argument': 'account_map', 'name': 'bi_map', '_prelude': MAP_STAGED}],
    'unregister_source': [{'entity': 'devices'}], 'is_registered': [{'entity': 'devices'}],
    'load_customers': [{'_prelude': 'SELECT normalize.clear_reconciliation();'}],
    'restore_foreign_keys': [{'_prelude': ' '.join('ALTER TABLE normalize.%s DROP CONSTRAINT %s_%s_fk;' % (t, t, r)
                                                   for t, r in [('locations', 'account'), ('subscriptions', 'account'),
                                                                ('devices', 'account'), ('devices', 'location'),
                                                                ('users', 'account'), ('campaigns', 'account')])}],
    'build_account_map': [{'entities': ['campaigns'], 'maps': ['bi_map'], '_prelude': MAP_STAGED
                           + ' DROP INDEX normalize.account_map_raw_value_key;'
                             ' ALTER TABLE normalize.account_map DROP CONSTRAINT account_map_account_key_fkey;'
                             ' TRUNCATE normalize.account_map;'}],
    'stage_location_targets': variants('orphan_policy', ['assign', 'quarantine'],
                                       {'targets': 'bi_targets_l', 'per_account': 'bi_per_l'}),
    'keyed_source_query': [{'entity': 'devices'}], 'clear_outputs': [{'phase': 'quality'}],
    'phases_from': [{'phase': 'history'}], 'empty_phases_from': [{'phase': 'quality', 'keep_own': 'true'}],
    'stage_phase': [{'phase': 'training'}],
    'swap_in_phase': [{'phase': 'training', '_prelude': "SELECT normalize.stage_phase('training');"}],
    'swap_table_storage': [{'target': 'normalize.training_info', 'staging': 'normalize.next_training_info',
                            '_prelude': "SELECT normalize.stage_phase('training'); "
                                        "ALTER TABLE normalize.next_training_info ADD PRIMARY KEY (singleton);"}],
    'entity_rows_query': variants('entity', ['campaigns', 'devices'], ROWS_STAGED),
    'load_entity': [dict(ROWS_STAGED, _prelude=MAP_STAGED + ' TRUNCATE normalize.campaigns;')],
    'record_unlinked_rows': [{'entity': 'campaigns', 'orphan_policy': 'quarantine', 'account_map': 'bi_map',
                              '_prelude': MAP_STAGED}],
    'record_link_issues': [{'entity': 'campaigns', 'orphan_policy': 'assign', 'account_map': 'bi_map',
                            '_prelude': MAP_STAGED}],
    'settle_keys': [{'entity': 'campaigns',
                     '_prelude': "ALTER TABLE normalize.campaigns DROP CONSTRAINT campaigns_pkey; "
                                 "DELETE FROM normalize.key_case WHERE entity = 'campaigns';"}],
    'require_reference': [{'entity': 'devices', 'reference': 'location'}],
    'stage_reference': [{'entity': 'subscriptions', 'reference': 'account'}],
    'rule_candidates': [{'entity': 'subscriptions', 'reference': 'account',
                         'refs': ['10000001', '10000002', 'ACCT-0003'], 'ref_rows': ['1', '2', '3'],
                         '_prelude': "SELECT normalize.stage_reference('subscriptions', 'account');"}],
    'score_id_rules': [{'refs': ['10000001', '10000002', 'ACCT-0003'], 'ref_rows': ['1', '2', '3'],
                        'targets': ['1', '2', '3']}],
    'match_id_values': variants('rule', ['offset', 'exact', 'normalized', 'number'],
                                {'offset': '10000000', 'refs': ['10000001', '10000002'], 'ref_rows': ['1', '2'],
                                 'target_ids': ['1', '2'], 'target_keys': ['account:1', 'account:2']}),
    'resolve_reference': [{'entity': 'subscriptions', 'reference': 'account', 'refs': ['10000001', '10000002'],
                           'ref_rows': ['1', '2'], 'targets': 'bi_targets', 'min_share': '0.5', 'margin': '0.1',
                           'account_map': '', 'map': 'bi_map',
                           '_prelude': prelude_targets()}],
    'case_variants': [{'entity': 'subscriptions'}], 'settle_key_case': [{'entity': 'subscriptions'}],
    'try_primary_key': [{'tbl': 'campaigns', 'key': 'campaign_key',
                         '_prelude': 'ALTER TABLE normalize.campaigns DROP CONSTRAINT campaigns_pkey;'}],
    'declared_rule': [{'entity': 'subscriptions', 'reference': 'account'}],
    'reference_targets': [{'entity': 'subscriptions', 'reference': 'account'}],
    'rule_contenders': [RULES_STAGED], 'rule_in_doubt': [RULES_STAGED], 'choose_rule': [RULES_STAGED],
    'score_consistency': [{'entity': 'devices', 'reference': 'location', 'rules': ['exact', 'offset'],
                           'offsets': ['0', '1000'], 'refs': ['1', '2'], 'ref_rows': ['1', '1'],
                           'targets': 'bi_locations', 'account_map': 'bi_accounts', '_prelude': LOCATIONS_STAGED}],
    'require_time_zone': [{'time_zone': 'America/Adak'}],
    'unknown_categories': [{'tbl': 'saas_raw.subscriptions', 'value_sql': 'status', 'category': 'subscription status'}],
    'latest_snapshot': variants('origin', ['sources', 'normalized']),
    'scan_placeholders': variants('column_name', ['health_score', 'uptime'], {'table_name': 'devices', 'score': 'true'}),
    'fills_its_grid': [{'vals': ['95', '96', '97']}],
    'drop_temp_table': [{'name': 'bi_tmp', '_prelude': 'CREATE TEMP TABLE bi_tmp (x integer);'}],
    'column_finding': [{'n': '100', 'n_null': '5', 'n_zero': '50', 'n_distinct': '2', 'categorical': 'false'}],
    'tier_for_mrr': [{'mrr': '1500'}],
    'generate_history': [{'account_key': 'account:42', 'tier': 'Tier 2', 'mrr': '1500', 'created_at': '2020-01-01'}],
    'generate_device_history': [{'device_key': 'device:1', 'health': '80'}],
    'generate_user_history': [{'user_key': 'user:1', 'role': 'admin', 'engagement': '60',
                               'created_at': '2020-01-01'}],
    'generate_histories': [{'accounts': 'public.bi_accounts'}],
    'build_history': [{'months': '2'}], 'run_pipeline': [{'months': '2'}],
    'fill_account_rollups': [{'target': 'pg_temp.bi_rollups', 'days': 'normalize.device_days',
                              'weeks': 'normalize.user_weeks', 'as_of': '2025-06-18',
                              '_prelude': 'CREATE TEMP TABLE bi_rollups (LIKE normalize.account_rollups) '
                                          'ON COMMIT DROP;'}],
    'feature_reads': variants('aggregation', ['mean', 'min', 'slope', 'growth_rate', 'last'],
                              {'metric': 'mrr', 'n': '6', 'cadence': '1', 'smallest': '3'}),
    'feature_ref': [{'col': 'mrr', 'k': '3', 'cadence': '1', 'packed': ['mrr']}],
    'feature_expression': variants('aggregation', ['mean', 'min', 'slope', 'growth_rate', 'last'],
                                   {'metric': 'mrr', 'n': '6', 'cadence': '1', 'smallest': '3',
                                    'packed': ['_bmin_mrr', '_n_mrr', '_s1_mrr', '_sx_mrr', 'mrr']}),
    'feature_view_sql': variants('entity', ['customer', 'device', 'user']),
    'store_check_counts': variants('entity', ['customer', 'device', 'user']),
    'store_checks': variants('entity', ['customer', 'device', 'user']),
    'stage_feature_rows': [{'entity': 'customer', 'target': 'pg_temp.bi_engine',
                            '_prelude': 'CREATE TEMP TABLE bi_engine (LIKE normalize.customer_feature_store) '
                                        'ON COMMIT DROP;'}],
    'write_feature_part': [{'entity': 'customer', 'target': 'pg_temp.bi_engine', 'lower': 'account:a',
                            'base': 'normalize.customer_feature_base',
                            '_prelude': 'CREATE TEMP TABLE bi_engine (LIKE normalize.customer_feature_store) '
                                        'ON COMMIT DROP;'}],
    'run_in_parts': [{'statement': 'SELECT ($1 + $2)::bigint', 'parts': '3'}],
    'discard_staging': [{'phase': 'training'}],
    'ready_staging_table': [{'t': 'training_info', '_prelude': "SELECT normalize.stage_phase('training');"}],
    'write_feature_rows': [{'entity': 'customer', 'target': 'pg_temp.bi_engine',
                            '_prelude': 'CREATE TEMP TABLE bi_engine (LIKE normalize.customer_feature_store) '
                                        'ON COMMIT DROP;'}],
    'feature_store_disagreements': [{'entity': 'customer', 'entities': '3'}],
    'require_feature_entity': [{'entity': 'device'}],
    'assign_splits': variants('strategy', ['grouped', 'time'],
                              {'train_share': '0.7', 'validation_share': '0.15', 'samples': 'pg_temp.bi_split_input',
                               '_prelude': SPLIT_INPUT}),
    'balance_samples': [{'candidates': 'normalize.device_health_samples', 'target': 'pg_temp.bi_samples',
                         'key_column': 'device_key', 'label': 'failed_30d', 'group_column': 'device_type',
                         'positive_rate': '0.2', 'all_splits': 'false', 'seed': '42',
                         '_prelude': 'CREATE TEMP TABLE bi_samples (LIKE normalize.device_health_samples) ON COMMIT DROP;'}],
    'validate_profiles': [{'n': '1000'}],
    'require_between': [{'argument': 'alpha', 'value': '0.5', 'low': '0', 'high': '1'}],
    'wilson_interval': [{'k': '5', 'n': '10', 'confidence': '0.95'}],
    'annual_churn_by_tier': [{'confidence': '0.95'}],
    'profile_values': variants('origin', ['normalized', 'sources']),
    'quality_count': [{'from_sql': 'normalize.accounts', 'key_sql': 'account_key', 'failing': 'mrr < 0'}],
    'html_escape': [{'value': '<b class="x">Tom & Jerry\'s</b>'}],
    'svg_histogram': [{'title': 't', 'low': '0', 'high': '10', 'observed': ['1', '2', '3'],
                       'expected': ['1.5', '2', '2.5']}],
    'svg_bars': [{'title': 't', 'labels': ['a', 'b'], 'vals': ['0.2', '0.5'], 'band_low': ['0.1', '0.4'],
                  'band_high': ['0.3', '0.6'], 'whisker_low': ['0.15', '0.45'], 'whisker_high': ['0.25', '0.55'],
                  'value_format': 'FM990.00'}],
    'pipeline_begin': [{'arguments': '{"seed": 42, "months": 2, "as_of": "2025-06-18", "orphan_policy": "quarantine"}',
                        'restart': 'false'}],
    'pipeline_next_phase': [{'run': '1'}], 'pipeline_finish': [{'run': '1'}],
    'pipeline_run_phase': [{'run': '1', 'phase': 'reconcile'}],
    'pipeline_fail': [{'run': '1', 'phase': 'quality', 'message': 'boom'}],
    'create_demo_source': [{'schema_name': 'bi_demo'}],
    # The steps of create_demo_source, each on tables the steps before it
    # made (at the demo's own volumes).
    'demo_check_arguments': [{'schema_name': 'bi_demo', 'seed': '1', 'replace': 'false', 'scale': '1'}],
    'demo_prepare_schema': [{'schema_name': 'bi_demo', 'replace': 'false'}],
    'demo_create_tables': [{'schema_name': 'bi_demo', '_prelude': 'CREATE SCHEMA bi_demo;'}],
    'demo_weight_sql': [{'share': 'users_share'}],
    'demo_customers': [{'schema_name': 'bi_demo', 'seed': '1', 'n_customers': '100', '_prelude': DEMO_TABLES}],
    'demo_locations': [{'schema_name': 'bi_demo', 'seed': '1', 'n_customers': '100', 'n_extra': '141',
                        '_prelude': DEMO_TABLES}],
    'demo_subscriptions': [{'schema_name': 'bi_demo', 'seed': '1', 'n_customers': '100', 'n_owned_extra': '328',
                            'n_orphans': '13', 'n_paid': '241', 'n_early': '176',
                            '_prelude': DEMO_TABLES + " SELECT normalize.demo_customers('bi_demo', 1, 100);"}],
    'demo_devices': [{'schema_name': 'bi_demo', 'seed': '1', 'n_customers': '100', 'n_located': '1157',
                      'n_unlocated': '48', 'n_high': '188', 'n_early': '422',
                      '_prelude': DEMO_TABLES + " SELECT normalize.demo_locations('bi_demo', 1, 100, 141);"}],
    'demo_users': [{'schema_name': 'bi_demo', 'seed': '1', 'n_customers': '100', 'n_owned': '324', 'n_orphans': '13',
                    'n_high': '108', 'n_admins': '34', 'n_managers': '84', '_prelude': DEMO_TABLES}],
    'demo_campaigns': [{'schema_name': 'bi_demo', 'seed': '1', 'n_customers': '100', 'n_campaigns': '310',
                        '_prelude': DEMO_TABLES}],
    'demo_declare_offset': [{'schema_name': 'bi_demo'}],
}
BY_NAME = {'n': '3', 'seed': '42', 'as_of': AS_OF, 'key': 'acct-42', 'profile': 'mrr_tier_1'}


def skip_reason(f):
    types = [a['type'] for a in f['args']]
    if 'internal' in types:
        return ('takes an internal argument: SQL cannot build one; it is an aggregate\'s support '
                'function and runs when its aggregate (called here) runs')
    if f['rettype'] in ('trigger', 'event_trigger'):
        return 'a trigger function: the executor refuses to call it outside a trigger'
    return None


def baselines(f):
    args = f['args']
    names = {a['name'] for a in args}
    table = HAND.get('%s(%s)' % (f['name'], f['identity'])) or HAND.get(f['name']) or [{}]
    fitting = [b for b in table if {k for k in b if not k.startswith('_')} <= names]
    if not fitting:
        raise SystemExit('the hand-kept arguments of %s name arguments it does not have' % f['signature'])
    out = []
    for b in fitting:
        vals = []
        for i, a in enumerate(args):
            typ = a['type']
            if f['kind'] == 'a' and i == 0:
                typ = typ + '[]'                      # the aggregated column: a set of values
            if a['name'] in b:
                v = b[a['name']]
            elif a['default'] is not None:
                v = from_json(def_values[a['default']], typ)
            elif a['name'] in BY_NAME and typ in ('bigint', 'integer', 'text', 'date'):
                v = BY_NAME[a['name']]
            else:
                v = TYPE_GOOD.get(typ)
            vals.append((typ, v))
        out.append({'vals': vals, 'fixed': set(b.get('_fixed', [])), 'prelude': b.get('_prelude', '')})
    return out


def call_sql(f, sqls):
    fq = 'normalize.%s' % f['name']
    if f['kind'] == 'p':
        return 'CALL %s(%s);' % (fq, ', '.join(sqls))
    if f['kind'] == 'a':
        return 'SELECT md5(%s(v.x%s)::text) FROM unnest(%s) AS v(x);' % (
            fq, ''.join(', ' + s for s in sqls[1:]), sqls[0])
    # count(*) only: converting results to text would time the wrapper (730
    # rows of a 1 MB key), not the function.
    return 'SELECT count(*) FROM %s(%s) AS t;' % (fq, ', '.join(sqls))


# ------------------------------------------------------------- the design
skipped, untyped, plan = [], set(), {MAIN: [[], [], []], ASCII: [[], [], []]}  # baselines, singles, pairs
listed = len(functions)
for f in functions:
    why = skip_reason(f)
    if why:
        skipped.append((f['signature'], why))
        continue
    for bi, b in enumerate(baselines(f)):
        vals, fixed, prelude = b['vals'], b['fixed'], b['prelude']
        names = [a['name'] for a in f['args']]
        good = [sql_value(v, t) for t, v in vals]
        def add(db, tier, sqls, labels, parts=()):
            plan[db][tier].append({'f': f, 'sql': call_sql(f, sqls), 'labels': labels, 'prelude': prelude,
                                   'toplevel': f['kind'] == 'p', 'baseline': tier == 0,
                                   'parts': [(bi,) + p for p in parts]})
        add(MAIN, 0, good, 'baseline %d' % bi)
        per_arg = []
        for i, (t, v) in enumerate(vals):
            e = edges_for(t, v)
            if e is None:
                untyped.add('%s: %s' % (f['signature'], t))
                e = [('null', 'NULL::' + t)]
            per_arg.append(e)
            if names[i] in fixed:
                continue
            for label, s in e:
                add(MAIN, 1, good[:i] + [s] + good[i + 1:], '%s=%s' % (names[i], label), [(names[i], label)])
        if f['volatility'] != 'v':
            for i in range(len(vals)):
                for j in range(i + 1, len(vals)):
                    if names[i] in fixed or names[j] in fixed:
                        continue
                    di, dj = DOMAIN.get(vals[i][0].replace('[]', '')), DOMAIN.get(vals[j][0].replace('[]', ''))
                    if di is None or di != dj:
                        continue
                    ei, ej = dict(per_arg[i]), dict(per_arg[j])
                    for label in ei:
                        if label not in ej or (label == 'null' and f['strict']):
                            continue
                        if di == 'text' and label not in PAIR_TEXT:
                            continue
                        s = list(good); s[i] = ei[label]; s[j] = ej[label]
                        add(MAIN, 2, s, '%s,%s=%s' % (names[i], names[j], label),
                            [(names[i], label), (names[j], label)])
        # SQL_ASCII: the baseline, then invalid UTF-8 in each text-like argument.
        if any(t in ('text', 'text[]', 'jsonb') for t, _ in vals):
            add(ASCII, 0, good, 'baseline %d' % bi)
            for i, (t, v) in enumerate(vals):
                if names[i] in fixed and bi:
                    continue
                for label, s in edges_for(t, v, bad_utf8=True) or []:
                    add(ASCII, 1, good[:i] + [s] + good[i + 1:], '%s=%s' % (names[i], label))

calls, seen, dropped = [], set(), 0
for db in (MAIN, ASCII):
    for tier in (0, 1, 2):
        for c in plan[db][tier]:
            k = (db, c['sql'], c['prelude'])
            if k in seen:
                continue
            seen.add(k)
            c['db'] = db
            calls.append(c)
# The cap: pairs go first, then singles; baselines always stay.
if len(calls) > MAX_CALLS:
    order = sorted(range(len(calls)), key=lambda i: (0 if calls[i]['baseline'] else
                                                     1 if ',' not in calls[i]['labels'] else 2, i))
    keep = set(order[:MAX_CALLS])
    dropped = len(calls) - MAX_CALLS
    calls = [c for i, c in enumerate(calls) if i in keep]
# Procedures commit: they run last, at top level, in each database.
calls.sort(key=lambda c: (c['db'] != MAIN, c['toplevel']))
if os.environ.get('NZ_BAD_INPUTS_SELFTEST'):
    # Planted failures instead of the design, to see the battery fail on
    # each: an XX000, a call that outlives its timeout, a backend killed by
    # SIGSEGV (the battery must be root or the server's user), a call after
    # it in a new session, and a call that ignores statement_timeout until
    # the battery cancels it.
    def planted(name, sql, **kw):
        return dict({'f': {'signature': 'selftest.' + name, 'name': name, 'kind': 'f'}, 'sql': sql,
                     'labels': '', 'prelude': '', 'toplevel': False, 'baseline': False, 'parts': [], 'db': MAIN},
                    **kw)
    calls = [planted('xx000', "DO $$ BEGIN RAISE EXCEPTION 'planted' USING ERRCODE = 'XX000'; END $$;"),
             planted('overrun', 'SET LOCAL statement_timeout = 0; SELECT pg_sleep(%g);' % (TIMEOUT + OVERRUN + 2)),
             planted('crash', 'SELECT pg_sleep(60);', kill=True),
             planted('after_crash', 'SELECT 1;'),
             planted('hang', 'SET LOCAL statement_timeout = 0; SELECT pg_sleep(%g);' % (TIMEOUT + 2 * HANG))]
for i, c in enumerate(calls, 1):
    c['id'] = i
if os.environ.get('NZ_BAD_INPUTS_DRY_RUN'):        # prints the design, runs nothing
    per = {}
    for c in calls:
        per[(c['db'], c['f']['signature'])] = per.get((c['db'], c['f']['signature']), 0) + 1
    for (db, sig), k in sorted(per.items(), key=lambda kv: -kv[1]):
        print('%6d  %s  %s' % (k, db, sig))
    print('%d calls designed, %d dropped by the cap' % (len(calls), dropped))
    sys.exit(3)


# ------------------------------------------------------------- the runner
def log_size():
    try:
        return os.path.getsize(SERVER_LOG) if SERVER_LOG else 0
    except OSError:
        return 0


# Exit code 1 is a parallel worker whose query failed: no crash.
CRASH_RE = re.compile(r'terminated by signal|terminated by exception|exited with exit code [2-9]|PANIC:|TRAP:|'
                      r'terminating any other active server processes')


def log_crashes(since):
    if not SERVER_LOG:
        return []
    try:
        with open(SERVER_LOG, 'rb') as fh:
            fh.seek(since)
            text = fh.read().decode('utf-8', 'replace')
    except OSError:
        return []
    return [l for l in text.splitlines() if CRASH_RE.search(l)]


ERR_RE = re.compile(r'^(?:psql:[^:]*:\d+: )?(ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}): (.*)$')
LOST_RE = re.compile(r'server closed the connection unexpectedly|connection to server was lost|'
                     r'no connection to the server|terminating connection')


class Session:
    def __init__(self, db):
        self.db, self.proc = db, None
        self.start()

    def start(self):
        deadline = time.monotonic() + 90
        while True:
            env = dict(os.environ, PGCLIENTENCODING='SQL_ASCII' if self.db == ASCII else 'UTF8')
            self.proc = subprocess.Popen([PSQL, '-X', '-q', '-d', self.db, '-v', 'VERBOSITY=verbose'],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, env=env)
            self.lines = queue.Queue()
            threading.Thread(target=self.read, args=(self.proc, self.lines), daemon=True).start()
            self.send('\\set VERBOSITY verbose\nSET client_min_messages = warning;\n'
                      "SET statement_timeout = '%ds';\n"
                      'SELECT pg_backend_pid() AS bi_pid \\gset\n\\warn @@READY :bi_pid\n' % TIMEOUT)
            while True:
                try:
                    _, line = self.lines.get(timeout=30)
                except queue.Empty:
                    line = None
                if line is None:
                    break
                if line.startswith('@@READY '):
                    self.pid = int(line.split()[1])
                    return
            self.stop()
            if time.monotonic() > deadline:
                raise RuntimeError('cannot connect to %s' % self.db)
            time.sleep(1)          # the server may be restarting after a crash

    @staticmethod
    def read(proc, lines):
        for raw in iter(proc.stderr.readline, b''):
            lines.put((time.monotonic(), raw.decode('utf-8', 'backslashreplace').rstrip('\n')))
        lines.put((time.monotonic(), None))

    def send(self, text):
        try:
            self.proc.stdin.write(text.encode('utf-8'))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def exec(self, sql):
        """Runs set-up SQL between calls; returns its error lines."""
        self.send('%s\n\\warn @@X\n' % sql)
        errors = []
        while True:
            try:
                _, line = self.lines.get(timeout=TIMEOUT + HANG)
            except queue.Empty:
                return ['no answer to: ' + sql]
            if line is None:
                return errors + ['connection lost during: ' + sql]
            if line == '@@X':
                return errors
            if ERR_RE.match(line):
                errors.append(line)

    def signal_backend(self, fn):
        try:
            psql_once('postgres', 'SELECT %s(%d)' % (fn, self.pid))
        except RuntimeError:
            pass

    def run(self, c):
        """Runs one call; returns (status, sqlstate, message, seconds, detail lines)."""
        n = c['id']
        text = '\\warn @@B %d\n' % n
        if not c['toplevel']:
            text += 'BEGIN;\n' + (c['prelude'] + '\n' if c['prelude'] else '')
        text += '\\warn @@C %d\n%s\n\\warn @@E %d\n' % (n, c['sql'], n)
        if not c['toplevel']:
            text += 'ROLLBACK;\n'
        text += '\\warn @@R %d\n' % n
        self.send(text)
        if c.get('kill'):                  # the self-test's crash
            threading.Timer(1.0, os.kill, (self.pid, signal.SIGSEGV)).start()
        phase, t_c, t_e, errors, prelude_errors, other = 'B', None, None, [], [], []
        cancelled = terminated = False
        while True:
            now = time.monotonic()
            if t_c is not None and t_e is None:
                if now - t_c > TIMEOUT + HANG and not cancelled:
                    self.signal_backend('pg_cancel_backend'); cancelled = True
                elif now - t_c > TIMEOUT + 2 * HANG and not terminated:
                    self.signal_backend('pg_terminate_backend'); terminated = True
                elif now - t_c > TIMEOUT + 3 * HANG:
                    self.proc.kill()
            try:
                t, line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:               # psql ended: the connection is gone
                seconds = (t - t_c) if t_c else 0.0
                return ('lost', '', 'connection lost' + (' (cancelled, then terminated: hung)' if terminated else ''),
                        seconds, errors + other, prelude_errors)
            if line == '@@C %d' % n:
                phase, t_c = 'C', t
            elif line == '@@E %d' % n:
                phase, t_e = 'E', t
            elif line == '@@R %d' % n:
                seconds = t_e - t_c
                hung = ' (cancelled by the battery: hung)' if cancelled else ''
                if errors:
                    m = ERR_RE.match(errors[0])
                    return ('error', m.group(2), m.group(3) + hung, seconds, errors + other, prelude_errors)
                return ('ok', '', hung.strip(), seconds, other, prelude_errors)
            elif line.startswith('@@B '):
                pass
            else:
                m = ERR_RE.match(line)
                if phase == 'B' and m:
                    prelude_errors.append(line)
                elif phase == 'C' and m:
                    errors.append(line)
                elif phase == 'C':
                    other.append(line)


# ------------------------------------------------------------- run
LOG = open(os.environ['NZ_BI_LOG'], 'w', encoding='utf-8')
LOG.write('# id\tdb\toutcome\tms\tfunction\targuments\tcall\tmessage\n')
stats = {'ok': 0, 'hung': 0}
by_state, by_class = {}, {}
xx000, crashes, overruns, prelude_failed, baseline_failed = [], [], [], [], []
called = set()
sessions = {}
timed_out, skipped_timeouts, tiny = set(), 0, set()
log_start = log_size()
budget_hit = False
for c in calls:
    if time.monotonic() - T0 > BUDGET:
        budget_hit = True
        break
    db = c['db']
    # An edge that already ran into statement_timeout alone (in any of the
    # function's baselines) would only run into it again, in a pair or in
    # another baseline: skipped, and counted.
    key = (db, c['f']['signature'])
    if any(key + p[1:] in timed_out for p in c['parts']):
        skipped_timeouts += 1
        LOG.write('%d\t%s\tskipped\t0\t%s\t%s\t\tthis edge alone ran into statement_timeout\n' % (
            c['id'], db, c['f']['signature'], c['labels']))
        continue
    if db not in sessions:
        for other in list(sessions):
            sessions.pop(other).stop()
        sessions[db] = Session(db)
    if c['toplevel'] and db not in tiny:
        tiny.add(db)
        for e in sessions[db].exec("SELECT count(*) FROM normalize.use_sources('bi_tiny');"):
            prelude_failed.append('%s: registering bi_tiny: %s' % (db, e))
    before = log_size()
    status, state, msg, secs, detail, pre = sessions[db].run(c)
    called.add(c['f']['signature'])
    args = c['labels']
    who = '%s [%s] %s' % (c['f']['signature'], db, args)
    if pre:
        prelude_failed.append('%s: %s' % (who, pre[0]))
    if status == 'ok':
        stats['ok'] += 1
        outcome = 'ok'
    elif status == 'error':
        by_state[state] = by_state.get(state, 0) + 1
        by_class[state[:2]] = by_class.get(state[:2], 0) + 1
        outcome = state
        if state == '57014' and len(c['parts']) == 1:
            timed_out.add(key + c['parts'][0][1:])
        if state == 'XX000':
            xx000.append('%s: %s\n      %s' % (who, msg, c['sql'][:400]))
    elif 'hung' in msg:
        outcome = 'HUNG'               # the battery terminated it: counted as an overrun below
        stats['hung'] += 1
        sessions.pop(db).stop()
    else:
        outcome = 'CRASH'
        sessions.pop(db).stop()
        time.sleep(1)
        lines = log_crashes(before)
        crashes.append('%s: %s%s\n      %s' % (who, msg, ''.join('\n      log: ' + l for l in lines[:4]),
                                             c['sql'][:400]))
    if secs > TIMEOUT + OVERRUN:
        overruns.append('%s: %.1f s (statement_timeout %g s)\n      %s' % (who, secs, TIMEOUT, c['sql'][:400]))
    if c['baseline'] and status != 'ok' and state != '57014':
        baseline_failed.append('%s: %s %s' % (who, state or status, msg[:200]))
    LOG.write('%d\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\n' % (
        c['id'], db, outcome, secs * 1000, c['f']['signature'], args,
        c['sql'][:300].replace('\n', ' '), (msg[:300] + ''.join(' | ' + d[:200] for d in detail[1:4])).replace('\t', ' ')))
for s in sessions.values():
    s.stop()
LOG.close()
# Crashes of other backends (a parallel worker, say) show in the log even
# when this session survived them.
log_lines = log_crashes(log_start)
elapsed = time.monotonic() - T0
ran = sum(by_state.values()) + stats['ok'] + len(crashes) + stats['hung']
callable_fns = sorted({c['f']['signature'] for c in calls})

with open(os.environ['NZ_BI_FINDINGS'], 'w', encoding='utf-8') as fh:
    for title, items in (('XX000 (internal_error)', xx000), ('crashes', crashes),
                         ('calls that outlived statement_timeout by more than %g s' % OVERRUN, overruns),
                         ('server log lines of crashes', log_lines), ('prelude errors', prelude_failed),
                         ('good argument lists that failed', baseline_failed),
                         ('argument types without edge values', sorted(untyped))):
        fh.write('== %s: %d\n' % (title, len(items)))
        for it in items:
            fh.write('  ' + it + '\n')

print('# functions and procedures in schema normalize: %d; called: %d; skipped: %d' % (
    listed, len(called), len(skipped)))
for sig, why in skipped:
    print('#   skipped %s: %s' % (sig, why))
print('# calls: %d designed (cap %d, %d dropped), %d run in %.0f s, %d skipped: their edge alone had run '
      'into statement_timeout (%d in %s, %d in %s)' % (
    len(calls) + dropped, MAX_CALLS, dropped, ran, elapsed, skipped_timeouts,
    sum(1 for c in calls if c['db'] == MAIN), MAIN, sum(1 for c in calls if c['db'] == ASCII), ASCII))
print('# outcomes: ok %d; errors by SQLSTATE class: %s' % (
    stats['ok'], ', '.join('%s %d' % kv for kv in sorted(by_class.items()))))
print('# errors by SQLSTATE: %s' % ', '.join('%s %d' % kv for kv in sorted(by_state.items())))
print('# XX000: %d; crashes: %d (server log lines: %d); cancelled by statement_timeout (57014): %d; '
      'over statement_timeout + %g s: %d' % (len(xx000), len(crashes), len(log_lines), by_state.get('57014', 0),
                                             OVERRUN, len(overruns)))
with open(os.environ['NZ_BI_COUNTS'], 'w') as fh:
    for k, v in (('functions_listed', listed), ('functions_skipped', len(skipped)),
                 ('functions_designed', len(callable_fns)), ('functions_called', len(called)),
                 ('calls', ran), ('xx000', len(xx000)), ('crashes', len(crashes)),
                 ('crash_log_lines', len(log_lines)), ('overruns', len(overruns)),
                 ('prelude_errors', len(prelude_failed)), ('baseline_failures', len(baseline_failed)),
                 ('untyped', len(untyped)), ('budget_hit', 'yes' if budget_hit else 'no'),
                 ('seconds', int(elapsed))):
        fh.write('%s=%s\n' % (k, v))
PY
status=$?
set -e
[ -n "${NZ_BAD_INPUTS_DRY_RUN:-}" ] && exit 0
[ -f "$counts" ] || { echo "Bail out! the battery's driver failed (exit $status)"; exit 1; }
# shellcheck disable=SC1090
source "$counts"
show() {  # section of the findings file
    awk -v t="$1" '/^== / { on = index($0, "== " t) == 1; next } on' "$findings" | head -60 | sed 's/^/#   /'
}
check "every SQL-callable function and procedure of normalize is called ($functions_listed listed, $functions_skipped skipped)" \
      "$((functions_listed - functions_skipped))" "$functions_called"
check "every argument type has edge values" 0 "$untyped"
[ "$untyped" -eq 0 ] || show "argument types"
check "the good argument lists and their staged tables run without error" "0|0" "$prelude_errors|$baseline_failures"
[ "$prelude_errors" -eq 0 ] || show "prelude"
[ "$baseline_failures" -eq 0 ] || show "good argument"
check "no call raises XX000 (internal_error)" 0 "$xx000"
[ "$xx000" -eq 0 ] || show "XX000"
check "no backend crashes (lost connections, and crashes in the server log)" "0|0" "$crashes|$crash_log_lines"
[ "$crashes" -eq 0 ] || show "crashes"
[ "$crash_log_lines" -eq 0 ] || show "server log"
check "no call outlives statement_timeout by more than 2 s" 0 "$overruns"
[ "$overruns" -eq 0 ] || show "calls that outlived"
check "the battery finishes within its time budget ($seconds s for $calls calls)" "no" "$budget_hit"
echo "# total time with set-up: $(( $(date +%s) - started )) s; per-call log: $artifacts/bad_inputs.log"
psql_ -d postgres -c "DROP DATABASE IF EXISTS $main" -c "DROP DATABASE IF EXISTS $ascii" 2>/dev/null || true
[ "$failed" -eq 0 ]
