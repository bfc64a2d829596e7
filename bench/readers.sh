#!/usr/bin/env bash
# Readers during rebuilds, at scale: how long a reader waits while a phase
# rebuilds what it reads. On create_demo_source(scale => K) (default 10),
# after a whole run_pipeline, each of refresh_features, build_training_sets
# and build_history runs again while another session reads one row of its
# results every 20 ms (each read its own transaction): the device store,
# the churn training set and the device history. Printed per phase: its
# seconds, the reads made while it ran, and their slowest and median times
# (lock waits included); the baseline is the same reads with nothing
# running. The target of the scale issue: no read waits past about a
# second, however long the phase.
#
#   bash bench/readers.sh [K]      NZ_PGPORT (default 54345)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

K=${1:-10}
[[ "$K" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [K] (a positive integer)" >&2; exit 2; }
export NZ_PGPORT=${NZ_PGPORT:-54345}

nz_install_packages
nz_build_and_install
nz_cluster_start
export PGOPTIONS="-c work_mem=64MB -c maintenance_work_mem=512MB"
db=normalize_readers_$K
nz_psql -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PGDATABASE=$db
nz_log "K=$K: demo source and a first pipeline run"
nz_psql -q -c "CREATE EXTENSION normalize" \
        -c "SELECT count(*) FROM normalize.create_demo_source('bench_raw', 1, scale => $K)" \
        -c "SELECT count(*) FROM normalize.use_sources('bench_raw')" \
        -c "SET client_min_messages = warning" -c "CALL normalize.run_pipeline(seed => 42, months => 24)" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One line per read: epoch seconds and milliseconds from the statement's
# arrival to its end, until the file stop exists.
read_loop() {  # relation, output
    rm -f "$work/stop"
    {
        while [ ! -f "$work/stop" ]; do
            echo "SELECT extract(epoch FROM clock_timestamp()) || ' ' ||
                         round(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000, 1)
                    FROM (SELECT count(*) FROM (SELECT 1 FROM $1 LIMIT 1) AS r) AS x;"
            sleep 0.02
        done
    } | "$NZ_PG_BIN/psql" -X -q -At >"$2" 2>&1 &
    reader=$!
}
stop_loop() { touch "$work/stop"; wait "$reader" || true; }
# reads, slowest and median ms of the reads between two epochs
summary() {  # file, from, to
    awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { print $2 }' "$1" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "0 - -"; else printf "%d %.1f %.1f\n", NR, v[NR], v[int((NR + 1) / 2)] }'
}

declare -A CALL=([features]="SELECT count(*) FROM normalize.refresh_features()"
                 [training]="SELECT count(*) FROM normalize.build_training_sets(seed => 7)"
                 [history]="SELECT count(*) FROM normalize.build_history(months => 24, seed => 43)")
declare -A READS=([features]=normalize.device_feature_store [training]=normalize.churn_training_set
                  [history]=normalize.device_days)
declare -A LINE
for phase in features training history; do
    read_loop "${READS[$phase]}" "$work/idle_$phase"
    sleep 5
    stop_loop
    idle=$(summary "$work/idle_$phase" 0 9999999999)
    read_loop "${READS[$phase]}" "$work/$phase"
    sleep 1
    from=$(date +%s.%N)
    nz_psql -q -c "SET client_min_messages = warning" -c "${CALL[$phase]}" >/dev/null
    to=$(date +%s.%N)
    sleep 1
    stop_loop
    grep -q ERROR "$work/$phase" && { echo "a read failed:"; grep ERROR "$work/$phase" | head -3; exit 1; }
    read -r n slowest median < <(summary "$work/$phase" "$from" "$to")
    read -r _ idle_slowest idle_median <<<"$idle"
    LINE[$phase]=$(printf '%-9s %-32s %9.1f %7s %12s %10s %17s %15s' "$phase" "${READS[$phase]}" \
                   "$(awk -v a="$from" -v b="$to" 'BEGIN { print b - a }')" "$n" "$slowest" "$median" \
                   "$idle_slowest" "$idle_median")
    nz_log "${LINE[$phase]}"
done
nz_psql -q -d postgres -c "DROP DATABASE $db"

echo
echo "normalize readers benchmark: reads of one row every 20 ms during each phase's rebuild, create_demo_source(scale => $K)"
echo "settings: $(nz_psql -At -d postgres -c "SELECT 'shared_buffers=' || current_setting('shared_buffers') || ', PostgreSQL ' || current_setting('server_version')")"
printf '%-9s %-32s %9s %7s %12s %10s %17s %15s\n' phase reads "phase s" reads "slowest ms" "median ms" \
       "idle slowest ms" "idle median ms"
for phase in features training history; do echo "${LINE[$phase]}"; done
slowest=$(for phase in features training history; do awk '{ print $5 }' <<<"${LINE[$phase]}"; done | sort -n | tail -1)
echo "target: no read waits past about a second: slowest read ${slowest} ms: $(awk -v s="$slowest" 'BEGIN { print (s <= 1000 ? "MET" : "NOT MET") }')"
