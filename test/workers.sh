#!/usr/bin/env bash
# Workers: the pipeline's results are the same bytes whatever the number
# of processes it may use. On the demo source and on messy_b (a source of
# the tests' own, test/sources), each in a fresh database, the whole
# pipeline runs with workers => 1, 2 and 3; every table of every phase
# must then hold the same rows (all columns but the times things were
# done), and the device features must have been computed in as many parts
# as processes (each part's rows from another process). An error in a
# worker's part must reach the caller as it does without workers, and a
# base relation that is not parallel safe, or that has a temporary child,
# is read by one process. The phases' parts written by background workers
# (committed apart) must not be used in a transaction that has written,
# and a failed phase's staging tables must go.
# Prints TAP. Needs PGHOST/PGPORT/PGUSER of a running cluster and NZ_PG_BIN.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/tap.sh"
echo "1..21"

# The rows of every table the phases write, as one digest per table: the
# columns that say when something was done (timestamptz) left out.
digests() {  # database
    local tables t columns
    tables=$(psql_ -d "$1" -At -c "SELECT DISTINCT unnest(writes) FROM normalize.phases_from('reconcile') ORDER BY 1")
    for t in $tables; do
        columns=$(psql_ -d "$1" -At -c "SELECT string_agg(format('x.%I', attname), ', ' ORDER BY attnum) FROM pg_attribute
                                         WHERE attrelid = 'normalize.$t'::regclass AND attnum > 0 AND NOT attisdropped
                                           AND atttypid <> 'timestamptz'::regtype")
        echo "$t $(psql_ -d "$1" -At -c "SELECT count(*) || ' ' || md5(coalesce(string_agg(r, '|' ORDER BY r COLLATE \"C\"), ''))
                                            FROM (SELECT ROW($columns)::text AS r FROM normalize.$t AS x) AS s")"
    done
}
# Runs the pipeline with the given workers, keeping the debug lines that
# say in how many parts each entity's features were computed, and how
# many background workers wrote the parts of each statement run in parts.
run_with() {  # database, months, workers
    PGOPTIONS="-c client_min_messages=debug1" psql_ -d "$1" \
        -c "CALL normalize.run_pipeline(seed => 42, months => $2, workers => $3)" 2>&1 \
        | sed -n -e 's/.*normalize: the features of \([a-z]*\) in \([0-9]*\) part.*/\1 \2/p' \
                 -e 's/.*normalize: [0-9]* parts of a statement, [0-9]* of them by \([0-9]*\) background workers.*/statement \1/p'
}
status() {  # database
    psql_ -d "$1" -At -c "SELECT status FROM normalize.pipeline_runs ORDER BY run_id DESC LIMIT 1"
}

# One source: its template database, then a run per number of workers.
compare_source() {  # label, months, SQL that builds and registers the source (run by psql -f)
    local label=$1 months=$2 build=$3 w db statuses="" parts="" writers="" out
    psql_ -d postgres -c "DROP DATABASE IF EXISTS nz_workers_src" -c "CREATE DATABASE nz_workers_src" >/dev/null 2>&1
    psql_ -d nz_workers_src -c "CREATE EXTENSION normalize" >/dev/null
    psql_ -d nz_workers_src -f "$build" >/dev/null
    for w in 1 2 3; do
        db=nz_workers_$w
        psql_ -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE nz_workers_src" >/dev/null 2>&1
        out=$(run_with "$db" "$months" "$w")
        parts="$parts$(awk '$1 == "device" { print $2 }' <<<"$out"),"
        writers="$writers$(awk '$1 == "statement" { n = n < $2 ? $2 : n } END { print n + 0 }' <<<"$out"),"
        statuses="$statuses$(status "$db"),"
        digests "$db" >"$work/$w.digest"
    done
    check "$label: the pipeline completes with workers => 1, 2 and 3" "done,done,done," "$statuses"
    # Four parts per process, each by a background worker that commits it.
    check "$label: the device features are computed in 1, 8 and 12 parts" "1,8,12," "$parts"
    check "$label: the parts are written by 0, 2 and 3 background workers at most" "0,2,3," "$writers"
    check "$label: every table of every phase is the same with 2 workers as with 1" "" \
          "$(diff "$work/1.digest" "$work/2.digest" | grep '^>' | head -3 || true)"
    check "$label: every table of every phase is the same with 3 workers as with 1" "" \
          "$(diff "$work/1.digest" "$work/3.digest" | grep '^>' | head -3 || true)"
    check "$label: the tables compared hold rows (device feature rows)" "nonzero" \
          "$(awk '$1 == "device_feature_store" { print ($2 > 0 ? "nonzero" : "none") }' "$work/1.digest")"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/demo.sql" <<'SQL'
SELECT count(*) FROM normalize.create_demo_source('workers_raw', 7);
SELECT count(*) FROM normalize.use_sources('workers_raw');
SQL
compare_source "demo" 12 "$work/demo.sql"
{ echo "\\set src messy_b"; cat "$here/sources/messy_b.sql" "$here/sources/messy_b_register.sql"; } >"$work/messy_b.sql"
compare_source "messy_b" 6 "$work/messy_b.sql"

# A worker's error is the caller's: the base rows given as a table, one of
# the last devices (a worker's part) with a health that is not a number.
db=nz_workers_1
psql_ -d "$db" -q -c "CREATE TABLE public.bad_base AS SELECT * FROM normalize.device_feature_base" \
      -c "UPDATE public.bad_base SET health = 'NaN' WHERE device_key = (SELECT max(device_key) FROM normalize.devices)
            AND as_of = (SELECT min(as_of) FROM public.bad_base)" -c "ANALYZE public.bad_base" >/dev/null
error_with() {  # workers
    psql_ -d "$db" -At -c "SET normalize.workers = $1" -c "CREATE TEMP TABLE x (LIKE normalize.device_feature_store)" \
          -c "SELECT normalize.write_feature_rows('device', 'x', 'public.bad_base')" 2>&1 | grep -m1 ERROR || true
}
one=$(error_with 1)
check "a worker's error reaches the caller as without workers" "$one" "$(error_with 2)"
check "that error names the value (with one process)" "yes" "$(grep -q 'is NaN at' <<<"$one" && echo yes || echo "no: $one")"
# A base row without a key is in no range: with workers it must be
# refused as it is without them, not left out.
psql_ -d "$db" -q -c "CREATE TABLE public.null_base AS SELECT * FROM normalize.device_feature_base" \
      -c "ALTER TABLE public.null_base ALTER COLUMN device_key DROP NOT NULL" \
      -c "UPDATE public.null_base SET device_key = NULL WHERE device_key = (SELECT min(device_key) FROM normalize.devices)" \
      -c "ANALYZE public.null_base" >/dev/null 2>&1
null_with() {  # workers
    psql_ -d "$db" -At -c "SET normalize.workers = $1" -c "CREATE TEMP TABLE x (LIKE normalize.device_feature_store)" \
          -c "SELECT normalize.write_feature_rows('device', 'x', 'public.null_base')" 2>&1 | grep -m1 -E '^ERROR|^[0-9]+$' || true
}
null_one=$(null_with 1)
check "a base row without a key is refused with workers as without (error, same)" "ERROR|$null_one" \
      "$(cut -c1-5 <<<"$null_one")|$(null_with 2)"
# A base relation calling a function that is not parallel safe (its own
# base view's functions all are) is computed by the session alone.
psql_ -d "$db" -q -c "CREATE FUNCTION public.counted(v text) RETURNS boolean LANGUAGE plpgsql AS
                        'BEGIN PERFORM pg_catalog.set_config(''my.last'', v, true); RETURN true; END'" \
      -c "CREATE VIEW public.unsafe_base AS SELECT * FROM normalize.device_feature_base AS b WHERE public.counted(b.device_key)"
out=$(PGOPTIONS="-c client_min_messages=debug1" psql_ -d "$db" -At -c "SET normalize.workers = 3" \
          -c "CREATE TEMP TABLE x (LIKE normalize.device_feature_store)" \
          -c "SELECT normalize.write_feature_rows('device', 'x', 'public.unsafe_base')" 2>&1)
check "a base relation with a function that is not parallel safe is computed in one part, with every row (parts|rows)" \
      "1|$(psql_ -d "$db" -At -c "SELECT count(*) FROM normalize.device_feature_store")" \
      "$(sed -n 's/.*the features of device in \([0-9]*\) part.*/\1/p' <<<"$out")|$(grep -xE '[0-9]+' <<<"$out" || true)"
# A base table with a temporary child (inheritance): the child's rows are
# in the session's own buffers, which no worker can read, so the session
# computes every row alone.
out=$(PGOPTIONS="-c client_min_messages=debug1" psql_ -d "$db" -At -q \
          -c "CREATE TABLE public.parent_base AS SELECT * FROM normalize.device_feature_base
                WHERE device_key < (SELECT max(device_key) FROM normalize.devices)" \
          -c "ANALYZE public.parent_base" \
          -c "CREATE TEMP TABLE child_base () INHERITS (public.parent_base)" \
          -c "INSERT INTO child_base SELECT * FROM normalize.device_feature_base
                WHERE device_key = (SELECT max(device_key) FROM normalize.devices)" \
          -c "SET normalize.workers = 3" -c "CREATE TEMP TABLE x (LIKE normalize.device_feature_store)" \
          -c "SELECT normalize.write_feature_rows('device', 'x', 'public.parent_base')" 2>&1)
check "a base table with a temporary child is computed in one part, with every row (parts|rows)" \
      "1|$(psql_ -d "$db" -At -c "SELECT count(*) FROM normalize.device_feature_store")" \
      "$(sed -n 's/.*the features of device in \([0-9]*\) part.*/\1/p' <<<"$out")|$(grep -xE '[0-9]+' <<<"$out" || true)"
# A row the toaster would store in part out of line (a long text among
# the features, itself stored out of line in the base table) cannot be
# written while workers run: refused, saying so, where one process writes
# it.
psql_ -d "$db" -q -c "CREATE TABLE public.wide_base AS SELECT * FROM normalize.device_feature_base" \
      -c "UPDATE public.wide_base SET device_type = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) AS i)
            WHERE device_key = (SELECT max(device_key) FROM normalize.devices)" \
      -c "ANALYZE public.wide_base" >/dev/null
wide_with() {  # workers
    psql_ -d "$db" -At -c "SET normalize.workers = $1" -c "CREATE TEMP TABLE x (LIKE normalize.device_feature_store)" \
          -c "SELECT normalize.write_feature_rows('device', 'x', 'public.wide_base')" 2>&1 | grep -m1 -E '^ERROR|^[0-9]+$' || true
}
check "a row too wide to write while workers run is refused with workers, written without (2|1)" \
      "ERROR:  a row of device features is too wide to write with parallel workers|$(psql_ -d "$db" -At -c "SELECT count(*) FROM normalize.device_feature_store")" \
      "$(wide_with 2 | sed 's/ is [0-9]* bytes, too wide/ is too wide/')|$(wide_with 1)"
# Background workers see what is committed: in a transaction that has
# written (here, a device's health), a phase must not hand its parts to
# them, or the history would end at the old health.
db=nz_workers_2
ended_at=$(psql_ -d "$db" -At -q -c "SET normalize.workers = 2" -c "BEGIN" \
    -c "UPDATE normalize.devices SET health_score = 12.34 WHERE device_key = (SELECT max(device_key) FROM normalize.devices)" \
    -c "SELECT count(*) FROM normalize.build_history(months => 12)" \
    -c "SELECT round(x.health::numeric, 2) FROM normalize.device_days AS x
         WHERE x.device_key = (SELECT max(device_key) FROM normalize.devices)
           AND x.day = (SELECT as_of FROM normalize.history_info)" -c "ROLLBACK" | tail -1)
check "after a write in its transaction, the history ends at the written health (not the committed one)" \
      "12.34" "$ended_at"
# A part that fails in a worker fails the phase with its error, as with
# one process; the workers' committed staging tables stay until the
# phase's next start, or until run_pipeline records the failure.
psql_ -d "$db" -q -c "UPDATE normalize.device_days SET health = 'NaN'
                        WHERE device_key = (SELECT max(device_key) FROM normalize.devices)
                          AND day = (SELECT min(day) FROM normalize.device_days)" >/dev/null
features_error() {  # workers
    psql_ -d "$db" -At -c "SET normalize.workers = $1" -c "SELECT count(*) FROM normalize.refresh_features()" 2>&1 \
        | grep -m1 ERROR || true
}
staging_tables() {
    psql_ -d "$db" -At -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'normalize'::regnamespace
                            AND relname LIKE 'next\_%'"
}
one=$(features_error 1)
check "a failing part in a worker fails the features as with one process (same error)" "$one" "$(features_error 2)"
left=$(staging_tables)
run=$(psql_ -d "$db" -At -c "SELECT max(run_id) FROM normalize.pipeline_runs")
psql_ -d "$db" -q -c "SELECT normalize.pipeline_fail($run, 'features', 'a test of the record')" >/dev/null
check "its committed staging tables (3) are dropped when the failure is recorded (3|0)" "3|0" "$left|$(staging_tables)"
psql_ -d postgres -c "DROP DATABASE nz_workers_src" -c "DROP DATABASE nz_workers_1" -c "DROP DATABASE nz_workers_2" \
      -c "DROP DATABASE nz_workers_3" >/dev/null
[ "$failed" -eq 0 ]
