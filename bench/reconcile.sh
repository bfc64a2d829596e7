#!/usr/bin/env bash
# Reconciliation benchmark: normalize.reconcile_ids() on the demo source at
# SCALE times its size (default 1000: 100k customers, 1.2M devices), side by
# side with the plain SQL that links the same rows once the rules are known
# (one CREATE TABLE AS ... JOIN per entity, with the formats parsed by hand).
#
#   bash bench/reconcile.sh [SCALE]
#
# Environment: NZ_BENCH_ROUNDS (default 3), NZ_PGPORT (default 54342).
#
# The rounds alternate the two contenders. The baseline does only the
# linking joins; reconcile_ids() also discovers the rules, keys every row,
# deduplicates, writes the maps and the quarantine, and validates the
# foreign keys, so the ratio is the price of all that. Target: at most 2x.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"

SCALE=${1:-1000}
ROUNDS=${NZ_BENCH_ROUNDS:-3}
export NZ_PGPORT=${NZ_PGPORT:-54342}
[[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [SCALE]" >&2; exit 2; }

nz_install_packages
nz_build_and_install
nz_cluster_start
export PGOPTIONS="-c work_mem=256MB -c maintenance_work_mem=512MB -c jit=off"

nz_psql -q -c "CREATE DATABASE normalize_bench"
export PGDATABASE=normalize_bench
nz_psql -q -c "CREATE EXTENSION normalize"
start=$(date +%s.%N)
nz_psql -q -c "SELECT count(*) FROM normalize.create_demo_source('bench_raw', 1, scale => $SCALE)" >/dev/null
nz_log "demo source at scale $SCALE made in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
nz_psql -q -c "SELECT count(*) FROM normalize.use_sources('bench_raw')" >/dev/null
nz_psql -q -c "VACUUM ANALYZE" >/dev/null

# The baseline: the joins that link the same rows, the rules written by hand
# (offset 10000000; 'ACCT-0042'; blanks and zero padding; 'cust_42').
BASELINE=$(cat <<'SQL'
DROP SCHEMA IF EXISTS baseline CASCADE;
CREATE SCHEMA baseline;
CREATE TABLE baseline.accounts AS
    SELECT 'account:' || c.customer_id AS account_key, c.* FROM bench_raw.customers AS c;
CREATE TABLE baseline.subscriptions AS
    SELECT s.*, 'account:' || c.customer_id AS account_key
      FROM bench_raw.subscriptions AS s
      JOIN bench_raw.customers AS c ON s.account_id::bigint - 10000000 = c.customer_id;
CREATE TABLE baseline.locations AS
    SELECT l.*, 'account:' || c.customer_id AS account_key
      FROM bench_raw.locations AS l JOIN bench_raw.customers AS c ON l.account_id = c.customer_id;
CREATE TABLE baseline.devices AS
    SELECT d.*, 'account:' || c.customer_id AS account_key, 'location:' || l.location_id AS location_key
      FROM bench_raw.devices AS d
      JOIN bench_raw.customers AS c ON split_part(d.account_id, '-', 2)::int = c.customer_id
      LEFT JOIN bench_raw.locations AS l ON l.location_id = d.location_id;
CREATE TABLE baseline.users AS
    SELECT u.*, 'account:' || c.customer_id AS account_key
      FROM bench_raw.users AS u JOIN bench_raw.customers AS c ON btrim(u.account_id)::int = c.customer_id;
CREATE TABLE baseline.campaigns AS
    SELECT k.*, 'account:' || c.customer_id AS account_key
      FROM bench_raw.campaigns AS k JOIN bench_raw.customers AS c ON substr(k.account_id, 6)::int = c.customer_id;
SQL
)
# Context, not the target: the primary and validated foreign keys that the
# normalized tables carry, added to the baseline's tables. The joins plus
# these are the work no reconciliation can skip; what reconcile_ids spends
# beyond them is discovery, staging and provenance.
KEYS=$(cat <<'SQL'
ALTER TABLE baseline.accounts ADD PRIMARY KEY (account_key);
ALTER TABLE baseline.locations ADD PRIMARY KEY (location_id);
ALTER TABLE baseline.subscriptions ADD PRIMARY KEY (subscription_id);
ALTER TABLE baseline.devices ADD PRIMARY KEY (device_id);
ALTER TABLE baseline.users ADD PRIMARY KEY (user_id);
ALTER TABLE baseline.campaigns ADD PRIMARY KEY (campaign_id);
ALTER TABLE baseline.locations ADD FOREIGN KEY (account_key) REFERENCES baseline.accounts;
ALTER TABLE baseline.subscriptions ADD FOREIGN KEY (account_key) REFERENCES baseline.accounts;
ALTER TABLE baseline.devices ADD FOREIGN KEY (account_key) REFERENCES baseline.accounts,
    ADD FOREIGN KEY (location_id) REFERENCES baseline.locations;
ALTER TABLE baseline.users ADD FOREIGN KEY (account_key) REFERENCES baseline.accounts;
ALTER TABLE baseline.campaigns ADD FOREIGN KEY (account_key) REFERENCES baseline.accounts;
SQL
)

declare -a T_RECONCILE T_BASELINE T_KEYED
# The baseline, then its keys (timed apart); T_KEYED holds their sum.
run_baseline() {
    local joins keys
    joins=$(nz_timed "$BASELINE")
    keys=$(nz_timed "$KEYS")
    T_BASELINE+=("$joins")
    T_KEYED+=("$(awk -v a="$joins" -v b="$keys" 'BEGIN { printf "%.3f", a + b }')")
}
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        T_RECONCILE+=("$(nz_timed 'SELECT count(*) FROM normalize.reconcile_ids()')")
        run_baseline
    else
        run_baseline
        T_RECONCILE+=("$(nz_timed 'SELECT count(*) FROM normalize.reconcile_ids()')")
    fi
    nz_log "round $r/$ROUNDS: reconcile_ids ${T_RECONCILE[-1]} s, plain joins ${T_BASELINE[-1]} s, with keys ${T_KEYED[-1]} s"
done

m_rec=$(nz_median "${T_RECONCILE[@]}")
m_base=$(nz_median "${T_BASELINE[@]}")
m_keyed=$(nz_median "${T_KEYED[@]}")
rows=$(nz_psql -Atq -c "SELECT (SELECT count(*) FROM normalize.accounts) || ' accounts, ' ||
                               (SELECT count(*) FROM normalize.devices) || ' devices, ' ||
                               (SELECT count(*) FROM normalize.subscriptions) || ' subscriptions linked; ' ||
                               (SELECT count(*) FROM baseline.devices) || ' devices, ' ||
                               (SELECT count(*) FROM baseline.subscriptions) || ' subscriptions by the plain joins'")

echo
echo "normalize reconciliation benchmark: scale $SCALE, $ROUNDS alternating rounds, median shown"
echo "$rows"
printf '%-44s %10s\n' "contender" "median s"
printf '%-44s %10s\n' "normalize.reconcile_ids()" "$m_rec"
printf '%-44s %10s\n' "plain SQL joins, rules known (baseline)" "$m_base"
printf '%-44s %10s\n' "the same joins, plus PKs and validated FKs" "$m_keyed"
ratio=$(awk -v a="$m_rec" -v b="$m_base" 'BEGIN { printf "%.2f", a / b }')
keyed_ratio=$(awk -v a="$m_rec" -v b="$m_keyed" 'BEGIN { printf "%.2f", a / b }')
floor_ratio=$(awk -v a="$m_keyed" -v b="$m_base" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 2) ? "MET" : "NOT MET" }')
echo "ratio reconcile_ids / baseline: ${ratio}x (target: within 2x): $verdict"
echo "context: reconcile_ids / baseline with keys: ${keyed_ratio}x; the keys alone make the baseline ${floor_ratio}x"
