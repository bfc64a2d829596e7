#!/usr/bin/env bash
# Runs every test of normalize on this machine: the C++ unit tests of the
# core (GoogleTest), the SQL behaviour and error messages (pg_regress), and
# the schema, API contract and invariants (pgTAP), pg_dump and restore, and
# the training sets' signal (scikit-learn, in a virtual environment). Installs
# what it needs from Debian's packages and pip, builds with warnings as
# errors, runs a throwaway cluster, and ends with one line: "N passed, N failed".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$NZ_ROOT"

nz_install_packages
nz_build_and_install

passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }
artifacts=$NZ_ROOT/test/artifacts
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
tap_passed=$(grep -cE '^ok [0-9]' "$artifacts/pgtap.log" || true)
tap_failed=$(grep -cE '^not ok [0-9]' "$artifacts/pgtap.log" || true)
if [ "$tap_status" -ne 0 ] && [ "$tap_failed" -eq 0 ]; then tap_failed=1; fi
count "$tap_passed" "$tap_failed"

nz_log "pg_dump and restore keep what users edit"
set +e
bash test/dump_restore.sh >"$artifacts/dump_restore.log" 2>&1
dump_status=$?
set -e
cat "$artifacts/dump_restore.log"
dump_passed=$(grep -cE '^ok [0-9]' "$artifacts/dump_restore.log" || true)
dump_failed=$(grep -cE '^not ok [0-9]' "$artifacts/dump_restore.log" || true)
if [ "$dump_status" -ne 0 ] && [ "$dump_failed" -eq 0 ]; then dump_failed=1; fi
count "$dump_passed" "$dump_failed"

nz_log "the training sets carry signal and no leak (scikit-learn)"
nz_venv 'scikit-learn==1.5.2' 'pandas==2.2.2' 'numpy<2'
set +e
bash test/ml_signal.sh >"$artifacts/ml_signal.log" 2>&1
ml_status=$?
set -e
cat "$artifacts/ml_signal.log"
ml_passed=$(grep -cE '^ok [0-9]' "$artifacts/ml_signal.log" || true)
ml_failed=$(grep -cE '^not ok [0-9]' "$artifacts/ml_signal.log" || true)
if [ "$ml_status" -ne 0 ] && [ "$ml_failed" -eq 0 ]; then ml_failed=1; fi
count "$ml_passed" "$ml_failed"

nz_cluster_stop
trap - EXIT

nz_log "unit: $unit_passed passed, $unit_failed failed; pg_regress: $regress_passed passed, $regress_failed failed; pgTAP: $tap_passed passed, $tap_failed failed; dump/restore: $dump_passed passed, $dump_failed failed; ML signal: $ml_passed passed, $ml_failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
