#!/usr/bin/env bash
# Workers benchmark: the whole pipeline at K times the demo (default 30)
# with workers => 1 and workers => 2, side by side in one cluster, each in
# a fresh database cloned from one that holds the source:
#   CALL normalize.run_pipeline(seed => 42, months => 24, workers => N)
# The two alternate for the rounds given (default 1), so that a change in
# the machine's load falls on both. It prints each run's phase seconds
# (pipeline_phases), its wall seconds and the CPU seconds of the session
# and of its parallel workers (the server's children that ended during the
# run, which an autovacuum worker may add to), then per phase the median
# of 1 worker over the median of 2: the speed-up. The target of the scale
# issue: the whole pipeline at least 1.6x faster with 2 workers than with 1.
# Both runs' tables are compared at the end: their rows counted and the
# 64-bit hashes of their rows summed (a table of the history outgrows one
# string to digest).
#
#   bash bench/workers.sh [K] [rounds]      NZ_PGPORT (default 54345)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

K=${1:-30}
ROUNDS=${2:-1}
[[ "$K" =~ ^[1-9][0-9]*$ && "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [K] [rounds]" >&2; exit 2; }
export NZ_PGPORT=${NZ_PGPORT:-54345}

nz_install_packages
nz_build_and_install
nz_bench_cluster_start
postmaster=$(head -1 "$NZ_CLUSTER_DIR/data/postmaster.pid")

nz_log "K=$K: the source"
nz_psql -q -c "CREATE DATABASE workers_source"
PGDATABASE=workers_source nz_psql -q -c "CREATE EXTENSION normalize" \
    -c "SELECT count(*) FROM normalize.create_demo_source('bench_raw', 1, scale => $K)" \
    -c "SELECT count(*) FROM normalize.use_sources('bench_raw')" -c "VACUUM ANALYZE" >/dev/null

# CPU ticks of the server's children that have ended (parallel workers
# among them), from the postmaster's cutime and cstime.
children_ticks() { awk '{ print $16 + $17 }' "/proc/$postmaster/stat"; }

PHASES=()
declare -A SEC WALL CPU
for ((r = 1; r <= ROUNDS; r++)); do
    for w in 1 2; do
        db=workers_${w}_$r
        nz_psql -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE workers_source"
        export PGDATABASE=$db
        before=$(children_ticks)
        read -r wall cpu _ _ < <(nz_timed_cpu "SET client_min_messages = warning;
                                              CALL normalize.run_pipeline(seed => 42, months => 24, workers => $w)")
        after=$(children_ticks)
        WALL[$w,$r]=$(printf '%.1f' "$wall")
        CPU[$w,$r]=$(awk -v c="$cpu" -v a="$before" -v b="$after" -v hz="$(getconf CLK_TCK)" \
                         'BEGIN { printf "%.1f", c + (b - a) / hz }')
        mapfile -t PHASES < <(nz_psql -At -c "SELECT phase FROM normalize.pipeline_phase_kinds ORDER BY position")
        while read -r phase s; do SEC[$w,$r,$phase]=$s; done < <(nz_psql -At -F ' ' -c \
            "SELECT phase, seconds FROM normalize.pipeline_phases WHERE run_id = (SELECT max(run_id) FROM normalize.pipeline_runs)")
        nz_log "K=$K workers=$w round $r: ${WALL[$w,$r]} s wall, ${CPU[$w,$r]} CPU s"
        export PGDATABASE=postgres
    done
done

# The same rows whatever the workers: every table of every phase, last round.
same=yes
for t in $(PGDATABASE=workers_1_$ROUNDS nz_psql -At -c \
               "SELECT DISTINCT unnest(writes) FROM normalize.phases_from('reconcile') ORDER BY 1"); do
    digest() {
        PGDATABASE=$1 nz_psql -At -c "SELECT count(*) || ':' || coalesce(sum(hashtextextended(r, 0)::numeric), 0)
            FROM (SELECT ROW($(PGDATABASE=$1 nz_psql -At -c "SELECT string_agg(format('x.%I', attname), ', ' ORDER BY attnum)
                    FROM pg_attribute WHERE attrelid = 'normalize.$t'::regclass AND attnum > 0 AND NOT attisdropped
                    AND atttypid <> 'timestamptz'::regtype"))::text AS r FROM normalize.$t AS x) AS s"
    }
    [ "$(digest "workers_1_$ROUNDS")" = "$(digest "workers_2_$ROUNDS")" ] || { same="no: $t differs"; break; }
done

echo
echo "normalize workers benchmark: run_pipeline(seed => 42, months => 24, workers => 1 and 2) on create_demo_source(scale => $K), $ROUNDS round(s)"
echo "settings: $SETTINGS, $(nz_psql -At -c "SELECT 'max_parallel_workers=' || current_setting('max_parallel_workers') || ', PostgreSQL ' || current_setting('server_version')"), $(nproc) cores"
printf '%-10s' "run"; for p in "${PHASES[@]}"; do printf ' %10s' "$p"; done; printf ' %10s %10s\n' "wall s" "CPU s"
for ((r = 1; r <= ROUNDS; r++)); do
    for w in 1 2; do
        printf '%-10s' "w=$w r=$r"; for p in "${PHASES[@]}"; do printf ' %10s' "${SEC[$w,$r,$p]:-}"; done
        printf ' %10s %10s\n' "${WALL[$w,$r]}" "${CPU[$w,$r]}"
    done
done
median_of() {  # workers, phase (or wall)
    local vals=() r
    for ((r = 1; r <= ROUNDS; r++)); do
        if [ "$2" = wall ]; then vals+=("${WALL[$1,$r]}"); else vals+=("${SEC[$1,$r,$2]:-0}"); fi
    done
    nz_median "${vals[@]}"
}
printf '%-10s' "1 / 2"
for p in "${PHASES[@]}" wall; do
    printf ' %10s' "$(awk -v a="$(median_of 1 "$p")" -v b="$(median_of 2 "$p")" 'BEGIN { if (b > 0) printf "x%.2f", a / b; else printf "-" }')"
done
echo
total=$(awk -v a="$(median_of 1 wall)" -v b="$(median_of 2 wall)" 'BEGIN { printf "%.2f", a / b }')
echo "same rows with 1 and 2 workers: $same"
echo "target with 2 workers at least 1.6x faster than with 1: $(awk -v t="$total" 'BEGIN { print (t >= 1.6) ? "MET" : "NOT MET" }') (x$total)"
