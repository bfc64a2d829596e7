#!/usr/bin/env bash
# Generator benchmark: normalize.random_lognormal against tablefunc's
# normal_rand and a plain-SQL Box-Muller expression, side by side in one run.
#
#   bash bench/generators.sh [N]        N values per draw, default 10000000
#
# Environment:
#   NZ_BENCH_ROUNDS     rounds per contender (default 5)
#   NZ_BENCH_WORK_MEM   work_mem for every contender (default 1GB)
#   NZ_PGPORT           port of the throwaway cluster (default 54341)
#
# Absolute times are noise on a small shared machine, so every contender is
# measured in the same run, in interleaved rounds (the order rotates each
# round, so drift and position hit all of them alike), and the script reports
# the median of each and the ratio of each baseline's median to normalize's:
# a ratio above 1 means normalize is faster.
#
# Each measurement runs in its own session: the query is run once with a
# small N untimed (loads the libraries, warms the catalog caches), then once
# with N, timed on the server with clock_timestamp(), so neither psql nor the
# network nor planning of the warm-up is counted. Every query consumes every
# value through count() and sum(), so nothing can skip the generator, and the
# script checks the count and the mean of what came back.
#
# Raw timings go to bench/results/generators-<timestamp>.csv (gitignored).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

N=${1:-10000000}
ROUNDS=${NZ_BENCH_ROUNDS:-5}
WORK_MEM=${NZ_BENCH_WORK_MEM:-1GB}
WARMUP_N=10000
export NZ_PGPORT=${NZ_PGPORT:-54341}

[[ "$N" =~ ^[1-9][0-9]*$ ]] && [ "$N" -le 2147483647 ] \
    || { echo "usage: $0 [N]   (1 <= N <= 2147483647: normal_rand takes an int)" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] \
    || { echo "NZ_BENCH_ROUNDS must be a positive integer" >&2; exit 2; }

# Contenders: name, what is drawn (for the table), the query (%s is N), and
# the expected mean of the values (a sanity check that all draw the same
# distribution). The lognormal(4.5, 0.4) mean is exp(4.5 + 0.4^2/2).
LOGNORMAL_MEAN=$(awk 'BEGIN { printf "%.4f", exp(4.5 + 0.4 * 0.4 / 2) }')
NAMES=(normalize normal_rand_exp normal_rand box_muller normalize_for)
declare -A LABEL QUERY MEAN
LABEL[normalize]='normalize.random_lognormal(N, 4.5, 0.4, seed => 7)'
QUERY[normalize]='SELECT count(x), sum(x) FROM normalize.random_lognormal(%s, 4.5, 0.4, seed => 7) AS t(x)'
MEAN[normalize]=$LOGNORMAL_MEAN

LABEL[normal_rand_exp]='exp(x) FROM normal_rand(N, 4.5, 0.4)'
QUERY[normal_rand_exp]='SELECT count(x), sum(x) FROM (SELECT exp(z) AS x FROM public.normal_rand(%s, 4.5, 0.4) AS r(z)) AS t'
MEAN[normal_rand_exp]=$LOGNORMAL_MEAN

LABEL[normal_rand]='normal_rand(N, 4.5, 0.4)  [normal, no exp]'
QUERY[normal_rand]='SELECT count(x), sum(x) FROM public.normal_rand(%s, 4.5, 0.4) AS t(x)'
MEAN[normal_rand]=4.5

BOX_MULLER='exp(4.5 + 0.4 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))'
LABEL[box_muller]='Box-Muller SQL over generate_series(1, N)'
QUERY[box_muller]="SELECT count(x), sum(x) FROM (SELECT $BOX_MULLER AS x FROM generate_series(1, %s) AS g) AS t"
MEAN[box_muller]=$LOGNORMAL_MEAN

LABEL[normalize_for]='random_lognormal_for(g::text, ...) over generate_series'
QUERY[normalize_for]='SELECT count(x), sum(x) FROM (SELECT normalize.random_lognormal_for(g::text, 4.5, 0.4, seed => 7) AS x FROM generate_series(1, %s) AS g) AS t'
MEAN[normalize_for]=$LOGNORMAL_MEAN

nz_install_packages
nz_build_and_install
nz_cluster_start

# The same settings in every session: work_mem large enough that no
# contender's tuplestore (a function scan materialises all N rows) spills to
# disk, one core per query, no JIT (it would compile only the generate_series
# plans, whose row estimate is exact, and not the function scans).
export PGOPTIONS="-c work_mem=$WORK_MEM -c max_parallel_workers_per_gather=0 -c jit=off"

nz_psql -q <<'SQL'
CREATE EXTENSION normalize;
CREATE EXTENSION tablefunc;
-- Runs query q (with %s for the number of values) once with warmup values,
-- untimed, then once with n values, timed on the server.
CREATE FUNCTION public.nz_bench_time(q text, n bigint, warmup bigint,
                                     OUT ms float8, OUT cnt bigint, OUT mean float8)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    t1 timestamptz;
    s  float8;
BEGIN
    EXECUTE format(q, warmup) INTO cnt, s;
    t0 := clock_timestamp();
    EXECUTE format(q, n) INTO cnt, s;
    t1 := clock_timestamp();
    ms := extract(epoch FROM t1 - t0) * 1000;
    mean := s / cnt;
END
$$;
SQL

mkdir -p "$BENCH_DIR/results"
CSV="$BENCH_DIR/results/generators-$(date -u +%Y%m%dT%H%M%SZ).csv"
echo 'round,position,contender,n,ms,values_per_sec,mean' >"$CSV"

SERVER=$(nz_psql -At -c 'SHOW server_version')
nz_log "N=$N, $ROUNDS rounds of ${#NAMES[@]} contenders, work_mem=$WORK_MEM; raw timings: $CSV"

for ((r = 1; r <= ROUNDS; r++)); do
    k=${#NAMES[@]}
    for ((p = 0; p < k; p++)); do
        name=${NAMES[$(((p + r - 1) % k))]}
        IFS='|' read -r ms cnt mean < <(nz_psql -At -v q="${QUERY[$name]}" -v n="$N" -v w="$WARMUP_N" \
            <<<"SELECT round(ms::numeric, 3), cnt, round(mean::numeric, 4) FROM public.nz_bench_time(:'q', :n, :w);")
        [ "$cnt" = "$N" ] || { echo "$name returned $cnt values, expected $N" >&2; exit 1; }
        awk -v m="$mean" -v e="${MEAN[$name]}" 'BEGIN { exit !(m > 0.98 * e && m < 1.02 * e) }' \
            || { echo "$name: mean $mean, expected about ${MEAN[$name]}" >&2; exit 1; }
        vps=$(awk -v n="$N" -v ms="$ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
        echo "$r,$((p + 1)),$name,$N,$ms,$vps,$mean" >>"$CSV"
        nz_log "round $r/$ROUNDS  $(printf '%-16s %10.1f ms' "$name" "$ms")"
    done
done

# Median of a contender's times (ms) from the CSV.
median_ms() {
    awk -F, -v c="$1" 'NR > 1 && $3 == c { print $5 }' "$CSV" | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
minmax_ms() {
    awk -F, -v c="$1" 'NR > 1 && $3 == c { print $5 }' "$CSV" | sort -g | sed -n '1p;$p' | paste -sd' '
}

declare -A MED
for name in "${NAMES[@]}"; do MED[$name]=$(median_ms "$name"); done

echo
echo "normalize generator benchmark: PostgreSQL $SERVER, $(nproc) cores"
echo "N = $N values per draw, $ROUNDS interleaved rounds, median shown;"
echo "work_mem = $WORK_MEM, max_parallel_workers_per_gather = 0, jit = off for every contender"
echo
printf '%-16s %-54s %10s %10s %10s %12s\n' contender draws 'median ms' 'min ms' 'max ms' 'Mvalues/s'
for name in "${NAMES[@]}"; do
    read -r lo hi < <(minmax_ms "$name")
    printf '%-16s %-54s %10.1f %10.1f %10.1f %12.2f\n' "$name" "${LABEL[$name]}" \
        "${MED[$name]}" "$lo" "$hi" "$(awk -v n="$N" -v ms="${MED[$name]}" 'BEGIN { print n / ms / 1000 }')"
done

ratio() { awk -v a="${MED[$1]}" -v b="${MED[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "ratios (baseline median / normalize median; > 1 means normalize is faster):"
printf '  %-58s %6sx\n' \
    'random_lognormal vs exp(normal_rand)   [named baseline]' "$(ratio normal_rand_exp normalize)" \
    'random_lognormal vs normal_rand        [normal, no exp]' "$(ratio normal_rand normalize)" \
    'random_lognormal vs Box-Muller SQL' "$(ratio box_muller normalize)" \
    'random_lognormal_for vs Box-Muller SQL [both per row]' "$(ratio box_muller normalize_for)"
echo

r_exp=$(ratio normal_rand_exp normalize)
r_raw=$(ratio normal_rand normalize)
if awk -v r="$r_exp" 'BEGIN { exit !(r >= 1) }'; then
    verdict="MET: normalize.random_lognormal draws ${r_exp}x as fast per value as exp(normal_rand)"
else
    verdict="NOT MET: normalize.random_lognormal draws only ${r_exp}x as fast per value as exp(normal_rand)"
fi
echo "target (no slower than normal_rand per value): $verdict (${r_raw}x raw normal_rand, which skips the exp)"
echo "raw timings: ${CSV#"$NZ_ROOT"/}"
