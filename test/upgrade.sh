#!/usr/bin/env bash
# ALTER EXTENSION normalize UPDATE from each earlier release: a database
# that ran the whole pipeline on an earlier version (0.1.0, updated through
# 0.2.0; and 0.2.0) updates to the current version, ends with the same
# catalog as a fresh install (test/catalog_fingerprint.sql), keeps every
# row of its tables, runs the pipeline again, and passes the whole pgTAP
# suite. The released install scripts are frozen files that `make install`
# ships, so no git history is needed. Prints TAP. Needs PGHOST/PGPORT/PGUSER
# of a running cluster with the current version installed, NZ_PG_BIN and
# pg_prove.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
current=$(control_version)
fresh=nz_upgrade_fresh

# Every table of the schema, as the md5 of its rows' text in byte order, a
# line each: what an update must keep. With a second argument, the JSON of
# column_lists of the database before the update: only those tables and
# columns, since an update may add columns and tables.
table_digests() {  # database [columns]
    psql_ -d "$1" -At -v columns="${2:-}" <<'SQL'
SELECT set_config('nz.digest_columns', :'columns', false) IS NULL;
DO $$
DECLARE
    t record;
    spec jsonb := nullif(current_setting('nz.digest_columns'), '')::jsonb;
    cols text;
    digest text;
BEGIN
    CREATE TEMP TABLE digests (name text, digest text);
    FOR t IN SELECT c.oid, c.relname FROM pg_catalog.pg_class AS c
              WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind = 'r' ORDER BY c.relname LOOP
        IF spec IS NULL THEN
            SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
              FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped;
        ELSE
            CONTINUE WHEN NOT spec ? t.relname;
            SELECT string_agg(quote_ident(c.name), ', ' ORDER BY c.n) INTO cols
              FROM jsonb_array_elements_text(spec -> t.relname) WITH ORDINALITY AS c(name, n);
        END IF;
        -- Shipped rows are the release's, which an update may add to or
        -- change; the user's rows and every result are what it must keep.
        EXECUTE format('SELECT md5(coalesce(string_agg(x::text, ''|'' ORDER BY x::text COLLATE "C"), '''')) FROM (SELECT %s FROM normalize.%I AS t%s) AS x',
                       cols, t.relname,
                       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                                          WHERE a.attrelid = t.oid AND a.attname = 'shipped' AND NOT a.attisdropped)
                            THEN ' WHERE NOT t.shipped' ELSE '' END) INTO digest;
        INSERT INTO digests VALUES (t.relname, digest);
    END LOOP;
END
$$;
SELECT name || ' ' || digest FROM digests ORDER BY name;
SQL
}

# The columns of every table of the schema, as JSON: {table: [column, ...]}.
column_lists() {  # database
    psql_ -d "$1" -At -c "SELECT json_object_agg(c.relname, (SELECT json_agg(a.attname ORDER BY a.attnum)
                                                            FROM pg_catalog.pg_attribute AS a
                                                           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
                            FROM pg_catalog.pg_class AS c
                           WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind = 'r'"
}

# The whole pipeline as each release runs it (0.1.0 had no run_pipeline),
# on the pgTAP suite's fixture source, so that the suite can run on the
# updated database.
run_release_pipeline() {  # database, version
    psql_ -d "$1" -c "SELECT count(*) FROM normalize.create_demo_source('$NZ_FIXTURE_SOURCE', 1)" \
          -c "SELECT count(*) FROM normalize.use_sources('$NZ_FIXTURE_SOURCE')" >/dev/null
    case "$2" in
        0.1.0) psql_ -d "$1" >/dev/null <<'SQL' ;;
SELECT count(*) FROM normalize.reconcile_ids();
SELECT count(*) FROM normalize.repair_values(42);
SELECT count(*) FROM normalize.build_history(24, '2025-06-18', 42);
SELECT count(*) FROM normalize.refresh_features();
SELECT count(*) FROM normalize.build_training_sets(42);
SQL
        *) psql_ -d "$1" -c "$(fixture_pipeline)" 2>/dev/null ;;
    esac
}

extversion() { psql_ -d "$1" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'normalize'"; }

echo "1..16"
psql_ -d postgres -c "DROP DATABASE IF EXISTS $fresh" -c "CREATE DATABASE $fresh" 2>/dev/null
psql_ -d "$fresh" -c "CREATE EXTENSION normalize"
fresh_catalog=$(psql_ -d "$fresh" -f "$root/test/catalog_fingerprint.sql")
check "the catalog fingerprint covers the extension (over 1,000 items)" "yes" \
      "$([ "$(wc -l <<<"$fresh_catalog")" -gt 1000 ] && echo yes || echo "no: $(wc -l <<<"$fresh_catalog") lines")"

for previous in 0.1.0 0.2.0; do
    old=nz_upgrade_from_${previous//./_}
    psql_ -d postgres -c "DROP DATABASE IF EXISTS $old" -c "CREATE DATABASE $old" 2>/dev/null
    psql_ -d "$old" -c "CREATE EXTENSION normalize VERSION '$previous'"
    run_release_pipeline "$old" "$previous"
    before=$(table_digests "$old" | grep -v '^[tf]$')
    columns=$(column_lists "$old")
    if [ "$previous" = 0.1.0 ]; then
        check "a 0.1.0 database updates to 0.2.0 first" "0.2.0" \
              "$(psql_ -d "$old" -c "ALTER EXTENSION normalize UPDATE TO '0.2.0'" && extversion "$old")"
    fi
    check "a $previous database that ran the pipeline updates to $current" "$current" \
          "$(psql_ -d "$old" -c "ALTER EXTENSION normalize UPDATE" && extversion "$old")"
    old_catalog=$(psql_ -d "$old" -f "$root/test/catalog_fingerprint.sql")
    check "from $previous: the updated catalog is the fresh install's (functions, tables, columns, keys, views, comments, dump marks)" "" \
          "$(diff <(echo "$fresh_catalog") <(echo "$old_catalog") | head -40 || true)"
    after=$(table_digests "$old" "$columns" | grep -v '^[tf]$')
    check "from $previous: the pipeline's run left rows in at least 20 tables" "yes" \
          "$(n=$(grep -vc ' d41d8cd98f00b204e9800998ecf8427e$' <<<"$before"); [ "$n" -ge 20 ] && echo yes || echo "no: $n")"
    # Tables and columns the update adds are left out: they were not
    # there to keep.
    check "from $previous: every table's rows are kept through the update" "" \
          "$(diff <(echo "$before") <(echo "$after") | head -20 || true)"
    check "from $previous: every key column is COLLATE \"C\" after the update" "0" \
          "$(psql_ -d "$old" -Atc "SELECT count(*) FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
                                    WHERE c.relnamespace = 'normalize'::regnamespace AND c.relkind = 'r' AND a.attname ~ '_key\$'
                                      AND a.attnum > 0 AND a.attcollation <> 'pg_catalog.\"C\"'::regcollation")"
    # As the changelog says: a demo source made by an earlier release has
    # dense customer IDs, whose subscription offset the data no longer
    # decide; its rule is declared, as create_demo_source now does.
    psql_ -d "$old" -c "INSERT INTO normalize.id_rule_overrides (entity, reference, rule, \"offset\", source)
                        VALUES ('subscriptions', 'account', 'offset', 10000000, '$NZ_FIXTURE_SOURCE.subscriptions')"
    check "from $previous: the updated database runs the pipeline again and passes every quality check" "0" \
          "$(psql_ -d "$old" -c "$(fixture_pipeline "restart => true")" 2>/dev/null &&
             psql_ -d "$old" -Atc "SELECT count(*) FILTER (WHERE status <> 'pass') FROM normalize.quality_checks()")"
    # The suite makes its own demo sources, whose rule create_demo_source
    # declares unless a user's row stands in its place.
    psql_ -d "$old" -c "DELETE FROM normalize.id_rule_overrides" -c "CREATE EXTENSION IF NOT EXISTS pgtap"
    status=0
    log=${NZ_ARTIFACTS:-/tmp}/pgtap-after-upgrade-from-$previous.log
    pg_prove -d "$old" "$root"/test/pgtap/*.sql >"$log" 2>&1 || status=$?
    check "from $previous: the whole pgTAP suite passes on the updated database" "0" "$status"
    [ "$status" -eq 0 ] || grep -vE '^ok ' "$log" | sed 's/^/#   /' | tail -20
    psql_ -d postgres -c "DROP DATABASE $old"
done
psql_ -d postgres -c "DROP DATABASE $fresh"
[ "$failed" -eq 0 ]
