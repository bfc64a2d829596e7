#!/usr/bin/env bash
# pg_dump and restore of a database that ran the pipeline keeps what users
# edit (an edited shipped profile, a new profile, the tier mix, the device
# types, a quality threshold, the registered sources and the crosswalk;
# shipped rows come back from CREATE EXTENSION without clashing) and every
# result, byte for byte, with the run log. Prints TAP. Needs PGHOST/PGPORT/PGUSER of a
# running cluster and NZ_PG_BIN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
echo "1..15"
psql_ -d postgres -c "DROP DATABASE IF EXISTS nz_dump_src" -c "DROP DATABASE IF EXISTS nz_dump_dst" \
      -c "CREATE DATABASE nz_dump_src" 2>/dev/null
psql_ -d nz_dump_src >/dev/null <<'SQL'
CREATE EXTENSION normalize;
UPDATE normalize.distribution_profiles SET params = '{"mu": 4.6, "sigma": 0.35}' WHERE name = 'mrr_tier_4';
INSERT INTO normalize.distribution_profiles (name, family, params, lower, upper) VALUES ('seats', 'gamma', '{"shape": 3, "scale": 20}', 1, 500);
UPDATE normalize.tier_mix SET weight = 0.6 WHERE tier = 'Tier 4';
UPDATE normalize.device_types SET failure_rate = 0.009 WHERE device_type = 'gateway';
SELECT count(*) FROM normalize.create_demo_source('dump_raw');
SELECT count(*) FROM normalize.use_sources('dump_raw');
INSERT INTO normalize.id_crosswalk (entity, raw_value, target_id) VALUES ('subscriptions', '10000150', '7');
UPDATE normalize.quality_thresholds SET threshold = 0.995 WHERE check_name = 'mrr within its tier''s range';
INSERT INTO normalize.category_values (category, value, paying) VALUES ('subscription status', 'grace', true);
INSERT INTO normalize.category_spellings (category, spelling, value) VALUES ('subscription status', 'Grace Period', 'grace');
INSERT INTO normalize.placeholder_values (table_name, column_name, value) VALUES ('devices', 'uptime', -1);
SQL
psql_ -d nz_dump_src -c "CALL normalize.run_pipeline(seed => 42, months => 24, as_of => '2025-06-18')" 2>/dev/null
# Every result table, as text in key order.
results() {
    psql_ -d "$1" -At -c "SELECT string_agg(format('%s %s', t, n), ' ') FROM (
        SELECT 'accounts' AS t, md5(string_agg(x::text, '|' ORDER BY x.account_key)) AS n FROM normalize.accounts AS x
        UNION ALL SELECT 'devices', md5(string_agg(x::text, '|' ORDER BY x.device_key)) FROM normalize.devices AS x
        UNION ALL SELECT 'account_map', md5(string_agg(x::text, '|' ORDER BY x.entity, x.raw_value)) FROM normalize.account_map AS x
        UNION ALL SELECT 'quarantine', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM normalize.quarantine AS x
        UNION ALL SELECT 'account_snapshots', md5(string_agg(x::text, '|' ORDER BY x.account_key, x.month)) FROM normalize.account_snapshots AS x
        UNION ALL SELECT 'device_days', md5(string_agg(x::text, '|' ORDER BY x.device_key, x.day)) FROM normalize.device_days AS x
        UNION ALL SELECT 'customer_feature_store', md5(string_agg(x::text, '|' ORDER BY x.account_key, x.as_of)) FROM normalize.customer_feature_store AS x
        UNION ALL SELECT 'churn_samples', md5(string_agg(x::text, '|' ORDER BY x.account_key, x.as_of)) FROM normalize.churn_samples AS x
        UNION ALL SELECT 'history_info', md5(string_agg(x::text, '|')) FROM (SELECT months, window_start, as_of, seed FROM normalize.history_info) AS x) AS r"
}
before=$(results nz_dump_src)
dump=$(mktemp)
"$NZ_PG_BIN/pg_dump" -Fc -d nz_dump_src -f "$dump"
psql_ -d postgres -c "CREATE DATABASE nz_dump_dst"
"$NZ_PG_BIN/pg_restore" -d nz_dump_dst "$dump" 2>&1 | sed 's/^/# /'
rm -f "$dump"
q() { psql_ -d nz_dump_dst -Atc "$1"; }
# The same query on the database that was dumped: counts of shipped rows
# change from release to release, and must come back as they were.
q_src() { psql_ -d nz_dump_src -Atc "$1"; }
check "an edited shipped profile keeps the user's parameters" '{"mu": 4.6, "sigma": 0.35}|false' "$(q "SELECT params::text || '|' || shipped::text FROM normalize.distribution_profiles WHERE name = 'mrr_tier_4'")"
check "a user's new profile is kept" "1" "$(q "SELECT count(*) FROM normalize.distribution_profiles WHERE name = 'seats'")"
check "shipped profiles come back once each" "$(q_src "SELECT count(*) FROM normalize.distribution_profiles")" "$(q "SELECT count(*) FROM normalize.distribution_profiles")"
check "an edited tier weight is kept" "0.6" "$(q "SELECT weight FROM normalize.tier_mix WHERE tier = 'Tier 4'")"
check "an edited device type is kept" "0.009|5" "$(q "SELECT (SELECT failure_rate FROM normalize.device_types WHERE device_type = 'gateway') || '|' || count(*) FROM normalize.device_types")"
check "registered sources are kept" "6" "$(q "SELECT count(*) FROM normalize.sources")"
check "the crosswalk is kept" "7" "$(q "SELECT target_id FROM normalize.id_crosswalk WHERE raw_value = '10000150'")"
check "the demo's declared rule is kept" "offset|10000000|dump_raw.subscriptions" "$(q "SELECT rule || '|' || \"offset\" || '|' || source FROM normalize.id_rule_overrides")"
check "a user's category value and spelling are kept, the shipped ones once each" \
      "grace|true|Grace Period|$(q_src "SELECT (SELECT count(*) FROM normalize.category_values) || '|' || (SELECT count(*) FROM normalize.category_spellings)")" \
      "$(q "SELECT (SELECT value || '|' || paying FROM normalize.category_values WHERE NOT shipped) || '|' || (SELECT spelling FROM normalize.category_spellings WHERE NOT shipped) || '|' || (SELECT count(*) FROM normalize.category_values) || '|' || (SELECT count(*) FROM normalize.category_spellings)")"
check "a user's placeholder value is kept" "devices|uptime|-1|$(q_src "SELECT count(*) FROM normalize.placeholder_values")" \
      "$(q "SELECT (SELECT table_name || '|' || column_name || '|' || value FROM normalize.placeholder_values WHERE NOT shipped) || '|' || count(*) FROM normalize.placeholder_values")"
check "an edited quality threshold is kept" "0.995|$(q_src "SELECT count(*) FROM normalize.quality_thresholds")" \
      "$(q "SELECT (SELECT threshold FROM normalize.quality_thresholds WHERE check_name = 'mrr within its tier''s range') || '|' || count(*) FROM normalize.quality_thresholds")"
check "every result is kept, byte for byte: normalized tables, maps, history, features, training sets" "$before" "$(results nz_dump_dst)"
check "the pipeline's run log is kept" "1|done|6" "$(q "SELECT r.run_id || '|' || r.status || '|' || (SELECT count(*) FROM normalize.pipeline_phases AS p WHERE p.run_id = r.run_id AND p.status = 'done') FROM normalize.pipeline_runs AS r")"
check "the run log's sequence is kept: the next run is run 2" "1|true" "$(q "SELECT last_value || '|' || is_called FROM normalize.pipeline_runs_run_id_seq")"
checks_sql="SELECT count(*) || '|' || count(*) FILTER (WHERE status <> 'pass') FROM normalize.quality_checks()"
check "the restored results pass every quality check, as many as before" \
      "$(psql_ -d nz_dump_src -Atc "$checks_sql" | sed 's/|.*/|0/')" "$(q "$checks_sql")"
psql_ -d postgres -c "DROP DATABASE nz_dump_src" -c "DROP DATABASE nz_dump_dst"
[ "$failed" -eq 0 ]
