#!/usr/bin/env bash
# Fuzzing with SQLsmith (Debian's sqlsmith): N random queries against a
# database that ran the whole pipeline on the demo source (test/tap.sh's
# pipeline_db), then a report: queries run, the share that call normalize
# functions and which, crashes (server log), errors by SQLSTATE, and every
# XX000 (internal_error) with its query, split into those raised in
# queries that call normalize and the others.
#
#   bash bench/fuzz.sh [N]                      N queries, default 20000
#
# Restricted to normalize: SQLsmith has no schema filter, but it reads the
# functions it may call from an unqualified pg_proc. Its connection puts
# schema nz_fuzz_catalog before pg_catalog in search_path, where a view
# pg_proc shows only normalize's functions that take arguments (one without
# arguments cannot get a bad one; SQLsmith only uses them as sources of
# values, and readiness_report_html took seconds each time). Its own
# queries qualify every name, so nothing else changes. SQLsmith itself
# leaves out set-returning functions and procedures (the bad-input battery,
# test/bad_inputs.sh, calls those). NZ_FUZZ_ALL_ROUTINES=1 drops the
# restriction: every function of the server, normalize's a small share.
#
# JIT is off in the fuzzed session: a query over the generated feature
# views (normalize.customer_features, ...) otherwise spends 20-30 s in
# LLVM compiling their hundreds of expressions, where statement_timeout
# cannot stop it (SQLsmith sets 1 s); NZ_FUZZ_JIT=on keeps it on.
#
# SQLsmith runs every statement in a transaction it rolls back; the script
# checks that the database's data is unchanged afterwards. It stops after N
# queries, or is killed at NZ_FUZZ_TIME_LIMIT seconds (default N/5 + 600).
# It uses the running cluster of PGHOST/PGPORT (with normalize installed)
# when one answers, else it builds and installs normalize and starts a
# cluster of its own (scripts/lib.sh; NZ_PGPORT, default 54347), stopped on
# exit. The fuzz database (NZ_FUZZ_DB, default normalize_fuzz) and its log
# database are dropped at the end unless NZ_FUZZ_KEEP=1; NZ_FUZZ_REUSE=1
# reuses a fuzz database whose pipeline has run. The seed is NZ_FUZZ_SEED
# (default 1). Results: bench/results/fuzz-<time>/ (summary, XX000 queries,
# errors, the queries gzipped).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"
N=${1:-20000}
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N]" >&2; exit 2; }
SEED=${NZ_FUZZ_SEED:-1}
DB=${NZ_FUZZ_DB:-normalize_fuzz}
LOGDB=${DB}_log
LIMIT=${NZ_FUZZ_TIME_LIMIT:-$((N / 5 + 600))}
JIT=${NZ_FUZZ_JIT:-off}

given_bin=${NZ_PG_BIN:-}
nz_install_packages sqlsmith
[ -n "$given_bin" ] && NZ_PG_BIN=$given_bin
export NZ_PG_BIN
# shellcheck source=../test/tap.sh
source "$NZ_ROOT/test/tap.sh"          # psql_ and pipeline_db
if [ -n "${PGHOST:-}" ] && psql_ -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
    nz_log "using the running cluster at ${PGHOST}:${PGPORT:-5432}"
    export PGUSER=${PGUSER:-postgres}
else
    nz_build_and_install
    export NZ_PGPORT=${NZ_PGPORT:-54347}
    nz_cluster_start
fi
conn="host=$PGHOST port=${PGPORT:-5432} user=${PGUSER}"

out=$NZ_ROOT/bench/results/fuzz-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
cleanup() {
    if [ "${NZ_FUZZ_KEEP:-0}" != 1 ]; then
        psql_ -d postgres -c "DROP DATABASE IF EXISTS $LOGDB" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    fi
    nz_cluster_stop
}
trap cleanup EXIT

pipeline_done() {
    [ "$(psql_ -d "$DB" -Atc "SELECT status FROM normalize.pipeline_runs ORDER BY run_id DESC LIMIT 1" 2>/dev/null)" = done ]
}
if [ "${NZ_FUZZ_REUSE:-0}" = 1 ] && pipeline_done; then
    nz_log "reusing $DB, whose pipeline has run"
else
    nz_log "creating $DB: the demo source and the whole pipeline (a few minutes)"
    pipeline_db "$DB" fuzz_raw
    pipeline_done || { echo "the pipeline did not finish in $DB" >&2; exit 1; }
fi
if [ "${NZ_FUZZ_ALL_ROUTINES:-0}" = 1 ]; then
    filter="true"
else
    filter="p.pronamespace = 'normalize'::regnamespace AND p.pronargs > 0"
fi
psql_ -d "$DB" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS nz_fuzz_catalog CASCADE" -c "CREATE SCHEMA nz_fuzz_catalog" \
      -c "CREATE VIEW nz_fuzz_catalog.pg_proc AS SELECT p.* FROM pg_catalog.pg_proc AS p WHERE $filter" >/dev/null
# SQLsmith's log tables (its log.sql, which Debian does not ship).
psql_ -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $LOGDB" -c "CREATE DATABASE $LOGDB" >/dev/null
psql_ -d "$LOGDB" >/dev/null <<'SQL'
CREATE TABLE instance (id serial PRIMARY KEY, rev text, target text, hostname text, version text, seed text,
                       t timestamptz DEFAULT now());
CREATE TABLE error (id bigint REFERENCES instance (id), msg text, query text, target text, sqlstate text,
                    t timestamptz DEFAULT now(), errid bigserial PRIMARY KEY);
CREATE TABLE stat (id bigint REFERENCES instance (id), generated bigint, level float8, nodes float8,
                   retries float8, updated timestamptz, impedance jsonb);
SQL

fingerprint() {  # every table of the database: rows and a sum of row hashes
    psql_ -d "$DB" -Atc "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
        SELECT format('%I.%I', n.nspname, c.relname) || ':' ||
               (xpath('/row/h/text()', query_to_xml(format('SELECT count(*) || '' '' || coalesce(sum(hashtext(t::text)), 0) AS h FROM %I.%I AS t',
                                                           n.nspname, c.relname), false, true, '')))[1]::text AS x
          FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname IN ('normalize', 'fuzz_raw')) AS s"
}
server_log=${NZ_SERVER_LOG:-}
[ -z "$server_log" ] && [ -f "$PGHOST/server.log" ] && server_log=$PGHOST/server.log
if [ -z "$server_log" ]; then
    server_log=$(psql_ -d postgres -Atc "SELECT CASE WHEN pg_current_logfile() IS NULL THEN ''
                                                 WHEN pg_current_logfile() LIKE '/%' THEN pg_current_logfile()
                                                 ELSE current_setting('data_directory') || '/' || pg_current_logfile() END")
fi
log_offset=0
if [ -n "$server_log" ] && [ -r "$server_log" ]; then log_offset=$(stat -c %s "$server_log"); else server_log=; fi
before=$(fingerprint)

nz_log "sqlsmith: $N queries, seed $SEED, at most $LIMIT s"
t0=$(date +%s.%N)
set +e
timeout --kill-after=30 "$LIMIT" sqlsmith \
    --target="$conn dbname=$DB options='-c search_path=nz_fuzz_catalog,pg_catalog -c jit=$JIT'" \
    --log-to="$conn dbname=$LOGDB" --max-queries="$N" --seed="$SEED" --exclude-catalog --dump-all-queries \
    2>"$out/sqlsmith.err" | gzip >"$out/queries.sql.gz"
status=${PIPESTATUS[0]}
set -e
t1=$(date +%s.%N)
seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
after=$(fingerprint)

# Queries end with ";" at the end of a line; a query calls normalize when
# it names normalize.<function>(.
zcat "$out/queries.sql.gz" | awk -v fns="$out/functions.txt" '
    { q = q $0 "\n" }
    /;$/ { n++; if (q ~ /normalize\.[a-z_0-9]+\(/) k++
           s = q; while (match(s, /normalize\.[a-z_0-9]+\(/)) { f[substr(s, RSTART + 10, RLENGTH - 11)]++; s = substr(s, RSTART + RLENGTH) }
           q = "" }
    END { print n + 0, k + 0; for (x in f) print f[x], x > fns }' >"$out/counts.txt"
read -r queries calling <"$out/counts.txt"
sort -rn "$out/functions.txt" -o "$out/functions.txt"
callable=$(psql_ -d "$DB" -Atc "SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM nz_fuzz_catalog.pg_proc AS p
                                  WHERE p.pronamespace = 'normalize'::regnamespace AND NOT p.proretset AND p.prokind IN ('f', 'a')
                                    AND NOT 'internal'::regtype = ANY (p.proargtypes)
                                    AND p.prorettype::regtype::text NOT IN ('trigger', 'internal')")
never=$(for f in $callable; do grep -qw "$f" "$out/functions.txt" || echo "$f"; done | sort -u | tr '\n' ' ')

crash_lines=
if [ -n "$server_log" ]; then
    crash_lines=$(tail -c +"$((log_offset + 1))" "$server_log" |
        grep -E 'terminated by signal|terminated by exception|exited with exit code [2-9]|terminating any other active server processes|PANIC:|TRAP:' || true)
fi
# A parallel worker that exits with code 1 (its query failed or was
# cancelled) is no crash; the postmaster's "terminating any other active
# server processes" follows a crash and is not counted again.
crashes=$(printf '%s' "$crash_lines" | grep -cE 'terminated by signal|terminated by exception|exited with exit code|PANIC:|TRAP:' || true)
lost=$(psql_ -d "$LOGDB" -Atc "SELECT count(*) FROM error WHERE msg ~ 'server closed the connection|connection to server was lost|terminating connection because of crash'")
psql_ -d "$LOGDB" -Atc "SELECT coalesce(sqlstate, '(none)') || ' ' || count(*) FROM error GROUP BY sqlstate ORDER BY count(*) DESC, sqlstate" >"$out/errors_by_sqlstate.txt"
psql_ -d "$LOGDB" -Atc "SELECT count(*) FROM error" >"$out/errors_total.txt"
# The first line of each message, counted, at most 8 per SQLSTATE.
psql_ -d "$LOGDB" -At >"$out/errors_sample.txt" <<'SQL'
SELECT format('%s %6s x %s', s, c, m) FROM (
    SELECT coalesce(sqlstate, '(none)') AS s, count(*) AS c,
           left(regexp_replace(split_part(btrim(msg, E' \n'), E'\n', 1), '^ERROR:\s+', ''), 200) AS m,
           row_number() OVER (PARTITION BY sqlstate ORDER BY count(*) DESC) AS r
      FROM error GROUP BY sqlstate, m) AS t
 WHERE r <= 8 ORDER BY s, c DESC;
SQL
psql_ -d "$LOGDB" -At >"$out/xx000.txt" <<'SQL'
SELECT format(E'-- %s, %s\n-- %s\n%s\n', CASE WHEN query ~ 'normalize\.[a-z_0-9]+\(' THEN 'calls normalize' ELSE 'no normalize call' END,
              coalesce(substring(query FROM 'normalize\.[a-z_0-9]+\('), ''),
              replace(btrim(msg, E' \n'), E'\n', E'\n-- '), query)
  FROM error WHERE sqlstate = 'XX000' ORDER BY errid;
SQL
xx_in=$(psql_ -d "$LOGDB" -Atc "SELECT count(*) FROM error WHERE sqlstate = 'XX000' AND query ~ 'normalize\.[a-z_0-9]+\('")
xx_out=$(psql_ -d "$LOGDB" -Atc "SELECT count(*) FROM error WHERE sqlstate = 'XX000' AND query !~ 'normalize\.[a-z_0-9]+\('")
xx_msgs=$(psql_ -d "$LOGDB" -Atc "SELECT count(*) || ' x ' || left(split_part(msg, E'\n', 1), 160) FROM error WHERE sqlstate = 'XX000'
                                   GROUP BY split_part(msg, E'\n', 1) ORDER BY count(*) DESC")

{
    echo "normalize fuzz: sqlsmith $(dpkg-query -W -f='${Version}' sqlsmith 2>/dev/null), seed $SEED, $N queries asked, jit $JIT," \
         "routines: $([ "${NZ_FUZZ_ALL_ROUTINES:-0}" = 1 ] && echo 'all of the server' || echo "normalize's, with arguments")"
    echo "sqlsmith exit status: $status$([ "$status" = 124 ] && echo " (killed at the time limit, $LIMIT s)")"
    echo "queries run: $queries in $seconds s ($(awk -v q="$queries" -v s="$seconds" 'BEGIN { printf "%.1f", (s > 0 ? q / s : 0) }') per second)"
    echo "queries calling a normalize function: $calling ($(awk -v a="$calling" -v b="$queries" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')%)"
    echo "normalize functions called (calls in the queries' text), top 15:"
    head -15 "$out/functions.txt" | sed 's/^/  /'
    echo "callable by sqlsmith but never in a query: ${never:-none}"
    echo "errors: $(cat "$out/errors_total.txt"), by SQLSTATE: $(tr '\n' ',' <"$out/errors_by_sqlstate.txt" | sed 's/,$//; s/,/, /g')"
    echo "messages of the errors normalize or the data raised (classes 22, 23, 55, 0A, XX; the rest are SQLsmith's own type errors, all in $out/errors_sample.txt):"
    grep -E '^(22|23|55|0A|XX)' "$out/errors_sample.txt" | sed 's/^/  /' || true
    echo "crashes in the server log: $crashes; lost connections logged by sqlsmith: $lost"
    [ -n "$crash_lines" ] && printf '%s\n' "$crash_lines" | head -20 | sed 's/^/  /'
    echo "XX000 in queries calling normalize: $xx_in; in other queries: $xx_out (queries in $out/xx000.txt)"
    [ -n "$xx_msgs" ] && printf '%s\n' "$xx_msgs" | sed 's/^/  /'
    echo "data unchanged by the run: $([ "$before" = "$after" ] && echo yes || echo "NO (fingerprint $before -> $after)")"
    [ -z "$server_log" ] && echo "(no readable server log: crashes counted from lost connections only)"
    echo "results: $out"
} | tee "$out/summary.txt"
