#!/usr/bin/env bash
# History benchmark: normalize.generate_history over ACCOUNTS accounts x 24
# months (default 100,000), side by side in one run with
#   (a) a pure-SQL recursive CTE simulating the same kind of monthly Markov
#       lifecycle (tier moves, revenue growth, churn, seats, users, tickets,
#       payments), and
#   (b) generate_series producing the same number of rows with the same
#       column types: the floor.
# Each is timed streaming (SELECT count(*)) and into an UNLOGGED table, in
# alternating rounds; the script prints rows per second and ratios. Then it
# prints the peak memory (VmHWM) of a fresh backend streaming the history of
# 10k, 100k and 1M accounts.
#
#   bash bench/history.sh [ACCOUNTS]      NZ_BENCH_ROUNDS (default 3), NZ_PGPORT (default 54343)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

ACCOUNTS=${1:-100000}
ROUNDS=${NZ_BENCH_ROUNDS:-3}
export NZ_PGPORT=${NZ_PGPORT:-54343}
[[ "$ACCOUNTS" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ACCOUNTS]" >&2; exit 2; }

nz_install_packages
nz_build_and_install
nz_cluster_start
export PGOPTIONS="-c jit=off -c max_parallel_workers_per_gather=0 -c work_mem=64MB"
nz_psql -q -c "CREATE DATABASE normalize_bench"
export PGDATABASE=normalize_bench
nz_psql -q -c "CREATE EXTENSION normalize"

nz_psql -q -c "CREATE TABLE bench_accounts AS
  SELECT 'account:' || g AS account_key, 'Tier ' || (1 + g % 4) AS tier, (50 + g % 900)::float8 AS mrr,
         date '2015-01-01' AS created_at FROM generate_series(1, $ACCOUNTS) AS g"
# Every account existed before the window (created 2015), so each has up to
# 24 months; churn ends some earlier, which the other contenders mimic.
NORMALIZE="SELECT h.* FROM generate_series(1, $ACCOUNTS) AS g
  CROSS JOIN LATERAL normalize.generate_history('account:' || g, 'Tier ' || (1 + g % 4), 50 + g % 900, 24,
                                                '2025-06-18', 42, '2015-01-01') AS h"
BATCH="SELECT * FROM normalize.generate_histories('bench_accounts', 24, '2025-06-18', 42)"
CTE="WITH RECURSIVE h (account_key, month, tier, mrr, seats, active_users, support_tickets, late_payments,
                     failed_payments, status, event) AS (
    SELECT 'account:' || g, date '2023-07-01', 1 + g % 4, (50 + g % 900)::float8, 1, 1, 0, 0, 0, 'active', NULL::text
      FROM generate_series(1, $ACCOUNTS) AS g
    UNION ALL
    SELECT x.account_key, (x.month + interval '1 month')::date, x.t, x.m,
           greatest(1, round(x.m / 40))::int, floor(greatest(1, round(x.m / 40)) * random())::int,
           floor(-ln(1 - random()))::int, (random() < 0.04)::int, (random() < 0.015)::int,
           CASE WHEN random() < 0.02 THEN 'churned' ELSE 'active' END, NULL
      FROM (SELECT h.*, CASE WHEN random() < 0.01 THEN greatest(1, h.tier - 1)
                             WHEN random() < 0.005 THEN least(4, h.tier + 1) ELSE h.tier END AS t,
                   h.mrr * (1.01 + 0.02 * (random() - 0.5)) AS m
              FROM h WHERE h.month < date '2025-06-01' AND h.status = 'active') AS x)
SELECT account_key, month, 'Tier ' || tier AS tier, mrr, seats, active_users, support_tickets, late_payments,
       failed_payments, status, event FROM h"
ROWS=$(nz_psql -Atq -c "SELECT count(*) FROM ($NORMALIZE) AS t")
FLOOR="SELECT 'account:' || g AS account_key, date '2025-06-01' AS month, 'Tier 1'::text AS tier, g::float8 AS mrr,
       1 AS seats, 1 AS active_users, 0 AS support_tickets, 0 AS late_payments, 0 AS failed_payments,
       'active'::text AS status, NULL::text AS event
  FROM generate_series(1, $ROWS) AS g"

declare -A T
for ((r = 1; r <= ROUNDS; r++)); do
    for name in normalize batch cte floor; do
        case $name in normalize) q=$NORMALIZE ;; batch) q=$BATCH ;; cte) q=$CTE ;; floor) q=$FLOOR ;; esac
        T[$name,stream,$r]=$(nz_timed "SELECT count(*) FROM ($q) AS t")
        T[$name,table,$r]=$(nz_timed "DROP TABLE IF EXISTS bench_out; CREATE UNLOGGED TABLE bench_out AS $q")
        nz_log "round $r: $name streaming ${T[$name,stream,$r]} s, into a table ${T[$name,table,$r]} s"
    done
done
med() { local xs=() r; for ((r = 1; r <= ROUNDS; r++)); do xs+=("${T[$1,$2,$r]}"); done; nz_median "${xs[@]}"; }

echo
echo "normalize history benchmark: $ACCOUNTS accounts x 24 months = $ROWS rows, $ROUNDS rounds, median shown"
printf '%-46s %12s %14s %12s %14s\n' contender "stream s" "stream rows/s" "table s" "table rows/s"
for name in normalize batch cte floor; do
    s=$(med "$name" stream); t=$(med "$name" table)
    label=$name
    [ "$name" = normalize ] && label="normalize.generate_history (LATERAL)"
    [ "$name" = batch ] && label="normalize.generate_histories (one call)"
    [ "$name" = cte ] && label="recursive CTE Markov lifecycle (SQL)"
    [ "$name" = floor ] && label="generate_series, same rows and types (floor)"
    printf '%-46s %12s %14.0f %12s %14.0f\n' "$label" "$s" "$(awk -v r="$ROWS" -v s="$s" 'BEGIN { print r / s }')" \
        "$t" "$(awk -v r="$ROWS" -v s="$t" 'BEGIN { print r / s }')"
done
cs=$(med cte stream); ft=$(med floor table)
for name in normalize batch; do
    ns=$(med "$name" stream); nt=$(med "$name" table)
    r1=$(awk -v a="$cs" -v b="$ns" 'BEGIN { printf "%.2f", a / b }')
    r2=$(awk -v a="$nt" -v b="$ft" 'BEGIN { printf "%.2f", a / b }')
    echo "$name streaming: ${r1}x as fast as the recursive CTE (target >= 4x): $(awk -v r="$r1" 'BEGIN { print (r >= 4) ? "MET" : "NOT MET" }')"
    echo "$name into a table: ${r2}x the floor's time (target <= 1.3x): $(awk -v r="$r2" 'BEGIN { print (r <= 1.3) ? "MET" : "NOT MET" }')"
done

echo
echo "peak backend memory (VmHWM of a fresh session) streaming the history of N accounts:"
for n in 10000 100000 1000000; do
    hwm=$(nz_psql -Atq -c "SET work_mem = '4MB'" -c "SELECT count(*) FROM generate_series(1, $n) AS g
                             CROSS JOIN LATERAL normalize.generate_history('account:' || g, 'Tier 4', 90, 24,
                                                                           '2025-06-18', 42, '2015-01-01') AS h" \
                       -c "SELECT regexp_replace(pg_read_file('/proc/self/status'), '.*VmHWM:\s*([0-9]+ kB).*', '\1', 's')" | tail -1)
    printf '  %8s accounts: %s\n' "$n" "$hwm"
done
