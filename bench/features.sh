#!/usr/bin/env bash
# Feature engine benchmark: every device and customer feature of normalize's
# catalog on the demo source at K times its size (default 1), side by side
# in one run, interleaved rounds:
#   engine, base view   normalize.write_feature_rows(entity, t): the
#                       pipeline's path, base view included
#   engine, base rows   the same from a table of the base view's rows: the
#                       input DuckDB gets
#   SQL view            INSERT INTO t SELECT * FROM normalize.<entity>_features
#   DuckDB              the same features as plain framed window functions
#                       (bench/duckdb_features.py, pip duckdb, 2 threads)
#                       from a CSV export of the same base rows; loading
#                       them is not timed
#   insert floor        INSERT INTO t SELECT * FROM a table of the same
#                       output rows: what writing them costs at least
# Every Postgres contender writes into an unlogged table without indexes,
# as DuckDB writes into memory. Times are the CPU seconds of the server
# process (the engine and the views run on one core) and wall seconds;
# DuckDB's are its process's wall and CPU seconds over both threads.
# Targets (the scale issue): the engine at least 5x faster than DuckDB in
# wall time from the same base rows, and within 2x of the insert floor.
# DuckDB's rows of 20 entities are compared with the engine's.
#
#   bash bench/features.sh [K]      NZ_BENCH_ROUNDS (default 3), NZ_PGPORT (default 54345)
#
# bench/featuretools.sh compares the customer view with Featuretools.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

K=${1:-1}
ROUNDS=${NZ_BENCH_ROUNDS:-3}
export NZ_PGPORT=${NZ_PGPORT:-54345}
[[ "$K" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [K]" >&2; exit 2; }

nz_install_packages
nz_build_and_install
nz_venv 'duckdb==2.0.1'
nz_cluster_start
SETTINGS="work_mem=256MB jit=off max_parallel_workers_per_gather=0"
export PGOPTIONS="-c work_mem=256MB -c jit=off -c max_parallel_workers_per_gather=0"
nz_psql -q -c "DROP DATABASE IF EXISTS normalize_bench" -c "CREATE DATABASE normalize_bench"
export PGDATABASE=normalize_bench
nz_psql -q <<SQL >/dev/null
CREATE EXTENSION normalize;
SELECT count(*) FROM normalize.create_demo_source('bench_raw', 1, scale => $K);
SELECT count(*) FROM normalize.use_sources('bench_raw');
SELECT count(*) FROM normalize.reconcile_ids();
SELECT count(*) FROM normalize.repair_values(42);
SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 42);
SQL

work=$(mktemp -d)
chmod 777 "$work"
ENTITIES=(device customer)
declare -A KEY=([device]=device_key [customer]=account_key)
nz_psql -q -c "\\copy (SELECT entity, feature, source_metric, aggregation, window_size, data_type, position
                        FROM normalize.feature_catalog) TO '$work/catalog.csv' CSV HEADER"
for e in "${ENTITIES[@]}"; do
    # The base rows, ordered and indexed by key as the history tables are,
    # and the output rows for the floor; neither is timed.
    nz_psql -q <<SQL >/dev/null
CREATE TABLE bench_${e}_base AS SELECT * FROM normalize.${e}_feature_base ORDER BY ${KEY[$e]}, t;
CREATE INDEX ON bench_${e}_base (${KEY[$e]}, t);
CREATE UNLOGGED TABLE bench_${e}_out (LIKE normalize.${e}_feature_store);
CREATE TABLE bench_${e}_rows (LIKE normalize.${e}_feature_store);
SELECT normalize.write_feature_rows('$e', 'bench_${e}_rows');
VACUUM ANALYZE bench_${e}_base;
VACUUM ANALYZE bench_${e}_rows;
SQL
    nz_psql -q -c "\\copy bench_${e}_base TO '$work/${e}_base.csv' CSV HEADER"
done

CONTENDERS=(engine_view engine_rows view duckdb floor)
declare -A LABEL=([engine_view]="engine, base view" [engine_rows]="engine, base rows" [view]="SQL view"
                  [duckdb]="DuckDB, 2 threads" [floor]="insert floor")
declare -A CPU WALL DUCKDB_ROWS
for ((r = 1; r <= ROUNDS; r++)); do
    for e in "${ENTITIES[@]}"; do
        for c in "${CONTENDERS[@]}"; do
            case $c in
                engine_view) sql="SELECT normalize.write_feature_rows('$e', 'bench_${e}_out')" ;;
                engine_rows) sql="SELECT normalize.write_feature_rows('$e', 'bench_${e}_out', 'bench_${e}_base')" ;;
                view) sql="INSERT INTO bench_${e}_out SELECT * FROM normalize.${e}_features" ;;
                floor) sql="INSERT INTO bench_${e}_out SELECT * FROM bench_${e}_rows" ;;
                duckdb) sql="" ;;
            esac
            if [ "$c" = duckdb ]; then
                out=$(python "$BENCH_DIR/duckdb_features.py" "$work/catalog.csv" "$e" "${KEY[$e]}" \
                             "$work/${e}_base.csv" "$work/${e}_duckdb_sample.csv" 2)
                wall=$(sed -n 's/^DUCKDB_SECONDS=//p' <<<"$out")
                cpu=$(sed -n 's/^DUCKDB_CPU=//p' <<<"$out")
                DUCKDB_ROWS[$e]=$(sed -n 's/^DUCKDB_ROWS=//p' <<<"$out")
                DUCKDB_VERSION=$(sed -n 's/^DUCKDB_VERSION=//p' <<<"$out")
            else
                nz_psql -q -c "TRUNCATE bench_${e}_out" -c "CHECKPOINT" >/dev/null
                read -r wall cpu _ < <(nz_timed_cpu "$sql")
            fi
            WALL[$e,$c]+="$wall "
            CPU[$e,$c]+="$cpu "
            nz_log "round $r/$ROUNDS, $e, ${LABEL[$c]}: $cpu CPU s, $wall s"
        done
    done
done

# DuckDB's rows of 20 entities against the engine's: a value differs when
# NULL on one side only, or apart by more than 1e-6 of its size (DuckDB
# sums in its own order and computes stddev and slope its own way).
declare -A AGREE
for e in "${ENTITIES[@]}"; do
    nz_psql -q -c "CREATE TEMP TABLE s (LIKE normalize.${e}_feature_store)" \
            -c "\\copy s FROM '$work/${e}_duckdb_sample.csv' CSV HEADER" \
            -c "CREATE TABLE bench_${e}_duckdb AS SELECT * FROM s" >/dev/null
    AGREE[$e]=$(nz_psql -At <<SQL
SELECT format('%s rows of %s entities, %s values compared, %s differ, %s rows on one side only',
              count(*), count(DISTINCT coalesce(a.${KEY[$e]}, b.${KEY[$e]})), sum(x.compared), sum(x.differ),
              count(*) FILTER (WHERE a.${KEY[$e]} IS NULL OR b.${KEY[$e]} IS NULL))
  FROM bench_${e}_duckdb AS a
  FULL JOIN (SELECT * FROM bench_${e}_rows WHERE ${KEY[$e]} IN (SELECT ${KEY[$e]} FROM bench_${e}_duckdb)) AS b
 USING (${KEY[$e]}, as_of)
 CROSS JOIN LATERAL (
     SELECT count(*) AS compared,
            count(*) FILTER (WHERE (v.a IS NULL) <> (v.b IS NULL)
                                OR abs(v.a - v.b) > 1e-6 * greatest(1, abs(v.a), abs(v.b))) AS differ
       FROM (VALUES $(nz_psql -At -c "SELECT string_agg(format('(a.%1\$I, b.%1\$I)', feature), ', ' ORDER BY position)
                                        FROM normalize.feature_catalog WHERE entity = '$e' AND data_type = 'float8'")) AS v(a, b)) AS x
SQL
)
done
rm -rf "$work"

median_of() { nz_median $1; }
echo
echo "normalize feature engine benchmark: the demo at K = $K, $ROUNDS interleaved rounds, median shown"
echo "$(nz_psql -At -c "SELECT version()" | cut -d, -f1), DuckDB $DUCKDB_VERSION, $(nproc) cores; $SETTINGS"
for e in "${ENTITIES[@]}"; do
    rows=$(nz_psql -At -c "SELECT count(*) FROM bench_${e}_rows")
    base=$(nz_psql -At -c "SELECT count(*) FROM bench_${e}_base")
    features=$(nz_psql -At -c "SELECT count(*) FROM normalize.feature_catalog WHERE entity = '$e'")
    echo
    echo "$e: $features features, $base base rows, $rows cutoff rows (DuckDB: ${DUCKDB_ROWS[$e]} rows)"
    printf '  %-22s %10s %10s\n' contender "CPU s" "wall s"
    for c in "${CONTENDERS[@]}"; do
        printf '  %-22s %10s %10s\n' "${LABEL[$c]}" "$(median_of "${CPU[$e,$c]}")" "$(median_of "${WALL[$e,$c]}")"
    done
    ev=$(median_of "${WALL[$e,engine_rows]}"); dw=$(median_of "${WALL[$e,duckdb]}")
    ec=$(median_of "${CPU[$e,engine_rows]}"); fc=$(median_of "${CPU[$e,floor]}")
    vc=$(median_of "${CPU[$e,view]}"); evc=$(median_of "${CPU[$e,engine_view]}")
    awk -v d="$dw" -v e="$ev" 'BEGIN { r = d / e; printf "  DuckDB wall / engine wall (same base rows): %.1fx (target >= 5x): %s\n", r, (r >= 5) ? "MET" : "NOT MET" }'
    awk -v e="$ec" -v f="$fc" 'BEGIN { r = e / f; printf "  engine CPU / insert floor CPU: %.2fx (target <= 2x): %s\n", r, (r <= 2) ? "MET" : "NOT MET" }'
    awk -v v="$vc" -v e="$evc" 'BEGIN { printf "  SQL view CPU / engine CPU (both from the base view): %.1fx\n", v / e }'
    echo "  DuckDB against the engine: ${AGREE[$e]}"
done
