#!/usr/bin/env bash
# ALTER EXTENSION normalize UPDATE from the previous release: a 0.1.0
# database with data in it updates to the current version, ends with the
# same catalog as a fresh install (test/catalog_fingerprint.sql), keeps its
# data, and passes the whole pgTAP suite. Prints TAP. Needs
# PGHOST/PGPORT/PGUSER of a running cluster, NZ_PG_BIN, NZ_PG_CONFIG,
# pg_prove, the git history of 0.1.0, and write access to the server's
# extension directory (root, as in CI, or sudo).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
current=$(control_version)
previous=0.1.0
# 0.1.0 was released from this commit. Its install script is rebuilt from
# git rather than kept in the tree, and put beside the current version's for
# the length of the test.
release_commit=80ab1de33e47b0df9605cf4fcf92551fd3b0928c
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
old_script=$("$NZ_PG_CONFIG" --sharedir)/extension/normalize--$previous.sql
if ! git -C "$root" cat-file -e "$release_commit^{commit}" 2>/dev/null; then
    echo "Bail out! commit $release_commit (release $previous) is not in this clone's history"
    exit 1
fi
built=$(mktemp)
for f in $(git -C "$root" ls-tree --name-only "$release_commit" sql/install/ | sort); do
    git -C "$root" show "$release_commit:$f"
done >"$built"
placed=no
if [ ! -f "$old_script" ]; then
    as_root install -m 644 "$built" "$old_script"
    placed=yes
fi
trap 'rm -f "$built"; [ "$placed" = no ] || as_root rm -f "$old_script"' EXIT
old=nz_upgrade_old
fresh=nz_upgrade_fresh
echo "1..7"
psql_ -d postgres -c "DROP DATABASE IF EXISTS $old" -c "DROP DATABASE IF EXISTS $fresh" \
      -c "CREATE DATABASE $old" -c "CREATE DATABASE $fresh" 2>/dev/null
psql_ -d "$old" >/dev/null <<SQL
CREATE EXTENSION normalize VERSION '$previous';
SELECT count(*) FROM normalize.create_demo_source('upgrade_raw');
SELECT count(*) FROM normalize.use_sources('upgrade_raw');
SELECT count(*) FROM normalize.reconcile_ids();
SELECT count(*) FROM normalize.repair_values(42);
SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 42);
SQL
snapshot() {
    psql_ -d "$old" -Atc "SELECT md5(string_agg(s::text, '|' ORDER BY s.account_key, s.month)) || ' ' ||
                                 (SELECT md5(string_agg(a::text, '|' ORDER BY a.account_key)) FROM normalize.accounts AS a)
                            FROM normalize.account_snapshots AS s"
}
before=$(snapshot)
check "a $previous database updates to $current" "$current" \
      "$(psql_ -d "$old" -c "ALTER EXTENSION normalize UPDATE" && psql_ -d "$old" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'normalize'")"
psql_ -d "$fresh" -c "CREATE EXTENSION normalize"
fresh_catalog=$(psql_ -d "$fresh" -f "$root/test/catalog_fingerprint.sql")
old_catalog=$(psql_ -d "$old" -f "$root/test/catalog_fingerprint.sql")
diff_out=$(diff <(echo "$fresh_catalog") <(echo "$old_catalog") | head -40 || true)
check "the catalog fingerprint covers the extension (over 1,000 items)" "yes" \
      "$([ "$(wc -l <<<"$fresh_catalog")" -gt 1000 ] && echo yes || echo "no: $(wc -l <<<"$fresh_catalog") lines")"
check "the updated catalog is the fresh install's: functions, tables, columns, keys, views, comments, dump marks" "" "$diff_out"
check "its data is kept through the update" "$before" "$(snapshot)"
check "every key column is COLLATE \"C\" after the update" "0" \
      "$(psql_ -d "$old" -Atc "SELECT count(*) FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
                                WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind = 'r' AND a.attname ~ '_key\$'
                                  AND a.attnum > 0 AND a.attcollation <> 'pg_catalog.\"C\"'::regcollation")"
check "the updated database passes the quality checks once the pipeline runs" "68|0" \
      "$(psql_ -d "$old" -c "CALL normalize.run_pipeline(seed => 42, months => 24, as_of => '2025-06-18')" 2>/dev/null &&
         psql_ -d "$old" -Atc "SELECT count(*) || '|' || count(*) FILTER (WHERE status <> 'pass') FROM normalize.quality_checks()")"
psql_ -d "$old" -c "CREATE EXTENSION IF NOT EXISTS pgtap"
status=0
pg_prove -d "$old" "$root"/test/pgtap/*.sql >"${NZ_ARTIFACTS:-/tmp}/pgtap-after-upgrade.log" 2>&1 || status=$?
check "the whole pgTAP suite passes on the updated database" "0" "$status"
[ "$status" -eq 0 ] || grep -vE '^ok ' "${NZ_ARTIFACTS:-/tmp}/pgtap-after-upgrade.log" | sed 's/^/#   /' | tail -20
psql_ -d postgres -c "DROP DATABASE $old" -c "DROP DATABASE $fresh"
[ "$failed" -eq 0 ]
