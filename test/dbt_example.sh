#!/usr/bin/env bash
# The dbt example project (examples/dbt) against a database that ran the
# pipeline: `dbt build` runs its models and tests, the models hold the rows
# they should, and a failing normalize quality check fails `dbt test`.
# Prints TAP. Needs PGHOST/PGPORT/PGUSER of a running cluster, NZ_PG_BIN,
# and dbt (dbt-postgres) on PATH.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
db=nz_dbt_example
q() { psql_ -d "$db" -Atc "$1"; }
echo "1..8"
pipeline_db "$db" saas_raw

# dbt writes target/ and logs/ next to the project: run a copy.
work=$(mktemp -d)
cp -r "$root/examples/dbt/." "$work/"
export PGDATABASE=$db DBT_PROFILES_DIR=$work DBT_SEND_ANONYMOUS_USAGE_STATS=false
status=0
(cd "$work" && dbt build --no-use-colors >"$work/build.log" 2>&1) || status=$?
check "dbt build runs every model and test of the example project" "0" "$status"
[ "$status" -eq 0 ] || sed 's/^/#   /' "$work/build.log" | tail -40
check "the models and tests it ran" "yes" \
      "$(grep -qE 'Completed successfully' "$work/build.log" && grep -qE 'PASS=[0-9]+ WARN=0 ERROR=0' "$work/build.log" && echo yes || echo "no: $(grep -E 'PASS=' "$work/build.log")")"
check "account_history holds every snapshot the pipeline stored" \
      "$(q "SELECT count(*) FROM normalize.account_snapshots")" "$(q "SELECT count(*) FROM analytics.account_history")"
check "customer_features_latest holds one row per account with features" \
      "$(q "SELECT count(DISTINCT account_key) FROM normalize.customer_feature_store")" \
      "$(q "SELECT count(*) FROM analytics.customer_features_latest")"
check "churn_training holds the train and validation samples" \
      "$(q "SELECT count(*) FROM normalize.churn_samples WHERE split IN ('train', 'validation')")" \
      "$(q "SELECT count(*) FROM analytics.churn_training")"
check "the keyed draws in account_mrr_scenarios are the extension's" \
      "$(q "SELECT round(normalize.draw('mrr_tier_2', 'account:42', 42)::numeric, 6)")" \
      "$(q "SELECT round(mrr_if_tier_2::numeric, 6) FROM analytics.account_mrr_scenarios WHERE account_key = 'account:42'")"
check "stable keys computed from the raw customer IDs are the normalized tables' keys" "100" \
      "$(q "SELECT count(*) FROM analytics.stg_raw_customers AS c JOIN normalize.accounts AS a USING (account_key)")"

# A check that fails (a coverage threshold above the catalog) fails dbt test.
q "UPDATE normalize.quality_thresholds SET threshold = 400 WHERE check_name = 'features per entity'" >/dev/null
status=0
(cd "$work" && dbt test --no-use-colors --select customer_features_latest >"$work/test.log" 2>&1) || status=$?
check "a failing normalize quality check fails dbt test, naming the test" "failed" \
      "$([ "$status" -ne 0 ] && grep -q 'FAIL .*normalize_quality_checks_customer_features_latest_feature_coverage' "$work/test.log" && echo failed || echo "status $status: $(grep -E 'FAIL|PASS=' "$work/test.log" | head -3)")"
rm -rf "$work"
psql_ -d postgres -c "DROP DATABASE $db"
[ "$failed" -eq 0 ]
