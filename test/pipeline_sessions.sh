#!/usr/bin/env bash
# run_pipeline seen from two sessions: progress visible while it runs, a
# second call refused at once, a cancelled run resumed from the phase that
# did not finish with nothing half-written left visible, and the same
# results from a second run with the same arguments, and a call that times
# out while another session locks the run log leaving no lock behind.
# Prints TAP. Needs
# PGHOST/PGPORT/PGUSER of a running cluster and NZ_PG_BIN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
db=nz_pipeline
q() { psql_ -d "$db" -Atc "$1"; }
# Polls until the latest run's phase has the status, for up to 300 s.
wait_for() {  # phase, status
    for _ in $(seq 1500); do
        [ "$(q "SELECT status FROM normalize.pipeline_phases WHERE phase = '$1'
                  AND run_id = (SELECT max(run_id) FROM normalize.pipeline_runs)")" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
results() {
    q "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
         SELECT s::text AS x FROM normalize.account_snapshots AS s
         UNION ALL SELECT c::text FROM normalize.churn_samples AS c
         UNION ALL SELECT d::text FROM normalize.device_health_samples AS d
         UNION ALL SELECT f::text FROM normalize.customer_feature_store AS f) AS t"
}
echo "1..15"
psql_ -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql_ -d "$db" >/dev/null <<'SQL'
CREATE EXTENSION normalize;
SELECT count(*) FROM normalize.create_demo_source('pipeline_raw');
SELECT count(*) FROM normalize.use_sources('pipeline_raw');
SQL
call="CALL normalize.run_pipeline(seed => 42, months => 24, as_of => '2025-06-18')"

log_a=$(mktemp)
# A third session holds the customer store, so that the features phase
# waits at its end (its last step swaps the new stores in) for as long as
# the checks below need, however fast the phases before it.
"$NZ_PG_BIN/psql" -X -q -d "$db" -c "BEGIN" -c "LOCK TABLE normalize.customer_feature_store IN ACCESS SHARE MODE" \
    -c "SELECT pg_sleep(30)" -c "ROLLBACK" >/dev/null 2>&1 &
session_hold=$!
"$NZ_PG_BIN/psql" -X -d "$db" -c "$call" >"$log_a" 2>&1 &
session_a=$!
wait_for features running || true
check "another session sees the run's progress while it runs" "done,done,done,running" \
      "$(q "SELECT string_agg(status, ',' ORDER BY position) FROM normalize.pipeline_phases WHERE position <= 4")"

start=$(date +%s)
out_b=$("$NZ_PG_BIN/psql" -X -d "$db" -c "$call" 2>&1 || true)
check "a second concurrent call fails at once, saying a run is under way" "yes" \
      "$( (grep -q 'run_pipeline is already running' <<<"$out_b" && [ $(($(date +%s) - start)) -lt 10 ]) && echo yes || echo "no: $out_b")"

q "SELECT pg_cancel_backend(backend_pid) FROM normalize.pipeline_runs WHERE status = 'running'" >/dev/null
wait "$session_a" || true
q "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'" >/dev/null
wait "$session_hold" || true
check "a cancelled run is recorded as failed in the phase it was in" "failed|features|done,done,done,failed,pending,pending" \
      "$(q "SELECT r.status || '|' || (SELECT p.phase FROM normalize.pipeline_phases AS p WHERE p.run_id = r.run_id AND p.status = 'failed')
               || '|' || (SELECT string_agg(p.status, ',' ORDER BY p.position) FROM normalize.pipeline_phases AS p WHERE p.run_id = r.run_id)
              FROM normalize.pipeline_runs AS r")"
check "nothing half-written is visible: no features, no training sets" "0|0|0|0" \
      "$(q "SELECT (SELECT count(*) FROM normalize.customer_feature_store) || '|' || (SELECT count(*) FROM normalize.device_feature_store)
               || '|' || (SELECT count(*) FROM normalize.user_feature_store) || '|' || (SELECT count(*) FROM normalize.churn_samples)")"

out=$("$NZ_PG_BIN/psql" -X -d "$db" -c "$call" 2>&1)
check "calling again with the same arguments resumes from the failed phase" "yes" \
      "$(grep -q 'resuming run 1 from phase features' <<<"$out" && ! grep -q 'reconcile done' <<<"$out" && echo yes || echo "no: $out")"
check "the resumed run finishes every phase" "done|6|1" \
      "$(q "SELECT r.status || '|' || (SELECT count(*) FROM normalize.pipeline_phases AS p WHERE p.run_id = r.run_id AND p.status = 'done')
               || '|' || (SELECT count(*) FROM normalize.pipeline_runs) FROM normalize.pipeline_runs AS r")"
first=$(results)

"$NZ_PG_BIN/psql" -X -q -d "$db" -c "$call" >/dev/null 2>&1
check "a finished run is not resumed: a second call is a new run of every phase" "2|6" \
      "$(q "SELECT max(run_id) || '|' || count(*) FILTER (WHERE status = 'done' AND run_id = (SELECT max(run_id) FROM normalize.pipeline_runs))
              FROM normalize.pipeline_phases")"
check "re-running with the same arguments gives the same results" "$first" "$(results)"

# Progress: the feature engine reports its rows done and to do while it
# runs. Its base rows here are the devices' own, with a pause of 3 s after
# the 60th device's first day (about 40,000 rows in).
q "CREATE FUNCTION pause_at(hit boolean) RETURNS boolean LANGUAGE plpgsql AS
     'BEGIN IF hit THEN PERFORM pg_sleep(3); END IF; RETURN true; END';
   CREATE VIEW slow_device_base AS
   SELECT b.* FROM normalize.device_feature_base AS b
    WHERE pause_at(b.t = 1 AND b.device_key = (SELECT device_key FROM normalize.devices ORDER BY 1 OFFSET 59 LIMIT 1));
   CREATE TABLE progress_target (LIKE normalize.device_feature_store)" >/dev/null
"$NZ_PG_BIN/psql" -X -q -d "$db" -c "SELECT normalize.write_feature_rows('device', 'progress_target', 'slow_device_base')" \
    >"$log_a" 2>&1 &
session_a=$!
seen=""
for _ in $(seq 100); do
    seen=$(q "SELECT phase || ' ' || step || ' ' || (rows_done > 0) || ' ' || (rows_done <= rows_to_do)
                FROM normalize.pipeline_progress")
    [ "$(cut -d' ' -f3 <<<"$seen")" = true ] && break
    sleep 0.1
done
check "another session sees the feature engine's rows done and to do while it runs (phase step done>0 done<=to-do)" \
      "features device true true" "$seen"
wait "$session_a" || true
check "a finished step leaves no progress behind" "0|124115" \
      "$(q "SELECT (SELECT count(*) FROM normalize.pipeline_progress) || '|' || (SELECT count(*) FROM progress_target)")"

# The history's generators count the rows they make into the same view.
"$NZ_PG_BIN/psql" -X -q -d "$db" -c "SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 42)" \
    >"$log_a" 2>&1 &
session_a=$!
seen=""
for _ in $(seq 300); do
    seen=$(q "SELECT phase || ' ' || step || ' ' || (rows_done > 0) || ' ' || (rows_done <= rows_to_do)
                FROM normalize.pipeline_progress WHERE step = 'device_days'")
    [ "$(cut -d' ' -f3 <<<"$seen")" = true ] && break
    sleep 0.05
done
check "another session sees the history's device days made and to make while it runs (phase step done>0 done<=to-do)" \
      "history device_days true true" "$seen"
wait "$session_a" || true
check "the history leaves no progress behind" "0" "$(q "SELECT count(*) FROM normalize.pipeline_progress")"

out=$("$NZ_PG_BIN/psql" -X -d "$db" -c "CALL normalize.run_pipeline(seed => 42, months => 0, as_of => '2025-06-18')" 2>&1 || true)
check "a phase that fails says which, why, and how to resume" "yes" \
      "$(grep -q 'phase history failed: months must be' <<<"$out" && grep -q 'resume from this phase' <<<"$out" && echo yes || echo "no: $out")"
# A statement_timeout while pipeline_begin waits for the run log, which
# another session has locked: the session that timed out stays connected,
# and holds no lock that would refuse the next call.
"$NZ_PG_BIN/psql" -X -q -d "$db" -c "BEGIN" -c "LOCK TABLE normalize.pipeline_runs" -c "SELECT pg_sleep(6)" \
    -c "COMMIT" >/dev/null 2>&1 &
session_lock=$!
for _ in $(seq 50); do
    [ "$(q "SELECT count(*) FROM pg_locks WHERE relation = 'normalize.pipeline_runs'::regclass AND granted
              AND mode = 'AccessExclusiveLock'")" = 1 ] && break
    sleep 0.1
done
"$NZ_PG_BIN/psql" -X -q -d "$db" -c "SET statement_timeout = '1s'" -c "$call" -c "RESET statement_timeout" \
    -c "SELECT pg_sleep(8)" >"$log_a" 2>&1 &
session_a=$!
sleep 3
check "a call that timed out waiting for the run log holds no lock, though its session is still there" "0|1" \
      "$(q "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 2125) || '|'
               || (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(8)%')")"
wait "$session_lock" || true
check "another session can then take the pipeline's lock" "t" \
      "$(psql_ -d "$db" -At -c "BEGIN" -c "SELECT normalize.pipeline_lock()" -c "ROLLBACK" | grep -x '[tf]')"
wait "$session_a" || true

rm -f "$log_a"
psql_ -d postgres -c "DROP DATABASE $db"
[ "$failed" -eq 0 ]
