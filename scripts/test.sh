#!/usr/bin/env bash
# Runs every test of normalize on this machine: the C++ unit tests of the
# core (GoogleTest) and packaging once; then, on each supported PostgreSQL
# version (NZ_PG_VERSIONS, default 15 16 17 18), a build with warnings as
# errors, the SQL behaviour and error messages (pg_regress) and the schema,
# API contract and invariants (pgTAP); and on the first version only, the
# heavier scripts: the README's reference and deliverables, the upgrade
# from each earlier release, pg_dump and restore, the pipeline on two messy
# sources of its own scored against their ground truth, run_pipeline from two
# sessions, the HTML report in headless Chromium, the dbt example project
# (dbt-postgres), the training sets' signal (scikit-learn) and the
# bad-input battery (test/bad_inputs.sh). Installs what it needs from Debian's packages, pip and
# the registries scripts/pg_versions.sh names, runs a throwaway cluster per
# version, and ends with one line: "N passed, N failed".
#
# The first version runs in one lane and the others, one after another, in
# a second, so that both cores are used; each lane builds in a copy of the
# tree of its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$NZ_ROOT"
read -r -a versions <<<"${NZ_PG_VERSIONS:-15 16 17 18}"
# NZ_HEAVY=no skips the heavier scripts (for a quick run on some versions).
# The shell TAP scripts, run on the first version: the count of suites
# expected at the end is taken from this list.
heavy_tests=(readme_reference deliverables upgrade dump_restore messy_sources pipeline_sessions readers_during_rebuild workers
             html_report dbt_example ml_signal bad_inputs)
heavy_scope=all; heavy_count=${#heavy_tests[@]}
if [ "${NZ_HEAVY:-yes}" = no ]; then heavy_scope=core; heavy_count=0; fi

nz_install_packages
artifacts=$NZ_ROOT/test/artifacts
export NZ_ARTIFACTS=$artifacts  # where the test scripts keep what they leave for people to see
rm -rf "$artifacts"; mkdir -p "$artifacts"

# Each suite's counts are lines "label passed failed" in $artifacts/counts.*,
# summed at the end, so that the lanes can write them side by side.
record() {  # label, passed, failed, counts file
    echo "$1|$2|$3" >>"$4"
}
# Counts the TAP results of a log (a run that failed without a "not ok"
# line counts as one failure).
record_tap() {  # label, log, exit status, counts file
    local p f
    p=$(grep -cE '^ok [0-9]' "$2" || true)
    f=$(grep -cE '^not ok [0-9]' "$2" || true)
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record "$1" "$p" "$f" "$4"
}
# Runs a script that prints TAP into a log and counts it.
run_tap_script() {  # label, script, log, counts file
    local status=0
    bash "$2" >"$3" 2>&1 || status=$?
    record_tap "$1" "$3" "$status" "$4"
}

nz_log "C++ unit tests (GoogleTest)"
nz_pg_install "${versions[0]}"
unit_status=0
make -s PG_CONFIG="$NZ_PG_CONFIG" WERROR=-Werror unittest >"$artifacts/unit.log" 2>&1 || unit_status=$?
cat "$artifacts/unit.log"
unit_passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' "$artifacts/unit.log")
unit_failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' "$artifacts/unit.log")
unit_passed=${unit_passed:-0}; unit_failed=${unit_failed:-0}
if [ "$unit_status" -ne 0 ] && [ "$unit_failed" -eq 0 ]; then unit_failed=1; fi
record unit "$unit_passed" "$unit_failed" "$artifacts/counts.0"

nz_log "packaging: PGXN metadata, the frozen releases, the exported symbols, PG_CONFIG"
run_tap_script packaging test/packaging.sh "$artifacts/packaging.log" "$artifacts/counts.0"
cat "$artifacts/packaging.log"

# Every version's server is fetched before the lanes start, so that no two
# downloads or package installs run at once.
for v in "${versions[@]}"; do nz_pg_install "$v"; done
if [ "$heavy_scope" = all ]; then
    nz_install_packages chromium
    NZ_VENV=$NZ_ROOT/.venv-dbt nz_venv 'dbt-core==1.10.23' 'dbt-postgres==1.10.2'
    nz_venv 'scikit-learn==1.5.2' 'pandas==2.2.2' 'numpy<2'
fi

# pg_regress and pgTAP on one version; with "all", the heavier scripts too.
# Writes its logs under $artifacts/pg<major>/.
version_suite() {  # major, scope (core or all)
    local major=$1 scope=$2 dir=$artifacts/pg$1 counts=$artifacts/counts.$1 status
    mkdir -p "$dir"
    nz_pg_install "$major" 2>>"$dir/setup.log"
    local build=$dir/build
    nz_log "PostgreSQL $major: building normalize in $build"
    mkdir -p "$build"
    tar -C "$NZ_ROOT" --exclude=./.git --exclude=./test/artifacts --exclude='./.venv*' \
        --exclude='*.o' --exclude='*.so' -cf - . | tar -C "$build" -xf -
    # shellcheck disable=SC2086  # NZ_PG_MAKEFLAGS is a list of make variables
    if ! { make -C "$build" -s PG_CONFIG="$NZ_PG_CONFIG" $NZ_PG_MAKEFLAGS WERROR=-Werror &&
           nz_as_root make -C "$build" -s PG_CONFIG="$NZ_PG_CONFIG" $NZ_PG_MAKEFLAGS install; } >"$dir/build.log" 2>&1; then
        cat "$dir/build.log" >&2
        record "PostgreSQL $major build" 0 1 "$counts"
        return 0
    fi
    NZ_PGPORT=$((54300 + major)) nz_cluster_start >>"$dir/setup.log" 2>&1

    nz_log "PostgreSQL $major: SQL behaviour and error messages (pg_regress)"
    status=0
    # shellcheck disable=SC2086
    make -C "$build" -s PG_CONFIG="$NZ_PG_CONFIG" $NZ_PG_MAKEFLAGS installcheck >"$dir/regress.log" 2>&1 || status=$?
    local rp rf
    # pg_regress prints "test name ... ok" up to 15 and TAP from 16 on.
    rp=$(grep -cE '^test .*\.\.\. ok|^ok [0-9]' "$dir/regress.log" || true)
    rf=$(grep -cE '^test .*\.\.\. FAILED|^not ok [0-9]' "$dir/regress.log" || true)
    if [ "$status" -ne 0 ] || [ $((rp + rf)) -ne "$(make -C "$build" -s --no-print-directory print-regress | wc -w)" ]; then
        [ "$rf" -eq 0 ] && rf=1
        [ -f "$build/regression.diffs" ] && cp "$build/regression.diffs" "$dir/"
    fi
    record "PostgreSQL $major pg_regress" "$rp" "$rf" "$counts"

    nz_log "PostgreSQL $major: schema, API contract and invariants (pgTAP), on a fixture built once"
    status=0
    ( source "$NZ_ROOT/test/tap.sh"; fixture_db nz_tap_fixture ) >"$dir/pgtap.log" 2>&1 || status=$?
    if [ "$status" -eq 0 ]; then
        nz_psql -q -d postgres -c "CREATE DATABASE nz_tap TEMPLATE nz_tap_fixture"
        pg_prove --verbose --psql-bin "$NZ_PG_BIN/psql" -d nz_tap test/pgtap/*.sql >>"$dir/pgtap.log" 2>&1 || status=$?
    fi
    record_tap "PostgreSQL $major pgTAP" "$dir/pgtap.log" "$status" "$counts"

    if [ "$scope" = all ]; then
        local name
        for name in "${heavy_tests[@]}"; do
            nz_log "PostgreSQL $major: test/$name.sh"
            if [ "$name" = dbt_example ]; then
                PATH=$NZ_ROOT/.venv-dbt/bin:$PATH run_tap_script "$name" "test/$name.sh" "$dir/$name.log" "$counts"
            else
                run_tap_script "$name" "test/$name.sh" "$dir/$name.log" "$counts"
            fi
        done
    fi
    nz_cluster_stop
    trap - EXIT
}

version_suite "${versions[0]}" "$heavy_scope" &
first_lane=$!
(
    for v in "${versions[@]:1}"; do version_suite "$v" core; done
) &
other_lane=$!
wait "$first_lane" || true
wait "$other_lane" || true

# What failed, in full; then a line per suite and the total.
for log in "$artifacts"/pg*/*.log; do
    grep -qE '^not ok|FAILED|^Bail out' "$log" && { echo "--- $log"; grep -vE '^ok ' "$log" | tail -40; }
done
cat "$artifacts"/pg*/regression.diffs 2>/dev/null | head -200 || true
passed=0
failed=0
while IFS='|' read -r label p f; do
    nz_log "$label: $p passed, $f failed"
    passed=$((passed + p)); failed=$((failed + f))
done < <(cat "$artifacts"/counts.*)
expected_suites=$(( 2 + 2 * ${#versions[@]} + heavy_count ))
got_suites=$(cat "$artifacts"/counts.* | wc -l)
if [ "$got_suites" -ne "$expected_suites" ]; then
    nz_log "only $got_suites of $expected_suites suites reported: a lane stopped early"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
