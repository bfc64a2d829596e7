# Sourced by the test scripts that print TAP: psql that stops at the first
# error, check(description, expected, actual), and a database with the demo
# source and the whole pipeline run on it.
psql_() { "$NZ_PG_BIN/psql" -X -v ON_ERROR_STOP=1 -q "$@"; }
n=0; failed=0
check() {  # description, expected, actual
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; echo "#   expected: $2"; echo "#        got: $3"; failed=$((failed + 1)); fi
}
pipeline_db() {  # database, source schema: made afresh, then the pipeline run on the demo source
    psql_ -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" 2>/dev/null
    psql_ -d "$1" >/dev/null 2>&1 <<SQL
CREATE EXTENSION normalize;
SELECT count(*) FROM normalize.create_demo_source('$2');
SELECT count(*) FROM normalize.use_sources('$2');
CALL normalize.run_pipeline(seed => 42, months => 24, as_of => '2025-06-18');
SQL
}
control_version() {  # the version normalize.control declares
    sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\\(.*\\)'/\\1/p" "$(dirname "${BASH_SOURCE[0]}")/../normalize.control"
}
# The pgTAP suite runs on a database that ran the whole pipeline on this
# demo source (its files that read the pipeline's results check that it
# did): built once, then cloned for each run of the suite.
NZ_FIXTURE_SOURCE=tap_fixture
fixture_pipeline() {  # extra arguments of run_pipeline, as SQL: the CALL that builds the fixture
    echo "CALL normalize.run_pipeline(seed => 42, months => 24, as_of => '2025-06-18'${1:+, $1})"
}
fixture_db() {  # database: made afresh with normalize, pgtap, the fixture source and the pipeline run on it
    psql_ -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" 2>/dev/null
    psql_ -d "$1" -c "CREATE EXTENSION normalize" -c "CREATE EXTENSION pgtap" \
          -c "SELECT count(*) FROM normalize.create_demo_source('$NZ_FIXTURE_SOURCE', 1)" \
          -c "SELECT count(*) FROM normalize.use_sources('$NZ_FIXTURE_SOURCE')" >/dev/null
    psql_ -d "$1" -c "$(fixture_pipeline)" 2>/dev/null
}
