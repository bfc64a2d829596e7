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
# The rounds alternate the contenders. The target is against the same
# output written by hand: plain SQL that, with the rules known, writes the
# rows reconcile_ids writes to the normalized tables, the account map, the
# unlinked rows, the quarantine and the key-case record (columns, stable
# keys, provenance) and gives them the same keys; after the rounds its
# rows are compared with reconcile_ids' rows, both ways. reconcile_ids()
# also discovers the rules, checks every row and deduplicates, so the
# ratio is the price of that. Target: at most 1.15x. Two more contenders,
# for context: the linking joins alone (the baseline), and the baseline
# plus the primary and foreign keys.
#
# Each contender's time is the CPU time (user + system) of the server
# process that ran it, the wall time shown beside it: on a shared machine
# the wall time swings with other load. Parallel workers are off, so that
# the server process does all the work of both.
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
export PGOPTIONS="-c work_mem=256MB -c maintenance_work_mem=512MB -c jit=off -c max_parallel_workers_per_gather=0 -c max_parallel_maintenance_workers=0"

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
# By hand: the plain joins writing the normalized tables' rows (same
# columns and types, stable keys, the rule and the raw reference of every
# row, the repair columns' defaults), the account map (every linked raw
# value with its account, rule and rows, from one GROUP BY per source), the
# rows that link to no account (one anti-join per source that has them)
# with their quarantine entries, and the key-case record; then the same
# primary and validated foreign keys. It knows which sources have rows
# without an account, and that no device's location belongs to another
# account here; reconcile_ids checks.
BY_HAND=$(cat <<'SQL'
DROP SCHEMA IF EXISTS bench_by_hand CASCADE;
CREATE SCHEMA bench_by_hand;
CREATE TABLE bench_by_hand.accounts AS
    SELECT normalize.stable_key('account', c.customer_id::text) AS account_key, c.customer_id::text AS source_id,
           c.name, c.tier, c.mrr, c.industry, c.country, c.created_at, c.snapshot_date,
           NULL::numeric AS mrr_observed, 'observed'::text AS mrr_source,
           NULL::text AS tier_observed, 'observed'::text AS tier_source
      FROM bench_raw.customers AS c;
CREATE TABLE bench_by_hand.subscriptions AS
    SELECT normalize.stable_key('subscription', s.subscription_id) AS subscription_key,
           'account:' || c.customer_id AS account_key, s.subscription_id::text AS source_id,
           s.account_id::text AS source_account_ref, 'offset 10000000'::text AS account_rule,
           false AS account_assigned, NULL::text AS account_issue,
           s.plan, s.mrr, s.status, s.start_date, NULL::date AS end_date, s.snapshot_date
      FROM bench_raw.subscriptions AS s
      JOIN bench_raw.customers AS c ON s.account_id::bigint - 10000000 = c.customer_id;
CREATE TABLE bench_by_hand.locations AS
    SELECT normalize.stable_key('location', l.location_id::text) AS location_key,
           'account:' || c.customer_id AS account_key, l.location_id::text AS source_id,
           l.account_id::text AS source_account_ref, 'exact'::text AS account_rule,
           false AS account_assigned, NULL::text AS account_issue,
           l.name, l.city, l.country, l.snapshot_date
      FROM bench_raw.locations AS l JOIN bench_raw.customers AS c ON l.account_id = c.customer_id;
CREATE TABLE bench_by_hand.devices AS
    SELECT normalize.stable_key('device', d.device_id) AS device_key, 'account:' || c.customer_id AS account_key,
           'location:' || l.location_id AS location_key, d.device_id::text AS source_id,
           d.account_id::text AS source_account_ref, 'number'::text AS account_rule,
           false AS account_assigned, NULL::text AS account_issue,
           d.location_id::text AS source_location_ref,
           CASE WHEN l.location_id IS NOT NULL THEN 'exact' END AS location_rule,
           false AS location_assigned, NULL::text AS location_issue,
           d.device_type, d.status, d.health_score, d.uptime, d.snapshot_date,
           NULL::numeric AS health_score_observed, 'observed'::text AS health_score_source,
           NULL::numeric AS uptime_observed, 'observed'::text AS uptime_source
      FROM bench_raw.devices AS d
      JOIN bench_raw.customers AS c ON split_part(d.account_id, '-', 2)::int = c.customer_id
      LEFT JOIN bench_raw.locations AS l ON l.location_id = d.location_id;
CREATE TABLE bench_by_hand.users AS
    SELECT normalize.stable_key('user', u.user_id::text) AS user_key, 'account:' || c.customer_id AS account_key,
           u.user_id::text AS source_id, u.account_id::text AS source_account_ref,
           'normalized'::text AS account_rule, false AS account_assigned, NULL::text AS account_issue,
           u.role, u.engagement_score, u.last_login, u.snapshot_date,
           NULL::numeric AS engagement_score_observed, 'observed'::text AS engagement_score_source
      FROM bench_raw.users AS u JOIN bench_raw.customers AS c ON btrim(u.account_id)::int = c.customer_id;
CREATE TABLE bench_by_hand.campaigns AS
    SELECT normalize.stable_key('campaign', k.campaign_id) AS campaign_key, 'account:' || c.customer_id AS account_key,
           k.campaign_id::text AS source_id, k.account_id::text AS source_account_ref,
           'number'::text AS account_rule, false AS account_assigned, NULL::text AS account_issue,
           k.name, k.channel, k.budget, k.start_date, k.snapshot_date
      FROM bench_raw.campaigns AS k JOIN bench_raw.customers AS c ON substr(k.account_id, 6)::int = c.customer_id;
CREATE TABLE bench_by_hand.account_map AS
    SELECT 'customers'::text AS entity, a.source_id AS raw_value, a.account_key, 'primary'::text AS rule, 1::bigint AS rows
      FROM bench_by_hand.accounts AS a
    UNION ALL
    SELECT 'locations', v.raw::text, 'account:' || c.customer_id, 'exact', v.rows
      FROM (SELECT account_id AS raw, count(*) AS rows FROM bench_raw.locations GROUP BY 1) AS v
      JOIN bench_raw.customers AS c ON v.raw = c.customer_id
    UNION ALL
    SELECT 'subscriptions', v.raw, 'account:' || c.customer_id, 'offset 10000000', v.rows
      FROM (SELECT account_id AS raw, count(*) AS rows FROM bench_raw.subscriptions GROUP BY 1) AS v
      JOIN bench_raw.customers AS c ON v.raw::bigint - 10000000 = c.customer_id
    UNION ALL
    SELECT 'devices', v.raw, 'account:' || c.customer_id, 'number', v.rows
      FROM (SELECT account_id AS raw, count(*) AS rows FROM bench_raw.devices GROUP BY 1) AS v
      JOIN bench_raw.customers AS c ON split_part(v.raw, '-', 2)::int = c.customer_id
    UNION ALL
    SELECT 'users', v.raw, 'account:' || c.customer_id, 'normalized', v.rows
      FROM (SELECT account_id AS raw, count(*) AS rows FROM bench_raw.users GROUP BY 1) AS v
      JOIN bench_raw.customers AS c ON btrim(v.raw)::int = c.customer_id
    UNION ALL
    SELECT 'campaigns', v.raw, 'account:' || c.customer_id, 'number', v.rows
      FROM (SELECT account_id AS raw, count(*) AS rows FROM bench_raw.campaigns GROUP BY 1) AS v
      JOIN bench_raw.customers AS c ON substr(v.raw, 6)::int = c.customer_id;
CREATE TABLE bench_by_hand.quarantine AS
    SELECT 'subscriptions'::text AS entity, s.subscription_id::text AS source_id, 'account'::text AS reference,
           s.account_id::text AS raw_value,
           CASE WHEN s.account_id IS NULL THEN 'missing account reference' ELSE 'no matching account' END AS reason,
           false AS kept
      FROM bench_raw.subscriptions AS s
     WHERE NOT EXISTS (SELECT FROM bench_raw.customers AS c WHERE s.account_id::bigint - 10000000 = c.customer_id)
    UNION ALL
    SELECT 'users', u.user_id::text, 'account', u.account_id::text,
           CASE WHEN u.account_id IS NULL THEN 'missing account reference' ELSE 'no matching account' END, false
      FROM bench_raw.users AS u
     WHERE NOT EXISTS (SELECT FROM bench_raw.customers AS c WHERE btrim(u.account_id)::int = c.customer_id);
CREATE TABLE bench_by_hand.unlinked_rows AS
    SELECT q.entity, q.source_id,
           normalize.stable_key(CASE q.entity WHEN 'users' THEN 'user' ELSE 'subscription' END, q.source_id) AS entity_key,
           'quarantined'::text AS status
      FROM bench_by_hand.quarantine AS q;
CREATE TABLE bench_by_hand.key_case AS
    SELECT e.entity, false AS keep_case, NULL::text[] AS example_ids
      FROM unnest(ARRAY['customers', 'locations', 'subscriptions', 'devices', 'users', 'campaigns']) AS e(entity);
SQL
)
BY_HAND_KEYS=$(cat <<'SQL'
ALTER TABLE bench_by_hand.accounts ADD PRIMARY KEY (account_key);
ALTER TABLE bench_by_hand.locations ADD PRIMARY KEY (location_key);
ALTER TABLE bench_by_hand.subscriptions ADD PRIMARY KEY (subscription_key);
ALTER TABLE bench_by_hand.devices ADD PRIMARY KEY (device_key);
ALTER TABLE bench_by_hand.users ADD PRIMARY KEY (user_key);
ALTER TABLE bench_by_hand.campaigns ADD PRIMARY KEY (campaign_key);
ALTER TABLE bench_by_hand.locations ADD FOREIGN KEY (account_key) REFERENCES bench_by_hand.accounts;
ALTER TABLE bench_by_hand.subscriptions ADD FOREIGN KEY (account_key) REFERENCES bench_by_hand.accounts;
ALTER TABLE bench_by_hand.devices ADD FOREIGN KEY (account_key) REFERENCES bench_by_hand.accounts,
    ADD FOREIGN KEY (location_key) REFERENCES bench_by_hand.locations;
ALTER TABLE bench_by_hand.users ADD FOREIGN KEY (account_key) REFERENCES bench_by_hand.accounts;
ALTER TABLE bench_by_hand.campaigns ADD FOREIGN KEY (account_key) REFERENCES bench_by_hand.accounts;
CREATE UNIQUE INDEX ON bench_by_hand.account_map (entity, md5(raw_value));
ALTER TABLE bench_by_hand.account_map ADD FOREIGN KEY (account_key) REFERENCES bench_by_hand.accounts;
ALTER TABLE bench_by_hand.key_case ADD PRIMARY KEY (entity);
SQL
)

# Per contender, CPU seconds (C_*) and wall seconds (W_*) of each round.
declare -a C_RECONCILE C_BASELINE C_KEYED C_BY_HAND W_RECONCILE W_BASELINE W_KEYED W_BY_HAND
# Each SQL and then its keys, timed apart; the first is the join time, the
# sum the keyed time. Prints: joins' CPU, keyed CPU, joins' wall, keyed wall.
run_pair() {
    local joins keys
    read -ra joins <<<"$(nz_timed_cpu "$1")"
    read -ra keys <<<"$(nz_timed_cpu "$2")"
    awk -v jw="${joins[0]}" -v jc="${joins[1]}" -v kw="${keys[0]}" -v kc="${keys[1]}" \
        'BEGIN { printf "%.3f %.3f %.3f %.3f", jc, jc + kc, jw, jw + kw }'
}
run_reconcile() {
    local t
    read -ra t <<<"$(nz_timed_cpu 'SELECT count(*) FROM normalize.reconcile_ids()')"
    W_RECONCILE+=("${t[0]}"); C_RECONCILE+=("${t[1]}")
}
run_baseline() {
    local t
    read -ra t <<<"$(run_pair "$BASELINE" "$KEYS")"
    C_BASELINE+=("${t[0]}"); C_KEYED+=("${t[1]}"); W_BASELINE+=("${t[2]}"); W_KEYED+=("${t[3]}")
}
run_by_hand() {
    local t
    read -ra t <<<"$(run_pair "$BY_HAND" "$BY_HAND_KEYS")"
    C_BY_HAND+=("${t[1]}"); W_BY_HAND+=("${t[3]}")
}
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        run_reconcile; run_baseline; run_by_hand
    else
        run_by_hand; run_baseline; run_reconcile
    fi
    nz_log "round $r/$ROUNDS, CPU s (wall s): reconcile_ids ${C_RECONCILE[-1]} (${W_RECONCILE[-1]}), plain joins ${C_BASELINE[-1]} (${W_BASELINE[-1]}), with keys ${C_KEYED[-1]} (${W_KEYED[-1]}), by hand ${C_BY_HAND[-1]} (${W_BY_HAND[-1]})"
done

m_rec=$(nz_median "${C_RECONCILE[@]}")
m_base=$(nz_median "${C_BASELINE[@]}")
m_keyed=$(nz_median "${C_KEYED[@]}")
m_by_hand=$(nz_median "${C_BY_HAND[@]}")
w_rec=$(nz_median "${W_RECONCILE[@]}")
w_base=$(nz_median "${W_BASELINE[@]}")
w_keyed=$(nz_median "${W_KEYED[@]}")
w_by_hand=$(nz_median "${W_BY_HAND[@]}")
rows=$(nz_psql -Atq -c "SELECT (SELECT count(*) FROM normalize.accounts) || ' accounts, ' ||
                               (SELECT count(*) FROM normalize.devices) || ' devices, ' ||
                               (SELECT count(*) FROM normalize.subscriptions) || ' subscriptions linked; ' ||
                               (SELECT count(*) FROM baseline.devices) || ' devices, ' ||
                               (SELECT count(*) FROM baseline.subscriptions) || ' subscriptions by the plain joins'")
# The hand-written SQL is only a fair contender if it wrote what
# reconcile_ids wrote: every column of every row, both ways.
differ=0
for t in accounts locations subscriptions devices users campaigns account_map unlinked_rows quarantine key_case; do
    n=$(nz_psql -Atq -c "SELECT (SELECT count(*) FROM (TABLE normalize.$t EXCEPT ALL TABLE bench_by_hand.$t) AS a)
                              + (SELECT count(*) FROM (TABLE bench_by_hand.$t EXCEPT ALL TABLE normalize.$t) AS b)")
    differ=$((differ + n))
done

echo
echo "normalize reconciliation benchmark: scale $SCALE, $ROUNDS alternating rounds, median shown"
echo "$rows"
echo "rows in which the ten tables written by hand and by reconcile_ids differ: $differ"
printf '%-50s %12s %12s\n' "contender" "median CPU s" "median wall s"
printf '%-50s %12s %12s\n' "normalize.reconcile_ids()" "$m_rec" "$w_rec"
printf '%-50s %12s %12s\n' "plain SQL joins, rules known (baseline)" "$m_base" "$w_base"
printf '%-50s %12s %12s\n' "the same joins, plus PKs and validated FKs" "$m_keyed" "$w_keyed"
printf '%-50s %12s %12s\n' "the same output by hand, rules known, keyed" "$m_by_hand" "$w_by_hand"
ratio=$(awk -v a="$m_rec" -v b="$m_base" 'BEGIN { printf "%.2f", a / b }')
keyed_ratio=$(awk -v a="$m_rec" -v b="$m_keyed" 'BEGIN { printf "%.2f", a / b }')
keys_ratio=$(awk -v a="$m_keyed" -v b="$m_base" 'BEGIN { printf "%.2f", a / b }')
by_hand_ratio=$(awk -v a="$m_by_hand" -v b="$m_base" 'BEGIN { printf "%.2f", a / b }')
rec_by_hand_ratio=$(awk -v a="$m_rec" -v b="$m_by_hand" 'BEGIN { printf "%.2f", a / b }')
wall_ratio=$(awk -v a="$w_rec" -v b="$w_by_hand" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$rec_by_hand_ratio" -v d="$differ" 'BEGIN { print (r <= 1.15 && d == 0) ? "MET" : "NOT MET" }')
echo "ratio reconcile_ids / the same output by hand, CPU: ${rec_by_hand_ratio}x (target: within 1.15x, 0 rows differing): $verdict"
echo "the same ratio in wall time: ${wall_ratio}x"
echo "context (CPU): reconcile_ids / baseline: ${ratio}x; / baseline with keys: ${keyed_ratio}x"
echo "context: the keys alone make the baseline ${keys_ratio}x; the same output by hand is ${by_hand_ratio}x"
