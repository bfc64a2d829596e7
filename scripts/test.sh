#!/usr/bin/env bash
# Runs every test of normalize on this machine: the C++ unit tests of the
# core (GoogleTest), packaging, the SQL behaviour and error messages
# (pg_regress), the schema, API contract and invariants (pgTAP), the README's
# reference, the upgrade from the previous release, pg_dump and restore,
# run_pipeline from two sessions, the HTML report in headless Chromium, the
# dbt example project (dbt-postgres), and the training sets' signal
# (scikit-learn, in a virtual environment). Installs what it needs from
# Debian's packages and pip, builds with warnings as errors, runs a throwaway
# cluster, and ends with one line: "N passed, N failed".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$NZ_ROOT"

nz_install_packages
nz_build_and_install

passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }
# Counts the TAP results in $artifacts/<name>.log into <name>_passed and
# <name>_failed (a run that failed without a "not ok" line counts as one
# failure), and adds them to the totals.
tap_count() {  # name, exit status
    local p f
    p=$(grep -cE '^ok [0-9]' "$artifacts/$1.log" || true)
    f=$(grep -cE '^not ok [0-9]' "$artifacts/$1.log" || true)
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    printf -v "${1}_passed" %s "$p"
    printf -v "${1}_failed" %s "$f"
    count "$p" "$f"
}
# Runs a script that prints TAP, shows its output and counts it.
run_tap_script() {  # name, script
    local status
    set +e
    bash "$2" >"$artifacts/$1.log" 2>&1
    status=$?
    set -e
    cat "$artifacts/$1.log"
    tap_count "$1" "$status"
}
artifacts=$NZ_ROOT/test/artifacts
export NZ_ARTIFACTS=$artifacts  # where the test scripts keep what they leave for people to see
rm -rf "$artifacts"; mkdir -p "$artifacts"

nz_log "C++ unit tests (GoogleTest)"
set +e
make -s PG_CONFIG="$NZ_PG_CONFIG" WERROR=-Werror unittest 2>&1 | tee "$artifacts/unit.log"
unit_status=${PIPESTATUS[0]}
set -e
unit_passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' "$artifacts/unit.log")
unit_failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' "$artifacts/unit.log")
unit_passed=${unit_passed:-0}; unit_failed=${unit_failed:-0}
if [ "$unit_status" -ne 0 ] && [ "$unit_failed" -eq 0 ]; then unit_failed=1; fi
count "$unit_passed" "$unit_failed"

nz_log "packaging: PGXN metadata, the version, PG_CONFIG"
run_tap_script packaging test/packaging.sh

nz_cluster_start

nz_log "SQL behaviour and error messages (pg_regress)"
set +e
make -s PG_CONFIG="$NZ_PG_CONFIG" installcheck 2>&1 | tee "$artifacts/regress.log"
regress_status=${PIPESTATUS[0]}
set -e
regress_passed=$(grep -cE '^(ok|test) .*\.\.\. ok' "$artifacts/regress.log" || true)
regress_failed=$(grep -cE '\.\.\. FAILED' "$artifacts/regress.log" || true)
if [ "$regress_status" -ne 0 ]; then
    [ "$regress_failed" -eq 0 ] && regress_failed=1
    [ -f regression.diffs ] && cat regression.diffs
fi
count "$regress_passed" "$regress_failed"

nz_log "schema, API contract and invariants (pgTAP)"
nz_psql -q -c "CREATE DATABASE normalize_tap"
nz_psql -q -d normalize_tap -c "CREATE EXTENSION normalize" -c "CREATE EXTENSION pgtap"
set +e
pg_prove --verbose -d normalize_tap test/pgtap/*.sql >"$artifacts/pgtap.log" 2>&1
tap_status=$?
set -e
grep -vE '^ok ' "$artifacts/pgtap.log" || true
tap_count pgtap "$tap_status"

nz_log "the README's reference lists exactly the installed objects"
run_tap_script readme_reference test/readme_reference.sh

nz_log "ALTER EXTENSION normalize UPDATE from the previous release"
run_tap_script upgrade test/upgrade.sh

nz_log "pg_dump and restore keep what users edit"
run_tap_script dump_restore test/dump_restore.sh

nz_log "run_pipeline from two sessions: progress, one run at a time, cancel and resume"
run_tap_script pipeline_sessions test/pipeline_sessions.sh

nz_log "the HTML readiness report renders in headless Chromium"
nz_install_packages chromium
run_tap_script html_report test/html_report.sh

nz_log "the dbt example project builds on the pipeline's results (dbt-postgres)"
NZ_VENV=$NZ_ROOT/.venv-dbt
nz_venv 'dbt-core==1.10.23' 'dbt-postgres==1.10.2'
unset NZ_VENV
run_tap_script dbt_example test/dbt_example.sh

nz_log "the training sets carry signal and no leak (scikit-learn)"
nz_venv 'scikit-learn==1.5.2' 'pandas==2.2.2' 'numpy<2'
run_tap_script ml_signal test/ml_signal.sh

nz_cluster_stop
trap - EXIT

nz_log "unit: $unit_passed passed, $unit_failed failed; packaging: $packaging_passed passed, $packaging_failed failed; pg_regress: $regress_passed passed, $regress_failed failed; pgTAP: $pgtap_passed passed, $pgtap_failed failed; README reference: $readme_reference_passed passed, $readme_reference_failed failed; upgrade: $upgrade_passed passed, $upgrade_failed failed; dump/restore: $dump_restore_passed passed, $dump_restore_failed failed; pipeline sessions: $pipeline_sessions_passed passed, $pipeline_sessions_failed failed; HTML report: $html_report_passed passed, $html_report_failed failed; dbt example: $dbt_example_passed passed, $dbt_example_failed failed; ML signal: $ml_signal_passed passed, $ml_signal_failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
