#!/usr/bin/env bash
# README.md's Reference lists exactly the objects the extension installs:
# its functions, procedures and aggregates, tables, views and types; and
# every table and view has a COMMENT (pgTAP 01_api checks the functions').
# Prints TAP. Needs PGHOST/PGPORT/PGUSER of a running cluster and NZ_PG_BIN.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
db=nz_readme_reference
echo "1..3"
psql_ -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql_ -d "$db" -c "CREATE EXTENSION normalize"
installed=$(psql_ -d "$db" -At <<'SQL'
SELECT DISTINCT name FROM (
    SELECT p.proname::text AS name FROM pg_proc AS p
     WHERE p.pronamespace = 'normalize'::regnamespace
    UNION ALL
    SELECT c.relname::text FROM pg_class AS c
     WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind IN ('r', 'v', 'm')
    UNION ALL
    SELECT t.typname::text FROM pg_type AS t
     WHERE t.typnamespace = 'normalize'::regnamespace AND t.typtype IN ('c', 'd', 'e')
       AND NOT EXISTS (SELECT 1 FROM pg_class AS c WHERE c.oid = t.typrelid AND c.relkind <> 'c')) AS o
 ORDER BY 1
SQL
)
documented=$(python3 "$root/test/docs/reference_names.py" "$root/README.md")
uncommented=$(psql_ -d "$db" -At -c "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class AS c
                                       WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind IN ('r', 'v', 'm')
                                         AND obj_description(c.oid, 'pg_class') IS NULL")
psql_ -d postgres -c "DROP DATABASE $db"
missing=$(comm -23 <(sort <<<"$installed") <(sort <<<"$documented") | tr '\n' ' ')
extra=$(comm -13 <(sort <<<"$installed") <(sort <<<"$documented") | tr '\n' ' ')
if [ -z "$missing" ]; then echo "ok 1 - every installed object is in the README's reference"
else echo "not ok 1 - every installed object is in the README's reference"; echo "#   missing: $missing"; fi
if [ -z "$extra" ]; then echo "ok 2 - the README's reference names no object that is not installed"
else echo "not ok 2 - the README's reference names no object that is not installed"; echo "#   not installed: $extra"; fi
if [ -z "$uncommented" ]; then echo "ok 3 - every table and view has a comment"
else echo "not ok 3 - every table and view has a comment"; echo "#   without: $uncommented"; fi
[ -z "$missing$extra$uncommented" ]
