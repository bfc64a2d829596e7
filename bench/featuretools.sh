#!/usr/bin/env bash
# Featuretools benchmark: every customer feature of normalize for ACCOUNTS
# accounts x 24 months of history (default 10,000), side by side in one run
# with Featuretools' Deep Feature Synthesis computing aggregates of the same
# monthly metrics over the same windows at the same cutoffs (pandas, from a
# CSV export; reading the CSV is not timed).
#
#   bash bench/featuretools.sh [ACCOUNTS]      NZ_BENCH_ROUNDS (default 1), NZ_PGPORT (default 54344)
#
# The accounts come from the demo source at ACCOUNTS / 100 times its size,
# reconciled and repaired; their histories from generate_histories. Devices
# and users get no history here (86M device-days at 10,000 accounts), so
# the roll-up features are NULL on both sides and only the account's own
# metrics are compared. Target: at least 10x faster than Featuretools.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

ACCOUNTS=${1:-10000}
ROUNDS=${NZ_BENCH_ROUNDS:-1}  # one Featuretools round at 10,000 accounts takes about an hour
export NZ_PGPORT=${NZ_PGPORT:-54344}
[[ "$ACCOUNTS" =~ ^[1-9][0-9]*00$ ]] || { echo "usage: $0 [ACCOUNTS, a multiple of 100]" >&2; exit 2; }

nz_install_packages
nz_build_and_install
# Featuretools 1.31 (May 2024) predates pandas 3 and numpy 2.
nz_venv 'featuretools==1.31.0' 'pandas==2.2.2' 'numpy<2'
nz_cluster_start
export PGOPTIONS="-c jit=off -c work_mem=256MB"
nz_psql -q -c "CREATE DATABASE normalize_bench"
export PGDATABASE=normalize_bench
nz_psql -q -c "CREATE EXTENSION normalize"
nz_psql -q <<SQL >/dev/null
SELECT count(*) FROM normalize.create_demo_source('bench_raw', 1, scale => $((ACCOUNTS / 100)));
SELECT count(*) FROM normalize.use_sources('bench_raw');
SELECT count(*) FROM normalize.reconcile_ids();
SELECT count(*) FROM normalize.repair_values(42);
INSERT INTO normalize.account_snapshots
SELECT h.account_key, h.month, h.tier, h.mrr, h.seats, h.active_users, h.support_tickets, h.late_payments,
       h.failed_payments, h.status, h.event
  FROM normalize.generate_histories('normalize.accounts', 24, '2025-06-18', 42) AS h;
INSERT INTO normalize.history_info (months, window_start, as_of, seed) VALUES (24, '2023-07-01', '2025-06-18', 42);
ANALYZE;
SQL

work=$(mktemp -d)
chmod 755 "$work"
# The account's own metrics of the base view, and the cutoffs.
nz_psql -q <<'SQL'
CREATE TABLE bench_base AS
SELECT b.account_key, s.month, b.as_of AS known_at, b.mrr, b.seats, b.active_users, b.active_user_ratio,
       b.tier_number, b.mrr_per_seat, b.support_tickets, b.late_payments, b.failed_payments, b.payment_on_time,
       b.upgrades, b.downgrades
  FROM normalize.customer_feature_base AS b
  JOIN normalize.account_snapshots AS s ON s.account_key = b.account_key
   AND b.as_of = least((s.month + interval '1 month' - interval '1 day')::date, date '2025-06-18')
 ORDER BY 1, 2;
SQL
nz_psql -q -c "\\copy bench_base TO '$work/base.csv' CSV HEADER"
nz_psql -q -c "\\copy (SELECT account_key, known_at AS as_of FROM bench_base ORDER BY 1, 2) TO '$work/cutoffs.csv' CSV HEADER"

declare -a T_NZ T_FT
for ((r = 1; r <= ROUNDS; r++)); do
    T_NZ+=("$(nz_timed "DROP TABLE IF EXISTS bench_features; CREATE UNLOGGED TABLE bench_features AS SELECT * FROM normalize.customer_features")")
    out=$(python "$BENCH_DIR/featuretools_customers.py" "$work/base.csv" "$work/cutoffs.csv")
    T_FT+=("$(sed -n 's/^FEATURETOOLS_SECONDS=//p' <<<"$out")")
    ft_features=$(sed -n 's/^FEATURETOOLS_FEATURES=//p' <<<"$out")
    ft_rows=$(sed -n 's/^FEATURETOOLS_ROWS=//p' <<<"$out")
    nz_log "round $r/$ROUNDS: normalize ${T_NZ[-1]} s, featuretools ${T_FT[-1]} s"
done
rm -rf "$work"

m_nz=$(nz_median "${T_NZ[@]}")
m_ft=$(nz_median "${T_FT[@]}")
nz_rows=$(nz_psql -Atq -c "SELECT count(*) FROM bench_features")
nz_features=$(nz_psql -Atq -c "SELECT count(*) FROM normalize.feature_catalog WHERE entity = 'customer'")
nz_own=$(nz_psql -Atq -c "SELECT count(*) FROM normalize.feature_catalog WHERE entity = 'customer' AND family NOT IN ('devices', 'users')")

echo
echo "normalize feature benchmark: $ACCOUNTS accounts x 24 months, $ROUNDS rounds, median shown"
printf '%-52s %10s %10s %10s\n' contender features rows "median s"
printf '%-52s %10s %10s %10s\n' "normalize.customer_features (into a table)" "$nz_features" "$nz_rows" "$m_nz"
printf '%-52s %10s %10s %10s\n' "  of which from the account's own metrics" "$nz_own" "" ""
printf '%-52s %10s %10s %10s\n' "featuretools DFS, same metrics, windows, cutoffs" "$ft_features" "$ft_rows" "$m_ft"
ratio=$(awk -v a="$m_ft" -v b="$m_nz" 'BEGIN { printf "%.1f", a / b }')
per_feature=$(awk -v a="$m_ft" -v b="$m_nz" -v fa="$ft_features" -v fb="$nz_features" 'BEGIN { printf "%.1f", (a / fa) / (b / fb) }')
echo "normalize is ${ratio}x as fast as featuretools (target >= 10x): $(awk -v r="$ratio" 'BEGIN { print (r >= 10) ? "MET" : "NOT MET" }')"
echo "per feature computed: ${per_feature}x"
