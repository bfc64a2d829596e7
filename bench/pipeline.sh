#!/usr/bin/env bash
# Pipeline benchmark: the whole pipeline on the demo source at each scale K
# given (default 1 3 10 30: K times the demo's customers, devices and
# users), each in a fresh database of one throwaway cluster:
#   CALL normalize.run_pipeline(seed => 42, months => 24)
# It prints, per K, each phase's seconds (pipeline_phases), the CPU seconds
# and peak resident memory (VmHWM; in brackets the shared memory resident
# at the end, RssShmem, mostly shared buffers the process touched, which a
# second session shares) of the server process that ran the CALL, the
# rows of the history and the feature stores, and the database's size;
# then the growth of each phase from one K to the next against the growth
# of the data, and the targets of the scale issue: each phase linear
# (t(30) / t(3) <= 11) and K = 100 within 10 minutes end to end.
#
# Then, measured in the same run, the floor of each phase that writes
# tables (history, features, training): the seconds to write its output
# rows again, read from the tables it wrote, into tables like its own,
# their keys and indexes built after the rows and analyzed, as the phase
# does. For quality, which writes nothing, the floor is one read of every
# table it checks (count(*) of each output of the phases before it). The
# target of the scale issue: every phase within 2x of its floor.
#
#   bash bench/pipeline.sh [K ...]      NZ_PGPORT (default 54344)
#
# The settings are printed with the table. Parallel workers are left on:
# the pipeline may use them. JIT is the server's default, as a user has it.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

SCALES=("$@")
[ ${#SCALES[@]} -gt 0 ] || SCALES=(1 3 10 30)
for k in "${SCALES[@]}"; do
    [[ "$k" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [K ...] (positive integers)" >&2; exit 2; }
done
export NZ_PGPORT=${NZ_PGPORT:-54344}

nz_install_packages
nz_build_and_install
nz_bench_cluster_start

PHASES=()  # from the phase registry, once a database has it
declare -A SECONDS_OF CPU WALL PEAK ROWS SIZE FLOOR

# The tables phase $1 writes, or for a phase that writes none, the tables
# the phases it is built on write.
floor_tables() {
    nz_psql -At -c "SELECT t FROM normalize.pipeline_phase_kinds AS k, unnest(k.writes) AS t WHERE k.phase = '$1'
                    UNION ALL
                    SELECT t FROM normalize.pipeline_phase_kinds AS k
                      JOIN normalize.pipeline_phase_kinds AS b ON b.phase = ANY (k.built_on), unnest(b.writes) AS t
                     WHERE k.phase = '$1' AND k.writes = '{}'"
}
# Seconds to write the rows of the given tables again (see the top): each
# copied from the table itself into one like it, timed, then dropped, so
# that the disk holds one copy at a time.
write_floor() {
    local t total=0 sql
    nz_psql -q -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS nz_floor CASCADE" \
            -c "CREATE SCHEMA nz_floor"
    for t in "$@"; do
        sql="CREATE TABLE nz_floor.\"$t\" (LIKE normalize.\"$t\" INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
             INSERT INTO nz_floor.\"$t\" SELECT * FROM normalize.\"$t\";
             $(nz_psql -At -c "SELECT format('ALTER TABLE nz_floor.%I ADD %s;', '$t', pg_get_constraintdef(c.oid))
                                 FROM pg_constraint AS c
                                WHERE c.conrelid = 'normalize.\"$t\"'::regclass AND c.contype IN ('p', 'u')
                               UNION ALL
                               SELECT regexp_replace(pg_get_indexdef(i.indexrelid), ' INDEX \S+ ON \S+ ',
                                                     format(' INDEX ON nz_floor.%I ', '$t')) || ';'
                                 FROM pg_index AS i
                                WHERE i.indrelid = 'normalize.\"$t\"'::regclass
                                  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)")
             ANALYZE nz_floor.\"$t\";"
        total=$(awk -v a="$total" -v b="$(nz_timed "BEGIN; $sql COMMIT;")" 'BEGIN { printf "%.3f", a + b }')
        nz_psql -q -c "DROP TABLE nz_floor.\"$t\""
    done
    nz_psql -q -c "DROP SCHEMA nz_floor CASCADE"
    echo "$total"
}
# Seconds to read every row of the given tables once.
read_floor() {
    local t sql=""
    for t in "$@"; do sql+="SELECT count(*) FROM normalize.\"$t\";"; done
    nz_timed "$sql"
}
for k in "${SCALES[@]}"; do
    db=normalize_bench_$k
    nz_psql -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    export PGDATABASE=$db
    nz_psql -q -c "CREATE EXTENSION normalize" \
            -c "SELECT count(*) FROM normalize.create_demo_source('bench_raw', 1, scale => $k)" \
            -c "SELECT count(*) FROM normalize.use_sources('bench_raw')" -c "VACUUM ANALYZE" >/dev/null
    read -r wall cpu peak shared < <(nz_timed_cpu "SET client_min_messages = warning;
                                                   CALL normalize.run_pipeline(seed => 42, months => 24)")
    WALL[$k]=$(printf '%.1f' "$wall"); CPU[$k]=$(printf '%.1f' "$cpu"); PEAK[$k]="$peak ($shared)"
    mapfile -t PHASES < <(nz_psql -At -c "SELECT phase FROM normalize.pipeline_phase_kinds ORDER BY position")
    while read -r phase s; do SECONDS_OF[$k,$phase]=$s; done < <(nz_psql -At -F ' ' -c \
        "SELECT phase, seconds FROM normalize.pipeline_phases WHERE run_id = (SELECT max(run_id) FROM normalize.pipeline_runs)")
    ROWS[$k]=$(nz_psql -At -c "SELECT (SELECT count(*) FROM normalize.device_days) || ' device days, ' ||
                                      (SELECT count(*) FROM normalize.device_feature_store) || ' device feature rows'")
    SIZE[$k]=$(nz_psql -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")
    for p in history features training quality; do
        mapfile -t tables < <(floor_tables "$p")
        if [ "$p" = quality ]; then FLOOR[$k,$p]=$(read_floor "${tables[@]}")
        else FLOOR[$k,$p]=$(write_floor "${tables[@]}"); fi
    done
    nz_log "K=$k: ${CPU[$k]} CPU s, ${WALL[$k]} s wall, peak ${PEAK[$k]} MB; ${ROWS[$k]}; ${SIZE[$k]}"
    export PGDATABASE=postgres
    nz_psql -q -c "DROP DATABASE $db"
done

echo
echo "normalize pipeline benchmark: run_pipeline(seed => 42, months => 24) on create_demo_source(scale => K)"
echo "settings: $SETTINGS, $(nz_psql -At -c "SELECT 'jit=' || current_setting('jit') || ', max_parallel_workers_per_gather=' || current_setting('max_parallel_workers_per_gather') || ', PostgreSQL ' || current_setting('server_version')")"
printf '%-6s' "K"; for p in "${PHASES[@]}"; do printf ' %10s' "$p"; done
printf ' %10s %10s %14s  %s\n' "wall s" "CPU s" "peak (shm) MB" "rows; database size"
for k in "${SCALES[@]}"; do
    printf '%-6s' "$k"; for p in "${PHASES[@]}"; do printf ' %10s' "${SECONDS_OF[$k,$p]:-}"; done
    printf ' %10s %10s %14s  %s; %s\n' "${WALL[$k]}" "${CPU[$k]}" "${PEAK[$k]}" "${ROWS[$k]}" "${SIZE[$k]}"
done
# Growth from each K to the next: a phase is linear when its time grows
# as the data does (the K ratio).
for ((i = 1; i < ${#SCALES[@]}; i++)); do
    a=${SCALES[i-1]}; b=${SCALES[i]}
    printf 'growth K=%s -> %s (data x%s):' "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", b / a }')"
    for p in "${PHASES[@]}"; do
        printf ' %s x%s' "$p" "$(awk -v x="${SECONDS_OF[$a,$p]}" -v y="${SECONDS_OF[$b,$p]}" \
                                    'BEGIN { if (x > 0) printf "%.1f", y / x; else printf "-" }')"
    done
    echo
done
echo
echo "each phase against its floor (history, features, training: writing their output rows again;"
echo "quality: reading once every table it checks), seconds and ratio:"
worst_floor=0
for k in "${SCALES[@]}"; do
    printf 'K=%-4s' "$k"
    for p in history features training quality; do
        r=$(awk -v x="${SECONDS_OF[$k,$p]}" -v f="${FLOOR[$k,$p]}" 'BEGIN { printf "%.2f", x / f }')
        printf '  %s %s / %.1f = x%s' "$p" "${SECONDS_OF[$k,$p]}" "${FLOOR[$k,$p]}" "$r"
        worst_floor=$(awk -v a="$worst_floor" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
    done
    echo
done
echo "target every phase within 2x of its floor: $(awk -v w="$worst_floor" 'BEGIN { print (w <= 2) ? "MET" : "NOT MET" }') (largest x$worst_floor)"
if [ -n "${WALL[3]:-}" ] && [ -n "${WALL[30]:-}" ]; then
    worst=$(for p in "${PHASES[@]}"; do
                awk -v p="$p" -v x="${SECONDS_OF[3,$p]}" -v y="${SECONDS_OF[30,$p]}" \
                    'BEGIN { if (x > 0) printf "%.1f %s\n", y / x, p }'
            done | sort -rn | head -1)
    verdict=$(awk -v r="${worst%% *}" 'BEGIN { print (r <= 11) ? "MET" : "NOT MET" }')
    echo "target every phase linear, t(30) / t(3) <= 11: $verdict (largest: ${worst#* } x${worst%% *})"
fi
if [ -n "${WALL[100]:-}" ]; then
    verdict=$(awk -v w="${WALL[100]}" 'BEGIN { print (w <= 600) ? "MET" : "NOT MET" }')
    echo "target K=100 end to end within 10 minutes: $verdict (${WALL[100]} s)"
fi
